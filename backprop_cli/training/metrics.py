"""Classification decisions and accuracy from a network's forward output."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..engine.losses import Hinge


def threshold(network) -> float:
    """Where a single output's decision flips: 0 for a logit (fused sigmoid) or a hinge
    score, 0.5 for a probability or a 0/1 regression-style output."""
    return 0.0 if network.head is not None or isinstance(network.loss, Hinge) else 0.5


def decide(z: np.ndarray, network) -> np.ndarray:
    """Predicted class indices from what ``network.forward`` returned.

    Several outputs: argmax (the same before and after a softmax). One output: above
    :func:`threshold` is class 1.
    """
    if z.shape[1] > 1:
        return z.argmax(axis=1)
    return (z[:, 0] > threshold(network)).astype(np.int64)


def correct_counter(network) -> Callable[[np.ndarray, np.ndarray], int]:
    """f(z, labels): how many rows :func:`decide` gets right, with the network's threshold
    looked up once (the training loop calls it every batch)."""
    cut = threshold(network)

    def count(z: np.ndarray, labels: np.ndarray) -> int:
        hits = z.argmax(axis=1) == labels if z.shape[1] > 1 else (z[:, 0] > cut) == labels
        return int(np.count_nonzero(hits))
    return count
