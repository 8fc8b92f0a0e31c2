"""The ``backprop`` command: a thin click layer over :mod:`backprop_cli.api`.

Commands parse their arguments, call the library and render the result. A BackpropError
becomes one ``Error:`` line per problem and its exit code; ``--debug`` shows tracebacks.
Heavy modules (NumPy, rich) are imported inside the commands so ``--help`` stays instant.
"""
from __future__ import annotations

import json
import sys

import click

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


set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override a config value, e.g. --set optimizer.lr=0.1 (repeatable).")


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
@click.argument("config", type=click.Path(dir_okay=False))
@set_option
@click.option("--runs-dir", type=click.Path(file_okay=False), default=None,
              help="Folder for run folders (default: the config's output.runs_dir, 'runs').")
@click.option("--name", default=None, help="Run name (default: the config's name or file name).")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json's object as one line on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@debug_option
def train(config, overrides, runs_dir, name, as_json, quiet):
    """Train the network CONFIG declares.

    Writes runs/<name>-<YYYYmmdd-HHMMSS>/ with config.yaml (resolved), metrics.jsonl,
    summary.json and checkpoints/last.npz. Exit codes: 0 finished, 2 bad config, 3 bad data,
    4 diverged, 130 interrupted.
    """
    from . import api
    from .errors import EXIT_DIVERGED
    callbacks = []
    show = not quiet and not as_json
    if not quiet:
        from .console import ProgressBar
        callbacks.append(ProgressBar())
    result = api.train(config, overrides, runs_dir=runs_dir, name=name, callbacks=callbacks)
    if as_json:
        click.echo(json.dumps(result.summary))
    if show or (not quiet and result.diverged):
        from .console import print_run
        print_run(result.summary)
    if result.diverged:
        sys.exit(EXIT_DIVERGED)


@main.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@set_option
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
@set_option
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
@set_option
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
@click.argument("configs", nargs=-1, required=True, type=click.Path(dir_okay=False))
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


if __name__ == "__main__":  # pragma: no cover
    main()
