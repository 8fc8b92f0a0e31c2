"""BackpropClassifier and BackpropRegressor as scikit-learn users use them: pipelines,
searches, cross-validation, DataFrames, pickling, partial_fit, run folders, and bad input.
scikit-learn's own estimator checks are in test_sklearn_checks.py."""
import json
import pickle
import shutil
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_iris, load_wine, make_moons  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import backprop_cli  # noqa: E402
from backprop_cli.sklearn import BackpropClassifier, BackpropRegressor  # noqa: E402
from helpers import CONFIGS  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def iris():
    return load_iris(return_X_y=True)


def small(**kw):
    return BackpropClassifier(**{"hidden": (16,), "lr": 0.01, "epochs": 100, "random_state": 0, **kw})


# -- the estimator interface ----------------------------------------------------------------
def test_fit_trains_with_the_same_trainer_as_backprop_train_weight_for_weight():
    X, y = iris()
    clf = small(l2=0.01, batch_size=32, epochs=20).fit(X, y)
    res = backprop_cli.train(clf.config_, data=(X, np.unique(y, return_inverse=True)[1]), save=False)
    assert res.run_dir is None
    for name, w in res.weights.items():
        np.testing.assert_array_equal(w, clf.network_.state_dict()[name])
    assert clf.loss_curve_ == [h["train_loss"] for h in res.history]


def test_each_parameter_lands_in_its_config_key():
    X, y = iris()
    clf = BackpropClassifier(hidden=(7, 5), activation="tanh", optimizer={"name": "sgd", "momentum": 0.9},
                             lr=0.05, batch_size=16, epochs=3, l1=0.001, l2=0.01, dropout=0.2,
                             schedule={"name": "step", "step_size": 2}, dtype="float32",
                             scale="standardize", shuffle=False, random_state=7).fit(X, y)
    c = clf.config_
    assert [(l["units"], l["activation"]["name"] if isinstance(l["activation"], dict) else l["activation"],
             l["dropout"]) for l in c["model"]["layers"]] == [(7, "tanh", 0.2), (5, "tanh", 0.2), (3, "softmax", 0.0)]
    assert c["loss"] in ("cross_entropy", {"name": "cross_entropy"})
    assert (c["optimizer"]["name"], c["optimizer"]["lr"], c["optimizer"]["momentum"]) == ("sgd", 0.05, 0.9)
    assert c["training"]["batch_size"] == 16 and c["training"]["epochs"] == 3 and c["training"]["shuffle"] is False
    assert c["regularization"] == {"l1": 0.001, "l2": 0.01}
    assert c["schedule"]["name"] == "step" and c["data"]["scale"] == "standardize"
    assert c["seed"] == 7 and c["dtype"] == "float32"
    assert clf.coefs_[0].dtype == np.float32 and clf.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float64  # outputs in X's precision
    assert c["stopping"]["tol"] == 1e-4 and c["stopping"]["patience"] is None
    early = BackpropClassifier(hidden=(4,), epochs=5, early_stopping=True, validation_fraction=0.2,
                               n_iter_no_change=3, tol=0.01, random_state=0).fit(X, y)
    s = early.config_["stopping"]
    assert (s["patience"], s["min_delta"], early.config_["data"]["val_fraction"]) == (3, 0.01, 0.2)
    assert early.summary_["n_val"] == 30 and len(early.validation_scores_) == early.n_iter_
    assert early.validation_scores_ == [h["val_accuracy"] for h in early.history_]
    assert early.best_loss_ is None and early.best_validation_score_ == max(early.validation_scores_)


