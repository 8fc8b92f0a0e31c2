"""Hyperparameter sweeps: a sweep file -> trials -> runs in parallel -> one results table.

``run_sweep("sweep.yaml")`` does what ``backprop sweep sweep.yaml`` does; ``collect(dir)``
what ``backprop sweep collect DIR`` does. Nothing heavy is imported here: spawned worker
processes import this package before they set their BLAS threads (their share of the cores).

| module | concept |
| --- | --- |
| spec.py | the sweep file, its validation, and the trials it declares |
| trial.py | one trial, run in a worker process: train, send the run folder back |
| local.py | the hardened process pool of this machine |
| dask_executor.py | trials on a Dask cluster (an existing one, or a local one) |
| results.py | rows, results.csv / results.jsonl, mean ± std over seeds, best.yaml, collect |
| runner.py | the driver: sweep folder, resume, shards, Ctrl-C |
"""
from __future__ import annotations


def __getattr__(name):
    if name in ("run_sweep", "SweepResult"):
        from . import runner
        return getattr(runner, name)
    if name == "collect":
        from .results import collect
        return collect
    if name in ("load_sweep", "SweepSpec", "Trial"):
        from . import spec
        return getattr(spec, name)
    raise AttributeError(name)


__all__ = ["run_sweep", "collect", "load_sweep", "SweepSpec", "SweepResult", "Trial"]
