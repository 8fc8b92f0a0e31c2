"""2-D convolution (cross-correlation, as PyTorch's conv2d) over NCHW tensors, by im2col + GEMM.

Layout: tensors are NCHW in shape, as PyTorch's. In memory the layer works pixel-major (NHWC):
it pads the input into an (n, Hp, Wp, C) buffer, copies the kh·kw windows into a column
matrix of rows (n, i, j) and columns (p, q, c), and one GEMM with the weights gives an
(n, Ho, Wo, O) array, returned as its (n, O, Ho, Wo) transposed view. Measured on W6/W7
shapes (benchmarks/conv_layers.py, 1 thread): the pixel-major GEMM ran ~20% faster than the
channel-major W @ cols, and copying windows out of an NHWC buffer moves runs of C contiguous
values instead of kw. Layers after a conv keep the layout (ufuncs and the pools allocate
like their input), and flatten copies to C order, so results never depend on the layout.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .layers import Layer
from .parameter import Parameter

#: Upper bound on the column (im2col) buffer of one forward, in bytes. A batch whose
#: columns would exceed it is processed in chunks of examples (the same results, but the
#: backward then rebuilds each chunk's columns instead of keeping them).
MAX_IM2COL_BYTES = 256 * 2**20


def conv_output_size(size: int, kernel: int, stride: int, pad: tuple[int, int], dilation: int) -> int:
    """PyTorch's floor((size + pad_before + pad_after - dilation·(kernel - 1) - 1) / stride) + 1."""
    return (size + pad[0] + pad[1] - dilation * (kernel - 1) - 1) // stride + 1


