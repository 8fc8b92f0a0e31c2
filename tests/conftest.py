import os

# scikit-learn's estimator checks (tests/test_sklearn_checks.py) include one that runs only
# when SciPy's array API support is on, which must be chosen before SciPy is first imported
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# The one reason a test may skip in CI: its data cannot ship with the repository (MNIST).
DATA_NOT_SHIPPED = "data not shipped: "


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True, scope="session")
def _temporary_files_of_subprocesses_in_pytests_folder(tmp_path_factory):
    """The commands the tests start (sweeps killed by SIGKILL on purpose cannot clean up
    their temporary folder) keep their temporary files under pytest's own folder, which
    pytest prunes, not in the system's /tmp."""
    folder = tmp_path_factory.mktemp("TMPDIR")
    old = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(folder)
    yield
    if old is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = old


@pytest.fixture(autouse=True)
def _no_runs_in_repo(monkeypatch, tmp_path):
    """Tests run in a temporary working directory, so default runs/ never lands in the repo."""
    monkeypatch.chdir(tmp_path)


def strict_skips() -> bool:
    """In CI (CI set, as CI services do) or with BACKPROP_STRICT_SKIPS=1, a skip is a failure
    unless its data cannot ship; BACKPROP_STRICT_SKIPS=0 turns this off."""
    flag = os.environ.get("BACKPROP_STRICT_SKIPS") or os.environ.get("CI") or ""
    return flag.strip().lower() not in ("", "0", "false", "no")


def _fail_a_skip_that_hides_a_test(report) -> None:
    if not (report.skipped and strict_skips()) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if not reason.startswith(DATA_NOT_SHIPPED):
        report.outcome = "failed"
        report.longrepr = (f"skipped in CI: {reason}; every test must run where the README's test "
                           f"command installed its extras (only a test whose data cannot ship may "
                           f"skip, with a reason starting {DATA_NOT_SHIPPED.strip()!r})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_a_skip_that_hides_a_test(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A module that skips as a whole (pytest.importorskip at its top) is a collection error."""
    outcome = yield
    _fail_a_skip_that_hides_a_test(outcome.get_result())
