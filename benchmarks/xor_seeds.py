"""How many seeds does configs/xor.yaml solve? Prints the count, epochs and time per run.

    python benchmarks/xor_seeds.py [--seeds 100] [--config configs/xor.yaml]

Each seed is a full `backprop_cli.train` run (metrics, checkpoints and all) into a temporary
runs folder; a seed counts as solved when the final training accuracy is 100%.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import backprop_cli

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--config", default=str(ROOT / "configs" / "xor.yaml"))
    args = ap.parse_args()
    solved, epochs, times, failed = 0, [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            t = time.perf_counter()
            r = backprop_cli.train(args.config, [f"seed={seed}"], runs_dir=tmp)
            times.append(time.perf_counter() - t)
            epochs.append(r.summary["epochs"])
            if r.summary["final"].get("train_accuracy") == 1.0:
                solved += 1
            else:
                failed.append(seed)
    print(f"{args.config}: solved {solved}/{args.seeds} seeds "
          f"(unsolved: {failed or 'none'}); epochs median {statistics.median(epochs):.0f}, "
          f"max {max(epochs)}; time per run median {statistics.median(times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
