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
    ``nullable`` allows null; ``items`` is the Option of each list item."""

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

    def check(self, value) -> tuple[Any, str | None]:
        """Return (coerced value, None) or (value, problem)."""
        if value is None:
            if self.nullable:
                return None, None
            return value, f"must be {self.type_name()}, got null"
        types = self.types()
        if isinstance(value, bool) and bool not in types:
            return value, f"must be {self.type_name()}, got {str(value).lower()}"
        if not isinstance(value, types):
            if float in types and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            else:
                return value, f"must be {self.type_name()}, got {describe(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return value, f"must be a finite number, got {value}"
        if self.choices is not None and value not in self.choices:
            from .registry import did_you_mean
            return value, (f"must be one of {', '.join(map(str, self.choices))}, got {value!r}"
                           f"{did_you_mean(value, self.choices)}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if ((self.gt is not None and not value > self.gt)
                    or (self.ge is not None and not value >= self.ge)
                    or (self.lt is not None and not value < self.lt)
                    or (self.le is not None and not value <= self.le)):
                return value, f"must be {self.range_text()}, got {value:g}"
        return value, None


def describe(value) -> str:
    """A short description of a found value for error messages."""
    if isinstance(value, str):
        return f"{value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)
