"""Everything rich: progress, tables and error display, all on stderr (stdout is for --json)."""
from __future__ import annotations

import time
from pathlib import Path

from rich.cells import cell_len
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from .training.callbacks import Callback

WIDE = 10_000  # off a terminal: tables as wide as their content, lines never wrapped


class _Console(Console):
    """rich's Console, but off a terminal (a file, a pipe, CI) as wide as ``COLUMNS`` says or
    without limit, where rich takes 80 columns (or the width of another stream's terminal):
    run names cut short in tables, one-line messages wrapped mid-sentence. On a terminal,
    its width (or ``COLUMNS``), as rich does."""

    def _size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        if self._width is None and not self.is_terminal:
            columns = self._environ.get("COLUMNS", "")
            width = int(columns) if columns.isdigit() and int(columns) > 0 else WIDE
            return ConsoleDimensions(width, size.height)
        return size

    size = property(_size, Console.size.fset)


stderr = _Console(stderr=True, highlight=False)


def titled(title: str, caption: str | None = None, **kw) -> Table:
    """A rich Table at least as wide as its title and caption (up to the console's width),
    so that neither wraps above or below narrower columns."""
    return Table(title=title, caption=caption, min_width=max(cell_len(title), cell_len(caption or "")), **kw)


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

    def parts(self, best: bool = True) -> list[str]:
        """'loss 0.12 (best 0.11 @ 40)', 'acc 97.5% (best 98.0%)', 'lr 0.1', ... as plain text
        (without the best values when ``best`` is False)."""
        out = []
        for k, label in (("train_loss", "loss"), ("train_accuracy", "acc"), ("val_loss", "val_loss"),
                         ("val_accuracy", "val_acc")):
            if k not in self.logs:
                continue
            pct = k.endswith("accuracy")
            show = (lambda v: f"{v:.1%}") if pct else fmt
            v = self.logs[k]
            text = f"{label} {show(v)}"
            if best and k in self.best:
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
    t = titled(f"layer health at epoch {epoch}", title_justify="left", header_style="bold",
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
        from .engine.threads import num_threads
        n = num_threads()  # training.threads, set by now
        self.task = self.progress.add_task(f"{self.title} on {n} thread{'s' if n != 1 else ''}",
                                           total=state.epochs, completed=state.epoch)

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
        parts = [status_line(self.tracker, self.console.width)]
        h = self.health
        if h is not None and h.report:
            parts.append(health_table(h.report, h.report_epoch))
        return Group(*parts)

    def on_train_end(self, state):
        if self.live:
            self.progress.extra = self.panel()
            self.progress.update(self.task, total=state.epoch, completed=state.epoch)
            self.progress.stop()


def status_line(tracker: Tracker, width: int) -> Text:
    """The live view's line of metrics and loss sparkline, fitted to ``width`` columns so it
    never wraps: the sparkline narrows from 24 to 8 characters, then the best values go, then
    the sparkline; what still does not fit is cut with an ellipsis."""
    spark_label = "  │  loss "
    for best in (True, False):
        head = "  " + "  │  ".join(tracker.parts(best=best))
        room = min(24, width - cell_len(head) - cell_len(spark_label))
        spark = sparkline(tracker.losses, room) if room >= 8 else ""
        if spark:
            line = Text(head, no_wrap=True, overflow="ellipsis")
            line.append(spark_label)
            line.append(spark, style="cyan")
            return line
    for best in (True, False):
        head = "  " + "  │  ".join(tracker.parts(best=best))
        if cell_len(head) <= width or not best:
            return Text(head, no_wrap=True, overflow="ellipsis")


def network_table(rows: list[dict]) -> Table:
    """The layers with their output shapes and parameter counts, as Keras's summary()."""
    from .engine.blocks import summary_cells
    cells, total = summary_cells(rows)
    table = titled("network", caption=f"{total} parameters")
    table.add_column("layer")
    table.add_column("output shape")
    table.add_column("parameters", justify="right")
    for row in cells:
        table.add_row(*row)
    return table


def print_network(run_dir, setup, console: Console = stderr) -> None:
    """``backprop train``'s header: the run folder and the network's table of shapes (for an
    ensemble's members, the table once, then a line per member)."""
    from .engine.blocks import summary
    ens = setup.config.data.get("ensemble") or {}
    member = ens.get("member")
    if member in (None, 0):
        rows = summary(setup.config.data["model"]["layers"], setup.network.input_shape)
        console.print(network_table(rows))
    if member is None:
        console.print(f"run folder: {run_dir}", markup=False, highlight=False, soft_wrap=True)
        return
    sample = setup.sample
    drawn = "" if sample is None else (f" (bootstrap sample: {len(set(sample.tolist()))} distinct of "
                                       f"{len(sample)} training examples)")
    console.print(f"member {member} of {ens['members']}: {run_dir}{drawn}", markup=False,
                  highlight=False, soft_wrap=True)


def run_table(summary: dict) -> Table:
    t = titled(f"run {summary['name']}", show_header=True, header_style="bold")
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


def ensemble_table(summary: dict) -> Table:
    """An ensemble run: each member's loss (and accuracy) on the run's splits, their mean,
    and the ensemble's (averaged outputs)."""
    t = titled(f"ensemble {summary['name']}", header_style="bold")
    t.add_column("")
    rows = [(f"member {r['member']}", r) for r in summary["members"]]
    rows += [("mean of members", summary["members_mean"]), ("ensemble", summary["ensemble"])]
    keys = [f"{split}_{m}" for split in ("train", "val", "test") for m in ("loss", "accuracy")
            if f"{split}_{m}" in summary["ensemble"]]
    for k in keys:
        t.add_column(k, justify="right")
    for label, r in rows:
        t.add_row(label, *("-" if r.get(k) is None else f"{r[k]:.2%}" if k.endswith("accuracy")
                           else fmt(r[k], 6) for k in keys), style="bold" if label == "ensemble" else None)
    return t


def print_run(summary: dict, console: Console = stderr) -> None:
    if isinstance(summary.get("ensemble"), dict):  # an ensemble's run (ensemble.members)
        if summary["members_mean"]:
            console.print(ensemble_table(summary))
        colour = "red" if summary.get("diverged") else "green"
        console.print(f"[{colour}]{escape(summary['stop_reason'])}[/]: {summary['epochs']} epochs in all, "
                      f"in {summary['wall_time']:.2f} s")
        console.print(f"run folder: {summary['run_dir']}")
        return
    console.print(run_table(summary))
    colour = "red" if summary.get("diverged") else "green"
    on = f" on {summary['threads']} thread{'s' if summary['threads'] != 1 else ''}" if summary.get("threads") else ""
    console.print(f"[{colour}]stopped: {summary['stop_reason']}[/] after {summary['epochs']} epochs "
                  f"in {summary['wall_time']:.2f} s{on}")
    console.print(f"run folder: {summary['run_dir']}")


def gradcheck_table(report, tol: float) -> Table:
    t = titled("gradient check (central differences, float64)", header_style="bold")
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
                  + (f"  [bold]images[/] {'×'.join(map(str, summary['shape']))}" if summary.get("shape") else "")
                  + f"  [bold]scale[/] {summary['scale']}", soft_wrap=True)
    t = titled("splits", header_style="bold")
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
        b = titled("class balance", header_style="bold")
        b.add_column("class")
        for name in summary["splits"]:
            b.add_column(name, justify="right")
        for c in summary["classes"]:
            b.add_row(escape(c), *(f"{sp['class_counts'][c]} ({sp['class_counts'][c] / sp['n']:.1%})"
                                   for sp in summary["splits"].values()))
        console.print(b)
    feats = summary["features"]
    f = titled("features of the training split after preprocessing"
              + (f" (first {max_features} of {len(feats)})" if len(feats) > max_features else ""),
              header_style="bold")
    for col in ("feature", "min", "max", "mean", "std"):
        f.add_column(col, justify="left" if col == "feature" else "right")
    for row in feats[:max_features]:
        f.add_row(escape(row["name"]), *(f"{row[k]:.4g}" for k in ("min", "max", "mean", "std")))
    console.print(f)


