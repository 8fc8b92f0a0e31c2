"""docs/API.md, the Python API reference: every `>>>` example in it runs as a doctest, every
public name has a section, and the estimators' parameter table is the constructors'. The
doctests in backprop_cli/sklearn.py's docstrings run here too."""
import doctest
import importlib
import inspect
import io
import re
import tempfile
import warnings

import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import backprop_cli  # noqa: E402
from backprop_cli import sklearn as estimators  # noqa: E402
from helpers import ROOT  # noqa: E402

DOC = ROOT / "docs" / "API.md"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def run(tests) -> tuple[int, int, str, list]:
    """(failed, attempted, the doctest report, the ConvergenceWarnings raised) of DocTests."""
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        for test in tests:
            runner.run(test, out=out.write)
            test.globs.clear()  # the fitted models and runs go now, not at the end of the session
    return (runner.failures, runner.tries, out.getvalue(),
            [w for w in caught if w.category is ConvergenceWarning])


def repo_files() -> set:
    """The repository's top-level entries and what runs/ holds (the default runs_dir)."""
    return {p.name for p in ROOT.iterdir()} | {p.name for p in (ROOT / "runs").glob("*")}


def sections() -> dict[str, str]:
    """The name each `## ` heading documents (its last dotted part: `backprop_cli.train` ->
    train) -> the text under it, up to the next `## ` heading."""
    out = {}
    for block in re.split(r"^(?=## )", doc_text(), flags=re.M)[1:]:
        heading = block.splitlines()[0]
        code = re.search(r"`([\w.]+)`", heading)
        if code:
            out[code.group(1)] = block
    return out


def parameter_rows() -> dict[str, list[str]]:
    """The rows of the estimators' parameter table: parameter -> its other cells."""
    table = sections()["backprop_cli.sklearn.BackpropClassifier"].split("### Parameters", 1)[1]
    rows = {}
    for line in table.split("\n\n| parameter |", 1)[1].split("\n\n", 1)[0].splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_every_example_in_docs_api_md_runs(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)  # the examples read configs/ and datasets/
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # and write under pytest's folder
    # a fence line ends an example's expected output as a blank line would (same line numbers)
    text = re.sub(r"^```.*$", "", doc_text(), flags=re.M)
    test = doctest.DocTestParser().get_doctest(text, {"__name__": "api_doc"}, DOC.name,
                                               str(DOC.relative_to(ROOT)), 0)
    before = repo_files()
    failed, attempted, report, converge = run([test])
    assert failed == 0, f"{failed} of {attempted} examples in docs/API.md failed:\n{report}"
    assert not converge, "an example warns (the reader would see it): " + "; ".join(
        str(w.message) for w in converge)
    assert repo_files() == before, "an example wrote into the repository (give it runs_dir=tmp)"


def test_every_public_name_has_a_section_with_an_example():
    documented = sections()
    names = {key.rsplit(".", 1)[-1]: text for key, text in documented.items()}
    public = [*backprop_cli.__all__, *estimators.__all__]
    missing = [name for name in public if name not in names]
    assert not missing, f"docs/API.md has no `## ` section for {missing}"
    without = [name for name in public if "\n>>> " not in names[name]]
    assert not without, f"docs/API.md: the sections of {without} have no >>> example"


def test_every_documented_name_exists():
    for dotted in sections():
        module, _, name = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), name), (
            f"docs/API.md documents {dotted}, which does not exist")


def test_links_lead_somewhere():
    text = doc_text()
    # GitHub's anchors: the heading in lower case, without punctuation, spaces as hyphens
    anchors = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    for target in re.findall(r"\]\(([^)]+)\)", text):
        if target.startswith("#"):
            assert target[1:] in anchors, f"docs/API.md links to {target}, no such heading"
        else:
            assert (DOC.parent / target).is_file(), f"docs/API.md links to {target}, no such file"


@pytest.mark.parametrize("estimator", [estimators.BackpropClassifier, estimators.BackpropRegressor])
def test_the_parameter_table_is_the_constructors(estimator):
    rows = parameter_rows()
    params = inspect.signature(estimator).parameters
    assert sorted(rows) == sorted(params), "docs/API.md's parameter table and the constructor differ"
    assert list(rows) == list(params), "docs/API.md's parameter table is not in the constructor's order"
    for name, p in params.items():
        default = estimators.DEFAULTS.get(name, p.default)
        if default is not None:  # None: the table says what it means
            assert rows[name][0].startswith(f"`{default!r}`"), (
                f"docs/API.md: {name}'s default is {rows[name][0]}, the code's {default!r}")


def test_the_estimators_docstring_examples_run():
    tests = doctest.DocTestFinder().find(estimators, globs=vars(estimators).copy())
    failed, attempted, report, _ = run(tests)
    assert attempted > 0 and failed == 0, report
