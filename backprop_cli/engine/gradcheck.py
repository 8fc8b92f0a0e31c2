"""Gradient checking: every analytic gradient against central finite differences.

numeric_i = (E(θ + eps·e_i) - E(θ - eps·e_i)) / (2 eps), and the error of entry i is
|a_i - n_i| / max(|a_i|, |n_i|, floor). The floor keeps near-zero gradients, whose finite
differences are mostly round-off (about 1e-16·|E| / eps), from failing spuriously (Caffe's
checker uses 1; we use 1e-3 in float64, where round-off is far smaller). An entry whose
+eps and -eps evaluations land on different sides of a kink (relu-like units, hinge, mae)
is skipped and counted, not failed. Dropout is checked with its mask frozen, and rrelu with
its slopes frozen (every layer with a ``freeze`` method keeps its last random draw).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from .layers import Dropout

DEFAULT_EPS = 1e-6
DEFAULT_TOL = 1e-6
DEFAULT_FLOOR = 1e-3


@dataclass
class Check:
    """The verdict on one gradient: ``check`` names the component, ``parameter`` the array."""

    check: str
    parameter: str
    max_rel_error: float = 0.0
    worst_index: tuple = ()
    analytic: float = 0.0
    numeric: float = 0.0
    checked: int = 0
    skipped: int = 0
    passed: bool = True
    status: str = "passed"  # passed | FAILED | not differentiable

    @property
    def name(self) -> str:
        return f"{self.check}: {self.parameter}"

    def to_json(self) -> dict:
        d = asdict(self)
        d["name"] = self.name
        d["worst_index"] = list(self.worst_index)
        return d


def relative_error(a, n, floor: float = DEFAULT_FLOOR):
    """|a - n| / max(|a|, |n|, floor), elementwise."""
    a, n = np.asarray(a, dtype=np.float64), np.asarray(n, dtype=np.float64)
    return np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = DEFAULT_EPS) -> np.ndarray:
    """Central differences of the scalar f() with respect to x, perturbed in place."""
    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        orig = x[idx]
        x[idx] = orig + eps
        fp = f()
        x[idx] = orig - eps
        fm = f()
        x[idx] = orig
        grad[idx] = (fp - fm) / (2 * eps)
    return grad


def compare(check: str, parameter: str, x: np.ndarray, analytic: np.ndarray,
            f: Callable[[], float], kinks: Callable[[], list] | None = None,
            eps: float = DEFAULT_EPS, tol: float = DEFAULT_TOL, floor: float = DEFAULT_FLOOR,
            indices=None) -> Check:
    """Check ``analytic`` = dE/dx against central differences of f at the given indices
    (all by default); ``kinks()`` returns the kink states after the last f()."""
    result = Check(check, parameter)
    worst = -1.0
    for idx in (indices if indices is not None else np.ndindex(x.shape)):
        orig = x[idx]
        x[idx] = orig + eps
        fp = f()
        kp = kinks() if kinks else None
        x[idx] = orig - eps
        fm = f()
        km = kinks() if kinks else None
        x[idx] = orig
        if kp is not None and any(not np.array_equal(a, b) for a, b in zip(kp, km)):
            result.skipped += 1
            continue
        numeric = (fp - fm) / (2 * eps)
        err = float(relative_error(analytic[idx], numeric, floor))
        result.checked += 1
        if err > worst:
            worst = err
            result.max_rel_error, result.worst_index = err, tuple(int(i) for i in idx)
            result.analytic, result.numeric = float(analytic[idx]), float(numeric)
    result.passed = result.max_rel_error <= tol
    result.status = "passed" if result.passed else "FAILED"
    return result


def sample_indices(shape, limit: int | None, rng: np.random.Generator):
    """All indices of an array, or ``limit`` of them drawn at random without replacement."""
    size = int(np.prod(shape))
    if limit is None or size <= limit:
        return list(np.ndindex(shape))
    flat = rng.choice(size, size=limit, replace=False)
    return [tuple(int(i) for i in np.unravel_index(k, shape)) for k in sorted(flat)]


def check_network(network, x: np.ndarray, y: np.ndarray, check: str = "network",
                  eps: float = DEFAULT_EPS, tol: float = DEFAULT_TOL, floor: float = DEFAULT_FLOOR,
                  max_entries: int | None = None, seed: int = 0) -> list[Check]:
    """dE/dθ for every parameter θ and dE/dx of the network's loss on (x, y), in training
    mode with dropout masks (and rrelu slopes) frozen. ``max_entries`` caps the entries
    checked per array."""
    if not network.differentiable:
        return [Check(check, "all", passed=True, status="not differentiable")]
    dropouts = [layer for layer in network.layers if hasattr(layer, "freeze")]
    for d in dropouts:
        d.freeze(True)
    try:
        def f() -> float:
            return network.loss.forward(network.forward(x, training=True), y)

        f()
        dx = network.backward(network.loss.backward())
        analytic = {p.name: p.grad.copy() for p in network.parameters()}
        rng = np.random.default_rng(seed)
        results = []
        for p in network.parameters():
            idx = sample_indices(p.value.shape, max_entries, rng)
            results.append(compare(check, p.name, p.value, analytic[p.name], f,
                                   network.kink_states, eps, tol, floor, idx))
        idx = sample_indices(x.shape, max_entries, rng)
        results.append(compare(check, "input", x, dx, f, network.kink_states, eps, tol, floor, idx))
        return results
    finally:
        for d in dropouts:
            d.freeze(False)


def check_layer(layer, z: np.ndarray, dy: np.ndarray, check: str, eps=DEFAULT_EPS,
                tol=DEFAULT_TOL, floor=DEFAULT_FLOOR) -> list[Check]:
    """A single layer under the scalar E = sum(dy ⊙ layer(z)): its dE/dz is layer.backward(dy)."""
    if not layer.differentiable:
        return [Check(check, "input", status="not differentiable")]
    random = hasattr(layer, "freeze")  # dropout, rrelu, a gated layer (its gate may be rrelu)
    if random:
        layer.freeze(True)

    def f() -> float:
        return float(np.sum(dy * layer.forward(z, training=True)))

    def kinks():
        state = layer.kink_state() if layer.has_kinks else None
        return [state.copy()] if state is not None else None

    try:
        f()
        dz = layer.backward(dy)
        analytic = {p.name: p.grad.copy() for p in layer.parameters()}
        results = [compare(check, p.name, p.value, analytic[p.name], f, kinks, eps, tol, floor)
                   for p in layer.parameters()]
        results.append(compare(check, "input", z, dz, f, kinks, eps, tol, floor))
        return results
    finally:
        if random:
            layer.freeze(False)


def check_loss(loss, output: np.ndarray, target: np.ndarray, check: str, eps=DEFAULT_EPS,
               tol=DEFAULT_TOL, floor=DEFAULT_FLOOR) -> list[Check]:
    """dE/doutput of a loss (batch mean) against central differences."""

    def f() -> float:
        return loss.forward(output, target)

    def kinks():
        state = loss.kink_state() if loss.has_kinks else None
        return [state.copy()] if state is not None else None

    f()
    return [compare(check, "output", output, loss.backward(), f, kinks, eps, tol, floor)]


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def n_passed(self) -> int:
        return sum(c.passed and c.status == "passed" for c in self.checks)

    @property
    def n_failed(self) -> int:
        return sum(not c.passed for c in self.checks)

    def to_json(self) -> dict:
        return {"checks": [c.to_json() for c in self.checks], "passed": self.n_passed,
                "failed": self.n_failed,
                "not_differentiable": sum(c.status == "not differentiable" for c in self.checks),
                "ok": self.passed}


def away_from_default(option, fits: Callable[[object], bool] | None = None):
    """A valid value of a declared option other than its default: the other truth value, another
    choice, or the first of a few numbers that passes the option's range (and ``fits``, the
    component's checks of its options together, the others at their defaults)."""
    if option.types() == (bool,):
        return not option.default
    candidates = option.choices or (0.7, 0.3, 1.5, 3.0, -0.3, 2, 3)
    for value in candidates:
        v, problem = option.check(value)
        if value != option.default and problem is None and (fits is None or fits(v)):
            return v
    raise ValueError(f"no value other than the default {option.default!r} found for {option}")


