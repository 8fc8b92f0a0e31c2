"""backprop plot: files and terminal plots of runs and sweeps, and the message without the extra."""
import json
import sys

import pytest
from click.testing import CliRunner
from helpers import XOR_YAML, write

from backprop_cli import api
from backprop_cli.cli import main

MOONS_YAML = """
data: {source: moons, n: 80, noise: 0.1, val_fraction: 0.25}
model:
  layers:
    - {units: 8, activation: tanh}
    - {units: 1, activation: sigmoid}
loss: bce
optimizer: {name: adam, lr: 0.05}
training: {epochs: 40, batch_size: 16}
"""
SINE_YAML = """
data: {source: sine, n: 40}
model:
  layers:
    - {units: 8, activation: tanh}
    - {units: 1}
loss: quadratic
optimizer: {name: adam, lr: 0.05}
training: {epochs: 40, batch_size: 10}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("plot")
    out = {}
    for name, text in (("moons", MOONS_YAML), ("sine", SINE_YAML),
                       ("xor", XOR_YAML.replace("epochs: 2000", "epochs: 50"))):
        out[name] = api.train(write(d / f"{name}.yaml", text), runs_dir=d / "runs").run_dir
    out["moons2"] = api.train(d / "moons.yaml", ["optimizer.lr=0.005"], runs_dir=d / "runs",
                              name="slow").run_dir
    return out


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_curves_png_and_svg(runs, tmp_path):
    pytest.importorskip("matplotlib")
    r = CliRunner().invoke(main, ["plot", str(runs["moons"]), str(runs["moons2"]), "-o", "c.png"])
    assert r.exit_code == 0, r.output
    w, h = png_size(tmp_path / "c.png")
    assert w > 500 and h > 500
    r = CliRunner().invoke(main, ["plot", str(runs["xor"]), "-o", "c.svg"])
    svg = (tmp_path / "c.svg").read_text()
    assert r.exit_code == 0, r.output
    # three panels (loss, accuracy, learning rate); matplotlib keeps each text as a comment
    assert "<svg" in svg and svg.count('id="axes_') == 3
    assert "<!-- loss per epoch -->" in svg and "<!-- learning rate -->" in svg


def test_boundary_and_learned_function(runs, tmp_path):
    pytest.importorskip("matplotlib")
    for name in ("moons", "sine", "xor"):
        r = CliRunner().invoke(main, ["plot", str(runs[name]), "--boundary", "-o", f"{name}.png"])
        assert r.exit_code == 0, r.output
        png_size(tmp_path / f"{name}.png")


def test_boundary_regions_are_the_networks_decisions(runs):
    pytest.importorskip("numpy")
    from backprop_cli.plot import learned
    from backprop_cli.runs import load_run_setup, read_run
    item = learned(read_run(runs["xor"]), resolution=5)
    s = load_run_setup(runs["xor"])
    xx, yy, cls = item.grid
    z = s.network.predict(__import__("numpy").c_[xx.ravel(), yy.ravel()])
    assert (cls.ravel() == (z[:, 0] > 0.5)).all()


def test_terminal_curves_and_sweep(runs, tmp_path):
    pytest.importorskip("plotext")
    r = CliRunner().invoke(main, ["plot", str(runs["moons"]), "--width", "80", "--height", "30"])
    assert r.exit_code == 0, r.output
    assert "loss per epoch" in r.stdout and "learning rate" in r.stdout
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    rows = [{"id": f"t{i}", "status": "ok", "optimizer.lr": lr, "seed": s, "train_loss": 1 / (1 + 10 * lr) + s / 100}
            for i, (lr, s) in enumerate((lr, s) for lr in (0.01, 0.1, 1.0) for s in (0, 1))]
    rows.append({"id": "bad", "status": "diverged", "optimizer.lr": 10.0, "train_loss": None})
    (sweep / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = CliRunner().invoke(main, ["plot", str(sweep)])
    assert r.exit_code == 0, r.output
    assert "train_loss against optimizer.lr" in r.stdout
    if pytest.importorskip("matplotlib"):
        r = CliRunner().invoke(main, ["plot", str(sweep), "-o", "sweep.png"])
        assert r.exit_code == 0, r.output
        png_size(tmp_path / "sweep.png")


def test_sweep_points_mean_over_seeds(tmp_path):
    from backprop_cli.plot import read_sweep, sweep_points
    (tmp_path / "results.csv").write_text(
        "id,optimizer.lr,model.act,val_loss\na,0.1,tanh,1.0\nb,0.1,relu,3.0\nc,0.5,tanh,2.0\n")
    s = read_sweep(tmp_path)
    assert s.swept == ["optimizer.lr", "model.act"] and s.metrics == ["val_loss"]
    xs, ys, ux, means, categorical = sweep_points(s, "optimizer.lr", "val_loss")
    assert ux == [0.1, 0.5] and means == [2.0, 2.0] and not categorical
    assert sweep_points(s, "model.act", "val_loss")[2:] == (["relu", "tanh"], [3.0, 1.5], True)


def test_errors(runs, tmp_path):
    r = CliRunner().invoke(main, ["plot", str(tmp_path / "nope")])
    assert r.exit_code == 3 and r.stderr.strip() == f"Error: {tmp_path / 'nope'}: no such run folder"
    r = CliRunner().invoke(main, ["plot", str(runs["xor"]), "-o", "x.jpg"])
    assert r.exit_code == 2 and r.stderr.strip() == "Error: -o x.jpg: expected a file ending in .png, .svg, .pdf"


def test_without_the_extra_the_command_says_what_to_install(runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "plotext", None)
    r = CliRunner().invoke(main, ["plot", str(runs["xor"]), "-o", "x.png"])
    assert r.exit_code == 2
    assert r.stderr.strip() == ("Error: writing plot files needs matplotlib, which is not installed; "
                                "install the plot extra: pip install 'backprop[plot]'")
    r = CliRunner().invoke(main, ["plot", str(runs["xor"])])
    assert r.exit_code == 2 and "pip install 'backprop[plot]'" in r.stderr
