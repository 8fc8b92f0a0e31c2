"""Built-in problems: truth tables and 2-D toy sets, generated from the run's data stream.

Each generator takes the data stream ``rng`` (spawned from the config's seed), so the same
seed gives the same examples. Each returns ``{'X': (n, d), 'y': (n,), 'classes': [...]}``,
or values ``y`` for the regression problems.
"""
from __future__ import annotations

import numpy as np

from ..schema import Option
from .base import Source

N = Option(int, 200, "number of examples", ge=2, le=10_000_000)
NOISE = Option(float, 0.1, "standard deviation of the Gaussian noise added to each coordinate", ge=0)


class Truth(Source):
    """A boolean function's truth table on n_inputs bits: all 2^n_inputs rows, in order."""

    task = "classification"
    n_classes = 2
    options = {"n_inputs": Option(int, 2, "number of input bits", ge=2, le=16)}
    fn = None

    @classmethod
    def own_shape(cls, opts):
        return (opts.get("n_inputs", cls.options["n_inputs"].default),)

    def load(self, base_dir, rng):
        k = self.opts.get("n_inputs", 2)
        X = ((np.arange(2 ** k)[:, None] >> np.arange(k - 1, -1, -1)) & 1).astype(float)
        return {"X": X, "y": type(self).fn(X).astype(int), "classes": ["0", "1"]}


class Xor(Truth):
    doc = "XOR (odd parity) of n_inputs bits: not linearly separable"
    fn = staticmethod(lambda X: X.sum(axis=1) % 2)


class Parity(Xor):
    doc = "n-bit parity: 1 when an odd number of the n_inputs bits are 1 (XOR generalised)"
    options = {"n_inputs": Option(int, 4, "number of input bits", ge=2, le=16)}


class And(Truth):
    doc = "AND of n_inputs bits: linearly separable"
    fn = staticmethod(lambda X: X.min(axis=1))


class Or(Truth):
    doc = "OR of n_inputs bits: linearly separable"
    fn = staticmethod(lambda X: X.max(axis=1))


def _classes(k: int) -> list[str]:
    return [str(i) for i in range(k)]


class Plane(Source):
    """A problem of points in the plane: two features."""

    @classmethod
    def own_shape(cls, opts):
        return (2,)


class Circles(Plane):
    doc = "two concentric circles (class 0 outside, class 1 inside): needs a hidden layer"
    task = "classification"
    n_classes = 2
    options = {"n": N, "noise": Option(float, 0.05, NOISE.doc, ge=0),
               "factor": Option(float, 0.5, "radius of the inner circle (the outer is 1)", gt=0, lt=1)}

    def load(self, base_dir, rng):
        n, noise, factor = self.opts.get("n", 200), self.opts.get("noise", 0.05), self.opts.get("factor", 0.5)
        y = np.arange(n) % 2
        t = rng.uniform(0, 2 * np.pi, n)
        r = np.where(y == 1, factor, 1.0)
        X = np.c_[r * np.cos(t), r * np.sin(t)] + noise * rng.standard_normal((n, 2))
        return {"X": X, "y": y, "classes": _classes(2)}


class Moons(Plane):
    doc = "two interleaving half circles"
    task = "classification"
    n_classes = 2
    options = {"n": N, "noise": NOISE}

    def load(self, base_dir, rng):
        n, noise = self.opts.get("n", 200), self.opts.get("noise", 0.1)
        y = np.arange(n) % 2
        t = rng.uniform(0, np.pi, n)
        X = np.where(y[:, None] == 0, np.c_[np.cos(t), np.sin(t)],
                     np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
        return {"X": X + noise * rng.standard_normal((n, 2)), "y": y, "classes": _classes(2)}


class Spirals(Plane):
    doc = "k interleaved spiral arms, one class each"
    task = "classification"
    n_classes = staticmethod(lambda opts: opts.get("arms", 2))
    options = {"n": N, "noise": Option(float, 0.05, NOISE.doc, ge=0),
               "arms": Option(int, 2, "number of arms (classes)", ge=2, le=100),
               "turns": Option(float, 1.0, "turns of each arm around the centre", gt=0)}

    def load(self, base_dir, rng):
        o = self.opts
        n, noise, k, turns = o.get("n", 200), o.get("noise", 0.05), o.get("arms", 2), o.get("turns", 1.0)
        y = np.arange(n) % k
        r = rng.uniform(0.05, 1.0, n)                      # distance from the centre
        theta = 2 * np.pi * (turns * r + y / k)            # each arm starts 2pi/k further round
        X = np.c_[r * np.cos(theta), r * np.sin(theta)] + noise * rng.standard_normal((n, 2))
        return {"X": X, "y": y, "classes": _classes(k)}


class Blobs(Source):
    doc = "Gaussian blobs around random centres, one class each"
    task = "classification"
    n_classes = staticmethod(lambda opts: opts.get("centers", 3))
    options = {"n": N, "centers": Option(int, 3, "number of blobs (classes)", ge=2, le=1000),
               "n_features": Option(int, 2, "dimensions", ge=1, le=10_000),
               "std": Option(float, 1.0, "standard deviation of each blob", ge=0),
               "box": Option(float, 10.0, "centres are uniform in [-box, box] per dimension", gt=0)}

    @classmethod
    def own_shape(cls, opts):
        return (opts.get("n_features", 2),)

    def load(self, base_dir, rng):
        o = self.opts
        n, k, d = o.get("n", 200), o.get("centers", 3), o.get("n_features", 2)
        centres = rng.uniform(-o.get("box", 10.0), o.get("box", 10.0), (k, d))
        y = np.arange(n) % k
        X = centres[y] + o.get("std", 1.0) * rng.standard_normal((n, d))
        return {"X": X, "y": y, "classes": _classes(k), "centres": centres}


FUNCTIONS = {
    "sine": np.sin, "cosine": np.cos, "square": np.square, "cube": lambda x: x ** 3,
    "abs": np.abs, "gauss": lambda x: np.exp(-x ** 2), "step": lambda x: (x > 0).astype(float),
    "sinc": np.sinc,
}


class Function(Source):
    doc = ("1-D regression y = f(x) + noise, x uniform in [low, high]: one hidden layer can fit "
           "any of them (note 002's universal approximation)")
    task = "regression"
    options = {"fn": Option(str, "sine", "the function", choices=tuple(FUNCTIONS)),
               "n": N, "noise": Option(float, 0.0, "standard deviation of the noise added to y", ge=0),
               "low": Option(float, -np.pi, "smallest x"), "high": Option(float, np.pi, "largest x")}

    @classmethod
    def own_shape(cls, opts):
        return (1,)

    def load(self, base_dir, rng):
        from ..errors import DataError
        o = self.opts
        low, high = o.get("low", -np.pi), o.get("high", np.pi)
        if not low < high:
            raise DataError(f"data.low: must be < data.high, got low {low:g} and high {high:g}")
        x = np.sort(rng.uniform(low, high, o.get("n", 200)))
        y = FUNCTIONS[o.get("fn", "sine")](x) + o.get("noise", 0.0) * rng.standard_normal(len(x))
        return {"X": x[:, None], "y": y, "feature_names": ["x"]}


class Sine(Function):
    doc = "y = sin(x) + noise, x uniform in [low, high] (the function source with fn: sine)"
    options = {k: v for k, v in Function.options.items() if k != "fn"}


BUILTIN = {"xor": Xor, "and": And, "or": Or, "parity": Parity, "circles": Circles,
           "moons": Moons, "spirals": Spirals, "blobs": Blobs, "function": Function, "sine": Sine}
