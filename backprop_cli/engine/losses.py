"""Losses ("divergences", SPEC.md): E(output, target) per example, the batch's loss the mean.

Protocol: ``forward(output, target) -> float`` is the batch mean and caches what
``backward() -> dE/doutput`` needs; the returned gradient is already divided by the batch
size n, so it is the gradient of the mean. Targets are 2-D like outputs: one-hot rows for
classes, a 0/1 column for binary problems, values for regression.

``sigmoid`` + ``bce`` and ``softmax`` + ``cross_entropy`` fuse into losses on the logits z
(:class:`BCEWithLogits`, :class:`SoftmaxCrossEntropy`): computed with log-sum-exp, their
gradient is dE/dz = (o - y)/n, with no division by o(1 - o) that could overflow.
"""
from __future__ import annotations

import numpy as np

from ..registry import Registry
from .activations import sigmoid


class Loss:
    #: which output activation this loss fuses with (the network then feeds it logits)
    fuses_with: str | None = None
    has_kinks = False
    #: a classification loss (accuracy is reported; targets are classes)
    classification = False

    def forward(self, output: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def kink_state(self):
        return None

    def __repr__(self):
        return type(self).__name__


class Quadratic(Loss):
    """E = 1/2 sum_k (o_k - y_k)^2 per example (the notes' squared error); dE/do = o - y."""

    def forward(self, output, target):
        self._diff = output - target
        return 0.5 * float(np.einsum("ij,ij->", self._diff, self._diff)) / len(output)

    def backward(self):
        return self._diff / len(self._diff)


class MSE(Loss):
    """E = mean_k (o_k - y_k)^2 per example (PyTorch's and Keras's); dE/do = 2 (o - y) / K."""

    def forward(self, output, target):
        self._diff = output - target
        return float(np.einsum("ij,ij->", self._diff, self._diff)) / self._diff.size

    def backward(self):
        return self._diff * (2.0 / self._diff.size)


class MAE(Loss):
    """E = mean_k |o_k - y_k| per example; dE/do = sign(o - y) / K (0 at the kink o = y)."""

    has_kinks = True

    def forward(self, output, target):
        self._diff = output - target
        return float(np.abs(self._diff).sum()) / self._diff.size

    def backward(self):
        return np.sign(self._diff) / self._diff.size

    def kink_state(self):
        return self._diff > 0


class BCE(Loss):
    """Binary cross-entropy on probabilities: E = -[y log o + (1 - y) log(1 - o)], averaged
    over the K outputs (as PyTorch's BCELoss); dE/do = (o - y) / (o (1 - o)) / K.

    Computed exactly as PyTorch's BCELoss (aten's binary_cross_entropy and its backward, mean
    reduction), so outputs of exactly 0 or 1 (after a threshold, or an identity output that
    reached the boundary) give finite numbers, not NaN:

        E_k     = (y - 1)·max(log1p(-o), -100) - y·max(log o, -100)
        dE/do_k = (o - y) / max((1 - o)·o, ε) / K,   ε = 1e-12 as a float32 (9.99999996e-13)

    Each log is clamped at -100, so a sure right answer costs 0 and a sure wrong one 100
    (o = 0, y = 1 or o = 1, y = 0), with gradient ∓(1/K)/ε, about ∓1e12/K. At o = y ∈ {0, 1}
    the numerator o - y is 0, so the gradient is 0, PyTorch's value; the one-sided derivative
    of the formula there is ±1/K (-1/o at o = y = 1, 1/(1 - o) at o = y = 0: note 003's "the
    derivative is not zero even [when] d = Y"), which is what o a hair inside (0, 1) gives.
    After a sigmoid output this is replaced by :class:`BCEWithLogits`."""

    fuses_with = "sigmoid"
    classification = True
    #: PyTorch's EPSILON of binary_cross_entropy_backward: a float, so 1e-12 rounded to float32
    EPS = float(np.float32(1e-12))

    def forward(self, output, target):
        self._o, self._y = output, target
        with np.errstate(divide="ignore"):
            e = ((target - 1) * np.maximum(np.log1p(-output), -100)
                 - target * np.maximum(np.log(output), -100))
        return float(e.sum()) / output.size

    def backward(self):
        o, y = self._o, self._y
        return (o - y) / np.maximum((1 - o) * o, o.dtype.type(self.EPS)) / o.size


class BCEWithLogits(BCE):
    """sigmoid + bce fused: with o = sigmoid(z), E = log(1 + e^z) - y z = logaddexp(0, z) - y z,
    exact for any z; dE/dz = (sigmoid(z) - y) / K = (o - y) / K."""

    fuses_with = None

    def forward(self, z, target):
        self._z, self._y = z, target
        return float((np.logaddexp(0, z) - target * z).sum()) / z.size

    def backward(self):
        return (sigmoid(self._z) - self._y) / self._z.size


class CrossEntropy(Loss):
    """E = -sum_k y_k log o_k (= -log o_c for a one-hot y) on probabilities; dE/do = -y / o.

    After a softmax output this is replaced by :class:`SoftmaxCrossEntropy`."""

    fuses_with = "softmax"
    classification = True

    def forward(self, output, target):
        self._o, self._y = output, target
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(target != 0, np.log(output), 0.0)
        return float(-(target * logs).sum()) / len(output)

    def backward(self):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self._y != 0, -self._y / self._o, 0.0).astype(self._o.dtype) / len(self._o)


