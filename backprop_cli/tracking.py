"""Experiment tracking: a run's records in TensorBoard and MLflow.

``output.loggers: [tensorboard, mlflow]`` (or ``backprop train --log NAME``) sends a run to
the trackers while it trains; ``backprop log RUN... --to NAME`` sends finished runs after the
fact. Both go through the same code: a run's records (metrics.jsonl's lines, config.yaml,
summary.json) become scalars, parameters and final metrics in :func:`epoch_scalars`,
:func:`flat_config` and :func:`summary_metrics`, and a tracker (:class:`TensorBoardLog`,
:class:`MLflowLog`) writes them with the same three calls, ``epochs(records)`` then
``finish(summary)``.

What goes where:

- TensorBoard (tensorboardX's ``SummaryWriter``): event files in ``RUN/tensorboard/``, so
  ``tensorboard --logdir runs`` shows every run. Each metrics.jsonl value is a scalar under
  its own name at step = epoch; at the end the summary's metrics (``best/val_loss``,
  ``final/train_loss``, ``test_accuracy``, ``epochs``, ...) at step = the epochs done, and
  the resolved config, flattened (``model.layers.0.units``), as the run's hparams.
- MLflow (``MlflowClient``): one MLflow run named after the run folder, in
  ``$MLFLOW_TRACKING_URI`` (and ``$MLFLOW_EXPERIMENT_NAME`` / ``$MLFLOW_EXPERIMENT_ID``),
  else in the file store ``mlruns/`` beside the runs folder (``runs/x`` -> ``./mlruns``).
  Parameters: the flattened config; metrics per epoch with step = epoch; the summary's
  metrics at the last step; the run folder's files as artifacts; tags ``backprop.version``,
  ``backprop.run_dir``, ``backprop.config``, ``backprop.stop_reason``.

While training, the trackers run in a background thread and get the epochs a checkpoint
covers (at every checkpoint, by default at most every 2 seconds, and at the end), so a
resumed run, which goes on from its last checkpoint, logs no epoch twice: ``RUN/tracking.json``
records the MLflow run (it goes on) and the last epoch each tracker holds; TensorBoard purges
any later events (``purge_step``). A tracker that fails (server down, disk full, any error)
warns once on stderr and is dropped; the run goes on at full speed. MLflow's HTTP timeout
and retries default to 10 seconds and none here (``MLFLOW_HTTP_REQUEST_TIMEOUT``,
``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` set in the environment win).

TensorBoard stores scalars as float32 (metrics.jsonl's values rounded to float32); MLflow
stores them as float64, exactly.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import queue
import sys
import threading
import time
from pathlib import Path

from .errors import EXIT_DATA, BackpropError, DataError, UsageError
from .training.callbacks import Callback

NAMES = ("tensorboard", "mlflow")
MODULES = {"tensorboard": "tensorboardX", "mlflow": "mlflow"}
INSTALL = "pip install 'backprop-cli[tracking]'"
STATE_FILE = "tracking.json"
TB_DIR = "tensorboard"
#: MLflow's HTTP settings unless the environment sets them: a tracking server that is down
#: or does not answer costs at most one timeout, once (MLflow's own: 120 s, 7 retries)
MLFLOW_HTTP = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "10", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
MARK = "...[truncated]"


class TrackingError(BackpropError):
    """``backprop log`` could not send a run (the tracker failed)."""

    exit_code = EXIT_DATA


def require(names, where: str = "output.loggers") -> None:
    """A usage error (exit 2) naming the extra to install when a tracker's package is missing;
    checked before any run folder is made."""
    for name in dict.fromkeys(names):
        if name not in MODULES:
            raise UsageError(f"{where}: unknown logger {name!r}; expected one of {', '.join(NAMES)}")
        module = MODULES[name]
        if importlib.util.find_spec(module) is None:
            raise UsageError(f"{where}: {name} needs the {module} package, which is not installed; "
                             f"install the tracking extra: {INSTALL}")


# --------------------------------------------------------------------------------------------
# a run's records -> what trackers take (the live loggers and `backprop log` alike)
def epoch_scalars(record: dict) -> dict[str, float]:
    """A metrics.jsonl line's values by name, the epoch (the step) left out: the numbers only,
    and not the nulls JSON writes for NaN and inf."""
    return {k: float(v) for k, v in record.items()
            if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v)}


def summary_metrics(summary: dict) -> dict[str, float]:
    """summary.json's metrics: ``best/<metric>`` (the best epoch's, ``best/epoch`` which),
    ``final/<metric>`` (the last epoch's), the test split's (``test_loss``, ...), and
    ``epochs``, ``wall_time``, ``parameters``."""
    out = {}
    for key in ("epochs", "wall_time", "parameters"):
        out.update(epoch_scalars({key: summary.get(key)}))
    out.update({f"best/{k}": v for k, v in epoch_scalars(summary.get("best") or {}).items()})
    best_epoch = (summary.get("best") or {}).get("epoch")
    if isinstance(best_epoch, int):
        out["best/epoch"] = float(best_epoch)
    out.update({f"final/{k}": v for k, v in epoch_scalars(summary.get("final") or {}).items()})
    out.update(epoch_scalars(summary.get("test") or {}))
    return out


def flat_config(config: dict) -> dict:
    """The resolved config as one level of dotted keys, as ``--set`` names them
    (``model.layers.0.units``): mappings and lists of mappings are walked; a list of plain
    values, and an empty list or mapping, is one value, its JSON text. Values are bool, int,
    float, str or None."""
    out: dict = {}

    def walk(value, key):
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
            for i, v in enumerate(value):
                walk(v, f"{key}.{i}")
        elif isinstance(value, (dict, list)):
            out[key] = json.dumps(value)
        else:
            out[key] = value

    walk(config, "")
    return out


def param_text(value) -> str:
    """A flat config value as MLflow's parameter text: as YAML writes it (true, null, 0.5)."""
    return value if isinstance(value, str) else json.dumps(value)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - len(MARK)] + MARK


