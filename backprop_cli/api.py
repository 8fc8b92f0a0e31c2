"""The library behind every command: plain functions returning plain result objects."""
from __future__ import annotations

import itertools
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from . import __version__, checkpoint, yamlio
from .config import Config, absolute_files, load_config
from .data import Splits, columns
from .data import load as load_data
from .data.preprocess import save as save_preprocessing
from .engine.network import Network, build_network, named
from .errors import ArraysLike, ConfigError, ConfigLike, DataError, UsageError
from .rundir import (MetricsWriter, atomic_write, check_name, keep_metrics, make_run_dir, safe_name,
                     signals_held, write_json)
from .training.build import build_optimizer, build_trainer, check_against_data, summary_fields  # noqa: F401 (build_optimizer is public)
from .training.callbacks import Callback, History, Hooks, TrainState

if TYPE_CHECKING:
    from .engine.gradcheck import Report


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
    def from_seed(cls, seed: int, member: int | None = None) -> "Streams":
        """The run's streams; ``member``: those of member i of an ensemble, its own but for
        the data stream, the run's (see :func:`backprop_cli.ensemble.member_children`)."""
        children = np.random.SeedSequence(seed).spawn(6)
        if member is not None:
            from dataclasses import fields

            from .ensemble import member_children
            children = member_children(seed, member, children, [f.name for f in fields(cls)])
        return cls(*(np.random.default_rng(s) for s in children))


@dataclass
class Setup:
    """A validated config, its data splits and its network (built, not trained)."""

    config: Config
    splits: Splits = field(repr=False)
    network: Network
    streams: Streams = field(repr=False)
    #: an ensemble member's bootstrap sample: indices into the run's training split (None
    #: for a run that is not a member, or a member without bootstrap)
    sample: np.ndarray | None = field(default=None, repr=False)


ARRAYS = {"source": "arrays"}


def as_config(config: ConfigLike, overrides: list[str] | tuple = (), data: ArraysLike | None = None) -> Config:
    """A validated Config from a Config, a file path, YAML text or a dict; with ``data``
    (arrays), its data section becomes ``source: arrays`` (the common options kept)."""
    from .config import config_from
    return config_from(config, overrides, ARRAYS if data is not None else None)


def setup(config: ConfigLike, overrides: list[str] | tuple = (), data: ArraysLike | None = None) -> Setup:
    """Validate the config, read the data and build the network (nothing is written).
    ``data``: arrays in place of the config's data section, (X, y) or {'train': (X, y),
    'val': (X, y), 'test': (X, y)}."""
    cfg = as_config(config, overrides, data)
    c = cfg.data
    member = (c.get("ensemble") or {}).get("member")
    streams = Streams.from_seed(c["seed"], member)
    layers = c["model"]["layers"]
    from .engine.losses import LOSSES
    loss_cls = LOSSES.get(named(c["loss"])[0])
    splits = load_data(c["data"], output_units=layers[-1]["units"],
                       loss_is_classification=loss_cls.classification, dtype=c["dtype"],
                       base_dir=cfg.base_dir, rng=streams.data,
                       input_size=c["model"].get("input_size"), loss_name=named(c["loss"])[0],
                       arrays=data)
    sample = None
    if member is not None and c["ensemble"]["bootstrap"]:  # the member's own training sample
        from .ensemble import bootstrap
        splits.train, sample = bootstrap(splits.train, c["seed"], member)
    shape = network_input(layers, splits.n_features, splits.shape, cfg.name)
    net = build_network(layers, shape, c["loss"], c["dtype"], streams.init, streams.dropout)
    init = c["model"]["init_from"]
    if init:
        p = Path(init["path"] if isinstance(init, dict) else init)
        p = p if p.is_absolute() else cfg.base_dir / p
        weights = checkpoint.load_weights(p)
        from .exporting import from_torch_state, is_torch_state
        if is_torch_state(weights):  # backprop export --format torch-state-dict's names
            weights = from_torch_state(weights, net, f"model.init_from: {p}")
        if isinstance(init, dict):  # some layers only: the others keep their initial weights
            net.load_layers(weights, init["layers"], source=f"model.init_from: {p}")
        else:
            net.load_state_dict(weights, source=str(p))
    return Setup(cfg, splits, net, streams, sample)


