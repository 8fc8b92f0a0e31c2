"""Plots of finished runs and sweeps: files with matplotlib, terminal plots with plotext.

- Curves: loss and accuracy per epoch (train solid, validation dashed), one colour per run,
  the best epoch (of val_loss, else train_loss, as summary.json records it) marked, and the
  learning rate on an axis of its own.
- Boundary: for a 2-D classification run, the decision regions of its last weights over the
  data points; for a 1-D regression run, the learned function over the data. Both are drawn
  in the network's input space (after the run's feature scaling).
- Sweeps: a folder ``backprop sweep`` or ``sweep collect`` wrote (results.jsonl: each trial's
  params and final metrics; the sweep's metric from sweep.yaml is the default), or one with a
  results.jsonl or results.csv of flat rows (overrides as dotted keys such as ``optimizer.lr``,
  metrics as columns): the metric against each swept value, every trial a point and the mean
  over repeats (seeds) a line. Given with run folders, sweep folders are left out, with a note.
- Filters (filters.py): one run's first conv2d layer, its filters and one example's feature
  maps; in the terminal as shaded characters, which need neither library.
- Health (``--health``): the per-layer figures of a run's health.jsonl (``output.health``)
  over epochs, one curve per layer coloured from the first layer to the last: the gradient
  norm ‖dE/dW‖ on a log axis (vanishing and exploding points marked), the update/weight
  ratio on a log axis, and the shares of dead ReLUs and saturated sigmoid/tanh units when
  the network has such layers; several runs side by side, one column each.

Both libraries are the optional extra ``plot``; without it the error says what to install.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from .errors import DataError, UsageError
from .runs import Run, read_jsonl, read_run
from .sweep.results import ordered, read_rows

INSTALL = "pip install 'backprop-cli[plot]'"
METRICS = ("val_loss", "train_loss", "val_accuracy", "train_accuracy", "test_loss", "test_accuracy")
SUFFIXES = (".png", ".svg", ".pdf")


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(f"writing plot files needs matplotlib, which is not installed; install "
                         f"the plot extra: {INSTALL}") from None
    return plt


def _clear(plt) -> None:
    """Reset plotext's one global figure. Its clear_figure() clears the *active* subplot only
    (the last one drawn), so the main figure is made active first; without it, a plot after
    one with fewer panels kept that layout and lost its other panels."""
    plt.main()
    plt.clear_figure()


def _plotext():
    try:
        import plotext
    except ImportError:
        raise UsageError(f"terminal plots need plotext, which is not installed; install the plot "
                         f"extra: {INSTALL} (or write a file with -o plot.png)") from None
    return plotext


# -- sweeps ---------------------------------------------------------------------------------
@dataclass
class Sweep:
    path: Path
    name: str
    rows: list[dict]
    swept: list[str]      # parameters that take more than one value
    metrics: list[str]    # metric columns present
    metric: str | None = None  # the sweep's own metric (sweep.yaml), the default to plot


def is_sweep(path: Path) -> bool:
    return (path / "results.jsonl").is_file() or (path / "results.csv").is_file()


def _number(text: str):
    try:
        return float(text) if text not in ("", "None", "null") else None
    except ValueError:
        return text


def _sweep_metric(path: Path) -> str | None:
    """The metric of the sweep.yaml in ``path``, or of its shards' (a ``sweep collect`` folder)."""
    for f in [path / "sweep.yaml", *sorted(path.glob("*/sweep.yaml"))]:
        try:
            info = yaml.safe_load(f.read_text(encoding="utf-8"))
            return info["metric"]["name"]
        except (OSError, yaml.YAMLError, TypeError, KeyError):
            continue
    return None


def _flat(row: dict, metric: str | None) -> dict:
    """A row of backprop's results.jsonl (params and final metrics nested) as one flat row."""
    flat = {"trial": row["trial"], "status": row.get("status"), "seed": row.get("seed"),
            **(row.get("final") or {}), **row["params"]}
    if metric:
        flat[metric] = row.get("metric")
    return flat


