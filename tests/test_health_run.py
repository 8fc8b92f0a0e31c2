"""output.health: health.jsonl in the run folder, its figures recomputed by hand, relative
gradient verdicts on deep nets, `plot --health`, and resume with health on."""
import io
import json
import signal

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import CONFIGS, write
from rich.console import Console
from test_resume import Crash, Press, assert_same_run, metrics, weights_and_state

from backprop_cli import api, checkpoint
from backprop_cli.cli import main
from backprop_cli.console import ProgressBar
from backprop_cli.training.health import GRAD_FACTOR

TINY = """
data: {source: moons, n: 40, noise: 0.2}
dtype: float64
model:
  layers:
    - {units: 5, activation: relu}
    - {units: 3, activation: tanh}
    - {units: 1, activation: sigmoid}
loss: quadratic
optimizer: {name: sgd, lr: 0.7}
training: {epochs: 10, batch_size: full, shuffle: false}
"""


def health_lines(run_dir):
    return [json.loads(line) for line in (run_dir / "health.jsonl").read_text().splitlines()]


def deep(act: str, depth: int) -> dict:
    layers = [{"units": 16, "activation": act}] * (depth - 1) + [{"units": 1, "activation": "sigmoid"}]
    return {"data": {"source": "moons", "n": 200, "noise": 0.1}, "model": {"layers": layers},
            "loss": "bce", "optimizer": {"name": "sgd", "lr": 0.5},
            "training": {"epochs": 3, "batch_size": 32}, "output": {"health": True}}


def test_health_jsonl_matches_figures_recomputed_from_a_checkpoint(tmp_path):
    """Epoch 6's lines against a recomputation from the weights after epoch 5 (the checkpoint
    of a run of 5 epochs): the full-batch gradient of the quadratic loss by hand (NumPy, not
    the engine's layers), the SGD step it makes, and the ReLU and tanh units on the data."""
    cfg = write(tmp_path / "tiny.yaml", TINY)
    run = api.train(cfg, ["output.health=3"], runs_dir=tmp_path / "runs").run_dir
    lines = health_lines(run)
    assert [(r["epoch"], r["layer"]) for r in lines] == [(e, i) for e in (1, 3, 6, 9) for i in range(3)]
    assert [r["name"] for r in lines[:3]] == ["Dense(2→5) → ReLU", "Dense(5→3) → Tanh",
                                              "Dense(3→1) → Sigmoid"]

    before = api.train(cfg, ["training.epochs=5"], runs_dir=tmp_path / "before").run_dir
    w = checkpoint.load_weights(before / "checkpoints" / "last.npz")
    s = api.setup(cfg)
    X, Y = s.splits.train.X, s.splits.train.Y
    # forward: z1 = X W0 + b0, h1 = relu, z2 = h1 W1 + b1, h2 = tanh, z3 = h2 W2 + b2, o = sigmoid
    z1 = X @ w["0.W"] + w["0.b"]
    h1 = np.maximum(z1, 0)
    h2 = np.tanh(h1 @ w["1.W"] + w["1.b"])
    o = 1 / (1 + np.exp(-(h2 @ w["2.W"] + w["2.b"])))
    # backward of E = mean over examples of ½ (o - y)² (the engine's quadratic loss)
    d3 = (o - Y) * o * (1 - o) / len(X)
    d2 = (d3 @ w["2.W"].T) * (1 - h2 ** 2)
    d1 = (d2 @ w["1.W"].T) * (z1 > 0)
    grads = [X.T @ d1, h1.T @ d2, h2.T @ d3]
    norms = [np.linalg.norm(g) for g in grads]
    ws = [w["0.W"], w["1.W"], w["2.W"]]
    got = [r for r in lines if r["epoch"] == 6]
    for i, r in enumerate(got):
        assert r["grad_norm"] == pytest.approx(norms[i], rel=1e-10)
        assert r["grad_ratio"] == pytest.approx(norms[i] / norms[2], rel=1e-10)
        # one SGD step of lr 0.7: ‖ΔW‖/‖W‖ = 0.7 ‖g‖ / ‖W‖
        assert r["update_ratio"] == pytest.approx(0.7 * norms[i] / np.linalg.norm(ws[i]), rel=1e-8)
        assert r["verdict"] == "ok" and r["warnings"] == []
    assert got[0]["dead"] == pytest.approx(float(np.mean(~(z1 > 0).any(axis=0))))
    assert got[0]["saturated"] is None and got[2]["dead"] is None
    assert got[1]["saturated"] == pytest.approx(float(np.mean(np.abs(h2) > 0.98)))
    assert got[1]["dead"] is None
    # the run trained on to epoch 10 as one without health, number for number
    plain = api.train(cfg, runs_dir=tmp_path / "plain").run_dir
    assert not (plain / "health.jsonl").exists()
    wa, wb = weights_and_state(run), weights_and_state(plain)
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)


