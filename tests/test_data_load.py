"""load(): splits (stratified, from the seed, or separate files), preprocessing from the
training split only, target encoding and the task, and their errors."""
import numpy as np
import pytest

from backprop_cli.data import load
from backprop_cli.data import preprocess
from backprop_cli.data.splits import split_indices
from backprop_cli.errors import DataError


def run(data, units=1, classification=True, seed=0, base_dir=".", **kw):
    return load(data, output_units=units, loss_is_classification=classification, dtype="float64",
                base_dir=base_dir, rng=np.random.default_rng(seed), **kw)


def test_split_indices_are_stratified_disjoint_and_complete():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    idx = split_indices(100, labels, {"val": 0.2, "test": 0.1}, np.random.default_rng(0))
    # round(0.2 * 50) = 10, round(0.2 * 30) = 6, round(0.2 * 20) = 4; test: 5, 3, 2
    assert np.bincount(labels[idx["val"]]).tolist() == [10, 6, 4]
    assert np.bincount(labels[idx["test"]]).tolist() == [5, 3, 2]
    assert np.bincount(labels[idx["train"]]).tolist() == [35, 21, 14]
    together = np.concatenate(list(idx.values()))
    assert sorted(together.tolist()) == list(range(100))


def test_splits_come_from_the_seed():
    a = split_indices(50, None, {"val": 0.2}, np.random.default_rng(1))
    b = split_indices(50, None, {"val": 0.2}, np.random.default_rng(1))
    c = split_indices(50, None, {"val": 0.2}, np.random.default_rng(2))
    assert np.array_equal(a["val"], b["val"]) and not np.array_equal(a["val"], c["val"])
    assert len(a["val"]) == 10


def test_load_splits_a_built_in_problem_stratified():
    s = run({"source": "spirals", "n": 300, "arms": 3, "val_fraction": 0.2, "test_fraction": 0.1}, units=3)
    assert (len(s.train), len(s.val), len(s.test)) == (210, 60, 30)
    assert np.bincount(s.val.labels).tolist() == [20, 20, 20]
    assert s.train.Y.shape == (210, 3) and set(s.train.Y.sum(axis=1)) == {1.0}  # one-hot


def test_standardize_uses_training_statistics_only(tmp_path):
    (tmp_path / "tr.csv").write_text("x,y\n0,0\n2,1\n4,0\n6,1\n")
    (tmp_path / "te.csv").write_text("x,y\n100,0\n-100,1\n")
    (tmp_path / "va.csv").write_text("x,y\n3,1\n")
    s = run({"source": "csv", "path": "tr.csv", "val_path": "va.csv", "test_path": "te.csv",
             "scale": "standardize"}, base_dir=tmp_path)
    assert s.val.X.tolist() == [[0.0]] and s.val.labels.tolist() == [1]  # the val file, scaled alike
    # training x: mean 3, std sqrt(5)
    np.testing.assert_allclose(s.preprocessing["shift"], [3.0])
    np.testing.assert_allclose(s.preprocessing["divisor"], [np.sqrt(5)])
    np.testing.assert_allclose(s.test.X[:, 0], [(100 - 3) / np.sqrt(5), (-100 - 3) / np.sqrt(5)])
    assert abs(s.train.X.mean()) < 1e-12 and abs(s.train.X.std() - 1) < 1e-12


def test_minmax_fits_on_the_training_part_of_a_split_file():
    s = run({"source": "blobs", "n": 200, "val_fraction": 0.25, "scale": "minmax"}, units=3)
    assert s.train.X.min() == 0.0 and s.train.X.max() == 1.0
    assert np.allclose(s.train.X.min(axis=0), 0) and np.allclose(s.train.X.max(axis=0), 1)
    # the validation split is scaled with the training min and max, so it need not fill [0, 1]
    assert not (np.allclose(s.val.X.min(axis=0), 0) and np.allclose(s.val.X.max(axis=0), 1))