def read_sweep(path) -> Sweep:
    """The finished trials of a sweep folder: backprop's results.jsonl (the last row of each
    trial), else a results.jsonl or results.csv of flat rows (dotted keys, metric columns)."""
    path = Path(path)
    metric = _sweep_metric(path)
    nested = read_rows(path / "results.jsonl")
    if nested and all(isinstance(r.get("params"), dict) for r in nested.values()):
        rows = [_flat(r, metric) for r in ordered(nested)]
        params = list(dict.fromkeys(k for r in nested.values() for k in r["params"]))
    elif (path / "results.jsonl").is_file():
        rows, params = read_jsonl(path / "results.jsonl"), None
    else:
        with open(path / "results.csv", newline="") as f:
            rows = [{k: _number(v) for k, v in r.items()} for r in csv.DictReader(f)]
        rows, params = [{**{k[6:]: v for k, v in r.items() if k.startswith("final_")}, **r} for r in rows], None
    rows = [r for r in rows if r.get("status", "ok") == "ok"]
    keys = params if params is not None else [k for k in dict.fromkeys(k for r in rows for k in r) if "." in k]
    swept = [k for k in keys if len({repr(r.get(k)) for r in rows}) > 1]
    metrics = [m for m in METRICS if any(isinstance(r.get(m), (int, float)) for r in rows)]
    if not rows:
        raise UsageError(f"{path}: the sweep has no finished trials to plot")
    if not swept or not metrics:
        raise UsageError(f"{path}: nothing to plot: expected parameters (e.g. optimizer.lr) that take "
                         f"several values among the finished trials, and a metric ({', '.join(METRICS)})")
    return Sweep(path, path.resolve().name, rows, swept, metrics, metric if metric in metrics else None)


def sweep_points(sweep: Sweep, key: str, metric: str):
    """(x values, metric values, sorted unique x, mean per unique x, categorical?)."""
    pts = [(r[key], r[metric]) for r in sweep.rows
           if r.get(key) is not None and isinstance(r.get(metric), (int, float)) and math.isfinite(r[metric])]
    categorical = any(not isinstance(x, (int, float)) or isinstance(x, bool) for x, _ in pts)
    if categorical:
        pts = [(str(x), y) for x, y in pts]
    xs = sorted({x for x, _ in pts}, key=lambda v: v)
    means = [float(np.mean([y for x, y in pts if x == u])) for u in xs]
    return [x for x, _ in pts], [y for _, y in pts], xs, means, categorical


def _pick_metric(sweeps: list[Sweep], metric: str | None) -> str:
    if metric is None:
        return sweeps[0].metric or sweeps[0].metrics[0]
    for s in sweeps:
        if metric not in s.metrics:
            raise UsageError(f"--metric {metric}: {s.path} has no column {metric!r} "
                             f"(its metrics: {', '.join(s.metrics)})")
    return metric


# -- reading the arguments ------------------------------------------------------------------
def load(paths, on_note: Callable[[str], None] | None = None,
         curves: bool = True) -> tuple[list[Run], list[Sweep]]:
    """The run folders and sweep folders among ``paths``. Given both (a glob such as
    runs/xor-* that matches a sweep folder too), the run folders are plotted and each sweep
    folder is left out, with a note. ``curves``: the runs must have metrics (not so for
    --boundary, which draws the weights of checkpoints/last.npz, there from epoch 0 on)."""
    from .ensemble import is_ensemble, member_dirs
    paths = [m for p in map(Path, paths) for m in (member_dirs(p) if is_ensemble(p) else [p])]
    sweep_dirs = [p for p in paths if p.is_dir() and is_sweep(p)]
    run_dirs = [p for p in paths if p not in sweep_dirs]
    for p in run_dirs:
        if p.is_dir() and not (p / "metrics.jsonl").exists() and next(p.glob("*/sweep.yaml"), None):
            raise UsageError(f"{p}: a folder of sweep shards without merged results; merge them "
                             f"first: backprop sweep collect {p}")
    if run_dirs and sweep_dirs:
        for p in sweep_dirs:
            if on_note is not None:
                on_note(f"{p}: a sweep folder, left out of the run curves; plot it on its own: "
                        f"backprop plot {p}")
        sweep_dirs = []
    runs, sweeps = [read_run(p) for p in run_dirs], [read_sweep(p) for p in sweep_dirs]
    for r in runs if curves else ():
        if not r.metrics:
            raise UsageError(f"{r.path}: metrics.jsonl has no epochs yet")
    return runs, sweeps


