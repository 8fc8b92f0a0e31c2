"""Trials in parallel processes on this machine: a ProcessPoolExecutor, hardened.

Measured with a plain pool: one worker killed mid-trial broke the pool and lost 12 of 16
trials, and after SIGTERM of the driver orphaned workers kept running for minutes. So:

- workers are *spawned* (no forked copies of the driver's threads and locks) and set their
  BLAS/OpenMP threads to 1 before NumPy is imported;
- at most ``workers`` trials are in flight, the rest wait in the driver, so a broken pool
  loses nothing that has not started;
- after a broken pool, each trial that was in flight is rerun alone in a fresh one-worker
  pool: the others finish, and only the culprit, dying a second time, is marked crashed;
- workers ignore SIGINT (Ctrl-C reaches the whole process group; the driver decides) and exit
  on their own when the driver dies, even by SIGKILL;
- closing the executor after an interrupt terminates the workers: no process is left behind.

Imports nothing heavy: spawned workers import this module to run ``worker_init``.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterator

from .trial import single_thread_env

numpy_preloaded = None  # in a worker: was NumPy imported before worker_init? (for tests)


def worker_init(driver_pid: int) -> None:
    """First thing a worker runs: threads to 1, ignore Ctrl-C, watch the driver."""
    global numpy_preloaded
    numpy_preloaded = "numpy" in sys.modules
    single_thread_env()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_driver, args=(driver_pid,), daemon=True, name="watch-driver").start()


def _watch_driver(driver_pid: int, interval: float = 0.25) -> None:
    # A spawned worker is the driver's child: when the driver dies, it is re-parented.
    while os.getppid() == driver_pid:
        time.sleep(interval)
    os._exit(1)


def crashed(message: str) -> dict:
    return {"status": "crashed", "error": message, "summary": None, "files": {}, "wall_time": None}


class LocalExecutor:
    """Runs ``fn(task)`` for each task in ``workers`` spawned processes; see the module doc."""

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self._pools: list[ProcessPoolExecutor] = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(terminate=exc_type is not None)
        return False

    def _pool(self, n: int) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=worker_init, initargs=(os.getpid(),))
        self._pools.append(pool)
        return pool

    def _discard(self, pool: ProcessPoolExecutor, terminate: bool = False) -> None:
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        if terminate:
            for p in procs:
                if p.is_alive():
                    p.terminate()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        if pool in self._pools:
            self._pools.remove(pool)

    def close(self, terminate: bool = False) -> None:
        """Shut every pool down; ``terminate`` kills trials still running (after Ctrl-C)."""
        for pool in list(self._pools):
            self._discard(pool, terminate=terminate)

    def run(self, fn: Callable[[dict], dict], tasks: list[dict]) -> Iterator[tuple[dict, dict]]:
        """Yield (task, result) as trials finish; a trial whose worker died twice yields a
        ``crashed`` result. ``fn`` must be importable by name (a module-level function)."""
        pending = deque(tasks)
        while pending:
            pool = self._pool(self.workers)
            inflight: dict = {}
            lost: list[dict] = []
            while (pending or inflight) and not lost:
                while pending and len(inflight) < self.workers:
                    task = pending.popleft()
                    inflight[pool.submit(fn, task)] = task
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in done:
                    task = inflight.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        lost.append(task)
                        continue
                    except Exception as e:  # noqa: BLE001 - e.g. a result that cannot be pickled
                        result = crashed(f"{type(e).__name__}: {e}")
                    yield task, result
            if lost:  # every trial in flight died with the pool: find the culprit
                lost += inflight.values()
                self._discard(pool, terminate=True)
                for task in lost:
                    yield task, self._alone(fn, task)
            else:
                self._discard(pool)

    def _alone(self, fn, task: dict) -> dict:
        pool = self._pool(1)
        try:
            return pool.submit(fn, task).result()
        except BrokenProcessPool:
            return crashed("the worker process died in both attempts (killed by a signal, or "
                           "out of memory?)")
        except Exception as e:  # noqa: BLE001
            return crashed(f"{type(e).__name__}: {e}")
        finally:
            self._discard(pool, terminate=True)
