"""Layers with parameters or randomness: dense, gated dense, dropout.

Every layer follows one protocol: ``forward(x, training=False) -> y`` caches what its
backward needs, ``backward(dy) -> dx`` writes the gradients of its parameters (overwriting
``Parameter.grad``) and returns dE/dx. Arrays are batch-first: x has shape (n, fan_in).
"""
from __future__ import annotations

import numpy as np

from .parameter import Parameter


class Layer:
    """Base class: a layer without parameters that is differentiable everywhere."""

    differentiable = True
    #: True for layers whose derivative jumps (relu-like units): gradcheck skips entries
    #: whose finite difference straddles a kink, found by comparing ``kink_state``.
    has_kinks = False

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def parameters(self) -> list[Parameter]:
        return []

    def kink_state(self):
        """Which side of each kink the last forward's inputs were on (None: no kinks)."""
        return None

    def __repr__(self) -> str:
        return type(self).__name__


class Dense(Layer):
    """Fully connected: net = x @ W + b, x (n, n_in), W (n_in, n_out), b (n_out,).

    Backward, with delta = dE/dnet: dE/dW = x.T @ delta, dE/db = sum of delta over the
    batch, dE/dx = delta @ W.T. (W is the transpose of the notes' W(l): rows are examples.)
    With ``input_grad`` False (the first layer in training) dE/dx is not computed: nothing
    below needs it, and it would cost a third of the layer's backward.
    """

    input_grad = True

    def __init__(self, W: Parameter, b: Parameter):
        self.W, self.b = W, b
        self._x = None

    def forward(self, x, training=False):
        self._x = x
        net = x @ self.W.value
        net += self.b.value
        return net

    def backward(self, delta):
        np.matmul(self._x.T, delta, out=self.W.grad)
        np.add.reduce(delta, axis=0, out=self.b.grad)
        return delta @ self.W.value.T if self.input_grad else None

    def parameters(self):
        return [self.W, self.b]

    def __repr__(self):
        return f"Dense({self.W.value.shape[0]}→{self.W.value.shape[1]})"


class GatedDense(Layer):
    """Multiplicative (gated) dense layer, a GLU: o = (x W + b) ⊙ g(x W_gate + b_gate).

    With u = x W + b, net = x W_gate + b_gate, s = g(net) and o = u ⊙ s (note 003):
    dE/du = s ⊙ dE/do, dE/ds = u ⊙ dE/do, dE/dnet = g'(net) ⊙ dE/ds (through the gate
    activation's own backward), and dE/dx = dE/du W.T + dE/dnet W_gate.T.
    """

    input_grad = True

    def __init__(self, W, b, W_gate, b_gate, gate: Layer):
        self.W, self.b, self.W_gate, self.b_gate, self.gate = W, b, W_gate, b_gate, gate

    def forward(self, x, training=False):
        self._x = x
        self._u = x @ self.W.value + self.b.value
        self._s = self.gate.forward(x @ self.W_gate.value + self.b_gate.value, training)
        return self._u * self._s

    def backward(self, dy):
        du = dy * self._s
        dnet = self.gate.backward(dy * self._u)
        np.matmul(self._x.T, du, out=self.W.grad)
        np.add.reduce(du, axis=0, out=self.b.grad)
        np.matmul(self._x.T, dnet, out=self.W_gate.grad)
        np.add.reduce(dnet, axis=0, out=self.b_gate.grad)
        if not self.input_grad:
            return None
        return du @ self.W.value.T + dnet @ self.W_gate.value.T

    def parameters(self):
        return [self.W, self.b, self.W_gate, self.b_gate] + self.gate.parameters()

    @property
    def differentiable(self):
        return self.gate.differentiable

    @property
    def has_kinks(self):
        return self.gate.has_kinks

    def kink_state(self):
        return self.gate.kink_state()

    def __repr__(self):
        return f"GatedDense({self.W.value.shape[0]}→{self.W.value.shape[1]}, gate={self.gate!r})"


class Dropout(Layer):
    """Inverted dropout: in training y = x ⊙ m / (1 - p), m_i ~ Bernoulli(1 - p); else y = x.

    Scaling by 1/(1 - p) while training keeps E[y] = x, so evaluation needs no change
    (note 002). Backward: dE/dx = dE/dy ⊙ m / (1 - p). ``freeze()`` keeps the last mask,
    so gradcheck can compare with finite differences through a fixed sub-network.
    """

    def __init__(self, rate: float, rng: np.random.Generator):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.rng = rng
        self._scale = None  # mask / (1 - p) of the last training forward, or None
        self.frozen = False

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            self._scale = None
            return x
        if not (self.frozen and self._scale is not None):
            keep = self.rng.random(x.shape, dtype=x.dtype) >= self.rate
            self._scale = keep.astype(x.dtype) / x.dtype.type(1.0 - self.rate)
        return x * self._scale

    def backward(self, dy):
        return dy if self._scale is None else dy * self._scale

    def freeze(self, frozen: bool = True):
        self.frozen = frozen

    def __repr__(self):
        return f"Dropout({self.rate:g})"
