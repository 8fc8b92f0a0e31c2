"""Stopping rules, driven by scripted metric sequences (no training), and their reasons."""
import math

import numpy as np
import pytest

from backprop_cli.errors import ConfigError
from backprop_cli.training.callbacks import TrainState
from backprop_cli.training.stopping import (STOPPING_RULES, Convergence, Divergence, EarlyStopping,
                                            MaxTime, TargetLoss, monitored)


class FakeNet:
    """Weights are one number: the epoch they were 'trained' to."""

    def __init__(self):
        self.w = 0

    def state_dict(self):
        return {"w": np.array(self.w)}

    def load_state_dict(self, d):
        self.w = int(d["w"])


def drive(cb, rows, epochs=None):
    """Run callback ``cb`` over scripted epoch logs; returns the state when it stops."""
    state = TrainState(network=FakeNet(), optimizer=None, epochs=epochs or len(rows))
    cb.on_train_begin(state)
    for e, row in enumerate(rows, 1):
        state.epoch = e
        state.network.w = e
        state.logs = {"epoch": e, **row}
        cb.on_epoch_end(state)
        if state.stop_reason:
            break
    cb.on_train_end(state)
    return state


def losses(*xs, key="train_loss"):
    return [{key: x} for x in xs]


def test_target_loss():
    s = drive(TargetLoss(0.1), losses(0.5, 0.2, 0.09, 0.01))
    assert s.epoch == 3 and s.stop_reason == "target loss reached: train_loss 0.09 < 0.1"


@pytest.mark.parametrize("value,why", [(math.nan, "train_loss is nan"), (math.inf, "train_loss is inf"),
                                       (50.0, "train_loss 50 > max_loss 10")])
def test_divergence(value, why):
    s = drive(Divergence(max_loss=10.0), losses(1.0, 2.0, value, 1.0))
    assert s.epoch == 3 and s.diverged
    assert s.stop_reason == (f"diverged: {why} at epoch 3; the last good checkpoint is kept; "
                             "try a smaller learning rate")


def test_boundaries_of_target_loss_and_max_loss():
    # exactly at the bound is not past it (0.25 is exact in binary)
    assert drive(TargetLoss(0.25), losses(0.5, 0.25)).stop_reason is None
    assert drive(Divergence(max_loss=10.0), losses(1.0, 10.0)).stop_reason is None
    with pytest.raises(ValueError, match=r"^target_loss must be > 0, got 0$"):
        TargetLoss(0)


def test_divergence_checks_whichever_losses_are_logged():
    s = drive(Divergence(), [{"val_loss": 1.0}, {"val_loss": math.inf}])
    assert s.epoch == 2 and s.stop_reason.startswith("diverged: val_loss is inf at epoch 2")


def test_divergence_watches_val_loss_and_ignores_a_bound_it_was_not_given():
    s = drive(Divergence(), [{"train_loss": 1e9, "val_loss": 1.0}, {"train_loss": 1.0, "val_loss": math.nan}])
    assert s.epoch == 2 and s.stop_reason.startswith("diverged: val_loss is nan")


def test_max_time_uses_the_wall_clock():
    now = iter([0.0, 1.0, 2.5, 4.0])
    s = drive(MaxTime(2.0, clock=lambda: next(now)), losses(1, 1, 1, 1))
    assert s.epoch == 2 and s.stop_reason == "wall time limit reached: 2.5 s > max_time 2 s"


def test_max_time_counts_the_time_of_the_run_before_a_resume():
    """The time used travels in the checkpoint (a clock reading does not): 3 s before the
    resume plus 2.5 s after it exceed max_time 5 s."""
    from backprop_cli.training.snapshot import restore, snapshot
    before = MaxTime(5.0, clock=iter([0.0, 3.0]).__next__)
    drive(before, losses(1))
    plain, arrays = snapshot(before, "cb/0")
    assert plain == {"seconds": 5.0, "used": 3.0}
    after = MaxTime(5.0, clock=iter([100.0, 101.0, 102.5]).__next__)
    state = TrainState(network=FakeNet(), optimizer=None, epochs=10)
    after.on_train_begin(state)
    restore(after, plain, arrays, "cb/0")   # as api._resume does, after on_train_begin
    state.logs = {"train_loss": 1.0}
    after.on_epoch_end(state)
    assert state.stop_reason is None   # 3 + 1 s
    after.on_epoch_end(state)
    assert state.stop_reason == "wall time limit reached: 5.5 s > max_time 5 s"


def test_convergence():
    # best 1.0; 0.95 improves by 0.05 ≥ tol; then 0.94, 0.935, 0.93 improve by < 0.02: 3 epochs
    s = drive(Convergence(tol=0.02, n_iter_no_change=3), losses(1.0, 0.95, 0.94, 0.935, 0.93, 0.5))
    assert s.epoch == 5
    assert s.stop_reason == "converged: train_loss improved by less than tol 0.02 for 3 epochs (best 0.93)"
    # a real improvement resets the count
    s = drive(Convergence(tol=0.02, n_iter_no_change=3), losses(1.0, 0.99, 0.98, 0.9, 0.89, 0.88, 0.87))
    assert s.epoch == 7


def test_early_stopping_restores_the_best_epoch():
    rows = losses(1.0, 0.8, 0.7, 0.71, 0.69, 0.72, 0.75, key="val_loss")
    s = drive(EarlyStopping(patience=2, min_delta=0.02), rows)
    # 0.69 is not better than 0.7 by more than 0.02: epochs 4, 5 wait → stop at epoch 5
    assert s.epoch == 5 and s.network.w == 3 and s.restored_epoch == 3
    assert s.stop_reason == ("early stopping: val_loss did not improve for 2 epochs (best 0.7 at epoch 3)"
                             "; restored the weights of epoch 3")


