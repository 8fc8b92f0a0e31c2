"""Image augmentation (training/augment.py) and the image shape from the data to the
trainer (Splits.shape, data.shape, data.json, data show)."""
import gzip
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from backprop_cli import api, checkpoint
from backprop_cli.cli import main
from backprop_cli.config import load_config
from backprop_cli.errors import DataError
from backprop_cli.data import columns
from backprop_cli.data.sources import SOURCES, declared_shape
from backprop_cli.training.augment import Augment, build_augment, crop, flip, flip_axes, rotate, translate
from backprop_cli.training.callbacks import Callback
from backprop_cli.training.regularizers import InputNoise
from helpers import ROOT, write

MNIST = Path(os.environ.get("BACKPROP_MNIST_DIR", ROOT.parent / "shared" / "data" / "mnist"))
DIGITS = ROOT / "datasets" / "digits.csv.gz"


def cli(*args):
    return CliRunner().invoke(main, list(map(str, args)))


# --------------------------------------------------------------------------------------------
# the transforms
def one_hot(n, C, H, W, i, j, dtype=np.float64):
    x = np.zeros((n, C, H, W), dtype=dtype)
    x[:, :, i, j] = 1.0
    return x


def test_translate_moves_a_pixel_by_exactly_the_offset_and_fills_zeros():
    x = one_hot(5, 2, 6, 7, 2, 3)
    dy, dx = np.array([0, 1, -2, 3, 4]), np.array([0, -3, 2, 3, 0])
    out = translate(x, dy, dx)
    for k in range(5):
        expected = np.zeros((2, 6, 7))
        i, j = 2 + dy[k], 3 + dx[k]
        if 0 <= i < 6 and 0 <= j < 7:
            expected[:, i, j] = 1.0
        np.testing.assert_array_equal(out[k], expected)
    assert out[4].sum() == 0  # moved down 4 rows: out of a 6-row frame, only zeros came in


def test_translate_of_a_whole_image_keeps_the_overlap_and_zeros_the_rest():
    x = np.arange(1, 1 + 2 * 5 * 4, dtype=np.float64).reshape(2, 1, 5, 4)
    out = translate(x, np.array([1, -2]), np.array([-1, 0]))
    # example 0: out[i, j] = x[i - 1, j + 1]
    np.testing.assert_array_equal(out[0, 0, 1:, :3], x[0, 0, :4, 1:])
    assert (out[0, 0, 0] == 0).all() and (out[0, 0, :, 3] == 0).all()
    # example 1: out[i, j] = x[i + 2, j]
    np.testing.assert_array_equal(out[1, 0, :3], x[1, 0, 2:])
    assert (out[1, 0, 3:] == 0).all()


def test_flip_reverses_columns_or_rows_of_the_flagged_examples_and_twice_is_identity(rng):
    x = rng.normal(size=(4, 3, 5, 6))
    on = np.array([True, False, True, False])
    h = flip(x, horizontal=on)
    np.testing.assert_array_equal(h[on], x[on][..., ::-1])
    np.testing.assert_array_equal(h[~on], x[~on])
    v = flip(x, vertical=on)
    np.testing.assert_array_equal(v[on], x[on][..., ::-1, :])
    np.testing.assert_array_equal(v[~on], x[~on])
    np.testing.assert_array_equal(flip(h, horizontal=on), x)
    np.testing.assert_array_equal(flip(v, vertical=on), x)
    both = flip(x, on, ~on)
    np.testing.assert_array_equal(both[0], x[0, :, :, ::-1])
    np.testing.assert_array_equal(both[1], x[1, :, ::-1, :])


@pytest.mark.parametrize("value, axes", [(None, (False, False)), ("horizontal", (True, False)),
                                         ("vertical", (False, True)), ("both", (True, True)),
                                         (["vertical", "horizontal"], (True, True)), ([], (False, False))])
def test_flip_option_values(value, axes):
    assert flip_axes(value) == axes


