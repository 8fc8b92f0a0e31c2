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
    """The perceptron's step: f(z) = 1 if z > 0 else 0. Its derivative is 0 almost
    everywhere and undefined at 0, so backpropagation cannot train through it."""

    differentiable = False

    def forward(self, z, training=False):
        return (z > 0).astype(z.dtype)

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
    "leaky_relu": LeakyReLU, "grelu": GReLU, "prelu": PReLU, "softplus": Softplus,
    "softmax": Softmax,
})
