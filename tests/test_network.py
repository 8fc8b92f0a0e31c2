"""Layers, initializers and networks: worked examples, names, gradients, dtypes."""
import numpy as np
import pytest

from backprop_cli.engine.gradcheck import check_network
from backprop_cli.engine.initializers import INITIALIZERS
from backprop_cli.engine.layers import Dense, Dropout, GatedDense
from backprop_cli.engine.activations import Sigmoid, Softmax
from backprop_cli.engine.losses import BCEWithLogits, Quadratic, SoftmaxCrossEntropy
from backprop_cli.engine.network import build_network
from backprop_cli.engine.parameter import Parameter
from backprop_cli.training.optimizers import SGD


def test_worked_example_two_layer_sigmoid_network():
    """Mazur's "step by step backpropagation example": 2-2-2 sigmoid network, quadratic loss.

    Inputs 0.05, 0.10; targets 0.01, 0.99; W1 = [[.15, .25], [.20, .30]] (rows: inputs),
    b1 = .35; W2 = [[.40, .50], [.45, .55]], b2 = .60. Worked by hand there:
    out_h1 = 0.593269992, out_o1 = 0.75136507, out_o2 = 0.772928465, E = 0.298371109,
    and after one step with lr 0.5: w5 = 0.35891648, w6 = 0.408666186, w7 = 0.511301270,
    w8 = 0.561370121, w1 = 0.149780716, w2 = 0.19956143, w3 = 0.24975114, w4 = 0.29950229.
    """
    net = build_network([{"units": 2, "activation": "sigmoid"}, {"units": 2, "activation": "sigmoid"}],
                        2, "quadratic", np.float64, np.random.default_rng(0), np.random.default_rng(0))
    net.load_state_dict({"0.W": np.array([[0.15, 0.25], [0.20, 0.30]]), "0.b": np.array([0.35, 0.35]),
                         "1.W": np.array([[0.40, 0.50], [0.45, 0.55]]), "1.b": np.array([0.60, 0.60])})
    x, y = np.array([[0.05, 0.10]]), np.array([[0.01, 0.99]])
    np.testing.assert_allclose(net.predict(x), [[0.75136507, 0.772928465]], atol=1e-8)
    loss, _ = net.train_step_gradients(x, y)
    assert loss == pytest.approx(0.298371109, abs=1e-9)
    SGD(net.parameters(), lr=0.5).step()
    W1, W2 = net.state_dict()["0.W"], net.state_dict()["1.W"]
    np.testing.assert_allclose(W2, [[0.35891648, 0.511301270], [0.408666186, 0.561370121]], atol=1e-8)
    np.testing.assert_allclose(W1, [[0.149780716, 0.24975114], [0.19956143, 0.29950229]], atol=1e-8)


def test_parameter_names_follow_config_positions():
    specs = [{"units": 3, "activation": "prelu"},
             {"units": 3, "type": "gated", "gate": "sigmoid", "activation": "tanh", "dropout": 0.5},
             {"units": 2, "activation": "softmax"}]
    net = build_network(specs, 4, "cross_entropy", np.float64, np.random.default_rng(0),
                        np.random.default_rng(0))
    assert [p.name for p in net.parameters()] == [
        "0.W", "0.b", "0.alpha", "1.W", "1.b", "1.W_gate", "1.b_gate", "2.W", "2.b"]
    assert [p.decay for p in net.parameters()] == [True, False, False, True, False, True, False, True, False]
    assert net.parameters()[0].value.shape == (4, 3)      # W is (fan_in, fan_out)
    assert isinstance(net.loss, SoftmaxCrossEntropy) and net.head is not None  # fused
    probs = net.predict(np.ones((5, 4)))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_fusion_only_for_matching_pairs():
    rng = np.random.default_rng(0)
    sig_bce = build_network([{"units": 1, "activation": "sigmoid"}], 2, "bce", np.float64, rng, rng)
    assert isinstance(sig_bce.loss, BCEWithLogits) and isinstance(sig_bce.head, Sigmoid)
    sig_quad = build_network([{"units": 1, "activation": "sigmoid"}], 2, "quadratic", np.float64, rng, rng)
    assert isinstance(sig_quad.loss, Quadratic) and sig_quad.head is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_end_to_end(dtype):
    rng = np.random.default_rng(0)
    net = build_network([{"units": 8, "activation": "relu", "dropout": 0.2},
                         {"units": 3, "type": "gated", "activation": "tanh"},
                         {"units": 3, "activation": "softmax"}], 5, "cross_entropy", dtype, rng, rng)
    x = rng.normal(size=(16, 5)).astype(dtype)
    y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 16)]
    _, z = net.train_step_gradients(x, y)
    assert z.dtype == dtype
    for p in net.parameters():
        assert p.value.dtype == dtype and p.grad.dtype == dtype, p.name
    SGD(net.parameters(), lr=0.1).step()
    assert all(p.value.dtype == dtype for p in net.parameters())


