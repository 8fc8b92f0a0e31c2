"""backprop explain CONFIG: the trace's numbers are the engine's, and they are right."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import DIGITS_CNN_YAML, XOR_YAML, write

from backprop_cli import api
from backprop_cli.cli import main
from backprop_cli.engine.blocks import infer_shapes, summary
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


# -- convolutional networks -------------------------------------------------------------------
def conv_forward(network, x):
    """Each block's output for one example, from the engine's layers called directly."""
    h, out = x.reshape((1, *network.input_shape)), []
    for block in network.blocks:
        for layer in block:
            h = layer.forward(h)
        out.append(h)
    return out


def test_conv_trace_gradients_are_the_engines(tmp_path):
    test_trace_gradients_are_the_engines(tmp_path, DIGITS_CNN_YAML)


def test_conv_shapes_are_the_shape_functions(tmp_path):
    cfg = write(tmp_path / "c.yaml", DIGITS_CNN_YAML)
    s = api.setup(cfg)
    layers = s.config.data["model"]["layers"]
    shapes = infer_shapes(layers, s.network.input_shape)
    t = explain_config(cfg, example=2)
    assert [lt.output_shape for lt in t.layers] == shapes
    for lt, shape in zip(t.layers, shapes):  # and what the layers computed has that shape
        assert lt.forward[-1].value.shape == (1, *shape)
    r = CliRunner().invoke(main, ["explain", str(cfg), "--example", "2", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [tuple(lt["output_shape"]) for lt in out["layers"]] == shapes
    assert [lt["params"] for lt in out["layers"]] == [r["params"] for r in summary(layers, (1, 8, 8))[1:]]
    assert out["input_shape"] == [1, 8, 8]


def test_conv_summaries_are_the_forward_and_backward_values(tmp_path):
    cfg = write(tmp_path / "c.yaml", DIGITS_CNN_YAML)
    r = CliRunner().invoke(main, ["explain", str(cfg), "--example", "5", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    s = api.setup(cfg)
    x, y = s.splits.train.X[5:6], s.splits.train.Y[5:6]
    blocks = conv_forward(s.network, x)
    for lt, h in zip(out["layers"][:-1], blocks):  # the head's y is the softmax, checked below
        got = next(st for st in lt["forward"] if st["name"] == "y")
        assert "value" not in got or h.size <= 24      # feature maps are never given in full
        h = h.astype(np.float64)
        expected = {"min": h.min(), "mean": h.mean(), "max": h.max(), "norm": np.sqrt((h ** 2).sum()),
                    "zeros": (h == 0).mean()}
        assert got["summary"]["shape"] == list(h.shape)
        for k, v in expected.items():
            assert got["summary"][k] == pytest.approx(v, rel=1e-12, abs=1e-12), (lt["title"], k)
    assert out["layers"][0]["forward"][-1]["summary"]["zeros"] > 0  # relu zeroes some pixels
    np.testing.assert_allclose(out["output"], s.network.predict(x), rtol=1e-6)
    s.network.train_step_gradients(x, y)
    for p in s.network.parameters():
        g = p.grad.astype(np.float64)
        got = out["gradients"][p.name]
        assert (got["min"], got["max"]) == (g.min(), g.max())
        assert got["norm"] == pytest.approx(np.sqrt((g ** 2).sum()), rel=1e-12)
        assert ("value" in got) == (g.size <= 24)


def test_conv_terminal_shows_shapes_and_summaries_not_arrays(tmp_path):
    import re
    cfg = write(tmp_path / "c.yaml", DIGITS_CNN_YAML)
    r = CliRunner().invoke(main, ["explain", str(cfg)], terminal_width=200)
    assert r.exit_code == 0, r.output
    text = r.stderr
    assert "layer 1: Conv2d(1→8, 3x3, stride 1, pad 1) → ReLU   output 8×8×8" in text
    assert "net = W ∗ x + b" in text and "dE/dW[o,c,p,q]" in text and "the window's arg-max" in text
    assert re.search(r"‖·‖\s+zeros", text)
    for line in text.splitlines():  # 8×8×8 maps are summarized: no line holds dozens of numbers
        assert len(re.findall(r"-?\d+\.\d+", line)) <= 12, line


def test_conv_run_weights(tmp_path):
    from backprop_cli.checkpoint import load_weights
    cfg = write(tmp_path / "c.yaml", DIGITS_CNN_YAML)
    run = api.train(cfg, runs_dir=tmp_path / "runs").run_dir
    r = CliRunner().invoke(main, ["explain", "--run", str(run), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    W = load_weights(run / "checkpoints" / "last.npz")["2.W"].astype(np.float64)
    got = next(st for st in out["layers"][2]["forward"] if st["name"] == "W")["summary"]
    assert (got["min"], got["max"], got["shape"]) == (W.min(), W.max(), list(W.shape))
    assert out["weights"] == str(run / "checkpoints" / "last.npz")
