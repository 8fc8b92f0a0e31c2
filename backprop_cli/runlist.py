"""``backprop runs``: a folder of run folders as one table, filtered and sorted; two runs compared.

One row per folder right below DIR (README, "Listing and comparing runs"):

- a run (``summary.json``, else ``metrics.jsonl``): kind ``run``;
- an ensemble (``ensemble.json``, members in ``members/<i>/``): one row, kind ``ensemble``,
  its metrics the ensemble's (the average of its members' outputs);
- a sweep (``sweep.yaml``, trials in ``trials/<id>/``): one row, kind ``sweep``, its trial count,
  its metric and the best point's value, its metrics those of the best point's best trial.

``all_=True`` (``--all``) adds a row per ensemble member (kind ``member``, named
``RUN/members/<i>``) and per sweep trial (kind ``trial``, ``SWEEP/trials/<id>``). DIR may itself be
a sweep or an ensemble (its trials or members are listed) or a run (that run).

Status, from the files alone:

- ``summary.json`` present: ``diverged`` or ``interrupted`` when its flags say so, else ``finished``;
- no ``summary.json``, or one older than ``metrics.jsonl`` (a run resumed since): ``running`` when the run's newest file (``metrics.jsonl``,
  ``checkpoints/last.npz``, for an ensemble its members' too) changed within
  ``max(RUNNING_SECONDS, 3 x its last epoch_time)`` of now (a run appends to metrics.jsonl
  every epoch), else ``killed``: stopped without a summary (SIGKILL, a crash,
  power loss); ``backprop train --resume`` goes on with it;
- a sweep: ``finished`` when every trial it selects has a row in ``results.jsonl``, else
  ``running`` (results written within ``max(RUNNING_SECONDS, 3 x its longest trial)``) or
  ``interrupted`` (``backprop sweep`` again resumes it).

Speed: a finished run costs one read of ``summary.json`` and one of ``config.yaml``'s text (its
``data:`` lines, for the data column; no YAML parsing); checkpoints and ``metrics.jsonl`` are
read only for runs without a summary. A config key of ``--where`` or ``--sort`` parses only its
top-level block of the row's ``config.yaml`` (``optimizer:``'s lines for ``optimizer.name``), with
libyaml: 5,000 runs filtered on ``optimizer.name`` in about 1 s, against about 20 s parsing each
whole file with the pure-Python loader (benchmarks/runs_list.py). ``--diff`` parses both files whole.
"""
from __future__ import annotations

import fnmatch
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .errors import DataError, UsageError

DEFAULT_DIR = "runs"  # output.runs_dir's default (a test checks they agree)
RUNNING_SECONDS = 120.0

#: the columns of a row, in the order of --json's objects
COLUMNS = ("name", "path", "kind", "status", "when", "config", "data", "task", "epochs",
           "stop_reason", "best_epoch", "best_split", "best_loss", "best_accuracy", "test_loss",
           "test_accuracy", "wall_time", "members", "trials", "metric", "metric_value", "best_trial")
#: the columns of the table, in order
SHOWN = ("name", "kind", "status", "when", "config", "data", "epochs", "best_loss", "best_accuracy",
         "test_loss", "test_accuracy", "wall_time", "stop_reason")
STAMP_RE = re.compile(r"-(\d{8}-\d{6})(?:-\d+)?$")  # make_run_dir's <name>-YYYYmmdd-HHMMSS[-k]
MISSING = object()


# -- reading one folder -------------------------------------------------------------------------
def _read_json(path: Path):
    """The object in a JSON file; None when the file is missing. Raises ValueError when broken."""
    try:
        with open(path, "rb") as fh:
            text = fh.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj


def _read_text(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):  # missing, unreadable, or not text
        return None


def _mtime(path: Path) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def _when(path: Path) -> str | None:
    """When the run started: the time in its folder's name (make_run_dir writes it when the
    run starts, local time), else the modification time of its config.yaml (or sweep.yaml)."""
    m = STAMP_RE.search(path.name)
    if m:
        d = m.group(1)
        if "01" <= d[4:6] <= "12" and "01" <= d[6:8] <= "31" and d[9:11] <= "23" and d[11:13] <= "59" \
                and d[13:15] <= "60":
            return f"{d[:4]}-{d[4:6]}-{d[6:8]}T{d[9:11]}:{d[11:13]}:{d[13:15]}"
    for f in ("config.yaml", "sweep.yaml"):
        t = _mtime(path / f)
        if t is not None:
            return datetime.fromtimestamp(t).isoformat(timespec="seconds")
    return None


_DATA_LINE = re.compile(r"^  (source|path): (.*)$")


