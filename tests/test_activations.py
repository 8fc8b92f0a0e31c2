"""Activations: forward values worked out by hand, backward against central differences."""
import math

import numpy as np
import pytest

from backprop_cli.engine.activations import ACTIVATIONS, Softmax, sigmoid
from backprop_cli.engine.gradcheck import numerical_gradient, relative_error


def differentiable(registry):
    return [n for n, cls in registry.items() if cls().differentiable]


def away_from_kinks(z, margin=1e-3):
    return np.where(np.abs(z) < margin, margin * 10, z)


@pytest.mark.parametrize("name", differentiable(ACTIVATIONS))
def test_backward_matches_central_differences(name, rng):
    layer = ACTIVATIONS.get(name)()
    layer.init_parameters(4, np.float64, "")
    for p in layer.parameters():
        p.value[...] = rng.uniform(0.1, 0.4, p.value.shape)
    z = away_from_kinks(rng.normal(size=(5, 4)))
    dy = rng.normal(size=z.shape)
    f = lambda: float(np.sum(dy * layer.forward(z)))
    layer.forward(z)
    dz = layer.backward(dy)
    analytic = {p.name: p.grad.copy() for p in layer.parameters()}
    assert relative_error(dz, numerical_gradient(f, z, 1e-5), floor=1e-6).max() < 1e-7
    for p in layer.parameters():
        numeric = numerical_gradient(f, p.value, 1e-5)
        assert relative_error(analytic[p.name], numeric, floor=1e-6).max() < 1e-7


# values worked out by hand: e = 2.718281828...
@pytest.mark.parametrize("name,z,expected", [
    ("identity", [-2.0, 0.0, 3.0], [-2.0, 0.0, 3.0]),
    ("threshold", [-1.0, 0.0, 0.5], [0.0, 0.0, 1.0]),              # 1 if z > 0 else 0
    ("sigmoid", [0.0, math.log(3.0)], [0.5, 0.75]),                # 1/(1+1/3) = 3/4
    ("tanh", [0.0, math.log(2.0)], [0.0, 0.6]),                    # (4-1)/(4+1)
    ("relu", [-3.0, 0.0, 2.5], [0.0, 0.0, 2.5]),
    ("leaky_relu", [-3.0, 0.5, 2.0], [-0.03, 0.5, 2.0]),           # slope 0.01
    ("softplus", [0.0, math.log(3.0)], [math.log(2.0), math.log(4.0)]),
])
def test_forward_values(name, z, expected):
    out = ACTIVATIONS.get(name)().forward(np.array([z]))
    np.testing.assert_allclose(out[0], expected, rtol=1e-12, atol=1e-15)


def test_grelu_and_prelu_use_their_slope():
    g = ACTIVATIONS.get("grelu")(slope=0.2)
    np.testing.assert_allclose(g.forward(np.array([[-5.0, 5.0]])), [[-1.0, 5.0]])
    p = ACTIVATIONS.get("prelu")()
    p.init_parameters(2, np.float64, "3.")
    assert p.alpha.name == "3.alpha" and p.alpha.decay is False
    np.testing.assert_allclose(p.alpha.value, [0.25, 0.25])        # PyTorch's init
    np.testing.assert_allclose(p.forward(np.array([[-4.0, 4.0]])), [[-1.0, 4.0]])
    # dE/da = sum over the batch of min(z, 0) * dE/dy
    p.forward(np.array([[-4.0, 4.0], [-2.0, -1.0]]))
    p.backward(np.array([[1.0, 1.0], [3.0, 2.0]]))
    np.testing.assert_allclose(p.alpha.grad, [-4.0 - 6.0, -2.0])
    # shared: one slope from init for the layer, dE/da summed over the batch and the units
    s = ACTIVATIONS.get("prelu")(shared=True, init=0.4)
    s.init_parameters(2, np.float64, "1.")
    np.testing.assert_array_equal(s.alpha.value, [0.4])
    np.testing.assert_allclose(s.forward(np.array([[-4.0, 4.0], [-2.0, -1.0]])), [[-1.6, 4.0], [-0.8, -0.4]])
    s.backward(np.array([[1.0, 1.0], [3.0, 2.0]]))
    np.testing.assert_allclose(s.alpha.grad, [-4.0 - 6.0 - 2.0])


