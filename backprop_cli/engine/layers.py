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
    below needs it, and it would cost a third of the layer's backward. Without a bias
    (``b`` None, a layer's ``bias: false``): net = x @ W, and the layer has no b at all.
    """

    input_grad = True

    def __init__(self, W: Parameter, b: Parameter | None):
        self.W, self.b = W, b
        self._x = None

    def forward(self, x, training=False):
        self._x = x
        net = x @ self.W.value
        if self.b is not None:
            net += self.b.value
        return net

    def backward(self, delta):
        np.matmul(self._x.T, delta, out=self.W.grad)
        if self.b is not None:
            np.add.reduce(delta, axis=0, out=self.b.grad)
        return delta @ self.W.value.T if self.input_grad else None

    def parameters(self):
        return [self.W] if self.b is None else [self.W, self.b]

    def __repr__(self):
        nob = ", no bias" if self.b is None else ""
        return f"Dense({self.W.value.shape[0]}→{self.W.value.shape[1]}{nob})"


class GatedDense(Layer):
    """Multiplicative (gated) dense layer, a GLU: o = (x W + b) ⊙ g(x W_gate + b_gate).

    With u = x W + b, net = x W_gate + b_gate, s = g(net) and o = u ⊙ s (note 003):
    dE/du = s ⊙ dE/do, dE/ds = u ⊙ dE/do, dE/dnet = g'(net) ⊙ dE/ds (through the gate
    activation's own backward), and dE/dx = dE/du W.T + dE/dnet W_gate.T. Without biases
    (``b`` and ``b_gate`` None, a layer's ``bias: false``): o = (x W) ⊙ g(x W_gate).
    """

    input_grad = True

    def __init__(self, W, b, W_gate, b_gate, gate: Layer):
        if (b is None) != (b_gate is None):
            raise ValueError("a gated layer has both biases (b and b_gate) or neither")
        self.W, self.b, self.W_gate, self.b_gate, self.gate = W, b, W_gate, b_gate, gate

    def forward(self, x, training=False):
        self._x = x
        self._u = x @ self.W.value
        net = x @ self.W_gate.value
        if self.b is not None:
            self._u += self.b.value
            net += self.b_gate.value
        self._s = self.gate.forward(net, training)
        return self._u * self._s

    def backward(self, dy):
        du = dy * self._s
        dnet = self.gate.backward(dy * self._u)
        np.matmul(self._x.T, du, out=self.W.grad)
        np.matmul(self._x.T, dnet, out=self.W_gate.grad)
        if self.b is not None:
            np.add.reduce(du, axis=0, out=self.b.grad)
            np.add.reduce(dnet, axis=0, out=self.b_gate.grad)
        if not self.input_grad:
            return None
        return du @ self.W.value.T + dnet @ self.W_gate.value.T

    def parameters(self):
        own = [self.W, self.W_gate] if self.b is None else [self.W, self.b, self.W_gate, self.b_gate]
        return own + self.gate.parameters()

    def freeze(self, frozen: bool = True):
        """Keep the gate's last random draws (an rrelu gate), for gradcheck."""
        if hasattr(self.gate, "freeze"):
            self.gate.freeze(frozen)

    @property
    def differentiable(self):
        return self.gate.differentiable

    @property
    def has_kinks(self):
        return self.gate.has_kinks

    def kink_state(self):
        return self.gate.kink_state()

    def __repr__(self):
        return (f"GatedDense({self.W.value.shape[0]}→{self.W.value.shape[1]}, gate={self.gate!r}"
                f"{', no bias' if self.b is None else ''})")


class Maxout(Layer):
    """Maxout (Goodfellow, Warde-Farley, Mirza, Courville and Bengio 2013), k linear pieces
    per unit: z = x W + b, y_j = max_p z_jp

    Backward: dE/dz_jp = dE/dy_j for unit j's arg-max piece p and 0 for its other pieces,
    then as a dense layer dE/dW = x.T @ dE/dz, dE/db = Σ_batch dE/dz, dE/dx = dE/dz @ W.T.

    x (n, n_in), W (n_in, units·k), b (units·k,); column j·k + p of W is unit j's piece p
    (pylearn2's layout), so z viewed as (n, units, k) has each unit's pieces on its last
    axis. Note 003 names "the max function" among the non-differentiable activations: its
    subgradient sends the whole gradient to the piece that won and none to the others (ties
    go to the first maximal piece, as ``argmax``; PyTorch's max picks one too). Without a
    bias (``b`` None) z = x W. With one piece it is a dense layer of identity units.
    Gradcheck skips the entries whose step changes a unit's winning piece (the kink).
    """

    input_grad = True
    has_kinks = True

    def __init__(self, W: Parameter, b: Parameter | None, pieces: int):
        if pieces < 1 or W.value.shape[1] % pieces:
            raise ValueError(f"maxout: W has {W.value.shape[1]} columns, not a multiple of "
                             f"{pieces} pieces")
        self.W, self.b, self.pieces = W, b, int(pieces)
        self.units = W.value.shape[1] // self.pieces

    def forward(self, x, training=False):
        self._x = x
        z = x @ self.W.value
        if self.b is not None:
            z += self.b.value
        z = z.reshape(len(x), self.units, self.pieces)
        self._arg = z.argmax(axis=2)[:, :, None]  # (n, units, 1): each unit's winning piece
        return np.take_along_axis(z, self._arg, axis=2)[:, :, 0]

    def backward(self, dy):
        n = len(dy)
        dz = np.zeros((n, self.units, self.pieces), dtype=dy.dtype)
        np.put_along_axis(dz, self._arg, dy[:, :, None], axis=2)
        dz = dz.reshape(n, self.units * self.pieces)
        np.matmul(self._x.T, dz, out=self.W.grad)
        if self.b is not None:
            np.add.reduce(dz, axis=0, out=self.b.grad)
        return dz @ self.W.value.T if self.input_grad else None

    def parameters(self):
        return [self.W] if self.b is None else [self.W, self.b]

    def kink_state(self):
        return self._arg

    def __repr__(self):
        return (f"Maxout({self.W.value.shape[0]}→{self.units}, {self.pieces} pieces"
                f"{', no bias' if self.b is None else ''})")


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