class Workspace:
    """Named scratch arrays that a layer reuses across calls: a request for at most as many
    examples as the buffer holds gets a prefix of it, anything else a new buffer. Never
    hand one to a caller who keeps it: the next call overwrites it.

    ``zero`` buffers are zero-filled when made; users write only their interior, so the
    border (the padding) stays zero across calls.
    """

    def __init__(self):
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple, dtype, zero: bool = False) -> np.ndarray:
        buf = self._buffers.get(name)
        if buf is None or buf.dtype != dtype or buf.shape[1:] != tuple(shape[1:]) or buf.shape[0] < shape[0]:
            buf = (np.zeros if zero else np.empty)(shape, dtype=dtype)
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
    (rows (n, i, j), columns (p, q, c)) and W2 = W as (O, kh·kw·C): net = cols @ W2.T + b,
    dE/dW2 = delta.T @ cols (the forward's cols, kept), dE/dcols = delta @ W2, and col2im
    adds dE/dcols back to x_pad as kh·kw strided slices. With ``input_grad`` False (the
    first layer in training) dE/dx is not computed and backward returns None.

    The output is a view of a pixel-major (n, Ho, Wo, O) array, fresh each call; dE/dx is a
    fresh array too. The layer's scratch buffers (padded input, columns) are its own.
    """

    input_grad = True

    def __init__(self, W: Parameter, b: Parameter, stride=(1, 1), padding=((0, 0), (0, 0)),
                 dilation=(1, 1)):
        if W.value.ndim != 4 or b.value.shape != W.value.shape[:1]:
            raise ValueError(f"conv2d needs W (O, C, kh, kw) and b (O,), got W {W.value.shape} "
                             f"and b {b.value.shape}")
        self.W, self.b = W, b
        self.stride = tuple(int(s) for s in stride)
        self.padding = tuple(tuple(int(p) for p in pair) for pair in padding)
        self.dilation = tuple(int(d) for d in dilation)
        self._ws = Workspace()
        self._cache = None

    def output_shape(self, shape: tuple) -> tuple:
        """(n, O, Ho, Wo) for an input of shape (n, C, H, W)."""
        n, _, H, Wd = shape
        O, _, kh, kw = self.W.value.shape
        (sh, sw), (dh, dw), (ph, pw) = self.stride, self.dilation, self.padding
        return (n, O, conv_output_size(H, kh, sh, ph, dh), conv_output_size(Wd, kw, sw, pw, dw))

    def _chunk(self, per_example_bytes: int, n: int) -> int:
        return max(1, min(n, MAX_IM2COL_BYTES // max(1, per_example_bytes)))

    def _im2col(self, xp: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Copy the windows of the NHWC buffer xp into out (m, Ho, Wo, kh, kw, C)."""
        _, _, kh, kw = self.W.value.shape
        (sh, sw), (dh, dw) = self.stride, self.dilation
        win = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(1, 2))
        win = win[:, ::sh, ::sw, :, ::dh, ::dw]  # (m, Ho, Wo, C, kh, kw)
        np.copyto(out, win.transpose(0, 1, 2, 4, 5, 3))
        return out.reshape(-1, out[0, 0, 0].size)

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
        xp = self._ws.get("xp", (n, H + top + bottom, Wd + left + right, C), dtype, zero=True)
        xp[:, top:top + H, left:left + Wd, :] = x.transpose(0, 2, 3, 1)
        W2 = self.W.value.transpose(0, 2, 3, 1).reshape(O, -1)  # (O, kh·kw·C), a copy
        K = W2.shape[1]
        m = self._chunk(Ho * Wo * K * xp.itemsize, n)
        y = np.empty((n, Ho, Wo, O), dtype=dtype)
        cols = None
        for s in range(0, n, m):
            e = min(n, s + m)
            cols = self._im2col(xp[s:e], self._ws.get("cols", (e - s, Ho, Wo, kh, kw, C), dtype))
            np.matmul(cols, W2.T, out=y[s:e].reshape(-1, O))
        y += self.b.value
        self._cache = (xp, W2, cols if m >= n else None, x.shape, (Ho, Wo), m)
        return y.transpose(0, 3, 1, 2)

    def backward(self, delta):
        xp, W2, cols, shape, (Ho, Wo), m = self._cache
        n, C, H, Wd = shape
        O, _, kh, kw = self.W.value.shape
        d = delta.transpose(0, 2, 3, 1)  # free when delta is pixel-major, as the forward made it
        d = (d if d.flags.c_contiguous else np.ascontiguousarray(d)).reshape(-1, O)
        np.add.reduce(d, axis=0, out=self.b.grad)
        dW2 = np.empty_like(W2)
        if cols is not None:
            np.matmul(d.T, cols, out=dW2)
        else:  # chunked: rebuild each chunk's columns
            dW2[...] = 0
            for s in range(0, n, m):
                e = min(n, s + m)
                c = self._im2col(xp[s:e], self._ws.get("cols", (e - s, Ho, Wo, kh, kw, C), W2.dtype))
                dW2 += d[s * Ho * Wo:e * Ho * Wo].T @ c
        self.W.grad[...] = dW2.reshape(O, kh, kw, C).transpose(0, 3, 1, 2)
        if not self.input_grad:
            return None
        (sh, sw), (dh, dw) = self.stride, self.dilation
        (top, _), (left, _) = self.padding
        dxp = np.zeros(xp.shape, dtype=W2.dtype)
        for s in range(0, n, m):
            e = min(n, s + m)
            dcols = self._ws.get("dcols", ((e - s) * Ho * Wo, W2.shape[1]), W2.dtype)
            np.matmul(d[s * Ho * Wo:e * Ho * Wo], W2, out=dcols)
            dcols = dcols.reshape(e - s, Ho, Wo, kh, kw, C)
            for p in range(kh):
                for q in range(kw):
                    i0, j0 = p * dh, q * dw
                    dxp[s:e, i0:i0 + sh * (Ho - 1) + 1:sh, j0:j0 + sw * (Wo - 1) + 1:sw] += dcols[:, :, :, p, q]
        return dxp[:, top:top + H, left:left + Wd].transpose(0, 3, 1, 2)

    def parameters(self):
        return [self.W, self.b]

    def __repr__(self):
        O, C, kh, kw = self.W.value.shape

        def pair(v):
            return f"{v[0]}" if v[0] == v[1] else f"{v[0]}x{v[1]}"

        (t, b), (l, r) = self.padding
        pad = f"{t}" if t == b == l == r else f"{pair((t, l))}" if (t, l) == (b, r) else f"{self.padding}"
        dil = f", dilation {pair(self.dilation)}" if self.dilation != (1, 1) else ""
        return f"Conv2d({C}→{O}, {kh}x{kw}, stride {pair(self.stride)}, pad {pad}{dil})"
