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

The scaling statistics are in ``preprocessing.npz`` and the file options (delimiter, header,
x_key, ...) in the resolved config every checkpoint carries.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import DataError

FORMAT = 1
FILE = "data.json"


def describe(splits) -> dict:
    """The ``data.json`` object of loaded :class:`~backprop_cli.data.dataset.Splits`."""
    columns = splits.info.get("columns")
    if columns is not None:
        columns = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in columns.items()}
    return {"format": FORMAT, "source": splits.info.get("source", splits.source), "task": splits.task,
            "n_features": int(splits.n_features), "feature_names": list(splits.feature_names),
            "target_names": list(splits.target_names), "classes": splits.classes, "columns": columns}


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
    return info
