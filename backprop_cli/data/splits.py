"""Train / validation / test splits of one data set, stratified for classes, from the seed."""
from __future__ import annotations

import numpy as np


def split_indices(n: int, labels: np.ndarray | None, fractions: dict[str, float],
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Sorted row indices for ``train`` and each named held-out split.

    ``fractions`` maps a split name (``val``, ``test``) to the fraction of the rows it takes.
    With ``labels`` the split is stratified: each class gives round(fraction * its count)
    rows to each held-out split, so class proportions are kept (within one example per class).
    """
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    out: dict[str, list] = {name: [] for name in ("train", *fractions)}
    for idx in groups:
        idx = rng.permutation(idx)
        start = 0
        for name, frac in fractions.items():
            k = int(round(frac * len(idx)))
            out[name].append(idx[start:start + k])
            start += k
        out["train"].append(idx[start:])
    return {name: np.sort(np.concatenate(parts)) if parts else np.array([], dtype=np.intp)
            for name, parts in out.items()}
