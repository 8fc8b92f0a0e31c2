"""training.threads (and train --threads): the BLAS library's threads and backprop's own pool
for one run, put back afterwards; the same numbers run to run at a given count."""
import re

import numpy as np
import pytest
from click.testing import CliRunner

import backprop_cli
from backprop_cli.cli import main
from backprop_cli.engine import threads
from helpers import CONFIGS

pytestmark = pytest.mark.skipif(threads._find_openblas() is None, reason="needs OpenBLAS to set threads")


def run(n, tmp_path, *more):
    return backprop_cli.train(CONFIGS / "digits-cnn.yaml", [f"training.threads={n}", "training.epochs=1",
                                                            *more], runs_dir=tmp_path)


@pytest.mark.parametrize("n", [1, 2])
def test_a_thread_count_gives_the_same_numbers_every_time_and_is_put_back(n, tmp_path):
    before = threads.num_threads()
    a, b = run(n, tmp_path), run(n, tmp_path)
    assert threads.num_threads() == before  # the caller's setting is back
    assert a.summary["threads"] == b.summary["threads"] == n
    for name, w in a.weights.items():
        np.testing.assert_array_equal(w, b.weights[name])
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]


def test_resume_at_the_run_s_thread_count_is_bit_identical(tmp_path):
    whole = backprop_cli.train(CONFIGS / "iris.yaml", ["training.threads=2", "training.epochs=6"],
                               runs_dir=tmp_path / "a")
    short = backprop_cli.train(CONFIGS / "iris.yaml", ["training.threads=2", "training.epochs=3"],
                               runs_dir=tmp_path / "b")
    resumed = backprop_cli.train(resume=short.run_dir, epochs=6)
    assert resumed.summary["threads"] == 2
    for name, w in whole.weights.items():
        np.testing.assert_array_equal(resumed.weights[name], w)


def test_the_command_takes_threads_and_refuses_bad_counts(tmp_path):
    r = CliRunner().invoke(main, ["train", str(CONFIGS / "xor.yaml"), "--threads", "1", "--runs-dir",
                                  str(tmp_path), "--json", "-q"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["train", str(CONFIGS / "xor.yaml"), "--set", "training.threads=0"])
    assert r.exit_code == 2 and "training.threads: must be >= 1, got 0" in r.output
    r = CliRunner().invoke(main, ["train", "--resume", str(tmp_path), "--threads", "2"])
    assert r.exit_code == 2 and "--threads" in r.output


@pytest.mark.parametrize("n, words", [(1, r"training on 1 thread\b(?!s)"), (2, r"training on 2 threads\b")])
def test_the_live_view_states_the_thread_count(n, words, tmp_path):
    import io

    from rich.console import Console

    from backprop_cli.console import ProgressBar
    buf = io.StringIO()
    bar = ProgressBar(Console(file=buf, width=100, force_terminal=True), health_every=None, live=True)
    before = threads.num_threads()
    backprop_cli.train(CONFIGS / "xor.yaml", [f"training.threads={n}", "training.epochs=3"],
                       runs_dir=tmp_path, callbacks=[bar])
    assert re.search(words, buf.getvalue())
    assert threads.num_threads() == before
