"""The bad-config corpus: each tests/bad_configs/*.yaml starts with the exact error lines it must
produce (``# expect: ...``, in order) and any command-line arguments (``# args: ...``); run
through ``backprop train``, it must exit 2 with exactly those lines and write nothing.

``${name}`` in an expectation stands for a list of names read from the registries or the
schema (``${activations}``, ``${top_keys}``, ...), so adding an activation does not rewrite
the corpus while the rest of each message stays exact.
"""
import shlex
from pathlib import Path
from string import Template

import pytest
from click.testing import CliRunner

from backprop_cli.cli import main
from backprop_cli.config import schema
from backprop_cli.data.sources import SOURCES
from backprop_cli.engine.activations import ACTIVATIONS
from backprop_cli.engine.initializers import INITIALIZERS
from backprop_cli.engine.losses import LOSSES
from backprop_cli.training.optimizers import OPTIMIZERS

BAD = Path(__file__).resolve().parent / "bad_configs"
CORPUS = sorted(BAD.glob("*.yaml"))


def names() -> dict[str, str]:
    root = schema()
    return {
        "activations": ", ".join(ACTIVATIONS.names()), "initializers": ", ".join(INITIALIZERS.names()),
        "losses": ", ".join(LOSSES.names()), "optimizers": ", ".join(OPTIMIZERS.names()),
        "sources": ", ".join(SOURCES.names()), "top_keys": ", ".join(root.fields),
        "training_keys": ", ".join(root.fields["training"].fields),
        "sgd_options": ", ".join(root.fields["optimizer"].options_of("sgd")),
    }


def header(path: Path) -> tuple[list[str], list[str]]:
    expect, args = [], []
    for line in path.read_text().splitlines():
        if line.startswith("# expect: "):
            expect.append(Template(line[len("# expect: "):]).substitute(names()))
        elif line.startswith("# args: "):
            args = shlex.split(line[len("# args: "):])
    return expect, args


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 30
    assert all(header(p)[0] for p in CORPUS), "every bad config states its expected errors"


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_bad_config_exact_errors_exit_2_nothing_written(path, tmp_path, monkeypatch):
    expect, args = header(path)
    monkeypatch.chdir(BAD)  # messages name the file as given: relative to the corpus folder
    runs = tmp_path / "runs"
    r = CliRunner().invoke(main, ["train", path.name, *args, "--runs-dir", str(runs), "--quiet"])
    assert r.exit_code == 2, r.output
    assert isinstance(r.exception, SystemExit)
    assert r.stderr.splitlines() == [f"Error: {line}" for line in expect]
    assert not runs.exists()


@pytest.mark.parametrize("path", [p for p in CORPUS if not header(p)[1]], ids=lambda p: p.stem)
def test_config_validate_reports_the_same_errors(path, monkeypatch):
    expect, _ = header(path)
    monkeypatch.chdir(BAD)
    r = CliRunner().invoke(main, ["config", "validate", path.name])
    assert r.exit_code == 2
    assert [line for line in r.stderr.splitlines() if line.startswith("Error: ")] == \
        [f"Error: {line}" for line in expect]
    assert r.stderr.splitlines()[-1] == "0 of 1 config valid, 1 invalid"