def _data_of(text: str | None) -> str | None:
    """The data column from a resolved config.yaml's text: the file name of ``data.path`` when
    set, else ``data.source``. The file is backprop's own block-style dump: the ``data:`` block
    is the lines after ``data:`` indented by two spaces; a value quoted or carried on to the
    next line is parsed with YAML (the block alone)."""
    if not text:
        return None
    start = 0 if text.startswith("data:\n") else text.find("\ndata:\n") + 1
    if start <= 0 and not text.startswith("data:\n"):
        return None
    lines = text[start + 6:].split("\n")
    block, found = [], {}
    for i, line in enumerate(lines):
        if line and not line.startswith(" ") and not line.startswith("-"):
            break
        block.append(line)
        m = _DATA_LINE.match(line)
        if m:
            value = m.group(2)
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if value[:1] in ("'", '"', "|", ">", "&", "*", "!", "{", "[") or nxt.startswith("    "):
                found = None  # not a plain one-line scalar: let YAML read the block
            elif found is not None:
                found[m.group(1)] = None if value in ("null", "~") else value
    if found is None:
        from . import yamlio
        try:
            found = yamlio.load_fast("data:\n" + "\n".join(block)).get("data") or {}
        except Exception:  # noqa: BLE001 - a column, not a check: leave it empty
            return None
    path = found.get("path")
    if isinstance(path, str) and path:
        return path.replace("\\", "/").rsplit("/", 1)[-1]
    source = found.get("source")
    return source if isinstance(source, str) else None


_TOP_RE = re.compile(r"(?m)^([A-Za-z_][A-Za-z0-9_]*):")


def _sections(text: str | None) -> dict[str, tuple[int, int]]:
    """Where each top-level key's block of a config.yaml's text starts and ends: from its
    line ``key:`` at column 0 to the next such line (backprop writes block-style YAML, whose
    nested lines, list items aside, are indented)."""
    if not text:
        return {}
    found = [(m.group(1), m.start()) for m in _TOP_RE.finditer(text)]
    return {k: (start, found[i + 1][1] if i + 1 < len(found) else len(text))
            for i, (k, start) in enumerate(found)}


def _config_name(summary: dict | None, path: Path) -> str | None:
    """The config file's name without .yaml; else the run folder's name without its time."""
    cfg = (summary or {}).get("config")
    if isinstance(cfg, str) and cfg:
        return cfg.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".yaml").removesuffix(".yml")
    m = STAMP_RE.search(path.name)
    return path.name[:m.start()] if m else None


def _main_metrics(record: dict | None) -> tuple:
    """(split, loss, accuracy) of a metrics record: val_ when it has them, else train_."""
    record = record or {}
    for split in ("val", "train"):
        if record.get(f"{split}_loss") is not None or record.get(f"{split}_accuracy") is not None:
            return split, record.get(f"{split}_loss"), record.get(f"{split}_accuracy")
    return None, None, None


def _read_metrics(path: Path) -> list[dict]:
    """metrics.jsonl's records, skipping a line cut short by a kill."""
    text = _read_text(path) or ""
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("epoch"), int):
            out.append(rec)
    return out


def _liveness(files: list[Path], window: float, now: float) -> str:
    newest = max((t for t in map(_mtime, files) if t is not None), default=None)
    return "running" if newest is not None and now - newest < window else "killed"


@dataclass
class Row:
    """One listed folder: its columns, summary.json's object, and its config, parsed when asked."""

    path: Path
    cols: dict
    summary: dict | None = None
    config_text: object = MISSING  # config.yaml's text (None: no such file), read when first needed
    parent: str | None = None  # --all: the name of the sweep or ensemble row it belongs to
    _spans: dict | None = field(default=None, repr=False)
    _parsed: dict = field(default_factory=dict, repr=False)
    _config: object = field(default=MISSING, repr=False)

    @property
    def config(self) -> dict | None:
        """config.yaml, parsed (libyaml); None when missing or broken."""
        if self._config is MISSING:
            self._config = _parse(self._text())
        return self._config

    def section(self, name: str):
        """config.yaml's top-level ``name`` alone, parsed from its block (a --where on
        optimizer.name parses the optimizer's lines, not the whole file); MISSING when absent."""
        if self._config is not MISSING:
            return self._config.get(name, MISSING) if self._config is not None else MISSING
        if self._spans is None:
            self._spans = _sections(self._text())
        if name not in self._parsed:
            span = self._spans.get(name)
            parsed = _parse(self._text()[span[0]:span[1]]) if span else None
            if span and (parsed is None or list(parsed) != [name]):  # not a block of its own: whole file
                return (self.config or {}).get(name, MISSING)
            self._parsed[name] = parsed[name] if span else MISSING
        return self._parsed[name]

    def get(self, key: str):
        """The value of a column, else of summary.json's dotted key, else of config.yaml's;
        MISSING when none has it."""
        if key in self.cols:
            v = self.cols[key]
            return MISSING if v is None else v
        v = _dig(self.summary, key)
        if v is not MISSING:
            return v
        first, _, rest = key.partition(".")
        v = self.section(first)
        return v if v is MISSING or not rest else _dig(v, rest)

    def _text(self) -> str | None:
        if self.config_text is MISSING:
            self.config_text = _read_text(self.path / "config.yaml")
        return self.config_text

    def to_json(self) -> dict:
        return {k: self.cols.get(k) for k in COLUMNS}


