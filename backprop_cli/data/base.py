"""The Source protocol and the options every ``data`` section takes."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..schema import Option
from .preprocess import SCALES

#: options of every source, whatever its name (config.py adds them to each ``data`` section)
COMMON = {
    "task": Option(str, "auto", "classification or regression (auto: from the source and the loss)",
                   choices=("auto", "classification", "regression")),
    "val_fraction": Option(float, 0.0, "fraction held out for validation (stratified for classes, "
                           "from the seed)", ge=0, lt=1),
    "test_fraction": Option(float, 0.0, "fraction held out for the final test (stratified for "
                            "classes, from the seed)", ge=0, lt=1),
    "scale": Option(str, "none", "feature scaling, fitted on the training split: standardize, "
                    "minmax, pixels (divide by pixel_max) or none", choices=SCALES),
    "pixel_max": Option(float, 255.0, "the divisor of scale: pixels", gt=0),
    "classes": Option(list, None, "names of the classes 0, 1, ..., for reports (default: from the "
                      "data)", nullable=True, example=["setosa", "versicolor", "virginica"]),
    "shape": Option(list, None, "the image shape of one example, [C, H, W] (e.g. [1, 8, 8] for the "
                    "bundled digits; [H, W] means [1, H, W]), for flat sources such as CSV; files "
                    "with image arrays (idx, mnist, 3- or 4-dimensional npz) give it themselves",
                    nullable=True, items=Option(int, ge=1), example=[1, 8, 8]),
}


def shape_problem(value) -> str | None:
    """What is wrong with a validated ``data.shape`` list (its items are ints >= 1), if anything."""
    if value is not None and len(value) not in (2, 3):
        return (f"must be [C, H, W] (or [H, W] for one channel), got {len(value)} "
                f"number{'s' if len(value) != 1 else ''}")
    return None


def image_shape(value) -> tuple[int, int, int] | None:
    """``data.shape`` as a (C, H, W) tuple: [H, W] is one channel; None stays None."""
    if value is None:
        return None
    problem = shape_problem(value)
    if problem:
        raise ConfigError(f"data.shape: {problem}")
    return tuple(int(v) for v in ([1, *value] if len(value) == 2 else value))


def shape_text(shape) -> str:
    """'1×28×28' for an image shape, '784' for a vector's."""
    return "×".join(str(int(v)) for v in shape)


class Source:
    """A data source. ``task`` is classification, regression, or None (decided by the
    config's ``data.task`` and the loss). ``load`` returns ``{'X': (n, d) features, 'y':
    targets (class indices, class names or values)}`` plus optional ``classes``,
    ``feature_names``, ``path`` (for messages), ``shape`` (the image shape (C, H, W) of one
    example, when the file holds images), and ``val`` / ``test`` dicts of their own X, y.
    The arrays are new ones the caller owns: loading scales the features in place when they
    are already in the run's dtype, rather than holding the data twice."""

    options: dict[str, Option] = {}
    task: str | None = None
    doc = ""
    images = False  # whether its files can hold image arrays (else only data.shape makes images)

    def __init__(self, **options):
        defaults = {k: o.default for k, o in self.options.items() if not o.required}
        self.opts = {**defaults, **options}

    def load(self, base_dir, rng: np.random.Generator) -> dict:  # pragma: no cover - protocol
        raise NotImplementedError(f"{type(self).__name__}.load")

    @classmethod
    def missing_files(cls, opts: dict, base_dir) -> list[tuple[str, str]]:
        """(option, problem) for each file the source would read that is not there, beyond
        its ``Option.file`` options (config.py checks those): checked with the config, exit 2."""
        return []

    @classmethod
    def declared_shape(cls, opts: dict) -> tuple | None:
        """The input shape known before any data is read: ``data.shape`` as (C, H, W) when
        given, else what the source's options fix (:meth:`own_shape`), else None."""
        given = image_shape(opts.get("shape"))
        return given if given is not None else cls.own_shape(opts)

    @classmethod
    def own_shape(cls, opts: dict) -> tuple | None:
        """The shape of one example the source gives whatever its file holds: (C, H, W) for
        images, (d,) for vectors; None when only the data can tell."""
        return None
