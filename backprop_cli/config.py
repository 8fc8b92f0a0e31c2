"""YAML -> validated, resolved config: the one schema, every config error, --set overrides.

The schema is declared once, below, from :class:`Option` leaves, :class:`Section` mappings,
:class:`Component` (a name from a registry plus that class's own options) and
:class:`ListOf`. Validation walks it, collects every problem with its line and column, and
fills in every default, so the resolved config written to a run folder is complete.
"""
from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from . import yamlio
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
    per_name: dict | None = None  # name -> options, in place of the class's own ``options``

    def options_of(self, name) -> dict[str, Option]:
        cls = self.registry.get(name)
        own = self.per_name[name] if self.per_name is not None else getattr(cls, "options", None)
        return {**self.common, **(own or {})}


#: the mapping form of model.init_from
INIT_FROM = {
    "path": Option(str, doc="the weights (.npz: a run's checkpoint, or arrays named 0.W, 0.b, ...), "
                   "relative to the config file", file=True,
                   example="runs/pretrain-20250101-120000/checkpoints/last.npz"),
    "layers": Option(list, doc="the layers to load, by position in model.layers (0 is the "
                     "first); every parameter of each (W, b, ...) must be in the file, with the "
                     "model's shape", items=Option(int, ge=0), example=[0]),
}


