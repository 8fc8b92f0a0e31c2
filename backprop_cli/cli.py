"""The ``backprop`` command: a thin click layer over :mod:`backprop_cli.api`.

Commands parse their arguments, call the library and render the result. A BackpropError
becomes one ``Error:`` line per problem and its exit code; ``--debug`` shows tracebacks.
Heavy modules (NumPy, rich) are imported inside the commands so ``--help`` stays instant.
"""
from __future__ import annotations

import json
import sys

import click
import click.shell_completion

from . import __version__
from .errors import EXIT_INTERRUPTED, BackpropError


class Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BackpropError as e:
            if ctx.params.get("debug") or ctx.meta.get("backprop.debug"):
                raise
            from .console import print_error
            print_error(str(e))
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            if ctx.params.get("debug") or ctx.meta.get("backprop.debug"):
                raise
            click.echo("Interrupted.", err=True)
            ctx.exit(EXIT_INTERRUPTED)


def _set_debug(ctx, param, value):
    if value:
        ctx.meta["backprop.debug"] = True


def debug_option(f):
    return click.option("--debug", is_flag=True, expose_value=False, is_eager=True,
                        callback=_set_debug, help="Show Python tracebacks for errors.")(f)


def _complete_set(ctx, param, incomplete):
    """--set: config keys (optimizer.lr=), then a key's names (optimizer.name=adam)."""
    from click.shell_completion import CompletionItem

    from .completion import set_overrides
    return [CompletionItem(value, help=doc or None) for value, doc in set_overrides(incomplete)]


def _complete_runs(ctx, param, incomplete):
    """RUN_DIR: run folders (plot: and sweep folders), else the shell's own folder completion."""
    from click.shell_completion import CompletionItem

    from .completion import run_folders
    found = run_folders(incomplete, sweeps=ctx.command.name == "plot")
    return [CompletionItem(path) for path in found] or [CompletionItem(incomplete, type="dir")]


class _BashComplete(click.shell_completion.BashComplete):
    """click's bash completion, but no space after a --set key's '=' (optimizer.lr=)."""

    source_template = click.shell_completion.BashComplete.source_template.replace(
        "COMPREPLY+=($value)", "COMPREPLY+=($value)\n            [[ $value == *= ]] && compopt -o nospace")


click.shell_completion.add_completion_class(_BashComplete)

def set_option(example: str, what: str = "Override a config value"):
    """--set KEY=VALUE, with an example of a key the command uses (completes config keys)."""
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                        shell_complete=_complete_set,
                        help=f"{what}, e.g. --set {example} (repeatable).")


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="backprop")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
def main(debug):
    """Train, check and understand small neural networks declared in YAML.

    \b
    backprop train configs/xor.yaml      train a network, write runs/<name>-<time>/
    backprop gradcheck                   check every built-in gradient
    backprop gradcheck configs/xor.yaml  check a config's network
    """


@main.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@set_option("optimizer.lr=0.1")
@click.option("--resume", type=click.Path(file_okay=False), default=None, metavar="RUN_DIR",
              shell_complete=_complete_runs,
              help="Continue a stopped or killed run from its checkpoints/last.npz (no CONFIG).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --resume: a new total of epochs, above those done (trains a run that "
                   "ended at its epoch limit on).")
@click.option("--runs-dir", type=click.Path(file_okay=False), default=None,
              help="Folder for run folders (default: the config's output.runs_dir, 'runs').")
@click.option("--name", default=None, help="Run name (default: the config's name or file name).")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json's object as one line on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--log-every", type=click.IntRange(min=1), default=None, metavar="N",
              help="When stderr is not a terminal: one plain line every N epochs "
                   "(default: about 20 lines per run).")
@click.option("--log", "loggers", type=click.Choice(["tensorboard", "mlflow"]), multiple=True,
              help="Also send the run to TensorBoard (RUN/tensorboard/) or MLflow "
                   "($MLFLOW_TRACKING_URI, else mlruns/ beside the runs folder); repeatable, added "
                   "to output.loggers.")
