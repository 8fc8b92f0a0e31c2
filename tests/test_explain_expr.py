"""The expression explainer: note 000's numbers, adjoints against central differences,
shared nodes, and the exact one-line errors."""
import json
import math

import pytest
from click.testing import CliRunner

from backprop_cli.cli import main
from backprop_cli.explain.expr import ExprError, explain, parse

NOTE_000 = "exp(x*z) + x*z/log(x) + sin(log(x))/(x*z)"
NOTE_000_STEPS = "a = x*z; b = log(x); c = sin(b); d = exp(a); e = a/b; f = c/a; d + e + f"


def central(expr, at, name, h=1e-6):
    up, down = dict(at), dict(at)
    up[name] += h
    down[name] -= h
    return (explain(expr, up).value - explain(expr, down).value) / (2 * h)


def test_note_000_numbers_by_hand():
    r = explain(NOTE_000, {"x": 2.0, "z": 3.0})
    # a = 6, b = log 2, y = e^6 + 6/log 2 + sin(log 2)/6
    assert r.value == pytest.approx(math.exp(6) + 6 / math.log(2) + math.sin(math.log(2)) / 6)
    # ga = exp(a) + 1/b - c/a^2 = 404.8537; gb = -a/b^2 + cos(b)/a = -12.3600
    # gx = 3 ga + gb/2 = 1208.38, gz = 2 ga = 809.71 (the notes' figures)
    assert r.gradient["x"] == pytest.approx(1208.38, abs=0.005)
    assert r.gradient["z"] == pytest.approx(809.71, abs=0.005)
    for name in ("x", "z"):
        assert r.gradient[name] == pytest.approx(central(NOTE_000, {"x": 2.0, "z": 3.0}, name), rel=1e-7)


def test_shared_subexpression_is_one_node_and_sums_three_contributions():
    r = explain(NOTE_000, {"x": 2.0, "z": 3.0})
    g = r.graph
    products = [n for n in r.forward_nodes() if n.op == "mul"]
    assert len(products) == 1 and g.ref(products[0].id) == "a"
    a = products[0]
    assert [c for c, *_ in a.contributions] == ["c", "d", "f"]  # exp(a), a/b, sin(b)/a
    assert a.adjoint == pytest.approx(math.exp(6) + 1 / math.log(2) - math.sin(math.log(2)) / 36)
    assert a.adjoint == pytest.approx(sum(gc * local for _, _, local, gc in a.contributions))


def test_the_notes_decomposition_keeps_its_names_and_order():
    r = explain(NOTE_000_STEPS, {"x": 2.0, "z": 3.0})
    g = r.graph
    defs = {g.ref(n.id): g.text(n) for n in r.forward_nodes()}
    assert defs == {"x": "x", "z": "z", "a": "x*z", "b": "log(x)", "c": "sin(b)", "d": "exp(a)",
                    "e": "a/b", "f": "c/a", "y": "d + e + f"}
    # reverse mode visits y first and the inputs last
    assert [g.ref(n.id) for n in r.backward_nodes()][:1] == ["y"]
    assert r.gradient == pytest.approx(explain(NOTE_000, {"x": 2.0, "z": 3.0}).gradient)
    gb = next(n for n in r.forward_nodes() if g.ref(n.id) == "b")
    assert [(c, f) for c, f, _, _ in gb.contributions] == [("c", "cos(b)"), ("e", "-a/b^2")]


@pytest.mark.parametrize("expr, at", [
    ("tanh(x) * sigmoid(z) - relu(x - z) + sqrt(x*x + 1)", {"x": 0.7, "z": -0.4}),
    ("x^3 - 2*x^2*z + cos(z)/x", {"x": 1.3, "z": 0.9}),
    ("-x ** 2 + x ** z", {"x": 1.7, "z": 2.5}),
    ("log(sigmoid(x)) + exp(-z) * relu(z + 2)", {"x": -1.2, "z": 0.3}),
    ("(x + z) * (x - z) / (1 + x*x)", {"x": 0.4, "z": 2.0}),
])
def test_adjoints_match_central_differences(expr, at):
    r = explain(expr, at)
    for name in at:
        assert r.gradient[name] == pytest.approx(central(expr, at, name), rel=1e-6, abs=1e-8)


