"""Built-in problems: deterministic from the seed, right shapes and classes, as declared."""
import numpy as np
import pytest

from backprop_cli.data.builtin import BUILTIN, FUNCTIONS
from backprop_cli.data.sources import SOURCES
from backprop_cli.errors import DataError


def gen(name, seed=0, **opts):
    return SOURCES.get(name)(**opts).load(".", np.random.default_rng(seed))


@pytest.mark.parametrize("name", list(BUILTIN))
def test_generators_are_deterministic_from_the_seed(name):
    a, b = gen(name, seed=3), gen(name, seed=3)
    np.testing.assert_array_equal(a["X"], b["X"])
    np.testing.assert_array_equal(a["y"], b["y"])
    assert a["X"].ndim == 2 and len(a["X"]) == len(a["y"])
    assert np.isfinite(a["X"]).all()


@pytest.mark.parametrize("name", [n for n, c in BUILTIN.items() if "noise" in c.options])
def test_random_problems_change_with_the_seed(name):
    assert not np.array_equal(gen(name, seed=0)["X"], gen(name, seed=1)["X"])


@pytest.mark.parametrize("name", [n for n, c in BUILTIN.items() if c.task == "classification"])
def test_classification_problems_declare_their_classes(name):
    raw = gen(name)
    k = len(raw["classes"])
    n_classes = SOURCES.get(name).n_classes
    assert k == (n_classes(SOURCES.get(name)().opts) if callable(n_classes) else n_classes)
    assert set(np.unique(raw["y"])) == set(range(k))


def test_parity_is_the_odd_parity_of_every_bit_pattern():
    raw = gen("parity", n_inputs=3)
    assert raw["X"].shape == (8, 3)
    # rows 000, 001, 010, 011, 100, 101, 110, 111
    assert raw["y"].tolist() == [0, 1, 1, 0, 1, 0, 0, 1]
    assert gen("parity")["X"].shape == (16, 4)  # default: 4 bits


def test_two_d_problems_have_n_examples_and_balanced_classes():
    for name, k in (("circles", 2), ("moons", 2)):
        raw = gen(name, n=101)
        assert raw["X"].shape == (101, 2)
        assert abs(np.bincount(raw["y"])[0] - np.bincount(raw["y"])[1]) <= 1
    raw = gen("spirals", n=300, arms=5)
    assert raw["X"].shape == (300, 2) and np.bincount(raw["y"]).tolist() == [60] * 5
    raw = gen("blobs", n=90, centers=3, n_features=4)
    assert raw["X"].shape == (90, 4) and raw["classes"] == ["0", "1", "2"]


def test_circles_without_noise_lie_on_their_radii():
    raw = gen("circles", n=50, noise=0.0, factor=0.3)
    r = np.hypot(*raw["X"].T)
    np.testing.assert_allclose(r[raw["y"] == 0], 1.0)
    np.testing.assert_allclose(r[raw["y"] == 1], 0.3)


def test_blobs_without_spread_sit_on_their_centres():
    raw = gen("blobs", n=30, centers=3, std=0.0)
    np.testing.assert_allclose(raw["X"], raw["centres"][raw["y"]])


@pytest.mark.parametrize("fn", list(FUNCTIONS))
def test_function_regression_without_noise_is_the_function(fn):
    raw = gen("function", fn=fn, n=40, low=-2.0, high=2.0)
    x = raw["X"][:, 0]
    assert raw["X"].shape == (40, 1) and (x >= -2).all() and (x <= 2).all()
    np.testing.assert_allclose(raw["y"], FUNCTIONS[fn](x))


def test_sine_is_the_function_source_with_sine():
    raw = gen("sine", n=25, noise=0.0)
    np.testing.assert_allclose(raw["y"], np.sin(raw["X"][:, 0]))
    noisy = gen("sine", n=2000, noise=0.1)
    assert 0.08 < np.std(noisy["y"] - np.sin(noisy["X"][:, 0])) < 0.12


def angles(X):
    return np.arctan2(X[:, 1], X[:, 0]) % (2 * np.pi)


