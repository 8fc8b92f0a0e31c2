"""The Restarts callback on its own (note 002's procedure): its argument checks, when it asks
for a restart, what each attempt's summary says, the perturbation, and which weights it keeps.
End to end runs are in test_training_methods.py."""
import numpy as np
import pytest

from backprop_cli.training.callbacks import TrainState
from backprop_cli.training.restarts import Restarts


class Net:
    """The part of a network Restarts uses: trainable_parameters, state_dict, load_state_dict."""

    def __init__(self, w):
        self.p = type("P", (), {})()
        self.p.name = "w"
        self.p.value = np.asarray(w, dtype=np.float32)

    def trainable_parameters(self):
        return [self.p]

    def state_dict(self):
        return {"w": self.p.value.copy()}

    def load_state_dict(self, d):
        self.p.value[...] = d["w"]


def make(restarts=2, epochs=2, fall=0.5, perturb=0.1, reinit=None, w=(0.0,)):
    r = Restarts(restarts, epochs, fall, perturb, np.random.default_rng(0), reinit)
    state = TrainState(network=Net(w), optimizer=None, epochs=100)
    r.on_train_begin(state)
    return r, state


def epoch(r, state, loss, **logs):
    state.epoch += 1
    state.logs = {"train_loss": loss, **logs}
    r.on_epoch_end(state)


@pytest.mark.parametrize("args", [(-1, 5, 0.5), (1, 0, 0.5), (1, 5, 0.0), (1, 5, 1.0), (1, 5, 1.5)])
def test_bad_arguments_are_refused_with_the_values(args):
    with pytest.raises(ValueError, match=r"need restarts >= 0, epochs >= 1, 0 < fall < 1; got "
                       + ", ".join(str(a) for a in args) + "$"):
        Restarts(*args, 0.1, np.random.default_rng(0))


@pytest.mark.parametrize("args", [(0, 1, 0.01), (1, 1, 0.99)])
def test_smallest_arguments_are_accepted(args):
    Restarts(*args, 0.1, np.random.default_rng(0))


def test_reinitialization_needs_a_reinit_function():
    with pytest.raises(ValueError, match="^re-initialization needs a reinit function$"):
        Restarts(1, 2, 0.5, None, np.random.default_rng(0))
    Restarts(1, 2, 0.5, 0.1, np.random.default_rng(0))  # perturbing needs none


def test_restart_when_the_loss_fell_less_than_fall_over_the_window():
    # window 2, fall 0.5: restart at t when loss_t >= 0.5 * loss_(t-2)
    r, s = make(epochs=2, fall=0.5)
    for loss in (1.0, 0.9):  # not enough history yet
        epoch(r, s, loss)
        assert s.restart_reason is None and s.logs["attempt"] == 1
    epoch(r, s, 0.49)  # 0.49 < 0.5 * 1.0: fell enough
    assert s.restart_reason is None
    epoch(r, s, 0.45)  # 0.45 = 0.5 * 0.9 exactly: not strictly below, restart
    assert s.restart_reason == "train_loss fell from 0.9 to 0.45 in 2 epochs, less than 50%"


def test_no_restart_once_stopping_diverged_or_out_of_restarts():
    for setup in ("stop", "diverged", "none left"):
        r, s = make(restarts=0 if setup == "none left" else 1, epochs=1)
        epoch(r, s, 1.0)
        s.stop_reason = "target reached" if setup == "stop" else None
        s.diverged = setup == "diverged"
        epoch(r, s, 1.0)
        assert s.restart_reason is None, setup


def summaries(r, s, losses_per_attempt, **logs):
    for i, losses in enumerate(losses_per_attempt):
        for loss in losses:
            epoch(r, s, loss, **logs)
        if i < len(losses_per_attempt) - 1:
            assert s.restart_reason is not None
            r.on_restart(s)
            s.attempt += 1
            s.restart_reason = None
    s.stop("epoch limit")
    r.on_train_end(s)
    return s.attempts


def test_attempt_summaries_and_the_best_attempt_kept():
    r, s = make(epochs=1, fall=0.5, perturb=None, reinit=lambda: {"w": np.array([7.0])})
    s.network.p.value[...] = 3.0
    attempts = summaries(r, s, [[1.0, 0.9], [0.5, 0.4, 0.39], [0.8]])
    assert attempts == [
        {"attempt": 1, "first_epoch": 1, "last_epoch": 2, "train_loss": 0.9,
         "end": "restarted: train_loss fell from 1 to 0.9 in 1 epochs, less than 50%"},
        {"attempt": 2, "first_epoch": 3, "last_epoch": 5, "train_loss": 0.39,
         "end": "restarted: train_loss fell from 0.4 to 0.39 in 1 epochs, less than 50%"},
        {"attempt": 3, "first_epoch": 6, "last_epoch": 6, "train_loss": 0.8, "end": "epoch limit"}]
    assert s.best_attempt == 2
    assert s.stop_reason == "epoch limit; kept attempt 2 of 3 (its final train_loss 0.39 was the lowest)"
    np.testing.assert_array_equal(s.network.p.value, [7.0])  # attempt 2's weights (re-initialized)


def test_val_loss_decides_when_logged():
    r, s = make(epochs=1, fall=0.5)
    # attempt 1: low train_loss, high val_loss; attempt 2 the other way round
    epoch(r, s, 0.1, val_loss=0.9)
    epoch(r, s, 0.1, val_loss=0.9)
    r.on_restart(s)
    s.attempt, s.restart_reason = 2, None
    epoch(r, s, 0.8, val_loss=0.2)
    s.stop("epoch limit")
    r.on_train_end(s)
    assert [a.get("val_loss") for a in s.attempts] == [0.9, 0.2]
    assert "train_loss" not in s.attempts[0] and s.best_attempt == 2
    assert s.stop_reason == "epoch limit; kept the last attempt (2 of 2), the best"


def test_no_summary_after_divergence_or_without_an_epoch():
    r, s = make()
    s.diverged = True
    epoch(r, s, 1.0)
    r.on_train_end(s)
    assert s.attempts == [] and s.best_attempt is None
    r, s = make()
    r.on_train_end(s)
    assert s.attempts == [] and s.best_attempt is None


def test_perturbation_is_centred_noise_of_the_given_scale_in_the_weights_dtype():
    r, s = make(perturb=0.01, w=np.ones(20000))
    epoch(r, s, 1.0)
    r.on_restart(s)
    d = s.network.p.value - 1.0
    assert s.network.p.value.dtype == np.float32
    assert abs(d.mean()) < 0.0005 and d.std() == pytest.approx(0.01, rel=0.05)


def test_kept_attempt_named_by_val_loss_and_no_note_for_a_single_attempt():
    r, s = make(epochs=1, fall=0.5)
    epoch(r, s, 0.8, val_loss=0.2)
    epoch(r, s, 0.8, val_loss=0.2)
    r.on_restart(s)
    s.attempt, s.restart_reason = 2, None
    epoch(r, s, 0.1, val_loss=0.9)
    s.stop("epoch limit")
    r.on_train_end(s)
    assert s.best_attempt == 1
    assert s.stop_reason == "epoch limit; kept attempt 1 of 2 (its final val_loss 0.2 was the lowest)"
    r, s = make()
    epoch(r, s, 0.5)
    s.stop("epoch limit")
    r.on_train_end(s)
    assert s.stop_reason == "epoch limit" and s.best_attempt == 1 and len(s.attempts) == 1
