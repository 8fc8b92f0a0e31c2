"""Trials on a Dask cluster (``dask.distributed``, the ``dask`` extra).

With a scheduler address, trials go to that existing cluster; without one, a LocalCluster is
started on this machine. Measured pitfalls this module avoids:

- Dask's worker launcher sets ``MALLOC_TRIM_THRESHOLD_=65536``, which made NumPy trials ~3x
  slower: it is unset (``distributed.nanny.pre-spawn-environ``) for clusters backprop starts,
  and the trial itself undoes it on clusters backprop did not start (see trial.py).
- The scheduler deserialises the task, so it must import the trial function's module: the
  trial is ``backprop_cli.sweep.trial.run_trial``, never a closure or a function of
  ``__main__``; on a remote cluster backprop must be installed on the scheduler and workers.
- A local cluster listens on 127.0.0.1 only, dashboard included (``127.0.0.1:0``: a free
  port on loopback; turning the dashboard off still opened a port on all interfaces).
"""
from __future__ import annotations

import logging
from typing import Callable, Iterator

from ..errors import UsageError
from .local import crashed


def _distributed():
    try:
        import dask
        import distributed
    except ImportError:
        raise UsageError("--executor dask needs dask.distributed, which is not installed; "
                         "install it with: pip install 'backprop-cli[dask]'") from None
    return dask, distributed


class DaskExecutor:
    """Runs ``fn(task)`` for each task on a Dask cluster; a task whose worker died is retried
    once (on a cluster backprop starts), then recorded as crashed."""

    def __init__(self, workers: int, scheduler: str | None = None, timeout: float = 30):
        dask, distributed = _distributed()
        self.cluster = None
        self.futures: list = []
        if scheduler:
            try:
                self.client = distributed.Client(scheduler, timeout=timeout)
            except (OSError, TimeoutError, ValueError) as e:
                raise UsageError(f"--scheduler {scheduler}: cannot connect to the Dask scheduler: "
                                 f"{e}; expected the address of a running one, e.g. tcp://HOST:8786") from None
            return
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                              "distributed.scheduler.allowed-failures": 1}):
            self.cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
            self.client = distributed.Client(self.cluster)

    @property
    def address(self) -> str:
        return self.client.scheduler.address

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def close(self) -> None:
        """Cancel what is still queued or running, then close the client and any local cluster."""
        try:
            if self.futures:
                self.client.cancel(self.futures)
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
                self.cluster = None

    def run(self, fn: Callable[[dict], dict], tasks: list[dict]) -> Iterator[tuple[dict, dict]]:
        """Yield (task, result) as trials finish, in completion order."""
        from distributed import as_completed
        from distributed.scheduler import KilledWorker
        import uuid
        by_key, run = {}, uuid.uuid4().hex[:8]  # unique keys: other sweeps may share the cluster
        for task in tasks:
            f = self.client.submit(fn, task, key=f"backprop-trial-{task['id']}-{run}", pure=False)
            by_key[f.key] = task
            self.futures.append(f)
        for f in as_completed(list(self.futures)):
            task = by_key[f.key]
            try:
                result = f.result()
            except KilledWorker:
                result = crashed("the Dask worker running it died (killed, or out of memory?), "
                                 "also when retried")
            except Exception as e:  # noqa: BLE001 - infrastructure errors; trial errors are results
                result = crashed(f"{type(e).__name__}: {e}")
            f.release()
            yield task, result