def test_restore_best_applies_even_when_the_patience_did_not_run_out():
    s = drive(EarlyStopping(patience=10), losses(1.0, 0.5, 0.6, key="val_loss"))
    assert s.stop_reason == "restored the weights of epoch 2" and s.network.w == 2
    s = drive(EarlyStopping(patience=10, restore_best=False), losses(1.0, 0.5, 0.6, key="val_loss"))
    assert s.network.w == 3


def test_early_stopping_on_accuracy_maximizes():
    rows = [{"val_loss": 1.0, "val_accuracy": a} for a in (0.5, 0.9, 0.8, 0.85)]
    s = drive(EarlyStopping(patience=2, monitor="val_accuracy"), rows)
    assert s.epoch == 4 and s.network.w == 2 and "best 0.9 at epoch 2" in s.stop_reason


def test_monitor_auto_and_a_missing_metric():
    assert monitored("auto", "auto", {"train_loss": 1, "val_loss": 2}) == ("val_loss", 1.0)
    assert monitored("auto", "auto", {"train_loss": 1}) == ("train_loss", 1.0)
    assert monitored("train_accuracy", "auto", {"train_accuracy": 1}) == ("train_accuracy", -1.0)
    with pytest.raises(ConfigError, match="'val_loss' is not logged .*set data.val_fraction"):
        monitored("val_loss", "auto", {"train_loss": 1})


def test_every_rule_is_registered_under_its_key():
    assert set(STOPPING_RULES.names()) == {"target_loss", "max_time", "tol", "patience", "max_loss"}


def test_max_time_stops_only_once_the_limit_is_exceeded():
    now = iter([0.0, 2.0, 2.5])
    s = drive(MaxTime(2.0, clock=lambda: next(now)), losses(1, 1, 1))
    assert s.epoch == 2 and s.stop_reason.startswith("wall time limit reached: 2.5 s")


def test_convergence_boundaries_and_default():
    # each epoch improves by exactly tol (0.25, exact in binary): an improvement, never counted
    s = drive(Convergence(tol=0.25, n_iter_no_change=1), losses(1.0, 0.75, 0.5, 0.25, 0.0))
    assert s.stop_reason is None
    # scikit-learn's default n_iter_no_change: 10 epochs without improvement
    s = drive(Convergence(tol=0.1), losses(*[1.0] * 12))
    assert s.epoch == 11 and s.stop_reason.endswith("for 10 epochs (best 1)")


def test_early_stopping_patience_starts_again_after_a_restart():
    es, state = EarlyStopping(patience=2), TrainState(network=FakeNet(), optimizer=None, epochs=10)
    es.on_train_begin(state)
    for e, (loss, restart) in enumerate([(1.0, False), (1.1, True), (1.2, False), (1.3, False)], 1):
        state.epoch, state.logs = e, {"train_loss": loss}
        es.on_epoch_end(state)
        if restart:
            es.on_restart(state)
        assert state.stop_reason is None or e == 4
    assert state.stop_reason.startswith("early stopping: train_loss did not improve for 2 epochs (best 1")


def test_only_a_missing_validation_metric_gets_the_val_fraction_hint():
    with pytest.raises(ConfigError) as e:
        monitored("val_loss", "auto", {"epoch": 1, "train_loss": 1.0})
    assert str(e.value) == ("monitor: metric 'val_loss' is not logged (logged: train_loss); "
                            "set data.val_fraction to hold out validation data")
    with pytest.raises(ConfigError) as e:
        monitored("train_accuracy", "auto", {"epoch": 1, "attempt": 1, "train_loss": 1.0, "lr": 0.1})
    assert str(e.value) == "monitor: metric 'train_accuracy' is not logged (logged: train_loss, lr)"


def test_early_stopping_restores_nothing_after_a_divergence():
    es, state = EarlyStopping(patience=5), TrainState(network=FakeNet(), optimizer=None, epochs=10)
    es.on_train_begin(state)
    state.epoch, state.network.w, state.logs = 1, 1, {"train_loss": 1.0}
    es.on_epoch_end(state)
    state.epoch, state.network.w, state.logs = 2, 2, {"train_loss": math.nan}
    state.diverged = True
    es.on_epoch_end(state)
    es.on_train_end(state)
    assert state.network.w == 2 and state.restored_epoch is None


def test_stopping_rules_are_still_importable_from_callbacks():
    from backprop_cli.training import callbacks, stopping
    assert callbacks.TargetLoss is stopping.TargetLoss and callbacks.Divergence is stopping.Divergence
    with pytest.raises(AttributeError, match=r"^module 'backprop_cli.training.callbacks' has no attribute 'Nope'$"):
        callbacks.Nope


def test_max_time_and_tol_from_a_config_stop_a_run(tmp_path):
    from helpers import CONFIGS

    from backprop_cli import api
    r = api.train(CONFIGS / "xor.yaml", ["stopping.max_time=1e-9", "stopping.target_loss=null"],
                  runs_dir=tmp_path)
    assert r.summary["epochs"] == 1
    assert r.summary["stop_reason"].startswith("wall time limit reached: ")
    assert r.summary["stop_reason"].endswith(" s > max_time 1e-09 s")
    r = api.train(CONFIGS / "xor.yaml", ["stopping.tol=10", "stopping.n_iter_no_change=3",
                                         "stopping.target_loss=null"], runs_dir=tmp_path)
    assert r.summary["epochs"] == 4  # no epoch improves by 10: stops after 3 of them
    assert r.summary["stop_reason"].startswith("converged: train_loss improved by less than tol 10 for 3 ")
