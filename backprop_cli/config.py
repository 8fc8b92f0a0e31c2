"""YAML -> validated, resolved config: the one schema, every config error, --set overrides.

The schema is declared once, below, from :class:`Option` leaves, :class:`Section` mappings,
:class:`Component` (a name from a registry plus that class's own options) and
:class:`ListOf`. Validation walks it, collects every problem with its line and column, and
fills in every default, so the resolved config written to a run folder is complete.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .registry import Registry, did_you_mean
from .schema import REQUIRED, Option, describe


# --------------------------------------------------------------------------------------------
# schema nodes
@dataclass
class Section:
    fields: dict[str, Any]
    doc: str = ""
    optional: bool = True  # may be left out (all defaults)


@dataclass
class ListOf:
    item: Any
    doc: str = ""
    min_items: int = 0
    default: Any = REQUIRED
    example: Any = None


@dataclass
class Component:
    """A name from ``registry`` (under ``key``) and the options its class declares in
    ``options``; ``common`` options apply to every name. A bare string is shorthand for
    ``{key: string}`` when ``shorthand``."""

    registry: Registry
    default: Any = REQUIRED
    doc: str = ""
    key: str = "name"
    common: dict = field(default_factory=dict)
    shorthand: bool = True
    example: Any = None

    def options_of(self, name) -> dict[str, Option]:
        cls = self.registry.get(name)
        return {**self.common, **(getattr(cls, "options", None) or {})}


def _schema() -> Section:
    from .data.sources import SOURCES
    from .engine.activations import ACTIVATIONS
    from .engine.initializers import INITIALIZERS
    from .engine.losses import LOSSES
    from .training.optimizers import OPTIMIZERS

    layer = Section({
        "units": Option(int, doc="number of units (neurons) in the layer", ge=1, example=4),
        "activation": Component(ACTIVATIONS, "identity", "the layer's activation unit",
                                example="tanh"),
        "type": Option(str, "dense", "dense: net = x W + b; gated: (x W + b) ⊙ gate(x W_gate + b_gate)",
                       choices=("dense", "gated")),
        "gate": Component(ACTIVATIONS, "sigmoid", "activation of the gate of a gated layer"),
        "init": Component(INITIALIZERS, "auto", "weight initializer (biases start at 0); auto: "
                          "he_uniform before relu-like units, xavier_uniform otherwise"),
        "dropout": Option(float, 0.0, "inverted dropout rate on the layer's output, training only",
                          ge=0, lt=1),
    }, "one layer", optional=False)
    return Section({
        "name": Option(str, None, "run name (default: the config file's name)", nullable=True),
        "seed": Option(int, 0, "seed of every random stream (init, shuffle, dropout, splits)", ge=0),
        "dtype": Option(str, "float64", "floating-point type of weights and data",
                        choices=("float32", "float64")),
        "data": Component(SOURCES, doc="where the examples come from", key="source", shorthand=True,
                          common={
                              "task": Option(str, "auto", "classification or regression (auto: from the "
                                             "source and the loss)",
                                             choices=("auto", "classification", "regression")),
                              "val_fraction": Option(float, 0.0, "fraction held out for validation "
                                                     "(stratified for classes)", ge=0, lt=1),
                          }, example="xor"),
        "model": Section({
            "layers": ListOf(layer, "the layers, input to output", min_items=1,
                             example=[{"units": 4, "activation": "tanh"},
                                      {"units": 1, "activation": "sigmoid"}]),
            "init_from": Option(str, None, "start from these weights (.npz, names like 0.W, 0.b), "
                                "relative to the config file", nullable=True),
        }, "the network", optional=False),
        "loss": Component(LOSSES, doc="the loss (divergence) minimised, the batch mean",
                          example="bce"),
        "optimizer": Component(OPTIMIZERS, "sgd", "the update rule", example={"name": "sgd", "lr": 0.5}),
        "training": Section({
            "epochs": Option(int, 100, "epoch limit", ge=1),
            "batch_size": Option((int, str), 32, "examples per step: 1 is online, 'full' the whole "
                                 "training set", example="full"),
            "shuffle": Option(bool, True, "visit examples in a new random order each epoch"),
        }, "the loop"),
        "stopping": Section({
            "target_loss": Option(float, None, "stop once the training loss is below this", gt=0,
                                  nullable=True),
        }, "when to stop before the epoch limit"),
        "output": Section({
            "runs_dir": Option(str, "runs", "where run folders are made (relative to the working "
                               "directory)"),
        }, "where results go"),
    }, optional=False)


_SCHEMA: Section | None = None


def schema() -> Section:
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = _schema()
    return _SCHEMA


# --------------------------------------------------------------------------------------------
# locations
Path_ = tuple


class Locator:
    """Maps key paths of a YAML document to (line, column) of their values (1-based)."""

    def __init__(self, filename: str = "<config>"):
        self.filename = filename
        self.values: dict[Path_, tuple[int, int]] = {}
        self.keys: dict[Path_, tuple[int, int]] = {}
        self.overrides: dict[Path_, str] = {}

    def scan(self, node, path: Path_ = ()) -> None:
        self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                self.keys[path + (key,)] = (k.start_mark.line + 1, k.start_mark.column + 1)
                self.scan(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self.scan(v, path + (i,))

    def where(self, path: Path_, key: bool = False) -> str:
        for n in range(len(path), 0, -1):
            if path[:n] in self.overrides:
                return self.overrides[path[:n]]
        table = self.keys if key and path in self.keys else self.values
        p = path
        while p not in table and p:
            p = p[:-1]
        if p in table:
            line, col = table[p]
            return f"{self.filename}:{line}:{col}"
        return self.filename


def dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


# --------------------------------------------------------------------------------------------
# validation
class Validator:
    def __init__(self, locator: Locator):
        self.loc = locator
        self.errors: list[tuple[str, str]] = []  # (location, message)

    def error(self, path: Path_, message: str, key: bool = False) -> None:
        self.errors.append((self.loc.where(path, key), f"{dotted(path)}: {message}"))

    def value(self, node, value, path: Path_):
        if isinstance(node, Option):
            v, problem = node.check(value)
            if problem:
                self.error(path, problem)
            return v
        if isinstance(node, Section):
            return self.section(node, value, path)
        if isinstance(node, ListOf):
            return self.list(node, value, path)
        if isinstance(node, Component):
            return self.component(node, value, path)
        raise TypeError(node)

    def default(self, node, path: Path_):
        if isinstance(node, Section):
            return self.section(node, {}, path)
        d = node.default
        if d is REQUIRED:
            self.error(path[:-1], f"missing required key '{path[-1]}'")
            return None
        if isinstance(node, Component) and d is not None:
            return self.component(node, d, path)
        return copy.deepcopy(d)

    def keys(self, fields: dict, value: dict, path: Path_) -> None:
        for k in value:
            if k not in fields:
                self.error(path + (k,), f"unknown key{did_you_mean(k, fields)} "
                           f"(expected one of: {', '.join(fields)})", key=True)

    def section(self, node: Section, value, path: Path_):
        if value is None and node.optional:
            value = {}
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping, got {describe(value)}")
            return None
        self.keys(node.fields, value, path)
        out = {}
        for k, sub in node.fields.items():
            out[k] = self.value(sub, value[k], path + (k,)) if k in value else self.default(sub, path + (k,))
        return out

    def list(self, node: ListOf, value, path: Path_):
        if not isinstance(value, list):
            self.error(path, f"must be a list, got {describe(value)}")
            return None
        if len(value) < node.min_items:
            self.error(path, f"must have at least {node.min_items} item(s), got {len(value)}")
        return [self.value(node.item, v, path + (i,)) for i, v in enumerate(value)]

    def component(self, node: Component, value, path: Path_):
        if isinstance(value, str) and node.shorthand:
            value = {node.key: value}
        if not isinstance(value, dict):
            self.error(path, f"must be a {node.registry.kind} name or a mapping with '{node.key}', "
                       f"got {describe(value)}")
            return None
        if node.key not in value:
            if isinstance(node.default, str):
                value = {node.key: node.default, **value}
            else:
                self.error(path, f"missing required key '{node.key}' (one of: "
                           f"{', '.join(node.registry.names())})")
                return None
        name = value[node.key]
        if not isinstance(name, str) or name not in node.registry or node.registry.get(name) is None \
                and name != "auto":
            self.error(path + (node.key,) if isinstance(value, dict) and path + (node.key,) in
                       self.loc.values else path, node.registry.unknown_message(name))
            return None
        options = node.options_of(name)
        fields = {node.key: None, **options}
        unknown = [k for k in value if k not in fields]
        for k in unknown:
            self.error(path + (k,), f"{name} has no option '{k}'{did_you_mean(k, fields)}"
                       + (f" (options: {', '.join(options)})" if options else " (it takes no options)"),
                       key=True)
        out = {node.key: name}
        for k, opt in options.items():
            out[k] = self.value(opt, value[k], path + (k,)) if k in value else self.default(opt, path + (k,))
        if len(out) == 1 and node.shorthand:
            return name
        return out


# --------------------------------------------------------------------------------------------
# loading
@dataclass
class Config:
    """A validated config: ``data`` is the resolved mapping (every default filled in)."""

    data: dict
    path: Path | None = None
    overrides: list[str] = field(default_factory=list)

    def __getitem__(self, key):
        return self.data[key]

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def name(self) -> str:
        return self.data.get("name") or (self.path.stem if self.path else "run")


def read_yaml(path: Path) -> tuple[Any, Locator]:
    """Parse a YAML file safely, keeping the positions of its keys and values."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a directory, expected a YAML config file") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{label}: not a text file ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{label}: cannot read: {e.strerror}") from None
    loc = Locator(label)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{label}: invalid YAML: nested too deeply") from None
    if node is not None:
        loc.scan(node)
    return data, loc


