"""A learnable array with its gradient."""
from __future__ import annotations

import numpy as np


class Parameter:
    """``value`` and ``grad`` (same shape and dtype); each backward overwrites ``grad``.

    ``name`` is stable, ``<i>.<param>`` with ``i`` the position of the layer in the config's
    ``model.layers`` list (``0.W``, ``0.b``, ``1.alpha``); checkpoints use it. ``decay`` is
    False for parameters that regularization leaves alone (biases, PReLU slopes).

    In a built ``Network``, ``value`` and ``grad`` are views of pieces of two flat arrays
    (:func:`flatten`): change them in place (``p.value[...] = w``, ``p.value -= step``),
    never rebind them, or the optimizer stops seeing the parameter.
    """

    __slots__ = ("name", "value", "grad", "decay", "frozen")

    def __init__(self, name: str, value: np.ndarray, decay: bool = True, frozen: bool = False):
        self.name = name
        self.value = value
        self.grad = np.zeros_like(value)
        self.decay = decay
        self.frozen = frozen

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.value.shape}, dtype={self.value.dtype})"


def flatten(params: list[Parameter]) -> tuple[np.ndarray, np.ndarray] | None:
    """Move the values and gradients of ``params`` into two contiguous 1-D arrays, leaving
    each Parameter with views of its piece (in order); returns (values, gradients).

    An optimizer then updates every parameter with one call per operation instead of one per
    parameter, and a snapshot of all weights is one copy. None (nothing moved) when the
    parameters do not share one dtype.
    """
    if not params or len({p.value.dtype for p in params}) != 1:
        return None
    value = np.empty(sum(p.value.size for p in params), dtype=params[0].value.dtype)
    grad = np.zeros_like(value)
    for p, v, g in zip(params, pieces(value, params), pieces(grad, params)):
        v[...] = p.value
        p.value, p.grad = v, g
    return value, grad


def pieces(flat: np.ndarray, params: list[Parameter]) -> list[np.ndarray]:
    """Consecutive views of the 1-D array ``flat``, one per parameter, each of its shape."""
    out, start = [], 0
    for p in params:
        end = start + p.value.size
        out.append(flat[start:end].reshape(p.value.shape))
        start = end
    return out


def flat_view(arrays: list[np.ndarray]) -> np.ndarray | None:
    """The 1-D array of which ``arrays`` are consecutive, contiguous pieces covering all of
    it, in order (as :func:`flatten` leaves them); None when they are not."""
    if not arrays:
        return None
    base = arrays[0].base
    if base is None or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    start = ptr = base.__array_interface__["data"][0]
    for a in arrays:
        if a.base is not base or not a.flags.c_contiguous or a.__array_interface__["data"][0] != ptr:
            return None
        ptr += a.nbytes
    return base if ptr == start + base.nbytes else None
