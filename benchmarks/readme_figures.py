"""Every measured figure in README.md, measured again and printed beside the README's value.

    python benchmarks/readme_figures.py [--group test|slow|timing] [--timings] [--mnist DIR]

Each figure is found in README.md by a pattern (so a reworded sentence is an error here, not
a figure nobody checks) and measured by running what the README says produced it:

- test: quick runs of the shipped configs, the explain example, a sweep's trial count, the
  command's defaults. tests/test_readme_figures.py checks these on every test run.
- slow: the 100 seeds of configs/xor.yaml, the MNIST run (when MNIST is found: --mnist, else
  $BACKPROP_MNIST_DIR, else ../shared/data/mnist), the optimizers against PyTorch.
- timing: wall times and speed ratios, which depend on the machine and its load: printed,
  and counted as a disagreement only with --timings (within a factor 2 agrees).

The Performance section's throughput table, GEMM peaks, start-up and memory figures are
benchmarks/bench.py's output at the commit the README names; they are listed here with that
source and not rerun (bench.py takes about 10 minutes on 2 cores).

Exit status 0 when every figure compared agrees, 1 when one does not.
"""
from __future__ import annotations

import argparse
import atexit
import functools
import inspect
import math
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONFIGS = ROOT / "configs"


# ---------------------------------------------------------------------------------------------
# what is measured
@functools.cache
def _runs_dir() -> str:
    tmp = tempfile.mkdtemp(prefix="readme-figures-")
    atexit.register(shutil.rmtree, tmp, True)
    return tmp


@functools.cache
def summary(config: str, *overrides: str) -> dict:
    """summary.json of ``backprop train configs/<config>.yaml [--set ...]``, trained once."""
    import backprop_cli
    return backprop_cli.train(str(CONFIGS / f"{config}.yaml"), list(overrides),
                              runs_dir=_runs_dir()).summary


def final(config: str, key: str) -> float:
    return summary(config)["final"][key]


def restarts_xor() -> list[float]:
    """attempt 1 stalls at log 2 (its loss is ln 2: e^loss = 2); the attempt that reaches the
    target loss."""
    attempts = summary("restarts-xor")["attempts"]
    reached = [a["attempt"] for a in attempts if a["end"].startswith("target loss reached")]
    return [attempts[0]["attempt"], math.exp(attempts[0]["train_loss"]), *reached]


def pretrain_finetune() -> list[float]:
    """configs/lessons/pretrain.yaml's test accuracy, then finetune.yaml's: on its layers 0
    and 1 (the --set of the lesson's header), alone (those layers frozen at random), and with
    every layer trained from scratch."""
    pre = summary("lessons/pretrain")
    init = f"model.init_from={{path: {pre['run_dir']}/checkpoints/last.npz, layers: [0, 1]}}"

    def accuracy(*overrides):
        return summary("lessons/finetune", *overrides)["test"]["test_accuracy"]
    return [pre["test"]["test_accuracy"], accuracy(init), accuracy(),
            accuracy("model.layers.0.freeze=false", "model.layers.1.freeze=false")]


def note_000() -> list[float]:
    from backprop_cli.explain.expr import explain
    g = explain("exp(x*z) + x*z/log(x) + sin(log(x))/(x*z)", {"x": 2.0, "z": 3.0}).gradient
    return [g["x"], g["z"]]


def sweep_trials() -> list[int]:
    from backprop_cli.sweep.runner import run_sweep
    return [len(run_sweep(CONFIGS / "sweeps" / "xor-lr.yaml", dry_run=True).trials)]


def cli_default(command: str, option: str):
    from backprop_cli.cli import main
    return next(p.default for p in main.commands[command].params if p.name == option)


def checkpoint_seconds() -> list[float]:
    from backprop_cli.api import RunRecorder
    return [inspect.signature(RunRecorder).parameters["checkpoint_seconds"].default]


def health_every() -> list[int]:
    from backprop_cli.console import ProgressBar
    return [inspect.signature(ProgressBar).parameters["health_every"].default]