def parse_override(text: str) -> tuple[list, Any]:
    """'a.b.0.c=value' -> (['a', 'b', 0, 'c'], value parsed as a YAML scalar or flow collection)."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text}: expected key.path=value, got an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {text}: invalid value: {getattr(e, 'problem', e)}") from None
    path = [int(p) if p.lstrip("-").isdigit() else p for p in key.split(".")]
    return path, value


def apply_override(data: dict, path: list, value, text: str) -> None:
    node = data
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, list):
            if not isinstance(part, int) or not -len(node) <= part < len(node):
                raise ConfigError(f"--set {text}: {dotted(tuple(path[:i + 1]))}: no item {part} "
                                  f"(the list has {len(node)})")
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"--set {text}: {dotted(tuple(path[:i]))} is not a mapping")
        if isinstance(node.get(part), str) and isinstance(nxt, str):
            node[part] = {"source" if part == "data" else "name": node[part]}  # expand shorthand
        if part not in node or node[part] is None:
            node[part] = {}
        node = node[part]
    last = path[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or not -len(node) <= last <= len(node):
            raise ConfigError(f"--set {text}: no item {last} (the list has {len(node)})")
        if last == len(node):
            node.append(value)
        else:
            node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"--set {text}: {dotted(tuple(path[:-1]))} is not a mapping")


def check_semantics(cfg: dict, v: Validator) -> None:
    """Combinations that cannot work, found before any data is read."""
    from .engine.network import named
    layers = (cfg.get("model") or {}).get("layers") or []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            continue
        for key in ("activation", "gate"):
            if layer.get(key) is not None and named(layer[key])[0] in ("threshold", "step"):
                v.error(("model", "layers", i, key), "threshold units have no gradient, so "
                        "backpropagation cannot train them; use sigmoid or tanh")
    if layers and isinstance(layers[-1], dict):
        last = layers[-1]
        if last.get("dropout"):
            v.error(("model", "layers", len(layers) - 1, "dropout"), "dropout on the output layer "
                    "would drop outputs; put it on a hidden layer")
        loss = cfg.get("loss")
        loss_name = named(loss)[0] if loss else None
        act = named(last["activation"])[0] if last.get("activation") else None
        units = last.get("units")
        if loss_name == "bce" and act == "softmax" and isinstance(units, int) and units > 1:
            v.error(("loss",), "bce after a softmax over several classes; use cross_entropy "
                    "with softmax, or bce with sigmoid outputs")
        if loss_name == "cross_entropy" and act not in ("softmax", None) and not (
                act == "sigmoid" and units == 1):
            v.error(("loss",), f"cross_entropy needs probabilities, but the output activation is "
                    f"{act}; use softmax outputs")
    bs = (cfg.get("training") or {}).get("batch_size")
    if isinstance(bs, str) and bs != "full":
        v.error(("training", "batch_size"), f"must be an integer >= 1 or 'full', got {bs!r}")
    elif isinstance(bs, int) and not isinstance(bs, bool) and bs < 1:
        v.error(("training", "batch_size"), f"must be >= 1 or 'full', got {bs}")


def format_errors(errors: list[tuple[str, str]]) -> list[str]:
    return [f"{where}: {msg}" for where, msg in errors]


def validate(raw, locator: Locator) -> dict:
    """Validate a raw config mapping; raise ConfigError listing every problem."""
    v = Validator(locator)
    if not isinstance(raw, dict):
        raise ConfigError(f"{locator.filename}: the top level must be a mapping of sections, "
                          f"got {describe(raw) if raw is not None else 'an empty file'}")
    resolved = v.section(schema(), raw, ())
    if not v.errors:
        check_semantics(resolved, v)
    if v.errors:
        lines = format_errors(v.errors)
        raise ConfigError("\n".join(lines), lines)
    return resolved


def load_config(path, overrides: list[str] | tuple = ()) -> Config:
    """Read, override and validate a config file."""
    path = Path(path)
    raw, loc = read_yaml(path)
    raw = copy.deepcopy(raw)
    for text in overrides:
        keys, value = parse_override(text)
        if not isinstance(raw, dict):
            break
        apply_override(raw, keys, value, text)
        loc.overrides[tuple(keys)] = f"--set {text}"
    return Config(validate(raw, loc), path.resolve(), list(overrides))


def batch_size(cfg: dict) -> int | None:
    bs = cfg["training"]["batch_size"]
    return None if bs == "full" else int(bs)


def finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
