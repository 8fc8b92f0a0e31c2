"""Convolutional networks as a whole: the one shape function against PyTorch's layers, the
builder's parameters (names, PyTorch layout, initializer fans), training trajectories equal to
PyTorch's in float64, and float32 kept float32.

Each layer's own derivatives are checked in tests/test_conv.py."""
import math

import numpy as np
import pytest

from backprop_cli.data.dataset import Dataset
from backprop_cli.engine.blocks import (LayerShapeError, infer_shapes, input_shape, parameter_count,
                                        same_padding, summary)
from backprop_cli.engine.network import build_network
from backprop_cli.training.optimizers import OPTIMIZERS
from backprop_cli.training.trainer import Trainer

torch = pytest.importorskip("torch")
F = torch.nn.functional

CONV_CASES = [  # (options, input C×H×W)
    ({"channels": 4, "kernel": 3}, (2, 9, 7)),
    ({"channels": 3, "kernel": [3, 2], "stride": 2}, (1, 10, 9)),
    ({"channels": 2, "kernel": 5, "padding": 2}, (3, 8, 8)),
    ({"channels": 2, "kernel": 3, "padding": [1, 0], "stride": [1, 2]}, (1, 7, 8)),
    ({"channels": 2, "kernel": 3, "dilation": 2}, (1, 9, 9)),
    ({"channels": 2, "kernel": [3, 4], "dilation": [2, 1], "padding": "same"}, (2, 9, 8)),
    ({"channels": 5, "kernel": 4, "padding": "same"}, (1, 6, 5)),
    ({"channels": 2, "kernel": 3, "padding": "valid"}, (1, 5, 5)),
]


def conv_spec(**opts):
    return {"type": "conv2d", "stride": 1, "padding": 0, "dilation": 1, "activation": "identity",
            "init": "auto", "dropout": 0.0, **opts}


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")  # PyTorch's own note
@pytest.mark.parametrize("opts,shape", CONV_CASES, ids=[str(o) for o, _ in CONV_CASES])
def test_conv_output_shape_and_parameters_are_pytorchs(opts, shape):
    spec = conv_spec(**opts)
    conv = torch.nn.Conv2d(shape[0], opts["channels"], opts["kernel"], stride=opts.get("stride", 1),
                           padding=opts.get("padding", 0), dilation=opts.get("dilation", 1))
    out = conv(torch.zeros(1, *shape))
    assert infer_shapes([spec], shape) == [tuple(out.shape[1:])]
    assert parameter_count(spec, shape) == sum(p.numel() for p in conv.parameters())


@pytest.mark.parametrize("n,k,s,d", [(n, k, s, d) for n in (1, 5, 8, 9) for k in (1, 2, 3, 4)
                                     for s in (1, 2, 3) for d in (1, 2)])
def test_same_padding_gives_ceil_of_size_over_stride(n, k, s, d):
    """'same' as Keras: output ceil(n / s), the odd pixel of padding after (PyTorch's for s = 1)."""
    lo, hi = same_padding(n, k, s, d)
    assert hi - lo in (0, 1) and lo >= 0
    assert (n + lo + hi - d * (k - 1) - 1) // s + 1 == math.ceil(n / s)
    if s == 1:
        x = torch.zeros(1, 1, n, n)
        w = torch.zeros(1, 1, k, k)
        assert F.conv2d(x, w, padding="same", dilation=d).shape[-1] == n


POOL_CASES = [({"kernel": 2}, (3, 8, 8)), ({"kernel": 3, "stride": 2}, (2, 9, 7)),
              ({"kernel": [3, 2], "stride": [1, 2], "padding": [1, 1]}, (1, 6, 7)),
              ({"kernel": 3, "padding": 1}, (2, 5, 5))]


@pytest.mark.parametrize("kind", ["maxpool2d", "avgpool2d"])
@pytest.mark.parametrize("opts,shape", POOL_CASES, ids=[str(o) for o, _ in POOL_CASES])
def test_pool_output_shapes_are_pytorchs(kind, opts, shape):
    spec = {"type": kind, "stride": None, "padding": 0, **opts}
    fn = F.max_pool2d if kind == "maxpool2d" else F.avg_pool2d
    out = fn(torch.zeros(1, *shape), opts["kernel"], stride=opts.get("stride"),
             padding=opts.get("padding", 0))
    assert infer_shapes([spec], shape) == [tuple(out.shape[1:])]
    assert parameter_count(spec, shape) == 0


def test_flatten_global_pool_and_dense_shapes():
    specs = [conv_spec(channels=6, kernel=3), {"type": "global_avgpool"},
             {"type": "dense", "units": 4, "activation": "prelu"}]
    assert infer_shapes(specs, (2, 5, 5)) == [(6, 3, 3), (6,), (4,)]
    specs[1] = {"type": "flatten"}
    assert infer_shapes(specs, (2, 5, 5)) == [(6, 3, 3), (54,), (4,)]
    assert parameter_count(specs[2], (54,)) == 54 * 4 + 4 + 4  # W, b and one PReLU slope per unit
    rows = summary(specs, (2, 5, 5))
    assert [r["output_shape"] for r in rows] == [(2, 5, 5), (6, 3, 3), (54,), (4,)]
    assert [r["params"] for r in rows] == [0, 6 * 2 * 9 + 6, 0, 54 * 4 + 8]


