"""CSV reading (plain or gzipped) with errors that name the file, line and column.

Features must be numbers; the target column may hold numbers or class names (``setosa``),
which become the classes, in sorted order. Line numbers in errors count every line of the
file from 1, header and blank lines included, as an editor shows them.
"""
from __future__ import annotations

import csv
import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..registry import did_you_mean


def resolve_path(base_dir, path: str, key: str) -> Path:
    """``path`` relative to the config file's folder; it must be an existing file."""
    p = Path(path)
    if not p.is_absolute():
        p = Path(os.path.normpath(Path(base_dir) / p))
    if not p.is_file():
        found = "a folder" if p.is_dir() else "nothing"
        raise DataError(f"{p}: data.{key}: file not found ({found} there)")
    return p


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def read_rows(path: Path, delimiter: str, header: str):
    """(line numbers, rows of strings, column names or None); rows all have the same width."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            lines, rows = [], []
            for r in reader:
                if r and any(c.strip() for c in r):
                    lines.append(reader.line_num)
                    rows.append([c.strip() for c in r])
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text CSV file ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise DataError(f"{path}: not a valid CSV file ({e})") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"{path}: not a readable gzip file ({e}); the file may be truncated") from None
    if not rows:
        raise DataError(f"{path}: the file has no rows")
    if all(len(r) == 1 for r in rows):
        other = likely_delimiter([r[0] for r in rows], delimiter)   # every line, as it says
        if other:
            raise DataError(f"{path}: every line is one field when split at {delimiter!r} (data.delimiter), "
                            f"but the file looks {other!r}-separated ({rows[0][0].count(other) + 1} fields per line); "
                            f"set data.delimiter: {other!r} (or --set data.delimiter={other!r})")
    names = None
    if header == "yes" or (header == "auto" and _looks_like_header(rows)):
        names, lines, rows = rows[0], lines[1:], rows[1:]
    if not rows:
        raise DataError(f"{path}: the file has a header but no data rows")
    width = len(names) if names else len(rows[0])
    for line, r in zip(lines, rows):
        if len(r) != width:
            raise DataError(f"{path}:{line}: row has {len(r)} fields, expected {width} (ragged rows)")
    return lines, rows, names


DELIMITERS = (",", ";", "\t", "|", ":")


def likely_delimiter(lines: list[str], delimiter: str) -> str | None:
    """The separator lines seem to use, other than ``delimiter``: one that occurs, the same
    number of times, on every line (a simpler csv.Sniffer), or None."""
    for d in DELIMITERS:
        if d != delimiter:
            counts = {line.count(d) for line in lines}
            if len(counts) == 1 and counts.pop() > 0:
                return d
    return None


def _looks_like_header(rows) -> bool:
    """A first row with a word where the second row has a number."""
    if len(rows) < 2:
        return not all(_is_number(c) for c in rows[0])
    return any(not _is_number(a) and _is_number(b) for a, b in zip(rows[0], rows[1]))


def column_index(path, key: str, col, names, width) -> int:
    """The index of a column given by header name or index (negative from the end)."""
    if isinstance(col, str) and not col.lstrip("-").isdigit():
        if names is None:
            raise DataError(f"{path}: data.{key}: {col!r} names a column but the file has no "
                            "header; give a column index")
        if col not in names:
            raise DataError(f"{path}: data.{key}: no column {col!r}{did_you_mean(col, names)} "
                            f"(columns: {', '.join(names)})")
        return names.index(col)
    j = int(col)
    if not -width <= j < width:
        raise DataError(f"{path}: data.{key}: column index {j} out of range for {width} columns "
                        f"(expected {-width} to {width - 1})")
    return j % width


def _numbers(path, cells: np.ndarray, lines, names, cols, what: str) -> np.ndarray:
    """Convert a string block to floats; name the first bad cell, then any NaN or inf."""
    try:
        out = cells.astype(float)
    except ValueError:
        for i, row in enumerate(cells):
            for j, c in enumerate(row):
                if not _is_number(c):
                    col = names[cols[j]] if names else cols[j]
                    raise DataError(f"{path}:{lines[i]}: column {col!r}: not a number: {str(c)!r} "
                                    f"(only numeric {what} are supported)") from None
        raise
    bad = ~np.isfinite(out)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        col = names[cols[j]] if names else cols[j]
        raise DataError(f"{path}: {int(bad.sum())} NaN or inf value(s), the first at line "
                        f"{lines[i]}, column {col!r}")
    return out


def read_csv_file(path: Path, opts: dict) -> dict:
    """X (n, d) floats and y: (n,) numbers or class-name strings, or (n, k) for several targets."""
    lines, rows, names = read_rows(path, opts.get("delimiter", ","), opts.get("header", "auto"))
    width = len(rows[0])
    target = opts.get("target", -1)
    targets = target if isinstance(target, list) else [target]
    if not targets:
        raise DataError(f"{path}: data.target: an empty list; expected a column or a list of columns")
    t_idx = [column_index(path, "target", t, names, width) for t in targets]
    drop = opts.get("drop") or []
    d_idx = [column_index(path, "drop", c, names, width) for c in drop]
    clash = sorted(set(t_idx) & set(d_idx))
    if clash:
        col = names[clash[0]] if names else clash[0]
        raise DataError(f"{path}: data.drop: column {col!r} is also the target; expected distinct columns")
    f_idx = [j for j in range(width) if j not in t_idx and j not in d_idx]
    if not f_idx:
        raise DataError(f"{path}: no feature columns left after the target and data.drop "
                        f"({width} columns in the file)")
    cells = np.array(rows, dtype=str)
    X = _numbers(path, cells[:, f_idx], lines, names, f_idx, "columns")
    ycells = cells[:, t_idx]
    numeric = [_is_number(c) for c in ycells[:, 0]] if len(t_idx) == 1 else [True]
    if sum(numeric) * 2 < len(numeric):  # mostly words: class names, and any number a typo
        if any(numeric):
            i, first = numeric.index(True), numeric.index(False)
            col = names[t_idx[0]] if names else t_idx[0]
            raise DataError(f"{path}:{lines[i]}: column {col!r}: {str(ycells[i, 0])!r} is a number among "
                            f"class names (such as {str(ycells[first, 0])!r} on line {lines[first]}); expected "
                            "class names only, or numbers only")
        y = ycells[:, 0]
    else:
        y = _numbers(path, ycells, lines, names, t_idx, "columns")
        y = y[:, 0] if len(t_idx) == 1 else y
    return {"X": X, "y": y, "path": str(path), "lines": np.asarray(lines),
            "feature_names": [names[j] for j in f_idx] if names else None,
            "target_names": [names[j] for j in t_idx] if names else None,
            "columns": {"names": names, "width": width, "features": f_idx, "targets": t_idx,
                        "dropped": d_idx}}
