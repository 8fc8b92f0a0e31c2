"""backprop explain CONFIG: the trace's numbers are the engine's, and they are right."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import XOR_YAML, write

from backprop_cli import api
from backprop_cli.cli import main
from backprop_cli.explain.network import explain_config, trace

REGRESSION_YAML = """
data: {source: sine, n: 20}
model:
  layers:
    - {units: 3, activation: relu}
    - {units: 2, activation: tanh}
    - {units: 1}
loss: quadratic
optimizer: {name: sgd, lr: 0.1}
training: {epochs: 5, batch_size: 4}
dtype: float64
"""


def steps(lt, part):
    return {s.name: s.value for s in getattr(lt, part)}


@pytest.mark.parametrize("yaml", [XOR_YAML, REGRESSION_YAML])
def test_trace_gradients_are_the_engines(tmp_path, yaml):
    cfg = write(tmp_path / "c.yaml", yaml)
    t = explain_config(cfg, example=1)
    s = api.setup(cfg)
    x, y = s.splits.train.X[1:2], s.splits.train.Y[1:2]
    loss, _ = s.network.train_step_gradients(x, y)
    assert t.loss == pytest.approx(loss)
    for p in s.network.parameters():
        np.testing.assert_allclose(t.gradients[p.name], p.grad, rtol=1e-12, atol=1e-12)


def test_each_step_follows_its_formula(tmp_path):
    t = explain_config(write(tmp_path / "c.yaml", REGRESSION_YAML), example=2)
    first, second, out = t.layers
    f, b = steps(first, "forward"), steps(first, "backward")
    np.testing.assert_allclose(f["net"], f["x"] @ f["W"] + f["b"])
    np.testing.assert_allclose(f["y"], np.maximum(f["net"], 0))
    np.testing.assert_allclose(b["delta"], (f["net"] > 0) * b["dE/dy"])        # relu' ⊙ dE/dy
    np.testing.assert_allclose(b["dE/dW"], f["x"].T @ b["delta"])
    np.testing.assert_allclose(b["dE/db"], b["delta"][0])
    f2, b2 = steps(second, "forward"), steps(second, "backward")
    np.testing.assert_allclose(b2["delta"], (1 - f2["y"] ** 2) * b2["dE/dy"])  # tanh' = 1 - y^2
    np.testing.assert_allclose(b["dE/dx"], b["delta"] @ f["W"].T)
    np.testing.assert_allclose(steps(second, "backward")["dE/dx"], b["dE/dy"])  # handed down
    fo, bo = steps(out, "forward"), steps(out, "backward")
    np.testing.assert_allclose(bo["dE/dy"], t.output - t.target)                # quadratic: o - y


def test_trace_matches_central_differences(tmp_path):
    cfg = write(tmp_path / "c.yaml", REGRESSION_YAML)
    s = api.setup(cfg)
    x, y = s.splits.train.X[3:4], s.splits.train.Y[3:4]
    t = trace(s.network, x, y)
    W = s.network.parameters()[0]
    h = 1e-6
    for idx in np.ndindex(W.value.shape):
        old = W.value[idx]
        W.value[idx] = old + h
        up = s.network.evaluate_loss(x, y)[0]
        W.value[idx] = old - h
        down = s.network.evaluate_loss(x, y)[0]
        W.value[idx] = old
        assert t.gradients[W.name][idx] == pytest.approx((up - down) / (2 * h), abs=1e-7)


def test_run_weights_and_cli(tmp_path):
    cfg = write(tmp_path / "c.yaml", XOR_YAML.replace("epochs: 2000", "epochs: 30"))
    run = api.train(cfg, runs_dir=tmp_path / "runs").run_dir
    t = explain_config(None, run_dir=run, example=3)
    s = api.setup(cfg)
    assert not np.allclose(t.layers[0].forward[1].value, s.network.parameters()[0].value)  # trained W
    r = CliRunner().invoke(main, ["explain", "--run", str(run), "--example", "3", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["example"] == 3 and [s["name"] for s in out["layers"][0]["backward"]] == [
        "dE/dy", "delta", "dE/dW", "dE/db", "dE/dx"]
    r = CliRunner().invoke(main, ["explain", str(cfg), "--example", "1"], terminal_width=200)
    assert r.exit_code == 0 and "delta = f'(net) ⊙ dE/dy" in r.stderr and "net = x·W + b" in r.stderr


def test_bad_example_is_a_one_line_error(tmp_path):
    cfg = write(tmp_path / "c.yaml", XOR_YAML)
    r = CliRunner().invoke(main, ["explain", str(cfg), "--example", "4"])
    assert r.exit_code == 2
    assert r.stderr.strip() == "Error: --example 4: the training split has 4 examples (0 to 3)"
    r = CliRunner().invoke(main, ["explain"])
    assert r.exit_code == 2 and "Traceback" not in r.output
