"""Callbacks: small objects the trainer calls at fixed points; stopping rules are callbacks.

``state.stop(reason)`` asks the trainer to stop after this epoch; the first reason wins and
becomes the run's ``stop_reason``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class TrainState:
    #: left out of checkpoints: references, and the history metrics.jsonl already holds
    transient: ClassVar[tuple] = ("network", "optimizer", "history")

    network: Any
    optimizer: Any
    epochs: int
    epoch: int = 0
    logs: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    stop_reason: str | None = None
    diverged: bool = False
    best: dict = field(default_factory=dict)
    attempt: int = 1               # training.restarts: which attempt is training (1-based)
    restart_reason: str | None = None  # set by a callback to ask for a restart after this epoch
    restored_epoch: int | None = None  # the epoch whose weights were put back at the end
    attempts: list = field(default_factory=list)  # one summary per attempt (with restarts)
    best_attempt: int | None = None
    fresh_attempt: bool = True     # the next epoch is an attempt's first (examples: misclassified)
    interrupted: bool = False      # Ctrl-C or SIGTERM asked to stop after this epoch
    limit_reached: bool = False    # stopped by the epoch limit, not by a stopping rule
    extended: list = field(default_factory=list)  # --resume --epochs N: {from, to, at_epoch} each

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason

    def note(self, text: str) -> None:
        """Add what happened at the end (restored weights, kept attempt) to the stop reason."""
        self.stop_reason = f"{self.stop_reason}; {text}" if self.stop_reason else text


class Callback:
    def on_train_begin(self, state: TrainState): ...
    def on_epoch_begin(self, state: TrainState): ...
    def on_batch_end(self, state: TrainState): ...
    def on_epoch_end(self, state: TrainState): ...
    def on_restart(self, state: TrainState): ...  # new weights, a new attempt begins
    def on_epoch_complete(self, state: TrainState): ...  # all of the epoch done: a resumable point
    def on_train_end(self, state: TrainState): ...


class History(Callback):
    """Keeps the run's record in memory: every epoch's logs in ``state.history``, and in
    ``state.best`` the logs of the best epoch of ``monitor`` (val_loss, else train_loss)."""

    def __init__(self, monitor: str | None = None):
        self.monitor = monitor
        self._improved = False

    def on_epoch_end(self, state: TrainState):
        state.history.append(state.logs)
        if state.diverged:
            return
        monitor = self.monitor or "train_loss"
        value = state.logs.get(monitor)
        if value is not None and (not state.best or value < state.best.get(monitor, float("inf"))):
            state.best = dict(state.logs)
            self._improved = True


class Hooks:
    """The callbacks' methods per hook, bound once when training starts: a training loop
    makes no Python call for a callback that does nothing at a hook (``hooks(name, state)``
    calls the others in order)."""

    NAMES = ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end", "on_restart",
             "on_epoch_complete", "on_train_end")

    def __init__(self, callbacks):
        self.methods = {h: [getattr(cb, h) for cb in callbacks  # any object with some of the hooks
                            if getattr(type(cb), h, None) not in (None, getattr(Callback, h))]
                        for h in self.NAMES}

    def __call__(self, hook: str, state: TrainState) -> None:
        for method in self.methods[hook]:
            method(state)


def __getattr__(name):
    # the stopping rules live in stopping.py; kept importable from here
    if name in ("TargetLoss", "Divergence"):
        from . import stopping
        return getattr(stopping, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
