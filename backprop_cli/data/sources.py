"""Where data comes from: each source declares its options and returns raw (X, y, meta)."""
from __future__ import annotations

import numpy as np

from ..registry import Registry
from ..schema import Option


class Source:
    """A data source. ``task`` is classification, regression, or None (decided by the
    config's ``data.task`` and the loss)."""

    options: dict[str, Option] = {}
    task: str | None = None
    doc = ""

    def __init__(self, **options):
        self.opts = options

    def load(self, base_dir, rng: np.random.Generator) -> dict:
        """{'X': features, 'y': targets (classes or values), optional 'classes',
        'feature_names', 'val': {...}, 'test': {...}}"""
        raise NotImplementedError


class Truth(Source):
    """A boolean function's truth table on n_inputs bits (xor, and, or)."""

    task = "classification"
    options = {"n_inputs": Option(int, 2, "number of input bits", ge=2, le=16)}
    fn = None

    def load(self, base_dir, rng):
        k = self.opts.get("n_inputs", 2)
        X = ((np.arange(2 ** k)[:, None] >> np.arange(k - 1, -1, -1)) & 1).astype(float)
        return {"X": X, "y": type(self).fn(X).astype(int), "classes": ["0", "1"]}


class Xor(Truth):
    doc = "XOR (odd parity) of n_inputs bits: not linearly separable"
    fn = staticmethod(lambda X: X.sum(axis=1) % 2)


class And(Truth):
    doc = "AND of n_inputs bits: linearly separable"
    fn = staticmethod(lambda X: X.min(axis=1))


class Or(Truth):
    doc = "OR of n_inputs bits: linearly separable"
    fn = staticmethod(lambda X: X.max(axis=1))


class Csv(Source):
    doc = "a CSV file of numbers, one example per row"
    options = {
        "path": Option(str, doc="the CSV file, relative to the config file", example="data/train.csv"),
        "target": Option((str, int), -1, "the target column: a header name or an index (negative from the end)"),
        "header": Option(str, "auto", "whether the first row names the columns", choices=("auto", "yes", "no")),
        "delimiter": Option(str, ",", "the field separator"),
    }

    def load(self, base_dir, rng):
        from .csvfile import read_csv
        return read_csv(base_dir, self.opts)


SOURCES = Registry("data source", {"xor": Xor, "and": And, "or": Or, "csv": Csv})
