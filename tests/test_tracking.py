"""TensorBoard and MLflow logging (output.loggers, train --log, backprop log), read back with
tensorboard's EventAccumulator and MLflow's client: values equal metrics.jsonl."""
import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from click.testing import CliRunner

from backprop_cli import api, tracking
from backprop_cli.cli import main
from backprop_cli.errors import UsageError
from helpers import CONFIGS

IRIS = CONFIGS / "iris.yaml"
SHORT = ["training.epochs=12", "output.checkpoint_every=3"]


@pytest.fixture(autouse=True)
def _clean_mlflow_environment(monkeypatch):
    """No MLFLOW_* variable from outside, and none the trackers set (HTTP timeout, file store)
    left behind for other tests."""
    for key in [k for k in os.environ if k.startswith("MLFLOW_")] + [
            *tracking.MLFLOW_HTTP, "MLFLOW_ALLOW_FILE_STORE"]:
        monkeypatch.setenv(key, "")  # recorded, so that monkeypatch's undo deletes it
        monkeypatch.delenv(key)


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def summary(run_dir):
    return json.loads((run_dir / "summary.json").read_text())


def config_of(run_dir):
    from backprop_cli import yamlio
    return yamlio.load((run_dir / "config.yaml").read_text())


def expected_series(run_dir) -> dict:
    """metrics.jsonl per metric, [(epoch, value)], and summary.json's metrics at its last epoch."""
    out = {}
    for r in records(run_dir):
        for k, v in r.items():
            if k != "epoch" and v is not None:
                out.setdefault(k, []).append((r["epoch"], v))
    s = summary(run_dir)
    final = {"epochs": s["epochs"], "wall_time": s["wall_time"], "parameters": s["parameters"],
             **{f"best/{k}": v for k, v in s["best"].items()},
             **{f"final/{k}": v for k, v in s["final"].items() if k != "epoch"}, **s.get("test", {})}
    for k, v in final.items():
        out.setdefault(k, []).append((s["epochs"], v))
    return out


def tensorboard_scalars(run_dir) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={SCALARS: 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def tensorboard_hparams(run_dir) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hp = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    return {k: getattr(v, v.WhichOneof("kind")) for k, v in hp.items()}


def as_float32(series):
    return [(step, float(np.float32(v))) for step, v in series]


def assert_tensorboard_holds_the_run(run_dir):
    got, want = tensorboard_scalars(run_dir), expected_series(run_dir)
    assert set(got) == set(want)
    for tag in want:  # TensorBoard's scalars are float32
        assert got[tag] == as_float32(want[tag]), tag
    hp = tensorboard_hparams(run_dir)
    config = config_of(run_dir)
    assert hp["optimizer.lr"] == config["optimizer"]["lr"]
    assert hp["model.layers.0.units"] == config["model"]["layers"][0]["units"]
    assert hp["model.layers.1.activation"] == config["model"]["layers"][1]["activation"]
    assert hp["training.shuffle"] is True and hp["seed"] == config["seed"]
    if "path" in config["data"]:
        assert hp["data.path"] == config["data"]["path"] and os.path.isabs(hp["data.path"])
    flat = {k: v for k, v in tracking.flat_config(config).items() if v is not None}
    assert hp == flat


def mlflow_client(uri):
    from mlflow.tracking import MlflowClient
    return MlflowClient(uri)


def mlflow_runs(client, experiment="0"):
    return client.search_runs([experiment], order_by=["attributes.start_time ASC"])


def artifacts(client, run_id, path=None) -> set:
    out = set()
    for f in client.list_artifacts(run_id, path):
        out |= artifacts(client, run_id, f.path) if f.is_dir else {f.path}
    return out


def mlflow_series(client, run_id) -> dict:
    run = client.get_run(run_id)
    return {k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k))
            for k in run.data.metrics}


