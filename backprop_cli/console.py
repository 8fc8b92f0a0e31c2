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


class ProgressBar(Callback):
    """A live bar: epoch, loss, accuracy, elapsed, ETA. Redraws at most ~10 times a second."""

    def __init__(self, console: Console = stderr, title: str = "training"):
        self.console = console
        self.title = title
        self._last = 0.0

    def on_train_begin(self, state):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("epoch {task.completed}/{task.total}"),
            TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=self.console, transient=False, refresh_per_second=10)
        self.progress.start()
        self.task = self.progress.add_task(self.title, total=state.epochs, completed=state.epoch,
                                           metrics="")

    def on_epoch_end(self, state):
        now = time.monotonic()
        if now - self._last < 0.1 and state.stop_reason is None and state.epoch < state.epochs:
            return
        self._last = now
        logs = state.logs
        parts = [f"loss {fmt(logs.get('train_loss'))}"]
        if "train_accuracy" in logs:
            parts.append(f"acc {logs['train_accuracy']:.1%}")
        if "val_loss" in logs:
            parts.append(f"val_loss {fmt(logs['val_loss'])}")
        if "val_accuracy" in logs:
            parts.append(f"val_acc {logs['val_accuracy']:.1%}")
        self.progress.update(self.task, completed=state.epoch, metrics="  ".join(parts))

    def on_train_end(self, state):
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