def test_a_config_is_the_starting_point_and_parameters_override_it(tmp_path):
    X, y = iris()
    clf = BackpropClassifier(config=CONFIGS / "iris.yaml", epochs=2, random_state=0).fit(X, y)
    from backprop_cli.config import load_config
    file = load_config(CONFIGS / "iris.yaml").data
    assert clf.config_["model"]["layers"] == file["model"]["layers"]  # the config's network
    assert clf.config_["optimizer"] == file["optimizer"] and clf.config_["training"]["epochs"] == 2
    text = "model:\n  layers:\n    - {units: 5, activation: sigmoid}\n    - {units: 3, activation: softmax}\n" \
           "loss: cross_entropy\noptimizer: {name: adam, lr: 0.02}\n"
    t = BackpropClassifier(config=text, lr=0.03, random_state=0, epochs=2).fit(X, y)
    assert t.config_["optimizer"]["lr"] == 0.03 and t.coefs_[0].shape == (4, 5)
    d = BackpropClassifier(config={"optimizer": "rmsprop", "training": {"epochs": 2}}, hidden=(6,),
                           random_state=0).fit(X, y)
    assert d.config_["optimizer"]["name"] == "rmsprop" and d.coefs_[0].shape == (4, 6)


def test_coefs_are_scikit_learns_layout_and_predict_is_their_forward_pass():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = small(hidden=(10, 6), dtype="float64").fit(X, y)
    assert clf.coefs_[0].dtype == np.float64
    assert [w.shape for w in clf.coefs_] == [(13, 10), (10, 6), (6, 3)]
    assert [b.shape for b in clf.intercepts_] == [(10,), (6,), (3,)] and clf.n_layers_ == 4
    a = X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1]):
        a = np.maximum(a @ W + b, 0)
    z = a @ clf.coefs_[-1] + clf.intercepts_[-1]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(X), p, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(clf.decision_function(X), z, rtol=1e-12, atol=1e-12)
    assert (clf.predict(X) == clf.classes_[p.argmax(1)]).all()


def test_binary_decisions_probabilities_and_labels_agree():
    X, y = make_moons(300, noise=0.2, random_state=0)
    labels = np.where(y == 1, "up", "down")
    clf = BackpropClassifier(hidden=(16,), activation="tanh", lr=0.02, epochs=300, random_state=0).fit(X, labels)
    assert list(clf.classes_) == ["down", "up"] and clf.coefs_[-1].shape == (16, 1)
    p, d = clf.predict_proba(X), clf.decision_function(X)
    assert p.shape == (300, 2) and d.shape == (300,)
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-d)), rtol=1e-12)
    assert (clf.predict(X) == np.where(d > 0, "up", "down")).all()
    assert clf.score(X, labels) > 0.95


def test_hinge_has_scores_but_no_probabilities():
    X, y = iris()
    clf = small(loss="hinge", epochs=200).fit(StandardScaler().fit_transform(X), y)
    assert not hasattr(clf, "predict_proba") and clf.config_["model"]["layers"][-1]["activation"] in (
        "identity", {"name": "identity"})
    assert clf.decision_function(X).shape == (150, 3)
    assert not hasattr(BackpropClassifier(loss="hinge"), "predict_proba")


def test_regressor_single_and_several_targets():
    X = np.linspace(-3, 3, 200)[:, None]
    Y = np.column_stack([np.sin(X[:, 0]), np.cos(X[:, 0])])
    reg = BackpropRegressor(hidden=(32,), activation="tanh", lr=0.01, epochs=400, random_state=0)
    assert reg.fit(X, Y[:, 0]).predict(X).shape == (200,) and reg.score(X, Y[:, 0]) > 0.99
    two = clone(reg).fit(X, Y)
    assert two.predict(X).shape == (200, 2) and two.score(X, Y) > 0.98
    assert two.config_["loss"] in ("mse", {"name": "mse"}) and two.coefs_[-1].shape == (32, 2)
    early = clone(reg).set_params(early_stopping=True, epochs=50).fit(X, Y[:, 0])
    assert len(early.validation_scores_) == early.n_iter_ and early.validation_scores_[-1] > 0.5