def test_circles_go_all_the_way_round():
    raw = gen("circles", n=4000, noise=0.0)
    quadrants = np.histogram(angles(raw["X"]), bins=4, range=(0, 2 * np.pi))[0] / 4000
    assert (abs(quadrants - 0.25) < 0.03).all(), quadrants
    # a few examples at a time too: each one's angle is uniform on [0, 2pi), whatever n
    few = np.concatenate([angles(gen("circles", seed=s, n=4, noise=0.0)["X"]) for s in range(400)])
    quadrants = np.histogram(few, bins=4, range=(0, 2 * np.pi))[0] / len(few)
    assert (abs(quadrants - 0.25) < 0.05).all(), quadrants


def test_circles_noise_is_independent_gaussian_of_the_given_spread():
    raw = gen("circles", n=4000, noise=0.05, factor=0.5)
    radius = np.where(raw["y"] == 1, 0.5, 1.0)
    off = np.hypot(*raw["X"].T) - radius      # ~ N(0, noise^2) across the circle for small noise
    assert 0.045 < off.std() < 0.055 and abs(off.mean()) < 0.005
    for k in (0, 1):                          # each circle stays centred on the origin
        assert np.abs(raw["X"][raw["y"] == k].mean(axis=0)).max() < 0.01


def test_blobs_classes_centres_and_spread_follow_the_options():
    raw = gen("blobs", n=500, centers=5, n_features=3)
    assert raw["classes"] == ["0", "1", "2", "3", "4"] and np.bincount(raw["y"]).tolist() == [100] * 5
    assert raw["X"].shape == (500, 3) and raw["centres"].shape == (5, 3)
    centres = gen("blobs", n=400, centers=400, box=2.0, std=0.0)["centres"]
    assert (np.abs(centres) <= 2.0).all()                       # uniform in [-box, box] per dimension
    assert centres.min(axis=0).max() < -1.8 and centres.max(axis=0).min() > 1.8
    raw = gen("blobs", n=4000, centers=2, std=0.5)
    off = raw["X"] - raw["centres"][raw["y"]]
    assert (abs(off.std(axis=0) - 0.5) < 0.03).all() and (abs(off.mean(axis=0)) < 0.03).all()


def test_function_range_must_not_be_empty():
    with pytest.raises(DataError) as e:
        gen("function", low=1.0, high=1.0)
    assert str(e.value) == "data.low: must be < data.high, got low 1 and high 1"


def test_function_names_its_feature_x():
    assert gen("function", fn="cube", n=5)["feature_names"] == ["x"]
    assert gen("sine", n=5)["feature_names"] == ["x"]


def test_moons_without_noise_lie_on_their_half_circles():
    raw = gen("moons", n=200, noise=0.0)
    (x0, y0), (x1, y1) = raw["X"][raw["y"] == 0].T, raw["X"][raw["y"] == 1].T
    # as scikit-learn's make_moons: class 0 the upper half of the unit circle, class 1 the
    # lower half of the unit circle around (1, 0.5)
    np.testing.assert_allclose(np.hypot(x0, y0), 1.0)
    np.testing.assert_allclose(np.hypot(x1 - 1, y1 - 0.5), 1.0)
    assert (y0 >= 0).all() and (y1 <= 0.5).all()


def test_spirals_without_noise_follow_their_arms():
    """Arm c: radius r uniform in [0.05, 1], angle 2pi (turns r + c / arms): each arm winds
    `turns` times round the centre and starts 2pi/arms further round than the one before."""
    raw = gen("spirals", n=600, arms=3, turns=1.5, noise=0.0)
    r = np.hypot(*raw["X"].T)
    assert (r >= 0.05).all() and (r <= 1.0).all() and r.min() < 0.07 and r.max() > 0.98
    theta = 2 * np.pi * (1.5 * r + raw["y"] / 3)
    np.testing.assert_allclose(raw["X"], np.c_[r * np.cos(theta), r * np.sin(theta)], atol=1e-12)


@pytest.mark.parametrize("name, fn", [("and", min), ("or", max), ("xor", lambda bits: sum(bits) % 2)])
def test_truth_tables_list_every_bit_pattern_in_order(name, fn):
    raw = gen(name, n_inputs=3)
    rows = [[int(b) for b in f"{i:03b}"] for i in range(8)]  # row i is i in binary, high bit first
    assert raw["X"].tolist() == rows
    assert raw["y"].tolist() == [fn(r) for r in rows] and raw["classes"] == ["0", "1"]
    assert gen(name)["X"].shape == (4, 2)  # default: 2 bits
