"""The sweep file and the trials it declares.

```yaml
base: ../xor.yaml          # the config every trial starts from (relative to this file)
method: grid               # grid: every combination of the values; random: `trials` draws
trials: 20                 # random only
seed: 0                    # random only: seed of the draws, so a re-run draws the same trials
seeds: [0, 1, 2]           # optional: every point repeated per seed (sets the config's seed)
metric: {name: train_loss, goal: minimize}
parameters:                # dotted keys of --set
  optimizer.lr: {values: [0.1, 0.5, 1.0]}
  regularization.l2: {distribution: log_uniform, min: 1.0e-5, max: 1.0e-1}   # random only
```
A trial is a list of ``--set`` overrides; its id is a hash of them, so a re-run finds it.
"""
from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from .. import yamlio
from ..config import Config, load_config, parse_override, read_yaml
from ..errors import ConfigError
from ..registry import did_you_mean
from ..rundir import check_name, safe_name

KEYS = ("base", "name", "method", "trials", "seed", "seeds", "metric", "parameters")
METHODS = ("grid", "random")
DISTRIBUTIONS = ("values", "uniform", "log_uniform", "int_uniform")
METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy")


@dataclass(frozen=True)
class Param:
    """One swept key: a list of ``values``, or a ``distribution`` between ``low`` and ``high``."""

    key: str
    distribution: str
    values: tuple = ()
    low: float = 0.0
    high: float = 0.0

    def draw(self, rng) -> Any:
        """One random value; floats keep 4 significant digits so ids and tables stay readable."""
        if self.distribution == "values":
            return self.values[int(rng.integers(len(self.values)))]
        if self.distribution == "int_uniform":
            return int(rng.integers(int(self.low), int(self.high) + 1))
        if self.distribution == "uniform":
            x = rng.uniform(self.low, self.high)
        else:  # log_uniform: log x ~ U(log low, log high)
            x = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return float(f"{x:.4g}")


def yaml_value(value) -> str:
    """A value as --set writes it (a YAML scalar or flow collection)."""
    text = yamlio.dump(value, default_flow_style=True, width=10**9)
    return text[:-5] if text.endswith("\n...\n") else text.strip()