def test_rotate_by_zero_is_the_identity(rng):
    x = rng.normal(size=(3, 2, 7, 5))
    np.testing.assert_array_equal(rotate(x, np.zeros(3)), x)


@pytest.mark.parametrize("size", [6, 7])
def test_rotate_by_right_angles_is_rot90_counterclockwise(rng, size):
    x = rng.normal(size=(3, 2, size, size))
    for degrees, k in ((90, 1), (-90, -1), (180, 2), (270, 3)):
        np.testing.assert_allclose(rotate(x, np.full(3, float(degrees))), np.rot90(x, k, axes=(2, 3)),
                                   rtol=0, atol=1e-12)
    # the direction by hand: counterclockwise as displayed, the top-right corner goes top-left
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 0, 2] = 1.0
    out = rotate(x, np.array([90.0]))
    assert abs(out[0, 0, 0, 0] - 1.0) < 1e-12 and abs(out.sum() - 1.0) < 1e-12


def test_rotate_interpolates_a_linear_ramp_exactly_away_from_the_borders():
    H, W = 9, 11
    i, j = np.mgrid[0:H, 0:W].astype(np.float64)
    ramp = 0.5 * i - 0.25 * j + 2.0
    degrees = np.array([17.0, -33.0, 5.5])
    out = rotate(np.broadcast_to(ramp, (3, 1, H, W)).copy(), degrees)
    cy, cx = (H - 1) / 2, (W - 1) / 2
    for k, d in enumerate(degrees):
        t = np.deg2rad(d)
        r = cy + (i - cy) * np.cos(t) + (j - cx) * np.sin(t)   # the sampled point, from the docstring
        s = cx + (j - cx) * np.cos(t) - (i - cy) * np.sin(t)
        inside = (np.floor(r) >= 0) & (np.floor(r) + 1 <= H - 1) & (np.floor(s) >= 0) & (np.floor(s) + 1 <= W - 1)
        assert inside.sum() > H * W // 3
        np.testing.assert_allclose(out[k, 0][inside], (0.5 * r - 0.25 * s + 2.0)[inside], rtol=0, atol=1e-12)
        assert (out[k, 0][(r < -1) | (r > H) | (s < -1) | (s > W)] == 0).all()  # all four corners outside


def test_rotate_in_blocks_equals_each_example_rotated_alone(rng):
    x = rng.normal(size=(21, 2, 28, 28)).astype(np.float32)  # 3 blocks of 8 images, the last short
    degrees = rng.uniform(-40, 40, 21)
    out = rotate(x, degrees)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.concatenate([rotate(x[k:k + 1], degrees[k:k + 1]) for k in range(21)]))


def test_crop_is_a_window_of_the_zero_padded_image(rng):
    x = rng.normal(size=(4, 2, 5, 6))
    p = 2
    oy, ox = np.array([0, 4, 2, 1]), np.array([4, 0, 2, 3])
    out = crop(x, oy, ox, p)
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    for k in range(4):
        np.testing.assert_array_equal(out[k], padded[k, :, oy[k]:oy[k] + 5, ox[k]:ox[k] + 6])
    np.testing.assert_array_equal(out[2], x[2])  # the centre window is the image itself


# --------------------------------------------------------------------------------------------
# Augment: random draws from the given stream, new arrays, dtypes
def offsets_of(out, i0, j0):
    """(dy, dx) of the single 1 in each example's first channel."""
    k, i, j = np.nonzero(out[:, 0] == 1)
    assert np.array_equal(k, np.arange(len(out)))  # exactly one per example
    return set(zip((i - i0).tolist(), (j - j0).tolist()))


@pytest.mark.parametrize("key", ["shift", "crop"])
def test_shift_and_crop_draw_every_offset_in_range_per_example(key):
    x = one_hot(600, 1, 9, 9, 4, 4).reshape(600, -1)
    out = Augment((1, 9, 9), np.random.default_rng(1), **{key: 2})(x).reshape(600, 1, 9, 9)
    assert offsets_of(out, 4, 4) == {(a, b) for a in range(-2, 3) for b in range(-2, 3)}