def plot(paths, output=None, *, boundary: bool = False, metric: str | None = None,
         width: int | None = None, height: int | None = None,
         on_note: Callable[[str], None] | None = None, filters: bool = False,
         example: int | None = None, health: bool = False) -> str | None:
    """Plot run or sweep folders into ``output`` (.png, .svg or .pdf), or return a terminal
    plot's text when ``output`` is None. ``on_note`` gets a line per sweep folder left out
    (see ``load``). ``filters``: one run's first conv layer, its filters and its feature maps
    on example ``example`` (see filters.py). ``health``: each run's health.jsonl, per layer
    over epochs (the run must have been trained with ``output.health``)."""
    if output is not None and Path(output).suffix.lower() not in SUFFIXES:
        raise UsageError(f"-o {output}: expected a file ending in {', '.join(SUFFIXES)}")
    if health and (filters or boundary or metric is not None):
        raise UsageError("--health goes without --boundary, --filters and --metric")
    if filters:
        return _filters(paths, output, boundary=boundary, metric=metric, width=width, example=example)
    if example is not None:
        raise UsageError("--example goes with --filters")
    if health:
        return _health(paths, output, width=width, height=height)
    runs, sweeps = load(paths, on_note, curves=not boundary)
    if boundary and sweeps:
        raise UsageError("--boundary needs run folders, not sweep folders")
    if metric is not None and runs:
        raise UsageError("--metric is for sweep folders")
    if output is None:
        plt = _plotext()
        _clear(plt)
        if width or height:
            plt.plotsize(width or 100, height or 30)
        if sweeps:
            _terminal_sweeps(plt, sweeps, _pick_metric(sweeps, metric))
        elif boundary:
            _terminal_boundary(plt, runs)
        else:
            _terminal_curves(plt, runs)
        text = plt.build()
        _clear(plt)
        return text
    plt = _pyplot()
    if sweeps:
        fig = _file_sweeps(plt, sweeps, _pick_metric(sweeps, metric))
    elif boundary:
        fig = _file_boundary(plt, runs)
    else:
        fig = _file_curves(plt, runs)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return None


def _filters(paths, output, *, boundary, metric, width, example) -> str | None:
    from .filters import file_filters, first_conv, terminal_filters
    if boundary or metric is not None:
        raise UsageError("--filters goes without --boundary and --metric")
    if len(paths) != 1:
        raise UsageError(f"--filters shows one run; got {len(paths)} folders")
    path = Path(paths[0])
    if path.is_dir() and is_sweep(path):
        raise UsageError(f"{path}: a sweep folder; --filters needs one of its runs")
    fc = first_conv(path, example)
    if output is None:
        return terminal_filters(fc, width)
    plt = _pyplot()
    fig = file_filters(plt, fc)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return None


