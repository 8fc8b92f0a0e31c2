"""What a run's inputs look like, kept in its folder as ``data.json``, so that ``backprop
predict`` and ``eval --data`` read a new file with the run folder alone.

scikit-learn keeps ``n_features_in_`` and ``feature_names_in_`` on a fitted estimator for the
same purpose. ``data.json`` holds::

    format          1
    source          the data source of training (csv, npz, iris's csv, xor, ...)
    task            classification or regression
    n_features      d, the network's inputs
    feature_names   d names: the training file's header, else x0, x1, ...
    target_names    the target column(s): header names, else y (y0, y1, ... for several)
    classes         class names in label order (classification), else null
    columns         the training CSV's layout: header names (or null), width, and the
                    indices of the feature, target and dropped columns; null for other sources
    shape           the image shape [C, H, W] of one example (C·H·W = n_features), or null
                    when the inputs are not images (a data.json without it: null)

The scaling statistics are in ``preprocessing.npz`` and the file options (delimiter, header,
x_key, ...) in the resolved config every checkpoint carries.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..registry import did_you_mean

FORMAT = 1
FILE = "data.json"


def describe(splits) -> dict:
    """The ``data.json`` object of loaded :class:`~backprop_cli.data.dataset.Splits`."""
    columns = splits.info.get("columns")
    if columns is not None:
        columns = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in columns.items()}
    return {"format": FORMAT, "source": splits.info.get("source", splits.source), "task": splits.task,
            "n_features": int(splits.n_features), "feature_names": list(splits.feature_names),
            "target_names": list(splits.target_names), "classes": splits.classes, "columns": columns,
            "shape": None if splits.shape is None else [int(v) for v in splits.shape]}


def save(run_dir: Path, splits) -> None:
    from ..rundir import write_json
    write_json(Path(run_dir) / FILE, describe(splits))


def load(run_dir: Path) -> dict | None:
    """A run folder's ``data.json``, or None when it has none (runs of older versions)."""
    path = Path(run_dir) / FILE
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e}); expected the file backprop train writes") from None
    need = ("task", "n_features", "feature_names", "target_names", "classes")
    missing = [k for k in need if not isinstance(info, dict) or k not in info]
    if missing:
        raise DataError(f"{path}: missing {', '.join(missing)}; expected the file backprop train writes")
    if len(info["feature_names"]) != info["n_features"]:
        raise DataError(f"{path}: {len(info['feature_names'])} feature_names for n_features "
                        f"{info['n_features']}; expected one name per feature")
    info["shape"] = _shape(info.get("shape"), info["n_features"], path)
    return info


def _shape(shape, n_features: int, path: Path) -> list[int] | None:
    """A data.json's image shape: null, or [C, H, W] of positive integers whose product is
    n_features."""
    if shape is None:
        return None
    ok = (isinstance(shape, list) and len(shape) == 3
          and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape))
    if not ok:
        raise DataError(f"{path}: shape {json.dumps(shape)}; expected null or [C, H, W], three "
                        "positive integers")
    if int(np.prod(shape)) != n_features:
        raise DataError(f"{path}: shape {shape} holds {int(np.prod(shape))} values, but n_features "
                        f"is {n_features}; expected C·H·W = n_features")
    return shape


@dataclass
class NewFile:
    """A new file's rows read for a run: features in the run's order, targets, and where
    each row came from. Rows with bad features are left out only when asked to."""

    path: Path
    X: np.ndarray                # (n, d) float64, the run's feature order
    y: np.ndarray | None         # (n,) class names or numbers, (n, k) values, or None
    lines: np.ndarray | None     # (n,) CSV file line of each row; None for an .npz
    keys: tuple = ("X", "y")     # an .npz's features and targets arrays, for messages
    columns: list = field(default_factory=list)       # each feature's column: name or index
    target_columns: list = field(default_factory=list)
    cells: np.ndarray | None = None                   # a CSV's feature cells, for messages
    rows: int = 0                # rows in the file, kept or not
    skipped: list[int] = field(default_factory=list)  # their file lines (.npz: indices)
    kept: np.ndarray | None = None                    # (rows,) bool

    def where(self, i: int, j: int = 0, target: bool = False) -> str:
        """Where row ``i``'s feature (or target) ``j`` is: 'file:line: column 'name'' for a
        CSV, 'file: X[i, j]' (or 'y[i]') for an .npz."""
        if self.lines is not None:
            col = (self.target_columns if target else self.columns)[j]
            return f"{self.path}:{self.lines[i]}: column {col!r}"
        return f"{self.path}: {self.keys[1]}[{i}]" if target else f"{self.path}: {self.keys[0]}[{i}, {j}]"


def _list(names, fmt=str, limit: int = 8) -> str:
    """'a, b, c', or the first ``limit`` and '... (n in all)' (MNIST has 784 features)."""
    names = list(names)
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(fmt(n) for n in names[:limit]) + more