def network_input(layers: list[dict], n_features: int, image_shape, where: str) -> tuple:
    """The shape of one example the network takes (see engine.blocks.input_shape), with the
    layers' shapes checked against it: a located ConfigError (exit 2) when they do not fit."""
    from .engine.blocks import LayerShapeError, infer_shapes, input_shape, show
    shape = None
    try:
        shape = input_shape(layers, n_features, image_shape)
        infer_shapes(layers, shape)
    except LayerShapeError as e:
        given = f" (the data's examples are {show(shape)})" if shape is not None else ""
        raise ConfigError(f"{where}: model.layers.{e.index}" + (f".{e.key}" if e.key else "")
                          + f": {e.message}{given}") from None
    return shape


@dataclass
class RunResult:
    """What :func:`train` returns: the run folder (None when not saved), summary.json's
    content, every epoch's metrics (``history``), and the trained network with the config
    and data it was trained on (``setup``) and its optimizer, state and all."""

    run_dir: Path | None
    summary: dict = field(repr=False)
    history: list = field(default_factory=list, repr=False)
    setup: Setup | None = field(default=None, repr=False)
    optimizer: object = field(default=None, repr=False)
    #: an ensemble's members (``ensemble.members`` >= 2): each member's RunResult, in order,
    #: those this call trained with their network (the run itself then has none)
    members: list = field(default_factory=list, repr=False)

    @property
    def diverged(self) -> bool:
        return self.summary.get("diverged", False)

    @property
    def network(self) -> Network | None:
        """The trained network: its final weights (those early stopping put back, if any)."""
        return None if self.setup is None else self.setup.network

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """The final weights by name (0.W, 0.b, ...), copies: what checkpoints/last.npz holds."""
        return {} if self.setup is None else self.setup.network.state_dict()