def _schema() -> Section:
    from .data.sources import COMMON as DATA_COMMON
    from .data.sources import SOURCES
    from .engine.activations import ACTIVATIONS
    from .engine.blocks import LAYERS
    from .engine.initializers import INITIALIZERS
    from .engine.losses import LOSSES
    from .training.optimizers import OPTIMIZERS
    from .training.schedules import SCHEDULES

    activation = Component(ACTIVATIONS, "identity", "the layer's activation unit", example="tanh")
    init = Component(INITIALIZERS, "auto", "weight initializer (biases start at 0); auto: he_uniform "
                     "before relu-like units, xavier_uniform otherwise")
    dropout = Option(float, 0.0, "inverted dropout rate on the layer's output, training only", ge=0, lt=1)
    freeze = Option(bool, False, "keep the layer's parameters as they start (initialized or "
                    "loaded by model.init_from): no optimizer step, penalty or constraint changes them")
    size = Option((int, list), doc="", ge=1, items=Option(int, ge=1))
    bias = Option(bool, True, "learn biases; false: none at all (net = x W, no b parameter)")
    dense = {
        "units": Option(int, doc="number of units (neurons) in the layer", ge=1, example=4),
        "activation": activation,
        "gate": Component(ACTIVATIONS, "sigmoid", "activation of the gate (type gated only)"),
        "init": init,
        "dropout": dropout,
        "max_norm": Option(float, None, "max-norm constraint: after each step, each unit's incoming "
                           "weight vector is scaled down to this L2 norm if longer", gt=0, nullable=True),
        "bias": bias, "freeze": freeze,
    }
    maxout = {
        "units": dense["units"],
        "pieces": Option(int, 2, "k, the linear pieces per unit: unit j outputs max_p (x W + b)_jp",
                         ge=1, example=3),
        "init": init, "dropout": dropout,
        "max_norm": Option(float, None, "max-norm constraint: after each step, each piece's incoming "
                           "weight vector is scaled down to this L2 norm if longer", gt=0, nullable=True),
        "bias": bias, "freeze": freeze,
    }
    pool = {
        "kernel": replace(size, doc="window size: an integer or [kh, kw]", example=2),
        "stride": replace(size, default=None, nullable=True, doc="step between windows: an integer "
                          "or [sh, sw] (default: the kernel)"),
        "padding": Option((int, list), 0, "pixels added on each side (-inf for max, 0 for average; "
                          "at most half the kernel): an integer or [ph, pw]", ge=0,
                          items=Option(int, ge=0)),
    }
    layer_options = {
        "dense": dense, "gated": dense,
        "conv2d": {
            "channels": Option(int, doc="number of filters (output channels)", ge=1, example=6),
            "kernel": replace(size, doc="filter size: an integer or [kh, kw]", example=5),
            "stride": replace(size, default=1, doc="step between filter positions: an integer or "
                              "[sh, sw]"),
            "padding": Option((int, list, str), 0, "zeros added on each side: an integer, [ph, pw], "
                              "'valid' (none) or 'same' (output size = ceil(input / stride))",
                              choices=("valid", "same"), ge=0, items=Option(int, ge=0)),
            "dilation": replace(size, default=1, doc="spacing between kernel taps: an integer or "
                                "[dh, dw]"),
            "activation": activation, "init": init, "dropout": dropout, "bias": bias, "freeze": freeze,
        },
        "maxout": maxout, "maxpool2d": pool, "avgpool2d": pool, "flatten": {}, "global_avgpool": {},
    }
    layer = Component(LAYERS, "dense", "one layer: dense (the default type), gated, maxout, conv2d, "
                      "maxpool2d, avgpool2d, flatten or global_avgpool", key="type", shorthand=False,
                      per_name=layer_options)
    return Section({
        "name": Option(str, None, "run name (default: the config file's name)", nullable=True),
        "seed": Option(int, 0, "seed of every random stream (init, shuffle, dropout, splits)", ge=0),
        "dtype": Option(str, "float32", "floating-point type of weights and data",
                        choices=("float32", "float64")),
        "data": Component(SOURCES, doc="where the examples come from", key="source", shorthand=True,
                          common=DATA_COMMON, example="xor"),
        "model": Section({
            "layers": ListOf(layer, "the layers, input to output", min_items=1,
                             example=[{"units": 4, "activation": "tanh"},
                                      {"units": 1, "activation": "sigmoid"}]),
            "input_size": Option(int, None, "number of input features; the data must have this "
                                 "many (default: whatever the data has)", ge=1, nullable=True),
            "init_from": Option((str, dict), None, "start from these weights (.npz, names like "
                                "0.W, 0.b, or a PyTorch state dict's 0.weight, 0.bias as backprop "
                                "export --format torch-state-dict writes them), relative to the config file; {path: FILE, layers: "
                                "[0, 1]} loads those layers only (positions in model.layers), the "
                                "others start as initialized", nullable=True, file=True,
                                example="runs/xor-20250101-120000/checkpoints/last.npz",
                                fields=INIT_FROM),
        }, "the network", optional=False),
        "loss": Component(LOSSES, doc="the loss (divergence) minimised, the batch mean",
                          example="bce"),
        "optimizer": Component(OPTIMIZERS, "sgd", "the update rule", example={"name": "sgd", "lr": 0.5}),
        "schedule": Component(SCHEDULES, "constant", "how the learning rate changes from epoch to "
                              "epoch", example={"name": "step", "step_size": 100, "gamma": 0.5}),
        "regularization": Section({
            "l2": Option(float, 0.0, "λ of the notes' L2 penalty λ/(2m)·Σw² (m training examples, "
                         "biases excluded)", ge=0),
            "l1": Option(float, 0.0, "λ of the L1 penalty λ/m·Σ|w| (biases excluded)", ge=0),
        }, "norm penalties added to the loss (dropout and max_norm are per layer)"),
        "augment": Section({
            "noise": Option(float, 0.0, "σ of Gaussian noise added to the inputs of every training "
                            "batch (never at evaluation)", ge=0),
            "shift": Option(int, 0, "images: move each example by whole pixels drawn from "
                            "[-shift, shift] down and right independently, filling with zeros", ge=0,
                            example=2),
            "flip": Option((str, list), None, "images: mirror each example with probability 1/2: "
                           "horizontal (columns reversed), vertical (rows reversed), both (each "
                           "independently; also [horizontal, vertical])", nullable=True,
                           choices=("horizontal", "vertical", "both"),
                           items=Option(str, choices=("horizontal", "vertical")), example="horizontal"),
            "rotate": Option(float, 0.0, "images: rotate each example by an angle drawn from "
                             "[-rotate, rotate] degrees about its centre (bilinear, zero fill)",
                             ge=0, le=180, example=10),
            "crop": Option(int, 0, "images: pad each example by this many zero pixels on every side, "
                           "then take a random window of the original size", ge=0, example=2),
        }, "data augmentation of every training batch, never at evaluation (shift, flip, rotate "
           "and crop need images: idx, mnist, image npz arrays, or data.shape; applied in the "
           "order flip, crop, shift, rotate, then noise)"),
        "training": Section({
            "epochs": Option(int, 100, "epoch limit", ge=1),
            "threads": Option(int, None, "threads for the matrix products (the BLAS library's) and "
                              "backprop's own chunked work; null: as the environment sets them "
                              "(OPENBLAS_NUM_THREADS), else every core; results are the same run "
                              "to run at a given count", ge=1, nullable=True, example=2),
            "batch_size": Option((int, str), 32, "examples per step: 1 is online, 'full' the whole "
                                 "training set", choices=("full",), ge=1, example="full"),
            "shuffle": Option(bool, True, "visit examples in a new random order each epoch"),
            "method": Option(str, "backprop", "backprop: gradient descent by backpropagation; "
                             "perceptron: the perceptron rule (one layer of threshold units, "
                             "weights from 0, until an epoch makes no mistake)",
                             choices=("backprop", "perceptron")),
            "examples": Option(str, "all", "all, or misclassified: after an attempt's first epoch, "
                               "train only on the examples misclassified at the start of each epoch "
                               "(all when none are)", choices=("all", "misclassified")),
            "restarts": Option(int, 0, "restart at most this many times when the loss stops "
                               "falling (see restart_if and perturb); the best attempt is kept", ge=0),
            "restart_if": Section({
                "epochs": Option(int, 100, "... within this many epochs", ge=1),
                "fall": Option(float, 0.01, "restart when the training loss has not fallen by this "
                               "fraction ...", gt=0, lt=1),
            }, "when an attempt counts as stuck"),
            "perturb": Option(float, None, "a restart adds N(0, perturb²) noise to every weight; "
                              "null: re-initialize from a new random stream", gt=0, nullable=True),
        }, "the loop"),
        "ensemble": Section({
            "members": Option(int, 1, "bagging: train this many networks (members) in one run folder, "
                              "members/0/, members/1/, ..., and average their outputs (probabilities "
                              "for classification, values for regression); 1: a single network", ge=1,
                              example=5),
            "bootstrap": Option(bool, True, "train each member on its own bootstrap resample of the "
                                "training split (n draws with replacement); false: every member on the "
                                "whole split (they differ by initial weights, example order, dropout)"),
            "member": Option(int, None, "train only this member (0 to members - 1) as a single run: "
                             "its bootstrap sample and initial weights; each member's own config.yaml "
                             "says which it is, so it trains again alone; null: all of them", ge=0,
                             nullable=True),
        }, "bagging (note 002): several networks from one seed, each on its own bootstrap sample; the "
           "data, its splits and their scaling are the run's, the same for every member"),
        "stopping": Section({
            "target_loss": Option(float, None, "stop once the training loss is below this", gt=0,
                                  nullable=True),
            "max_time": Option(float, None, "stop after this many seconds of training", gt=0,
                               nullable=True),
            "tol": Option(float, None, "convergence: stop when the training loss improved by less "
                          "than this for n_iter_no_change epochs", gt=0, nullable=True),
            "n_iter_no_change": Option(int, 10, "epochs of improvement below tol before stopping", ge=1),
            "patience": Option(int, None, "early stopping: stop when the monitored metric has not "
                               "improved by more than min_delta for this many epochs", ge=1, nullable=True),
            "monitor": Option(str, "auto", "metric early stopping watches: auto (val_loss with "
                              "validation data, else train_loss), or any logged metric",
                              example="val_loss"),
            "mode": Option(str, "auto", "min: lower is better; max: higher; auto: max for accuracies",
                           choices=("auto", "min", "max")),
            "min_delta": Option(float, 0.0, "smallest change of the monitored metric that counts as "
                                "an improvement", ge=0),
            "restore_best": Option(bool, True, "with early stopping, end with the weights of the best "
                                   "epoch (whether or not the patience ran out)"),
            "max_loss": Option(float, None, "divergence: stop when a loss exceeds this (NaN and inf "
                               "always stop)", gt=0, nullable=True),
        }, "when to stop before the epoch limit"),
        "output": Section({
            "runs_dir": Option(str, "runs", "where run folders are made (relative to the working "
                               "directory)"),
            "checkpoint_every": Option(int, None, "write checkpoints/last.npz every this many epochs "
                                       "(default: at most every 2 seconds, and at the end)", ge=1,
                                       nullable=True),
            "health": Option((bool, int), False, "append each layer's gradient norm, update/weight "
                             "ratio and dead/saturated shares to health.jsonl: true every epoch, N "
                             "every N epochs (and the first), false never", ge=1, example=10),
            "loggers": Option(list, [], "experiment trackers that receive every epoch's metrics, "
                              "the resolved config and the summary (README, Tracking): tensorboard "
                              "(event files in the run folder's tensorboard/), mlflow (a run in "
                              "$MLFLOW_TRACKING_URI, else in mlruns/ beside the runs folder); needs "
                              "pip install 'backprop-cli[tracking]'",
                              items=Option(str, choices=("tensorboard", "mlflow")), example=["tensorboard"]),
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
    """Maps key paths of a (possibly merged) YAML document to the file, line and column
    (1-based) of their keys and values; ``overrides`` maps paths set by ``--set``."""

    def __init__(self, filename: str = "<config>"):
        self.filename = filename  # the config named on the command line
        self.values: dict[Path_, tuple[str, int, int]] = {}
        self.keys: dict[Path_, tuple[str, int, int]] = {}
        self.overrides: dict[Path_, str] = {}
        self.nonmap: set[Path_] = set()  # paths whose value is not a mapping (replace, not merge)
        self.problems: list[tuple[str, str]] = []  # found while scanning (duplicate keys)

    def scan(self, node, path: Path_ = (), filename: str | None = None) -> None:
        """Record positions iteratively (deep nesting must not overflow the stack); an
        aliased node is scanned once (a 'billion laughs' document stays linear)."""
        filename = filename or self.filename
        seen: set[int] = set()
        stack = [(node, path)]
        while stack:
            node, path = stack.pop()
            self.values.setdefault(path, (filename, node.start_mark.line + 1, node.start_mark.column + 1))
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.MappingNode):
                first: dict = {}
                for k, v in node.value:
                    key = k.value if isinstance(k, yaml.ScalarNode) else None
                    if key is None or key == "<<":
                        continue
                    here = (filename, k.start_mark.line + 1, k.start_mark.column + 1)
                    if key in first:
                        self.problems.append((f"{filename}:{here[1]}:{here[2]}",
                                              f"{dotted(path + (key,))}: duplicate key (first at "
                                              f"line {first[key]}); remove one of them"))
                    first.setdefault(key, here[1])
                    self.keys[path + (key,)] = here
                    stack.append((v, path + (key,)))
            else:
                self.nonmap.add(path)
                if isinstance(node, yaml.SequenceNode):
                    stack.extend((v, path + (i,)) for i, v in enumerate(node.value))

    def under(self, child: "Locator") -> "Locator":
        """This (a parent's) locator with ``child``'s entries on top, as deep_merge merges data:
        a child's non-mapping value replaces everything the parent had below it."""
        def shadowed(p):
            return p in child.values or any(p[:n] in child.nonmap for n in range(len(p)))
        out = Locator(child.filename)
        out.values = {p: v for p, v in self.values.items() if not shadowed(p)}
        out.values.update(child.values)
        out.keys = {p: v for p, v in self.keys.items() if not shadowed(p)}
        out.keys.update(child.keys)
        out.nonmap = {p for p in self.nonmap if not shadowed(p)} | child.nonmap
        out.problems = self.problems + child.problems
        return out

    def set_override(self, path: Path_, label: str) -> None:
        for p in [p for p in self.overrides if p[:len(path)] == path]:
            del self.overrides[p]  # a later --set of a whole mapping replaces earlier ones in it
        self.overrides[path] = label

    def override_of(self, path: Path_) -> str | None:
        for n in range(len(path), -1, -1):
            if path[:n] in self.overrides:
                return self.overrides[path[:n]]
        return None

    def position(self, path: Path_, key: bool = False) -> tuple[str, int, int] | None:
        table = self.keys if key and path in self.keys else self.values
        p = path
        while p not in table and p:
            p = p[:-1]
        return table.get(p)

    def where(self, path: Path_, key: bool = False) -> str:
        label = self.override_of(path)
        if label:
            return label
        pos = self.position(path, key)
        return f"{pos[0]}:{pos[1]}:{pos[2]}" if pos else self.filename

    def origin(self, path: Path_) -> str:
        """Where a given value came from: 'file', 'extends <parent>' or '--set ...'."""
        label = self.override_of(path)
        if label:
            return label
        pos = self.position(path)
        return "file" if pos is None or pos[0] == self.filename else f"extends {pos[0]}"


def dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _position_key(where: str):
    """Sort errors by file position: the command line's file, its parents, then overrides."""
    if where.startswith("--set "):
        return (2, "", 0, 0)
    parts = where.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return (0, parts[0], int(parts[1]), int(parts[2]))
    return (1, where, 0, 0)


# --------------------------------------------------------------------------------------------
# validation
class Validator:
    """Walks the schema and a raw config together: collects every problem with its location,
    fills in every default, and records which paths the user gave (``given``)."""

    def __init__(self, locator: Locator):
        self.loc = locator
        self.errors: list[tuple[str, str]] = list(locator.problems)  # (location, message)
        self.given: set[Path_] = set()
        self._defaulting = 0

    def error(self, path: Path_, message: str, key: bool = False) -> None:
        self.errors.append((self.loc.where(path, key), f"{dotted(path)}: {message}"))

    def sorted_errors(self) -> list[tuple[str, str]]:
        return sorted(self.errors, key=lambda e: _position_key(e[0]))

    def value(self, node, value, path: Path_):
        if not self._defaulting:
            self.given.add(path)
        if isinstance(node, Option):
            if node.fields is not None and isinstance(value, dict):  # its mapping form
                return self.section(Section(node.fields, optional=False), value, path)
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
        self._defaulting += 1
        try:
            if isinstance(node, Section):
                return self.section(node, {}, path)
            d = node.default
            if d is REQUIRED:
                self.error(path[:-1], f"missing required key '{path[-1]}'"
                           + (f" ({node.doc})" if getattr(node, "doc", "") else ""))
                return None
            if isinstance(node, Component) and d is not None:
                return self.component(node, d, path)
            return copy.deepcopy(d)
        finally:
            self._defaulting -= 1

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
        names = ", ".join(node.registry.names())
        short = isinstance(value, str) and node.shorthand
        if short:
            value = {node.key: value}
        if not isinstance(value, dict):
            kind = node.registry.kind
            self.error(path, f"must be {'an' if kind[0] in 'aeiou' else 'a'} {kind} name or a mapping with '{node.key}', "
                       f"got {describe(value)} (names: {names})")
            return None
        if node.key not in value:
            if isinstance(node.default, str):
                value = {node.key: node.default, **value}
            else:
                self.error(path, f"missing required key '{node.key}' (one of: {names})")
                return None
        elif not self._defaulting:
            self.given.add(path + (node.key,))
        name = value[node.key]
        if not isinstance(name, str):
            self.error(path + (node.key,), f"must be the name of {'an' if node.registry.kind[0] in 'aeiou' else 'a'} {node.registry.kind}, got "
                       f"{describe(name)} (expected one of: {names})")
            return None
        if name not in node.registry:  # 'activation: tanhh' is at activation, not activation.name
            self.error(path if short else path + (node.key,), node.registry.unknown_message(name))
            return None
        options = node.options_of(name)
        fields = {node.key: None, **options}
        for k in value:
            if k not in fields:
                self.error(path + (k,), f"{name} has no option '{k}'{did_you_mean(k, fields)}"
                           + (f" (options: {', '.join(options)})" if options else
                              " (it takes no options)"), key=True)
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
    """A validated config: ``data`` is the resolved mapping (every default filled in);
    ``origins`` maps each key path the user gave to where it came from ('file',
    'extends <parent>', '--set ...'); paths not in it hold defaults."""

    data: dict
    path: Path | None = None
    overrides: list[str] = field(default_factory=list)
    origins: dict = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # the config, then its extends chain

    def __getitem__(self, key):
        return self.data[key]

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def name(self) -> str:
        return self.data.get("name") or (self.path.stem if self.path else "run")

    def origin(self, path) -> str:
        """'file', 'extends <parent>', '--set ...' or 'default' for a key path."""
        return self.origins.get(tuple(path), "default")


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
    return parse_yaml(text, label)


def parse_yaml(text: str, label: str) -> tuple[Any, Locator]:
    """Parse YAML text safely (``label`` names it in errors), keeping positions."""
    loc = Locator(label)
    try:
        node = yamlio.compose(text)
        data = yamlio.load(text)
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


def deep_merge(base, over):
    """``over`` on top of ``base``: mappings merge key by key, anything else (lists too) replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = deep_merge(base[k], v) if k in base else v
        return out
    return over


def read_config(path: Path, chain: tuple = ()) -> tuple[Any, Locator, list[str]]:
    """Read a config file and, through ``extends: parent.yaml`` (relative to the file), its
    parents: (merged raw data, locator, the files read, child first). File paths in a parent
    are relative to the parent; they are rewritten relative to this file before the merge."""
    raw, loc = read_yaml(path)
    files = [str(path)]
    if not isinstance(raw, dict) or "extends" not in raw:
        return raw, loc, files
    raw = dict(raw)
    ext = raw.pop("extends")
    where = loc.where(("extends",))
    if not isinstance(ext, str) or not ext.strip():
        raise ConfigError(f"{where}: extends: must be the path of a YAML file, got {describe(ext)}")
    parent = Path(os.path.normpath(path.parent / ext))
    here = (path.resolve(), str(path))
    if parent.resolve() in [p for p, _ in chain + (here,)]:
        cycle = " -> ".join([label for _, label in chain + (here,)] + [str(parent)])
        raise ConfigError(f"{where}: extends: cycle: {cycle}")
    if not parent.exists():
        raise ConfigError(f"{where}: extends: file not found: {parent}")
    praw, ploc, pfiles = read_config(parent, chain + (here,))
    if not isinstance(praw, dict):
        raise ConfigError(f"{parent}:1:1: (top level): must be a mapping of sections, got "
                          f"{describe(praw) if praw is not None else 'an empty file'} "
                          f"(extended by {path})")
    try:  # a parent's data files are relative to the parent, wherever the child is
        rebase_files(praw, parent.parent, path.parent)
    except (TypeError, ValueError):  # a malformed parent: validation reports it
        pass
    _expand_short_forms(schema(), praw, raw)
    return deep_merge(praw, raw), ploc.under(loc), files + pfiles


def _expand_short_forms(node, parent, child) -> None:
    """Before a merge, a component's short form on one side (``data: xor``) becomes its
    mapping (``{source: xor}``) where the other side is a mapping, so that a child's
    ``data: {val_fraction: 0.2}`` adds to its parent's ``data: xor`` instead of replacing it."""
    if not (isinstance(node, Section) and isinstance(parent, dict) and isinstance(child, dict)):
        return
    for k, sub in node.fields.items():
        if k not in parent or k not in child:
            continue
        if isinstance(sub, Component) and sub.shorthand:
            for side, other in ((parent, child), (child, parent)):
                if isinstance(side[k], str) and isinstance(other[k], dict):
                    side[k] = {sub.key: side[k]}
        else:
            _expand_short_forms(sub, parent[k], child[k])


def parse_override(text: str) -> tuple[list, Any]:
    """'a.b.0.c=value' -> (['a', 'b', 0, 'c'], value parsed as a YAML scalar or flow collection)."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part.strip() for part in key.split(".")):
        raise ConfigError(f"--set {text}: expected key.path=value, got an empty key")
    try:
        value = yamlio.load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {text}: invalid value: {getattr(e, 'problem', None) or e}") from None
    path = [int(p) if p.lstrip("-").isdigit() else p.strip() for p in key.split(".")]
    return path, value


def _child_node(node, part):
    """The schema node below ``node`` at ``part`` (None when unknown)."""
    if isinstance(node, Section):
        return node.fields.get(part)
    if isinstance(node, ListOf):
        return node.item
    return None


def apply_override(data: dict, path: list, value, text: str) -> None:
    """Set ``path`` in raw config ``data`` to ``value`` in place, creating mappings on the way
    and expanding a component's short form ('sgd' -> {name: sgd}) when an option is set."""
    node, snode = data, schema()
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, list):
            if not isinstance(part, int) or not -len(node) <= part < len(node):
                raise ConfigError(f"--set {text}: {dotted(tuple(path[:i + 1]))}: no item {part} "
                                  f"(the list has {len(node)})")
            node, snode = node[part], _child_node(snode, part)
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"--set {text}: {dotted(tuple(path[:i]))} is not a mapping")
        sub = _child_node(snode, part)
        if isinstance(node.get(part), str) and isinstance(nxt, str) and isinstance(sub, Component):
            node[part] = {sub.key: node[part]}  # expand the short form
        if part not in node or node[part] is None:
            node[part] = {}
        node, snode = node[part], sub
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
    from .engine.activations import ACTIVATIONS
    from .engine.network import named
    layers = (cfg.get("model") or {}).get("layers") or []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            continue
        for key in ("activation", "gate"):
            if layer.get(key) is not None and named(layer[key])[0] in ("threshold", "step") and not (
                    _method(cfg) == "perceptron" and key == "activation"):
                v.error(("model", "layers", i, key), "threshold units have no gradient, so "
                        "backpropagation cannot train them; use sigmoid or tanh, or "
                        "training.method: perceptron for one layer of threshold units")
            if isinstance(layer.get(key), (str, dict)) and named(layer[key])[0] in ACTIVATIONS:
                unit, opts = named(layer[key])
                for opt, msg in getattr(ACTIVATIONS.get(unit), "problems", lambda o: [])(opts):
                    v.error(("model", "layers", i, key, opt), msg)
    _check_training_methods(cfg, v)
    _check_init_from_and_freeze(cfg, layers, v)
    _check_ensemble(cfg, v)
    _check_data_shape(cfg, v)
    _check_augment(cfg, v)
    _check_shapes(cfg, layers, v)
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
        _check_classes(cfg, units, v, len(layers) - 1)


def _learns(spec: dict) -> bool:
    """Whether a layer spec has parameters (dense, gated, maxout, conv2d; not pools or flatten)."""
    from .engine.blocks import LAYERS, input_rank
    cls = LAYERS.get(spec.get("type", "dense"))
    try:
        return bool(cls.parameter_shapes(spec, (None,) * input_rank([spec])))
    except Exception:  # noqa: BLE001 - options with errors of their own, reported elsewhere
        return True


def _check_init_from_and_freeze(cfg: dict, layers: list, v: Validator) -> None:
    """init_from's layers name layers that learn, each once; a frozen layer takes no max_norm
    (it would change the weights freeze keeps); not every layer may be frozen."""
    from .engine.blocks import LAYERS
    specs = [lay if isinstance(lay, dict) and lay.get("type", "dense") in LAYERS else None
             for lay in layers]
    init = (cfg.get("model") or {}).get("init_from")
    if isinstance(init, dict) and isinstance(init.get("layers"), list):
        chosen = init["layers"]
        if not chosen:
            v.error(("model", "init_from", "layers"), "must list at least one layer (by position "
                    "in model.layers); to load every layer, give init_from the file alone")
        seen = set()
        for j, i in enumerate(chosen):
            if not isinstance(i, int) or isinstance(i, bool) or i < 0:
                continue  # reported by the option's own check
            where = ("model", "init_from", "layers", j)
            if i in seen:
                v.error(where, f"layer {i} is listed twice")
            elif i >= len(layers):
                v.error(where, f"no layer {i}: model.layers has {len(layers)} (0 to {len(layers) - 1})")
            elif specs[i] is not None and not _learns(specs[i]):
                v.error(where, f"layer {i} is {specs[i].get('type')}, which has no parameters to "
                        "load; list dense, gated, maxout or conv2d layers")
            seen.add(i)
    frozen = [i for i, spec in enumerate(specs) if spec is not None and spec.get("freeze") is True]
    for i in frozen:
        if specs[i].get("max_norm"):
            v.error(("model", "layers", i, "max_norm"), "the layer is frozen (freeze: true), so its "
                    "weights never change and a max-norm constraint would change them; remove one "
                    "of the two")
    learning = [i for i, spec in enumerate(specs) if spec is not None and _learns(spec)]
    if frozen and learning and set(learning) <= set(frozen) and all(s is not None for s in specs):
        v.error(("model", "layers", frozen[-1], "freeze"), "every layer with parameters is frozen, "
                "so training would change nothing; leave at least one layer (usually the output "
                "layer) unfrozen")


def _check_shapes(cfg: dict, layers: list, v: Validator) -> None:
    """Each layer type's own option checks, then the shapes layer by layer: with the input
    shape the data section declares (mnist, data.shape, ...), or ranks only when it is read
    from the data; the output layer must be dense (or gated), images never reach a softmax."""
    from .engine.blocks import LAYERS, LayerShapeError, infer_shapes, input_shape, named, show
    if not layers or not all(isinstance(lay, dict) and lay.get("type") in LAYERS for lay in layers):
        return
    bad = False
    for i, layer in enumerate(layers):
        for key, msg in LAYERS.get(layer["type"]).problems(layer):
            v.error(("model", "layers", i) + ((key,) if key else ()), msg)
            bad = True
    last = layers[-1]
    if last["type"] not in ("dense", "gated"):
        v.error(("model", "layers", len(layers) - 1, "type"), f"the output layer is {last['type']}; "
                "end with a dense layer (after flatten or global_avgpool for feature maps)")
        bad = True
    if bad:
        return
    shape, checked = declared_input_shape(cfg), None
    try:
        if shape is not None and len(shape) == 1:  # flat data: a first image layer says so
            input_shape(layers, shape[0], None)
        checked = shape
        shapes = infer_shapes(layers, shape)
    except LayerShapeError as e:
        given = f" (the data's examples are {show(checked)})" if checked is not None else ""
        v.error(("model", "layers", e.index) + ((e.key,) if e.key else ()), e.message + given)
        return
    for i, (layer, out) in enumerate(zip(layers, shapes)):
        if len(out) > 1 and layer.get("activation") and named(layer["activation"])[0] == "softmax":
            v.error(("model", "layers", i, "activation"), f"softmax needs a vector, but this layer "
                    f"gives feature maps {show(out)}; use it on a dense output layer")


def declared_input_shape(cfg: dict) -> tuple | None:
    """The shape of one example as the config's data section declares it before any data is
    read (None when only the data can tell), flattened when the first layer takes features."""
    from .data.sources import declared_shape
    from .engine.blocks import input_rank
    data = cfg.get("data")
    if isinstance(data, str):
        data = {"source": data}
    layers = (cfg.get("model") or {}).get("layers") or []
    try:
        shape = declared_shape(data) if isinstance(data, dict) else None
    except Exception:  # noqa: BLE001 - options with errors of their own, reported elsewhere
        return None
    if shape is None or not layers:
        return None
    if input_rank(layers) == 1:
        return (math.prod(shape),)
    return tuple(shape)


def _method(cfg: dict) -> str:
    return (cfg.get("training") or {}).get("method", "backprop")


def _check_training_methods(cfg: dict, v: Validator) -> None:
    """Option combinations of optimizers and schedules, and what the perceptron rule allows."""
    from .engine.network import named
    from .training.optimizers import OPTIMIZERS
    from .training.schedules import SCHEDULES
    for key, registry in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)):
        if cfg.get(key) is None:
            continue
        name, opts = named(cfg[key])
        for opt, msg in getattr(registry.get(name), "problems", lambda o: [])(opts):
            v.error((key, opt), msg)
    layers = (cfg.get("model") or {}).get("layers") or []
    training = cfg.get("training") or {}
    if training.get("restarts") and training.get("perturb") is None:
        for i, layer in enumerate(layers):
            if isinstance(layer, dict) and named(layer.get("init") or "auto")[0] == "zeros":
                v.error(("training", "perturb"), f"null re-initializes, but model.layers.{i}.init is "
                        "zeros, so every restart would start where the first did; set perturb: σ")
                break
    if _method(cfg) != "perceptron":
        return
    first = layers[0] if layers and isinstance(layers[0], dict) else {}
    if len(layers) != 1 or named(first.get("activation") or "identity")[0] not in ("threshold", "step") \
            or first.get("type", "dense") != "dense":
        v.error(("model", "layers"), "training.method perceptron trains one dense layer of threshold "
                "units; expected layers: [{units: 1, activation: threshold}]")
    loss = named(cfg["loss"])[0] if cfg.get("loss") else None
    if loss not in ("quadratic", "mse", "mae", None):
        v.error(("loss",), f"the perceptron's outputs are 0 or 1, so {loss} cannot measure them; "
                "use quadratic (or mse, mae)")
    opt = named(cfg.get("optimizer") or "sgd")
    if opt[0] != "sgd" or any(opt[1].get(k) for k in ("momentum", "weight_decay", "clip_norm",
                                                       "clip_value")):
        v.error(("optimizer",), "the perceptron rule has its own update w += lr·(y - o)·x; set only "
                "optimizer: {name: sgd, lr: ...}")
    unsupported = {("training", "examples"): (cfg["training"].get("examples"), "all"),
                   ("training", "restarts"): (cfg["training"].get("restarts"), 0),
                   ("regularization", "l2"): ((cfg.get("regularization") or {}).get("l2"), 0.0),
                   ("regularization", "l1"): ((cfg.get("regularization") or {}).get("l1"), 0.0),
                   ("augment", "noise"): ((cfg.get("augment") or {}).get("noise"), 0.0),
                   ("augment", "shift"): ((cfg.get("augment") or {}).get("shift"), 0),
                   ("augment", "flip"): ((cfg.get("augment") or {}).get("flip"), None),
                   ("augment", "rotate"): ((cfg.get("augment") or {}).get("rotate"), 0.0),
                   ("augment", "crop"): ((cfg.get("augment") or {}).get("crop"), 0),
                   ("model", "layers", 0, "dropout"): (first.get("dropout"), 0.0),
                   ("model", "layers", 0, "max_norm"): (first.get("max_norm"), None),
                   ("output", "health"): ((cfg.get("output") or {}).get("health"), False)}
    for path, (value, default) in unsupported.items():
        if value not in (default, None) and value != default:
            v.error(path, f"the perceptron rule does not use {path[-1]} (got {value!r}); remove it "
                    "or use training.method: backprop")


