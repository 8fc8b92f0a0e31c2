"""Declarations of config options: type, default, allowed range or names, one-line doc.

Components (activations, losses, optimizers, data sources, ...) declare their own options
with :class:`Option`; ``config.py`` assembles them with the fixed sections into one schema,
from which validation, ``docs/CONFIG.md`` and the JSON Schema are all derived.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

REQUIRED = object()  # sentinel default: the key must be given


@dataclass(frozen=True)
class Option:
    """One config key. ``type`` is one of int, float, bool, str, list, dict (or a tuple of
    them); ``choices`` restricts values to names; ``gt``/``ge``/``lt``/``le`` bound numbers;
    ``nullable`` allows null; ``items`` is the Option of each list item; ``file`` marks a path
    that must name an existing file (relative to the config file), ``folder`` a folder
    (relative to the config file too). With a type that admits strings and numbers
    (``(int, str)``), ``choices`` restricts the strings only. ``fields``: for a type that
    admits a mapping, the options of its keys (validated key by key, each error at its own
    line; ``model.init_from: {path, layers}``)."""

    type: Any
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple | None = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    nullable: bool = False
    items: "Option | None" = None
    example: Any = None
    extra: dict = field(default_factory=dict)
    file: bool = False
    folder: bool = False
    fields: "dict[str, Option] | None" = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def types(self) -> tuple:
        return self.type if isinstance(self.type, tuple) else (self.type,)

    def type_name(self) -> str:
        names = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
                 list: "a list", dict: "a mapping"}
        return " or ".join(names[t] for t in self.types())

    def range_text(self) -> str:
        parts = []
        for op, bound in ((">", self.gt), (">=", self.ge), ("<", self.lt), ("<=", self.le)):
            if bound is not None:
                parts.append(f"{op} {bound:g}")
        return " and ".join(parts)

    def mixed(self) -> bool:
        """Strings restricted to names, or numbers: batch_size is an integer or 'full'."""
        return self.choices is not None and str in self.types() and len(self.types()) > 1

    def expected(self) -> str:
        """What a valid value looks like, for errors: 'an integer >= 1 or 'full''."""
        if self.mixed():
            others = Option(tuple(t for t in self.types() if t is not str) or str,
                            gt=self.gt, ge=self.ge, lt=self.lt, le=self.le)
            rng = others.range_text()
            return (others.type_name() + (f" {rng}" if rng else "") + " or "
                    + " or ".join(repr(c) for c in self.choices))
        return self.type_name()

    def check(self, value) -> tuple[Any, str | None]:
        """Return (coerced value, None) or (value, problem)."""
        if value is None:
            if self.nullable:
                return None, None
            return value, f"must be {self.expected()}, got null"
        types = self.types()
        if isinstance(value, bool) and bool not in types:
            return value, f"must be {self.expected()}, got {str(value).lower()}"
        if not isinstance(value, types):
            if float in types and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            else:
                return value, f"must be {self.expected()}, got {describe(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return value, f"must be a finite number, got {describe(value)}"
        if self.choices is not None and (isinstance(value, str) or not self.mixed()) \
                and value not in self.choices:
            from .registry import did_you_mean
            if self.mixed():
                return value, f"must be {self.expected()}, got {describe(value)}{did_you_mean(value, self.choices)}"
            return value, (f"must be one of {', '.join(map(str, self.choices))}, got {describe(value)}"
                           f"{did_you_mean(value, self.choices)}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if ((self.gt is not None and not value > self.gt)
                    or (self.ge is not None and not value >= self.ge)
                    or (self.lt is not None and not value < self.lt)
                    or (self.le is not None and not value <= self.le)):
                if self.mixed():
                    return value, f"must be {self.expected()}, got {value:g}"
                return value, f"must be {self.range_text()}, got {value:g}"
        if isinstance(value, list) and self.items is not None:
            out = []
            for i, item in enumerate(value):
                v, problem = self.items.check(item)
                if problem:
                    return value, f"item {i}: {problem}"
                out.append(v)
            value = out
        return value, None


def describe(value) -> str:
    """A short description of a found value for error messages, in YAML's words."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return {math.inf: ".inf", -math.inf: "-.inf"}.get(value, ".nan" if value != value else repr(value))
    if isinstance(value, int):
        return repr(value) if abs(value) < 10 ** 30 else f"{value:.3g}"
    return f"a {type(value).__name__} ({str(value)[:40]})"