def assert_mlflow_holds_the_run(client, run, run_dir):
    assert run.info.run_name == run_dir.name and run.info.status == "FINISHED"
    got, want = mlflow_series(client, run.info.run_id), expected_series(run_dir)
    assert got == {k: [(step, float(v)) for step, v in series] for k, series in want.items()}
    config = config_of(run_dir)
    params = run.data.params
    assert params["optimizer.lr"] == str(config["optimizer"]["lr"])
    assert params["model.layers.0.units"] == str(config["model"]["layers"][0]["units"])
    assert params["training.shuffle"] == "true" and params["model.init_from"] == "null"
    assert params["data.path"] == config["data"]["path"]
    assert params == {k: tracking.param_text(v) for k, v in tracking.flat_config(config).items()}
    assert artifacts(client, run.info.run_id) >= {
        "config.yaml", "metrics.jsonl", "summary.json", "preprocessing.npz",
        "checkpoints/last.npz", "checkpoints/best.npz"}
    local = client.download_artifacts(run.info.run_id, "summary.json")
    assert json.loads(open(local).read()) == summary(run_dir)
    tags = run.data.tags
    assert tags["backprop.run_dir"] == str(run_dir.resolve())
    from backprop_cli import __version__
    assert tags["backprop.version"] == __version__
    assert tags["backprop.stop_reason"] == summary(run_dir)["stop_reason"]
    assert tags["backprop.config"] == summary(run_dir)["config"] == str(IRIS.resolve())


# --------------------------------------------------------------------------------------------
def test_a_runs_records_become_scalars_parameters_and_final_metrics():
    assert tracking.epoch_scalars({"epoch": 3, "train_loss": 0.5, "val_loss": None, "attempt": 2,
                                   "flag": True, "note": "x"}) == {"train_loss": 0.5, "attempt": 2.0}
    flat = tracking.flat_config({"model": {"layers": [{"units": 4, "activation": {"name": "rrelu", "lower": 0.1}},
                                                      {"units": 1}], "init_from": None},
                                 "augment": {"flip": ["horizontal", "vertical"]}, "extra": [], "m": {}})
    assert flat == {"model.layers.0.units": 4, "model.layers.0.activation.name": "rrelu",
                    "model.layers.0.activation.lower": 0.1, "model.layers.1.units": 1,
                    "model.init_from": None, "augment.flip": '["horizontal", "vertical"]',
                    "extra": "[]", "m": "{}"}
    assert [tracking.param_text(v) for v in (True, None, 0.1, 4, "adam")] == ["true", "null", "0.1", "4", "adam"]
    s = {"epochs": 7, "wall_time": 1.5, "parameters": 43, "best": {"epoch": 5, "val_loss": 0.2},
         "final": {"epoch": 7, "val_loss": 0.3, "train_loss": None}, "test": {"test_accuracy": 0.9},
         "stop_reason": "epoch limit reached (7)", "diverged": False}
    assert tracking.summary_metrics(s) == {"epochs": 7.0, "wall_time": 1.5, "parameters": 43.0,
                                           "best/epoch": 5.0, "best/val_loss": 0.2,
                                           "final/val_loss": 0.3, "test_accuracy": 0.9}
    long = "x" * 7000
    assert len(tracking.clip(long, 6000)) == 6000 and tracking.clip(long, 6000).endswith(tracking.MARK)


