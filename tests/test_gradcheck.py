"""The gradient checker: it passes correct gradients, fails planted bugs, skips kinks."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from backprop_cli.cli import main
from backprop_cli.engine import activations, losses
from backprop_cli.engine import gradcheck as gc
from backprop_cli.engine.gradcheck import builtin_checks, check_layer, relative_error
from backprop_cli.engine.layers import Dense, Dropout, GatedDense
from backprop_cli.engine.network import build_network
from backprop_cli.engine.parameter import Parameter
from backprop_cli.schema import Option
from helpers import XOR_YAML, write


def test_builtin_suite_passes_and_covers_every_registered_component():
    report = builtin_checks()
    assert report.passed
    names = {c.check for c in report.checks}
    for name in ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "grelu", "prelu", "softplus", "softmax"):
        assert f"activation {name}" in names
    for name in ("quadratic", "mse", "mae", "bce", "cross_entropy", "hinge", "hinge (binary)"):
        assert f"loss {name}" in names
    assert {"fused sigmoid+bce", "fused softmax+cross_entropy", "layer dense",
            "layer dropout (rate=0.5, fixed mask)", "layer dropout (rate=0)"} <= names
    for check in ("activation threshold", "layer gated (threshold gate)"):
        threshold = [c for c in report.checks if c.check == check]
        assert len(threshold) == 1 and threshold[0].status == "not differentiable"


def test_every_option_of_every_component_is_checked():
    """Each option an activation or loss declares is checked set away from its default, and
    every activation (with each of its options) is checked as a gate: a new option cannot be
    added without the built-in checks exercising it."""
    from backprop_cli.engine.activations import ACTIVATIONS
    from backprop_cli.engine.gradcheck import option_variants
    from backprop_cli.engine.losses import FUSED, LOSSES
    names = {c.check for c in builtin_checks().checks}
    components = [("activation", ACTIVATIONS.items()), ("loss", LOSSES.items()),
                  ("fused", [(f"{act.lower()}+{loss}", cls) for (loss, act), cls in FUSED.items()])]
    for kind, entries in components:
        canonical = {}
        for name, cls in entries:
            canonical.setdefault(cls, name)  # aliases (linear, l1, ...) are checked once
        for cls, name in canonical.items():
            variants = option_variants(cls)
            assert [label.split("=")[0] for label, _ in variants[1:]] == list(getattr(cls, "options", {}))
            for label, opts in variants:
                assert f"{kind} {name}" + (f" ({label})" if label else "") in names
                if kind == "activation":
                    assert f"layer gated ({name}{f' {label}' if label else ''} gate)" in names
                for key, value in opts.items():
                    assert value != cls.options[key].default


def test_planted_bug_in_an_option_fails(monkeypatch):
    """Bugs that only show with an option away from its default: PReLU's shared slope taking
    the mean instead of the sum over units, and a slope hard-coded to its default."""
    def shared_mean(self, dy):
        neg = np.where(self._mask, 0, self._z) * dy
        axes = (0, 2, 3) if self.channels else 0
        self.alpha.grad[...] = neg.sum(axis=axes).mean() if self.shared else neg.sum(axis=axes)
        return np.where(self._mask, dy, self._a() * dy)

    monkeypatch.setattr(activations.PReLU, "backward", shared_mean)
    failed = {c.name for c in builtin_checks().checks if not c.passed}
    assert "activation prelu (shared=true): alpha" in failed
    assert "activation prelu: alpha" not in failed and "activation prelu (init=0.7): alpha" not in failed
    monkeypatch.undo()
    monkeypatch.setattr(activations.GReLU, "backward", lambda self, dy: np.where(self._mask, dy, 0.01 * dy))
    failed = {c.check for c in builtin_checks().checks if not c.passed}
    assert "activation leaky_relu (slope=0.7)" in failed and "activation leaky_relu" not in failed


def test_planted_bug_in_a_derivative_fails(monkeypatch):
    # tanh' written as 1 - y instead of 1 - y^2
    monkeypatch.setattr(activations.Tanh, "backward", lambda self, dy: dy * (1 - self._y))
    report = builtin_checks()
    assert not report.passed
    failed = {c.check for c in report.checks if not c.passed}
    assert "activation tanh" in failed
    assert "activation sigmoid" not in failed


def test_planted_bug_in_a_fused_loss_fails(monkeypatch):
    # forgetting the 1/n of the batch mean
    monkeypatch.setattr(losses.SoftmaxCrossEntropy, "backward", lambda self: self._o - self._y)
    failed = {c.check for c in builtin_checks().checks if not c.passed}
    assert "fused softmax+cross_entropy" in failed


def test_cli_exit_code_5_on_a_wrong_gradient(monkeypatch):
    monkeypatch.setattr(activations.Sigmoid, "backward", lambda self, dy: dy * self._y)
    r = CliRunner().invoke(main, ["gradcheck", "--json"])
    assert r.exit_code == 5
    report = json.loads(r.stdout)
    bad = [c for c in report["checks"] if not c["passed"]]
    assert bad and all({"name", "max_rel_error", "passed"} <= set(c) for c in report["checks"])
    assert report["failed"] == len(bad) and report["passed"] > 0


def test_cli_passes_on_a_config(tmp_path):
    cfg = write(tmp_path / "xor.yaml", XOR_YAML)
    r = CliRunner().invoke(main, ["gradcheck", str(cfg), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    names = [c["name"] for c in report["checks"]]
    assert names == ["xor.yaml: 0.W", "xor.yaml: 0.b", "xor.yaml: 1.W", "xor.yaml: 1.b", "xor.yaml: input"]
    assert report["passed"] == 5 and report["failed"] == 0
    assert not (tmp_path / "runs").exists()   # gradcheck writes nothing


def test_cli_reports_threshold_networks_as_not_differentiable_and_bad_options(tmp_path):
    r = CliRunner().invoke(main, ["gradcheck", "--eps", "-1"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["gradcheck", "--set", "a=1"])
    assert r.exit_code == 2


def test_kinks_are_skipped_not_failed():
    relu = activations.ReLU()
    z = np.array([[1e-9, -1e-9, 0.5, -0.5]])  # two entries within eps of the kink at 0
    checks = check_layer(relu, z, np.ones_like(z), "relu", eps=1e-6)
    assert checks[0].skipped == 2 and checks[0].checked == 2 and checks[0].passed


def test_relative_error_floor():
    assert relative_error(1e-12, 3e-12, floor=1e-3) < 1e-8     # near zero: judged absolutely
    assert relative_error(1.0, 1.1, floor=1e-3) == pytest.approx(0.1 / 1.1)


# --- the checker's own parts: what mutation testing showed the tests above did not pin down ---

COMPARE_ARGS = ("check", "parameter", "x", "analytic", "f", "kinks", "eps", "tol", "floor", "indices")


def test_builtin_checks_are_reproducible_and_seeded():
    """The same seed gives the same report, dropout masks included; the default seed is the
    CLI's 0, and another seed draws other data."""
    report = builtin_checks().to_json()
    assert report == builtin_checks(seed=0).to_json()
    assert report != builtin_checks(seed=1).to_json()


