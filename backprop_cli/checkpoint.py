"""Checkpoints: .npz files of plain arrays, written atomically, loaded without pickle.

Layout: ``param/<name>`` for each weight (``param/0.W``), ``meta/epoch``, ``meta/config``
(the resolved config as a JSON string) and ``meta/format``.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from .errors import CheckpointError
from .rundir import atomic_write

FORMAT = 1


def save(path: Path, weights: dict[str, np.ndarray], *, epoch: int, config: dict | None = None,
         extra: dict[str, np.ndarray] | None = None) -> None:
    arrays = {f"param/{k}": v for k, v in weights.items()}
    arrays["meta/format"] = np.array(FORMAT)
    arrays["meta/epoch"] = np.array(epoch)
    if config is not None:
        arrays["meta/config"] = np.array(json.dumps(config))
    for k, v in (extra or {}).items():
        arrays[k] = np.asarray(v)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(Path(path), buf.getvalue())


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file, with pickles refused."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise CheckpointError(f"{path}: not a readable .npz file ({e})") from None


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """Weights by name: from a checkpoint (``param/<name>``) or a plain .npz of ``<name>``."""
    arrays = load_arrays(path)
    if any(k.startswith("param/") for k in arrays):
        return {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    return arrays
