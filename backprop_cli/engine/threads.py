"""One small persistent pool of threads for the layers' chunks of examples (engine/conv.py,
engine/pooling.py) and the optimizers' blocks of a large flat update (training/optimizers.py):
NumPy releases the GIL in its copies, ufuncs and products, so chunks that
write disjoint parts of their outputs run side by side on several cores.

The number of threads is the BLAS library's own (what OPENBLAS_NUM_THREADS, or
threadpoolctl's limits at run time, set), read from the loaded OpenBLAS on each call; where
no OpenBLAS can be asked, OPENBLAS_NUM_THREADS / OMP_NUM_THREADS, else the CPUs this process
may run on. One thread means no pool at all: the chunks run in order on the caller's thread.

Callers give the pool work without BLAS products: measured on a quiet machine, 2 threads,
forward + backward (benchmarks/conv_layers.py shapes, best of 5 interleaved), the max pools'
chunks gain (W7 pool1 10.3 → 6.1 ms, pool2 4.0 → 2.2 ms), while the conv layers' chunks (copy +
product, product + col2im) lost against one chunk at a time with OpenBLAS threading each
product: W7 conv2 32.7 ms serial, 35.0 ms on the pool, 37.2 ms on the pool with OpenBLAS set
to one thread per chunk thread (W7 conv1 7.2 / 7.6 / 9.3 ms, W6 conv2 2.6 / 2.7 / 3.0 ms).
(Under a load of ~4 the pool with one-thread OpenBLAS had won, 77 vs 143 ms on W7 conv2:
OpenBLAS's threads suffer most from a busy machine.)

Results never depend on the number of threads: a chunk's work is the same whoever runs it,
chunks write disjoint outputs, and callers make chunks from sizes, never from the thread count.
"""
from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_NAMES = ("openblas_get_num_threads", "openblas_get_num_threads64_",
          "scipy_openblas_get_num_threads", "scipy_openblas_get_num_threads64_")
_SET_NAMES = tuple(n.replace("_get_", "_set_") for n in _NAMES)
_get_num_threads = None
_set_num_threads = None
_looked = False
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()


def _find_openblas(names=_NAMES, restype=ctypes.c_int):
    """OpenBLAS's get_num_threads (or the function ``names`` name) from the shared objects
    this process has loaded, or None."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in names:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = restype
                return fn
    return None


def _blas_threads() -> int | None:
    """OpenBLAS's thread count, or None where no OpenBLAS can be asked."""
    _look()
    return None if _get_num_threads is None else max(1, int(_get_num_threads()))


def _look() -> None:
    global _get_num_threads, _set_num_threads, _looked
    if not _looked:
        import numpy  # noqa: F401  (its BLAS must be loaded to be found)
        _get_num_threads = _find_openblas()
        _set_num_threads = _find_openblas(_SET_NAMES, None)
        _looked = True


def available_cpus() -> int:
    """The CPUs this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def set_threads(n: int) -> int:
    """Make the BLAS library, and so this module's pool, use ``n`` threads (training.threads);
    returns the count before, to put back. Where no OpenBLAS can be told (another BLAS), the
    count stays what the environment made it, and that count is returned for both."""
    _look()
    before = num_threads()
    if _set_num_threads is not None and n != before:
        _set_num_threads(int(n))
    return before


def num_threads() -> int:
    """The number of threads the chunks may use: the BLAS library's (see the module doc)."""
    blas = _blas_threads()
    if blas is not None:
        return blas
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var, "").strip().isdigit():
            return max(1, int(os.environ[var]))
    return available_cpus()


def run(task, count: int, threads: int | None = None) -> None:
    """Call ``task(i, worker)`` for i in range(count), each once: ``worker`` (0 for the
    caller's thread, 1.. for the pool's) names per-thread scratch. With one thread (or one
    task) in order on the caller's thread; else the caller and threads - 1 pool threads
    take the next i in turn until none is left. The first exception is raised here."""
    threads = num_threads() if threads is None else threads
    if threads <= 1 or count <= 1:
        for i in range(count):
            task(i, 0)
        return
    workers = min(threads, count)
    pending = iter(range(count))  # shared: next() on a range iterator is atomic under the GIL

    def drain(worker: int):
        for i in pending:
            task(i, worker)

    futures = [_executor(workers - 1).submit(drain, w) for w in range(1, workers)]
    try:
        drain(0)
    finally:
        for f in futures:
            f.result()


def _executor(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < size:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool, _pool_size = ThreadPoolExecutor(size, thread_name_prefix="backprop-chunks"), size
        return _pool