def test_network_gradients_match_central_differences(rng):
    net = build_network([{"units": 5, "activation": "tanh"}, {"units": 4, "type": "gated", "activation": "softplus"},
                         {"units": 3, "activation": "softmax"}], 3, "cross_entropy", np.float64, rng, rng)
    x, y = rng.normal(size=(6, 3)), np.eye(3)[rng.integers(0, 3, 6)]
    checks = check_network(net, x, y, eps=1e-5, tol=1e-7, floor=1e-4)
    assert [c.parameter for c in checks] == ["0.W", "0.b", "1.W", "1.b", "1.W_gate", "1.b_gate",
                                             "2.W", "2.b", "input"]
    assert all(c.passed and c.checked > 0 for c in checks), [(c.name, c.max_rel_error) for c in checks]


def test_dense_backward_formulas(rng):
    W, b = Parameter("W", rng.normal(size=(3, 2))), Parameter("b", rng.normal(size=2))
    layer = Dense(W, b)
    x, delta = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    np.testing.assert_allclose(layer.forward(x), x @ W.value + b.value)
    dx = layer.backward(delta)
    np.testing.assert_allclose(W.grad, x.T @ delta)
    np.testing.assert_allclose(b.grad, delta.sum(axis=0))
    np.testing.assert_allclose(dx, delta @ W.value.T)


def test_gated_layer_is_a_glu(rng):
    p = {n: Parameter(n, rng.normal(size=s)) for n, s in
         (("W", (3, 2)), ("b", (2,)), ("W_gate", (3, 2)), ("b_gate", (2,)))}
    layer = GatedDense(p["W"], p["b"], p["W_gate"], p["b_gate"], Sigmoid())
    x = rng.normal(size=(4, 3))
    u = x @ p["W"].value + p["b"].value
    g = 1 / (1 + np.exp(-(x @ p["W_gate"].value + p["b_gate"].value)))
    np.testing.assert_allclose(layer.forward(x), u * g)


def test_dropout_is_inverted_and_off_at_evaluation():
    d = Dropout(0.25, np.random.default_rng(0))
    x = np.ones((2000, 50))
    y = d.forward(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.75)                 # scaled by 1/(1-p)
    assert abs(kept.mean() - 0.75) < 0.01                          # about 1-p kept
    np.testing.assert_array_equal(d.backward(np.ones_like(x)) != 0, kept)  # same mask backward
    assert d.forward(x, training=False) is x                       # identity at evaluation
    assert d.forward(x) is x                                       # evaluation is the default
    for rate in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match=rf"^dropout rate must be in \[0, 1\), got {rate}$"):
            Dropout(rate, np.random.default_rng(0))
    assert Dropout(0.0, np.random.default_rng(0)).forward(x, training=True) is x  # rate 0 is allowed


def test_dropout_frozen_mask_is_reused():
    d = Dropout(0.5, np.random.default_rng(0))
    x = np.ones((3, 8))
    d.freeze()
    a = d.forward(x, training=True)
    b = d.forward(x, training=True)
    np.testing.assert_array_equal(a, b)
    d.freeze(False)
    assert any(not np.array_equal(a, d.forward(x, training=True)) for _ in range(5))


@pytest.mark.parametrize("name,var", [
    ("xavier_uniform", 2 / (200 + 100)), ("xavier_normal", 2 / (200 + 100)),
    ("he_uniform", 2 / 200), ("he_normal", 2 / 200)])
def test_initializer_variances(name, var):
    W = INITIALIZERS.get(name)()((200, 100), np.random.default_rng(0), np.float64)
    assert W.shape == (200, 100)
    assert W.var() == pytest.approx(var, rel=0.03)
    assert abs(W.mean()) < 0.01