def option_variants(cls) -> list[tuple[str, dict]]:
    """(label, options) to check a component with: its defaults (label ''), then each option
    it declares set away from its default in turn (label 'shared=true'), to a value its
    ``problems(options)`` (if it has one, e.g. rrelu's lower <= upper) accepts."""
    out = [("", {})]
    problems = getattr(cls, "problems", None)
    for key, option in (getattr(cls, "options", None) or {}).items():
        fits = None if problems is None else (lambda v, key=key: not problems({key: v}))
        value = away_from_default(option, fits)
        shown = str(value).lower() if isinstance(value, bool) else f"{value:g}" if isinstance(
            value, float) else value
        out.append((f"{key}={shown}", {key: value}))
    return out


#: conv2d options the built-in checks cover (each on a 2-channel 7x6 image): stride 1 and 2,
#: padding 0, 1, asymmetric 'same' and a pair, a non-square kernel, dilation 2, 3 channels out,
#: no bias
CONV_VARIANTS = [
    {"channels": 3, "kernel": 3},
    {"channels": 2, "kernel": 3, "bias": False},
    {"channels": 3, "kernel": 3, "stride": 2, "padding": 1},
    {"channels": 2, "kernel": [3, 2], "padding": "same"},
    {"channels": 2, "kernel": 2, "stride": 2, "padding": "same"},
    {"channels": 3, "kernel": [2, 3], "stride": [1, 2], "padding": [1, 0]},
    {"channels": 2, "kernel": 3, "dilation": 2, "padding": 1},
]
LINEAR_EPS = 1e-3
POOL_VARIANTS = [{"kernel": 2}, {"kernel": 3, "stride": 2, "padding": 1}, {"kernel": [2, 3], "stride": 1}]