class RunRecorder(History):
    """The run's record: metrics.jsonl every epoch, checkpoints/last.npz (of the initial
    weights before the first step, then every ``checkpoint_every`` epochs, or at most every
    ``checkpoint_seconds`` when that is None, and at the end) and checkpoints/best.npz for the
    monitored metric. Never after divergence, so a run that diverges in its first epoch keeps
    its epoch-0 checkpoint.

    A checkpoint is taken when an epoch is wholly done (``on_epoch_complete``) and holds all a
    resumed run needs to go on exactly as if never stopped: weights, optimizer buffers, the
    random streams, every callback's state and the trainer's, the resolved config and the
    preprocessing statistics."""

    transient = ("config", "_last_save", "_best", "_best_saved", "_improved",
                 "checkpoint_every", "checkpoint_seconds", "_live_streams", "resumed")

    def __init__(self, run_dir: Path, setup: "Setup", trainer=None, append: bool = False,
                 checkpoint_every: int | None = None, checkpoint_seconds: float = 2.0):
        self.run_dir = run_dir
        self.setup = setup
        self.trainer = trainer
        self.config = setup.config.data
        self.metrics = MetricsWriter(run_dir / "metrics.jsonl", append=append)
        self.resumed = append
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.monitor = None if setup.splits.val is None else "val_loss"
        self._last_save = time.monotonic()
        self._saved_epoch = None
        self._best = None  # the best epoch's weights, optimizer state and streams
        self._best_saved = True
        self._improved = False
        self._live_streams = self.live_streams(self.config)

    @staticmethod
    def live_streams(c: dict) -> list[str]:
        """The random streams training draws from (the others are used up by setup): the
        order of examples, and dropout masks (and rrelu slopes), input noise and restarts
        when configured."""
        live = ["shuffle"]
        if any(layer.get("dropout") or any(  # rrelu's slopes come from the dropout stream too
                layer.get(k) is not None and named(layer[k])[0] == "rrelu" for k in ("activation", "gate"))
               for layer in c["model"]["layers"]):
            live.append("dropout")
        if any(c["augment"].values()):  # noise, shift, flip, rotate, crop
            live.append("augment")
        if c["training"]["restarts"]:
            live += ["restart", "init"]
        return live

    def on_train_begin(self, state):
        # epoch 0: every run folder has weights to evaluate, plot and explain, and to resume
        # from (the callbacks before this one are set up, as at the end of any epoch)
        if not self.resumed and state.epoch == 0:
            self.save(state)
            self._last_save = time.monotonic()

    def on_epoch_end(self, state):
        self.metrics.write(state.logs)
        super().on_epoch_end(state)

    def on_epoch_complete(self, state):
        if state.diverged:
            return
        if self._improved:  # weights, optimizer buffers and random streams of the best epoch
            # copied into the arrays of the previous best: an improving run allocates nothing
            best = self._best or {"weights": None, "optim": None}
            best["weights"] = state.network.state_dict(into=best["weights"])
            best["optim"] = state.optimizer.state_dict(into=best["optim"])
            best["lr"], best["epoch"] = float(state.optimizer.lr), state.epoch
            streams = self.setup.streams
            best["streams"] = {k: getattr(streams, k).bit_generator.state for k in self._live_streams}
            self._best = best
            self._best_saved, self._improved = False, False
        now = time.monotonic()
        due = (state.epoch % self.checkpoint_every == 0 if self.checkpoint_every
               else now - self._last_save >= self.checkpoint_seconds)
        if due:
            self.save(state)
            self._last_save = now

    def extra_arrays(self, state) -> tuple[dict, dict]:
        """(JSON state, arrays) of everything but the weights."""
        from .training.snapshot import rng_state, snapshot
        arrays = {f"optim/{k}": v for k, v in state.optimizer.state_dict().items()}
        for k, v in self.setup.splits.preprocessing.items():
            arrays[f"prep/{k}"] = np.asarray(v)
        callbacks = []
        if self.trainer is not None:
            # the callbacks the config defines come first, up to this recorder
            for i, cb in enumerate(self.trainer.callbacks[:self.trainer.callbacks.index(self) + 1]):
                plain, arr = snapshot(cb, f"cb/{i}")
                callbacks.append({"class": type(cb).__name__, "state": plain})
                arrays.update(arr)
            trainer_plain, arr = snapshot(self.trainer, "trainer")
            arrays.update(arr)
        else:
            trainer_plain = {}
        ts_plain, arr = snapshot(state, "trainstate")
        ts_plain.pop("history", None)
        arrays.update(arr)
        streams = {k: rng_state(g) for k, g in vars(self.setup.streams).items()}
        meta = {"config_dir": str(self.setup.config.base_dir), "lr": float(state.optimizer.lr),
                "config_path": str(self.setup.config.path) if self.setup.config.path else None,
                "streams": streams, "callbacks": callbacks, "trainer": trainer_plain,
                "train_state": ts_plain, "overrides": self.setup.config.overrides,
                "classes": self.setup.splits.classes}
        return meta, arrays

    def save(self, state):
        with signals_held():  # Ctrl-C waits: last.npz and best.npz are written together
            self.metrics.flush()
            meta, arrays = self.extra_arrays(state)
            checkpoint.save(self.run_dir / "checkpoints" / "last.npz", state.network.state_dict(),
                            epoch=state.epoch, config=self.config, state=meta, extra=arrays)
            self._saved_epoch = state.epoch
            self.save_best(state)

    def save_best(self, state):
        if self._best is not None and not self._best_saved:
            from .training.snapshot import rng_state
            best = self._best
            arrays = {f"optim/{k}": v for k, v in best["optim"].items()}
            arrays.update({f"prep/{k}": np.asarray(v) for k, v in self.setup.splits.preprocessing.items()})
            # streams training does not draw from are as they were at the best epoch
            streams = {k: rng_state(g) for k, g in vars(self.setup.streams).items()}
            meta = {"config_dir": str(self.setup.config.base_dir), "lr": best["lr"],
                    "streams": {**streams, **best["streams"]}, "classes": self.setup.splits.classes,
                    "monitor": self.monitor or "train_loss", "logs": state.best}
            checkpoint.save(self.run_dir / "checkpoints" / "best.npz", best["weights"],
                            epoch=best["epoch"], config=self.config, state=meta, extra=arrays)
            self._best_saved = True

    def on_train_end(self, state):
        # saved again even if this epoch was: early stopping or restarts may have put back
        # other weights
        if not state.diverged and state.epoch:
            self.save(state)
        else:
            self.save_best(state)
        self.metrics.close()


class Interrupt(Callback):
    """Ctrl-C (SIGINT) or SIGTERM stops the run after the current epoch, with a checkpoint;
    a second one abandons the epoch at once: the run goes back to its last checkpoint
    (:func:`_roll_back`). Once training is over (``finishing``) signals are only noted: what
    is left, the summary, is short and makes the run's record agree."""

    transient = ("requested", "_previous", "finishing")

    def __init__(self):
        self.requested = False
        self.finishing = False
        self._previous = {}

    def install(self):
        import signal
        import threading
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self):
        import signal
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested and not self.finishing:
            raise KeyboardInterrupt
        self.requested = True

    def on_epoch_end(self, state):
        if self.requested:
            state.interrupted = True
            state.stop("interrupted")