def test_unknown_sizes_are_carried_and_ranks_still_checked():
    specs = [conv_spec(channels=6, kernel=3), {"type": "flatten"}, {"type": "dense", "units": 2}]
    assert infer_shapes(specs, None) == [(6, None, None), (None,), (2,)]
    with pytest.raises(LayerShapeError) as e:
        infer_shapes([conv_spec(channels=6, kernel=3), {"type": "dense", "units": 2}], None)
    assert e.value.index == 1 and "add {type: flatten}" in e.value.message


@pytest.mark.parametrize("specs,shape,index,key,words", [
    ([conv_spec(channels=2, kernel=5)], (1, 4, 8), 0, "kernel", ["5x5", "1×4×8", "along H"]),
    ([conv_spec(channels=2, kernel=3, dilation=3)], (1, 6, 6), 0, "kernel", ["dilated to 7"]),
    ([conv_spec(channels=2, kernel=3), {"type": "maxpool2d", "kernel": 4, "stride": None,
                                        "padding": 0}], (1, 5, 5), 1, "kernel", ["4x4 pool", "2×3×3"]),
    ([{"type": "dense", "units": 3}, conv_spec(channels=2, kernel=1)], (4,), 1, None, ["takes images"]),
])
def test_layers_that_do_not_fit_name_the_layer_key_and_shapes(specs, shape, index, key, words):
    with pytest.raises(LayerShapeError) as e:
        infer_shapes(specs, shape)
    assert (e.value.index, e.value.key) == (index, key)
    for w in words:
        assert w in e.value.message


def test_input_shape_needs_images_for_a_conv_first_layer():
    specs = [conv_spec(channels=2, kernel=3), {"type": "flatten"}, {"type": "dense", "units": 2}]
    assert input_shape(specs, 64, (1, 8, 8)) == (1, 8, 8)
    assert input_shape([{"type": "dense", "units": 2}], 64, (1, 8, 8)) == (64,)
    with pytest.raises(LayerShapeError, match=r"data.shape: \[C, H, W\] \(their product must be 64\)"):
        input_shape(specs, 64, None)


# -- the built network ----------------------------------------------------------------------
LENET_LIKE = [
    conv_spec(channels=3, kernel=3, padding=1, activation="relu"),
    {"type": "maxpool2d", "kernel": 2, "stride": None, "padding": 0},
    conv_spec(channels=4, kernel=[3, 2], stride=[1, 2], activation="tanh"),
    {"type": "avgpool2d", "kernel": 2, "stride": 1, "padding": 1},
    {"type": "flatten"},
    {"type": "dense", "units": 5, "activation": "relu"},
    {"type": "dense", "units": 3, "activation": "softmax"},
]
IMAGE = (2, 8, 8)


def test_parameters_have_pytorchs_layout_and_fans():
    rng = np.random.default_rng(0)
    net = build_network(LENET_LIKE, IMAGE, "cross_entropy", np.float64, rng, rng)
    shapes = {p.name: p.value.shape for p in net.parameters()}
    assert shapes["0.W"] == (3, 2, 3, 3) and shapes["0.b"] == (3,)
    assert shapes["2.W"] == (4, 3, 3, 2) and shapes["2.b"] == (4,)
    assert shapes["5.W"] == (4 * 3 * 3, 5)  # flatten of 4×3×3 feeds the dense layer
    # he_uniform before relu: U(-r, r) with r = sqrt(6 / fan_in), fan_in = C·kh·kw = 18
    W = net.parameters()[0].value
    r = math.sqrt(6 / 18)
    assert np.abs(W).max() <= r and np.abs(W).max() > 0.8 * r
    # xavier_uniform before tanh: r = sqrt(6 / (fan_in + fan_out)), fans 3·6 and 4·6
    W2 = dict((p.name, p.value) for p in net.parameters())["2.W"]
    assert np.abs(W2).max() <= math.sqrt(6 / (18 + 24))


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, math.prod(IMAGE)))
    labels = rng.integers(0, 3, size=n)
    return Dataset(X, np.eye(3)[labels], labels)


def torch_forward(params, x):
    x = x.reshape(-1, *IMAGE)
    x = F.max_pool2d(F.relu(F.conv2d(x, params["0.W"], params["0.b"], padding=1)), 2)
    x = F.avg_pool2d(torch.tanh(F.conv2d(x, params["2.W"], params["2.b"], stride=(1, 2))), 2,
                     stride=1, padding=1)
    x = F.relu(x.flatten(1) @ params["5.W"] + params["5.b"])
    return x @ params["6.W"] + params["6.b"]


@pytest.mark.parametrize("name,opts", [("sgd", {"lr": 0.1, "momentum": 0.9}),
                                       ("adam", {"lr": 0.01})])
