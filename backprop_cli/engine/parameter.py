"""A learnable array with its gradient."""
from __future__ import annotations

import numpy as np


class Parameter:
    """``value`` and ``grad`` (same shape and dtype); each backward overwrites ``grad``.

    ``name`` is stable, ``<i>.<param>`` with ``i`` the position of the layer in the config's
    ``model.layers`` list (``0.W``, ``0.b``, ``1.alpha``); checkpoints use it. ``decay`` is
    False for parameters that regularization leaves alone (biases, PReLU slopes).
    """

    __slots__ = ("name", "value", "grad", "decay")

    def __init__(self, name: str, value: np.ndarray, decay: bool = True):
        self.name = name
        self.value = value
        self.grad = np.zeros_like(value)
        self.decay = decay

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.value.shape}, dtype={self.value.dtype})"
