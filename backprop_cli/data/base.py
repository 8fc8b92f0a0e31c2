"""The Source protocol and the options every ``data`` section takes."""
from __future__ import annotations

import numpy as np

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
}


class Source:
    """A data source. ``task`` is classification, regression, or None (decided by the
    config's ``data.task`` and the loss). ``load`` returns ``{'X': (n, d) features, 'y':
    targets (class indices, class names or values)}`` plus optional ``classes``,
    ``feature_names``, ``path`` (for messages), and ``val`` / ``test`` dicts of their own X, y.
    The arrays are new ones the caller owns: loading scales the features in place when they
    are already in the run's dtype, rather than holding the data twice."""

    options: dict[str, Option] = {}
    task: str | None = None
    doc = ""

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