def test_flip_applies_to_about_half_the_examples_independently():
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(1, -1).repeat(4000, axis=0)
    out = Augment((2, 3, 4), np.random.default_rng(2), flip="both")(x).reshape(4000, 2, 3, 4)
    img = x[0].reshape(2, 3, 4)
    h = (out == img[..., ::-1]).all(axis=(1, 2, 3)) | (out == img[..., ::-1, ::-1]).all(axis=(1, 2, 3))
    v = (out == img[..., ::-1, :]).all(axis=(1, 2, 3)) | (out == img[..., ::-1, ::-1]).all(axis=(1, 2, 3))
    for frac in (h.mean(), v.mean(), (h & v).mean() / 0.5):  # binomial sd ~0.008: within 5 sd
        assert abs(frac - 0.5) < 0.04


def test_rotation_angles_are_drawn_in_range_per_example():
    # a one-hot pixel at distance 3 from the centre of a 7x7 image turns by the drawn angle
    n, a = 400, 30.0
    x = one_hot(n, 1, 7, 7, 3, 6).reshape(n, -1)
    out = Augment((1, 7, 7), np.random.default_rng(3), rotate=a)(x).reshape(n, 7, 7)
    i, j = np.mgrid[0:7, 0:7]
    mass = out.sum(axis=(1, 2))
    ci, cj = (out * i).sum(axis=(1, 2)) / mass - 3, (out * j).sum(axis=(1, 2)) / mass - 3
    angles = np.degrees(np.arctan2(-ci, cj))  # counterclockwise from the right, rows down
    assert angles.min() > -a - 3 and angles.max() < a + 3   # bilinear smears a little
    assert angles.min() < -a + 5 and angles.max() > a - 5 and len(np.unique(np.round(angles, 3))) > n // 2


OPTIONS = [{"shift": 1}, {"flip": "horizontal"}, {"rotate": 15.0}, {"crop": 1},
           {"flip": ["horizontal", "vertical"], "crop": 1, "shift": 2, "rotate": 10.0, "noise": 0.1}]


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: "+".join(o))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_augment_is_reproducible_from_its_stream_and_leaves_the_batch_alone(opts, dtype):
    x = np.random.default_rng(0).random((50, 2 * 6 * 6)).astype(dtype)
    before = x.copy()
    global_state = np.random.get_state()[1].copy()
    rng = np.random.default_rng(7)
    state0 = rng.bit_generator.state
    a = Augment((2, 6, 6), rng, **opts)(x)
    assert rng.bit_generator.state != state0  # it drew from its stream ...
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)  # ... and from nothing else
    np.testing.assert_array_equal(x, before)
    assert a.dtype == dtype and a.shape == x.shape and not np.shares_memory(a, x)
    b = Augment((2, 6, 6), np.random.default_rng(7), **opts)(x)
    np.testing.assert_array_equal(a, b)
    c = Augment((2, 6, 6), np.random.default_rng(8), **opts)(x)
    assert not np.array_equal(a, c)
    changed = (a != x).any(axis=1)
    assert changed.sum() >= 10  # examples get their own draws (a flip leaves about half alone)


def test_augment_transforms_a_view_of_the_training_set_without_writing_it():
    X = np.random.default_rng(0).random((20, 16)).astype(np.float32)
    X.flags.writeable = False  # the trainer's unshuffled batch is a view of the training set
    out = Augment((1, 4, 4), np.random.default_rng(0), shift=1, flip="vertical")(X[5:15])
    assert out.shape == (10, 16) and out.flags.writeable


