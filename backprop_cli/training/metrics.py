"""Classification decisions and accuracy from a network's forward output."""
from __future__ import annotations

import numpy as np


def decide(z: np.ndarray, network) -> np.ndarray:
    """Predicted class indices from what ``network.forward`` returned.

    Several outputs: argmax (the same before and after a softmax). One output: positive
    logit for a fused sigmoid or a hinge loss, output > 0.5 otherwise (0/1 targets).
    """
    if z.shape[1] > 1:
        return z.argmax(axis=1)
    from ..engine.losses import Hinge
    threshold = 0.0 if network.head is not None or isinstance(network.loss, Hinge) else 0.5
    return (z[:, 0] > threshold).astype(np.int64)


def accuracy(z, labels, network) -> float:
    return float(np.mean(decide(z, network) == labels))
