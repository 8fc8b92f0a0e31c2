"""`backprop data show`, bad data through the CLI (one line, exit 3), test metrics and
preprocessing in the run folder, the shipped datasets, and MNIST when it is present."""
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from backprop_cli.cli import main
from backprop_cli.data import preprocess
from helpers import CONFIGS, ROOT, write

MNIST = Path(os.environ.get("BACKPROP_MNIST_DIR", ROOT.parent / "shared" / "data" / "mnist"))


def cli(*args):
    return CliRunner().invoke(main, list(map(str, args)))


MODEL = "model: {layers: [{units: 4, activation: tanh}, {units: 1, activation: sigmoid}]}\nloss: bce\n"


def test_data_show_json_summarises_splits_classes_and_ranges(tmp_path):
    cfg = write(tmp_path / "c.yaml", "data: {source: moons, n: 100, val_fraction: 0.2, test_fraction: 0.1, "
                "scale: minmax}\n" + MODEL)
    r = cli("data", "show", cfg, "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["source"] == "moons" and s["task"] == "classification" and s["classes"] == ["0", "1"]
    assert {k: v["n"] for k, v in s["splits"].items()} == {"train": 70, "val": 20, "test": 10}
    assert s["splits"]["val"]["class_counts"] == {"0": 10, "1": 10}
    assert s["splits"]["val"]["from"] == "fraction 0.2" and s["splits"]["train"]["X"] == [70, 2]
    assert s["splits"]["train"]["feature_range"] == [0.0, 1.0]  # minmax on the training split
    assert [f["min"] for f in s["features"]] == [0.0, 0.0] and [f["max"] for f in s["features"]] == [1.0, 1.0]


def test_data_show_table_on_stderr(tmp_path):
    r = cli("data", "show", CONFIGS / "iris.yaml")
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    for text in ("source csv", "task classification", "features 4", "scale standardize",
                 "class balance", "setosa", "10 (33.3%)", "petal_width_cm", "fraction 0.2"):
        assert text in r.stderr, text


def test_data_show_set_overrides(tmp_path):
    r = cli("data", "show", CONFIGS / "iris.yaml", "--set", "data.test_fraction=0", "--json")
    assert r.exit_code == 0, r.output
    assert set(json.loads(r.stdout)["splits"]) == {"train", "val"}


@pytest.mark.parametrize("files, data, message", [
    ({"d.csv": "a,b\n1,0\n2,oops\n3,1\n"}, "{source: csv, path: d.csv}", "{d}/d.csv:3: column 'b': not a number: 'oops' (only numeric columns are supported)"),
    ({"d.csv": "a,b\n1,0\n2\n"}, "{source: csv, path: d.csv}", "{d}/d.csv:3: row has 1 fields, expected 2 (ragged rows)"),
    ({"d.csv": "a,b\nnan,0\n2,1\ninf,0\n"}, "{source: csv, path: d.csv}", "{d}/d.csv: 2 NaN or inf value(s), the first at line 2, column 'a'"),
    ({"d.csv": "a,b\n1,0\n2,1\n"}, "{source: csv, path: d.csv, target: label}", "{d}/d.csv: data.target: no column 'label' (columns: a, b)"),
    ({"d.csv": "a,b\n1,1\n2,1\n"}, "{source: csv, path: d.csv}", "{d}/d.csv: the target has one class only (1); classification needs at least 2"),
    ({"d.csv": "a,b,c\n1,0,1\n2,1,0\n"}, "{source: csv, path: d.csv}\nmodel: {input_size: 3, layers: [{units: 1, activation: sigmoid}]}",
     "{d}/d.csv: model.input_size: the model takes 3 inputs but the data has 2 features"),
    ({"d.csv": "a,b\n1,0\n2,2\n3,1\n"}, "{source: csv, path: d.csv}", "{d}/d.csv: model.layers: the output layer has 1 units but the data has 3 classes (expected 3)"),
    ({"im.gz": gzip.compress(b"\x89PNG" + bytes(40)), "lb.gz": b""}, "{source: idx, images: im.gz, labels: lb.gz}",
     "{d}/im.gz: not an IDX file: magic number 2303741511 (0x89504E47), expected 0x000008NN to 0x00000ENN, e.g. 2051 for images and 2049 for labels"),
])
@pytest.mark.parametrize("command", [["train", "--quiet"], ["data", "show"]])
def test_bad_data_is_one_line_and_exit_3(tmp_path, files, data, message, command):
    for name, content in files.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    model = "" if "model:" in data else "\nmodel: {layers: [{units: 1, activation: sigmoid}]}"
    cfg = write(tmp_path / "c.yaml", f"data: {data}{model}\nloss: bce\n")
    r = cli(command[0], *command[1:], cfg)
    assert r.exit_code == 3, r.output
    assert r.stderr == f"Error: {message.format(d=tmp_path)}\n"
    assert not (tmp_path / "runs").exists()


def test_a_missing_data_file_is_found_when_the_config_is_validated(tmp_path):
    cfg = write(tmp_path / "c.yaml", "data: {source: csv, path: nope.csv}\n" + MODEL)
    r = cli("data", "show", cfg)
    assert r.exit_code == 2
    assert r.stderr.startswith(f"Error: {cfg}:1:27: data.path: file not found: ")
    assert r.stderr.endswith("nope.csv\n") and r.stderr.count("\n") == 1


def test_train_evaluates_the_test_split_and_stores_preprocessing(tmp_path):
    r = cli("train", CONFIGS / "iris.yaml", "--json", "--quiet", "--runs-dir", tmp_path / "runs")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert (s["n_train"], s["n_val"], s["n_test"]) == (90, 30, 30)
    assert s["classes"] == ["setosa", "versicolor", "virginica"]
    assert set(s["test"]) == {"test_loss", "test_accuracy"} and s["test"]["test_accuracy"] >= 0.85
    prep, classes = preprocess.load(Path(s["run_dir"]) / "preprocessing.npz")
    assert classes == s["classes"] and str(prep["scale"]) == "standardize"
    iris = np.loadtxt(CONFIGS.parent / "datasets" / "iris.csv", delimiter=",", skiprows=1, usecols=range(4))
    assert prep["shift"].shape == (4,)
    # statistics of the 90 training rows: within the data's range, not those of all 150 rows
    assert (prep["shift"] > iris.min(axis=0)).all() and (prep["shift"] < iris.max(axis=0)).all()
    assert not np.allclose(prep["shift"], iris.mean(axis=0))


@pytest.mark.parametrize("name", ["iris", "digits"])
def test_shipped_datasets_load(name):
    r = cli("data", "show", CONFIGS / f"{name}.yaml", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    n = sum(sp["n"] for sp in s["splits"].values())
    assert (n, s["n_features"], len(s["classes"])) == {"iris": (150, 4, 3), "digits": (1797, 64, 10)}[name]


@pytest.mark.skipif(not (MNIST / "train-images-idx3-ubyte.gz").is_file(),
                    reason=f"data not shipped: MNIST not found in {MNIST} (set BACKPROP_MNIST_DIR)")
def test_mnist_parses_fast_with_the_known_label_counts(tmp_path):
    from backprop_cli.data.sources import Mnist
    t = time.perf_counter()
    raw = Mnist(dir=str(MNIST)).load(".", np.random.default_rng(0))
    elapsed = time.perf_counter() - t
    assert raw["X"].shape == (60000, 784) and raw["X"].dtype == np.uint8
    assert raw["test"]["X"].shape == (10000, 784)
    assert np.bincount(raw["y"]).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(raw["test"]["y"]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert raw["X"].max() == 255 and raw["X"].min() == 0
    assert elapsed < 5.0, f"parsing MNIST took {elapsed:.2f} s"


def show_json(tmp_path, data, model=MODEL, **files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    r = cli("data", "show", write(tmp_path / "c.yaml", f"data: {data}\n{model}"), "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_data_show_names_the_files_and_where_each_split_comes_from(tmp_path):
    s = show_json(tmp_path, "{source: csv, path: d.csv, test_path: t.csv, val_fraction: 0.25}",
                  **{"d.csv": "a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(8)), "t.csv": "a,y\n1,0\n2,0\n"})
    assert s["paths"] == {"train": str(tmp_path / "d.csv"), "test": str(tmp_path / "t.csv")}
    assert {k: v["from"] for k, v in s["splits"].items()} == {"train": "file, the rest", "val": "fraction 0.25",
                                                              "test": "file"}
    assert s["splits"]["test"]["class_counts"] == {"0": 2, "1": 0}  # a class absent from a split counts 0
    assert show_json(tmp_path, "{source: csv, path: d.csv}")["splits"]["train"]["from"] == "file"
    generated = show_json(tmp_path, "{source: moons, n: 20}")
    assert generated["paths"] == {} and generated["splits"]["train"]["from"] == "generated"
    generated = show_json(tmp_path, "{source: moons, n: 20, test_fraction: 0.5}")
    assert generated["splits"]["train"]["from"] == "generated, the rest"


def test_data_show_target_range_for_regression(tmp_path):
    s = show_json(tmp_path, "{source: csv, path: r.csv, task: regression}",
                  "model: {layers: [{units: 1, activation: identity}]}\nloss: mse\n",
                  **{"r.csv": "x,t\n1,0.5\n2,-1.25\n3,3\n"})
    assert s["splits"]["train"]["target_range"] == [-1.25, 3.0] and "class_counts" not in s["splits"]["train"]


def test_data_show_feature_statistics_are_the_files_numbers(tmp_path):
    """Per feature min, max, mean and std of the training split (float32 by default), as the
    numbers written in the file: no float32 noise (4.9 stays 4.9), no -0, and a mean and std
    accumulated in float64."""
    cols = {"p": [4.9, 7.3, 5.1, 6.0, 5.5], "q": [-1e-7, 1.0, 2.0, 0.5, 0.25],
            "r": [1e6, 1e6 + 1, 1e6 + 1, 1e6 + 1, 1e6]}
    rows = "".join(f"{p},{q},{r},{i % 2}\n" for i, (p, q, r) in enumerate(zip(*cols.values())))
    s = show_json(tmp_path, "{source: csv, path: f.csv}", **{"f.csv": "p,q,r,y\n" + rows})
    assert [f["name"] for f in s["features"]] == ["p", "q", "r"]
    for f, values in zip(s["features"], cols.values()):
        x = np.array(values, dtype=np.float32).astype(np.float64)
        assert (f["mean"], f["std"]) == (round(x.mean(), 6), round(x.std(), 6)), f
    p, q, _ = s["features"]
    assert (p["min"], p["max"]) == (4.9, 7.3)
    assert q["min"] == 0.0 and '"min": -0.0' not in json.dumps(s)
