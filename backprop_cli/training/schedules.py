"""Learning-rate schedules: callbacks that set ``optimizer.lr`` once per epoch.

Epochs count from t = 0 (the first epoch) as PyTorch's epoch-stepped schedulers do, and
η is the optimizer's ``lr``. The lr an epoch trains with is the ``lr`` of its line in
``metrics.jsonl``. A restart (``training.restarts``) starts the schedule again.
"""
from __future__ import annotations

import math

from ..registry import Registry
from ..schema import Option
from .callbacks import Callback


class Schedule(Callback):
    """Base: ``lr_at(t)`` gives the lr of epoch t (0-based) from the initial lr η."""

    options: dict[str, Option] = {}

    def __init__(self, **options):
        self.base_lr = None
        self.t = 0

    def lr_at(self, t: int) -> float:
        raise NotImplementedError

    def on_train_begin(self, state):
        # once: a trainer that fits again (partial_fit, an epoch per call) goes on with t
        if self.base_lr is None:
            self.base_lr = state.optimizer.lr
            self.t = 0

    def on_restart(self, state):
        self.t = 0
        state.optimizer.lr = self.base_lr

    def on_epoch_begin(self, state):
        state.optimizer.lr = self.lr_at(self.t)

    def on_epoch_end(self, state):
        self.t += 1


class Constant(Schedule):
    """η_t = η."""

    # nothing to do each epoch: the trainer then makes no call for it
    on_epoch_begin = Callback.on_epoch_begin
    on_epoch_end = Callback.on_epoch_end

    def lr_at(self, t):
        return self.base_lr


class Step(Schedule):
    """η_t = η · γ^⌊t / step_size⌋ (torch.optim.lr_scheduler.StepLR)."""

    options = {"step_size": Option(int, doc="epochs between decays", ge=1, example=30),
               "gamma": Option(float, 0.1, "factor of each decay", gt=0)}

    def __init__(self, step_size: int, gamma: float = 0.1):
        super().__init__()
        self.step_size, self.gamma = step_size, gamma

    def lr_at(self, t):
        return self.base_lr * self.gamma ** (t // self.step_size)


class MultiStep(Schedule):
    """η_t = η · γ^(number of milestones ≤ t) (torch.optim.lr_scheduler.MultiStepLR)."""

    options = {"milestones": Option(list, doc="epochs (0-based) at which the lr is multiplied by gamma",
                                    items=Option(int, ge=1), example=[50, 80]),
               "gamma": Option(float, 0.1, "factor of each decay", gt=0)}

    def __init__(self, milestones: list, gamma: float = 0.1):
        super().__init__()
        self.milestones, self.gamma = sorted(milestones), gamma

    @classmethod
    def problems(cls, options):
        ms = options.get("milestones") or []
        if not ms:
            return [("milestones", "must list at least one epoch, got an empty list")]
        bad = [m for m in ms if isinstance(m, bool) or not isinstance(m, int) or m < 1]
        if bad:
            return [("milestones", f"must be integers >= 1, got {bad[0]!r}")]
        return []

    def lr_at(self, t):
        return self.base_lr * self.gamma ** sum(m <= t for m in self.milestones)


class Exponential(Schedule):
    """η_t = η · γ^t (torch.optim.lr_scheduler.ExponentialLR)."""

    options = {"gamma": Option(float, doc="factor per epoch", gt=0, example=0.99)}

    def __init__(self, gamma: float):
        super().__init__()
        self.gamma = gamma

    def lr_at(self, t):
        return self.base_lr * self.gamma ** t


class InverseScaling(Schedule):
    """η_t = η / (t + 1)^power (scikit-learn's 'invscaling', counted in epochs)."""

    options = {"power": Option(float, 0.5, "exponent of the decay (scikit-learn's power_t)", gt=0)}

    def __init__(self, power: float = 0.5):
        super().__init__()
        self.power = power

    def lr_at(self, t):
        return self.base_lr / (t + 1) ** self.power


class Cosine(Schedule):
    """Cosine annealing (torch.optim.lr_scheduler.CosineAnnealingLR), with optional linear
    warmup: η_t = η (t + 1) / warmup for t < warmup; after it, with s = t - warmup,
    η_t = min_lr + (η - min_lr)(1 + cos(π s / T)) / 2 while s ≤ T, and min_lr after."""

    options = {"T_max": Option(int, doc="epochs of the descent from η to min_lr (after the warmup)",
                               ge=1, example=100),
               "min_lr": Option(float, 0.0, "the lr at the end of the descent (PyTorch's eta_min)", ge=0),
               "warmup": Option(int, 0, "epochs of linear warmup from η/warmup up to η", ge=0)}

    def __init__(self, T_max: int, min_lr: float = 0.0, warmup: int = 0):
        super().__init__()
        self.T_max, self.min_lr, self.warmup = T_max, min_lr, warmup

    def lr_at(self, t):
        if t < self.warmup:
            return self.base_lr * (t + 1) / self.warmup
        s = min(t - self.warmup, self.T_max)
        return self.min_lr + (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * s / self.T_max)) / 2


