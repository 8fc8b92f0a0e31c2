"""Restarts, the notes' own procedure (note 002): keep going while the cost falls
significantly; otherwise perturb the weights at random and restart, a couple of times.

An attempt is restarted when its training loss has not fallen by ``fall`` (a fraction)
over the last ``epochs`` epochs: loss_t > (1 - fall) · loss_(t - epochs). The new attempt
starts from the old weights plus N(0, perturb²) noise, or from a fresh initialization drawn
from the run's restart stream when ``perturb`` is null; frozen layers (``freeze: true``) keep
their weights. The optimizer's buffers and the
schedule start again; the epoch count does not (``training.epochs`` bounds the whole run).
Every metrics line carries its ``attempt``; at the end the weights of the best attempt (the
lowest final val_loss, or train_loss without validation data) are kept.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .callbacks import Callback


class Restarts(Callback):
    def __init__(self, restarts: int, epochs: int, fall: float, perturb: float | None,
                 rng: np.random.Generator, reinit: Callable[[], dict] | None = None):
        if restarts < 0 or epochs < 1 or not 0 < fall < 1:
            raise ValueError(f"need restarts >= 0, epochs >= 1, 0 < fall < 1; got {restarts}, "
                             f"{epochs}, {fall}")
        if perturb is None and reinit is None:
            raise ValueError("re-initialization needs a reinit function")
        self.restarts, self.window, self.fall = restarts, epochs, fall
        self.perturb, self.rng, self.reinit = perturb, rng, reinit

    def on_train_begin(self, state):
        self.losses: list[float] = []
        self.attempts: list[dict] = []  # finished attempts: summary and final weights
        self.first_epoch = state.epoch + 1

    def on_epoch_end(self, state):
        state.logs["attempt"] = state.attempt
        loss = state.logs["train_loss"]
        self.losses.append(loss)
        if state.stop_reason is not None or state.diverged or len(self.attempts) >= self.restarts:
            return
        if len(self.losses) > self.window:
            old = self.losses[-1 - self.window]
            if not loss < (1.0 - self.fall) * old:
                state.restart_reason = (f"train_loss fell from {old:.4g} to {loss:.4g} in "
                                        f"{self.window} epochs, less than {self.fall:.0%}")

    def _attempt(self, state, reason: str) -> dict:
        logs = state.logs
        key = "val_loss" if "val_loss" in logs else "train_loss"
        return {"attempt": state.attempt, "first_epoch": self.first_epoch, "last_epoch": state.epoch,
                key: logs[key], "end": reason, "score": logs[key],
                "weights": state.network.state_dict()}

    def on_restart(self, state):
        self.attempts.append(self._attempt(state, f"restarted: {state.restart_reason}"))
        params = state.network.trainable_parameters()  # frozen layers stay as they are
        if self.perturb is not None:
            for p in params:
                p.value += self.rng.normal(0.0, self.perturb, size=p.value.shape).astype(p.value.dtype)
        else:
            fresh = self.reinit()
            for p in params:
                p.value[...] = fresh[p.name]
        self.losses = []
        self.first_epoch = state.epoch + 1

    def on_train_end(self, state):
        if state.diverged or not state.logs:
            return
        # the last attempt is not added to self.attempts: a run resumed with more epochs
        # (--resume --epochs) goes on with it
        attempts = [*self.attempts, self._attempt(state, state.stop_reason or "")]
        best = min(attempts, key=lambda a: a["score"])
        state.attempts = [{k: v for k, v in a.items() if k not in ("weights", "score")}
                          for a in attempts]
        state.best_attempt = best["attempt"]
        if best["attempt"] != attempts[-1]["attempt"]:
            state.network.load_state_dict(best["weights"])
            which = "val_loss" if "val_loss" in best else "train_loss"
            state.note(f"kept attempt {best['attempt']} of {len(attempts)} (its final {which} "
                       f"{best['score']:.4g} was the lowest)")
        elif len(attempts) > 1:
            state.note(f"kept the last attempt ({best['attempt']} of {len(attempts)}), the best")
