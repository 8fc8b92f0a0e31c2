"""`backprop eval` and `backprop predict` on real runs."""
import csv
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner

from backprop_cli import api, scoring
from backprop_cli.cli import main
from helpers import XOR_YAML, write

BLOBS = """
data: {source: csv, path: points.csv, target: label, scale: standardize, test_fraction: 0.25}
model: {layers: [{units: 6, activation: tanh}, {units: 3, activation: softmax}]}
loss: cross_entropy
optimizer: {name: sgd, lr: 0.3}
training: {epochs: 40, batch_size: 8}
"""


@pytest.fixture
def points(tmp_path):
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [4, 0], [0, 4]])
    labels = np.repeat(["red", "green", "blue"], 40)
    X = np.concatenate([c + rng.normal(size=(40, 2)) for c in centers]) * 10 + 50
    rows = "\n".join(f"{a:.5f},{b:.5f},{c}" for (a, b), c in zip(X, labels))
    write(tmp_path / "points.csv", "x,y,label\n" + rows + "\n")
    return write(tmp_path / "blobs.yaml", BLOBS)


def run(args):
    return CliRunner().invoke(main, args)


def test_eval_reports_and_writes_eval_json(points, tmp_path):
    res = api.train(points, runs_dir=tmp_path / "runs")
    r = run(["eval", str(res.run_dir), "--json", "--checkpoint", "last"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    one = rep["runs"][0]
    assert rep["task"] == "classification" and one["split"] == "test" and one["n"] == 30
    assert [c["class"] for c in one["per_class"]] == ["blue", "green", "red"]
    cm = np.array(one["confusion_matrix"])
    assert cm.sum() == 30 and cm.sum(axis=1).tolist() == [c["support"] for c in one["per_class"]]
    assert one["accuracy"] == pytest.approx(np.trace(cm) / 30)
    assert one["accuracy"] == pytest.approx(res.summary["test"]["test_accuracy"])
    assert one["loss"] == pytest.approx(res.summary["test"]["test_loss"], rel=1e-9)
    assert json.loads((res.run_dir / "eval.json").read_text())["runs"][0]["accuracy"] == one["accuracy"]
    assert one["checkpoint"].endswith("last.npz") and one["epoch"] == res.summary["epochs"]
    best = json.loads(run(["eval", str(res.run_dir), "--json"]).stdout)["runs"][0]
    assert best["checkpoint"].endswith("best.npz") and best["epoch"] == res.summary["best"]["epoch"]
    r = run(["eval", str(res.run_dir)])
    assert r.exit_code == 0 and "confusion matrix" in r.stderr and "macro avg" in r.stderr


def test_ensemble_is_the_average_of_probabilities(points, tmp_path):
    a = api.train(points, runs_dir=tmp_path / "runs")
    b = api.train(points, ["optimizer.lr=0.05"], runs_dir=tmp_path / "runs")  # same seed: same split
    rep = scoring.evaluate([a.run_dir, b.run_dir])
    ma, mb = scoring.load_member(a.run_dir), scoring.load_member(b.run_dir)
    _, Xa, _, labels = scoring.run_split(ma)
    _, Xb, _, _ = scoring.run_split(mb)
    p = (ma.network.predict(Xa) + mb.network.predict(Xb)) / 2
    assert rep["ensemble"]["accuracy"] == pytest.approx(np.mean(p.argmax(axis=1) == labels))
    assert rep["ensemble"]["members"] == [a.run_dir.name, b.run_dir.name]
    c = api.train(points, ["seed=5"], runs_dir=tmp_path / "runs")      # another split
    r = run(["eval", str(a.run_dir), str(c.run_dir)])
    assert r.exit_code == 2 and "test split differs" in r.stderr
    r = run(["eval", str(a.run_dir), str(c.run_dir), "--data", str(tmp_path / "points.csv"), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["ensemble"]["n"] == 120


def test_eval_on_new_data_uses_the_stored_scaling(points, tmp_path):
    res = api.train(points, runs_dir=tmp_path / "runs")
    rep = scoring.evaluate([res.run_dir], data=tmp_path / "points.csv")
    m = scoring.load_member(res.run_dir)
    raw = np.loadtxt(tmp_path / "points.csv", delimiter=",", skiprows=1, usecols=(0, 1))
    X = (raw - m.prep["shift"]) / m.prep["divisor"]
    pred = m.network.predict(X).argmax(axis=1)
    names = np.loadtxt(tmp_path / "points.csv", delimiter=",", skiprows=1, usecols=2, dtype=str)
    truth = np.array([m.classes.index(n) for n in names])
    assert rep["runs"][0]["accuracy"] == pytest.approx(np.mean(pred == truth))
    write(tmp_path / "bad.csv", "x,y,z,label\n1,2,3,red\n")
    r = run(["eval", str(res.run_dir), "--data", str(tmp_path / "bad.csv")])
    assert r.exit_code == 3 and "bad.csv: the header does not match the run's columns: unexpected 'z'" in r.stderr
    write(tmp_path / "odd.csv", "x,y,label\n1,2,red\n\n1,2,purple\n")
    r = run(["eval", str(res.run_dir), "--data", str(tmp_path / "odd.csv")])
    assert r.exit_code == 3
    assert ("odd.csv:4: column 'label': class 'purple' is not one the run was trained on "
            "(blue, green, red)") in r.stderr


def test_predict_writes_classes_and_probabilities(points, tmp_path):
    res = api.train(points, runs_dir=tmp_path / "runs")
    write(tmp_path / "new.csv", "x,y\n50,50\n90,50\n50,90\n")
    r = run(["predict", str(res.run_dir), "--data", str(tmp_path / "new.csv")])
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["class", "p_blue", "p_green", "p_red"]
    assert [row[0] for row in rows[1:]] == ["red", "green", "blue"]   # the three centres
    for row in rows[1:]:
        assert sum(map(float, row[1:])) == pytest.approx(1.0, abs=1e-6)
    out = tmp_path / "pred.csv"
    r = run(["predict", str(res.run_dir), "--data", str(tmp_path / "points.csv"), "-o", str(out)])
    assert r.exit_code == 0 and len(out.read_text().splitlines()) == 121   # target column ignored


def test_regression_eval_and_errors(tmp_path):
    x = np.linspace(-1, 1, 40)
    write(tmp_path / "line.csv", "x,y\n" + "\n".join(f"{a},{2 * a + 1}" for a in x) + "\n")
    cfg = write(tmp_path / "line.yaml", """
data: {source: csv, path: line.csv, test_fraction: 0.25}
model: {layers: [{units: 1}]}
loss: mse
optimizer: {name: sgd, lr: 0.1}
training: {epochs: 300, batch_size: full}
""")
    res = api.train(cfg, runs_dir=tmp_path / "runs")
    rep = json.loads(run(["eval", str(res.run_dir), "--json"]).stdout)["runs"][0]
    assert rep["r2"] > 0.999 and rep["mse"] == pytest.approx(rep["loss"], rel=1e-9)
    r = run(["eval", str(tmp_path)])
    assert r.exit_code == 3 and "no checkpoints/best.npz" in r.stderr
    r = run(["eval", str(res.run_dir), "--set", "optimizer.lr=-1"])
    assert r.exit_code == 2 and "optimizer.lr: must be > 0, got -1" in r.stderr
    r = run(["predict", str(res.run_dir), "--data", str(tmp_path / "nope.csv")])
    assert r.exit_code == 3 and "file not found" in r.stderr


def test_a_run_folder_alone_predicts_and_scores_new_files(points, tmp_path):
    """Issue 13.3: predict and eval --data need the run folder and the new file only."""
    import shutil
    res = api.train(points, runs_dir=tmp_path / "runs")
    write(tmp_path / "new.csv", "x,y,label\n50,50,red\n90,50,green\n50,90,blue\n")
    args = ["--data", str(tmp_path / "new.csv")]
    before = run(["predict", str(res.run_dir), *args])
    scored = json.loads(run(["eval", str(res.run_dir), *args, "--json"]).stdout)["runs"][0]
    assert before.exit_code == 0 and len(before.stdout.splitlines()) == 4
    info = json.loads((res.run_dir / "data.json").read_text())
    assert info["feature_names"] == ["x", "y"] and info["target_names"] == ["label"]
    assert info["classes"] == ["blue", "green", "red"] and info["n_features"] == 2
    assert info["format"] == 1 and info["source"] == "csv" and info["task"] == "classification"
    assert info["columns"] == {"names": ["x", "y", "label"], "width": 3, "features": [0, 1],
                               "targets": [2], "dropped": []}
    (tmp_path / "points.csv").unlink()                    # the training file is gone
    elsewhere = shutil.copytree(res.run_dir, tmp_path / "copied" / "run")
    shutil.rmtree(res.run_dir)                            # and the run moved
    after = run(["predict", str(elsewhere), *args])
    assert after.exit_code == 0, after.output
    assert after.stdout == before.stdout
    r = run(["eval", str(elsewhere), *args, "--json"])
    assert r.exit_code == 0, r.output
    again = json.loads(r.stdout)["runs"][0]
    assert again["accuracy"] == scored["accuracy"] and again["loss"] == scored["loss"]
    r = run(["eval", str(elsewhere)])                     # its own test split needs the data
    assert r.exit_code == 3 and "points.csv" in r.stderr and "give --data FILE" in r.stderr


def test_built_in_data_gets_feature_names(tmp_path):
    res = api.train(write(tmp_path / "xor.yaml", XOR_YAML), runs_dir=tmp_path / "runs")
    info = json.loads((res.run_dir / "data.json").read_text())
    assert info["feature_names"] == ["x0", "x1"] and info["target_names"] == ["y"]
    assert info["source"] == "xor" and info["columns"] is None and info["classes"] == ["0", "1"]
    write(tmp_path / "new.csv", "0,1\n1,1\n")
    r = run(["predict", str(res.run_dir), "--data", str(tmp_path / "new.csv")])
    assert r.exit_code == 0 and r.stdout.splitlines()[0] == "class,p_0,p_1"


def test_runs_without_data_json_read_their_training_data(points, tmp_path):
    """Run folders of older versions: the training data stands in for data.json."""
    res = api.train(points, runs_dir=tmp_path / "runs")
    write(tmp_path / "new.csv", "x,y\n50,50\n90,50\n")
    args = ["predict", str(res.run_dir), "--data", str(tmp_path / "new.csv")]
    expected = run(args).stdout
    (res.run_dir / "data.json").unlink()
    r = run(args)
    assert r.exit_code == 0 and r.stdout == expected
    (tmp_path / "points.csv").unlink()
    r = run(args)
    assert r.exit_code == 3
    assert "no data.json (the run was written by an older backprop)" in r.stderr
    assert "points.csv: data.path: file not found" in r.stderr


def test_predict_matches_columns_by_name(points, tmp_path):
    """Issue 13.2: a header is matched to the run's feature names, in any order."""
    res = api.train(points, runs_dir=tmp_path / "runs")
    rows = [(50, 50), (90, 50), (50, 90), (61.5, 72.25)]
    write(tmp_path / "xy.csv", "x,y\n" + "".join(f"{a},{b}\n" for a, b in rows))
    write(tmp_path / "yx.csv", "y,x\n" + "".join(f"{b},{a}\n" for a, b in rows))
    write(tmp_path / "noheader.csv", "".join(f"{a},{b}\n" for a, b in rows))
    write(tmp_path / "extra.csv", "label,y,x\nred,50,50\n")     # the target is ignored
    out = {f: run(["predict", str(res.run_dir), "--data", str(tmp_path / f)]) for f in
           ("xy.csv", "yx.csv", "noheader.csv")}
    assert all(r.exit_code == 0 for r in out.values()), [r.output for r in out.values()]
    assert out["yx.csv"].stdout == out["xy.csv"].stdout == out["noheader.csv"].stdout
    assert len({line.split(",")[0] for line in out["xy.csv"].stdout.splitlines()[1:]}) == 3
    r = run(["predict", str(res.run_dir), "--data", str(tmp_path / "extra.csv")])
    assert r.exit_code == 0 and r.stdout.splitlines()[1] == out["xy.csv"].stdout.splitlines()[1]
    # eval: the same scores whatever the order of the columns
    write(tmp_path / "yxl.csv", "y,label,x\n" + "".join(
        f"{b},{c},{a}\n" for a, b, c in np.loadtxt(tmp_path / "points.csv", delimiter=",", skiprows=1,
                                                    dtype=str)[:, [0, 1, 2]]))
    a = json.loads(run(["eval", str(res.run_dir), "--data", str(tmp_path / "points.csv"), "--json"]).stdout)
    b = json.loads(run(["eval", str(res.run_dir), "--data", str(tmp_path / "yxl.csv"), "--json"]).stdout)
    assert a["runs"][0]["accuracy"] == b["runs"][0]["accuracy"] and a["runs"][0]["loss"] == b["runs"][0]["loss"]


@pytest.mark.parametrize("text, message", [
    ("x,Y\n1,2\n", "the header does not match the run's columns: missing 'y' (did you mean 'Y'?); "
                    "unexpected 'Y'; expected the features x, y, in any order"),
    ("x,y,z\n1,2,3\n", "the header does not match the run's columns: unexpected 'z'"),
    ("x,yy\n1,2\n", "the header does not match the run's columns: missing 'y' (did you mean 'yy'?); "
                     "unexpected 'yy'; expected the features x, y, in any order"),
    ("x\n1\n", "the header does not match the run's columns: missing 'y'; expected the features x, y"),
    ("x,why\n1,2\n", "the header does not match the run's columns: missing 'y'; unexpected 'why'"),
    ("x,y,x\n1,2,3\n", "the header names column 'x' 2 times; expected each name once"),
    ("1,2,3,4\n", "4 column(s) and no header; expected 2 (the features x, y) or 3 as in the training data"),
])
def test_predict_rejects_columns_that_do_not_match(points, tmp_path, text, message):
    res = api.train(points, runs_dir=tmp_path / "runs")
    r = run(["predict", str(res.run_dir), "--data", str(write(tmp_path / "new.csv", text))])
    assert r.exit_code == 3 and f"new.csv: {message}" in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""


def test_predict_rejects_or_skips_bad_rows(points, tmp_path):
    """Issue 13.2: NaN, inf, empty and non-numeric features: an error at the file line, or
    with --skip-bad-rows an empty output row, the others predicted as without them."""
    res = api.train(points, runs_dir=tmp_path / "runs")
    good = ["50,50", "90,50", "50,90"]
    write(tmp_path / "good.csv", "x,y\n" + "\n".join(good) + "\n")
    for cell, problem in (("nan", "'nan' is not finite"), ("-inf", "'-inf' is not finite"),
                          ("", "empty"), ("5O", "not a number: '5O'")):
        path = write(tmp_path / "bad.csv", f"x,y\n{good[0]}\n\n{good[1]}\n70,{cell}\n{good[2]}\n")
        r = run(["predict", str(res.run_dir), "--data", str(path)])
        assert r.exit_code == 3 and r.stdout == ""
        assert (f"bad.csv:5: column 'y': {problem}; expected finite numbers (1 of 4 rows have empty, "
                "NaN, inf or non-numeric features; --skip-bad-rows leaves them out)") in r.stderr
    path = write(tmp_path / "bad.csv", "y,x\nnan,1\n50,50\n50,90\n1,inf\n90,50\n")  # good, as y,x
    r = run(["predict", str(res.run_dir), "--data", str(path), "--skip-bad-rows"])
    assert r.exit_code == 0, r.output
    expected = run(["predict", str(res.run_dir), "--data", str(tmp_path / "good.csv")]).stdout.splitlines()
    assert r.stdout.splitlines() == [expected[0], ",,,", expected[1], expected[2], ",,,", expected[3]]
    assert "Skipped 2 of 5 rows of" in r.stderr and "(lines 2, 5)" in r.stderr
    write(tmp_path / "all.csv", "x,y\nnan,1\n")
    r = run(["predict", str(res.run_dir), "--data", str(tmp_path / "all.csv"), "--skip-bad-rows"])
    assert r.exit_code == 3 and r.stderr.strip().endswith(   # no hint: --skip-bad-rows was given
        "all.csv:2: column 'x': 'nan' is not finite; expected finite numbers (1 of 1 rows have empty, "
        "NaN, inf or non-numeric features)"), r.stderr


def test_predict_checks_npz_files(points, tmp_path):
    res = api.train(points, runs_dir=tmp_path / "runs")
    np.savez(tmp_path / "new.npz", X=np.array([[50.0, 50], [90, np.nan]]))
    r = run(["predict", str(res.run_dir), "--data", str(tmp_path / "new.npz")])
    assert r.exit_code == 3 and "new.npz: X[1, 1]: NaN or inf; expected finite numbers" in r.stderr
    r = run(["predict", str(res.run_dir), "--data", str(tmp_path / "new.npz"), "--skip-bad-rows"])
    assert r.exit_code == 0 and r.stdout.splitlines()[2] == ",,,"
    assert "Skipped 1 of 2 rows of" in r.stderr and "(row 1)" in r.stderr
    np.savez(tmp_path / "wide.npz", X=np.zeros((2, 3)))
    r = run(["predict", str(res.run_dir), "--data", str(tmp_path / "wide.npz")])
    assert r.exit_code == 3 and "wide.npz: array 'X' has 3 features per example, expected 2" in r.stderr


def scores(run_dir, data):
    """eval --data's report of one run, without the fields that name the file."""
    r = run(["eval", str(run_dir), "--data", str(data), "--json"])
    assert r.exit_code == 0, r.output
    return {k: v for k, v in json.loads(r.stdout)["runs"][0].items() if k != "data"}


def test_files_without_a_header_follow_the_training_files_layout(points, tmp_path):
    """Without a header, a file is laid out as the training file (here an id column, dropped,
    then the target), or (predict) holds the features alone, in the run's order. With a
    header, the training file's dropped columns may be there and are ignored."""
    rows = [line.split(",") for line in (tmp_path / "points.csv").read_text().splitlines()]
    bare = write(tmp_path / "bare.csv", "".join(f"{i},{c},{a},{b}\n" for i, (a, b, c) in enumerate(rows[1:])))
    write(tmp_path / "points.csv", "id,label,x,y\n" + bare.read_text())
    cfg = write(tmp_path / "drop.yaml", (tmp_path / "blobs.yaml").read_text().replace(
        "target: label", "target: label, drop: [id]"))
    res = api.train(cfg, runs_dir=tmp_path / "runs")
    assert scores(res.run_dir, bare) == scores(res.run_dir, tmp_path / "points.csv")
    assert scores(res.run_dir, bare)["n"] == 120
    expected = run(["predict", str(res.run_dir), "--data", str(tmp_path / "points.csv")])
    assert expected.exit_code == 0 and len(expected.stdout.splitlines()) == 121
    xy = write(tmp_path / "xy.csv", "".join(f"{a},{b}\n" for a, b, c in rows[1:]))
    named = write(tmp_path / "named.csv", "y,id,x\n" + "".join(f"{b},{i},{a}\n" for i, (a, b, c) in enumerate(rows[1:])))
    for f in (bare, xy, named):
        r = run(["predict", str(res.run_dir), "--data", str(f)])
        assert r.exit_code == 0 and r.stdout == expected.stdout, r.output
    r = run(["eval", str(res.run_dir), "--data", str(xy)])           # eval needs the targets
    assert r.exit_code == 3
    assert r.stderr.strip().endswith(f"{xy}: 2 column(s) and no header; expected 4 as in the training "
                                     "data (features and target label)"), r.stderr
    r = run(["eval", str(res.run_dir), "--data", str(named)])
    assert r.exit_code == 3
    assert r.stderr.strip().endswith(f"{named}: the header does not match the run's columns: no target "
                                     "column 'label'; expected the features x, y and the target label, in "
                                     "any order (or no header, in the training file's order)"), r.stderr
    # trained without a header: the features are x0, x1, ..., and a header may name them so
    write(tmp_path / "points.csv", bare.read_text())
    cfg = write(tmp_path / "bare.yaml", cfg.read_text().replace("target: label, drop: [id]", "target: 1, drop: [0]"))
    res = api.train(cfg, runs_dir=tmp_path / "runs")
    expected = run(["predict", str(res.run_dir), "--data", str(xy)])
    r = run(["predict", str(res.run_dir), "--data", str(write(tmp_path / "x0.csv", "x0,x1\n" + xy.read_text()))])
    assert expected.exit_code == 0 and r.exit_code == 0 and r.stdout == expected.stdout, r.output


def test_npz_files_are_read_with_the_runs_array_names(points, tmp_path):
    """A run trained on an .npz reads new .npz files by its x_key and y_key (and names them
    in errors); a run trained on a CSV reads the arrays X and y."""
    raw = np.loadtxt(tmp_path / "points.csv", delimiter=",", skiprows=1, dtype=str)
    X, kinds = raw[:, :2].astype(float), raw[:, 2]
    np.savez(tmp_path / "pts.npz", features=X, kinds=kinds)
    np.savez(tmp_path / "plain.npz", X=X, y=kinds)
    cfg = write(tmp_path / "npz.yaml", BLOBS.replace(
        "source: csv, path: points.csv, target: label", "source: npz, path: pts.npz, x_key: features, y_key: kinds"))
    by_keys = api.train(cfg, runs_dir=tmp_path / "runs")
    by_csv = api.train(points, runs_dir=tmp_path / "runs")
    bare = write(tmp_path / "bare.csv", "".join(f"{a},{b},{c}\n" for a, b, c in raw))  # x0, x1, y
    assert scores(by_keys.run_dir, tmp_path / "pts.npz") == scores(by_keys.run_dir, bare)
    assert scores(by_csv.run_dir, tmp_path / "plain.npz") == scores(by_csv.run_dir, tmp_path / "points.csv")
    assert scores(by_keys.run_dir, bare)["n"] == 120
    centres = np.array([[50.0, 50], [90, 50], [50, 90]])
    np.savez(tmp_path / "centres.npz", features=centres)
    expected = run(["predict", str(by_keys.run_dir), "--data", str(tmp_path / "centres.npz")])
    r = run(["predict", str(by_keys.run_dir), "--data", str(write(tmp_path / "centres.csv", "x0,x1\n50,50\n90,50\n50,90\n"))])
    assert r.exit_code == 0 and r.stdout == expected.stdout and len(r.stdout.splitlines()) == 4, r.output
    np.savez(tmp_path / "nan.npz", features=np.array([[50.0, 50], [np.nan, 50]]), kinds=kinds[:2])
    r = run(["predict", str(by_keys.run_dir), "--data", str(tmp_path / "nan.npz")])
    assert r.exit_code == 3
    assert r.stderr.strip().endswith(f"{tmp_path / 'nan.npz'}: features[1, 0]: NaN or inf; expected finite "
                                     "numbers (1 of 2 rows have empty, NaN, inf or non-numeric features; "
                                     "--skip-bad-rows leaves them out)"), r.stderr
    np.savez(tmp_path / "odd.npz", features=X[:2], kinds=np.array(["red", "purple"]))
    r = run(["eval", str(by_keys.run_dir), "--data", str(tmp_path / "odd.npz")])
    assert r.exit_code == 3
    assert r.stderr.strip().endswith(f"{tmp_path / 'odd.npz'}: kinds[1]: class 'purple' is not one the run "
                                     "was trained on (blue, green, red)"), r.stderr


TWO_TARGETS = """
data: {source: npz, path: train.npz}
model: {layers: [{units: 2}]}
loss: mse
optimizer: {name: sgd, lr: 0.1}
training: {epochs: 20, batch_size: full}
"""


@pytest.fixture
def two_targets(tmp_path):
    """A regression run with two targets, trained on an .npz, and its data as CSV lines."""
    X = np.random.default_rng(1).uniform(-1, 1, size=(30, 2))
    Y = np.stack([2 * X[:, 0] - X[:, 1] + 1, X[:, 0] + X[:, 1]], axis=1)
    np.savez(tmp_path / "train.npz", X=X, y=Y)
    res = api.train(write(tmp_path / "two.yaml", TWO_TARGETS), runs_dir=tmp_path / "runs")
    return res.run_dir, [[repr(float(v)) for v in (*x, *y)] for x, y in zip(X, Y)]


def test_regression_files_without_a_header_have_features_then_targets(two_targets, tmp_path):
    run_dir, rows = two_targets
    info = json.loads((run_dir / "data.json").read_text())            # unnamed columns
    assert info["feature_names"] == ["x0", "x1"] and info["target_names"] == ["y0", "y1"]
    bare = write(tmp_path / "bare.csv", "".join(",".join(r) + "\n" for r in rows))
    ours, theirs = scores(run_dir, bare), scores(run_dir, tmp_path / "train.npz")
    assert ours == theirs and ours["n"] == 30
    # predict ignores the target columns, even left empty, as it does when they are not there
    xy = run(["predict", str(run_dir), "--data", str(write(tmp_path / "xy.csv", "".join(
        ",".join(r[:2]) + "\n" for r in rows)))])
    assert xy.exit_code == 0 and len(xy.stdout.splitlines()) == 31, xy.output
    empty = run(["predict", str(run_dir), "--data", str(write(tmp_path / "empty.csv", "".join(
        ",".join(r[:2]) + ",,\n" for r in rows)))])
    assert empty.exit_code == 0 and empty.stdout == xy.stdout, empty.output


@pytest.mark.parametrize("cell, problem", [
    ("nan", "'nan' is not finite"), ("-inf", "'-inf' is not finite"), ("", "empty"),
    ("1O", "not a number: '1O'")])
def test_regression_targets_must_be_finite_numbers(two_targets, tmp_path, cell, problem):
    """eval --data names the file line and column of the first target that is not a finite
    number (here the second target of the file's third row)."""
    run_dir, rows = two_targets
    rows[2][3] = cell
    bad = write(tmp_path / "bad.csv", "".join(",".join(r) + "\n" for r in rows))
    r = run(["eval", str(run_dir), "--data", str(bad)])
    assert r.exit_code == 3
    assert r.stderr.strip().endswith(f"{bad}:3: column 3: target {problem}; expected a finite number"), r.stderr


CLASSES = """
data: {data}
model: {{layers: [{{units: 2, activation: softmax}}]}}
loss: cross_entropy
optimizer: {{name: sgd, lr: 0.5}}
training: {{epochs: 10, batch_size: full}}
"""


def classes_run(tmp_path, name, data):
    return api.train(write(tmp_path / f"{name}.yaml", CLASSES.format(data=data)),
                     runs_dir=tmp_path / "runs").run_dir


def rejected(run_dir, path, message):
    r = run(["eval", str(run_dir), "--data", str(path)])
    assert r.exit_code == 3 and r.stderr.strip().endswith(f"{path}{message}"), r.output


def test_new_targets_are_class_names_their_numeric_spellings_or_class_indices(tmp_path):
    """eval --data reads a target as the run's class name, as written or as a number spelled
    otherwise (5.0 for class 5), else as a class index 0 to K-1 (classes named by
    data.classes); anything else is an error naming its line."""
    x = np.linspace(-1, 1, 12).tolist()
    digit = np.where(np.array(x) < 0, 3, 5)
    write(tmp_path / "digits.csv", "x,digit\n" + "".join(f"{a!r},{d}\n" for a, d in zip(x, digit)))
    digits = classes_run(tmp_path, "digits", "{source: csv, path: digits.csv}")  # classes 3, 5
    expected = scores(digits, tmp_path / "digits.csv")
    spelt = write(tmp_path / "spelt.csv", "x,digit\n" + "".join(f"{a!r},{d:.1f}\n" for a, d in zip(x, digit)))
    np.savez(tmp_path / "floats.npz", X=np.array(x)[:, None], y=digit.astype(float))
    np.savez(tmp_path / "ints.npz", X=np.array(x)[:, None], y=digit)
    for f in (spelt, tmp_path / "floats.npz", tmp_path / "ints.npz"):
        assert scores(digits, f) == expected
    for cell in ("7", "0.5"):
        bad = write(tmp_path / "bad.csv", f"x,digit\n0.5,5\n0.25,{cell}\n")
        rejected(digits, bad, f":3: column 'digit': class '{cell}' is not one the run was trained on (3, 5)")

    X = np.random.default_rng(2).normal(size=(12, 9))          # 9 features: x0 ... x8
    np.savez(tmp_path / "pets.npz", X=X, y=(X[:, 0] > 0).astype(int))
    pets = classes_run(tmp_path, "pets", "{source: npz, path: pets.npz, classes: [cat, dog]}")
    rows = [",".join(map(repr, map(float, r))) for r in X]
    by_name = write(tmp_path / "names.csv", "".join(
        f"{r},{'dog' if a > 0 else 'cat'}\n" for r, a in zip(rows, X[:, 0])))
    expected = scores(pets, by_name)
    for label in ("{:d}", "{:.1f}"):                            # class indices, as 1 or 1.0
        f = write(tmp_path / "index.csv", "".join(f"{r},{label.format(int(a > 0))}\n" for r, a in zip(rows, X[:, 0])))
        assert scores(pets, f) == expected
    for cell in ("2", "-1", "0.5", "bird"):                    # the row that is wrong is named
        bad = write(tmp_path / "bad.csv", f"{rows[0]},1\n{rows[1]},{cell}\n")
        rejected(pets, bad, f":2: column 9: class '{cell}' is not one the run was trained on (cat, dog)")
    mixed = write(tmp_path / "mixed.csv", f"{rows[0]},1\n{rows[1]},dog\n")  # names or indices, not both:
    rejected(pets, mixed, ":1: column 9: class '1' is not one the run was trained on (cat, dog)")  # the index
    r = run(["predict", str(pets), "--data", str(write(tmp_path / "x0.csv", "x0\n1\n"))])
    assert r.exit_code == 3 and r.stderr.strip().endswith(
        "x0.csv: the header does not match the run's columns: missing 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', "
        "'x7', 'x8'; expected the features x0, x1, x2, x3, x4, x5, x6, x7, ... (9 in all), in any order "
        "(or no header, in the training file's order)"), r.output

    # classes named as numbers are written (an .npz of strings): 1.0 is class '1.0', not index 1
    np.savez(tmp_path / "grades.npz", X=np.array(x)[:, None], y=np.where(digit == 3, "1.0", "2.0"))
    grades = classes_run(tmp_path, "grades", "{source: npz, path: grades.npz}")
    expected = scores(grades, tmp_path / "grades.npz")
    np.savez(tmp_path / "floats.npz", X=np.array(x)[:, None], y=np.where(digit == 3, 1.0, 2.0))
    assert scores(grades, tmp_path / "floats.npz") == expected and expected["n"] == 12
    info = json.loads((grades / "data.json").read_text())             # one unnamed feature: x0
    assert info["feature_names"] == ["x0"] and info["target_names"] == ["y"]


def test_a_damaged_data_json_is_an_error_naming_it(points, tmp_path):
    res = api.train(points, runs_dir=tmp_path / "runs")
    new = write(tmp_path / "new.csv", "x,y\n50,50\n")
    path = res.run_dir / "data.json"
    info = json.loads(path.read_text())
    for text, problem in [
            ('{"task": ', "not valid JSON ("),
            (json.dumps({k: v for k, v in info.items() if k not in ("task", "classes")}), "missing task, classes; "),
            ("[1, 2]", "missing task, n_features, feature_names, target_names, classes; "),
            (json.dumps({**info, "n_features": 3}), "2 feature_names for n_features 3; expected one name per feature")]:
        path.write_text(text)
        r = run(["predict", str(res.run_dir), "--data", str(new)])
        assert r.exit_code == 3 and r.stdout == "", r.output
        assert r.stderr.startswith(f"Error: {path}: {problem}"), r.stderr
        if "missing" in problem or "JSON" in problem:
            assert r.stderr.strip().endswith("; expected the file backprop train writes"), r.stderr


def test_new_files_are_read_with_the_training_files_delimiter_and_header(points, tmp_path):
    """The training file's data.delimiter and data.header apply to new files: here ';' and
    a header of numbers (wavelengths, years), which only header: yes takes for one."""
    text = (tmp_path / "points.csv").read_text().replace(",", ";").replace("x;y;label", "400;500;label")
    write(tmp_path / "points.csv", text)
    cfg = write(tmp_path / "semi.yaml", (tmp_path / "blobs.yaml").read_text().replace(
        "target: label", "target: label, delimiter: ';', header: 'yes'"))
    res = api.train(cfg, runs_dir=tmp_path / "runs")
    assert scores(res.run_dir, tmp_path / "points.csv")["n"] == 120
    r = run(["predict", str(res.run_dir), "--data", str(write(tmp_path / "new.csv", "500;400\n50;90\n90;50\n"))])
    assert r.exit_code == 0 and [row.split(",")[0] for row in r.stdout.splitlines()] == ["class", "green", "blue"]