def _check_ensemble(cfg: dict, v: Validator) -> None:
    """``ensemble.member`` names one of the members; the members must be able to differ."""
    ens = cfg.get("ensemble") or {}
    members, member = ens.get("members", 1), ens.get("member")
    if not isinstance(members, int) or isinstance(members, bool):
        return
    if member is not None and isinstance(member, int) and (members < 2 or member >= members):
        v.error(("ensemble", "member"), f"member {member} of {members}: expected 0 to {members - 1}"
                if members >= 2 else f"member {member}, but members is {members} (no ensemble); "
                "expected members: 2 or more")
    training = cfg.get("training") or {}
    if members >= 2 and ens.get("bootstrap") is False and _method(cfg) == "perceptron" \
            and training.get("shuffle") is False:
        v.error(("ensemble", "bootstrap"), "false, with training.method perceptron (weights from 0) "
                "and training.shuffle false, makes every member the same network; expected bootstrap: "
                "true or shuffle: true")


def _check_data_shape(cfg: dict, v: Validator) -> None:
    """``data.shape``: [C, H, W] or [H, W], multiplying to the feature count when the source's
    options fix it (xor's n_inputs, mnist's 28x28)."""
    from .data.base import shape_problem, shape_text
    from .data.sources import SOURCES
    data = cfg.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("shape"), list):
        return
    problem = shape_problem(data["shape"])
    if problem:
        v.error(("data", "shape"), problem)
        return
    if data.get("source") not in SOURCES:
        return
    own = SOURCES.get(data["source"]).own_shape(data)
    shape = SOURCES.get(data["source"]).declared_shape(data)
    if own is not None and math.prod(shape) != math.prod(own):
        v.error(("data", "shape"), f"{data['shape']} is {shape_text(shape)} = {math.prod(shape)} "
                f"values per example, but {data['source']} has {math.prod(own)} features; expected "
                f"C·H·W = {math.prod(own)}")
    elif own is not None and len(own) == 3 and shape != own:
        v.error(("data", "shape"), f"{data['shape']}, but {data['source']}'s images are "
                f"{shape_text(own)}; expected {list(own)} or no data.shape")