def test_build_augment_picks_the_transform_the_section_needs():
    rng = np.random.default_rng(0)
    none = {"noise": 0.0, "shift": 0, "flip": None, "rotate": 0.0, "crop": 0}
    assert build_augment(none, None, rng) is None
    assert isinstance(build_augment({**none, "noise": 0.1}, None, rng), InputNoise)
    aug = build_augment({**none, "shift": 2, "noise": 0.1}, (1, 8, 8), rng)
    assert isinstance(aug, Augment) and aug.shift == 2 and aug.noise.sigma == 0.1
    assert build_augment({"noise": 0.2}, None, rng).sigma == 0.2  # a config of an older version


# --------------------------------------------------------------------------------------------
# config errors
MLP = "model: {layers: [{units: 16, activation: relu}, {units: 10, activation: softmax}]}\nloss: cross_entropy\n"


def digits_yaml(tmp_path, extra="", shape=True):
    data = f"data: {{source: csv, path: {DIGITS}, target: digit, scale: pixels, pixel_max: 16"
    data += ", shape: [1, 8, 8]}\n" if shape else "}\n"
    return write(tmp_path / "d.yaml", data + MLP + extra)


@pytest.mark.parametrize("command", ["validate", "train"])
def test_image_augmentation_of_a_csv_without_data_shape_is_a_config_error(tmp_path, command):
    cfg = digits_yaml(tmp_path, "augment: {shift: 2}\n", shape=False)
    args = ("config", "validate", cfg) if command == "validate" else ("train", cfg, "--runs-dir", tmp_path)
    r = cli(*args)
    assert r.exit_code == 2, r.output
    assert (f"{cfg}:4:18: augment.shift: needs images, but csv data has no image shape; set data.shape: "
            "[C, H, W] (e.g. [1, 8, 8] for the bundled digits), or remove augment.shift") in r.output
    assert not any(tmp_path.glob("d-*"))


def test_image_augmentation_of_flat_npz_data_is_refused_when_read(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "f.npz", X=rng.random((40, 16)), y=np.arange(40) % 2)
    cfg = write(tmp_path / "c.yaml", "data: {source: npz, path: f.npz}\naugment: {rotate: 10}\n"
                "model: {layers: [{units: 1, activation: sigmoid}]}\nloss: bce\n")
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs")
    assert r.exit_code == 2, r.output
    assert ("augment.rotate: needs images, but the data (" + str(tmp_path / "f.npz") + ") has no image "
            "shape; set data.shape: [C, H, W] (C·H·W = 16 features), or remove augment.rotate") in r.output


def test_a_shift_as_large_as_the_image_is_a_config_error(tmp_path):
    r = cli("train", digits_yaml(tmp_path, "augment: {crop: 8}\n"), "--runs-dir", tmp_path / "runs")
    assert r.exit_code == 2, r.output
    assert "augment.crop: 8 pixels would move a 1×8×8 image out of its frame; expected less than 8" in r.output


@pytest.mark.parametrize("augment, message", [
    ("{flip: diagonal}", "augment.flip: must be a list or 'horizontal' or 'vertical' or 'both', got 'diagonal'"),
    ("{flip: [horizontal, up]}", "augment.flip: item 1: must be one of horizontal, vertical, got 'up'"),
    ("{shift: -1}", "augment.shift: must be >= 0, got -1"),
    ("{rotate: 200}", "augment.rotate: must be >= 0 and <= 180, got 200"),
    ("{crop: 1.5}", "augment.crop: must be an integer, got 1.5"),
])
def test_augment_option_values_are_checked(tmp_path, augment, message):
    r = cli("config", "validate", digits_yaml(tmp_path, f"augment: {augment}\n"))
    assert r.exit_code == 2 and message in r.output, r.output


@pytest.mark.parametrize("key, value", [("shift", 1), ("flip", "horizontal"), ("rotate", 5), ("crop", 1)])
def test_the_perceptron_refuses_image_augmentation(tmp_path, key, value):
    cfg = write(tmp_path / "p.yaml", "data: {source: and, shape: [1, 2]}\nmodel: {layers: [{units: 1, "
                f"activation: threshold}}]}}\nloss: quadratic\ntraining: {{method: perceptron}}\n"
                f"augment: {{{key}: {value}}}\n")
    r = cli("config", "validate", cfg)
    assert r.exit_code == 2
    assert f"augment.{key}: the perceptron rule does not use {key}" in r.output, r.output


