"""Data: built-in problems and file readers, splits, target encoding.

``load(cfg, base_dir, rng)`` turns the validated ``data`` section into :class:`Splits` of
arrays in the run's dtype: features X (n, d) and targets Y (n, K), one-hot rows (or a 0/1
column for a single sigmoid output) for classification, values for regression.
"""
from .dataset import Dataset, Splits, load
from .sources import SOURCES

__all__ = ["Dataset", "Splits", "load", "SOURCES"]