def _check_augment(cfg: dict, v: Validator) -> None:
    """Image augmentation on a source that cannot give images (csv, the built-in problems)
    without data.shape; files that may hold images are checked when read."""
    from .data.sources import SOURCES
    from .training.augment import IMAGE_OPTIONS
    data, aug = cfg.get("data"), cfg.get("augment")
    if not isinstance(data, dict) or not isinstance(aug, dict) or data.get("source") not in SOURCES:
        return
    source = SOURCES.get(data["source"])
    if data.get("shape") is not None or source.images:
        return
    for key in IMAGE_OPTIONS:
        if aug.get(key):
            v.error(("augment", key), f"needs images, but {data['source']} data has no image shape; "
                    f"set data.shape: [C, H, W] (e.g. [1, 8, 8] for the bundled digits), or remove "
                    f"augment.{key}")


def _check_classes(cfg: dict, units, v: Validator, last: int) -> None:
    """Output units against a class count known before any data is read (see _n_classes)."""
    from .data.sources import SOURCES
    data = cfg.get("data")
    if not isinstance(data, (dict, str)) or not isinstance(units, int):
        return
    data = data if isinstance(data, dict) else {"source": data}
    if data.get("task") == "regression" or data.get("source") not in SOURCES:
        return
    cls = SOURCES.get(data["source"])
    n = _n_classes(cls, data)
    if isinstance(n, int) and n >= 2 and units != n and not (n == 2 and units == 1):
        what = "data.classes names" if isinstance(data.get("classes"), list) else f"{data['source']} has"
        v.error(("model", "layers", last, "units"), f"the output layer has {units} units but "
                f"{what} {n} classes (expected {n}" + (" or 1" if n == 2 else "") + ")")