def health_factor() -> list[float]:
    from backprop_cli.training.health import GRAD_FACTOR
    return [GRAD_FACTOR]


@functools.cache
def deep_sigmoid_health() -> list[float]:
    """A 9-layer sigmoid net's first epoch: the first layer's gradient norm over the output
    layer's (an upper bound in the README), and how many layers are vanishing."""
    import json

    import backprop_cli
    layers = [{"units": 16, "activation": "sigmoid"}] * 8 + [{"units": 1, "activation": "sigmoid"}]
    cfg = {"data": {"source": "moons", "n": 200, "noise": 0.1}, "model": {"layers": layers},
           "loss": "bce", "optimizer": {"name": "sgd", "lr": 0.5},
           "training": {"epochs": 1, "batch_size": 32}, "output": {"health": True}}
    run = backprop_cli.train(cfg, runs_dir=_runs_dir()).run_dir
    lines = [json.loads(line) for line in (run / "health.jsonl").read_text().splitlines()]
    return [lines[0]["grad_ratio"], sum(r["verdict"] == "vanishing" for r in lines)]


def test_source(name: str, pattern: str) -> list[float]:
    """Numbers a test asserts, read from its source (the README quotes them)."""
    text = (ROOT / "tests" / name).read_text()
    m = re.search(pattern, text)
    if not m:
        raise LookupError(f"tests/{name}: no match for {pattern!r}")
    return [float(g) for g in m.groups()]


def xor_seeds() -> list[float]:
    """configs/xor.yaml solved (100% training accuracy) for how many of seeds 0-99."""
    solved = sum(summary("xor", f"seed={s}")["final"].get("train_accuracy") == 1.0 for s in range(100))
    return [solved, 99]


def mnist_dir() -> Path | None:
    for d in (os.environ.get("BACKPROP_README_MNIST"), os.environ.get("BACKPROP_MNIST_DIR"),
              ROOT.parent / "shared" / "data" / "mnist"):
        if d and (Path(d) / "train-images-idx3-ubyte.gz").is_file():
            return Path(d).resolve()
    return None


class Skip(Exception):
    """The figure cannot be measured here (data or a package missing)."""


@functools.cache
def mnist() -> dict:
    d = mnist_dir()
    if d is None:
        raise Skip("MNIST not found (--mnist DIR)")
    import numpy as np

    from backprop_cli import api
    from backprop_cli.config import load_config
    from backprop_cli.data.sources import Mnist
    t = time.perf_counter()
    Mnist(dir=str(d)).load(".", np.random.default_rng(0))
    parse = time.perf_counter() - t
    cfg = load_config(CONFIGS / "mnist-mlp.yaml", [f"data.dir={d}"])
    t = time.perf_counter()
    s = api.setup(cfg)
    read = time.perf_counter() - t
    n = len(s.splits.train.X) + len(s.splits.test.X) + (len(s.splits.val.X) if s.splits.val else 0)
    del s
    run = summary("mnist-mlp", f"data.dir={d}")
    return {"parse": parse, "read": read, "images": n, "summary": run}


def mnist_run(config: str) -> dict:
    """summary.json of configs/<config>.yaml trained on MNIST (skipped without MNIST)."""
    d = mnist_dir()
    if d is None:
        raise Skip("MNIST not found (--mnist DIR)")
    return summary(config, f"data.dir={d}")


def conv_table(config: str) -> list[float]:
    """The README's row of an MNIST config: test accuracy and epochs."""
    s = mnist_run(config)
    return [s["test"]["test_accuracy"], s["epochs"]]


def mnist_table() -> list[float]:
    s = mnist()["summary"]
    return [s["test"]["test_accuracy"], s["n_test"], s["test"]["test_loss"], s["epochs"]]


def load_parameters(config: str) -> int:
    """The parameter count of configs/<config>.yaml's network on MNIST's 1×28×28 images,
    from the engine's shape function (no data read)."""
    import yaml

    from backprop_cli.engine.blocks import summary as layer_summary
    layers = yaml.safe_load((CONFIGS / f"{config}.yaml").read_text())["model"]["layers"]
    return sum(row["params"] for row in layer_summary(layers, (1, 28, 28)))


