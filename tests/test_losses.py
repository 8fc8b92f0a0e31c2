"""Losses: hand-computed values, backward against central differences, fused = unfused."""
import math

import numpy as np
import pytest

from backprop_cli.engine.activations import Sigmoid, Softmax
from backprop_cli.engine.gradcheck import numerical_gradient, relative_error
from backprop_cli.engine.losses import (FUSED, LOSSES, BCEWithLogits, Hinge, SoftmaxCrossEntropy)


def onehot(c, k):
    return np.eye(k)[c]


def cases(rng):
    n = 6
    p = np.exp(rng.normal(size=(n, 3)))
    p /= p.sum(axis=1, keepdims=True)
    return {
        "quadratic": (rng.normal(size=(n, 3)), rng.normal(size=(n, 3))),
        "mse": (rng.normal(size=(n, 3)), rng.normal(size=(n, 3))),
        "mae": (rng.normal(size=(n, 3)), rng.normal(size=(n, 3))),
        "l1": (rng.normal(size=(n, 3)), rng.normal(size=(n, 3))),
        "bce": (rng.uniform(0.05, 0.95, (n, 2)), rng.integers(0, 2, (n, 2)).astype(float)),
        "cross_entropy": (p, onehot(rng.integers(0, 3, n), 3)),
        "hinge": (rng.normal(size=(n, 3)), onehot(rng.integers(0, 3, n), 3)),
    }


@pytest.mark.parametrize("name", LOSSES.names())
def test_backward_matches_central_differences(name, rng):
    output, target = cases(rng)[name]
    loss = LOSSES.get(name)()
    loss.forward(output, target)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(output, target), output, 1e-5)
    assert relative_error(analytic, numeric, floor=1e-6).max() < 1e-7


@pytest.mark.parametrize("fused", [BCEWithLogits, SoftmaxCrossEntropy])
def test_fused_gradient_matches_central_differences(fused, rng):
    k = 1 if fused is BCEWithLogits else 4
    z = rng.normal(size=(7, k)) * 2
    y = rng.integers(0, 2, (7, 1)).astype(float) if k == 1 else onehot(rng.integers(0, k, 7), k)
    loss = fused()
    loss.forward(z, y)
    analytic = loss.backward()  # before the finite differences overwrite the cache
    numeric = numerical_gradient(lambda: loss.forward(z, y), z, 1e-5)
    # softmax makes some entries ~1e-6, where the difference quotient is mostly round-off:
    # the floor 1e-4 judges those by absolute error
    assert relative_error(analytic, numeric, floor=1e-4).max() < 1e-7


