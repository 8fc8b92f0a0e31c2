"""Checkpoints: .npz files of plain arrays, written atomically, loaded without pickle.

Layout: ``param/<name>`` for each weight (``param/0.W``), ``optim/<key>`` for the optimizer
state, ``prep/<key>`` for preprocessing statistics, ``meta/epoch``, ``meta/config`` (the
resolved config as a JSON string), ``meta/state`` (JSON: random-stream states, schedule and
callback states, the epoch's history length), ``meta/format`` and ``meta/sha256``, a SHA-256
over every other array (name, dtype, shape and bytes), checked on every load: a corrupted or
tampered file is refused whole, never half-loaded.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from tokenize import TokenError

import numpy as np

from .errors import CheckpointError
from .rundir import atomic_write

FORMAT = 1


def array_bytes(a: np.ndarray):
    """The bytes of a C-contiguous array for hashing: numbers in place (no copy of a large
    data set), text and empty arrays through a small copy."""
    return memoryview(a).cast("B") if a.size and a.dtype.kind in "biufc" else a.tobytes()


def digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the arrays' names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        if k == "meta/sha256":
            continue
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(array_bytes(a))
    return h.hexdigest()


def save(path: Path, weights: dict[str, np.ndarray], *, epoch: int, config: dict | None = None,
         extra: dict[str, np.ndarray] | None = None, state: dict | None = None) -> None:
    """Write a checkpoint atomically (temp file, fsync, rename)."""
    arrays = {f"param/{k}": np.asarray(v) for k, v in weights.items()}
    arrays["meta/format"] = np.array(FORMAT)
    arrays["meta/epoch"] = np.array(epoch)
    if config is not None:
        arrays["meta/config"] = np.array(json.dumps(config))
    if state is not None:
        arrays["meta/state"] = np.array(json.dumps(state))
    for k, v in (extra or {}).items():
        arrays[k] = np.asarray(v)
    arrays["meta/sha256"] = np.array(digest(arrays))
    atomic_write(Path(path), lambda fh: np.savez(fh, **arrays))


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file, with pickles refused; a checkpoint's SHA-256 is verified."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            raise CheckpointError(f"{path}: not a readable .npz file (no zip header); expected a "
                                  "checkpoint or an .npz of named arrays")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise CheckpointError(f"{path}: holds Python objects (pickles), which backprop never "
                                  "loads; expected plain arrays") from None
        raise CheckpointError(f"{path}: not a readable .npz file ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError, zlib_error(), TokenError) as e:
        # TokenError: NumPy reads an .npy header with tokenize, which raises it on an unclosed one
        raise CheckpointError(f"{path}: not a readable .npz file ({e})") from None
    if "meta/sha256" in arrays and str(arrays["meta/sha256"]) != digest(arrays):
        raise CheckpointError(f"{path}: checksum mismatch: the checkpoint is corrupted or was "
                              "modified; refusing to load it")
    return arrays


def zlib_error():
    import zlib
    return zlib.error


def read_meta(arrays: dict[str, np.ndarray], key: str, default=None):
    """A JSON meta entry (config, state) of a loaded checkpoint."""
    a = arrays.get(f"meta/{key}")
    return default if a is None else json.loads(str(a))


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """Weights by name: from a checkpoint (``param/<name>``) or a plain .npz of ``<name>``."""
    arrays = load_arrays(path)
    if any(k.startswith("param/") for k in arrays):
        return {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    return arrays
