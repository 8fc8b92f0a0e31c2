"""Reading finished run folders back: metrics.jsonl, summary.json, config.yaml, the weights.

A run folder is what ``backprop train`` writes (README, "What a run writes"). ``read_run``
reads its records; ``load_run_setup`` rebuilds the data splits and the network from its
resolved config.yaml and puts in the weights of checkpoints/last.npz.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import yamlio
from .errors import DataError

#: an ensemble's run folder keeps member i, itself a run folder, in members/<i>/ (ensemble.py)
MEMBERS = "members"


def is_member(path) -> bool:
    """Whether ``path`` is an ensemble's member folder, RUN/members/<i>."""
    path = Path(path).resolve()
    return path.parent.name == MEMBERS and path.name.isdigit()


def run_label(path) -> str:
    """How a run folder is named to people: its folder's name, and for an ensemble's member
    RUN/members/<i> the ensemble's with it (``bag/members/0``); a path like ``.`` or
    ``members/0`` is resolved first, so the name is never empty."""
    path = Path(path).resolve()
    if is_member(path):
        return f"{path.parent.parent.name}/{MEMBERS}/{path.name}"
    return path.name


def member_folders(run_dir) -> list[Path]:
    """An ensemble run folder's members, RUN/members/<i>, in the order of i (none: [])."""
    folder = Path(run_dir) / MEMBERS
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.name.isdigit() and p.is_dir()),
                  key=lambda p: int(p.name))


@dataclass
class Run:
    path: Path
    name: str
    metrics: list[dict]
    summary: dict | None
    config: dict | None

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(epochs, values) of one metrics.jsonl column, where present and finite."""
        pts = [(m["epoch"], m[key]) for m in self.metrics
               if isinstance(m.get(key), (int, float)) and math.isfinite(m[key])]
        return [e for e, _ in pts], [v for _, v in pts]

    @property
    def best_epoch(self) -> int | None:
        best = (self.summary or {}).get("best") or {}
        return best.get("epoch")

    @property
    def task(self) -> str | None:
        return (self.summary or {}).get("task")


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{i}: not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{i}: expected a JSON object per line")
        rows.append(row)
    return rows


def read_run(path) -> Run:
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: no such run folder")
    mfile = path / "metrics.jsonl"
    if not mfile.is_file() and (path / "ensemble.json").is_file():
        raise DataError(f"{path}: the run folder of an ensemble, whose members are runs: "
                        f"{path / 'members' / '0'}, ...; give one of them")
    if not mfile.is_file():
        raise DataError(f"{path}: not a run folder (no metrics.jsonl); "
                        f"expected a folder that backprop train wrote")
    metrics = [m for m in read_jsonl(mfile) if isinstance(m.get("epoch"), int)]
    summary = None
    if (path / "summary.json").is_file():
        try:
            summary = json.loads((path / "summary.json").read_text())
        except json.JSONDecodeError as e:
            raise DataError(f"{path / 'summary.json'}:{e.lineno}: not valid JSON ({e.msg})") from None
    config = None
    if (path / "config.yaml").is_file():
        try:
            config = yamlio.load((path / "config.yaml").read_text())
        except yaml.YAMLError as e:
            raise DataError(f"{path / 'config.yaml'}: not valid YAML ({e})") from None
    return Run(path, run_label(path), metrics, summary, config)


def load_run_setup(path: Path, config=None, overrides=(), data=None, which: str = "last"):
    """The run's splits and network with the weights of checkpoints/<which>.npz (``api.Setup``).

    The config is the run's resolved config.yaml, read relative to the config file it came
    from (for data files given by relative path), or ``config`` when given. ``data``: arrays
    in place of the run's data ((X, y) or {'train': ..., 'val': ..., 'test': ...}), as the
    run of arrays needs (its data section says ``source: arrays``).
    """
    from . import api, checkpoint
    from .config import Config
    run = read_run(path)
    if config is not None:
        cfg = api.as_config(config, overrides)
    else:
        if run.config is None:
            raise DataError(f"{path}: no config.yaml in the run folder")
        origin = (run.summary or {}).get("config")
        cfg = Config(run.config, Path(origin) if origin else (path / "config.yaml").resolve())
    config_data = json.loads(json.dumps(cfg.data))
    config_data["model"]["init_from"] = None  # the checkpoint's weights replace any initial ones
    if data is None:
        data = api.run_arrays(path, config_data)
    s = api.setup(Config(config_data, cfg.path, cfg.overrides), data=data)
    ckpt = path / "checkpoints" / f"{which}.npz"
    if which == "best" and not ckpt.is_file():  # a run without validation keeps no best
        ckpt = path / "checkpoints" / "last.npz"
    s.network.load_state_dict(checkpoint.load_weights(ckpt), source=str(ckpt))
    return s