def test_preprocessing_saves_and_reapplies(tmp_path):
    X = np.array([[1.0, 5.0], [3.0, 5.0]])
    prep = preprocess.fit(X, "standardize")
    np.testing.assert_allclose(prep["divisor"], [1.0, 1.0])  # constant feature: divisor 1
    preprocess.save(tmp_path / "p.npz", prep, classes=["a", "b"])
    again, classes = preprocess.load(tmp_path / "p.npz")
    assert classes == ["a", "b"] and str(again["scale"]) == "standardize"
    np.testing.assert_allclose(preprocess.apply(again, np.array([[2.0, 7.0]])), [[0.0, 2.0]])
    with pytest.raises(DataError, match=r"new: 3 features, expected 2 \(as in the training data\)$"):
        preprocess.apply(again, np.ones((1, 3)), label="new")


def test_pixels_divide_by_pixel_max_in_the_run_dtype(tmp_path):
    np.savez(tmp_path / "im.npz", X=np.array([[0, 255], [51, 102]], dtype=np.uint8), y=np.array([0, 1]))
    s = load({"source": "npz", "path": "im.npz", "scale": "pixels"}, output_units=2,
             loss_is_classification=True, dtype="float32", base_dir=tmp_path, rng=np.random.default_rng(0))
    assert s.train.X.dtype == np.float32 and s.train.Y.dtype == np.float32
    np.testing.assert_allclose(s.train.X, [[0, 1], [0.2, 0.4]], rtol=1e-6)
    assert s.target_names == ["y"] and s.feature_names == ["x0", "x1"]  # one target, two output units
    s = load({"source": "npz", "path": "im.npz", "scale": "pixels", "pixel_max": 51}, output_units=2,
             loss_is_classification=True, dtype="float64", base_dir=tmp_path, rng=np.random.default_rng(0))
    np.testing.assert_allclose(s.train.X, [[0, 5], [1, 2]], rtol=1e-12)  # data.pixel_max: 51


def test_class_names_from_the_file_and_from_the_config(tmp_path):
    (tmp_path / "d.csv").write_text("a,kind\n1,dog\n2,cat\n3,dog\n")
    s = run({"source": "csv", "path": "d.csv"}, units=2, base_dir=tmp_path)
    assert s.classes == ["cat", "dog"] and s.train.labels.tolist() == [1, 0, 1]
    s = run({"source": "csv", "path": "d.csv", "classes": ["dog", "cat"]}, units=2, base_dir=tmp_path)
    assert s.classes == ["dog", "cat"] and s.train.labels.tolist() == [0, 1, 0]
    (tmp_path / "n.csv").write_text("a,y\n1,0\n2,2\n3,1\n")
    s = run({"source": "csv", "path": "n.csv", "classes": ["lo", "mid", "hi"]}, units=3, base_dir=tmp_path)
    assert s.classes == ["lo", "mid", "hi"] and s.train.labels.tolist() == [0, 2, 1]
    (tmp_path / "z.csv").write_text("a,kind\n1,cat\n2,dog\n3,fish\n4,cat\n")  # classes neither sorted nor reversed
    s = run({"source": "csv", "path": "z.csv", "classes": ["dog", "fish", "cat"]}, units=3, base_dir=tmp_path)
    assert s.classes == ["dog", "fish", "cat"] and s.train.labels.tolist() == [2, 0, 1, 2]