def versions() -> dict:
    return {"backprop": __version__, "python": platform.python_version(), "numpy": np.__version__}


def _digest(*arrays) -> str:
    import hashlib
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(checkpoint.array_bytes(a))
    return h.hexdigest()


def train(config: ConfigLike | None = None, overrides: list[str] | tuple = (), *,
          data: ArraysLike | None = None, runs_dir: str | os.PathLike | None = None,
          name: str | None = None, callbacks: list[Callback] | tuple = (),
          on_start: Callable[[Path | None, Setup], None] | None = None,
          resume: str | os.PathLike | None = None,
          handle_signals: bool = False, epochs: int | None = None, save: bool = True,
          loggers: list[str] | tuple = ()) -> RunResult:
    """Train the network a config declares and record the run; see ``backprop train``.

    ``config``: a file path, YAML text or a dict (text and dicts are relative to the working
    directory). ``data``: arrays in place of the config's data section, (X, y) or {'train':
    (X, y), 'val': (X, y), 'test': (X, y)}; the config's common data options (scale,
    val_fraction, ...) still apply, and the run folder records ``source: arrays``.

    ``save=False``: train in memory, writing nothing (``RunResult.run_dir`` is None); the
    result still holds the network, history and summary.

    ``resume``: a run folder whose checkpoints/last.npz to continue from (no config needed);
    the finished run equals one never interrupted, weight for weight and metric for metric.
    ``epochs`` (with ``resume``): a new total, above the epochs done; a run that ended at its
    epoch limit trains on, and equals a run given that total from the start.

    ``loggers``: trackers added to the config's ``output.loggers`` (tensorboard, mlflow; see
    :mod:`backprop_cli.tracking`); they follow runs with a run folder (not ``save=False``), and
    a resumed run goes on with those it started with.

    A config with ``ensemble.members`` N >= 2 trains N members, one after the other, into
    ``members/0/``, ... of one run folder (see :mod:`backprop_cli.ensemble`); ``resume`` of
    such a folder goes on with its unfinished members.
    """
    t_start = time.perf_counter()
    if resume is not None and loggers:
        raise ConfigError("loggers: a resumed run goes on with the loggers it started with "
                          "(output.loggers); send a run to another one with backprop log RUN --to NAME")
    if resume is not None:
        return _resume(Path(resume), callbacks=callbacks, on_start=on_start,
                       handle_signals=handle_signals, t_start=t_start, epochs=epochs)
    if epochs is not None:
        raise ConfigError("epochs: a new total goes with resume (a run folder); for a new run, "
                          f"set training.epochs={epochs}")
    if config is None:
        raise ConfigError("train: give a config (a file path, YAML text or a dict), or resume=RUN_DIR")
    cfg = as_config(config, overrides, data)
    if loggers:
        cfg = _with_loggers(cfg, loggers)
    c = cfg.data
    run_name = check_name(name, "--name") if name else (
        check_name(c["name"], f"{cfg.path}: name") if c["name"] else safe_name(cfg.name))
    if save and c["output"].get("loggers"):  # a missing tracker is a usage error, before any run
        from .tracking import require
        require(c["output"]["loggers"])
    _require_fused(c["optimizer"])
    s = setup(cfg, data=data)
    check_against_data(c, s.splits)
    runs = Path(runs_dir) if runs_dir is not None else Path(c["output"]["runs_dir"])
    if c.get("ensemble", {}).get("members", 1) > 1 and c["ensemble"]["member"] is None:
        from .ensemble import train_ensemble
        return train_ensemble(cfg, s, data=data, run_dir=make_run_dir(runs, run_name).resolve() if save
                              else None, callbacks=callbacks, on_start=on_start,
                              handle_signals=handle_signals, t_start=t_start)
    if not save:
        return _fit(None, s, callbacks, on_start, handle_signals, t_start)
    run_dir = make_run_dir(runs, run_name).resolve()
    write_run_files(run_dir, s, data)
    return _fit(run_dir, s, callbacks, on_start, handle_signals, t_start)


