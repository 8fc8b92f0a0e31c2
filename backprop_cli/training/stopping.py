"""Stopping rules (note 001, 002): callbacks that end training with a specific reason.

Each calls ``state.stop(reason)``; the first reason of an epoch wins and becomes the run's
``stop_reason``. The epoch limit itself is the trainer's (``training.epochs``).
"""
from __future__ import annotations

import math
import time

from ..registry import Registry
from .callbacks import Callback


def monitored(monitor: str, mode: str, logs: dict) -> tuple[str, float]:
    """(metric name, sign) so that lower ``sign * logs[name]`` is better.

    ``monitor: auto`` is val_loss when the epoch has validation metrics, else train_loss;
    ``mode: auto`` is max for names containing 'accuracy', min otherwise.
    """
    name = monitor
    if monitor == "auto":
        name = "val_loss" if "val_loss" in logs else "train_loss"
    if name not in logs:
        from ..errors import ConfigError
        hint = "; set data.val_fraction to hold out validation data" if name.startswith("val_") else ""
        raise ConfigError(f"monitor: metric '{name}' is not logged (logged: "
                          f"{', '.join(k for k in logs if k not in ('epoch', 'attempt'))}){hint}")
    if mode == "auto":
        mode = "max" if "accuracy" in name else "min"
    return name, (-1.0 if mode == "max" else 1.0)


class TargetLoss(Callback):
    """Stop once the training loss is below an acceptable level (note 001)."""

    def __init__(self, value: float):
        if not value > 0:
            raise ValueError(f"target_loss must be > 0, got {value}")
        self.value = value

    def on_epoch_end(self, state):
        loss = state.logs["train_loss"]
        if loss < self.value:
            state.stop(f"target loss reached: train_loss {loss:.4g} < {self.value:g}")


class Divergence(Callback):
    """Stop when a loss is NaN or inf, or above ``max_loss``: the weights are garbage from
    here on, so the run keeps its last good checkpoint (``state.diverged``)."""

    def __init__(self, max_loss: float | None = None):
        self.max_loss = max_loss

    def on_epoch_end(self, state):
        for k in ("train_loss", "val_loss"):
            v = state.logs.get(k)
            if v is None:
                continue
            if not math.isfinite(v):
                why = f"{k} is {v}"
            elif self.max_loss is not None and v > self.max_loss:
                why = f"{k} {v:.4g} > max_loss {self.max_loss:g}"
            else:
                continue
            state.diverged = True
            state.stop(f"diverged: {why} at epoch {state.epoch}; the last good checkpoint is kept; "
                       "try a smaller learning rate")
            return


class MaxTime(Callback):
    """Stop once the wall time spent training exceeds ``seconds``; a resumed run counts the
    time of the runs before it (``used`` travels in the checkpoint)."""

    transient = ("last", "clock")  # a clock reading means nothing in another process

    def __init__(self, seconds: float, clock=time.monotonic):
        self.seconds, self.clock = seconds, clock
        self.used = 0.0

    def on_train_begin(self, state):
        self.last = self.clock()

    def on_epoch_end(self, state):
        now = self.clock()
        self.used += now - self.last
        self.last = now
        if self.used > self.seconds:
            state.stop(f"wall time limit reached: {self.used:.3g} s > max_time {self.seconds:g} s")


class Convergence(Callback):
    """Converged: the training loss fell by less than ``tol`` below its best for
    ``n_iter_no_change`` consecutive epochs (scikit-learn's rule for its MLPs)."""

    def __init__(self, tol: float, n_iter_no_change: int = 10):
        self.tol, self.n = tol, n_iter_no_change

    def on_train_begin(self, state):
        self.best, self.count = math.inf, 0

    on_restart = on_train_begin

    def on_epoch_end(self, state):
        loss = state.logs["train_loss"]
        self.count = self.count + 1 if loss > self.best - self.tol else 0
        self.best = min(self.best, loss)
        if self.count >= self.n:
            state.stop(f"converged: train_loss improved by less than tol {self.tol:g} for "
                       f"{self.n} epochs (best {self.best:.4g})")


class EarlyStopping(Callback):
    """Early stopping on held-out data (note 002): stop when ``monitor`` has not improved by
    more than ``min_delta`` for ``patience`` epochs. With ``restore_best`` the weights of the
    best epoch are put back at the end of training, whether or not the patience ran out."""

    def __init__(self, patience: int, monitor: str = "auto", mode: str = "auto",
                 min_delta: float = 0.0, restore_best: bool = True):
        self.patience, self.monitor, self.mode = patience, monitor, mode
        self.min_delta, self.restore_best = min_delta, restore_best

    def on_train_begin(self, state):
        self.best, self.best_epoch, self.wait, self.weights = None, None, 0, None

    def on_restart(self, state):
        self.wait = 0  # the best weights so far stay: they may be an earlier attempt's

    def on_epoch_end(self, state):
        if state.diverged:
            return
        name, sign = monitored(self.monitor, self.mode, state.logs)
        value = sign * state.logs[name]
        if self.best is None or value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, state.epoch, 0
            if self.restore_best:
                self.weights = state.network.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            state.stop(f"early stopping: {name} did not improve for {self.patience} epochs "
                       f"(best {sign * self.best:.4g} at epoch {self.best_epoch})")

    def on_train_end(self, state):
        if self.restore_best and self.weights is not None and not state.diverged:
            state.network.load_state_dict(self.weights)
            state.restored_epoch = self.best_epoch
            if self.best_epoch != state.epoch:
                state.note(f"restored the weights of epoch {self.best_epoch}")


#: the ``stopping`` key that switches each rule on
STOPPING_RULES = Registry("stopping rule", {
    "target_loss": TargetLoss, "max_time": MaxTime, "tol": Convergence,
    "patience": EarlyStopping, "max_loss": Divergence,
})