def print_sweep_start(result, todo, console: Console = stderr) -> None:
    n = len(result.trials)
    resumed = f", {result.skipped} finished earlier (skipped)" if result.skipped else ""
    console.print(f"[bold]sweep[/] {escape(result.info['name'])}: {n} trial(s){resumed}, "
                  f"{len(todo)} to run", soft_wrap=True)
    console.print(f"sweep folder: {escape(str(result.sweep_dir))}", soft_wrap=True)


def print_sweep_trial(row: dict, done: int, total: int, console: Console = stderr) -> None:
    """One line per finished trial: [done/total] id status metric time overrides."""
    colour = {"ok": "green", "diverged": "yellow"}.get(row["status"], "red")
    wall = f"{row['wall_time']:.2f} s" if row.get("wall_time") is not None else "-"
    detail = f"  [red]{escape(row['error'])}[/]" if row.get("error") else ""
    console.print(f"[{done}/{total}] {row['trial']} [{colour}]{row['status']}[/] "
                  f"{fmt(row['metric'], 6)} ({wall})  {escape(' '.join(row['overrides']))}{detail}",
                  soft_wrap=True)


def sweep_table(result, metric: str, goal: str) -> Table:
    """Points best first: parameters, the metric's mean ± std over seeds, runs, statuses."""
    keys = list(dict.fromkeys(k for p in result.points for k in p.params))
    params = [k for k in keys if len({repr(p.params.get(k)) for p in result.points}) > 1] or keys[:1]
    t = titled(f"sweep {result.info['name']}: {metric} ({goal}), best first", header_style="bold")
    for col in ("#", *params, metric, "runs", "status"):
        t.add_column(escape(col), justify="right" if col not in params and col != "status" else "left")
    for i, p in enumerate(result.points, 1):
        mean = fmt(p.mean) + (f" ± {p.std:.2g}" if p.std is not None else "")
        status = ", ".join(f"{n} {s}" for s, n in p.statuses().items())
        t.add_row(str(i), *(escape(str(p.params.get(k, ""))) for k in params), mean,
                  str(len(p.rows)), status, style="bold" if i == 1 and p.mean is not None else None)
    return t


