"""YAML as backprop reads and writes it: safe, with YAML 1.2 numbers.

PyYAML follows YAML 1.1, where ``1e-3`` is the string '1e-3' (a float needs a '.') and
``010`` is the octal 8. Configs, ``--set`` values, sweep files and ``extends`` parents are
read with :class:`Loader`, a SafeLoader whose int and float resolvers are YAML 1.2's core
schema:

    int   := [-+]? [0-9]+  |  0o [0-7]+  |  0x [0-9a-fA-F]+
    float := [-+]? ( . [0-9]+ | [0-9]+ ( . [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
           | [-+]? .inf  |  .nan                     (also .Inf .INF, .NaN .NAN)

so ``1e-3``, ``1E3``, ``.5``, ``1.``, ``+1`` and ``0x1F`` are numbers, ``010`` is ten,
and ``1e3abc``, ``1.2.3``, ``1:30`` or ``0b101`` stay strings. As in YAML 1.1 (and Python),
``_`` may separate digits (``1_000``). Everything else (booleans yes/no/on/off, null,
timestamps) is SafeLoader's. :class:`Dumper` quotes every string that either YAML 1.1 or
this loader would read as something else, so what backprop writes reads back the same with
either.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

INT, FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_DIGITS = r"[0-9](?:_?[0-9])*"
INT_RE = re.compile(rf"^(?:[-+]?{_DIGITS}|0o[0-7](?:_?[0-7])*|0x[0-9a-fA-F](?:_?[0-9a-fA-F])*)$")
FLOAT_RE = re.compile(
    rf"^(?:[-+]?(?:\.{_DIGITS}(?:[eE][-+]?[0-9]+)?"          # .5, .5e3
    rf"|{_DIGITS}(?:\.(?:{_DIGITS})?(?:[eE][-+]?[0-9]+)?"    # 1., 1.5, 1.5e-3
    rf"|[eE][-+]?[0-9]+))"                                   # 1e-3 (a bare 1 is an int)
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")


def _without_numbers(resolvers: dict) -> dict:
    return {first: [(tag, rx) for tag, rx in pairs if tag not in (INT, FLOAT)]
            for first, pairs in resolvers.items()}


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """Decimal (a leading 0 is not octal, as in YAML 1.2), 0o octal or 0x hexadecimal."""
    text = loader.construct_scalar(node).replace("_", "")
    return int(text, 0) if text[:2] in ("0o", "0x") else int(text, 10)


class Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema ints and floats (see the module docstring)."""


Loader.yaml_implicit_resolvers = _without_numbers(yaml.SafeLoader.yaml_implicit_resolvers)
Loader.add_implicit_resolver(INT, INT_RE, list("-+0123456789"))
Loader.add_implicit_resolver(FLOAT, FLOAT_RE, list("-+0123456789."))
Loader.add_constructor(INT, _construct_int)


class Dumper(yaml.SafeDumper):
    """SafeDumper that quotes a string when YAML 1.1 or :class:`Loader` would not read it as one."""


Dumper.yaml_implicit_resolvers = {  # YAML 1.2 numbers first, then SafeDumper's YAML 1.1 ones
    first: [p for p in Loader.yaml_implicit_resolvers.get(first, []) if p[0] in (INT, FLOAT)]
    + yaml.SafeDumper.yaml_implicit_resolvers.get(first, [])
    for first in {**yaml.SafeDumper.yaml_implicit_resolvers, **Loader.yaml_implicit_resolvers}}


def load(text: str) -> Any:
    """``yaml.safe_load`` with YAML 1.2 numbers."""
    return yaml.load(text, Loader=Loader)


def compose(text: str) -> yaml.Node | None:
    """The node tree of ``text`` (for positions), resolved as :func:`load` resolves it."""
    return yaml.compose(text, Loader=Loader)


def dump(data: Any, **options) -> str:
    """``yaml.safe_dump`` whose output :func:`load` (and YAML 1.1) reads back unchanged."""
    return yaml.dump(data, Dumper=Dumper, **options)


# libyaml's parser (C) under the same resolvers and constructors: what load() returns, about
# 8x faster on a run's config.yaml (0.45 ms against 3.6), for reading many of them (`backprop
# runs --where optimizer.name=adam` over thousands of run folders). Without libyaml, Loader.
if getattr(yaml, "__with_libyaml__", False):
    class FastLoader(yaml.CSafeLoader):
        """:class:`Loader`'s YAML 1.2 numbers on libyaml's parser."""

    FastLoader.yaml_implicit_resolvers = {k: list(v) for k, v in Loader.yaml_implicit_resolvers.items()}
    FastLoader.add_constructor(INT, _construct_int)
else:  # pragma: no cover - libyaml is in every wheel of PyYAML we install
    FastLoader = Loader


def load_fast(text: str) -> Any:
    """:func:`load`, parsed by libyaml when PyYAML has it (same result)."""
    return yaml.load(text, Loader=FastLoader)
