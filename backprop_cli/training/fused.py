"""Fused optimizer updates, compiled with Numba (the ``fast`` extra): one pass over the
weights where NumPy makes 4 (SGD with momentum), 7 (Adagrad) or 13 (Adam) passes. These are
the optimizers PyTorch offers ``fused=True`` for; RMSprop keeps NumPy's passes, as it has none.

Each loop does, for one entry, the arithmetic of the NumPy update in training/optimizers.py,
operation for operation, in the weights' dtype: the same roundings in the same order, so the
weights come out bit-identical (tests/test_fused.py checks every option, float32 and float64).
That takes three things: constants handed in as scalars of the weights' dtype (as NumPy casts
a Python float against a float32 array), no fast-math (LLVM may then neither reorder nor fuse a
multiply and an add), and ``error_model='numpy'`` (no Python division checks, so the loops
vectorize). optimizers.py runs a loop once per step over the whole flat array, on the
training thread: on engine/threads.py's pool, in blocks, it measured slower (W3's Adam at 2
threads: 106 µs on one thread, 167 µs in blocks on two).

Measured on the 2-core machine (1 thread, float32, best of 3, 2026-11-27): Adam over W3's
235,146 weights 342 → 94 µs, over W4-size 1,863,690 4,408 → 846 µs.

This module imports numba: import it only when a fused update is wanted (optimizers.py's
``fused_available()`` asks without importing).
"""
from __future__ import annotations

import numba
import numpy as np

_jit = numba.njit(nogil=True, cache=True, error_model="numpy")


@_jit
def sgd(w, g, b, wd, mu, keep, lr, decay, momentum, first, dampening, nesterov):
    """SGD (optimizers.SGD.update): g ← g + wd·θ; b ← g (first step) or μ b + keep·g (keep =
    1 - dampening, skipped without dampening); g ← g + μ b (nesterov) or b; θ ← θ - η g."""
    for i in range(w.size):
        wi = w[i]
        gi = g[i]
        if decay:
            gi = wi * wd + gi
        if momentum:
            if first:
                bi = gi
            else:
                bi = b[i] * mu
                if dampening:
                    bi = bi + gi * keep
                else:
                    bi = bi + gi
            b[i] = bi
            if nesterov:
                gi = gi + bi * mu
            else:
                gi = bi
        w[i] = wi - gi * lr


@_jit
def adam(w, g, m, v, vmax, shrink, wd, weight, rest, b2, keep2, step_size, c2, eps,
         decay, decoupled, small, amsgrad):
    """Adam and AdamW (optimizers.Adam.update): θ ← θ·shrink first (AdamW, shrink = 1 - η·wd),
    or g ← g + wd·θ (Adam); m ← lerp(m, g, weight) as torch.lerp_ (small: m + weight·(g - m),
    else g - rest·(g - m), rest = 1 - weight); v ← β2 v + (keep2·g)·g; v̂ ← max(v̂, v)
    (amsgrad; NaN wins, as np.maximum); θ ← θ - (m·step_size) / (√v̂ / c2 + eps)."""
    for i in range(w.size):
        wi = w[i]
        gi = g[i]
        if decay:
            if decoupled:
                wi = wi * shrink
            else:
                gi = wi * wd + gi
        mi = m[i]
        if small:
            mi = mi + (gi - mi) * weight
        else:
            mi = gi - (gi - mi) * rest
        m[i] = mi
        vi = v[i] * b2 + (gi * keep2) * gi
        v[i] = vi
        if amsgrad:
            vh = vmax[i]
            if vi > vh or vi != vi:
                vh = vi
            vmax[i] = vh
            vi = vh
        w[i] = wi - (mi * step_size) / (np.sqrt(vi) / c2 + eps)


@_jit
def adagrad(w, g, s, wd, clr, eps, decay):
    """Adagrad (optimizers.Adagrad.update): g ← g + wd·θ; s ← s + g·g;
    θ ← θ - (g·clr) / (√s + eps), clr the decayed learning rate."""
    for i in range(w.size):
        wi = w[i]
        gi = g[i]
        if decay:
            gi = wi * wd + gi
        si = s[i] + gi * gi
        s[i] = si
        w[i] = wi - (gi * clr) / (np.sqrt(si) + eps)