def test_the_trackers_packages_load_only_when_a_tracker_is_used():
    code = ("import sys, backprop_cli.cli, backprop_cli.api, backprop_cli.tracking; "
            "print([m for m in ('mlflow', 'tensorboardX', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    # tensorboardX loads without PyTorch (which it imports for type hints), and leaves it
    # importable: no None left in sys.modules, which would make `import torch` fail
    code = ("import sys, importlib.util; from backprop_cli import tracking; tracking.load('tensorboard'); "
            "print('tensorboardX' in sys.modules, 'torch' in sys.modules, "
            "importlib.util.find_spec('torch') is not None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "True"]


def test_tensorboard_event_files_hold_every_epoch_the_summary_and_the_config(tmp_path):
    r = api.train(IRIS, SHORT + ["output.loggers=[tensorboard]"], runs_dir=tmp_path / "runs")
    assert sorted(p.name for p in (r.run_dir / "tensorboard").iterdir())[0].startswith("events.out.tfevents.")
    assert_tensorboard_holds_the_run(r.run_dir)
    assert set(tensorboard_scalars(r.run_dir)) >= {"train_loss", "val_loss", "val_accuracy", "lr",
                                                  "best/val_loss", "final/train_loss", "test_accuracy"}
    assert tracking.read_state(r.run_dir) == {"tensorboard": {"epoch": 12}}


def test_mlflow_run_in_the_tracking_uri_and_experiment_the_environment_names(tmp_path, monkeypatch):
    store = tmp_path / "store"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file:{store}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "iris-tests")
    r = api.train(IRIS, SHORT, runs_dir=tmp_path / "runs", loggers=["mlflow"])
    client = mlflow_client(f"file:{store}")
    exp = client.get_experiment_by_name("iris-tests")
    (run,) = mlflow_runs(client, exp.experiment_id)
    assert_mlflow_holds_the_run(client, run, r.run_dir)
    assert tracking.read_state(r.run_dir)["mlflow"] == [
        {"tracking_uri": store.resolve().as_uri(), "experiment_id": exp.experiment_id,
         "run_id": run.info.run_id, "epoch": 12}]
    assert not (tmp_path / "mlruns").exists()
    # MLflow's HTTP timeout and retries are low unless the environment says otherwise
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "10"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"


def test_mlflow_defaults_to_mlruns_beside_the_runs_folder_and_members_are_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not where the runs go
    r = api.train(IRIS, ["training.epochs=3", "ensemble.members=2"],
                  runs_dir=tmp_path / "project" / "runs", loggers=["mlflow", "tensorboard"])
    assert (tmp_path / "project" / "mlruns").is_dir() and not (tmp_path / "mlruns").exists()
    client = mlflow_client((tmp_path / "project" / "mlruns").as_uri())
    runs = mlflow_runs(client)
    assert [x.info.run_name for x in runs] == [f"{r.run_dir.name}/members/0", f"{r.run_dir.name}/members/1"]
    for x, i in zip(runs, (0, 1)):
        member = r.run_dir / "members" / str(i)
        assert mlflow_series(client, x.info.run_id)["train_loss"] == expected_series(member)["train_loss"]
        assert_tensorboard_holds_the_run(member)


def test_backprop_log_sends_what_live_logging_sent(tmp_path, monkeypatch):
    live_store, later_store = tmp_path / "live", tmp_path / "later"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live_store.as_uri())
    r = api.train(IRIS, SHORT, runs_dir=tmp_path / "runs", loggers=["tensorboard", "mlflow"])
    run_dir = r.run_dir
    live_scalars, live_hparams = tensorboard_scalars(run_dir), tensorboard_hparams(run_dir)
    live_client = mlflow_client(live_store.as_uri())
    (live_run,) = mlflow_runs(live_client)
    # after the fact: TensorBoard's folder written afresh, a new MLflow store gets a new run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", later_store.as_uri())
    out = CliRunner().invoke(main, ["log", str(run_dir), "--to", "tensorboard", "--to", "mlflow"])
    assert out.exit_code == 0, out.output
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert tensorboard_scalars(run_dir) == live_scalars and tensorboard_hparams(run_dir) == live_hparams
    later_client = mlflow_client(later_store.as_uri())
    (later_run,) = mlflow_runs(later_client)
    assert_mlflow_holds_the_run(later_client, later_run, run_dir)
    assert mlflow_series(later_client, later_run.info.run_id) == mlflow_series(live_client, live_run.info.run_id)
    assert later_run.data.params == live_run.data.params
    assert artifacts(later_client, later_run.info.run_id) == artifacts(live_client, live_run.info.run_id)
    # again: the same MLflow run, nothing logged twice
    out = CliRunner().invoke(main, ["log", str(run_dir), "--to", "mlflow", "--json"])
    assert out.exit_code == 0, out.output
    sent = json.loads(out.stdout)
    assert sent["run_id"] == later_run.info.run_id and sent["epochs"] == 12
    (again,) = mlflow_runs(later_client)
    assert mlflow_series(later_client, again.info.run_id) == mlflow_series(later_client, later_run.info.run_id)
    assert {e["tracking_uri"] for e in tracking.read_state(run_dir)["mlflow"]} == {
        live_store.as_uri(), later_store.as_uri()}


def test_a_sweeps_trials_log_to_the_store_beside_its_runs_folder(tmp_path, monkeypatch):
    from backprop_cli.sweep.runner import run_sweep
    from helpers import XOR_YAML, write
    write(tmp_path / "xor.yaml", XOR_YAML + "output: {loggers: [tensorboard, mlflow]}\n")
    sweep = write(tmp_path / "sweep.yaml", """
base: xor.yaml
metric: {name: train_loss, goal: minimize}
parameters:
  optimizer.lr: {values: [0.1, 2.0]}
  training.epochs: {values: [20]}
  stopping.target_loss: {values: [null]}
""")
    monkeypatch.chdir(tmp_path / "..")  # not where the runs go
    result = run_sweep(sweep, workers=2, runs_dir=tmp_path / "runs")
    assert result.ran == 2 and "MLFLOW_TRACKING_URI" not in os.environ  # set for the trials only
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # for this process's client (MLflow 3)
    client = mlflow_client((tmp_path / "mlruns").as_uri())
    runs = mlflow_runs(client)
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    for trial in sorted((result.sweep_dir / "trials").iterdir()):
        (run,) = [r for r in runs if r.info.run_id == tracking.read_state(trial)["mlflow"][0]["run_id"]]
        assert run.info.run_name.startswith(trial.name)
        assert mlflow_series(client, run.info.run_id)["train_loss"] == expected_series(trial)["train_loss"]
        assert_tensorboard_holds_the_run(trial)
    # sent again after the fact: the same MLflow runs, nothing twice
    out = CliRunner().invoke(main, ["log", str(result.sweep_dir), "--to", "mlflow"])
    assert out.exit_code == 0, out.output
    assert [mlflow_series(client, r.info.run_id) for r in mlflow_runs(client)] == \
        [mlflow_series(client, r.info.run_id) for r in runs]


