"""IDX files, the format of MNIST: a big-endian header, then the array's raw bytes.

Header: two zero bytes, a type code (0x08 unsigned byte, 0x09 signed byte, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, then each size as a
big-endian int32. MNIST's images have magic 2051 (0x00000803: uint8, 3 dimensions), its labels
2049 (0x00000801: uint8, 1 dimension). Gzipped files are recognised by their first two bytes.
The data is read with one ``np.frombuffer`` on the decompressed bytes: 60,000 images parse in
well under a second.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with gzip's magic bytes."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror}") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: not a readable gzip file ({e}); the file may be truncated") from None


def parse_idx(buf: bytes, label: str) -> np.ndarray:
    """The array an IDX byte string holds (a read-only view of ``buf``)."""
    if len(buf) < 4:
        raise DataError(f"{label}: not an IDX file: {len(buf)} bytes, expected a 4-byte magic number "
                        "and a header")
    zero, code, ndim = struct.unpack(">HBB", buf[:4])
    magic = int.from_bytes(buf[:4], "big")
    if zero != 0 or code not in TYPES or ndim == 0:
        raise DataError(f"{label}: not an IDX file: magic number {magic} (0x{magic:08X}), expected "
                        "0x000008NN to 0x00000ENN, e.g. 2051 for images and 2049 for labels")
    head = 4 + 4 * ndim
    if len(buf) < head:
        raise DataError(f"{label}: IDX header truncated: {len(buf)} bytes, expected {head} for "
                        f"{ndim} dimensions")
    shape = struct.unpack(f">{ndim}I", buf[4:head])
    dtype = np.dtype(TYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(buf) - head
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise DataError(f"{label}: IDX data {what}: {found} bytes after the header, expected "
                        f"{expected} for shape {' x '.join(map(str, shape))} of {dtype.name}")
    return np.frombuffer(buf, dtype=dtype, offset=head).reshape(shape)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into an array of its own shape and type."""
    return parse_idx(read_bytes(path), str(path))


def array_shape(dims: tuple) -> tuple[int, int, int] | None:
    """The image shape (C, H, W) of one example of an array of shape (n, *dims): (H, W) is
    one channel, (C, H, W) is channels first (PyTorch's layout); vectors (d,) have none."""
    if len(dims) == 2:
        return (1, int(dims[0]), int(dims[1]))
    if len(dims) == 3:
        return tuple(int(v) for v in dims)
    return None


def read_images_labels(images: Path, labels: Path | None) -> dict:
    """Images flattened to rows (n, C·H·W) in their stored type (row-major, so each row
    reshapes back to its image), their ``shape`` (C, H, W) (None for vectors), and labels."""
    X = read_idx(images)
    if X.ndim < 2:
        raise DataError(f"{images}: IDX file has {X.ndim} dimension, expected images (n, rows, cols) "
                        "or vectors (n, d); is this a labels file?")
    shape = array_shape(X.shape[1:])
    X = X.reshape(len(X), -1)
    out = {"X": X, "path": str(images), "shape": shape}
    if labels is not None:
        y = read_idx(labels)
        if y.ndim != 1:
            raise DataError(f"{labels}: IDX file has {y.ndim} dimensions ({' x '.join(map(str, y.shape))}), "
                            "expected labels: 1 dimension; is this an images file?")
        if len(y) != len(X):
            raise DataError(f"{labels}: {len(y)} labels for {len(X)} images in {images}; expected "
                            "one label per image")
        out["y"] = y
    return out