def run_name(run_dir: Path) -> str:
    """The run folder's name; an ensemble member's is ``<ensemble>/members/<i>``."""
    run_dir = Path(run_dir).resolve()
    if run_dir.parent.name == "members" and (run_dir.parent.parent / "ensemble.json").is_file():
        return f"{run_dir.parent.parent.name}/members/{run_dir.name}"
    return run_dir.name


def runs_folder(run_dir: Path) -> Path:
    """The folder the run folder is in: ``runs/`` for ``runs/x``, and for an ensemble's member
    (``runs/e/members/0``) or a sweep's trial (``runs/s/trials/0``), the ensemble's or sweep's."""
    run_dir = Path(run_dir).resolve()
    parent = run_dir.parent
    if (parent.name == "members" and (parent.parent / "ensemble.json").is_file()) or (
            parent.name == "trials" and (parent.parent / "sweep.yaml").is_file()):
        return parent.parent.parent
    return parent


def tracking_uri(run_dir: Path) -> str:
    """$MLFLOW_TRACKING_URI (a local path made an absolute file: URI), else the file store
    ``mlruns/`` beside the run's runs folder."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if not uri:
        return (runs_folder(run_dir).parent / "mlruns").resolve().as_uri()
    if uri.startswith("file:"):
        from urllib.parse import urlparse
        from urllib.request import url2pathname
        return Path(url2pathname(urlparse(uri).path)).resolve().as_uri()
    if "://" not in uri and ":" not in uri.split("/")[0]:  # a plain local path
        return Path(uri).resolve().as_uri()
    return uri


def read_state(run_dir: Path) -> dict:
    """RUN/tracking.json: ``{"tensorboard": {"epoch": N}, "mlflow": [{"tracking_uri", "experiment_id",
    "run_id", "epoch"}, ...]}``, the last epoch each tracker holds (and MLflow's run, per store)."""
    path = Path(run_dir) / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def write_state(run_dir: Path, key: str, value) -> None:
    from .rundir import atomic_write
    state = read_state(run_dir)
    state[key] = value
    atomic_write(Path(run_dir) / STATE_FILE, json.dumps(state, indent=2) + "\n", fsync=False)


def run_config(run_dir: Path) -> dict:
    """The run's resolved config.yaml ({} when it has none)."""
    from . import yamlio
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        return {}
    config = yamlio.load(path.read_text())
    return config if isinstance(config, dict) else {}


# --------------------------------------------------------------------------------------------
# the trackers: open(run_dir), epochs(records), finish(summary), close(failed)
def summary_writer():
    """tensorboardX's SummaryWriter. tensorboardX imports PyTorch, when it is installed, for
    type hints alone: a second (0.2 s without it); unless something imported it already, it
    is kept out while tensorboardX loads (and can be imported as usual afterwards)."""
    if "torch" in sys.modules or "tensorboardX" in sys.modules:
        from tensorboardX import SummaryWriter
        return SummaryWriter
    sys.modules["torch"] = None  # `import torch` raises ImportError, which tensorboardX expects
    try:
        from tensorboardX import SummaryWriter
    finally:
        if "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]
    return SummaryWriter


class TensorBoardLog:
    """Event files in RUN/tensorboard/ through tensorboardX's SummaryWriter.

    ``start_epoch``: a resumed run's checkpoint epoch (events after what both it and
    tracking.json cover are purged, then sent again); ``rewrite``: start the folder afresh
    (``backprop log``: the run's records are the whole truth)."""

    name = "tensorboard"

    def __init__(self, run_dir: Path, start_epoch: int | None = None, rewrite: bool = False):
        SummaryWriter = summary_writer()
        self.run_dir = Path(run_dir)
        logdir = self.run_dir / TB_DIR
        if rewrite:
            for f in logdir.glob("events.out.tfevents.*"):
                f.unlink()
            self.logged = 0
            write_state(self.run_dir, self.name, {"epoch": 0})
        else:
            self.logged = int((read_state(self.run_dir).get(self.name) or {}).get("epoch", 0))
            if start_epoch is not None:
                self.logged = min(self.logged, start_epoch)
        old = any(logdir.glob("events.out.tfevents.*"))
        # events from a step on are hidden (by tensorboard's readers) once a writer starts
        # again there: what a killed run wrote after its checkpoint
        # tensorboardX names files by the second and truncates one of the same name: a writer
        # started again within the second (a quick resume) would erase the first file
        self.writer = SummaryWriter(str(logdir), purge_step=self.logged + 1 if old else None,
                                    flush_secs=3600, max_queue=1000,
                                    filename_suffix=f".{time.time_ns()}")

    def scalars(self, values: dict[str, float], step: int) -> None:
        """What ``add_scalar`` writes for each value (a float32 ``simple_value``), in one event
        per step: eight times less work than an event per value, which tensorboardX queues
        and checksums in Python (0.5 ms an epoch of six metrics, measured, against 64 µs)."""
        from tensorboardX.proto.summary_pb2 import Summary
        if values:
            self.writer._get_file_writer().add_summary(
                Summary(value=[Summary.Value(tag=k, simple_value=v) for k, v in values.items()]), step)

    def epochs(self, records: list[dict]) -> None:
        new = [r for r in records if r["epoch"] > self.logged]
        for r in new:
            self.scalars(epoch_scalars(r), r["epoch"])
        self.writer.flush()
        if new:
            self.logged = new[-1]["epoch"]
            write_state(self.run_dir, self.name, {"epoch": self.logged})

    def finish(self, summary: dict) -> None:
        from tensorboardX.summary import hparams
        step = int(summary.get("epochs") or self.logged)
        metrics = summary_metrics(summary)
        self.scalars(metrics, step)
        # the run's own session (not the sub-run add_hparams makes); TensorBoard's HParams
        # tab builds its table from every run's session, metrics from the run's scalars
        _, start, end = hparams(flat_config(run_config(self.run_dir)), metrics)
        writer = self.writer._get_file_writer()
        writer.add_summary(start, step)
        writer.add_summary(end, step)
        self.writer.close()

    def close(self, failed: bool = False) -> None:
        self.writer.close()


class MLflowLog:
    """One MLflow run per run folder, through ``MlflowClient`` (see the module's doc).

    The run goes on where tracking.json says it is for this tracking URI (a resumed run, a
    second ``backprop log``), logging only the epochs it lacks; a new one is made otherwise
    (``start_epoch`` and ``rewrite`` do not apply: MLflow keeps what it was sent)."""

    name = "mlflow"

    def __init__(self, run_dir: Path, start_epoch: int | None = None, rewrite: bool = False):
        self.run_dir = Path(run_dir)
        self.uri = tracking_uri(self.run_dir)
        for k, v in MLFLOW_HTTP.items():
            os.environ.setdefault(k, v)
        if self.uri.startswith("file:"):  # MLflow 3 asks for this to use its file store
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient
        from mlflow.utils import validation
        self.client = MlflowClient(self.uri)
        entries = read_state(self.run_dir).get(self.name) or []
        self.entry = next((e for e in entries if e.get("tracking_uri") == self.uri), None)
        run = self._existing()
        if run is None:
            from . import __version__
            tags = {"backprop.version": __version__, "backprop.run_dir": str(self.run_dir.resolve()),
                    "mlflow.source.name": "backprop", "mlflow.source.type": "LOCAL"}
            experiment = self._experiment_id()
            run = self.client.create_run(experiment, run_name=run_name(self.run_dir), tags=tags)
            self.entry = {"tracking_uri": self.uri, "experiment_id": experiment,
                          "run_id": run.info.run_id, "epoch": 0}
            self._save()
        else:
            self.client.update_run(run.info.run_id, status="RUNNING")
        self.run_id = run.info.run_id
        self.logged = int(self.entry.get("epoch", 0))
        if not run.data.params:
            limit = getattr(validation, "MAX_PARAM_VAL_LENGTH", 500)
            key_limit = getattr(validation, "MAX_ENTITY_KEY_LENGTH", 250)
            params = [Param(k[:key_limit], clip(param_text(v), limit))
                      for k, v in flat_config(run_config(self.run_dir)).items()]
            step = getattr(validation, "MAX_PARAMS_TAGS_PER_BATCH", 100)
            for i in range(0, len(params), step):
                self.client.log_batch(self.run_id, params=params[i:i + step])

    def _existing(self):
        if self.entry is None:
            return None
        from mlflow.exceptions import MlflowException
        try:
            run = self.client.get_run(self.entry["run_id"])
        except MlflowException:  # deleted for good, or another store behind the same URI
            return None
        return None if run.info.lifecycle_stage == "deleted" else run

    def _experiment_id(self) -> str:
        from mlflow.exceptions import MlflowException
        if os.environ.get("MLFLOW_EXPERIMENT_ID"):
            return os.environ["MLFLOW_EXPERIMENT_ID"]
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
        if not name:
            return "0"  # MLflow's Default experiment
        exp = self.client.get_experiment_by_name(name)
        if exp is None:
            try:
                return self.client.create_experiment(name)
            except MlflowException:  # made meanwhile by another run
                exp = self.client.get_experiment_by_name(name)
                if exp is None:
                    raise
        return exp.experiment_id

    def _save(self) -> None:
        entries = [e for e in read_state(self.run_dir).get(self.name) or []
                   if e.get("tracking_uri") != self.uri]
        write_state(self.run_dir, self.name, entries + [self.entry])

    def _log_metrics(self, points: list[tuple[str, float, int]]) -> None:
        from mlflow.entities import Metric
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v, step in points]
        for i in range(0, len(metrics), 1000):  # MLflow's most per request
            self.client.log_batch(self.run_id, metrics=metrics[i:i + 1000])

    def epochs(self, records: list[dict]) -> None:
        new = [r for r in records if r["epoch"] > self.logged]
        if not new:
            return
        self._log_metrics([(k, v, r["epoch"]) for r in new for k, v in epoch_scalars(r).items()])
        self.logged = self.entry["epoch"] = new[-1]["epoch"]
        self._save()

    def finish(self, summary: dict) -> None:
        from mlflow.utils import validation
        step = int(summary.get("epochs") or self.logged)
        # the summary's metrics once per epoch count: `backprop log` again adds nothing
        if not any(m.step == step for m in self.client.get_metric_history(self.run_id, "epochs")):
            self._log_metrics([(k, v, step) for k, v in summary_metrics(summary).items()])
        limit = getattr(validation, "MAX_TAG_VAL_LENGTH", 5000)
        for tag, key in (("backprop.config", "config"), ("backprop.stop_reason", "stop_reason")):
            if summary.get(key):
                self.client.set_tag(self.run_id, tag, clip(str(summary[key]), limit))
        for path in sorted(self.run_dir.iterdir()):
            if path.name in (TB_DIR, STATE_FILE, "members") or path.name.startswith("."):
                continue
            if path.is_dir():
                self.client.log_artifacts(self.run_id, str(path), artifact_path=path.name)
            else:
                self.client.log_artifact(self.run_id, str(path))
        status = ("FAILED" if summary.get("diverged") else
                  "KILLED" if summary.get("interrupted") else "FINISHED")
        self.client.set_terminated(self.run_id, status)

    def close(self, failed: bool = False) -> None:
        if failed:
            self.client.set_terminated(self.run_id, "FAILED")