@click.option("--threads", type=click.IntRange(min=1), default=None, metavar="N",
              help="Threads for the matrix products and backprop's own work (training.threads; "
                   "default: as OPENBLAS_NUM_THREADS sets, else every core).")
@debug_option
def train(config, overrides, resume, epochs, runs_dir, name, as_json, quiet, log_every, loggers,
          threads):
    """Train the network CONFIG declares (or continue one with --resume RUN_DIR).

    Writes runs/<name>-<YYYYmmdd-HHMMSS>/ with config.yaml (resolved), metrics.jsonl,
    summary.json, preprocessing.npz and checkpoints/last.npz and best.npz. Ctrl-C stops after
    the current epoch with a checkpoint (twice: abandon the epoch, back to the last
    checkpoint). Exit codes: 0 finished, 2 bad config, 3 bad data, 4 diverged, 130 interrupted.
    """
    from . import api
    from .errors import EXIT_DIVERGED, EXIT_INTERRUPTED
    if resume and (config or overrides or runs_dir or name or loggers or threads):
        raise click.UsageError("--resume RUN_DIR continues a run as it was: give no CONFIG, "
                               "--set, --runs-dir, --name, --log or --threads with it (--epochs N "
                               "gives it a new total; backprop log RUN --to NAME sends a run to a "
                               "tracker)")
    if threads is not None:
        overrides = (*overrides, f"training.threads={threads}")
    if not resume and not config:
        raise click.UsageError("Missing argument 'CONFIG' (or --resume RUN_DIR).")
    if epochs is not None and not resume:
        raise click.UsageError(f"--epochs goes with --resume RUN_DIR; for a new run, use "
                               f"--set training.epochs={epochs}")
    callbacks = []
    show = not quiet and not as_json
    if not quiet:
        from .console import ProgressBar
        callbacks.append(ProgressBar(log_every=log_every))
    on_start = None
    if show:
        from .console import print_network as on_start
    result = api.train(config, overrides, runs_dir=runs_dir, name=name, callbacks=callbacks,
                       resume=resume, handle_signals=True, epochs=epochs, on_start=on_start,
                       loggers=loggers)
    if as_json:
        click.echo(json.dumps(result.summary))
    if show or (not quiet and result.diverged):
        from .console import print_run
        print_run(result.summary)
    if result.diverged:
        sys.exit(EXIT_DIVERGED)
    if result.summary.get("interrupted"):
        sys.exit(EXIT_INTERRUPTED)


@main.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@set_option("model.layers.0.units=8")
@click.option("--eps", type=click.FloatRange(min=0, min_open=True), default=1e-6, show_default=True,
              help="Step of the central differences.")
@click.option("--tol", type=click.FloatRange(min=0, min_open=True), default=1e-6, show_default=True,
              help="Largest relative error that passes.")
@click.option("--floor", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True,
              help="Denominator floor of the relative error, for near-zero gradients.")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True,
              help="Examples of the config's data to check on.")
@click.option("--max-entries", type=click.IntRange(min=1), default=100, show_default=True,
              help="At most this many entries per parameter array (chosen at random).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random checks.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors; the exit code tells.")
@debug_option
def gradcheck(config, overrides, eps, tol, floor, batch, max_entries, seed, as_json, quiet):
    """Compare every analytic gradient with central finite differences (float64).

    Without CONFIG: every built-in activation, layer and loss, each fused pair and a few
    small networks. With CONFIG: its network, on a small batch of its data, with respect to
    every parameter and the input. Exit 0 when all pass, 5 when any fails, 2 on a usage error.
    """
    from . import api
    from .errors import EXIT_GRADCHECK
    if overrides and not config:
        raise click.UsageError("--set needs a CONFIG")
    report = api.gradcheck(config, overrides, eps=eps, tol=tol, floor=floor, batch=batch,
                           max_entries=max_entries, seed=seed)
    if as_json:
        click.echo(json.dumps(report.to_json()))
    elif not quiet:
        from .console import print_gradcheck
        print_gradcheck(report, tol)
    if not report.passed:
        sys.exit(EXIT_GRADCHECK)


@main.group()
def data():
    """Look at the data a config declares."""


