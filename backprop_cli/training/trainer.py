"""The training loop: epochs of mini-batch gradient descent, with callbacks.

Batch size n gives the notes' three schedules: the whole training set (batch gradient
descent), 1 (online / stochastic), or anything between (mini-batch). The gradient of a batch
is the mean of its examples' gradients. Each epoch visits the examples in an order drawn
from the run's shuffle stream (or in file order with ``shuffle: false``); a batch is one
gather ``X[idx]`` (a view when the order is not shuffled), never a copy of the data set.

Epoch metrics come from the training pass itself: ``train_loss`` is the mean of the batch
losses weighted by batch size, as Keras reports it (for whole-batch training, the loss
before the epoch's step).
"""
from __future__ import annotations

import time

import numpy as np

from .callbacks import Callback, TrainState
from .metrics import decide


def evaluate(network, X, Y, labels=None, batch_size: int = 8192) -> dict:
    """Loss (and accuracy when labels are given) of the network on a data set."""
    total, correct = 0.0, 0
    for start in range(0, len(X), batch_size):
        xb, yb = X[start:start + batch_size], Y[start:start + batch_size]
        loss, z = network.evaluate_loss(xb, yb)
        total += loss * len(xb)
        if labels is not None:
            correct += int((decide(z, network) == labels[start:start + batch_size]).sum())
    out = {"loss": total / len(X)}
    if labels is not None:
        out["accuracy"] = correct / len(X)
    return out


class Trainer:
    def __init__(self, network, optimizer, *, epochs: int, batch_size: int | None,
                 shuffle: bool = True, rng: np.random.Generator | None = None,
                 callbacks: list[Callback] = ()):
        self.network, self.optimizer = network, optimizer
        self.epochs, self.batch_size, self.shuffle = epochs, batch_size, shuffle
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.callbacks = list(callbacks)

    def _call(self, hook: str, state: TrainState) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(state)

    def fit(self, train, val=None, start_epoch: int = 0, state: TrainState | None = None) -> TrainState:
        net, opt = self.network, self.optimizer
        X, Y, labels = train.X, train.Y, train.labels
        n = len(X)
        bs = n if self.batch_size is None else min(self.batch_size, n)
        state = state or TrainState(network=net, optimizer=opt, epochs=self.epochs)
        self._call("on_train_begin", state)
        epoch = start_epoch
        while epoch < self.epochs and state.stop_reason is None:
            epoch += 1
            state.epoch = epoch
            self._call("on_epoch_begin", state)
            t0 = time.perf_counter()
            order = self.rng.permutation(n) if self.shuffle else None
            loss_sum, correct = 0.0, 0
            for start in range(0, n, bs):
                if order is None:
                    xb, yb = X[start:start + bs], Y[start:start + bs]
                    lb = None if labels is None else labels[start:start + bs]
                else:
                    idx = order[start:start + bs]
                    xb, yb = X[idx], Y[idx]
                    lb = None if labels is None else labels[idx]
                loss, z = net.train_step_gradients(xb, yb)
                if not np.isfinite(loss):
                    loss_sum = float("nan")
                    break
                opt.step()
                loss_sum += loss * len(xb)
                if lb is not None:
                    correct += int((decide(z, net) == lb).sum())
                self._call("on_batch_end", state)
            logs = {"epoch": epoch, "train_loss": loss_sum / n}
            if labels is not None:
                logs["train_accuracy"] = correct / n
            if val is not None and np.isfinite(loss_sum):
                m = evaluate(net, val.X, val.Y, val.labels)
                logs["val_loss"] = m["loss"]
                if "accuracy" in m:
                    logs["val_accuracy"] = m["accuracy"]
            logs["lr"] = float(opt.lr)
            logs["epoch_time"] = time.perf_counter() - t0
            state.logs = logs
            self._call("on_epoch_end", state)
        if state.stop_reason is None:
            state.stop(f"epoch limit reached ({self.epochs})")
        self._call("on_train_end", state)
        return state
