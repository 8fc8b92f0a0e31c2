"""The driver of a sweep: validate every trial, find or make the sweep folder, run what is
not finished, record each result as it arrives, rank, write best.yaml.

``runs/<name>-<stamp>/`` holds ``sweep.yaml`` (resolved), ``trials/<trial-id>/`` (a full
run each), ``results.jsonl``, ``results.csv`` and ``best.yaml``. Re-running the same sweep
finds the newest folder of the same sweep (same trials, same resolved configs, same shard)
and skips its finished trials; ``new=True`` starts a fresh folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import yaml

from .. import __version__, yamlio
from ..errors import ConfigError
from ..rundir import atomic_write, make_run_dir
from .local import signals_held
from .results import FINISHED, SweepResult, append_row, make_row, read_rows, write_outputs
from .spec import SweepSpec, Trial, load_sweep, validate_trials


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N) with 0 <= I < N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not int(m.group(1)) < int(m.group(2)):
        raise ConfigError(f"--shard {text}: expected I/N with 0 <= I < N, e.g. 0/4 (shards are numbered from 0)")
    return int(m.group(1)), int(m.group(2))


def run_sweep(path: str | os.PathLike, *, workers: int | None = None, executor: str = "local",
              scheduler: str | None = None, dry_run: bool = False, shard: tuple[int, int] | None = None,
              runs_dir: str | os.PathLike | None = None, new: bool = False, on_start: Callable | None = None,
              on_trial: Callable | None = None) -> SweepResult:
    """Run the sweep a sweep file declares; see ``backprop sweep``. ``on_start(result,
    todo)`` is called once the folder is ready, ``on_trial(row, done, total)`` per trial.
    SIGTERM stops it as Ctrl-C does, from the start (KeyboardInterrupt before the folder is
    made, an interrupted result once trials run)."""
    with sigterm_as_interrupt():
        return _sweep(path, workers, executor, scheduler, dry_run, shard, runs_dir, new, on_start,
                      on_trial)


def _sweep(path, workers, executor, scheduler, dry_run, shard, runs_dir, new, on_start,
           on_trial) -> SweepResult:
    if not dry_run:
        check_executor(executor, scheduler)  # before anything is read or made
    spec = load_sweep(path)
    every = spec.trials()
    configs = validate_trials(spec, every)
    trials = [t for t in every if shard is None or t.index % shard[1] == shard[0]]
    info = _info(spec, every, configs, shard)
    if dry_run:
        return SweepResult(None, info, trials, dry_run=True)
    _check_metric(spec, configs[every[0].id])  # a sweep has at least one trial
    runs = Path(runs_dir if runs_dir is not None else configs[every[0].id]["output"]["runs_dir"])
    folder = None if new else find_sweep_dir(runs, _folder_name(spec, shard), info["fingerprint"])
    if folder is None:
        folder = make_run_dir(runs, _folder_name(spec, shard)).resolve()
        (folder / "trials").mkdir()
        atomic_write(folder / "sweep.yaml", f"# resolved by backprop {__version__}; "
                     f"backprop sweep {spec.path}\n" + yamlio.dump(info, sort_keys=False))
    rows = read_rows(folder / "results.jsonl")
    rows = {k: v for k, v in rows.items() if k in {t.id for t in trials}}
    todo = [t for t in trials if rows.get(t.id, {}).get("status") not in FINISHED]
    result = SweepResult(folder, info, trials, rows, skipped=len(trials) - len(todo))
    if on_start:
        on_start(result, todo)
    if todo:
        result.interrupted = _run(todo, configs, folder, spec, result, workers, executor, scheduler, on_trial)
    out = write_outputs(folder, info, result.rows)
    result.points, result.best, result.best_yaml = out["points"], out["best"], out["best_yaml"]
    return result


def _run(todo, configs, folder: Path, spec: SweepSpec, result: SweepResult, workers, executor,
         scheduler, on_trial) -> bool:
    """Run ``todo``, recording each trial as it finishes; True when interrupted."""
    from .trial import run_trial
    by_id = {t.id: t for t in todo}
    tasks = []
    for t in todo:
        shutil.rmtree(folder / "trials" / t.id, ignore_errors=True)  # left by an unfinished run
        tasks.append({"id": t.id, "config": configs[t.id]})
    from ..engine.threads import available_cpus
    from .trial import threads_per_worker
    workers = min(workers or available_cpus(), len(tasks))
    if executor != "dask":  # each local worker's BLAS threads: its share of the cores
        for task in tasks:
            task["threads"] = threads_per_worker(workers)
    from ..tracking import trials_environment
    try:
        with trials_environment(folder, [configs[t.id] for t in todo]), \
                make_executor(executor, workers, scheduler) as ex:
            for task, outcome in ex.run(run_trial, tasks):
                t = by_id[task["id"]]
                with signals_held():  # a result that arrived is recorded whole: folder and row
                    row = record(folder, t, outcome, spec.metric, configs[t.id]["seed"])
                    result.rows[t.id] = row
                    result.ran += 1
                if on_trial:
                    on_trial(row, result.ran, len(todo))
    except KeyboardInterrupt:
        return True
    return False


def check_executor(kind: str, scheduler: str | None) -> None:
    """The executor can run: dask needs its extra installed, --scheduler needs dask."""
    if kind == "dask":
        from .dask_executor import _distributed
        _distributed()
    elif scheduler:
        raise ConfigError(f"--scheduler {scheduler}: needs --executor dask")


def make_executor(kind: str, workers: int, scheduler: str | None):
    check_executor(kind, scheduler)
    if kind == "dask":
        from .dask_executor import DaskExecutor
        return DaskExecutor(workers, scheduler)
    from .local import LocalExecutor
    return LocalExecutor(workers)


def record(folder: Path, trial: Trial, outcome: dict, metric: str, seed) -> dict:
    """Write a trial's run folder from the files its worker sent, then its row."""
    run_dir = folder / "trials" / trial.id
    tmp = folder / "trials" / f".{trial.id}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for rel, data in (outcome.get("files") or {}).items():
        p = (tmp / rel).resolve()
        if tmp.resolve() not in p.parents:  # a path from a worker cannot escape the folder
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    if outcome.get("summary"):
        s = dict(outcome["summary"], run_dir=str(run_dir), name=trial.id)
        (tmp / "summary.json").write_text(json.dumps(s, indent=2) + "\n")
    if outcome.get("error"):
        (tmp / "error.txt").write_text(outcome["error"] + "\n" + outcome.get("traceback", ""))
    shutil.rmtree(run_dir, ignore_errors=True)
    os.replace(tmp, run_dir)  # the trial folder appears whole
    row = make_row(trial, outcome, run_dir, metric, seed)
    append_row(folder / "results.jsonl", row)
    return row