def test_training_trajectory_equals_pytorchs(name, opts):
    """Five epochs of mini-batches through conv, both pools, flatten and dense layers: the
    weights after every epoch equal PyTorch's (float64) to 1e-10."""
    rng = np.random.default_rng(1)
    net = build_network(LENET_LIKE, IMAGE, "cross_entropy", np.float64, rng, rng)
    params = {k: torch.from_numpy(v.copy()).requires_grad_() for k, v in net.state_dict().items()}
    opt = OPTIMIZERS.get(name)(net.parameters(), **opts)
    t_opt = (torch.optim.SGD if name == "sgd" else torch.optim.Adam)(list(params.values()), **opts)
    train = images(20)
    X, labels = torch.from_numpy(train.X), torch.from_numpy(train.labels)
    for epoch in range(5):
        Trainer(net, opt, epochs=1, batch_size=8, shuffle=False).fit(train)
        for start in range(0, len(X), 8):
            t_opt.zero_grad()
            F.cross_entropy(torch_forward(params, X[start:start + 8]), labels[start:start + 8]).backward()
            t_opt.step()
        ours = net.state_dict()
        for k, v in params.items():
            theirs = v.detach().numpy()
            assert np.abs(ours[k] - theirs).max() <= 1e-10 * max(1.0, np.abs(theirs).max()), (epoch, k)


def test_input_gradient_comes_back_in_the_rows_shape():
    rng = np.random.default_rng(2)
    net = build_network(LENET_LIKE, IMAGE, "cross_entropy", np.float64, rng, rng)
    train = images(4)
    z = net.forward(train.X, training=True)
    net.loss.forward(z, train.Y)
    dx = net.backward(net.loss.backward())
    assert dx.shape == train.X.shape
    x = torch.from_numpy(train.X).requires_grad_()
    params = {k: torch.from_numpy(v) for k, v in net.state_dict().items()}
    F.cross_entropy(torch_forward(params, x), torch.from_numpy(train.labels)).backward()
    np.testing.assert_allclose(dx, x.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_a_float32_step_upcasts_nothing():
    rng = np.random.default_rng(3)
    specs = [dict(s) for s in LENET_LIKE]
    specs[0]["activation"] = "prelu"  # a learned slope per channel, float32 too
    net = build_network(specs, IMAGE, "cross_entropy", np.float32, rng, rng)
    train = images(6)
    X = train.X.astype(np.float32)
    seen = []
    for layer in net.layers:
        forward = layer.forward

        def spy(x, training=False, forward=forward, layer=layer):
            y = forward(x, training)
            seen.append((repr(layer), x.dtype, y.dtype))
            return y
        layer.forward = spy
    z = net.forward(X, training=True)
    net.loss.forward(z, train.Y.astype(np.float32))
    dx = net.backward(net.loss.backward())
    assert {d for _, a, b in seen for d in (a, b)} == {np.dtype(np.float32)}, seen
    assert dx.dtype == np.float32
    assert all(p.value.dtype == p.grad.dtype == np.float32 for p in net.parameters())


# -- gradcheck ------------------------------------------------------------------------------
def test_builtin_gradcheck_covers_every_image_layer_and_option():
    from backprop_cli.engine.gradcheck import builtin_checks
    report = builtin_checks()
    names = {c.check for c in report.checks}
    for words in ("conv2d 3@3x3 stride 2", "padding same", "conv2d 2@3x2", "dilation 2",
                  "stride 1x2 padding 1x0", "maxpool2d 2x2", "maxpool2d 3x3 stride 2 padding 1",
                  "avgpool2d 2x3 stride 1", "layer flatten", "layer global_avgpool",
                  "network conv2d relu→maxpool2d", "global_avgpool→identity+mse"):
        assert any(words in n for n in names), words
    image = [c for c in report.checks if "conv" in c.check or "pool" in c.check or "flatten" in c.check]
    assert image and all(c.passed for c in image)
    assert sum(c.checked for c in image) > 4000


def test_builtin_gradcheck_fails_on_a_wrong_conv_derivative(monkeypatch):
    """The checker sees a 0.1% error in one derivative of a conv layer (dW), and in dx."""
    from backprop_cli.engine import conv
    from backprop_cli.engine.gradcheck import image_layer_checks
    backward = conv.Conv2d.backward

    def wrong_dw(self, dy):
        dx = backward(self, dy)
        self.W.grad *= 1.001
        return dx
    monkeypatch.setattr(conv.Conv2d, "backward", wrong_dw)
    failed = {c.parameter for c in image_layer_checks(np.random.default_rng(0), {}) if not c.passed}
    assert failed == {"W"}

    def wrong_dx(self, dy):
        dx = backward(self, dy)
        return dx * 1.001
    monkeypatch.setattr(conv.Conv2d, "backward", wrong_dx)
    failed = {c.parameter for c in image_layer_checks(np.random.default_rng(0), {}) if not c.passed}
    assert failed == {"input"}