def test_deep_sigmoid_vanishes_relu_and_shallow_are_ok_in_file_and_live_view(tmp_path):
    """A 9-layer sigmoid net's first layer gets a gradient over 1000x smaller than its output
    layer's: "vanishing", though its absolute size (~1e-6) is one an absolute range (1e-8 to
    1e3, the old rule) called healthy. The same depth of ReLUs, and a 2-layer sigmoid net, are ok."""
    verdicts = {}
    for name, (act, depth) in {"sigmoid9": ("sigmoid", 9), "relu9": ("relu", 9),
                               "sigmoid2": ("sigmoid", 2)}.items():
        buf = io.StringIO()
        bar = ProgressBar(Console(file=buf, width=300), log_every=1000, health_every=1)
        res = api.train(deep(act, depth), runs_dir=tmp_path / name, callbacks=[bar])
        lines = health_lines(res.run_dir)
        assert [r["epoch"] for r in lines] == [e for e in (1, 2, 3) for _ in range(depth)]
        first = [r for r in lines if r["epoch"] == 1]
        verdicts[name] = [r["verdict"] for r in first]
        # the live view judges the same measurement the same way
        assert [h.verdict for h in bar.health.report] == [r["verdict"] for r in lines[-depth:]]
        assert [h.grad_norm for h in bar.health.report] == [r["grad_norm"] for r in lines[-depth:]]
        warned = [ln for ln in buf.getvalue().splitlines() if "gradient" in ln]
        if name == "sigmoid9":
            g0 = first[0]["grad_norm"]
            assert 1e-8 < g0 < 1e-4 and first[0]["grad_ratio"] <= 1 / GRAD_FACTOR
            assert first[-1]["grad_ratio"] == 1.0
            assert any(ln.startswith("warning: health at epoch 1: layer 0 (Dense(2→16) → Sigmoid): "
                                     "vanishing gradient (‖dE/dW‖ = ") for ln in warned)
        else:
            assert warned == []
    assert verdicts["sigmoid9"][0] == "vanishing" and verdicts["sigmoid9"][-3:] == ["ok"] * 3
    # vanishing from the input side up: a layer never vanishes while the one below it is ok
    assert verdicts["sigmoid9"] == sorted(verdicts["sigmoid9"], key=lambda v: v != "vanishing")
    assert verdicts["relu9"] == ["ok"] * 9 and verdicts["sigmoid2"] == ["ok"] * 2


def test_health_off_writes_nothing_and_changes_no_number(tmp_path):
    cfg = CONFIGS / "momentum-spirals.yaml"
    sets = ["training.epochs=15", "output.checkpoint_every=5"]
    off = api.train(cfg, sets, runs_dir=tmp_path / "off").run_dir
    on = api.train(cfg, sets + ["output.health=4"], runs_dir=tmp_path / "on").run_dir
    assert not (off / "health.jsonl").exists()
    assert sorted({r["epoch"] for r in health_lines(on)}) == [1, 4, 8, 12]
    wa, wb = weights_and_state(off), weights_and_state(on)
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)
    assert metrics(off) == metrics(on)
    mem = api.train(cfg, sets + ["output.health=true"], save=False)
    assert mem.run_dir is None  # in memory: nothing to write to, trains as ever
    np.testing.assert_array_equal(mem.weights["0.W"], checkpoint.load_weights(
        off / "checkpoints" / "last.npz")["0.W"])


def test_resume_with_health_on_is_bit_identical_and_cuts_health_back(tmp_path):
    """A crash at epoch 12, after the checkpoint of epoch 10: health.jsonl holds epochs 11
    and 12 that the checkpoint does not cover; --resume cuts them and redoes them."""
    sets = ["training.epochs=20", "output.checkpoint_every=5", "output.health=true",
            "model.layers.0.dropout=0.2"]  # a random stream in play: health must not draw from it
    cfg = CONFIGS / "momentum-spirals.yaml"
    ref = api.train(cfg, sets, runs_dir=tmp_path / "ref").run_dir
    with pytest.raises(RuntimeError, match="power cut"):
        api.train(cfg, sets, runs_dir=tmp_path / "cut", callbacks=[Crash(12)])
    cut = next((tmp_path / "cut").iterdir())
    assert {r["epoch"] for r in health_lines(cut)} == set(range(1, 13))
    api.train(resume=cut)
    assert_same_run(ref, cut)
    assert (cut / "health.jsonl").read_text() == (ref / "health.jsonl").read_text()