def print_sweep(result, console: Console = stderr) -> None:
    metric = result.info["metric"]
    console.print(sweep_table(result, metric["name"], metric["goal"]))
    failed = [r for r in result.rows.values() if r["status"] in ("failed", "crashed")]
    for r in failed[:5]:
        console.print(f"[red]{r['status']}[/] {r['trial']} ({escape(' '.join(r['overrides']))}): "
                      f"{escape(r['error'] or '')}", soft_wrap=True)
    if result.best_yaml:
        console.print(f"best config: {escape(str(result.best_yaml))}  (backprop train it)", soft_wrap=True)
    if result.missing:
        console.print(f"[yellow]{len(result.missing)} trial(s) have no result yet[/] (shards not "
                      "run or not finished)")
    if result.interrupted:
        console.print("[yellow]interrupted[/]: finished trials are kept; run the same command "
                      "again to resume")
    if result.sweep_dir:
        console.print(f"results: {escape(str(result.sweep_dir / 'results.csv'))}", soft_wrap=True)


def print_eval(report: dict, console: Console = stderr) -> None:
    """Runs (and their ensemble) side by side; per-class scores and the confusion matrix."""
    rows = report["runs"] + ([report["ensemble"]] if "ensemble" in report else [])
    classification = report["task"] == "classification"
    t = titled(f"evaluation ({report['task']})", header_style="bold")
    t.add_column("run")
    t.add_column("data")
    t.add_column("n", justify="right")
    metrics = (["loss", "accuracy", "macro F1", "weighted F1"] if classification
               else ["loss", "mse", "mae", "r2"])
    for m in metrics:
        t.add_column(m, justify="right")
    for r in rows:
        split = r.get("split", "-") if r.get("data") in (None, "") else r["data"]
        if classification:
            vals = [fmt(r.get("loss")), f"{r['accuracy']:.2%}", f"{r['macro']['f1']:.4f}",
                    f"{r['weighted']['f1']:.4f}"]
        else:
            vals = [fmt(r.get("loss")), fmt(r["mse"]), fmt(r["mae"]), fmt(r["r2"])]
        label = (r["name"] if r["name"] == "ensemble" and "checkpoints" not in r else
                 f"{r['name']} (ensemble of {len(r['members'])}, {Path(r['checkpoints'][0]).stem})"
                 if "checkpoints" in r else f"{r['name']} ({Path(r['checkpoint']).stem}, epoch {r['epoch']})")
        if r.get("mc_dropout"):
            label += f", MC dropout {r['mc_dropout']['passes']} passes (seed {r['mc_dropout']['seed']})"
        t.add_row(label, split, str(r["n"]), *vals)
    console.print(t)
    if not classification:
        return
    last = rows[-1]
    pc = titled(f"per class: {last['name']}", header_style="bold")
    for col in ("class", "precision", "recall", "F1", "support"):
        pc.add_column(col, justify="left" if col == "class" else "right")
    for c in last["per_class"]:
        pc.add_row(escape(c["class"]), f"{c['precision']:.4f}", f"{c['recall']:.4f}", f"{c['f1']:.4f}",
                   str(c["support"]))
    for avg in ("macro", "weighted"):
        a = last[avg]
        pc.add_row(f"[i]{avg} avg[/]", f"{a['precision']:.4f}", f"{a['recall']:.4f}", f"{a['f1']:.4f}",
                   str(a["support"]))
    console.print(pc)
    cm = titled("confusion matrix", caption="rows: true class, columns: predicted",
               header_style="bold")
    cm.add_column("")
    for c in last["classes"]:
        cm.add_column(escape(c), justify="right")
    for c, row in zip(last["classes"], last["confusion_matrix"]):
        cm.add_row(escape(c), *map(str, row))
    console.print(cm)