def test_dropout_masks_of_the_builtin_checks_come_from_the_seed(monkeypatch):
    masks = []
    real = gc.check_layer

    def check_layer(layer, *args, **kwargs):
        out = real(layer, *args, **kwargs)
        if isinstance(layer, Dropout) and layer.rate:
            masks.append(layer.forward(np.ones((40, 4)), training=True))   # the stream goes on
        return out

    monkeypatch.setattr(gc, "check_layer", check_layer)
    builtin_checks()
    builtin_checks(seed=0)
    assert len(masks) == 2 and np.array_equal(masks[0], masks[1])
    assert set(np.unique(masks[0])) == {0.0, 2.0}


def describe(net):
    """The layer types of a network, with the options a check's name promises."""
    def unit(layer):
        name = type(layer).__name__
        no_bias = ", no bias" if getattr(layer, "b", 0) is None else ""
        if name == "PReLU":
            return f"PReLU({'shared, ' if layer.shared else ''}a={sorted(set(layer.alpha.value.tolist()))})"
        if name == "RReLU":
            return f"RReLU({layer.lower:.3g}, {layer.upper:.3g})"
        if name == "Maxout":
            return f"Maxout({layer.pieces} pieces{no_bias})"
        if isinstance(layer, GatedDense):
            return f"Gated({unit(layer.gate)}{no_bias})"
        if isinstance(layer, Dropout):
            return f"Dropout({layer.rate:g})"
        return f"{name}(no bias)" if no_bias else name
    return [unit(layer) for layer in net.layers], type(net.loss).__name__


