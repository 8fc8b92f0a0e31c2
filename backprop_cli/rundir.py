"""Run folders: unique names, atomic writes, metrics.jsonl and summary.json."""
from __future__ import annotations

import json
import math
import os
import re
import secrets
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(name: str, where: str = "name") -> str:
    """A run name is one path component of letters, digits, '.', '_' and '-', without '..':
    it cannot escape the runs folder."""
    if not NAME_RE.match(name) or ".." in name:
        raise ConfigError(f"{where}: invalid run name {name!r}: use letters, digits, '.', '_' and "
                          "'-' (starting with a letter or digit, no '..'), at most 100 characters")
    return name


def safe_name(stem: str) -> str:
    """A run name made from a file name: unsafe characters become '-'."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-_") or "run"
    return name[:100]


def make_run_dir(runs_dir: Path, name: str) -> Path:
    """runs_dir/<name>-<YYYYmmdd-HHMMSS>, with -2, -3, ... when taken. mkdir is atomic, so
    runs started at the same second, even in several processes, never share a folder."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"{name}-{stamp}"
    for k in range(1, 10_000):
        path = runs_dir / (base if k == 1 else f"{base}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise ConfigError(f"{runs_dir}: cannot find a free run folder name for {base}")


@contextmanager
def signals_held():
    """SIGINT and SIGTERM wait until the block is done, then take effect, in order, through
    the handlers they had: a file being written (or files that must agree, such as a run's
    two checkpoints) is never cut short by Ctrl-C. Blocking them with the thread's signal
    mask would not do: NumPy's BLAS threads would take them. Only the main thread handles
    signals; elsewhere nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if handler is not None:  # None: set outside Python, cannot be put back
            previous[sig] = signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in caught:
            handler = previous[sig]
            if callable(handler):
                handler(sig, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(sig)


def atomic_write(path: Path, data, fsync: bool = True) -> None:
    """Write to a temporary file in the same folder, then rename over ``path``: readers (and
    a run killed mid-write) see the old file or the new one, never half of one. Ctrl-C during
    the write takes effect once the file is in place (:func:`signals_held`).

    ``data``: bytes, text, or a function that writes into the binary file object it is given
    (so a large file is streamed, not built in memory first).
    """
    with signals_held():
        _atomic_write(Path(path), data, fsync)


def _atomic_write(path: Path, data, fsync: bool) -> None:
    mode = "w" if isinstance(data, str) else "wb"
    fd, tmp = _temp_file(path)
    try:
        with os.fdopen(fd, mode) as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _temp_file(path: Path) -> tuple[int, Path]:
    """A new file beside ``path`` (fd, name), created with mode 0666 less the umask, as
    open() creates files: ``tempfile.mkstemp`` would make it 0600 and the rename keeps that."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: no free temporary file name for {path.name}")


def write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=2, default=_jsonable) + "\n")


def _jsonable(x):
    import numpy as np
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


def json_number(x):
    """JSON has no NaN or inf: write them as null (Python floats and NumPy scalars alike)."""
    try:
        if not math.isfinite(x):
            return None
    except TypeError:  # not a real number: strings, None, lists, ...
        pass
    return x


_KEYS: dict[str, str] = {}


def json_line(record: dict) -> str:
    """``json.dumps(record)`` plus a newline, with NaN and inf as null; plain floats and
    ints are formatted directly (the same text, at half the cost: it runs every epoch)."""
    parts = []
    for k, v in record.items():
        key = _KEYS.get(k)
        if key is None:
            key = _KEYS[k] = json.dumps(k) + ": "
        t = type(v)
        if t is float:
            parts.append(key + (float.__repr__(v) if math.isfinite(v) else "null"))
        elif t is int:
            parts.append(key + int.__repr__(v))
        else:
            parts.append(key + json.dumps(json_number(v), default=_jsonable))
    return "{" + ", ".join(parts) + "}\n"


class MetricsWriter:
    """Appends one JSON object per epoch to metrics.jsonl, flushed at least every
    ``flush_seconds`` (so a reader sees it live) and whenever :meth:`flush` is called (before
    each checkpoint, so a checkpoint never covers epochs the file lacks)."""

    def __init__(self, path: Path, append: bool = False, flush_seconds: float = 0.25):
        self.path = path
        self.fh = open(path, "a" if append else "w", encoding="utf-8")
        self.flush_seconds = flush_seconds
        self._flushed = time.monotonic()

    def write(self, record: dict) -> None:
        self.fh.write(json_line(record))
        now = time.monotonic()
        if now - self._flushed >= self.flush_seconds:
            self.fh.flush()
            self._flushed = now

    def flush(self) -> None:
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def keep_metrics(path: Path, epoch: int) -> list[dict]:
    """Cut metrics.jsonl back to the epochs a checkpoint of ``epoch`` covers (a line cut
    short by a kill is dropped too) and return those records: what --resume starts from."""
    lines = Path(path).read_text().splitlines(keepends=True) if Path(path).is_file() else []
    kept, records = [], []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("epoch", 0) <= epoch:
            kept.append(line if line.endswith("\n") else line + "\n")
            records.append(record)
    atomic_write(path, "".join(kept))
    return records