def _require_fused(optimizer: dict) -> None:
    """``optimizer.fused: true`` without Numba: a usage error naming the extra, before any
    run folder is made."""
    from .training.optimizers import INSTALL_FAST, fused_available
    if isinstance(optimizer, dict) and optimizer.get("fused") is True and not fused_available():
        raise UsageError("optimizer.fused: true needs Numba, which is not installed; install the "
                         f"fast extra: {INSTALL_FAST} (or set optimizer.fused: null)")


def _with_loggers(cfg: Config, loggers) -> Config:
    """``cfg`` with ``loggers`` added to output.loggers, recorded as the --set it amounts to."""
    from dataclasses import replace

    from .tracking import require
    require(loggers, "loggers")
    merged = list(dict.fromkeys([*cfg.data["output"]["loggers"], *loggers]))
    if merged == cfg.data["output"]["loggers"]:
        return cfg
    data = json.loads(json.dumps(cfg.data))
    data["output"]["loggers"] = merged
    return replace(cfg, data=data, overrides=[*cfg.overrides, f"output.loggers=[{', '.join(merged)}]"])


def write_config(run_dir: Path, cfg: Config) -> None:
    """config.yaml: the resolved config, its --set overrides in the first line."""
    header = "# resolved by backprop " + __version__ + (
        "; overrides: " + " ".join(f"--set {o}" for o in cfg.overrides) if cfg.overrides else "") + "\n"
    # file paths absolute: `backprop train RUN/config.yaml` trains again from any folder
    portable = absolute_files(cfg.data, cfg.base_dir)
    atomic_write(run_dir / "config.yaml", header + yamlio.dump(portable, sort_keys=False))


def write_run_files(run_dir: Path, s: Setup, data: ArraysLike | None) -> None:
    """What a run folder holds before its first epoch: checkpoints/, config.yaml, the arrays
    of ``source: arrays``, preprocessing.npz and data.json."""
    (run_dir / "checkpoints").mkdir()
    write_config(run_dir, s.config)
    if data is not None:  # the run folder keeps its arrays: eval, explain, plot, --resume read them
        from .data.sources import ARRAYS_FILE, save_arrays
        save_arrays(run_dir / ARRAYS_FILE, data)
    save_preprocessing(run_dir / "preprocessing.npz", s.splits.preprocessing, classes=s.splits.classes)
    columns.save(run_dir, s.splits)  # with preprocessing.npz, all predict and eval --data need


def _fit(run_dir: Path, s: "Setup", callbacks, on_start, handle_signals, t_start,
         restore=None) -> RunResult:
    c = s.config.data
    net = s.network

    def reinit():  # a restart's fresh weights, drawn from the restart stream
        return build_network(c["model"]["layers"], s.network.input_shape, c["loss"], c["dtype"],
                             s.streams.restart, s.streams.dropout).state_dict()

    if run_dir is None:  # in memory: the history and best epoch only
        recorder = History(None if s.splits.val is None else "val_loss")
    else:
        recorder = RunRecorder(run_dir, s, append=restore is not None,
                               checkpoint_every=c["output"].get("checkpoint_every"))
    interrupt = Interrupt()
    health = c["output"].get("health")
    if run_dir is not None and health:  # after the recorder: not part of the checkpointed state
        from .training.health import HealthRecorder
        health = HealthRecorder(run_dir / "health.jsonl", 1 if health is True else health,
                                append=restore is not None)
    else:
        health = None
    loggers = None
    if run_dir is not None and c["output"].get("loggers"):  # TensorBoard, MLflow (tracking.py)
        from .tracking import live
        loggers = live(run_dir, c, recorder)
    trainer, opt = build_trainer(c, net, s.splits, shuffle_rng=s.streams.shuffle,
                                 augment_rng=s.streams.augment, restart_rng=s.streams.restart,
                                 reinit=reinit, recorder=recorder,
                                 callbacks=[interrupt, *([health] if health else []),
                                            *([loggers] if loggers else []), *callbacks])
    if run_dir is not None:
        recorder.trainer = trainer
    if on_start is not None:
        on_start(run_dir, s)
    state = TrainState(network=net, optimizer=opt, epochs=trainer.epochs)
    start_epoch = 0
    if restore is not None:
        start_epoch = restore(trainer, opt, state)
    if handle_signals:
        interrupt.install()
    abandoned = False
    from .engine import threads
    wanted = c["training"].get("threads")
    threads_before = threads.set_threads(wanted) if wanted else None  # put back at the end
    try:
        try:
            trainer.fit(s.splits.train, s.splits.val, start_epoch=start_epoch, state=state)
        except KeyboardInterrupt:  # a second Ctrl-C, anywhere: back to the last checkpoint
            abandoned = True
        finally:
            interrupt.finishing = True  # signals are only noted while the summary is written
            # the recorder and the trainer point at each other: untie them, so the data and
            # the network go as soon as the caller drops them, not at the next collection
            recorder.trainer = None
        if abandoned and run_dir is None:
            raise KeyboardInterrupt
        if abandoned:
            recorder.metrics.close()
            if health is not None:
                health.close()
            _roll_back(run_dir, state)
            Hooks(callbacks)("on_train_end", state)  # the caller's, such as the progress display
        summary = _summary(run_dir, s.config, s, state, t_start)
        summary["threads"] = threads.num_threads()
        summary["optimizer_fused"] = opt.uses_fused
        summary.update(summary_fields(state))
        if (c.get("ensemble") or {}).get("member") is not None:
            from .ensemble import member_fields
            summary.update(member_fields(s))
        if s.splits.test is not None and not state.diverged and not abandoned:
            summary["test"] = test_metrics(net, s.splits.test)
        if run_dir is not None:
            write_json(run_dir / "summary.json", summary)
        if loggers is not None:
            loggers.finish(summary)
    finally:
        interrupt.uninstall()
        if threads_before is not None:
            threads.set_threads(threads_before)
        if loggers is not None:
            loggers.close()  # after an error: the trackers hear that the run failed
    return RunResult(run_dir, summary, state.history, s, opt)


