"""optimizer.fused: SGD, Adam, AdamW and Adagrad in one compiled pass (training/fused.py, Numba), which
must leave weights and buffers bit-identical to NumPy's passes, for every option, in float32
and float64; chosen by default only for large networks; refused in one line without Numba."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

import backprop_cli
from backprop_cli.cli import main
from backprop_cli.engine.parameter import Parameter, flatten
from backprop_cli.training import optimizers
from backprop_cli.training.optimizers import FUSED_MIN, OPTIMIZERS
from helpers import CONFIGS

pytest.importorskip("numba")

CASES = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}),
    ("adam", {}),
    ("adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.05}),
    ("adam", {"beta1": 0.3, "beta2": 0.9, "eps": 1e-3}),  # 1 - beta1 > 0.5: lerp's other branch
    ("adamw", {}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.2, "amsgrad": True, "beta1": 0.2}),
    ("adagrad", {}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.03, "initial_accumulator_value": 0.2,
                 "eps": 1e-3}),
]


def steps(name, opts, dtype, fused, n=1_000, count=6, restart_at=4):
    """Weights and buffers after ``count`` steps of random gradients (the lr halved each step
    as a schedule would, a restart before step ``restart_at``); the same gradients each call."""
    rng = np.random.default_rng(0)
    ps = [Parameter("0.W", rng.standard_normal((n // 10, 10)).astype(dtype)),
          Parameter("0.b", rng.standard_normal(10).astype(dtype))]
    flatten(ps)
    opt = OPTIMIZERS.get(name)(ps, fused=fused, **opts)
    assert opt.uses_fused is fused
    for k in range(count):
        if k == restart_at:
            opt.reset()
        for p in ps:
            p.grad[...] = rng.standard_normal(p.value.shape) * (10.0 if k == 2 else 1.0)
        opt.step()
        opt.lr *= 0.5
    return {p.name: p.value for p in ps}, opt.state_dict()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,opts", CASES, ids=[f"{n}-{'-'.join(o) or 'defaults'}" for n, o in CASES])
def test_the_compiled_pass_is_bit_identical_to_numpys(name, opts, dtype):
    (w0, s0), (w1, s1) = steps(name, opts, dtype, False), steps(name, opts, dtype, True)
    for k in w0:
        assert w0[k].dtype == w1[k].dtype == dtype
        np.testing.assert_array_equal(w1[k], w0[k])
    assert s0.keys() == s1.keys()
    assert len(s0) > 1 or name == "sgd"  # t, and the buffers (none for SGD without momentum)
    for k in s0:
        np.testing.assert_array_equal(s1[k], s0[k])
    moved = steps(name, opts, dtype, False, count=0)[0]
    assert all(np.abs(w0[k] - moved[k]).max() > 1e-3 for k in w0)  # the steps did something


def test_amsgrad_keeps_nan_as_numpys_maximum_does():
    out = {}
    for fused in (False, True):
        p = Parameter("0.W", np.ones(8, np.float32))
        flatten([p])
        opt = OPTIMIZERS.get("adam")([p], amsgrad=True, fused=fused)
        p.grad[...] = [1, np.nan, 2, 3, np.inf, 0, -1, 5]
        with np.errstate(invalid="ignore"):  # NumPy's passes warn about the NaN
            opt.step()
            p.grad[...] = 1.0
            opt.step()
        out[fused] = p.value.copy(), opt.state_dict()
    np.testing.assert_array_equal(out[True][0], out[False][0])  # NaN where NumPy has NaN
    assert np.isnan(out[True][0][1]) and np.isfinite(out[True][0][0])
    for k, v in out[False][1].items():
        np.testing.assert_array_equal(out[True][1][k], v)


def test_null_picks_the_compiled_pass_for_large_networks_only():
    def opt(n, **kw):
        p = Parameter("0.W", np.zeros(n, np.float32))
        flatten([p])
        return OPTIMIZERS.get("adam")([p], **kw)
    assert opt(FUSED_MIN).uses_fused and not opt(FUSED_MIN - 1).uses_fused
    # the compiled pass holds no work arrays and no pool blocks (NumPy's passes hold both)
    fused, passes = opt(FUSED_MIN), opt(FUSED_MIN, fused=False)
    assert fused._blocks is None and [tmp for _, _, tmp in fused._slots] == [[]]
    assert passes._blocks is not None and len(passes._slots[0][2]) == passes.scratch > 0
    assert opt(10, fused=True).uses_fused and not opt(FUSED_MIN, fused=False).uses_fused
    # the optimizers without a compiled pass never use one
    p = Parameter("0.W", np.zeros(FUSED_MIN, np.float32))
    flatten([p])
    assert not OPTIMIZERS.get("rmsprop")([p]).uses_fused


def test_training_through_the_compiled_pass_gives_the_same_run_and_resumes_bit_identically(tmp_path):
    over = ["training.epochs=6", "optimizer.name=adam"]
    plain = backprop_cli.train(CONFIGS / "iris.yaml", [*over, "optimizer.fused=false"],
                               runs_dir=tmp_path / "a")
    fused = backprop_cli.train(CONFIGS / "iris.yaml", [*over, "optimizer.fused=true"],
                               runs_dir=tmp_path / "b")
    assert (plain.summary["optimizer_fused"], fused.summary["optimizer_fused"]) == (False, True)
    for k, w in plain.weights.items():
        np.testing.assert_array_equal(fused.weights[k], w)
    short = backprop_cli.train(CONFIGS / "iris.yaml", ["training.epochs=3", "optimizer.name=adam",
                                                       "optimizer.fused=true"], runs_dir=tmp_path / "c")
    resumed = backprop_cli.train(resume=short.run_dir, epochs=6)
    assert resumed.summary["optimizer_fused"] is True
    for k, w in fused.weights.items():
        np.testing.assert_array_equal(resumed.weights[k], w)


def test_fused_true_without_numba_is_one_line_before_any_run_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(optimizers, "fused_available", lambda: False)
    r = CliRunner().invoke(main, ["train", str(CONFIGS / "xor.yaml"), "--set", "optimizer.fused=true",
                                  "--runs-dir", str(tmp_path)])
    assert r.exit_code == 2, r.output
    line = r.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "optimizer.fused" in line and "pip install 'backprop-cli[fast]'" in line
    assert not list(tmp_path.iterdir())
    # null falls back to NumPy's passes without a word
    r = CliRunner().invoke(main, ["train", str(CONFIGS / "xor.yaml"), "--runs-dir", str(tmp_path),
                                  "--json", "-q"])
    assert r.exit_code == 0 and json.loads(r.stdout)["optimizer_fused"] is False


def test_the_option_is_refused_where_it_does_not_exist():
    r = CliRunner().invoke(main, ["train", str(CONFIGS / "xor.yaml"), "--set", "optimizer.name=rmsprop",
                                  "--set", "optimizer.fused=true"])
    assert r.exit_code == 2 and "fused" in r.output
