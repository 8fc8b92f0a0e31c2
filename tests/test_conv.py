"""Convolution and pooling layers (engine/conv.py, engine/pooling.py): every gradient against
central finite differences in float64, and forward outputs and gradients against PyTorch's
torch.nn.functional (skipped where PyTorch is not installed), over the same option grid."""
import numpy as np
import pytest

from backprop_cli.engine import conv as conv_module
from backprop_cli.engine import pooling as pooling_module
from backprop_cli.engine.conv import Conv2d
from backprop_cli.engine.gradcheck import check_layer
from backprop_cli.engine.parameter import Parameter
from backprop_cli.engine.pooling import AvgPool2d, Flatten, GlobalAvgPool, MaxPool2d

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
    assert {b.dtype for b in layer._ws._buffers.values()} == {np.dtype(np.float32)}  # scratch too
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
@pytest.mark.parametrize("limit", ["MAX_IM2COL_BYTES", "CACHE_CHUNK_BYTES"])
def test_conv2d_chunked_im2col_gives_the_same_results(name, limit, rng, monkeypatch):
    """Past MAX_IM2COL_BYTES the columns are rebuilt chunk by chunk in the backward; past
    CACHE_CHUNK_BYTES they are built and used chunk by chunk. Either way, the same numbers."""
    case = CONV_CASES[name]
    layer = make_conv(case, rng)
    x = conv_input(case, rng, n=5)
    y = layer.forward(x)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    dW, db = layer.W.grad.copy(), layer.b.grad.copy()
    per_example = y[0, 0].size * (layer.W.value[0].size + 1) * x.itemsize
    monkeypatch.setattr(conv_module, limit, 2 * per_example)  # chunks of 2, 2, 1 examples
    chunked = make_conv(case, rng)
    chunked.W.value[...], chunked.b.value[...] = layer.W.value, layer.b.value
    np.testing.assert_array_equal(chunked.forward(x), y)
    xp, Wb, cols, m, _, _ = chunked._cache
    assert m == 2 and (cols is None) == (limit == "MAX_IM2COL_BYTES")
    np.testing.assert_array_equal(chunked.backward(dy), dx)
    # dW and db sum the chunks' products in another order: equal to rounding
    np.testing.assert_allclose(chunked.W.grad, dW, rtol=1e-13, atol=1e-13 * np.abs(dW).max())
    np.testing.assert_allclose(chunked.b.grad, db, rtol=1e-13, atol=1e-13 * np.abs(db).max())


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


# ---- pooling ----------------------------------------------------------------------------

# kernel, stride, padding
POOL_CASES = {
    "2x2": ((2, 2), (2, 2), (0, 0)),
    "3x3 stride 2 (overlapping)": ((3, 3), (2, 2), (0, 0)),
    "3x3 stride 2 pad 1": ((3, 3), (2, 2), (1, 1)),
    "2x3 stride 1x2 pad 1x0": ((2, 3), (1, 2), (1, 0)),
    "2x2 stride 3 (gaps)": ((2, 2), (3, 3), (0, 0)),
    "2x2 pad 1": ((2, 2), (2, 2), (1, 1)),
}
POOLS = {"max": MaxPool2d, "avg": AvgPool2d}


def pool_input(rng, n=3, C=2, H=7, W=6, dtype=np.float64):
    return rng.normal(size=(n, C, H, W)).astype(dtype)


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("name", POOL_CASES)
def test_pool_gradients_match_central_differences(kind, name, rng):
    layer = POOLS[kind](*POOL_CASES[name])
    x = pool_input(rng)
    dy = rng.normal(size=layer.forward(x).shape)
    checks = check_layer(layer, x, dy, f"{kind}pool {name}", eps=EPS, tol=1e-7)
    assert_checks_pass(checks)
    assert checks[0].skipped <= x.size // 20  # random inputs: few arg-maxes within 1e-3 of a tie


