"""Feature scaling fitted on the training split only, stored with the run, re-applied later.

| ``scale`` | x' | statistics |
| --- | --- | --- |
| ``none`` | x | - |
| ``standardize`` | (x - mean) / std | per-feature mean and std of the training split (std 0 -> 1) |
| ``minmax`` | (x - min) / (max - min) | per-feature min and max of the training split (range 0 -> 1) |
| ``pixels`` | x / pixel_max | none: a fixed divisor, e.g. 255 for 8-bit images |

The statistics are a dict of plain arrays (``scale``, ``shift``, ``divisor``; x' = (x - shift)
/ divisor), so a run folder stores them in ``preprocessing.npz`` and ``backprop eval`` re-applies
them to new data with :func:`apply`. Class names travel in the same file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError

SCALES = ("none", "standardize", "minmax", "pixels")


def _blocks(X: np.ndarray):
    """X in blocks of rows of about 1 MB in float64: the statistics' temporaries stay small."""
    rows = max(1, 2**20 // (8 * max(1, X.shape[1])))
    for start in range(0, len(X), rows):
        yield X[start:start + rows]


def mean(X: np.ndarray) -> np.ndarray:
    """Per-feature mean Σ x / n in float64, summed over blocks of rows."""
    total = np.zeros(X.shape[1])
    for block in _blocks(X):
        total += block.sum(axis=0, dtype=np.float64)
    return total / len(X)


def std(X: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Per-feature population standard deviation √(Σ (x - mean)² / n) in float64, the
    two-pass formula of ``np.std``, over blocks of rows: no temporary of the data's size."""
    total = np.zeros(X.shape[1])
    for block in _blocks(X):
        d = block - mean
        total += np.einsum("ij,ij->j", d, d)
    return np.sqrt(total / len(X))


def fit(X: np.ndarray, scale: str, pixel_max: float = 255.0) -> dict[str, np.ndarray]:
    """The statistics of ``scale`` on the training features X (n, d)."""
    d = X.shape[1]
    if scale == "none":
        shift, divisor = np.zeros(d), np.ones(d)
    elif scale == "pixels":
        shift, divisor = np.zeros(d), np.full(d, float(pixel_max))
    elif scale == "standardize":
        shift = mean(X)
        divisor = std(X, shift)
    elif scale == "minmax":
        shift = X.min(axis=0).astype(np.float64)
        divisor = X.max(axis=0).astype(np.float64) - shift
    else:
        raise ValueError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    divisor = np.where(divisor > 0, divisor, 1.0)  # a constant feature is only shifted
    return {"scale": np.array(scale), "shift": np.asarray(shift, np.float64),
            "divisor": np.asarray(divisor, np.float64)}


def apply(prep: dict, X: np.ndarray, dtype=None, label: str = "data", copy: bool = True) -> np.ndarray:
    """(X - shift) / divisor in ``dtype`` (default X's floating type, else float64): a new
    array, or with ``copy=False`` X itself, scaled in place, when it is writable and already
    of that dtype (the caller then gives X up; loading a data set this way holds it once)."""
    shift, divisor = prep["shift"], prep["divisor"]
    if X.ndim != 2 or X.shape[1] != len(shift):
        raise DataError(f"{label}: {X.shape[1] if X.ndim == 2 else X.shape} features, expected "
                        f"{len(shift)} (as in the training data)")
    dtype = np.dtype(dtype or (X.dtype if X.dtype.kind == "f" else np.float64))
    out = X.astype(dtype, copy=copy or not X.flags.writeable)  # at most one copy, in the run's dtype
    if str(prep["scale"]) != "none":
        out -= shift.astype(dtype)
        out *= (1.0 / divisor).astype(dtype)
    return out


def save(path: Path, prep: dict, classes: list[str] | None = None) -> None:
    arrays = dict(prep)
    if classes is not None:
        arrays["classes"] = np.array(classes, dtype=str)
    from ..rundir import atomic_write
    atomic_write(Path(path), lambda fh: np.savez(fh, **arrays))


def load(path: Path) -> tuple[dict, list[str] | None]:
    """Statistics and class names saved by :func:`save` (no pickles)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: not a readable preprocessing file ({e})") from None
    missing = [k for k in ("scale", "shift", "divisor") if k not in arrays]
    if missing:
        raise DataError(f"{path}: missing array(s) {', '.join(missing)}; expected scale, shift, divisor")
    classes = arrays.pop("classes", None)
    return arrays, None if classes is None else [str(c) for c in classes]