# -- health ---------------------------------------------------------------------------------
@dataclass
class Health:
    name: str
    layers: dict[int, str]          # layer index -> its name (``Dense(2→16) → Sigmoid``)
    rows: list[dict]                # health.jsonl's lines

    def series(self, layer: int, key: str, positive: bool = False) -> tuple[list[int], list[float]]:
        """(epochs, values) of one layer's figure where finite (and > 0 for a log axis)."""
        pts = [(r["epoch"], r[key]) for r in self.rows if r.get("layer") == layer
               and isinstance(r.get(key), (int, float)) and math.isfinite(r[key])
               and (r[key] > 0 or not positive)]
        return [e for e, _ in pts], [v for _, v in pts]

    def flagged(self, layer: int, verdict: str) -> tuple[list[int], list[float]]:
        """(epochs, gradient norms) where the layer's gradient was judged ``verdict``."""
        pts = [(r["epoch"], r["grad_norm"]) for r in self.rows if r.get("layer") == layer
               and r.get("verdict") == verdict and isinstance(r.get("grad_norm"), (int, float))
               and r["grad_norm"] > 0]
        return [e for e, _ in pts], [v for _, v in pts]


#: (key, title, log axis) of each health panel
HEALTH_PANELS = (("grad_norm", "gradient norm ‖dE/dW‖", True),
                 ("update_ratio", "update/weight ‖ΔW‖/‖W‖ (first step)", True),
                 ("dead", "dead ReLUs", False), ("saturated", "saturated units", False))


def read_health(path) -> Health:
    """A run folder's health.jsonl; a clear error (exit 3) when the run has none."""
    path = Path(path)
    if path.is_dir() and is_sweep(path):
        raise UsageError(f"{path}: a sweep folder; --health needs run folders (its trials' runs)")
    run = read_run(path)  # the run-folder checks and their messages
    hfile = path / "health.jsonl"
    if not hfile.is_file():
        raise DataError(f"{path}: no health.jsonl: the run was trained without output.health; "
                        f"train it again with --set output.health=true (every epoch) or "
                        f"output.health=N (every N epochs)")
    rows = [r for r in read_jsonl(hfile)
            if isinstance(r.get("epoch"), int) and isinstance(r.get("layer"), int)]
    if not rows:
        raise DataError(f"{hfile}: no layer measured yet")
    layers = {r["layer"]: str(r.get("name", "")) for r in rows}
    return Health(run.name, dict(sorted(layers.items())), rows)


def _health_panels(items: list[Health]) -> list[tuple[str, str, bool]]:
    return [p for p in HEALTH_PANELS if any(h.series(i, p[0])[0] for h in items for i in h.layers)]


def _health(paths, output, *, width, height) -> str | None:
    items = [read_health(p) for p in paths]
    if output is None:
        plt = _plotext()
        _clear(plt)
        if width or height:
            plt.plotsize(width or 100, height or 40)
        _terminal_health(plt, items)
        text = plt.build()
        _clear(plt)
        return text
    plt = _pyplot()
    fig = _file_health(plt, items)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return None


def _file_health(plt, items: list[Health]):
    panels = _health_panels(items)
    fig, axes = plt.subplots(len(panels), len(items), figsize=(6.5 * len(items), 2.6 * len(panels) + 0.6),
                             sharex="col", squeeze=False)
    cmap = plt.get_cmap("viridis")
    for col, h in enumerate(items):
        n = len(h.layers)
        for row, (key, title, log) in enumerate(panels):
            ax = axes[row, col]
            for k, (i, name) in enumerate(h.layers.items()):
                c = cmap(0.9 * k / max(1, n - 1))
                epochs, vals = h.series(i, key, positive=log)
                if epochs:
                    ax.plot(epochs, vals, "-", color=c, lw=1.4, marker="." if len(epochs) < 30 else None,
                            label=f"{i}: {name}")
                if key == "grad_norm":
                    for verdict, marker in (("vanishing", "v"), ("exploding", "^")):
                        fe, fv = h.flagged(i, verdict)
                        if fe:
                            ax.plot(fe, fv, marker, color=c, mec="black", ms=6, ls="none")
            if log and ax.has_data():
                ax.set_yscale("log")
            if not log:
                ax.set_ylim(-0.03, 1.03)
                ax.yaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
            ax.set_title(f"{h.name}: {title}" if row == 0 else title, fontsize=10)
            ax.grid(alpha=0.3)
        axes[0, col].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                            title="layer (▼ vanishing, ▲ exploding)", title_fontsize=7)
        axes[-1, col].set_xlabel("epoch")
    fig.tight_layout()
    return fig


