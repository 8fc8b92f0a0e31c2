"""NumPy .npz archives: features and targets by array name, read without pickles."""
from __future__ import annotations

import zipfile
from pathlib import Path
from tokenize import TokenError

import numpy as np

from ..errors import DataError
from ..registry import did_you_mean
from .idx import array_shape


def read_npz(path: Path, x_key: str, y_key: str | None) -> dict:
    """X flattened to (n, d) and y from the arrays named ``x_key`` and ``y_key`` (no y
    when ``y_key`` is None: features to predict for). Images X (n, H, W) or (n, C, H, W)
    are flattened row-major and keep their ``shape`` (C, H, W); other X have shape None."""
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            raise DataError(f"{path}: not an .npz file; expected a zip archive of .npy arrays "
                            "(np.savez writes one)")
    try:
        with np.load(path, allow_pickle=False) as z:
            files = list(z.files)
            for key, option in ((x_key, "x_key"), (y_key, "y_key")):
                if key is not None and key not in files:
                    raise DataError(f"{path}: data.{option}: no array {key!r}{did_you_mean(key, files)} "
                                    f"(arrays: {', '.join(files) or 'none'})")
            X = z[x_key]
            y = z[y_key] if y_key is not None else None
    except DataError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise DataError(f"{path}: holds Python objects, which are never unpickled; expected "
                            "numeric arrays") from None
        raise DataError(f"{path}: not a readable .npz file ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError, TokenError) as e:  # TokenError: an unclosed .npy header
        raise DataError(f"{path}: not a readable .npz file ({e})") from None
    return arrays_part(X, y, str(path), x_key, y_key)


def arrays_part(X, y, label: str, x_key: str = "X", y_key: str | None = "y") -> dict:
    """The part a source returns for features ``X`` (n, d), or images (n, H, W) or (n, C, H, W)
    kept as rows with their ``shape`` (C, H, W), and targets ``y`` (n,) or (n, k), checked."""
    X = np.asarray(X)
    y = None if y is None else np.asarray(y)
    for a, key in ((X, x_key), (y, y_key)):
        if a is not None and a.ndim == 0:
            raise DataError(f"{label}: array {key!r} is a single value (0 dimensions); expected one "
                            "entry per example")
    if X.ndim < 2:
        X = X.reshape(-1, 1) if X.ndim == 1 else X
    shape = array_shape(X.shape[1:])
    X = X.reshape(len(X), int(np.prod(X.shape[1:])))   # not -1: an empty array has no size to infer
    if X.dtype.kind not in "biuf":
        raise DataError(f"{label}: array {x_key!r} has type {X.dtype}, expected numbers")
    if y is None:
        return {"X": X, "path": label, "shape": shape}
    if y.dtype.kind == "O":  # class names from a list or a pandas Series
        y = y.astype(str)
    if y.dtype.kind not in "biufU":
        raise DataError(f"{label}: array {y_key!r} has type {y.dtype}, expected numbers or class names")
    if len(y) != len(X):
        raise DataError(f"{label}: {len(y)} targets in {y_key!r} for {len(X)} examples in {x_key!r}; "
                        "expected one target per example")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    return {"X": X, "y": y, "path": label, "shape": shape}
