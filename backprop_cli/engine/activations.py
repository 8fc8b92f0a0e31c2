"""Activation units (note 000, 001, 003, 004; the table of SPEC.md).

Each is a layer whose derivative sits right under its forward. Elementwise units cache
what their derivative needs (the output for sigmoid and tanh, a mask for relu); softmax is
a vector activation whose backward is a Jacobian-vector product.
"""
from __future__ import annotations

import numpy as np

from ..registry import Registry
from ..schema import Option
from .layers import Layer
from .parameter import Parameter


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), as PyTorch computes it. Accurate to an ulp or two for every z: where
    e^-z overflows (z below about -745 in float64, -104 in float32) the result is 1/inf = 0,
    which is also the correctly rounded value."""
    t = np.negative(z)
    with np.errstate(over="ignore"):
        np.exp(t, out=t)
    t += 1.0
    return np.reciprocal(t, out=t)


class Activation(Layer):
    """An activation unit; ``options`` declares what the config may set on it."""

    options: dict[str, Option] = {}

    def init_parameters(self, units: int, dtype, prefix: str) -> None:
        """Create learned parameters (only PReLU has any)."""


class Identity(Activation):
    """f(z) = z, f'(z) = 1. For regression outputs."""

    def forward(self, z, training=False):
        return z

    def backward(self, dy):
        return dy


class Threshold(Activation):
    """The perceptron's step: f(z) = 1 if z > 0 else 0, or 1 if z >= 0 with ``at_zero: 1``.

    Note 001 writes both: its perceptron training rule outputs o = 1 if w0 + Σ_i w_i x_i > 0
    else 0 (0 at z = 0, the default here, SPEC.md's convention and the rule's from zero
    weights: every example starts as class 0), and its list of activation functions defines
    the threshold function t(z) = 1[z ≥ 0] (1 at z = 0: ``at_zero: 1``). Either way f is
    ``torch.heaviside(z, at_zero)``; the perceptron rule uses the unit's convention.
    f'(z) = 0 for z ≠ 0 and undefined at 0, so backpropagation cannot train through it.
    """

    differentiable = False
    options = {"at_zero": Option(int, 0, "value at z = 0: 0 (f = 1 if z > 0, the perceptron rule of "
                                 "note 001) or 1 (f = 1 if z >= 0, note 001's threshold function "
                                 "t(z) = 1[z >= 0])", choices=(0, 1))}

    def __init__(self, at_zero: int = 0):
        if at_zero not in (0, 1):
            raise ValueError(f"threshold at_zero must be 0 or 1, got {at_zero!r}")
        self.at_zero = at_zero

    def forward(self, z, training=False):
        return (z >= 0 if self.at_zero else z > 0).astype(z.dtype)

    def backward(self, dy):
        raise TypeError("threshold units have no gradient; train them with the perceptron rule")


class Sigmoid(Activation):
    """f(z) = 1 / (1 + e^-z), f'(z) = f(z) (1 - f(z))."""

    def forward(self, z, training=False):
        self._y = sigmoid(z)
        return self._y

    def backward(self, dy):
        y = self._y
        return dy * y * (1 - y)


class Tanh(Activation):
    """f(z) = tanh z = 2 sigmoid(2z) - 1, f'(z) = 1 - f(z)^2."""

    def forward(self, z, training=False):
        self._y = np.tanh(z)
        return self._y

    def backward(self, dy):
        y = self._y
        return dy * (1 - y * y)


class ReLU(Activation):
    """f(z) = max(z, 0), f'(z) = 1 if z > 0 else 0 (subgradient 0 at z = 0)."""

    has_kinks = True

    def forward(self, z, training=False):
        self._mask = z > 0
        return z * self._mask

    def backward(self, dy):
        return dy * self._mask

    def kink_state(self):
        return self._mask


class GReLU(Activation):
    """Generalised ReLU: f(z) = max(z, 0) + a·min(z, 0) with a fixed slope a;
    f'(z) = 1 if z > 0 else a."""

    has_kinks = True
    options = {"slope": Option(float, 0.01, "slope a for z <= 0")}

    def __init__(self, slope: float = 0.01):
        self.slope = slope

    def forward(self, z, training=False):
        self._mask = z > 0
        return np.where(self._mask, z, self.slope * z)

    def backward(self, dy):
        return np.where(self._mask, dy, self.slope * dy)

    def kink_state(self):
        return self._mask


class LeakyReLU(GReLU):
    """f(z) = max(z, 0) + 0.01·min(z, 0) (slope configurable); f'(z) = 1 or the slope."""


class PReLU(Activation):
    """Parametric ReLU: f(z) = max(z, 0) + a·min(z, 0) with a learned (note 004).

    f'(z) = 1 if z > 0 else a, and dE/da = sum over the batch (and units, when a is
    shared) of min(z, 0)·dE/dy. ``a`` is one per unit, or one for the layer with
    ``shared: true``; it starts at ``init`` (0.25, as in PyTorch) and is not decayed. After a
    convolution (``channels`` set by the builder) a unit is a channel: one a per feature map,
    as PyTorch's ``PReLU(num_parameters=C)``, and dE/da also sums over the pixels.
    """

    has_kinks = True
    options = {"shared": Option(bool, False, "one slope for the whole layer instead of one per unit"),
               "init": Option(float, 0.25, "initial slope a")}

    def __init__(self, shared: bool = False, init: float = 0.25):
        self.shared, self.init = shared, init
        self.alpha: Parameter | None = None
        self.channels = False  # True: z is (n, C, H, W) and a is one per channel

    def init_parameters(self, units, dtype, prefix):
        shape = (1,) if self.shared else (units,)
        self.alpha = Parameter(f"{prefix}alpha", np.full(shape, self.init, dtype=dtype), decay=False)

    def _a(self):
        a = self.alpha.value
        return a[:, None, None] if self.channels and not self.shared else a

    def forward(self, z, training=False):
        self._z = z
        self._mask = z > 0
        return np.where(self._mask, z, self._a() * z)

    def backward(self, dy):
        neg = np.where(self._mask, 0, self._z) * dy  # min(z, 0) * dE/dy
        if self.shared:
            self.alpha.grad[...] = neg.sum()
        else:
            np.sum(neg, axis=(0, 2, 3) if self.channels else 0, out=self.alpha.grad)
        return np.where(self._mask, dy, self._a() * dy)

    def parameters(self):
        return [self.alpha]

    def kink_state(self):
        return self._mask


