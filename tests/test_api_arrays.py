"""backprop_cli.train from Python: a config as a file path, YAML text or a dict, and the data
as NumPy arrays (or a pandas DataFrame) in place of the config's data section."""
import json

import numpy as np
import pytest

import backprop_cli
from backprop_cli import api
from backprop_cli.errors import ConfigError, DataError, UsageError
from helpers import CONFIGS, ROOT

MODEL = {"model": {"layers": [{"units": 8, "activation": "tanh"}, {"units": 3, "activation": "softmax"}]},
         "loss": "cross_entropy", "optimizer": {"name": "adam", "lr": 0.05}, "training": {"epochs": 30}}
TEXT = """
model:
  layers:
    - {units: 8, activation: tanh}
    - {units: 3, activation: softmax}
loss: cross_entropy
optimizer: {name: adam, lr: 0.05}
training: {epochs: 30}
"""


def iris():
    rows = np.loadtxt(ROOT / "datasets" / "iris.csv", delimiter=",", skiprows=1, usecols=range(4))
    names = np.loadtxt(ROOT / "datasets" / "iris.csv", delimiter=",", skiprows=1, usecols=4, dtype=str)
    order = np.random.default_rng(0).permutation(len(rows))
    return rows[order], names[order]


def test_a_dict_config_with_arrays_trains_as_the_same_config_from_a_csv_would(tmp_path):
    X, y = iris()
    res = backprop_cli.train({**MODEL, "data": {"scale": "standardize", "val_fraction": 0.2}},
                             data=(X, y), runs_dir=tmp_path)
    assert res.summary["classes"] == ["setosa", "versicolor", "virginica"]
    assert res.summary["n_train"] == 120 and res.summary["n_val"] == 30
    assert res.summary["final"]["train_accuracy"] > 0.9
    saved = (res.run_dir / "config.yaml").read_text()
    assert "source: arrays" in saved and "val_fraction: 0.2" in saved
    # the same numbers as the same data from a CSV file
    path = tmp_path / "iris.csv"
    path.write_text("a,b,c,d,species\n" + "\n".join(",".join([*(repr(float(v)) for v in r), c]) for r, c in zip(X, y)))
    csv = backprop_cli.train({**MODEL, "data": {"source": "csv", "path": str(path), "header": "yes",
                                                "scale": "standardize",
                                                "val_fraction": 0.2}}, runs_dir=tmp_path / "csv")
    assert csv.summary["final"]["train_loss"] == res.summary["final"]["train_loss"]


def test_yaml_text_and_a_path_take_arrays_with_separate_splits(tmp_path):
    X, y = iris()
    data = {"train": (X[:100], y[:100]), "val": (X[100:125], y[100:125]), "test": (X[125:], y[125:])}
    res = backprop_cli.train(TEXT, data=data, runs_dir=tmp_path)
    assert (res.summary["n_train"], res.summary["n_val"], res.summary["n_test"]) == (100, 25, 25)
    assert "test_accuracy" in res.summary["test"]
    # a config file's source is replaced; its common options (iris.yaml scales) stay
    res = backprop_cli.train(CONFIGS / "iris.yaml", ["training.epochs=3"], data=(X, y), runs_dir=tmp_path)
    s = api.setup(CONFIGS / "iris.yaml", data=(X, y))
    assert s.config.data["data"]["source"] == "arrays"
    assert s.config.data["data"]["scale"] == api.load_config(CONFIGS / "iris.yaml").data["data"]["scale"]


