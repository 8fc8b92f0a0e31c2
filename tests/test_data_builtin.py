"""Built-in problems: deterministic from the seed, right shapes and classes, as declared."""
import numpy as np
import pytest

from backprop_cli.data.builtin import BUILTIN, FUNCTIONS
from backprop_cli.data.sources import SOURCES


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
