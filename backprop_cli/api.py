"""The library behind every command: plain functions returning plain result objects."""
from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from . import __version__, checkpoint
from .config import Config, batch_size, load_config
from .data import Splits
from .data import load as load_data
from .data.preprocess import save as save_preprocessing
from .engine.network import Network, build_network, named
from .errors import ConfigError, DataError
from .rundir import MetricsWriter, check_name, make_run_dir, safe_name, write_json
from .training.build import build_trainer, check_against_data, summary_fields
from .training.callbacks import Callback, TrainState
from .training.optimizers import OPTIMIZERS
from .training.trainer import Trainer


@dataclass
class Streams:
    """Independent random streams from one seed: init, shuffle, dropout, data, input noise
    (augment.noise), restarts (perturbations and re-initializations)."""

    init: np.random.Generator
    shuffle: np.random.Generator
    dropout: np.random.Generator
    data: np.random.Generator
    augment: np.random.Generator
    restart: np.random.Generator

    @classmethod
    def from_seed(cls, seed: int) -> "Streams":
        return cls(*(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)))


@dataclass
class Setup:
    config: Config
    splits: Splits
    network: Network
    streams: Streams


def as_config(config, overrides=()) -> Config:
    return config if isinstance(config, Config) else load_config(config, overrides)


def setup(config, overrides=()) -> Setup:
    """Validate the config, read the data and build the network (nothing is written)."""
    cfg = as_config(config, overrides)
    c = cfg.data
    streams = Streams.from_seed(c["seed"])
    layers = c["model"]["layers"]
    from .engine.losses import LOSSES
    loss_cls = LOSSES.get(named(c["loss"])[0])
    splits = load_data(c["data"], output_units=layers[-1]["units"],
                       loss_is_classification=loss_cls.classification, dtype=c["dtype"],
                       base_dir=cfg.base_dir, rng=streams.data,
                       input_size=c["model"].get("input_size"), loss_name=named(c["loss"])[0])
    net = build_network(layers, splits.n_features, c["loss"], c["dtype"], streams.init, streams.dropout)
    if c["model"]["init_from"]:
        p = Path(c["model"]["init_from"])
        p = p if p.is_absolute() else cfg.base_dir / p
        net.load_state_dict(checkpoint.load_weights(p), source=str(p))
    return Setup(cfg, splits, net, streams)


def build_optimizer(opt_cfg, params):
    name, opts = named(opt_cfg)
    return OPTIMIZERS.get(name)(params, **opts)


@dataclass
class RunResult:
    run_dir: Path
    summary: dict
    history: list = field(default_factory=list)

    @property
    def diverged(self) -> bool:
        return self.summary.get("diverged", False)


class RunRecorder(Callback):
    """Writes metrics.jsonl each epoch and checkpoints/last.npz (never after divergence),
    and tracks the best epoch of the monitored loss (val_loss if there is validation data)."""

    def __init__(self, run_dir: Path, config: dict, checkpoint_seconds: float = 2.0):
        self.run_dir = run_dir
        self.config = config
        self.metrics = MetricsWriter(run_dir / "metrics.jsonl")
        self.checkpoint_seconds = checkpoint_seconds
        self._last_save = 0.0
        self._saved_epoch = None

    def on_epoch_end(self, state):
        self.metrics.write(state.logs)
        state.history.append(state.logs)
        if state.diverged:
            return
        monitor = "val_loss" if "val_loss" in state.logs else "train_loss"
        if not state.best or state.logs[monitor] < state.best[monitor]:
            state.best = dict(state.logs)
        now = time.monotonic()
        if now - self._last_save >= self.checkpoint_seconds:
            self.save(state)
            self._last_save = now

    def save(self, state):
        checkpoint.save(self.run_dir / "checkpoints" / "last.npz", state.network.state_dict(),
                        epoch=state.epoch, config=self.config)
        self._saved_epoch = state.epoch

    def on_train_end(self, state):
        # saved again even if this epoch was: early stopping or restarts may have put back
        # other weights
        if not state.diverged and state.epoch:
            self.save(state)
        self.metrics.close()


def versions() -> dict:
    return {"backprop": __version__, "python": platform.python_version(), "numpy": np.__version__}


