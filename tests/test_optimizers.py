"""Optimizers: steps worked out by hand, and generic checks over the registry."""
import math

import numpy as np
import pytest

from backprop_cli.engine.parameter import Parameter
from backprop_cli.training.optimizers import OPTIMIZERS, SGD, Optimizer


def scalar(value=1.0, grad=0.5):
    p = Parameter("0.W", np.array([value]))
    p.grad[...] = grad
    return p


# By hand, from θ = 1.5 with the gradients 0.4, -0.2, 0.3: values where every option changes
# the result (no 0.5 dampening where d = 1 - d, no θ = 1 where λθ = λ, state that does not
# start at zero, gradients that change sign so accumulated state matters).
THETA, GRADS = 1.5, (0.4, -0.2, 0.3)


def steps(name, n, **opts):
    """θ after each of n steps from θ = 1.5 with the gradients 0.4, -0.2, 0.3."""
    p = scalar(THETA)
    opt = OPTIMIZERS.get(name)([p], **opts)
    out = []
    for g in GRADS[:n]:
        p.grad[...] = g
        opt.step()
        out.append(float(p.value[0]))
    return out


def test_sgd_by_hand():
    # θ = 1.5 - 0.1·0.4
    assert steps("sgd", 2, lr=0.1) == pytest.approx([1.46, 1.48], abs=1e-15)
    # momentum 0.9: b = 0.4 → 1.46; b = 0.9·0.4 - 0.2 = 0.16 → 1.46 - 0.016
    assert steps("sgd", 2, lr=0.1, momentum=0.9) == pytest.approx([1.46, 1.444], abs=1e-15)
    # dampening 0.3: first b = g = 0.4 (no dampening on the first step); then
    # b = 0.9·0.4 + (1 - 0.3)·(-0.2) = 0.36 - 0.14 = 0.22 → 1.46 - 0.022 = 1.438
    # (dampening written the wrong way round, b = 0.36 - 0.3·0.2 = 0.30, gives 1.43)
    assert steps("sgd", 2, lr=0.1, momentum=0.9, dampening=0.3) == pytest.approx([1.46, 1.438], abs=1e-15)
    # nesterov: b = 0.4, g' = 0.4 + 0.9·0.4 = 0.76 → 1.424; b = 0.36 - 0.2 = 0.16,
    # g' = -0.2 + 0.9·0.16 = -0.056 → 1.424 + 0.0056
    assert steps("sgd", 2, lr=0.1, momentum=0.9, nesterov=True) == pytest.approx([1.424, 1.4296], abs=1e-15)
    # weight decay 0.1: g = 0.4 + 0.1·1.5 = 0.55 → 1.445; g = -0.2 + 0.1445 = -0.0555 → 1.45055
    assert steps("sgd", 2, lr=0.1, weight_decay=0.1) == pytest.approx([1.445, 1.45055], abs=1e-15)
    # nesterov with weight decay: g = 0.55, b = 0.55, g' = 0.55 + 0.495 → 1.3955;
    # g = -0.2 + 0.13955 = -0.06045, b = 0.495 - 0.06045 = 0.43455, g' = -0.06045 + 0.391095
    assert steps("sgd", 2, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1) == pytest.approx(
        [1.3955, 1.3955 - 0.1 * (-0.06045 + 0.9 * 0.43455)], abs=1e-15)
    # momentum with weight decay: b = 0.55 → 1.445; b = 0.9·0.55 - 0.0555 = 0.4395 → 1.40105
    assert steps("sgd", 2, lr=0.1, momentum=0.9, weight_decay=0.1) == pytest.approx(
        [1.445, 1.40105], abs=1e-15)


