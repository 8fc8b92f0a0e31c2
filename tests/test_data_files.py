"""File readers: CSV (options and errors), NPZ and IDX, on small files written here."""
import errno
import gzip
import os
import struct

import numpy as np
import pytest

from backprop_cli.data.csvfile import read_csv_file, read_rows
from backprop_cli.data.idx import read_idx, read_images_labels
from backprop_cli.data.npz import read_npz
from backprop_cli.data.sources import MNIST_FILES, SOURCES
from backprop_cli.errors import DataError


def idx_bytes(a: np.ndarray, code: int = 0x08) -> bytes:
    return struct.pack(">HBB", 0, code, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def write_idx(path, a, gz=True, code=0x08):
    data = idx_bytes(a, code)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# ----------------------------------------------------------------------------- CSV
def csv(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_header_target_by_name_and_drop(tmp_path):
    p = csv(tmp_path, "id,a,b,label\n7,1,2,cat\n8,3,4,dog\n")
    raw = read_csv_file(p, {"target": "label", "drop": ["id"]})
    np.testing.assert_array_equal(raw["X"], [[1, 2], [3, 4]])
    assert raw["y"].tolist() == ["cat", "dog"] and raw["feature_names"] == ["a", "b"]


def test_csv_without_header_semicolons_and_a_target_index(tmp_path):
    p = csv(tmp_path, "1;5;2\n3;6;4\n")
    raw = read_csv_file(p, {"header": "no", "delimiter": ";", "target": 1})
    np.testing.assert_array_equal(raw["X"], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(raw["y"], [5, 6])
    assert raw["feature_names"] is None


def test_csv_several_target_columns(tmp_path):
    p = csv(tmp_path, "x,y1,y2\n1,2,3\n4,5,6\n")
    raw = read_csv_file(p, {"target": ["y1", "y2"]})
    np.testing.assert_array_equal(raw["y"], [[2, 3], [5, 6]])


def test_csv_gzipped(tmp_path):
    p = tmp_path / "d.csv.gz"
    p.write_bytes(gzip.compress(b"a,b\n1,0\n2,1\n"))
    np.testing.assert_array_equal(read_csv_file(p, {})["X"], [[1], [2]])


def test_one_column_files_are_not_taken_for_another_delimiter(tmp_path):
    lines, rows, names = read_rows(csv(tmp_path, "x\n1.5\n-2\n"), ",", "auto")
    assert names == ["x"] and rows == [["1.5"], ["-2"]] and lines == [2, 3]
    lines, rows, names = read_rows(csv(tmp_path, '"1,5"\n"2,5"\n'), ",", "auto")  # quoted: one field
    assert names is None and rows == [["1,5"], ["2,5"]]


def test_csv_header_auto_detection(tmp_path):
    assert read_csv_file(csv(tmp_path, "1,2\n3,4\n"), {})["feature_names"] is None
    assert read_csv_file(csv(tmp_path, "a,b\n3,4\n"), {})["feature_names"] == ["a"]
    assert read_csv_file(csv(tmp_path, "1,cat\n2,dog\n"), {})["feature_names"] is None  # a word over a word
    assert read_csv_file(csv(tmp_path, "1,2\n3,4\n"), {"header": "yes"})["feature_names"] == ["1"]


def test_csv_columns_by_index_and_by_names_that_start_like_numbers(tmp_path):
    p = csv(tmp_path, "X1,X2,y\n1,2,3\n4,5,6\n")
    assert read_csv_file(p, {})["y"].tolist() == [3, 6]                      # the last column by default
    assert read_csv_file(p, {"target": "-1"})["y"].tolist() == [3, 6]        # an index given as text
    assert read_csv_file(p, {"target": -3})["y"].tolist() == [1, 4]          # -width is the first
    raw = read_csv_file(p, {"drop": ["X1"]})
    assert raw["feature_names"] == ["X2"] and raw["columns"]["dropped"] == [0]


def test_csv_text_encoding_blank_lines_and_unreadable_files(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("a,b\n1,2\n".encode("utf-8-sig"))                        # as Excel saves it
    assert read_csv_file(p, {})["feature_names"] == ["a"]
    lines, rows, names = read_rows(csv(tmp_path, "a,b\n1,2\n,\n \t, \n3,4\n"), ",", "auto")
    assert lines == [2, 5] and rows == [["1", "2"], ["3", "4"]]            # lines of empty cells skipped
    (tmp_path / "bin.csv").write_bytes(b"a,b\n1,\xff\n")
    with pytest.raises(DataError) as e:
        read_rows(tmp_path / "bin.csv", ",", "auto")
    assert str(e.value) == f"{tmp_path / 'bin.csv'}: not a text CSV file (invalid start byte at byte 6)"
    big = csv(tmp_path, "a,b\n" + "1" * 200_000 + ",2\n", "big.csv")
    with pytest.raises(DataError, match=r"big.csv: not a valid CSV file \(field larger than field limit \(\d+\)\)$"):
        read_rows(big, ",", "auto")
    (tmp_path / "cut.csv.gz").write_bytes(gzip.compress(b"a,b\n" + b"1,2\n" * 1000)[:-12])
    with pytest.raises(DataError, match=r"cut.csv.gz: not a readable gzip file \(.+\); the file may be truncated$"):
        read_rows(tmp_path / "cut.csv.gz", ",", "auto")


@pytest.mark.parametrize("text, opts, message", [
    ("a,b\n1,2\n3,x\n4,y\n5,6\n", {"target": "a"}, ":3: column 'b': not a number: 'x' (only numeric columns are supported)"),
    ("a,b\n1,2\n\n3\n", {}, ":4: row has 1 fields, expected 2 (ragged rows)"),
    ("a,b,c\n1,nan,2\n3,inf,4\n", {}, ": 2 NaN or inf value(s), the first at line 2, column 'b'"),
    ("a,b\n1,2\n", {"target": "c"}, ": data.target: no column 'c' (columns: a, b)"),
    ("a,bee\n1,2\n", {"target": "be"}, ": data.target: no column 'be'; did you mean 'bee'? (columns: a, bee)"),
    ("1,2\n3,4\n", {"target": 5}, ": data.target: column index 5 out of range for 2 columns (expected -2 to 1)"),
    ("1,2\n3,4\n", {"target": "label"}, ": data.target: 'label' names a column but the file has no header; give a column index"),
    ("a,b\n1,2\n", {"drop": ["b"]}, ": data.drop: column 'b' is also the target; expected distinct columns"),
    ("a,b\n1,2\n", {"drop": ["a"], "target": "b"}, ": no feature columns left after the target and data.drop (2 columns in the file)"),
    ("a,b\n", {}, ": the file has a header but no data rows"),
    ("\n\n", {}, ": the file has no rows"),
    ("a,b\n1,2\n3,x\n", {}, ":3: column 'b': not a number: 'x' (only numeric columns are supported)"),
    # issue 13.10: another delimiter, a number among class names, file lines after blank lines
    ("a;b;kind\n1;2;x\n3;4;y\n", {"target": "kind"}, ": every line is one field when split at ',' "
     "(data.delimiter), but the file looks ';'-separated (3 fields per line); set data.delimiter: ';' (or "
     "--set data.delimiter=';')"),
    ("a\tb\n1\t2\n", {"delimiter": ";"}, ": every line is one field when split at ';' (data.delimiter), "
     "but the file looks '\\t'-separated (2 fields per line); set data.delimiter: '\\t' (or --set data.delimiter='\\t')"),
    ("a,kind\n1,cat\n2,dog\n\n3,4\n4,cat\n", {}, ":5: column 'kind': '4' is a number among class names "
     "(such as 'cat' on line 2); expected class names only, or numbers only"),
    ("1,cat\n2,dog\n3,7\n", {}, ":3: column 1: '7' is a number among class names (such as 'cat' on line 1); "
     "expected class names only, or numbers only"),
    ("1;2;3\n", {}, ": every line is one field when split at ',' (data.delimiter), but the file looks "
     "';'-separated (3 fields per line); set data.delimiter: ';' (or --set data.delimiter=';')"),
    ("a,b\n1,2,3\n", {}, ":2: row has 3 fields, expected 2 (ragged rows)"),
    ("1,2\nx,3\n", {}, ":2: column 0: not a number: 'x' (only numeric columns are supported)"),
    ("1,2\nnan,3\n", {}, ": 1 NaN or inf value(s), the first at line 2, column 0"),
    ("1,2\n3,4\n", {"target": 2}, ": data.target: column index 2 out of range for 2 columns (expected -2 to 1)"),
    ("a,b\n1,2\n", {"target": []}, ": data.target: an empty list; expected a column or a list of columns"),
    ("a,b\n1,2\n", {"drop": ["c"]}, ": data.drop: no column 'c' (columns: a, b)"),
    ("1,2,3\n4,5,6\n", {"drop": [5]}, ": data.drop: column index 5 out of range for 3 columns (expected -3 to 2)"),
    ("1,2\n3,4\n", {"drop": [1]}, ": data.drop: column 1 is also the target; expected distinct columns"),
    ("x,y1,y2\n1,a,2\n3,b,4\n", {"target": ["y1", "y2"]}, ":2: column 'y1': not a number: 'a' (only numeric "
     "columns are supported)"),
])
def test_csv_errors_name_the_file_line_and_column(tmp_path, text, opts, message):
    p = csv(tmp_path, text)
    with pytest.raises(DataError) as e:
        read_csv_file(p, opts)
    assert str(e.value) == f"{p}{message}"


# ----------------------------------------------------------------------------- NPZ
def test_npz_default_and_named_arrays(tmp_path):
    images = np.arange(2 * 3 * 2).reshape(2, 3, 2).astype(np.uint8)
    np.savez(tmp_path / "a.npz", X=images, y=np.array([0, 1]), feats=np.ones((2, 5)), t=np.array([[1.0], [2.0]]))
    raw = read_npz(tmp_path / "a.npz", "X", "y")
    assert raw["X"].shape == (2, 6) and raw["X"].dtype == np.uint8  # images flattened
    raw = read_npz(tmp_path / "a.npz", "feats", "t")
    assert raw["X"].shape == (2, 5) and raw["y"].tolist() == [1.0, 2.0]


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "a.npz", X=np.ones((3, 2)), y=np.ones(2), obj=np.array([{}], dtype=object))
    with pytest.raises(DataError, match=r"a.npz: data.x_key: no array 'XX'; did you mean 'X'\? \(arrays: X, y, obj\)$"):
        read_npz(tmp_path / "a.npz", "XX", "y")
    with pytest.raises(DataError, match=r"a.npz: 2 targets in 'y' for 3 examples in 'X'; expected one target per example$"):
        read_npz(tmp_path / "a.npz", "X", "y")
    with pytest.raises(DataError, match=r"a.npz: holds Python objects, which are never unpickled; expected numeric arrays$"):
        read_npz(tmp_path / "a.npz", "obj", "y")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"bad.npz: not an .npz file; expected a zip archive of .npy arrays \(np.savez writes one\)$"):
        read_npz(tmp_path / "bad.npz", "X", "y")


def test_npz_features_for_prediction_one_feature_and_class_names(tmp_path):
    np.savez(tmp_path / "a.npz", X=np.array([1.5, 2.5, 3.5]), y=np.array(["cat", "dog", "cat"]))
    raw = read_npz(tmp_path / "a.npz", "X", None)  # no targets: features to predict for
    assert set(raw) == {"X", "path", "shape"} and raw["path"] == str(tmp_path / "a.npz")
    assert raw["shape"] is None  # a vector per example, not an image
    np.testing.assert_array_equal(raw["X"], [[1.5], [2.5], [3.5]])  # a 1-D array is one feature
    raw = read_npz(tmp_path / "a.npz", "X", "y")
    assert raw["X"].shape == (3, 1) and raw["y"].tolist() == ["cat", "dog", "cat"]


@pytest.mark.parametrize("arrays, keys, message", [
    ({"X": np.ones((2, 2)), "t": np.ones(2)}, ("X", "y"), "data.y_key: no array 'y' (arrays: X, t)"),
    ({"X": np.array([["a"], ["b"]]), "y": np.ones(2)}, ("X", "y"), "array 'X' has type <U1, expected numbers"),
    ({"X": np.ones((2, 2)), "y": np.array([b"a", b"b"])}, ("X", "y"), "array 'y' has type |S1, expected numbers or class names"),
    # issue 13 mutation: a single number where the examples should be was a TypeError (exit 1)
    ({"X": np.float64(3.0), "y": np.ones(1)}, ("X", "y"), "array 'X' is a single value (0 dimensions); expected one entry per example"),
    ({"X": np.ones((1, 2)), "y": np.int64(1)}, ("X", "y"), "array 'y' is a single value (0 dimensions); expected one entry per example"),
])
def test_npz_arrays_of_the_wrong_kind(tmp_path, arrays, keys, message):
    np.savez(tmp_path / "a.npz", **arrays)
    with pytest.raises(DataError) as e:
        read_npz(tmp_path / "a.npz", *keys)
    assert str(e.value) == f"{tmp_path / 'a.npz'}: {message}"


def test_npz_with_no_examples_keeps_its_feature_shape(tmp_path):
    """np.reshape cannot infer -1 for an empty array: an .npz with zero rows was a traceback."""
    np.savez(tmp_path / "e.npz", X=np.zeros((0, 4, 2)), y=np.zeros(0))
    raw = read_npz(tmp_path / "e.npz", "X", "y")
    assert raw["X"].shape == (0, 8) and raw["y"].shape == (0,)


# ----------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("gz", [True, False])
def test_idx_images_are_flattened_and_labels_read(tmp_path, gz):
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 4), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    raw = read_images_labels(write_idx(tmp_path / "im", images, gz), write_idx(tmp_path / "lb", labels, gz))
    assert raw["X"].shape == (5, 12)
    np.testing.assert_array_equal(raw["X"], images.reshape(5, 12))
    np.testing.assert_array_equal(raw["y"], labels)


def test_idx_reads_big_endian_types(tmp_path):
    a = np.array([[1.5, -2.0], [3.0, 4.25]], dtype=">f4")
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "f", a, code=0x0D)), a)
    b = np.array([-3, 70000], dtype=">i4")
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "i", b, code=0x0C)), b)