def _terminal_health(plt, items: list[Health]) -> None:
    panels = _health_panels(items)
    plt.subplots(len(panels), len(items))
    for col, h in enumerate(items, 1):
        for row, (key, title, log) in enumerate(panels, 1):
            plt.subplot(row, col)
            plt.title((f"{h.name}: " if row == 1 else "") + (f"log10 {title}" if log else title))
            for i, name in h.layers.items():
                epochs, vals = h.series(i, key, positive=log)
                if epochs:
                    plt.plot(epochs, [math.log10(v) for v in vals] if log else vals,
                             label=f"layer {i}" if row == 1 else None, marker="braille")
            if not log:
                plt.ylim(0, 1)
            if row == len(panels):
                plt.xlabel("epoch")


# -- curves ---------------------------------------------------------------------------------
def _panels(runs: list[Run]) -> list[str]:
    have = {k for r in runs for m in r.metrics for k in m}
    panels = ["loss"]
    if {"train_accuracy", "val_accuracy"} & have:
        panels.append("accuracy")
    if "lr" in have:
        panels.append("lr")
    return panels


def _best(run: Run) -> tuple[str, int, float] | None:
    """(metric, epoch, value) of the run's best epoch, as summary.json recorded it."""
    e = run.best_epoch
    if e is None:
        return None
    key = "val_loss" if run.series("val_loss")[0] else "train_loss"
    epochs, vals = run.series(key)
    return (key, e, vals[epochs.index(e)]) if e in epochs else None


def _file_curves(plt, runs: list[Run]):
    panels = _panels(runs)
    ratios = [3 if p != "lr" else 1.3 for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.2 * sum(ratios) / 1.6), sharex=True,
                             gridspec_kw={"height_ratios": ratios}, squeeze=False)
    axes = dict(zip(panels, axes[:, 0]))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, run in enumerate(runs):
        c = colours[i % len(colours)]
        for kind in ("loss", "accuracy"):
            if kind not in axes:
                continue
            for split, style in (("train", "-"), ("val", "--")):
                epochs, vals = run.series(f"{split}_{kind}")
                if epochs:
                    axes[kind].plot(epochs, vals, style, color=c, lw=1.5, label=f"{run.name} {split}")
        best = _best(run)
        if best:
            key, e, v = best
            axes["loss"].plot([e], [v], marker="*", ms=13, color=c, mec="black", ls="none",
                              label=f"{run.name} best ({key} {v:.4g} @ {e})", zorder=5)
            for ax in axes.values():
                ax.axvline(e, color=c, lw=0.8, ls=":")
        if "lr" in axes:
            epochs, vals = run.series("lr")
            axes["lr"].plot(epochs, vals, color=c, lw=1.5, label=run.name)
    losses = [v for r in runs for k in ("train_loss", "val_loss") for v in r.series(k)[1]]
    if losses and min(losses) > 0 and max(losses) / min(losses) > 20:
        axes["loss"].set_yscale("log")
    axes["loss"].set_ylabel("loss")
    axes["loss"].set_title("loss per epoch" + (" (solid: train, dashed: validation)" if any(
        r.series("val_loss")[0] for r in runs) else ""))
    if "accuracy" in axes:
        axes["accuracy"].set_ylabel("accuracy")
        axes["accuracy"].yaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
    if "lr" in axes:
        axes["lr"].set_ylabel("learning rate")
        lrs = [v for r in runs for v in r.series("lr")[1]]
        if lrs and min(lrs) > 0 and max(lrs) / min(lrs) > 20:
            axes["lr"].set_yscale("log")
    for ax in axes.values():
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    list(axes.values())[-1].set_xlabel("epoch")
    fig.tight_layout()
    return fig