class ReduceOnPlateau(Schedule):
    """Multiply the lr by ``factor`` when the monitored metric has not improved by more than
    ``min_delta`` for more than ``patience`` epochs; then wait ``cooldown`` epochs; never go
    below ``min_lr`` (torch.optim.lr_scheduler.ReduceLROnPlateau with an absolute threshold,
    Keras's ReduceLROnPlateau). ``monitor: auto`` is val_loss with validation data, else
    train_loss; ``mode: auto`` is max for accuracies, min otherwise."""

    options = {"monitor": Option(str, "auto", "metric watched: auto, train_loss, val_loss, "
                                 "train_accuracy, val_accuracy, ...", example="val_loss"),
               "mode": Option(str, "auto", "min: lower is better; max: higher; auto: from the name",
                              choices=("auto", "min", "max")),
               "factor": Option(float, 0.1, "the lr is multiplied by this", gt=0, lt=1),
               "patience": Option(int, 10, "epochs without improvement tolerated", ge=0),
               "min_delta": Option(float, 1e-4, "smallest change that counts as an improvement", ge=0),
               "cooldown": Option(int, 0, "epochs to wait after a reduction", ge=0),
               "min_lr": Option(float, 0.0, "lower bound of the lr", ge=0)}

    def __init__(self, monitor="auto", mode="auto", factor=0.1, patience=10, min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        self.monitor, self.mode = monitor, mode
        self.factor, self.patience, self.min_delta = factor, patience, min_delta
        self.cooldown, self.min_lr = cooldown, min_lr
        self._reset()

    def _reset(self):
        self.best, self.bad, self.cooling, self.lr = None, 0, 0, None

    def on_train_begin(self, state):
        if self.base_lr is None:
            super().on_train_begin(state)
            self._reset()
            self.lr = self.base_lr

    def on_restart(self, state):
        super().on_restart(state)
        self._reset()
        self.lr = self.base_lr

    def lr_at(self, t):
        return self.lr

    def on_epoch_end(self, state):
        super().on_epoch_end(state)
        from .stopping import monitored
        name, sign = monitored(self.monitor, self.mode, state.logs)
        value = sign * state.logs[name]
        if self.best is None or value < self.best - self.min_delta:
            self.best, self.bad = value, 0
        else:
            self.bad += 1
        if self.cooling > 0:
            self.cooling -= 1
            self.bad = 0
        if self.bad > self.patience:
            self.lr = max(self.lr * self.factor, self.min_lr)
            self.cooling, self.bad = self.cooldown, 0


SCHEDULES = Registry("schedule", {
    "constant": Constant, "step": Step, "multistep": MultiStep, "exponential": Exponential,
    "inverse_scaling": InverseScaling, "cosine": Cosine, "reduce_on_plateau": ReduceOnPlateau,
})