def test_idx_wrong_magic_number(tmp_path):
    p = tmp_path / "bad.gz"
    p.write_bytes(gzip.compress(b"\x00\x00\x07\x03" + b"\x00" * 20))
    with pytest.raises(DataError) as e:
        read_idx(p)
    assert str(e.value) == (f"{p}: not an IDX file: magic number 1795 (0x00000703), expected "
                            "0x000008NN to 0x00000ENN, e.g. 2051 for images and 2049 for labels")


def test_idx_truncated_data_and_header(tmp_path):
    data = idx_bytes(np.zeros((4, 2, 2), dtype=np.uint8))
    p = tmp_path / "short.gz"
    p.write_bytes(gzip.compress(data[:-3]))
    with pytest.raises(DataError) as e:
        read_idx(p)
    assert str(e.value) == f"{p}: IDX data truncated: 13 bytes after the header, expected 16 for shape 4 x 2 x 2 of uint8"
    p.write_bytes(gzip.compress(data + b"\x00"))
    with pytest.raises(DataError, match="IDX data has trailing bytes: 17 bytes after the header"):
        read_idx(p)
    p.write_bytes(data[:8])
    with pytest.raises(DataError, match=r"IDX header truncated: 8 bytes, expected 16 for 3 dimensions$"):
        read_idx(p)