def test_adagrad_by_hand():
    # s = 0.16 → θ = 1.5 - 0.1·0.4/0.4 = 1.4; s = 0.2 → θ = 1.4 + 0.1·0.2/√0.2
    assert steps("adagrad", 2, lr=0.1, eps=0.0) == pytest.approx([1.4, 1.4 + 0.02 / math.sqrt(0.2)], abs=1e-15)
    # initial_accumulator_value 0.2: s = 0.2 + 0.16 = 0.36 → 1.5 - 0.04/0.6; s = 0.4
    first = 1.5 - 0.04 / 0.6
    assert steps("adagrad", 2, lr=0.1, eps=0.0, initial_accumulator_value=0.2) == pytest.approx(
        [first, first + 0.02 / math.sqrt(0.4)], abs=1e-15)
    # lr_decay 0.5: the second step's lr is 0.1 / (1 + 0.5), the third's 0.1 / (1 + 1)
    s3 = 0.16 + 0.04 + 0.09
    assert steps("adagrad", 3, lr=0.1, eps=0.0, lr_decay=0.5)[1:] == pytest.approx(
        [1.4 + (0.1 / 1.5) * 0.2 / math.sqrt(0.2),
         1.4 + (0.1 / 1.5) * 0.2 / math.sqrt(0.2) - 0.05 * 0.3 / math.sqrt(s3)], abs=1e-15)
    # eps 0.1 is added to √s: 1.5 - 0.04/(0.4 + 0.1)
    assert steps("adagrad", 1, lr=0.1, eps=0.1) == pytest.approx([1.42], abs=1e-15)
    # weight decay 0.2: g = 0.4 + 0.3 = 0.7, s = 0.49 → 1.5 - 0.1·0.7/0.7
    assert steps("adagrad", 1, lr=0.1, eps=0.0, weight_decay=0.2) == pytest.approx([1.4], abs=1e-15)
    assert steps("adagrad", 2, lr=0.1, eps=0.0, weight_decay=0.2)[1] == pytest.approx(
        1.4 - 0.1 * 0.08 / math.sqrt(0.49 + 0.08 ** 2), abs=1e-15)  # g = -0.2 + 0.2·1.4 = 0.08


def test_rmsprop_by_hand():
    # alpha 0.9: v = 0.1·0.16 = 0.016 → θ = 1.5 - 0.01·0.4/√0.016;
    # v = 0.9·0.016 + 0.1·0.04 = 0.0184 → θ += 0.01·0.2/√0.0184
    t1 = 1.5 - 0.004 / math.sqrt(0.016)
    assert steps("rmsprop", 2, lr=0.01, alpha=0.9, eps=0.0) == pytest.approx(
        [t1, t1 + 0.002 / math.sqrt(0.0184)], abs=1e-14)
    # eps 0.01 is added to √v: 1.5 - 0.004/(√0.016 + 0.01)
    assert steps("rmsprop", 1, lr=0.01, alpha=0.9, eps=0.01) == pytest.approx(
        [1.5 - 0.004 / (math.sqrt(0.016) + 0.01)], abs=1e-14)
    # centered: ḡ = 0.1·0.4 = 0.04, v - ḡ² = 0.016 - 0.0016; then ḡ = 0.036 - 0.02 = 0.016
    c1 = 1.5 - 0.004 / math.sqrt(0.0144)
    assert steps("rmsprop", 2, lr=0.01, alpha=0.9, eps=0.0, centered=True) == pytest.approx(
        [c1, c1 + 0.002 / math.sqrt(0.0184 - 0.016 ** 2)], abs=1e-14)
    # momentum 0.5: b = 0.4/√0.016 → θ = t1; b = 0.5 b - 0.2/√0.0184 → θ - 0.01 b
    b1 = 0.4 / math.sqrt(0.016)
    b2 = 0.5 * b1 - 0.2 / math.sqrt(0.0184)
    assert steps("rmsprop", 2, lr=0.01, alpha=0.9, eps=0.0, momentum=0.5) == pytest.approx(
        [t1, t1 - 0.01 * b2], abs=1e-14)
    # weight decay 0.2: g = 0.4 + 0.3 = 0.7, v = 0.1·0.49 → 1.5 - 0.007/√0.049
    assert steps("rmsprop", 1, lr=0.01, alpha=0.9, eps=0.0, weight_decay=0.2) == pytest.approx(
        [1.5 - 0.007 / math.sqrt(0.049)], abs=1e-14)


