"""Pooling and reshaping layers for NCHW tensors: max pool, average pool, global average
pool, flatten. None has parameters.

The pools work on the kh·kw strided views v_pq = x_pad[:, :, p::sh, q::sw] (cropped to the
output size), one per window offset (p, q): the max or the sum of those views is the pooled
output. Measured against a reshape + max over an (n, C, Ho, kh, Wo, kw) view (stride ==
kernel, 1 thread, forward + backward of 2x2 max pools on W6/W7 shapes): 0.6 vs 6.5 ms,
30 vs 92 ms and 11 vs 59 ms (benchmarks/conv_layers.py --alternatives). Outputs and input
gradients are allocated in the memory layout of the input (a conv layer's pixel-major
output stays pixel-major), so the next layer reads them without a transposing copy.

The chunks of examples (_Pool2d._chunks) of the max pool's forward and backward run on
engine/threads.py's pool when BLAS has more than one thread; each writes its own examples.
"""
from __future__ import annotations

import numpy as np

from . import threads
from .blocks import window_out
from .layers import Layer

#: Pools run over the batch in chunks of about this many bytes of input (a core's L2 cache).
POOL_CHUNK_BYTES = 1 << 20
#: The max pool's one-pass backward (kernel == stride) is taken on pixel-major inputs with at
#: least this many channels (its inner loops run over C values). Paired best-of, 1 thread:
#: 7.2 vs 10.4 ms on W7's first pool (C = 32), 3.1 vs 4.9 ms on its second (C = 64), but
#: 1.23 vs 1.0 ms on W6's first (C = 6) and equal on its second (C = 16).
ONE_PASS_MIN_CHANNELS = 32


def empty_in_layout(like: np.ndarray, shape: tuple, fill=None) -> np.ndarray:
    """A new array of ``shape`` whose axes lie in memory in the order of ``like``'s (by
    stride), filled with ``fill`` unless it is None."""
    order = sorted(range(like.ndim), key=lambda a: -abs(like.strides[a]))
    out = np.empty([shape[a] for a in order], dtype=like.dtype).transpose(np.argsort(order))
    if fill is not None:
        out[...] = fill
    return out


def _axis_order(a: np.ndarray) -> list:
    """a's axes from the largest stride to the smallest (its memory layout)."""
    return sorted(range(a.ndim), key=lambda k: -abs(a.strides[k]))