@pytest.mark.parametrize("data, kw, message", [
    ({"source": "csv", "path": "one.csv"}, {}, "{d}/one.csv: the target has one class only (1); classification needs at least 2"),
    ({"source": "csv", "path": "frac.csv"}, {}, "{d}/frac.csv:3: column 'y': target value 0.5 is not a class label; expected integers or class names (or a regression loss and task: regression)"),
    ({"source": "csv", "path": "gaps.csv"}, {}, "{d}/gaps.csv:5: column 'y': target value 2.5 is not a class label; expected integers or class names (or a regression loss and task: regression)"),
    ({"source": "csv", "path": "nohead.csv"}, {}, "{d}/nohead.csv:2: column 1: target value 0.5 is not a class label; expected integers or class names (or a regression loss and task: regression)"),
    ({"source": "npz", "path": "frac.npz"}, {}, "{d}/frac.npz: row 1: target value 0.5 is not a class label; expected integers or class names (or a regression loss and task: regression)"),
    ({"source": "csv", "path": "frac.csv", "task": "regression"}, {}, "{d}/frac.csv: data.task: the data is for regression but the loss is for classification; use a regression loss (mse, quadratic, mae) or task: classification"),
    ({"source": "sine"}, {"loss_name": "bce"}, "sine: data.task: the data is for regression but the loss bce is for classification; use a regression loss (mse, quadratic, mae) or task: classification"),
    ({"source": "csv", "path": "words.csv"}, {"classification": False}, "{d}/words.csv: the target holds class names, not values; expected numbers for regression (or task: classification)"),
    ({"source": "moons"}, {"units": 3}, "moons: model.layers: the output layer has 3 units but the data has 2 classes (expected 2 or 1)"),
    ({"source": "moons"}, {"input_size": 3}, "moons: model.input_size: the model takes 3 inputs but the data has 2 features"),
    ({"source": "csv", "path": "frac.csv", "test_path": "wide.csv", "task": "regression"}, {"classification": False}, "{d}/wide.csv: 2 features in the test data, expected 1 as in the training data"),
    ({"source": "csv", "path": "words.csv", "test_path": "other.csv"}, {"units": 2}, "{d}/other.csv:3: column 'y': class 'bird' does not occur in the training data"),
    ({"source": "csv", "path": "words.csv", "test_path": "words.csv", "test_fraction": 0.5}, {"units": 2}, "{d}/words.csv: data.test_fraction: 0.5 given as well as a separate test file; expected one of them"),
    ({"source": "csv", "path": "words.csv", "val_path": "other.csv", "val_fraction": 0.5}, {"units": 2}, "{d}/other.csv: data.val_fraction: 0.5 given as well as a separate val file; expected one of them"),
    ({"source": "xor", "val_fraction": 0.1}, {}, "xor: data.val_fraction: val 0.1 of 4 examples leaves the val split empty"),
    ({"source": "xor", "val_fraction": 0.4, "test_fraction": 0.4}, {}, "xor: data.val_fraction + data.test_fraction: val 0.4, test 0.4 of 4 examples leaves the train split empty"),
    ({"source": "csv", "path": "n.csv", "classes": ["a", "b"]}, {"units": 2}, "{d}/n.csv:3: column 'y': data.classes: label 2 is not a class index; expected 0 to 1 for 2 classes"),
    ({"source": "npz", "path": "nan.npz"}, {}, "{d}/nan.npz: 3 NaN or inf value(s) in the features, the first at row 0, column 1"),
    ({"source": "csv", "path": "missing.csv"}, {}, "{d}/missing.csv: data.path: file not found (nothing there)"),
    ({"source": "csv", "path": "folder"}, {}, "{d}/folder: data.path: file not found (a folder there)"),
    ({"source": "npz", "path": "nany.npz"}, {"classification": False}, "{d}/nany.npz: 2 NaN or inf target value(s), the first at row 1"),
    ({"source": "npz", "path": "values.npz", "task": "regression"}, {"classification": False, "units": 2}, "{d}/values.npz: model.layers: the output layer has 2 units but the data has 1 target column(s)"),
    ({"source": "npz", "path": "y2.npz"}, {"units": 2}, "{d}/y2.npz: the target has 2 columns; classification needs one column of class labels"),
    ({"source": "npz", "path": "infy.npz"}, {"units": 2}, "{d}/infy.npz: row 2: target value inf is not a class label; expected integers or class names (or a regression loss and task: regression)"),
    ({"source": "csv", "path": "words.csv", "classes": ["dog", "fish"]}, {"units": 2}, "{d}/words.csv: data.classes: class 'cat' of the data is not listed (classes: dog, fish)"),
    ({"source": "csv", "path": "words.csv", "test_path": "zoo.csv"}, {"units": 2}, "{d}/zoo.csv:3: column 'y': class 'zebra' does not occur in the training data"),
    ({"source": "csv", "path": "n.csv", "test_path": "words.csv"}, {"units": 3}, "{d}/words.csv:2: column 'y': class 'cat' does not occur in the training data"),
    ({"source": "npz", "path": "flags.npz", "test_path": "ints.npz"}, {"units": 2}, "{d}/ints.npz: row 2: class '2' does not occur in the training data"),
    ({"source": "npz", "path": "empty.npz"}, {"units": 2}, "{d}/empty.npz: no examples"),
])
def test_data_errors(tmp_path, data, kw, message):
    (tmp_path / "one.csv").write_text("a,y\n1,1\n2,1\n")
    (tmp_path / "folder").mkdir(exist_ok=True)
    np.savez(tmp_path / "values.npz", X=np.ones((3, 1)), y=np.array([0.5, 1.5, 2.5]))
    np.savez(tmp_path / "nany.npz", X=np.ones((3, 1)), y=np.array([0.5, np.nan, np.inf]))
    (tmp_path / "frac.csv").write_text("a,y\n1,0\n2,0.5\n")
    (tmp_path / "gaps.csv").write_text("a,y\n\n1,0\n\n2,2.5\n")  # row 1 of the data, file line 5
    (tmp_path / "nohead.csv").write_text("1,0\n2,0.5\n")  # no header: the column by its index
    np.savez(tmp_path / "frac.npz", X=np.array([[1.0], [2.0]]), y=np.array([0, 0.5]))  # arrays: by row
    (tmp_path / "wide.csv").write_text("a,b,y\n1,2,0\n")
    (tmp_path / "words.csv").write_text("a,y\n1,cat\n2,dog\n")
    (tmp_path / "other.csv").write_text("a,y\n1,cat\n2,bird\n")
    (tmp_path / "n.csv").write_text("a,y\n1,0\n2,2\n3,1\n")
    np.savez(tmp_path / "nan.npz", X=np.array([[1.0, np.nan], [np.inf, 2.0], [3.0, np.nan]]), y=np.array([0, 1, 0]))
    np.savez(tmp_path / "y2.npz", X=np.ones((2, 1)), y=np.array([[0, 1], [1, 0]]))
    np.savez(tmp_path / "infy.npz", X=np.ones((3, 1)), y=np.array([0, 1, np.inf]))  # inf == round(inf)
    (tmp_path / "zoo.csv").write_text("a,y\n1,cat\n2,zebra\n")  # after every training class
    np.savez(tmp_path / "flags.npz", X=np.ones((2, 1)), y=np.array([False, True]))  # classes 'False', 'True'
    np.savez(tmp_path / "ints.npz", X=np.ones((3, 1)), y=np.array([0, 1, 2]))  # 2 is neither
    np.savez(tmp_path / "empty.npz", X=np.zeros((0, 2)), y=np.zeros(0, dtype=int))
    kw = dict(kw)  # the parameter set is shared by every run of the test in this process
    units, classification = kw.pop("units", 1), kw.pop("classification", True)
    with pytest.raises(DataError) as e:
        run(data, units=units, classification=classification, base_dir=tmp_path, **kw)
    assert str(e.value) == message.format(d=tmp_path)


