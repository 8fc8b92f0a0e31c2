"""Where data comes from: each source declares its options and returns raw arrays.

The registry ``SOURCES`` is the single list of the names ``data.source`` accepts.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..registry import Registry
from ..schema import Option
from .base import COMMON, Source
from .builtin import BUILTIN, Truth

VAL_PATH = Option(str, None, "a separate validation file, relative to the config file", nullable=True,
                  file=True, example="data/val.csv")
TEST_PATH = Option(str, None, "a separate test file, relative to the config file", nullable=True,
                   file=True, example="data/test.csv")


def _with_splits(source: Source, base_dir, read) -> dict:
    """Read ``path`` and, when given, ``val_path`` and ``test_path`` with the same reader."""
    from .csvfile import resolve_path
    raw = read(resolve_path(base_dir, source.opts["path"], "path"))
    for split in ("val", "test"):
        p = source.opts.get(f"{split}_path")
        if p:
            raw[split] = read(resolve_path(base_dir, p, f"{split}_path"))
    return raw


class Csv(Source):
    doc = "a CSV file of numbers, one example per row (the target may hold class names)"
    options = {
        "path": Option(str, doc="the CSV file, relative to the config file", file=True, example="data/train.csv"),
        "target": Option((str, int, list), -1, "the target column(s): header names or indices "
                         "(negative from the end); a list for several regression targets"),
        "drop": Option(list, [], "columns to ignore: header names or indices", example=["id"]),
        "header": Option(str, "auto", "whether the first row names the columns", choices=("auto", "yes", "no")),
        "delimiter": Option(str, ",", "the field separator"),
        "val_path": VAL_PATH, "test_path": TEST_PATH,
    }

    def load(self, base_dir, rng):
        from .csvfile import read_csv_file
        if len(self.opts.get("delimiter", ",")) != 1:
            raise DataError(f"data.delimiter: must be one character, got {self.opts['delimiter']!r}")
        return _with_splits(self, base_dir, lambda p: read_csv_file(p, self.opts))


class Npz(Source):
    images = True
    doc = ("a NumPy .npz file: features and targets as named arrays (images of shape (n, H, W) or "
           "(n, C, H, W) keep their shape)")
    options = {
        "path": Option(str, doc="the .npz file, relative to the config file", file=True, example="data/train.npz"),
        "x_key": Option(str, "X", "name of the features array"),
        "y_key": Option(str, "y", "name of the targets array"),
        "val_path": VAL_PATH, "test_path": TEST_PATH,
    }

    def load(self, base_dir, rng):
        from .npz import read_npz
        return _with_splits(self, base_dir,
                            lambda p: read_npz(p, self.opts.get("x_key", "X"), self.opts.get("y_key", "y")))


class Idx(Source):
    doc = "IDX files (MNIST's format, gzipped or not): images (n, H, W) or (n, C, H, W), and labels"
    task = "classification"
    images = True
    options = {
        "images": Option(str, doc="the training images, relative to the config file", file=True,
                         example="../datasets/mnist/train-images-idx3-ubyte.gz"),
        "labels": Option(str, doc="the training labels", file=True, example="../datasets/mnist/train-labels-idx1-ubyte.gz"),
        "val_images": Option(str, None, "separate validation images", nullable=True, file=True,
                                 example="../datasets/mnist/t10k-images-idx3-ubyte.gz"),
        "val_labels": Option(str, None, "their labels", nullable=True, file=True,
                                 example="../datasets/mnist/t10k-labels-idx1-ubyte.gz"),
        "test_images": Option(str, None, "separate test images", nullable=True, file=True,
                                 example="../datasets/mnist/t10k-images-idx3-ubyte.gz"),
        "test_labels": Option(str, None, "their labels", nullable=True, file=True,
                                 example="../datasets/mnist/t10k-labels-idx1-ubyte.gz"),
    }

    def load(self, base_dir, rng):
        from .csvfile import resolve_path
        from .idx import read_images_labels
        o = self.opts
        raw = read_images_labels(resolve_path(base_dir, o["images"], "images"),
                                 resolve_path(base_dir, o["labels"], "labels"))
        for split in ("val", "test"):
            im, lb = o.get(f"{split}_images"), o.get(f"{split}_labels")
            if bool(im) != bool(lb):
                missing = f"{split}_labels" if im else f"{split}_images"
                raise DataError(f"data.{missing}: missing; {split}_images and {split}_labels go together")
            if im:
                raw[split] = read_images_labels(resolve_path(base_dir, im, f"{split}_images"),
                                                resolve_path(base_dir, lb, f"{split}_labels"))
        return raw


class Arrays(Source):
    doc = ("arrays given from Python: backprop_cli.train(config, data=(X, y)) or data={'train': "
           "(X, y), 'val': (X, y), 'test': (X, y)}; images (n, H, W) or (n, C, H, W) keep their shape")

    def __init__(self, arrays=None, **options):
        super().__init__(**options)
        self.arrays = arrays

    def load(self, base_dir, rng):
        from .npz import arrays_part
        if self.arrays is None:
            raise DataError("data.source: arrays: the data was given as arrays from Python; give "
                            "them again (backprop_cli.train(config, data=(X, y)), or data= of "
                            "evaluate and predict)")
        given = self.arrays if isinstance(self.arrays, dict) else {"train": self.arrays}
        given = dict(given)
        names = given.pop("feature_names", None)  # as a DataFrame's columns (read_arrays)
        unknown = sorted(set(given) - {"train", "val", "test"})
        if unknown or "train" not in given:
            raise DataError(f"data: expected (X, y) or a mapping of 'train' (and 'val', 'test') to "
                            f"(X, y), got keys {', '.join(map(repr, given)) or 'none'}")
        raw = None
        for split in ("train", "val", "test"):
            if given.get(split) is None:
                continue
            pair = given[split]
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise DataError(f"data[{split!r}]: expected a pair (X, y), got {type(pair).__name__}")
            part = arrays_part(pair[0], pair[1], f"<{split} arrays>")
            # read-only views: scaling then makes its own copy and never changes the caller's arrays
            for key in ("X", "y"):
                part[key] = part[key].view()
                part[key].flags.writeable = False
            columns = getattr(pair[0], "columns", None)  # a pandas DataFrame's column names
            if columns is not None:
                part["feature_names"] = [str(c) for c in columns]
            elif names is not None and split == "train":
                part["feature_names"] = list(names)
            if raw is None:
                raw = part
            else:
                raw[split] = part
        return raw


#: where a run trained on arrays keeps them, in its run folder: eval, explain, plot and
#: --resume read them there (the config's data section stays ``source: arrays``)
ARRAYS_FILE = "arrays.npz"


def save_arrays(path, arrays) -> None:
    """Write the arrays of ``source: arrays`` (as :meth:`Arrays.load` takes them) to an .npz
    of plain arrays, train_X, train_y, val_X, ...; column names of a DataFrame kept as
    ``feature_names``; class names given as Python strings become a string array."""
    from ..rundir import atomic_write
    given = arrays if isinstance(arrays, dict) else {"train": arrays}
    out = {}
    if given.get("feature_names") is not None:
        out["feature_names"] = np.array([str(c) for c in given["feature_names"]])
    for split, pair in given.items():
        if pair is None or split == "feature_names":
            continue
        X, y = pair
        names = getattr(X, "columns", None)
        if names is not None and split == "train":
            out["feature_names"] = np.array([str(c) for c in names])
        y = np.asarray(y)
        out[f"{split}_X"] = np.asarray(X)
        out[f"{split}_y"] = y.astype(str) if y.dtype.kind == "O" else y
    atomic_write(path, lambda fh: np.savez(fh, **out))


def read_arrays(path) -> dict:
    """The arrays :func:`save_arrays` wrote, as {'train': (X, y), ...}, pickles refused."""
    try:
        with np.load(path, allow_pickle=False) as z:
            got = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable .npz of the run's arrays ({e})") from None
    out = {}
    for split in ("train", "val", "test"):
        if f"{split}_X" in got and f"{split}_y" in got:
            out[split] = (got[f"{split}_X"], got[f"{split}_y"])
    if "train" not in out:
        raise DataError(f"{path}: holds no train_X and train_y; expected the arrays of a run")
    if "feature_names" in got:
        out["feature_names"] = [str(c) for c in got["feature_names"]]
    return out


MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


class Mnist(Source):
    doc = ("MNIST from a folder holding its four IDX files (train-images-idx3-ubyte.gz, ...; "
           "gzipped or not): 60,000 training and 10,000 test images of 28x28 pixels")
    task = "classification"
    n_classes = 10
    images = True
    options = {
        "dir": Option(str, doc="the folder of the four files, relative to the config file",
                      example="../datasets/mnist", folder=True),
        "test": Option(bool, True, "use the 10,000 t10k images as the test split"),
    }

    @classmethod
    def own_shape(cls, opts):
        return (1, 28, 28)

    @staticmethod
    def _folder(opts: dict, base_dir) -> Path:
        folder = Path(opts["dir"]).expanduser()
        return folder if folder.is_absolute() else Path(os.path.normpath(Path(base_dir) / folder))

    @staticmethod
    def _find(folder: Path, stem: str) -> Path | None:
        for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")):
            if (folder / name).is_file():
                return folder / name
        return None

    @classmethod
    def missing_files(cls, opts: dict, base_dir) -> list[tuple[str, str]]:
        """The folder, and the training files (and test files with ``test: true``) in it."""
        folder = cls._folder(opts, base_dir)
        if not folder.is_dir():
            return [("dir", f"folder not found: {folder}; put MNIST's four IDX files there "
                            "(see datasets/mnist/README.md)")]
        splits = ("train", "test") if opts.get("test", True) else ("train",)
        missing = [s for split in splits for s in MNIST_FILES[split] if cls._find(folder, s) is None]
        if missing:
            return [("dir", f"no {', '.join(s + '.gz' for s in missing)} (gzipped or not) in {folder}; "
                            "expected MNIST's IDX files (see datasets/mnist/README.md)")]
        return []

    def load(self, base_dir, rng):
        from .idx import read_images_labels
        problems = self.missing_files(self.opts, base_dir)  # a config validated without base_dir
        if problems:
            raise DataError(f"data.{problems[0][0]}: {problems[0][1]}")
        folder = self._folder(self.opts, base_dir)
        raw = read_images_labels(*(self._find(folder, s) for s in MNIST_FILES["train"]))
        if self.opts.get("test", True):
            raw["test"] = read_images_labels(*(self._find(folder, s) for s in MNIST_FILES["test"]))
        raw["classes"] = [str(i) for i in range(10)]
        return raw


SOURCES = Registry("data source", {**BUILTIN, "csv": Csv, "npz": Npz, "idx": Idx, "mnist": Mnist,
                                   "arrays": Arrays})


def declared_shape(data_cfg: dict) -> tuple | None:
    """The input shape of a validated ``data`` section (the source's name under ``source``,
    its options and the common ones) known before reading data: (C, H, W) for images, (d,)
    for vectors of a fixed width, None when only the data can tell."""
    data_cfg = {"source": data_cfg} if isinstance(data_cfg, str) else data_cfg
    return SOURCES.get(data_cfg["source"]).declared_shape(data_cfg)


__all__ = ["SOURCES", "COMMON", "Source", "Truth", "declared_shape"]