# -- backprop explain ---------------------------------------------------------------------
def print_expr(result, console: Console = stderr) -> None:
    """Note 000's layout: the forward computation, then the backward one in reverse-mode order."""
    from .explain.expr import _fmt
    g = result.graph
    console.print(f"[bold]expression[/] {escape(result.expression)}   at "
                  + ", ".join(f"{k} = {v:g}" for k, v in result.at.items()))
    fwd = titled("forward computation", title_justify="left", header_style="bold", box=None)
    for col in ("node", "definition", "as written", "value"):
        fwd.add_column(col, justify="right" if col == "value" else "left")
    for n in result.forward_nodes():
        name = g.ref(n.id)
        fwd.add_row(name, "given" if n.op == "var" else escape(g.text(n)),
                    "" if n.op == "var" else escape(n.source), _fmt(n.value))
    console.print(fwd)
    bwd = titled("backward computation (reverse mode: each adjoint sums what its consumers "
                      "send back, g_u = Σ_v g_v·∂v/∂u)", title_justify="left", header_style="bold", box=None)
    for col in ("adjoint", "chain rule", "with numbers", "value"):
        bwd.add_column(col, justify="right" if col == "value" else "left")
    for n in result.backward_nodes():
        name = g.ref(n.id)
        if not n.contributions:
            bwd.add_row(f"g{name}", f"d{name}/d{name}", "", "1")
            continue
        rule = " + ".join(f"g{c}·({f})" if not f.replace("-", "").isalnum() else f"g{c}·{f}"
                          for c, f, _, _ in n.contributions)
        nums = " + ".join(f"{_fmt(gc)}·{_fmt(lv)}" for _, _, lv, gc in n.contributions)
        bwd.add_row(f"g{name}", escape(rule), escape(nums), _fmt(n.adjoint))
    console.print(bwd)
    out = result.output_name
    console.print("[bold]gradient[/] " + ", ".join(
        f"d{out}/d{k} = [bold]{_fmt(v)}[/]" for k, v in result.gradient.items())
        + f"   ({out} = {_fmt(result.value)})")


def show_array(a, limit: int = 24) -> str:
    """Small arrays in full, large ones summarised (shape, mean, std, min, max, norm)."""
    import numpy as np
    a = np.asarray(a, dtype=np.float64)
    if a.size <= limit:
        body = np.array2string(a, precision=4, suppress_small=True, separator=", ",
                               max_line_width=10_000).replace("\n", "")
        return body
    return (f"mean {a.mean():.4g}, std {a.std():.4g}, min {a.min():.4g}, max {a.max():.4g}, "
            f"‖·‖ {np.linalg.norm(a):.4g}")


