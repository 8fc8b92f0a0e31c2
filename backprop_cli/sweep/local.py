"""Trials in parallel processes on this machine: a small process pool the driver owns.

Measured with a plain ``ProcessPoolExecutor``: one worker killed mid-trial broke the pool
and lost 12 of 16 trials; after SIGTERM of the driver orphaned workers kept running for
minutes; and 1 of 40 random-time Ctrl-C/SIGTERM left the driver hanging for ever at exit
(terminating a worker while it wrote its result left the executor's management thread in
``recv()`` of a half-written message, and ``concurrent.futures`` joins that thread at exit).
So the driver owns its workers and their pipes, with no thread of its own:

- each worker is a *spawned* process (no forked copies of the driver's threads and locks)
  with a pipe of its own; it sets its BLAS/OpenMP threads to its share of the cores
  (``threads_per_worker``: cores // workers, at least 1) before NumPy is imported;
- a worker lives for the whole sweep and runs one trial after another: its spawn and its
  imports (NumPy, backprop) are paid once per worker, not per trial;
- the driver sends a worker one trial at a time and waits on the pipes and on the
  processes: a worker that dies costs only its own trial, which runs again once in a fresh
  worker, and is marked crashed if that one dies too (the driver holds no copy of a
  worker's end of its pipe, so a result cut short reads as EOF, never blocks);
- workers ignore SIGINT (Ctrl-C reaches the whole process group; the driver decides), stop
  on SIGTERM with their temporary folders removed, and exit on their own when the driver
  dies, even by SIGKILL;
- workers keep their temporary files in one folder the driver made for the sweep
  (``backprop-sweep-*`` in the system's temporary folder), which the driver removes when it
  stops: a worker killed mid-trial (SIGKILL, the OOM killer) leaves nothing behind;
- stopping (Ctrl-C, SIGTERM, an error) sends SIGTERM to busy workers, waits
  ``STOP_GRACE`` seconds, then SIGKILLs what is left and reaps every process; a second
  Ctrl-C cannot cut that short. No process is left behind.

Imports nothing heavy: spawned workers import this module to run ``worker_main``.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from contextlib import contextmanager
from multiprocessing.connection import wait
from typing import Callable, Iterator

from .trial import thread_env, threads_per_worker

STOP_GRACE = 3.0  # seconds a SIGTERMed worker has to exit before SIGKILL
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_DIED = object()
numpy_preloaded = None  # in a worker: was NumPy imported before worker_init? (for tests)


@contextmanager
def signals_held():
    """Hold Ctrl-C and SIGTERM back (they stay pending) while a step must not be cut short:
    a result being recorded, workers being started or reaped. Held signals are delivered,
    and their handlers run, at the end of the block. No-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def worker_init(driver_pid: int, tmp_dir: str | None = None, threads: int = 1) -> None:
    """First thing a worker runs: BLAS threads to ``threads``, ignore Ctrl-C, stop cleanly on SIGTERM,
    watch the driver, keep temporary files in the driver's ``tmp_dir``. Signals held by the
    driver while it started the worker (the mask is inherited) are taken from here on."""
    global numpy_preloaded
    numpy_preloaded = "numpy" in sys.modules
    if tmp_dir is not None:
        tempfile.tempdir = tmp_dir
    thread_env(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_worker)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    threading.Thread(target=_watch_driver, args=(driver_pid,), daemon=True, name="watch-driver").start()


def _stop_worker(signum, frame):
    raise SystemExit(128 + signum)  # unwinds the trial: its temporary folder is removed


def _watch_driver(driver_pid: int, interval: float = 0.25) -> None:
    # A spawned worker is the driver's child: when the driver dies, it is re-parented.
    while os.getppid() == driver_pid:
        time.sleep(interval)
    os._exit(1)


def worker_main(conn, driver_pid: int, tmp_dir: str | None = None, threads: int = 1) -> None:
    """A worker's loop: receive ``(fn, task)``, send back ``fn(task)``; stop on None or
    when the driver's end of the pipe closes."""
    worker_init(driver_pid, tmp_dir, threads)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, task = msg
        try:
            result = fn(task)
        except Exception as e:  # noqa: BLE001 - the trial's bug, reported as its result
            result = crashed(f"{type(e).__name__}: {e}")
        try:
            conn.send(result)
        except OSError:  # the driver is gone
            return
        except Exception as e:  # noqa: BLE001 - e.g. a result that cannot be pickled
            try:
                conn.send(crashed(f"{type(e).__name__}: {e}"))
            except OSError:
                return


