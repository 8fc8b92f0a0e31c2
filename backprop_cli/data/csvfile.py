"""CSV reading with errors that name the file, row and column."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import DataError


def resolve_path(base_dir, path: str, key: str) -> Path:
    p = Path(path)
    if not p.is_absolute():
        p = Path(base_dir) / p
    if not p.is_file():
        raise DataError(f"{p}: data.{key}: file not found")
    return p


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def read_table(path: Path, delimiter: str, header: str):
    """Rows of floats and the column names (None without a header)."""
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh, delimiter=delimiter) if r and any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{path}: the file has no rows")
    names = None
    if header == "yes" or (header == "auto" and not all(_is_number(c) for c in rows[0])):
        names, rows = [c.strip() for c in rows[0]], rows[1:]
    if not rows:
        raise DataError(f"{path}: the file has a header but no data rows")
    width = len(names) if names else len(rows[0])
    first_line = 2 if names else 1
    for i, r in enumerate(rows):
        if len(r) != width:
            raise DataError(f"{path}:{i + first_line}: row has {len(r)} fields, expected {width} "
                            "(ragged rows)")
    try:
        data = np.array(rows, dtype=float)
    except ValueError:
        for i, r in enumerate(rows):
            for j, c in enumerate(r):
                if not _is_number(c):
                    col = names[j] if names else j
                    raise DataError(f"{path}:{i + first_line}: column {col!r}: not a number: {c!r} "
                                    "(only numeric columns are supported)") from None
        raise
    bad = ~np.isfinite(data)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        col = names[j] if names else j
        raise DataError(f"{path}: {int(bad.sum())} NaN or inf value(s), the first at line "
                        f"{i + first_line}, column {col!r}")
    return data, names


def column_index(path, target, names, width) -> int:
    if isinstance(target, str) and not target.lstrip("-").isdigit():
        if names is None:
            raise DataError(f"{path}: data.target: {target!r} names a column but the file has no "
                            "header; give a column index")
        if target not in names:
            from ..registry import did_you_mean
            raise DataError(f"{path}: data.target: no column {target!r}{did_you_mean(target, names)} "
                            f"(columns: {', '.join(names)})")
        return names.index(target)
    j = int(target)
    if not -width <= j < width:
        raise DataError(f"{path}: data.target: column index {j} out of range for {width} columns")
    return j % width


def read_csv(base_dir, opts) -> dict:
    path = resolve_path(base_dir, opts["path"], "path")
    data, names = read_table(path, opts.get("delimiter", ","), opts.get("header", "auto"))
    j = column_index(path, opts.get("target", -1), names, data.shape[1])
    X = np.delete(data, j, axis=1)
    return {"X": X, "y": data[:, j], "path": str(path),
            "feature_names": [n for k, n in enumerate(names) if k != j] if names else None}
