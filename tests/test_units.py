"""Issue 16.5, the units the notes name: rrelu, maxout, bias: false, MC dropout, bce at the
boundary, the threshold at z = 0. Each against central differences in float64 and, where
PyTorch has it (or can compose it), against PyTorch."""
import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import backprop_cli
from backprop_cli import api, checkpoint
from backprop_cli.cli import main
from backprop_cli.engine.activations import ACTIVATIONS, RReLU, Threshold
from backprop_cli.engine.blocks import LAYERS, summary
from backprop_cli.engine.gradcheck import check_layer, numerical_gradient, relative_error
from backprop_cli.engine.layers import Dense, GatedDense, Maxout
from backprop_cli.engine.losses import BCE, LOSSES
from backprop_cli.engine.network import build_network
from backprop_cli.engine.parameter import Parameter
from backprop_cli.errors import CheckpointError, ConfigError, UsageError
from backprop_cli.training.perceptron import PerceptronTrainer
from helpers import CONFIGS, write

torch = pytest.importorskip("torch")
F = torch.nn.functional


def fd_error(f, x, analytic, eps=1e-5, floor=1e-6):
    """Largest relative error of ``analytic`` against central differences of f at x."""
    return float(relative_error(analytic, numerical_gradient(f, x, eps), floor=floor).max())


def away_from_zero(z, margin=1e-3):
    return np.where(np.abs(z) < margin, 10 * margin, z)


# --------------------------------------------------------------------------------------------
# rrelu
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lower,upper", [(1 / 8, 1 / 3), (0.05, 0.6), (0.3, 0.3)])
def test_rrelu_at_evaluation_is_torchs_rrelu_with_training_false(dtype, lower, upper, rng):
    """Forward and gradient, bit for bit, including z = 0 (whose slope is the left one)."""
    z = np.concatenate([rng.normal(size=37) * 3, [0.0, -0.0, 1e-30, -1e-30]]).astype(dtype)[None]
    dy = rng.normal(size=z.shape).astype(dtype)
    unit = RReLU(lower, upper)
    y = unit.forward(z)
    dz = unit.backward(dy)
    zt = torch.tensor(z, requires_grad=True)
    yt = F.rrelu(zt, lower, upper, training=False)
    yt.backward(torch.tensor(dy))
    assert y.dtype == dz.dtype == dtype
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(dz, zt.grad.numpy())


