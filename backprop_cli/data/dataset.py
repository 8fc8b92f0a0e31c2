"""Arrays ready for training: checks, target encoding, task inference, splits, scaling.

``load`` reads what a validated ``data`` section declares and returns :class:`Splits` in the
run's dtype. Features stay (n, d) rows everywhere in data/ and training/; images are rows
flattened row-major (C-order) from (C, H, W), ``Splits.shape``, which the network and the
augmentation reshape back to (n, C, H, W) views. Classification targets become one-hot rows
(K softmax outputs) or a 0/1 column (one sigmoid output); regression targets stay values
(n, K). Features are scaled with statistics of the training split only, kept in
``Splits.preprocessing`` for the run folder.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from . import preprocess
from .base import COMMON, image_shape, shape_text
from .sources import SOURCES
from .splits import split_indices

SPLITS = ("train", "val", "test")


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
    feature_names: list[str] | None = None  # the file's header names, else x0, x1, ...
    target_names: list[str] | None = None   # the file's header names, else y (y0, y1, ...)
    source: str = ""
    preprocessing: dict = field(default_factory=dict)  # plain arrays: see data.preprocess
    info: dict = field(default_factory=dict)
    shape: tuple[int, int, int] | None = None  # (C, H, W) of one example's image; None: not images

    @property
    def n_features(self) -> int:
        return self.train.X.shape[1]

    def items(self):
        return [(name, d) for name, d in (("train", self.train), ("val", self.val), ("test", self.test))
                if d is not None]


def check_features(X: np.ndarray, label: str) -> np.ndarray:
    """Numeric (n, d) features, finite, with at least one example."""
    if X.dtype.kind not in "biuf":
        raise DataError(f"{label}: features have type {X.dtype}, expected numbers")
    if len(X) == 0:
        raise DataError(f"{label}: no examples")
    if X.dtype.kind == "f" and not np.isfinite(X.sum(dtype=np.float64)):  # no mask of X's size
        bad = ~np.isfinite(X)                                           # unless something is wrong
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise DataError(f"{label}: {int(bad.sum())} NaN or inf value(s) in the features, the first "
                            f"at row {i}, column {j}")
    return X


def infer_task(cfg_task: str, source, loss_is_classification: bool, loss_name: str, label: str) -> str:
    task = cfg_task if cfg_task != "auto" else (
        source.task or ("classification" if loss_is_classification else "regression"))
    if task == "regression" and loss_is_classification:
        raise DataError(f"{label}: data.task: the data is for regression but the loss"
                        f"{' ' + loss_name if loss_name else ''} is for classification; use a "
                        "regression loss (mse, quadratic, mae) or task: classification")
    return task


def where(part: dict, i: int) -> str:
    """Where target ``i`` of a part is: 'file:line: column 'name'' for a CSV (file lines
    count from 1, the header included), 'file: row i' for arrays."""
    lines = part.get("lines")
    if lines is None:
        return f"{part['label']}: row {i}"
    names = part.get("target_names")
    col = names[0] if names else (part.get("columns") or {}).get("targets", [None])[0]
    return f"{part['label']}:{int(lines[i])}" + (f": column {col!r}" if col is not None else "")


def encode_classes(parts: dict, given: list | None, named: list | None, label: str):
    """Class names and (n,) class indices for each part; the training part defines the classes."""
    ys = {k: np.asarray(p["y"]) for k, p in parts.items()}
    for k, y in ys.items():
        if y.ndim != 1:
            raise DataError(f"{parts[k]['label']}: the target has {y.shape[1]} columns; classification "
                            "needs one column of class labels")
        if y.dtype.kind == "f":
            frac = np.flatnonzero(y != np.round(y))
            if len(frac) or not np.isfinite(y).all():
                i = frac[0] if len(frac) else np.flatnonzero(~np.isfinite(y))[0]
                raise DataError(f"{where(parts[k], i)}: target value {y[i]:g} is not a class label; "
                                "expected integers or class names (or a regression loss and task: "
                                "regression)")
    names = given or named
    if names is not None and ys["train"].dtype.kind in "biuf":
        names = [str(c) for c in names]
        labels = {k: y.astype(np.int64) for k, y in ys.items()}
        for k, lab in labels.items():
            out = np.flatnonzero((lab < 0) | (lab >= len(names)))
            if len(out):
                key = "data.classes: " if given else ""
                raise DataError(f"{where(parts[k], out[0])}: {key}label {lab[out[0]]} is not a class "
                                f"index; expected 0 to {len(names) - 1} for {len(names)} classes")
        return names, labels
    values = np.unique(ys["train"])
    if names is not None:  # class names in the file, ordered by data.classes
        names = [str(c) for c in names]
        missing = [str(v) for v in values if str(v) not in names]
        if missing:
            raise DataError(f"{parts['train']['label']}: data.classes: class {missing[0]!r} of the data "
                            f"is not listed (classes: {', '.join(names)})")
        values = np.array(names)
    else:
        names = [f"{v:g}" if isinstance(v, (float, np.floating)) else str(v) for v in values]
    labels = {}
    for k, y in ys.items():
        order = np.argsort(values)
        pos = np.searchsorted(values, y, sorter=order).clip(0, len(values) - 1)
        idx = order[pos]
        unknown = np.flatnonzero(values[idx] != y)
        if len(unknown):
            raise DataError(f"{where(parts[k], unknown[0])}: class {str(y[unknown[0]])!r} does not "
                            "occur in the training data")
        labels[k] = idx
    return names, labels


def encode_targets(labels, y, task, k_classes, output_units, label):
    if task == "classification":
        if output_units == 1 and k_classes == 2:
            return labels[:, None]
        if output_units == k_classes:
            return np.eye(k_classes, dtype=np.int8)[labels]
        raise DataError(f"{label}: model.layers: the output layer has {output_units} units but the data "
                        f"has {k_classes} classes (expected {k_classes}" + (" or 1" if k_classes == 2 else "") + ")")
    if np.asarray(y).dtype.kind not in "biuf":
        raise DataError(f"{label}: the target holds class names, not values; expected numbers for "
                        "regression (or task: classification)")
    Y = np.asarray(y, dtype=float).reshape(len(y), -1)
    if not np.isfinite(Y).all():
        i = int(np.flatnonzero(~np.isfinite(Y).all(axis=1))[0])
        raise DataError(f"{label}: {int((~np.isfinite(Y)).sum())} NaN or inf target value(s), the "
                        f"first at row {i}")
    if Y.shape[1] != output_units:
        raise DataError(f"{label}: model.layers: the output layer has {output_units} units but the data "
                        f"has {Y.shape[1]} target column(s)")
    return Y


def read_parts(source, cfg: dict, base_dir, rng, name: str, input_size: int | None) -> dict:
    """The source's train part and any separate val / test parts, checked and of one width."""
    raw = source.load(base_dir, rng)
    name = raw.get("path", name)
    parts = {"train": raw}
    for split in ("val", "test"):
        if raw.get(split) is not None:
            parts[split] = raw[split]
            if cfg[f"{split}_fraction"]:
                raise DataError(f"{raw[split].get('path', name)}: data.{split}_fraction: "
                                f"{cfg[f'{split}_fraction']:g} given as well as a separate {split} file; "
                                "expected one of them")
    for k, p in parts.items():
        p["label"] = p.get("path", name)
        p["X"] = check_features(np.asarray(p["X"]), p["label"])
        if len(p["y"]) != len(p["X"]):
            raise DataError(f"{p['label']}: {len(p['y'])} targets for {len(p['X'])} examples")
    d = raw["X"].shape[1]
    for k, p in parts.items():
        if p["X"].shape[1] != d:
            raise DataError(f"{p['label']}: {p['X'].shape[1]} features in the {k} data, expected {d} "
                            "as in the training data")
    if input_size is not None and d != input_size:
        raise DataError(f"{name}: model.input_size: the model takes {input_size} inputs but the data "
                        f"has {d} features")
    return parts


