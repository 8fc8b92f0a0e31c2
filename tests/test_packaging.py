"""The distribution as a user installs it: its name, the install hints that name it, extras."""
import importlib.metadata
import re
import subprocess
import sys
import tomllib

import backprop_cli
from helpers import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
# `pip install 'NAME[EXTRA,...]'` as the README, the docs and error messages write it
HINT = re.compile(r"pip install (?:-[-\w]+ )*'?([A-Za-z0-9_.-]+)\[([a-z0-9_,-]+)\]'?")


def hint_sources():
    yield from (ROOT / "backprop_cli").rglob("*.py")
    yield from ROOT.glob("*.md")
    yield from (ROOT / "docs").glob("*.md")
    yield from (ROOT / "benchmarks").glob("*.md")


def test_the_distribution_name_is_not_another_projects():
    # https://pypi.org/project/backprop/ is an unrelated project: a hint saying
    # `pip install 'backprop[plot]'` (or `pip install -U backprop`) would install it
    assert PROJECT["name"] != "backprop"
    assert PROJECT["scripts"] == {"backprop": "backprop_cli.cli:main"}


def test_every_install_hint_names_this_distribution_and_an_extra_it_has():
    extras = set(PROJECT["optional-dependencies"])
    hints = []
    for path in hint_sources():
        for m in HINT.finditer(path.read_text()):
            hints.append((path.relative_to(ROOT).as_posix(), m.group(1), m.group(2)))
    assert {h[0] for h in hints} >= {"backprop_cli/plot.py", "backprop_cli/sweep/dask_executor.py",
                                     "README.md"}
    for where, name, wanted in hints:
        assert name in (".", PROJECT["name"]), (where, name)
        assert set(wanted.split(",")) <= extras, (where, wanted)


def test_the_version_is_written_once_in_the_package():
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "backprop_cli.__version__"}
    # the installed metadata is built from it (a stale install needs `pip install -e .` again)
    assert importlib.metadata.version(PROJECT["name"]) == backprop_cli.__version__


def test_python_dash_m_is_the_command():
    def run(*args):
        return subprocess.run([sys.executable, "-m", "backprop_cli", *args], capture_output=True,
                              text=True, timeout=60)
    r = run("--version")
    assert (r.returncode, r.stdout) == (0, f"backprop, version {backprop_cli.__version__}\n")
    r = run("config", "validate", "missing.yaml")  # exit codes come through
    assert r.returncode == 2 and "missing.yaml" in r.stderr