def mnist_times() -> list[float]:
    """The run's wall time (beside the README's idle and busy figures), per epoch, parsing
    the IDX files, and reading, converting and scaling them."""
    m = mnist()
    s = m["summary"]
    return [s["wall_time"], s["wall_time"] / s["epochs"], s["wall_time"], m["parse"], m["read"]]


def torch_agreement() -> list[float]:
    """The largest |backprop - PyTorch| over tests/test_torch_equivalence.py's cases."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise Skip("PyTorch is not installed (pip install '.[oracle]')") from None
    import importlib.util
    spec = importlib.util.spec_from_file_location("torch_equivalence",
                                                  ROOT / "tests" / "test_torch_equivalence.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return [max(mod.max_difference(name, opts)[0] for name, opts in mod.CASES)]


def gemm_ratio() -> list[float]:
    """float32 over float64 matrix-product rate (2048 x 2048, best of 5)."""
    import numpy as np
    rates = []
    for dtype in (np.float32, np.float64):
        a = np.random.default_rng(0).random((2048, 2048)).astype(dtype)
        a @ a
        best = min(_timed(lambda: a @ a) for _ in range(5))
        rates.append(1 / best)
    return [rates[0] / rates[1]]


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def sklearn_dtypes() -> list[float]:
    """One W4 epoch of scikit-learn's MLPClassifier (bench.py's settings) with the data in
    float64, then in float32: samples/s (each after a first epoch)."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise Skip("scikit-learn is not installed (pip install '.[oracle]')") from None
    import importlib.util

    import numpy as np
    spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = bench
    spec.loader.exec_module(bench)
    w = bench.WORKLOADS["W4"]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        bench.write_data(w, Path(tmp))
        for dtype in (np.float64, np.float32):
            runner = bench.SklearnRunner(w, Path(tmp))
            runner.X = runner.X.astype(dtype)
            runner.chunk(1)
            c = runner.chunk(2)
            out.append(c.samples / c.seconds)
    return out


def sweep_seconds() -> list[float]:
    from backprop_cli.sweep.runner import run_sweep
    t = time.perf_counter()
    run_sweep(CONFIGS / "sweeps" / "xor-lr.yaml", runs_dir=Path(_runs_dir()) / "sweeps", workers=2)
    return [time.perf_counter() - t]


# ---------------------------------------------------------------------------------------------
# the figures
@dataclass(frozen=True)
class Figure:
    name: str
    pattern: str            # on README.md; a space matches any run of whitespace
    measure: Callable[[], list]
    group: str = "test"     # test, slow, timing
    bound: bool = False     # the README's figure is an upper bound ("measured ≤ 6e-16")

    def find(self, readme: str) -> list[str]:
        """The figures as the README writes them; LookupError unless the pattern matches once."""
        rx = re.compile(self.pattern.replace(" ", r"\s+"))
        found = rx.findall(readme)
        if len(found) != 1:
            raise LookupError(f"{self.name}: the README has {len(found)} matches of {self.pattern!r} "
                              f"(update the pattern in benchmarks/readme_figures.py with the text)")
        return list(found[0]) if isinstance(found[0], tuple) else [found[0]]


WORDS = {"a fraction of a second": 1.0, "a few seconds": 10.0, "twice": 2.0}


def agrees(written: str, value: float, figure: Figure) -> bool:
    """The measured value, written as the README writes it (its decimals, a percent), is the
    README's figure; a timing is within a factor 2 (or under the bound a phrase means)."""
    if figure.group == "timing":
        if written in WORDS:
            bound = WORDS[written]
            return value <= bound if written != "twice" else 0.5 <= value / bound <= 2
        ref = float(written.replace(",", ""))
        return 0.5 <= value / ref <= 2
    text = written.replace(",", "")
    if text.endswith("%"):
        text, value = text[:-1], value * 100
    if figure.bound:
        return value <= float(text)
    if "e" in text.lower():
        return math.isclose(value, float(text), rel_tol=1e-12)
    decimals = len(text.partition(".")[2])
    return f"{value:.{decimals}f}" == text


