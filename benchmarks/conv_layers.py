"""Forward + backward of each convolution and pooling layer against torch.nn.functional, on
the layer shapes of the W6 (LeNet-5) and W7 (CIFAR-shaped) workloads of issue 14, float32.

    OPENBLAS_NUM_THREADS=1 python benchmarks/conv_layers.py                 # 1 thread
    OPENBLAS_NUM_THREADS=2 python benchmarks/conv_layers.py --threads 2
    python benchmarks/conv_layers.py --alternatives                         # design choices too

Each figure is the best of --repeats timings of --number calls (this machine is shared: the
best is the least disturbed), in ms per forward + backward. Inputs are what each layer sees
in a network: a layer after a conv gets the conv's pixel-major (channels-last in memory)
output, and a conv's upstream gradient is pixel-major too (the pools allocate like their
input); a network's first conv does not compute dE/dx (``input_grad`` False), nor does
PyTorch for an input that does not require a gradient. PyTorch runs its default NCHW layout
and ``channels_last``; ratio = torch default ms / backprop ms (above 1: backprop is faster).

``--alternatives`` also times the implementation choices the layers were picked from:
pixel-major vs channel-major conv GEMMs, matmul vs tensordot vs einsum for dW, and max
pooling by strided views vs reshape + max, im2col from a channels-last vs an NCHW input,
and dE/dx as one (rows, K) product + col2im over the whole batch vs kh·kw (rows, C) blocks
in cache-sized chunks (Conv2d's way).
"""
from __future__ import annotations

import argparse
import os
import sys
import timeit

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from backprop_cli.engine.conv import Conv2d  # noqa: E402
from backprop_cli.engine.parameter import Parameter  # noqa: E402
from backprop_cli.engine.pooling import AvgPool2d, MaxPool2d  # noqa: E402

# name, input shape (n, C, H, W), layer: ("conv", O, k, pad, first) or ("maxpool", k) / ("avgpool", k)
LAYERS = [
    ("W6 conv1 1→6 5x5 pad 2", (64, 1, 28, 28), ("conv", 6, 5, 2, True)),
    ("W6 maxpool 2 (6@28x28)", (64, 6, 28, 28), ("maxpool", 2)),
    ("W6 conv2 6→16 5x5", (64, 6, 14, 14), ("conv", 16, 5, 0, False)),
    ("W6 maxpool 2 (16@10x10)", (64, 16, 10, 10), ("maxpool", 2)),
    ("W7 conv1 3→32 3x3 pad 1", (128, 3, 32, 32), ("conv", 32, 3, 1, True)),
    ("W7 maxpool 2 (32@32x32)", (128, 32, 32, 32), ("maxpool", 2)),
    ("W7 conv2 32→64 3x3 pad 1", (128, 32, 16, 16), ("conv", 64, 3, 1, False)),
    ("W7 maxpool 2 (64@16x16)", (128, 64, 16, 16), ("maxpool", 2)),
    ("W7 avgpool 2 (64@16x16)", (128, 64, 16, 16), ("avgpool", 2)),
]


def best_ms(f, repeats: int, number: int) -> float:
    f()
    return min(timeit.repeat(f, repeat=repeats, number=number)) / number * 1e3