def test_adam_by_hand():
    # beta1 0.8, beta2 0.95: m = 0.2·0.4 = 0.08, v = 0.05·0.16 = 0.008;
    # m̂ = 0.08/0.2 = 0.4, v̂ = 0.008/0.05 = 0.16 → θ = 1.5 - 0.1·0.4/(0.4 + eps)
    assert steps("adam", 1, lr=0.1, beta1=0.8, beta2=0.95, eps=0.0) == pytest.approx([1.4], abs=1e-12)
    # eps outside the bias-corrected root: 0.1·0.4/(0.4 + 0.1)
    assert steps("adam", 1, lr=0.1, beta1=0.8, beta2=0.95, eps=0.1) == pytest.approx([1.42], abs=1e-12)
    # step 2: m = 0.064 - 0.04 = 0.024, v = 0.0076 + 0.002 = 0.0096;
    # θ = 1.4 - (0.1/(1 - 0.64))·0.024/(√0.0096/√(1 - 0.9025))
    m2, v2 = 0.8 * 0.08 + 0.2 * -0.2, 0.95 * 0.008 + 0.05 * 0.04
    second = 1.4 - (0.1 / 0.36) * m2 / (math.sqrt(v2) / math.sqrt(1 - 0.95 ** 2))
    assert steps("adam", 2, lr=0.1, beta1=0.8, beta2=0.95, eps=0.0) == pytest.approx([1.4, second], abs=1e-12)
    # AdamW: θ ← 1.5·(1 - 0.1·0.2) = 1.47, then the Adam step 0.1 → 1.37
    assert steps("adamw", 1, lr=0.1, beta1=0.8, beta2=0.95, eps=0.0, weight_decay=0.2) == pytest.approx(
        [1.37], abs=1e-12)
    # Adam with (coupled) weight decay 0.2: g = 0.7 enters m and v: step 2 uses g = -0.2 + 0.2·1.4
    m2, v2 = 0.8 * 0.14 + 0.2 * 0.08, 0.95 * 0.05 * 0.49 + 0.05 * 0.08 ** 2
    second = 1.4 - (0.1 / 0.36) * m2 / (math.sqrt(v2) / math.sqrt(1 - 0.95 ** 2))
    assert steps("adam", 2, lr=0.1, beta1=0.8, beta2=0.95, eps=0.0, weight_decay=0.2) == pytest.approx(
        [1.4, second], abs=1e-12)


def test_amsgrad_divides_by_the_largest_second_moment():
    p = scalar()
    opt = OPTIMIZERS.get("adam")([p], lr=0.1, eps=0.0, amsgrad=True)
    for g in (1.0, 0.1):
        p.grad[...] = g
        opt.step()
    # step 2: m = 0.09 + 0.01 = 0.1, v = 0.000999 + 0.00001 = 0.001009, max(v̂) = v (grew)
    m, v = 0.1, 0.999 * 0.001 + 0.001 * 0.01
    expected = 1 - 0.1 - (0.1 / (1 - 0.81)) * m / (math.sqrt(v) / math.sqrt(1 - 0.999 ** 2))
    assert p.value[0] == pytest.approx(expected, abs=1e-12)
    assert opt.state["0.W"]["max_exp_avg_sq"][0] == pytest.approx(v, abs=1e-15)


def test_clipping_by_norm_and_by_value():
    a, b = Parameter("a", np.array([3.0])), Parameter("b", np.array([4.0]))
    a.grad[...], b.grad[...] = 3.0, 4.0  # global norm 5
    SGD([a, b], lr=1.0, clip_norm=1.0).step()
    assert a.value[0] == pytest.approx(3 - 3 / (5 + 1e-6)) and b.value[0] == pytest.approx(4 - 4 / (5 + 1e-6))
    a.grad[...], b.grad[...] = 3.0, -0.2
    SGD([a, b], lr=1.0, clip_value=0.5).step()
    assert a.value[0] == pytest.approx(3 - 3 / (5 + 1e-6) - 0.5)
    assert b.value[0] == pytest.approx(4 - 4 / (5 + 1e-6) + 0.2)
    a.grad[...], b.grad[...] = 0.3, 0.4  # under the norm: untouched
    SGD([a, b], lr=1.0, clip_norm=1.0).step()
    assert a.value[0] == pytest.approx(3 - 3 / (5 + 1e-6) - 0.8)