def test_stored_preprocessing_of_another_width_names_the_file(tmp_path):
    (tmp_path / "tr.csv").write_text("x,y\n0,0\n2,1\n")
    (tmp_path / "wide.csv").write_text("a,b,y\n1,2,0\n3,4,1\n")
    trained = run({"source": "csv", "path": "tr.csv", "scale": "minmax"}, base_dir=tmp_path)
    with pytest.raises(DataError) as e:
        run({"source": "csv", "path": "wide.csv", "scale": "minmax"}, base_dir=tmp_path,
            preprocessing=trained.preprocessing)
    assert str(e.value) == f"{tmp_path / 'wide.csv'}: 2 features, expected 1 (as in the training data)"


def test_data_show_names_the_files_each_split_came_from(tmp_path):
    from backprop_cli.data.summary import describe
    (tmp_path / "tr.csv").write_text("x,y\n0,0\n2,1\n4,0\n6,1\n")
    (tmp_path / "te.csv").write_text("x,y\n1,0\n3,1\n")
    d = describe(run({"source": "csv", "path": "tr.csv", "test_path": "te.csv", "val_fraction": 0.5},
                     base_dir=tmp_path))
    assert d["paths"] == {"train": str(tmp_path / "tr.csv"), "test": str(tmp_path / "te.csv")}
    assert {k: v["from"] for k, v in d["splits"].items()} == {
        "train": "file, the rest", "val": "fraction 0.5", "test": "file"}


