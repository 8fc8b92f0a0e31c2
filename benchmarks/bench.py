"""Throughput of backprop against PyTorch and scikit-learn on four MLP workloads (issue 7) and
two convolutional ones (issue 14).

    python benchmarks/bench.py                      # W1-W4, 1 and 2 threads, 7 pairs
    python benchmarks/bench.py --workloads W6,W7    # the conv networks
    python benchmarks/bench.py --quick              # a smoke run: 2 pairs of short chunks
    python benchmarks/bench.py --workloads W1,W3 --threads 1 --json figures.json
    python benchmarks/bench.py --profile W1,W3      # cProfile of backprop's loop, no competitors

For figures that mean something, run it with numpy's own BLAS kernel: where this machine sets
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (older OpenBLAS builds needed them), unset both in that
command alone, ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench.py``;
the report names the kernel that ran (threadpoolctl).

Workloads (synthetic data of the issue's shapes, the same arrays for every competitor):

    W1  xor truth table (4 examples), 2-4-1 sigmoid, bce, SGD lr 0.5, batch 4, float64
    W2  3-arm spirals (3200 examples), 2-64-64-3 tanh, softmax-CE, SGD lr 0.01 momentum 0.9,
        batch 32, float64
    W3  25600 MNIST-shaped examples, 784-256-128-10 relu, softmax-CE, Adam lr 1e-3, batch 128,
        float32
    W4  15360 MNIST-shaped examples, 784-1024-1024-10 relu, softmax-CE, SGD lr 0.01 momentum
        0.9, batch 512, float32
    W6  3840 MNIST-shaped 1x28x28 images, LeNet-5: conv 6@5x5 pad 2 + relu, maxpool 2, conv
        16@5x5 + relu, maxpool 2, flatten, 120 relu, 84 relu, 10; softmax-CE, SGD lr 0.01
        momentum 0.9, batch 64, float32
    W7  640 CIFAR-shaped 3x32x32 images: conv 32@3x3 pad 1 + relu, maxpool 2, conv 64@3x3 pad 1
        + relu, maxpool 2, flatten, 10; softmax-CE, Adam lr 1e-3, batch 128, float32

Competitors, each in its own process (so one's imports and buffers never count in another's
peak RSS), alive for the whole workload and driven in turn by this process:

- ``backprop``: the real ``backprop_cli.api.train`` path. The data is an .npz file and the
  config a YAML file in a temporary folder; one chunk is one ``api.train`` call with
  ``--set training.epochs=E``, so it validates the config, reads the file, builds the
  network, makes a run folder and trains with every callback ``backprop train`` uses
  (divergence check, metrics.jsonl each epoch, checkpoints every 2 s and at the end). The
  chunk's time is the training loop's, from ``on_train_begin`` to ``on_train_end`` (the final
  checkpoint included): reading the file and building the network are per-run costs, not
  per-step ones, and are reported apart as ``setup_s``.
- ``torch`` / ``torch_fused``: PyTorch on the CPU, the same layers (``nn.Sequential``), its
  loss on the logits (``BCEWithLogitsLoss``, ``CrossEntropyLoss``) and its optimizer with
  default options (``torch``) or ``fused=True`` (``torch_fused``), in a loop that does what
  backprop's does each epoch: ``randperm``, one gather per batch, ``zero_grad``, forward,
  backward, ``step``, and the epoch's loss and accuracy accumulated from the training pass.
- ``torch_cl`` (W6, W7 only): ``torch`` with the model and the images in the
  ``channels_last`` memory format (PyTorch's fastest CPU layout for convolutions here).
- ``sklearn`` (not W6, W7: it has no conv layers): ``MLPClassifier`` with the same layers, solver, batch size, learning rate and
  momentum (nesterov off, ``alpha=0``); one chunk is one ``fit`` with ``warm_start=True`` and
  ``max_iter=E`` (convergence checks disabled), sklearn's own loop with its per-epoch loss.

A competitor that is not installed is skipped, and the report says so.

Each competitor's chunk is sized (whole epochs) to run about ``--chunk-seconds``. A pair is
one chunk of every competitor, in alternating order (forward, then reversed), and its ratios
are backprop's throughput over each competitor's in that pair: the figure reported is the
median of the paired ratios, so a slow spell of this shared machine hits both sides of a
ratio. Threads are limited with threadpoolctl (and ``torch.set_num_threads``): one thread is
the primary figure, two the second.

Also reported: the float32 GEMM peak (best ``np.matmul`` of large square float32 matrices),
W4's fraction of it counting 6·P FLOPs per training sample (P = weights + biases: 2·P for the
forward pass, 4·P for the backward pass of dense layers), each competitor's peak RSS, the BLAS
kernel (threadpoolctl), start-up times of the ``backprop`` command, and the peak RSS of
``backprop train`` on MNIST-size float32 data as a multiple of the data's size. For W6 and W7:
the conv layers' products (``Workload.conv_flops`` per sample) at each competitor's throughput
as a fraction of the GEMM peak, and engine/conv.py's im2col buffers after one epoch (each
measured, beside its formula and the MAX_IM2COL_BYTES limit) with the tracemalloc peak.

``--profile`` adds, after cProfile, an unprofiled breakdown of a step at 1 and 2 threads: each
layer kind's forward and backward timed, the conv products (engine/conv.py's ``np.matmul``)
apart from the rest of the conv layers, and the share of the step in BLAS products.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMPETITORS = ("backprop", "torch", "torch_fused", "torch_cl", "sklearn")


# ---------------------------------------------------------------------------------------------
# workloads
@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    n: int                       # training examples
    n_in: int
    hidden: tuple[int, ...]
    n_out: int                   # 1: sigmoid + bce; else softmax + cross-entropy
    activation: str              # backprop's name: sigmoid, tanh, relu
    optimizer: str               # sgd or adam
    lr: float
    momentum: float
    batch: int
    dtype: str
    data: str                    # xor, spirals or pixels
    image: tuple[int, ...] = ()  # (C, H, W) of a convolutional workload, whose X is 4-D
    # each (channels, kernel, padding): a conv layer, relu, then a 2x2 max pool (stride 2);
    # after the last, flatten and the dense layers ``hidden`` and ``n_out``
    convs: tuple[tuple[int, int, int], ...] = ()

    @property
    def n_classes(self) -> int:
        return 2 if self.n_out == 1 else self.n_out

    @property
    def conv_layers(self) -> list[dict]:
        """Per conv layer: input (C, H, W), output channels O, kernel k and output (Ho, Wo)."""
        out, (C, H, W) = [], self.image or (0, 0, 0)
        for O, k, pad in self.convs:
            Ho, Wo = H + 2 * pad - k + 1, W + 2 * pad - k + 1
            out.append({"C": C, "H": H, "W": W, "O": O, "k": k, "Ho": Ho, "Wo": Wo})
            C, H, W = O, Ho // 2, Wo // 2  # the 2x2 max pool
        return out

    @property
    def flat(self) -> int:
        """Features after flatten: the last pool's output, or the input's."""
        if not self.convs:
            return self.n_in
        c = self.conv_layers[-1]
        return c["O"] * (c["Ho"] // 2) * (c["Wo"] // 2)

    @property
    def sizes(self) -> list[int]:
        """The dense layers' widths, from the input (or the flattened feature maps) on."""
        return [self.flat, *self.hidden, self.n_out]

    @property
    def parameters(self) -> int:
        s = self.sizes
        conv = sum(c["O"] * c["C"] * c["k"] ** 2 + c["O"] for c in self.conv_layers)
        return conv + sum(a * b + b for a, b in zip(s, s[1:]))

    @property
    def conv_flops(self) -> int:
        """FLOPs of the conv layers' products per training sample: 2·Ho·Wo·O·(C·k²) for
        the forward product, as much for the weight gradient and again for the input
        gradient, which the first layer does not need (neither backprop nor PyTorch
        computes it)."""
        return sum(2 * c["Ho"] * c["Wo"] * c["O"] * c["C"] * c["k"] ** 2 * (2 if i == 0 else 3)
                   for i, c in enumerate(self.conv_layers))

    def im2col_bytes(self, examples: int) -> list[dict]:
        """Per conv layer, the bytes of engine/conv.py's buffers for a batch of ``examples``:
        the padded input (n, Hp, Wp, C), the columns (n·Ho·Wo, k²·C + 1: a ones column carries
        the bias; stored transposed, ``colsT``, for layers of at most TRANSPOSED_MAX_C input
        channels) and one cache-sized chunk of their gradient (the first layer has none, as it
        computes no dE/dx)."""
        from backprop_cli.engine import conv
        size = 4 if self.dtype == "float32" else 8
        out = []
        for i, ((_, _, pad), c) in enumerate(zip(self.convs, self.conv_layers)):
            P, K = c["Ho"] * c["Wo"], c["k"] ** 2 * c["C"]
            cols = "colsT" if c["C"] <= conv.TRANSPOSED_MAX_C else "cols"
            chunk = max(1, min(examples, conv.CACHE_CHUNK_BYTES // (P * K * size)))
            out.append({"xp": examples * (c["H"] + 2 * pad) * (c["W"] + 2 * pad) * c["C"] * size,
                        cols: examples * P * (K + 1) * size, "dcols0": chunk * P * K * size if i else 0})
        return out

    @property
    def competitors(self) -> tuple[str, ...]:
        """Who runs it: scikit-learn has no conv layers; channels_last is for images only."""
        if self.convs:
            return ("backprop", "torch", "torch_cl")
        return ("backprop", "torch", "torch_fused", "sklearn")

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.n // self.batch)


WORKLOADS = {w.name: w for w in (
    Workload("W1", "xor 2-4-1 sigmoid, SGD, batch 4", 4, 2, (4,), 1, "sigmoid", "sgd", 0.5, 0.0,
             4, "float64", "xor"),
    Workload("W2", "spirals 2-64-64-3 tanh, float64, momentum, batch 32", 3200, 2, (64, 64), 3,
             "tanh", "sgd", 0.01, 0.9, 32, "float64", "spirals"),
    Workload("W3", "784-256-128-10 relu, Adam, batch 128, float32", 25600, 784, (256, 128), 10,
             "relu", "adam", 1e-3, 0.0, 128, "float32", "pixels"),
    Workload("W4", "784-1024-1024-10 relu, momentum, batch 512, float32", 15360, 784,
             (1024, 1024), 10, "relu", "sgd", 0.01, 0.9, 512, "float32", "pixels"),
    Workload("W6", "LeNet-5 1x28x28, momentum, batch 64, float32", 3840, 784, (120, 84), 10,
             "relu", "sgd", 0.01, 0.9, 64, "float32", "pixels", (1, 28, 28), ((6, 5, 2), (16, 5, 0))),
    Workload("W7", "CIFAR-shaped 3x32x32 conv 32-64, Adam, batch 128, float32", 640, 3072, (), 10,
             "relu", "adam", 1e-3, 0.0, 128, "float32", "pixels", (3, 32, 32), ((32, 3, 1), (64, 3, 1))),
)}


def make_data(w: Workload, seed: int = 0):
    """(X, y): features in the workload's dtype and class indices, the same for everyone."""
    import numpy as np
    rng = np.random.default_rng(seed)
    if w.data == "xor":
        X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
        y = np.array([0, 1, 1, 0])
    elif w.data == "spirals":
        y = np.arange(w.n) % w.n_classes
        r = rng.uniform(0.05, 1.0, w.n)
        t = 2 * np.pi * (r + y / w.n_classes)
        X = np.c_[r * np.cos(t), r * np.sin(t)] + 0.05 * rng.standard_normal((w.n, 2))
    else:  # MNIST-shaped: pixels in [0, 1] around one prototype per class
        y = rng.integers(0, w.n_classes, w.n)
        prototypes = rng.uniform(0, 1, (w.n_classes, w.n_in)).astype(np.float32)
        X = np.clip(prototypes[y] + rng.normal(0, 0.3, (w.n, w.n_in)).astype(np.float32), 0, 1)
        if w.image:
            X = X.reshape(w.n, *w.image)
    return X.astype(w.dtype), y.astype(np.int64)


def write_data(w: Workload, folder: Path) -> Path:
    import numpy as np
    path = folder / f"{w.name}.npz"
    if not path.exists():
        X, y = make_data(w)
        np.savez(path, X=X, y=y)
    return path


def load_data(w: Workload, folder: Path):
    import numpy as np
    with np.load(write_data(w, folder)) as z:
        return z["X"], z["y"]


# ---------------------------------------------------------------------------------------------
# competitors: ``chunk(epochs)`` trains that many epochs and returns what it measured
@dataclass
class Chunk:
    epochs: int
    samples: int
    steps: int
    seconds: float
    setup_s: float = 0.0
    note: str = ""

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds


def backprop_config(w: Workload, data_path: Path) -> dict:
    convs = []
    for channels, kernel, padding in w.convs:
        convs += [{"type": "conv2d", "channels": channels, "kernel": kernel, "padding": padding,
                   "activation": w.activation}, {"type": "maxpool2d", "kernel": 2}]
    if convs:
        convs.append({"type": "flatten"})
    hidden = convs + [{"units": u, "activation": w.activation} for u in w.hidden]
    output = {"units": w.n_out, "activation": "sigmoid" if w.n_out == 1 else "softmax"}
    opt = {"name": w.optimizer, "lr": w.lr}
    if w.momentum:
        opt["momentum"] = w.momentum
    return {
        "name": f"bench-{w.name}",
        "data": {"source": "npz", "path": data_path.name},
        "dtype": w.dtype,
        "model": {"layers": hidden + [output]},
        "loss": "bce" if w.n_out == 1 else "cross_entropy",
        "optimizer": opt,
        "training": {"epochs": 1, "batch_size": w.batch, "shuffle": True},
        "seed": 0,
    }


def workspace_bytes(network) -> dict:
    """Bytes of each scratch buffer the network's layers keep between steps (engine/conv.py's
    ``Workspace``: the padded input, the im2col columns, their gradient)."""
    out = {}
    for i, layer in enumerate(network.layers):
        buffers = getattr(getattr(layer, "_ws", None), "_buffers", None)
        if buffers:
            out[f"{i} {layer!r}"] = {k: int(v.nbytes) for k, v in buffers.items()}
    return out


class BackpropRunner:
    """backprop through ``api.train``: one run per chunk (see the module docstring)."""

    name = "backprop"

    def __init__(self, w: Workload, folder: Path):
        import yaml
        from backprop_cli import api
        from backprop_cli.training.callbacks import Callback
        self.w, self.api, self.folder = w, api, folder
        data = write_data(w, folder)
        self.config = folder / f"{w.name}.yaml"
        self.config.write_text(yaml.safe_dump(backprop_config(w, data), sort_keys=False))
        self.runs = folder / f"runs-{w.name}-{os.getpid()}"

        class Timer(Callback):
            profiler = None  # a cProfile.Profile to run over Trainer.fit only
            traced_growth = None  # with tracemalloc on: peak traced bytes above the start's

            def on_train_begin(self, state):
                if tracemalloc.is_tracing():
                    tracemalloc.reset_peak()
                    self.traced_at_begin = tracemalloc.get_traced_memory()[0]
                self.t0 = time.perf_counter()

            def on_train_end(self, state):
                self.t1 = time.perf_counter()
                if self.profiler is not None:
                    self.profiler.disable()
                if tracemalloc.is_tracing():
                    self.traced_growth = tracemalloc.get_traced_memory()[1] - self.traced_at_begin
                self.epochs, self.diverged = state.epoch, state.diverged
                self.workspace = workspace_bytes(state.network)

        self.timer = Timer()

    @property
    def workspace(self) -> dict:
        """The conv layers' scratch buffers after the last chunk: {layer: {buffer: bytes}}."""
        return getattr(self.timer, "workspace", {})

    def chunk(self, epochs: int, profiler=None, callbacks=()) -> Chunk:
        self.timer.profiler = profiler
        t0 = time.perf_counter()
        start = None if profiler is None else (lambda run_dir, setup: profiler.enable())
        result = self.api.train(self.config, [f"training.epochs={epochs}"], runs_dir=self.runs,
                                callbacks=[*callbacks, self.timer], on_start=start)
        wall = time.perf_counter() - t0
        shutil.rmtree(result.run_dir, ignore_errors=True)
        t = self.timer
        done = t.epochs
        return Chunk(done, done * self.w.n, done * self.w.steps_per_epoch, t.t1 - t.t0,
                     setup_s=wall - (t.t1 - t.t0), note="diverged" if t.diverged else "")


class TorchRunner:
    """PyTorch on the CPU with default optimizer options (``fused = False``) or ``fused=True``."""

    name = "torch"
    fused = False
    channels_last = False

    def __init__(self, w: Workload, folder: Path):
        import torch
        self.torch, self.w = torch, w
        X, y = load_data(w, folder)
        dtype = getattr(torch, w.dtype)
        torch.manual_seed(0)
        act = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[w.activation]
        layers, sizes = [], w.sizes
        for c, (channels, kernel, padding) in zip(w.conv_layers, w.convs):
            layers += [torch.nn.Conv2d(c["C"], channels, kernel, padding=padding, dtype=dtype),
                       act(), torch.nn.MaxPool2d(2)]
        if w.convs:
            layers.append(torch.nn.Flatten())
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            layers.append(torch.nn.Linear(a, b, dtype=dtype))
            if i < len(sizes) - 2:
                layers.append(act())
        self.model = torch.nn.Sequential(*layers)
        self.X = torch.from_numpy(X)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
            self.X = self.X.contiguous(memory_format=torch.channels_last)
        if w.n_out == 1:
            self.Y = torch.from_numpy(y).to(dtype)[:, None]
            self.loss_fn = torch.nn.BCEWithLogitsLoss()
        else:
            self.Y = torch.from_numpy(y)
            self.loss_fn = torch.nn.CrossEntropyLoss()
        extra = {"fused": True} if self.fused else {}
        if w.optimizer == "adam":
            self.opt = torch.optim.Adam(self.model.parameters(), lr=w.lr, **extra)
        else:
            self.opt = torch.optim.SGD(self.model.parameters(), lr=w.lr, momentum=w.momentum, **extra)

    def chunk(self, epochs: int) -> Chunk:
        torch, w, model, opt, loss_fn = self.torch, self.w, self.model, self.opt, self.loss_fn
        X, Y, n, bs = self.X, self.Y, self.w.n, self.w.batch
        t0 = time.perf_counter()
        for _ in range(epochs):
            perm = torch.randperm(n)
            loss_sum, correct = 0.0, 0
            for start in range(0, n, bs):
                idx = perm[start:start + bs]
                xb, yb = X[idx], Y[idx]
                if self.channels_last:  # a no-op: the gather keeps channels_last
                    xb = xb.contiguous(memory_format=torch.channels_last)
                out = model(xb)
                loss = loss_fn(out, yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                loss_sum += loss.item() * len(idx)
                with torch.no_grad():
                    pred = (out > 0).to(yb.dtype) if w.n_out == 1 else out.argmax(1)
                    correct += int((pred == yb).sum())
        seconds = time.perf_counter() - t0
        return Chunk(epochs, epochs * n, epochs * w.steps_per_epoch, seconds)


class TorchFusedRunner(TorchRunner):
    name = "torch_fused"
    fused = True


class TorchChannelsLastRunner(TorchRunner):
    """PyTorch with model and input in ``channels_last`` (NHWC) memory format."""

    name = "torch_cl"
    channels_last = True


class SklearnRunner:
    """scikit-learn's MLPClassifier, ``fit`` with ``warm_start`` for each chunk."""

    name = "sklearn"

    def __init__(self, w: Workload, folder: Path):
        import warnings
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        self.w = w
        self.X, self.y = load_data(w, folder)
        act = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}[w.activation]
        self.model = MLPClassifier(
            hidden_layer_sizes=w.hidden, activation=act, solver=w.optimizer, alpha=0.0,
            batch_size=w.batch, learning_rate="constant", learning_rate_init=w.lr,
            momentum=w.momentum, nesterovs_momentum=False, shuffle=True, random_state=0,
            tol=0.0, n_iter_no_change=2**31 - 1, warm_start=True, max_iter=1)

    def chunk(self, epochs: int) -> Chunk:
        self.model.set_params(max_iter=epochs)
        t0 = time.perf_counter()
        self.model.fit(self.X, self.y)
        seconds = time.perf_counter() - t0
        note = f"weights {self.model.coefs_[0].dtype}"
        return Chunk(epochs, epochs * self.w.n, epochs * self.w.steps_per_epoch, seconds, note=note)


RUNNERS = {r.name: r for r in (BackpropRunner, TorchRunner, TorchFusedRunner, TorchChannelsLastRunner,
                               SklearnRunner)}
REQUIRES = {"backprop": "backprop_cli", "torch": "torch", "torch_fused": "torch", "torch_cl": "torch",
            "sklearn": "sklearn"}


def installed(competitor: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(REQUIRES[competitor]) is not None


# ---------------------------------------------------------------------------------------------
# worker processes: one per competitor and workload, answering JSON commands on stdin
def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM, which exec resets. (ru_maxrss is not reset by exec on
    Linux: a child started from a big parent would report the parent's peak.)"""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def limit_threads(threads: int, competitor: str):
    """Limit every BLAS and OpenMP pool loaded so far (threadpoolctl sees only loaded ones:
    call it again once the competitor has imported what it uses)."""
    import numpy  # noqa: F401  (its BLAS must be loaded to be limited)
    from threadpoolctl import threadpool_limits
    if competitor.startswith("torch"):
        import torch
        torch.set_num_threads(threads)
    return threadpool_limits(limits=threads)


def blas_info() -> list[dict]:
    from threadpoolctl import threadpool_info
    keys = ("user_api", "internal_api", "version", "architecture", "threading_layer", "num_threads")
    return [{k: i.get(k) for k in keys} | {"library": Path(i["filepath"]).name}
            for i in threadpool_info()]


def gemm_gflops(repeats: int = 5) -> dict:
    """Best float32 ``np.matmul`` rate over square sizes 1024, 2048 and 4096."""
    import numpy as np
    rng = np.random.default_rng(0)
    best = {}
    for size, reps in ((1024, 4 * repeats), (2048, repeats), (4096, max(2, repeats // 2))):
        a = rng.random((size, size), dtype=np.float32)
        b = rng.random((size, size), dtype=np.float32)
        out = np.empty_like(a)
        np.matmul(a, b, out=out)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - t0)
        best[size] = 2 * size ** 3 / min(times) / 1e9
    return {"gflops": max(best.values()), "by_size": best}


def worker_main(competitor: str, workload: str, threads: int, folder: str) -> None:
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the replies

    def send(obj):
        reply.write(json.dumps(obj) + "\n")

    if competitor == "data":  # data made apart: neither the driver nor a competitor holds it
        if workload in WORKLOADS:
            write_data(WORKLOADS[workload], Path(folder))
            send({})
        else:
            send(write_mnist_size(int(workload), Path(folder)))
        return
    limits = limit_threads(threads, competitor)  # noqa: F841  (kept while the worker runs)
    if competitor == "gemm":
        send({"gemm": gemm_gflops(), "blas": blas_info()})
        return
    if competitor == "convmem":  # one epoch under tracemalloc
        runner = BackpropRunner(WORKLOADS[workload], Path(folder))
        tracemalloc.start()
        runner.chunk(1)
        from backprop_cli.engine import conv
        send({"traced_growth": runner.timer.traced_growth, "workspace": runner.workspace,
              "limit": conv.MAX_IM2COL_BYTES})
        return
    base = peak_rss_mb()
    t0 = time.perf_counter()
    runner = RUNNERS[competitor](WORKLOADS[workload], Path(folder))
    limits = limit_threads(threads, competitor)  # noqa: F841
    send({"ready": True, "init_s": time.perf_counter() - t0, "base_rss_mb": base, "blas": blas_info()})
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "exit":
            break
        c = runner.chunk(cmd["epochs"])
        send(c.__dict__)
    send({"peak_rss_mb": peak_rss_mb(), "base_rss_mb": base})


class Worker:
    def __init__(self, competitor: str, workload: str, threads: int, folder: Path):
        self.competitor = competitor
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--_worker", competitor, workload,
             str(threads), str(folder)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.info = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise RuntimeError(f"{self.competitor} worker ended (exit code {self.proc.returncode}); "
                               "its traceback is above")
        return json.loads(line)

    def chunk(self, epochs: int) -> Chunk:
        self.proc.stdin.write(json.dumps({"cmd": "chunk", "epochs": epochs}) + "\n")
        self.proc.stdin.flush()
        return Chunk(**self._read())

    def close(self) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": "exit"}) + "\n")
        self.proc.stdin.flush()
        out = self._read()
        self.proc.wait()
        return out


def run_gemm(threads: int, folder: Path) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_worker", "gemm",
                           "-", str(threads), str(folder)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


# ---------------------------------------------------------------------------------------------
# the driver: calibrate chunks, alternate pairs, take medians
def calibrate(worker: Worker, target_s: float) -> tuple[int, list[Chunk]]:
    """Whole epochs per chunk for about ``target_s`` seconds (the first chunk warms up)."""
    epochs, seen = 1, []
    while True:
        c = worker.chunk(epochs)
        seen.append(c)
        per_epoch = c.seconds / max(c.epochs, 1)
        if c.seconds >= target_s / 4 or c.note == "diverged":
            return max(1, round(target_s / per_epoch)), seen
        epochs = max(epochs + 1, min(epochs * 20, round(target_s / 2 / max(per_epoch, 1e-9))))


def run_workload(w: Workload, threads: int, competitors: list[str], pairs: int, target_s: float,
                 folder: Path, log) -> dict:
    """The data is made in a process of its own: making it would count in a competitor's
    peak RSS, and in the driver's, which children started later would inherit (ru_maxrss)."""
    make_in_child(w.name, folder)
    workers, epochs, out = {}, {}, {"competitors": {}, "ratios": {}}
    try:
        for c in competitors:
            if c in w.competitors:
                workers[c] = Worker(c, w.name, threads, folder)
        for c, wk in workers.items():
            epochs[c], _ = calibrate(wk, target_s)
        chunks = {c: [] for c in workers}
        for i in range(pairs):
            order = list(workers) if i % 2 == 0 else list(reversed(workers))
            for c in order:
                chunks[c].append(workers[c].chunk(epochs[c]))
            log(f"  {w.name} {threads}t pair {i + 1}/{pairs}: " + ", ".join(
                f"{c} {chunks[c][-1].samples_per_s:,.0f}/s" for c in workers))
        for c, wk in workers.items():
            end = wk.close()
            cs = chunks[c]
            out["competitors"][c] = {
                "samples_per_s": statistics.median(x.samples_per_s for x in cs),
                "steps_per_s": statistics.median(x.steps_per_s for x in cs),
                "epochs_per_chunk": epochs[c], "chunk_s": statistics.median(x.seconds for x in cs),
                "setup_s": statistics.median(x.setup_s for x in cs),
                "peak_rss_mb": end["peak_rss_mb"], "base_rss_mb": end["base_rss_mb"],
                "notes": sorted({x.note for x in cs if x.note}), "blas": wk.info["blas"],
                "chunks_samples_per_s": [x.samples_per_s for x in cs]}
        workers = {}
        if "backprop" in chunks:
            bp = chunks["backprop"]
            for c in chunks:
                if c != "backprop":
                    r = [a.samples_per_s / b.samples_per_s for a, b in zip(bp, chunks[c])]
                    out["ratios"][c] = {"median": statistics.median(r), "min": min(r), "max": max(r),
                                        "pairs": r}
    finally:
        for wk in workers.values():
            wk.proc.kill()
    return out


# ---------------------------------------------------------------------------------------------
# start-up and memory of the backprop command
def backprop_command() -> list[str]:
    """The installed ``backprop`` script beside this Python (a pyenv shim adds ~100 ms)."""
    here = Path(sys.executable).parent / "backprop"
    found = str(here) if here.exists() else shutil.which("backprop")
    return [found] if found else [sys.executable, "-c", "from backprop_cli.cli import main; main()"]


def time_command(args: list[str], repeats: int = 5, cwd=None) -> dict:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}


def child_peak_rss_mb(args: list[str], cwd=None) -> float:
    """Peak RSS of one command, from a fresh Python whose only child it is."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
            "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, check=True,
                         capture_output=True, text=True).stdout
    return int(out.split()[-1]) / 1024


def startup(folder: Path, repeats: int = 5) -> dict:
    cmd = backprop_command()
    runs = folder / "runs-startup"
    return {
        "command": " ".join(cmd),
        "help": time_command(cmd + ["--help"], repeats),
        "train_xor": time_command(cmd + ["train", "configs/xor.yaml", "--runs-dir", str(runs), "--quiet"],
                                  repeats, cwd=REPO),
    }


MNIST_SIZE = Workload("MNIST", "", 60000, 784, (256, 128), 10, "relu", "adam", 1e-3, 0.0, 128,
                      "float32", "pixels")


def write_mnist_size(n: int, folder: Path) -> dict:
    """n MNIST-shaped float32 examples with uint8 labels in an .npz, and W3's config for it."""
    import numpy as np
    import yaml
    from dataclasses import replace
    w = replace(MNIST_SIZE, n=n)
    X, y = make_data(w)
    y = y.astype(np.uint8)
    np.savez(folder / "mnist-size.npz", X=X, y=y)
    cfg = backprop_config(w, folder / "mnist-size.npz")
    cfg["training"]["epochs"] = 1
    (folder / "mnist-size.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return {"data_mb": (X.nbytes + y.nbytes) / 2**20}


def make_in_child(what: str, folder: Path) -> dict:
    """A workload's .npz (``what`` its name), or the memory test's (``what`` its size)."""
    made = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_worker", "data",
                           what, "1", str(folder)], capture_output=True, text=True, check=True)
    return json.loads(made.stdout)


def memory(folder: Path, n: int = 60000) -> dict:
    """``backprop train`` on MNIST-size float32 data (W3's network, one epoch): peak RSS."""
    data_mb = make_in_child(str(n), folder)["data_mb"]
    cmd = backprop_command() + ["train", "--runs-dir", str(folder / "runs-mem"), "--quiet"]
    peak = child_peak_rss_mb(cmd + [str(folder / "mnist-size.yaml")])
    baseline = child_peak_rss_mb(cmd + ["configs/xor.yaml"], cwd=REPO)
    return {"examples": n, "data_mb": data_mb, "peak_rss_mb": peak, "multiple": peak / data_mb,
            "xor_peak_rss_mb": baseline, "multiple_above_xor": (peak - baseline) / data_mb}


# ---------------------------------------------------------------------------------------------
# profile: where backprop's time goes, in this process
class TimedNumpy:
    """Stands in for ``numpy`` in engine/conv.py while profiling: every ``np.matmul`` there (the
    conv layers' products) is timed, and appears in cProfile as ``bench.py:matmul``."""

    def __init__(self):
        import numpy
        self._np, self.seconds, self.calls = numpy, 0.0, 0

    def __getattr__(self, name):
        return getattr(self._np, name)

    def matmul(self, *args, **kwargs):
        t0 = time.perf_counter()
        out = self._np.matmul(*args, **kwargs)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out


class timed_conv_products:
    """Context: engine/conv.py's ``np`` replaced by a TimedNumpy."""

    def __enter__(self) -> TimedNumpy:
        from backprop_cli.engine import conv
        self.module, self.timed = conv, TimedNumpy()
        conv.np = self.timed
        return self.timed

    def __exit__(self, *exc):
        self.module.np = self.timed._np


def layer_timer():
    """A callback that, at the start of training, wraps every layer's forward and backward,
    the loss's and the optimizer's step with timers (no profiler: the overhead is two clock
    reads a call). ``seconds`` sums them by kind, e.g. 'Conv2d.backward'."""
    from backprop_cli.training.callbacks import Callback

    def wrap(obj, method: str, key: str, seconds: dict):
        inner = getattr(obj, method)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            out = inner(*args, **kwargs)
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t0
            return out
        setattr(obj, method, timed)

    class LayerTimer(Callback):
        def __init__(self):
            self.seconds: dict[str, float] = {}

        def on_train_begin(self, state):
            net = state.network
            #: the optimizer updates in blocks on backprop's pool (at 2 threads or more)
            self.pooled_optimizer = getattr(state.optimizer, "_blocks", None) is not None
            for layer in net.layers:
                for method in ("forward", "backward"):
                    wrap(layer, method, f"{type(layer).__name__}.{method}", self.seconds)
            for method in ("forward", "backward"):
                wrap(net.loss, method, f"loss {type(net.loss).__name__}.{method}", self.seconds)
            wrap(state.optimizer, "step", f"optimizer {type(state.optimizer).__name__}.step",
                 self.seconds)

    return LayerTimer()


def breakdowns(w: Workload, counts: tuple[int, ...], steps: int, folder: Path,
               rounds: int = 5) -> list[dict]:
    """Where one step's time goes at each thread count in ``counts``, unprofiled (see
    :func:`breakdown`): runs of ``steps`` steps interleaved across the counts (1, 2, 1, 2, ...)
    for ``rounds`` rounds, the best run of each count (by step time), so that a busy spell of
    the machine does not fall on one count alone."""
    from threadpoolctl import threadpool_limits
    runner = BackpropRunner(w, folder)
    epochs = max(1, -(-steps // w.steps_per_epoch))
    best: dict[int, tuple] = {}
    for r in range(rounds):
        for t in counts:
            with threadpool_limits(limits=t):
                if r == 0:
                    runner.chunk(epochs)  # warm-up
                timer = layer_timer()
                with timed_conv_products() as products:
                    c = runner.chunk(epochs, callbacks=[timer])
            if t not in best or c.seconds < best[t][0].seconds:
                best[t] = (c, timer.seconds, products.seconds, timer.pooled_optimizer)
    return [breakdown(t, *best[t]) for t in counts]


def breakdown(threads: int, c, seconds: dict, conv_products: float, pooled_optimizer: bool) -> dict:
    """One run's step at ``threads`` threads: µs per step of each layer kind's forward and
    backward, the conv products (their ``np.matmul`` calls) apart from the rest of the conv
    layers, and the loop's remainder (batch gather, accuracy, callbacks)."""
    per_step = {k: v / c.steps * 1e6 for k, v in seconds.items()}
    if conv_products:
        per_step["Conv2d products (np.matmul)"] = conv_products / c.steps * 1e6
        for key in ("Conv2d.forward", "Conv2d.backward"):
            per_step[key] = per_step.get(key, 0.0)
        conv_total = per_step.pop("Conv2d.forward") + per_step.pop("Conv2d.backward")
        per_step["Conv2d rest (pad, im2col, col2im, bias, layout)"] = conv_total - per_step[
            "Conv2d products (np.matmul)"]
    step = c.seconds / c.steps * 1e6
    per_step["rest of the loop (gather, accuracy, callbacks)"] = step - sum(per_step.values())
    blas = per_step.get("Conv2d products (np.matmul)", 0.0) + sum(
        v for k, v in per_step.items() if k.startswith("Dense."))
    # what runs on backprop's pool at 2 threads or more: the pools' chunks, and the
    # optimizer's blocks (Adam, AdamW, RMSprop, Adagrad above Optimizer.parallel_min entries)
    pooled = sum(v for k, v in per_step.items() if k.startswith(("MaxPool2d.", "AvgPool2d."))
                 or (pooled_optimizer and k.startswith("optimizer ")))
    return {"threads": threads, "steps": c.steps, "step_us": step, "us_per_step": per_step,
            "products_us": blas, "products_share": blas / step,
            "pooled_us": pooled, "parallel_share": (blas + pooled) / step}


def print_breakdown(w: Workload, b: dict) -> None:
    print(f"\n== {w.name} step breakdown, {b['threads']} thread(s), unprofiled (best of 5 runs of "
          f"{b['steps']} steps): {b['step_us']:.0f} µs per step")
    for k, v in sorted(b["us_per_step"].items(), key=lambda kv: -kv[1]):
        print(f"  {v:10.0f} µs {v / b['step_us']:6.1%}  {k}")
    print(f"  BLAS products (conv np.matmul + the Dense layers, whose time is their products and "
          f"a bias add): {b['products_us']:.0f} µs = {b['products_share']:.0%} of the step; "
          f"on backprop's pool (the pools' chunks, the optimizer's blocks): {b['pooled_us']:.0f} µs "
          f"= {b['pooled_us'] / b['step_us']:.0%}; everything else {1 - b['parallel_share']:.0%}")


def profile(names: list[str], steps: int, folder: Path, top: int = 25) -> None:
    import cProfile
    import pstats

    import numpy  # noqa: F401  (loaded before the limit, or threadpoolctl cannot see its BLAS)
    from threadpoolctl import threadpool_limits
    for name in names:
        w = WORKLOADS[name]
        with threadpool_limits(limits=1):
            runner = BackpropRunner(w, folder)
            epochs = max(1, -(-steps // w.steps_per_epoch))
            plain = runner.chunk(epochs)  # also the warm-up
            prof = cProfile.Profile()
            with timed_conv_products():
                c = runner.chunk(epochs, profiler=prof)
            print(f"\n== profile {name} ({w.title}), Trainer.fit only"
                  f", 1 thread: {c.steps} steps in {c.epochs} epochs; "
                  f"{plain.seconds / plain.steps * 1e6:.1f} µs per step unprofiled, "
                  f"{c.seconds / c.steps * 1e6:.1f} µs under cProfile"
                  + ("; the conv products are bench.py:matmul" if w.convs else ""))
            stats = pstats.Stats(prof, stream=sys.stdout).strip_dirs()
            stats.sort_stats("tottime").print_stats(top)
            stats.sort_stats("cumulative").print_stats(top // 2)
        by_threads = breakdowns(w, (1, 2), steps, folder)
        for b in by_threads:
            print_breakdown(w, b)
        print_scaling(w, scaling_model(*by_threads))


def amdahl(p: float, n: float) -> float:
    """Amdahl's law: the speed-up on n threads of a step whose fraction p runs n times as
    fast there and whose rest does not speed up at all."""
    return 1.0 / ((1.0 - p) + p / n)


def scaling_model(one: dict, two: dict, at=(4, 8, 16)) -> dict:
    """What the 1- and 2-thread breakdowns predict for more threads.

    ``amdahl``: Amdahl's law, S(N) = 1 / ((1 - p) + p / N), with p the share of the step at
    1 thread in work that runs on every thread: the BLAS products and what runs on backprop's
    pool (``parallel_share``); everything else (activations, the loss, the gather, SGD's
    update, the loop) stays on one. It assumes that work scales perfectly, so it is an upper
    bound where BLAS threads do not. ``karp_flatt``: the serial fraction e that the measured
    2-thread speed-up S implies, e = (1/S - 1/2) / (1 - 1/2) (Karp and Flatt 1990), and
    Amdahl's law with p = 1 - e: every part keeps scaling as it did from 1 to 2 threads.
    ``limit``: 1 / (1 - p), Amdahl's ceiling on any number of threads."""
    p = one["parallel_share"]
    s2 = one["step_us"] / two["step_us"]
    e = (1.0 / s2 - 0.5) / 0.5
    par1 = one["products_us"] + one["pooled_us"]
    par2 = two["products_us"] + two["pooled_us"]
    rest1, rest2 = one["step_us"] - par1, two["step_us"] - par2
    return {"p": p, "measured_2": s2, "amdahl_2": amdahl(p, 2),
            "parallel_2": par1 / par2 if par2 > 0 else None,
            "rest_2": rest1 / rest2 if rest2 > 0 else None,
            "serial_fraction": e, "limit": 1.0 / (1.0 - p) if p < 1 else math.inf,
            "amdahl": {n: amdahl(p, n) for n in at},
            "karp_flatt": {n: amdahl(min(1.0, max(0.0, 1.0 - e)), n) for n in at}}


def print_scaling(w: Workload, m: dict) -> None:
    def row(d):
        return ", ".join(f"{n} threads {v:.2f}×" for n, v in d.items())
    print(f"\n== {w.name} scaling model (Amdahl's law), from the two breakdowns above")
    parts = []
    if m["parallel_2"] is not None:
        parts.append(f"the products and the pool's work {m['parallel_2']:.2f}×")
    if m["rest_2"] is not None:
        parts.append(f"everything else {m['rest_2']:.2f}×")
    print(f"  measured 1 → 2 threads: {m['measured_2']:.2f}× ({'; '.join(parts)})")
    print(f"  Amdahl, p = {m['p']:.0%} (the share at 1 thread of the products and the pool's "
          f"work, which alone scale): "
          f"2 threads {m['amdahl_2']:.2f}× (measured {m['measured_2']:.2f}×), {row(m['amdahl'])}; "
          f"limit {m['limit']:.2f}×")
    print(f"  Karp–Flatt serial fraction from the measured 2-thread speed-up: e = "
          f"{m['serial_fraction']:.0%}; Amdahl with p = 1 - e: {row(m['karp_flatt'])}")


# ---------------------------------------------------------------------------------------------
# report
def versions(dists=("numpy", "backprop-cli", "torch", "scikit-learn", "threadpoolctl")) -> dict:
    """Python's version and each distribution's (None where not installed)."""
    import importlib.metadata as md
    out = {"python": platform.python_version()}
    for dist in dists:
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    return out


def git_state() -> str:
    """The commit backprop_cli was measured at, and whether its files had changes."""
    import backprop_cli
    src = Path(backprop_cli.__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=src, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=src,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"{src} (not in a git work tree)"
    return head + (" with uncommitted changes in backprop_cli/" if dirty else "")


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def print_workload(w: Workload, threads: int, res: dict) -> None:
    print(f"\n{w.name} {w.title} ({w.n} examples, {w.steps_per_epoch} steps per epoch), "
          f"{threads} thread{'s' if threads > 1 else ''}")
    print(f"  {'competitor':<12} {'samples/s':>12} {'steps/s':>10} {'backprop ÷ it':>24} "
          f"{'peak RSS':>10} {'epochs/chunk':>12}")
    for c, r in res["competitors"].items():
        ratio = res["ratios"].get(c)
        rtext = (f"{ratio['median']:.2f}× [{ratio['min']:.2f}-{ratio['max']:.2f}]" if ratio else "")
        notes = f"  {', '.join(r['notes'])}" if r["notes"] else ""
        print(f"  {c:<12} {fmt_rate(r['samples_per_s']):>12} {fmt_rate(r['steps_per_s']):>10} "
              f"{rtext:>24} {r['peak_rss_mb']:>8.0f}MB {r['epochs_per_chunk']:>12}{notes}")


def gemm_peak(before: dict, after: dict) -> dict:
    return {"gflops": max(before["gflops"], after["gflops"]), "before": before["gflops"],
            "after": after["gflops"], "by_size": {"before": before["by_size"], "after": after["by_size"]}}


def print_fraction(w: Workload, res: dict, gemm: float) -> None:
    """W4's throughput in FLOP/s over the GEMM peak, at 6·P FLOPs per training sample."""
    flops = 6 * w.parameters
    res["fraction_of_gemm_peak"] = {c: r["samples_per_s"] * flops / 1e9 / gemm
                                    for c, r in res["competitors"].items()}
    print(f"{w.name}'s fraction of that peak, at 6·P = {flops:,} FLOPs per sample (P = "
          f"{w.parameters:,} weights and biases): "
          + ", ".join(f"{c} {f:.0%}" for c, f in res["fraction_of_gemm_peak"].items()))


def print_conv_fraction(w: Workload, res: dict, gemm: float) -> None:
    """The conv layers' products (``Workload.conv_flops`` per sample) at each competitor's
    throughput, as a fraction of the GEMM peak."""
    res["conv_fraction_of_gemm_peak"] = {c: r["samples_per_s"] * w.conv_flops / 1e9 / gemm
                                         for c, r in res["competitors"].items()}
    print(f"{w.name}'s conv products ({w.conv_flops / 1e6:.2f} MFLOP per sample: forward, weight "
          f"and input gradients, none for the first layer's input) at each throughput, as a "
          "fraction of that peak: "
          + ", ".join(f"{c} {f:.0%}" for c, f in res["conv_fraction_of_gemm_peak"].items()))


def conv_memory(w: Workload, folder: Path) -> dict:
    """The im2col buffers of one epoch of ``w`` (a child process under tracemalloc): each
    buffer measured after training, beside the formula for one batch and the limit."""
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_worker", "convmem",
                           w.name, "1", str(folder)], capture_output=True, text=True, check=True)
    m = json.loads(proc.stdout)
    m["formula"] = w.im2col_bytes(w.batch)
    m["formula_total"] = sum(sum(b.values()) for b in m["formula"])
    m["measured_total"] = sum(sum(b.values()) for b in m["workspace"].values())
    return m


def print_conv_memory(w: Workload, m: dict) -> None:
    mib = 2**20
    print(f"\n{w.name} im2col buffers (engine/conv.py keeps them between steps), measured after one "
          f"epoch: {m['measured_total'] / mib:.1f} MiB in all; limit MAX_IM2COL_BYTES = "
          f"{m['limit'] / mib:.0f} MiB per layer's columns (a batch whose columns would exceed it "
          "is done in chunks of examples)")
    for (layer, bufs), f in zip(m["workspace"].items(), m["formula"]):
        print(f"  {layer}: " + ", ".join(f"{k} {v / mib:.2f} MiB" for k, v in bufs.items())
              + f"  (formula for a batch of {w.batch}: "
              + ", ".join(f"{k} {v / mib:.2f} MiB" for k, v in f.items() if v) + ")")
    print(f"  memory traced (tracemalloc) during the epoch, peak above its start: "
          f"{m['traced_growth'] / mib:.1f} MiB")


def speedups(results: dict, threads: list[int]) -> dict:
    """{workload: {competitor: {t: samples/s at t threads ÷ samples/s at the first count}}}
    for every thread count after the first (median throughputs, as the tables above)."""
    first, out = str(threads[0]), {}
    for t in threads[1:]:
        for name, res in results[str(t)]["workloads"].items():
            base = results[first]["workloads"].get(name, {}).get("competitors", {})
            for c, r in res["competitors"].items():
                if c in base:
                    out.setdefault(name, {}).setdefault(c, {})[t] = (
                        r["samples_per_s"] / base[c]["samples_per_s"])
    return out


def print_speedups(results: dict, threads: list[int]) -> None:
    table = speedups(results, threads)
    if not table:
        return
    print(f"Speed-up from {threads[0]} thread(s) to " + ", ".join(map(str, threads[1:]))
          + " (samples/s at that count ÷ samples/s at the first):")
    for name, comps in table.items():
        print(f"  {name}: " + ", ".join(
            f"{c} " + " / ".join(f"{v:.2f}× at {t}" for t, v in by_t.items())
            for c, by_t in comps.items()))
    print()


def print_summary(results: dict, threads: list[int]) -> None:
    """Markdown tables for README.md: throughputs and median paired ratios."""
    print("\n## Summary (median samples/s; backprop ÷ competitor, median of paired ratios)\n")
    for conv in (False, True):
        cols = WORKLOADS["W6"].competitors if conv else WORKLOADS["W1"].competitors
        rows = [(t, name, res) for t in threads for name, res in results[str(t)]["workloads"].items()
                if bool(WORKLOADS[name].convs) == conv]
        if not rows:
            continue
        label = {"torch_fused": "torch fused", "torch_cl": "torch channels_last"}
        head = ("| workload | threads | " + " | ".join(label.get(c, c) for c in cols) + " | "
                + " | ".join(f"÷ {label.get(c, c)}" for c in cols[1:]) + " |")
        print(head)
        print("| --- " * (head.count("|") - 1) + "|")
        for t, name, res in rows:
            comp, rat = res["competitors"], res["ratios"]
            cells = [fmt_rate(comp[c]["samples_per_s"]) if c in comp else "–" for c in cols]
            ratios = [f"{rat[c]['median']:.2f}×" if c in rat else "–" for c in cols[1:]]
            print(f"| {name} | {t} | " + " | ".join(cells + ratios) + " |")
        print()
    print_speedups(results, threads)
    for t in threads:
        r = results[str(t)]
        w4 = r["workloads"].get("W4", {}).get("fraction_of_gemm_peak", {})
        print(f"float32 GEMM peak, {t} thread(s): {r['gemm']['gflops']:.0f} GFLOP/s"
              + (f"; W4 at {', '.join(f'{c} {f:.0%}' for c, f in w4.items())} of it" if w4 else ""))
        for name, res in r["workloads"].items():
            if "conv_fraction_of_gemm_peak" in res:
                print(f"  {name}'s conv products at " + ", ".join(
                    f"{c} {f:.0%}" for c, f in res["conv_fraction_of_gemm_peak"].items()) + " of it")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a smoke run: 2 pairs of 0.3 s chunks")
    p.add_argument("--workloads", default="W1,W2,W3,W4")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--competitors", default=",".join(COMPETITORS))
    p.add_argument("--pairs", type=int, default=None, help="pairs of chunks (default 7; --quick 2)")
    p.add_argument("--chunk-seconds", type=float, default=None, help="default 1.5 (--quick 0.3)")
    p.add_argument("--json", metavar="FILE", help="save every figure as JSON")
    p.add_argument("--no-startup", action="store_true", help="skip start-up and memory measurements")
    p.add_argument("--profile", metavar="W1,W3", help="profile backprop's loop on these workloads and stop")
    p.add_argument("--profile-steps", type=int, default=500)
    p.add_argument("--_worker", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a._worker:
        c, w, t, folder = a._worker
        worker_main(c, w, int(t), folder)
        return 0
    names = [x.strip().upper() for x in a.workloads.split(",") if x.strip()]
    unknown = [x for x in names if x not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    folder = Path(tempfile.mkdtemp(prefix="backprop-bench-"))
    try:
        if a.profile:
            profile([x.strip().upper() for x in a.profile.split(",")], a.profile_steps, folder)
            return 0
        return run(a, names, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(a, names: list[str], folder: Path) -> int:
    threads = [int(t) for t in a.threads.split(",")]
    pairs = a.pairs or (2 if a.quick else 7)
    target = a.chunk_seconds or (0.3 if a.quick else 1.5)
    wanted = [c.strip() for c in a.competitors.split(",") if c.strip()]
    competitors = [c for c in wanted if installed(c)]
    skipped = [c for c in wanted if c not in competitors]
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    out = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": {
        "cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
        "versions": versions(), "env": env, "backprop_commit": git_state()}, "pairs": pairs, "chunk_seconds": target,
        "skipped": skipped, "threads": {}}
    print(f"backprop benchmark, {out['date']}, {os.cpu_count()} CPUs, "
          + ", ".join(f"{k} {v}" for k, v in out["machine"]["versions"].items() if v))
    print(f"backprop_cli at {out['machine']['backprop_commit']}")
    if skipped:
        print(f"skipped (not installed): {', '.join(skipped)}")
    if any(env.values()):
        print("note: " + ", ".join(f"{k}={v}" for k, v in env.items() if v)
              + " is set, which may pick a slower numpy kernel; see the docstring")
    print(f"{pairs} pairs of ~{target:g} s chunks per workload, alternating order; load average "
          f"{os.getloadavg()[0]:.2f} (other processes on the CPUs skew the 2-thread figures most)")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    for t in threads:
        gemm = run_gemm(t, folder)
        blas = "; ".join(f"{b['internal_api']} {b.get('version')} {b.get('architecture')} "
                         f"({b['num_threads']} thread(s), {b['library']})" for b in gemm["blas"])
        print(f"\n=== {t} thread{'s' if t > 1 else ''}: float32 GEMM {gemm['gemm']['gflops']:.0f} "
              f"GFLOP/s; numpy's BLAS: {blas}")
        res_t = out["threads"][str(t)] = {"blas": gemm["blas"], "workloads": {}}
        for name in names:
            w = WORKLOADS[name]
            res = run_workload(w, t, competitors, pairs, target, folder, log)
            print_workload(w, t, res)
            res_t["workloads"][name] = res
            sys.stdout.flush()
        res_t["gemm"] = gemm_peak(gemm["gemm"], run_gemm(t, folder)["gemm"])
        print(f"\nfloat32 GEMM peak, {t} thread(s): {res_t['gemm']['gflops']:.0f} GFLOP/s (best of "
              f"the measurements before and after the workloads: {res_t['gemm']['before']:.0f} and "
              f"{res_t['gemm']['after']:.0f})")
        if "W4" in res_t["workloads"]:
            print_fraction(WORKLOADS["W4"], res_t["workloads"]["W4"], res_t["gemm"]["gflops"])
        for name, res in res_t["workloads"].items():
            if WORKLOADS[name].convs:
                print_conv_fraction(WORKLOADS[name], res, res_t["gemm"]["gflops"])
    for name in names:
        if WORKLOADS[name].convs and "backprop" in competitors:
            m = out.setdefault("conv_memory", {})[name] = conv_memory(WORKLOADS[name], folder)
            print_conv_memory(WORKLOADS[name], m)
    if not a.no_startup and "backprop" in competitors:
        s = out["startup"] = startup(folder, 2 if a.quick else 5)
        print(f"\nstart-up ({s['command']}, median of {2 if a.quick else 5}): "
              f"--help {s['help']['median_s']:.3f} s; train configs/xor.yaml "
              f"{s['train_xor']['median_s']:.3f} s end to end")
        m = out["memory"] = memory(folder, 6000 if a.quick else 60000)
        print(f"memory: backprop train on {m['examples']}x784 float32 ({m['data_mb']:.0f} MB of data, "
              f"W3's network, 1 epoch): peak RSS {m['peak_rss_mb']:.0f} MB = {m['multiple']:.2f}× "
              f"the data ({m['multiple_above_xor']:.2f}× above the {m['xor_peak_rss_mb']:.0f} MB "
              "of an xor run)")
    out["load_average_end"] = os.getloadavg()[0]
    print(f"\nload average at the end: {out['load_average_end']:.2f}")
    print_summary(out["threads"], threads)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nfigures saved to {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
