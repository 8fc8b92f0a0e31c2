"""Regularization: the notes' L2/L1 penalties (values, exact gradient change, biases left
alone, central differences), max-norm, input noise, and their place in the trainer."""
import numpy as np
import pytest

from backprop_cli.data.dataset import Dataset
from backprop_cli.engine.network import build_network
from backprop_cli.engine.parameter import Parameter
from backprop_cli.training.optimizers import SGD
from backprop_cli.training.regularizers import L1, L2, InputNoise, MaxNorm, Regularizer
from backprop_cli.training.trainer import Trainer


def net(seed=0):
    """A small network whose biases are not 0 (as built), so a penalty wrongly applied to them
    changes the gradient."""
    rng = np.random.default_rng(seed)
    n = build_network([{"units": 4, "activation": "tanh"}, {"units": 1, "activation": "sigmoid"}],
                      3, "bce", np.float64, rng, rng)
    for p in n.parameters():
        if not p.decay:
            p.value[...] = rng.normal(size=p.value.shape)
    return n


def problem(n=10):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(n, 3))
    labels = (X[:, 0] > 0).astype(int)
    return Dataset(X, labels[:, None].astype(float), labels)


def test_values_by_hand():
    W = Parameter("0.W", np.array([[1.0, -2.0], [0.0, 3.0]]))
    b = Parameter("0.b", np.array([10.0, 10.0]), decay=False)
    # λ/(2m) Σw² = 0.5/(2·5)·14 = 0.7; λ/m Σ|w| = 0.5/5·6 = 0.6; the bias is not penalised
    assert L2(0.5, 5).value([W, b]) == pytest.approx(0.7)
    assert L1(0.5, 5).value([W, b]) == pytest.approx(0.6)
    assert Regularizer({"l2": 0.5, "l1": 0.5}, 5).value([W, b]) == pytest.approx(1.3)
    assert not Regularizer({"l2": 0.0, "l1": 0.0}, 5)


def test_l2_changes_the_gradient_by_exactly_lambda_over_m_times_w():
    data = problem()
    n = net()
    n.train_step_gradients(data.X, data.Y)
    plain = {p.name: p.grad.copy() for p in n.parameters()}
    Regularizer({"l2": 0.3}, m=len(data)).add_gradient(n.parameters())
    for p in n.parameters():
        expected = plain[p.name] + (0.3 / 10 * p.value if p.decay else 0.0)
        np.testing.assert_array_equal(p.grad, expected)
    assert [p.name for p in n.parameters() if not p.decay] == ["0.b", "1.b"]


def test_l1_adds_lambda_over_m_times_sign_with_zero_at_zero():
    W = Parameter("0.W", np.array([2.0, -3.0, 0.0]))
    W.grad[...] = [1.0, 1.0, 1.0]                     # added to the loss's gradient
    L1(0.5, 5).add_gradient([W])
    np.testing.assert_allclose(W.grad, [1.1, 0.9, 1.0], rtol=1e-15)


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_penalty_gradient_matches_central_differences(kind, rng):
    params = [Parameter("0.W", rng.normal(size=(3, 2))), Parameter("0.b", rng.normal(size=2), decay=False)]
    reg = Regularizer({kind: 0.7}, m=4)
    reg.add_gradient(params)
    for p in params:
        numeric = np.zeros_like(p.value)
        for i in np.ndindex(p.value.shape):
            old = p.value[i]
            p.value[i] = old + 1e-6
            up = reg.value(params)
            p.value[i] = old - 1e-6
            down = reg.value(params)
            p.value[i] = old
            numeric[i] = (up - down) / 2e-6
        np.testing.assert_allclose(p.grad, numeric, rtol=1e-7, atol=1e-9)


def test_trainer_reports_plain_loss_and_objective_and_descends_the_objective():
    data = problem()
    a, b = net(), net()
    reg = Regularizer({"l2": 2.0}, m=len(data))
    penalty0 = reg.value(a.parameters())
    seen = []
    from backprop_cli.training.callbacks import Callback

    class Spy(Callback):
        def on_epoch_end(self, state):
            seen.append(dict(state.logs))

    Trainer(a, SGD(a.parameters(), lr=0.5), epochs=1, batch_size=None, shuffle=False,
            regularizer=reg, callbacks=[Spy()]).fit(data)
    # one whole-batch step: objective = loss before the step + penalty before the step
    assert seen[0]["train_objective"] == pytest.approx(seen[0]["train_loss"] + penalty0, rel=1e-12)
    # the step is along the gradient of the objective
    b.train_step_gradients(data.X, data.Y)
    for p in b.parameters():
        p.value -= 0.5 * (p.grad + (2.0 / 10 * p.value if p.decay else 0))
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(pa.value, pb.value, rtol=1e-13, atol=1e-15)


def test_max_norm_scales_long_columns_only():
    W = Parameter("0.W", np.array([[3.0, 0.1], [4.0, 0.2]]))  # column norms 5 and √0.05
    MaxNorm(W, 2.0).apply()
    np.testing.assert_allclose(W.value, [[1.2, 0.1], [1.6, 0.2]])


def test_input_noise_has_the_right_scale_and_leaves_the_data_alone(rng):
    x = np.zeros((2000, 5))
    noisy = InputNoise(0.3, rng)(x)
    assert noisy.all() and np.all(x == 0)
    assert noisy.std() == pytest.approx(0.3, rel=0.03) and abs(noisy.mean()) < 0.02


def test_penalty_and_max_norm_arguments_are_checked():
    W = Parameter("0.W", np.ones((2, 2)))
    assert L2(0.0, 1).value([W]) == 0.0 and L1(0.5, 1).value([W]) == 2.0   # λ = 0 and m = 1 are fine
    for lam, m in ((-0.1, 5), (0.1, 0), (float("nan"), 5)):
        with pytest.raises(ValueError, match=rf"^need λ >= 0 and m >= 1, got λ={lam}, m={m}$"):
            L2(lam, m)
    MaxNorm(W, 0.5).apply()                                   # any c > 0, even below 1
    np.testing.assert_allclose(np.linalg.norm(W.value, axis=0), [0.5, 0.5])
    with pytest.raises(ValueError, match=r"^max_norm must be > 0, got 0$"):
        MaxNorm(W, 0)


def test_input_noise_argument_is_checked(rng):
    x = rng.normal(size=(3, 2))
    np.testing.assert_array_equal(InputNoise(0.0, rng)(x), x)  # σ = 0 is allowed: adds nothing
    for sigma in (-0.1, float("nan")):
        with pytest.raises(ValueError, match=rf"^noise must be >= 0, got {sigma}$"):
            InputNoise(sigma, rng)