@data.command("show")
@click.argument("config", type=click.Path(dir_okay=False))
@set_option("data.scale=standardize")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON line on stdout.")
@debug_option
def data_show(config, overrides, as_json):
    """Summarise CONFIG's data as training will see it: source, shapes, splits, class
    balance and feature ranges after preprocessing. Exit codes: 2 bad config, 3 bad data."""
    from . import api
    summary = api.data_summary(config, overrides)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        from .console import print_data_summary
        print_data_summary(summary)


@main.group("config")
def config_group():
    """Show, validate and describe configs (docs/CONFIG.md is `backprop config docs`)."""


@config_group.command("show")
@click.argument("config", type=click.Path(dir_okay=False))
@set_option("optimizer.lr=0.1")
@click.option("--json", "as_json", is_flag=True,
              help="Print {config, files, overrides, origins} as one JSON line on stdout.")
@debug_option
def config_show(config, overrides, as_json):
    """Print CONFIG resolved (every default filled in, --set applied), each value with where
    it came from: file, extends <parent>, --set ... or default. Exit 2 if it is invalid."""
    from . import configdoc
    from .config import load_config
    cfg = load_config(config, overrides)
    if as_json:
        click.echo(json.dumps(configdoc.show_json(cfg)))
    else:
        click.echo(configdoc.show_text(cfg), nl=False)


