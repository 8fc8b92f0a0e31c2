"""backprop's BackpropClassifier side by side with scikit-learn's MLPClassifier (issue 15):
test accuracy and fit time on iris, digits, breast_cancer, wine and make_moons.

    python benchmarks/sklearn_mlp.py                          # all five, 5 seeds, 1 BLAS thread
    python benchmarks/sklearn_mlp.py --datasets iris,digits --seeds 3 --epochs 100
    python benchmarks/sklearn_mlp.py --threads 2 --json figures.json   # also save every figure
    python benchmarks/sklearn_mlp.py --json                   # JSON on stdout instead of Markdown

The issue's goal: the same architecture and optimizer give accuracy within noise, and
backprop's fit is at least 1.5x faster.

**The same network and training on both sides**

- one hidden layer of 100 relu units; the output as each library makes it for classification
  (one sigmoid unit with binary cross-entropy for two classes, else softmax with
  cross-entropy), float64 throughout (MLPClassifier's arithmetic on float64 data; ``--dtype
  float32`` runs backprop in its own default precision instead);
- weights drawn from Glorot's uniform U(-r, r), r = sqrt(6 / (fan_in + fan_out)), as
  MLPClassifier draws them (``--init``: backprop's layer ``init``; ``auto`` is its own
  default, He uniform before relu). MLPClassifier draws its biases from the same range,
  backprop starts them at 0;
- Adam, lr 0.001, betas 0.9 / 0.999, eps 1e-8 (MLPClassifier adds eps to sqrt(v) before
  the bias correction, backprop after it, as PyTorch: a difference of order 1e-8 in the
  denominator);
- mini-batches of min(200, n_train), reshuffled every epoch; the same epoch count ``E`` on
  both sides, every epoch run: convergence stopping off (MLPClassifier ``max_iter=E,
  n_iter_no_change=E + 1``; BackpropClassifier ``epochs=E, n_iter_no_change=E + 1``, which
  the estimator maps to stopping.n_iter_no_change), no early stopping. Each fit's
  ``n_iter_`` is checked to equal E;
- L2 made equal per step. MLPClassifier adds 0.5·alpha·||W||² / n_batch to each batch's
  mean loss, so its gradient gains (alpha / n_batch)·W; backprop's regularization.l2 = λ
  adds λ/(2m)·Σw² with m the training-set size, a gradient of (λ / m)·W. So
  ``l2 = alpha · m / batch_size``: the same decay on every full batch (equal to alpha when
  one batch is the whole set; the last, smaller batch of an epoch gets a little more decay
  from MLPClassifier). ``--alpha`` (default 1e-4, MLPClassifier's default; 0 turns both off);
- features standardized by a StandardScaler fitted on the training part, for both.

**Data**: sklearn.datasets' bundled load_iris, load_digits, load_breast_cancer, load_wine
and make_moons(1000, noise 0.2, random_state 0); a stratified 75/25 split
(random_state 0). **Seeds**: random_state 0..S-1 for both models (initial weights and
batch order).

**Timing**: ``time.perf_counter`` around ``fit`` alone (the scaler and predict outside).
Before a data set's timed fits, each model is fitted once for 2 epochs (a warm-up: imports,
first-call caches). For each seed the two models' fits alternate in order (backprop first,
then MLPClassifier first at the next repeat) so that a slow spell of a shared machine
hits both; each fit is repeated ``--repeats`` times and the best kept (the same seed gives
the same model each time). The table shows the median over seeds of those best times, and
the speed-up is MLPClassifier's median over backprop's. Both libraries multiply matrices
with numpy's BLAS: its threads are limited to ``--threads`` (default 1) with threadpoolctl,
and the report names the library, kernel and thread count.

**Within noise**: |mean accuracy difference| ≤ max(2 × the larger of the two standard
deviations over seeds, 1 percentage point, one test example), the last since a test set of
38 examples (iris) cannot tell apart accuracies closer than 1/38.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling bench.py, wherever run from
import bench  # noqa: E402  (versions, git_state)

DATASETS = ("iris", "digits", "breast_cancer", "wine", "moons")
DEFAULT_EPOCHS = 200
BATCH = 200


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of a data set by name: one of sklearn's bundled ones, or make_moons."""
    from sklearn import datasets
    if name == "moons":
        return datasets.make_moons(n_samples=1000, noise=0.2, random_state=0)
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    return getattr(datasets, f"load_{name}")(return_X_y=True)


