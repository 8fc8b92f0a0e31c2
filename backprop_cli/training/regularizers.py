"""Regularization (note 002): norm penalties, a max-norm constraint, input noise.

(Dropout is a layer: ``engine.layers.Dropout``.) The penalties are the notes' own, with m the
number of training examples and only parameters with ``decay`` (weights, not biases or PReLU
slopes) penalised:

- ``l2: λ``: E + λ/(2m) Σ w², so dE/dw gains (λ/m) w;
- ``l1: λ``: E + λ/m Σ |w|, so dE/dw gains (λ/m) sign(w) (0 at w = 0).

The trainer reports the plain loss as ``train_loss`` and the loss plus the penalty (what the
gradient descends) as ``train_objective``. This differs from an optimizer's
``weight_decay``, which follows PyTorch and decays every parameter.
"""
from __future__ import annotations

import numpy as np

from ..registry import Registry


class Penalty:
    """A norm penalty on the weights: ``value(params)`` and ``add_gradient(params)``."""

    def __init__(self, lam: float, m: int):
        if not lam >= 0 or m < 1:
            raise ValueError(f"need λ >= 0 and m >= 1, got λ={lam}, m={m}")
        self.lam, self.m = lam, m

    def value(self, params) -> float:
        raise NotImplementedError

    def add_gradient(self, params) -> None:
        raise NotImplementedError


class L2(Penalty):
    """λ/(2m) Σ w²; gradient (λ/m) w."""

    def value(self, params):
        return self.lam / (2 * self.m) * sum(float(np.vdot(p.value, p.value)) for p in params if p.decay)

    def add_gradient(self, params):
        c = self.lam / self.m
        for p in params:
            if p.decay:
                p.grad += c * p.value


class L1(Penalty):
    """λ/m Σ |w|; subgradient (λ/m) sign(w), 0 at w = 0."""

    def value(self, params):
        return self.lam / self.m * sum(float(np.abs(p.value).sum()) for p in params if p.decay)

    def add_gradient(self, params):
        c = self.lam / self.m
        for p in params:
            if p.decay:
                p.grad += c * np.sign(p.value)


REGULARIZERS = Registry("regularizer", {"l2": L2, "l1": L1})


class Regularizer:
    """The penalties a ``regularization`` section switches on (those with λ > 0)."""

    def __init__(self, lambdas: dict[str, float], m: int):
        self.penalties = [REGULARIZERS.get(k)(lam, m) for k, lam in lambdas.items() if lam]

    def __bool__(self) -> bool:
        return bool(self.penalties)

    def value(self, params) -> float:
        return sum(p.value(params) for p in self.penalties)

    def add_gradient(self, params) -> None:
        for p in self.penalties:
            p.add_gradient(params)


class MaxNorm:
    """Max-norm constraint (Srivastava et al. 2014; Keras's MaxNorm): after every step, each
    unit's incoming weight vector w_j (a column of W) is scaled to ‖w_j‖ ≤ c."""

    def __init__(self, W, c: float):
        if not c > 0:
            raise ValueError(f"max_norm must be > 0, got {c}")
        self.W, self.c = W, c

    def apply(self) -> None:
        W = self.W.value
        norms = np.sqrt((W * W).sum(axis=0))
        over = norms > self.c
        if over.any():
            W[:, over] *= self.c / norms[over]


class InputNoise:
    """Data augmentation: x + N(0, σ²) noise on every training batch (never at evaluation)."""

    def __init__(self, sigma: float, rng: np.random.Generator):
        if not sigma >= 0:
            raise ValueError(f"noise must be >= 0, got {sigma}")
        self.sigma, self.rng = sigma, rng

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x + self.rng.normal(0.0, self.sigma, size=x.shape).astype(x.dtype, copy=False)