class SoftmaxCrossEntropy(CrossEntropy):
    """softmax + cross_entropy fused on logits z: E = logsumexp(z) - sum_k y_k z_k (for rows
    of y that sum to 1); dE/dz = softmax(z) - y = o - y."""

    fuses_with = None

    def forward(self, z, target):
        m = z.max(axis=1, keepdims=True)
        shifted = z - m
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        e /= s
        self._o, self._y = e, target
        log_softmax_y = float(np.einsum("ij,ij->", target, shifted)) - float(
            (np.log(s)[:, 0] * target.sum(axis=1)).sum())
        return -log_softmax_y / len(z)

    def backward(self):
        return (self._o - self._y) / len(self._o)


class Hinge(Loss):
    """Hinge loss on raw scores z (use an identity output).

    Binary (one output, targets 0/1 or -1/1, t = ±1): E = max(0, 1 - t z),
    dE/dz = -t where 1 - t z > 0. Multi-class (one-hot targets, c the true class):
    E = sum_{k≠c} max(0, 1 + z_k - z_c); dE/dz_k = 1 for each k≠c with a positive margin,
    and dE/dz_c = -(their count). Subgradient 0 at the kinks.
    """

    has_kinks = True
    classification = True

    def forward(self, z, target):
        n = len(z)
        if z.shape[1] == 1:
            t = np.where(target > 0, 1.0, -1.0).astype(z.dtype)
            margins = 1 - t * z
            self._t = t
        else:
            zc = (z * target).sum(axis=1, keepdims=True)
            margins = 1 + z - zc
            margins[target.astype(bool)] = 0
            self._t = target
        self._active = margins > 0
        self._n = n
        return float(margins[self._active].sum()) / n

    def backward(self):
        active = self._active.astype(self._t.dtype)
        if active.shape[1] == 1:
            return -self._t * active / self._n
        grad = active - self._t * active.sum(axis=1, keepdims=True)
        return grad / self._n

    def kink_state(self):
        return self._active


LOSSES = Registry("loss", {
    "quadratic": Quadratic, "mse": MSE, "mae": MAE, "l1": MAE, "bce": BCE,
    "cross_entropy": CrossEntropy, "hinge": Hinge,
})

#: (loss name, activation class name) -> the fused loss on logits
FUSED = {("bce", "Sigmoid"): BCEWithLogits, ("cross_entropy", "Softmax"): SoftmaxCrossEntropy}
