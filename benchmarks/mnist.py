"""The MNIST configs end to end: parse time, then per config and seed the test accuracy,
test loss, epochs and wall time (the whole run, reading MNIST included).

    python benchmarks/mnist.py [--configs mnist-mlp lenet5 ...] [--seeds 0 1 2] [--mnist DIR]
    python benchmarks/mnist.py --configs lenet5 --filters docs/lenet5-filters.png

Configs by name from configs/ (default: mnist-mlp, mnist-mlp-augment, lenet5). MNIST is read
from --mnist, else $BACKPROP_MNIST_DIR, else ../shared/data/mnist beside the repository, else
the configs' own datasets/mnist/; the script says so and exits 0 when none holds the files.
Each run goes into a temporary runs folder. The README's MNIST figures are these runs;
``--filters FILE`` saves the first convolutional run's ``backprop plot RUN --filters`` picture
(the README's picture of LeNet-5's learned filters).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import backprop_cli

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"


def find_mnist(given: str | None) -> Path | None:
    for d in (given, os.environ.get("BACKPROP_MNIST_DIR"), ROOT.parent / "shared" / "data" / "mnist",
              ROOT / "datasets" / "mnist"):
        if d and (Path(d) / "train-images-idx3-ubyte.gz").is_file():
            return Path(d).resolve()
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["mnist-mlp", "mnist-mlp-augment", "lenet5"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--mnist", default=None, help="folder of the four IDX files")
    ap.add_argument("--filters", default=None, help="save the first conv run's filters here (.png)")
    args = ap.parse_args()
    mnist = find_mnist(args.mnist)
    if mnist is None:
        print("MNIST not found: see datasets/mnist/README.md; skipping")
        return 0
    from backprop_cli.data.sources import Mnist
    t = time.perf_counter()
    Mnist(dir=str(mnist)).load(".", np.random.default_rng(0))
    print(f"parse: 70,000 images from {mnist} in {time.perf_counter() - t:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs:
            for seed in args.seeds:
                r = backprop_cli.train(str(CONFIGS / f"{name}.yaml"), [f"seed={seed}", f"data.dir={mnist}"],
                                       runs_dir=tmp)
                s = r.summary
                print(f"{name} seed {seed}: test accuracy {s['test']['test_accuracy']:.2%}, test loss "
                      f"{s['test']['test_loss']:.4f}, {s['epochs']} epochs, {s['wall_time']:.1f} s",
                      flush=True)
                if args.filters and save_filters(r.run_dir, args.filters):
                    print(f"filters of {name} seed {seed}: {args.filters}")
                    args.filters = None
    return 0


def save_filters(run_dir, path) -> bool:
    """``backprop plot RUN --filters -o path``; False for a run without a conv layer."""
    from backprop_cli.cli import main
    from backprop_cli.config import load_config
    layers = load_config(Path(run_dir) / "config.yaml").data["model"]["layers"]
    if not any(layer["type"] == "conv2d" for layer in layers):
        return False
    main(["plot", str(run_dir), "--filters", "-o", str(path)], standalone_mode=False)
    return True


if __name__ == "__main__":
    sys.exit(main())