def _with_hint(name: str, candidates) -> str:
    """'name' or 'name' (did you mean 'other'?), ignoring case first."""
    same = [c for c in candidates if c.lower() == name.lower()]
    hint = f"; did you mean {same[0]!r}?" if same else did_you_mean(name, candidates)
    return repr(name) + (f" ({hint[2:]})" if hint else "")


def match_header(path, names: list[str], info: dict, targets: bool) -> tuple[list[int], list[int]]:
    """(feature columns in the run's order, target columns) of a header: by name, in any
    order; the target and the training file's dropped columns may be there and are ignored.
    A missing, unknown or repeated name is an error naming them."""
    feats, tnames = info["feature_names"], info["target_names"]
    cols = info.get("columns") or {}
    dropped = [cols["names"][j] for j in cols.get("dropped", [])] if cols.get("names") else []
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    twice = [n for n, k in seen.items() if k > 1]
    if twice:
        raise DataError(f"{path}: the header names column {twice[0]!r} {seen[twice[0]]} times; "
                        "expected each name once")
    pos = {n: j for j, n in enumerate(names)}
    problems = []
    missing = [n for n in feats if n not in pos]
    if missing:
        others = [c for c in names if c not in feats]
        problems.append("missing " + _list(missing, lambda n: _with_hint(n, others)))
    if targets and any(n not in pos for n in tnames):
        problems.append("no target column " + _list([n for n in tnames if n not in pos], repr))
    known = set(feats) | set(tnames) | set(dropped)
    extra = [n for n in names if n not in known]
    if extra:
        problems.append("unexpected " + _list(extra, repr))
    if problems:
        want = f"the features {_list(feats)}" + (f" and the target {_list(tnames)}" if targets else "")
        raise DataError(f"{path}: the header does not match the run's columns: {'; '.join(problems)}; "
                        f"expected {want}, in any order (or no header, in the training file's order)")
    return [pos[n] for n in feats], [pos[n] for n in tnames] if targets else []


def by_position(path, width: int, info: dict, targets: bool) -> tuple[list[int], list[int]]:
    """(feature columns, target columns) of a file without a header: laid out as the
    training file, or (predicting) just the features in the run's order."""
    d, k = info["n_features"], len(info["target_names"])
    cols = info.get("columns") or {"width": d + k, "features": list(range(d)), "targets": list(range(d, d + k))}
    if width == cols["width"]:
        return list(cols["features"]), list(cols["targets"]) if targets else []
    if width == d and not targets:
        return list(range(d)), []
    layout = f"{cols['width']} as in the training data (features and target {_list(info['target_names'])})"
    raise DataError(f"{path}: {width} column(s) and no header; expected "
                    + (f"{d} (the features {_list(info['feature_names'])}) or " if not targets else "")
                    + layout)


def floats(cells: np.ndarray) -> np.ndarray:
    """Strings to float64; a cell that is not a number becomes NaN (row by row, so a bad
    cell costs one row's conversion, not the file's)."""
    try:
        return cells.astype(np.float64)
    except ValueError:
        out = np.empty(cells.shape)
        for i, row in enumerate(cells):
            try:
                out[i] = row.astype(np.float64)
            except ValueError:
                out[i] = [_float(c) for c in row]
        return out


def _float(c: str) -> float:
    try:
        return float(c)
    except ValueError:
        return float("nan")


def _problem(text) -> str:
    """What is wrong with a cell that is not a finite number."""
    text = str(text)
    if not text.strip():
        return "empty"
    try:
        float(text)
    except ValueError:
        return f"not a number: {text!r}"
    return f"{text!r} is not finite"


def read(path, info: dict, data_cfg: dict, targets: bool = True, skip_bad: bool = False) -> NewFile:
    """A CSV (plain or gzipped) or .npz file (or arrays from Python: X, or (X, y)) read for a
    run described by ``info`` (its
    ``data.json``) with its ``data`` section's file options. Rows with an empty, NaN, inf
    or non-numeric feature are an error naming the first (file line and column), or with
    ``skip_bad`` are left out and listed in ``skipped``."""
    if isinstance(path, (str, os.PathLike)):
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: --data: file not found")
        new = (_read_npz if path.suffix == ".npz" else _read_csv)(path, info, data_cfg, targets)
    else:  # arrays from Python: X, or (X, y)
        from .npz import arrays_part
        X, y = path if isinstance(path, tuple) else (path, None)
        if y is None and targets:
            raise DataError("data: expected (X, y) to score; give the targets too")
        raw = arrays_part(X, y if targets else None, "<arrays>")
        new = _part_for_run(Path("<arrays>"), raw, info, "X", "y")
    good = np.isfinite(new.X).all(axis=1)
    new.rows, new.kept = len(new.X), good
    if good.all():
        return new
    bad = np.flatnonzero(~good)
    if not skip_bad or not good.any():
        i = bad[0]
        j = int(np.flatnonzero(~np.isfinite(new.X[i]))[0])
        what = _problem(new.cells[i, j]) if new.cells is not None else "NaN or inf"
        hint = "; --skip-bad-rows leaves them out" if not skip_bad else ""
        raise DataError(f"{new.where(i, j)}: {what}; expected finite numbers ({len(bad)} of "
                        f"{len(new.X)} rows have empty, NaN, inf or non-numeric features{hint})")
    new.skipped = [int(new.lines[i]) if new.lines is not None else int(i) for i in bad]
    new.X = new.X[good]
    new.y = None if new.y is None else new.y[good]
    new.lines = None if new.lines is None else new.lines[good]
    return new


