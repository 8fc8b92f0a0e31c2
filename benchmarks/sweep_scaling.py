"""How a sweep of many short trials scales with workers (issue 18): 32 trials of
configs/momentum-spirals.yaml (seeds 0..31, the config's 300 epochs), run by ``run_sweep`` in
this process with 1 and 2 local workers, interleaved and repeated.

Prints per run: the sweep's wall time (the whole ``run_sweep``: validation, workers, every
trial's folder and row), the workers' start-up (from the driver starting the process to the
worker's first trial entering ``train``: spawn, interpreter, imports), the trials' own time
(sum of the trials' wall times), the number of distinct worker processes, and the BLAS threads
each trial's summary.json states. Then per worker count the best and median wall time and the
speed-up from 1 to 2 workers (best against best).

    python benchmarks/sweep_scaling.py [--trials 32] [--repeats 3] [--workers 1,2] [--epochs N]

The machine's load average is printed first and last: timings on a shared machine are noisy.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "configs" / "momentum-spirals.yaml"


def timed_trial(task: dict) -> dict:
    """run_trial, with the wall-clock time it starts training (in the worker process, after
    the imports training needs: a worker's first trial imports them)."""
    import backprop_cli.api  # noqa: F401
    from backprop_cli.sweep.trial import run_trial
    entered = time.time()
    out = run_trial(task)
    out["entered_at"], out["left_at"] = entered, time.time()
    return out


def one_sweep(folder: Path, n_trials: int, workers: int, epochs: int | None, threads: int | None = None) -> dict:
    import backprop_cli.sweep.local as local
    import backprop_cli.sweep.trial as trial
    from backprop_cli.sweep.runner import run_sweep

    seeds = ", ".join(str(i) for i in range(n_trials))
    extra = f"\n  training.epochs: {{values: [{epochs}]}}" if epochs else ""
    extra += f"\n  training.threads: {{values: [{threads}]}}" if threads else ""
    path = folder / f"spirals-{workers}w.yaml"
    path.write_text(f"base: {BASE}\nmethod: grid\nmetric: {{name: train_loss, goal: minimize}}\n"
                    f"parameters:\n  seed: {{values: [{seeds}]}}{extra}\n")
    started: dict[int, float] = {}
    original_init = local._Worker.__init__

    def init(self, *a, **k):
        t = time.time()
        original_init(self, *a, **k)
        started[self.process.pid] = t

    original_run_trial = trial.run_trial
    local._Worker.__init__, trial.run_trial = init, timed_trial
    try:
        t0 = time.perf_counter()
        res = run_sweep(path, workers=workers, runs_dir=folder / "runs", new=True)
        wall = time.perf_counter() - t0
    finally:
        local._Worker.__init__, trial.run_trial = original_init, original_run_trial
    outcomes = [json.loads((Path(row["run_dir"]) / "summary.json").read_text()) for row in res.rows.values()]
    assert len(res.rows) == n_trials and all(r["status"] == "ok" for r in res.rows.values()), res.rows
    # per worker process: its start, and its first trial's entry (caught by main's record)
    first: dict[int, float] = {}
    trial_time = sum(row.get("wall_time") or 0.0 for row in res.rows.values())
    entries = _entries()
    for pid, at, _ in entries:
        first[pid] = min(first.get(pid, at), at)
    # a worker's idle time between trials: its result sent to its next trial's start
    gaps = []
    for pid in first:
        mine = sorted((at, left) for p, at, left in entries if p == pid)
        gaps += [nxt[0] - prev[1] for prev, nxt in zip(mine, mine[1:])]
    startup = [first[p] - started[p] for p in first if p in started]
    threads = sorted({s.get("threads") for s in outcomes})
    return {"wall": wall, "startup": startup, "gap": statistics.median(gaps) if gaps else float("nan"), "trial_time": trial_time, "pids": len(first),
            "threads": threads}


_ENTRIES: list[tuple[int, float, float]] = []


def _entries() -> list[tuple[int, float, float]]:
    got = list(_ENTRIES)
    _ENTRIES.clear()
    return got


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--epochs", type=int, default=None, help="override the config's 300 epochs")
    ap.add_argument("--threads", type=int, default=None,
                    help="every trial's training.threads (default: each worker's share of the cores)")
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.workers.split(",")]

    # the sweep's rows do not carry the worker's pid or entry time: catch them as they arrive
    import backprop_cli.sweep.runner as runner
    original_record = runner.record

    def record(folder, trial, outcome, metric, seed):
        if "entered_at" in outcome:
            _ENTRIES.append((outcome["pid"], outcome["entered_at"], outcome["left_at"]))
        return original_record(folder, trial, outcome, metric, seed)
    runner.record = record

    import subprocess
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}; cpus {len(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.2f}")
    print(f"{args.trials} trials of {BASE.relative_to(ROOT)}"
          + (f" at {args.epochs} epochs" if args.epochs else "")
          + (f", training.threads {args.threads}" if args.threads else ""))
    walls: dict[int, list[float]] = {w: [] for w in counts}
    starts: dict[int, list[float]] = {w: [] for w in counts}
    with tempfile.TemporaryDirectory(prefix="sweep-scaling-") as tmp:
        for rep in range(args.repeats):
            for w in (counts if rep % 2 == 0 else counts[::-1]):
                r = one_sweep(Path(tmp), args.trials, w, args.epochs, args.threads)
                walls[w].append(r["wall"])
                starts[w].extend(r["startup"])
                print(f"  workers {w}: wall {r['wall']:.2f} s, trials' own time {r['trial_time']:.2f} s "
                      f"(wall - own time / workers: {r['wall'] - r['trial_time'] / w:.2f} s), "
                      f"{r['pids']} worker processes, idle between trials {1000 * r['gap']:.1f} ms (median), "
                      f"start-up per worker "
                      + ", ".join(f"{s:.2f}" for s in r["startup"]) + f" s, threads {r['threads']}",
                      flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")
    for w in counts:
        print(f"workers {w}: wall best {min(walls[w]):.2f} s, median {statistics.median(walls[w]):.2f} s; "
              f"start-up per worker median {statistics.median(starts[w]):.2f} s "
              f"(best {min(starts[w]):.2f})")
    if 1 in counts and len(counts) > 1:
        for w in counts:
            if w != 1:
                print(f"speed-up 1 -> {w} workers: {min(walls[1]) / min(walls[w]):.2f}x (best), "
                      f"{statistics.median(walls[1]) / statistics.median(walls[w]):.2f}x (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
