"""Resume and reproducibility: a killed or interrupted run, resumed, equals one never stopped."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from backprop_cli import api, checkpoint
from backprop_cli.cli import main
from backprop_cli.training.callbacks import Callback
from helpers import CONFIGS, backprop_exe, write


def weights_and_state(run_dir):
    a = checkpoint.load_arrays(run_dir / "checkpoints" / "last.npz")
    return {k: v for k, v in a.items() if k.startswith(("param/", "optim/"))}


def metrics(run_dir):
    rows = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "epoch_time"} for r in rows]


def assert_same_run(a, b):
    wa, wb = weights_and_state(a), weights_and_state(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)
    assert metrics(a) == metrics(b)
    sa, sb = (json.loads((r / "summary.json").read_text()) for r in (a, b))
    for k in ("epochs", "stop_reason", "config_sha256", "data_sha256"):
        assert sa[k] == sb[k], k
    for k in ("final", "best"):
        assert {m: v for m, v in sa[k].items() if m != "epoch_time"} == \
            {m: v for m, v in sb[k].items() if m != "epoch_time"}, k


class Crash(Callback):
    """A crash after epoch k's checkpoint is written (like a kill between epochs)."""

    def __init__(self, k):
        self.k = k

    def on_epoch_complete(self, state):
        if state.epoch == self.k:
            raise RuntimeError("power cut")