def image_layer_checks(rng: np.random.Generator, kw: dict, n: int = 3,
                       image: tuple = (2, 7, 6)) -> list[Check]:
    """conv2d with each of CONV_VARIANTS, both pools with each of POOL_VARIANTS, flatten and
    global_avgpool, each built from its config spec by the network's own builder.

    Each is linear in its input and parameters (max pool piecewise), so a central difference
    has no truncation error at any step: a step of at least LINEAR_EPS divides the round-off
    of E = Σ dy ⊙ y (a sum of hundreds of terms) that a 1e-6 step would leave near 1e-6."""
    from .blocks import LAYERS, describe, infer_shapes
    kw = {**kw, "eps": max(kw.get("eps", DEFAULT_EPS), LINEAR_EPS)}
    checks = []
    specs = [{"type": "conv2d", **v} for v in CONV_VARIANTS]
    specs += [{"type": t, **v} for t in ("maxpool2d", "avgpool2d") for v in POOL_VARIANTS]
    specs += [{"type": "flatten"}, {"type": "global_avgpool"}]
    for spec in specs:
        out = infer_shapes([spec], image)[0]
        layer = LAYERS.get(spec["type"]).build(spec, image, "", np.dtype(np.float64), rng, rng)[0]
        for p in layer.parameters():  # biases away from 0, so they matter
            p.value[...] = rng.normal(size=p.value.shape) * 0.5
        checks += check_layer(layer, rng.normal(size=(n, *image)), rng.normal(size=(n, *out)),
                              f"layer {describe(spec)}", **kw)
    return checks