def test_dataframes_give_feature_names(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = iris()
    df = pd.DataFrame(X, columns=["sepal_l", "sepal_w", "petal_l", "petal_w"])
    res = backprop_cli.train(MODEL, data=(df, pd.Series(y)), runs_dir=tmp_path)
    info = json.loads((res.run_dir / "data.json").read_text())
    assert info["feature_names"] == ["sepal_l", "sepal_w", "petal_l", "petal_w"]


def test_images_keep_their_shape():
    rng = np.random.default_rng(1)
    images, labels = rng.random((40, 1, 6, 6)), np.arange(40) % 2
    cnn = {"model": {"layers": [{"type": "conv2d", "channels": 2, "kernel": 3}, {"type": "flatten"},
                                {"units": 1, "activation": "sigmoid"}]}, "loss": "bce", "training": {"epochs": 2}}
    s = api.setup(cnn, data=(images, labels))
    assert s.splits.shape == (1, 6, 6) and s.network.input_shape == (1, 6, 6)


@pytest.mark.parametrize("data,words", [
    ({"training": (1, 2)}, "expected (X, y) or a mapping of 'train'"),
    ({"train": np.zeros((3, 2))}, "data['train']: expected a pair (X, y)"),
    ((np.zeros((4, 2)), np.zeros(3)), "3 targets in 'y' for 4 examples"),
    ((np.array([[1.0, np.nan], [0.0, 1.0]]), np.array([0, 1])), "NaN or inf"),
    ((np.array([["a", "b"], ["c", "d"]]), np.array([0, 1])), "expected numbers"),
])
def test_bad_arrays_are_data_errors_that_say_what_is_wrong(tmp_path, data, words):
    with pytest.raises(DataError, match=None) as e:
        backprop_cli.train(MODEL, data=data, runs_dir=tmp_path)
    assert words in str(e.value)
    assert not any(tmp_path.iterdir())  # nothing written


def test_configs_that_are_neither_path_text_nor_dict_and_bad_dicts_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="expected a file path, YAML text or a dict, got int"):
        api.setup(3, data=iris())
    with pytest.raises(ConfigError, match=r"<config dict>: optimizer.lr: must be > 0, got -1"):
        api.setup({**MODEL, "optimizer": {"name": "sgd", "lr": -1}}, data=iris())
    with pytest.raises(ConfigError, match=r"<config text>:8:20: training.epochs: must be >= 1, got 0"):
        api.setup(TEXT.replace("epochs: 30", "epochs: 0"), data=iris())


def test_a_run_of_arrays_keeps_them_so_eval_explain_and_resume_read_its_folder(tmp_path):
    import shutil

    from click.testing import CliRunner

    from backprop_cli.cli import main
    X, y = iris()
    X0 = X.copy()
    res = backprop_cli.train({**MODEL, "data": {"scale": "standardize", "test_fraction": 0.2}},
                             data=(X, y), runs_dir=tmp_path / "runs")
    assert np.array_equal(X, X0)  # scaling never touches the caller's arrays
    moved = tmp_path / "elsewhere"
    shutil.copytree(res.run_dir, moved)
    shutil.rmtree(tmp_path / "runs")
    r = CliRunner().invoke(main, ["eval", str(moved), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)["runs"][0]
    assert report["split"] == "test" and report["n"] == 30
    assert report["accuracy"] == pytest.approx(res.summary["test"]["test_accuracy"])
    assert CliRunner().invoke(main, ["explain", "--run", str(moved)]).exit_code == 0
    # without the kept arrays, it says to give them again
    (moved / "arrays.npz").unlink()
    r = CliRunner().invoke(main, ["eval", str(moved)])
    assert r.exit_code == 3
    assert "data.source: arrays: the data was given as arrays from Python; give them again" in r.output


def test_the_readme_example_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("**The library.**"):].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    accuracy, run_dir = capsys.readouterr().out.split()
    assert float(accuracy) > 0.8 and (tmp_path / "runs").exists() and run_dir.startswith(str(tmp_path))