def _roll_back(run_dir: Path, state: TrainState) -> None:
    """After an abandoned epoch: put the run's record back to its last checkpoint, the point
    a --resume goes on from. metrics.jsonl loses the epochs after it, and the train state
    (epoch, best metrics, attempts) is the checkpoint's, so summary.json, metrics.jsonl and
    checkpoints/last.npz agree on the epochs done."""
    from .training.snapshot import restore as restore_obj
    ckpt = run_dir / "checkpoints" / "last.npz"
    cut = state.epoch
    if ckpt.is_file():
        arrays = checkpoint.load_arrays(ckpt)
        restore_obj(state, checkpoint.read_meta(arrays, "state")["train_state"], arrays, "trainstate")
        state.epoch = int(arrays["meta/epoch"])
    else:  # stopped before the epoch-0 checkpoint was written
        state.epoch, state.best = 0, {}
    state.history = keep_metrics(run_dir / "metrics.jsonl", state.epoch)
    keep_health(run_dir, state.epoch)
    state.stop_reason, state.interrupted = "interrupted", True
    if cut > state.epoch:
        state.note(f"epoch {cut} abandoned, the run is back at its checkpoint of epoch {state.epoch}")


def keep_health(run_dir: Path, epoch: int) -> None:
    """health.jsonl (output.health), when the run has one, cut back as metrics.jsonl is."""
    if (run_dir / "health.jsonl").is_file():
        keep_metrics(run_dir / "health.jsonl", epoch)