def test_get_set_params_and_clone_round_trip():
    clf = BackpropClassifier(hidden=(8, 4), optimizer={"name": "adam", "beta1": 0.8}, config={"seed": 3})
    twin = clone(clf)
    assert twin.get_params() == clf.get_params() and twin.optimizer is not clf.optimizer
    twin.set_params(lr=0.5, hidden=(2,))
    assert (twin.lr, twin.hidden) == (0.5, (2,)) and clf.lr is None


def test_same_random_state_same_model_and_none_differs():
    X, y = iris()
    a, b = small(epochs=10).fit(X, y), small(epochs=10).fit(X, y)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    c, d = small(epochs=10, random_state=None).fit(X, y), small(epochs=10, random_state=None).fit(X, y)
    assert not np.array_equal(c.coefs_[0], d.coefs_[0])
    e = small(epochs=10, random_state=np.random.RandomState(5)).fit(X, y)
    f = small(epochs=10, random_state=np.random.RandomState(5)).fit(X, y)
    np.testing.assert_array_equal(e.coefs_[0], f.coefs_[0])


def test_the_epoch_limit_without_convergence_warns_as_scikit_learn_does():
    X, y = iris()
    with pytest.warns(ConvergenceWarning, match=r"epoch limit \(3\) was reached"):
        small(epochs=3).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small(epochs=3, early_stopping=True).fit(X, y)  # no convergence test: no warning


# -- scikit-learn's tools -------------------------------------------------------------------
def test_pipeline_with_a_scaler():
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), small(epochs=50))
    assert pipe.fit(X[::2], y[::2]).score(X[1::2], y[1::2]) > 0.94


def test_grid_and_randomized_search_on_two_processes():
    X, y = iris()
    X = StandardScaler().fit_transform(X)
    grid = GridSearchCV(small(epochs=60), {"hidden": [(4,), (16,)], "lr": [0.001, 0.03]}, cv=3, n_jobs=2)
    grid.fit(X, y)
    assert grid.best_params_["lr"] == 0.03 and grid.best_score_ > 0.9
    scores = grid.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.isfinite(scores).all() and len(set(np.round(scores, 6))) > 1
    rand = RandomizedSearchCV(small(epochs=60), {"lr": [0.001, 0.01, 0.03], "l2": [0.0, 0.1]},
                              n_iter=3, cv=3, n_jobs=2, random_state=0).fit(X, y)
    assert rand.best_score_ > 0.8 and isinstance(rand.best_estimator_, BackpropClassifier)


def test_cross_val_score():
    X, y = load_wine(return_X_y=True)
    scores = cross_val_score(make_pipeline(StandardScaler(), small(epochs=60)), X, y, cv=5)
    assert len(scores) == 5 and scores.mean() > 0.93


def test_pandas_dataframes_and_series():
    pd = pytest.importorskip("pandas")
    data = load_iris(as_frame=True)
    X, y = data.data, data.target.map(dict(enumerate(data.target_names)))
    clf = small(epochs=150, scale="standardize").fit(X, y)
    assert list(clf.feature_names_in_) == list(X.columns) and clf.n_features_in_ == 4
    pred = clf.predict(X)
    assert set(pred) <= {"setosa", "versicolor", "virginica"} and clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(X.rename(columns={X.columns[0]: "other"}))
    reg = BackpropRegressor(hidden=(8,), epochs=20, random_state=0).fit(X, pd.Series(data.target, dtype=float))
    assert reg.predict(X).shape == (150,)


# -- fitted state: pickling, partial_fit, run folders -----------------------------------------
def test_pickle_and_joblib_keep_the_model_and_training_goes_on_identically(tmp_path):
    joblib = pytest.importorskip("joblib")
    X, y = iris()
    clf = small(epochs=20).fit(X, y)
    joblib.dump(clf, tmp_path / "clf.joblib")
    back = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    again = pickle.loads(pickle.dumps(clf))
    assert again.coefs_[0] is not clf.coefs_[0]
    again.partial_fit(X, y)
    clf.partial_fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert clf.n_iter_ == again.n_iter_ == 21


