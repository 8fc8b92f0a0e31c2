"""Weight initializers: W (fan_in, fan_out) from a NumPy Generator. Biases start at 0.

A convolution's W (out_channels, in_channels, kh, kw) is drawn the same way with PyTorch's
fans: fan_in = in_channels·kh·kw, fan_out = out_channels·kh·kw.

| name | distribution |
| zeros | 0 |
| uniform | U(-scale, scale) ("small random numbers", note 002) |
| normal | N(0, scale^2) |
| xavier_uniform / glorot_uniform | U(-r, r), r = sqrt(6 / (fan_in + fan_out)) |
| xavier_normal / glorot_normal | N(0, 2 / (fan_in + fan_out)) |
| he_uniform / kaiming_uniform | U(-r, r), r = sqrt(6 / fan_in) |
| he_normal / kaiming_normal | N(0, 2 / fan_in) |

``auto`` (the default) is he_uniform before relu-like units and xavier_uniform otherwise.
"""
from __future__ import annotations

import math

import numpy as np

from ..registry import Registry
from ..schema import Option


class Initializer:
    options: dict[str, Option] = {}

    def __call__(self, shape, rng: np.random.Generator, dtype, fans=None) -> np.ndarray:
        """An array of ``shape``; ``fans`` (fan_in, fan_out) default to ``shape`` itself."""
        fan_in, fan_out = fans if fans is not None else shape
        return self.sample(fan_in, fan_out, tuple(shape), rng).astype(dtype, copy=False)


class Zeros(Initializer):
    def sample(self, fan_in, fan_out, size, rng):
        return np.zeros(size)


class Uniform(Initializer):
    options = {"scale": Option(float, 0.1, "half-width of the uniform interval", gt=0)}

    def __init__(self, scale: float = 0.1):
        self.scale = scale

    def sample(self, fan_in, fan_out, size, rng):
        return rng.uniform(-self.scale, self.scale, size=size)


class Normal(Initializer):
    options = {"scale": Option(float, 0.1, "standard deviation", gt=0)}

    def __init__(self, scale: float = 0.1):
        self.scale = scale

    def sample(self, fan_in, fan_out, size, rng):
        return rng.normal(0.0, self.scale, size=size)


class XavierUniform(Initializer):
    def sample(self, fan_in, fan_out, size, rng):
        r = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-r, r, size=size)


class XavierNormal(Initializer):
    def sample(self, fan_in, fan_out, size, rng):
        return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=size)


class HeUniform(Initializer):
    def sample(self, fan_in, fan_out, size, rng):
        r = math.sqrt(6.0 / fan_in)
        return rng.uniform(-r, r, size=size)


class HeNormal(Initializer):
    def sample(self, fan_in, fan_out, size, rng):
        return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=size)


INITIALIZERS = Registry("initializer", {
    "auto": None, "zeros": Zeros, "uniform": Uniform, "normal": Normal,
    "xavier_uniform": XavierUniform, "glorot_uniform": XavierUniform,
    "xavier_normal": XavierNormal, "glorot_normal": XavierNormal,
    "he_uniform": HeUniform, "kaiming_uniform": HeUniform,
    "he_normal": HeNormal, "kaiming_normal": HeNormal,
})


def resolve(name: str, activation: str) -> str:
    """The initializer ``auto`` stands for, given the layer's activation."""
    if name != "auto":
        return name
    relu_like = ("relu", "leaky_relu", "grelu", "prelu", "rrelu")
    return "he_uniform" if activation in relu_like else "xavier_uniform"