def _parse(text: str | None) -> dict | None:
    if not text:
        return None
    from . import yamlio
    try:
        obj = yamlio.load_fast(text)
    except Exception:  # noqa: BLE001 - a broken config.yaml has no keys to match
        return None
    return obj if isinstance(obj, dict) else None


def _dig(obj, key: str):
    if obj is None:
        return MISSING
    for part in key.split("."):
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return MISSING
    return obj


def _base(path: Path, name: str, kind: str) -> dict:
    cols = dict.fromkeys(COLUMNS)
    cols.update(name=name, path=str(path), kind=kind, when=_when(path))
    return cols


def run_row(path: Path, name: str, kind: str = "run", summary=MISSING, now: float | None = None) -> Row | None:
    """The row of a run or ensemble folder; None when ``path`` is neither."""
    if summary is MISSING:
        summary = _read_json(path / "summary.json")
    text = _read_text(path / "config.yaml")
    if summary is None:
        return _unfinished_row(path, name, kind, text, time.time() if now is None else now)
    ensemble = isinstance(summary.get("members"), list)
    cols = _base(path, name, "ensemble" if ensemble and kind == "run" else kind)
    status = "diverged" if summary.get("diverged") else "interrupted" if summary.get("interrupted") else "finished"
    if not ensemble:  # resumed (--resume) since this summary: metrics.jsonl is newer
        m, s = _mtime(path / "metrics.jsonl"), _mtime(path / "summary.json")
        if m is not None and s is not None and m > s:
            last = (summary.get("final") or {}).get("epoch_time") or 0
            status = _liveness([path / "metrics.jsonl", path / "checkpoints" / "last.npz"],
                               max(RUNNING_SECONDS, 3 * last), time.time() if now is None else now)
    best = summary.get("best") or {}
    split, loss, acc = _main_metrics(best)
    if ensemble:  # no best epoch: the ensemble's scores (its members' averaged outputs)
        split, loss, acc = _main_metrics(summary.get("final"))
        cols["members"] = (summary.get("ensemble") or {}).get("members", len(summary["members"]))
    test = summary.get("test") or {}
    cols.update(status=status, config=_config_name(summary, path), data=_data_of(text),
                task=summary.get("task"), epochs=summary.get("epochs"),
                stop_reason=summary.get("stop_reason"), best_epoch=None if ensemble else best.get("epoch"),
                best_split=split, best_loss=loss, best_accuracy=acc, test_loss=test.get("test_loss"),
                test_accuracy=test.get("test_accuracy"), wall_time=summary.get("wall_time"))
    return Row(path, cols, summary, text)


def _unfinished_row(path: Path, name: str, kind: str, text: str | None, now: float) -> Row | None:
    """A run or ensemble folder without summary.json: running, or killed."""
    if (path / "ensemble.json").is_file():
        from .runs import member_folders
        members = member_folders(path)
        files, epochs, last_time = [path / "ensemble.json"], 0, 0.0
        for m in members:
            done = _read_json_quiet(m / "summary.json")
            if done is not None:
                epochs += done.get("epochs") or 0
            else:
                recs = _read_metrics(m / "metrics.jsonl")
                epochs += recs[-1]["epoch"] if recs else 0
                last_time = max([last_time] + [r.get("epoch_time") or 0 for r in recs[-1:]])
            files += [m / "metrics.jsonl", m / "checkpoints" / "last.npz", m / "summary.json"]
        state = _read_json_quiet(path / "ensemble.json") or {}
        n = state.get("members")
        cols = _base(path, name, "ensemble" if kind == "run" else kind)
        done = sum((m / "summary.json").is_file() for m in members)
        cols.update(status=_liveness(files, max(RUNNING_SECONDS, 3 * last_time), now),
                    config=_config_name(state, path), data=_data_of(text), epochs=epochs, members=n,
                    stop_reason=f"{done} of {n} members trained" if n else None)
        return Row(path, cols, None, text)
    if not (path / "metrics.jsonl").is_file():
        return None
    recs = _read_metrics(path / "metrics.jsonl")
    last_time = (recs[-1].get("epoch_time") or 0) if recs else 0
    cols = _base(path, name, kind)
    watched = _best_record(recs)
    split, loss, acc = _main_metrics(watched)
    cols.update(status=_liveness([path / "metrics.jsonl", path / "checkpoints" / "last.npz"],
                                 max(RUNNING_SECONDS, 3 * last_time), now),
                config=_config_name(None, path), data=_data_of(text), epochs=recs[-1]["epoch"] if recs else 0,
                best_epoch=watched["epoch"] if watched else None, best_split=split,
                best_loss=loss, best_accuracy=acc,
                wall_time=sum(r.get("epoch_time") or 0 for r in recs) if recs else None)
    return Row(path, cols, None, text)