TRACKERS = {"tensorboard": TensorBoardLog, "mlflow": MLflowLog}


def load(name: str) -> None:
    """Import what a tracker needs."""
    if name == "tensorboard":
        summary_writer()
        import tensorboardX.proto.summary_pb2  # noqa: F401
        import tensorboardX.summary  # noqa: F401
    else:
        import mlflow.entities  # noqa: F401
        import mlflow.tracking  # noqa: F401


def warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)


def describe_error(e: BaseException) -> str:
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= 300 else text[:297] + "..."


# --------------------------------------------------------------------------------------------
# live: a callback that hands the trackers each checkpoint's epochs, in a background thread
class _Worker:
    """Runs the trackers' calls in one background thread, in order. A tracker's first error
    drops it, with one warning; the others go on."""

    def __init__(self, run_dir: Path, names: list[str]):
        self.run_dir = run_dir
        self.names = names
        self.trackers: dict = {}
        self.failed: set[str] = set()
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="backprop-loggers", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            name, call = item
            if name in self.failed:
                continue
            try:
                call()
            except Exception as e:  # noqa: BLE001 - a tracker's failure never stops the run
                self.failed.add(name)
                warn(f"{name} logging stopped after an error; the run goes on without it: "
                     f"{describe_error(e)} (send the run later: backprop log {self.run_dir} --to {name})")
                tracker = self.trackers.pop(name, None)
                if tracker is not None:
                    try:
                        tracker.close(failed=True)
                    except Exception:  # noqa: BLE001
                        pass

    def each(self, method: str, *args) -> None:
        for name in self.names:
            self.queue.put((name, lambda n=name: getattr(self.trackers[n], method)(*args)))

    def open(self, start_epoch: int) -> None:
        for name in self.names:
            self.queue.put((name, lambda n=name: self.trackers.__setitem__(
                n, TRACKERS[n](self.run_dir, start_epoch))))

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join()