def test_the_public_names_are_listed_and_load_only_when_used():
    import subprocess
    import sys
    code = ("import sys, backprop_cli; heavy = [m for m in ('numpy', 'backprop_cli.api') if m in sys.modules]; "
            "print(heavy, sorted(set(backprop_cli.__all__) - set(dir(backprop_cli))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] []"
    for name in backprop_cli.__all__:
        assert getattr(backprop_cli, name) is not None
    assert backprop_cli.train is api.train and backprop_cli.ConfigError is ConfigError
    with pytest.raises(AttributeError, match="has no attribute 'trian'"):
        backprop_cli.trian  # noqa: B018
    assert (ROOT / "backprop_cli" / "py.typed").is_file()


def test_every_public_function_and_estimator_method_has_type_hints():
    import inspect
    missing = []
    for name in backprop_cli.__all__:
        obj = getattr(backprop_cli, name)
        functions = [(name, obj)] if inspect.isfunction(obj) else [
            (f"{name}.{m}", f) for m, f in vars(obj).items() if inspect.isfunction(f) and
            (not m.startswith("_") or m == "__init__")] if inspect.isclass(obj) and name.startswith("Backprop") else []
        if name.startswith("Backprop"):  # the estimators' shared methods live on their base
            functions += [(f"{name}.{m}", f) for m, f in vars(obj.__mro__[2]).items()
                          if inspect.isfunction(f) and (not m.startswith("_") or m == "__init__")]
        for label, f in functions:
            sig = inspect.signature(f)
            missing += [f"{label}({p})" for p, v in sig.parameters.items()
                        if p != "self" and v.annotation is inspect.Parameter.empty]
            if sig.return_annotation is inspect.Signature.empty:
                missing.append(f"{label} -> ?")
    assert not missing


def test_evaluate_and_predict_take_arrays_as_they_take_an_npz(tmp_path):
    X, y = iris()
    res = backprop_cli.train({**MODEL, "data": {"scale": "standardize"}}, data=(X[:120], y[:120]),
                             runs_dir=tmp_path)
    np.savez(tmp_path / "rest.npz", X=X[120:], y=y[120:])
    from_arrays = backprop_cli.evaluate([res.run_dir], data=(X[120:], y[120:]))["runs"][0]
    from_file = backprop_cli.evaluate([res.run_dir], data=tmp_path / "rest.npz")["runs"][0]
    assert from_arrays["data"] == "<arrays>"
    for key in ("n", "loss", "accuracy", "confusion_matrix"):
        assert from_arrays[key] == from_file[key]
    p_arrays, p_file = backprop_cli.predict(res.run_dir, X[120:]), backprop_cli.predict(res.run_dir, tmp_path / "rest.npz")
    assert p_arrays.classes == p_file.classes and np.array_equal(p_arrays.values, p_file.values)
    with pytest.raises(DataError, match=r"data: expected \(X, y\) to score; give the targets too"):
        backprop_cli.evaluate([res.run_dir], data=X[120:])
    with pytest.raises(DataError, match="has 3 features per example, expected 4"):
        backprop_cli.predict(res.run_dir, X[:, :3])


def test_gradcheck_takes_arrays():
    X, y = iris()
    report = backprop_cli.gradcheck(MODEL, data=(X, y))
    assert report.passed
    assert {c.parameter for c in report.checks} == {"0.W", "0.b", "1.W", "1.b", "input"}
    assert all(c.checked > 0 for c in report.checks)


def test_a_run_of_arrays_resumes_from_its_folder_as_if_never_stopped(tmp_path):
    X, y = iris()
    config = {**MODEL, "training": {"epochs": 6, "batch_size": 16}}
    short = backprop_cli.train({**config, "training": {"epochs": 3, "batch_size": 16}}, data=(X, y),
                               runs_dir=tmp_path / "a")
    go_on = backprop_cli.train(resume=short.run_dir, epochs=6)
    whole = backprop_cli.train(config, data=(X, y), runs_dir=tmp_path / "b")
    for name, w in whole.weights.items():
        np.testing.assert_array_equal(go_on.weights[name], w)
    assert [h["train_loss"] for h in go_on.history] == [h["train_loss"] for h in whole.history]


def test_train_in_memory_writes_nothing_and_load_run_takes_arrays(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = iris()
    res = backprop_cli.train(MODEL, data=(X, y), save=False)
    assert res.run_dir is None and not any(tmp_path.iterdir())
    assert res.summary["run_dir"] is None and len(res.history) == 30
    np.testing.assert_array_equal(res.network.predict(res.setup.splits.train.X[:3]),
                                  res.setup.network.predict(res.setup.splits.train.X[:3]))
    saved = backprop_cli.train(MODEL, data=(X, y), runs_dir=tmp_path / "runs")
    (saved.run_dir / "arrays.npz").unlink()
    with pytest.raises(DataError, match="give them again"):
        backprop_cli.load_run(saved.run_dir)
    s = backprop_cli.load_run(saved.run_dir, data=(X, y))
    for name, w in saved.weights.items():
        np.testing.assert_array_equal(s.network.state_dict()[name], w)
    assert len(s.splits.train) == 150
    with pytest.raises(UsageError, match="which: expected 'best' or 'last', got 'first'"):
        backprop_cli.load_run(saved.run_dir, data=(X, y), which="first")
