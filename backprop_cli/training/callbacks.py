"""Callbacks: small objects the trainer calls at fixed points; stopping rules are callbacks.

``state.stop(reason)`` asks the trainer to stop after this epoch; the first reason wins and
becomes the run's ``stop_reason``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainState:
    network: Any
    optimizer: Any
    epochs: int
    epoch: int = 0
    logs: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    stop_reason: str | None = None
    diverged: bool = False
    best: dict = field(default_factory=dict)

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason


class Callback:
    def on_train_begin(self, state: TrainState): ...
    def on_epoch_begin(self, state: TrainState): ...
    def on_batch_end(self, state: TrainState): ...
    def on_epoch_end(self, state: TrainState): ...
    def on_train_end(self, state: TrainState): ...


class TargetLoss(Callback):
    """Stop once the training loss is below an acceptable level (note 001)."""

    def __init__(self, value: float):
        if not value > 0:
            raise ValueError(f"target_loss must be > 0, got {value}")
        self.value = value

    def on_epoch_end(self, state):
        loss = state.logs["train_loss"]
        if loss < self.value:
            state.stop(f"target loss reached: {loss:.4g} < {self.value:g}")


class Divergence(Callback):
    """Stop when the loss is NaN or inf: the weights are garbage from here on."""

    def on_epoch_end(self, state):
        bad = [k for k in ("train_loss", "val_loss")
               if k in state.logs and not math.isfinite(state.logs[k])]
        if bad:
            state.diverged = True
            state.stop(f"diverged: {bad[0]} is {state.logs[bad[0]]} at epoch {state.epoch}; "
                       "try a smaller learning rate")
