"""Convolutional layers from the config's side: each shape mistake is one located error
(exit 2) from `backprop config validate`, before any data is read where the source declares
its shape; `config show` and `train` print the table of shapes; the conv configs train."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from backprop_cli.cli import main
from helpers import CONFIGS, ROOT, write


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def mnist_dir(tmp_path):
    """A folder that holds MNIST's four file names (validation only checks they are there)."""
    d = tmp_path / "mnist"
    d.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (d / name).write_bytes(b"")
    return d


def config(tmp_path, layers: str, data: str) -> str:
    return str(write(tmp_path / "c.yaml", f"""data: {data}
model:
  layers:
{layers}
loss: cross_entropy
"""))


LENET = """    - {type: conv2d, channels: 6, kernel: 5, padding: 2, activation: relu}
    - {type: maxpool2d, kernel: 2}
    - {type: conv2d, channels: 16, kernel: 5, activation: relu}
    - {type: maxpool2d, kernel: 2}
    - {type: flatten}
    - {units: 120, activation: relu}
    - {units: 10, activation: softmax}"""

MISTAKES = [
    # (layers, the one error's location and words)
    ("    - {type: conv2d, channels: 6, kernel: 29}\n    - {type: flatten}\n    - {units: 10, activation: softmax}",
     "c.yaml:4:43: model.layers.0.kernel: a 29x29 kernel does not fit the input 1×28×28 along H "
     "(28 pixels + padding 0): output size 0"),
    ("    - {type: conv2d, channels: 6, kernel: 5}\n    - {units: 10, activation: softmax}",
     "c.yaml:5:7: model.layers.1: dense takes a vector of features, but its input is feature maps "
     "6×24×24; add {type: flatten} (or global_avgpool) before it (the data's examples are 1×28×28)"),
    ("    - {type: conv2d, channels: 6, kernel: 13, stride: 6}\n    - {type: maxpool2d, kernel: 4}\n"
     "    - {type: flatten}\n    - {units: 10, activation: softmax}",
     "model.layers.1.kernel: a 4x4 pool does not fit the input 6×3×3 along H"),
    ("    - {type: conv2d, channels: 6, kernel: 5, dilation: 7}\n    - {type: flatten}\n"
     "    - {units: 10, activation: softmax}",
     "model.layers.0.kernel: a 5x5 kernel (dilated to 29 pixels) does not fit"),
    ("    - {type: conv2d, channels: 6, kernel: [5, 5, 5]}\n    - {type: flatten}\n    - {units: 10, activation: softmax}",
     "model.layers.0.kernel: must be an integer or a list of two integers [along H, along W], got [5, 5, 5]"),
    ("    - {type: maxpool2d, kernel: 2, padding: 2}\n    - {type: flatten}\n    - {units: 10, activation: softmax}",
     "model.layers.0.padding: must be between 0 and half the kernel (2x2), got 2"),
    ("    - {type: conv2d, channels: 10, kernel: 3}\n    - {type: global_avgpool}",
     "model.layers.1.type: the output layer is global_avgpool; end with a dense layer"),
    ("    - {type: conv2d, channels: 6, kernel: 3, activation: softmax}\n    - {type: flatten}\n"
     "    - {units: 10, activation: softmax}",
     "model.layers.0.activation: softmax needs a vector, but this layer gives feature maps 6×26×26"),
    ("    - {type: conv2d, channels: 6, kernel: 3, units: 4}\n    - {type: flatten}\n    - {units: 10, activation: softmax}",
     "model.layers.0.units: conv2d has no option 'units'"),
    ("    - {type: conv3d, channels: 6, kernel: 3}\n    - {units: 10, activation: softmax}",
     "model.layers.0.type: unknown layer type 'conv3d'; did you mean 'conv2d'?"),
]


@pytest.mark.parametrize("layers,message", MISTAKES, ids=[m[1].split(":")[2 if m[1].startswith("c.yaml") else 0][:40]
                                                         for m in MISTAKES])