def shown(written: str, value: float) -> str:
    if written.endswith("%"):
        return f"{value:.4%}"
    return f"{value:.6g}"


FIGURES = [
    # README, "A first config"
    Figure("xor: final training accuracy", r"It reaches (100%) accuracy",
           lambda: [final("xor", "train_accuracy")]),
    Figure("xor: a test's least number of seeds solved", r"\(a test checks at least (\d+)\)",
           lambda: test_source("test_cli.py", r"assert solved >= (\d+)")),
    # "Checking gradients" and the run's record: the command's defaults
    Figure("gradcheck --floor default", r"\(`--floor`, default ([\d.e-]+)\)",
           lambda: [cli_default("gradcheck", "floor")]),
    Figure("gradcheck --max-entries default", r"at most `--max-entries` \((\d+)\) entries",
           lambda: [cli_default("gradcheck", "max_entries")]),
    Figure("checkpoint interval without checkpoint_every", r"or at most every (\d+) seconds when that is not set",
           checkpoint_seconds),
    Figure("health shown every N epochs", r"and, every (\d+) epochs, each layer's health",
           health_every),
    Figure("health: the factor of the gradient verdicts", r"is (\d+) times smaller or less", health_factor),
    Figure("health: a 9-layer sigmoid net's first layer against its output layer",
           r"starts with a first layer's gradient norm under ([\d.e-]+) of the",
           lambda: deep_sigmoid_health()[:1], bound=True),
    Figure("health: a 9-layer sigmoid net's vanishing layers", r"its first (\d+) layers are `vanishing`",
           lambda: deep_sigmoid_health()[1:]),
    # "Training methods": the table of configs
    Figure("and-perceptron: epochs", r"\| `configs/and-perceptron.yaml` \|[^|]*\| converged at epoch (\d+) \|",
           lambda: [summary("and-perceptron")["epochs"]]),
    Figure("xor-perceptron: epochs", r"\| `configs/xor-perceptron.yaml` \|[^|]*\| stops at epoch (\d+):",
           lambda: [summary("xor-perceptron")["epochs"]]),
    Figure("sgd vs momentum spirals: epochs, training accuracy",
           r"`configs/sgd-spirals.yaml` / `momentum-spirals.yaml` \| momentum vs plain SGD, (\d+) epochs \| "
           r"train accuracy ([\d.]+%) vs ([\d.]+%) \|",
           lambda: [summary("sgd-spirals")["epochs"], final("sgd-spirals", "train_accuracy"),
                    final("momentum-spirals", "train_accuracy")]),
    Figure("adam-spirals: training accuracy", r"\| `configs/adam-spirals.yaml` \|[^|]*\| ([\d.]+%) \|",
           lambda: [final("adam-spirals", "train_accuracy")]),
    Figure("overfit / l2 / dropout: training examples, final val_loss",
           r"`configs/overfit.yaml` / `overfit-l2.yaml` / `overfit-dropout.yaml` \| (\d+) noisy moons, a large "
           r"network \| final val_loss ([\d.]+) / ([\d.]+) / ([\d.]+) \|",
           lambda: [summary("overfit")["n_train"]] + [final(c, "val_loss") for c in
                                                       ("overfit", "overfit-l2", "overfit-dropout")]),
    Figure("bagging overfit: members' mean val_loss, the ensemble's",
           r"gives members whose val_loss is ([\d.]+) on average and an ensemble whose val_loss is ([\d.]+)",
           lambda: [summary("overfit", "ensemble.members=5")[k]["val_loss"]
                    for k in ("members_mean", "ensemble")]),
    Figure("early-stopping: epochs, best epoch, its val_loss",
           r"\| `configs/early-stopping.yaml` \|[^|]*\| stops at epoch (\d+), restores epoch (\d+) "
           r"\(val_loss ([\d.]+)\) \|",
           lambda: [summary("early-stopping")["epochs"], summary("early-stopping")["best"]["epoch"],
                    summary("early-stopping")["best"]["val_loss"]]),
    Figure("restarts-xor: attempt 1's loss log 2, the attempt that reaches the target",
           r"\| `configs/restarts-xor.yaml` \|[^|]*\| attempt (\d+) stalls at log (\d+); attempt (\d+) "
           r"reaches the target \|", restarts_xor),
    # "Seeing the learning": backprop explain on note 000's example
    Figure("pre-training and fine-tuning: test accuracies",
           r"The digit classifier reaches ([\d.]+%) test accuracy; on odd or even, its frozen layers "
           r"give ([\d.]+%) test accuracy, the same layers frozen at random ([\d.]+%), and the whole "
           r"network trained from scratch on the 45 images ([\d.]+%)\.", pretrain_finetune),
    Figure("note 000: dy/dx and dy/dz", r"Note 000's example prints dy/dx = ([\d.]+) and dy/dz = ([\d.]+);",
           note_000),
    # "Sweeps"
    Figure("sweeps/xor-lr.yaml: trials", r"\(`configs/sweeps/xor-lr.yaml`, (\d+) runs of XOR", sweep_trials),
    # "Performance": what tests assert
    Figure("memory test: peak over the data, without and with a validation split",
           r"under ([\d.]+)× the data, ([\d.]+)× with a validation split",
           lambda: test_source("test_cli.py",
                               r'"val_fraction,limit", \[\(0\.0, ([\d.]+)\), \(0\.2, ([\d.]+)\)\]')),
    Figure("optimizers against PyTorch: the tests' tolerance", r"float64 \(tested to ([\d.e-]+);",
           lambda: test_source("test_torch_equivalence.py", r"assert diff < ([\d.e-]+),")),

    # slow: this script only
    Figure("xor: seeds solved of 0-99", r"does so for (\d+) of the seeds 0-(\d+)", xor_seeds, "slow"),
    Figure("MNIST: test accuracy, test images, test loss, epochs",
           r"\| \*\*([\d.]+%)\*\* \(([\d,]+) t10k images\) \| ([\d.]+) \| (\d+) \|", mnist_table, "slow"),
    Figure("MNIST: seed 0's test accuracy", r"seed 0 gives ([\d.]+%) every time",
           lambda: [mnist()["summary"]["test"]["test_accuracy"]], "slow"),
    Figure("MNIST: final training accuracy and loss",
           r"Training accuracy reaches ([\d.]+%) and training loss ([\d.]+)\.",
           lambda: [mnist()["summary"]["final"]["train_accuracy"], mnist()["summary"]["final"]["train_loss"]],
           "slow"),
    Figure("MNIST: images parsed", r"to parse all ([\d,]+) images", lambda: [mnist()["images"]], "slow"),
    # "Convolutional networks"
    Figure("digits-cnn against digits' MLP: test accuracy",
           r"`configs/digits-cnn.yaml` reaches ([\d.]+%) test accuracy in [\d,]+ parameters, where "
           r"`configs/digits.yaml`'s MLP reaches ([\d.]+%)",
           lambda: [summary("digits-cnn")["test"]["test_accuracy"], summary("digits")["test"]["test_accuracy"]]),
    Figure("digits-cnn: parameters", r"reaches [\d.]+% test accuracy in ([\d,]+) parameters",
           lambda: [summary("digits-cnn")["parameters"]]),
    Figure("lenet5: parameters", r"LeNet-5's ([\d,]+) parameters",
           lambda: [load_parameters("lenet5")]),
    *[Figure(f"{c}: test accuracy, epochs", rf"\| `configs/{c}.yaml` \|[^|]*\| \*\*([\d.]+%)\*\* \| (\d+) \|",
             functools.partial(conv_table, c), "slow")
      for c in ("lenet5", "lenet5-augment", "mnist-mlp-augment")],
    *[Figure(f"{c}: wall time", rf"\| `configs/{c}.yaml` \|[^|]*\|[^|]*\|[^|]*\| ([\d.]+) s",
             functools.partial(lambda c: [mnist_run(c)["wall_time"]], c), "timing")
      for c in ("lenet5", "lenet5-augment", "mnist-mlp-augment")],
    Figure("optimizers against PyTorch: largest difference", r"measured ≤ ([\d.e-]+)\)", torch_agreement,
           "slow", bound=True),

    # timing: printed; compared only with --timings
    Figure("xor: wall time", r"It reaches 100% accuracy in (a fraction of a second)",
           lambda: [summary("xor")["wall_time"]], "timing"),
    Figure("MNIST: wall time (idle, per epoch, busy), parse, read and scale",
           r"\| ([\d.]+) s \(([\d.]+) s an epoch\) on idle cores, at commit \w+; ([\d.]+) s with other jobs "
           r"sharing them \| ([\d.]+) s to parse all [\d,]+ images; ([\d.]+) s with float32 conversion and "
           r"scaling \(commit \w+\) \|",
           mnist_times, "timing"),
    Figure("float32 over float64 matrix products", r"as in PyTorch and Keras \((twice) the speed of float64",
           gemm_ratio, "timing"),
    Figure("xor-lr sweep (16 trials, 2 workers): wall time", r"16 runs of XOR in (a few seconds)",
           sweep_seconds, "timing"),
    Figure("scikit-learn W4 epoch: samples/s in float64 and float32",
           r"one W4 epoch of `MLPClassifier` ran at ([\d,]+) samples/s here, against ([\d,]+) in float32",
           sklearn_dtypes, "timing"),
]