class Loggers(Callback):
    """The trackers ``output.loggers`` names, for a run with a run folder (``api.train`` adds
    it after the run's recorder, whose checkpoints it follows). ``finish(summary)`` once
    summary.json is written sends the rest and waits for the trackers; ``close()`` ends them
    whatever happened (a run that raised is marked failed)."""

    def __init__(self, run_dir: Path, names, recorder=None):
        self.run_dir = Path(run_dir)
        self.names = [n for n in dict.fromkeys(names)]
        self.recorder = recorder
        self.worker: _Worker | None = None
        self.state = None
        self.sent = 0  # the last epoch handed to the trackers

    def on_train_begin(self, state):
        self.state = state
        # the packages are imported here, before the first epoch, not by the thread: an import
        # (mlflow's takes a second or more) holds the interpreter for long stretches, which
        # would stretch the first epochs' epoch_time
        names = []
        for name in self.names:
            try:
                load(name)
            except Exception as e:  # noqa: BLE001 - an install that is there but broken
                warn(f"{name} logging is off: its package does not load: {describe_error(e)}")
            else:
                names.append(name)
        self.worker = _Worker(self.run_dir, names)
        self.worker.open(state.epoch)
        self.sent = 0
        self._hand_over(state.epoch)  # a resumed run's epochs: each tracker takes those it lacks

    def on_epoch_complete(self, state):
        saved = getattr(self.recorder, "_saved_epoch", None)  # the checkpoint just written
        if saved is not None and saved > self.sent:
            self._hand_over(saved)

    def _hand_over(self, upto: int) -> None:
        new = []
        for record in reversed(self.state.history):
            if record["epoch"] <= self.sent:
                break
            if record["epoch"] <= upto:
                new.append(record)
        if new:
            self.worker.each("epochs", new[::-1])
        self.sent = max(self.sent, upto)

    def finish(self, summary: dict) -> None:
        if self.worker is None:
            return
        history = self.state.history if self.state is not None else []
        self._hand_over(history[-1]["epoch"] if history else self.sent)  # all that is left
        self.worker.each("finish", summary)
        self.worker.stop()
        self.worker = None

    def close(self) -> None:
        """After an error: the trackers hear the run failed, and stop."""
        if self.worker is None:
            return
        worker, self.worker = self.worker, None
        worker.each("close", True)
        worker.stop()


