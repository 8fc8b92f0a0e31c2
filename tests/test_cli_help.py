"""The help of every command: each option has help text, each argument is named in its
command's description, and each --set example names a key the command uses (shown by
running the command with and without it)."""
import csv
import re
import shutil

import click
import pytest
from click.testing import CliRunner
from helpers import ROOT, XOR_YAML, write

from backprop_cli.cli import main

SET_EXAMPLE = re.compile(r"e\.g\. --set (\S+?)=(\S+)")


def commands(cmd=main, path=("backprop",)):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from commands(sub, path + (name,))


def set_examples() -> dict:
    """'data show' -> (key, value) of the example in each --set help."""
    found = {}
    for path, cmd in commands():
        for p in cmd.params:
            if isinstance(p, click.Option) and "--set" in p.opts:
                m = SET_EXAMPLE.search(p.help or "")
                assert m, (path, p.help)
                found[" ".join(path[1:])] = m.groups()
    return found


def test_every_option_has_help_and_every_argument_is_described():
    problems = []
    for path, cmd in commands():
        ctx = click.Context(cmd, info_name=path[-1])
        for p in cmd.get_params(ctx):
            if isinstance(p, click.Option) and not (p.help or "").strip():
                problems.append(f"{' '.join(path)} {'/'.join(p.opts)}: no help")
            if isinstance(p, click.Argument):
                name = (p.metavar or p.name.upper()).strip("[].")
                if name not in (cmd.help or ""):
                    problems.append(f"{' '.join(path)} {name}: not named in the command's help")
    assert not problems


def run(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.stdout


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """A CSV-trained run (2 epochs) and a file of new features, for eval and predict."""
    d = tmp_path_factory.mktemp("iris")
    (d / "data").mkdir()
    shutil.copy(ROOT / "datasets" / "iris.csv", d / "data" / "iris.csv")
    cfg = write(d / "iris.yaml", "data: {source: csv, path: data/iris.csv, target: species, "
                                 "test_fraction: 0.2, scale: standardize}\n"
                                 "model: {layers: [{units: 3, activation: softmax}]}\n"
                                 "loss: cross_entropy\ntraining: {epochs: 2}\n")
    assert run("train", cfg, "--runs-dir", d / "runs", "--quiet")[0] == 0
    (run_dir,) = (d / "runs").iterdir()
    with open(d / "data" / "iris.csv") as f:
        rows = [r for r in csv.reader(f)]
    col = rows[0].index("species")
    with open(d / "new.csv", "w", newline="") as f:
        csv.writer(f).writerows([r[:col] + r[col + 1:] for r in rows[:20]])
    return d, run_dir


def with_and_without(command: str, key: str, value: str, tmp_path, iris_run):
    """(exit code, stdout) of the command with the example override, then without it."""
    xor = write(tmp_path / "xor.yaml", XOR_YAML.replace("epochs: 2000", "epochs: 3"))
    d, run_dir = iris_run
    args = {
        "train": ["train", xor, "--runs-dir", tmp_path / "runs", "--json", "--quiet"],
        "gradcheck": ["gradcheck", xor, "--json"],
        "data show": ["data", "show", xor, "--json"],
        "config show": ["config", "show", xor, "--json"],
        "explain": ["explain", xor, "--json"],
        "predict": ["predict", run_dir, "--data", d / "new.csv"],
        "eval": ["eval", run_dir, "--json", "--output", tmp_path / "eval.json"],
    }[command]
    if command == "eval":  # the run's data moved: the example points the run to it
        moved = tmp_path / "moved" / "iris.csv"
        moved.parent.mkdir()
        shutil.move(d / "data" / "iris.csv", moved)
        try:
            return run(*args, "--set", f"{key}={moved}"), run(*args)
        finally:
            shutil.move(moved, d / "data" / "iris.csv")
    return run(*args, "--set", f"{key}={value}"), run(*args)


@pytest.mark.parametrize("command", sorted(set_examples()))
def test_the_set_example_of_each_command_changes_what_it_does(command, tmp_path, iris_run):
    key, value = set_examples()[command]
    (code, out), (code_without, out_without) = with_and_without(command, key, value, tmp_path, iris_run)
    assert code == 0, out
    assert (code_without, out_without) != (code, out), f"{command}: --set {key}={value} changes nothing"


def test_every_command_with_set_has_its_own_example():
    examples = set_examples()
    assert set(examples) == {"train", "gradcheck", "data show", "config show", "explain", "eval", "predict"}
    assert examples["train"] == ("optimizer.lr", "0.1")
    # commands that do not train are not shown a training key
    for command in ("gradcheck", "data show", "explain", "eval", "predict"):
        assert not examples[command][0].startswith(("optimizer", "training", "schedule", "stopping")), command