BUILTIN_NETWORKS = {
    "network tanh→softmax+cross_entropy": (["Dense", "Tanh", "Dense"], "SoftmaxCrossEntropy"),
    "network sigmoid→sigmoid+bce": (["Dense", "Sigmoid", "Dense"], "BCEWithLogits"),
    "network relu→identity+mse (dropout)": (["Dense", "ReLU", "Dropout(0.3)", "Dense", "Identity"], "MSE"),
    "network prelu, gated→sigmoid+quadratic": (
        ["Dense", "PReLU(a=[0.25])", "Gated(Sigmoid)", "Softplus", "Dense", "Sigmoid"], "Quadratic"),
    "network leaky_relu→identity+hinge": (["Dense", "LeakyReLU", "Dense", "Identity"], "Hinge"),
    "network prelu (shared), gated (prelu gate)→identity+mse": (
        ["Dense", "PReLU(shared, a=[0.4])", "Gated(PReLU(a=[0.6]))", "Tanh", "Dense", "Identity"], "MSE"),
    "network conv2d relu→maxpool2d→conv2d tanh→flatten→softmax+cross_entropy": (
        ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "Tanh", "Flatten", "Dense"], "SoftmaxCrossEntropy"),
    "network conv2d prelu (dropout)→avgpool2d→global_avgpool→identity+mse": (
        ["Conv2d", "PReLU(a=[0.25])", "Dropout(0.2)", "AvgPool2d", "GlobalAvgPool", "Dense", "Identity"],
        "MSE"),
    "network maxout (dropout)→rrelu (no bias)→softmax+cross_entropy": (
        ["Maxout(3 pieces)", "Dropout(0.2)", "Dense(no bias)", "RReLU(0.125, 0.333)", "Dense"],
        "SoftmaxCrossEntropy"),
    "network gated (rrelu gate, no bias)→maxout (no bias)→sigmoid+bce": (
        ["Gated(RReLU(0.1, 0.6), no bias)", "Tanh", "Maxout(2 pieces, no bias)", "Dense"], "BCEWithLogits"),
    "network conv2d rrelu (no bias)→flatten→maxout→identity+mse": (
        ["Conv2d(no bias)", "RReLU(0.125, 0.333)", "Flatten", "Maxout(2 pieces)", "Dense", "Identity"],
        "MSE"),
}


def one_hot(target):
    return set(np.unique(target)) <= {0.0, 1.0} and np.all(target.sum(axis=1) == 1)