def live(run_dir: Path, config: dict, recorder) -> Loggers | None:
    names = (config.get("output") or {}).get("loggers") or []
    return Loggers(run_dir, names, recorder) if names else None


@contextlib.contextmanager
def trials_environment(sweep_dir: Path, configs):
    """While a sweep's trials run: they train in temporary folders, so when one logs to MLflow
    and $MLFLOW_TRACKING_URI is unset, it is set, for the trials' processes, to the store the
    sweep's runs folder has beside it (as for its runs)."""
    names = {n for c in configs for n in (c["output"] or {}).get("loggers", [])}
    require(names)  # before any trial starts
    if "mlflow" not in names or os.environ.get("MLFLOW_TRACKING_URI"):
        yield
        return
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri(sweep_dir)  # mlruns/ beside the runs folder
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)


# --------------------------------------------------------------------------------------------
# after the fact: backprop log
def run_folders(paths) -> list[Path]:
    """The run folders to send: each path, an ensemble's members (those training has made, in
    order, as ``plot`` finds them), a sweep's trials."""
    from .ensemble import member_dirs
    out = []
    for p in map(Path, paths):
        if (p / "ensemble.json").is_file():
            out += member_dirs(p)
        elif (p / "sweep.yaml").is_file():
            out += sorted(d for d in (p / "trials").iterdir() if d.is_dir() and not d.name.startswith("."))
        else:
            out.append(p)
    return out