def test_partial_fit_is_fit_one_epoch_at_a_time():
    X, y = iris()
    whole = small(epochs=5, batch_size=32).fit(X, y)
    steps = small(batch_size=32)
    for _ in range(5):
        steps.partial_fit(X, y, classes=np.unique(y))
    for a, b in zip(whole.coefs_, steps.coefs_):
        np.testing.assert_array_equal(a, b)
    assert steps.n_iter_ == 5 and steps.loss_curve_ == whole.loss_curve_


def test_partial_fit_on_batches_with_one_class_each():
    X, y = iris()
    clf = small(lr=0.02)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    for epoch in range(30):
        for k in range(3):
            clf.partial_fit(X[y == k], y[y == k], classes=[0, 1, 2])
    assert clf.n_iter_ == 90 and clf.t_ == 30 * 150 and clf.score(X, y) > 0.6
    with pytest.raises(ValueError, match=r"labels \[7\] not in classes"):
        clf.partial_fit(X[:3], [0, 7, 1])
    with pytest.raises(ValueError, match="scale"):
        small(scale="standardize").partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="X has 3 features"):
        clf.partial_fit(X[:, :3], y)


def test_run_dir_writes_a_run_folder_the_cli_reads(tmp_path):
    from click.testing import CliRunner

    from backprop_cli.cli import main
    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = small(epochs=30, run_dir=tmp_path / "runs", early_stopping=True).fit(X, y)
    run = clf.run_dir_
    assert run.parent == tmp_path / "runs" and run.name.startswith("backprop-classification-")
    assert {"config.yaml", "metrics.jsonl", "summary.json", "arrays.npz", "data.json"} <= {p.name for p in run.iterdir()}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["train_loss"] for r in rows] == pytest.approx(clf.loss_curve_)
    moved = shutil.copytree(run, tmp_path / "moved")
    r = CliRunner().invoke(main, ["eval", str(moved), "--data", str(CONFIGS.parent / "datasets" / "iris.csv"),
                                  "--json"])
    # the run knows the DataFrame's column names, and the CSV's differ: a data error naming them
    assert r.exit_code == 3 and "missing 'sepal length (cm)' (did you mean 'sepal_length_cm'?)" in r.output
    r = CliRunner().invoke(main, ["eval", str(moved), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)["runs"][0]
    assert report["split"] == "val" and report["n"] == 15
    val = clf.history_[clf.summary_["best"]["epoch"] - 1]["val_accuracy"]
    assert report["accuracy"] == pytest.approx(val)
    for args in (["explain", "--run", str(moved)], ["plot", str(moved), "-o", str(tmp_path / "loss.png")]):
        out = CliRunner().invoke(main, args)
        assert out.exit_code == 0, (args, out.output)
    none = small(epochs=2).fit(X, y)
    assert none.run_dir_ is None


# -- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), y), "Input X contains NaN"),
    (lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X), y), "Input X contains infinity"),
    (lambda X, y: (X[:, 0], y), "Expected 2D array, got 1D array"),
    (lambda X, y: (X, y[:-1]), "inconsistent numbers of samples"),
    (lambda X, y: (X.astype(str).astype(object) + "x", y), "could not convert|Unable to convert"),
    (lambda X, y: (X, np.zeros_like(y)), "the data contains only one class: 0$"),
    (lambda X, y: (X, y + 0.5), "Unknown label type"),
])
def test_bad_arrays_are_value_errors_with_scikit_learns_messages(make, message):
    X, y = iris()
    with pytest.raises(ValueError, match=message):
        small(epochs=2).fit(*make(X.copy(), y))


