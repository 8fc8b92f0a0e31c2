"""The alternatives issue 18 named for using every core, measured against what backprop does.

    python benchmarks/threading_alternatives.py [--threads 2] [--rounds 5] [--only split,numexpr,gather,timeout]

What backprop does at N threads: OpenBLAS threads each matrix product over N cores, and the
flat optimizer update of Adam, AdamW, RMSprop and Adagrad runs in 64K-entry blocks on
backprop's pool (training/optimizers.py). The alternatives, each timed against that, on W3
(784-256-128-10, batch 128) and W4 (784-1024-1024-10, batch 512) shapes, float32, interleaved
rounds, best round reported:

- split: the whole step split over threads: each thread runs forward and backward on its
  share of the batch's rows through a replica of the network (the same weights, its own
  gradients and caches) with OpenBLAS at one thread, and the gradients are summed. Timed:
  forward + loss + backward (+ the sum), against one step with OpenBLAS at N threads and at 1.
- numexpr: Adam's update as three fused numexpr expressions (numexpr's own N threads), against
  backprop's Adam; the weights must come out bit-identical (float32 constants throughout).
- gather: the batch gather X.take(idx, 0) (training/trainer.py) against the same rows copied
  in 128 KiB chunks on backprop's pool (``np.take(..., out=)`` per chunk), MNIST-sized X.
- timeout: whole W3 training chunks (bench.py's runner: Adam on the pool) in child processes
  with and without OPENBLAS_THREAD_TIMEOUT=16 (OpenBLAS reads it at load; its idle threads
  then sleep after ~2^16 cycles instead of spinning for ~2^28), samples/s.

Prints one line per comparison; nothing here is a test (tests/ check correctness only).
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backprop_cli.engine import threads  # noqa: E402
from backprop_cli.engine.layers import Dense  # noqa: E402
from backprop_cli.engine.network import build_network  # noqa: E402
from backprop_cli.engine.parameter import Parameter, flatten  # noqa: E402

SHAPES = {"W3": ((256, 128), 128), "W4": ((1024, 1024), 512)}


def network(hidden):
    specs = [{"type": "dense", "units": h, "activation": "relu"} for h in hidden]
    specs.append({"type": "dense", "units": 10, "activation": "softmax"})
    return build_network(specs, 784, "cross_entropy", np.float32, np.random.default_rng(0),
                         np.random.default_rng(1))


def replica(net):
    """A network with ``net``'s weights (the same arrays) and its own gradients and caches;
    returns it and its flat gradient array (in the order of net's)."""
    r = copy.copy(net)
    r.layers = [copy.copy(layer) for layer in net.layers]
    r.loss = copy.copy(net.loss)
    params = []
    for layer in r.layers:
        if isinstance(layer, Dense):
            for attr in ("W", "b"):
                p = getattr(layer, attr)
                q = Parameter(p.name, p.value)
                setattr(layer, attr, q)
                params.append(q)
    grad = np.zeros(sum(q.value.size for q in params), np.float32)
    start = 0
    for q in params:
        q.grad = grad[start:start + q.value.size].reshape(q.value.shape)
        start += q.value.size
    return r, grad


def split(n_threads: int, rounds: int) -> None:
    pool = ThreadPoolExecutor(max(1, n_threads - 1))
    for name, (hidden, bs) in SHAPES.items():
        net = network(hidden)
        replicas = [replica(net) for _ in range(n_threads - 1)]
        grad = net.trainable_parameters()[0].grad.base
        rng = np.random.default_rng(2)
        X = rng.standard_normal((bs, 784)).astype(np.float32)
        Y = np.eye(10, dtype=np.float32)[np.arange(bs) % 10]
        cut = np.linspace(0, bs, n_threads + 1).astype(int)

        def whole():
            net.train_step_gradients(X, Y)

        def parts():
            futures = [pool.submit(r.forward, X[cut[i + 1]:cut[i + 2]], True)
                       for i, (r, _) in enumerate(replicas)]
            z = np.concatenate([net.forward(X[:cut[1]], True)] + [f.result() for f in futures])
            net.loss.forward(z, Y)
            delta = net.loss.backward()
            futures = [pool.submit(r.backward, delta[cut[i + 1]:cut[i + 2]], False)
                       for i, (r, _) in enumerate(replicas)]
            net.backward(delta[:cut[1]], input_grad=False)
            for f in futures:
                f.result()
            for _, g in replicas:
                np.add(grad, g, out=grad)

        steps = 300 if name == "W3" else 12
        variants = [(f"one step, OpenBLAS {n_threads} threads", whole, n_threads),
                    ("one step, OpenBLAS 1 thread", whole, 1),
                    (f"split over {n_threads} threads, OpenBLAS 1 thread each", parts, 1)]
        best = {label: math.inf for label, _, _ in variants}
        for _ in range(rounds):
            for label, fn, t in variants:
                threads.set_threads(t)
                fn()
                t0 = time.perf_counter()
                for _ in range(steps):
                    fn()
                best[label] = min(best[label], (time.perf_counter() - t0) / steps)
        threads.set_threads(n_threads)
        base = best[variants[0][0]]
        print(f"split {name} (batch {bs}), forward + loss + backward, best of {rounds} rounds:")
        for label, _, _ in variants:
            print(f"  {best[label] * 1e6:9.0f} µs  {base / best[label]:5.2f}× the first  {label}")


def numexpr_adam(n_threads: int, rounds: int) -> None:
    try:
        import numexpr as ne
    except ImportError:
        print("numexpr: not installed (pip install numexpr), skipped")
        return
    from backprop_cli.training.optimizers import Adam
    threads.set_threads(n_threads)
    ne.set_num_threads(n_threads)
    f32 = np.float32
    for name, size in (("W3", 235_146), ("W4", 1_863_690)):
        rng = np.random.default_rng(0)
        p = Parameter("0.W", rng.standard_normal(size).astype(np.float32))
        flatten([p])
        opt = Adam([p], lr=1e-3)
        b1, b2, eps, lr = opt.beta1, opt.beta2, opt.eps, opt.lr
        w, m, v = p.value.copy(), np.zeros(size, np.float32), np.zeros(size, np.float32)
        g = rng.standard_normal(size).astype(np.float32)
        t = [0]

        def fused():
            t[0] += 1
            k = t[0]
            names = {"w": w, "m": m, "v": v, "g": g, "w1": f32(1 - b1), "bb2": f32(b2),
                     "w2": f32(1 - b2), "ss": f32(lr / (1 - b1 ** k)),
                     "c2": f32(math.sqrt(1 - b2 ** k)), "e": f32(eps)}
            ne.evaluate("m + w1 * (g - m)", local_dict=names, out=m)  # torch.lerp_, weight < 0.5
            ne.evaluate("bb2 * v + (w2 * g) * g", local_dict=names, out=v)
            ne.evaluate("w - (m * ss) / (sqrt(v) / c2 + e)", local_dict=names, out=w)

        p.grad[...] = g
        for _ in range(3):
            opt.step()
            fused()
        same = np.array_equal(p.value, w)
        steps = 200 if name == "W3" else 30
        best = {"backprop": math.inf, "numexpr": math.inf}
        for _ in range(rounds):
            for label, fn in (("backprop", opt.step), ("numexpr", fused)):
                t0 = time.perf_counter()
                for _ in range(steps):
                    fn()
                best[label] = min(best[label], (time.perf_counter() - t0) / steps)
        print(f"numexpr {name} Adam update of {size:,} float32 weights, {n_threads} threads, best "
              f"of {rounds}: backprop {best['backprop'] * 1e6:.0f} µs, numexpr "
              f"{best['numexpr'] * 1e6:.0f} µs ({best['backprop'] / best['numexpr']:.2f}×); "
              f"bit-identical after 3 steps: {same}")


def gather(n_threads: int, rounds: int) -> None:
    X = np.random.default_rng(0).standard_normal((60_000, 784)).astype(np.float32)
    rng = np.random.default_rng(1)
    per = (1 << 17) // (X.itemsize * X.shape[1])  # rows per 128 KiB chunk

    def chunked(idx):
        out = np.empty((len(idx), X.shape[1]), X.dtype)
        threads.run(lambda i, _: np.take(X, idx[i * per:(i + 1) * per], axis=0,
                                         out=out[i * per:(i + 1) * per], mode="clip"),
                    -(-len(idx) // per))
        return out

    threads.set_threads(n_threads)
    for bs in (128, 512):
        best = {"one take": math.inf, f"chunks on {n_threads} threads": math.inf}
        for _ in range(rounds):
            for label, fn in (("one take", lambda idx: X.take(idx, 0)),
                              (f"chunks on {n_threads} threads", chunked)):
                batches = [rng.permutation(len(X))[:bs] for _ in range(200)]
                t0 = time.perf_counter()
                for idx in batches:
                    fn(idx)
                best[label] = min(best[label], (time.perf_counter() - t0) / len(batches))
        print(f"gather of {bs} random rows of a 60,000 x 784 float32 array, best of {rounds}: "
              + ", ".join(f"{label} {v * 1e6:.0f} µs" for label, v in best.items()))


CHILD = """
import sys, tempfile
from pathlib import Path
sys.path.insert(0, {bench!r})
import bench
from threadpoolctl import threadpool_limits
with tempfile.TemporaryDirectory() as folder, threadpool_limits(limits={threads}):
    runner = bench.BackpropRunner(bench.WORKLOADS["W3"], Path(folder))
    runner.chunk(1)
    best = max(runner.chunk(2).samples_per_s for _ in range(3))
print(best)
"""


def timeout(n_threads: int, rounds: int) -> None:
    code = CHILD.format(bench=str(ROOT / "benchmarks"), threads=n_threads)
    results = {"default": [], "OPENBLAS_THREAD_TIMEOUT=16": []}
    for _ in range(rounds):
        for label in results:
            env = dict(os.environ)
            env.pop("OPENBLAS_THREAD_TIMEOUT", None)
            if label != "default":
                env["OPENBLAS_THREAD_TIMEOUT"] = "16"
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True)
            if out.returncode:
                raise SystemExit(f"timeout: the child process failed:\n{out.stderr}")
            results[label].append(float(out.stdout.split()[-1]))
    base = max(results["default"])
    print(f"timeout: W3 training chunks at {n_threads} threads, best of {rounds} child processes "
          "(each the best of 3 two-epoch chunks):")
    for label, values in results.items():
        print(f"  {max(values):9,.0f} samples/s  {max(values) / base:5.2f}× default  {label}  "
              f"(all: {', '.join(f'{v:,.0f}' for v in values)})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default="split,numexpr,gather,timeout")
    a = ap.parse_args(argv)
    which = [w.strip() for w in a.only.split(",")]
    print(f"{a.threads} threads; OpenBLAS at {threads.num_threads()} before; load average "
          f"{os.getloadavg()[0]:.2f}")
    for name, fn in (("split", split), ("numexpr", numexpr_adam), ("gather", gather),
                     ("timeout", timeout)):
        if name in which:
            fn(a.threads, a.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