def builtin_checks(eps=DEFAULT_EPS, tol=DEFAULT_TOL, floor=DEFAULT_FLOOR, seed: int = 0) -> Report:
    """Every built-in activation, layer and loss, each fused pair, and small networks, in
    float64 on random batches. Names are taken from the registries, so a new component is
    checked without anyone writing a check for it."""
    from .activations import ACTIVATIONS
    from .layers import Dense, GatedDense
    from .losses import FUSED, LOSSES
    from .network import build_network
    from .parameter import Parameter

    rng = np.random.default_rng(seed)
    report = Report()
    kw = dict(eps=eps, tol=tol, floor=floor)
    n, k = 5, 4

    def unique(registry):
        seen = set()
        for name, cls in registry.items():
            if cls is not None and cls not in seen:
                seen.add(cls)
                yield name, cls

    activations = [(name, label, cls, opts) for name, cls in unique(ACTIVATIONS)
                   for label, opts in option_variants(cls)]

    def activation(cls, opts):
        layer = cls(**opts)
        if hasattr(layer, "rng"):  # rrelu's slopes: a stream of their own, as dropout's masks
            layer.rng = np.random.default_rng(seed)
        layer.init_parameters(k, np.float64, "")
        for p in layer.parameters():  # learned slopes spread around their init, so both matter
            p.value += rng.uniform(-0.1, 0.1, p.value.shape)
        return layer

    for name, label, cls, opts in activations:
        z = rng.normal(size=(n, k))
        report.checks += check_layer(activation(cls, opts), z, rng.normal(size=(n, k)),
                                     f"activation {name}" + (f" ({label})" if label else ""), **kw)

    def param(name, shape):
        return Parameter(name, rng.normal(size=shape) * 0.5)

    dense = Dense(param("W", (3, k)), param("b", (k,)))
    report.checks += check_layer(dense, rng.normal(size=(n, 3)), rng.normal(size=(n, k)),
                                 "layer dense", **kw)
    report.checks += check_layer(Dense(param("W", (3, k)), None), rng.normal(size=(n, 3)),
                                 rng.normal(size=(n, k)), "layer dense (bias=false)", **kw)
    gated = GatedDense(param("W", (3, k)), None, param("W_gate", (3, k)), None,
                       activation(ACTIVATIONS.get("sigmoid"), {}))
    report.checks += check_layer(gated, rng.normal(size=(n, 3)), rng.normal(size=(n, k)),
                                 "layer gated (sigmoid gate, bias=false)", **kw)
    from .blocks import LAYERS, describe
    for spec in ({"type": "maxout", "units": k, "pieces": 1}, {"type": "maxout", "units": k},
                 {"type": "maxout", "units": k, "pieces": 3},
                 {"type": "maxout", "units": k, "pieces": 3, "bias": False}):
        maxout = LAYERS.get("maxout").build(spec, (3,), "", np.dtype(np.float64), rng, rng)[0]
        for p in maxout.parameters():  # biases away from 0, so they matter
            p.value[...] = rng.normal(size=p.value.shape) * 0.5
        report.checks += check_layer(maxout, rng.normal(size=(n, 3)), rng.normal(size=(n, k)),
                                     f"layer {describe(spec)}", **kw)
    for name, label, cls, opts in activations:  # every unit, with every option, as a gate
        gated = GatedDense(param("W", (3, k)), param("b", (k,)), param("W_gate", (3, k)),
                           param("b_gate", (k,)), activation(cls, opts))
        report.checks += check_layer(gated, rng.normal(size=(n, 3)), rng.normal(size=(n, k)),
                                     f"layer gated ({name}{f' {label}' if label else ''} gate)", **kw)
    for rate in (0.5, 0.0):
        dropout = Dropout(rate, np.random.default_rng(seed))
        report.checks += check_layer(dropout, rng.normal(size=(n, k)), rng.normal(size=(n, k)),
                                     f"layer dropout (rate={rate:g}{', fixed mask' if rate else ''})",
                                     **kw)

    report.checks += image_layer_checks(rng, kw)

    def onehot(classes, k):
        return np.eye(k)[classes]

    def labels(classes, size=n):
        """Class indices in random order, every class present (a check on one label alone
        would leave the other's branch of the derivative unchecked)."""
        return rng.permutation(np.arange(size) % classes)

    def binary(size=n):
        return labels(2, size)[:, None].astype(float)

    def probabilities(shape):
        e = np.exp(rng.normal(size=shape))
        return e / e.sum(axis=1, keepdims=True)

    cases = {
        "quadratic": lambda: (rng.normal(size=(n, 3)), rng.normal(size=(n, 3))),
        "mse": lambda: (rng.normal(size=(n, 3)), rng.normal(size=(n, 3))),
        "mae": lambda: (rng.normal(size=(n, 3)), rng.normal(size=(n, 3))),
        "bce": lambda: (rng.uniform(0.05, 0.95, size=(n, 2)), np.hstack([binary(), binary()])),
        "cross_entropy": lambda: (probabilities((n, 3)), onehot(labels(3), 3)),
        "hinge": lambda: (rng.normal(size=(n, 3)), onehot(labels(3), 3)),
    }
    for name, cls in unique(LOSSES):
        for label, opts in option_variants(cls):
            output, target = cases[name]()
            report.checks += check_loss(cls(**opts), output, target,
                                        f"loss {name}" + (f" ({label})" if label else ""), **kw)
    output = rng.normal(size=(n, 1))
    report.checks += check_loss(LOSSES.get("hinge")(), output, binary(),
                                "loss hinge (binary)", **kw)
    for (loss_name, act_name), fused in FUSED.items():
        classes = 1 if act_name == "Sigmoid" else 3
        target = binary() if classes == 1 else onehot(labels(3), 3)
        for label, opts in option_variants(fused):
            report.checks += check_loss(fused(**opts), rng.normal(size=(n, classes)) * 2, target,
                                        f"fused {act_name.lower()}+{loss_name}"
                                        + (f" ({label})" if label else ""), **kw)

    networks = {
        "network tanh→softmax+cross_entropy": ([{"units": 4, "activation": "tanh"},
                                                {"units": 3, "activation": "softmax"}],
                                               "cross_entropy", 3),
        "network sigmoid→sigmoid+bce": ([{"units": 4, "activation": "sigmoid"},
                                         {"units": 1, "activation": "sigmoid"}], "bce", 1),
        "network relu→identity+mse (dropout)": ([{"units": 6, "activation": "relu", "dropout": 0.3},
                                                 {"units": 2, "activation": "identity"}], "mse", 0),
        "network prelu, gated→sigmoid+quadratic": (
            [{"units": 4, "activation": "prelu"},
             {"units": 3, "type": "gated", "gate": "sigmoid", "activation": "softplus"},
             {"units": 2, "activation": "sigmoid"}], "quadratic", 0),
        "network leaky_relu→identity+hinge": ([{"units": 5, "activation": "leaky_relu"},
                                               {"units": 3, "activation": "identity"}], "hinge", 3),
        "network prelu (shared), gated (prelu gate)→identity+mse": (
            [{"units": 4, "activation": {"name": "prelu", "shared": True, "init": 0.4}},
             {"units": 3, "type": "gated", "gate": {"name": "prelu", "init": 0.6},
              "activation": "tanh"},
             {"units": 2, "activation": "identity"}], "mse", 0),
    }
    networks["network maxout (dropout)→rrelu (no bias)→softmax+cross_entropy"] = (
        [{"type": "maxout", "units": 4, "pieces": 3, "dropout": 0.2},
         {"units": 4, "activation": "rrelu", "bias": False},
         {"units": 3, "activation": "softmax"}], "cross_entropy", 3)
    networks["network gated (rrelu gate, no bias)→maxout (no bias)→sigmoid+bce"] = (
        [{"units": 4, "type": "gated", "gate": {"name": "rrelu", "lower": 0.1, "upper": 0.6},
          "activation": "tanh", "bias": False},
         {"type": "maxout", "units": 3, "pieces": 2, "bias": False},
         {"units": 1, "activation": "sigmoid"}], "bce", 1)
    image = (2, 6, 6)
    conv_net = [{"type": "conv2d", "channels": 3, "kernel": 3, "padding": 1, "activation": "relu"},
                {"type": "maxpool2d", "kernel": 2},
                {"type": "conv2d", "channels": 4, "kernel": [2, 3], "activation": "tanh"},
                {"type": "flatten"}, {"units": 3, "activation": "softmax"}]
    networks["network conv2d relu→maxpool2d→conv2d tanh→flatten→softmax+cross_entropy"] = (
        conv_net, "cross_entropy", 3, image)
    networks["network conv2d prelu (dropout)→avgpool2d→global_avgpool→identity+mse"] = (
        [{"type": "conv2d", "channels": 3, "kernel": 3, "padding": "same", "stride": 2,
          "activation": "prelu", "dropout": 0.2},
         {"type": "avgpool2d", "kernel": 2, "stride": 1, "padding": 1},
         {"type": "global_avgpool"}, {"units": 2, "activation": "identity"}], "mse", 0, image)
    networks["network conv2d rrelu (no bias)→flatten→maxout→identity+mse"] = (
        [{"type": "conv2d", "channels": 2, "kernel": 3, "activation": "rrelu", "bias": False},
         {"type": "flatten"}, {"type": "maxout", "units": 3, "pieces": 2},
         {"units": 2, "activation": "identity"}], "mse", 0, image)
    for check, (specs, loss, classes, *shape) in networks.items():
        shape = shape[0] if shape else (3,)
        net = build_network(specs, shape, loss, np.float64, rng, np.random.default_rng(seed))
        x = rng.normal(size=(6, int(np.prod(shape))))
        out_units = specs[-1]["units"]
        if classes == 0:
            y = rng.normal(size=(6, out_units)) if loss != "quadratic" else rng.uniform(size=(6, out_units))
        elif classes == 1:
            y = binary(6)
        else:
            y = onehot(labels(classes, 6), classes)
        report.checks += check_network(net, x, y, check, **kw)
    return report