class _Pool2d(Layer):
    """Shared by the max and average pools: options, output size, padding, the strided views."""

    pad_value = 0.0

    def __init__(self, kernel=(2, 2), stride=None, padding=(0, 0)):
        self.kernel = tuple(int(k) for k in kernel)
        self.stride = tuple(int(s) for s in (stride if stride is not None else kernel))
        self.padding = tuple(int(p) for p in padding)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel)):  # as PyTorch requires
            raise ValueError(f"pool padding {self.padding} must be at most half the kernel {self.kernel}")

    def output_shape(self, shape: tuple) -> tuple:
        """(n, C, Ho, Wo) for an input of shape (n, C, H, W)."""
        n, C, H, W = shape
        return (n, C) + tuple(window_out(s, k, st, 2 * p) for s, k, st, p
                              in zip((H, W), self.kernel, self.stride, self.padding))

    def _padded(self, x: np.ndarray) -> np.ndarray:
        ph, pw = self.padding
        if not (ph or pw):
            return x
        n, C, H, W = x.shape
        xp = empty_in_layout(x, (n, C, H + 2 * ph, W + 2 * pw), x.dtype.type(self.pad_value))
        xp[:, :, ph:ph + H, pw:pw + W] = x
        return xp

    def _windows(self, a: np.ndarray, Ho: int, Wo: int):
        """(p, q, view) for each window offset in row-major order: a[:, :, p + i·sh, q + j·sw]."""
        (kh, kw), (sh, sw) = self.kernel, self.stride
        for p in range(kh):
            for q in range(kw):
                yield p, q, a[:, :, p:p + sh * (Ho - 1) + 1:sh, q:q + sw * (Wo - 1) + 1:sw]

    def _check(self, x):
        shape = self.output_shape(x.shape)
        if x.ndim != 4 or shape[2] < 1 or shape[3] < 1:
            raise ValueError(f"{self!r} does not fit an input of shape {x.shape}")
        return shape[2], shape[3]

    def _unpad(self, dxp: np.ndarray, shape: tuple) -> np.ndarray:
        ph, pw = self.padding
        return dxp[:, :, ph:ph + shape[2], pw:pw + shape[3]]

    def _chunks(self, xp: np.ndarray):
        """Slices of examples of about POOL_CHUNK_BYTES of input each, so that a window's
        passes over a chunk find it in cache (measured: W7's first pool, forward + backward,
        from ~16 to ~10 ms). They are also the pieces the thread pool splits."""
        m = max(1, POOL_CHUNK_BYTES // max(1, xp[0].nbytes))
        return [slice(s, s + m) for s in range(0, xp.shape[0], m)]

    def _covers(self, padded_shape: tuple, Ho: int, Wo: int) -> bool:
        """Disjoint windows that reach every input entry (dx needs no zero fill)."""
        return self._disjoint and padded_shape[2:] == (Ho * self.stride[0], Wo * self.stride[1])

    @property
    def _disjoint(self) -> bool:
        """Windows that neither overlap nor leave gaps: dx is written by assignment."""
        return self.kernel == self.stride

    def __repr__(self):
        def pair(v):
            return f"{v[0]}" if v[0] == v[1] else f"{v[0]}x{v[1]}"

        pad = f", pad {pair(self.padding)}" if self.padding != (0, 0) else ""
        return (f"{type(self).__name__}({self.kernel[0]}x{self.kernel[1]}, "
                f"stride {pair(self.stride)}{pad})")


class MaxPool2d(_Pool2d):
    """Max pooling (PyTorch's max_pool2d: padding with -inf, ceil_mode False, dilation 1):

        y[n,c,i,j] = max_{p<kh, q<kw} x_pad[n, c, i·sh + p, j·sw + q]

    Backward: the window's arg-max (p*, q*) takes the whole gradient,

        dE/dx_pad[n, c, i·sh + p*, j·sw + q*]  +=  dE/dy[n,c,i,j]

    and every other entry of the window gets 0. Ties go to the first maximum in row-major
    window order, as in PyTorch. The derivative jumps where the arg-max changes, so
    ``has_kinks`` is True and ``kink_state()`` is the arg-max (p*·kw + q*) of each window:
    gradcheck skips entries whose perturbation moves an arg-max (a tie is such a kink).
    The output is kept for the backward: change it only out of place (every layer does).
    """

    pad_value = -np.inf
    has_kinks = True

    def forward(self, x, training=False):
        Ho, Wo = self._check(x)
        xp = self._padded(x)
        y = empty_in_layout(xp, self.output_shape(x.shape))
        chunks = self._chunks(xp)

        def chunk(i, _):
            s = chunks[i]
            ys = y[s]
            for k, (_, _, v) in enumerate(self._windows(xp[s], Ho, Wo)):
                np.copyto(ys, v) if k == 0 else np.maximum(ys, v, out=ys)

        threads.run(chunk, len(chunks))
        self._xp, self._y, self._shape = xp, y, x.shape
        return y

    def backward(self, dy):
        """Disjoint windows (kernel == stride) on a pixel-major input of at least
        ONE_PASS_MIN_CHANNELS channels: one pass each over the (n, C, Ho, kh, Wo, kw) view of
        x_pad, is_max = (x_pad == y broadcast), then window offset by offset in row-major
        order is_max = is_max > taken, taken |= is_max (boolean passes of the output's size,
        so only the first maximum stays), and dE/dx_pad = dy broadcast · is_max.

        Otherwise window by window in row-major order: is_max = (v_pq == y) as 0/1, then
        d_pq = rest · is_max and rest -= d_pq, so the first maximum takes the whole gradient
        and later ties get rest = 0. (Float masks and two float ops measured faster than
        boolean masks window by window on a pixel-major input: about 7.5 vs 13.6 ms on W7's
        first pool.)"""
        xp, y = self._xp, self._y
        Ho, Wo = y.shape[2:]
        dxp = empty_in_layout(xp, xp.shape, None if self._covers(xp.shape, Ho, Wo) else 0)
        chunks = self._chunks(xp)
        one_pass = (self._disjoint and xp.strides[1] == xp.itemsize
                    and xp.shape[1] >= ONE_PASS_MIN_CHANNELS)
        task = self._backward_disjoint if one_pass else self._backward_by_window
        same = _axis_order(dy) == _axis_order(y)

        def chunk(i, _):
            s = chunks[i]
            dys = dy[s]
            if not same:  # dy in y's layout first (W7's second pool, NCHW dy from flatten:
                dys = empty_in_layout(y[s], dys.shape)  # 19.2 ms → 3.0 ms pixel-major)
                np.copyto(dys, dy[s])
            task(xp[s], y[s], dys, dxp[s])

        threads.run(chunk, len(chunks))
        return self._unpad(dxp, self._shape)

    def _split(self, a: np.ndarray, Ho: int, Wo: int) -> np.ndarray:
        """The (n, C, Ho, kh, Wo, kw) view of a's first Ho·kh rows and Wo·kw columns (kernel ==
        stride): a[n, c, i·kh + p, j·kw + q] at [n, c, i, p, j, q]."""
        (kh, kw) = self.kernel
        sn, sc, sh, sw = a.strides
        return np.lib.stride_tricks.as_strided(a, (a.shape[0], a.shape[1], Ho, kh, Wo, kw),
                                               (sn, sc, kh * sh, sh, kw * sw, sw))

    def _backward_disjoint(self, xs, ys, dys, dxs):
        Ho, Wo = ys.shape[2:]
        x6, dx6 = self._split(xs, Ho, Wo), self._split(dxs, Ho, Wo)
        is_max = np.empty_like(x6, dtype=bool)  # in x6's memory order
        np.equal(x6, ys[:, :, :, None, :, None], out=is_max)
        kh, kw = self.kernel
        taken = is_max[:, :, :, 0, :, 0].copy(order="K")
        for k in range(1, kh * kw):
            m = is_max[:, :, :, k // kw, :, k % kw]
            np.greater(m, taken, out=m)  # m and not taken
            if k < kh * kw - 1:
                taken |= m
        np.multiply(dys[:, :, :, None, :, None], is_max, out=dx6)

    def _backward_by_window(self, xs, ys, dys, dxs):
        Ho, Wo = ys.shape[2:]
        rest = dys.copy(order="K")
        is_max = empty_in_layout(ys, ys.shape)
        last = self.kernel[0] * self.kernel[1] - 1
        for k, ((_, _, v), (_, _, d)) in enumerate(zip(self._windows(xs, Ho, Wo),
                                                       self._windows(dxs, Ho, Wo))):
            np.equal(v, ys, out=is_max, casting="unsafe")
            if self._disjoint:
                np.multiply(rest, is_max, out=d)
                if k < last:
                    rest -= d
            else:
                is_max *= rest
                d += is_max
                if k < last:
                    rest -= is_max

    def kink_state(self):
        """The arg-max p·kw + q of each window in the last forward (first one on ties)."""
        Ho, Wo = self._y.shape[2:]
        idx = np.full(self._y.shape, -1, dtype=np.int16)
        for p, q, v in self._windows(self._xp, Ho, Wo):
            idx[(idx < 0) & (v == self._y)] = p * self.kernel[1] + q
        return idx


class AvgPool2d(_Pool2d):
    """Average pooling (PyTorch's avg_pool2d defaults: zero padding counted in the average,
    count_include_pad True, ceil_mode False):

        y[n,c,i,j] = 1/(kh·kw) Σ_{p<kh, q<kw} x_pad[n, c, i·sh + p, j·sw + q]

    Backward: every entry of a window gets an equal share,

        dE/dx_pad[n, c, i·sh + p, j·sw + q]  +=  dE/dy[n,c,i,j] / (kh·kw)   for all p, q
    """

    def forward(self, x, training=False):
        Ho, Wo = self._check(x)
        xp = self._padded(x)
        y = None
        for _, _, v in self._windows(xp, Ho, Wo):
            y = v.copy(order="K") if y is None else np.add(y, v, out=y)
        y *= x.dtype.type(1.0 / (self.kernel[0] * self.kernel[1]))
        self._xp_shape, self._shape, self._like = xp.shape, x.shape, x
        return y

    def backward(self, dy):
        share = dy * dy.dtype.type(1.0 / (self.kernel[0] * self.kernel[1]))
        Ho, Wo = dy.shape[2:]
        dxp = empty_in_layout(self._like, self._xp_shape,
                              None if self._covers(self._xp_shape, Ho, Wo) else 0)
        for _, _, d in self._windows(dxp, Ho, Wo):
            if self._disjoint:
                d[...] = share
            else:
                d += share
        return self._unpad(dxp, self._shape)


class GlobalAvgPool(Layer):
    """Global average pooling, (n, C, H, W) → (n, C): y[n,c] = 1/(H·W) Σ_{i,j} x[n,c,i,j]
    (PyTorch: adaptive_avg_pool2d(x, 1).flatten(1)).

    Backward: dE/dx[n,c,i,j] = dE/dy[n,c] / (H·W) for every i, j.
    """

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dy):
        n, C, H, W = self._shape
        dx = np.empty(self._shape, dtype=dy.dtype)
        dx[...] = (dy * dy.dtype.type(1.0 / (H * W)))[:, :, None, None]
        return dx

    def __repr__(self):
        return "GlobalAvgPool()"


class Flatten(Layer):
    """(n, C, H, W) → (n, C·H·W) in C order (channel, then row, then column; PyTorch's
    flatten(1)), a view when the input's memory allows it, else a copy.

    Backward: dE/dx is dE/dy reshaped to the input's shape.
    """

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._shape)

    def __repr__(self):
        return "Flatten()"