def test_nesterov_needs_momentum_and_no_dampening():
    with pytest.raises(ValueError, match=r"^nesterov: Nesterov momentum needs momentum > 0 and "
                       r"dampening 0, got momentum 0, dampening 0$"):
        SGD([scalar()], nesterov=True)
    with pytest.raises(ValueError, match=r"got momentum 0.9, dampening 0.1$"):
        SGD([scalar()], momentum=0.9, dampening=0.1, nesterov=True)
    assert SGD.problems({"nesterov": True}) == [(
        "nesterov", "Nesterov momentum needs momentum > 0 and dampening 0, got momentum 0, dampening 0")]
    assert SGD.problems({"nesterov": True, "dampening": 0.2}) == [(
        "nesterov", "Nesterov momentum needs momentum > 0 and dampening 0, got momentum 0, dampening 0.2")]
    assert SGD.problems({"nesterov": True, "momentum": 0.9, "dampening": 0.1})
    assert not SGD.problems({"nesterov": True, "momentum": 0.9, "dampening": 0.0})


ALL_OPTIONS = {"sgd": {"momentum": 0.9}, "rmsprop": {"momentum": 0.5, "centered": True},
               "adam": {"amsgrad": True}, "adamw": {"amsgrad": True}, "adagrad": {}}


def params(rng):
    ps = [Parameter("0.W", rng.normal(size=(3, 2))), Parameter("0.b", rng.normal(size=2), decay=False)]
    return ps


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_state_dict_round_trip_resumes_exactly(name, rng):
    """Stop after 3 steps, copy the weights and state into a fresh optimizer, take 3 more:
    the same weights as 6 uninterrupted steps. The state is plain arrays keyed <param>.<buffer>."""
    grads = [rng.normal(size=(3, 2)) for _ in range(6)], [rng.normal(size=2) for _ in range(6)]
    start = params(np.random.default_rng(0))
    opts = {"lr": 0.01, **ALL_OPTIONS[name]}

    def run(ps, opt, steps):
        for i in steps:
            ps[0].grad[...], ps[1].grad[...] = grads[0][i], grads[1][i]
            opt.step()

    a = params(np.random.default_rng(0))
    run(a, OPTIMIZERS.get(name)(a, **opts), range(6))
    b = params(np.random.default_rng(0))
    ob = OPTIMIZERS.get(name)(b, **opts)
    run(b, ob, range(3))
    state = ob.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert all(k == "t" or k.split(".")[0] + "." + k.split(".")[1] in ("0.W", "0.b") for k in state)
    c = params(np.random.default_rng(0))
    for pc, pb in zip(c, b):
        pc.value[...] = pb.value
    oc = OPTIMIZERS.get(name)(c, **opts)
    oc.load_state_dict(state)
    run(c, oc, range(3, 6))
    for pa, pc, p0 in zip(a, c, start):
        np.testing.assert_array_equal(pa.value, pc.value)
        assert not np.allclose(pa.value, p0.value)


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_updates_in_place_and_reset_forgets(name, rng):
    ps = params(rng)
    arrays = [p.value for p in ps]
    opt = OPTIMIZERS.get(name)(ps, **ALL_OPTIONS[name])
    for p in ps:
        p.grad[...] = 1.0
    opt.step()
    assert all(p.value is a for p, a in zip(ps, arrays))
    opt.reset()
    assert opt.t == 0
    fresh = OPTIMIZERS.get(name)(ps, **ALL_OPTIONS[name]).state_dict()
    for k, v in opt.state_dict().items():
        np.testing.assert_array_equal(v, fresh[k])


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_documents_its_update_and_options(name):
    cls = OPTIMIZERS.get(name)
    assert "θ" in cls.__doc__ and "Defaults" in cls.__doc__
    assert {"lr", "clip_norm", "clip_value"} <= set(cls.options)
    assert all(o.doc for o in cls.options.values())


