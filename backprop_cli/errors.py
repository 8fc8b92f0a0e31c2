"""The error tree of backprop: every user mistake is a BackpropError carrying its exit code.

The CLI prints ``Error: <message>`` on one line and exits with ``exit_code``; ``--debug``
shows the traceback instead. Codes follow the house style:

| code | meaning |
| 0 | success | 1 | unexpected error (a bug) | 2 | usage or config error |
| 3 | data or checkpoint error | 4 | training diverged | 5 | gradcheck found a wrong gradient |
| 130 | interrupted |
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_BUG = 1
EXIT_CONFIG = 2
EXIT_DATA = 3
EXIT_DIVERGED = 4
EXIT_GRADCHECK = 5
EXIT_INTERRUPTED = 130


from os import PathLike
from typing import Any, Union

#: what the library takes for a config: a file path, YAML text, a dict (or a loaded Config)
ConfigLike = Union[str, PathLike, dict, Any]
#: arrays in place of a data section: (X, y), or {'train': (X, y), 'val': (X, y), 'test': (X, y)}
ArraysLike = Union[tuple, dict]
#: a file path (CSV, .npz) or arrays
DataLike = Union[str, PathLike, tuple, Any]


class BackpropError(Exception):
    """Base of every error a user can cause; ``exit_code`` tells the CLI how to exit."""

    exit_code = EXIT_BUG


class ConfigError(BackpropError):
    """A config (file, override or option) is invalid. ``errors`` holds every problem found."""

    exit_code = EXIT_CONFIG

    def __init__(self, message: str, errors: list[str] | None = None):
        self.errors = errors or [message]
        super().__init__(message)


class UsageError(BackpropError):
    exit_code = EXIT_CONFIG


class DataError(BackpropError):
    """Data cannot be read or does not fit the model."""

    exit_code = EXIT_DATA


class CheckpointError(BackpropError):
    exit_code = EXIT_DATA


class DivergedError(BackpropError):
    exit_code = EXIT_DIVERGED


class GradcheckFailed(BackpropError):
    exit_code = EXIT_GRADCHECK
