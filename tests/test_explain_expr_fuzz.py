"""Property: whatever `backprop explain --expr` is given (random token soups, nesting of any
depth, long chains), it explains it (finite value and gradient) or stops with one located
line and exit 2, never a traceback; nesting deeper than MAX_DEPTH is named at its column."""
import math

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli.cli import main
from backprop_cli.errors import UsageError
from backprop_cli.explain.expr import MAX_DEPTH, ExprError, explain, parse

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
TOKENS = ["x", "z", "a", "0", "1", "2.5", "1e3", "1e-300", ".5", "(", ")", "+", "-", "*", "/", "^",
          "**", "exp(", "log(", "sin(", "cos(", "tanh(", "sigmoid(", "relu(", "sqrt(", ";", "=",
          " ", "$", "exp", "@"]
NUMBERS = st.floats(-1e3, 1e3) | st.sampled_from([0.0, 1e-154, -1e-200, 1e-310, 1e300])
OPENERS = {"(": ")", "sin(": ")", "-": "", "+": "", "x^": ""}


def explain_or_error(text: str, x: float, z: float):
    """The result, or the one-line error (after the parse found which variables are used)."""
    try:
        g = parse(text)
        at = {name: v for name, v in (("x", x), ("z", z), ("a", 0.5)) if name in g.variables}
        return explain(text, at)
    except UsageError as e:
        assert "\n" not in str(e) and e.exit_code == 2
        return e


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=25), NUMBERS, NUMBERS)
def test_token_soup_is_explained_or_a_located_error(tokens, x, z):
    r = explain_or_error("".join(tokens), x, z)
    if not isinstance(r, UsageError):
        assert math.isfinite(r.value) and all(math.isfinite(v) for v in r.gradient.values())


@SETTINGS
@given(st.integers(1, 3000), st.lists(st.sampled_from(list(OPENERS)), min_size=1, max_size=8))
def test_nesting_beyond_the_limit_is_named_at_its_column(depth, pattern):
    openers = (pattern * depth)[:depth]
    text = "".join(openers) + "x" + "".join(OPENERS[o] for o in reversed(openers))
    r = explain_or_error(text, 1.0, 1.0)  # x = 1: every power 1^e, so nothing overflows
    if len(openers) <= MAX_DEPTH:
        assert math.isfinite(r.value), r
        return
    column = 1 + sum(len(o) for o in openers[:MAX_DEPTH]) + (1 if openers[MAX_DEPTH] == "x^" else 0)
    assert isinstance(r, ExprError) and r.column == column
    assert r.problem.startswith(f"nested more than {MAX_DEPTH} levels deep")


@pytest.mark.parametrize("expr, at, message", [
    ("x/z", {"x": 1, "z": 1e-200}, "column 1: the derivative of x/z overflows (x = 1, z = 1e-200)"),
    ("x^-2", {"x": 1e-154}, "column 1: the derivative of x^-2 overflows (x = 1e-154)"),
    ("log(x)", {"x": 1e-310}, "column 1: the derivative of log(x) overflows (x = 1e-310)"),
])
def test_a_derivative_that_overflows_is_a_located_error(expr, at, message):
    with pytest.raises(ExprError) as e:
        explain(expr, at)
    assert str(e.value) == f"expression: {message}"


def test_deep_nesting_on_the_command_line_is_exit_2_with_one_line():
    for text, column in [("(" * 3000 + "x" + ")" * 3000, 101), ("-" * 5000 + "x", 101),
                         ("sin(" * 200 + "x" + ")" * 200, 401)]:
        r = CliRunner().invoke(main, ["explain", "--expr", text, "--at", "x=1"])
        assert r.exit_code == 2, r.output
        assert r.stderr.strip() == (f"Error: expression: column {column}: nested more than {MAX_DEPTH} "
                                    "levels deep (each '(', function call, sign and exponent is a level); "
                                    "write inner parts as named steps first: a = ...; b = ...; then the "
                                    "expression of a and b")


def test_a_legal_deep_graph_is_evaluated_and_differentiated_without_recursion():
    # 3000 named steps make a graph 3000 nodes deep (Python's stack holds 1000 frames):
    # a_i = a_(i-1)/2 + sin(a_(i-1)), so da_i/da_(i-1) = 1/2 + cos(a_(i-1)); y = a_2999 + x
    n = 3000
    text = "; ".join(["a0 = sin(x)"] + [f"a{i} = a{i - 1}/2 + sin(a{i - 1})" for i in range(1, n)])
    r = explain(text + f"; a{n - 1} + x", {"x": 0.3})
    a, grad = math.sin(0.3), math.cos(0.3)
    for _ in range(1, n):
        a, grad = a / 2 + math.sin(a), grad * (0.5 + math.cos(a))
    assert r.value == a + 0.3 and r.gradient["x"] == grad + 1.0
    # and a flat chain written without nesting: x*x*...*x, 3000 factors, 2999 products deep
    r = explain("*".join(["x"] * 3000), {"x": 1.0001})
    assert r.gradient["x"] == r.value * 3000 / 1.0001 or math.isclose(
        r.gradient["x"], 3000 * 1.0001 ** 2999, rel_tol=1e-9)
    assert len(r.to_dot().splitlines()) > 3000 and len(r.to_json()["backward"]) == 3000