@pytest.mark.parametrize("pair", list(FUSED))
def test_fused_equals_activation_then_loss(pair, rng):
    loss_name, act_name = pair
    act = Sigmoid() if act_name == "Sigmoid" else Softmax()
    k = 1 if act_name == "Sigmoid" else 3
    z = rng.normal(size=(5, k))
    y = rng.integers(0, 2, (5, 1)).astype(float) if k == 1 else onehot(rng.integers(0, 3, 5), 3)
    plain = LOSSES.get(loss_name)()
    fused = FUSED[pair]()
    o = act.forward(z)
    assert fused.forward(z, y) == pytest.approx(plain.forward(o, y), rel=1e-12)
    # chain rule through the activation equals the fused (o - y)/n
    np.testing.assert_allclose(act.backward(plain.backward()), fused.backward(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(fused.backward(), (o - y) / 5, rtol=1e-12)


def test_fused_losses_are_stable_at_extreme_logits():
    z = np.array([[800.0], [-800.0]])
    y = np.array([[0.0], [1.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = BCEWithLogits().forward(z, y)
    assert value == pytest.approx(800.0)     # each example costs log(1 + e^800) - 0 ≈ 800
    ce = SoftmaxCrossEntropy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        v = ce.forward(np.array([[1000.0, 0.0, -1000.0]]), np.array([[0.0, 1.0, 0.0]]))
    assert v == pytest.approx(1000.0)
    assert np.isfinite(ce.backward()).all()


# values worked out by hand
def test_quadratic_mse_mae_values():
    o, y = np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[0.0, 0.0], [0.0, 3.0]])
    # quadratic: mean over examples of 1/2 sum_k d^2 = (1/2 (1 + 4) + 1/2 (9)) / 2 = 3.5
    assert LOSSES.get("quadratic")().forward(o, y) == pytest.approx(3.5)
    # mse: mean of all d^2 = (1 + 4 + 0 + 9) / 4 = 3.5
    assert LOSSES.get("mse")().forward(o, y) == pytest.approx(3.5)
    # mae: mean |d| = (1 + 2 + 0 + 3) / 4 = 1.5
    assert LOSSES.get("mae")().forward(o, y) == pytest.approx(1.5)
    # mae of o = (1, -2), y = (0.5, 1): (0.5 + 3) / 2 (|o + y| would give 1.25)
    assert LOSSES.get("mae")().forward(np.array([[1.0, -2.0]]), np.array([[0.5, 1.0]])) == pytest.approx(1.75)


def test_bce_and_cross_entropy_values():
    # -[1 log 0.8 + 0] and -[0 + 1 log(1 - 0.4)], mean
    v = LOSSES.get("bce")().forward(np.array([[0.8], [0.4]]), np.array([[1.0], [0.0]]))
    assert v == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    # -log o_c
    v = LOSSES.get("cross_entropy")().forward(np.array([[0.2, 0.5, 0.3]]), np.array([[0.0, 1.0, 0.0]]))
    assert v == pytest.approx(-math.log(0.5))


def test_hinge_values():
    # multi-class: true class 0 with score 1; others 0.5 and -1: max(0, 1 + 0.5 - 1) + max(0, 1 - 1 - 1)
    h = Hinge()
    assert h.forward(np.array([[1.0, 0.5, -1.0]]), np.array([[1.0, 0.0, 0.0]])) == pytest.approx(0.5)
    np.testing.assert_allclose(h.backward(), [[-1.0, 1.0, 0.0]])
    # binary: t = +1, z = 0.25 -> 0.75; t = -1 (target 0), z = -2 -> 0
    assert h.forward(np.array([[0.25], [-2.0]]), np.array([[1.0], [0.0]])) == pytest.approx(0.75 / 2)
    np.testing.assert_allclose(h.backward(), [[-0.5], [0.0]])
    # targets given as -1/+1 mean the same
    assert h.forward(np.array([[0.25], [-2.0]]), np.array([[1.0], [-1.0]])) == pytest.approx(0.75 / 2)
    # t = -1 with a score on the wrong side: max(0, 1 + 0.5) = 1.5, gradient +1 / n
    assert h.forward(np.array([[0.5]]), np.array([[0.0]])) == pytest.approx(1.5)
    np.testing.assert_allclose(h.backward(), [[1.0]])


def test_mae_kink_is_skipped_by_gradcheck():
    """MAE's kink is at o = y: an entry within eps of it is skipped, one at o - y = 1 is not."""
    from backprop_cli.engine.gradcheck import check_loss
    y = np.array([[0.0, 0.0]])
    check = check_loss(LOSSES.get("mae")(), np.array([[1e-9, 1.0 + 1e-9]]), y, "mae", eps=1e-6)[0]
    assert check.skipped == 1 and check.checked == 1 and check.passed


@pytest.mark.parametrize("name", ["quadratic", "mse", "mae", "bce", "cross_entropy", "hinge"])
@pytest.mark.parametrize("units", [1, 3])
def test_gradients_keep_the_dtype(name, units, rng):
    o = rng.uniform(0.1, 0.9, size=(4, units)).astype(np.float32)
    y = np.eye(units, dtype=np.float32)[rng.integers(0, units, 4)] if units > 1 else \
        rng.integers(0, 2, (4, 1)).astype(np.float32)
    loss = LOSSES.get(name)()
    loss.forward(o, y)
    assert loss.backward().dtype == np.float32


def test_probability_losses_at_exactly_0_and_1_are_finite_and_silent():
    """As PyTorch's BCELoss: log is clamped at -100, so a sure right answer costs 0 and a sure
    wrong one 100, and (o - y) / (o (1 - o)) has its denominator clamped at 1e-12. Cross
    entropy skips classes whose target is 0. No floating-point warning either way."""
    o, y = np.array([[1.0, 0.0, 1.0, 0.0]]), np.array([[1.0, 0.0, 0.0, 1.0]])
    with np.errstate(all="raise"):
        bce = LOSSES.get("bce")()
        assert bce.forward(o, y) == pytest.approx((0 + 0 + 100 + 100) / 4)
        np.testing.assert_allclose(bce.backward(), [[0.0, 0.0, 1e12 / 4, -1e12 / 4]])
        ce = LOSSES.get("cross_entropy")()
        assert ce.forward(np.array([[0.0, 1.0, 0.0]]), np.array([[0.0, 1.0, 0.0]])) == 0.0
        np.testing.assert_array_equal(ce.backward(), [[0.0, -1.0, 0.0]])
        # a probability of exactly 0 on the true class: an infinite loss, not an error
        assert ce.forward(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])) == math.inf
        np.testing.assert_array_equal(ce.backward(), [[0.0, -math.inf]])


def test_fused_cross_entropy_value_for_any_nonnegative_targets(rng):
    """E = sum_k y_k (logsumexp(z) - z_k) = -sum_k y_k log softmax(z)_k, also for rows of y
    that do not sum to 1 (its gradient o - y needs rows that do)."""
    z, y = rng.normal(size=(4, 3)), rng.uniform(0.1, 2.0, size=(4, 3))
    fused = SoftmaxCrossEntropy().forward(z, y)
    assert fused == pytest.approx(LOSSES.get("cross_entropy")().forward(Softmax().forward(z), y), rel=1e-12)
