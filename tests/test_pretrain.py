"""Pre-training and fine-tuning: ``model.init_from: {path, layers}`` loads some layers only,
``freeze: true`` keeps a layer's parameters as they start, and the lesson pair
configs/lessons/pretrain.yaml and finetune.yaml shows what that is for."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from backprop_cli import api, checkpoint
from backprop_cli.cli import main
from backprop_cli.engine.parameter import flat_view
from backprop_cli.errors import CheckpointError
from backprop_cli.training.callbacks import Callback
from helpers import CONFIGS, ROOT, backprop_exe, write

# three layers with parameters around a PReLU (its slopes are parameters of layer 1 too)
NET_YAML = """
data: {source: blobs, n: 60, centers: 3, n_features: 4}
model:
  layers:
    - {units: 8, activation: tanh}
    - {units: 6, activation: prelu}
    - {units: 3, activation: softmax}
loss: cross_entropy
optimizer: {name: sgd, lr: 0.1}
training: {epochs: 5, batch_size: 16}
dtype: float64
"""


def fresh_weights(cfg, sets=()):
    return api.setup(cfg, list(sets)).network.state_dict()


def other_weights(like: dict, seed=1) -> dict:
    """Arrays of the same names and shapes as ``like``, none equal to it."""
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=v.shape) + 5.0 for k, v in like.items()}


# -- partial loading ----------------------------------------------------------------------
@pytest.mark.parametrize("layers", [[0], [1], [0, 2], [2, 0, 1]])
def test_init_from_layers_loads_exactly_the_listed_layers(tmp_path, layers):
    cfg = write(tmp_path / "net.yaml", NET_YAML)
    fresh = fresh_weights(cfg)
    saved = other_weights(fresh)
    np.savez(tmp_path / "w.npz", **saved)
    s = api.setup(cfg, [f"model.init_from={{path: w.npz, layers: {layers}}}"])
    got = s.network.state_dict()
    assert got.keys() == fresh.keys() and "1.alpha" in got
    for name, value in got.items():
        want = saved if int(name.split(".")[0]) in layers else fresh
        np.testing.assert_array_equal(value, want[name], err_msg=name)


def test_init_from_layers_reads_a_run_checkpoint_and_the_string_form_still_loads_all(tmp_path):
    cfg = write(tmp_path / "net.yaml", NET_YAML)
    run = api.train(cfg, ["training.epochs=3"], runs_dir=tmp_path / "runs")
    ckpt = run.run_dir / "checkpoints" / "last.npz"
    trained = run.weights
    fresh = fresh_weights(cfg)
    part = api.setup(cfg, [f"model.init_from={{path: {ckpt}, layers: [1]}}"]).network.state_dict()
    for name in fresh:
        np.testing.assert_array_equal(part[name], (trained if name.startswith("1.") else fresh)[name])
    whole = api.setup(cfg, [f"model.init_from={ckpt}"]).network.state_dict()
    for name in fresh:
        np.testing.assert_array_equal(whole[name], trained[name])


def test_init_from_layers_takes_a_file_with_other_layers_too(tmp_path):
    """A pre-trained net's first layer under a new, different top: the file's other layers
    (of other shapes) are not the model's business."""
    cfg = write(tmp_path / "net.yaml", NET_YAML)
    saved = other_weights(fresh_weights(cfg))
    saved["2.W"] = np.zeros((6, 10))  # the pre-training's output layer had 10 classes
    saved["2.b"] = np.zeros(10)
    saved["7.W"] = np.ones(3)
    np.savez(tmp_path / "w.npz", **saved)
    net = api.setup(cfg, ["model.init_from={path: w.npz, layers: [0, 1]}"]).network
    np.testing.assert_array_equal(net.state_dict()["0.W"], saved["0.W"])


def cli_error(args) -> tuple[int, list[str]]:
    r = CliRunner().invoke(main, args)
    return r.exit_code, r.stderr.splitlines()