def test_idx_truncated_gzip_stream(tmp_path):
    p = tmp_path / "cut.gz"
    p.write_bytes(gzip.compress(idx_bytes(np.zeros((50, 4, 4), dtype=np.uint8)))[:-20])
    with pytest.raises(DataError, match=r"cut.gz: not a readable gzip file \(.*\); the file may be truncated$"):
        read_idx(p)


def test_idx_labels_must_match_images(tmp_path):
    im = write_idx(tmp_path / "im", np.zeros((3, 2, 2), dtype=np.uint8))
    lb = write_idx(tmp_path / "lb", np.zeros(2, dtype=np.uint8))
    with pytest.raises(DataError) as e:
        read_images_labels(im, lb)
    assert str(e.value) == f"{lb}: 2 labels for 3 images in {im}; expected one label per image"
    with pytest.raises(DataError) as e:
        read_images_labels(lb, lb)
    assert str(e.value) == (f"{lb}: IDX file has 1 dimension, expected images (n, rows, cols) or vectors "
                            "(n, d); is this a labels file?")
    with pytest.raises(DataError, match=r"IDX file has 3 dimensions \(3 x 2 x 2\), expected labels"):
        read_images_labels(im, im)


def test_idx_too_short_for_a_magic_number_or_its_header(tmp_path):
    p = tmp_path / "f"
    for data, message in [
        (b"\x00\x00\x08", "not an IDX file: 3 bytes, expected a 4-byte magic number and a header"),
        (b"\x00\x00\x08\x01", "IDX header truncated: 4 bytes, expected 8 for 1 dimensions"),  # magic only
        # a corrupt dimension count of 128 or more is still a truncated header, not a crash
        (b"\x00\x00\x08\x80" + bytes(8), "IDX header truncated: 12 bytes, expected 516 for 128 dimensions"),
    ]:
        p.write_bytes(data)
        with pytest.raises(DataError) as e:
            read_idx(p)
        assert str(e.value) == f"{p}: {message}"


