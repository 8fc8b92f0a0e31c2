"""One trial, run in a worker process (of this machine's pool or of a Dask cluster).

The worker trains into a temporary folder and sends the run folder's files back with the
result, so the driver writes every file of a sweep and workers need no shared filesystem,
only the data files at the same paths. This module must not import NumPy at import time:
spawned workers import it before they set their BLAS threads (their share of the cores).
"""
from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path

from ..engine.threads import available_cpus

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters

_prepared = False


def thread_env(n: int) -> None:
    """BLAS and OpenMP use ``n`` threads (a worker's share of the cores), so N parallel trials
    do not fight over the cores. Takes effect for libraries loaded after this call (so call it
    before importing NumPy)."""
    for var in THREAD_VARS:
        os.environ[var] = str(int(n))


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """A worker's BLAS threads when ``workers`` trials run side by side: its share of the
    cores, at least 1 (so workers x threads never exceeds the cores when workers <= cores)."""
    return max(1, (available_cpus() if cores is None else cores) // max(1, int(workers)))


def undo_malloc_trim_threshold() -> bool:
    """Dask's worker launcher sets MALLOC_TRIM_THRESHOLD_=65536. glibc reads it at start-up and
    then stops raising its mmap threshold, so every array over 128 KiB is a fresh mmap: NumPy
    trials ran ~3x slower (measured). Unsetting the variable is too late inside the process, so
    restore large thresholds with mallopt instead. True when it was needed and done."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, 32 * 2**20) == 1 and libc.mallopt(M_TRIM_THRESHOLD, 64 * 2**20) == 1
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to undo
        return False
    del os.environ["MALLOC_TRIM_THRESHOLD_"]
    return ok


def prepare_process() -> None:
    global _prepared
    if not _prepared:
        undo_malloc_trim_threshold()
        _prepared = True


class _NoLimits:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def thread_limits(n: int = 1):
    """threadpoolctl's limit of ``n`` threads when it is installed (for workers whose NumPy was
    imported before thread_env could act, as on a Dask cluster backprop did not start). A
    trial whose config sets training.threads still gets its own count: api._fit sets it
    inside this limit and puts it back after."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return _NoLimits()
    return threadpool_limits(limits=int(n))


def run_trial(task: dict) -> dict:
    """Train one trial: ``task`` has ``id``, ``config`` (a validated Config) and optionally
    ``threads`` (the worker's BLAS threads unless the config's training.threads says
    otherwise; 1 when absent). Returns the status (ok, diverged, failed), the summary, the
    error and the run folder's files."""
    prepare_process()
    t0 = time.perf_counter()
    out = {"id": task["id"], "status": "failed", "summary": None, "error": None, "files": {},
           "host": socket.gethostname(), "pid": os.getpid()}
    with tempfile.TemporaryDirectory(prefix="backprop-trial-") as tmp, thread_limits(task.get("threads", 1)):
        try:
            from ..api import train
            result = train(task["config"], runs_dir=tmp, name=task["id"])
            out["summary"] = result.summary
            out["status"] = "diverged" if result.diverged else "ok"
        except Exception as e:  # noqa: BLE001 - a failed trial is a result, not the sweep's end
            from ..errors import BackpropError
            out["error"] = f"{type(e).__name__}: {e}".replace("\n", "; ")
            if not isinstance(e, BackpropError):
                out["traceback"] = traceback.format_exc()
        out["files"] = read_tree(Path(tmp))
    out["wall_time"] = time.perf_counter() - t0
    return out


def read_tree(tmp: Path) -> dict[str, bytes]:
    """The files of the one run folder under ``tmp``, by path relative to it."""
    runs = [p for p in tmp.iterdir() if p.is_dir()]
    if not runs:
        return {}
    root = runs[0]
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