def test_precedence_and_unary_minus():
    assert explain("-x^2", {"x": 3.0}).value == -9.0
    assert explain("2^3^2", {}).value == 512.0  # right-associative
    assert explain("x - z - 1", {"x": 5.0, "z": 1.0}).value == 3.0
    assert explain("x / z / 2", {"x": 8.0, "z": 2.0}).value == 2.0
    assert explain("relu(x)", {"x": 0.0}).gradient == {"x": 0.0}  # subgradient 0 at the kink


@pytest.mark.parametrize("expr, at, message", [
    ("exp(x*)", {"x": 1}, "expression: column 7: unexpected ')'"),
    ("exp(x*z", {"x": 1, "z": 1}, "expression: column 8: expected ')' to close the '(' at column 4, found end of expression"),
    ("x y", {"x": 1}, "expression: column 3: unexpected 'y'"),
    ("2 $ x", {"x": 1}, "expression: column 3: unexpected character '$'"),
    ("sinh(x)", {"x": 1}, "expression: column 1: unknown function 'sinh'; did you mean 'sin'? "
                          "(expected one of: exp, log, sin, cos, tanh, sigmoid, relu, sqrt)"),
    ("x + exp", {"x": 1}, "expression: column 5: 'exp' is a function: write exp(...)"),
    ("x * q", {"x": 1}, "expression: column 5: no value for the variable 'q'; give one with --at q=NUMBER"),
    ("1 + log(x - 3)", {"x": 2}, "expression: column 5: log of a negative number: log(x - 3) with "
                                 "x - 3 = -1; log needs a positive argument"),
    ("x / (x - 2)", {"x": 2}, "expression: column 1: division by zero: x / (x - 2) divides by x - 2 = 0"),
    ("sqrt(x - 3)", {"x": 2}, "expression: column 1: square root of a negative number: sqrt(x - 3) with x - 3 = -1"),
    ("exp(x)", {"x": 1000}, "expression: column 1: exp(x) overflows (x = 1000)"),
    ("", {}, "expression: empty expression"),
    ("a = x; 2", {"x": 1}, "expression: column 1: the step 'a' is defined but never used"),
])
def test_errors_are_one_line_with_the_column(expr, at, message):
    with pytest.raises(ExprError) as e:
        explain(expr, at)
    assert str(e.value) == message
    assert e.value.exit_code == 2


def test_unknown_at_variable_is_named():
    with pytest.raises(Exception) as e:
        explain("x + 1", {"x": 1.0, "w": 2.0})
    assert str(e.value) == "--at w: the expression has no variable 'w' (its variables: x)"


def test_parse_never_evaluates_python():
    with pytest.raises(ExprError):
        parse("__import__('os').system('true')")


def test_cli_prints_the_graph_and_the_gradient(tmp_path):
    r = CliRunner().invoke(main, ["explain", "--expr", NOTE_000, "--at", "x=2", "--at", "z=3",
                                  "--dot", "g.dot"], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "dy/dx = 1208.38" in r.stderr and "dy/dz = 809.707" in r.stderr
    assert "ga·z + gb·(1/x)" in r.stderr
    dot = (tmp_path / "g.dot").read_text()
    assert dot.startswith("digraph") and '"a" -> "c"' in dot and dot.count("->") == 12


def test_cli_json_and_errors():
    r = CliRunner().invoke(main, ["explain", "--expr", "x*x", "--at", "x=3", "--json"])
    out = json.loads(r.stdout)
    assert out["gradient"] == {"x": 6.0} and out["backward"][-1]["value"] == 6.0
    r = CliRunner().invoke(main, ["explain", "--expr", "exp(x*)", "--at", "x=1"])
    assert r.exit_code == 2 and r.stderr.strip() == "Error: expression: column 7: unexpected ')'"
    r = CliRunner().invoke(main, ["explain", "--expr", "x", "--at", "x=two"])
    assert r.exit_code == 2 and r.stderr.strip() == "Error: --at x=two: 'two' is not a number"