def test_apply_returns_new_floats_unless_told_to_scale_in_place():
    """apply() leaves X alone by default, in X's floating type or float64 for integers; with
    copy=False it scales X itself only when X is writable (a read-only X is copied)."""
    prep = preprocess.fit(np.array([[1.0, 5.0], [3.0, 9.0]]), "minmax")
    X = np.array([[2.0, 7.0]])
    out = preprocess.apply(prep, X)
    assert X.tolist() == [[2.0, 7.0]] and out.tolist() == [[0.5, 0.5]]
    half = preprocess.apply(prep, X.astype(np.float32))
    assert half.dtype == np.float32 and half.tolist() == [[0.5, 0.5]]
    ints = preprocess.apply(prep, np.array([[2, 7]]))
    assert ints.dtype == np.float64 and ints.tolist() == [[0.5, 0.5]]
    X.flags.writeable = False
    assert preprocess.apply(prep, X, copy=False).tolist() == [[0.5, 0.5]] and X.tolist() == [[2.0, 7.0]]
    small = preprocess.fit(np.array([[0.0, 3.0], [0.25, 3.0]]), "minmax")  # a spread below 1 divides too;
    assert small["divisor"].tolist() == [0.25, 1.0]                      # only a constant feature keeps 1
    W = np.array([[2.0, 7.0]])
    assert preprocess.apply(prep, W, copy=False) is W and W.tolist() == [[0.5, 0.5]]
    with pytest.raises(DataError) as e:
        preprocess.apply(prep, np.ones(2), label="new")
    assert str(e.value) == "new: (2,) features, expected 2 (as in the training data)"
    with pytest.raises(ValueError) as e:  # a caller's bug: data.scale's choices are checked first
        preprocess.fit(np.ones((2, 1)), "zscore")
    assert str(e.value) == "unknown scale 'zscore'; expected one of " + ", ".join(preprocess.SCALES)


def test_stored_preprocessing_is_reapplied_instead_of_refitted(tmp_path):
    (tmp_path / "tr.csv").write_text("x,y\n0,0\n2,1\n4,0\n6,1\n")
    (tmp_path / "new.csv").write_text("x,y\n10,0\n20,1\n")
    trained = run({"source": "csv", "path": "tr.csv", "scale": "standardize"}, base_dir=tmp_path)
    preprocess.save(tmp_path / "p.npz", trained.preprocessing, trained.classes)
    stored, _ = preprocess.load(tmp_path / "p.npz")
    again = run({"source": "csv", "path": "new.csv", "scale": "standardize"}, base_dir=tmp_path,
                preprocessing=stored)
    np.testing.assert_allclose(again.train.X[:, 0], [(10 - 3) / np.sqrt(5), (20 - 3) / np.sqrt(5)])