def send(run_dir, to: str) -> dict:
    """Send a finished run to a tracker: what live logging would have sent (TensorBoard's
    folder is written afresh; MLflow's run, if the run already has one in this store, gets
    the epochs it lacks). Returns where it went: ``{"run_dir", "to", "epochs", ...}``."""
    from .runs import read_run
    run_dir = Path(run_dir)
    require([to], "--to")
    run = read_run(run_dir)
    if run.summary is None:
        raise DataError(f"{run_dir}: no summary.json: the run is still training, or was killed "
                        f"(go on with: backprop train --resume {run_dir}); only finished runs are sent")
    try:
        tracker = TRACKERS[to](run_dir, rewrite=True)
        tracker.epochs(run.metrics)
        tracker.finish(run.summary)
    except BackpropError:
        raise
    except Exception as e:  # noqa: BLE001 - the tracker's own errors, said in one line
        raise TrackingError(f"{run_dir}: sending to {to} failed: {describe_error(e)}") from None
    out = {"run_dir": str(run_dir), "to": to, "epochs": len(run.metrics)}
    if to == "tensorboard":
        out["logdir"] = str(run_dir / TB_DIR)
    else:
        out.update(tracking_uri=tracker.uri, run_id=tracker.run_id,
                   experiment_id=tracker.entry["experiment_id"])
    return out