# every mechanism with state: momentum, plateau schedule, early stopping (restore_best),
# dropout + input noise + max-norm + L2, restarts, misclassified examples, the perceptron, a
# convolutional network (its layers keep scratch buffers) with dropout, shifts and Adam, and one
# with a frozen layer
CASES = {
    "momentum-plateau-early": ("momentum-spirals.yaml", ["training.epochs=60", "data.val_fraction=0.2",
                               "schedule={name: reduce_on_plateau, patience: 3}", "stopping.patience=30"]),
    "dropout-noise-l2": ("overfit-dropout.yaml", ["training.epochs=40", "regularization.l2=0.01"]),
    "restarts": ("restarts-xor.yaml", []),
    "misclassified-adam": ("xor.yaml", ["training.examples=misclassified", "optimizer={name: adam, lr: 0.05}",
                                        "training.batch_size=2", "training.epochs=120"]),
    "perceptron": ("and-perceptron.yaml", ["training.shuffle=true"]),
    "conv-dropout-shift-adam": ("digits-cnn.yaml", ["training.epochs=6", "augment.shift=1",
                                "model.layers.0.dropout=0.1", "stopping.patience=3"]),
    # a frozen middle layer (freeze: true): the optimizer's state covers layers 0 and 5 only
    "frozen-conv-l2-momentum": ("digits-cnn.yaml", ["training.epochs=6", "model.layers.2.freeze=true",
                                "regularization.l2=0.01", "optimizer={name: sgd, lr: 0.05, momentum: 0.9}"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_resumed_run_equals_an_uninterrupted_one(case, tmp_path):
    config, sets = CASES[case]
    probe = api.train(CONFIGS / config, sets, runs_dir=tmp_path / "probe")
    every = max(1, probe.summary["epochs"] // 8)   # about 8 checkpoints: fsync costs time
    sets = sets + [f"output.checkpoint_every={every}"]
    ref = api.train(CONFIGS / config, sets, runs_dir=tmp_path / "ref")
    k = every * max(1, (ref.summary["epochs"] // every) // 2)
    with pytest.raises(RuntimeError, match="power cut"):
        api.train(CONFIGS / config, sets, runs_dir=tmp_path / "cut", callbacks=[Crash(k)])
    cut = next((tmp_path / "cut").iterdir())
    assert int(checkpoint.load_arrays(cut / "checkpoints" / "last.npz")["meta/epoch"]) == k
    assert not (cut / "summary.json").exists()
    resumed = api.train(resume=cut)
    assert resumed.run_dir == cut
    assert_same_run(ref.run_dir, cut)


def test_sigkill_then_resume_from_the_command_line(tmp_path):
    cfg = write(tmp_path / "long.yaml", f"""
extends: {CONFIGS / 'momentum-spirals.yaml'}
training: {{epochs: 800}}
output: {{checkpoint_every: 20}}
""")
    exe = backprop_exe()
    ref = subprocess.run([exe, "train", str(cfg), "--runs-dir", str(tmp_path / "ref"), "--json", "-q"],
                         capture_output=True, text=True, timeout=120)
    assert ref.returncode == 0, ref.stderr
    ref_dir = json.loads(ref.stdout)["run_dir"]
    proc = subprocess.Popen([exe, "train", str(cfg), "--runs-dir", str(tmp_path / "cut"), "-q"])
    deadline = time.time() + 60
    last = None
    while time.time() < deadline:  # kill it well into training, after a few checkpoints
        runs = list((tmp_path / "cut").glob("*/checkpoints/last.npz"))
        if runs and len((runs[0].parent.parent / "metrics.jsonl").read_text().splitlines()) > 100:
            last = runs[0].parent.parent
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert last is not None and proc.returncode == -signal.SIGKILL
    assert not (last / "summary.json").exists()
    checkpoint.load_arrays(last / "checkpoints" / "last.npz")  # whole, and its hash checks out
    out = subprocess.run([exe, "train", "--resume", str(last), "-q"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert_same_run(type(last)(ref_dir), last)


def test_ctrl_c_stops_cleanly_with_exit_130_and_resumes(tmp_path):
    cfg = write(tmp_path / "long.yaml", f"""
extends: {CONFIGS / 'momentum-spirals.yaml'}
training: {{epochs: 100000}}
""")
    exe = backprop_exe()
    proc = subprocess.Popen([exe, "train", str(cfg), "--runs-dir", str(tmp_path / "r"), "--json", "-q"],
                            stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list((tmp_path / "r").glob("*/metrics.jsonl")):
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130
    s = json.loads(stdout)
    run = type(tmp_path)(s["run_dir"])
    assert s["stop_reason"] == "interrupted" and s["interrupted"] is True
    a = checkpoint.load_arrays(run / "checkpoints" / "last.npz")
    assert int(a["meta/epoch"]) == s["epochs"] == len(metrics(run))   # the stopping epoch, saved
    r = CliRunner().invoke(main, ["train", "--resume", str(run), "--set", "seed=2"])
    assert r.exit_code == 2 and "give no CONFIG, --set" in r.stderr


def test_resume_errors(tmp_path):
    r = CliRunner().invoke(main, ["train", "--resume", str(tmp_path / "nope")])
    assert r.exit_code == 3 and "no such run folder" in r.stderr
    res = api.train(CONFIGS / "xor.yaml", runs_dir=tmp_path / "runs")
    r = CliRunner().invoke(main, ["train", "--resume", str(res.run_dir)])
    assert r.exit_code == 3 and "the run already finished" in r.stderr
    (res.run_dir / "checkpoints" / "last.npz").write_bytes(b"PK\x03\x04garbage")
    (res.run_dir / "summary.json").unlink()
    r = CliRunner().invoke(main, ["train", "--resume", str(res.run_dir)])
    assert r.exit_code == 3 and "not a readable .npz file" in r.stderr
    r = CliRunner().invoke(main, ["train"])
    assert r.exit_code == 2 and "Missing argument 'CONFIG'" in r.stderr


def test_summary_records_hashes_of_config_and_data(tmp_path):
    a = api.train(CONFIGS / "xor.yaml", runs_dir=tmp_path / "a")
    b = api.train(CONFIGS / "xor.yaml", runs_dir=tmp_path / "b")
    c = api.train(CONFIGS / "xor.yaml", ["data.n_inputs=3"], runs_dir=tmp_path / "c")
    assert a.summary["config_sha256"] == b.summary["config_sha256"] != c.summary["config_sha256"]
    assert a.summary["data_sha256"] == b.summary["data_sha256"] != c.summary["data_sha256"]
    assert len(a.summary["data_sha256"]) == 64


class CrashAtStart(Callback):
    """A crash before the first step, once the epoch-0 checkpoint is written."""

    def on_train_begin(self, state):
        raise RuntimeError("power cut")


@pytest.mark.parametrize("case", list(CASES))
def test_resume_from_the_epoch_0_checkpoint_equals_an_uninterrupted_run(case, tmp_path):
    config, sets = CASES[case]
    ref = api.train(CONFIGS / config, sets, runs_dir=tmp_path / "ref")
    with pytest.raises(RuntimeError, match="power cut"):
        api.train(CONFIGS / config, sets, runs_dir=tmp_path / "cut", callbacks=[CrashAtStart()])
    cut = next((tmp_path / "cut").iterdir())
    assert int(checkpoint.load_arrays(cut / "checkpoints" / "last.npz")["meta/epoch"]) == 0
    assert not (cut / "checkpoints" / "best.npz").exists()   # no epoch was measured yet
    api.train(resume=cut)
    assert_same_run(ref.run_dir, cut)
    best = checkpoint.load_arrays(cut / "checkpoints" / "best.npz")
    ref_best = checkpoint.load_arrays(ref.run_dir / "checkpoints" / "best.npz")
    assert int(best["meta/epoch"]) == int(ref_best["meta/epoch"]) >= 1


def test_a_run_that_diverges_in_epoch_1_keeps_its_initial_weights(tmp_path):
    """eval, plot --boundary and explain --run work on it, with the weights before any step."""
    sets = ["stopping.max_loss=0.001"]   # xor's first loss, about 0.7, is "divergence"
    r = CliRunner().invoke(main, ["train", str(CONFIGS / "xor.yaml"), "--runs-dir", str(tmp_path / "runs"),
                                  "--json", "-q", *[f"--set={s}" for s in sets]])
    assert r.exit_code == 4, r.output
    summary = json.loads(r.stdout)
    run = type(tmp_path)(summary["run_dir"])
    assert summary["diverged"] and summary["epochs"] == 1
    last = checkpoint.load_arrays(run / "checkpoints" / "last.npz")
    assert int(last["meta/epoch"]) == 0 and not (run / "checkpoints" / "best.npz").exists()
    initial = api.setup(CONFIGS / "xor.yaml", sets).network.state_dict()
    for k, w in initial.items():
        np.testing.assert_array_equal(last[f"param/{k}"], w, err_msg=k)

    r = CliRunner().invoke(main, ["eval", str(run), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["runs"][0]["checkpoint"].endswith("last.npz") and report["runs"][0]["epoch"] == 0
    r = CliRunner().invoke(main, ["explain", "--run", str(run), "--json"])
    assert r.exit_code == 0, r.output
    W = json.loads(r.stdout)["layers"][0]["forward"][1]
    assert W["name"] == "W"
    np.testing.assert_allclose(W["value"], initial["0.W"], rtol=1e-6)
    pytest.importorskip("matplotlib")
    r = CliRunner().invoke(main, ["plot", str(run), "--boundary", "-o", str(tmp_path / "b.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "b.png").stat().st_size > 1000
    r = CliRunner().invoke(main, ["train", "--resume", str(run)])
    assert r.exit_code == 3 and "the run diverged" in r.stderr and "last good checkpoint (epoch 0)" in r.stderr


def record_of(run):
    """(summary.json's epochs, metrics.jsonl's epochs, last.npz's epoch), and checks that
    best.npz is summary.json's best epoch and that no temporary file is left."""
    s = json.loads((run / "summary.json").read_text())
    lines = metrics(run)
    assert [m["epoch"] for m in lines] == list(range(1, len(lines) + 1))
    last = checkpoint.load_arrays(run / "checkpoints" / "last.npz")   # whole: its hash checks out
    best = run / "checkpoints" / "best.npz"
    if best.exists():
        assert int(checkpoint.load_arrays(best)["meta/epoch"]) == s["best"]["epoch"]
    assert not [p.name for p in run.rglob("*.tmp")]
    return s["epochs"], len(lines), int(last["meta/epoch"])


class Press(Callback):
    """Sends this process SIGINT or SIGTERM, as a user pressing Ctrl-C, at a batch of an epoch."""

    def __init__(self, epoch, signals, batch=3):
        self.epoch, self.signals, self.batch, self.seen = epoch, list(signals), batch, 0
        self.ended_at = None

    def on_train_end(self, state):
        self.ended_at = state.epoch

    def on_batch_end(self, state):
        if state.epoch == self.epoch:
            self.seen += 1
            if self.seen == self.batch:
                for sig in self.signals:
                    os.kill(os.getpid(), sig)


SPIRALS = ["training.epochs=12", "output.checkpoint_every=5"]


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_second_signal_mid_epoch_puts_the_run_back_at_its_checkpoint(tmp_path, second):
    """Epoch 8 abandoned: 7 epochs were measured, 5 checkpointed; the record keeps 5, and a
    resumed run equals one never stopped."""
    ref = api.train(CONFIGS / "momentum-spirals.yaml", SPIRALS, runs_dir=tmp_path / "ref")
    before = signal.getsignal(signal.SIGINT)   # SIG_IGN when started in the background
    press = Press(8, [signal.SIGINT, second])
    res = api.train(CONFIGS / "momentum-spirals.yaml", SPIRALS, runs_dir=tmp_path / "cut",
                    callbacks=[press], handle_signals=True)
    assert press.ended_at == 5   # the caller's callbacks (the progress display) see the end
    assert res.summary["interrupted"] and res.summary["stop_reason"].startswith("interrupted")
    assert "epoch 8 abandoned" in res.summary["stop_reason"]
    assert record_of(res.run_dir) == (5, 5, 5)
    assert res.summary["final"]["epoch"] == 5 and "test" not in res.summary
    assert signal.getsignal(signal.SIGINT) is before   # handlers put back
    api.train(resume=res.run_dir)
    assert_same_run(ref.run_dir, res.run_dir)


def test_second_signal_during_the_final_checkpoint_lets_it_finish(tmp_path, monkeypatch):
    """The first Ctrl-C in epoch 7 stops the run after it; the second, while its checkpoint is
    written, waits for the write: epoch 7 is kept, whole, and the record agrees."""
    real_save = checkpoint.save

    def save(path, *a, epoch, **k):
        if epoch == 7 and path.name == "last.npz":
            os.kill(os.getpid(), signal.SIGINT)
        real_save(path, *a, epoch=epoch, **k)

    monkeypatch.setattr(checkpoint, "save", save)
    res = api.train(CONFIGS / "momentum-spirals.yaml", SPIRALS, runs_dir=tmp_path / "r",
                    callbacks=[Press(7, [signal.SIGINT])], handle_signals=True)
    assert res.summary["stop_reason"] == "interrupted"
    assert record_of(res.run_dir) == (7, 7, 7)


def test_two_signals_at_random_moments_leave_a_record_that_agrees(tmp_path):
    """Real ``backprop train`` processes, side by side, each sent two signals (SIGINT, SIGTERM)
    at moments drawn from a seed, with a checkpoint every epoch or every 2 s: each exits
    with 130, and its summary.json, metrics.jsonl and checkpoints/last.npz agree."""
    import random
    rng = random.Random(13)
    plans = [(signal.SIGINT, signal.SIGINT, 1), (signal.SIGINT, signal.SIGINT, None),
             (signal.SIGTERM, signal.SIGTERM, 1), (signal.SIGINT, signal.SIGTERM, None)]
    procs = []
    for i, (first, second, every) in enumerate(plans):
        cfg = write(tmp_path / f"long{i}.yaml", f"""
extends: {CONFIGS / 'momentum-spirals.yaml'}
training: {{epochs: 100000}}
output: {{checkpoint_every: {every if every else 'null'}}}
""")
        runs = tmp_path / f"r{i}"
        proc = subprocess.Popen([backprop_exe(), "train", str(cfg), "--runs-dir", str(runs), "-q"],
                                stderr=subprocess.PIPE, text=True)
        moments = (rng.uniform(0.0, 0.3), rng.choice([0.0, rng.uniform(0.0, 0.02)]))
        procs.append((proc, runs, first, second, moments))
    for proc, runs, first, second, (wait, gap) in procs:
        deadline = time.time() + 60
        while time.time() < deadline and not any(p.stat().st_size for p in runs.glob("*/metrics.jsonl")):
            time.sleep(0.01)   # a metrics line: the signal handlers are in place
        time.sleep(wait)
        proc.send_signal(first)
        time.sleep(gap)
        proc.send_signal(second)
    for proc, runs, first, second, moments in procs:
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        done, lines, saved = record_of(next(runs.iterdir()))
        assert done == lines == saved, (first, second, moments, err)


def test_a_term_signal_after_the_run_while_the_command_exits_is_exit_130(tmp_path):
    """The run puts its signal handlers back when it ends; a SIGTERM that comes after that,
    while ``backprop train`` prints its summary, killed the process by the signal (exit -15:
    the random-moment test above caught it once in a few runs). The command takes SIGTERM as
    Ctrl-C for its whole life: exit 130, and the run's record is whole."""
    code = f"""
import os, signal, sys
from backprop_cli import console
from backprop_cli.cli import run
real = console.print_run
def print_run(summary):
    os.kill(os.getpid(), signal.SIGTERM)
    real(summary)
console.print_run = print_run
sys.argv = ["backprop", "train", {str(CONFIGS / "xor.yaml")!r}, "--runs-dir", {str(tmp_path)!r},
            "--set", "training.epochs=3"]
run()
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 130, (r.returncode, r.stderr)
    assert r.stderr.strip().endswith("Interrupted.")
    done, lines, saved = record_of(next(tmp_path.iterdir()))
    assert done == lines == saved == 3


def test_keep_metrics_cuts_back_to_the_checkpoint_and_drops_a_torn_line(tmp_path):
    from backprop_cli.rundir import keep_metrics
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1, "train_loss": 0.5}\n\n{"epoch": 2, "train_loss": 0.4}\n'
                    '{"epoch": 3, "train_loss": 0.3}\n{"epoch": 4, "train_lo')
    assert [r["epoch"] for r in keep_metrics(path, 3)] == [1, 2, 3]
    assert [r["epoch"] for r in keep_metrics(path, 2)] == [1, 2]
    assert path.read_text() == '{"epoch": 1, "train_loss": 0.5}\n{"epoch": 2, "train_loss": 0.4}\n'


def test_keep_metrics_ends_a_whole_last_line_cut_before_its_newline_and_makes_a_missing_file(tmp_path):
    """A kill between a line's '}' and its newline (the buffer is flushed in blocks) leaves a
    whole record without its end: it is kept, and ended, so the epochs --resume appends do not
    run on into it. A metrics.jsonl that is gone resumes from no history."""
    from backprop_cli.rundir import MetricsWriter, keep_metrics
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1, "train_loss": 0.5}\n{"epoch": 2, "train_loss": 0.4}')
    assert [r["epoch"] for r in keep_metrics(path, 2)] == [1, 2]
    w = MetricsWriter(path, append=True)
    w.write({"epoch": 3, "train_loss": 0.3})
    w.close()
    assert [json.loads(line)["epoch"] for line in path.read_text().splitlines()] == [1, 2, 3]
    path.unlink()
    assert keep_metrics(path, 3) == [] and path.read_text() == ""


def test_metrics_lines_reach_the_file_while_the_run_goes_on(tmp_path):
    """`backprop plot` of a run in progress reads metrics.jsonl: an epoch that ends more than
    a quarter of a second after the last flush is on disk at once, not at the end of the run."""
    from backprop_cli.rundir import MetricsWriter, json_line
    path = tmp_path / "metrics.jsonl"
    w = MetricsWriter(path)
    try:
        lines = ""
        for epoch in (1, 2):
            time.sleep(0.3)
            w.write({"epoch": epoch, "train_loss": 0.5})
            lines += json_line({"epoch": epoch, "train_loss": 0.5})
            assert path.read_text() == lines
    finally:
        w.close()


def test_signals_held_replays_each_signal_in_order_after_the_block():
    from backprop_cli.rundir import signals_held
    got = []

    def handler(signum, frame):
        got.append(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            assert got == []
        assert got == [signal.SIGTERM, signal.SIGINT]
        assert signal.getsignal(signal.SIGINT) is handler is signal.getsignal(signal.SIGTERM)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# runs that end at their epoch limit: --resume --epochs 2E makes them what they would have been
EXTEND = {
    "momentum": ("momentum-spirals.yaml", ["training.epochs=30", "output.checkpoint_every=10"]),
    "plateau-dropout-l2": ("overfit-dropout.yaml", ["training.epochs=20", "regularization.l2=0.01",
                                                    "schedule={name: reduce_on_plateau, patience: 3}"]),
    "restarts": ("restarts-xor.yaml", ["stopping.target_loss=null", "training.epochs=150"]),
    "perceptron": ("xor-perceptron.yaml", ["training.shuffle=true", "training.epochs=20"]),
}


@pytest.mark.parametrize("case", list(EXTEND))
def test_resume_with_a_new_total_equals_a_run_given_it_from_the_start(case, tmp_path):
    config, sets = EXTEND[case]
    short = api.train(CONFIGS / config, sets, runs_dir=tmp_path / "short")
    E = short.summary["epochs"]
    assert short.summary["stop_reason"].startswith(("epoch limit reached", "no separating hyperplane"))
    ref = api.train(CONFIGS / config, sets + [f"training.epochs={2 * E}"], runs_dir=tmp_path / "ref")
    r = CliRunner().invoke(main, ["train", "--resume", str(short.run_dir), "--epochs", str(2 * E), "-q"])
    assert r.exit_code == 0, r.output
    assert_same_run(ref.run_dir, short.run_dir)
    s, s_ref = (json.loads((run / "summary.json").read_text()) for run in (short.run_dir, ref.run_dir))
    assert s.get("attempts") == s_ref.get("attempts")
    assert s["epochs_extended"] == [{"from": E, "to": 2 * E, "at_epoch": E}] and "epochs_extended" not in s_ref
    text = (short.run_dir / "config.yaml").read_text()
    assert f"# --resume --epochs {2 * E}: training.epochs {E} -> {2 * E} at epoch {E}\n" in text
    assert yaml.safe_load(text)["training"]["epochs"] == 2 * E


def test_a_new_total_for_a_stopped_run_and_its_refusals(tmp_path):
    sets = ["training.epochs=40", "output.checkpoint_every=5"]
    ref = api.train(CONFIGS / "momentum-spirals.yaml", ["training.epochs=50", "output.checkpoint_every=5"],
                    runs_dir=tmp_path / "ref")
    with pytest.raises(RuntimeError, match="power cut"):
        api.train(CONFIGS / "momentum-spirals.yaml", sets, runs_dir=tmp_path / "cut", callbacks=[Crash(15)])
    cut = next((tmp_path / "cut").iterdir())
    r = CliRunner().invoke(main, ["train", "--resume", str(cut), "--epochs", "15"])
    assert r.exit_code == 2 and "--epochs 15: the run has done 15 epochs" in r.stderr
    assert "above 15" in r.stderr
    api.train(resume=cut, epochs=50)               # killed at 15 of 40, goes on to 50
    assert_same_run(ref.run_dir, cut)
    r = CliRunner().invoke(main, ["train", "--resume", str(cut)])
    assert r.exit_code == 3 and "already finished (epoch limit reached (50))" in r.stderr
    assert "--epochs N (N > 50)" in r.stderr
    r = CliRunner().invoke(main, ["train", str(CONFIGS / "xor.yaml"), "--epochs", "5"])
    assert r.exit_code == 2 and "--epochs goes with --resume" in r.stderr


def test_resume_refuses_runs_that_cannot_go_on_as_the_same_run(tmp_path):
    # a stopping rule ended it: with any epoch limit it would have stopped there
    xor = api.train(CONFIGS / "xor.yaml", runs_dir=tmp_path / "xor")
    assert xor.summary["stop_reason"].startswith("target loss reached")
    r = CliRunner().invoke(main, ["train", "--resume", str(xor.run_dir), "--epochs", "5000"])
    assert r.exit_code == 3 and "before its epoch limit (target loss reached" in r.stderr
    assert f"--set model.init_from={xor.run_dir / 'checkpoints' / 'last.npz'}" in r.stderr
    # the epoch limit, but early stopping put back the weights of an earlier epoch
    es = api.train(CONFIGS / "momentum-spirals.yaml", ["training.epochs=30", "data.val_fraction=0.2",
                                                       "stopping.patience=100"], runs_dir=tmp_path / "es")
    assert es.summary["restored_epoch"] < 30
    r = CliRunner().invoke(main, ["train", "--resume", str(es.run_dir), "--epochs", "60"])
    assert r.exit_code == 3, r.output
    assert f"holds the weights of epoch {es.summary['restored_epoch']} (stopping.restore_best)" in r.stderr
    # not a run folder at all
    (tmp_path / "photos").mkdir()
    r = CliRunner().invoke(main, ["train", "--resume", str(tmp_path / "photos")])
    assert r.exit_code == 3 and "not a run folder" in r.stderr and "first checkpoint" not in r.stderr


class CtrlCInEpoch1(Callback):
    def on_epoch_begin(self, state):
        raise KeyboardInterrupt


def test_a_run_stopped_in_its_first_epoch_can_be_evaluated_plotted_and_explained(tmp_path):
    res = api.train(CONFIGS / "xor.yaml", runs_dir=tmp_path / "runs", callbacks=[CtrlCInEpoch1()])
    assert res.summary["interrupted"] and record_of(res.run_dir) == (0, 0, 0)
    for args in (["eval", str(res.run_dir), "-q"], ["explain", "--run", str(res.run_dir), "--json"]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, (args, r.output)
    pytest.importorskip("matplotlib")
    r = CliRunner().invoke(main, ["plot", str(res.run_dir), "--boundary", "-o", str(tmp_path / "b.png")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["plot", str(res.run_dir)])   # curves need epochs: a clear error
    assert r.exit_code == 2 and "metrics.jsonl has no epochs yet" in r.stderr


def test_component_snapshot_survives_json_and_restores_in_place():
    """training/snapshot.py: a callback's or optimizer's attributes go through JSON (strict:
    no NaN/Infinity tokens) and .npz arrays, and come back as they were."""
    import math

    from backprop_cli.training.snapshot import restore, snapshot

    class Component:
        transient = ("clock",)

        def __init__(self):
            self.n, self.best, self.worst, self.gap = np.int64(3), float("inf"), float("-inf"), float("nan")
            self.history = [1, np.array([1.0, 2.0]), float("inf")]
            self.per_layer = {"0.W": np.array([3.0])}
            self.velocity, self.note, self.clock, self.network = np.zeros(3), None, 12.5, object()

    c = Component()
    plain, arrays = snapshot(c, "cb")
    assert set(plain) == {"n", "best", "worst", "gap", "history", "per_layer", "velocity", "note"}
    assert set(arrays) == {"cb/history/1", "cb/per_layer/0.W", "cb/velocity"}
    plain = json.loads(json.dumps(plain, allow_nan=False))

    class Fresh:
        pass

    fresh = Fresh()
    restore(fresh, plain, arrays)
    assert fresh.n == 3 and type(fresh.n) is int and fresh.note is None
    assert fresh.best == math.inf and fresh.worst == -math.inf and math.isnan(fresh.gap)
    assert fresh.history[0] == 1 and fresh.history[2] == math.inf
    np.testing.assert_array_equal(fresh.history[1], [1.0, 2.0])
    np.testing.assert_array_equal(fresh.per_layer["0.W"], [3.0])
    # into a live object: an array of the same shape is overwritten in place (views held
    # elsewhere stay valid); a saved None replaces an array
    live = Component()
    view = live.velocity
    arrays["cb/velocity"][...] = 7.0
    live.note = np.ones(2)
    restore(live, plain, arrays)
    assert live.velocity is view and (view == 7.0).all() and live.note is None