def test_idx_file_that_cannot_be_read(tmp_path):
    p = tmp_path / "nowhere.gz"
    with pytest.raises(DataError) as e:
        read_idx(p)
    assert str(e.value) == f"{p}: cannot read: {os.strerror(errno.ENOENT)}"


def test_idx_with_no_items_is_an_empty_array(tmp_path):
    a = read_idx(write_idx(tmp_path / "empty", np.zeros((0, 2, 3), dtype=np.uint8)))
    assert a.shape == (0, 2, 3) and a.dtype == np.uint8


def test_idx_vectors_are_read_as_rows(tmp_path):
    vectors = np.arange(12, dtype=np.uint8).reshape(4, 3)
    raw = read_images_labels(write_idx(tmp_path / "v", vectors), write_idx(tmp_path / "lb", np.arange(4, dtype=np.uint8)))
    np.testing.assert_array_equal(raw["X"], vectors)


# ----------------------------------------------------------------------------- sources
def load_source(name, base_dir, **opts):
    return SOURCES.get(name)(**opts).load(base_dir, np.random.default_rng(0))


def test_npz_source_reads_the_arrays_its_options_name(tmp_path):
    np.savez(tmp_path / "a.npz", X=np.zeros((2, 2)), y=np.zeros(2), feats=np.ones((2, 5)), t=np.array([1.0, 2.0]))
    raw = load_source("npz", tmp_path, path="a.npz", x_key="feats", y_key="t")
    np.testing.assert_array_equal(raw["X"], np.ones((2, 5)))
    assert raw["y"].tolist() == [1.0, 2.0] and raw["path"] == str(tmp_path / "a.npz")


