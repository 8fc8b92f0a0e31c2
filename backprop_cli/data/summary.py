"""What ``backprop data show`` reports: a plain dict of the loaded splits (JSON-ready)."""
from __future__ import annotations

import numpy as np

from .dataset import Splits


def _f(x) -> float:
    return float(np.round(float(x), 6)) + 0.0  # no '-0'


def describe(splits: Splits) -> dict:
    """Source, task, the image shape of one example (null for other data), shapes and origin
    of each split, class balance, and feature ranges of the training split after
    preprocessing (per feature: min, max, mean, std)."""
    out = {
        "source": splits.info.get("source", splits.source),
        "paths": splits.info.get("paths", {}),
        "task": splits.task,
        "n_features": splits.n_features,
        "shape": None if splits.shape is None else [int(v) for v in splits.shape],
        "scale": splits.info.get("scale", "none"),
        "classes": splits.classes,
        "splits": {},
    }
    held = splits.info.get("split", {})
    train_from = "file" if out["paths"] else "generated"
    if any(h.startswith("fraction") for h in held.values()):
        train_from += ", the rest"
    how = {"train": train_from, **held}
    for name, d in splits.items():
        entry = {"n": len(d), "X": list(d.X.shape), "Y": list(d.Y.shape), "from": how.get(name, "")}
        if d.labels is not None:
            counts = np.bincount(d.labels, minlength=len(splits.classes))
            entry["class_counts"] = {c: int(k) for c, k in zip(splits.classes, counts)}
        else:
            entry["target_range"] = [_f(d.Y.min()), _f(d.Y.max())]
        entry["feature_range"] = [_f(d.X.min()), _f(d.X.max())]
        out["splits"][name] = entry
    X = splits.train.X
    names = splits.feature_names or [str(j) for j in range(X.shape[1])]
    lo, hi = X.min(axis=0), X.max(axis=0)
    mean, std = X.mean(axis=0, dtype=np.float64), X.std(axis=0, dtype=np.float64)
    out["features"] = [{"name": n, "min": _f(a), "max": _f(b), "mean": _f(m), "std": _f(s)}
                       for n, a, b, m, s in zip(names, lo, hi, mean, std)]
    return out
