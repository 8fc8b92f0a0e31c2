"""README.md's figures that quick runs give are what the runs give: each is found in the
README by benchmarks/readme_figures.py's pattern and measured by its function. The slower
figures (MNIST, 100 seeds, timings) are that script's: `python benchmarks/readme_figures.py`."""
import importlib.util
import re
import sys

import pytest
from helpers import ROOT

README = (ROOT / "README.md").read_text()


def load_figures():
    spec = importlib.util.spec_from_file_location("readme_figures", ROOT / "benchmarks" / "readme_figures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["readme_figures"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


rf = load_figures()


@pytest.mark.parametrize("figure", [f for f in rf.FIGURES if f.group == "test"], ids=lambda f: f.name)
def test_the_readme_figure_is_what_the_run_gives(figure):
    written = figure.find(README)
    values = figure.measure()
    assert len(values) == len(written)
    for w, v in zip(written, values):
        assert rf.agrees(w, float(v), figure), f"{figure.name}: the README says {w}, the run gives {v:.6g}"


def test_the_readme_still_writes_every_figure_the_script_measures():
    for figure in rf.FIGURES:
        figure.find(README)  # LookupError when a sentence no longer matches


@pytest.mark.parametrize("written,value,group,bound,ok", [
    ("0.52", 0.633577, "test", False, False), ("0.63", 0.633577, "test", False, True),
    ("87.5%", 0.875, "test", False, True), ("98.29%", 0.98285, "test", False, False),
    ("1e-3", 0.001, "test", False, True), ("10,000", 10000, "test", False, True),
    ("6e-16", 4.4e-16, "slow", True, True), ("6e-16", 8.9e-16, "slow", True, False),
    ("18.2", 30.0, "timing", False, True), ("18.2", 40.0, "timing", False, False),
    ("a fraction of a second", 0.4, "timing", False, True),
    ("a fraction of a second", 1.2, "timing", False, False),
])
def test_a_figure_agrees_as_the_readme_writes_it(written, value, group, bound, ok):
    figure = rf.Figure("f", "", list, group, bound)
    assert rf.agrees(written, value, figure) is ok


def test_the_script_exits_1_on_a_figure_that_disagrees(tmp_path, capsys):
    figure = next(f for f in rf.FIGURES if f.name == "and-perceptron: epochs")
    m = re.search(figure.pattern.replace(" ", r"\s+"), README)
    wrong = README[:m.start(1)] + str(int(m.group(1)) + 1) + README[m.end(1):]
    (tmp_path / "README.md").write_text(wrong)
    assert rf.main(["--group", "test", "--readme", str(tmp_path / "README.md")]) == 1
    out = capsys.readouterr().out
    assert f"DIFFERS  and-perceptron: epochs: README {int(m.group(1)) + 1}, measured {m.group(1)}" in out
    assert out.rstrip().endswith("1 figure(s) disagree")


def test_the_readmes_predict_session_is_what_the_commands_print(tmp_path):
    """The README's predict session (train iris, predict a file with a NaN row, skip it, a
    renamed column) is replayed: every line it shows is what the commands print."""
    import shutil
    import subprocess

    from helpers import backprop_exe
    block = README.split("replays this session, `tests/test_readme_figures.py`):\n\n```\n", 1)[1].split("\n```", 1)[0]
    steps = re.split(r"^\$ ", block, flags=re.M)[1:]
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    shutil.copytree(ROOT / "datasets", tmp_path / "datasets", ignore=shutil.ignore_patterns("mnist"))
    run_name = actual = None
    for step in steps:
        command, *shown = step.rstrip("\n").split("\n")
        if command.startswith("cat "):  # the input files, as the README shows them
            (tmp_path / command.split()[-1]).write_text("\n".join(shown) + "\n")
            continue
        args = command.split(" && ")[0].split()
        assert args[0] == "backprop"
        if run_name:
            args = [a.replace(run_name, f"runs/{actual}") for a in args]
        r = subprocess.run([backprop_exe(), *args[1:]], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
        if args[1] == "train":
            assert r.returncode == 0, r.stderr
            (actual,) = [p.name for p in (tmp_path / "runs").iterdir()]
            run_name = "runs/" + shown[0]
            continue
        assert (r.stdout + r.stderr).splitlines() == shown, command
