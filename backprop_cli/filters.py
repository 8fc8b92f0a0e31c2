"""``backprop plot RUN --filters``: what a run's first convolutional layer learned, and what it sees.

Three pictures of the first conv2d layer (its weights from checkpoints/last.npz):

- the input: one example of the run's data (``--example N`` of the test split, else of the
  validation split, else of the training split), one tile per input channel;
- the filters W (O, C, kh, kw): one tile per filter and input channel, a row per filter and a
  column per channel (for one input channel, the O filters in rows of 8). This is the layout
  of the Keras filter-visualisation recipe and of PyTorch's ``make_grid(W.view(O·C, 1, kh,
  kw))``; an average over the channels would hide filters whose channels cancel. All tiles
  share one scale, symmetric about zero (mid-gray is 0, white the largest positive weight,
  black the most negative), so filters compare by strength and sign;
- the feature maps of that example after the layer's activation (O, Ho, Wo): one tile per
  output channel, all on one scale from the smallest to the largest value (black: the
  smallest, 0 after relu), so a map that stays dark is a filter this example does not excite.

In a file (matplotlib) each picture is one mosaic of tiles, separated by gaps of the colour
GAP; in the terminal each tile is a block of shaded characters, SHADES from the low end of
its scale to the high end, two characters per pixel (terminal cells are about twice as tall
as wide).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UsageError

SHADES = " ░▒▓█"
GAP = "#3b75af"  # the mosaics' gaps: a blue no gray tile can take
COLUMNS = 8      # tiles per row of a mosaic of one-channel tiles


@dataclass
class FirstConv:
    run: str              # the run's name
    index: int            # the layer's position in model.layers
    layer: str            # the spec in a few words: 'conv2d 8@3x3 padding 1 relu'
    W: np.ndarray         # (O, C, kh, kw) filters
    image: np.ndarray     # (C, H, W) the example
    maps: np.ndarray      # (O, Ho, Wo) the layer's output on it, after its activation
    split: str
    example: int


def first_conv(run_dir, example: int | None = None) -> FirstConv:
    """The run's first conv2d layer: its filters, and its feature maps on example ``example``
    (default 0) of the test split (else validation, else training)."""
    from .engine.blocks import describe
    from .engine.conv import Conv2d
    from .engine.layers import Dropout
    from .runs import load_run_setup
    path = Path(run_dir)
    s = load_run_setup(path)
    specs, net = s.config.data["model"]["layers"], s.network
    k = next((i for i, block in enumerate(net.blocks) if isinstance(block[0], Conv2d)), None)
    if k is None:
        raise UsageError(f"{path}: --filters needs a network with a conv2d layer; this run's layers are "
                         f"{', '.join(describe(spec) for spec in specs)}")
    split, data = next((name, d) for name, d in (("test", s.splits.test), ("val", s.splits.val),
                                                  ("train", s.splits.train)) if d is not None)
    i = 0 if example is None else example
    if not 0 <= i < len(data):
        raise UsageError(f"--example {i}: the {split} split of {path} has {len(data)} examples "
                         f"(0 to {len(data) - 1})")
    h = image = data.X[i:i + 1].reshape((1, *net.input_shape))
    for block in net.blocks[:k]:
        for layer in block:
            h = layer.forward(h)
    for layer in net.blocks[k]:
        if not isinstance(layer, Dropout):  # identity when not training
            h = layer.forward(h)
    W = net.blocks[k][0].W.value
    return FirstConv(path.resolve().name, k, describe(specs[k]), W.copy(), image[0].copy(),
                     np.asarray(h[0]).copy(), split, i)


def filter_tiles(W: np.ndarray) -> tuple[np.ndarray, int]:
    """(O·C tiles (kh, kw), columns): a row per filter, a column per input channel."""
    O, C, kh, kw = W.shape
    return W.reshape(O * C, kh, kw), (min(O, COLUMNS) if C == 1 else C)


def mosaic(tiles: np.ndarray, columns: int) -> np.ndarray:
    """Tiles (k, h, w) in rows of ``columns``, as one float64 array with NaN in the one-pixel
    gaps between the tiles, around them, and where the last row has no tile."""
    k, h, w = tiles.shape
    rows = math.ceil(k / columns)
    out = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1), np.nan)
    for t in range(k):
        r, c = divmod(t, columns)
        out[1 + r * (h + 1):(r + 1) * (h + 1), 1 + c * (w + 1):(c + 1) * (w + 1)] = tiles[t]
    return out


def _scales(fc: FirstConv) -> dict:
    m = float(np.abs(fc.W).max()) or 1.0
    return {"image": (float(fc.image.min()) + 0.0, float(fc.image.max()) + 0.0), "filters": (-m, m),
            "maps": (float(fc.maps.min()) + 0.0, float(fc.maps.max()) + 0.0)}  # + 0.0: no -0


def _panels(fc: FirstConv) -> list[tuple[str, str, np.ndarray, int, tuple]]:
    """(key, title, tiles, columns, (lo, hi)) of the three pictures."""
    O, C, kh, kw = fc.W.shape
    sc = _scales(fc)
    tiles, columns = filter_tiles(fc.W)
    return [
        ("image", f"example {fc.example} of the {fc.split} split ({'×'.join(map(str, fc.image.shape))})",
         fc.image, fc.image.shape[0], sc["image"]),
        ("filters", f"filters of layer {fc.index} ({fc.layer}): {O} filters × {C} channel{'s' * (C > 1)}, "
                    f"{kh}x{kw}, scale {sc['filters'][0]:.3g} to {sc['filters'][1]:.3g}",
         tiles, columns, sc["filters"]),
        ("maps", f"its {O} feature maps ({fc.maps.shape[1]}x{fc.maps.shape[2]}) on the example, "
                 f"after the activation, scale {sc['maps'][0]:.3g} to {sc['maps'][1]:.3g}",
         fc.maps, min(O, COLUMNS), sc["maps"]),
    ]


def file_filters(plt, fc: FirstConv, width: float = 8.0):
    """A figure of the three mosaics, top to bottom: the example, the filters, the maps."""
    panels = [(title, mosaic(tiles, cols), scale) for _, title, tiles, cols, scale in _panels(fc)]
    heights = [min(3.0, width * m.shape[0] / m.shape[1]) for _, m, _ in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, sum(heights) + 0.45 * len(panels)),
                             gridspec_kw={"height_ratios": heights})
    cmap = plt.get_cmap("gray").with_extremes(bad=GAP)
    for ax, (title, m, (lo, hi)) in zip(axes, panels):
        ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1,
                  interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{fc.run}: first convolutional layer", fontsize=10)
    fig.tight_layout()
    return fig


def shade(tile: np.ndarray, lo: float, hi: float) -> list[str]:
    """A tile as lines of SHADES: the value's fifth of [lo, hi] (lo in the first, hi in the
    last), two characters per pixel."""
    if hi > lo:
        idx = np.clip(((tile - lo) / (hi - lo) * len(SHADES)).astype(int), 0, len(SHADES) - 1)
    else:
        idx = np.full(tile.shape, len(SHADES) // 2)
    return ["".join(SHADES[i] * 2 for i in row) for row in idx]


def _blocks(labels: list[str], tiles: np.ndarray, lo: float, hi: float, width: int) -> list[str]:
    """Labelled shaded tiles side by side, as many per line as fit in ``width`` characters."""
    cell = max(2 * tiles.shape[2], max(len(s) for s in labels)) + 2
    per_line = max(1, width // cell)
    lines = []
    for start in range(0, len(tiles), per_line):
        group = range(start, min(start + per_line, len(tiles)))
        lines.append("".join(labels[t].ljust(cell) for t in group).rstrip())
        shaded = [shade(tiles[t], lo, hi) for t in group]
        for r in range(tiles.shape[1]):
            lines.append("".join(s[r].ljust(cell) for s in shaded).rstrip())
        lines.append("")
    return lines


def terminal_filters(fc: FirstConv, width: int | None = None) -> str:
    """The three pictures as text: each tile a block of SHADES headed by its label (x<c> for
    the example's channels, f<o> or f<o>.c<c> for the filters, m<o> for the maps)."""
    width = width or 100
    O, C = fc.W.shape[:2]
    labels = {"image": [f"x{c}" for c in range(fc.image.shape[0])],
              "filters": [f"f{o}" if C == 1 else f"f{o}.c{c}" for o in range(O) for c in range(C)],
              "maps": [f"m{o}" for o in range(O)]}
    lines = [f"{fc.run}: first convolutional layer; shades '{SHADES}' from each picture's low end "
             "to its high end", ""]
    for key, title, tiles, _, (lo, hi) in _panels(fc):
        lines.append(title)
        lines += _blocks(labels[key], tiles, lo, hi, width)
    return "\n".join(lines).rstrip() + "\n"