@pytest.mark.parametrize("layer", [GlobalAvgPool(), Flatten()], ids=repr)
def test_global_avgpool_and_flatten_gradients_match_central_differences(layer, rng):
    x = pool_input(rng)
    dy = rng.normal(size=layer.forward(x).shape)
    assert_checks_pass(check_layer(layer, x, dy, repr(layer), eps=EPS, tol=1e-7))


def tied_input(rng):
    """Values from {0, 1, 2}: most 2x2 windows hold their maximum more than once."""
    return rng.integers(0, 3, size=(2, 3, 6, 6)).astype(np.float64)


def test_maxpool_ties_send_the_gradient_to_the_first_maximum():
    layer = MaxPool2d((2, 2), (2, 2))
    x = np.zeros((1, 1, 2, 4))
    x[0, 0] = [[1, 5, 3, 3],
               [5, 5, 3, 3]]
    layer.forward(x)
    dx = layer.backward(np.array([[[[10.0, 20.0]]]]))
    np.testing.assert_array_equal(dx[0, 0], [[0, 10, 20, 0],
                                             [0, 0, 0, 0]])
    np.testing.assert_array_equal(layer.kink_state()[0, 0], [[1, 0]])  # p·kw + q of the first max


def test_maxpool_ties_are_kinks_for_gradcheck(rng):
    layer = MaxPool2d((2, 2), (2, 2))
    x = tied_input(rng)
    checks = check_layer(layer, x, rng.normal(size=(2, 3, 3, 3)), "maxpool ties", eps=EPS, tol=1e-7)
    assert_checks_pass(checks)
    assert checks[0].skipped > 0  # each entry tied for a window's maximum moves the arg-max


@pytest.mark.parametrize("kind", POOLS)
def test_pool_float32_stays_float32_and_keeps_pixel_major_layout(kind, rng):
    layer = POOLS[kind]((3, 3), (2, 2), (1, 1))
    nhwc = pool_input(rng, dtype=np.float32).transpose(0, 2, 3, 1).copy()
    x = nhwc.transpose(0, 3, 1, 2)  # (n, C, H, W) shaped, channels last in memory
    y = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert y.transpose(0, 2, 3, 1).flags.c_contiguous
    ref = POOLS[kind]((3, 3), (2, 2), (1, 1))
    np.testing.assert_array_equal(ref.forward(np.ascontiguousarray(x)), y)
    np.testing.assert_array_equal(ref.backward(np.ones(y.shape, np.float32)), dx)


def test_global_avgpool_float32_and_flatten_view(rng):
    x = pool_input(rng, dtype=np.float32)
    g = GlobalAvgPool()
    y = g.forward(x)
    assert y.shape == (3, 2) and y.dtype == g.backward(np.ones_like(y)).dtype == np.float32
    f = Flatten()
    flat = f.forward(x)
    assert flat.shape == (3, 2 * 7 * 6) and np.shares_memory(flat, x)
    np.testing.assert_array_equal(flat[1], x[1].ravel())
    channels_last = x.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(f.forward(channels_last), flat)  # C order whatever the memory
    assert f.backward(flat).shape == x.shape


def test_pool_repr_and_refusals():
    assert repr(MaxPool2d((2, 2), (2, 2))) == "MaxPool2d(2x2, stride 2)"
    assert repr(AvgPool2d((3, 2), (1, 1), (1, 1))) == "AvgPool2d(3x2, stride 1, pad 1)"
    assert repr(MaxPool2d((2, 2))) == "MaxPool2d(2x2, stride 2)"  # stride defaults to the kernel
    with pytest.raises(ValueError, match="at most half the kernel"):
        MaxPool2d((2, 2), (2, 2), (2, 0))
    with pytest.raises(ValueError, match=r"does not fit an input of shape \(1, 1, 2, 2\)"):
        MaxPool2d((3, 3), (1, 1)).forward(np.zeros((1, 1, 2, 2)))


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("name", POOL_CASES)
def test_pool_equals_pytorch(kind, name, rng):
    torch = pytest.importorskip("torch")
    kernel, stride, padding = POOL_CASES[name]
    layer = POOLS[kind](kernel, stride, padding)
    fn = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    for x in (pool_input(rng, H=9, W=8), tied_input(rng)):
        y = layer.forward(x)
        dy = rng.normal(size=y.shape)
        dx = layer.backward(dy)
        tx = torch.tensor(x, requires_grad=True)
        ty = fn(tx, kernel, stride, padding)
        ty.backward(torch.tensor(dy))
        close(y, ty.detach().numpy())
        close(dx, tx.grad.numpy())
        if kind == "max":  # the arg-maxes, as flat indices into the unpadded input
            _, indices = fn(torch.tensor(x), kernel, stride, padding, return_indices=True)
            Ho, Wo = y.shape[2:]
            p, q = np.divmod(layer.kink_state(), kernel[1])
            rows = np.arange(Ho)[:, None] * stride[0] + p - padding[0]
            cols = np.arange(Wo)[None, :] * stride[1] + q - padding[1]
            np.testing.assert_array_equal(rows * x.shape[3] + cols, indices.numpy())


