"""Data files named in a config are checked with the config: a missing one is a config error
(exit 2, at its line and column) for `config validate` and `train` alike, MNIST's folder and
its four IDX files included. Every config here is in tmp_path, so nothing depends on whether
MNIST is in datasets/mnist."""
from click.testing import CliRunner
from helpers import write

from backprop_cli.cli import main
from backprop_cli.data.sources import MNIST_FILES

MNIST_YAML = """data:
  source: mnist
  dir: {dir}
  scale: pixels
model: {{layers: [{{units: 10, activation: softmax}}]}}
loss: cross_entropy
"""
IRIS_YAML = """data: {source: csv, path: data/iris.csv, target: species}
model: {layers: [{units: 3, activation: softmax}]}
loss: cross_entropy
"""


def validate_and_train(cfg, tmp_path):
    """(exit code, stderr) of `config validate` and of `train`; train must make no run folder."""
    v = CliRunner().invoke(main, ["config", "validate", str(cfg)])
    t = CliRunner().invoke(main, ["train", str(cfg), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    assert not (tmp_path / "runs").exists()
    return (v.exit_code, v.stderr.splitlines()[0]), (t.exit_code, t.stderr.strip())


def test_mnist_folder_not_found_is_exit_2_at_validate_and_train(tmp_path):
    cfg = write(tmp_path / "mnist.yaml", MNIST_YAML.format(dir="../nowhere/mnist"))
    error = (f"Error: {cfg}:3:8: data.dir: folder not found: {tmp_path.parent / 'nowhere' / 'mnist'}; "
             "put MNIST's four IDX files there (see datasets/mnist/README.md)")
    assert validate_and_train(cfg, tmp_path) == ((2, error), (2, error))


def test_mnist_files_missing_from_the_folder_are_named(tmp_path):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").touch()
    (tmp_path / "mnist" / "train-labels-idx1-ubyte").touch()  # not gzipped: found too
    cfg = write(tmp_path / "mnist.yaml", MNIST_YAML.format(dir="mnist"))
    error = (f"Error: {cfg}:3:8: data.dir: no t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz "
             f"(gzipped or not) in {tmp_path / 'mnist'}; expected MNIST's IDX files (see datasets/mnist/README.md)")
    assert validate_and_train(cfg, tmp_path) == ((2, error), (2, error))
    # without the test split only the training files are needed
    write(cfg, MNIST_YAML.format(dir="mnist").replace("scale: pixels", "scale: pixels\n  test: false"))
    assert CliRunner().invoke(main, ["config", "validate", str(cfg)]).exit_code == 0


def test_mnist_with_its_four_files_is_valid(tmp_path):
    (tmp_path / "mnist").mkdir()
    for stem in MNIST_FILES["train"] + MNIST_FILES["test"]:
        (tmp_path / "mnist" / f"{stem}.gz").touch()
    cfg = write(tmp_path / "mnist.yaml", MNIST_YAML.format(dir="mnist"))
    r = CliRunner().invoke(main, ["config", "validate", str(cfg)])
    assert r.exit_code == 0 and r.stdout.splitlines()[0] == f"{cfg}: ok"


def test_a_missing_csv_is_exit_2_at_validate_and_train(tmp_path):
    cfg = write(tmp_path / "iris.yaml", IRIS_YAML)
    error = f"Error: {cfg}:1:27: data.path: file not found: {tmp_path / 'data' / 'iris.csv'}"
    assert validate_and_train(cfg, tmp_path) == ((2, error), (2, error))