def test_bad_parameters_get_the_config_schemas_messages():
    X, y = iris()
    with pytest.raises(ValueError, match=r"BackpropClassifier: optimizer.lr: must be > 0, got -1"):
        small(lr=-1).fit(X, y)
    with pytest.raises(ValueError, match=r"model.layers.0.activation: unknown activation 'relux'.*relu"):
        small(activation="relux").fit(X, y)
    with pytest.raises(ValueError, match=r"training.epochs: must be >= 1, got 0"):
        small(epochs=0).fit(X, y)
    with pytest.raises(ValueError, match="layers: expected a list of layer mappings"):
        small(layers=[64]).fit(X, y)
    with pytest.raises(ValueError, match="random_state"):
        small(random_state=-1).fit(X, y)
    big = np.random.default_rng(0).normal(size=(100, 3))
    with pytest.raises(ValueError, match=r"BackpropRegressor: training diverged \(train_loss is nan at "
                                         r"epoch \d+\); try a smaller lr"):
        BackpropRegressor(optimizer="sgd", lr=1.0, epochs=50).fit(big, 100 * big.sum(1))


def test_not_fitted_and_wrong_feature_counts():
    X, y = iris()
    clf = small(epochs=2)
    for method in ("predict", "predict_proba", "decision_function"):
        with pytest.raises(NotFittedError):
            getattr(clf, method)(X)
    clf.fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but BackpropClassifier is expecting 4"):
        clf.predict(X[:, :3])


def test_conv_layers_from_the_estimator():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    clf = BackpropClassifier(layers=[{"type": "conv2d", "channels": 4, "kernel": 3},
                                     {"type": "maxpool2d", "kernel": 2}, {"type": "flatten"}],
                             config={"data": {"shape": [1, 8, 8], "scale": "pixels", "pixel_max": 16}},
                             epochs=10, batch_size=32, lr=0.01, random_state=0).fit(X[:600], y[:600])
    assert clf.coefs_[0].shape == (4, 1, 3, 3) and clf.score(X[600:900], y[600:900]) > 0.8


def test_the_readme_walkthrough_runs_and_the_cli_reads_its_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    import glob
    import re

    import matplotlib
    from click.testing import CliRunner

    from backprop_cli.cli import main
    from helpers import ROOT
    matplotlib.use("Agg")
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## From Python"):readme.index("**The library.**")]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    commands = section.split("```bash\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy (\S+) after", out).group(1))
    assert accuracy > 0.9 and (tmp_path / "wine-curves.png").stat().st_size > 1000
    assert "backpropclassifier__hidden" in out
    for line in commands.strip().splitlines():
        args = line.split("#")[0].split()[1:]
        args = [a for arg in args for a in (sorted(glob.glob(arg)) if "*" in arg else [arg])]
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, (line, r.output)


def test_verbose_prints_a_line_per_epoch(capsys):
    X, y = iris()
    small(epochs=3, verbose=True).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["Iteration 1", "Iteration 2", "Iteration 3"]


@pytest.mark.parametrize("loss, activation", [("bce", "sigmoid"), ("quadratic", "sigmoid"),
                                              ("cross_entropy", "softmax"), ("hinge", "identity")])
def test_every_classification_loss_makes_its_output_layer(loss, activation):
    X, y = iris()
    clf = small(loss=loss, epochs=200).fit(StandardScaler().fit_transform(X), y)
    out = clf.config_["model"]["layers"][-1]
    assert (out["units"], out["activation"]) == (3, activation) and clf.config_["data"]["task"] == "classification"
    binary = small(loss=loss, epochs=5).fit(X, y > 0)
    assert binary.config_["model"]["layers"][-1]["units"] == (2 if loss == "cross_entropy" else 1)
    assert binary.decision_function(X).shape == (150,)
    if loss != "hinge":
        p = clf.predict_proba(StandardScaler().fit_transform(X))
        np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
        assert (clf.classes_[p.argmax(1)] == clf.predict(StandardScaler().fit_transform(X))).all()