class RReLU(Activation):
    """Randomized leaky ReLU: f(z) = z if z > 0 else a·z, a ~ U(lower, upper) in training.
    f'(z) = 1 if z > 0 else a. At evaluation a = (lower + upper)/2, the slopes' mean.

    Xu et al. 2015 ("Empirical evaluation of rectified activations in convolutional network");
    note 003 lists it among the non-differentiable units ("leaky RELU, randomized leaky RELU").
    As ``torch.nn.RReLU`` (defaults lower = 1/8, upper = 1/3): in training each element of each
    forward pass draws its own slope, and backward uses the slopes of the last forward,
    dE/dz = dE/dy ⊙ (1 where z > 0, else a), the subgradient at z = 0 being the left slope
    a (as relu's 0, and as PyTorch's, whose noise is a wherever z <= 0). At evaluation the
    unit is the leaky ReLU of the mean slope (PyTorch's ``training=False``).

    Random stream: the run's dropout stream (the network builder hands it the Generator its
    Dropout layers use, ``dropout_rng``). The slopes are training-time noise of the same kind
    as dropout masks, drawn in every training forward pass and never at evaluation, so they
    go with them: the init, shuffle, data, augment and restart streams are not touched (a
    config that swaps relu for rrelu starts from the same weights and visits the examples in
    the same order), and the dropout stream is saved in every checkpoint and put back by
    ``--resume``, so a resumed run draws exactly the slopes an uninterrupted one does. A slope
    is drawn for every element, a = lower + (upper - lower)·u with u ~ U[0, 1) in the layer's
    dtype (those of positive z go unused), so each pass takes the same number of draws
    whatever the data. ``freeze()`` keeps the last slopes (gradcheck compares finite
    differences through a fixed draw, as it does with dropout masks).
    """

    has_kinks = True
    options = {"lower": Option(float, 1 / 8, "smallest slope a drawn for z <= 0 in training", ge=0),
               "upper": Option(float, 1 / 3, "largest slope a drawn in training; evaluation uses "
                               "(lower + upper)/2", ge=0)}

    @classmethod
    def problems(cls, opts: dict) -> list[tuple[str, str]]:
        """(option, message) for option values that cannot go together."""
        lower, upper = opts.get("lower", 1 / 8), opts.get("upper", 1 / 3)
        if isinstance(lower, (int, float)) and isinstance(upper, (int, float)) and lower > upper:
            return [("lower", f"must be at most upper ({upper:g}), got {lower:g}: slopes are drawn "
                              "from [lower, upper]")]
        return []

    def __init__(self, lower: float = 1 / 8, upper: float = 1 / 3,
                 rng: np.random.Generator | None = None):
        for key, message in self.problems({"lower": lower, "upper": upper}):
            raise ValueError(f"rrelu {key}: {message}")
        self.lower, self.upper = float(lower), float(upper)
        self.rng = rng  # the run's dropout stream, set by the builder
        self.frozen = False
        self._a = None  # the slopes of the last forward: an array in training, else the mean

    def forward(self, z, training=False):
        self._mask = z > 0
        if not training:
            self._a = (self.lower + self.upper) / 2
        elif not (self.frozen and isinstance(self._a, np.ndarray) and self._a.shape == z.shape):
            if self.rng is None:
                raise ValueError("rrelu draws its slopes in training from a random stream; "
                                 "give it one (rng=np.random.Generator)")
            a = self.rng.random(z.shape, dtype=z.dtype)
            a *= z.dtype.type(self.upper - self.lower)
            a += z.dtype.type(self.lower)
            self._a = a
        return np.where(self._mask, z, self._a * z)

    def backward(self, dy):
        return np.where(self._mask, dy, self._a * dy)

    def freeze(self, frozen: bool = True):
        self.frozen = frozen

    def kink_state(self):
        return self._mask


class Softplus(Activation):
    """The soft ReLU: f(z) = log(1 + e^z), computed as logaddexp(0, z) so large z cannot
    overflow; f'(z) = sigmoid(z)."""

    def forward(self, z, training=False):
        self._z = z
        return np.logaddexp(0, z)

    def backward(self, dy):
        return dy * sigmoid(self._z)


class Softmax(Activation):
    """y_i = e^z_i / sum_j e^z_j (over the last axis); dy_j/dz_i = y_i (delta_ij - y_j),
    so dE/dz = y ⊙ (dE/dy - sum_j dE/dy_j y_j), a Jacobian-vector product."""

    def forward(self, z, training=False):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        e /= e.sum(axis=-1, keepdims=True)
        self._y = e
        return e

    def backward(self, dy):
        y = self._y
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


ACTIVATIONS = Registry("activation", {
    "identity": Identity, "linear": Identity, "threshold": Threshold, "step": Threshold,
    "sigmoid": Sigmoid, "logistic": Sigmoid, "tanh": Tanh, "relu": ReLU,
    "leaky_relu": LeakyReLU, "grelu": GReLU, "prelu": PReLU, "rrelu": RReLU, "softplus": Softplus,
    "softmax": Softmax,
})