def _n_classes(cls, data: dict):
    """The class count known before loading: ``data.classes`` names them, or the source class
    declares ``n_classes``, an int or a function of the section's options (e.g. spiral arms)."""
    if isinstance(data.get("classes"), list) and data["classes"]:
        return len(data["classes"])
    n = getattr(cls, "n_classes", None)
    if callable(n):
        try:
            return n(data)
        except Exception:  # noqa: BLE001 - a source that cannot tell before loading
            return None
    return n


def file_options(cfg: dict, folders: bool = False) -> list[tuple[tuple, dict, Any]]:
    """(key path, mapping, key) of every file option set in a config mapping, raw or
    resolved: options marked ``Option.file``, and data options named path, *_path or *_file;
    with ``folders``, options marked ``Option.folder`` (mnist's ``dir``) too."""
    found = []

    def walk(node, value, path, holder=None, key=None, data_option=False):
        if isinstance(node, Option) and node.fields is not None and isinstance(value, dict):
            for k, sub in node.fields.items():  # init_from: {path: ..., layers: [...]}
                if k in value:
                    walk(sub, value[k], path + (k,), value, k)
        elif isinstance(node, Option):
            name = str(path[-1]) if path else ""
            is_file = node.file or (data_option and (name == "path" or name.endswith(("_path", "_file")))) \
                or (folders and node.folder)
            if is_file and isinstance(value, str) and value:
                found.append((path, holder, key))
        elif isinstance(node, Section) and isinstance(value, dict):
            for k, sub in node.fields.items():
                if k in value:
                    walk(sub, value[k], path + (k,), value, k)
        elif isinstance(node, ListOf) and isinstance(value, list):
            for i, item in enumerate(value):
                walk(node.item, item, path + (i,), value, i)
        elif isinstance(node, Component) and isinstance(value, dict) and value.get(node.key) in node.registry:
            for k, opt in node.options_of(value[node.key]).items():
                if k in value:
                    walk(opt, value[k], path + (k,), value, k, data_option=path == ("data",))
    walk(schema(), cfg, ())
    return found