@pytest.mark.parametrize("data, message", [
    ("{source: xor, shape: [1, 8, 9]}", "data.shape: [1, 8, 9] is 1×8×9 = 72 values per example, but xor "
     "has 2 features; expected C·H·W = 2"),
    ("{source: blobs, n_features: 12, shape: [5, 5]}", "data.shape: [5, 5] is 1×5×5 = 25 values per "
     "example, but blobs has 12 features; expected C·H·W = 12"),
    ("{source: xor, shape: [1, 1, 1, 2]}", "data.shape: must be [C, H, W] (or [H, W] for one channel), "
     "got 4 numbers"),
    ("{source: xor, shape: [1, 0]}", "data.shape: item 1: must be >= 1, got 0"),
    ("{source: mnist, dir: ., shape: [4, 14, 14]}", "data.shape: [4, 14, 14], but mnist's images are "
     "1×28×28; expected [1, 28, 28] or no data.shape"),
])
def test_data_shape_is_checked_before_reading_data(tmp_path, data, message):
    cfg = write(tmp_path / "s.yaml", f"data: {data}\nmodel: {{layers: [{{units: 1, activation: sigmoid}}]}}\n"
                "loss: bce\n")
    r = cli("config", "validate", cfg)
    assert r.exit_code == 2 and message in r.output, r.output


# --------------------------------------------------------------------------------------------
# training with augmentation, resumed
class Crash(Callback):
    def on_epoch_complete(self, state):
        if state.epoch == 3:
            raise RuntimeError("power cut")


def test_augmented_training_resumes_bit_identically(tmp_path):
    from test_resume import assert_same_run
    cfg = digits_yaml(tmp_path, "augment: {flip: horizontal, crop: 1, shift: 1, rotate: 10, noise: 0.02}\n"
                      "training: {epochs: 6, batch_size: 64}\noutput: {checkpoint_every: 1}\n")
    ref = api.train(cfg, runs_dir=tmp_path / "ref")
    plain = api.train(cfg, ["augment={}"], runs_dir=tmp_path / "plain")
    w_ref, w_plain = (checkpoint.load_arrays(r.run_dir / "checkpoints" / "last.npz") for r in (ref, plain))
    assert not np.array_equal(w_ref["param/0.W"], w_plain["param/0.W"])  # the batches were transformed
    assert "augment" in api.RunRecorder.live_streams(load_config(cfg).data)
    with pytest.raises(RuntimeError, match="power cut"):
        api.train(cfg, runs_dir=tmp_path / "cut", callbacks=[Crash()])
    cut = next((tmp_path / "cut").iterdir())
    api.train(resume=cut)
    assert_same_run(ref.run_dir, cut)


@pytest.mark.parametrize("key, value", [("shift", 1), ("flip", "vertical"), ("rotate", 1.0), ("crop", 1),
                                        ("noise", 0.1)])
def test_every_augment_option_keeps_the_augment_stream_for_resume(key, value):
    c = {"model": {"layers": [{}]}, "training": {"restarts": 0},
         "augment": {"noise": 0.0, "shift": 0, "flip": None, "rotate": 0.0, "crop": 0}}
    assert "augment" not in api.RunRecorder.live_streams(c)
    c["augment"][key] = value
    assert "augment" in api.RunRecorder.live_streams(c)


