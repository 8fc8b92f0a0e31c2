"""The distribution as a user installs it: its name, the install hints that name it, extras."""
import ast
import functools
import importlib.metadata
import re
import subprocess
import sys
import tomllib

import backprop_cli
from helpers import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
# the README's test command: a fresh venv, the extras every test needs, pytest
TEST_COMMAND = re.compile(r"^python3 -m venv \.venv && .*pip install '\.\[([a-z0-9_,-]+)\]'.* && pytest$",
                          re.M)
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
    assert PROJECT["scripts"] == {"backprop": "backprop_cli.cli:run"}


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


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def installed_by(requirements: tuple[str, ...]) -> set[str]:
    """The distributions pip installs for ``requirements``: their names and, through the
    installed metadata, everything they require (with the extras asked for)."""
    from packaging.requirements import Requirement
    names, todo = set(), [(r, ("",)) for r in requirements]
    while todo:
        text, extras = todo.pop()
        req = Requirement(text)
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras):
            continue
        if (canonical(req.name), *sorted(req.extras)) in names:
            continue
        names.add((canonical(req.name), *sorted(req.extras)))
        try:
            todo += [(r, ("", *req.extras)) for r in importlib.metadata.requires(req.name) or []]
        except importlib.metadata.PackageNotFoundError:
            pass  # not installed here: its own name is all we know
    return {n[0] for n in names}


def imports_of(path) -> set[str]:
    """Top-level modules a file imports (statements anywhere, and pytest.importorskip), the
    standard library and relative imports left out."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            mods = [node.module]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "importorskip"
              and node.args and isinstance(node.args[0], ast.Constant)):
            mods = [node.args[0].value]
        else:
            continue
        found |= {mod.split(".")[0] for mod in mods} - set(sys.stdlib_module_names)
    return found


def imported_by_tests() -> dict[str, str]:
    """Modules the tests import, each with a file that imports it (the tests' own modules and
    backprop_cli left out)."""
    tests = ROOT / "tests"
    local = {p.stem for p in tests.glob("*.py")} | {"backprop_cli"}
    found = {}
    for path in sorted(tests.glob("*.py")):
        for mod in imports_of(path) - local:
            found.setdefault(mod, path.name)
    return found


@functools.cache
def distributions_of() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def not_installed_by(requirements: list[str], modules) -> set[str]:
    installed = installed_by(tuple(requirements))
    dists = distributions_of()
    return {mod for mod in modules if not {canonical(d) for d in dists.get(mod, [mod])} & installed}


def test_the_readme_test_command_installs_every_module_the_tests_import():
    m = TEST_COMMAND.search((ROOT / "README.md").read_text())
    assert m, "README.md: no test command `python3 -m venv .venv && ... pip install '.[...]' ... && pytest`"
    extras = m.group(1).split(",")
    optional = PROJECT["optional-dependencies"]
    assert set(extras) <= set(optional)
    imported = imported_by_tests()
    missing = not_installed_by(PROJECT["dependencies"] + [r for e in extras for r in optional[e]],
                               imported)
    assert not missing, {m: imported[m] for m in missing}


def test_ci_runs_the_readmes_two_commands():
    readme = (ROOT / "README.md").read_text()
    r = subprocess.run(["bash", str(ROOT / ".ci" / "run"), "--print"], capture_output=True,
                       text=True, timeout=60)
    first, second = r.stdout.splitlines()
    assert first in readme.splitlines() and first.endswith("pip install . && backprop train configs/xor.yaml")
    assert TEST_COMMAND.fullmatch(second) and second in readme.splitlines()


def test_the_python_the_readme_names_is_the_oldest_ci_runs():
    oldest = re.fullmatch(r">=(3\.\d+)", PROJECT["requires-python"]).group(1)
    assert f"(Python {oldest}+)" in (ROOT / "README.md").read_text()
    assert oldest == "3.11"  # .ci/run's python3; 3.10 is untested (and the tests use tomllib)


# the files an extra is for; every other module imports only the dependencies
EXTRA_OF = {"backprop_cli/plot.py": "plot", "backprop_cli/sweep/": "dask",
            "backprop_cli/sklearn.py": "sklearn", "backprop_cli/exporting.py": "export",
            "backprop_cli/tracking.py": "tracking", "backprop_cli/training/fused.py": "fast"}


def test_each_optional_import_is_declared_by_the_extra_of_the_feature_that_imports_it():
    optional = PROJECT["optional-dependencies"]
    wrong = {}
    for path in sorted((ROOT / "backprop_cli").rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        extra = next((e for prefix, e in EXTRA_OF.items() if where.startswith(prefix)), None)
        wanted = PROJECT["dependencies"] + (optional[extra] if extra else [])
        for mod in not_installed_by(wanted, imports_of(path) - {"backprop_cli"}):
            wrong[f"{where}: {mod}"] = extra
    # threadpoolctl: sweep/trial.py limits the BLAS threads of Dask workers with it
    assert not wrong