def test_builtin_checks_use_the_given_settings_on_valid_data(monkeypatch):
    """Every comparison gets the eps, tol and floor builtin_checks was given; each component is
    checked on data it is meant for (targets of its kind and shape, probabilities that are
    probabilities, both labels of a binary target); learned slopes are spread around their
    start; and each network check builds the network its name describes."""
    calls = {"layer": [], "loss": [], "network": [], "compare": []}
    for kind in ("layer", "loss", "network"):
        real = getattr(gc, f"check_{kind}")
        monkeypatch.setattr(gc, f"check_{kind}", lambda *a, _real=real, _kind=kind, **kw:
                            calls[_kind].append(a) or _real(*a, **kw))
    real_compare = gc.compare

    def compare(*args, **kwargs):
        bound = dict(zip(COMPARE_ARGS, args), **kwargs)
        calls["compare"].append({key: bound.get(key, "default") for key in ("check", "eps", "tol", "floor")})
        return real_compare(*args, **kwargs)

    monkeypatch.setattr(gc, "compare", compare)
    report = builtin_checks(eps=2e-6, tol=3e-6, floor=2e-3)
    assert report.passed
    assert len(calls["compare"]) > 100
    for call in calls["compare"]:  # image layers are linear: a larger step, no truncation
        eps = gc.LINEAR_EPS if call["check"].startswith(("layer conv2d", "layer maxpool2d",
                                                         "layer avgpool2d", "layer flatten",
                                                         "layer global_avgpool")) else 2e-6
        assert (call["eps"], call["tol"], call["floor"]) == (eps, 3e-6, 2e-3), call

    for layer, z, dy, check in calls["layer"]:
        if layer.differentiable:
            assert dy.shape == layer.forward(z).shape, check
        if check.startswith("activation prelu"):
            alpha = layer.alpha.value
            assert np.all(np.abs(alpha - layer.init) <= 0.1) and (alpha.size == 1 or np.ptp(alpha) > 0), check
    names = {check: [c.parameter for c in report.checks if c.check == check]
             for check in ("layer dense", "layer gated (sigmoid gate)", "layer gated (prelu gate)")}
    assert names == {"layer dense": ["W", "b", "input"],
                     "layer gated (sigmoid gate)": ["W", "b", "W_gate", "b_gate", "input"],
                     "layer gated (prelu gate)": ["W", "b", "W_gate", "b_gate", "alpha", "input"]}

    assert len(calls["loss"]) >= 9
    for loss, output, target, check in calls["loss"]:
        assert output.shape == target.shape and output.shape[0] > 1, check
        if "bce" in check or "binary" in check:
            assert all(set(np.unique(column)) == {0.0, 1.0} for column in target.T), check
        elif "cross_entropy" in check or "hinge" in check:
            assert one_hot(target) and np.all(target.sum(axis=0) > 0), check   # every class
        if check.startswith("fused sigmoid") or "binary" in check:   # one output: binary classes
            assert output.shape[1] == 1, check
        if check == "loss bce":
            assert np.all((output > 0) & (output < 1)), check
        if check == "loss cross_entropy":
            assert np.all((output > 0) & (output < 1)) and np.allclose(output.sum(axis=1), 1), check

    assert {check: describe(net) for net, x, y, check in calls["network"]} == BUILTIN_NETWORKS
    for net, x, y, check in calls["network"]:
        assert y.shape == net.forward(x).shape, check
        if net.loss.classification:
            assert np.all(y.sum(axis=0) > 0) and (y.shape[1] == 1 or one_hot(y)), check
            assert set(np.unique(y)) == {0.0, 1.0}, check


def test_compare_judges_the_first_worst_entry_against_tol_and_floor():
    """numeric = (f(x+eps) - f(x-eps)) / 2eps is exact here (eps a power of two, f linear): 2."""
    x = np.array([1.0, 2.0, 3.0])

    def f():
        return float(2 * x.sum())

    analytic = np.array([2.0, 2.5, 2.5])       # entries 1 and 2 tie for the worst error
    exact = float(relative_error(2.5, 2.0))
    check = gc.compare("c", "p", x, analytic, f, eps=2.0 ** -10, tol=exact)
    assert check.passed and check.status == "passed" and check.max_rel_error == exact
    assert check.worst_index == (1,) and (check.analytic, check.numeric) == (2.5, 2.0)
    assert check.checked == 3 and check.skipped == 0
    assert np.array_equal(x, [1.0, 2.0, 3.0])      # perturbed in place, then put back
    failed = gc.compare("c", "p", x, analytic, f, eps=2.0 ** -10, tol=exact * 0.999)
    assert not failed.passed and failed.status == "FAILED"
    floored = gc.compare("c", "p", x, analytic, f, eps=2.0 ** -10, floor=10.0)
    assert floored.max_rel_error == 0.5 / 10.0
    some = gc.compare("c", "p", x, analytic, f, eps=2.0 ** -10, indices=[(0,)])
    assert some.checked == 1 and some.max_rel_error == 0.0 and some.passed