def test_a_shape_mismatch_names_the_parameter_and_both_shapes(tmp_path):
    cfg = write(tmp_path / "net.yaml", NET_YAML)
    saved = fresh_weights(cfg)
    saved["1.W"] = np.zeros((8, 7))  # the model's layer 1 has 6 units
    np.savez(tmp_path / "w.npz", **saved)
    code, err = cli_error(["train", str(cfg), "--set", "model.init_from={path: w.npz, layers: [0, 1]}",
                           "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    assert code == 3
    assert err == [f"Error: model.init_from: {tmp_path / 'w.npz'}: 1.W: the file's (8, 7) does not "
                   "fit the model's (8, 6)"]
    assert not (tmp_path / "runs").exists()


def test_a_listed_layer_absent_from_the_file_is_named(tmp_path):
    cfg = write(tmp_path / "net.yaml", NET_YAML)
    fresh = fresh_weights(cfg)
    np.savez(tmp_path / "first.npz", **{k: v for k, v in fresh.items() if k.startswith("0.")})
    code, err = cli_error(["train", str(cfg), "--set", "model.init_from={path: first.npz, layers: [0, 2]}",
                           "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    assert code == 3
    assert err == [f"Error: model.init_from: {tmp_path / 'first.npz'}: layer 2 is not in the file "
                   "(it holds layers 0)"]
    # a layer only partly there: a PReLU layer from a file of a tanh layer (no 1.alpha)
    np.savez(tmp_path / "no-alpha.npz", **{k: v for k, v in fresh.items() if k != "1.alpha"})
    with pytest.raises(CheckpointError, match=r"^model\.init_from: .*no-alpha\.npz: layer 1: the file "
                       r"has no 1\.alpha \(the model's layer 1 has 1\.W, 1\.b, 1\.alpha\)$"):
        api.setup(cfg, ["model.init_from={path: no-alpha.npz, layers: [1]}"])


def test_a_failed_partial_load_changes_no_weight(tmp_path):
    cfg = write(tmp_path / "net.yaml", NET_YAML)
    net = api.setup(cfg).network
    before = net.state_dict()
    bad = other_weights(before)
    bad["2.W"] = np.zeros((6, 4))
    with pytest.raises(CheckpointError, match="2.W: the file's"):
        net.load_layers(bad, [0, 1, 2], source="w.npz")
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


# -- freeze ---------------------------------------------------------------------------------
def test_frozen_layers_keep_their_weights_while_the_others_train(tmp_path):
    """Through weight decay, momentum, an L2 penalty and input noise, the frozen layers (0 and
    its PReLU slopes in layer 1 here) end exactly as they started."""
    cfg = write(tmp_path / "net.yaml", NET_YAML)
    sets = ["model.layers.0.freeze=true", "model.layers.1.freeze=true", "regularization.l2=0.5",
            "optimizer={name: sgd, lr: 0.1, momentum: 0.9, weight_decay: 0.01}", "augment.noise=0.1"]
    start = fresh_weights(cfg, sets)
    res = api.train(cfg, sets, save=False)
    end = res.weights
    for name in start:
        if name[0] in "01":
            np.testing.assert_array_equal(end[name], start[name], err_msg=name)
        else:
            assert not np.array_equal(end[name], start[name]), name
    assert res.summary["epochs"] == 5


@pytest.mark.parametrize("perturb", ["0.5", "null"])
def test_restarts_leave_frozen_layers_alone(tmp_path, perturb):
    cfg = write(tmp_path / "net.yaml", NET_YAML)
    sets = ["model.layers.1.freeze=true", "training.restarts=3", "training.restart_if.epochs=1",
            "training.restart_if.fall=0.99", f"training.perturb={perturb}", "training.epochs=6"]
    start = fresh_weights(cfg, sets)

    class Watch(Callback):  # the weights each epoch starts from, restarted attempts' too
        seen = []

        def on_epoch_begin(self, state):
            self.seen.append(state.network.state_dict())

    res = api.train(cfg, sets, save=False, callbacks=[Watch()])
    assert len(res.summary["attempts"]) == 4
    for weights in Watch.seen[1:]:
        for name in start:
            if name.startswith("1."):
                np.testing.assert_array_equal(weights[name], start[name], err_msg=name)
            elif name.endswith("W"):  # (biases start at 0, and a re-initialization too)
                assert not np.array_equal(weights[name], start[name]), name


def test_the_optimizer_holds_no_state_for_frozen_parameters(tmp_path):
    cfg = write(tmp_path / "net.yaml", NET_YAML)
    sets = ["model.layers.1.freeze=true", "optimizer={name: adam, lr: 0.01}"]
    res = api.train(cfg, sets, runs_dir=tmp_path / "runs")
    state = res.optimizer.state_dict()
    assert sorted(state) == ["0.W.exp_avg", "0.W.exp_avg_sq", "0.b.exp_avg", "0.b.exp_avg_sq",
                             "2.W.exp_avg", "2.W.exp_avg_sq", "2.b.exp_avg", "2.b.exp_avg_sq", "t"]
    saved = checkpoint.load_arrays(res.run_dir / "checkpoints" / "last.npz")
    assert sorted(k[6:] for k in saved if k.startswith("optim/")) == sorted(state)
    assert {k[6:] for k in saved if k.startswith("param/")} == set(res.weights)  # frozen saved too
    # the trainable parameters, though not neighbours in the network (layer 1 between them),
    # are one flat array: the optimizer updates them all with one call per operation
    net = res.network
    assert [p.name for p in net.trainable_parameters()] == ["0.W", "0.b", "2.W", "2.b"]
    assert flat_view([p.value for p in net.trainable_parameters()]) is not None
    assert flat_view([p.grad for p in net.trainable_parameters()]) is not None
    assert len(res.optimizer._slots) == 1


def test_clip_norm_measures_the_trainable_gradients_only(tmp_path):
    """PyTorch's clip_grad_norm_ skips parameters without gradients (requires_grad=False): a
    frozen layer's large gradient must not shrink the others' steps."""
    cfg = write(tmp_path / "net.yaml", NET_YAML)
    s = api.setup(cfg, ["model.layers.0.freeze=true"])
    net = s.network
    from backprop_cli.api import build_optimizer
    opt = build_optimizer({"name": "sgd", "lr": 1.0, "clip_norm": 1e6}, net.trainable_parameters())
    for p in net.parameters():
        p.grad[...] = 1e7 if p.frozen else 1.0
    before = net.state_dict()
    opt.step()
    for p in net.parameters():
        want = before[p.name] if p.frozen else before[p.name] - 1.0  # clip_norm far above their norm
        np.testing.assert_array_equal(p.value, want, err_msg=p.name)


def test_the_l2_penalty_counts_trainable_weights_only(tmp_path):
    """train_objective = train_loss + λ/(2m)·Σ w² over the trained weights: a frozen layer's
    penalty would be a constant that changes no step."""
    cfg = write(tmp_path / "net.yaml", NET_YAML)
    sets = ["model.layers.0.freeze=true", "regularization.l2=2.0", "training.batch_size=full",
            "training.epochs=1"]
    s = api.setup(cfg, sets)
    m = len(s.splits.train)
    trainable = sum(float((p.value ** 2).sum()) for p in s.network.trainable_parameters() if p.decay)
    everything = sum(float((p.value ** 2).sum()) for p in s.network.parameters() if p.decay)
    assert everything > trainable * 1.1
    logs = api.train(cfg, sets, save=False).history[0]
    assert logs["train_objective"] - logs["train_loss"] == pytest.approx(2.0 / (2 * m) * trainable, rel=1e-9)


def test_gradcheck_still_checks_frozen_layers(tmp_path):
    cfg = write(tmp_path / "net.yaml", NET_YAML.replace("tanh}", "tanh, freeze: true}"))
    report = api.gradcheck(cfg)
    assert report.passed
    checked = {c.parameter for c in report.checks if c.status == "passed"}
    assert {"0.W", "0.b", "1.W", "1.b", "1.alpha", "2.W", "2.b", "input"} <= checked
    conv = api.gradcheck(CONFIGS / "digits-cnn.yaml", ["model.layers.0.freeze=true",
                                                       "model.layers.2.freeze=true"], max_entries=20)
    assert conv.passed and {"0.W", "0.b", "2.W", "2.b"} <= {c.parameter for c in conv.checks}


def test_config_show_marks_frozen_layers(tmp_path):
    cfg = write(tmp_path / "net.yaml", NET_YAML)
    r = CliRunner().invoke(main, ["config", "show", str(cfg), "--set", "model.layers.0.freeze=true"])
    assert r.exit_code == 0
    assert "0  dense 8 tanh frozen" in r.stdout and "1  dense 6 prelu " in r.stdout


# -- the lesson -------------------------------------------------------------------------------
LESSONS = CONFIGS / "lessons"


def header_commands(path: Path) -> list[str]:
    return [line[len("#   "):] for line in path.read_text().splitlines()
            if line.startswith("#   backprop train ")]


def test_the_lesson_headers_give_the_same_commands():
    pre, fine = header_commands(LESSONS / "pretrain.yaml"), header_commands(LESSONS / "finetune.yaml")
    assert len(fine) == 3 and pre == fine
    assert fine[0] == "backprop train configs/lessons/pretrain.yaml --runs-dir runs/pretrain"
    assert "layers: [0, 1]" in fine[1] and fine[2] == "backprop train configs/lessons/finetune.yaml"


def test_lesson_pretrained_layers_beat_random_frozen_ones_and_training_from_scratch(tmp_path):
    """The headers' commands, run by a shell from a folder laid out as the repository (with
    the pre-training shortened): the fine-tuned net on pre-trained features beats the same net
    on frozen random features by a wide margin, and the same net trained whole on the 45
    images."""
    exe = backprop_exe()
    for name in ("configs", "datasets"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {**os.environ, "PATH": f"{Path(exe).parent}{os.pathsep}{os.environ['PATH']}",
           "OPENBLAS_NUM_THREADS": "1"}
    pretrain, finetune, baseline = header_commands(LESSONS / "finetune.yaml")
    results = []
    for command in (pretrain + " --set training.epochs=30", finetune, baseline,
                    baseline + " --set model.layers.0.freeze=false --set model.layers.1.freeze=false"):
        r = subprocess.run(["bash", "-c", command + " --quiet --json"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, (command, r.stderr)
        results.append(json.loads(r.stdout))
    pre, tuned, frozen_random, scratch = results
    assert Path(pre["run_dir"]).parent == tmp_path / "runs" / "pretrain"
    assert tuned["overrides"][0].startswith(f"model.init_from={{path: {pre['run_dir']}/checkpoints/last.npz")
    assert tuned["n_train"] == frozen_random["n_train"] == 45
    assert pre["test"]["test_accuracy"] > 0.9
    acc = {k: r["test"]["test_accuracy"] for k, r in
           (("tuned", tuned), ("random", frozen_random), ("scratch", scratch))}
    assert acc["tuned"] > acc["random"] + 0.2, acc
    assert acc["tuned"] > acc["scratch"], acc
    # the fine-tuned run's frozen layers are the pre-trained ones, to the bit
    pre_w = checkpoint.load_weights(Path(pre["run_dir"]) / "checkpoints" / "last.npz")
    tuned_w = checkpoint.load_weights(Path(tuned["run_dir"]) / "checkpoints" / "last.npz")
    for name in ("0.W", "0.b", "1.W", "1.b"):
        np.testing.assert_array_equal(tuned_w[name], pre_w[name])
    assert tuned_w["2.W"].shape == (10, 2)


def test_the_json_schema_takes_both_forms_of_init_from_and_the_lessons(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    from backprop_cli import configdoc, yamlio
    validator = jsonschema.Draft7Validator(configdoc.json_schema())
    configs = [p for p in sorted(LESSONS.glob("*.yaml")) if "base" not in yamlio.load(p.read_text())]  # not sweeps
    for path in configs:
        assert not list(validator.iter_errors(yamlio.load(path.read_text()))), path
    r = CliRunner().invoke(main, ["config", "validate", *map(str, configs)])
    assert r.exit_code == 0, r.output
    base = yamlio.load(NET_YAML)
    for init, valid in (("w.npz", True), (None, True), ({"path": "w.npz", "layers": [0, 2]}, True),
                        ({"path": "w.npz"}, False), ({"path": "w.npz", "layers": [-1]}, False),
                        ({"path": "w.npz", "layers": [0], "colour": 1}, False), (3, False)):
        cfg = {**base, "model": {**base["model"], "init_from": init}}
        assert (not list(validator.iter_errors(cfg))) == valid, init