def test_an_abandoned_epoch_cuts_health_back_to_the_checkpoint(tmp_path):
    sets = ["training.epochs=12", "output.checkpoint_every=5", "output.health=true"]
    res = api.train(CONFIGS / "momentum-spirals.yaml", sets, runs_dir=tmp_path / "cut",
                    callbacks=[Press(8, [signal.SIGINT, signal.SIGINT])], handle_signals=True)
    assert res.summary["epochs"] == 5
    assert sorted({r["epoch"] for r in health_lines(res.run_dir)}) == [1, 2, 3, 4, 5]
    ref = api.train(CONFIGS / "momentum-spirals.yaml", sets, runs_dir=tmp_path / "ref").run_dir
    api.train(resume=res.run_dir)
    assert (res.run_dir / "health.jsonl").read_text() == (ref / "health.jsonl").read_text()


def test_health_config_errors(tmp_path):
    for value, expected in (("0", "must be >= 1, got 0"), ("1.5", "must be true or false or an integer")):
        r = CliRunner().invoke(main, ["train", str(CONFIGS / "xor.yaml"), "--set", f"output.health={value}"])
        assert r.exit_code == 2 and f"output.health: {expected}" in r.stderr
    r = CliRunner().invoke(main, ["train", str(CONFIGS / "and-perceptron.yaml"), "--set",
                                  "output.health=true"])
    assert r.exit_code == 2 and "output.health: the perceptron rule does not use health" in r.stderr


@pytest.fixture(scope="module")
def health_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("health-plot")
    sig = api.train(deep("sigmoid", 5), ["training.epochs=6"], runs_dir=d, name="sig").run_dir
    relu = api.train(deep("relu", 3), ["training.epochs=6", "output.health=2"], runs_dir=d,
                     name="relu").run_dir
    plain = api.train(deep("relu", 3), ["training.epochs=2", "output.health=false"], runs_dir=d,
                      name="plain").run_dir
    return sig, relu, plain


def test_plot_health_to_files_and_the_terminal(health_runs, tmp_path):
    sig, relu, _ = health_runs
    pytest.importorskip("plotext")
    r = CliRunner().invoke(main, ["plot", str(sig), "--health", "--width", "90", "--height", "60"])
    assert r.exit_code == 0, r.output
    for title in ("log10 gradient norm", "log10 update/weight", "saturated units"):
        assert title in r.stdout
    assert "dead ReLUs" not in r.stdout  # a sigmoid net has none
    pytest.importorskip("matplotlib")
    svg = tmp_path / "h.svg"
    r = CliRunner().invoke(main, ["plot", str(sig), str(relu), "--health", "-o", str(svg)])
    assert r.exit_code == 0, r.output
    text = svg.read_text()
    # 4 panels (gradient, update, dead, saturated) for each of the 2 runs
    assert text.count('id="axes_') == 8 and f"<!-- {sig.name}: gradient norm ‖dE/dW‖ -->" in text
    assert "<!-- 0: Dense(2→16) → Sigmoid -->" in text and "<!-- 2: Dense(16→1) → Sigmoid -->" in text
    r = CliRunner().invoke(main, ["plot", str(relu), "--health", "-o", str(tmp_path / "out" / "h.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_health_errors(health_runs, tmp_path):
    sig, _, plain = health_runs
    r = CliRunner().invoke(main, ["plot", str(plain), "--health"])
    assert r.exit_code == 3
    assert r.stderr.strip() == (f"Error: {plain}: no health.jsonl: the run was trained without "
                                "output.health; train it again with --set output.health=true (every "
                                "epoch) or output.health=N (every N epochs)")
    r = CliRunner().invoke(main, ["plot", str(sig), "--health", "--boundary"])
    assert r.exit_code == 2 and "--health goes without --boundary" in r.stderr
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "results.jsonl").write_text('{"id": "a", "optimizer.lr": 0.1, "train_loss": 1.0}\n')
    r = CliRunner().invoke(main, ["plot", str(sweep), "--health"])
    assert r.exit_code == 2 and "a sweep folder; --health needs run folders" in r.stderr
    r = CliRunner().invoke(main, ["plot", str(tmp_path / "nope"), "--health"])
    assert r.exit_code == 3 and "no such run folder" in r.stderr