# --------------------------------------------------------------------------------------------
# the image shape from the sources to Splits, data.json and data show
def idx_file(path, a):
    head = struct.pack(">HBB", 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    path.write_bytes(gzip.compress(head + a.astype(np.uint8).tobytes()))
    return path


def load(tmp_path, data: str, extra: str = ""):
    cfg = write(tmp_path / "c.yaml", f"data: {data}\n" + MLP.replace("units: 10", "units: 2") + extra)
    return api.setup(cfg)


@pytest.mark.parametrize("dims, shape", [((5, 6), (1, 5, 6)), ((3, 4, 5), (3, 4, 5)), ((7,), None)])
def test_idx_images_keep_their_shape(tmp_path, dims, shape):
    X = np.random.default_rng(0).integers(0, 256, (10, *dims))
    idx_file(tmp_path / "im.gz", X)
    idx_file(tmp_path / "lb.gz", np.arange(10) % 2)
    s = load(tmp_path, "{source: idx, images: im.gz, labels: lb.gz}").splits
    assert s.shape == shape
    np.testing.assert_array_equal(s.train.X, X.reshape(10, -1))  # rows are images flattened row-major
    if shape is not None:
        np.testing.assert_array_equal(s.train.X.reshape(10, *shape), X.reshape(10, *shape))


@pytest.mark.parametrize("dims, shape", [((5, 6), (1, 5, 6)), ((3, 4, 5), (3, 4, 5)), ((7,), None),
                                         ((), None)])
def test_npz_images_keep_their_shape(tmp_path, dims, shape):
    X = np.random.default_rng(0).random((10, *dims))
    np.savez(tmp_path / "a.npz", X=X, y=np.arange(10) % 2)
    s = load(tmp_path, "{source: npz, path: a.npz}").splits
    assert s.shape == shape and s.train.X.shape == (10, max(1, int(np.prod(dims))))
    assert "images" in SOURCES.get("npz").doc and "flattened" not in SOURCES.get("npz").doc


def test_separate_val_file_must_have_the_training_images_shape(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", X=rng.random((10, 4, 4)), y=np.arange(10) % 2)
    np.savez(tmp_path / "v.npz", X=rng.random((6, 2, 8)), y=np.arange(6) % 2)
    cfg = write(tmp_path / "c.yaml", "data: {source: npz, path: a.npz, val_path: v.npz}\n"
                + MLP.replace("units: 10", "units: 2"))
    r = cli("data", "show", cfg)
    assert r.exit_code == 3
    assert f"{tmp_path / 'v.npz'}: the val data holds images of 1×2×8, expected images of 1×4×4 as the " \
           "training data" in r.output, r.output


def test_data_shape_must_agree_with_an_image_file(tmp_path):
    np.savez(tmp_path / "a.npz", X=np.zeros((10, 4, 4)), y=np.arange(10) % 2)
    r = cli("data", "show", write(tmp_path / "c.yaml", "data: {source: npz, path: a.npz, shape: [2, 2, 4]}\n"
                                  + MLP.replace("units: 10", "units: 2")))
    assert r.exit_code == 3
    assert "data.shape: [2, 2, 4], but the file holds images of 1×4×4; expected [1, 4, 4] or no " \
           "data.shape" in r.output, r.output
    np.savez(tmp_path / "a.npz", X=np.zeros((10, 16)), y=np.arange(10) % 2)  # flat: data.shape decides
    assert load(tmp_path, "{source: npz, path: a.npz, shape: [2, 2, 4]}").splits.shape == (2, 2, 4)


@pytest.mark.parametrize("shape", ["[1, 8, 8]", "[8, 8]"])
def test_data_shape_makes_the_digits_csv_images_scaled_by_pixels(tmp_path, shape):
    from backprop_cli.data.csvfile import read_csv_file
    cfg = write(tmp_path / "d2.yaml", digits_yaml(tmp_path).read_text().replace("[1, 8, 8]", shape))
    s = api.setup(cfg).splits
    assert s.shape == (1, 8, 8) and s.n_features == 64
    raw = read_csv_file(DIGITS, {"target": "digit"})["X"]
    X = s.train.X
    assert X.dtype == np.float32 and X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(X, (raw.astype(np.float32) * np.float32(1 / 16)))  # x / pixel_max, per pixel
    # row 0 of the CSV is the image of a 0: its first and last pixel columns are blank
    img = X[0].reshape(8, 8)
    assert raw[0].reshape(8, 8)[2, 0] == 0 and img[2, 0] == 0.0 and img.sum() > 5


def test_data_shape_that_does_not_multiply_to_the_feature_count_is_a_data_error(tmp_path):
    cfg = write(tmp_path / "d.yaml", digits_yaml(tmp_path).read_text().replace("[1, 8, 8]", "[2, 8, 8]"))
    r = cli("data", "show", cfg)
    assert r.exit_code == 3
    assert r.output.strip().splitlines()[-1] == (f"Error: {DIGITS}: data.shape: [2, 8, 8] is 2×8×8 = 128 "
                                                 "values per example, but the data has 64 features; "
                                                 "expected C·H·W = 64")


def test_data_show_prints_the_image_shape(tmp_path):
    cfg = digits_yaml(tmp_path)
    r = cli("data", "show", cfg, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["shape"] == [1, 8, 8]
    r = cli("data", "show", cfg)
    assert r.exit_code == 0 and "features 64  images 1×8×8" in r.output, r.output
    flat = digits_yaml(tmp_path, shape=False)
    r = cli("data", "show", flat, "--json")
    assert json.loads(r.stdout)["shape"] is None
    assert "images" not in cli("data", "show", flat).output


def test_data_json_keeps_the_shape_and_checks_it(tmp_path):
    run = api.train(digits_yaml(tmp_path, "training: {epochs: 1}\n"), runs_dir=tmp_path / "runs")
    info = columns.load(run.run_dir)
    assert info["shape"] == [1, 8, 8] and info["n_features"] == 64
    path = run.run_dir / "data.json"
    raw = json.loads(path.read_text())
    del raw["shape"]  # a run of an older version
    path.write_text(json.dumps(raw))
    assert columns.load(run.run_dir)["shape"] is None
    for bad, problem in (([1, 8], "shape [1, 8]; expected null or [C, H, W], three positive integers"),
                         ([1, 8, 0], "shape [1, 8, 0]; expected null or [C, H, W]"),
                         ([2, 8, 8], "shape [2, 8, 8] holds 128 values, but n_features is 64; expected "
                                     "C·H·W = n_features")):
        path.write_text(json.dumps({**raw, "shape": bad}))
        with pytest.raises(DataError, match=problem.replace("[", r"\[").replace("]", r"\]")):
            columns.load(run.run_dir)


@pytest.mark.parametrize("data, shape", [
    ({"source": "xor"}, (2,)), ({"source": "parity"}, (4,)), ({"source": "and", "n_inputs": 5}, (5,)),
    ({"source": "blobs", "n_features": 7}, (7,)), ({"source": "moons"}, (2,)), ({"source": "spirals"}, (2,)),
    ({"source": "circles"}, (2,)), ({"source": "function"}, (1,)), ({"source": "sine"}, (1,)),
    ({"source": "mnist", "dir": "x"}, (1, 28, 28)), ({"source": "csv", "path": "a.csv"}, None),
    ({"source": "npz", "path": "a.npz"}, None), ({"source": "idx", "images": "i", "labels": "l"}, None),
    ({"source": "csv", "path": "a.csv", "shape": [8, 8]}, (1, 8, 8)),
    ({"source": "xor", "n_inputs": 4, "shape": [1, 2, 2]}, (1, 2, 2)),
    ("xor", (2,)),
])
def test_declared_shape_before_reading_data(data, shape):
    assert declared_shape(data) == shape


@pytest.mark.skipif(not (MNIST / "train-images-idx3-ubyte.gz").is_file(),
                    reason=f"data not shipped: MNIST not found in {MNIST} (set BACKPROP_MNIST_DIR)")
def test_mnist_keeps_its_28x28_images():
    from backprop_cli.data.sources import Mnist
    raw = Mnist(dir=str(MNIST), test=False).load(".", np.random.default_rng(0))
    assert raw["shape"] == (1, 28, 28) and raw["X"].shape == (60000, 784)