def check_files(cfg: dict, v: Validator, base_dir: Path) -> None:
    """Every file option must name an existing file, relative to the config file, and the
    data source's other files must be there (MNIST's folder)."""
    for path, holder, key in file_options(cfg):
        p = Path(holder[key]).expanduser()
        p = p if p.is_absolute() else Path(os.path.normpath(base_dir / p))
        if not p.exists():
            v.error(path, f"file not found: {p}")
        elif p.is_dir():
            v.error(path, f"is a directory, expected a file: {p}")
    from .data.sources import SOURCES
    data = cfg.get("data")
    data = {"source": data} if isinstance(data, str) else data
    if isinstance(data, dict) and data.get("source") in SOURCES:
        for key, problem in SOURCES.get(data["source"]).missing_files(data, base_dir):
            v.error(("data", key), problem)


def rebase_files(raw: dict, source_dir: Path, target_dir: Path) -> None:
    """Rewrite the relative file paths of a raw config read from ``source_dir`` so that they
    name the same files relative to ``target_dir`` (an extending config's folder)."""
    for _, holder, key in file_options(raw, folders=True):
        p = Path(holder[key]).expanduser()
        if not p.is_absolute():
            holder[key] = os.path.relpath(source_dir / p, target_dir)


def absolute_files(cfg: dict, base_dir: Path) -> dict:
    """``cfg`` with its relative file and folder paths made absolute (from ``base_dir``, the
    config file's folder) and normalized, so that it works from any folder: a run's
    config.yaml, a sweep's best.yaml. ``cfg`` itself is not changed."""
    cfg = copy.deepcopy(cfg)
    for _, holder, key in file_options(cfg, folders=True):
        p = Path(holder[key]).expanduser()
        holder[key] = os.path.normpath(p if p.is_absolute() else Path(base_dir).resolve() / p)
    return cfg


