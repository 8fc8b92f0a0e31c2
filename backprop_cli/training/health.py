"""Per-layer health while training: gradient norm, update/weight ratio, dead or saturated units.

For each layer of ``model.layers``, measured on the first steps of a health epoch:

| figure | definition | healthy |
| --- | --- | --- |
| gradient norm | ‖dE/dW‖ (Frobenius) on the epoch's first batch | 1e-8 to 1e3 |
| update/weight | ‖W_after - W_before‖ / ‖W_before‖ over the epoch's first step | 1e-7 to 0.5 |
| dead ReLUs | share of a ReLU layer's units with net <= 0 for every example seen | at most 50 % |
| saturated | share of sigmoid/tanh outputs within 0.02 of their bounds (net beyond ~ +-3.9 / +-2.3) | at most 50 % |

Activations are read from the layers' own caches of the training batches (at least
``min_examples`` examples), so nothing is recomputed. The monitor does nothing between health
epochs but one attribute test per batch.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..engine.activations import ReLU, Sigmoid, Tanh
from .callbacks import Callback

GRAD_RANGE = (1e-8, 1e3)
RATIO_RANGE = (1e-7, 0.5)
MAX_DEAD = 0.5
MAX_SATURATED = 0.5
SATURATION_MARGIN = 0.02


@dataclass
class LayerHealth:
    index: int                      # position in model.layers
    title: str
    grad_norm: float
    update_ratio: float | None      # None when the weights were not snapshotted before a step
    dead: float | None = None       # share of dead ReLU units (ReLU layers only)
    saturated: float | None = None  # share of saturated outputs (sigmoid/tanh layers only)
    warnings: list[str] = field(default_factory=list)

    def check(self) -> "LayerHealth":
        """Fill ``warnings`` with every figure outside its healthy range."""
        w = []
        if self.grad_norm < GRAD_RANGE[0]:
            w.append(f"vanishing gradient (‖dE/dW‖ = {self.grad_norm:.2g})")
        elif self.grad_norm > GRAD_RANGE[1]:
            w.append(f"exploding gradient (‖dE/dW‖ = {self.grad_norm:.2g})")
        if self.update_ratio is not None:
            if self.update_ratio < RATIO_RANGE[0]:
                w.append(f"weights barely move (update/weight {self.update_ratio:.2g})")
            elif self.update_ratio > RATIO_RANGE[1]:
                w.append(f"steps too large (update/weight {self.update_ratio:.2g}); lower lr")
        if self.dead is not None and self.dead > MAX_DEAD:
            w.append(f"{self.dead:.0%} dead ReLUs")
        if self.saturated is not None and self.saturated > MAX_SATURATED:
            w.append(f"{self.saturated:.0%} saturated units")
        self.warnings = w
        return self


def weight_params(block) -> list:
    """The weight matrices (not biases or slopes) of one config layer's block."""
    return [p for layer in block for p in layer.parameters() if p.decay]


def activation_of(block):
    return next((layer for layer in block if isinstance(layer, (ReLU, Sigmoid, Tanh))), None)


class ActivationStats:
    """Running counts of dead (never positive) ReLU units and saturated sigmoid/tanh outputs."""

    def __init__(self):
        self.ever_active: np.ndarray | None = None
        self.saturated = 0
        self.values = 0
        self.examples = 0

    def add(self, layer) -> None:
        if isinstance(layer, ReLU):
            mask = layer.kink_state()  # net > 0, per example and unit
            if mask is None:
                return
            active = mask.reshape(len(mask), -1).any(axis=0)
            self.ever_active = active if self.ever_active is None else self.ever_active | active
            self.examples += len(mask)
        else:
            y = getattr(layer, "_y", None)  # the cached output f(net) of the last forward
            if y is None:
                return
            low = 0.0 if isinstance(layer, Sigmoid) else -1.0
            self.saturated += int(((y < low + SATURATION_MARGIN) | (y > 1 - SATURATION_MARGIN)).sum())
            self.values += y.size
            self.examples += len(y)

    def dead_share(self) -> float | None:
        return None if self.ever_active is None else float(1.0 - self.ever_active.mean())

    def saturated_share(self) -> float | None:
        return self.saturated / self.values if self.values else None


def layer_health(network, before: list[list[np.ndarray]] | None = None,
                 stats: list[ActivationStats | None] | None = None) -> list[LayerHealth]:
    """Health of each config layer from the current gradients and weights.

    ``before``: each block's weight matrices before the last step (for the update ratio);
    ``stats``: each block's activation counts (for dead and saturated shares).
    """
    out = []
    for i, block in enumerate(network.blocks):
        ws = weight_params(block)
        if not ws:
            continue
        grad = float(np.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in ws)))
        ratio = None
        if before is not None:
            num = sum(float(np.sum((p.value.astype(np.float64) - b) ** 2)) for p, b in zip(ws, before[i]))
            den = sum(float(np.sum(b.astype(np.float64) ** 2)) for b in before[i])
            ratio = float(np.sqrt(num / den)) if den > 0 else None
        s = stats[i] if stats is not None else None
        h = LayerHealth(i, " → ".join(map(repr, block)), grad, ratio,
                        dead=s.dead_share() if s else None,
                        saturated=s.saturated_share() if s else None)
        out.append(h.check())
    return out


class HealthMonitor(Callback):
    """Measures ``layer_health`` every ``every`` epochs (and on the first); ``report`` holds
    the latest, with the epoch it was measured at in ``report_epoch``."""

    def __init__(self, every: int = 10, min_examples: int = 256):
        if every < 1:
            raise ValueError(f"health every must be >= 1, got {every}")
        self.every, self.min_examples = every, min_examples
        self.report: list[LayerHealth] = []
        self.report_epoch: int | None = None
        self._armed = False

    def on_epoch_begin(self, state):
        if state.epoch % self.every and state.epoch != 1:
            return
        net = state.network
        self._net = net
        self._before = [[p.value.copy() for p in weight_params(b)] for b in net.blocks]
        self._stats = [ActivationStats() if activation_of(b) is not None else None for b in net.blocks]
        self._first = None
        self._armed = True

    def on_batch_end(self, state):
        if not self._armed:
            return
        if self._first is None:
            self._first = layer_health(self._net, self._before)
        done = True
        for block, s in zip(self._net.blocks, self._stats):
            if s is not None:
                s.add(activation_of(block))
                done = done and s.examples >= self.min_examples
        if done:
            self._finish(state)

    def on_epoch_end(self, state):
        if self._armed and self._first is not None:
            self._finish(state)
        self._armed = False

    def _finish(self, state):
        by_index = {h.index: h for h in self._first}
        for i, s in enumerate(self._stats):
            if s is not None and i in by_index:
                by_index[i].dead, by_index[i].saturated = s.dead_share(), s.saturated_share()
                by_index[i].check()
        self.report = self._first
        self.report_epoch = state.epoch
        self._armed = False
