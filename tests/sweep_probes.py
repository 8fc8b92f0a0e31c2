"""Module-level task functions for executor tests: spawned workers import them by name."""
import os
import sys
import time
from pathlib import Path


def probe_env(task):
    from backprop_cli.sweep import local
    return {"status": "ok", "omp": os.environ.get("OMP_NUM_THREADS"),
            "openblas": os.environ.get("OPENBLAS_NUM_THREADS"),
            "numpy_preloaded": local.numpy_preloaded, "pid": os.getpid(), "ppid": os.getppid()}


def crash_on(task):
    """Dies (like a worker killed by the OOM killer) on the task marked ``crash``; with
    ``once``, only the first time (a marker file remembers)."""
    time.sleep(task.get("sleep", 0.2))
    if task.get("crash"):
        marker = Path(task["marker"]) if task.get("once") else None
        if marker is None or not marker.exists():
            if marker is not None:
                marker.write_text("crashed once")
            os._exit(9)
    return {"status": "ok", "id": task["id"], "pid": os.getpid()}


def killed_in_a_temporary_folder(task):
    """A trial's temporary folder, then death by SIGKILL on the first attempt (a marker file
    remembers); the second attempt reports where its temporary files go."""
    import signal
    import tempfile
    marker = Path(task["marker"])
    with tempfile.TemporaryDirectory(prefix="backprop-trial-") as tmp:
        (Path(tmp) / "checkpoint.npz").write_bytes(b"x" * 1000)
        if not marker.exists():
            marker.write_text(tmp)
            os.kill(os.getpid(), signal.SIGKILL)
    return {"status": "ok", "tempdir": tempfile.gettempdir()}


def half_write(task):
    """Leaves a result half-written in the pipe to the driver, as a worker killed while it
    sends its result does, then waits: writes the header of a 1 MB message and 10 bytes of
    it to the worker's result pipe (the duplex pipe of local.py's workers; a
    ProcessPoolExecutor's result queue in older versions), then the marker file."""
    import gc
    import multiprocessing.connection
    import multiprocessing.queues
    import struct
    objs = gc.get_objects()
    pipes = [o._writer for o in objs if isinstance(o, multiprocessing.queues.SimpleQueue)] or [
        o for o in objs if isinstance(o, multiprocessing.connection.Connection) and o.readable
        and o.writable and not o.closed]
    os.write(pipes[0].fileno(), struct.pack("!i", 1_000_000) + b"x" * 10)
    Path(task["marker"]).write_text("half written")
    time.sleep(60)
    return {"status": "ok"}


def sleep_long(task):
    time.sleep(60)
    return {"status": "ok"}


if __name__ == "__main__":  # pragma: no cover
    sys.exit("not a script")