def _terminal_curves(plt, runs: list[Run]) -> None:
    panels = _panels(runs)
    plt.subplots(len(panels), 1)
    for row, kind in enumerate(panels, 1):
        plt.subplot(row, 1)
        plt.title({"loss": "loss per epoch", "accuracy": "accuracy", "lr": "learning rate"}[kind])
        for run in runs:
            keys = ["lr"] if kind == "lr" else [f"train_{kind}", f"val_{kind}"]
            for key in keys:
                epochs, vals = run.series(key)
                if epochs:
                    label = run.name if kind == "lr" else f"{run.name} {key.split('_')[0]}"
                    plt.plot(epochs, vals, label=label, marker="braille")
            best = _best(run)
            if best and kind == "loss":
                key, e, v = best
                plt.scatter([e], [v], marker="x", label=f"best @ {e}: {v:.4g}")
        if row == len(panels):
            plt.xlabel("epoch")


# -- boundary -------------------------------------------------------------------------------
@dataclass
class Learned:
    run: Run
    kind: str              # 'regions' or 'function'
    X: np.ndarray          # training inputs
    labels: np.ndarray     # class indices or target values
    grid: tuple            # regions: (xx, yy, classes); function: (x, y)
    classes: list | None


def learned(run: Run, resolution: int = 200) -> Learned:
    """What the run's last weights compute over its data's input space."""
    from .runs import load_run_setup
    from .training.metrics import decide
    s = load_run_setup(run.path)
    net, train, d = s.network, s.splits.train, s.splits.n_features
    if s.splits.task == "classification" and d == 2:
        lo, hi = train.X.min(axis=0), train.X.max(axis=0)
        pad = 0.1 * np.maximum(hi - lo, 1e-9)
        xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
        ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
        xx, yy = np.meshgrid(xs, ys)
        grid = np.c_[xx.ravel(), yy.ravel()].astype(train.X.dtype)
        cls = decide(net.forward(grid), net).reshape(xx.shape)
        return Learned(run, "regions", train.X, train.labels, (xx, yy, cls), s.splits.classes)
    if s.splits.task == "regression" and d == 1 and train.Y.shape[1] == 1:
        lo, hi = float(train.X.min()), float(train.X.max())
        x = np.linspace(lo, hi, resolution * 2).astype(train.X.dtype)[:, None]
        return Learned(run, "function", train.X, train.Y[:, 0], (x[:, 0], net.predict(x)[:, 0]), None)
    raise UsageError(f"--boundary needs a classification run with 2 input features or a regression "
                     f"with 1 input and 1 output; {run.path} is a {s.splits.task} with {d} features")