def split(X, y) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A stratified 75/25 split, standardized with the training part's statistics."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                        random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def models(n_train: int, epochs: int, seed: int, alpha: float = 1e-4, init: str = "xavier_uniform",
           dtype: str = "float64"):
    """(BackpropClassifier, MLPClassifier) with the same network and training (see the
    module docstring): backprop's l2 = alpha · n_train / batch."""
    from sklearn.neural_network import MLPClassifier

    from backprop_cli.sklearn import BackpropClassifier
    batch = min(BATCH, n_train)
    backprop = BackpropClassifier(
        layers=[{"units": 100, "activation": "relu", "init": init}], optimizer="adam", lr=0.001,
        batch_size=batch, epochs=epochs, l2=alpha * n_train / batch, shuffle=True,
        early_stopping=False, n_iter_no_change=epochs + 1, dtype=dtype, random_state=seed)
    mlp = MLPClassifier(
        hidden_layer_sizes=(100,), activation="relu", solver="adam", learning_rate_init=0.001,
        beta_1=0.9, beta_2=0.999, epsilon=1e-8, batch_size=batch, max_iter=epochs, alpha=alpha,
        shuffle=True, early_stopping=False, n_iter_no_change=epochs + 1, random_state=seed)
    return backprop, mlp


def timed_fit(model, X, y) -> float:
    """Seconds of ``model.fit(X, y)`` (its ConvergenceWarning at the epoch limit silenced:
    every epoch is meant to run)."""
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        model.fit(X, y)
        return time.perf_counter() - t


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def compare(name: str, seeds: int = 5, epochs: int | None = None, repeats: int = 3,
            alpha: float = 1e-4, init: str = "xavier_uniform", dtype: str = "float64") -> dict:
    """Both models on one data set: accuracy and fit time per seed, and their summary."""
    X_train, X_test, y_train, y_test = split(*load(name))
    n = len(X_train)
    epochs = epochs or DEFAULT_EPOCHS
    for model in models(n, min(epochs, 2), 0, alpha, init, dtype):  # warm-up
        timed_fit(model, X_train, y_train)
    per = {"backprop": {"accuracy": [], "seconds": []}, "mlp": {"accuracy": [], "seconds": []}}
    for seed in range(seeds):
        best = {"backprop": math.inf, "mlp": math.inf}
        for r in range(repeats):
            pair = dict(zip(("backprop", "mlp"), models(n, epochs, seed, alpha, init, dtype)))
            for key in (("backprop", "mlp") if (seed * repeats + r) % 2 == 0 else ("mlp", "backprop")):
                model = pair[key]
                best[key] = min(best[key], timed_fit(model, X_train, y_train))
                if model.n_iter_ != epochs:
                    raise RuntimeError(f"{name}: {key} stopped after {model.n_iter_} of {epochs} epochs")
            if r == 0:
                for key, model in pair.items():
                    per[key]["accuracy"].append(float(model.score(X_test, y_test)))
        for key in per:
            per[key]["seconds"].append(best[key])
    row = {"dataset": name, "n_train": n, "n_test": len(X_test), "features": X_train.shape[1],
           "classes": len(np.unique(y_train)), "epochs": epochs, "batch_size": min(BATCH, n),
           "seeds": seeds, "repeats": repeats}
    for key, r in per.items():
        mean, std = mean_std(r["accuracy"])
        row[key] = {**r, "accuracy_mean": mean, "accuracy_std": std,
                    "fit_seconds": statistics.median(r["seconds"])}
    row["speedup"] = row["mlp"]["fit_seconds"] / row["backprop"]["fit_seconds"]
    diff = row["backprop"]["accuracy_mean"] - row["mlp"]["accuracy_mean"]
    noise = max(2 * max(row["backprop"]["accuracy_std"], row["mlp"]["accuracy_std"]), 0.01,
                1 / len(X_test))
    row.update(accuracy_difference=diff, noise=noise, within_noise=abs(diff) <= noise)
    return row


# -- the environment ----------------------------------------------------------------------------
def thread_limit(threads: int):
    """threadpoolctl's limit on every BLAS/OpenMP pool (a no-op context when not installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads)


def blas_info() -> list[dict] | None:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    keys = ("internal_api", "version", "architecture", "num_threads")
    return [{k: i.get(k) for k in keys} | {"library": Path(i["filepath"]).name}
            for i in threadpool_info()]


def versions() -> dict:
    return bench.versions(("numpy", "scikit-learn", "backprop-cli", "threadpoolctl"))


git_state = bench.git_state  # the commit backprop_cli was measured at


def run(datasets=DATASETS, seeds: int = 5, epochs: int | None = None, threads: int = 1,
        repeats: int = 3, alpha: float = 1e-4, init: str = "xavier_uniform", log=None,
        dtype: str = "float64") -> dict:
    """Every data set's :func:`compare`, under a BLAS thread limit, with the environment."""
    import sklearn.neural_network  # noqa: F401  (numpy's BLAS loaded before limiting it)

    import backprop_cli.sklearn  # noqa: F401
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpus": os.cpu_count(),
              "versions": versions(), "backprop_commit": git_state(),
              "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
              "load_average_start": os.getloadavg()[0], "threads": threads, "alpha": alpha,
              "init": init, "dtype": dtype, "rows": []}
    with thread_limit(threads):
        report["blas"] = blas_info()
        for name in datasets:
            if log:
                log(f"{name} ...")
            report["rows"].append(compare(name, seeds, epochs, repeats, alpha, init, dtype))
    report["load_average_end"] = os.getloadavg()[0]
    speedups = [r["speedup"] for r in report["rows"]]
    report["geomean_speedup"] = math.exp(statistics.fmean(math.log(s) for s in speedups))
    report["all_within_noise"] = all(r["within_noise"] for r in report["rows"])
    return report