def test_each_shape_mistake_is_one_located_error_before_any_data_is_read(tmp_path, mnist_dir, layers, message):
    r = run("config", "validate", config(tmp_path, layers, f"{{source: mnist, dir: {mnist_dir}}}"))
    assert r.exit_code == 2, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, r.output
    assert message in errors[0], errors[0]


def test_conv_on_flat_data_says_to_set_data_shape(tmp_path):
    r = run("config", "validate", config(tmp_path, LENET, "{source: xor, n_inputs: 4}"))
    assert r.exit_code == 2
    assert "model.layers.0.type: conv2d takes images (C×H×W), but the data has rows of 4 features; " \
           "set data.shape: [C, H, W] (their product must be 4)" in r.output
    # a CSV cannot tell before it is read: the same error, when the data is loaded
    path = write(tmp_path / "d.csv", "a,b,c,d,y\n" + "\n".join(f"{i},{i},{i},{i},{i % 2}" for i in range(8)))
    cfg = config(tmp_path, LENET.replace("units: 10", "units: 2"), f"{{source: csv, path: {path}}}")
    assert run("config", "validate", cfg).exit_code == 0
    r = run("train", cfg, "--runs-dir", tmp_path / "runs")
    assert r.exit_code == 2
    assert "model.layers.0.type: conv2d takes images (C×H×W), but the data has rows of 4 features; " \
           "set data.shape: [C, H, W] (their product must be 4)" in r.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_kernel_larger_than_a_csv_image_is_found_when_the_data_is_read(tmp_path):
    cfg = write(tmp_path / "c.yaml", f"""extends: {CONFIGS / 'digits-cnn.yaml'}
data: {{shape: [1, 8, 8], path: {ROOT / 'datasets' / 'digits.csv.gz'}}}
model:
  layers:
    - {{type: conv2d, channels: 4, kernel: 9}}
    - {{type: flatten}}
    - {{units: 10, activation: softmax}}
""")
    r = run("train", cfg, "--runs-dir", tmp_path / "runs")
    assert r.exit_code == 2, r.output
    assert "model.layers.0.kernel: a 9x9 kernel does not fit the input 1×8×8 along H (8 pixels + " \
           "padding 0): output size 0 (the data's examples are 1×8×8)" in r.output


def test_config_show_prints_the_shapes_and_parameter_counts(tmp_path, mnist_dir):
    cfg = config(tmp_path, LENET, f"{{source: mnist, dir: {mnist_dir}}}")
    r = run("config", "show", cfg)
    assert r.exit_code == 0, r.output
    table = r.output[r.output.index("# the network"):].splitlines()
    rows = [line.split() for line in table[2:-1]]
    assert rows[0][-2:] == ["1×28×28", "0"]
    assert [row[-2] for row in rows[1:]] == ["6×28×28", "6×14×14", "16×10×10", "16×5×5", "400", "120", "10"]
    counts = [6 * 25 + 6, 0, 16 * 6 * 25 + 16, 0, 0, 400 * 120 + 120, 120 * 10 + 10]
    assert [int(row[-1].replace(",", "")) for row in rows[1:]] == counts
    assert table[-1] == f"# total: {sum(counts):,} parameters"
    shown = json.loads(run("config", "show", cfg, "--json").output)["layers"]
    assert [r["output_shape"] for r in shown][1:3] == [[6, 28, 28], [6, 14, 14]]


def test_train_prints_the_table_and_a_conv_run_evaluates_from_its_folder(tmp_path):
    r = run("train", CONFIGS / "digits-cnn.yaml", "--runs-dir", tmp_path / "runs",
            "--set", "training.epochs=2")
    assert r.exit_code == 0, r.output
    assert "16×8×8" in r.output and "32×2×2" in r.output and "6,090 parameters" in r.output
    run_dir = next((tmp_path / "runs").iterdir())
    assert json.loads((run_dir / "data.json").read_text())["shape"] == [1, 8, 8]
    moved = tmp_path / "elsewhere"
    run_dir.rename(moved)  # a run folder copied elsewhere still evaluates
    r = run("eval", moved, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])


