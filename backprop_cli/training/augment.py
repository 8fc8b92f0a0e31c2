"""Image augmentation (note 002's dataset augmentation): random flips, crops, shifts and
rotations of every training batch, never at evaluation, beside the input noise of
``regularizers.InputNoise``.

Features stay flat rows (n, d) in the trainer; an image batch is viewed as (n, C, H, W)
(d = C·H·W, rows flattened row-major, ``Splits.shape``), transformed, and returned flat as a
new array of the batch's dtype: the training set itself is never written. Pixel (i, j) is
row i from the top, column j from the left. Each transform draws its parameters per example
from the run's augment stream, in a fixed order (flip, crop, shift, rotate, then noise), so
the same seed gives the same batches and a resumed run draws what the uninterrupted one
would have.

| option | per example | out[c, i, j] |
| --- | --- | --- |
| ``flip: horizontal`` | b ~ Bernoulli(1/2) | x[c, i, W-1-j] if b else x[c, i, j] |
| ``flip: vertical`` | b ~ Bernoulli(1/2) | x[c, H-1-i, j] if b else x[c, i, j] |
| ``crop: p`` | (oy, ox) uniform in {0..2p}² | P[c, i+oy, j+ox], P = x padded by p zeros |
| ``shift: s`` | (dy, dx) uniform in {-s..s}² | x[c, i-dy, j-dx] (0 outside the image) |
| ``rotate: a`` | θ uniform in [-a, a] degrees | bilinear x at the point rotated by -θ about the centre |

A crop of the padded image is the translation by (p - oy, p - ox); both are zero-filled
translations (torchvision's ``RandomCrop(size, padding=p)``, Keras's ``RandomTranslation``
with ``fill_mode='constant'``).
"""
from __future__ import annotations

import numpy as np

from .regularizers import InputNoise

FLIPS = ("horizontal", "vertical")
#: the options that need images (data.shape); noise works on any features
IMAGE_OPTIONS = ("flip", "crop", "shift", "rotate")
#: pixels per block of :func:`rotate` (8 MNIST images)
BLOCK = 8 * 28 * 28


def flip_axes(value) -> tuple[bool, bool]:
    """(horizontal, vertical) of an ``augment.flip`` value: null, horizontal, vertical,
    both, or a list of horizontal and vertical."""
    names = set(FLIPS if value == "both" else [value] if isinstance(value, str) else value or [])
    return "horizontal" in names, "vertical" in names


def flip(x: np.ndarray, horizontal: np.ndarray | None = None,
         vertical: np.ndarray | None = None) -> np.ndarray:
    """Mirror the images x (n, C, H, W) whose flag is set: ``horizontal`` (n,) bool reverses
    their columns, out[c, i, j] = x[c, i, W-1-j]; ``vertical`` (n,) their rows,
    out[c, i, j] = x[c, H-1-i, j]. A new array; flipping twice is the identity."""
    out = x
    if horizontal is not None:
        out = np.where(horizontal[:, None, None, None], out[..., ::-1], out)
    if vertical is not None:
        out = np.where(vertical[:, None, None, None], out[..., ::-1, :], out)
    return out if out is not x else x.copy()