def _file_boundary(plt, runs: list[Run]):
    from matplotlib.colors import ListedColormap
    items = [learned(r) for r in runs]
    fig, axes = plt.subplots(1, len(items), figsize=(5.2 * len(items), 4.6), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, item in zip(axes[0], items):
        if item.kind == "regions":
            xx, yy, cls = item.grid
            k = max(len(item.classes or []), int(cls.max()) + 1, int(item.labels.max()) + 1)
            cmap = ListedColormap(colours[:k])
            ax.contourf(xx, yy, cls, levels=np.arange(k + 1) - 0.5, cmap=cmap, alpha=0.3)
            ax.contour(xx, yy, cls, levels=np.arange(k) + 0.5, colors="black", linewidths=0.8)
            for c in range(k):
                m = item.labels == c
                name = item.classes[c] if item.classes and c < len(item.classes) else str(c)
                ax.scatter(item.X[m, 0], item.X[m, 1], s=22, color=colours[c], edgecolors="black",
                           linewidths=0.5, label=f"class {name}")
            ax.set_xlabel("feature 1")
            ax.set_ylabel("feature 2")
            ax.set_title(f"{item.run.name}: decision regions")
        else:
            x, y = item.grid
            ax.scatter(item.X[:, 0], item.labels, s=14, color=colours[0], alpha=0.7, label="training data")
            ax.plot(x, y, color=colours[1], lw=2, label="network f(x)")
            ax.set_xlabel("x")
            ax.set_ylabel("y")
            ax.set_title(f"{item.run.name}: learned function")
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def _terminal_boundary(plt, runs: list[Run]) -> None:
    items = [learned(r, resolution=40) for r in runs]
    plt.subplots(1, len(items))
    palette = ["blue", "red", "green", "orange", "magenta", "cyan", "yellow", "white"]
    for col, item in enumerate(items, 1):
        plt.subplot(1, col)
        if item.kind == "regions":
            xx, yy, cls = item.grid
            plt.title(f"{item.run.name}: decision regions")
            for c in np.unique(cls):
                m = cls == c
                plt.scatter(xx[m], yy[m], marker="dot", color=palette[int(c) % len(palette)])
            for c in np.unique(item.labels):
                m = item.labels == c
                plt.scatter(item.X[m, 0], item.X[m, 1], marker="●", color=palette[int(c) % len(palette)],
                            label=f"class {c}")
        else:
            x, y = item.grid
            plt.title(f"{item.run.name}: learned function")
            plt.scatter(item.X[:, 0], item.labels, marker="dot", label="training data")
            plt.plot(x, y, marker="braille", label="network f(x)")


# -- sweeps ---------------------------------------------------------------------------------
def _keys(sweeps: list[Sweep]) -> list[str]:
    return list(dict.fromkeys(k for s in sweeps for k in s.swept))


def _file_sweeps(plt, sweeps: list[Sweep], metric: str):
    keys = _keys(sweeps)
    fig, axes = plt.subplots(1, len(keys), figsize=(4.8 * len(keys), 3.8), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key in zip(axes[0], keys):
        for i, s in enumerate(sweeps):
            if key not in s.swept:
                continue
            xs, ys, ux, means, categorical = sweep_points(s, key, metric)
            pos = {u: j for j, u in enumerate(ux)}
            px = [pos[x] for x in xs] if categorical else xs
            ax.scatter(px, ys, s=18, alpha=0.6, color=colours[i % len(colours)])
            ax.plot([pos[u] for u in ux] if categorical else ux, means, "-o", ms=4,
                    color=colours[i % len(colours)], label=f"{s.name} (mean)")
            if categorical:
                ax.set_xticks(range(len(ux)), ux)
            elif ux and min(ux) > 0 and max(ux) / min(ux) >= 50:
                ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} against {key}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _terminal_sweeps(plt, sweeps: list[Sweep], metric: str) -> None:
    keys = _keys(sweeps)
    plt.subplots(len(keys), 1)
    for row, key in enumerate(keys, 1):
        plt.subplot(row, 1)
        plt.title(f"{metric} against {key}")
        for s in sweeps:
            if key not in s.swept:
                continue
            xs, ys, ux, means, categorical = sweep_points(s, key, metric)
            if categorical:
                pos = {u: j for j, u in enumerate(ux)}
                plt.scatter([pos[x] for x in xs], ys, label=s.name)
                plt.plot(list(range(len(ux))), means)
                plt.xticks(list(range(len(ux))), ux)
            else:
                logx = ux and min(ux) > 0 and max(ux) / min(ux) >= 50
                f = (lambda v: math.log10(v)) if logx else (lambda v: v)
                plt.scatter([f(x) for x in xs], ys, label=s.name)
                plt.plot([f(u) for u in ux], means)
                if logx:
                    plt.xlabel(f"log10 {key}")
                    continue
            plt.xlabel(key)