def test_digits_cnn_beats_the_mlp_on_the_same_split(tmp_path):
    """configs/digits-cnn.yaml against configs/digits.yaml: the same data, split and seed."""
    from backprop_cli import api
    accuracy = {}
    for name in ("digits", "digits-cnn"):
        res = api.train(CONFIGS / f"{name}.yaml", runs_dir=tmp_path / name)
        accuracy[name] = res.summary["test"]["test_accuracy"]
    cnn = api.setup(CONFIGS / "digits-cnn.yaml").splits
    mlp = api.setup(CONFIGS / "digits.yaml").splits
    assert np.array_equal(cnn.test.labels, mlp.test.labels) and np.array_equal(cnn.test.X, mlp.test.X)
    assert accuracy["digits-cnn"] > accuracy["digits"] + 0.01, accuracy


def test_gradcheck_of_a_conv_config_checks_every_parameter():
    """Biases start at 0 and zero pixels give nets of exactly 0, on relu's kink: gradcheck
    moves the biases off it, so theirs are checked rather than all skipped."""
    from backprop_cli import api
    report = api.gradcheck(CONFIGS / "digits-cnn.yaml")
    assert report.passed
    checked = {c.parameter: c.checked for c in report.checks}
    assert set(checked) == {"0.W", "0.b", "2.W", "2.b", "5.W", "5.b", "input"}
    assert all(n > 0 for n in checked.values()), checked
    assert checked["0.b"] == 16 and checked["2.b"] == 32


def test_model_init_from_takes_pytorchs_conv_weights_as_they_are(tmp_path):
    """A PyTorch network's state_dict saved under backprop's names (conv weights as they are,
    dense weights transposed): backprop predicts what PyTorch computes."""
    torch = pytest.importorskip("torch")
    from backprop_cli import api
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding="same"), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding="same"), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(128, 10)).double()
    sd = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    arrays = {"0.W": sd["0.weight"], "0.b": sd["0.bias"], "2.W": sd["3.weight"], "2.b": sd["3.bias"],
              "5.W": sd["7.weight"].T, "5.b": sd["7.bias"]}
    np.savez(tmp_path / "torch.npz", **arrays)
    s = api.setup(CONFIGS / "digits-cnn.yaml", ["dtype=float64", f"model.init_from={tmp_path / 'torch.npz'}"])
    X = s.splits.test.X[:20]
    ours = s.network.predict(X)
    with torch.no_grad():
        theirs = torch.softmax(net(torch.from_numpy(X).reshape(-1, 1, 8, 8)), dim=1).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def test_predict_takes_images_of_the_runs_shape_and_refuses_others(tmp_path):
    from backprop_cli import api
    run_dir = api.train(CONFIGS / "digits-cnn.yaml", ["training.epochs=1"], runs_dir=tmp_path / "runs").run_dir
    rng = np.random.default_rng(0)
    images = rng.random((4, 1, 8, 8)) * 16
    np.savez(tmp_path / "ok.npz", X=images)
    np.savez(tmp_path / "flat.npz", X=images.reshape(4, 64))
    np.savez(tmp_path / "bad.npz", X=images.reshape(4, 1, 4, 16))
    ok, flat = (run("predict", run_dir, "--data", tmp_path / f) for f in ("ok.npz", "flat.npz"))
    assert ok.exit_code == 0 and ok.output == flat.output and len(ok.output.splitlines()) == 5
    bad = run("predict", run_dir, "--data", tmp_path / "bad.npz")
    assert bad.exit_code == 3
    assert "bad.npz: array 'X' holds images of 1×4×16, expected 1×8×8 as in the run's training data" in bad.output
