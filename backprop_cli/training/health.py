"""Per-layer health while training: gradient norm, update/weight ratio, dead or saturated units.

For each layer of ``model.layers`` that has weights, measured on the first steps of a health
epoch:

| figure | definition | healthy |
| --- | --- | --- |
| gradient norm | ‖dE/dW‖ (Frobenius, weights not biases) on the epoch's first batch | within 1000x the output layer's |
| update/weight | ‖W_after - W_before‖ / ‖W_before‖ over the epoch's first step | 1e-7 to 0.5 |
| dead ReLUs | share of a ReLU layer's units with net <= 0 for every example seen | at most 50 % |
| saturated | share of sigmoid/tanh outputs within 0.02 of their bounds (net beyond ~ +-3.9 / +-2.3) | at most 50 % |

The gradient is the one the step used: after the L1/L2 penalties' gradients are added and
after clipping (``clip_value``, ``clip_norm``), as the optimizer leaves it.

Gradient verdicts are relative, whatever the absolute size: layer i's ``grad_ratio`` is
‖dE/dW_i‖ / ‖dE/dW_out‖, the output layer's (the last layer with weights) being the
reference. The output layer is one step from the loss, so its gradient is the scale the loss
sets and cannot vanish by depth; the layers below get it through the chain rule, multiplied
by f'(net)·W once per layer. A layer is

- "vanishing" when ‖dE/dW_i‖ <= ``GRAD_FACTOR``^-1 ‖dE/dW_out‖ (1000x smaller or less; a
  gradient of exactly 0 is vanishing even when the output layer's is 0 too),
- "exploding" when ‖dE/dW_i‖ >= ``GRAD_FACTOR`` ‖dE/dW_out‖ (and the output layer's is not 0),
- "not finite" when its gradient norm is NaN or inf, and "ok" otherwise.

``GRAD_FACTOR`` = 1000: at seeds 0-2, a 9-layer sigmoid net (16 units a layer, moons, Xavier
init) starts with first-layer ratios of 5e-6 to 3e-5 and its first three or four layers under
1e-3; a 5-layer sigmoid net's first layer is 1.6e-3 to 7.8e-3 (slow, not yet vanished), 9-layer
relu and tanh nets stay above 0.3 and 2-layer sigmoid nets above 0.1. Comparing with the largest layer instead of
the output layer would call a healthy output layer "exploding" whenever the first one vanished.

Activations are read from the layers' own caches of the training batches (at least
``min_examples`` examples), so nothing is recomputed, and no random number is drawn: health
never changes training. The monitor does nothing between health epochs but one attribute test
per batch. :class:`HealthRecorder` writes the same measurements to a run folder's
``health.jsonl`` (``output.health``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..engine.activations import ReLU, Sigmoid, Tanh
from .callbacks import Callback

GRAD_FACTOR = 1e3  # vanishing at <= 1/GRAD_FACTOR of the output layer's gradient norm, exploding at >=
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
    grad_ratio: float | None = None  # grad_norm / the output layer's (None: that one is 0 or not finite)
    verdict: str = "ok"             # the gradient's: ok, vanishing, exploding or not finite
    warnings: list[str] = field(default_factory=list)

    def check(self, reference: float | None = None) -> "LayerHealth":
        """Fill ``verdict`` and ``warnings`` (every figure outside its healthy range).
        ``reference``: the output layer's gradient norm, which sets ``grad_ratio``; without
        it, the ``grad_ratio`` already set (None: only non-finite gradients are judged)."""
        g = self.grad_norm
        if reference is not None:
            self.grad_ratio = g / reference if reference > 0 and math.isfinite(reference) \
                and math.isfinite(g) else None
        self.verdict = "ok"
        if not math.isfinite(g):
            self.verdict = "not finite"
        elif (g == 0 and reference == 0) or (self.grad_ratio is not None
                                              and self.grad_ratio <= 1 / GRAD_FACTOR):
            self.verdict = "vanishing"
        elif self.grad_ratio is not None and self.grad_ratio >= GRAD_FACTOR:
            self.verdict = "exploding"
        w = []
        if self.verdict == "not finite":
            w.append(f"gradient not finite (‖dE/dW‖ = {g})")
        elif self.verdict != "ok":
            rel = "" if self.grad_ratio is None else f", {self.grad_ratio:.2g}x the output layer's"
            w.append(f"{self.verdict} gradient (‖dE/dW‖ = {g:.2g}{rel})")
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
        ratio = None  # none for a frozen layer (freeze: true), whose weights never move
        if before is not None and not all(p.frozen for p in ws):
            num = sum(float(np.sum((p.value.astype(np.float64) - b) ** 2)) for p, b in zip(ws, before[i]))
            den = sum(float(np.sum(b.astype(np.float64) ** 2)) for b in before[i])
            ratio = float(np.sqrt(num / den)) if den > 0 else None
        s = stats[i] if stats is not None else None
        out.append(LayerHealth(i, " → ".join(map(repr, block)), grad, ratio,
                               dead=s.dead_share() if s else None,
                               saturated=s.saturated_share() if s else None))
    for h in out:  # relative to the output layer: the last with weights
        h.check(out[-1].grad_norm)
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
        reference = self._first[-1].grad_norm if self._first else None
        for i, s in enumerate(self._stats):
            if s is not None and i in by_index:
                by_index[i].dead, by_index[i].saturated = s.dead_share(), s.saturated_share()
                by_index[i].check(reference)
        self.report = self._first
        self.report_epoch = state.epoch
        self._armed = False


class HealthRecorder(HealthMonitor):
    """``output.health``: the monitor's measurements appended to a run folder's health.jsonl,
    one JSON object per layer with weights per measured epoch (the first, then every
    ``every``-th), in layer order::

        {"epoch": 10, "layer": 0, "name": "Dense(2→16) → Sigmoid", "grad_norm": 1.7e-06,
         "grad_ratio": 5.1e-06, "update_ratio": 3.2e-07, "dead": null, "saturated": 0.0,
         "verdict": "vanishing", "warnings": ["vanishing gradient (...)"]}

    ``layer`` is the index in ``model.layers`` (as in the weight names 0.W, 0.b); ``dead`` is
    null but for ReLU layers, ``saturated`` but for sigmoid/tanh ones; NaN and inf are written
    as null (``verdict`` says "not finite"). Lines are written and flushed as soon as an epoch
    is measured, so a checkpoint never covers epochs the file lacks; ``--resume`` cuts the file
    back to the checkpoint's epoch as it does metrics.jsonl. It draws no random numbers and
    changes no weight: a run with health on trains the very same numbers as one without.
    """

    def __init__(self, path: Path, every: int = 1, append: bool = False):
        super().__init__(every)
        self.path = Path(path)
        self.fh = open(self.path, "a" if append else "w", encoding="utf-8")

    def _finish(self, state):
        from ..rundir import json_line
        super()._finish(state)
        self.fh.write("".join(json_line(record(h, state.epoch)) for h in self.report))
        self.fh.flush()

    def on_train_end(self, state):
        self.close()

    def close(self) -> None:
        self.fh.close()


def record(h: LayerHealth, epoch: int) -> dict:
    """One health.jsonl line (see :class:`HealthRecorder`)."""
    return {"epoch": epoch, "layer": h.index, "name": h.title, "grad_norm": h.grad_norm,
            "grad_ratio": h.grad_ratio, "update_ratio": h.update_ratio, "dead": h.dead,
            "saturated": h.saturated, "verdict": h.verdict, "warnings": h.warnings}