def translate(x: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Move each image of x (n, C, H, W) down by dy[k] and right by dx[k] whole pixels
    (integers, negative: up / left), filling with zeros:

        out[k, c, i, j] = x[k, c, i - dy[k], j - dx[k]]   (0 where that is outside the image)

    One gather from the zero-padded batch P (padded by s = max |offset|): out[k] is the
    window of P at (s - dy[k], s - dx[k])."""
    n, C, H, W = x.shape
    s = int(max(np.abs(dy).max(initial=0), np.abs(dx).max(initial=0)))
    if s == 0:
        return x.copy()
    padded = np.zeros((n, C, H + 2 * s, W + 2 * s), dtype=x.dtype)
    padded[:, :, s:s + H, s:s + W] = x
    windows = np.lib.stride_tricks.sliding_window_view(padded, (H, W), axis=(2, 3))
    # windows (n, C, 2s+1, 2s+1, H, W); the advanced indices put the batch axis first
    return windows[np.arange(n), :, s - np.asarray(dy), s - np.asarray(dx)]


def crop(x: np.ndarray, oy: np.ndarray, ox: np.ndarray, padding: int) -> np.ndarray:
    """The H x W window at (oy[k], ox[k]) (each in 0..2p) of each image padded by p =
    ``padding`` zeros on every side: out[k, c, i, j] = P[k, c, i + oy[k], j + ox[k]], which
    is x translated by (p - oy[k], p - ox[k]) (see :func:`translate`)."""
    return translate(x, padding - np.asarray(oy), padding - np.asarray(ox))


def rotate(x: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """Rotate each image of x (n, C, H, W) by degrees[k] counterclockwise as displayed (row 0
    at the top; np.rot90's direction, and torchvision's), about its centre (cy, cx) =
    ((H-1)/2, (W-1)/2), bilinear, zero outside the image. Output pixel (i, j), at
    (y, x) = (i - cy, j - cx) from the centre, samples the input at the point rotated back:

        r = cy + y cos θ + x sin θ,   s = cx + x cos θ - y sin θ
        out[i, j] = Σ over the four corners (r0 + a, s0 + b), a, b in {0, 1}, of
                    (1 - |r - r0 - a|) (1 - |s - s0 - b|) x[r0 + a, s0 + b]

    with r0 = ⌊r⌋, s0 = ⌊s⌋, and a corner outside the image counting as 0. θ = 90° is
    np.rot90 (for a square image); a linear function of (i, j) is reproduced exactly where
    all four corners are inside. Vectorised over blocks of examples: four gathers of
    (k, C, H·W) from the block padded by one zero pixel (which holds the corners outside the
    image). Blocks of k·H·W ≈ BLOCK pixels keep the temporaries small (64 MNIST images, best
    of 7 on a shared 2-core machine: 2.4 ms as one block, 0.76 ms in blocks of 8; large
    temporaries cost fresh memory each call)."""
    n, C, H, W = x.shape
    k = max(1, BLOCK // (H * W))
    if n <= k:
        return _rotate_block(x, np.asarray(degrees, dtype=np.float64))
    out = np.empty_like(x)
    for start in range(0, n, k):
        out[start:start + k] = _rotate_block(x[start:start + k], np.asarray(degrees[start:start + k],
                                                                             dtype=np.float64))
    return out


def _rotate_block(x: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """:func:`rotate` of one block of examples."""
    n, C, H, W = x.shape
    theta = np.deg2rad(np.asarray(degrees, dtype=np.float64))[:, None, None]
    cos, sin = np.cos(theta), np.sin(theta)
    cy, cx = (H - 1) / 2, (W - 1) / 2
    y = np.arange(H, dtype=np.float64)[None, :, None] - cy
    xx = np.arange(W, dtype=np.float64)[None, None, :] - cx
    r = (cy + y * cos + xx * sin).reshape(n, 1, H * W)
    s = (cx + xx * cos - y * sin).reshape(n, 1, H * W)
    # a point with all four corners outside samples (-1, -1) of the zero border instead
    outside = (r <= -1) | (r >= H) | (s <= -1) | (s >= W)
    np.copyto(r, -1.0, where=outside)
    np.copyto(s, -1.0, where=outside)
    r0, s0 = np.floor(r), np.floor(s)               # in -1 .. H-1 and -1 .. W-1
    fr, fs = (r - r0).astype(x.dtype), (s - s0).astype(x.dtype)
    P = (H + 2) * (W + 2)                           # the image padded by one zero pixel
    padded = np.zeros((n, C, H + 2, W + 2), dtype=x.dtype)
    padded[:, :, 1:-1, 1:-1] = x
    base = r0.astype(np.intp)
    base *= W + 2
    base += s0.astype(np.intp)
    base += (W + 3) + (np.arange(n) * (C * P))[:, None, None]
    if C > 1:
        base = base + (np.arange(C) * P)[None, :, None]
    flat = padded.reshape(-1)
    v00, v01 = flat.take(base), flat.take(base + 1)
    v10, v11 = flat.take(base + (W + 2)), flat.take(base + (W + 3))
    top = v00 + fs * (v01 - v00)                    # (1 - fs) v00 + fs v01
    out = top + fr * (v10 + fs * (v11 - v10) - top)
    return out.reshape(n, C, H, W)


class Augment:
    """The ``augment`` section on image batches: flip, crop, shift, rotate (the module's
    table), then Gaussian noise, each with parameters drawn per example from ``rng``.
    Called with a flat batch (n, C·H·W); returns a new flat array of its dtype."""

    def __init__(self, shape: tuple[int, int, int], rng: np.random.Generator, *, flip=None,
                 crop: int = 0, shift: int = 0, rotate: float = 0.0, noise: float = 0.0):
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"shape must be (C, H, W) of positive sizes, got {shape}")
        for name, v in (("crop", crop), ("shift", shift), ("rotate", rotate)):
            if not v >= 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        self.shape, self.rng = tuple(int(v) for v in shape), rng
        self.flips = flip_axes(flip)
        self.crop, self.shift, self.rotate = int(crop), int(shift), float(rotate)
        self.noise = InputNoise(noise, rng) if noise else None

    def __call__(self, xb: np.ndarray) -> np.ndarray:
        n = len(xb)
        x = xb.reshape(n, *self.shape)
        out = None  # until a transform has made a new array, x may be the training set's
        rng = self.rng
        if any(self.flips):
            h, v = (rng.random(n) < 0.5 if on else None for on in self.flips)
            out = flip(x, h, v)
        if self.crop:
            o = rng.integers(0, 2 * self.crop + 1, size=(2, n))
            out = crop(x if out is None else out, o[0], o[1], self.crop)
        if self.shift:
            d = rng.integers(-self.shift, self.shift + 1, size=(2, n))
            out = translate(x if out is None else out, d[0], d[1])
        if self.rotate:
            out = rotate(x if out is None else out, rng.uniform(-self.rotate, self.rotate, n))
        flat = (xb.copy() if out is None else out).reshape(n, -1)
        return self.noise(flat) if self.noise is not None else flat


def build_augment(cfg: dict, shape: tuple | None, rng: np.random.Generator):
    """The callable the trainer applies to each training batch for a resolved ``augment``
    section, or None: :class:`Augment` when an image option is set (``shape`` is then the
    data's (C, H, W)), :class:`InputNoise` for noise alone."""
    if any(cfg.get(k) for k in IMAGE_OPTIONS):
        return Augment(shape, rng, **{k: cfg.get(k) for k in (*IMAGE_OPTIONS, "noise")})
    return InputNoise(cfg["noise"], rng) if cfg.get("noise") else None