def _read_csv(path: Path, info: dict, data_cfg: dict, targets: bool):
    from .csvfile import read_rows
    opts = data_cfg if data_cfg.get("source") == "csv" else {}
    lines, rows, names = read_rows(path, opts.get("delimiter", ","), opts.get("header", "auto"))
    if names:
        f_idx, t_idx = match_header(path, names, info, targets)
    else:
        f_idx, t_idx = by_position(path, len(rows[0]), info, targets)
    cells = np.array(rows, dtype=str)
    new = NewFile(path, floats(cells[:, f_idx]), None, np.asarray(lines), cells=cells[:, f_idx],
                  columns=[names[j] if names else j for j in f_idx])
    if t_idx:
        new.target_columns = [names[j] if names else j for j in t_idx]
        new.y = cells[:, t_idx[0]] if info["task"] == "classification" else target_values(new, cells[:, t_idx])
    return new


def target_values(new: NewFile, cells: np.ndarray) -> np.ndarray:
    """Regression targets as floats (n, k), which must be finite: an error names the file
    line and column of the first that is not."""
    values = floats(cells)
    ok = np.isfinite(values)
    if not ok.all():
        i, j = (int(a) for a in np.argwhere(~ok)[0])
        raise DataError(f"{new.where(i, j, target=True)}: target {_problem(cells[i, j])}; expected "
                        "a finite number")
    return values


def labels_of(y: np.ndarray, classes: list[str], new: NewFile) -> np.ndarray:
    """Class indices of targets given as the run's class names, their numeric spellings
    (1.0 for class 1), or class indices; an error names the row of the first unknown class."""
    index = {c: i for i, c in enumerate(classes)}
    names = [str(v) for v in np.asarray(y)]  # 1.0 as written first, as a CSV cell '1.0'
    names = [n if n in index else _canonical(n) for n in names]
    unknown = [i for i, n in enumerate(names) if n not in index]
    if not unknown:
        return np.array([index[n] for n in names], dtype=np.int64)
    nums = floats(np.array(names, dtype=str)[:, None])[:, 0]
    ok = np.isfinite(nums) & (nums == np.round(nums)) & (nums >= 0) & (nums < len(classes))
    if ok.all():
        return nums.astype(np.int64)  # class indices, for classes named by data.classes
    i = next((i for i in unknown if not ok[i]), unknown[0])  # a row that is neither, if any
    raise DataError(f"{new.where(i, target=True)}: class {names[i]!r} is not one the run was trained "
                    f"on ({_list(classes)})")


def _canonical(name: str) -> str:
    """A number's spelling as class names are made from numbers: '1.0' -> '1'."""
    try:
        return f"{float(name):g}"
    except ValueError:
        return name


def _read_npz(path: Path, info: dict, data_cfg: dict, targets: bool) -> NewFile:
    from .npz import read_npz
    opts = data_cfg if data_cfg.get("source") == "npz" else {}
    x_key, y_key = opts.get("x_key", "X"), opts.get("y_key", "y")
    raw = read_npz(path, x_key, y_key if targets else None)
    return _part_for_run(path, raw, info, x_key, y_key)


def _part_for_run(path: Path, raw: dict, info: dict, x_key: str, y_key: str) -> NewFile:
    """The rows of arrays (an .npz's, or given from Python) checked against the run's features."""
    X, y = raw["X"], raw.get("y")
    d = info["n_features"]
    if X.shape[1] != d:
        raise DataError(f"{path}: array {x_key!r} has {X.shape[1]} features per example, expected "
                        f"{d} as in the run's training data")
    own, trained = raw.get("shape"), info.get("shape")
    if own is not None and trained is not None and tuple(own) != tuple(trained):
        from .base import shape_text
        raise DataError(f"{path}: array {x_key!r} holds images of {shape_text(own)}, expected "
                        f"{shape_text(trained)} as in the run's training data")
    return NewFile(path, np.asarray(X, dtype=np.float64), y, None, keys=(x_key, y_key),
                   columns=list(range(d)), target_columns=[y_key])