def test_small_random_and_zero_initializers():
    rng = np.random.default_rng(0)
    assert not INITIALIZERS.get("zeros")()((3, 4), rng, np.float64).any()
    U = INITIALIZERS.get("uniform")(scale=0.05)((100, 100), rng, np.float32)
    assert U.dtype == np.float32 and np.abs(U).max() <= 0.05 and np.abs(U).max() > 0.045
    assert U.min() < -0.045 and abs(U.mean()) < 0.002        # U(-scale, scale), centred
    N = INITIALIZERS.get("normal")(scale=0.01)((100, 100), rng, np.float64)
    assert N.std() == pytest.approx(0.01, rel=0.05) and abs(N.mean()) < 0.001
    # the defaults: scale 0.1
    U = INITIALIZERS.get("uniform")()((100, 100), rng, np.float64)
    assert 0.095 < np.abs(U).max() <= 0.1
    assert INITIALIZERS.get("normal")()((100, 100), rng, np.float64).std() == pytest.approx(0.1, rel=0.05)


def test_biases_start_at_zero_and_init_auto():
    rng = np.random.default_rng(0)
    net = build_network([{"units": 50, "activation": "relu"}, {"units": 50, "activation": "tanh"}],
                        1000, "mse", np.float64, rng, rng)
    W0, b0, W1, b1 = (p.value for p in net.parameters())
    assert not b0.any() and not b1.any()
    assert W0.var() == pytest.approx(2 / 1000, rel=0.05)          # he_uniform before relu
    assert W1.var() == pytest.approx(2 / 100, rel=0.1)            # xavier_uniform before tanh
    for act in ("relu", "leaky_relu", "grelu", "prelu"):          # fan_out ≫ fan_in: he ≠ xavier
        net = build_network([{"units": 400, "activation": act}], 100, "mse", np.float64, rng, rng)
        assert net.parameters()[0].value.var() == pytest.approx(2 / 100, rel=0.05), act


def test_summary_and_reprs_name_each_layer_with_its_shape():
    rng = np.random.default_rng(0)
    net = build_network([{"units": 4, "activation": "tanh", "dropout": 0.5},
                         {"units": 3, "type": "gated", "gate": "tanh", "activation": "relu"},
                         {"units": 1, "activation": "sigmoid"}], 2, "bce", np.float64, rng, rng)
    assert net.summary() == ["Dense(2→4) → Tanh → Dropout(0.5)",
                             "GatedDense(4→3, gate=Tanh) → ReLU", "Dense(3→1) → Sigmoid"]
    assert repr(net.loss) == "BCEWithLogits"


def test_predict_applies_the_head_and_never_drops_out():
    rng = np.random.default_rng(0)
    net = build_network([{"units": 8, "activation": "tanh", "dropout": 0.5},
                         {"units": 3, "activation": "softmax"}], 2, "cross_entropy", np.float64, rng, rng)
    x = rng.normal(size=(5, 2))
    z = net.forward(x)                                   # logits: the softmax is the head
    p = net.predict(x)
    np.testing.assert_allclose(p, Softmax().forward(z))
    np.testing.assert_array_equal(net.output_of(z), p)
    np.testing.assert_array_equal(net.predict(x), p)     # evaluation: no dropout mask
    plain = build_network([{"units": 2, "activation": "identity"}], 2, "mse", np.float64, rng, rng)
    z = plain.forward(x)
    assert plain.head is None and plain.output_of(z) is z


def test_training_passes_drop_out_and_evaluation_passes_do_not():
    rng = np.random.default_rng(0)
    net = build_network([{"units": 16, "activation": "tanh", "dropout": 0.5},
                         {"units": 1, "activation": "identity"}], 2, "mse", np.float64, rng, rng)
    x, y = rng.normal(size=(8, 2)), rng.normal(size=(8, 1))
    a, b = net.train_step_gradients(x, y)[0], net.train_step_gradients(x, y)[0]
    assert a != b                                      # a new mask each training pass
    e = net.evaluate_loss(x, y)[0]
    assert e == net.evaluate_loss(x, y)[0] == net.loss.forward(net.forward(x, training=False), y)


def test_kink_states_include_the_loss():
    rng = np.random.default_rng(0)
    for layers, loss, n in (([{"units": 2, "activation": "identity"}], "mae", 1),
                            ([{"units": 3, "activation": "relu"}, {"units": 2}], "hinge", 2),
                            ([{"units": 2, "activation": "tanh"}], "mse", 0)):
        net = build_network(layers, 2, loss, np.float64, rng, rng)
        net.loss.forward(net.forward(rng.normal(size=(4, 2)), training=True), np.eye(2)[[0, 1, 1, 0]])
        states = net.kink_states()
        assert len(states) == n and all(s.dtype == bool for s in states)