def normalize_files(cfg: dict) -> None:
    """Write each file and folder path of a config without '.' and 'x/..' steps:
    'sub/../../data/x.csv' becomes '../data/x.csv' (still relative to the config file)."""
    for _, holder, key in file_options(cfg, folders=True):
        holder[key] = os.path.normpath(holder[key])


def check_name(cfg: dict, v: Validator) -> None:
    from .rundir import NAME_RE
    name = cfg.get("name")
    if isinstance(name, str) and (not NAME_RE.match(name) or ".." in name):
        v.error(("name",), f"invalid run name {name!r}: use letters, digits, '.', '_' and '-' "
                "(starting with a letter or digit, no '..'), at most 100 characters")


def format_errors(errors: list[tuple[str, str]]) -> list[str]:
    return [f"{where}: {msg}" for where, msg in errors]


def resolve(raw, locator: Locator, base_dir: Path | None = None) -> tuple[dict, dict]:
    """Validate a raw config mapping: (resolved config, origins of the given paths); raise
    ConfigError listing every problem, sorted by position."""
    if not isinstance(raw, dict):
        found = describe(raw) if raw is not None else "an empty file"
        raise ConfigError(f"{locator.where(())}: (top level): must be a mapping of sections "
                          f"(data, model, loss, ...), got {found}")
    v = Validator(locator)
    resolved = v.section(schema(), raw, ())
    clean = not v.errors
    try:
        check_semantics(resolved, v)
    except Exception:  # noqa: BLE001 - on a config already known bad, semantic checks are best-effort
        if clean:
            raise
    check_name(resolved, v)
    if base_dir is not None:
        check_files(resolved, v, base_dir)
    if v.errors:
        lines = format_errors(v.sorted_errors())
        raise ConfigError("\n".join(lines), lines)
    return resolved, {p: locator.origin(p) for p in v.given}