# Figures not measured here, and where they come from.
SOURCES = {
    "Performance, convolutional workloads: a LeNet-5 epoch on 1 and 2 BLAS threads, 7.6 and 8.0 s":
        "OPENBLAS_NUM_THREADS=1 (2) backprop train configs/lenet5.yaml --set training.epochs=2 "
        "--json: final epoch_time, idle machine, commit 53e6f71",
    "Performance, convolutional workloads: W6/W7 throughput and ratios, W7's 57.7 MiB of columns, "
    "40% of a W7 step off the products": "benchmarks/bench.py --workloads W6,W7 --threads 1,2 and "
    "--profile W7 at commit 327dfd9 (benchmarks/README.md)",
    "Performance: throughput table, ratios, GEMM peak, % of peak, start-up, peak memory":
        "benchmarks/bench.py --json, at the commits the README names (4910109; memory: efe139e)",
    "Performance: checkpoint save 38 -> 22 ms": "a W4-size save before and after commit 0153321",
    "Performance: Adam's update a third of a W3 step": "bench.py --profile W3 before commit 42f2947",
    "Sweeps: 32 momentum-spirals trials in 5.4 s (1 worker) and 2.9 s (2 workers, 1.8x), start-up "
    "0.2-0.5 s per worker, idle between trials 0.7-4 ms (6-29 ms before)":
        "python benchmarks/sweep_scaling.py at commit 092a91c (before: 5aab326), interleaved, on the "
        "shared 2-core machine at load average 2.4-3.1 (issue 18's session)",
    "Performance: the optimizer on backprop's pool (issue 18), update times and whole-chunk A/B "
    "medians": "the update alone timed best of 40 interleaved steps (one pass vs blocks, 2 "
    "threads), and bench.py's BackpropRunner chunks with Optimizer.parallel_min switched between "
    "chunks (interleaved, best of 3-10), shared 2-core machine at load 2-3.6, commit 412c632",
    "Performance: the speed-up with threads table, its goals paragraph (and the d5d9e83 run it "
    "cites)": "benchmarks/bench.py --workloads W1,W2,W3,W4 --threads 1,2 --pairs 3 --chunk-seconds 1 "
    "--no-startup --competitors backprop,torch,torch_fused at commits 600d364 and d5d9e83, and "
    "--workloads W3,W4 --threads 2 --pairs 7 at 8713de3; the 12 "
    "W4 chunks and the 75 ms checkpoint: bench.py's BackpropRunner at 2 threads, chunk(1) x12 and "
    "cProfile of one chunk",
    "Performance: the scaling model table and its figures (p, S(2), Amdahl, Karp-Flatt; 35%/22%/20%/7%; "
    "30.4 ms per W4 step)": "python benchmarks/bench.py --profile W1,W2,W3,W4,W6,W7 --profile-steps "
    "200 at commits 600d364 (d5d9e83 for the 35% and 22%); the 16-core figures are issue 18's",
    "Performance: optimizer.fused timings (510 -> 105 us, 1,761 -> 933 us, 342 -> 94 us, "
    "4,408 -> 846 us, 106 vs 167 us, 0.3 s import, 0.5 s compile)": "bench.py --profile W3,W4 "
    "at d5d9e83 and 600d364; the update alone timed best of 3 (NumPy Adam vs fused.adam, 1 "
    "thread); the pool blocks: bench.py --profile W3 with the fused pass in blocks (before commit "
    "600d364 ran it on the training thread); import and first compile timed in a fresh process",
    "Performance: alternatives measured and not taken": "python benchmarks/threading_alternatives.py "
    "--rounds 5 (split, numexpr, gather, timeout) at commit d76d684, load average about 1",
    "Sweeps on Dask: MALLOC_TRIM_THRESHOLD_ made trials about 3x slower": "measured with commit dd88fdc",
    "Tests: PyTorch downloads, 190 MB (CPU) and about 2.7 GB (CUDA)":
        "the wheels of torch 2.13.0+cpu, and of torch 2.14.1 with the nvidia-* wheels it requires",
    "MNIST: wall times on idle cores, parse and read times": "commit 8747475 (rerun above as timings)",
    "Listing and comparing runs: 5,000 runs listed in 0.51-0.53 s (0.61-0.62 s as a command), "
    "--where on a config key 0.9-1.2 s, 18-21 s with the pure-Python loader":
        "python benchmarks/runs_list.py, best of 3, on the shared 2-core machine (issue 17's session)",
    "Lessons: the table's figures": "python benchmarks/lessons.py (deterministic: seed 0, about 3 s; "
        "tests/test_lessons.py checks each lesson's claim)",
    "From Python: BackpropClassifier beside MLPClassifier, accuracies, fit times, 2.17x and 2.83x":
        "benchmarks/sklearn_mlp.py and benchmarks/sklearn_mlp.py --dtype float32 at commit c70bb5d, "
        "1 BLAS thread, idle machine (about a minute each)",
}


