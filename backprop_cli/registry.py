"""Registries map the names a YAML config uses to the small classes that implement them.

Each registry is the single list of its names; lookups of unknown names raise a KeyError
whose message lists the valid names and suggests the closest one.
"""
from __future__ import annotations

import difflib
from typing import Any, Iterator


def did_you_mean(word: str, candidates) -> str:
    """'; did you mean 'x'?' for the closest candidate, or '' when nothing is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class UnknownName(KeyError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Registry:
    """name -> class. ``kind`` names what is registered ("activation", "loss", ...)."""

    def __init__(self, kind: str, entries: dict[str, Any] | None = None):
        self.kind = kind
        self._entries: dict[str, Any] = dict(entries or {})

    def register(self, name: str, cls=None):
        if cls is None:  # decorator form
            def deco(c):
                self.register(name, c)
                return c
            return deco
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' registered twice")
        self._entries[name] = cls
        return cls

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self):
        return self._entries.items()

    def get(self, name: str):
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownName(self.unknown_message(name)) from None

    def unknown_message(self, name) -> str:
        return (f"unknown {self.kind} {name!r}{did_you_mean(name, self._entries)} "
                f"(expected one of: {', '.join(self._entries)})")

    def build(self, name: str, **kwargs):
        return self.get(name)(**kwargs)