@pytest.mark.parametrize("labels", ["numbers", "names"])
def test_from_run_gives_the_fitted_estimator_back_without_pickles(tmp_path, labels):
    X, y = iris()
    y = y if labels == "numbers" else np.array(["setosa", "versicolor", "virginica"])[y]
    clf = small(epochs=20, run_dir=tmp_path, early_stopping=True, batch_size=32).fit(X, y)
    back = BackpropClassifier.from_run(clf.run_dir_)
    assert back.classes_.tolist() == clf.classes_.tolist() and back.n_features_in_ == 4
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert (back.predict(X) == clf.predict(X)).all() and back.loss_curve_ == clf.loss_curve_
    assert back.n_iter_ == clf.n_iter_ and back.validation_scores_ == clf.validation_scores_
    back.partial_fit(X, y)
    clf.partial_fit(X, y)
    np.testing.assert_array_equal(back.coefs_[0], clf.coefs_[0])  # the optimizer state came back too
    with pytest.raises(ValueError, match="is a classification run; use BackpropClassifier"):
        BackpropRegressor.from_run(clf.run_dir_)
    with pytest.raises(ValueError, match="no such run folder"):
        BackpropClassifier.from_run(tmp_path / "nothing")


def test_layers_own_keys_win_and_the_estimator_holds_out_data_for_early_stopping_only():
    X, y = iris()
    clf = small(layers=[{"units": 8, "activation": "tanh", "dropout": 0.5}, {"units": 4}],
                activation="sigmoid", dropout=0.1, epochs=2).fit(X, y)
    hidden = clf.config_["model"]["layers"][:2]
    assert [(h["activation"], h["dropout"]) for h in hidden] == [("tanh", 0.5), ("sigmoid", 0.1)]
    # iris.yaml holds out val and test fractions; an estimator trains on all it is given
    full = BackpropClassifier(config=CONFIGS / "iris.yaml", epochs=2, random_state=0).fit(X, y)
    assert (full.summary_["n_train"], full.summary_["n_val"], full.summary_["n_test"]) == (150, 0, 0)
    early = BackpropClassifier(config=CONFIGS / "iris.yaml", epochs=2, early_stopping=True,
                               validation_fraction=0.2, random_state=0).fit(X, y)
    assert (early.summary_["n_train"], early.summary_["n_val"]) == (120, 30)


def test_a_callback_needs_only_the_hooks_it_uses():
    seen = []

    class Duck:
        def on_epoch_end(self, state):
            seen.append(state.epoch)
    X, y = iris()
    backprop_cli.train({"model": {"layers": [{"units": 3, "activation": "softmax"}]}, "loss": "cross_entropy",
                        "training": {"epochs": 3}}, data=(X, y), save=False, callbacks=[Duck()])
    assert seen == [1, 2, 3]
    assert len(repr(backprop_cli.train({"model": {"layers": [{"units": 3, "activation": "softmax"}]},
                                        "loss": "cross_entropy"}, data=(X, y), save=False))) < 200
    with pytest.raises(backprop_cli.ConfigError, match="give a config"):
        backprop_cli.train()


def test_without_scikit_learn_the_estimators_say_which_extra_to_install():
    import subprocess
    import sys
    code = ("import sys; sys.modules['sklearn'] = None\n"  # as if not installed
            "import backprop_cli\n"
            "try:\n    backprop_cli.BackpropClassifier\nexcept ImportError as e:\n    print(e)\n"
            "try:\n    import backprop_cli.sklearn\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["backprop_cli.sklearn needs scikit-learn: pip install 'backprop-cli[sklearn]'"] * 2


def test_a_callback_without_on_train_end_sees_a_run_abandoned_at_ctrl_c(tmp_path):
    class Duck:  # only on_epoch_end: the rolled-back run must not need the other hooks
        def on_epoch_end(self, state):
            if state.epoch == 3:
                raise KeyboardInterrupt
    r = backprop_cli.train(CONFIGS / "iris.yaml", ["training.epochs=10"], runs_dir=tmp_path,
                           callbacks=[Duck()])
    assert r.summary["interrupted"] and "epoch 3 abandoned" in r.summary["stop_reason"]