def test_global_avgpool_and_flatten_equal_pytorch(rng):
    torch = pytest.importorskip("torch")
    x = pool_input(rng)
    for layer, fn in ((GlobalAvgPool(), lambda t: torch.nn.functional.adaptive_avg_pool2d(t, 1).flatten(1)),
                      (Flatten(), lambda t: t.flatten(1))):
        y = layer.forward(x)
        dy = rng.normal(size=y.shape)
        dx = layer.backward(dy)
        tx = torch.tensor(x, requires_grad=True)
        ty = fn(tx)
        ty.backward(torch.tensor(dy))
        close(y, ty.detach().numpy())
        close(dx, tx.grad.numpy())


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("name", ["2x2", "3x3 stride 2 pad 1", "2x2 stride 3 (gaps)"])
def test_pool_chunks_give_the_same_results(kind, name, rng, monkeypatch):
    x = tied_input(rng) + rng.integers(0, 2, size=(2, 3, 6, 6)) * 0.5  # ties and non-ties
    layer = POOLS[kind](*POOL_CASES[name])
    y = layer.forward(x)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    monkeypatch.setattr(pooling_module, "POOL_CHUNK_BYTES", 1)  # one example per chunk
    assert len(layer._chunks(x)) == 2
    np.testing.assert_array_equal(layer.forward(x), y)
    np.testing.assert_array_equal(layer.backward(dy), dx)


# ---- fast paths and threads -----------------------------------------------------------------

