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


def test_terminal_plots_in_one_process_do_not_share_a_layout(runs, tmp_path):
    """plotext keeps one global figure: a curves plot after a one-panel sweep plot kept only
    its first panel (the library API and in-process callers plot many times)."""
    pytest.importorskip("plotext")
    from backprop_cli.plot import plot
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "results.jsonl").write_text("".join(
        json.dumps({"id": f"t{i}", "status": "ok", "optimizer.lr": lr, "train_loss": 1 / (1 + lr)}) + "\n"
        for i, lr in enumerate((0.01, 0.1, 1.0))))

    def panels(text):
        return [t for t in ("loss per epoch", "accuracy", "learning rate", "against") if t in text]
    first = plot([runs["moons"]], width=80, height=30)
    assert panels(first) == ["loss per epoch", "accuracy", "learning rate"]
    assert panels(plot([sweep])) == ["against"]
    assert plot([runs["moons"]], width=80, height=30) == first


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
                                "install the plot extra: pip install 'backprop-cli[plot]'")
    r = CliRunner().invoke(main, ["plot", str(runs["xor"])])
    assert r.exit_code == 2 and "pip install 'backprop-cli[plot]'" in r.stderr


SWEEP_YAML = """
base: xor.yaml
seeds: [0, 1]
metric: {name: train_accuracy, goal: maximize}
parameters:
  optimizer.lr: {values: [0.1, 1.0, 3.0]}
  model.layers.0.units: {values: [2, 4]}
  training.epochs: {values: [30]}
  stopping.target_loss: {values: [null]}
"""


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory, runs):
    """A sweep folder as `backprop sweep` writes it, and a `sweep collect` folder of it."""
    import shutil

    from backprop_cli.sweep.results import collect
    from backprop_cli.sweep.runner import run_sweep
    d = tmp_path_factory.mktemp("sweeps")
    write(d / "xor.yaml", XOR_YAML)
    folder = run_sweep(write(d / "sweep.yaml", SWEEP_YAML), workers=2, runs_dir=d / "runs").sweep_dir
    merged = d / "merged"
    shutil.copytree(folder, merged / "shard0")  # as if the only shard of `--runs-dir merged`
    collect(merged)
    return {"sweep": folder, "collect": merged, "run": runs["xor"]}


def csv_points(folder, key, metric="train_accuracy"):
    """(x, metric) per trial, and the mean per x, from results.csv (what the plot must show)."""
    import csv
    rows = list(csv.DictReader((folder / "results.csv").open()))
    pts = sorted((float(r[key]), float(r[metric])) for r in rows)
    xs = sorted({x for x, _ in pts})
    return pts, [(x, sum(y for u, y in pts if u == x) / sum(u == x for u, _ in pts)) for x in xs]


@pytest.mark.parametrize("which", ["sweep", "collect"])
def test_plot_of_a_sweep_folder_shows_its_results(sweeps, which, tmp_path, monkeypatch):
    """Issue 13.8: `backprop plot SWEEP_DIR` failed on the folders backprop itself writes."""
    mpl = pytest.importorskip("matplotlib")
    from backprop_cli.plot import _file_sweeps, _pyplot, read_sweep
    folder = sweeps[which]
    monkeypatch.setitem(mpl.rcParams, "svg.fonttype", "none")  # titles as text in the SVG
    r = CliRunner().invoke(main, ["plot", str(folder), "-o", "s.svg"])
    assert r.exit_code == 0, r.output
    svg = (tmp_path / "s.svg").read_text()
    # the sweep's own metric (train_accuracy, from sweep.yaml) against each swept parameter
    assert "train_accuracy against optimizer.lr" in svg and "train_accuracy against model.layers.0.units" in svg
    s = read_sweep(folder)
    assert s.swept == ["optimizer.lr", "model.layers.0.units"] and s.metric == "train_accuracy"
    fig = _file_sweeps(_pyplot(), [s], "train_accuracy")
    for ax, key in zip(fig.axes, s.swept):  # every trial a point, the mean over the rest a line
        pts, means = csv_points(folder, key)
        assert len(pts) == 12
        flat = lambda pairs: [v for pair in pairs for v in pair]  # noqa: E731
        assert flat(sorted(map(tuple, ax.collections[0].get_offsets().tolist()))) == pytest.approx(flat(pts))
        assert flat(ax.lines[0].get_xydata().tolist()) == pytest.approx(flat(means))
    r = CliRunner().invoke(main, ["plot", str(folder), "--metric", "train_loss", "--width", "100"])
    assert r.exit_code == 0, r.output
    assert "train_loss against optimizer.lr" in r.stdout


def test_a_rerun_trial_counts_once_with_its_last_result(sweeps, tmp_path):
    import shutil

    from backprop_cli.plot import read_sweep
    folder = tmp_path / "sweep"
    shutil.copytree(sweeps["sweep"], folder)
    lines = (folder / "results.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    earlier = dict(first, status="crashed", metric=None, final={})
    (folder / "results.jsonl").write_text("\n".join([json.dumps(earlier), *lines, '{"cut sh']) + "\n")
    rows = read_sweep(folder).rows
    assert len(rows) == 12 and [r["train_accuracy"] for r in rows if r["trial"] == first["trial"]] == \
        [first["metric"]]


def test_run_folders_with_a_sweep_folder_plot_the_runs_and_say_so(sweeps, tmp_path):
    """A glob such as runs/xor-* that also matches a sweep folder: the runs are plotted."""
    pytest.importorskip("matplotlib")
    from backprop_cli.plot import load
    notes = []
    runs, found = load([sweeps["run"], sweeps["sweep"]], notes.append)
    assert [r.path for r in runs] == [sweeps["run"]] and found == []
    r = CliRunner().invoke(main, ["plot", str(sweeps["run"]), str(sweeps["sweep"]), "-o", "m.png"])
    assert r.exit_code == 0, r.output
    png_size(tmp_path / "m.png")
    assert r.stderr.splitlines()[0] == (f"note: {sweeps['sweep']}: a sweep folder, left out of the run "
                                        f"curves; plot it on its own: backprop plot {sweeps['sweep']}")


def test_a_folder_of_shards_not_yet_collected_says_to_collect(sweeps, tmp_path):
    import shutil
    shutil.copytree(sweeps["sweep"], tmp_path / "lr" / "shard0")
    r = CliRunner().invoke(main, ["plot", str(tmp_path / "lr")])
    assert r.exit_code == 2
    assert r.stderr == (f"Error: {tmp_path / 'lr'}: a folder of sweep shards without merged results; "
                        f"merge them first: backprop sweep collect {tmp_path / 'lr'}\n")