def _best_record(recs: list[dict]) -> dict | None:
    """The epoch of the lowest val_loss (else train_loss) so far, as summary.json's best."""
    best, low = None, math.inf
    for r in recs:
        loss = _main_metrics(r)[1]
        if isinstance(loss, (int, float)) and loss < low:
            best, low = r, loss
    return best


def _read_json_quiet(path: Path):
    try:
        return _read_json(path)
    except ValueError:
        return None


def sweep_row(path: Path, name: str, now: float | None = None) -> Row:
    """The row of a sweep folder: its trials, metric and best point (as ``backprop sweep``
    ranks them: the mean of the metric over seeds), and that point's best trial's metrics."""
    from . import yamlio
    from .sweep.results import FINISHED, rank, read_rows
    now = time.time() if now is None else now
    try:
        info = yamlio.load_fast(_read_text(path / "sweep.yaml") or "") or {}
    except Exception:  # noqa: BLE001 - listed, with what can be told
        info = {}
    if not isinstance(info, dict):
        info = {}
    rows = read_rows(path / "results.jsonl")
    shard = info.get("shard")
    selected = info.get("trial_list") or []
    if isinstance(shard, str) and re.fullmatch(r"\d+/\d+", shard):
        i, n = map(int, shard.split("/"))
        selected = [t for t in selected if t.get("index", 0) % n == i]
    ids = {t.get("id") for t in selected}
    metric = info.get("metric") or {}
    goal = metric.get("goal", "minimize")
    ranked = rank(list(rows.values()), goal)
    point = ranked[0] if ranked and ranked[0].mean is not None else None
    best = point.best_row(goal) if point is not None else None
    cols = _base(path, name, "sweep")
    done = len(ids & set(rows)) if ids else len(rows)
    statuses: dict = {}
    for r in rows.values():
        statuses[r.get("status")] = statuses.get(r.get("status"), 0) + 1
    if ids and done >= len(ids):
        status = "finished"
    else:
        longest = max((r.get("wall_time") or 0 for r in rows.values()), default=0)
        live = _liveness([path / "results.jsonl", path / "trials", path / "sweep.yaml"],
                         max(RUNNING_SECONDS, 3 * longest), now)
        status = "running" if live == "running" else "interrupted"
    parts = [f"{done} of {len(ids)} trials" if ids else f"{done} trials"]
    parts += [f"{v} {k}" for k, v in sorted(statuses.items()) if k in (*FINISHED, "failed") and k != "ok"]
    text = ", ".join(parts)
    if point is not None:
        text += f"; best {metric.get('name')} {point.mean:.4g}" + (f" (trial {best['trial']})" if best else "")
    split, loss, acc = _main_metrics(best.get("best") if best else None)
    trial_dir = path / "trials" / best["trial"] if best else None
    final = (best or {}).get("final") or {}
    cols.update(status=status, config=info.get("name") if isinstance(info.get("name"), str) else None,
                data=_data_of(_read_text(trial_dir / "config.yaml")) if trial_dir else None,
                stop_reason=text, best_epoch=(best.get("best") or {}).get("epoch") if best else None,
                best_split=split, best_loss=loss, best_accuracy=acc, test_loss=final.get("test_loss"),
                test_accuracy=final.get("test_accuracy"),
                wall_time=sum(r.get("wall_time") or 0 for r in rows.values()) if rows else None,
                trials=len(ids) if ids else len(rows), metric=metric.get("name"),
                metric_value=point.mean if point is not None else None,
                best_trial=best["trial"] if best else None)
    return Row(path, cols, None, None)


def folder_kind(path: Path) -> str | None:
    """'sweep', 'run' (a run or an ensemble) or None (not a folder backprop wrote)."""
    if (path / "sweep.yaml").is_file():
        return "sweep"
    if any((path / f).is_file() for f in ("summary.json", "metrics.jsonl", "ensemble.json")):
        return "run"
    return None


# -- a folder of them ------------------------------------------------------------------------------
@dataclass
class Listing:
    rows: list[Row]
    notes: list[str]