def test_rrelu_defaults_are_pytorchs():
    import inspect
    theirs = inspect.signature(torch.nn.RReLU).parameters
    assert RReLU.options["lower"].default == theirs["lower"].default == 1 / 8
    assert RReLU.options["upper"].default == theirs["upper"].default == 1 / 3
    unit = RReLU()
    assert (unit.lower, unit.upper) == (1 / 8, 1 / 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rrelu_in_training_draws_a_slope_per_element_and_its_derivative_is_that_slope(dtype):
    lower, upper = 0.1, 0.4
    unit = RReLU(lower, upper, rng=np.random.default_rng(5))
    z = np.linspace(-3, 3, 4001).astype(dtype).reshape(1, -1)
    y = unit.forward(z, training=True)
    dz = unit.backward(np.ones_like(z))
    assert y.dtype == dz.dtype == dtype
    neg = z[0] < 0
    slopes = y[0, neg] / z[0, neg]
    # the derivative is the drawn slope where z < 0, and 1 where z > 0
    np.testing.assert_allclose(dz[0, neg], slopes, rtol=1e-6 if dtype == np.float32 else 1e-14)
    np.testing.assert_array_equal(dz[0, ~neg & (z[0] > 0)], 1)
    np.testing.assert_array_equal(y[0, z[0] > 0], z[0, z[0] > 0])
    # U(lower, upper): inside the interval, spread over it, mean and variance of a uniform
    assert slopes.min() >= lower and slopes.max() <= upper
    m = len(slopes)
    assert abs(slopes.mean() - (lower + upper) / 2) < 4 * (upper - lower) / np.sqrt(12 * m)
    assert slopes.var() == pytest.approx((upper - lower) ** 2 / 12, rel=0.1)
    assert len(np.unique(slopes)) > m * 0.9
    # a new pass draws new slopes; evaluation uses the mean, (lower + upper) / 2
    again = unit.forward(z, training=True)
    assert not np.array_equal(again, y)
    np.testing.assert_array_equal(unit.forward(z)[0, neg], (z[0, neg] * dtype((lower + upper) / 2)))
    np.testing.assert_array_equal(unit.backward(np.ones_like(z))[0, neg], dtype((lower + upper) / 2))


def test_rrelu_training_backward_matches_central_differences_through_a_frozen_draw(rng):
    unit = RReLU(0.05, 0.5, rng=np.random.default_rng(0))
    z = away_from_zero(rng.normal(size=(6, 5)))
    dy = rng.normal(size=z.shape)
    unit.freeze(True)
    f = lambda: float(np.sum(dy * unit.forward(z, training=True)))
    f()
    dz = unit.backward(dy)
    assert fd_error(f, z, dz) < 1e-7
    unit.freeze(False)
    [check] = check_layer(RReLU(rng=np.random.default_rng(1)), z, dy, "rrelu", eps=1e-5)
    assert check.passed and check.checked == z.size and check.max_rel_error < 1e-7


def test_rrelu_without_a_stream_refuses_to_train_and_lower_above_upper_is_refused():
    with pytest.raises(ValueError, match="rrelu draws its slopes in training from a random stream"):
        RReLU().forward(np.ones((1, 2)), training=True)
    with pytest.raises(ValueError, match=r"rrelu lower: must be at most upper \(0.2\), got 0.5"):
        RReLU(0.5, 0.2)
    with pytest.raises(ConfigError) as e:
        api.as_config({"data": "xor", "loss": "bce", "model": {"layers": [
            {"units": 4, "activation": {"name": "rrelu", "lower": 0.5, "upper": 0.2}},
            {"units": 1, "activation": "sigmoid"}]}})
    assert "model.layers.0.activation.lower: must be at most upper (0.2), got 0.5" in str(e.value)
    with pytest.raises(ConfigError, match="model.layers.0.gate.lower: must be at most upper"):
        api.as_config({"data": "xor", "loss": "bce", "model": {"layers": [
            {"type": "gated", "units": 4, "gate": {"name": "rrelu", "lower": 0.9}},
            {"units": 1, "activation": "sigmoid"}]}})


def rrelu_net(dropout_seed=7, specs=None):
    specs = specs or [{"units": 6, "activation": "rrelu"}, {"units": 1, "activation": "identity"}]
    init, drop = np.random.default_rng(0), np.random.default_rng(dropout_seed)
    return build_network(specs, 3, "mse", np.float64, init, drop), init, drop


def test_rrelu_slopes_come_from_the_dropout_stream():
    """The builder hands rrelu (as an activation and as a gate) the Generator its dropout
    layers get; the init stream is not drawn from in training, and relu and rrelu configs
    start from the same weights (both he_uniform by default)."""
    net, init, drop = rrelu_net()
    assert net.layers[1].rng is drop
    gated, _, drop2 = rrelu_net(specs=[{"type": "gated", "units": 4, "gate": "rrelu"}, {"units": 1}])
    assert gated.layers[0].gate.rng is drop2
    relu, _, _ = rrelu_net(specs=[{"units": 6, "activation": "relu"}, {"units": 1, "activation": "identity"}])
    for a, b in zip(net.parameters(), relu.parameters()):
        np.testing.assert_array_equal(a.value, b.value)
    x = np.random.default_rng(3).normal(size=(50, 3))
    state, init_state = drop.bit_generator.state, init.bit_generator.state
    net.forward(x, training=True)
    assert drop.bit_generator.state != state and init.bit_generator.state == init_state
    # the same dropout seed draws the same slopes; another seed others
    a = rrelu_net()[0].forward(x, training=True)
    np.testing.assert_array_equal(a, rrelu_net()[0].forward(x, training=True))
    assert not np.array_equal(a, rrelu_net(dropout_seed=8)[0].forward(x, training=True))
    # evaluation draws nothing
    state = drop.bit_generator.state
    net.forward(x)
    assert drop.bit_generator.state == state


def test_a_run_with_rrelu_keeps_the_dropout_stream_live():
    c = api.as_config({"data": "xor", "loss": "bce", "model": {"layers": [
        {"units": 4, "activation": "rrelu"}, {"units": 1, "activation": "sigmoid"}]}}).data
    assert "dropout" in api.RunRecorder.live_streams(c)
    c["model"]["layers"][0]["activation"] = "tanh"
    assert "dropout" not in api.RunRecorder.live_streams(c)


def test_a_resumed_rrelu_maxout_bias_free_run_equals_an_uninterrupted_one(tmp_path):
    """The random slopes (and dropout masks) drawn after a resume are those an uninterrupted
    run draws: the resumed run's weights and metrics are bit-identical."""
    from test_resume import Crash, assert_same_run
    sets = ["model.layers=[{type: maxout, units: 6, pieces: 3, dropout: 0.2}, "
            "{units: 6, activation: rrelu, bias: false}, "
            "{type: gated, units: 4, gate: {name: rrelu, lower: 0.1, upper: 0.5}, activation: tanh}, "
            "{units: 1, activation: sigmoid}]", "training.epochs=40", "training.batch_size=2",
            "output.checkpoint_every=5", "stopping.target_loss=null"]
    ref = api.train(CONFIGS / "xor.yaml", sets, runs_dir=tmp_path / "ref")
    with pytest.raises(RuntimeError, match="power cut"):
        api.train(CONFIGS / "xor.yaml", sets, runs_dir=tmp_path / "cut", callbacks=[Crash(20)])
    cut = next((tmp_path / "cut").iterdir())
    api.train(resume=cut)
    assert_same_run(ref.run_dir, cut)
    other = api.train(CONFIGS / "xor.yaml", sets + ["seed=1"], runs_dir=tmp_path / "other")
    assert other.summary["final"]["train_loss"] != ref.summary["final"]["train_loss"]


# --------------------------------------------------------------------------------------------
# maxout
def maxout_layer(rng, n_in=3, units=4, pieces=3, bias=True):
    spec = {"type": "maxout", "units": units, "pieces": pieces, "bias": bias}
    layer = LAYERS.get("maxout").build(spec, (n_in,), "2.", np.dtype(np.float64), rng, rng)[0]
    for p in layer.parameters():
        p.value[...] = rng.normal(size=p.value.shape)
    return layer


def test_maxout_values_by_hand():
    """Two units of three pieces; column j·k + p is unit j's piece p."""
    W = Parameter("W", np.array([[1.0, -1.0, 0.5, 2.0, 0.0, -3.0]]))
    b = Parameter("b", np.array([0.0, 0.0, 1.0, 0.0, 0.5, 0.0]))
    layer = Maxout(W, b, 3)
    # x = 2: pieces (2, -2, 2) and (4, 0.5, -6): max 2 (the first of a tie) and 4
    # x = -1: pieces (-1, 1, 0.5) and (-2, 0.5, 3): max 1 and 3
    y = layer.forward(np.array([[2.0], [-1.0]]))
    np.testing.assert_array_equal(y, [[2.0, 4.0], [1.0, 3.0]])
    dx = layer.backward(np.array([[10.0, 20.0], [30.0, 40.0]]))
    # the gradient goes to the winning piece only: dE/dz rows (10,0,0, 20,0,0), (0,30,0, 0,0,40)
    np.testing.assert_array_equal(b.grad, [10.0, 30.0, 0.0, 20.0, 0.0, 40.0])
    np.testing.assert_array_equal(W.grad, [[2 * 10.0, -1 * 30.0, 0.0, 2 * 20.0, 0.0, -1 * 40.0]])
    np.testing.assert_array_equal(dx, [[10 * 1.0 + 20 * 2.0], [30 * -1.0 + 40 * -3.0]])


@pytest.mark.parametrize("pieces", [1, 2, 4])
@pytest.mark.parametrize("bias", [True, False])
def test_maxout_gradient_reaches_the_arg_max_piece_only_and_matches_central_differences(pieces, bias, rng):
    layer = maxout_layer(rng, pieces=pieces, bias=bias)
    assert [p.name for p in layer.parameters()] == (["2.W", "2.b"] if bias else ["2.W"])
    x = rng.normal(size=(7, 3))
    dy = rng.normal(size=(7, 4))
    f = lambda: float(np.sum(dy * layer.forward(x)))
    f()
    arg = layer.kink_state()[:, :, 0].copy()
    dx = layer.backward(dy)
    grads = {p.name: p.grad.copy() for p in layer.parameters()}
    # pieces that won for no example get no gradient at all
    for j in range(4):
        for p in range(pieces):
            won = arg[:, j] == p
            col = j * pieces + p
            np.testing.assert_allclose(grads["2.W"][:, col], x[won].T @ dy[won, j], rtol=1e-12, atol=0)
            if bias:
                assert grads["2.b"][col] == pytest.approx(dy[won, j].sum(), rel=1e-12, abs=0)
    for p in layer.parameters():
        assert fd_error(f, p.value, grads[p.name]) < 1e-7
    assert fd_error(f, x, dx) < 1e-7


def test_maxout_equals_its_pytorch_composition(rng):
    """PyTorch has no maxout module; its definition, linear then a max over each unit's
    pieces, gives the same outputs and gradients."""
    layer = maxout_layer(rng, n_in=5, units=3, pieces=4)
    x = rng.normal(size=(9, 5))
    dy = rng.normal(size=(9, 3))
    y = layer.forward(x)
    dx = layer.backward(dy)
    W = torch.tensor(layer.W.value.T.copy(), requires_grad=True)
    b = torch.tensor(layer.b.value.copy(), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yt = F.linear(xt, W, b).view(9, 3, 4).max(dim=2).values
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(layer.W.grad, W.grad.numpy().T, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(layer.b.grad, b.grad.numpy(), rtol=1e-13, atol=1e-15)


def test_maxout_with_one_piece_is_a_dense_layer_of_identity_units(rng):
    m = maxout_layer(rng, pieces=1)
    d = Dense(Parameter("W", m.W.value.copy()), Parameter("b", m.b.value.copy()))
    x, dy = rng.normal(size=(5, 3)), rng.normal(size=(5, 4))
    np.testing.assert_array_equal(m.forward(x), d.forward(x))
    np.testing.assert_array_equal(m.backward(dy), d.backward(dy))
    np.testing.assert_array_equal(m.W.grad, d.W.grad)


def test_maxout_in_a_config(tmp_path):
    c = api.as_config({"data": "xor", "loss": "bce", "model": {"layers": [
        {"type": "maxout", "units": 4, "pieces": 3, "max_norm": 2.0},
        {"units": 1, "activation": "sigmoid"}]}, "optimizer": {"name": "adam", "lr": 0.05},
        "training": {"epochs": 300, "batch_size": "full"}})
    layer = c.data["model"]["layers"][0]
    assert (layer["pieces"], layer["bias"], layer["dropout"]) == (3, True, 0.0)
    rows = summary(c.data["model"]["layers"], (2,))
    assert rows[1]["layer"] == "maxout 4 pieces 3" and rows[1]["output_shape"] == (4,)
    assert rows[1]["params"] == 2 * 12 + 12
    r = api.train(c, runs_dir=tmp_path)
    assert r.summary["final"]["train_accuracy"] == 1.0   # four maxout units fit XOR
    assert set(r.weights) == {"0.W", "0.b", "1.W", "1.b"} and r.weights["0.W"].shape == (2, 12)
    # max_norm caps each piece's incoming weight vector, a column of W
    assert np.sqrt((r.weights["0.W"] ** 2).sum(axis=0)).max() <= 2.0 + 1e-6
    for layers, message in [
        ([{"type": "maxout", "units": 2, "activation": "relu"}, {"units": 1}],
         "model.layers.0.activation: maxout has no option 'activation'"),
        ([{"type": "maxout", "units": 2, "pieces": 0}, {"units": 1}],
         "model.layers.0.pieces: must be >= 1, got 0"),
        ([{"units": 2}, {"type": "maxout", "units": 1}],
         "model.layers.1.type: the output layer is maxout; end with a dense layer"),
    ]:
        with pytest.raises(ConfigError, match=message):
            api.as_config({"data": "xor", "loss": "mse", "model": {"layers": layers}})


# --------------------------------------------------------------------------------------------
# bias: false
def test_dense_and_gated_without_bias_equal_pytorch_bias_free_layers(rng):
    x, dy = rng.normal(size=(6, 3)), rng.normal(size=(6, 4))
    W = rng.normal(size=(3, 4))
    dense = Dense(Parameter("W", W.copy()), None)
    y, dx = dense.forward(x), dense.backward(dy)
    lin = torch.nn.Linear(3, 4, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(W.T))
    xt = torch.tensor(x, requires_grad=True)
    lin(xt).backward(torch.tensor(dy))
    np.testing.assert_allclose(y, lin(xt).detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-14)
    np.testing.assert_allclose(dense.W.grad, lin.weight.grad.numpy().T, rtol=1e-14)
    # a gated layer without biases: (x W) ⊙ sigmoid(x W_gate), as PyTorch's composition
    Wg = rng.normal(size=(3, 4))
    gated = GatedDense(Parameter("W", W.copy()), None, Parameter("W_gate", Wg.copy()), None,
                       ACTIVATIONS.get("sigmoid")())
    assert [p.name for p in gated.parameters()] == ["W", "W_gate"]
    y, dx = gated.forward(x), gated.backward(dy)
    Wt, Wgt = (torch.tensor(a.T.copy(), requires_grad=True) for a in (W, Wg))
    xt = torch.tensor(x, requires_grad=True)
    yt = F.linear(xt, Wt) * torch.sigmoid(F.linear(xt, Wgt))
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(gated.W_gate.grad, Wgt.grad.numpy().T, rtol=1e-13)
    with pytest.raises(ValueError, match="both biases"):
        GatedDense(Parameter("W", W), Parameter("b", np.zeros(4)), Parameter("W_gate", Wg), None,
                   ACTIVATIONS.get("sigmoid")())


@pytest.mark.parametrize("spec", [{"channels": 3, "kernel": 3, "padding": 1},
                                  {"channels": 2, "kernel": [2, 3], "stride": 2, "dilation": [1, 2]}])
def test_conv2d_without_bias_equals_pytorch_conv2d_with_bias_none(spec, rng):
    spec = {"type": "conv2d", **spec, "bias": False}
    conv = LAYERS.get("conv2d").build(spec, (2, 7, 8), "0.", np.dtype(np.float64), rng, rng)[0]
    assert conv.b is None and [p.name for p in conv.parameters()] == ["0.W"]
    x = rng.normal(size=(4, 2, 7, 8))
    y = conv.forward(x)
    dy = rng.normal(size=y.shape)
    dx = conv.backward(dy)
    Wt = torch.tensor(conv.W.value.copy(), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yt = F.conv2d(xt, Wt, None, stride=spec.get("stride", 1), padding=spec.get("padding", 0),
                  dilation=spec.get("dilation", 1))
    yt.backward(torch.tensor(dy))
    assert y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(conv.W.grad, Wt.grad.numpy(), rtol=1e-12, atol=1e-13)
    # and exactly the outputs of the same layer with a bias of zeros
    biased = LAYERS.get("conv2d").build({**spec, "bias": True}, (2, 7, 8), "0.", np.dtype(np.float64),
                                        rng, rng)[0]
    biased.W.value[...] = conv.W.value
    np.testing.assert_array_equal(biased.forward(x), y)


BIAS_FREE = {"data": "xor", "loss": "bce", "seed": 0, "dtype": "float64",
             "model": {"layers": [{"units": 4, "activation": "tanh", "bias": False},
                                  {"type": "gated", "units": 3, "activation": "tanh", "bias": False},
                                  {"units": 1, "activation": "sigmoid"}]},
             "optimizer": {"name": "adam", "lr": 0.05}, "training": {"epochs": 50, "batch_size": "full"}}


def test_bias_false_has_no_b_parameter_anywhere(tmp_path):
    """State dict, checkpoint, init_from, gradcheck, explain and the parameter count all do
    without 0.b, 1.b and 1.b_gate; a checkpoint with biases is refused naming them."""
    r = api.train(BIAS_FREE, runs_dir=tmp_path / "runs")
    names = ["0.W", "1.W", "1.W_gate", "2.W", "2.b"]
    assert list(r.weights) == names
    assert r.summary["parameters"] == 2 * 4 + 2 * 4 * 3 + 3 + 1
    last = r.run_dir / "checkpoints" / "last.npz"
    assert sorted(checkpoint.load_weights(last)) == sorted(names)
    again = api.setup(BIAS_FREE, [f"model.init_from={last}"])
    for k, v in again.network.state_dict().items():
        np.testing.assert_array_equal(v, r.weights[k])
    report = api.gradcheck(BIAS_FREE)
    assert report.passed and [c.parameter for c in report.checks] == names + ["input"]
    from backprop_cli.explain.network import explain_config
    t = explain_config(BIAS_FREE, run_dir=r.run_dir)
    first = t.layers[0]
    assert [s.name for s in first.forward[:3]] == ["x", "W", "net"] and "no bias" in first.forward[2].formula
    assert "dE/db" not in [s.name for s in first.backward]
    assert set(t.gradients) == set(names)
    biased = api.train({**BIAS_FREE, "model": {"layers": [
        {"units": 4, "activation": "tanh"}, {"type": "gated", "units": 3, "activation": "tanh"},
        {"units": 1, "activation": "sigmoid"}]}}, runs_dir=tmp_path / "biased")
    with pytest.raises(CheckpointError, match="unexpected 0.b, 1.b, 1.b_gate"):
        api.setup(BIAS_FREE, [f"model.init_from={biased.run_dir / 'checkpoints' / 'last.npz'}"])


def test_bias_false_from_the_sklearn_estimator_leaves_the_layer_out_of_intercepts():
    pytest.importorskip("sklearn")
    from backprop_cli.sklearn import BackpropClassifier
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # five epochs do not converge, and need not
        clf = BackpropClassifier(layers=[{"units": 5, "activation": "relu", "bias": False}],
                                 epochs=5).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(3, 5), (5, 1)]
    assert [b.shape for b in clf.intercepts_] == [(1,)]   # the bias-free layer has none
    assert clf.predict(X).shape == (40,)


def test_bias_false_perceptron_has_no_w0():
    """Without w0, OR (whose 00 row is class 0) is still separable through the origin; AND is
    not: (0,1) and (1,0) need w1, w2 <= 0, and then (1,1) cannot fire."""
    for source, separable in (("or", True), ("and", False)):
        r = api.train(CONFIGS / "and-perceptron.yaml", [f"data={source}", "model.layers.0.bias=false"],
                      save=False)
        assert list(r.weights) == ["0.W"]
        assert r.summary["stop_reason"].startswith("converged" if separable else "not linearly separable")


# --------------------------------------------------------------------------------------------
# MC dropout
def regression_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=n)


def curved_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, np.sin(2 * X[:, 0]) + X[:, 1] ** 2


def trained(tmp_path, layers, loss="mse", data=None, name="run", epochs=30):
    X, y = data or regression_data()
    return api.train({"loss": loss, "dtype": "float64", "seed": 3, "model": {"layers": layers},
                      "optimizer": {"name": "adam", "lr": 0.01}, "training": {"epochs": epochs}},
                     data=(X, y), runs_dir=tmp_path, name=name)


LINEAR = [{"units": 16, "activation": "identity", "dropout": 0.5}, {"units": 1, "activation": "identity"}]
NONLINEAR = [{"units": 16, "activation": "tanh", "dropout": 0.5},
             {"units": 16, "activation": "relu", "dropout": 0.3}, {"units": 1, "activation": "identity"}]


def test_mc_dropout_on_a_linear_network_approaches_the_dropout_off_prediction(tmp_path):
    """E over masks of a linear network's output is the scaled network's output (inverted
    dropout keeps E[y] = x), so the MC average converges to the deterministic prediction at
    the rate of its standard error σ/√N, σ the spread of single passes."""
    r = trained(tmp_path, LINEAR)
    X = regression_data(50, seed=9)[0]
    det = backprop_cli.predict(r.run_dir, X).values[:, 0]
    from backprop_cli.scoring import load_member
    m = load_member(r.run_dir)
    rng = np.random.default_rng(0)
    sigma = np.std([m.network.predict_dropout(X, rng)[:, 0] for _ in range(300)], axis=0)
    errors = {}
    for n in (10, 4000):
        avg = backprop_cli.predict(r.run_dir, X, mc_dropout=n).values[:, 0]
        errors[n] = np.abs(avg - det)
        assert np.all(errors[n] <= 5 * sigma / np.sqrt(n)), n
    assert errors[4000].max() < errors[10].max() / 5 and sigma.min() > 0


def test_mc_dropout_on_a_nonlinear_network_differs_from_the_deterministic_pass_and_is_reproducible(tmp_path):
    """Through tanh and relu the average over masks is not the scaled network's output: with
    N passes the MC estimate sits many standard errors σ/√N away from the deterministic
    prediction, while two seeds' estimates agree within their own standard errors."""
    r = trained(tmp_path, NONLINEAR, data=curved_data(), epochs=60)
    X = regression_data(50, seed=9)[0]
    det = backprop_cli.predict(r.run_dir, X).values[:, 0]
    from backprop_cli.scoring import load_member
    m = load_member(r.run_dir)
    rng = np.random.default_rng(0)
    sigma = np.std([m.network.predict_dropout(X, rng)[:, 0] for _ in range(300)], axis=0)
    n = 2000
    mc = backprop_cli.predict(r.run_dir, X, mc_dropout=n).values[:, 0]
    se = sigma / np.sqrt(n)
    assert np.max(np.abs(mc - det) / se) > 10
    # reproducible: the run's seed by default, the same numbers again; another seed others,
    # as close to these as sampling allows
    np.testing.assert_array_equal(mc, backprop_cli.predict(r.run_dir, X, mc_dropout=n).values[:, 0])
    np.testing.assert_array_equal(mc, backprop_cli.predict(r.run_dir, X, mc_dropout=n, seed=3).values[:, 0])
    other = backprop_cli.predict(r.run_dir, X, mc_dropout=n, seed=4).values[:, 0]
    assert not np.array_equal(mc, other) and np.all(np.abs(mc - other) <= 6 * np.sqrt(2) * se)


def test_mc_dropout_evaluate_reports_the_loss_of_the_averaged_outputs(tmp_path):
    X, y = regression_data(60, seed=5)
    r = trained(tmp_path, NONLINEAR)
    rep = backprop_cli.evaluate(r.run_dir, data=(X, y), mc_dropout=50, seed=11)["runs"][0]
    assert rep["mc_dropout"] == {"passes": 50, "seed": 11}
    avg = backprop_cli.predict(r.run_dir, X, mc_dropout=50, seed=11).values
    assert rep["loss"] == pytest.approx(float(np.mean((avg[:, 0] - y) ** 2)), rel=1e-12)
    assert rep["mse"] == pytest.approx(rep["loss"], rel=1e-12)
    plain = backprop_cli.evaluate(r.run_dir, data=(X, y))["runs"][0]
    assert "mc_dropout" not in plain and plain["loss"] != rep["loss"]


def test_mc_dropout_classification_averages_probabilities(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    r = trained(tmp_path, [{"units": 12, "activation": "tanh", "dropout": 0.4},
                           {"units": 1, "activation": "sigmoid"}], loss="bce", data=(X, y))
    p = backprop_cli.predict(r.run_dir, X, mc_dropout=30)
    assert p.header == ["class", "p_0", "p_1"]
    np.testing.assert_allclose(p.values.sum(axis=1), 1.0, rtol=1e-12)
    assert p.classes == ["1" if v > 0.5 else "0" for v in p.values[:, 1]]
    rep = backprop_cli.evaluate(r.run_dir, data=(X, y), mc_dropout=30)["runs"][0]
    probs = np.clip(p.values[:, 1], 1e-300, 1 - 1e-16)
    bce = -np.mean(y * np.log(probs) + (1 - y) * np.log1p(-probs))
    assert rep["loss"] == pytest.approx(bce, rel=1e-9)


def test_mc_dropout_is_refused_without_dropout_and_checked(tmp_path):
    r = trained(tmp_path, [{"units": 4, "activation": "tanh"}, {"units": 1}])
    X = regression_data(10)[0]
    with pytest.raises(UsageError, match="the network has no dropout layer, so every pass would give "
                                         "the same outputs"):
        backprop_cli.predict(r.run_dir, X, mc_dropout=5)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(UsageError, match="mc_dropout: expected a number of passes, an integer >= 1"):
            backprop_cli.evaluate(r.run_dir, mc_dropout=bad)
    with pytest.raises(UsageError, match="seed 4: it seeds the masks of mc_dropout"):
        backprop_cli.predict(r.run_dir, X, seed=4)


def test_mc_dropout_on_the_command_line(tmp_path):
    X, y = regression_data(30, seed=4)
    def csv(path, X, y):
        rows = (",".join(repr(float(v)) for v in [*row, t]) for row, t in zip(X, y))
        path.write_text("a,b,c,y\n" + "\n".join(rows) + "\n")
        return path

    data = csv(tmp_path / "new.csv", X, y)
    path = csv(tmp_path / "train.csv", *regression_data())
    cfg = write(tmp_path / "mc.yaml", json.dumps({
        "data": {"source": "csv", "path": str(path), "target": "y"}, "loss": "mse", "dtype": "float64",
        "model": {"layers": NONLINEAR}, "optimizer": {"name": "adam", "lr": 0.01},
        "training": {"epochs": 20}}))
    run = api.train(cfg, runs_dir=tmp_path / "runs").run_dir
    cli = CliRunner()
    out = cli.invoke(main, ["eval", str(run), "--data", str(data), "--mc-dropout", "40", "--seed", "2",
                            "--json"])
    assert out.exit_code == 0, out.output
    rep = json.loads(out.stdout)["runs"][0]
    assert rep["mc_dropout"] == {"passes": 40, "seed": 2}
    assert rep["loss"] == backprop_cli.evaluate(run, data=data, mc_dropout=40, seed=2)["runs"][0]["loss"]
    a = cli.invoke(main, ["predict", str(run), "--data", str(data), "--mc-dropout", "40"])
    b = cli.invoke(main, ["predict", str(run), "--data", str(data)])
    assert a.exit_code == b.exit_code == 0 and a.stdout != b.stdout
    assert a.stdout.splitlines()[0] == "y" and len(a.stdout.splitlines()) == 31
    for args, message in [(["--mc-dropout", "0"], "Invalid value for '--mc-dropout'"),
                          (["--seed", "3"], "seed 3: it seeds the masks of mc_dropout")]:
        bad = cli.invoke(main, ["predict", str(run), "--data", str(data), *args])
        assert bad.exit_code == 2 and message in bad.output
    plain = api.train(cfg, ["model.layers.0.dropout=0", "model.layers.1.dropout=0"],
                      runs_dir=tmp_path / "plain").run_dir
    bad = cli.invoke(main, ["eval", str(plain), "--mc-dropout", "5"])
    assert bad.exit_code == 2 and "Error:" in bad.output and "has no dropout layer" in bad.output


# --------------------------------------------------------------------------------------------
# bce on probabilities at the boundary
BOUNDARY = [(o, y) for o in (0.0, 1.0) for y in (0.0, 1.0)] + [
    (0.0, 0.3), (1.0, 0.7), (1e-7, 0.0), (1 - 1e-7, 1.0), (0.3, 1.0), (0.5, 0.25), (1e-300, 1.0)]


def torch_bce(o, y):
    ot = torch.tensor(o, requires_grad=True)
    loss = F.binary_cross_entropy(ot, torch.tensor(y))
    loss.backward()
    return loss.item(), ot.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("o,y", BOUNDARY)
def test_bce_loss_and_gradient_are_pytorchs_bit_for_bit(o, y, dtype):
    """At o = y ∈ {0, 1}, at o = 0 with y = 1 and the other way round, at soft targets on the
    boundary and just inside it: no NaN, no warning, and PyTorch's numbers exactly."""
    if dtype == np.float32 and o == 1e-300:
        o = 1e-40   # a float32 subnormal
    oa, ya = np.array([[o]], dtype=dtype), np.array([[y]], dtype=dtype)
    with np.errstate(all="raise"):
        bce = BCE()
        value = bce.forward(oa, ya)
        grad = bce.backward()
    theirs, their_grad = torch_bce(oa, ya)
    assert grad.dtype == dtype and np.isfinite(value) and np.isfinite(grad).all()
    if dtype == np.float32 and o not in (0.0, 1.0):
        # float32 logs of NumPy and PyTorch may differ by an ulp (here NumPy's log(1 - 2^-23)
        # is the correctly rounded one); on the boundary there is no log to round
        assert value == pytest.approx(theirs, rel=2.0 ** -22)
    else:
        assert value == theirs
    np.testing.assert_array_equal(grad, their_grad)


def test_bce_boundary_values_as_documented():
    """A sure right answer costs 0 with gradient 0; a sure wrong one costs 100 (log clamped at
    -100) with gradient ∓1/ε, ε = 1e-12 as a float32 (PyTorch's EPSILON)."""
    eps = float(np.float32(1e-12))
    o, y = np.array([[0.0, 1.0, 0.0, 1.0]]), np.array([[0.0, 1.0, 1.0, 0.0]])
    bce = BCE()
    assert bce.forward(o, y) == (0 + 0 + 100 + 100) / 4
    np.testing.assert_array_equal(bce.backward(), [[0.0, 0.0, -1 / eps / 4, 1 / eps / 4]])
    # a hair inside the interval the gradient is the one-sided derivative, -1/o or 1/(1-o)
    bce.forward(np.array([[1 - 1e-9, 1e-9]]), np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(bce.backward(), [[-0.5, 0.5]], rtol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_over_a_batch_matches_pytorch(dtype, rng):
    o = rng.uniform(size=(8, 3))
    o[rng.random(o.shape) < 0.3] = 0.0
    o[rng.random(o.shape) < 0.3] = 1.0
    y = (rng.random(o.shape) < 0.5).astype(float)
    o, y = o.astype(dtype), y.astype(dtype)
    bce = BCE()
    value, grad = bce.forward(o, y), bce.backward()
    theirs, their_grad = torch_bce(o, y)
    # the mean's summation order may differ (and float32 logs by an ulp); the gradient not at all
    assert value == pytest.approx(theirs, rel=1e-14 if dtype == np.float64 else 1e-6)
    np.testing.assert_array_equal(grad, their_grad)


def test_unfused_bce_in_a_network_whose_outputs_reach_0_and_1_is_finite():
    """bce after an identity output (not fused: no sigmoid) whose outputs are exactly 1 and 0:
    loss and every gradient finite, and the same as PyTorch's for that network."""
    net = build_network([{"units": 1, "activation": "identity"}], 2, "bce", np.float64,
                        np.random.default_rng(0), np.random.default_rng(0))
    assert type(net.loss) is LOSSES.get("bce") and net.head is None
    W, b = net.parameters()
    W.value[...] = [[1.0], [-1.0]]
    b.value[...] = 0.0
    x = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.5, 0.0]])  # outputs 1, 0, 1, 0.5
    y = np.array([[1.0], [0.0], [0.0], [1.0]])
    with np.errstate(all="raise"):
        loss, _ = net.train_step_gradients(x, y)
    Wt = torch.tensor(W.value.copy(), requires_grad=True)
    bt = torch.tensor(b.value.copy(), requires_grad=True)
    lt = F.binary_cross_entropy(torch.tensor(x) @ Wt + bt, torch.tensor(y))
    lt.backward()
    assert loss == pytest.approx(lt.item(), rel=1e-15) and np.isfinite(W.grad).all()
    np.testing.assert_allclose(W.grad, Wt.grad.numpy(), rtol=1e-15)
    np.testing.assert_allclose(b.grad, bt.grad.numpy(), rtol=1e-15)


# --------------------------------------------------------------------------------------------
# the threshold at z = 0
@pytest.mark.parametrize("at_zero", [0, 1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_threshold_at_zero_is_torch_heaviside(at_zero, dtype):
    z = np.array([[-np.inf, -1.0, -1e-300, -0.0, 0.0, 1e-300, 2.0, np.inf]], dtype=dtype)
    unit = Threshold(at_zero) if at_zero else Threshold()
    y = unit.forward(z)
    theirs = torch.heaviside(torch.tensor(z), torch.tensor(float(at_zero), dtype=torch.tensor(z).dtype))
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, theirs.numpy())
    zero = y[0, 3:5] if dtype == np.float64 else y[0, 2:6]   # ±1e-300 is ±0 in float32
    np.testing.assert_array_equal(zero, at_zero)


def test_threshold_default_is_the_perceptron_rules_and_the_option_is_validated():
    """Note 001's perceptron rule (o = 1 if net > 0 else 0) is the default; its threshold
    function t(z) = 1[z ≥ 0] is at_zero: 1; nothing else is accepted."""
    assert Threshold().forward(np.zeros((1, 1)))[0, 0] == 0.0
    assert ACTIVATIONS.get("step")(at_zero=1).forward(np.zeros((1, 1)))[0, 0] == 1.0
    with pytest.raises(ConfigError, match=r"model.layers.0.activation.at_zero: must be one of 0, 1, got 2"):
        api.as_config(CONFIGS / "and-perceptron.yaml",
                      ["model.layers.0.activation={name: threshold, at_zero: 2}"])
    with pytest.raises(ValueError, match="threshold at_zero must be 0 or 1"):
        Threshold(0.5)


def reference_perceptron(X, y, at_zero, epochs=100):
    """The notes' rule, from zero weights, with o = [w0 + w·x > 0] or [... >= 0]."""
    w = [0.0] * (X.shape[1] + 1)
    for epoch in range(1, epochs + 1):
        mistakes = 0
        for x, t in zip(X.tolist(), y.tolist()):
            net = w[0] + sum(wi * xi for wi, xi in zip(w[1:], x))
            o = 1 if (net >= 0 if at_zero else net > 0) else 0
            if o != t:
                mistakes += 1
                w = [w[0] + (t - o)] + [wi + (t - o) * xi for wi, xi in zip(w[1:], x)]
        if mistakes == 0:
            return w, epoch
    return w, None


@pytest.mark.parametrize("source", ["and", "or"])
def test_perceptron_rule_uses_the_units_convention_at_zero(source, tmp_path):
    """From zero weights the first example has net = 0: at_zero 0 says class 0, at_zero 1 class
    1, so the two conventions take different paths; each is the notes' rule with its own
    convention, weight for weight."""
    results = {}
    for at_zero in (0, 1):
        r = api.train(CONFIGS / "and-perceptron.yaml", [
            f"data={source}", f"model.layers.0.activation={{name: threshold, at_zero: {at_zero}}}"],
            runs_dir=tmp_path)
        s = api.setup(CONFIGS / "and-perceptron.yaml", [f"data={source}"])
        w, epoch = reference_perceptron(s.splits.train.X, s.splits.train.labels, at_zero)
        assert r.weights["0.b"].tolist() == [w[0]] and r.weights["0.W"][:, 0].tolist() == w[1:]
        assert r.summary["epochs"] == epoch and r.summary["final"]["train_accuracy"] == 1.0
        results[at_zero] = w
    assert results[0] != results[1]


def test_perceptron_trainer_takes_the_convention_of_its_unit():
    net = build_network([{"units": 1, "activation": {"name": "threshold", "at_zero": 1}, "init": "zeros"}],
                        2, "quadratic", np.float64, np.random.default_rng(0), np.random.default_rng(0))
    from backprop_cli.training.optimizers import OPTIMIZERS
    trainer = PerceptronTrainer(net, OPTIMIZERS.get("sgd")(net.parameters(), lr=1.0), epochs=1)
    X, Y = np.array([[0.0, 0.0]]), np.array([[1.0]])
    assert trainer.epoch(X, Y, [0]) == 0        # net = 0 fires: no mistake on class 1
    assert trainer.epoch(X, 1 - Y, [0]) == 1    # ... and one on class 0
    assert net.predict(X)[0, 0] == 0.0          # w0 went to -1


# --------------------------------------------------------------------------------------------
# backprop gradcheck's built-in checks
def test_builtin_checks_cover_the_new_units_and_options():
    from backprop_cli.engine.gradcheck import builtin_checks
    report = builtin_checks()
    assert report.passed
    checked = {c.check for c in report.checks if c.status == "passed"}
    assert {"activation rrelu", "activation rrelu (lower=0.3)", "activation rrelu (upper=0.7)",
            "layer gated (rrelu gate)", "layer dense (bias=false)", "layer gated (sigmoid gate, bias=false)",
            "layer maxout 4 pieces 1", "layer maxout 4 pieces 2", "layer maxout 4 pieces 3",
            "layer maxout 4 pieces 3 no bias", "layer conv2d 2@3x3 no bias",
            "network maxout (dropout)→rrelu (no bias)→softmax+cross_entropy",
            "network gated (rrelu gate, no bias)→maxout (no bias)→sigmoid+bce",
            "network conv2d rrelu (no bias)→flatten→maxout→identity+mse"} <= checked
    at_zero = [c for c in report.checks if c.check == "activation threshold (at_zero=1)"]
    assert [c.status for c in at_zero] == ["not differentiable"]


def test_builtin_checks_catch_planted_bugs_in_the_new_units(monkeypatch):
    from backprop_cli.engine import activations, layers
    from backprop_cli.engine.gradcheck import builtin_checks
    # rrelu's backward with the mean slope instead of the drawn ones (right only at evaluation)
    monkeypatch.setattr(activations.RReLU, "backward", lambda self, dy: np.where(
        self._mask, dy, (self.lower + self.upper) / 2 * dy))
    failed = {c.check for c in builtin_checks().checks if not c.passed}
    assert {"activation rrelu", "layer gated (rrelu gate)"} <= failed
    monkeypatch.undo()

    # maxout sending the gradient to every piece instead of the arg-max one
    def every_piece(self, dy):
        dz = np.repeat(dy, self.pieces, axis=1)
        np.matmul(self._x.T, dz, out=self.W.grad)
        if self.b is not None:
            np.add.reduce(dz, axis=0, out=self.b.grad)
        return dz @ self.W.value.T
    monkeypatch.setattr(layers.Maxout, "backward", every_piece)
    failed = {c.check for c in builtin_checks().checks if not c.passed}
    assert {"layer maxout 4 pieces 2", "layer maxout 4 pieces 3"} <= failed
    assert "layer maxout 4 pieces 1" not in failed   # one piece: every piece is the arg-max
