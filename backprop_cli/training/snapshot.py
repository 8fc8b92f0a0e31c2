"""Snapshots of training components, so a checkpoint can resume a run exactly.

A component's state is its plain attributes: numbers, strings, booleans, None, lists and
dicts of those (kept as JSON), and NumPy arrays or dicts of arrays (kept as arrays). Anything
else (the network, the optimizer, random generators, callables) is a reference wired up again
when the trainer is rebuilt from the same config, so it is left out. Random generators are
saved once, at the level of the run's streams. A class lists attributes that must not travel
between processes (a monotonic clock reading, say) in ``transient``.
"""
from __future__ import annotations

import math

import numpy as np


class _Skip(Exception):
    """A value that is a reference, not state."""


def _encode(v, key: str, arrays: dict):
    if isinstance(v, np.ndarray):
        arrays[key] = v.copy()
        return {"__array__": key}
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else {"__float__": repr(v)}
    if isinstance(v, (list, tuple)):
        return [_encode(x, f"{key}/{i}", arrays) for i, x in enumerate(v)]
    if isinstance(v, dict) and all(isinstance(k, str) for k in v):
        return {"__dict__": {k: _encode(x, f"{key}/{k}", arrays) for k, x in v.items()}}
    raise _Skip


def _decode(v, arrays: dict):
    if isinstance(v, list):
        return [_decode(x, arrays) for x in v]
    if isinstance(v, dict):
        if "__array__" in v:
            return arrays[v["__array__"]].copy()
        if "__float__" in v:
            return float(v["__float__"])
        return {k: _decode(x, arrays) for k, x in v["__dict__"].items()}
    return v


def snapshot(obj, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(JSON-able attributes, arrays keyed by ``<prefix>/<attr>/...``)."""
    skip = set(getattr(obj, "transient", ()))
    plain, arrays = {}, {}
    for k, v in vars(obj).items():
        if k in skip:
            continue
        found: dict = {}
        try:
            plain[k] = _encode(v, f"{prefix}/{k}", found)
        except _Skip:
            continue
        arrays.update(found)
    return plain, arrays


def restore(obj, plain: dict, arrays: dict[str, np.ndarray], prefix: str = "") -> None:
    """Put back what :func:`snapshot` saved; arrays go back in place when shapes agree
    (so views other objects hold, such as a layer's weights, stay valid)."""
    for k, v in plain.items():
        value = _decode(v, arrays)
        cur = getattr(obj, k, None)
        if isinstance(cur, np.ndarray) and isinstance(value, np.ndarray) and cur.shape == value.shape:
            cur[...] = value
        else:
            setattr(obj, k, value)


def rng_state(gen: np.random.Generator) -> dict:
    return gen.bit_generator.state


def set_rng_state(gen: np.random.Generator, state: dict) -> None:
    gen.bit_generator.state = state


