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

import math
import time

import numpy as np

from .callbacks import Callback, Hooks, TrainState
from .metrics import correct_counter, decide


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
    """Mini-batch gradient descent with callbacks; see the module docstring."""

    def __init__(self, network, optimizer, *, epochs: int, batch_size: int | None,
                 shuffle: bool = True, rng: np.random.Generator | None = None,
                 callbacks: list[Callback] = (), regularizer=None, constraints=(),
                 augment=None, examples: str = "all"):
        """``regularizer`` adds its penalty's gradient after each backward (and its value to
        ``train_objective``), over the trainable parameters (a frozen layer's penalty would be
        a constant, its gradient never used); ``constraints`` (max-norm) apply after each step; ``augment``
        transforms each training batch's inputs; ``examples: misclassified`` trains each
        epoch only on the examples the network misclassifies at its start (note 002)."""
        self.network, self.optimizer = network, optimizer
        self.epochs, self.batch_size, self.shuffle = epochs, batch_size, shuffle
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.callbacks = list(callbacks)
        self.regularizer, self.constraints, self.augment = regularizer, list(constraints), augment
        if examples not in ("all", "misclassified"):
            raise ValueError(f"examples must be 'all' or 'misclassified', got {examples!r}")
        self.examples = examples

    def fit(self, train, val=None, start_epoch: int = 0, state: TrainState | None = None) -> TrainState:
        net, opt = self.network, self.optimizer
        X, Y, labels = train.X, train.Y, train.labels
        n = len(X)
        state = state or TrainState(network=net, optimizer=opt, epochs=self.epochs)
        call = Hooks(self.callbacks)
        call("on_train_begin", state)
        batch_hooks = call.methods["on_batch_end"]
        count_correct = correct_counter(net)
        epoch = start_epoch
        while epoch < self.epochs and state.stop_reason is None:
            epoch += 1
            state.epoch = epoch
            call("on_epoch_begin", state)
            t0 = time.perf_counter()
            pool, before = None, None
            if self.examples == "misclassified":
                pool, before = self._misclassified(train)
                if state.fresh_attempt:  # an attempt's first epoch goes over all examples
                    pool = None
            state.fresh_attempt = False
            m = n if pool is None else len(pool)
            bs = m if self.batch_size is None else min(self.batch_size, m)
            order = self.rng.permutation(m) if self.shuffle else None
            if pool is not None:
                order = pool if order is None else pool[order]
            loss_sum, objective_sum, correct = 0.0, 0.0, 0
            for start in range(0, m, bs):
                if order is None:
                    xb, yb = X[start:start + bs], Y[start:start + bs]
                    lb = None if labels is None else labels[start:start + bs]
                else:
                    idx = order[start:start + bs]  # ndarray.take: X[idx]'s rows, a third of its overhead
                    xb, yb = X.take(idx, 0), Y.take(idx, 0)
                    lb = None if labels is None else labels.take(idx)
                if self.augment is not None:
                    xb = self.augment(xb)
                loss, z = net.train_step_gradients(xb, yb)
                if not math.isfinite(loss):
                    loss_sum = float("nan")
                    break
                objective = loss
                if self.regularizer:
                    objective += self.regularizer.value(net.trainable_parameters())
                    self.regularizer.add_gradient(net.trainable_parameters())
                opt.step()
                for constraint in self.constraints:
                    constraint.apply()
                loss_sum += loss * len(xb)
                objective_sum += objective * len(xb)
                if lb is not None:
                    correct += count_correct(z, lb)
                if batch_hooks:
                    for method in batch_hooks:
                        method(state)
            logs = {"epoch": epoch, "train_loss": loss_sum / m}
            if self.regularizer:
                logs["train_objective"] = objective_sum / m if math.isfinite(loss_sum) else loss_sum
            if labels is not None:
                logs["train_accuracy"] = correct / m
            if before is not None:  # all examples, before this epoch's steps
                logs.update(before, examples_trained=m)
            if val is not None and math.isfinite(loss_sum):
                m = evaluate(net, val.X, val.Y, val.labels)
                logs["val_loss"] = m["loss"]
                if "accuracy" in m:
                    logs["val_accuracy"] = m["accuracy"]
            logs["lr"] = float(opt.lr)
            logs["epoch_time"] = time.perf_counter() - t0
            state.logs = logs
            call("on_epoch_end", state)
            if state.restart_reason is not None and state.stop_reason is None:
                opt.reset()
                call("on_restart", state)
                state.attempt += 1
                state.restart_reason = None
                state.fresh_attempt = True
            call("on_epoch_complete", state)
        if state.stop_reason is None:
            state.stop(f"epoch limit reached ({self.epochs})")
            state.limit_reached = True
        call("on_train_end", state)
        return state

    def _misclassified(self, train) -> tuple[np.ndarray | None, dict]:
        """Indices of the misclassified training examples (None when there are none: train on
        all), and the loss and accuracy of every example, measured on the way."""
        if train.labels is None:
            raise ValueError("examples: misclassified needs class labels (a classification task)")
        total, wrong = 0.0, []
        for start in range(0, len(train), 8192):
            xb = train.X[start:start + 8192]
            loss, z = self.network.evaluate_loss(xb, train.Y[start:start + 8192])
            total += loss * len(xb)
            wrong.append(decide(z, self.network) != train.labels[start:start + 8192])
        wrong = np.concatenate(wrong)
        before = {"train_loss": total / len(train), "train_accuracy": 1.0 - float(wrong.mean())}
        if self.regularizer:
            before["train_objective"] = before["train_loss"] + self.regularizer.value(self.network.trainable_parameters())
        idx = np.flatnonzero(wrong)
        return (idx if len(idx) else None), before