def idx_split(folder, name, n, seed):
    """Images and labels of n examples, written as {name}-images.gz and {name}-labels.gz."""
    rng = np.random.default_rng(seed)
    images, labels = rng.integers(0, 256, (n, 2, 3), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)
    write_idx(folder / f"{name}-images.gz", images)
    write_idx(folder / f"{name}-labels.gz", labels)
    return images.reshape(n, 6), labels


def test_idx_source_reads_separate_val_and_test_files(tmp_path):
    splits = {name: idx_split(tmp_path, name, n, seed) for seed, (name, n) in enumerate((("tr", 5), ("va", 3), ("te", 4)))}
    raw = load_source("idx", tmp_path, images="tr-images.gz", labels="tr-labels.gz", val_images="va-images.gz",
                      val_labels="va-labels.gz", test_images="te-images.gz", test_labels="te-labels.gz")
    for part, name in ((raw, "tr"), (raw["val"], "va"), (raw["test"], "te")):
        X, y = splits[name]
        np.testing.assert_array_equal(part["X"], X)
        np.testing.assert_array_equal(part["y"], y)
        assert part["path"] == str(tmp_path / f"{name}-images.gz")  # the file errors and reports name
    assert "val" not in load_source("idx", tmp_path, images="tr-images.gz", labels="tr-labels.gz")