def test_numerical_gradient_is_central_differences():
    x = np.array([0.5, -1.0])
    grad = gc.numerical_gradient(lambda: float(np.sum(x ** 3)), x)
    assert grad.dtype == np.float64 and np.allclose(grad, 3 * x ** 2, rtol=1e-9)


def test_sample_indices_draws_distinct_sorted_entries():
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    everything = list(np.ndindex(4, 5))
    assert gc.sample_indices((4, 5), None, rng) == everything
    assert gc.sample_indices((4, 5), 20, rng) == everything
    assert gc.sample_indices((4, 5), 50, rng) == everything
    assert rng.bit_generator.state == state      # taking every entry draws nothing
    some = gc.sample_indices((4, 5), 19, rng)
    assert len(some) == len(set(some)) == 19 and some == sorted(some)
    assert set(some) < set(everything)
    assert all(type(i) is int for idx in some for i in idx)
    assert gc.sample_indices((4, 5), 7, np.random.default_rng(3)) == gc.sample_indices(
        (4, 5), 7, np.random.default_rng(3))


def small_network(specs, loss="mse", seed=0):
    rng = np.random.default_rng(seed)
    return build_network(specs, 4, loss, np.float64, rng, np.random.default_rng(seed))


def test_check_network_caps_entries_reproducibly():
    net = small_network([{"units": 6, "activation": "tanh"}, {"units": 2}])
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 2))
    checks = gc.check_network(net, x, y, max_entries=3)
    sizes = {p.name: p.value.size for p in net.parameters()} | {"input": x.size}
    assert [c.parameter for c in checks] == ["0.W", "0.b", "1.W", "1.b", "input"]
    assert all(c.check == "network" and c.passed for c in checks)
    assert [c.checked + c.skipped for c in checks] == [min(3, sizes[c.parameter]) for c in checks]
    again = gc.check_network(net, x, y, max_entries=3, seed=0)
    assert [c.to_json() for c in checks] == [c.to_json() for c in again]
    full = gc.check_network(net, x, y)
    assert [c.checked for c in full] == [sizes[c.parameter] for c in full]


def test_check_network_and_check_layer_report_units_without_a_derivative():
    net = small_network([{"units": 3, "activation": "threshold"}, {"units": 2}])
    x = np.ones((2, 4))
    [check] = gc.check_network(net, x, np.zeros((2, 2)), "t")
    assert check.to_json() == gc.Check("t", "all", status="not differentiable").to_json()
    assert check.passed
    [check] = check_layer(activations.Threshold(), x, x, "t")
    assert (check.parameter, check.status, check.passed) == ("input", "not differentiable", True)
    smooth = [gc.compare("c", p, x[0], np.zeros(4), lambda: 0.0) for p in "pq"]
    report = gc.Report([check] + smooth)
    assert report.to_json()["not_differentiable"] == 1 and report.to_json()["ok"] is True
    assert report.to_json()["passed"] == 2 and report.to_json()["failed"] == 0
    assert set(report.to_json()) == {"checks", "passed", "failed", "not_differentiable", "ok"}
    assert report.to_json()["checks"][1]["worst_index"] == [0]


def test_dropout_is_checked_in_training_mode_and_unfrozen_after(monkeypatch):
    """A dropout backward that forgets its mask fails both checks; the masks are live again after."""
    net = small_network([{"units": 8, "activation": "tanh", "dropout": 0.5}, {"units": 2}])
    layer = Dropout(0.5, np.random.default_rng(0))
    rng = np.random.default_rng(2)
    x, y, z = rng.normal(size=(6, 4)), rng.normal(size=(6, 2)), rng.normal(size=(6, 3))
    assert all(c.passed for c in gc.check_network(net, x, y))
    assert all(c.passed for c in check_layer(layer, z, np.ones_like(z), "dropout"))
    dropouts = [d for d in net.layers if isinstance(d, Dropout)] + [layer]
    assert dropouts[0] is not layer and not any(d.frozen for d in dropouts)
    monkeypatch.setattr(Dropout, "backward", lambda self, dy: dy)
    assert not all(c.passed for c in gc.check_network(net, x, y))
    assert not all(c.passed for c in check_layer(layer, z, np.ones_like(z), "dropout"))