def validate(raw, locator: Locator, base_dir: Path | None = None) -> dict:
    """Validate a raw config mapping; raise ConfigError listing every problem."""
    return resolve(raw, locator, base_dir)[0]


def with_overrides(raw, loc: Locator, overrides) -> Any:
    """``raw`` (a copy the caller owns) with each ``--set key=value`` applied and recorded in
    ``loc`` as the value's origin."""
    for text in overrides:
        keys, value = parse_override(text)
        if not isinstance(raw, dict):
            break
        apply_override(raw, keys, value, text)
        loc.set_override(tuple(keys), f"--set {text}")
    return raw


def load_config(path: str | os.PathLike, overrides: list[str] | tuple = ()) -> Config:
    """Read a config file (and the files it extends), apply ``--set`` overrides, validate.
    Nothing is read but YAML files and nothing is written."""
    path = Path(os.path.normpath(path))
    try:
        raw, loc, files = read_config(path)
        raw = with_overrides(copy.deepcopy(raw), loc, overrides)
        resolved, origins = resolve(raw, loc, path.parent)
        normalize_files(resolved)
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None
    return Config(resolved, path.resolve(), list(overrides), origins, files)


def config_from(config, overrides: list[str] | tuple = (), data: dict | None = None) -> Config:
    """A validated Config from a file path, YAML text (it has a newline or a ': '), or a dict.

    Text and dicts are relative to the working directory (their ``extends`` and data files);
    ``data``: a ``data`` section to merge over the config's (``{'source': 'arrays'}`` when the
    data comes as arrays: the source's own options are then dropped, the common ones kept)."""
    if isinstance(config, Config):
        return config
    if isinstance(config, (str, os.PathLike)) and not (
            isinstance(config, str) and ("\n" in config or ": " in config)):
        if data is None:
            return load_config(config, overrides)
        path = Path(os.path.normpath(config))
        raw, loc, files = read_config(path)
        base, label = path.parent, path
    else:
        if isinstance(config, str):
            raw, loc = parse_yaml(config, "<config text>")
        elif isinstance(config, dict):
            raw, loc = copy.deepcopy(config), Locator("<config dict>")
        else:
            raise ConfigError(f"config: expected a file path, YAML text or a dict, got "
                              f"{type(config).__name__}")
        files, base, label = [], Path.cwd(), None
        if isinstance(raw, dict) and "extends" in raw:
            raw = dict(raw)
            parent = Path(os.path.normpath(base / str(raw.pop("extends"))))
            praw, ploc, files = read_config(parent)
            rebase_files(praw, parent.parent, base)
            _expand_short_forms(schema(), praw, raw)
            raw, loc = deep_merge(praw, raw), ploc.under(loc)
    raw = copy.deepcopy(raw)
    if data is not None and isinstance(raw, dict):
        from .data.base import COMMON
        given = raw.get("data")
        given = {"source": given} if isinstance(given, str) else dict(given or {})
        raw["data"] = {**{k: v for k, v in given.items() if k in COMMON}, **data}
    raw = with_overrides(raw, loc, overrides)
    resolved, origins = resolve(raw, loc, base)
    normalize_files(resolved)
    return Config(resolved, label.resolve() if label else None, list(overrides), origins,
                  files if label is None else [str(label), *files[1:]])


def batch_size(cfg: dict) -> int | None:
    bs = cfg["training"]["batch_size"]
    return None if bs == "full" else int(bs)


def finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