def _resume(run_dir: Path, *, callbacks, on_start, handle_signals, t_start,
            epochs: int | None = None) -> RunResult:
    """Continue a run from checkpoints/last.npz, needing nothing but the run folder; with
    ``epochs``, to a new total (recorded in config.yaml and summary.json)."""
    from .training.snapshot import restore as restore_obj
    from .training.snapshot import set_rng_state
    ckpt = run_dir / "checkpoints" / "last.npz"
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: --resume: no such run folder")
    from .ensemble import is_ensemble, resume_ensemble
    if is_ensemble(run_dir):
        return resume_ensemble(run_dir, callbacks=callbacks, on_start=on_start,
                               handle_signals=handle_signals, t_start=t_start, epochs=epochs)
    if not ckpt.is_file():
        if not (run_dir / "config.yaml").is_file():
            raise DataError(f"{run_dir}: --resume: not a run folder (no config.yaml, no "
                            "checkpoints/last.npz); expected a folder that backprop train wrote")
        raise DataError(f"{run_dir}: --resume: no checkpoints/last.npz to resume from (the run "
                        "was stopped before its first checkpoint); start it again instead")
    arrays = checkpoint.load_arrays(ckpt)
    config = checkpoint.read_meta(arrays, "config")
    meta = checkpoint.read_meta(arrays, "state")
    if config is None or meta is None or "streams" not in meta:
        raise DataError(f"{ckpt}: --resume: the checkpoint holds no training state")
    epoch = int(arrays["meta/epoch"])
    _check_resumable(run_dir, epoch, meta.get("train_state", {}), epochs)
    if config.get("output", {}).get("loggers"):
        from .tracking import require
        require(config["output"]["loggers"])
    extension = None
    if epochs is not None:
        config = json.loads(json.dumps(config))
        extension = {"from": config["training"]["epochs"], "to": epochs, "at_epoch": epoch}
        config["training"]["epochs"] = epochs
    cfg = Config(config, Path(meta.get("config_path") or Path(meta["config_dir"]) / "config.yaml"),
                 meta.get("overrides", []))
    s = setup(cfg, data=run_arrays(run_dir, config))
    s.network.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("param/")},
                              source=str(ckpt))
    if extension is not None:
        _record_new_total(run_dir / "config.yaml", absolute_files(config, cfg.base_dir),
                          f"# --resume --epochs {extension['to']}: training.epochs {extension['from']} -> "
                          f"{extension['to']} at epoch {extension['at_epoch']}")
    for k, st in meta["streams"].items():
        set_rng_state(getattr(s.streams, k), st)
    # metrics.jsonl: keep the epochs the checkpoint covers, drop those it will redo
    history = keep_metrics(run_dir / "metrics.jsonl", epoch)
    keep_health(run_dir, epoch)

    def restore(trainer, opt, state):
        opt.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("optim/")})
        opt.lr = meta["lr"]
        restore_obj(trainer, meta["trainer"], arrays, "trainer")
        restore_obj(state, meta["train_state"], arrays, "trainstate")
        state.history = history
        state.stop_reason, state.interrupted, state.limit_reached = None, False, False
        trainer.epochs = state.epochs = cfg.data["training"]["epochs"]  # new with --epochs
        if extension is not None:
            state.extended = [*state.extended, extension]
        # callbacks restore after on_train_begin has set them up
        saved = meta["callbacks"]
        first = trainer.callbacks

        class Restore(Callback):
            def on_train_begin(self, st):
                for i, (cb, snap) in enumerate(zip(first, saved)):
                    if type(cb).__name__ == snap["class"]:
                        restore_obj(cb, snap["state"], arrays, f"cb/{i}")
                recorder = next(cb for cb in first if isinstance(cb, RunRecorder))
                recorder._best = None
                recorder._best_saved = True

        trainer.callbacks.append(Restore())
        return epoch

    return _fit(run_dir, s, callbacks, on_start, handle_signals, t_start, restore=restore)


def _check_resumable(run_dir: Path, epoch: int, ts: dict, epochs: int | None) -> None:
    """Refuse, saying why, a resume that cannot go on as the same run: after divergence, a
    finished run without a new total, and --epochs N for a run a stopping rule ended (with
    any epoch limit it would have stopped there) or whose last weights were put back."""
    if epochs is not None and epochs <= epoch:
        raise ConfigError(f"{run_dir}: --epochs {epochs}: the run has done {epoch} epochs "
                          f"(checkpoints/last.npz); give a new total above {epoch}")
    summary_file = run_dir / "summary.json"
    done = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    if done.get("diverged"):
        raise DataError(f"{run_dir}: --resume: the run diverged at epoch {done.get('epochs')}; going on "
                        f"from its last good checkpoint (epoch {epoch}) would diverge the same "
                        "way; train the config again with a smaller learning rate")
    reason = ts.get("stop_reason")
    if reason is None or ts.get("interrupted"):
        return  # stopped or killed mid-run: it goes on
    from_weights = (f"to train on from its weights, start a new run: backprop train "
                    f"{done.get('config') or 'CONFIG'} --set model.init_from={run_dir / 'checkpoints' / 'last.npz'}")
    if not ts.get("limit_reached", reason.startswith("epoch limit reached")):
        raise DataError(f"{run_dir}: --resume: the run already finished, before its epoch limit "
                        f"({reason}); with more epochs it would have stopped there all the same; "
                        f"{from_weights} (and that stopping rule changed)")
    put_back = (f"the weights of epoch {ts['restored_epoch']} (stopping.restore_best)"
                if ts.get("restored_epoch") not in (None, epoch) else
                f"the weights of attempt {ts['best_attempt']} (training.restarts)"
                if ts.get("best_attempt") not in (None, ts.get("attempt")) else None)
    if put_back:
        raise DataError(f"{run_dir}: --resume: the run already finished ({reason}); its last "
                        f"checkpoint holds {put_back}, not those of epoch {epoch}, so it cannot "
                        f"train on as the same run; {from_weights}")
    if epochs is None:
        raise DataError(f"{run_dir}: --resume: the run already finished ({reason}); to train it "
                        f"on, give a new total: --resume {run_dir} --epochs N (N > {epoch})")