def test_kinks_are_skipped_for_parameters_and_inputs():
    """A relu unit whose net input is exactly 0: every entry that moves it across the kink is
    skipped (a one-sided slope would fail), in a network and in a gated layer."""
    net = small_network([{"units": 3, "activation": "relu"}, {"units": 2}])
    x = np.random.default_rng(4).normal(size=(3, 4))
    x[0] = 0.0
    net.parameters()[1].value[:] = 0.0                 # 0.b: sample 0's net input is 0
    checks = {c.parameter: c for c in gc.check_network(net, x, np.ones((3, 2)))}
    assert checks["0.b"].skipped == 3 and checks["input"].skipped > 0
    assert all(c.passed for c in checks.values())

    rng = np.random.default_rng(5)
    gated = GatedDense(*(Parameter(n, rng.normal(size=s)) for n, s in
                         (("W", (4, 3)), ("b", (3,)), ("W_gate", (4, 3)), ("b_gate", (3,)))),
                       activations.ReLU())
    gated.b_gate.value[:] = 0.0
    checks = {c.parameter: c for c in check_layer(gated, x, np.ones((3, 3)), "g")}
    assert checks["b_gate"].skipped == 3 and checks["input"].skipped > 0
    assert all(c.passed for c in checks.values())


def test_layer_and_loss_checks_use_the_given_settings():
    rng = np.random.default_rng(6)
    z, dy = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    for floor in (1e-3, 50.0):
        for c in check_layer(Dense(Parameter("W", rng.normal(size=(3, 3))), Parameter("b", np.zeros(3))),
                             z, dy, "d", floor=floor) + check_layer(activations.Tanh(), z, dy, "t", floor=floor):
            assert c.max_rel_error == pytest.approx(float(relative_error(c.analytic, c.numeric, floor)), rel=1e-12)
    loose = check_layer(activations.Tanh(), z, dy, "t", eps=1e-2, tol=1e-3)
    assert all(c.passed and c.max_rel_error > 1e-7 for c in loose)     # truncation error ~ eps^2
    assert not check_layer(activations.Tanh(), z, dy, "t", eps=1e-2)[0].passed
    [c] = gc.check_loss(losses.MSE(), z, dy, "mse", eps=1e-2, tol=1e-30)
    assert c.parameter == "output" and c.checked == z.size
    assert not c.passed and c.max_rel_error < 1e-6
    [c] = gc.check_loss(losses.MSE(), z, dy, "mse", floor=1e6)
    assert c.max_rel_error == pytest.approx(float(relative_error(c.analytic, c.numeric, 1e6)), rel=1e-12)


def test_away_from_default_takes_the_first_valid_other_value():
    def away(option):
        return gc.away_from_default(option)
    assert away(Option(float, 0.25, gt=0)) == 0.7
    assert away(Option(float, 0.7, gt=0)) == 0.3               # never the default itself
    assert away(Option(float, 0.5, gt=1.0, lt=2.0)) == 1.5
    assert away(Option(float, 0.5, gt=2.5, lt=3.5)) == 3.0
    assert away(Option(float, 0.0, lt=0)) == -0.3
    assert away(Option(int, 1, ge=1)) == 2 and away(Option(int, 2, ge=1)) == 3
    assert away(Option(bool, False)) is True and away(Option(str, "a", choices=("a", "B"))) == "B"
    with pytest.raises(ValueError, match="no value other than the default 4.5 found"):
        away(Option(float, 4.5, gt=3.5))


def test_option_variants_label_each_value_as_a_config_writes_it():
    class Component:
        options = {"flag": Option(bool, False), "rate": Option(float, 0.5, gt=2.5, lt=3.5),
                   "mode": Option(str, "a", choices=("a", "B")), "count": Option(int, 1, ge=1)}
    assert gc.option_variants(Component) == [("", {}), ("flag=true", {"flag": True}),
                                             ("rate=3", {"rate": 3.0}), ("mode=B", {"mode": "B"}),
                                             ("count=2", {"count": 2})]