def crashed(message: str) -> dict:
    return {"status": "crashed", "error": message, "summary": None, "files": {}, "wall_time": None}


class _Worker:
    """A worker process, the driver's end of its pipe, and the trial it is running."""

    def __init__(self, ctx, tmp_dir: str, threads: int = 1):
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=worker_main, args=(child, os.getpid(), tmp_dir, threads),
                                   daemon=True, name="backprop-sweep-worker")
        self.process.start()
        child.close()  # only the worker holds its end: its death reads as EOF here
        self.task = None
        self.attempt = 0


class LocalExecutor:
    """Runs ``fn(task)`` for each task in ``workers`` spawned processes; see the module doc."""

    def __init__(self, workers: int, threads: int | None = None):
        self.workers = max(1, int(workers))
        # each worker's BLAS threads: given, else its share of the cores
        self.threads = max(1, int(threads)) if threads else threads_per_worker(self.workers)
        self._ctx = multiprocessing.get_context("spawn")
        self._all: list[_Worker] = []
        self._tmp: str | None = None  # the workers' temporary folder, made with the first

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def _start(self) -> _Worker:
        with signals_held():  # a Ctrl-C now cannot leave a started process unrecorded
            if self._tmp is None:
                self._tmp = tempfile.mkdtemp(prefix="backprop-sweep-")
            w = _Worker(self._ctx, self._tmp, self.threads)
            self._all.append(w)
        return w

    def _reap(self, w: _Worker) -> None:
        w.process.join(1)
        if w.process.is_alive():
            w.process.kill()
            w.process.join()
        w.conn.close()
        self._all.remove(w)

    def close(self) -> None:
        """Stop every worker: idle ones are told to exit, busy ones get SIGTERM, any still
        alive after ``STOP_GRACE`` seconds SIGKILL; all are reaped. Bounded in time."""
        with signals_held():
            for w in self._all:
                if w.task is None:
                    try:
                        w.conn.send(None)
                    except OSError:
                        pass
                elif w.process.is_alive():
                    w.process.terminate()
            deadline = time.monotonic() + STOP_GRACE
            for w in self._all:
                w.process.join(max(0.0, deadline - time.monotonic()))
            for w in list(self._all):
                if w.process.is_alive():
                    w.process.kill()
                w.process.join()
                w.conn.close()
            self._all.clear()
            if self._tmp is not None:  # what killed workers left of their trials
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None

    def _dispatch(self, fn, pending: deque) -> None:
        """Send pending trials to idle workers (starting workers up to ``self.workers``)."""
        while pending and sum(w.task is not None for w in self._all) < self.workers:
            task, attempt = pending.popleft()
            idle = next((w for w in self._all if w.task is None), None)
            w = idle or self._start()
            w.task, w.attempt = task, attempt
            try:
                w.conn.send((fn, task))
            except OSError:  # the worker is dead: an idle one costs no attempt
                if idle is not None:
                    self._reap(w)
                    pending.appendleft((task, attempt))

    def run(self, fn: Callable[[dict], dict], tasks: list[dict]) -> Iterator[tuple[dict, dict]]:
        """Yield (task, result) as trials finish; a trial whose worker died twice yields a
        ``crashed`` result. ``fn`` must be importable by name (a module-level function)."""
        pending = deque((task, 1) for task in tasks)
        while pending or any(w.task is not None for w in self._all):
            self._dispatch(fn, pending)
            busy = [w for w in self._all if w.task is not None]
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            finished = []
            for w in busy:
                if w.conn not in ready and w.process.sentinel not in ready:
                    continue
                task, attempt = w.task, w.attempt
                try:
                    result = w.conn.recv() if w.conn.poll() else _DIED
                except (EOFError, OSError):  # died while sending: the message is cut short
                    result = _DIED
                except Exception as e:  # noqa: BLE001 - a result that cannot be unpickled
                    result = crashed(f"{type(e).__name__}: {e}")
                if result is _DIED:  # its trial runs once more, in a new worker
                    self._reap(w)
                    if attempt == 1:
                        pending.appendleft((task, 2))
                        continue
                    code = w.process.exitcode
                    how = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0
                           else f"exit code {code}")
                    result = crashed(f"the worker process died in both attempts ({how}; out of "
                                     "memory?)")
                else:
                    w.task = None
                finished.append((task, result))
            # the next trials go out before the driver records these: workers do not wait
            self._dispatch(fn, pending)
            yield from finished
            if not pending:  # nothing left to start: let idle workers go
                for w in [w for w in self._all if w.task is None]:
                    try:
                        w.conn.send(None)
                    except OSError:
                        pass
                    self._reap(w)
