"""How fast `backprop runs` lists a folder of thousands of runs (issue 17).

Trains one small real run (configs/iris.yaml, 20 epochs), then makes ``--n`` run folders from it
in a temporary folder: the run's files hard-linked (copied where links fail), each with its own
summary.json (random best/test metrics, wall time and epochs; 2% diverged, 2% interrupted) and
config.yaml (the optimizer sgd or adam, a random learning rate), and 1% without summary.json
(killed runs: their metrics.jsonl is read). Then it times, best of ``--repeats`` (warm file
cache):

- in-process: ``runlist.list_runs`` plus the plain table, the default listing, ``--sort
  -test_accuracy``, a summary key ``--where 'best.val_loss<0.2'`` and a config key ``--where
  optimizer.name=adam`` (each run's config.yaml: the optimizer's block parsed with libyaml), the
  latter also as it was before (the block with the pure-Python loader, the whole file with
  libyaml, the whole file with the pure-Python loader: the first version), and the listing
  without reading config.yaml's data lines (what the data column costs);
- as a command: ``backprop runs DIR`` (piped), ``--json``, ``--where optimizer.name=adam``.

    python benchmarks/runs_list.py              # 5,000 runs
    python benchmarks/runs_list.py --n 500 --repeats 5
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backprop_cli import api, runlist, yamlio


def link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def make_runs(base: Path, target: Path, n: int, seed: int = 0) -> None:
    """``n`` run folders in ``target`` made from the real run ``base``."""
    rng = random.Random(seed)
    summary = json.loads((base / "summary.json").read_text())
    config = (base / "config.yaml").read_text()
    t0 = datetime(2026, 1, 1, 9, 0, 0)
    target.mkdir(parents=True)
    for i in range(n):
        name = f"iris-{(t0 + timedelta(minutes=7 * i)).strftime('%Y%m%d-%H%M%S')}"
        d = target / name
        (d / "checkpoints").mkdir(parents=True)
        for f in ("data.json", "preprocessing.npz", "metrics.jsonl", "checkpoints/last.npz", "checkpoints/best.npz"):
            if (base / f).exists():
                link_or_copy(base / f, d / f)
        opt = rng.choice(["sgd", "adam"])
        lr = round(10 ** rng.uniform(-3, 0), 5)
        (d / "config.yaml").write_text(config.replace("  name: sgd\n", f"  name: {opt}\n")
                                       .replace("  lr: 0.1\n", f"  lr: {lr}\n"))
        if i % 100 == 99:  # killed: no summary.json
            continue
        s = json.loads(json.dumps(summary))
        s["run_dir"], s["name"] = str(d), name
        val_loss = rng.uniform(0.02, 1.0)
        s["best"].update(val_loss=val_loss, val_accuracy=rng.uniform(0.6, 1.0), epoch=rng.randint(1, 20))
        s["test"] = {"test_loss": val_loss * rng.uniform(0.8, 1.5), "test_accuracy": rng.uniform(0.6, 1.0)}
        s["wall_time"] = rng.uniform(0.05, 300.0)
        s["epochs"] = rng.randint(1, 20)
        s["diverged"] = i % 50 == 7
        s["interrupted"] = i % 50 == 13
        (d / "summary.json").write_text(json.dumps(s, indent=2) + "\n")


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def listing_text(folder, **kw) -> int:
    listing = runlist.list_runs(folder, **kw)
    text = runlist.render_listing(listing, terminal=False)
    return len(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=5000, help="run folders to make (default 5000)")
    ap.add_argument("--repeats", type=int, default=3, help="timings per figure; the best is kept")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="backprop-runs-bench-"))
    try:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        r = api.train(ROOT / "configs" / "iris.yaml", ["training.epochs=20"], runs_dir=tmp / "seed")
        folder = tmp / "runs"
        t = time.perf_counter()
        make_runs(r.run_dir, folder, args.n)
        print(f"{args.n} run folders made from {r.run_dir.name} in {time.perf_counter() - t:.1f} s ({folder})")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"python {sys.version.split()[0]}, libyaml {getattr(__import__('yaml'), '__with_libyaml__', False)}, "
              f"load average {load:.2f}; best of {args.repeats}, warm file cache\n")

        rows = []

        def figure(what, seconds, count=None):
            rows.append((what, seconds))
            extra = f"  ({count} rows)" if count is not None else ""
            print(f"{what:<58} {seconds:7.3f} s  {1e6 * seconds / args.n:6.0f} µs/run{extra}")

        print("in-process (runlist.list_runs + the plain table):")
        n_rows = len(runlist.list_runs(folder).rows)
        figure("default listing", best_of(args.repeats, lambda: listing_text(folder)), n_rows)
        figure("--sort -test_accuracy --limit 10",
               best_of(args.repeats, lambda: listing_text(folder, sort=["-test_accuracy"], limit=10)))
        figure("--where 'best.val_loss<0.2' (summary key)",
               best_of(args.repeats, lambda: listing_text(folder, where=["best.val_loss<0.2"])))
        n_adam = len(runlist.list_runs(folder, where=["optimizer.name=adam"]).rows)
        where = ["optimizer.name=adam"]
        figure("--where optimizer.name=adam (config key: its block, libyaml)",
               best_of(args.repeats, lambda: listing_text(folder, where=where)), n_adam)
        # before: the whole config.yaml parsed, and/or the pure-Python loader
        fast, section = yamlio.load_fast, runlist.Row.section

        def whole_file(self, name):
            return self.config.get(name, runlist.MISSING) if self.config else runlist.MISSING

        for label, loader, sect in (("its block, pure-Python YAML", yamlio.load, section),
                                    ("whole file, libyaml", fast, whole_file),
                                    ("whole file, pure-Python YAML: the first version", yamlio.load, whole_file)):
            yamlio.load_fast, runlist.Row.section = loader, sect
            try:
                figure(f"  same, {label}", best_of(1, lambda: listing_text(folder, where=where)))
            finally:
                yamlio.load_fast, runlist.Row.section = fast, section
        data_of, read_text = runlist._data_of, runlist._read_text
        runlist._read_text = lambda p: None if p.name == "config.yaml" else read_text(p)
        try:
            figure("default listing without config.yaml's data lines",
                   best_of(args.repeats, lambda: listing_text(folder)))
        finally:
            runlist._data_of, runlist._read_text = data_of, read_text

        exe = Path(sys.executable).parent / "backprop"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "backprop_cli"]
        print("\nas a command (stdout to a pipe):")
        for extra in ([], ["--json"], ["--where", "optimizer.name=adam"], ["--help"]):
            argv = cmd + (["runs", "--help"] if extra == ["--help"] else ["runs", str(folder), *extra])

            def run(argv=argv):
                p = subprocess.run(argv, capture_output=True, check=False)
                if p.returncode != 0:
                    raise SystemExit(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.decode()}")
            label = "backprop runs --help (start-up alone)" if extra == ["--help"] else \
                "backprop runs DIR " + " ".join(extra)
            figure(label, best_of(args.repeats, run))
        print(f"\nsummary: {args.n:,} runs listed in {rows[0][1]:.2f} s in-process, "
              f"{rows[-4][1]:.2f} s as a command (start-up included)")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