def _shape_words(shape) -> str:
    return f"images of {shape_text(shape)}" if shape is not None else "not images"


def resolve_shape(parts: dict, given: list | None, name: str) -> tuple[int, int, int] | None:
    """The image shape (C, H, W) of one example: ``data.shape`` (given) or the training
    file's own (an image array's), which must agree, multiply to the feature count, and be
    that of every separate val / test file; None for data that is not images."""
    own = parts["train"].get("shape")
    for k, p in parts.items():
        if p.get("shape") != own:
            raise DataError(f"{p['label']}: the {k} data holds {_shape_words(p.get('shape'))}, expected "
                            f"{_shape_words(own)} as the training data")
    shape = image_shape(given)
    if shape is None:
        return own
    d = parts["train"]["X"].shape[1]
    size = int(np.prod(shape))
    if size != d:
        raise DataError(f"{name}: data.shape: {list(given)} is {shape_text(shape)} = {size} values "
                        f"per example, but the data has {d} features; expected C·H·W = {d}")
    if own is not None and shape != own:
        raise DataError(f"{name}: data.shape: {list(given)}, but the file holds images of "
                        f"{shape_text(own)}; expected {list(own)} or no data.shape")
    return shape


def hold_out(parts: dict, labels: dict, fractions: dict, rng, name: str) -> dict:
    """(X, y, labels, label) of each split: separate files as they are, fractions of the
    training file drawn from the seed (stratified for classes); nothing else is copied."""
    index = {"train": None}
    if fractions:
        n = len(parts["train"]["X"])
        index = split_indices(n, labels["train"], fractions, rng)
        for s, idx in index.items():
            if len(idx) == 0:
                key = f"data.{s}_fraction" if s != "train" else "data.val_fraction + data.test_fraction"
                raise DataError(f"{name}: {key}: {', '.join(f'{k} {v:g}' for k, v in fractions.items())} "
                                f"of {n} examples leaves the {s} split empty")

    def take(part, idx):
        p, lab = parts[part], labels[part]
        sel = (lambda a: a) if idx is None else (lambda a: np.asarray(a)[idx])
        return sel(p["X"]), sel(p["y"]), None if lab is None else sel(lab), p["label"]

    pieces = {"train": take("train", index["train"])}
    for s in ("val", "test"):
        if s in parts:
            pieces[s] = take(s, None)
        elif s in index:
            pieces[s] = take("train", index[s])
    return pieces