VARIANTS = [("sgd", {}), ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
            ("sgd", {"momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
            ("adagrad", {"lr_decay": 0.01, "weight_decay": 0.1}), ("rmsprop", {}),
            ("rmsprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.1, "alpha": 0.3}),
            ("adam", {"amsgrad": True, "weight_decay": 0.1}), ("adam", {"beta1": 0.3}),
            ("adamw", {"clip_norm": 0.5, "clip_value": 0.2})]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,opts", VARIANTS)
def test_flat_parameters_update_exactly_as_separate_ones(name, opts, dtype):
    """Parameters laid out as views of one array (as a Network holds them) take one update
    over the whole array; the result is bit for bit that of updating each on its own, and
    the per-parameter state is a view of the flat buffers."""
    from backprop_cli.engine.parameter import flatten
    shapes = [(5, 7), (7,), (7, 3), (3,)]
    results = []
    for flat in (False, True):
        rng = np.random.default_rng(0)
        ps = [Parameter(f"{i}.W", rng.normal(size=s).astype(dtype)) for i, s in enumerate(shapes)]
        if flat:
            value, grad = flatten(ps)
            assert all(np.shares_memory(p.value, value) and np.shares_memory(p.grad, grad) for p in ps)
        opt = OPTIMIZERS.get(name)(ps, lr=0.01, **opts)
        assert (len(opt._slots) == 1) is flat
        g = np.random.default_rng(1)
        for _ in range(50):
            for p in ps:
                p.grad[...] = g.normal(size=p.value.shape)
            opt.step()
        assert all(p.value.dtype == dtype for p in ps)
        results.append((np.concatenate([p.value.ravel() for p in ps]), opt.state_dict()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1].keys() == results[1][1].keys()
    for k in results[0][1]:
        np.testing.assert_array_equal(results[0][1][k], results[1][1][k])


@pytest.mark.parametrize("name,opts", VARIANTS)
def test_a_step_allocates_no_arrays(name, opts):
    """Updates run in place into work arrays made once: over 10 steps of 100,000 float32
    weights, NumPy allocates less than one parameter's worth (400 kB) in all."""
    import tracemalloc
    from backprop_cli.engine.parameter import flatten
    rng = np.random.default_rng(0)
    ps = [Parameter("0.W", rng.normal(size=(250, 400)).astype(np.float32)),
          Parameter("0.b", np.zeros(400, np.float32))]
    flatten(ps)
    opt = OPTIMIZERS.get(name)(ps, lr=0.01, **opts)
    for p in ps:
        p.grad[...] = 0.5
    opt.step()
    tracemalloc.start()
    try:
        for _ in range(10):
            opt.step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40_000, peak


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_clips(name):
    """clip_value and clip_norm reach every optimizer: a clipped gradient steps exactly as
    the gradient it is clipped to."""
    def run(grads, **clip):
        ps = [Parameter("a", np.array([1.5, -0.5])), Parameter("b", np.array([0.25]))]
        opt = OPTIMIZERS.get(name)(ps, lr=0.1, **clip)
        for ga, gb in grads:
            ps[0].grad[...], ps[1].grad[...] = ga, gb
            opt.step()
        return np.concatenate([p.value for p in ps])

    big = [([5.0, -0.05], [-3.0]), ([-4.0, 2.0], [0.01])]
    clipped = [([0.2, -0.05], [-0.2]), ([-0.2, 0.2], [0.01])]
    np.testing.assert_array_equal(run(big, clip_value=0.2), run(clipped))
    norm = math.sqrt(4.0 ** 2 + 3.0 ** 2)  # one step, global norm 5 scaled to 0.5
    np.testing.assert_allclose(run([([4.0, 0.0], [3.0])], clip_norm=0.5),
                               run([([4.0 * 0.5 / (norm + 1e-6), 0.0], [3.0 * 0.5 / (norm + 1e-6)])]),
                               rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("name,opts,buffers", [
    ("sgd", {}, set()), ("sgd", {"momentum": 0.9}, {"momentum_buffer"}),
    ("adagrad", {}, {"sum"}),
    ("rmsprop", {}, {"square_avg"}), ("rmsprop", {"momentum": 0.5}, {"square_avg", "momentum_buffer"}),
    ("rmsprop", {"centered": True}, {"square_avg", "grad_avg"}),
    ("adam", {}, {"exp_avg", "exp_avg_sq"}), ("adam", {"amsgrad": True}, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}),
    ("adamw", {}, {"exp_avg", "exp_avg_sq"}),
])
def test_state_holds_the_buffers_the_options_need(name, opts, buffers):
    opt = OPTIMIZERS.get(name)([scalar()], **opts)
    assert set(opt.state_dict()) == {"t"} | {f"0.W.{b}" for b in buffers}


def test_lerp_by_hand_and_from_the_end_side_from_a_half():
    """start + w·(end - start), computed from the end's side when w ≥ 0.5 (as torch.lerp_
    does): w = 1 then gives exactly the end, and w = 0.5 the same bits as torch."""
    from backprop_cli.training.optimizers import lerp_
    for w, expected in ((0.25, 1.5), (0.5, 2.0), (0.75, 2.5), (1.0, 3.0)):
        start, tmp = np.array([1.0]), np.empty(1)
        lerp_(start, np.array([3.0]), w, tmp)
        assert start[0] == expected
    rng = np.random.default_rng(0)
    start, end = rng.normal(size=1000), rng.normal(size=1000)
    lerp_(start, end, 1.0, np.empty(1000))
    np.testing.assert_array_equal(start, end)
    torch = pytest.importorskip("torch")
    start, end = rng.normal(size=1000), rng.normal(size=1000)
    theirs = torch.from_numpy(start.copy()).lerp_(torch.from_numpy(end), 0.5).numpy()
    lerp_(start, end, 0.5, np.empty(1000))
    np.testing.assert_array_equal(start, theirs)


def test_adam_with_a_small_beta1_by_hand():
    # beta1 0.3: m = 0.7·0.4 = 0.28 (lerp from the gradient's side), m̂ = 0.4, v̂ = 0.16 → 1.4;
    # step 2: m = 0.3·0.28 + 0.7·(-0.2) = -0.056, v = 0.95·0.008 + 0.05·0.04 = 0.0096
    m2, v2 = 0.3 * 0.28 - 0.7 * 0.2, 0.0096
    second = 1.4 - (0.1 / (1 - 0.09)) * m2 / (math.sqrt(v2) / math.sqrt(1 - 0.95 ** 2))
    assert steps("adam", 2, lr=0.1, beta1=0.3, beta2=0.95, eps=0.0) == pytest.approx([1.4, second], abs=1e-12)


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_constructor_defaults_are_the_declared_options(name):
    import inspect
    cls = OPTIMIZERS.get(name)
    signature = inspect.signature(cls.__init__).parameters
    for key, option in cls.options.items():
        default = signature[key].default if key in signature else inspect.signature(
            Optimizer.__init__).parameters[key].default
        assert default == option.default, f"{name}.{key}"
    opt = cls([scalar()])                      # built with every default
    for key, option in cls.options.items():
        assert getattr(opt, key) == option.default, f"{name}.{key}"


def test_values_in_one_array_with_separate_gradients_update_one_by_one():
    base = np.array([1.5, -0.5, 0.25])
    ps = [Parameter("0.W", base[:2]), Parameter("0.b", base[2:])]   # grads: separate arrays
    for p in ps:
        p.grad[...] = 0.4
    opt = OPTIMIZERS.get("adam")(ps, lr=0.1)
    opt.step()
    assert len(opt._slots) == 2
    np.testing.assert_allclose(base, [1.4, -0.6, 0.15])


def numpy_passes(name: str) -> dict:
    """The option that keeps ``name`` on NumPy's passes (and so on the pool's blocks) where
    Numba would otherwise give a large array the compiled pass (tests/test_fused.py)."""
    return {"fused": False} if "fused" in OPTIMIZERS.get(name).options else {}


@pytest.mark.parametrize("name,opts", [v for v in VARIANTS if OPTIMIZERS.get(v[0]).blockwise])
def test_a_large_flat_update_in_blocks_on_threads_is_bit_identical_to_one_pass(name, opts):
    """Above PARALLEL_MIN entries the flat update runs in BLOCK-sized contiguous blocks over
    backprop's pool: the weights and every buffer are bit for bit those of the one-pass
    update (a small array's, below the threshold), at 1 thread and at 2."""
    from backprop_cli.engine import threads
    from backprop_cli.engine.parameter import flatten
    from backprop_cli.training import optimizers as optim
    shapes = [(300, 700), (700,), (700, 3), (3,)]  # 212,803 entries: 4 blocks, the last short
    n = sum(math.prod(s) for s in shapes)
    assert n >= optim.PARALLEL_MIN and n % optim.BLOCK
    results = []
    for count, cut in ((1, False), (1, True), (2, True)):
        rng = np.random.default_rng(0)
        ps = [Parameter(f"{i}.W", rng.normal(size=s).astype(np.float32)) for i, s in enumerate(shapes)]
        flatten(ps)
        opt = OPTIMIZERS.get(name)(ps, lr=0.01, **opts, **numpy_passes(name))
        assert opt._blocks is not None and len(opt._blocks) == -(-n // optim.BLOCK)
        if not cut:
            opt._blocks = None  # the one-pass update, as below the threshold
        before = threads.set_threads(count)
        try:
            if count > 1 and threads.num_threads() != count:
                pytest.skip("needs OpenBLAS to set threads")
            g = np.random.default_rng(1)
            for _ in range(5):
                for p in ps:
                    p.grad[...] = g.normal(size=p.value.shape)
                opt.step()
        finally:
            threads.set_threads(before)
        results.append((np.concatenate([p.value.ravel() for p in ps]), opt.state_dict()))
    for value, state in results[1:]:
        np.testing.assert_array_equal(value, results[0][0])
        for k in state:
            np.testing.assert_array_equal(state[k], results[0][1][k])


def test_small_or_unflat_parameters_take_the_one_pass_update(monkeypatch):
    """Below PARALLEL_MIN entries (W1's 17 weights, W2's 4,611), for SGD at any size (its
    blocks did not measure faster), or when the parameters are not one flat array, there
    are no blocks, and a step never reaches the pool even at 2 threads."""
    from backprop_cli.engine import threads
    from backprop_cli.engine.parameter import flatten
    from backprop_cli.training import optimizers as optim
    monkeypatch.setattr(threads, "num_threads", lambda: 2)
    monkeypatch.setattr(threads, "run", lambda *a, **k: pytest.fail("the pool was used"))
    small = [Parameter("0.W", np.ones((2, 4))), Parameter("0.b", np.zeros(4))]
    flatten(small)
    unflat = [Parameter("0.W", np.ones((400, 400)))]  # large, but not views of one array
    almost = [Parameter("0.W", np.ones(optim.PARALLEL_MIN - 1))]
    flatten(almost)
    big = [Parameter("0.W", np.ones(1_863_690))]  # W4's size
    flatten(big)
    for ps in (small, unflat, almost, big):
        for name in ("sgd", "adam"):
            opt = OPTIMIZERS.get(name)(ps, lr=0.1, **({"momentum": 0.9} if name == "sgd" else {}),
                                       **numpy_passes(name))
            assert (opt._blocks is None) is (ps is not big or name == "sgd")
            if opt._blocks is None:
                opt.step()
