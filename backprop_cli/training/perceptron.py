"""The perceptron training rule (note 001), for one layer of threshold units.

o = 1 if w0 + Σ_i w_i x_i > 0 else 0 (>= 0 for threshold units with ``at_zero: 1``, note
001's t(z) = 1[z ≥ 0]; a layer with ``bias: false`` has no w0). The weights start at 0; the
rule goes through the examples one at a time and, for each, updates w_i ← w_i + η (y - o) x_i
and w0 ← w0 + η (y - o) (η is ``optimizer.lr``; the notes use η = 1, and from zero weights
any constant η > 0 gives the same decisions). Epochs repeat until one makes no mistake. That
happens exactly when the data is linearly separable (the perceptron convergence theorem); on
XOR it never does.

Without shuffling, the weights after an epoch determine every later epoch, so when they
repeat those of an earlier epoch the rule is cycling: it will never finish an epoch without
a mistake, and the run stops saying so instead of waiting for the epoch limit.
"""
from __future__ import annotations

import time

import numpy as np

from .callbacks import Callback, Hooks, TrainState
from .metrics import decide

HINT = ("a single layer of threshold units cannot fit it; add a hidden layer (e.g. "
        "{units: 4, activation: tanh}) with a sigmoid output and train with backpropagation")


class PerceptronTrainer:
    """Same interface as :class:`Trainer`: ``fit(train, val, state=...) -> TrainState``."""

    def __init__(self, network, optimizer, *, epochs: int, shuffle: bool = False,
                 rng: np.random.Generator | None = None, callbacks: list[Callback] = ()):
        from ..engine.activations import Threshold
        from ..engine.layers import Dense
        layers = network.layers
        if len(layers) != 2 or not isinstance(layers[0], Dense) or not isinstance(layers[1], Threshold):
            raise ValueError("the perceptron rule trains one dense layer of threshold units, got "
                             + " → ".join(map(repr, layers)))
        self.network, self.optimizer, self.epochs, self.shuffle = network, optimizer, epochs, shuffle
        self.seen: dict[str, int] = {}
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.callbacks = list(callbacks)
        self.W = layers[0].W.value
        self.b = None if layers[0].b is None else layers[0].b.value  # bias: false, no w0
        self.at_zero = layers[1].at_zero  # the unit's output at net = 0

    def epoch(self, X, Y, order) -> int:
        """One pass of the rule over the examples in ``order``; returns the mistakes made."""
        W, b, lr = self.W, self.b, self.optimizer.lr
        fires = np.greater_equal if self.at_zero else np.greater
        mistakes = 0
        for i in order:
            x = X[i]
            net = x @ W if b is None else x @ W + b
            err = Y[i] - fires(net, 0)
            if err.any():
                mistakes += 1
                W += lr * np.outer(x, err)
                if b is not None:
                    b += lr * err
        return mistakes

    def fit(self, train, val=None, start_epoch: int = 0, state: TrainState | None = None) -> TrainState:
        net = self.network
        state = state or TrainState(network=net, optimizer=self.optimizer, epochs=self.epochs)
        if start_epoch == 0:  # weights start at 0 (a resumed run keeps its own)
            self.W[...] = 0.0
            if self.b is not None:
                self.b[...] = 0.0
            self.seen = {}
        seen = self.seen  # weights after each epoch (hex) -> epoch: a repeat means cycling
        call = Hooks(self.callbacks)
        call("on_train_begin", state)
        epoch = start_epoch
        while epoch < self.epochs and state.stop_reason is None:
            epoch += 1
            state.epoch = epoch
            call("on_epoch_begin", state)
            t0 = time.perf_counter()
            order = self.rng.permutation(len(train)) if self.shuffle else range(len(train))
            mistakes = self.epoch(train.X, train.Y, order)
            logs = {"epoch": epoch, **self._metrics(train, "train"), "mistakes": mistakes}
            if val is not None:
                logs.update(self._metrics(val, "val"))
            logs["lr"] = float(self.optimizer.lr)
            logs["epoch_time"] = time.perf_counter() - t0
            state.logs = logs
            if mistakes == 0:
                state.stop(f"converged: epoch {epoch} made no mistake, so the perceptron rule found "
                           "a separating hyperplane (the data is linearly separable)")
            elif not self.shuffle:
                key = (self.W.tobytes() + (b"" if self.b is None else self.b.tobytes())).hex()
                if key in seen:
                    state.stop(f"not linearly separable: the perceptron rule is cycling (the weights "
                               f"after epoch {epoch} equal those after epoch {seen[key]}, with "
                               f"{mistakes} mistake(s) per epoch), so no epoch within the epoch "
                               f"limit ({self.epochs}) can be free of mistakes; {HINT}")
                seen.setdefault(key, epoch)
            call("on_epoch_end", state)
            call("on_epoch_complete", state)
        if state.stop_reason is None:
            state.stop(f"no separating hyperplane within the epoch limit: all {self.epochs} epochs "
                       f"made mistakes ({state.logs['mistakes']} in the last); the data may not be "
                       f"linearly separable, and if so {HINT} (if it is, raise training.epochs)")
            state.limit_reached = True
        call("on_train_end", state)
        return state

    def _metrics(self, data, prefix: str) -> dict:
        loss, z = self.network.evaluate_loss(data.X, data.Y)
        out = {f"{prefix}_loss": loss}
        if data.labels is not None:
            out[f"{prefix}_accuracy"] = float(np.mean(decide(z, self.network) == data.labels))
        return out