class Crash:
    """A crash right after epoch k's checkpoint (like a kill between epochs)."""

    def __init__(self, k):
        self.k = k

    def on_epoch_complete(self, state):
        if state.epoch == self.k:
            raise RuntimeError("power cut")


def test_a_resumed_run_goes_on_in_the_same_runs_and_logs_no_epoch_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    sets = SHORT + ["output.loggers=[tensorboard, mlflow]"]
    with pytest.raises(RuntimeError, match="power cut"):
        api.train(IRIS, sets, runs_dir=tmp_path / "runs", callbacks=[Crash(6)])
    run_dir = next((tmp_path / "runs").iterdir())
    client = mlflow_client((tmp_path / "mlruns").as_uri())
    (crashed,) = mlflow_runs(client)
    assert crashed.info.status == "FAILED"
    assert [s for s, _ in mlflow_series(client, crashed.info.run_id)["train_loss"]] == list(range(1, 7))
    assert [s for s, _ in tensorboard_scalars(run_dir)["train_loss"]] == list(range(1, 7))
    # TensorBoard wrote epochs 7-9 that tracking.json does not know of (a kill before it was
    # updated): the resumed run's writer purges them
    tb = tracking.TensorBoardLog(run_dir, start_epoch=6)
    tb.epochs([{"epoch": epoch, "train_loss": 99.0} for epoch in (7, 8, 9)])
    tb.close()
    tracking.write_state(run_dir, "tensorboard", {"epoch": 6})
    api.train(resume=run_dir)
    (run,) = mlflow_runs(client)
    assert run.info.run_id == crashed.info.run_id
    assert_mlflow_holds_the_run(client, run, run_dir)
    assert_tensorboard_holds_the_run(run_dir)
    # a new total: the same runs go on from epoch 12
    api.train(resume=run_dir, epochs=15)
    (run,) = mlflow_runs(client)
    assert run.info.run_id == crashed.info.run_id and run.info.status == "FINISHED"
    got, tb = mlflow_series(client, run.info.run_id), tensorboard_scalars(run_dir)
    want = expected_series(run_dir)
    for key in ("train_loss", "val_loss", "lr"):
        assert got[key] == want[key] and [s for s, _ in got[key]] == list(range(1, 16))
        assert tb[key] == as_float32(want[key])
    assert [s for s, _ in got["epochs"]] == [12, 15]  # the summary of each finish


def test_a_tracker_that_fails_warns_once_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    calls = []

    def disk_full(self, *args, **kwargs):
        calls.append(args)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tracking.summary_writer(), "flush", disk_full)  # where a full disk shows
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    r = api.train(IRIS, SHORT, runs_dir=tmp_path / "runs", loggers=["tensorboard", "mlflow"])
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and len(calls) == 1
    assert "tensorboard logging stopped" in err and "No space left on device" in err
    assert f"backprop log {r.run_dir} --to tensorboard" in err
    assert r.summary["epochs"] == 12 and summary(r.run_dir)["epochs"] == 12
    client = mlflow_client((tmp_path / "mlruns").as_uri())
    (run,) = mlflow_runs(client)  # the other tracker went on
    assert_mlflow_holds_the_run(client, run, r.run_dir)