@pytest.mark.parametrize("scale", ["standardize", "minmax"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_statistics_over_several_blocks_are_numpys(scale, dtype):
    """mean and std are summed in float64 over blocks of about 1 MB (65,536 rows of 2
    features): with three blocks, and float32 data, they are NumPy's float64 statistics of
    the same values, two-pass std included (a large offset)."""
    X = (np.random.default_rng(3).normal(size=(150_000, 2)) * [2.0, 0.5] + [1e4, -3.0]).astype(dtype)
    prep = preprocess.fit(X, scale)
    X = X.astype(np.float64)
    if scale == "standardize":
        np.testing.assert_allclose(prep["shift"], X.mean(axis=0), rtol=1e-13)
        np.testing.assert_allclose(prep["divisor"], X.std(axis=0), rtol=1e-11)
    else:
        np.testing.assert_array_equal(prep["shift"], X.min(axis=0))
        np.testing.assert_array_equal(prep["divisor"], X.max(axis=0) - X.min(axis=0))


def test_preprocessing_files_that_cannot_be_read(tmp_path):
    with pytest.raises(DataError) as e:
        preprocess.load(tmp_path / "none.npz")
    assert str(e.value) == f"{tmp_path / 'none.npz'}: file not found"
    (tmp_path / "text.npz").write_text("scale,shift\n")
    with pytest.raises(DataError, match=r"text.npz: not a readable preprocessing file \(.+\)$"):
        preprocess.load(tmp_path / "text.npz")
    np.savez(tmp_path / "objects.npz", scale=np.array([{}], dtype=object))
    with pytest.raises(DataError, match=r"objects.npz: not a readable preprocessing file \(.*pickle.*\)$"):
        preprocess.load(tmp_path / "objects.npz")
    np.savez(tmp_path / "part.npz", scale=np.array("none"), shift=np.zeros(2))
    with pytest.raises(DataError) as e:
        preprocess.load(tmp_path / "part.npz")
    assert str(e.value) == f"{tmp_path / 'part.npz'}: missing array(s) divisor; expected scale, shift, divisor"
    np.savez(tmp_path / "bare.npz", scale=np.array("none"))
    with pytest.raises(DataError, match=r"bare.npz: missing array\(s\) shift, divisor; expected"):
        preprocess.load(tmp_path / "bare.npz")
    prep = preprocess.fit(np.array([[1.0], [3.0]]), "minmax")
    preprocess.save(tmp_path / "p.npz", prep)                  # no classes: None, not []
    again, classes = preprocess.load(tmp_path / "p.npz")
    assert classes is None and sorted(again) == ["divisor", "scale", "shift"]
    np.testing.assert_array_equal(again["shift"], [1.0])
    np.testing.assert_array_equal(again["divisor"], [2.0])


def test_regression_targets_are_values_of_the_task_the_loss_implies(tmp_path):
    np.savez(tmp_path / "r.npz", X=np.arange(6.0).reshape(3, 2), y=np.array([[0.5, 1], [1.5, 2], [2.5, 3]]))
    s = run({"source": "npz", "path": "r.npz"}, units=2, classification=False, base_dir=tmp_path)
    assert s.task == "regression" and s.classes is None and s.train.labels is None
    np.testing.assert_array_equal(s.train.Y, [[0.5, 1], [1.5, 2], [2.5, 3]])
    assert s.target_names == ["y0", "y1"] and s.feature_names == ["x0", "x1"]


def test_float32_scaling_is_computed_in_float32():
    """apply's docstring: (X - shift) / divisor in the run's dtype. Shift and 1/divisor are
    rounded to float32 first and each operation rounds in float32 (mixing in the float64
    statistics would round once, and differ by up to an ulp)."""
    from backprop_cli.data.preprocess import apply
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(200, 3)) * 7 + 3).astype(np.float32)
    prep = {"scale": "standardize", "shift": rng.normal(size=3) * 3, "divisor": rng.uniform(0.5, 4, 3)}
    expected = (X - prep["shift"].astype(np.float32)) * (1.0 / prep["divisor"]).astype(np.float32)
    out = apply(prep, X)
    assert out.dtype == np.float32 and np.array_equal(out, expected)
    assert not np.array_equal(out, ((X - prep["shift"]) / prep["divisor"]).astype(np.float32))