def channels_last(a: np.ndarray) -> np.ndarray:
    """The same (n, C, H, W) values with channels last in memory, as a conv layer outputs them."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def backprop_case(shape, spec, rng):
    x = rng.normal(size=shape).astype(np.float32)
    if spec[0] == "conv":
        _, O, k, pad, first = spec
        W = Parameter("W", (rng.normal(size=(O, shape[1], k, k)) * 0.1).astype(np.float32))
        layer = Conv2d(W, Parameter("b", np.zeros(O, np.float32)), (1, 1), ((pad, pad), (pad, pad)))
        layer.input_grad = not first
        if not first:
            x = channels_last(x)
    else:
        layer = (MaxPool2d if spec[0] == "maxpool" else AvgPool2d)((spec[1],) * 2)
        x = channels_last(x)
    dy = channels_last(rng.normal(size=layer.forward(x).shape).astype(np.float32))

    def step():
        layer.forward(x, training=True)
        layer.backward(dy)

    return step


def torch_case(shape, spec, rng, memory_format):
    import torch
    F = torch.nn.functional
    first = spec[0] == "conv" and spec[4]
    x = torch.from_numpy(rng.normal(size=shape).astype(np.float32)).contiguous(memory_format=memory_format)
    x.requires_grad_(not first)
    if spec[0] == "conv":
        _, O, k, pad, _ = spec
        W = torch.from_numpy((rng.normal(size=(O, shape[1], k, k)) * 0.1).astype(np.float32))
        W = W.contiguous(memory_format=memory_format).requires_grad_()
        b = torch.zeros(O, requires_grad=True)

        def fn():
            return F.conv2d(x, W, b, padding=pad)
    else:
        pool = F.max_pool2d if spec[0] == "maxpool" else F.avg_pool2d

        def fn():
            return pool(x, spec[1])
    with torch.no_grad():
        dy = torch.from_numpy(rng.normal(size=fn().shape).astype(np.float32)).contiguous(
            memory_format=memory_format)

    def step():
        fn().backward(dy)

    return step


def compare(args):
    rng = np.random.default_rng(0)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    print(f"threads {args.threads} (OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}), "
          f"best of {args.repeats}×{args.number} calls, ms per forward + backward, float32")
    print(f"{'layer':28} {'backprop':>9} {'torch':>9} {'torch CL':>9} {'ratio':>7} {'ratio CL':>8}")
    for name, shape, spec in LAYERS:
        ours = best_ms(backprop_case(shape, spec, rng), args.repeats, args.number)
        if torch is None:
            print(f"{name:28} {ours:9.2f}")
            continue
        t = best_ms(torch_case(shape, spec, rng, torch.contiguous_format), args.repeats, args.number)
        tcl = best_ms(torch_case(shape, spec, rng, torch.channels_last), args.repeats, args.number)
        print(f"{name:28} {ours:9.2f} {t:9.2f} {tcl:9.2f} {t / ours:7.2f} {tcl / ours:8.2f}")


def alternatives(args):
    """The implementation choices, each timed on the W6/W7 conv shapes."""
    from numpy.lib.stride_tricks import sliding_window_view
    rng = np.random.default_rng(0)
    r, k = args.repeats, args.number
    print("\nconv GEMMs (ms): forward, dW, dcols; pixel-major cols (n·Ho·Wo, K) vs channel-major (K, n·Ho·Wo)")
    for name, shape, spec in LAYERS:
        if spec[0] != "conv":
            continue
        n, C, H, _ = shape
        O, kk, pad = spec[1], spec[2], spec[3]
        P, K = (H + 2 * pad - kk + 1) ** 2, C * kk * kk
        cols = rng.normal(size=(n * P, K)).astype(np.float32)
        colsT = np.ascontiguousarray(cols.T)
        W2 = rng.normal(size=(O, K)).astype(np.float32)
        d = rng.normal(size=(n * P, O)).astype(np.float32)
        dT = np.ascontiguousarray(d.T)
        pix = [best_ms(f, r, k) for f in (lambda: cols @ W2.T, lambda: d.T @ cols, lambda: d @ W2)]
        chan = [best_ms(f, r, k) for f in (lambda: W2 @ colsT, lambda: dT @ colsT.T, lambda: W2.T @ dT)]
        c6 = cols.reshape(n, P, K)
        d6 = d.reshape(n, P, O)
        alt = [best_ms(f, r, k) for f in (lambda: np.tensordot(d6, c6, axes=([0, 1], [0, 1])),
                                          lambda: np.einsum("npo,npk->ok", d6, c6, optimize=True))]
        print(f"  {name:28} pixel-major {pix[0]:6.2f} {pix[1]:6.2f} {pix[2]:6.2f}   "
              f"channel-major {chan[0]:6.2f} {chan[1]:6.2f} {chan[2]:6.2f}   "
              f"dW by tensordot {alt[0]:6.2f}, einsum {alt[1]:6.2f}")
    print("\nmax pool 2x2 forward + backward (ms): strided views (MaxPool2d) vs reshape + max")
    for name, shape, spec in LAYERS:
        if spec[0] != "maxpool":
            continue
        for layout, x in (("NCHW", rng.normal(size=shape).astype(np.float32)),
                          ("channels-last", channels_last(rng.normal(size=shape).astype(np.float32)))):
            layer = MaxPool2d((2, 2))
            dy = layer.forward(x).copy()

            def views():
                layer.forward(x)
                layer.backward(dy)

            def reshaped():
                n, C, H, W = x.shape
                w = x.reshape(n, C, H // 2, 2, W // 2, 2)
                y = w.max(axis=(3, 5))
                mask = w == y[:, :, :, None, :, None]  # ties: every maximum, unlike PyTorch
                return (mask * dy[:, :, :, None, :, None]).reshape(x.shape)

            print(f"  {name:28} {layout:13} views {best_ms(views, r, k):6.2f}   "
                  f"reshape+max {best_ms(reshaped, r, k):6.2f}")
    print("\nim2col copy (ms): window view → pixel-major buffer, from a channels-last vs an NCHW padded input")
    for name, shape, spec in LAYERS:
        if spec[0] != "conv":
            continue
        n, C, H, _ = shape
        kk, pad = spec[2], spec[3]
        Ho = H + 2 * pad - kk + 1
        xp = rng.normal(size=(n, H + 2 * pad, H + 2 * pad, C)).astype(np.float32)
        xc = np.ascontiguousarray(xp.transpose(0, 3, 1, 2))
        out_khwc = np.empty((n, Ho, Ho, kk, kk, C), np.float32)
        out_ckk = np.empty((n, Ho, Ho, C, kk, kk), np.float32)
        nhwc = best_ms(lambda: np.copyto(out_khwc, sliding_window_view(xp, (kk, kk), axis=(1, 2))
                                         .transpose(0, 1, 2, 4, 5, 3)), r, k)
        nchw = best_ms(lambda: np.copyto(out_ckk, sliding_window_view(xc, (kk, kk), axis=(2, 3))
                                         .transpose(0, 2, 3, 1, 4, 5)), r, k)
        print(f"  {name:28} channels-last (kh, kw, C) columns {nhwc:6.2f}   NCHW (C, kh, kw) columns {nchw:6.2f}")
    print("\ndE/dx (ms): one (rows, K) product + col2im over the batch vs kh·kw (rows, C) blocks by chunks")
    for name, shape, spec in LAYERS:
        if spec[0] != "conv":
            continue
        n, C, H, _ = shape
        O, kk, pad = spec[1], spec[2], spec[3]
        Hp = H + 2 * pad
        Ho = Hp - kk + 1
        P, K = Ho * Ho, C * kk * kk
        d = rng.normal(size=(n * P, O)).astype(np.float32)
        W2 = rng.normal(size=(O, K)).astype(np.float32)

        def whole():
            dcols = (d @ W2).reshape(n, Ho, Ho, kk, kk, C)
            dxp = np.zeros((n, Hp, Hp, C), np.float32)
            for p in range(kk):
                for q in range(kk):
                    dxp[:, p:p + Ho, q:q + Ho] += dcols[:, :, :, p, q]
            return dxp

        layer = Conv2d(Parameter("W", W2.reshape(O, kk, kk, C).transpose(0, 3, 1, 2).copy()),
                       Parameter("b", np.zeros(O, np.float32)), (1, 1), ((pad, pad), (pad, pad)))
        dy = d.reshape(n, Ho, Ho, O).transpose(0, 3, 1, 2)
        layer.forward(rng.normal(size=shape).astype(np.float32))
        conv_dx = best_ms(lambda: layer.backward(dy), r, k)
        layer.input_grad = False
        conv_no_dx = best_ms(lambda: layer.backward(dy), r, k)
        print(f"  {name:28} whole batch {best_ms(whole, r, k):6.2f}   "
              f"Conv2d's blocks (its backward with dx minus without) {conv_dx - conv_no_dx:6.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (set "
                        "OPENBLAS_NUM_THREADS to the same in the environment)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=5)
    parser.add_argument("--alternatives", action="store_true")
    args = parser.parse_args()
    if os.environ.get("OPENBLAS_NUM_THREADS") != str(args.threads):
        print(f"note: OPENBLAS_NUM_THREADS is {os.environ.get('OPENBLAS_NUM_THREADS')}, "
              f"not {args.threads}: numpy's products may use another thread count")
    compare(args)
    if args.alternatives:
        alternatives(args)


if __name__ == "__main__":
    main()
