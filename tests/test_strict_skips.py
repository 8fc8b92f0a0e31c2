"""conftest.py's rule: in CI a skipped test fails, unless its data cannot ship (MNIST).

Each case runs pytest on a small test file with a copy of the real conftest.py."""
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")
ISOLATED = ("-p", "no:cacheprovider")
TESTS = """
import pytest

def test_runs():
    pass

def test_needs_a_module():
    pytest.importorskip("no_such_module_anywhere")

@pytest.mark.skipif(True, reason="data not shipped: MNIST not found in /nowhere")
def test_needs_mnist():
    pass

@pytest.mark.skipif(True, reason="jq is not installed")
def test_needs_a_program():
    pass

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    assert False
"""


@pytest.fixture
def suite(pytester, monkeypatch):
    for var in ("CI", "BACKPROP_STRICT_SKIPS"):
        monkeypatch.delenv(var, raising=False)
    # no third-party plugins in the small runs: loading them again takes seconds each time
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_some=TESTS)
    return pytester


@pytest.mark.parametrize("env", [{}, {"CI": "false"}, {"CI": "true", "BACKPROP_STRICT_SKIPS": "0"}])
def test_outside_ci_tests_may_skip(suite, monkeypatch, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    suite.runpytest(*ISOLATED).assert_outcomes(passed=1, skipped=3, xfailed=1)


@pytest.mark.parametrize("env", [{"CI": "true"}, {"CI": "1"}, {"BACKPROP_STRICT_SKIPS": "1"}])
def test_in_ci_only_a_data_not_shipped_skip_passes(suite, monkeypatch, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    r = suite.runpytest(*ISOLATED, "-rs")
    # a skip in setup (skipif) becomes an error, one in the test's call a failure
    r.assert_outcomes(passed=1, failed=1, errors=1, skipped=1, xfailed=1)
    assert r.ret == pytest.ExitCode.TESTS_FAILED
    r.stdout.fnmatch_lines(["*skipped in CI: jq is not installed; every test must run*"])
    r.stdout.fnmatch_lines(["*skipped in CI: could not import 'no_such_module_anywhere'*"])
    r.stdout.fnmatch_lines(["SKIPPED*data not shipped: MNIST not found in /nowhere"])


def test_in_ci_a_module_that_skips_as_a_whole_is_a_collection_error(suite, monkeypatch):
    monkeypatch.setenv("CI", "true")
    suite.makepyfile(test_torchy="import pytest\ntorch = pytest.importorskip('no_torch_here')\n"
                                 "def test_x():\n    pass\n")
    r = suite.runpytest(*ISOLATED, "test_torchy.py")
    assert r.ret == pytest.ExitCode.INTERRUPTED
    r.assert_outcomes(errors=1)
    r.stdout.fnmatch_lines(["*skipped in CI: could not import 'no_torch_here'*"])
    monkeypatch.setenv("CI", "false")
    suite.runpytest(*ISOLATED, "test_torchy.py").assert_outcomes(skipped=1)