# ---------------------------------------------------------------------------------------------
def check(figures, readme: str, timings: bool, out=None) -> int:
    """Print each figure beside the README's; the number that disagree (timings only with
    ``timings``); a pattern that no longer matches counts as one."""
    out = out or sys.stdout
    bad = 0
    for f in figures:
        try:
            written = f.find(readme)
            values = f.measure()
        except Skip as e:
            print(f"  skipped  {f.name}: {e}", file=out)
            continue
        except LookupError as e:
            print(f"  MISSING  {e}", file=out)
            bad += 1
            continue
        if len(values) != len(written):
            raise AssertionError(f"{f.name}: {len(written)} figures in the README, {len(values)} measured")
        for w, v in zip(written, values):
            ok = agrees(w, float(v), f)
            counted = not ok and (f.group != "timing" or timings)
            bad += counted
            mark = "ok" if ok else ("DIFFERS" if counted else "differs")
            print(f"  {mark:8} {f.name}: README {w}, measured {shown(w, float(v))}", file=out)
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--group", choices=("test", "slow", "timing"), action="append",
                    help="only these groups (repeatable; default all)")
    ap.add_argument("--timings", action="store_true", help="count timings that differ by over 2x")
    ap.add_argument("--mnist", default=None, help="folder of the four MNIST IDX files")
    ap.add_argument("--readme", default=str(README), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.mnist:
        os.environ["BACKPROP_README_MNIST"] = args.mnist
    groups = args.group or ["test", "slow", "timing"]
    readme = Path(args.readme).read_text()
    bad = 0
    for group in groups:
        print(f"{group}:")
        bad += check([f for f in FIGURES if f.group == group], readme, args.timings)
    print("not measured here:")
    for what, source in SOURCES.items():
        print(f"  {what}: {source}")
    print(f"{bad} figure(s) disagree" if bad else "every figure compared agrees")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