@pytest.mark.parametrize("split", ["val", "test"])
@pytest.mark.parametrize("given, missing", [("images", "labels"), ("labels", "images")])
def test_idx_source_val_and_test_files_go_in_pairs(tmp_path, split, given, missing):
    idx_split(tmp_path, "tr", 3, 0)
    with pytest.raises(DataError) as e:
        load_source("idx", tmp_path, images="tr-images.gz", labels="tr-labels.gz", **{f"{split}_{given}": f"tr-{given}.gz"})
    assert str(e.value) == f"data.{split}_{missing}: missing; {split}_images and {split}_labels go together"


@pytest.mark.parametrize("key", ["images", "labels", "val_images", "val_labels", "test_images", "test_labels"])
def test_idx_source_names_the_option_of_a_missing_file(tmp_path, key):
    idx_split(tmp_path, "tr", 3, 0)
    opts = {k: f"tr-{k.split('_')[-1]}.gz" for k in ("images", "labels", "val_images", "val_labels", "test_images", "test_labels")}
    with pytest.raises(DataError) as e:
        load_source("idx", tmp_path, **{**opts, key: "nope.gz"})
    assert str(e.value) == f"{tmp_path / 'nope.gz'}: data.{key}: file not found (nothing there)"


def mnist_folder(folder, names):
    """A small stand-in for MNIST's folder: the four files under the given names."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for stem, name in zip(MNIST_FILES["train"] + MNIST_FILES["test"], names):
        n = 5 if stem.startswith("train") else 3
        a = rng.integers(0, 10, n, dtype=np.uint8) if "labels" in stem else rng.integers(0, 256, (n, 4, 4), dtype=np.uint8)
        write_idx(folder / name, a, gz=name.endswith(".gz"))
        arrays[stem] = a
    return arrays


@pytest.mark.parametrize("names", [
    ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
    # the names some mirrors use, with a dot before idx
    ["train-images.idx3-ubyte.gz", "train-labels.idx1-ubyte", "t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte.gz"],
])
def test_mnist_source_reads_the_four_files_of_its_folder(tmp_path, names):
    arrays = mnist_folder(tmp_path / "mnist", names)
    raw = load_source("mnist", tmp_path, dir="mnist")  # relative to the config's folder
    np.testing.assert_array_equal(raw["X"], arrays["train-images-idx3-ubyte"].reshape(5, 16))
    np.testing.assert_array_equal(raw["y"], arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(raw["test"]["X"], arrays["t10k-images-idx3-ubyte"].reshape(3, 16))
    np.testing.assert_array_equal(raw["test"]["y"], arrays["t10k-labels-idx1-ubyte"])
    assert raw["classes"] == list("0123456789")  # all ten digits, whichever the labels hold
    assert "test" not in load_source("mnist", tmp_path, dir="mnist", test=False)


def test_mnist_has_ten_classes_whichever_digits_its_labels_hold(tmp_path):
    """load keeps the source's class names: MNIST's ten digits, even when the (here five)
    training labels miss some, so a 10-unit output layer fits and labels stay the digits."""
    from backprop_cli.data import load
    arrays = mnist_folder(tmp_path / "mnist", [s + ".gz" for s in MNIST_FILES["train"] + MNIST_FILES["test"]])
    s = load({"source": "mnist", "dir": "mnist"}, output_units=10, loss_is_classification=True,
             dtype="float32", base_dir=tmp_path, rng=np.random.default_rng(0))
    assert len(set(arrays["train-labels-idx1-ubyte"].tolist())) < 10  # the point of this test
    assert s.classes == list("0123456789")
    np.testing.assert_array_equal(s.train.labels, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(s.test.labels, arrays["t10k-labels-idx1-ubyte"])


def test_mnist_labels_must_be_digits(tmp_path):
    """A label byte of 10 or more in MNIST's files is no class of its ten: the error names the
    file and row (MNIST's classes are its own, not data.classes)."""
    from backprop_cli.data import load
    mnist_folder(tmp_path / "mnist", [s + ".gz" for s in MNIST_FILES["train"] + MNIST_FILES["test"]])
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", np.array([3, 10, 12], dtype=np.uint8))
    with pytest.raises(DataError) as e:
        load({"source": "mnist", "dir": "mnist"}, output_units=10, loss_is_classification=True,
             dtype="float32", base_dir=tmp_path, rng=np.random.default_rng(0))
    assert str(e.value) == (f"{tmp_path / 'mnist' / 't10k-images-idx3-ubyte.gz'}: row 1: label 10 is not "
                            "a class index; expected 0 to 9 for 10 classes")


def test_mnist_source_without_its_folder(tmp_path):
    with pytest.raises(DataError) as e:
        load_source("mnist", tmp_path, dir="nowhere")
    assert str(e.value) == (f"data.dir: folder not found: {tmp_path / 'nowhere'}; put MNIST's four IDX "
                            "files there (see datasets/mnist/README.md)")


def test_mnist_absolute_folder_is_used_as_given(tmp_path):
    """An absolute dir is not normalized: '..' after a symlink goes where the system says, the
    folder config validation checked."""
    mnist_folder(tmp_path / "real" / "mnist", [s + ".gz" for s in MNIST_FILES["train"] + MNIST_FILES["test"]])
    (tmp_path / "real" / "sub").mkdir()
    try:
        (tmp_path / "link").symlink_to(tmp_path / "real" / "sub", target_is_directory=True)
    except OSError:
        pytest.skip("no symlinks here")
    raw = load_source("mnist", tmp_path / "elsewhere", dir=f"{tmp_path}/link/../mnist")
    assert raw["X"].shape == (5, 16) and raw["test"]["X"].shape == (3, 16)


def test_csv_source_reads_separate_val_and_test_files(tmp_path):
    for name, rows in (("tr", "1,0\n2,1\n"), ("va", "3,0\n"), ("te", "4,1\n5,0\n")):
        (tmp_path / f"{name}.csv").write_text("a,y\n" + rows)
    raw = load_source("csv", tmp_path, path="tr.csv", val_path="va.csv", test_path="te.csv")
    assert (raw["X"].tolist(), raw["y"].tolist()) == ([[1], [2]], [0, 1])
    assert (raw["val"]["X"].tolist(), raw["val"]["y"].tolist()) == ([[3]], [0])
    assert (raw["test"]["X"].tolist(), raw["test"]["y"].tolist()) == ([[4], [5]], [1, 0])
    assert "val" not in load_source("csv", tmp_path, path="tr.csv")


@pytest.mark.parametrize("key", ["path", "val_path", "test_path"])
def test_file_sources_name_the_option_of_a_missing_file(tmp_path, key):
    (tmp_path / "tr.csv").write_text("a,y\n1,0\n2,1\n")
    with pytest.raises(DataError) as e:
        load_source("csv", tmp_path, **{"path": "tr.csv", "val_path": "tr.csv", "test_path": "tr.csv", key: "nope.csv"})
    assert str(e.value) == f"{tmp_path / 'nope.csv'}: data.{key}: file not found (nothing there)"


def test_csv_delimiter_is_one_character(tmp_path):
    (tmp_path / "d.csv").write_text("a;;y\n1;;0\n")
    with pytest.raises(DataError) as e:
        load_source("csv", tmp_path, path="d.csv", delimiter=";;")
    assert str(e.value) == "data.delimiter: must be one character, got ';;'"


def test_the_delimiter_hint_looks_at_every_line(tmp_path):
    """likely_delimiter: a separator that occurs the same number of times on every line. A
    one-column file whose first 60 lines hold one ';' but whose last does not is not taken
    for a ';'-separated file (only the first 50 lines used to be looked at)."""
    from backprop_cli.data.csvfile import read_rows
    path = tmp_path / "one.csv"
    path.write_text("".join(f"{i};{i}\n" for i in range(60)) + "60\n")
    lines, rows, names = read_rows(path, ",", "no")
    assert len(rows) == 61 and rows[0] == ["0;0"]
    path.write_text("".join(f"{i};{i}\n" for i in range(61)))
    with pytest.raises(DataError, match="looks ';'-separated"):
        read_rows(path, ",", "no")