def _record_new_total(path: Path, config: dict, comment: str) -> None:
    """config.yaml gets the new training.epochs (in ``config``) and, after its header, the
    ``comment`` line saying from what (a run's --resume --epochs N, or an ensemble's)."""
    lines = path.read_text().splitlines(keepends=True) if path.is_file() else []
    header = "".join(itertools.takewhile(lambda ln: ln.startswith("#"), lines)) + comment + "\n"
    atomic_write(path, header + yamlio.dump(config, sort_keys=False))


def run_arrays(run_dir: Path, config: dict):
    """The arrays a run of ``source: arrays`` kept in its folder (see :func:`train`), or None
    for other runs and for folders without them."""
    from .data.sources import ARRAYS_FILE, read_arrays
    path = Path(run_dir) / ARRAYS_FILE
    if config["data"]["source"] != "arrays" or not path.is_file():
        return None
    return read_arrays(path)


def load_run(run: str | os.PathLike, *, data: ArraysLike | None = None, which: str = "last") -> Setup:
    """A run folder's resolved config, data splits and network, with the weights of
    ``checkpoints/<which>.npz`` (last, or best: the best epoch's, last when none was kept).
    ``data``: arrays in place of the run's data, as for :func:`train` (a run trained on
    arrays needs them to rebuild its splits)."""
    from .runs import load_run_setup
    from .scoring import check_which
    check_which(which)
    return load_run_setup(Path(run), data=data, which=which)


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
        "run_dir": None if run_dir is None else str(run_dir),
        "name": cfg.name if run_dir is None else run_dir.name,
        "config": str(cfg.path) if cfg.path else None,
        "overrides": cfg.overrides,
        "task": s.splits.task,
        "epochs": state.epoch,
        "stop_reason": state.stop_reason,
        "diverged": state.diverged,
        "interrupted": state.interrupted,
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
        "config_sha256": _config_digest(cfg.data),
        "data_sha256": _digest(*[a for _, d in s.splits.items() for a in (d.X, d.Y)]),
        "versions": versions(),
    }


def _config_digest(c: dict) -> str:
    """SHA-256 of the resolved config (canonical JSON), so equal configs hash equal."""
    import hashlib
    return hashlib.sha256(json.dumps(c, sort_keys=True).encode()).hexdigest()


def gradcheck(config: ConfigLike | None = None, overrides: list[str] | tuple = (), *,
              data: ArraysLike | None = None, eps: float = 1e-6, tol: float = 1e-6,
              floor: float = 1e-3, batch: int = 8, max_entries: int | None = 100,
              seed: int = 0) -> "Report":
    """Compare every analytic gradient with central differences (float64). Without a config,
    every built-in component; with one, its network on a small batch of its data (or of
    ``data``, arrays as for :func:`train`), at its initial weights, with biases that start
    at 0 drawn from N(0, 0.1²) instead."""
    from .engine import gradcheck as gc
    if config is None:
        return gc.builtin_checks(eps=eps, tol=tol, floor=floor, seed=seed)
    cfg = as_config(config, overrides, data)
    c = json.loads(json.dumps(cfg.data))
    c["dtype"] = "float64"
    s = setup(Config(c, cfg.path, cfg.overrides), data=data)
    train = s.splits.train
    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(train))[:batch]
    x, y = train.X[rows].copy(), train.Y[rows].copy()
    for p in s.network.parameters():
        # biases start at 0, and so do zero pixels' (and zero padding's) nets: every one of
        # them would sit on relu's kink, where no difference can be checked; move them off
        if not p.decay and not p.value.any():
            p.value[...] = rng.normal(0.0, 0.1, p.value.shape)
    report = gc.Report()
    report.checks = gc.check_network(s.network, x, y, check=f"{cfg.path.name if cfg.path else 'config'}",
                                     eps=eps, tol=tol, floor=floor, max_entries=max_entries, seed=seed)
    return report


__all__ = ["train", "gradcheck", "setup", "load_run", "load_config", "RunResult", "Setup",
           "ConfigError", "DataError"]