# -- the report -----------------------------------------------------------------------------------
def pct(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def ms(seconds: float) -> str:
    return f"{1000 * seconds:,.0f} ms" if seconds >= 0.1 else f"{1000 * seconds:.1f} ms"


def markdown(report: dict) -> str:
    """The report as text: the set-up, a Markdown table of the data sets, the verdicts."""
    rows = report["rows"]
    if report["blas"] is None:
        blas = "threads not limited (threadpoolctl not installed)"
    else:
        blas = "; ".join(f"{b['internal_api']} {b['version']} {b['architecture']}, "
                         f"{b['num_threads']} thread(s)" for b in report["blas"])
    seeds, repeats = (rows[0]["seeds"], rows[0]["repeats"]) if rows else (0, 0)
    lines = [
        f"BackpropClassifier vs MLPClassifier, {report['date']}, {report['cpus']} CPUs, "
        + ", ".join(f"{k} {x}" for k, x in report["versions"].items() if x),
        (f"backprop_cli at {report['backprop_commit']}; BLAS: {blas}; load average "
         f"{report['load_average_start']:.2f} at the start, {report['load_average_end']:.2f} at the end"),
        (f"hidden (100,) relu, {report['init']} init, Adam lr 0.001, batch min(200, n), alpha "
         f"{report['alpha']:g} (backprop l2 = alpha·n/batch), backprop in "
         f"{report.get('dtype', 'float64')} (MLPClassifier in float64), standardized; {seeds} "
         f"seeds; fit time: median over seeds of the best of {repeats}"),
    ]
    if any(report["env"].values()):
        lines.append("note: " + ", ".join(f"{k}={x}" for k, x in report["env"].items() if x)
                     + " is set, which may pick a slower numpy kernel")
    header = ("data set", "n train", "features", "classes", "epochs", "accuracy backprop (%)",
              "accuracy MLPClassifier (%)", "fit backprop", "fit MLPClassifier", "speed-up")
    lines += ["", "| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    for r in rows:
        b, m = r["backprop"], r["mlp"]
        cells = (r["dataset"], r["n_train"], r["features"], r["classes"], r["epochs"],
                 pct(b["accuracy_mean"], b["accuracy_std"]), pct(m["accuracy_mean"], m["accuracy_std"]),
                 ms(b["fit_seconds"]), ms(m["fit_seconds"]), f"{r['speedup']:.2f}×")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    g = report["geomean_speedup"]
    slow = ", ".join(r["dataset"] for r in rows if r["speedup"] < 1.5) or "no data set"
    verdicts = "; ".join(f"{r['dataset']} {'yes' if r['within_noise'] else 'NO'} (Δ "
                         f"{100 * r['accuracy_difference']:+.1f} pp, noise {100 * r['noise']:.1f})"
                         for r in rows)
    goal = "met" if g >= 1.5 else "missed"
    lines += ["", f"geometric-mean speed-up: {g:.2f}× (goal ≥ 1.5×: {goal}; below 1.5× on {slow})",
              "accuracy within noise (|Δ mean| ≤ max(2 × larger std, 1 pp, one test example)): "
              + verdicts]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(DATASETS),
                    help=f"comma-separated, some of {','.join(DATASETS)} (default all)")
    ap.add_argument("--seeds", type=int, default=5, help="random_state 0..S-1 for both (default 5)")
    ap.add_argument("--epochs", type=int, default=None, help=f"epochs for both (default {DEFAULT_EPOCHS})")
    ap.add_argument("--repeats", type=int, default=3, help="timed fits per seed, best kept (default 3)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for both (default 1)")
    ap.add_argument("--alpha", type=float, default=1e-4, help="MLPClassifier's alpha; backprop's "
                    "l2 = alpha·n/batch (default 1e-4)")
    ap.add_argument("--init", default="xavier_uniform", help="backprop's weight init (default "
                    "xavier_uniform, MLPClassifier's Glorot uniform; auto: backprop's default)")
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                    help="backprop's dtype (default float64, MLPClassifier's arithmetic; float32 "
                         "is the estimator's own default)")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="save every figure (each seed's) to FILE; without FILE, print JSON "
                         "instead of the table")
    a = ap.parse_args(argv)
    names = [d.strip() for d in a.datasets.split(",") if d.strip()]
    for name in names:
        if name not in DATASETS:
            ap.error(f"--datasets: unknown data set {name!r}; expected some of {', '.join(DATASETS)}")
    if min(a.seeds, a.repeats, a.threads) < 1 or (a.epochs is not None and a.epochs < 1):
        ap.error("--seeds, --repeats, --threads and --epochs must be at least 1")
    report = run(names, a.seeds, a.epochs, a.threads, a.repeats, a.alpha, a.init,
                 log=lambda msg: print(msg, file=sys.stderr, flush=True), dtype=a.dtype)
    if a.json == "-":
        print(json.dumps(report, indent=1))
        return 0
    print(markdown(report))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
