"""File readers: CSV (options and errors), NPZ and IDX, on small files written here."""
import gzip
import struct

import numpy as np
import pytest

from backprop_cli.data.csvfile import read_csv_file, read_rows
from backprop_cli.data.idx import read_idx, read_images_labels
from backprop_cli.data.npz import read_npz
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
    with pytest.raises(DataError, match="IDX file has 1 dimension, expected images .*; is this a labels file"):
        read_images_labels(lb, lb)
    with pytest.raises(DataError, match=r"IDX file has 3 dimensions \(3 x 2 x 2\), expected labels"):
        read_images_labels(im, im)
