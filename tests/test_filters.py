"""backprop plot RUN --filters: the first conv layer's filters and feature maps, in a file and as text."""
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import DIGITS_CNN_YAML, XOR_YAML, write

from backprop_cli import api
from backprop_cli.checkpoint import load_weights
from backprop_cli.cli import main
from backprop_cli.filters import GAP, SHADES, first_conv

# the digits as 4 channels of 4x4 (64 = 4·4·4), so the first layer's filters have 4 channels
CHANNELS_YAML = DIGITS_CNN_YAML.replace("shape: [1, 8, 8]", "shape: [4, 4, 4]").split("model:")[0] + """
model:
  layers:
    - {type: conv2d, channels: 3, kernel: 2, activation: tanh}
    - {type: flatten}
    - {units: 10, activation: softmax}
loss: cross_entropy
optimizer: {name: adam, lr: 0.01}
training: {epochs: 2, batch_size: 32}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("filters")
    return {name: api.train(write(d / f"{name}.yaml", text), runs_dir=d / "runs").run_dir
            for name, text in (("cnn", DIGITS_CNN_YAML), ("channels", CHANNELS_YAML),
                               ("xor", XOR_YAML.replace("epochs: 2000", "epochs: 5")))}


def tile_counts(png) -> list[int]:
    """The tiles of each mosaic in a PNG, top to bottom: a mosaic is a band of rows holding
    gap-coloured pixels; its tiles are the regions of other pixels that the gaps enclose."""
    import matplotlib.colors
    import matplotlib.image
    img = matplotlib.image.imread(png)[..., :3]
    gap = np.all(np.abs(img - matplotlib.colors.to_rgb(GAP)) < 1.5 / 255, axis=-1)
    rows = np.flatnonzero(gap.any(axis=1))
    bands = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    counts = []
    for band in bands:
        cols = np.flatnonzero(gap[band].any(axis=0))
        inner = ~gap[band[0]:band[-1] + 1, cols[0]:cols[-1] + 1]
        counts.append(enclosed_regions(inner))
    return counts


def enclosed_regions(mask) -> int:
    """Connected regions of True (4-neighbours) not touching the border: runs per row, joined
    with the overlapping runs of the row above (union-find)."""
    parent, runs_above, edge = {}, [], set()

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a
    for r, row in enumerate(mask):
        padded = np.r_[False, row, False].astype(np.int8)
        starts, ends = np.flatnonzero(np.diff(padded) == 1), np.flatnonzero(np.diff(padded) == -1)
        here = []
        for s, e in zip(starts, ends):
            key = (r, s)
            parent[key] = key
            for (s2, e2, k2) in runs_above:
                if s2 < e and s < e2:
                    parent[find(k2)] = find(key)
            if r in (0, len(mask) - 1) or s == 0 or e == mask.shape[1]:
                edge.add(key)
            here.append((s, e, key))
        runs_above = here
    roots = {find(k) for k in parent}
    return len(roots - {find(k) for k in edge})


def test_png_has_a_tile_per_filter_and_feature_map(runs, tmp_path):
    pytest.importorskip("matplotlib")
    r = CliRunner().invoke(main, ["plot", str(runs["cnn"]), "--filters", "-o", "f.png"])
    assert r.exit_code == 0, r.output
    assert tile_counts(tmp_path / "f.png") == [1, 8, 8]  # the example, 8 filters, 8 maps
    # 4 input channels: a tile per (filter, channel), the example's channels, a map per filter
    r = CliRunner().invoke(main, ["plot", str(runs["channels"]), "--filters", "-o", "c.png"])
    assert r.exit_code == 0, r.output
    assert tile_counts(tmp_path / "c.png") == [4, 12, 3]


def test_maps_are_the_layers_output_on_the_test_example(runs):
    fc = first_conv(runs["cnn"], example=3)
    s = api.setup(runs["cnn"] / "config.yaml")
    assert fc.split == "test" and fc.example == 3
    np.testing.assert_array_equal(fc.image.ravel(), s.splits.test.X[3])
    w = load_weights(runs["cnn"] / "checkpoints" / "last.npz")
    W, b = w["0.W"].astype(np.float64), w["0.b"].astype(np.float64)
    np.testing.assert_array_equal(fc.W, w["0.W"])
    xp = np.pad(fc.image[0].astype(np.float64), 1)  # padding 1, 3x3, stride 1: by the definition
    net = np.array([[[b[o] + (W[o, 0] * xp[i:i + 3, j:j + 3]).sum() for j in range(8)] for i in range(8)]
                    for o in range(8)])
    np.testing.assert_allclose(fc.maps, np.maximum(net, 0), rtol=1e-5, atol=1e-6)


def test_terminal_shows_a_shaded_block_per_filter(runs):
    r = CliRunner().invoke(main, ["plot", str(runs["cnn"]), "--filters", "--width", "80"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("filters of layer 0"))
    end = next(i for i, line in enumerate(lines) if line.startswith("its 8 feature maps"))
    section = lines[start + 1:end]
    labels = [w for line in section for w in line.split() if w[0] == "f" and w[1:].isdigit()]
    assert labels == [f"f{o}" for o in range(8)]
    W = load_weights(runs["cnn"] / "checkpoints" / "last.npz")["0.W"].astype(np.float64)
    m = np.abs(W).max()
    # f0's rows: each weight's fifth of [-max|W|, max|W|] as a shade, two characters a pixel
    level = np.minimum(((W[0, 0] + m) / (2 * m) * 5).astype(int), 4)
    expected = ["".join(SHADES[k] * 2 for k in row) for row in level]
    assert [line[:6].ljust(6) for line in section[1:4]] == [e.ljust(6) for e in expected]
    maps = [w for line in lines[end:] for w in line.split() if w[0] == "m" and w[1:].isdigit()]
    assert maps == [f"m{o}" for o in range(8)]
    r = CliRunner().invoke(main, ["plot", str(runs["channels"]), "--filters"])
    assert r.exit_code == 0, r.output
    labels = [w for w in r.stdout.split() if w[0] == "f" and ".c" in w]
    assert labels == [f"f{o}.c{c}" for o in range(3) for c in range(4)]  # a row per filter


def test_terminal_needs_neither_plot_library(runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "plotext", None)
    r = CliRunner().invoke(main, ["plot", str(runs["cnn"]), "--filters"])
    assert r.exit_code == 0 and "f7" in r.stdout
    r = CliRunner().invoke(main, ["plot", str(runs["cnn"]), "--filters", "-o", "f.png"])
    assert r.exit_code == 2 and "pip install 'backprop-cli[plot]'" in r.stderr


def test_errors(runs):
    r = CliRunner().invoke(main, ["plot", str(runs["xor"]), "--filters"])
    assert r.exit_code == 2
    assert r.stderr == (f"Error: {runs['xor']}: --filters needs a network with a conv2d layer; this "
                        f"run's layers are dense 4 tanh, dense 1 sigmoid\n")
    r = CliRunner().invoke(main, ["plot", str(runs["cnn"]), "--filters", "--example", "5000"])
    assert r.exit_code == 2 and r.stderr.startswith(f"Error: --example 5000: the test split of {runs['cnn']} has ")
    r = CliRunner().invoke(main, ["plot", str(runs["cnn"]), "--example", "1"])
    assert r.exit_code == 2 and r.stderr == "Error: --example goes with --filters\n"
    r = CliRunner().invoke(main, ["plot", str(runs["cnn"]), str(runs["xor"]), "--filters"])
    assert r.exit_code == 2 and r.stderr == "Error: --filters shows one run; got 2 folders\n"
