"""Arrays ready for training: target encoding, task inference and splits."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from .sources import SOURCES


@dataclass
class Dataset:
    X: np.ndarray            # (n, d) features in the run's dtype
    Y: np.ndarray            # (n, K) targets: one-hot / 0-1 column / values
    labels: np.ndarray | None = None  # (n,) class indices, classification only

    def __len__(self) -> int:
        return len(self.X)


@dataclass
class Splits:
    train: Dataset
    val: Dataset | None = None
    test: Dataset | None = None
    task: str = "regression"
    classes: list[str] | None = None
    feature_names: list[str] | None = None
    source: str = ""
    info: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return self.train.X.shape[1]


def stratified_split(labels, fraction: float, rng: np.random.Generator):
    """Indices (keep, held_out) with about ``fraction`` of each class held out."""
    held = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = rng.permutation(idx)
        held.append(idx[: int(round(fraction * len(idx)))])
    held = np.sort(np.concatenate(held)) if held else np.array([], dtype=int)
    keep = np.setdiff1d(np.arange(len(labels)), held)
    return keep, held


def load(data_cfg: dict, *, output_units: int, loss_is_classification: bool, dtype,
         base_dir, rng: np.random.Generator, where: str = "data") -> Splits:
    """Read the data a validated ``data`` section declares and encode its targets."""
    opts = {k: v for k, v in data_cfg.items()
            if k not in ("source", "task", "val_fraction")}
    source = SOURCES.get(data_cfg["source"])(**opts)
    raw = source.load(base_dir, rng)
    X, y = np.asarray(raw["X"], dtype=float), np.asarray(raw["y"])
    label = raw.get("path", data_cfg["source"])
    if len(X) == 0:
        raise DataError(f"{label}: no examples")
    task = data_cfg.get("task", "auto")
    if task == "auto":
        task = source.task or ("classification" if loss_is_classification else "regression")

    classes = raw.get("classes")
    labels = None
    if task == "classification":
        if classes is None:
            values, labels = np.unique(y, return_inverse=True)
            classes = [f"{v:g}" if isinstance(v, (float, np.floating)) else str(v) for v in values]
        else:
            labels = y.astype(int)
        if len(classes) < 2:
            raise DataError(f"{label}: the target has one class only ({classes[0]}); "
                            "classification needs at least 2")
        k = len(classes)
        if output_units == 1 and k == 2:
            Y = labels[:, None].astype(float)
        elif output_units == k:
            Y = np.eye(k)[labels]
        else:
            raise DataError(f"{label}: model.layers: the output layer has {output_units} units but "
                            f"the data has {k} classes (expected {k}" + (" or 1" if k == 2 else "") + ")")
    else:
        Y = y.reshape(len(y), -1).astype(float)
        if Y.shape[1] != output_units:
            raise DataError(f"{label}: model.layers: the output layer has {output_units} units but "
                            f"the data has {Y.shape[1]} target column(s)")

    dtype = np.dtype(dtype)
    idx_train, idx_val = np.arange(len(X)), None
    frac = data_cfg.get("val_fraction", 0.0)
    if frac:
        if labels is not None:
            idx_train, idx_val = stratified_split(labels, frac, rng)
        else:
            perm = rng.permutation(len(X))
            n_val = int(round(frac * len(X)))
            idx_train, idx_val = np.sort(perm[n_val:]), np.sort(perm[:n_val])
        if len(idx_val) == 0 or len(idx_train) == 0:
            raise DataError(f"{label}: data.val_fraction: {frac:g} of {len(X)} examples leaves an "
                            "empty split")

    def subset(idx):
        return Dataset(np.ascontiguousarray(X[idx], dtype=dtype), np.ascontiguousarray(Y[idx], dtype=dtype),
                       None if labels is None else labels[idx])

    return Splits(train=subset(idx_train), val=None if idx_val is None else subset(idx_val),
                  task=task, classes=classes, feature_names=raw.get("feature_names"),
                  source=label)