def pixel_major(a):
    """The same (n, C, H, W) values with channels last in memory, as a conv layer outputs them."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("kernel", [(2, 2), (3, 3), (2, 3)])
@pytest.mark.parametrize("layout", [np.ascontiguousarray, pixel_major])
def test_maxpool_disjoint_path_equals_the_window_by_window_path(kernel, layout, rng, monkeypatch):
    """kernel == stride takes the one-pass path (boolean masks, 'not taken' for ties); on
    inputs full of ties it gives the bits of the general window-by-window path."""
    monkeypatch.setattr(pooling_module, "ONE_PASS_MIN_CHANNELS", 4)
    layer = MaxPool2d(kernel)
    x = layout(rng.integers(0, 2, size=(3, 4, 7, 8)).astype(np.float64))  # mostly ties; crops
    y = layer.forward(x)
    dy = layout(rng.normal(size=y.shape))
    dx = layer.backward(dy)
    general = np.zeros_like(x)
    layer._backward_by_window(x, y, dy, general)
    np.testing.assert_array_equal(dx, general)
    assert np.count_nonzero(dx) == np.count_nonzero(dy)  # one entry per window, ties or not


@pytest.fixture
def two_threads(monkeypatch):
    """threads.run with 2 threads (the pool), whatever the BLAS library says."""
    from backprop_cli.engine import threads
    run = threads.run
    monkeypatch.setattr(threads, "run", lambda task, count, n=None: run(task, count, 2))


@pytest.mark.parametrize("name", ["stride 2 pad 1", "dilation 2", "mixed"])
def test_conv2d_threaded_chunks_give_the_same_bits(name, rng, monkeypatch, request):
    case = CONV_CASES[name]
    x = conv_input(case, rng, n=5, H=9, W=8, dtype=np.float32)
    layer = make_conv(case, rng, dtype=np.float32)
    per_example = np.prod(layer.output_shape(x.shape)[2:]) * (np.prod(case[2]) * case[0] + 1) * 4
    monkeypatch.setattr(conv_module, "CACHE_CHUNK_BYTES", int(2 * per_example))  # chunks 2, 2, 1
    monkeypatch.setattr(conv_module, "THREADED_CHUNKS", True)
    y = layer.forward(x)
    dy = rng.normal(size=y.shape).astype(np.float32)
    dx, dW, db = layer.backward(dy), layer.W.grad.copy(), layer.b.grad.copy()
    request.getfixturevalue("two_threads")
    np.testing.assert_array_equal(layer.forward(x), y)
    np.testing.assert_array_equal(layer.backward(dy), dx)
    np.testing.assert_array_equal(layer.W.grad, dW)
    np.testing.assert_array_equal(layer.b.grad, db)


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("name", ["2x2", "3x3 stride 2 pad 1"])
def test_pool_threaded_chunks_give_the_same_bits(kind, name, rng, monkeypatch, request):
    x = pixel_major(tied_input(rng) + rng.integers(0, 2, size=(2, 3, 6, 6)) * 0.5)
    layer = POOLS[kind](*POOL_CASES[name])
    monkeypatch.setattr(pooling_module, "POOL_CHUNK_BYTES", 1)  # one example per chunk
    y = layer.forward(x)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    request.getfixturevalue("two_threads")
    np.testing.assert_array_equal(layer.forward(x), y)
    np.testing.assert_array_equal(layer.backward(dy), dx)


def test_threads_run_calls_each_task_once_and_raises_its_error():
    from backprop_cli.engine import threads
    seen = []
    threads.run(lambda i, worker: seen.append((i, worker)), 9, 2)
    assert sorted(i for i, _ in seen) == list(range(9)) and {w for _, w in seen} <= {0, 1}

    def fail(i, _):
        if i == 3:
            raise ValueError("chunk 3")
    with pytest.raises(ValueError, match="chunk 3"):
        threads.run(fail, 6, 2)
    assert threads.num_threads() >= 1


@pytest.mark.parametrize("name", CONV_CASES)
def test_conv2d_transposed_columns_match_the_pixel_major_ones(name, rng, monkeypatch):
    """Few input channels store the columns transposed (from an NCHW padded input); every
    case, either way, passes the gradient check and gives the same outputs and gradients
    (to rounding: the products' operands are laid out differently)."""
    case = CONV_CASES[name]
    x = conv_input(case, rng)
    results = {}
    for limit in (0, 99):
        monkeypatch.setattr(conv_module, "TRANSPOSED_MAX_C", limit)
        layer = make_conv(case, np.random.default_rng(5))
        y = layer.forward(x)
        assert layer._tcols == (limit == 99)
        dy = np.random.default_rng(6).normal(size=y.shape)
        results[limit] = (y, layer.backward(dy), layer.W.grad.copy(), layer.b.grad.copy())
        assert_checks_pass(check_layer(make_conv(case, np.random.default_rng(5)), x, dy,
                                       f"conv {name} limit {limit}", eps=EPS, tol=1e-7))
    for a, b in zip(results[0], results[99]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())


@pytest.mark.parametrize("kind", POOLS)
def test_pool_backward_takes_dy_in_any_layout(kind, rng):
    """dy in another layout than the pool's input (flatten hands back NCHW while a conv's
    output is pixel-major) gives the same bits: it is copied into y's layout first."""
    x = pixel_major(rng.normal(size=(3, 32, 6, 6)))
    layer = POOLS[kind]((2, 2))
    y = layer.forward(x)
    dy = rng.normal(size=y.shape)
    np.testing.assert_array_equal(layer.backward(np.ascontiguousarray(dy)), layer.backward(pixel_major(dy)))
