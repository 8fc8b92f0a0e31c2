"""Convolution and pooling layers (engine/conv.py, engine/pooling.py): every gradient against
central finite differences in float64, and forward outputs and gradients against PyTorch's
torch.nn.functional (skipped where PyTorch is not installed), over the same option grid."""
import numpy as np
import pytest

from backprop_cli.engine import conv as conv_module
from backprop_cli.engine.conv import Conv2d
from backprop_cli.engine.gradcheck import check_layer
from backprop_cli.engine.parameter import Parameter

# (in channels, out channels, kernel, stride, padding ((top, bottom), (left, right)), dilation)
CONV_CASES = {
    "3x3": (2, 3, (3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1)),
    "stride 2": (2, 3, (3, 3), (2, 2), ((0, 0), (0, 0)), (1, 1)),
    "pad 1": (3, 2, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    "stride 2 pad 1": (2, 4, (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1)),
    "asymmetric pad": (2, 3, (3, 3), (1, 1), ((0, 1), (1, 0)), (1, 1)),
    "kernel 3x2": (3, 2, (3, 2), (1, 1), ((1, 1), (0, 0)), (1, 1)),
    "dilation 2": (2, 3, (3, 3), (1, 1), ((1, 1), (2, 2)), (2, 2)),
    "mixed": (1, 5, (2, 3), (2, 1), ((1, 0), (0, 2)), (1, 2)),
    "1x1": (4, 2, (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1)),
}


def make_conv(case, rng, dtype=np.float64):
    C, O, k, stride, padding, dilation = case
    W = Parameter("W", rng.normal(size=(O, C) + k).astype(dtype))
    b = Parameter("b", rng.normal(size=O).astype(dtype), decay=False)
    return Conv2d(W, b, stride, padding, dilation)


def conv_input(case, rng, n=3, H=7, W=6, dtype=np.float64):
    return rng.normal(size=(n, case[0], H, W)).astype(dtype)


# Every layer here is linear in its input and in each parameter (max pool piecewise so), so a
# central difference has no truncation error at any step: a step of 1e-3 instead of the
# checker's 1e-6 divides the round-off of E = Σ dy ⊙ y (a sum of hundreds of terms) by 1000.
EPS = 1e-3


def assert_checks_pass(checks, tol=1e-7):
    assert checks and all(c.checked > 0 for c in checks)
    bad = [(c.name, c.max_rel_error, c.analytic, c.numeric) for c in checks if c.max_rel_error >= tol]
    assert not bad, bad


@pytest.mark.parametrize("name", CONV_CASES)
def test_conv2d_gradients_match_central_differences(name, rng):
    layer = make_conv(CONV_CASES[name], rng)
    x = conv_input(CONV_CASES[name], rng)
    dy = rng.normal(size=layer.forward(x).shape)
    checks = check_layer(layer, x, dy, f"conv2d {name}", eps=EPS, tol=1e-7)
    assert {c.parameter for c in checks} == {"W", "b", "input"}
    assert_checks_pass(checks)


def test_conv2d_output_shape_follows_pytorch_formula(rng):
    layer = make_conv(CONV_CASES["mixed"], rng)  # kernel 2x3, stride 2x1, pad (1,0)/(0,2), dilation 1x2
    y = layer.forward(rng.normal(size=(2, 1, 9, 8)))
    # Ho = (9 + 1 + 0 - 1·1 - 1)//2 + 1 = 5, Wo = (8 + 0 + 2 - 2·2 - 1)//1 + 1 = 6
    assert y.shape == (2, 5, 5, 6) == layer.output_shape((2, 1, 9, 8))


def test_conv2d_float32_stays_float32(rng):
    case = CONV_CASES["stride 2 pad 1"]
    layer = make_conv(case, rng, np.float32)
    x = conv_input(case, rng, dtype=np.float32)
    y = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.W.grad.dtype == layer.b.grad.dtype == np.float32
    ref = make_conv(case, np.random.default_rng(0))
    ref.W.value[...], ref.b.value[...] = layer.W.value, layer.b.value
    np.testing.assert_allclose(y, ref.forward(x.astype(np.float64)), rtol=1e-4, atol=1e-4)


def test_conv2d_input_grad_false_returns_none_but_sets_parameter_grads(rng):
    case = CONV_CASES["pad 1"]
    layer, first = make_conv(case, rng), make_conv(case, rng)
    first.W.value[...], first.b.value[...] = layer.W.value, layer.b.value
    first.input_grad = False
    x = conv_input(case, rng)
    dy = rng.normal(size=layer.forward(x).shape)
    first.forward(x, training=True)
    assert first.backward(dy) is None
    assert layer.backward(dy) is not None
    np.testing.assert_array_equal(first.W.grad, layer.W.grad)
    np.testing.assert_array_equal(first.b.grad, layer.b.grad)


def test_conv2d_non_contiguous_input_and_upstream_gradient(rng):
    case = CONV_CASES["asymmetric pad"]
    layer = make_conv(case, rng)
    big = rng.normal(size=(3, 7, 2 * 6, case[0])).transpose(0, 3, 1, 2)[:, :, :, ::2]  # (3, 2, 7, 6)
    assert not big.flags.c_contiguous
    x = np.ascontiguousarray(big)
    y = layer.forward(x)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    dW = layer.W.grad.copy()
    np.testing.assert_array_equal(layer.forward(big), y)
    np.testing.assert_array_equal(layer.backward(np.asfortranarray(dy)), dx)
    np.testing.assert_array_equal(layer.W.grad, dW)


def test_conv2d_outputs_are_fresh_arrays(rng):
    """The layer reuses its scratch buffers, never the arrays it hands out."""
    case = CONV_CASES["pad 1"]
    layer = make_conv(case, rng)
    x1, x2 = conv_input(case, rng), conv_input(case, rng)
    y1 = layer.forward(x1)
    dx1 = layer.backward(np.ones_like(y1))
    y1_copy, dx1_copy = y1.copy(), dx1.copy()
    layer.forward(x2)
    layer.backward(np.full(y1.shape, 2.0))
    np.testing.assert_array_equal(y1, y1_copy)
    np.testing.assert_array_equal(dx1, dx1_copy)


def test_conv2d_smaller_batch_after_larger_one(rng):
    """The last batch of an epoch is smaller: buffers are reused as prefixes, padding stays zero."""
    case = CONV_CASES["stride 2 pad 1"]
    layer, fresh = make_conv(case, rng), make_conv(case, rng)
    fresh.W.value[...], fresh.b.value[...] = layer.W.value, layer.b.value
    layer.forward(conv_input(case, rng, n=5) + 100.0)
    x = conv_input(case, rng, n=2)
    np.testing.assert_array_equal(layer.forward(x), fresh.forward(x))


@pytest.mark.parametrize("name", ["stride 2 pad 1", "dilation 2", "mixed"])
def test_conv2d_chunked_im2col_gives_the_same_results(name, rng, monkeypatch):
    case = CONV_CASES[name]
    layer = make_conv(case, rng)
    x = conv_input(case, rng, n=5)
    y = layer.forward(x)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    dW, db = layer.W.grad.copy(), layer.b.grad.copy()
    per_example = y[0, 0].size * layer.W.value[0].size * x.itemsize
    monkeypatch.setattr(conv_module, "MAX_IM2COL_BYTES", 2 * per_example)  # chunks of 2, 2, 1
    chunked = make_conv(case, rng)
    chunked.W.value[...], chunked.b.value[...] = layer.W.value, layer.b.value
    np.testing.assert_array_equal(chunked.forward(x), y)
    assert chunked._cache[-1] == 2
    np.testing.assert_array_equal(chunked.backward(dy), dx)
    np.testing.assert_array_equal(chunked.b.grad, db)
    # dW sums the chunks' products in another order: equal to rounding
    np.testing.assert_allclose(chunked.W.grad, dW, rtol=1e-13, atol=1e-13 * np.abs(dW).max())


def test_conv2d_refuses_wrong_channels(rng):
    layer = make_conv(CONV_CASES["3x3"], rng)
    with pytest.raises(ValueError, match="expects 2 input channels"):
        layer.forward(rng.normal(size=(1, 3, 7, 7)))


@pytest.mark.parametrize("case, expected", [
    ((1, 6, (5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1)), "Conv2d(1→6, 5x5, stride 1, pad 2)"),
    ((3, 8, (3, 2), (2, 1), ((1, 1), (0, 0)), (2, 2)),
     "Conv2d(3→8, 3x2, stride 2x1, pad 1x0, dilation 2)"),
    ((2, 4, (3, 3), (1, 1), ((0, 1), (1, 0)), (1, 1)), "Conv2d(2→4, 3x3, stride 1, pad ((0, 1), (1, 0)))"),
])
def test_conv2d_repr(case, expected, rng):
    assert repr(make_conv(case, rng)) == expected


# ---- PyTorch ----------------------------------------------------------------------------

def close(a, b, rtol=1e-12):
    """Equal to rtol relative to the larger array's scale (entries near 0 have no relative error)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(np.abs(a).max(), np.abs(b).max(), 1e-300)
    assert np.abs(a - b).max() <= rtol * scale, np.abs(a - b).max() / scale


@pytest.mark.parametrize("name", CONV_CASES)
def test_conv2d_equals_pytorch(name, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    case = CONV_CASES[name]
    layer = make_conv(case, rng)
    x = conv_input(case, rng, n=4, H=9, W=8)
    y = layer.forward(x)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    tW = torch.tensor(layer.W.value, requires_grad=True)
    tb = torch.tensor(layer.b.value, requires_grad=True)
    (top, bottom), (left, right) = layer.padding
    ty = F.conv2d(F.pad(tx, (left, right, top, bottom)), tW, tb, stride=layer.stride,
                  dilation=layer.dilation)
    ty.backward(torch.tensor(dy))
    close(y, ty.detach().numpy())
    close(dx, tx.grad.numpy())
    close(layer.W.grad, tW.grad.numpy())
    close(layer.b.grad, tb.grad.numpy())
