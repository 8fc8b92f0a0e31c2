"""Resume and reproducibility: a killed or interrupted run, resumed, equals one never stopped."""
import json
import signal
import subprocess
import time

import numpy as np
import pytest
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
# dropout + input noise + max-norm + L2, restarts, misclassified examples, the perceptron
CASES = {
    "momentum-plateau-early": ("momentum-spirals.yaml", ["training.epochs=60", "data.val_fraction=0.2",
                               "schedule={name: reduce_on_plateau, patience: 3}", "stopping.patience=30"]),
    "dropout-noise-l2": ("overfit-dropout.yaml", ["training.epochs=40", "regularization.l2=0.01"]),
    "restarts": ("restarts-xor.yaml", []),
    "misclassified-adam": ("xor.yaml", ["training.examples=misclassified", "optimizer={name: adam, lr: 0.05}",
                                        "training.batch_size=2", "training.epochs=120"]),
    "perceptron": ("and-perceptron.yaml", ["training.shuffle=true"]),
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