def train(config, overrides=(), *, runs_dir=None, name: str | None = None,
          callbacks: list[Callback] = (), on_start=None) -> RunResult:
    """Train the network a config declares and record the run; see ``backprop train``."""
    t_start = time.perf_counter()
    cfg = as_config(config, overrides)
    c = cfg.data
    run_name = check_name(name, "--name") if name else (
        check_name(c["name"], f"{cfg.path}: name") if c["name"] else safe_name(cfg.name))
    s = setup(cfg)
    check_against_data(c, s.splits)
    runs = Path(runs_dir) if runs_dir is not None else Path(c["output"]["runs_dir"])
    run_dir = make_run_dir(runs, run_name).resolve()
    (run_dir / "checkpoints").mkdir()
    header = "# resolved by backprop " + __version__ + (
        "; overrides: " + " ".join(f"--set {o}" for o in cfg.overrides) if cfg.overrides else "") + "\n"
    (run_dir / "config.yaml").write_text(header + yaml.safe_dump(c, sort_keys=False))
    save_preprocessing(run_dir / "preprocessing.npz", s.splits.preprocessing, classes=s.splits.classes)

    net = s.network
    recorder = RunRecorder(run_dir, c)

    def reinit():  # a restart's fresh weights, drawn from the restart stream
        return build_network(c["model"]["layers"], s.splits.n_features, c["loss"], c["dtype"],
                             s.streams.restart, s.streams.dropout).state_dict()

    trainer, opt = build_trainer(c, net, s.splits, shuffle_rng=s.streams.shuffle,
                                 augment_rng=s.streams.augment, restart_rng=s.streams.restart,
                                 reinit=reinit, recorder=recorder, callbacks=list(callbacks))
    if on_start is not None:
        on_start(run_dir, s)
    state = TrainState(network=net, optimizer=opt, epochs=trainer.epochs)
    try:
        trainer.fit(s.splits.train, s.splits.val, state=state)
    except KeyboardInterrupt:
        state.stop("interrupted")
        recorder.on_train_end(state)
        summary = _summary(run_dir, cfg, s, state, t_start, interrupted=True)
        write_json(run_dir / "summary.json", summary)
        raise
    summary = _summary(run_dir, cfg, s, state, t_start)
    summary.update(summary_fields(state))
    if s.splits.test is not None and not state.diverged:
        summary["test"] = test_metrics(net, s.splits.test)
    write_json(run_dir / "summary.json", summary)
    return RunResult(run_dir, summary, state.history)


def test_metrics(network, test) -> dict:
    """Loss (and accuracy) of the final weights on the test split, as test_loss, test_accuracy."""
    from .rundir import json_number
    from .training.trainer import evaluate
    m = evaluate(network, test.X, test.Y, test.labels)
    return {f"test_{k}": json_number(v) for k, v in m.items()}


def data_summary(config, overrides=()) -> dict:
    """What ``backprop data show`` prints: source, shapes, splits, classes, feature ranges."""
    from .data.summary import describe
    s = setup(config, overrides)
    return describe(s.splits)


def _summary(run_dir, cfg: Config, s: Setup, state: TrainState, t_start: float,
             interrupted: bool = False) -> dict:
    from .rundir import json_number
    final = {k: json_number(v) for k, v in (state.history[-1] if state.history else {}).items()}
    best = {k: json_number(v) for k, v in state.best.items()}
    return {
        "run_dir": str(run_dir),
        "name": run_dir.name,
        "config": str(cfg.path) if cfg.path else None,
        "overrides": cfg.overrides,
        "task": s.splits.task,
        "epochs": state.epoch,
        "stop_reason": state.stop_reason,
        "diverged": state.diverged,
        "final": final,
        "best": best,
        "n_train": len(s.splits.train),
        "n_val": len(s.splits.val) if s.splits.val is not None else 0,
        "n_test": len(s.splits.test) if s.splits.test is not None else 0,
        "classes": s.splits.classes,
        "parameters": int(sum(p.value.size for p in s.network.parameters())),
        "wall_time": time.perf_counter() - t_start,
        "seed": cfg.data["seed"],
        "dtype": cfg.data["dtype"],
        "versions": versions(),
    }


def gradcheck(config=None, overrides=(), *, eps: float = 1e-6, tol: float = 1e-6,
              floor: float = 1e-3, batch: int = 8, max_entries: int | None = 100, seed: int = 0):
    """Compare every analytic gradient with central differences (float64). Without a config,
    every built-in component; with one, its network on a small batch of its data."""
    from .engine import gradcheck as gc
    if config is None:
        return gc.builtin_checks(eps=eps, tol=tol, floor=floor, seed=seed)
    cfg = as_config(config, overrides)
    c = json.loads(json.dumps(cfg.data))
    c["dtype"] = "float64"
    s = setup(Config(c, cfg.path, cfg.overrides))
    train = s.splits.train
    rows = np.random.default_rng(seed).permutation(len(train))[:batch]
    x, y = train.X[rows].copy(), train.Y[rows].copy()
    report = gc.Report()
    report.checks = gc.check_network(s.network, x, y, check=f"{cfg.path.name if cfg.path else 'config'}",
                                     eps=eps, tol=tol, floor=floor, max_entries=max_entries, seed=seed)
    return report


__all__ = ["train", "gradcheck", "setup", "load_config", "ConfigError", "DataError"]
