"""A sweep's results: one row per trial in results.jsonl and results.csv, points ranked by
the metric with mean ± std over seeds, the best config as best.yaml, and ``collect``.

results.jsonl is an append log (a line per finished trial, the last line of a trial wins;
a line cut short by a kill is ignored); results.csv and best.yaml are rewritten atomically.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import yamlio
from ..errors import ConfigError
from ..rundir import _jsonable, atomic_write, json_number

FINISHED = ("ok", "diverged")  # skipped on resume; failed and crashed trials run again


def make_row(trial, outcome: dict, run_dir: Path, metric: str, seed) -> dict:
    """The row of one trial from its worker's outcome (see trial.run_trial)."""
    s = outcome.get("summary") or {}
    final, best = s.get("final") or {}, s.get("best") or {}
    if s.get("test"):
        final = {**final, **s["test"]}
    return {
        "trial": trial.id, "index": trial.index, "point": trial.point, "status": outcome["status"],
        "params": trial.params, "seed": s.get("seed", seed), "overrides": trial.overrides,
        "metric": json_number(final.get(metric)), "final": final, "best": best,
        "epochs": s.get("epochs"), "stop_reason": s.get("stop_reason"),
        "wall_time": outcome.get("wall_time"), "error": outcome.get("error"),
        "run_dir": str(run_dir),
    }


def append_row(path: Path, row: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, default=_jsonable) + "\n")
        fh.flush()


def read_rows(path: Path) -> dict[str, dict]:
    """trial id -> its last row in a results.jsonl (missing file: no rows)."""
    rows: dict[str, dict] = {}
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut short when the driver was killed
            continue
        if isinstance(row, dict) and "trial" in row:
            rows[row["trial"]] = row
    return rows


def ordered(rows: dict[str, dict]) -> list[dict]:
    return sorted(rows.values(), key=lambda r: (r.get("index", 0), r["trial"]))


def csv_text(rows: list[dict], metric: str) -> str:
    params = list(dict.fromkeys(k for r in rows for k in r["params"]))
    finals = list(dict.fromkeys(k for r in rows for k in r["final"] if k != "epoch"))
    bests = list(dict.fromkeys(k for r in rows for k in r["best"]))
    cols = (["trial", "status", "seed", *params, metric] + [f"final_{k}" for k in finals]
            + [f"best_{k}" for k in bests] + ["epochs", "stop_reason", "wall_time", "error",
                                              "overrides", "run_dir"])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([r["trial"], r["status"], r["seed"], *(r["params"].get(k, "") for k in params),
                    _cell(r["metric"]), *(_cell(r["final"].get(k)) for k in finals),
                    *(_cell(r["best"].get(k)) for k in bests), _cell(r["epochs"]),
                    _cell(r["stop_reason"]), _cell(r["wall_time"]), _cell(r["error"]),
                    " ".join(f"--set {o}" for o in r["overrides"]), r["run_dir"]])
    return buf.getvalue()


def _cell(x):
    return "" if x is None else x


@dataclass
class Point:
    """The trials of one point of the search space (differing only in seed)."""

    point: str
    params: dict
    rows: list[dict] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        return [r["metric"] for r in self.rows if r["status"] == "ok" and r["metric"] is not None
                and math.isfinite(r["metric"])]

    @property
    def mean(self) -> float | None:
        v = self.values
        return statistics.fmean(v) if v else None

    @property
    def std(self) -> float | None:
        v = self.values
        return statistics.stdev(v) if len(v) > 1 else None

    def statuses(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r["status"]] = out.get(r["status"], 0) + 1
        return out

    def best_row(self, goal: str) -> dict | None:
        ok = [r for r in self.rows if r["status"] == "ok" and r["metric"] is not None]
        return (min if goal == "minimize" else max)(ok, key=lambda r: r["metric"]) if ok else None

    def to_json(self) -> dict:
        return {"point": self.point, "params": self.params, "mean": self.mean, "std": self.std,
                "n": len(self.values), "seeds": [r["seed"] for r in self.rows],
                "statuses": self.statuses(), "trials": [r["trial"] for r in self.rows]}


def rank(rows: list[dict], goal: str) -> list[Point]:
    """Points best first by the mean of the metric over seeds; points without one last."""
    points: dict[str, Point] = {}
    for r in rows:
        points.setdefault(r["point"], Point(r["point"], r["params"])).rows.append(r)
    sign = 1 if goal == "minimize" else -1
    return sorted(points.values(), key=lambda p: (p.mean is None, sign * p.mean if p.mean is not None else 0))


def best_config(row: dict, base: Path) -> dict:
    """The resolved config of a trial (its run folder's config.yaml), with file paths made
    absolute so it works from the sweep folder."""
    from ..config import absolute_files
    text = (Path(row["run_dir"]) / "config.yaml").read_text(encoding="utf-8")
    return absolute_files(yamlio.load(text), base.parent)