def test_a_missing_extra_is_a_usage_error_before_the_run_starts(tmp_path, monkeypatch):
    import importlib.util
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else find_spec(name, *a))
    with pytest.raises(UsageError, match=r"mlflow .*pip install 'backprop-cli\[tracking\]'"):
        api.train(IRIS, ["output.loggers=[mlflow]"], runs_dir=tmp_path / "runs")
    out = CliRunner().invoke(main, ["train", str(IRIS), "--log", "mlflow", "--runs-dir", str(tmp_path / "runs")])
    assert out.exit_code == 2 and "pip install 'backprop-cli[tracking]'" in out.output
    assert not (tmp_path / "runs").exists()
    r = api.train(IRIS, ["training.epochs=2"], runs_dir=tmp_path / "ok")  # without loggers: fine
    out = CliRunner().invoke(main, ["log", str(r.run_dir), "--to", "mlflow"])
    assert out.exit_code == 2 and "pip install 'backprop-cli[tracking]'" in out.output


def test_cli_log_option_and_the_log_commands_errors(tmp_path):
    runs = tmp_path / "runs"
    out = CliRunner().invoke(main, ["train", str(IRIS), "--set", "training.epochs=2", "--set",
                                    "output.loggers=[tensorboard]", "--log", "tensorboard",
                                    "--runs-dir", str(runs), "-q"])
    assert out.exit_code == 0, out.output
    (run_dir,) = runs.iterdir()
    assert config_of(run_dir)["output"]["loggers"] == ["tensorboard"]  # not twice
    assert (run_dir / "tensorboard").is_dir()
    out = CliRunner().invoke(main, ["train", "--resume", str(run_dir), "--log", "mlflow"])
    assert out.exit_code == 2 and "--log" in out.output
    out = CliRunner().invoke(main, ["train", str(IRIS), "--log", "wandb"])
    assert out.exit_code == 2 and "wandb" in out.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(IRIS.read_text().replace("seed: 0", "seed: 0\noutput: {loggers: [tensorbord]}"))
    out = CliRunner().invoke(main, ["config", "validate", str(bad)])
    assert out.exit_code == 2 and "output.loggers: item 0" in out.output and "tensorboard" in out.output
    (run_dir / "summary.json").unlink()  # as a killed run has none
    out = CliRunner().invoke(main, ["log", str(run_dir), "--to", "tensorboard"])
    assert out.exit_code == 3 and "no summary.json" in out.output
    out = CliRunner().invoke(main, ["log", str(tmp_path), "--to", "tensorboard"])
    assert out.exit_code == 3 and "not a run folder" in out.output


@contextlib.contextmanager
def mlflow_server(root):
    """A real ``mlflow server`` on 127.0.0.1 (a free port, its store and artifacts under
    ``root``), waited for (at most 60 s) and always stopped, with its children."""
    port = closed_port()
    log = open(root / "server.log", "w")
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # up in half the time
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--default-artifact-root", str(root / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=root, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (root / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "mlflow server did not start within 60 s"
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.25)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def test_a_real_mlflow_server_receives_the_run(tmp_path, monkeypatch):
    with mlflow_server(tmp_path) as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        client = mlflow_client(url)
        client.search_experiments()  # the server's first request sets it up (seconds, when busy)
        r = api.train(IRIS, SHORT, runs_dir=tmp_path / "runs", loggers=["mlflow"])
        (run,) = mlflow_runs(client)
        assert_mlflow_holds_the_run(client, run, r.run_dir)
        assert run.info.artifact_uri.startswith(str(tmp_path / "artifacts"))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed_train(tmp_path, name, loggers=()):
    t = time.perf_counter()
    r = api.train(IRIS, ["training.epochs=100"], runs_dir=tmp_path / name, loggers=loggers)
    return time.perf_counter() - t, r


def test_an_unreachable_or_silent_server_costs_the_run_no_time(tmp_path, monkeypatch, capsys):
    import mlflow.tracking  # noqa: F401 - the import is the extra's cost, once per process
    baseline = min(timed_train(tmp_path, f"none{i}")[0] for i in range(2))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port()}")
    took, r = timed_train(tmp_path, "refused", ["mlflow"])
    err = capsys.readouterr().err
    assert r.summary["epochs"] == 100 and err.count("warning: mlflow logging stopped") == 1
    assert took < baseline + 1.5, (took, baseline)  # MLflow's own retries take minutes
    # a server that takes the connection and never answers: one timeout, at the end
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
        took, r = timed_train(tmp_path, "silent", ["mlflow"])
    err = capsys.readouterr().err
    assert r.summary["epochs"] == 100 and err.count("warning: mlflow logging stopped") == 1
    assert took < baseline + 1 + 1.5, (took, baseline)
    assert r.summary["wall_time"] < baseline + 1.0  # training itself never waited