def read_folder(directory, all_: bool = False, now: float | None = None) -> tuple[list[Row], list[str]]:
    """The rows of every run, ensemble and sweep folder right below ``directory`` (and, with
    ``all_``, of their members and trials); notes for folders that could not be read."""
    directory = Path(directory)
    if not directory.exists():
        raise DataError(f"{directory}: no such folder; expected a folder of run folders "
                        f"(backprop train writes them in {DEFAULT_DIR}/)")
    if not directory.is_dir():
        raise DataError(f"{directory}: not a folder; expected a folder of run folders")
    now = time.time() if now is None else now
    rows: list[Row] = []
    notes: list[str] = []
    own = folder_kind(directory)
    if own == "sweep":  # a sweep: its trials
        _add_children(rows, notes, directory / "trials", "trials/", "trial", now)
        return rows, notes
    if own == "run":
        if (directory / "ensemble.json").is_file():  # an ensemble: its members
            _add_children(rows, notes, directory / "members", "members/", "member", now)
        else:
            from .runs import run_label
            _add(rows, notes, directory, run_label(directory), "run", all_, now)
        return rows, notes
    try:
        entries = sorted((e for e in os.scandir(directory) if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as e:
        raise DataError(f"{directory}: cannot list: {e.strerror}") from None
    for e in entries:
        try:
            if e.is_dir():
                _add(rows, notes, Path(e.path), e.name, "run", all_, now)
        except OSError:
            continue
    return rows, notes


def _add_children(rows, notes, folder: Path, prefix: str, kind: str, now: float,
                  parent: str | None = None) -> None:
    """Rows for an ensemble's members (``folder`` is RUN/members: in the order of their
    index) or a sweep's trials (SWEEP/trials: in the order of their ids)."""
    from .runs import member_folders
    try:
        children = member_folders(folder.parent) if kind == "member" else sorted(
            p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return
    for p in children:
        _add(rows, notes, p, prefix + p.name, kind, False, now, parent)


def _add(rows, notes, path: Path, name: str, kind: str, all_: bool, now: float,
         parent: str | None = None) -> None:
    try:
        summary = _read_json(path / "summary.json")
    except (ValueError, UnicodeDecodeError) as e:
        notes.append(f"{path / 'summary.json'}: not valid JSON ({e}); left out")
        return
    except OSError as e:
        notes.append(f"{path / 'summary.json'}: cannot read ({e.strerror}); left out")
        return
    if summary is None and (path / "sweep.yaml").is_file():
        row = sweep_row(path, name, now)
        rows.append(row)
        if all_:
            _add_children(rows, notes, path / "trials", name + "/trials/", "trial", now, name)
        return
    row = run_row(path, name, kind, summary, now)
    if row is None:
        return
    row.parent = parent
    rows.append(row)
    if all_ and row.cols["kind"] == "ensemble":
        _add_children(rows, notes, path / "members", name + "/members/", "member", now, name)


# -- --where and --sort ----------------------------------------------------------------------------
_FILTER_RE = re.compile(r"^\s*([A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*(<=|>=|!=|==|=|<|>)\s*(.*?)\s*$")
_NUMBER_RE = re.compile(r"^[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?(?:inf|nan)$", re.IGNORECASE)


@dataclass
class Filter:
    """``KEY OP VALUE`` of --where: OP one of = != < > <= >=."""

    text: str
    key: str
    op: str
    raw: str
    value: object  # a number, bool, None (null) or the text

    def test(self, got) -> bool:
        """Whether a row's value passes. A row without the key never does (not even for !=)."""
        if got is MISSING:
            return False
        op, want = self.op, self.value
        if want is None:
            return (got is None) == (op == "=")
        if got is None:
            return op == "!="
        if op in ("=", "!="):
            return self._equal(got) == (op == "=")
        if isinstance(got, bool):
            return False
        if isinstance(got, (int, float)) and isinstance(want, (int, float)) and not isinstance(want, bool):
            return _compare(op, got, want)
        if isinstance(got, str):
            return _compare(op, got, self.raw)
        return False

    def _equal(self, got) -> bool:
        want = self.value
        if isinstance(got, bool) or isinstance(want, bool):
            return isinstance(got, bool) and got == want or (isinstance(got, str) and got == self.raw)
        if isinstance(got, (int, float)):
            return isinstance(want, (int, float)) and got == want
        if isinstance(got, str):
            if any(c in self.raw for c in "*?["):
                return fnmatch.fnmatchcase(got, self.raw)
            return got == self.raw
        return json.dumps(got, separators=(",", ":")) == self.raw


def _compare(op: str, a, b) -> bool:
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def parse_filter(text: str) -> Filter:
    """``optimizer.name=adam``, ``test_accuracy>=0.9`` (or ``>=90%``), ``when>=2026-11-01``,
    ``name=iris-*`` (a glob), ``stopping.patience=null``; a UsageError (exit 2) otherwise."""
    m = _FILTER_RE.match(text)
    if not m or not m.group(3):
        raise UsageError(f"--where {text!r}: expected KEY OP VALUE with OP one of =, !=, <, >, <=, >= "
                         "(e.g. --where optimizer.name=adam, --where 'test_accuracy>=0.9')")
    key, op, raw = m.group(1), m.group(2), m.group(3)
    if raw[0] in "<>=!":
        raise UsageError(f"--where {text!r}: the value starts with {raw[0]!r}; expected KEY OP VALUE with OP "
                         f"one of =, !=, <, >, <=, >= (e.g. --where '{key}>=0.1')")
    op = "=" if op == "==" else op
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        raw = raw[1:-1]
        value: object = raw
    elif raw.lower() in ("null", "none", "~"):
        value = None
    elif raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    elif raw.endswith("%") and _NUMBER_RE.match(raw[:-1]):
        value = float(raw[:-1].replace("_", "")) / 100
    elif _NUMBER_RE.match(raw):
        t = raw.replace("_", "")
        value = int(t) if re.fullmatch(r"[-+]?\d+", t) else float(t)
    else:
        value = raw
    if value is None and op not in ("=", "!="):
        raise UsageError(f"--where {text!r}: null compares only with = or != (e.g. --where {key}=null)")
    if isinstance(value, bool) and op not in ("=", "!="):
        raise UsageError(f"--where {text!r}: true and false compare only with = or !=")
    return Filter(text, key, op, raw, value)


@dataclass
class SortKey:
    key: str
    descending: bool


def parse_sort(text: str) -> SortKey:
    """``KEY`` ascending, ``-KEY`` descending."""
    descending = text.startswith("-")
    key = text[1:] if descending else text
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*", key):
        raise UsageError(f"--sort {text!r}: expected KEY or -KEY (descending), e.g. --sort -test_accuracy")
    return SortKey(key, descending)


def _rank(v):
    if isinstance(v, (bool, int, float)):
        return (0, v if not (isinstance(v, float) and math.isnan(v)) else math.inf)
    if isinstance(v, str):
        return (1, v)
    return (2, json.dumps(v, sort_keys=True, default=str))


def sort_rows(rows: list[Row], keys: list[SortKey]) -> list[Row]:
    """Sorted by the keys, the first most significant; rows without a key (or whose value is
    null) come last for that key, whichever the direction; ties keep the earlier order."""
    out = list(rows)
    for k in reversed(keys):
        have, lack = [], []
        for r in out:
            v = r.get(k.key)
            (lack if v is MISSING or v is None else have).append((r, v))
        have.sort(key=lambda rv: _rank(rv[1]), reverse=k.descending)
        out = [r for r, _ in have] + [r for r, _ in lack]
    return out


DEFAULT_SORT = [SortKey("when", True), SortKey("name", False)]


def list_runs(directory=DEFAULT_DIR, *, where=(), sort=(), limit: int | None = None, all_: bool = False,
              now: float | None = None) -> Listing:
    """The rows of ``directory`` that pass every ``where`` filter (text or Filter), sorted by
    ``sort`` (``KEY`` or ``-KEY``; default: newest first, then by name), the first ``limit``."""
    filters = [f if isinstance(f, Filter) else parse_filter(f) for f in where]
    keys = [k if isinstance(k, SortKey) else parse_sort(k) for k in sort]
    rows, notes = read_folder(directory, all_=all_, now=now)
    if not keys:  # newest first, each sweep's trials and ensemble's members after it, in order
        children: dict = {}
        for r in rows:
            if r.parent is not None:
                children.setdefault(r.parent, []).append(r)
        rows = [x for r in sort_rows([r for r in rows if r.parent is None], DEFAULT_SORT)
                for x in [r, *children.get(r.cols["name"], [])]]
    # cheap keys first: a config key may parse the row's config.yaml
    filters.sort(key=lambda f: f.key not in COLUMNS)
    seen: dict = {}  # key -> whether a row had it, for the keys a row was tested on
    kept = []
    for r in rows:
        ok = True
        for f in filters:
            v = r.get(f.key)
            seen[f.key] = seen.get(f.key, False) or v is not MISSING
            if not f.test(v):
                ok = False
                break
        if ok:
            kept.append(r)
    for key, was in seen.items():
        if not was:
            notes.append(f"--where: no run has the key {key!r} (a column, a summary.json key such as "
                         "best.val_loss, or a config key such as optimizer.lr)")
    ordered = sort_rows(kept, keys + [k for k in DEFAULT_SORT if k.key not in {s.key for s in keys}]) if keys else kept
    for k in keys:
        if kept and all(r.get(k.key) is MISSING for r in kept):
            notes.append(f"--sort: no run has the key {k.key!r}")
    return Listing(ordered[:limit] if limit is not None else ordered, notes)


# -- --diff ----------------------------------------------------------------------------------------
def resolve_run(text: str, directory=DEFAULT_DIR) -> Path:
    """A run folder as given, else its name inside ``directory``."""
    p = Path(text)
    if not p.exists() and not p.is_absolute() and (Path(directory) / p).exists():
        p = Path(directory) / p
    if not p.is_dir():
        raise DataError(f"{text}: no such run folder" + (f" (nor {Path(directory) / text})" if not p.is_absolute() else ""))
    if folder_kind(p) == "sweep":
        raise DataError(f"{p}: a sweep folder; --diff compares two runs, such as two of its trials "
                        f"({p / 'trials'}/<id>)")
    if folder_kind(p) != "run":
        raise DataError(f"{p}: not a run folder (no summary.json or metrics.jsonl); expected a folder "
                        "that backprop train wrote")
    return p


def flatten(obj, prefix: str = "") -> dict:
    """{'optimizer.lr': 0.1, 'model.layers.0.units': 8, ...}: dotted paths to scalars (an empty
    dict or list is a value of its own)."""
    out = {}
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, list) and obj:
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = obj
    return out


METRIC_SECTIONS = ("final", "best", "test")


def diff_runs(a, b, directory=DEFAULT_DIR, now: float | None = None) -> dict:
    """The config keys that differ between runs ``a`` and ``b`` (dotted paths; ``missing``
    says which run lacks a key) and their metrics side by side: status, epochs, stop reason and
    wall time, then every key of summary.json's final, best and test but epoch_time (and final's
    epoch, which is epochs) (``delta`` = b - a for numbers). ``same_data``:
    whether their data arrays hash the same (summary.json's data_sha256; None when unknown)."""
    pa, pb = resolve_run(a, directory), resolve_run(b, directory)
    from .runs import run_label
    ra, rb = (run_row(p, run_label(p), now=now) for p in (pa, pb))
    for p, r in ((pa, ra), (pb, rb)):
        if r is None or r.config is None:
            raise DataError(f"{p}: no readable config.yaml; expected a folder that backprop train wrote")
    fa, fb = flatten(ra.config), flatten(rb.config)
    config = []
    for key in _merged(list(fa), list(fb)):
        va, vb = fa.get(key, MISSING), fb.get(key, MISSING)
        if va is MISSING or vb is MISSING or not _same(va, vb):
            config.append({"key": key, "a": None if va is MISSING else va, "b": None if vb is MISSING else vb,
                           "missing": "a" if va is MISSING else "b" if vb is MISSING else None})
    metrics = []
    for key in ("status", "epochs", "stop_reason", "wall_time"):
        metrics.append(_metric(key, ra.cols.get(key), rb.cols.get(key)))
    sa, sb = ra.summary or {}, rb.summary or {}
    if ra.summary is None or rb.summary is None:  # a run still going: its last epoch so far
        for r, s in ((ra, sa), (rb, sb)):
            if r.summary is None:
                recs = _read_metrics(r.path / "metrics.jsonl")
                s["final"] = recs[-1] if recs else {}
    for section in METRIC_SECTIONS:
        keys = list(dict.fromkeys([*(sa.get(section) or {}), *(sb.get(section) or {})]))
        for k in keys:
            if k == "epoch_time" or (section, k) == ("final", "epoch"):  # timing noise; epochs above
                continue
            metrics.append(_metric(f"{section}.{k}", (sa.get(section) or {}).get(k), (sb.get(section) or {}).get(k)))
    da, db = sa.get("data_sha256"), sb.get("data_sha256")
    return {"a": ra.to_json(), "b": rb.to_json(), "config": config, "metrics": metrics,
            "same_config": not config, "same_data": None if da is None or db is None else da == db}


def _merged(a: list, b: list) -> list:
    """a's keys with b's own keys each put after the key b has before it (config order)."""
    out, known, prev = list(a), set(a), None
    for k in b:
        if k not in known:
            out.insert(out.index(prev) + 1 if prev is not None else 0, k)
            known.add(k)
        prev = k
    return out


def _same(x, y) -> bool:
    if isinstance(x, bool) or isinstance(y, bool):
        return x is y
    return x == y and type(x) is type(y) or (isinstance(x, (int, float)) and isinstance(y, (int, float)) and x == y)


def _metric(key, a, b) -> dict:
    num = (isinstance(a, (int, float)) and isinstance(b, (int, float))
           and not isinstance(a, bool) and not isinstance(b, bool))
    return {"key": key, "a": a, "b": b, "delta": b - a if num else None}


# -- display ---------------------------------------------------------------------------------------
def _pct(x) -> str:
    return f"{100 * x:.1f}%" if isinstance(x, (int, float)) else "-"


def duration(seconds) -> str:
    """0.08s, 12.3s, 4m05s, 2h03m."""
    if not isinstance(seconds, (int, float)):
        return "-"
    if seconds < 10:
        return f"{seconds:.2g}s" if seconds < 1 else f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def _num(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def cell(key: str, value) -> str:
    """A column's value as the table shows it."""
    if value is None:
        return "-"
    if key.endswith("accuracy"):
        return _pct(value)
    if key == "wall_time":
        return duration(value)
    if key == "when":
        return value.replace("T", " ")[:16]
    return _num(value)


RIGHT = {"epochs", "best_loss", "best_accuracy", "test_loss", "test_accuracy", "wall_time"}
STYLE = {"finished": "green", "interrupted": "yellow", "diverged": "red", "running": "cyan",
         "killed": "magenta"}


def plain_table(header: list[str], rows: list[list[str]], right=()) -> str:
    """Columns two spaces apart, numbers right-aligned, no trailing spaces."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    lines = []
    for r in [header, *rows]:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


#: the columns a narrow terminal hides first; stop_reason is cut short before any goes
DROP_ORDER = ("data", "kind", "best_loss", "test_loss", "config", "when", "epochs", "wall_time",
              "best_accuracy", "stop_reason")
MIN_STOP = 24


def fit_columns(widths: dict, width: int) -> tuple[list[str], list[str], int | None]:
    """The columns that fit in ``width`` characters (two between columns): stop_reason is cut
    to MIN_STOP first, then columns go in DROP_ORDER. Returns (shown, hidden, stop_reason's width)."""
    shown = [k for k in SHOWN]
    stop = widths.get("stop_reason")

    def total():
        return sum(stop if k == "stop_reason" else widths[k] for k in shown) + 2 * (len(shown) - 1)

    if total() > width and stop is not None and stop > MIN_STOP:
        stop = max(MIN_STOP, stop - (total() - width))
    for k in DROP_ORDER:
        if total() <= width:
            break
        shown.remove(k)
    return shown, [k for k in SHOWN if k not in shown], stop


def render_listing(listing: Listing, terminal: bool, console=None) -> str | None:
    """The table: plain text (returned) off a terminal, else printed with rich to ``console``,
    fitted to its width (stop reasons cut short, then the least needed columns hidden, named
    below the table)."""
    body = [{k: cell(k, r.cols.get(k)) for k in SHOWN} for r in listing.rows]
    if not terminal:
        return plain_table(list(SHOWN), [[c[k] for k in SHOWN] for c in body],
                           {i for i, k in enumerate(SHOWN) if k in RIGHT})
    from rich.markup import escape
    from rich.table import Table
    widths = {k: max([len(k)] + [len(c[k]) for c in body]) for k in SHOWN}
    shown, hidden, stop = fit_columns(widths, console.width)
    t = Table(box=None, header_style="bold", padding=(0, 1), pad_edge=False,
              caption=f"hidden for width: {', '.join(hidden)} (a wider terminal, or --json, shows them)"
              if hidden else None, caption_justify="left")
    for k in shown:
        t.add_column(k, justify="right" if k in RIGHT else "left", no_wrap=k != "name",
                     overflow="fold" if k == "name" else "ellipsis",
                     min_width=None if k in ("name", "stop_reason") else widths[k],
                     max_width=stop if k == "stop_reason" else None)
    for r, c in zip(listing.rows, body):
        style = STYLE.get(r.cols.get("status"))
        t.add_row(*[(f"[{style}]{escape(c[k])}[/]" if k == "status" and style else escape(c[k]))
                    for k in shown])
    console.print(t)
    return None


def render_diff(d: dict, terminal: bool, console=None) -> str | None:
    na, nb = d["a"]["name"], d["b"]["name"]
    if na == nb:
        na, nb = d["a"]["path"], d["b"]["path"]

    def show(entry, side):
        if entry.get("missing") == side:
            return "(absent)"
        v = entry[side]
        if entry["key"].endswith("accuracy") and isinstance(v, (int, float)) and not isinstance(v, bool):
            return f"{v:.6g}"
        if entry["key"] == "wall_time":
            return duration(v)
        return json.dumps(v) if isinstance(v, (dict, list)) else ("null" if v is None else _num(v))

    conf = [[e["key"], show(e, "a"), show(e, "b")] for e in d["config"]]
    mets = [[e["key"], show(e, "a"), show(e, "b"),
             "" if e["delta"] is None else _num(e["delta"])]
            for e in d["metrics"]]
    notes = []
    if d["same_config"]:
        notes.append("same config")
    if d["same_data"] is not None:
        notes.append("same data (data_sha256)" if d["same_data"] else "different data (data_sha256)")
    if not terminal:
        out = plain_table(["config", na, nb], conf) if conf else "config: no key differs\n"
        out += "\n" + plain_table(["metric", na, nb, "delta"], mets, {1, 2, 3})
        if notes:
            out += "\n" + "; ".join(notes) + "\n"
        return out
    from rich.markup import escape
    from rich.table import Table
    if conf:
        t = Table(title="config keys that differ", title_justify="left", box=None, header_style="bold",
                  padding=(0, 1), pad_edge=False)
        for h in ("key", na, nb):
            t.add_column(escape(h), overflow="fold")
        for row in conf:
            t.add_row(*map(escape, row))
        console.print(t)
    else:
        console.print("config: no key differs")
    console.print()
    t = Table(title="metrics", title_justify="left", box=None, header_style="bold", padding=(0, 1),
              pad_edge=False)
    t.add_column("key")
    for h in (na, nb, "delta"):
        t.add_column(escape(h), justify="right", overflow="fold")
    for row in mets:
        t.add_row(*map(escape, row))
    console.print(t)
    if notes:
        console.print("; ".join(notes))
    return None