def digest(lines) -> str:
    return hashlib.sha1("\n".join(sorted(lines)).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Trial:
    """One run of a sweep: ``params`` (key -> value) and, with ``seeds``, a seed."""

    index: int
    params: dict = field(hash=False)
    seed: int | None = None

    @property
    def point_overrides(self) -> list[str]:
        return [f"{k}={yaml_value(v)}" for k, v in self.params.items()]

    @property
    def overrides(self) -> list[str]:
        return self.point_overrides + ([f"seed={self.seed}"] if self.seed is not None else [])

    @property
    def id(self) -> str:
        """A hash of the overrides: the same trial has the same id in every re-run."""
        return digest(self.overrides)

    @property
    def point(self) -> str:
        """A hash of the overrides without the seed: trials differing only in seed share it."""
        return digest(self.point_overrides)


@dataclass
class SweepSpec:
    path: Path
    base: Path
    name: str
    method: str
    n_trials: int | None
    seed: int
    seeds: list[int] | None
    metric: str
    goal: str
    parameters: list[Param]
    raw: dict

    def trials(self) -> list[Trial]:
        """Every trial, in a fixed order: points (grid order or draw order), then seeds."""
        seeds = self.seeds or [None]
        points = list(self.points())
        return [Trial(i * len(seeds) + j, p, s) for i, p in enumerate(points) for j, s in enumerate(seeds)]

    def points(self):
        if self.method == "grid":
            for combo in itertools.product(*(p.values for p in self.parameters)):
                yield dict(zip((p.key for p in self.parameters), combo))
            return
        import numpy as np
        rng = np.random.default_rng(self.seed)
        seen: set[str] = set()
        for _ in range(50 * self.n_trials):  # draws that repeat a point are skipped
            point = {p.key: p.draw(rng) for p in self.parameters}
            key = digest(Trial(0, point).overrides)
            if key not in seen:
                seen.add(key)
                yield point
                if len(seen) == self.n_trials:
                    return


def load_sweep(path) -> SweepSpec:
    """Read and check a sweep file; raise ConfigError listing every problem with its position."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: sweep file not found" if not path.exists() else
                          f"{path}: is a folder, expected a sweep file (YAML)")
    raw, loc = read_yaml(path)
    errors: list[str] = []

    def error(keys: tuple, message: str):
        label = ".".join(str(k) for k in keys) or "(top level)"
        at_key = message.startswith("unknown key")  # point at the key, not its value
        errors.append(f"{loc.where(keys, key=at_key)}: {label}: {message}")

    if not isinstance(raw, dict):
        raise ConfigError(f"{path}:1:1: (top level): must be a mapping with base, method, metric "
                          f"and parameters, got {'an empty file' if raw is None else type(raw).__name__}")
    for k in raw:
        if k not in KEYS:
            error((k,), f"unknown key{did_you_mean(k, KEYS)} (expected one of: {', '.join(KEYS)})")
    base = _base(raw, path, error)
    method = raw.get("method", "grid")
    if method not in METHODS:
        error(("method",), f"must be one of {', '.join(METHODS)}, got {method!r}{did_you_mean(method, METHODS)}")
    n_trials = raw.get("trials")
    if method == "random" and not (_is_int(n_trials) and n_trials >= 1):
        if "trials" in raw:
            error(("trials",), f"must be a whole number >= 1 (points to draw), got {n_trials!r}")
        else:
            error(("method",), "random needs trials: N, the number of points to draw")
    if method == "grid" and "trials" in raw:
        error(("trials",), "is for method: random (a grid runs every combination of the values)")
    seed = raw.get("seed", 0)
    if not (_is_int(seed) and seed >= 0):
        error(("seed",), f"must be a whole number >= 0, got {seed!r}")
    seeds = raw.get("seeds")
    if seeds is not None and not (isinstance(seeds, list) and seeds and all(_is_int(s) and s >= 0 for s in seeds)
                                  and len(set(seeds)) == len(seeds)):
        error(("seeds",), f"must be a list of different whole numbers >= 0, got {seeds!r}")
    metric, goal = _metric(raw, error)
    params = _parameters(raw, method, error, seeds is not None)
    name = raw.get("name")
    if name is not None:
        try:
            check_name(str(name), "name")
        except ConfigError as e:
            error(("name",), str(e).split(": ", 1)[1])
    if errors:
        raise ConfigError("\n".join(errors), errors)
    return SweepSpec(path=path, base=base, name=str(name) if name else safe_name(path.stem),
                     method=method, n_trials=n_trials, seed=seed, seeds=seeds, metric=metric,
                     goal=goal, parameters=params, raw=raw)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _base(raw, path: Path, error) -> Path:
    base = raw.get("base")
    if not isinstance(base, str) or not base:
        error(("base",) if "base" in raw else (), "needs base: the config file every trial starts "
              "from, relative to the sweep file" + (f", got {base!r}" if "base" in raw else ""))
        return path
    p = Path(base).expanduser()
    p = p if p.is_absolute() else path.parent / p
    if not p.is_file():
        error(("base",), f"config file not found: {p}")
    return p


def _metric(raw, error) -> tuple[str, str]:
    m = raw.get("metric", {"name": "train_loss"})
    if isinstance(m, str):
        m = {"name": m}
    if not isinstance(m, dict):
        error(("metric",), f"must be a mapping {{name: ..., goal: minimize|maximize}}, got {m!r}")
        return "train_loss", "minimize"
    for k in m:
        if k not in ("name", "goal"):
            error(("metric", k), f"unknown key{did_you_mean(k, ('name', 'goal'))} (expected name, goal)")
    name = m.get("name", "train_loss")
    if name not in METRICS:
        error(("metric", "name"), f"unknown metric {name!r}{did_you_mean(name, METRICS)} "
              f"(expected one of: {', '.join(METRICS)})")
    goal = m.get("goal", "maximize" if str(name).endswith("accuracy") else "minimize")
    if goal not in ("minimize", "maximize"):
        error(("metric", "goal"), f"must be minimize or maximize, got {goal!r}")
    return name, goal


def _parameters(raw, method: str, error, has_seeds: bool) -> list[Param]:
    params = raw.get("parameters", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        error(("parameters",), f"must be a mapping of dotted keys (as --set takes them) to "
              f"{{values: [...]}} or {{distribution: ..., min: ..., max: ...}}, got {params!r}")
        return []
    out = []
    for key, spec in params.items():
        where = ("parameters", key)
        try:
            parse_override(f"{key}=0")
        except ConfigError:
            error(where, "expected a dotted key such as optimizer.lr")
            continue
        if key == "seed" and has_seeds:
            error(where, "the seed is swept by seeds: [...]; remove one of them")
            continue
        if isinstance(spec, list):
            spec = {"values": spec}
        if not isinstance(spec, dict):
            error(where, f"must be {{values: [...]}} or {{distribution: ..., min: ..., max: ...}}, got {spec!r}")
            continue
        p = _param(key, spec, method, where, error)
        if p is not None:
            out.append(p)
    return out


def _param(key: str, spec: dict, method: str, where: tuple, error) -> Param | None:
    dist = spec.get("distribution", "values" if "values" in spec else None)
    allowed = ("values",) if dist == "values" else ("distribution", "min", "max")
    for k in spec:
        if k not in allowed + ("distribution",):
            error(where + (k,), f"unknown key{did_you_mean(k, allowed)} (expected: {', '.join(allowed)})")
            return None
    if dist not in DISTRIBUTIONS:
        error(where + ("distribution",) if "distribution" in spec else where,
              f"unknown distribution {dist!r}{did_you_mean(str(dist), DISTRIBUTIONS)} "
              f"(expected one of: {', '.join(DISTRIBUTIONS)})" if dist is not None
              else "needs values: [...] or distribution: uniform | log_uniform | int_uniform")
        return None
    if dist == "values":
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            error(where + ("values",), f"must be a non-empty list, got {values!r}")
            return None
        if len({yaml_value(v) for v in values}) != len(values):
            error(where + ("values",), f"has repeated values: {values!r}")
            return None
        return Param(key, "values", tuple(values))
    if method == "grid":
        error(where + ("distribution",), f"distribution {dist} needs method: random (a grid takes values: [...])")
        return None
    low, high = spec.get("min"), spec.get("max")
    if not (_is_num(low) and _is_num(high) and low < high):
        error(where, f"needs numbers min < max, got min {low!r}, max {high!r}")
        return None
    if dist == "log_uniform" and low <= 0:
        error(where + ("min",), f"log_uniform needs min > 0, got {low!r}")
        return None
    if dist == "int_uniform" and not (_is_int(low) and _is_int(high)):
        error(where, f"int_uniform needs whole numbers min and max, got {low!r}, {high!r}")
        return None
    return Param(key, dist, low=low, high=high)


def validate_trials(spec: SweepSpec, trials: list[Trial], limit: int = 10) -> dict[str, Config]:
    """Every trial's config, validated before any trial starts: trial id -> Config. One bad
    value fails the sweep, each problem naming its trial and key."""
    configs, errors, failing = {}, [], 0
    for t in trials:
        try:
            configs[t.id] = load_config(spec.base, t.overrides)
        except ConfigError as e:
            failing += 1
            for line in e.errors:
                if len(errors) < limit:
                    errors.append(f"{spec.path}: trial {t.index} ({t.id}): {line}")
    if errors:
        if failing > 1:
            errors.append(f"{spec.path}: {failing} of {len(trials)} trials have an invalid config; "
                          "fix the parameters or the base config")
        raise ConfigError("\n".join(errors), errors)
    return configs


__all__ = ["SweepSpec", "Trial", "Param", "load_sweep", "validate_trials", "yaml_value"]