def test_load_state_dict_names_what_does_not_match():
    from backprop_cli.errors import CheckpointError
    rng = np.random.default_rng(0)
    net = build_network([{"units": 4, "activation": "tanh"}, {"units": 1}], 2, "mse", np.float64, rng, rng)
    good = net.state_dict()
    expected = " (expected 0.W, 0.b, 1.W, 1.b)"
    cases = [({k: v for k, v in good.items() if k != "1.b"}, "missing 1.b" + expected),
             ({**good, "9.W": good["0.W"], "9.b": good["0.b"]}, "unexpected 9.W, 9.b" + expected),
             ({**{k: v for k, v in good.items() if k != "1.b"}, "9.W": good["0.W"]},
              "missing 1.b; unexpected 9.W" + expected)]
    for arrays, problem in cases:
        with pytest.raises(CheckpointError) as e:
            net.load_state_dict(arrays)
        assert str(e.value) == "weights: parameter names do not match the model: " + problem
    with pytest.raises(CheckpointError) as e:
        net.load_state_dict({**good, "0.b": np.zeros(3)}, source="w.npz")
    assert str(e.value) == "w.npz: 0.b: shape (3,) does not match the model's (4,)"


def test_parameters_are_views_of_one_array_and_the_first_layer_skips_dx():
    """A built network lays its parameters out in one flat array (what optimizers update in
    one call); training passes skip the first layer's dE/dx, a plain backward computes it."""
    from backprop_cli.engine.parameter import flat_view
    rng = np.random.default_rng(0)
    net = build_network([{"units": 4, "activation": "tanh"}, {"units": 2}], 3, "mse", np.float64, rng, rng)
    assert flat_view([p.value for p in net.parameters()]) is not None
    assert flat_view([p.grad for p in net.parameters()]) is not None
    seen, first = [], net.layers[0]
    backward = first.backward
    first.backward = lambda d: (seen.append(first.input_grad), backward(d))[1]
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    net.train_step_gradients(x, y)
    assert seen == [False] and first.input_grad is True          # the layer is left as found
    dx = net.backward(net.loss.backward())
    assert seen == [False, True] and dx.shape == x.shape
    assert net.backward(net.loss.backward(), input_grad=False) is None
    assert net.backward(net.loss.backward()).shape == x.shape       # reset after each call


def test_flat_view_accepts_only_consecutive_pieces_covering_one_1d_array():
    from backprop_cli.engine.parameter import flat_view
    base = np.arange(8.0)
    assert flat_view([base[0:3], base[3:8]]) is base
    assert flat_view([base[0:3].reshape(3, 1), base[3:8]]) is base   # any shape, same memory
    assert flat_view([base[0:3]]) is None                             # does not cover it all
    assert flat_view([base[3:8], base[0:3]]) is None                  # out of order
    assert flat_view([base[0:3], base[4:8]]) is None                  # a gap
    assert flat_view([base[0:8:2], base[1:8:2]]) is None              # not contiguous
    assert flat_view([base[0:3].copy(), base[3:8]]) is None           # another array
    square = np.zeros((2, 4))
    assert flat_view([square[0], square[1]]) is None                  # the base is not 1-D
    assert flat_view([]) is None


def test_flatten_one_dtype_only_and_a_single_parameter():
    from backprop_cli.engine.parameter import flatten
    one = [Parameter("0.W", np.ones((2, 2)))]
    value, grad = flatten(one)
    assert value.shape == (4,) and np.shares_memory(one[0].value, value)
    mixed = [Parameter("0.W", np.ones(2, np.float32)), Parameter("0.b", np.ones(2))]
    assert flatten(mixed) is None and mixed[0].value.dtype == np.float32
    assert flatten([]) is None


def test_a_gate_with_parameters_in_float32():
    rng = np.random.default_rng(0)
    net = build_network([{"units": 3, "type": "gated", "gate": {"name": "prelu", "init": 0.5}},
                         {"units": 1}], 2, "mse", np.float32, rng, rng)
    assert [p.name for p in net.parameters()] == ["0.W", "0.b", "0.W_gate", "0.b_gate", "0.gate_alpha",
                                                   "1.W", "1.b"]
    assert all(p.value.dtype == np.float32 for p in net.parameters())
    np.testing.assert_array_equal(net.parameters()[4].value, [0.5, 0.5, 0.5])
