"""2-D convolution (cross-correlation, as PyTorch's conv2d) over NCHW tensors, by im2col + GEMM.

Layout: tensors are NCHW in shape, as PyTorch's. In memory the layer works pixel-major (NHWC):
it pads the input into an (n, Hp, Wp, C) buffer, copies the kh·kw windows into a column
matrix of rows (n, i, j) and columns (p, q, c), and one GEMM per chunk of examples with the
weights gives an (n, Ho, Wo, O) array, returned as its (n, O, Ho, Wo) transposed view.
Layers after a conv keep the layout (ufuncs and the pools allocate like their input), and
flatten copies to C order, so results never depend on the layout. A layer with at most
TRANSPOSED_MAX_C input channels (a network's first: 1 or 3) pads into an NCHW buffer instead
and stores the columns transposed, (kh·kw·C + 1, rows): its copies are runs of Wo values,
not of kw·C (W6 conv1, C = 1: 68 µs against 505 µs per chunk of 12 examples), and dE/dW is
then computed as its transpose cols.T @ delta (1.0 ms against 2.3 ms for delta.T @ cols).
Forward + backward, 1 thread, paired best-of on a shared machine: W6 conv1 5.2 → 3.5 ms,
W7 conv1 24.6 → 19.5 ms; W6 conv2 (C = 6) 5.6 → 6.0 and W7 conv2 147 → 172 ms transposed,
so the layers with more channels stay pixel-major.

The chunks of examples (pad + copy + product in the forward; product + col2im in the
backward's dE/dx) each write their own examples' rows, so they can run on engine/threads.py's
pool with the same numbers (THREADED_CHUNKS; off: slower than OpenBLAS threading each
product, see engine/threads.py). dE/dW stays one product over the whole batch: split into
blocks of O rows it changed float32 results in the last bit against one product.

Measured on the W7 conv2 shape (128x32x16x16, 64@3x3 pad 1, float32, 1 thread, best of 7;
benchmarks/conv_layers.py --alternatives; a shared machine, so figures move by ~20%): the
pixel-major products (forward, dE/dW, dE/dcols) 15.9, 16.0 and 13.5 ms against 20.4, 22.6
and 18.7 ms channel-major (W @ cols); dE/dW by matmul 16.3 ms against tensordot 16.5 and
einsum 18.8;
the window copy from an NHWC buffer 1.9 ms against 17.9 ms from NCHW (runs of C contiguous
values instead of kw); dE/dx as kh·kw (rows, C) blocks in cache-sized chunks 19 ms against
31 ms for one (rows, K) product and col2im over the whole batch.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import threads
from .blocks import window_out
from .layers import Layer
from .parameter import Parameter

#: Upper bound on the column (im2col) buffer, in bytes. The forward keeps the whole
#: batch's columns for the backward's dE/dW when they fit; past this bound it keeps one
#: chunk's, and the backward rebuilds each chunk's columns (the same results to rounding:
#: dE/dW then sums the chunks' products).
MAX_IM2COL_BYTES = 256 * 2**20
#: Examples are processed in chunks of about this many bytes of columns (a core's L2
#: cache), so a chunk's copy and its product, or its product and its col2im, meet in cache.
CACHE_CHUNK_BYTES = 1 << 20
#: Layers with at most this many input channels store their columns transposed (see
#: Conv2d._transposed): W6 conv1 (C = 1) im2col per chunk of 12 examples 68 µs against 505 µs.
TRANSPOSED_MAX_C = 3
#: Run the chunks on engine/threads.py's pool when BLAS has several threads. Off: measured
#: slower than one chunk at a time with OpenBLAS threading the products (engine/threads.py
#: gives the figures); the chunked code stays ready for it (issue 18).
THREADED_CHUNKS = False


class Workspace:
    """Named scratch arrays that a layer reuses across calls: a request for at most as many
    examples as the buffer holds gets a prefix of it, anything else a new buffer. Never
    hand one to a caller who keeps it: the next call overwrites it.

    ``fill`` fills a buffer when it is made: the padded input's border (zeros) and the
    columns' last column (ones) are never written after that.
    """

    def __init__(self):
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple, dtype, fill=None) -> np.ndarray:
        buf = self._buffers.get(name)
        if buf is None or buf.dtype != dtype or buf.shape[1:] != tuple(shape[1:]) or buf.shape[0] < shape[0]:
            buf = np.empty(shape, dtype=dtype) if fill is None else np.full(shape, fill, dtype=dtype)
            self._buffers[name] = buf
        return buf[:shape[0]]


class Conv2d(Layer):
    """2-D convolution: x (n, C, H, W), W (O, C, kh, kw) in PyTorch's layout, b (O,).

    With x_pad the input padded with zeros (top, bottom rows, left, right columns), stride
    (sh, sw) and dilation (dh, dw):

        net[n,o,i,j] = b[o] + Σ_{c,p,q} W[o,c,p,q] · x_pad[n, c, i·sh + p·dh, j·sw + q·dw]

    of shape (n, O, Ho, Wo), Ho = (H + top + bottom - dh·(kh - 1) - 1) // sh + 1 (Wo alike).

    Backward, with delta = dE/dnet:

        dE/dW[o,c,p,q] = Σ_{n,i,j} delta[n,o,i,j] · x_pad[n, c, i·sh + p·dh, j·sw + q·dw]
        dE/db[o]       = Σ_{n,i,j} delta[n,o,i,j]
        dE/dx_pad[n, c, i·sh + p·dh, j·sw + q·dw]  +=  Σ_o delta[n,o,i,j] · W[o,c,p,q]
                         (summed over every (i, j, p, q) that reaches the pixel)

    and dE/dx is dE/dx_pad without its padding. As matrices, with cols the im2col matrix
    (rows (n, i, j), columns (p, q, c), then a column of ones) and Wb = [W as (O, kh·kw·C) | b]:

        net = cols @ Wb.T,   [dE/dW | dE/db] = delta.T @ cols,   dE/dcols = delta @ W

    Without a bias (``b`` None, a layer's ``bias: false``): net = W ∗ x and the layer has no
    b parameter; the ones column stays and multiplies a 0 in Wb (an exact +0 in each sum, so
    the outputs are those of a bias of zeros), and the column dE/db is computed and dropped.

    ([dE/dW | dE/db] as (cols.T @ delta).T when the columns are stored transposed)

    (the bias rides in the products: no pass over net or delta of its own), dE/dW from the
    forward's cols, and col2im adds dE/dcols back to x_pad as kh·kw strided slices. With
    ``input_grad`` False (the first layer in training) dE/dx is not computed and backward
    returns None.

    The output is a view of a pixel-major (n, Ho, Wo, O) array, fresh each call; dE/dx is a
    fresh array too. The layer's scratch buffers (padded input, columns) are its own.
    """

    input_grad = True

    def __init__(self, W: Parameter, b: Parameter | None, stride=(1, 1), padding=((0, 0), (0, 0)),
                 dilation=(1, 1)):
        if W.value.ndim != 4 or (b is not None and b.value.shape != W.value.shape[:1]):
            raise ValueError(f"conv2d needs W (O, C, kh, kw) and b (O,), got W {W.value.shape} "
                             f"and b {None if b is None else b.value.shape}")
        self.W, self.b = W, b
        self.stride = tuple(int(s) for s in stride)
        self.padding = tuple(tuple(int(p) for p in pair) for pair in padding)
        self.dilation = tuple(int(d) for d in dilation)
        self._ws = Workspace()
        self._cache = None
        self._tcols = False

    def output_shape(self, shape: tuple) -> tuple:
        """(n, O, Ho, Wo) for an input of shape (n, C, H, W)."""
        n, _, H, Wd = shape
        O, _, kh, kw = self.W.value.shape
        (sh, sw), (dh, dw), (ph, pw) = self.stride, self.dilation, self.padding
        return (n, O, window_out(H, kh, sh, sum(ph), dh), window_out(Wd, kw, sw, sum(pw), dw))

    def _transposed(self, C: int) -> bool:
        """Columns stored transposed, (kh·kw·C + 1, rows), from an NCHW padded input, for few
        input channels: each copy is then a run of Wo values instead of kw·C."""
        return C <= TRANSPOSED_MAX_C

    def _im2col(self, xp: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Copy the windows of the padded chunk xp (m examples: NHWC, or NCHW when columns
        are transposed) into the first kh·kw·C columns of cols (m·Ho·Wo rows; its last
        column holds the ones that multiply the bias); cols may be the transposed view of a
        (K + 1, rows) array."""
        _, _, kh, kw = self.W.value.shape
        (sh, sw), (dh, dw) = self.stride, self.dilation
        transposed = self._tcols
        spatial = (2, 3) if transposed else (1, 2)
        win = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=spatial)
        if transposed:
            m, C = xp.shape[:2]
            win = win[:, :, ::sh, ::sw, ::dh, ::dw]  # (m, C, Ho, Wo, kh, kw)
            out = cols.T[:-1].reshape((kh, kw, C, m) + win.shape[2:4])
            src = win.transpose(4, 5, 1, 0, 2, 3)
        else:
            m, C = xp.shape[0], xp.shape[3]
            win = win[:, ::sh, ::sw, :, ::dh, ::dw]  # (m, Ho, Wo, C, kh, kw)
            out = cols[:, :-1].reshape(win.shape[:3] + (kh, kw, C))
            src = win.transpose(0, 1, 2, 4, 5, 3)
        assert np.may_share_memory(out, cols)  # a view: the copy lands in cols
        np.copyto(out, src)
        return cols

    def _columns(self, name: str, rows: int, K: int, dtype) -> np.ndarray:
        """A (rows, K + 1) column matrix from the workspace whose last column is ones: a
        transposed view of a (K + 1, rows) buffer when ``self._tcols``."""
        if not self._tcols:
            return self._ws.get(name, (rows, K + 1), dtype, fill=1)
        flat = self._ws.get(name + "T", ((K + 1) * rows,), dtype)
        colsT = flat.reshape(K + 1, rows)
        colsT[K] = 1
        return colsT.T

    def forward(self, x, training=False):
        n, C, H, Wd = x.shape
        O, Cw, kh, kw = self.W.value.shape
        if C != Cw:
            raise ValueError(f"{self!r} expects {Cw} input channels, got input of shape {x.shape}")
        _, _, Ho, Wo = self.output_shape(x.shape)
        if Ho < 1 or Wo < 1:
            raise ValueError(f"{self!r} does not fit an input of shape {x.shape} (output {Ho}x{Wo})")
        (top, bottom), (left, right) = self.padding
        dtype = self.W.value.dtype
        self._tcols = self._transposed(C)
        Hp, Wp = H + top + bottom, Wd + left + right
        xp = self._ws.get("xp", (n, C, Hp, Wp) if self._tcols else (n, Hp, Wp, C), dtype, fill=0)
        K, P = C * kh * kw, Ho * Wo
        Wb = np.empty((O, K + 1), dtype=dtype)  # [W2 | b]
        Wb[:, :K] = self.W.value.transpose(0, 2, 3, 1).reshape(O, K)
        Wb[:, K] = 0 if self.b is None else self.b.value
        per_example = P * (K + 1) * xp.itemsize
        keep = n * per_example <= MAX_IM2COL_BYTES
        m = max(1, min(n, CACHE_CHUNK_BYTES // per_example, MAX_IM2COL_BYTES // per_example))
        cols_all = self._columns("cols", n * P, K, dtype) if keep else None
        y = np.empty((n, Ho, Wo, O), dtype=dtype)

        def chunk(i, worker):  # copy, then product, while the chunk is in cache
            s, e = i * m, min(n, (i + 1) * m)
            if self._tcols:
                xp[s:e, :, top:top + H, left:left + Wd] = x[s:e]
            else:
                xp[s:e, top:top + H, left:left + Wd, :] = x[s:e].transpose(0, 2, 3, 1)
            cols = (cols_all[s * P:e * P] if keep else
                    self._columns(f"cols{worker}", m * P, K, dtype)[:(e - s) * P])
            np.matmul(self._im2col(xp[s:e], cols), Wb.T, out=y[s:e].reshape(-1, O))

        threads.run(chunk, -(-n // m), None if THREADED_CHUNKS else 1)
        self._cache = (xp, Wb, cols_all if keep else None, m, x.shape, (Ho, Wo))
        return y.transpose(0, 3, 1, 2)

    def backward(self, delta):
        xp, Wb, cols_all, m, shape, (Ho, Wo) = self._cache
        n, C, H, Wd = shape
        O, _, kh, kw = self.W.value.shape
        K, P = Wb.shape[1] - 1, Ho * Wo
        d = delta.transpose(0, 2, 3, 1)  # free when delta is pixel-major, as the forward made it
        d = (d if d.flags.c_contiguous else np.ascontiguousarray(d)).reshape(-1, O)
        # [dE/dW2 | dE/db] (the ones column of cols sums delta); with transposed columns
        # as its transpose cols.T @ delta (W6 conv1: 1.0 ms against 2.3 ms for delta.T @ cols)
        def product(cols, dd, out):
            return np.matmul(cols.T, dd, out=out.T) if self._tcols else np.matmul(dd.T, cols, out=out)

        dWb = np.empty(Wb.shape[::-1], dtype=Wb.dtype).T if self._tcols else np.empty_like(Wb)
        if cols_all is not None:
            product(cols_all, d, dWb)
        else:  # the columns were not kept: rebuild them chunk by chunk
            part = np.empty_like(dWb.T).T
            for s in range(0, n, m):
                e = min(n, s + m)
                cols = self._im2col(xp[s:e], self._columns("cols0", m * P, K, Wb.dtype)[:(e - s) * P])
                product(cols, d[s * P:e * P], dWb if s == 0 else part)
                if s:
                    dWb += part
        self.W.grad[...] = dWb[:, :K].reshape(O, kh, kw, C).transpose(0, 3, 1, 2)
        if self.b is not None:
            self.b.grad[...] = dWb[:, K]
        if not self.input_grad:
            return None
        (sh, sw), (dh, dw) = self.stride, self.dilation
        (top, _), (left, _) = self.padding
        # dE/dcols as kh·kw blocks (rows, C), one product each: block (p, q) is added to
        # x_pad as one strided slice whose rows are runs of Wo·C (stride 1) contiguous values
        Wq = np.ascontiguousarray(Wb[:, :K].reshape(O, kh * kw, C).transpose(1, 0, 2))
        dxp = np.empty((n,) + (xp.shape[2:] + xp.shape[1:2] if self._tcols else xp.shape[1:]),
                       dtype=Wb.dtype)  # NHWC
        cm = max(1, min(n, CACHE_CHUNK_BYTES // (P * K * xp.itemsize)))

        def chunk(i, worker):  # product, then col2im, while the chunk is in cache
            s, e = i * cm, min(n, (i + 1) * cm)
            dxp[s:e] = 0
            flat = self._ws.get(f"dcols{worker}", (kh * kw * cm * P * C,), Wb.dtype)
            dcols = flat[:kh * kw * (e - s) * P * C].reshape(kh * kw, (e - s) * P, C)
            np.matmul(d[s * P:e * P], Wq, out=dcols)
            dcols = dcols.reshape(kh, kw, e - s, Ho, Wo, C)
            for p in range(kh):
                for q in range(kw):
                    i0, j0 = p * dh, q * dw
                    dxp[s:e, i0:i0 + sh * (Ho - 1) + 1:sh, j0:j0 + sw * (Wo - 1) + 1:sw] += dcols[p, q]

        threads.run(chunk, -(-n // cm), None if THREADED_CHUNKS else 1)
        return dxp[:, top:top + H, left:left + Wd].transpose(0, 3, 1, 2)

    def parameters(self):
        return [self.W] if self.b is None else [self.W, self.b]

    def __repr__(self):
        O, C, kh, kw = self.W.value.shape

        def pair(v):
            return f"{v[0]}" if v[0] == v[1] else f"{v[0]}x{v[1]}"

        (t, b), (l, r) = self.padding
        pad = f"{t}" if t == b == l == r else f"{pair((t, l))}" if (t, l) == (b, r) else f"{self.padding}"
        dil = f", dilation {pair(self.dilation)}" if self.dilation != (1, 1) else ""
        nob = ", no bias" if self.b is None else ""
        return f"Conv2d({C}→{O}, {kh}x{kw}, stride {pair(self.stride)}, pad {pad}{dil}{nob})"
