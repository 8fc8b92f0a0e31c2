"""Real sweeps in local worker processes: results, failures, crashes, Ctrl-C/SIGTERM/kill,
resume, shards and collect (runner.py, local.py, results.py)."""
import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from helpers import XOR_YAML, backprop_exe, write

from backprop_cli.sweep.local import LocalExecutor
from backprop_cli.sweep.results import collect
from backprop_cli.sweep.runner import run_sweep
from backprop_cli.engine.threads import available_cpus as cpus
from backprop_cli.sweep.trial import threads_per_worker

GRID4 = """
base: xor.yaml
metric: {name: train_loss, goal: minimize}
parameters:
  optimizer.lr: {values: [0.1, 2.0]}
  model.layers.0.units: {values: [2, 4]}
  training.epochs: {values: [200]}
  stopping.target_loss: {values: [null]}
"""


def make_sweep(tmp_path, body=GRID4):
    write(tmp_path / "xor.yaml", XOR_YAML)
    return write(tmp_path / "sweep.yaml", body)


def test_grid_of_4_on_2_workers_writes_runs_results_and_best(tmp_path):
    result = run_sweep(make_sweep(tmp_path), workers=2, runs_dir=tmp_path / "runs")
    folder = result.sweep_dir
    assert folder.parent == tmp_path / "runs" and folder.name.startswith("sweep-")
    assert result.ran == 4 and not result.interrupted
    rows = list(csv.DictReader((folder / "results.csv").open()))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    assert len((folder / "results.jsonl").read_text().splitlines()) == 4
    for r in rows:  # every trial is a full run, in trials/<id>/, its summary pointing there
        run = folder / "trials" / r["trial"]
        summary = json.loads((run / "summary.json").read_text())
        assert summary["run_dir"] == str(run) and summary["epochs"] == 200 == int(r["epochs"])
        assert len((run / "metrics.jsonl").read_text().splitlines()) == 200
        assert (run / "checkpoints" / "last.npz").exists()
        assert float(r["train_loss"]) == summary["final"]["train_loss"]
        assert f"--set optimizer.lr={r['optimizer.lr']}" in r["overrides"]
    # ranked best first; best.yaml is the best trial's config and trains as it did
    losses = sorted(float(r["train_loss"]) for r in rows)
    assert result.best.mean == losses[0] and result.points[-1].mean == losses[-1]
    best = yaml.safe_load((folder / "best.yaml").read_text())
    assert best["optimizer"]["lr"] == result.best.params["optimizer.lr"]
    assert best["model"]["layers"][0]["units"] == result.best.params["model.layers.0.units"]
    r = subprocess.run([backprop_exe(), "train", str(folder / "best.yaml"), "--json", "--quiet",
                        "--runs-dir", str(tmp_path / "again")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["final"]["train_loss"] == pytest.approx(losses[0], rel=1e-9)


def test_failing_and_diverging_trials_are_recorded_and_the_sweep_goes_on(tmp_path):
    (tmp_path / "bad.npz").write_text("not an npz file")
    path = make_sweep(tmp_path, """
base: xor.yaml
parameters:
  model.init_from: {values: [null, bad.npz]}
  optimizer.lr: {values: [0.5, 1.0e+9]}
  training.epochs: {values: [50]}
  loss: [mse]
  model.layers.1.activation: [identity]
""")
    r = subprocess.run([backprop_exe(), "sweep", str(path), "--workers", "2", "--json"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    by = {(x["params"]["model.init_from"], x["params"]["optimizer.lr"]): x for x in out["results"]}
    assert by[(None, 0.5)]["status"] == "ok"
    assert by[(None, 1e9)]["status"] == "diverged"
    for lr in (0.5, 1e9):
        failed = by[("bad.npz", lr)]
        assert failed["status"] == "failed" and "bad.npz" in failed["error"]
        assert (Path(failed["run_dir"]) / "error.txt").read_text().startswith("CheckpointError")
    assert out["statuses"] == {"ok": 1, "diverged": 1, "failed": 2}
    assert out["best"]["params"]["optimizer.lr"] == 0.5 and out["best"]["params"]["model.init_from"] is None


def test_workers_get_their_share_of_the_cores_before_numpy_loads():
    from sweep_probes import probe_env
    share = str(threads_per_worker(2))
    with LocalExecutor(2) as ex:
        results = [res for _, res in ex.run(probe_env, [{"id": i} for i in range(4)])]
    assert all(r["omp"] == share and r["openblas"] == share for r in results)
    assert not any(r["numpy_preloaded"] for r in results)
    assert {r["ppid"] for r in results} == {os.getpid()}
    with LocalExecutor(2, threads=3) as ex:  # told otherwise
        assert {res["openblas"] for _, res in ex.run(probe_env, [{"id": 0}])} == {"3"}


def test_threads_per_worker_is_the_workers_share_of_the_cores(monkeypatch):
    assert [threads_per_worker(w, cores=16) for w in (1, 2, 3, 4, 16, 32)] == [16, 8, 5, 4, 1, 1]
    assert [threads_per_worker(w, cores=2) for w in (1, 2, 4)] == [2, 1, 1]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})  # 6 allowed CPUs
    assert threads_per_worker(2) == 3 and threads_per_worker(4) == 1


def test_workers_are_reused_across_trials():
    """A worker runs trial after trial: 12 tasks on 2 workers run in 2 processes, each
    spawned (and its imports done) once."""
    from sweep_probes import probe_env
    with LocalExecutor(2) as ex:
        results = [res for _, res in ex.run(probe_env, [{"id": i} for i in range(12)])]
    pids = [r["pid"] for r in results]
    assert len(results) == 12 and len(set(pids)) == 2


@pytest.mark.skipif(cpus() < 2, reason="needs 2 CPUs to tell a worker's share from 1")
def test_a_sweeps_trials_use_the_workers_share_unless_training_threads_says_otherwise(tmp_path):
    """1 worker gets every core's thread; a trial whose config sets training.threads keeps it;
    summary.json states each trial's count."""
    path = make_sweep(tmp_path, """
base: xor.yaml
parameters:
  training.threads: {values: [null, 1]}
  training.epochs: {values: [20]}
""")
    def threads(workers):
        result = run_sweep(path, workers=workers, runs_dir=tmp_path / f"runs{workers}")
        return {row["params"]["training.threads"]: json.loads((Path(row["run_dir"]) / "summary.json")
                                                              .read_text())["threads"]
                for row in result.rows.values()}
    assert threads(1) == {None: cpus(), 1: 1}
    assert threads(2) == {None: threads_per_worker(2), 1: 1}  # 2 workers: 1 thread each on 2 CPUs


def test_a_killed_worker_costs_only_its_own_trial(tmp_path):
    from sweep_probes import crash_on
    tasks = [{"id": i, "crash": i == 2} for i in range(6)]
    tasks.append({"id": 6, "crash": True, "once": True, "marker": str(tmp_path / "m")})
    with LocalExecutor(2) as ex:
        got = {t["id"]: res for t, res in ex.run(crash_on, tasks)}
    assert sorted(got) == list(range(7))  # nothing lost with the broken pools
    assert got[2]["status"] == "crashed" and "died in both attempts" in got[2]["error"]
    assert all(got[i]["status"] == "ok" for i in (0, 1, 3, 4, 5, 6))  # 6 died once: retried


def test_a_killed_worker_leaves_no_temporary_files(tmp_path, monkeypatch):
    """Workers keep their temporary files in a folder of the driver's, removed when it stops:
    a trial killed by SIGKILL cannot unwind its own (289 backprop-trial-* folders had piled up
    in /tmp from the suite's killed workers)."""
    import tempfile
    from sweep_probes import killed_in_a_temporary_folder
    system_tmp = tmp_path / "tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    marker = tmp_path / "marker"
    with LocalExecutor(1) as ex:
        [(_, result)] = list(ex.run(killed_in_a_temporary_folder, [{"id": 0, "marker": str(marker)}]))
        killed = Path(marker.read_text())
        assert killed.exists() and killed.parent.parent == system_tmp   # left by the killed worker
        assert result["status"] == "ok" and Path(result["tempdir"]) == killed.parent
        assert killed.parent.name.startswith("backprop-sweep-")
    assert list(system_tmp.iterdir()) == []


SLOW = """
base: xor.yaml
parameters:
  optimizer.lr: {values: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}
  training.epochs: {values: [%d]}
  stopping.target_loss: {values: [null]}
"""


def processes(match) -> list[int]:
    """The pids whose /proc/<pid>/stat fields after the command (state, ppid, pgrp, session,
    ...) ``match``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if match(fields):
            out.append(int(stat.parent.name))
    return out


def children(pid: int) -> list[int]:
    return processes(lambda f: int(f[1]) == pid)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_and_wait_for_a_result(tmp_path, path):
    proc = subprocess.Popen([backprop_exe(), "sweep", str(path), "--workers", "2", "--quiet"],
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = list((tmp_path / "runs").glob("sweep-*/results.jsonl"))
        if found and found[0].read_text().count("\n") >= 1 and len(children(proc.pid)) >= 2:
            return proc, found[0].parent
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no trial finished within 30 s")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_stopping_the_driver_leaves_no_process_and_a_rerun_resumes(tmp_path, how):
    path = make_sweep(tmp_path, SLOW % 6000)  # ~2 s a trial
    proc, folder = start_and_wait_for_a_result(tmp_path, path)
    workers = children(proc.pid)
    if how == signal.SIGINT:  # Ctrl-C in a terminal reaches the whole process group
        os.killpg(proc.pid, how)
    else:
        proc.send_signal(how)
    code = proc.wait(timeout=20)
    if how != signal.SIGKILL:  # Ctrl-C, or SIGTERM like it: a clean stop, finished trials kept
        assert code == 130, proc.stderr.read()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in workers), "worker processes outlived the driver"
    finished = {json.loads(line)["trial"] for line in (folder / "results.jsonl").read_text().splitlines()
                if line.strip().endswith("}")}
    assert 1 <= len(finished) < 6
    kept = {t: (folder / "trials" / t / "summary.json").stat().st_mtime_ns for t in finished}
    # the same command again: finds the folder, runs only what is missing
    r = subprocess.run([backprop_exe(), "sweep", str(path), "--workers", "2", "--json"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["sweep_dir"] == str(folder)
    assert out["skipped"] == len(finished) and out["ran"] == 6 - len(finished)
    assert out["statuses"] == {"ok": 6}
    assert {t: (folder / "trials" / t / "summary.json").stat().st_mtime_ns for t in finished} == kept


def test_shards_run_disjoint_trials_and_collect_merges_them(tmp_path):
    path = make_sweep(tmp_path)
    runs = tmp_path / "runs" / "lr"
    shards = [run_sweep(path, workers=1, shard=(i, 2), runs_dir=runs) for i in (0, 1)]
    ids = [set(s.rows) for s in shards]
    assert len(ids[0]) == len(ids[1]) == 2 and not ids[0] & ids[1]
    assert {s.sweep_dir.name.split("-")[1] for s in shards} == {"shard0of2", "shard1of2"}
    partial = collect(shards[0].sweep_dir)
    assert len(partial.rows) == 2 and len(partial.missing) == 2
    r = subprocess.run([backprop_exe(), "sweep", "collect", str(runs), "--json"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["results"]) == 4 and "missing" not in out
    assert len(list(csv.DictReader((runs / "results.csv").open()))) == 4
    assert len((runs / "results.jsonl").read_text().splitlines()) == 4
    full = run_sweep(path, workers=2, runs_dir=tmp_path / "full")
    assert out["best"]["params"] == full.best.params
    assert out["best"]["mean"] == pytest.approx(full.best.mean, rel=1e-12)
    assert (runs / "best.yaml").read_text().split("\n", 1)[1] == \
        (full.sweep_dir / "best.yaml").read_text().split("\n", 1)[1].replace(str(full.sweep_dir), "")


def test_collect_refuses_shards_of_different_sweeps(tmp_path):
    path = make_sweep(tmp_path)
    run_sweep(path, workers=1, shard=(0, 2), runs_dir=tmp_path / "r", dry_run=False)
    other = write(tmp_path / "other.yaml", GRID4.replace("200", "100"))
    run_sweep(other, workers=1, shard=(1, 2), runs_dir=tmp_path / "r")
    r = subprocess.run([backprop_exe(), "sweep", "collect", str(tmp_path / "r")], capture_output=True,
                       text=True)
    assert r.returncode == 2
    assert "fingerprint: not the sweep of" in r.stderr and r.stderr.count("\n") == 1


STRESS = """
base: xor.yaml
method: random
trials: 12
parameters:
  optimizer.lr: {min: 0.01, max: 2.0, distribution: log_uniform}
  training.epochs: {values: [300]}
  stopping.target_loss: {values: [null]}
"""


def session(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the driver started with start_new_session)."""
    return processes(lambda f: int(f[3]) == sid and f[0] != "Z")


def session_after(pid: int, seconds: float) -> list[int]:
    """The processes of session ``pid`` still alive after waiting up to ``seconds`` for them
    to end (the resource tracker exits on the driver's EOF)."""
    deadline = time.monotonic() + seconds
    while session(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return session(pid)


def kill_session(proc) -> None:
    """Whatever a test left of a driver's session, killed and reaped."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def stop_at_random(folder: Path, how: int, after: str, delay: float) -> dict:
    """Start a sweep; once ``after`` (a glob) exists in its folder, wait ``delay`` s, then
    Ctrl-C its process group or SIGTERM the driver. Returns the exit code, the seconds it
    took to exit and the processes of its session left after that."""
    proc = subprocess.Popen([backprop_exe(), "sweep", "sweep.yaml", "--workers", "2", "--quiet"],
                            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not list(folder.glob(after)) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        os.killpg(proc.pid, how) if how == signal.SIGINT else proc.send_signal(how)
        t0 = time.monotonic()
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = "hung"
        took = time.monotonic() - t0
        return {"code": code, "took": took, "left": session_after(proc.pid, 1),
                "stderr": proc.stderr.read().decode()[-500:] if code != "hung" else ""}
    finally:
        kill_session(proc)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_random_time_ctrl_c_and_sigterm_always_stop_fast_and_leave_nothing(tmp_path):
    """Issue 13.7: 1 in 40 random-time signals used to hang the driver for ever at exit
    (benchmarks/sweep_signals.py runs hundreds of these rounds)."""
    import random
    from concurrent.futures import ThreadPoolExecutor
    rng = random.Random(7)
    rounds = []
    for i in range(14):  # mostly while trials finish, some while workers start
        folder = tmp_path / f"r{i}"
        folder.mkdir()
        make_sweep(folder, STRESS)
        after = "runs/sweep-*/results.jsonl" if i % 3 else "runs/sweep-*/trials"
        rounds.append((folder, rng.choice([signal.SIGINT, signal.SIGTERM]), after, rng.uniform(0, 0.8)))
    with ThreadPoolExecutor(2) as pool:  # two sweeps at a time
        outcomes = list(pool.map(lambda r: stop_at_random(*r), rounds))
    for (folder, how, after, delay), out in zip(rounds, outcomes):
        what = f"{signal.Signals(how).name} {delay:.2f} s after {after} appeared: {out}"
        assert out["took"] < 5, what
        assert out["left"] == [], what
        (sweep_dir,) = folder.glob("runs/sweep-*")
        lines = (sweep_dir / "results.jsonl").read_text().splitlines() \
            if (sweep_dir / "results.jsonl").exists() else []
        rows = [json.loads(line) for line in lines]  # every line whole
        for row in rows:  # and every recorded trial's folder with it
            assert row["status"] == "ok" and (Path(row["run_dir"]) / "summary.json").is_file(), what
        # 130; or the sweep had finished: 0, or killed by the signal as Python exits (it resets
        # its handlers then)
        assert out["code"] == 130 or out["code"] in (0, -how) and len(rows) == 12 \
            and (sweep_dir / "results.csv").exists(), what
    assert sum(out["code"] == 130 for out in outcomes) >= 7
    # the same command again completes the most interrupted of them
    folder = min((r[0] for r in rounds), key=lambda f: len(list(f.glob("runs/sweep-*/trials/*"))))
    before = len(list(folder.glob("runs/sweep-*/trials/*/summary.json")))
    r = subprocess.run([backprop_exe(), "sweep", "sweep.yaml", "--workers", "2", "--json"], cwd=folder,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["statuses"] == {"ok": 12} and out["skipped"] == before and out["ran"] == 12 - before


HALF_WRITE_DRIVER = """
import sys
sys.path.insert(0, {tests!r})
from backprop_cli.sweep.local import LocalExecutor
from backprop_cli.sweep.runner import sigterm_as_interrupt
from sweep_probes import half_write
if __name__ == "__main__":
    try:
        with sigterm_as_interrupt(), LocalExecutor(1) as ex:
            for _ in ex.run(half_write, [{{"id": 0, "marker": {marker!r}}}]):
                pass
    except KeyboardInterrupt:
        sys.exit(130)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_a_result_cut_short_in_the_pipe_does_not_hang_the_stop(tmp_path, how):
    """The hang of issue 13.7, made certain: the driver holds half a result when it is
    stopped (a ProcessPoolExecutor's thread then waited for the rest for ever at exit)."""
    marker = tmp_path / "marker"
    script = write(tmp_path / "driver.py", HALF_WRITE_DRIVER.format(
        tests=str(Path(__file__).parent), marker=str(marker)))
    import sys
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), proc.stderr.read().decode() if proc.poll() is not None else "no marker"
        time.sleep(0.2)  # the driver is reading the message
        os.killpg(proc.pid, how) if how == signal.SIGINT else proc.send_signal(how)
        code = proc.wait(timeout=10)
        assert code == 130, proc.stderr.read().decode()
        assert session_after(proc.pid, 2) == []
    finally:
        kill_session(proc)