def write_outputs(folder: Path, info: dict, rows: dict[str, dict], write_jsonl: bool = False) -> dict:
    """results.csv (and, when merging, results.jsonl) and best.yaml; returns the summary."""
    metric, goal = info["metric"]["name"], info["metric"]["goal"]
    rows_list = ordered(rows)
    atomic_write(folder / "results.csv", csv_text(rows_list, metric))
    if write_jsonl:
        atomic_write(folder / "results.jsonl",
                     "".join(json.dumps(r, default=_jsonable) + "\n" for r in rows_list))
    points = rank(rows_list, goal)
    best = points[0] if points and points[0].mean is not None else None
    best_yaml = None
    if best is not None:
        row = best.best_row(goal)
        try:
            cfg = best_config(row, Path(info["base"]))
        except (OSError, yaml.YAMLError):
            cfg = None  # the trial folder is gone (e.g. a shard not copied): no best.yaml
        if cfg is not None:
            spread = f" ± {best.std:.4g}" if best.std is not None else ""
            header = (f"# best of sweep {info['name']}: {metric} {best.mean:.6g}{spread} over "
                      f"{len(best.values)} run(s) ({goal}); trial {row['trial']}\n"
                      f"# from {info['base']} " + " ".join(f"--set {o}" for o in row["overrides"])
                      + "\n# backprop train best.yaml\n")
            best_yaml = folder / "best.yaml"
            atomic_write(best_yaml, header + yamlio.dump(cfg, sort_keys=False))
    return {"points": points, "best": best, "best_yaml": best_yaml}


@dataclass
class SweepResult:
    """What a sweep did: its folder, the trials selected, every row, the ranked points."""

    sweep_dir: Path | None
    info: dict
    trials: list  # the Trials selected (collect: sweep.yaml's trial_list)
    rows: dict = field(default_factory=dict)
    points: list = field(default_factory=list)
    best: object = None
    best_yaml: Path | None = None
    skipped: int = 0  # finished in an earlier run of the same sweep
    ran: int = 0
    interrupted: bool = False
    dry_run: bool = False
    missing: list = field(default_factory=list)

    def to_json(self) -> dict:
        from ..rundir import json_number
        best = self.best.to_json() if self.best is not None else None
        return {"sweep_dir": str(self.sweep_dir) if self.sweep_dir else None,
                "name": self.info.get("name"), "metric": self.info.get("metric"),
                "trials": len(self.trials), "ran": self.ran, "skipped": self.skipped,
                "interrupted": self.interrupted, "dry_run": self.dry_run,
                "statuses": _count(r["status"] for r in self.rows.values()),
                "best": best, "best_yaml": str(self.best_yaml) if self.best_yaml else None,
                "points": [p.to_json() for p in self.points],
                "results": [{k: (json_number(v) if isinstance(v, float) else v) for k, v in r.items()}
                            for r in sorted(self.rows.values(), key=lambda r: r["index"])],
                **({"missing": self.missing} if self.missing else {}),
                **({"planned": [{"index": t.index, "trial": t.id, "overrides": t.overrides}
                                for t in self.trials]} if self.dry_run else {})}


def _count(items) -> dict:
    out: dict = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def collect(directory: str | os.PathLike) -> SweepResult:
    """Merge the results of a sweep folder, or of the sweep folders (shards) right below
    ``directory``, into ``directory``: results.csv, results.jsonl and best.yaml."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"{directory}: not a folder; expected a sweep folder, or a folder of "
                          "sweep folders (shards)")
    folders = [directory] if (directory / "sweep.yaml").exists() else sorted(
        p.parent for p in directory.glob("*/sweep.yaml"))
    if not folders:
        raise ConfigError(f"{directory}: no sweep.yaml in it or in its subfolders; expected a "
                          "folder made by backprop sweep, or the --runs-dir of its shards")
    infos = [(f, read_info(f)) for f in folders]
    first_folder, info = infos[0]
    for f, other in infos[1:]:
        if other.get("fingerprint") != info.get("fingerprint"):
            raise ConfigError(f"{f}: sweep.yaml: fingerprint: not the sweep of {first_folder} (a "
                              "different sweep file or base config); collect one sweep's shards at a time")
    rows: dict[str, dict] = {}
    for f, _ in infos:
        for tid, row in read_rows(f / "results.jsonl").items():
            if tid not in rows or rows[tid]["status"] not in FINISHED:
                rows[tid] = row
    out = write_outputs(directory, info, rows, write_jsonl=True)
    trial_list = info.get("trial_list") or []
    return SweepResult(directory, info, trial_list, rows, out["points"], out["best"], out["best_yaml"],
                       missing=sorted({t["id"] for t in trial_list} - set(rows)))


def read_info(folder: Path) -> dict:
    path = folder / "sweep.yaml"
    try:
        info = yamlio.load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    if not isinstance(info, dict) or "metric" not in info or "base" not in info:
        raise ConfigError(f"{path}: not a sweep.yaml written by backprop sweep (no metric or base)")
    return info