def load(data_cfg: dict, *, output_units: int, loss_is_classification: bool, dtype,
         base_dir, rng: np.random.Generator, where: str = "data", input_size: int | None = None,
         loss_name: str = "", preprocessing: dict | None = None, arrays=None) -> Splits:
    """Read the data a validated ``data`` section declares, check, split, encode and scale it.

    ``preprocessing`` (a run's stored statistics, from :func:`preprocess.load`) is applied
    instead of fitting new ones: ``backprop eval`` scales data exactly as training did.
    ``arrays``: the data of ``source: arrays``, (X, y) or {'train': (X, y), 'val': ..., ...}."""
    cfg = {k: data_cfg.get(k, opt.default) for k, opt in COMMON.items()}
    opts = {k: v for k, v in data_cfg.items() if k not in COMMON and k != "source"}
    source = SOURCES.get(data_cfg["source"])(**opts)
    if arrays is not None:
        source.arrays = arrays  # the arrays source's data, given from Python
    parts = read_parts(source, cfg, base_dir, rng, data_cfg["source"], input_size)
    name = parts["train"].get("path", data_cfg["source"])
    shape = resolve_shape(parts, cfg["shape"], name)

    task = infer_task(cfg["task"], source, loss_is_classification, loss_name, name)
    classes, labels = None, {k: None for k in parts}
    if task == "classification":
        classes, labels = encode_classes(parts, cfg["classes"], parts["train"].get("classes"), name)
        present = np.unique(labels["train"])
        if len(present) < 2:
            raise DataError(f"{name}: the target has one class only ({classes[present[0]]}); "
                            "classification needs at least 2")

    fractions = {s: cfg[f"{s}_fraction"] for s in ("val", "test") if cfg[f"{s}_fraction"]}
    pieces = hold_out(parts, labels, fractions, rng, name)
    prep = preprocessing if preprocessing is not None else preprocess.fit(
        pieces["train"][0], cfg["scale"], cfg["pixel_max"])
    dtype = np.dtype(dtype)
    out = {}
    for s, (X, y, lab, label) in pieces.items():
        Y = encode_targets(lab, y, task, len(classes) if classes else 0, output_units, label)
        # each piece is a fresh array of this load (a source's own, or a split's gather)
        out[s] = Dataset(preprocess.apply(prep, X, dtype, label, copy=False),
                         np.ascontiguousarray(Y, dtype=dtype), lab)
    info = {"source": data_cfg["source"], "scale": cfg["scale"],
            "paths": {s: parts[s]["path"] for s in parts if parts[s].get("path")},
            "split": {s: "file" if s in parts else f"fraction {fractions[s]:g}" for s in out if s != "train"},
            "columns": parts["train"].get("columns")}
    raw = parts["train"]
    k = out["train"].Y.shape[1] if task == "regression" else 1
    return Splits(train=out["train"], val=out.get("val"), test=out.get("test"), task=task,
                  classes=classes, source=name, preprocessing=prep, info=info, shape=shape,
                  feature_names=raw.get("feature_names") or default_names("x", out["train"].X.shape[1]),
                  target_names=raw.get("target_names") or default_names("y", k))


def default_names(prefix: str, n: int) -> list[str]:
    """Names of unnamed columns: x0, x1, ... (a single target is just y)."""
    return [prefix] if prefix == "y" and n == 1 else [f"{prefix}{j}" for j in range(n)]