def _folder_name(spec: SweepSpec, shard) -> str:
    return spec.name if shard is None else f"{spec.name}-shard{shard[0]}of{shard[1]}"


def _info(spec: SweepSpec, trials: list[Trial], configs: dict, shard) -> dict:
    """sweep.yaml: the resolved sweep, with a fingerprint of every trial's resolved config."""
    blob = json.dumps([[t.id, configs[t.id].data] for t in trials] + [spec.metric, spec.goal],
                      sort_keys=True, default=str)
    return {"name": spec.name, "base": str(spec.base.resolve()), "method": spec.method,
            "trials": spec.n_trials, "seed": spec.seed, "seeds": spec.seeds,
            "metric": {"name": spec.metric, "goal": spec.goal},
            "parameters": spec.raw.get("parameters") or {},
            "shard": f"{shard[0]}/{shard[1]}" if shard else None,
            "fingerprint": hashlib.sha1(blob.encode()).hexdigest()[:16],
            "trial_list": [{"index": t.index, "id": t.id, "overrides": t.overrides} for t in trials]}


def find_sweep_dir(runs: Path, name: str, fingerprint: str) -> Path | None:
    """The newest ``runs/<name>-<stamp>[-k]`` folder of the same sweep, or None."""
    pattern = re.compile(re.escape(name) + r"-(\d{8}-\d{6})(?:-(\d+))?")
    found = []
    for p in runs.glob(f"{name}-*") if runs.is_dir() else ():
        m = pattern.fullmatch(p.name)
        if not m or not (p / "sweep.yaml").is_file():
            continue
        try:
            info = yamlio.load((p / "sweep.yaml").read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(info, dict) and info.get("fingerprint") == fingerprint:
            found.append(((m.group(1), int(m.group(2) or 1)), p))
    return max(found)[1].resolve() if found else None


def _check_metric(spec: SweepSpec, config) -> None:
    """A val_ or test_ metric needs that split: read the first trial's data once to know."""
    split = spec.metric.split("_")[0]
    if split == "train":
        return
    from ..api import setup
    s = setup(config)
    if getattr(s.splits, split, None) is None:
        key = "data.val_fraction" if split == "val" else "data.test_fraction"
        raise ConfigError(f"{spec.path}: metric.name: {spec.metric} needs {'validation' if split == 'val' else 'test'} "
                          f"data, but {spec.base} has none; set {key} (e.g. in the base config) or "
                          "use train_loss")


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM (kill, a batch system's time limit) stops a sweep like Ctrl-C does."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