@pytest.mark.parametrize("name,slope", [("relu", 0.0), ("leaky_relu", 0.01), ("grelu", 0.01),
                                        ("prelu", 0.25)])
def test_relu_family_at_and_just_above_the_kink(name, slope):
    """f'(0) is the left slope (PyTorch's convention: relu'(0) = 0), and 0 < z < 1 is on the
    identity side."""
    layer = ACTIVATIONS.get(name)()
    layer.init_parameters(3, np.float64, "")
    z = np.array([[0.0, 0.5, -0.5]])
    np.testing.assert_allclose(layer.forward(z), [[0.0, 0.5, -0.5 * slope]])
    np.testing.assert_allclose(layer.backward(np.array([[2.0, 2.0, 2.0]])), [[2.0 * slope, 2.0, 2.0 * slope]])


def test_softmax_values_and_jacobian():
    y = Softmax().forward(np.array([[0.0, math.log(3.0)]]))
    np.testing.assert_allclose(y, [[0.25, 0.75]])
    # dy_j/dz_i = y_i (delta_ij - y_j): with dy = e_0, dE/dz = y * (e_0 - y_0)
    s = Softmax()
    s.forward(np.array([[0.0, math.log(3.0)]]))
    np.testing.assert_allclose(s.backward(np.array([[1.0, 0.0]])), [[0.25 * 0.75, -0.75 * 0.25]])


def test_sigmoid_and_softmax_are_stable_for_large_inputs():
    z = np.array([[-1000.0, -40.0, 40.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = sigmoid(z)
        s = Softmax().forward(z)
    assert np.all(np.isfinite(y)) and y[0, 0] == 0.0 and y[0, 3] == 1.0
    assert y[0, 1] == pytest.approx(math.exp(-40.0), rel=1e-12)   # no loss of relative precision
    assert np.isfinite(s).all() and s.sum() == pytest.approx(1.0)
    assert np.isfinite(ACTIVATIONS.get("softplus")().forward(z)).all()
    # each row is shifted by its own maximum: rows far apart stay exact
    s = Softmax().forward(np.array([[1000.0, 1000.0 + math.log(3.0)], [-1000.0, -1000.0 + math.log(3.0)]]))
    np.testing.assert_allclose(s, [[0.25, 0.75], [0.25, 0.75]], rtol=1e-9)


def test_threshold_is_not_differentiable():
    t = ACTIVATIONS.get("threshold")()
    assert t.differentiable is False
    with pytest.raises(TypeError, match="^threshold units have no gradient; train them with the perceptron rule$"):
        t.backward(np.ones((1, 1)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", [n for n, _ in ACTIVATIONS.items()])
def test_dtype_is_kept(name, dtype, rng):
    # threshold too: a float32 perceptron's outputs stay float32
    layer = ACTIVATIONS.get(name)()
    layer.init_parameters(3, dtype, "")
    z = rng.normal(size=(4, 3)).astype(dtype)
    assert layer.forward(z).dtype == dtype
    if layer.differentiable:
        assert layer.backward(np.ones_like(z)).dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_within_a_few_ulps_of_the_exact_value(dtype):
    """Against 40-digit decimal arithmetic, over the whole range where the result is a
    normal number (and exactly 0 below it): 2 ulps in float64, 3 in float32, whose exp is
    not correctly rounded."""
    from decimal import Decimal, getcontext
    getcontext().prec = 40
    lo = {np.float32: -87.0, np.float64: -708.0}[dtype]
    z = np.concatenate([np.linspace(lo, 40.0, 2001), [-1e-6, 0.0, 1e-6]]).astype(dtype)
    exact = np.array([float(1 / (1 + (-Decimal(float(v))).exp())) for v in z])
    got = sigmoid(z)
    assert got.dtype == dtype
    ulps = np.abs(got - exact) / np.spacing(exact.astype(dtype)).astype(np.float64)
    assert ulps.max() <= (3.0 if dtype == np.float32 else 2.0), z[ulps.argmax()]
    assert sigmoid(np.array([-2000.0], dtype=dtype))[0] == 0.0
