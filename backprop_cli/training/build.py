"""From a validated config to a trainer: the optimizer, schedule, regularization, stopping
rules and restarts the config declares, in the order their callbacks must run."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..data.base import shape_text
from ..engine.network import named
from ..errors import ConfigError
from .callbacks import Callback, TrainState
from .optimizers import OPTIMIZERS
from .perceptron import PerceptronTrainer
from .augment import IMAGE_OPTIONS, build_augment
from .regularizers import MaxNorm, Regularizer
from .restarts import Restarts
from .schedules import SCHEDULES
from .stopping import Convergence, Divergence, EarlyStopping, MaxTime, TargetLoss, monitored
from .trainer import Trainer


def build_optimizer(opt_cfg, params):
    name, opts = named(opt_cfg)
    return OPTIMIZERS.get(name)(params, **opts)


def logged_metrics(c: dict, splits) -> list[str]:
    """The per-epoch metric names a run of this config writes (for checking ``monitor``)."""
    names = ["train_loss"]
    classification = splits.train.labels is not None
    if classification:
        names.append("train_accuracy")
    if c["training"]["method"] == "perceptron":
        names.append("mistakes")
    elif c["regularization"]["l1"] or c["regularization"]["l2"]:
        names.append("train_objective")
    if splits.val is not None:
        names += ["val_loss"] + (["val_accuracy"] if classification else [])
    return names


def check_augment(c: dict, splits) -> None:
    """Image augmentation needs images, and offsets smaller than them."""
    aug = c["augment"]
    for key in IMAGE_OPTIONS:
        if not aug.get(key):
            continue
        if splits.shape is None:
            raise ConfigError(f"augment.{key}: needs images, but the data ({splits.source}) has no "
                              f"image shape; set data.shape: [C, H, W] (C·H·W = {splits.n_features} "
                              "features), or remove augment." + key)
        if key in ("shift", "crop") and aug[key] >= min(splits.shape[1:]):
            raise ConfigError(f"augment.{key}: {aug[key]} pixels would move a {shape_text(splits.shape)} "
                              f"image out of its frame; expected less than {min(splits.shape[1:])}")


def check_against_data(c: dict, splits) -> None:
    """Config choices that need the data to be judged: monitored metrics, misclassified,
    image augmentation."""
    check_augment(c, splits)
    names = logged_metrics(c, splits)
    fake = dict.fromkeys(names, 0.0)
    watched = []
    if c["stopping"]["patience"] is not None:
        watched.append(("stopping.monitor", c["stopping"]["monitor"], c["stopping"]["mode"]))
    sched_name, sched = named(c["schedule"])
    if "monitor" in sched:
        watched.append(("schedule.monitor", sched["monitor"], sched["mode"]))
    for key, monitor, mode in watched:
        try:
            monitored(monitor, mode, fake)
        except ConfigError as e:
            raise ConfigError(f"{key}: {str(e).split(': ', 1)[1]}") from None
    if c["training"]["examples"] == "misclassified" and splits.train.labels is None:
        raise ConfigError("training.examples: misclassified needs a classification task, but the "
                          f"task is {splits.task}; use examples: all")


def build_trainer(c: dict, network, splits, *, shuffle_rng: np.random.Generator,
                  augment_rng: np.random.Generator, restart_rng: np.random.Generator,
                  reinit: Callable[[], dict], recorder: Callback | None = None,
                  callbacks: list[Callback] = ()):
    """(trainer, optimizer) for a resolved config. Callback order: schedule, divergence,
    stopping rules, restarts (which tags each epoch with its attempt), early stopping (whose
    restore_best acts after the restarts' choice), the recorder, then ``callbacks``."""
    check_against_data(c, splits)
    opt = build_optimizer(c["optimizer"], network.trainable_parameters())  # frozen: no state
    s_name, s_opts = named(c["schedule"])
    stop = c["stopping"]
    cbs: list[Callback] = [SCHEDULES.get(s_name)(**s_opts), Divergence(stop["max_loss"])]
    if stop["target_loss"] is not None:
        cbs.append(TargetLoss(stop["target_loss"]))
    if stop["max_time"] is not None:
        cbs.append(MaxTime(stop["max_time"]))
    if stop["tol"] is not None:
        cbs.append(Convergence(stop["tol"], stop["n_iter_no_change"]))
    t = c["training"]
    if t["restarts"]:
        cbs.append(Restarts(t["restarts"], t["restart_if"]["epochs"], t["restart_if"]["fall"],
                            t["perturb"], restart_rng, reinit))
    if stop["patience"] is not None:
        cbs.append(EarlyStopping(stop["patience"], stop["monitor"], stop["mode"], stop["min_delta"],
                                 stop["restore_best"]))
    cbs += ([recorder] if recorder is not None else []) + list(callbacks)
    if t["method"] == "perceptron":
        trainer = PerceptronTrainer(network, opt, epochs=t["epochs"], shuffle=t["shuffle"],
                                    rng=shuffle_rng, callbacks=cbs)
        return trainer, opt
    bs = c["training"]["batch_size"]
    reg = Regularizer({"l2": c["regularization"]["l2"], "l1": c["regularization"]["l1"]},
                      len(splits.train))
    dense = [block[0] for block in network.blocks]  # Dense or GatedDense, one per layer spec
    constraints = [MaxNorm(layer.W, spec["max_norm"]) for layer, spec in
                   zip(dense, c["model"]["layers"]) if spec.get("max_norm")]
    trainer = Trainer(network, opt, epochs=t["epochs"], batch_size=None if bs == "full" else int(bs),
                      shuffle=t["shuffle"], rng=shuffle_rng, callbacks=cbs,
                      regularizer=reg if reg else None, constraints=constraints,
                      augment=build_augment(c["augment"], splits.shape, augment_rng),
                      examples=t["examples"])
    return trainer, opt


def summary_fields(state: TrainState) -> dict:
    """What the training methods add to summary.json."""
    out = {}
    if state.attempts:
        out["attempts"] = state.attempts
        out["best_attempt"] = state.best_attempt
    if state.restored_epoch is not None:
        out["restored_epoch"] = state.restored_epoch
    if state.extended:
        out["epochs_extended"] = state.extended
    return out
