"""Optimizers: update rules over a list of Parameters, in place.

Each follows PyTorch's ``torch.optim`` formula and defaults, written in its docstring; the
learning rate ``lr`` is an attribute a schedule may change between steps.
"""
from __future__ import annotations

import numpy as np

from ..registry import Registry
from ..schema import Option


class Optimizer:
    options: dict[str, Option] = {"lr": Option(float, 0.01, "learning rate η", gt=0)}

    def __init__(self, params, lr: float = 0.01):
        self.params = list(params)
        self.lr = lr
        self.t = 0  # steps taken

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """Plain arrays, keyed ``<parameter name>.<buffer>``, plus ``t``."""
        return {"t": np.array(self.t)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.t = int(state["t"])


class SGD(Optimizer):
    """Gradient descent: θ ← θ - η ∇E(θ) (note 002), on whatever batch the trainer feeds it."""

    def step(self):
        lr = self.lr
        for p in self.params:
            p.value -= lr * p.grad
        self.t += 1


OPTIMIZERS = Registry("optimizer", {"sgd": SGD})