def show_summary(a) -> list[str]:
    """The cells min, mean, max, ‖·‖ and zeros of an array (explain on images)."""
    from .explain.network import summarize
    m = summarize(a)
    return [f"{m['min']:.4g}", f"{m['mean']:.4g}", f"{m['max']:.4g}", f"{m['norm']:.4g}", f"{m['zeros']:.0%}"]


def print_trace(t, console: Console = stderr) -> None:
    """One example's forward and backward pass, layer by layer (``backprop explain CONFIG``).
    For a network on images: first the table of output shapes, then each value summarized
    (min, mean, max, norm, share of zeros) instead of printed."""
    if t.images:
        console.print(network_table(t.rows))
        console.print(f"[bold]example {t.example}[/] of the {t.split} split: image "
                      f"{'×'.join(map(str, t.input_shape))}, target {show_array(t.target)}; "
                      f"weights: {escape(t.weights)}")
    else:
        console.print(f"[bold]example {t.example}[/] of the {t.split} split: x = {show_array(t.x)}, "
                      f"target {show_array(t.target)}; weights: {escape(t.weights)}")

    def title(lt):
        head = f"layer {lt.index + 1}: {lt.title}"
        if t.images and lt.output_shape is not None:
            head += f"   output {'×'.join(map(str, lt.output_shape))}"
        return head

    def table(title, steps):
        tab = titled(title, title_justify="left", header_style="bold", box=None, padding=(0, 1))
        cols = ("", "formula", "shape", "min", "mean", "max", "‖·‖", "zeros") if t.images else \
            ("", "formula", "shape", "value")
        for col in cols:
            tab.add_column(col, overflow="fold", justify="right" if col in cols[3:] and t.images else "left")
        for s in steps:
            cells = show_summary(s.value) if t.images else [escape(show_array(s.value))]
            tab.add_row(f"[bold]{escape(s.name)}[/]", escape(s.formula), str(tuple(s.value.shape)), *cells)
        return tab

    console.print("[bold underline]forward[/]")
    for lt in t.layers:
        console.print(table(title(lt), lt.forward))
    console.print(f"[bold]output[/] o = {show_array(t.output)}   [bold]loss[/] E = {t.loss:.6g}  "
                  f"({escape(t.loss_formula)})")
    console.print("[bold underline]backward[/]")
    for lt in reversed(t.layers):
        console.print(table(title(lt), lt.backward))


SMALL = 24  # explain --json on images: arrays of at most this many numbers are given in full


def trace_json(t) -> dict:
    """The trace as JSON. Each layer has its output shape (engine.blocks.infer_shapes) and
    parameter count. On feature vectors every value is given in full; on images each value is
    summarized (a step's ``summary``, and ``x`` and each gradient: shape, min, mean, max, norm,
    zeros) and given in full (``value``) only when it has at most SMALL numbers (biases)."""
    from .explain.network import summarize

    def full(a) -> bool:
        return not t.images or a.size <= SMALL

    def steps(ss):
        out = []
        for s in ss:
            step = {"name": s.name, "formula": s.formula, "shape": list(s.value.shape)}
            if t.images:
                step["summary"] = summarize(s.value)
            if full(s.value):
                step["value"] = s.value.tolist()
            out.append(step)
        return out

    def layer(lt):
        d = {"index": lt.index, "title": lt.title}
        if lt.output_shape is not None:
            d.update(layer=lt.layer, output_shape=list(lt.output_shape), params=lt.params)
        return {**d, "forward": steps(lt.forward), "backward": steps(lt.backward)}

    def array(a):  # images: the summary, with the value in full when small
        if not t.images:
            return a.tolist()
        return {**summarize(a), **({"value": a.tolist()} if full(a) else {})}

    out = {"example": t.example, "split": t.split, "x": array(t.x), "target": t.target.tolist(),
           "output": t.output.tolist(), "loss": t.loss, "loss_formula": t.loss_formula,
           "weights": t.weights, "layers": [layer(lt) for lt in t.layers],
           "gradients": {k: array(v) for k, v in t.gradients.items()}}
    if t.input_shape is not None:
        out["input_shape"] = list(t.input_shape)
    return out