@config_group.command("validate")
@click.argument("configs", nargs=-1, required=True, metavar="CONFIG...", type=click.Path(dir_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@debug_option
def config_validate(configs, quiet):
    """Check every CONFIG (schema, ranges, combinations, files) without reading data or
    writing anything: each file's errors, then a summary. Exit 0 if all are valid, 2 if not."""
    from .config import load_config
    from .console import print_error
    from .errors import EXIT_CONFIG, ConfigError
    bad = 0
    for path in configs:
        try:
            load_config(path)
        except ConfigError as e:
            if click.get_current_context().meta.get("backprop.debug"):
                raise
            bad += 1
            click.echo(f"{path}: {len(e.errors)} error{'s' if len(e.errors) != 1 else ''}")
            print_error(str(e))
        else:
            if not quiet:
                click.echo(f"{path}: ok")
    if not quiet or bad:
        n = len(configs)
        click.echo(f"{n - bad} of {n} config{'s' if n != 1 else ''} valid"
                   + (f", {bad} invalid" if bad else ""), err=bool(bad))
    if bad:
        sys.exit(EXIT_CONFIG)


@config_group.command("schema")
@debug_option
def config_schema():
    """Print a JSON Schema (draft-07) of configs, for editors: save it and point the YAML
    language server at it (see docs/CONFIG.md)."""
    from . import configdoc
    click.echo(json.dumps(configdoc.json_schema(), indent=2))


@config_group.command("docs")
@debug_option
def config_docs():
    """Print docs/CONFIG.md, generated from the schema: backprop config docs > docs/CONFIG.md"""
    from . import configdoc
    click.echo(configdoc.markdown(), nl=False)


class SweepGroup(click.Group):
    """``backprop sweep SWEEP.yaml ...`` is short for ``backprop sweep run SWEEP.yaml ...``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@main.group(cls=SweepGroup)
def sweep():
    """Grid and random sweeps, in parallel here or on a Dask cluster.

    \b
    backprop sweep SWEEP.yaml [--workers N] [--executor local|dask] [--shard I/N] ...
    backprop sweep collect DIR      merge the results of a sweep's shards
    """


@sweep.command("run")
@click.argument("sweep_file", metavar="SWEEP.yaml", type=click.Path(dir_okay=False))
@click.option("--workers", "-j", type=click.IntRange(min=1), default=None,
              help="Trials in parallel (default: the number of cores).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default=None,
              help="local: processes on this machine (default); dask: a Dask cluster.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:8786",
              help="Address of a running Dask scheduler (implies --executor dask); without it, "
                   "--executor dask starts a local cluster.")
@click.option("--shard", default=None, metavar="I/N",
              help="Run only every N-th trial starting at I (0 <= I < N); merge with `sweep collect`.")
@click.option("--runs-dir", type=click.Path(file_okay=False), default=None,
              help="Folder for the sweep folder (default: the base config's output.runs_dir).")
@click.option("--new", is_flag=True, help="Start a new sweep folder instead of resuming the last one.")
@click.option("--dry-run", is_flag=True, help="Validate and print the trials without running them.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@debug_option
def sweep_run(sweep_file, workers, executor, scheduler, shard, runs_dir, new, dry_run, as_json, quiet):
    """Run every trial of SWEEP.yaml; re-running the same command resumes it.

    Writes runs/<name>-<time>/ with sweep.yaml, trials/<id>/ (a full run each),
    results.csv, results.jsonl and best.yaml. Failed trials are recorded and the sweep goes
    on. Exit codes: 0 finished, 2 bad sweep file or trial config, 130 interrupted.
    """
    import shlex

    from . import console
    from .errors import UsageError
    from .sweep.runner import parse_shard, run_sweep
    if executor == "local" and scheduler:
        raise UsageError(f"--scheduler {scheduler}: needs --executor dask")
    show = not quiet and not as_json
    result = run_sweep(sweep_file, workers=workers, executor=executor or ("dask" if scheduler else "local"),
                       scheduler=scheduler, dry_run=dry_run, shard=parse_shard(shard) if shard else None,
                       runs_dir=runs_dir, new=new,
                       on_start=console.print_sweep_start if show else None,
                       on_trial=console.print_sweep_trial if show else None)
    if dry_run and not as_json:
        base = result.info["base"]
        for t in result.trials:
            click.echo(f"{t.id}\tbackprop train {shlex.quote(base)} "
                       + " ".join(f"--set {shlex.quote(o)}" for o in t.overrides))
        return
    if as_json:
        click.echo(json.dumps(result.to_json(), default=str))
    elif show:
        console.print_sweep(result)
    if result.interrupted:
        sys.exit(EXIT_INTERRUPTED)


@sweep.command("collect")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the merged results as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@debug_option
def sweep_collect(directory, as_json, quiet):
    """Merge a sweep's shards (the sweep folders in DIR) into DIR's results.csv,
    results.jsonl and best.yaml, and show the table."""
    from .sweep.results import collect
    result = collect(directory)
    if as_json:
        click.echo(json.dumps(result.to_json(), default=str))
    elif not quiet:
        from .console import print_sweep
        print_sweep(result)


@main.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN_DIR...", type=click.Path(),
                shell_complete=_complete_runs)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write FILE (.png, .svg or .pdf) instead of plotting in the terminal.")
@click.option("--boundary", is_flag=True,
              help="Decision regions (2-D classification) or the learned function (1-D regression).")
@click.option("--metric", default=None, help="Sweeps: the metric to plot (default: the sweep's own, "
              "else the first present of val_loss, train_loss, val_accuracy, ...).")
@click.option("--width", type=click.IntRange(min=20), default=None, help="Terminal plot width in characters.")
@click.option("--height", type=click.IntRange(min=8), default=None, help="Terminal plot height in lines.")
@click.option("--filters", is_flag=True,
              help="The first conv2d layer's filters and one example's feature maps (one run).")
@click.option("--example", type=click.IntRange(min=0), default=None, metavar="N",
              help="--filters: which example of the test split (else val, else train)  [default: 0]")
@click.option("--health", is_flag=True, help="Per-layer gradient norm, update/weight ratio, dead and "
              "saturated units over epochs, from health.jsonl (train with output.health).")
@debug_option
def plot(runs, output, boundary, metric, width, height, filters, example, health):
    """Plot each RUN_DIR (a run or a sweep): loss, accuracy and learning rate per epoch, overlaid.

    \b
    backprop plot runs/xor-*                      curves in the terminal
    backprop plot runs/a runs/b -o curves.png     two runs overlaid, to a file
    backprop plot runs/moons-* --boundary -o b.svg  decision regions over the data
    backprop plot runs/xor-lr-20260101-120000     a sweep: its metric against each swept value
    backprop plot runs/digits-cnn-* --filters -o f.png  first conv layer: filters, feature maps
    backprop plot runs/deep-sigmoid-* --health     per-layer health over epochs

    Needs the plot extra: pip install 'backprop-cli[plot]' (--filters in the terminal does not).
    """
    from .plot import plot as make_plot
    text = make_plot(runs, output, boundary=boundary, metric=metric, width=width, height=height,
                     on_note=lambda line: click.echo(f"note: {line}", err=True), filters=filters,
                     example=example, health=health)
    if text is not None:
        click.echo(text)
    else:
        click.echo(f"wrote {output}", err=True)


@main.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@set_option("model.layers.0.activation=relu")
@click.option("--run", "run_dir", type=click.Path(file_okay=False), default=None, metavar="RUN_DIR",
              shell_complete=_complete_runs,
              help="Use the weights of RUN_DIR/checkpoints/last.npz (and its config when CONFIG is not given).")
@click.option("--example", type=int, default=0, show_default=True, metavar="I",
              help="Which training example to pass through the network.")
@click.option("--expr", default=None, metavar="EXPRESSION",
              help="Explain a scalar expression instead, e.g. 'exp(x*z) + x*z/log(x)'.")
@click.option("--at", "at", multiple=True, metavar="NAME=VALUE",
              help="--expr: a variable's value (repeatable), e.g. --at x=2 --at z=3.")
@click.option("--dot", type=click.Path(dir_okay=False, allow_dash=True), default=None, metavar="FILE",
              help="--expr: also write the computation graph in Graphviz format ('-' for stdout).")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON on stdout.")
@debug_option
def explain(config, overrides, run_dir, example, expr, at, dot, as_json):
    """Show backpropagation step by step.

    \b
    backprop explain configs/xor.yaml --example 1     one example, layer by layer
    backprop explain --run runs/xor-...               with a run's trained weights
    backprop explain --expr "exp(x*z) + x*z/log(x) + sin(log(x))/(x*z)" --at x=2 --at z=3

    With CONFIG: the forward pass (net = x·W + b, y = f(net)) and the backward pass (dE/dy,
    delta = f'(net) ⊙ dE/dy, dE/dW, dE/db) of one example, with the engine's own layers. On a
    convolutional network: the table of output shapes, and each feature map, filter and
    gradient summarized (min, mean, max, norm, share of zeros) rather than printed.
    With --expr: the computation graph, each node's value and, in reverse-mode order, its
    adjoint as the sum of its consumers' contributions; then the gradient.
    """
    from .errors import UsageError
    if expr is not None:
        if config or run_dir or overrides:
            raise UsageError("--expr explains an expression; give it without CONFIG, --run or --set")
        from .explain.expr import explain as explain_expr
        from .explain.expr import parse_assignment
        values = {}
        for a in at:
            name, v = parse_assignment(a)
            values[name] = v
        result = explain_expr(expr, values)
        if dot == "-":
            click.echo(result.to_dot(), nl=False)
        elif dot:
            from pathlib import Path
            Path(dot).write_text(result.to_dot())
        if as_json:
            click.echo(json.dumps(result.to_json()))
        elif dot != "-":
            from .console import print_expr
            print_expr(result)
            if dot:
                click.echo(f"wrote {dot}", err=True)
        return
    if at or dot:
        raise UsageError("--at and --dot go with --expr")
    if config is None and run_dir is None:
        raise UsageError("explain needs a CONFIG, --run RUN_DIR or --expr EXPRESSION")
    from .explain.network import explain_config
    t = explain_config(config, overrides, run_dir=run_dir, example=example)
    if as_json:
        from .console import trace_json
        click.echo(json.dumps(trace_json(t)))
    else:
        from .console import print_trace
        print_trace(t)


@main.command("log")
@click.argument("runs", nargs=-1, required=True, metavar="RUN_DIR...", type=click.Path(),
                shell_complete=_complete_runs)
@click.option("--to", "to", type=click.Choice(["tensorboard", "mlflow"]), multiple=True, required=True,
              help="The tracker (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per run and tracker on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@debug_option
def log_command(runs, to, as_json, quiet):
    """Send each finished RUN_DIR to TensorBoard or MLflow after the fact: what `train --log` sends.

    \b
    backprop log runs/xor-* --to tensorboard   event files in each RUN/tensorboard/
    backprop log runs/* --to mlflow            one MLflow run per run folder

    From each run's metrics.jsonl, config.yaml and summary.json: every epoch's metrics,
    the config as parameters, the summary as final metrics (and, for MLflow, the run
    folder's files as artifacts). TensorBoard's folder is written afresh; a run MLflow
    already has (RUN/tracking.json) gets what it lacks. An ensemble's folder sends its
    members, a sweep's its trials. MLflow writes to $MLFLOW_TRACKING_URI, else to mlruns/
    beside the runs folder. Exit codes: 2 usage (the tracking extra missing), 3 a run that
    cannot be read or sent.
    """
    from .tracking import require, run_folders, send
    require(to, "--to")
    for run_dir in run_folders(runs):
        for name in dict.fromkeys(to):
            out = send(run_dir, name)
            if as_json:
                click.echo(json.dumps(out))
            elif not quiet:
                where = (out["logdir"] if name == "tensorboard" else
                         f"run {out['run_id']} (experiment {out['experiment_id']}) in {out['tracking_uri']}")
                click.echo(f"{run_dir} -> {name}: {where}, {out['epochs']} epochs", err=True)


def mc_dropout_options(f):
    """--mc-dropout N and --seed S of eval and predict."""
    f = click.option("--seed", type=click.IntRange(min=0), default=None, metavar="S",
                     help="Seed of the --mc-dropout masks (default: the run's seed).")(f)
    return click.option("--mc-dropout", "mc_dropout", type=click.IntRange(min=1), default=None,
                        metavar="N", help="Average the outputs of N passes with dropout on (MC "
                        "dropout: the notes' Σ_d Pr(d) Pr(y|x,d)); the network needs dropout.")(f)


@main.command("eval")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True),
                shell_complete=_complete_runs)
@click.option("--checkpoint", "which", type=click.Choice(["best", "last"]), default="best",
              show_default=True, help="Which weights of each run (best falls back to last).")
@click.option("--data", type=click.Path(dir_okay=False), default=None,
              help="Score on this CSV/NPZ file (read and scaled as in training) instead of the run's test split.")
@set_option("data.path=/new/place/train.csv", "Change the run's config first, say when its data moved")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the report here (default: eval.json in each run folder).")
@mc_dropout_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@debug_option
def eval_command(runs, which, data, overrides, output, mc_dropout, seed, as_json, quiet):
    """Score trained RUNS (run folders or checkpoints) on their test split or --data.

    Classification: loss, accuracy, per-class precision, recall, F1 and support, macro and
    weighted averages, confusion matrix. Regression: MSE, MAE, R². Several runs are scored
    side by side with their ensemble (averaged probabilities or values); so are the members
    of an ensemble run folder (ensemble.members), which among other runs counts as one.
    """
    from pathlib import Path

    from . import scoring
    from .rundir import write_json
    report = scoring.evaluate(runs, which, data, overrides, mc_dropout=mc_dropout, seed=seed)
    if output:
        write_json(Path(output), report)
    elif report.get("ensemble", {}).get("run"):  # an ensemble's run folder, with its members
        write_json(Path(report["ensemble"]["run"]) / "eval.json", report)
    else:
        for r in report["runs"]:
            write_json(Path(r["run"]) / "eval.json", {**report, "runs": [r]} if len(runs) == 1 else report)
    if as_json:
        click.echo(json.dumps(report))
    elif not quiet:
        from .console import print_eval
        print_eval(report)


@main.command()
@click.argument("run", type=click.Path(exists=True), shell_complete=_complete_runs)
@click.option("--data", type=click.Path(dir_okay=False), required=True,
              help="CSV or NPZ file of new examples (features only; a target column is ignored).")
@click.option("--checkpoint", "which", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Which weights of the run (best falls back to last).")
@click.option("--skip-bad-rows", is_flag=True,
              help="Rows with empty, NaN, inf or non-numeric features get empty output rows "
                   "(counted on stderr) instead of an error.")
@set_option("dtype=float64", "Change the run's config first")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the CSV here instead of stdout.")
@mc_dropout_options
@debug_option
def predict(run, data, which, skip_bad_rows, overrides, output, mc_dropout, seed):
    """Predict for new data with a trained RUN: CSV of the class and its probabilities (or
    the values, for regression), one row per example (an ensemble's: its members' average).

    A CSV with a header is matched to the run's features by name, in any order; without a
    header, columns are taken in the training file's order. Exit 3 on a missing or unknown
    column or a bad row (its file line is named)."""
    import csv
    import io
    from pathlib import Path

    from . import scoring
    from .rundir import atomic_write
    p = scoring.predict(run, data, which, overrides, skip_bad=skip_bad_rows, mc_dropout=mc_dropout,
                        seed=seed)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(p.header)
    for i, row in enumerate(p.values):
        if not p.kept[i]:
            w.writerow([""] * len(p.header))
            continue
        w.writerow(([p.classes[i]] if p.classes is not None else []) + [f"{v:.9g}" for v in row])
    if output:
        atomic_write(Path(output), buf.getvalue())
    else:
        click.echo(buf.getvalue(), nl=False)
    if p.skipped:
        shown = ", ".join(map(str, p.skipped[:10])) + (", ..." if len(p.skipped) > 10 else "")
        where = ("line" if Path(data).suffix != ".npz" else "row") + ("s" if len(p.skipped) > 1 else "")
        click.echo(f"Skipped {len(p.skipped)} of {len(p.kept)} rows of {data} ({where} {shown}): empty, "
                   "NaN, inf or non-numeric features; their output rows are empty.", err=True)


@main.command("export")
@click.argument("run", type=click.Path(exists=True), shell_complete=_complete_runs)
@click.option("--format", "fmt", type=click.Choice(["onnx", "safetensors", "npz", "torch-state-dict"]),
              default="onnx", show_default=True,
              help="onnx: the whole of predict (scaling, layers, probabilities); safetensors: the "
                   "weights and their metadata; npz: what model.init_from reads; torch-state-dict: "
                   "an .npz of an equivalent nn.Sequential's state_dict.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write FILE (default: RUN/export/model.onnx, .safetensors, .npz or .torch.npz).")
@click.option("--which", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Which weights of the run (best falls back to last).")
@click.option("--opset", type=int, default=None, metavar="N",
              help="ONNX opset (default 17; from 13 to the newest the installed onnx knows).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as one JSON line on stdout.")
@debug_option
def export_command(run, fmt, output, which, opset, as_json):
    """Export a trained RUN (a run folder, an ensemble's for ONNX, or a checkpoint) for other tools.

    \b
    backprop export runs/iris-*                        RUN/export/model.onnx
    backprop export runs/iris-* --format safetensors   RUN/export/model.safetensors
    backprop export runs/iris-* --format npz -o w.npz  weights for model.init_from

    The ONNX graph takes raw feature rows (an image network's too: C·H·W pixels per row) and
    returns what backprop predict does: output (probabilities, scores or values) and, for
    classification, label (the class's index; class names in the model's metadata). Needs
    the export extra: pip install 'backprop-cli[export]'. Exit 2 for a layer or unit the
    format cannot hold (nothing is written), 3 for a run folder that cannot be read.
    """
    from .exporting import export, summary_lines
    info = export(run, fmt, output, which, opset)
    if as_json:
        click.echo(json.dumps(info))
    else:
        click.echo("\n".join(summary_lines(info)))


@main.command("runs")
@click.argument("directory", metavar="[DIR]", required=False, type=click.Path(),
                shell_complete=lambda ctx, param, incomplete: [
                    click.shell_completion.CompletionItem(incomplete, type="dir")])
@click.option("--sort", "sort", multiple=True, metavar="[-]KEY",
              help="Order by a column or a summary.json or config key, -KEY descending (repeatable: "
                   "ties by the next; default: -when, newest first). Rows without the key come last.")
@click.option("--reverse", "-r", is_flag=True, help="Reverse the order (after --sort).")
@click.option("--where", "where", multiple=True, metavar="KEY OP VALUE",
              help="Keep rows whose KEY (column, summary.json or config.yaml dotted key) compares "
                   "so, OP one of = != < > <= >= (repeatable: all must hold), e.g. "
                   "--where optimizer.name=adam --where 'test_accuracy>=0.9'.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None, metavar="N",
              help="Show the first N rows (after --where and --sort).")
@click.option("--all", "all_", is_flag=True,
              help="Also a row for each sweep trial (SWEEP/trials/<id>) and ensemble member (RUN/members/<i>).")
@click.option("--diff", nargs=2, default=None, metavar="RUN_A RUN_B", shell_complete=_complete_runs,
              help="Compare two runs (folders, or names in DIR): the config keys that differ, the "
                   "metrics side by side.")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON list of rows (or the --diff object) on stdout.")
@debug_option
def runs_command(directory, sort, reverse, where, limit, all_, diff, as_json):
    """List the run folders in DIR (default: runs/): name, kind, status, start time, config, data,
    epochs, best and test loss and accuracy, wall time, stop reason.

    \b
    backprop runs                                   newest first
    backprop runs --sort -test_accuracy -n 5        the five best on their test split
    backprop runs --where optimizer.name=adam --where 'best_loss<0.1'
    backprop runs --where 'when>=2026-11-01' --json
    backprop runs --diff runs/iris-20261122-050137 runs/iris-20261122-051002

    Ensembles and sweeps are one row each (--all adds their members and trials). Status:
    finished, interrupted, diverged (summary.json's flags), running or killed (no summary.json:
    whether its files changed lately). A table on a terminal, plain aligned text when piped.
    Exit 3 when DIR or a --diff run is not there, 2 on a malformed --where or --sort.
    """
    from . import runlist
    from .errors import UsageError
    folder = directory or runlist.DEFAULT_DIR
    terminal = sys.stdout.isatty()
    console = None
    if terminal and not as_json:
        from .console import _Console
        console = _Console(highlight=False)
    if diff:
        if sort or where or limit is not None or all_ or reverse:
            raise UsageError("--diff compares two runs; give it without --sort, --where, --limit, --all or --reverse")
        d = runlist.diff_runs(*diff, directory=folder)
        if as_json:
            click.echo(json.dumps(d))
        else:
            text = runlist.render_diff(d, terminal, console)
            if text is not None:
                click.echo(text, nl=False)
        return
    listing = runlist.list_runs(folder, where=where, sort=sort, all_=all_,
                                limit=None if reverse else limit)
    if reverse:
        listing.rows.reverse()
        if limit is not None:
            listing.rows[limit:] = []
    for note in listing.notes:
        click.echo(f"note: {note}", err=True)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in listing.rows]))
    elif not listing.rows:
        click.echo(f"no runs in {folder}" + (" pass the --where filters" if where else ""), err=True)
    else:
        text = runlist.render_listing(listing, terminal, console)
        if text is not None:
            click.echo(text, nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()


def run() -> None:
    """The ``backprop`` command: :func:`main`, with SIGTERM taken as Ctrl-C for the whole life
    of the process. A training run handles both itself while it runs, then puts the previous
    handlers back; a second SIGTERM that came after that, while the command printed its
    summary and exited, killed the process by the signal (exit -15) instead of exit 130; and
    one during the interpreter's shutdown did too (see the end)."""
    import signal

    def terminate(signum, frame):
        raise KeyboardInterrupt

    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, terminate)
    try:
        main()
    except KeyboardInterrupt:  # a signal after the command had put its own handling away
        from .errors import EXIT_INTERRUPTED
        sys.exit(EXIT_INTERRUPTED)
    finally:
        # the interpreter's shutdown puts the default action back for signals that have a
        # Python handler, so a signal then killed the process by the signal (exit -15); it
        # leaves ignored ones alone. (Blocking them in this thread would not do: BLAS threads
        # would take them.)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
