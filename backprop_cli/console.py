"""Everything rich: progress, tables and error display, all on stderr (stdout is for --json)."""
from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .training.callbacks import Callback

stderr = Console(stderr=True, highlight=False)


def fmt(x, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values, width: int = 24) -> str:
    """The values as a row of block characters, ``width`` wide at most (each character the
    mean of its share of the values); log scale when they are positive and span 10x or more."""
    import math
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return ""
    if len(vals) > width:
        n = len(vals)
        vals = [sum(vals[i * n // width:(i + 1) * n // width]) / len((vals[i * n // width:(i + 1) * n // width]))
                for i in range(width)]
    lo, hi = min(vals), max(vals)
    if lo > 0 and hi / lo >= 10:
        vals, lo, hi = [math.log(v) for v in vals], math.log(lo), math.log(hi)
    if hi == lo:
        return SPARK[0] * len(vals)
    return "".join(SPARK[min(len(SPARK) - 1, int((v - lo) / (hi - lo) * len(SPARK)))] for v in vals)


class Tracker:
    """Current and best of each epoch metric, and the loss curve so far (plain numbers)."""

    def __init__(self):
        self.losses: list[float] = []
        self.best: dict[str, tuple[float, int]] = {}
        self.logs: dict = {}

    def update(self, logs: dict) -> None:
        self.logs = logs
        self.losses.append(logs.get("train_loss", float("nan")))
        for k in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
            v = logs.get(k)
            if v is None or v != v:
                continue
            better = (lambda a, b: a > b) if k.endswith("accuracy") else (lambda a, b: a < b)
            if k not in self.best or better(v, self.best[k][0]):
                self.best[k] = (v, logs["epoch"])

    def parts(self) -> list[str]:
        """'loss 0.12 (best 0.11 @ 40)', 'acc 97.5% (best 98.0%)', 'lr 0.1', ... as plain text."""
        out = []
        for k, label in (("train_loss", "loss"), ("train_accuracy", "acc"), ("val_loss", "val_loss"),
                         ("val_accuracy", "val_acc")):
            if k not in self.logs:
                continue
            pct = k.endswith("accuracy")
            show = (lambda v: f"{v:.1%}") if pct else fmt
            v = self.logs[k]
            text = f"{label} {show(v)}"
            if k in self.best:
                bv, be = self.best[k]
                text += f" (best {show(bv)} @ {be})"
            out.append(text)
        if "lr" in self.logs:
            out.append(f"lr {fmt(self.logs['lr'])}")
        return out


class _LiveProgress(Progress):
    """A rich Progress that draws extra lines (metrics, loss curve, health) under its bar."""

    extra = None

    def get_renderables(self):
        yield self.make_tasks_table(self.tasks)
        if self.extra is not None:
            yield self.extra


def health_table(report, epoch) -> Table:
    t = Table(title=f"layer health at epoch {epoch}", title_justify="left", header_style="bold",
              box=None, padding=(0, 1))
    for col in ("layer", "‖dE/dW‖", "update/weight", "dead ReLU", "saturated", "status"):
        t.add_column(col, justify="left" if col in ("layer", "status") else "right")
    for h in report:
        status = ("[yellow]" + escape("; ".join(h.warnings)) + "[/]") if h.warnings else "[green]ok[/]"
        t.add_row(escape(f"{h.index}: {h.title}"), f"{h.grad_norm:.2e}",
                  "-" if h.update_ratio is None else f"{h.update_ratio:.1e}",
                  "-" if h.dead is None else f"{h.dead:.0%}",
                  "-" if h.saturated is None else f"{h.saturated:.0%}", status)
    return t


def health_warnings(report, epoch) -> list[tuple[tuple, str]]:
    """(key, line) per warning; the key (layer, kind of problem) lets a log say each once."""
    return [((h.index, w.split(" (")[0].lstrip("0123456789%. ")),
             f"health at epoch {epoch}: layer {h.index} ({h.title}): {w}")
            for h in report for w in h.warnings]


class ProgressBar(Callback):
    """The live view of ``train`` on stderr.

    On a terminal: a bar (epoch, elapsed, ETA), then the current and best loss and accuracy,
    the learning rate and a sparkline of the loss, then per-layer health every
    ``health_every`` epochs, redrawn at most ~10 times a second. Elsewhere (CI, log files,
    sweeps): one plain line every ``log_every`` epochs (default: about 20 lines per run),
    and each health warning once, as a line of its own.
    """

    def __init__(self, console: Console = stderr, title: str = "training", *,
                 health_every: int | None = 10, log_every: int | None = None,
                 live: bool | None = None):
        from .training.health import HealthMonitor
        self.console = console
        self.title = title
        self.live = console.is_terminal if live is None else live
        self.log_every = log_every
        self.health = HealthMonitor(health_every) if health_every else None
        self.tracker = Tracker()
        self._last = 0.0
        self._warned: set[str] = set()
        self._health_epoch = None

    def on_train_begin(self, state):
        self.tracker = Tracker()
        self._every = self.log_every or max(1, state.epochs // 20)
        if not self.live:
            return
        self.progress = _LiveProgress(
            TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("epoch {task.completed}/{task.total}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=self.console, transient=False, refresh_per_second=10)
        self.progress.start()
        self.task = self.progress.add_task(self.title, total=state.epochs, completed=state.epoch)

    def on_epoch_begin(self, state):
        if self.health is not None:
            self.health.on_epoch_begin(state)

    def on_batch_end(self, state):
        if self.health is not None:
            self.health.on_batch_end(state)

    def on_epoch_end(self, state):
        if self.health is not None:
            self.health.on_epoch_end(state)
        self.tracker.update(state.logs)
        final = state.stop_reason is not None or state.epoch >= state.epochs
        if self.live:
            now = time.monotonic()
            if now - self._last < 0.1 and not final:
                return
            self._last = now
            self.progress.extra = self.panel()
            self.progress.update(self.task, completed=state.epoch)
        else:
            if state.epoch % self._every == 0 or state.epoch == 1 or final:
                self.console.print(self.plain_line(state), markup=False, highlight=False, soft_wrap=True)
            self._print_new_warnings()

    def plain_line(self, state) -> str:
        t = state.logs.get("epoch_time")
        timing = f"  {t * 1000:.3g} ms/epoch" if t is not None else ""
        return f"epoch {state.epoch}/{state.epochs}  " + "  ".join(self.tracker.parts()) + timing

    def _print_new_warnings(self):
        h = self.health
        if h is None or h.report_epoch is None or h.report_epoch == self._health_epoch:
            return
        self._health_epoch = h.report_epoch
        for key, line in health_warnings(h.report, h.report_epoch):
            if key not in self._warned:
                self._warned.add(key)
                self.console.print(f"warning: {line}", markup=False, highlight=False, soft_wrap=True)

    def panel(self):
        from rich.console import Group
        from rich.text import Text
        line = Text("  " + "  │  ".join(self.tracker.parts()))
        spark = sparkline(self.tracker.losses)
        if spark:
            line.append("  │  loss ")
            line.append(spark, style="cyan")
        parts = [line]
        h = self.health
        if h is not None and h.report:
            parts.append(health_table(h.report, h.report_epoch))
        return Group(*parts)

    def on_train_end(self, state):
        if self.live:
            self.progress.extra = self.panel()
            self.progress.update(self.task, total=state.epoch, completed=state.epoch)
            self.progress.stop()


def run_table(summary: dict) -> Table:
    t = Table(title=f"run {summary['name']}", show_header=True, header_style="bold")
    t.add_column("metric")
    t.add_column("final", justify="right")
    t.add_column(f"best (epoch {summary['best'].get('epoch', '-')})", justify="right")
    for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        if k in summary["final"]:
            fv, bv = summary["final"].get(k), summary["best"].get(k)
            if k.endswith("accuracy"):
                t.add_row(k, "-" if fv is None else f"{fv:.2%}", "-" if bv is None else f"{bv:.2%}")
            else:
                t.add_row(k, fmt(fv, 6), fmt(bv, 6))
    for k, v in (summary.get("test") or {}).items():  # the final weights on the test split
        t.add_row(k, "-" if v is None else f"{v:.2%}" if k.endswith("accuracy") else fmt(v, 6), "")
    return t


def print_run(summary: dict, console: Console = stderr) -> None:
    console.print(run_table(summary))
    colour = "red" if summary.get("diverged") else "green"
    console.print(f"[{colour}]stopped: {summary['stop_reason']}[/] after {summary['epochs']} epochs "
                  f"in {summary['wall_time']:.2f} s")
    console.print(f"run folder: {summary['run_dir']}")


def gradcheck_table(report, tol: float) -> Table:
    t = Table(title="gradient check (central differences, float64)", header_style="bold")
    for col, justify in (("check", "left"), ("parameter", "left"), ("max rel. error", "right"),
                         ("worst index", "left"), ("checked", "right"), ("skipped (kinks)", "right"),
                         ("result", "left")):
        t.add_column(col, justify=justify)
    for c in report.checks:
        style = {"passed": "green", "FAILED": "bold red"}.get(c.status, "yellow")
        t.add_row(c.check, c.parameter, f"{c.max_rel_error:.2e}" if c.checked else "-",
                  str(c.worst_index) if c.checked else "-", str(c.checked), str(c.skipped),
                  f"[{style}]{c.status}[/]")
    return t


def print_gradcheck(report, tol: float, console: Console = stderr) -> None:
    console.print(gradcheck_table(report, tol))
    for c in report.checks:
        if not c.passed:
            console.print(f"[red]FAILED[/] {c.name}: at {c.worst_index} analytic {c.analytic:.10g} "
                          f"vs numeric {c.numeric:.10g} (relative error {c.max_rel_error:.2e} > {tol:g})")
    nd = sum(c.status == "not differentiable" for c in report.checks)
    verdict = "[green]all gradients match[/]" if report.passed else f"[bold red]{report.n_failed} failed[/]"
    console.print(f"{verdict}: {report.n_passed} passed, {report.n_failed} failed"
                  + (f", {nd} not differentiable (skipped)" if nd else ""))


def print_error(message: str) -> None:
    for line in str(message).splitlines() or [""]:
        stderr.print(f"[bold red]Error:[/] {escape(line)}", soft_wrap=True)


def print_data_summary(summary: dict, console: Console = stderr, max_features: int = 20) -> None:
    """``backprop data show``: the splits with their class balance, then the feature ranges."""
    paths = ", ".join(f"{k}: {v}" for k, v in summary["paths"].items())
    console.print(f"[bold]source[/] {escape(summary['source'])}" + (f" ({escape(paths)})" if paths else "")
                  + f"  [bold]task[/] {summary['task']}  [bold]features[/] {summary['n_features']}"
                  + f"  [bold]scale[/] {summary['scale']}", soft_wrap=True)
    t = Table(title="splits", header_style="bold")
    for col in ("split", "examples", "X", "Y", "from", "feature range", *(
            () if summary["classes"] else ("target range",))):
        t.add_column(col)
    for name, sp in summary["splits"].items():
        t.add_row(name, str(sp["n"]), " x ".join(map(str, sp["X"])), " x ".join(map(str, sp["Y"])),
                  sp["from"], f"{sp['feature_range'][0]:.4g} .. {sp['feature_range'][1]:.4g}", *(
                      () if summary["classes"] else (f"{sp['target_range'][0]:.4g} .. "
                                                     f"{sp['target_range'][1]:.4g}",)))
    console.print(t)
    if summary["classes"]:
        b = Table(title="class balance", header_style="bold")
        b.add_column("class")
        for name in summary["splits"]:
            b.add_column(name, justify="right")
        for c in summary["classes"]:
            b.add_row(escape(c), *(f"{sp['class_counts'][c]} ({sp['class_counts'][c] / sp['n']:.1%})"
                                   for sp in summary["splits"].values()))
        console.print(b)
    feats = summary["features"]
    f = Table(title="features of the training split after preprocessing"
              + (f" (first {max_features} of {len(feats)})" if len(feats) > max_features else ""),
              header_style="bold")
    for col in ("feature", "min", "max", "mean", "std"):
        f.add_column(col, justify="left" if col == "feature" else "right")
    for row in feats[:max_features]:
        f.add_row(escape(row["name"]), *(f"{row[k]:.4g}" for k in ("min", "max", "mean", "std")))
    console.print(f)
