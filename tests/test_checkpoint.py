"""Checkpoints: round trip, atomic writes, refusal of pickles, corruption and tampering."""

import numpy as np
import pytest

from backprop_cli import checkpoint
from backprop_cli.errors import CheckpointError


def weights():
    return {"0.W": np.arange(6.0).reshape(2, 3), "0.b": np.zeros(3, dtype=np.float32)}


def test_round_trip_keeps_names_dtypes_and_meta(tmp_path):
    p = tmp_path / "c.npz"
    checkpoint.save(p, weights(), epoch=7, config={"seed": 3}, state={"rng": {"a": 2 ** 100}},
                    extra={"optim/0.W.momentum": np.ones((2, 3))})
    arrays = checkpoint.load_arrays(p)
    assert int(arrays["meta/epoch"]) == 7
    assert checkpoint.read_meta(arrays, "config") == {"seed": 3}
    assert checkpoint.read_meta(arrays, "state")["rng"]["a"] == 2 ** 100
    w = checkpoint.load_weights(p)
    assert set(w) == {"0.W", "0.b"} and w["0.b"].dtype == np.float32
    np.testing.assert_array_equal(w["0.W"], weights()["0.W"])
    assert [f.name for f in tmp_path.iterdir()] == ["c.npz"]   # no temp file left


def test_tampered_checkpoint_is_refused(tmp_path):
    p = tmp_path / "c.npz"
    checkpoint.save(p, weights(), epoch=1)
    arrays = dict(np.load(p, allow_pickle=False))
    arrays["param/0.W"] = arrays["param/0.W"] + 1            # edited weights, old hash
    np.savez(p, **arrays)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        checkpoint.load_arrays(p)


@pytest.mark.parametrize("cut", [10, 200, -30])
def test_truncated_or_garbage_file_is_refused(tmp_path, cut):
    p = tmp_path / "c.npz"
    checkpoint.save(p, weights(), epoch=1)
    data = p.read_bytes()
    p.write_bytes(data[:cut])
    with pytest.raises(CheckpointError, match="c.npz"):
        checkpoint.load_arrays(p)
    p.write_text("not a zip at all")
    with pytest.raises(CheckpointError, match="not a readable .npz file"):
        checkpoint.load_arrays(p)


def test_pickles_are_refused(tmp_path):
    p = tmp_path / "evil.npz"
    np.savez(p, obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError) as e:
        checkpoint.load_arrays(p)
    assert str(e.value) == (f"{p}: holds Python objects (pickles), which backprop never loads; "
                            "expected plain arrays")


def test_missing_and_non_zip_files_are_named_in_the_error(tmp_path):
    with pytest.raises(CheckpointError) as e:
        checkpoint.load_arrays(tmp_path / "nope.npz")
    assert str(e.value) == f"{tmp_path / 'nope.npz'}: file not found"
    p = tmp_path / "c.npz"
    p.write_text("not a zip at all")
    with pytest.raises(CheckpointError) as e:
        checkpoint.load_arrays(p)
    assert str(e.value) == (f"{p}: not a readable .npz file (no zip header); expected a checkpoint "
                            "or an .npz of named arrays")


def test_failed_write_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    p = tmp_path / "last.npz"
    checkpoint.save(p, weights(), epoch=1)
    before = p.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        checkpoint.save(p, {"0.W": np.ones((2, 3)), "0.b": np.ones(3)}, epoch=2)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["last.npz"]


def test_run_checkpoints_hold_everything_the_issue_lists(tmp_path):
    from backprop_cli import api
    from helpers import CONFIGS
    res = api.train(CONFIGS / "iris.yaml", ["optimizer={name: adam, lr: 0.01}", "training.epochs=20"],
                    runs_dir=tmp_path)
    for name in ("last", "best"):
        a = checkpoint.load_arrays(res.run_dir / "checkpoints" / f"{name}.npz")
        meta = checkpoint.read_meta(a, "state")
        assert {"param/0.W", "param/0.b", "param/1.W", "param/1.b"} <= set(a)
        assert {"optim/t", "optim/0.W.exp_avg", "optim/0.W.exp_avg_sq"} <= set(a)      # optimizer
        assert {"prep/shift", "prep/divisor"} <= set(a)                                 # scaling
        assert set(meta["streams"]) >= {"shuffle", "dropout"}                           # RNG state
        assert checkpoint.read_meta(a, "config")["optimizer"]["name"] == "adam"
        assert len(str(a["meta/sha256"])) == 64
    best = checkpoint.load_arrays(res.run_dir / "checkpoints" / "best.npz")
    assert int(best["meta/epoch"]) == res.summary["best"]["epoch"]


def test_digest_hashes_name_dtype_shape_and_bytes_of_every_kind_of_array():
    """The in-place hashing of numeric arrays gives the documented digest: SHA-256 over
    name, dtype, shape and bytes in name order (so older checkpoints still verify)."""
    import hashlib
    arrays = {"b": np.arange(6.0).reshape(2, 3).T, "a": np.array(3), "c": np.array("héllo"),
              "d": np.array([True, False]), "e": np.zeros((0, 3), np.float32),
              "f": np.arange(5, dtype=np.uint8), "meta/sha256": np.array("ignored")}
    h = hashlib.sha256()
    for k in ["a", "b", "c", "d", "e", "f"]:
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}\0{a.dtype.str}\0{a.shape}\0".encode() + a.tobytes())
    assert checkpoint.digest(arrays) == h.hexdigest()
    arrays["b"] = arrays["b"] + 1e-12
    assert checkpoint.digest(arrays) != h.hexdigest()


def test_best_checkpoint_holds_the_best_epochs_weights_and_optimizer_state(tmp_path):
    """best.npz is copied into reused arrays at each improvement: it must hold the weights,
    Adam buffers and shuffle stream of the best epoch, not of a later one."""
    from backprop_cli import api
    from backprop_cli.training.callbacks import Callback
    from helpers import CONFIGS
    seen = {}

    class Record(Callback):
        def on_epoch_complete(self, state):
            seen[state.epoch] = (state.network.state_dict(), state.optimizer.state_dict())

    res = api.train(CONFIGS / "overfit.yaml", ["training.epochs=150", "training.batch_size=10"],
                    runs_dir=tmp_path, callbacks=[Record()])
    best = res.summary["best"]["epoch"]
    assert 1 < best < 150   # val_loss went down, then up
    a = checkpoint.load_arrays(res.run_dir / "checkpoints" / "best.npz")
    assert int(a["meta/epoch"]) == best
    weights, optim = seen[best]
    for k, v in weights.items():
        np.testing.assert_array_equal(a[f"param/{k}"], v)
        assert not np.array_equal(a[f"param/{k}"], seen[150][0][k])
    for k, v in optim.items():
        np.testing.assert_array_equal(a[f"optim/{k}"], v)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_every_file_a_run_writes_honours_the_umask(tmp_path, umask):
    """config.yaml, metrics.jsonl, summary.json, preprocessing.npz, the checkpoints, the
    metrics rewritten by --resume and eval.json: 0666 less the umask, as open() makes them."""
    import os
    import stat

    from click.testing import CliRunner

    from backprop_cli import api
    from backprop_cli.cli import main
    from backprop_cli.training.callbacks import Callback
    from helpers import CONFIGS

    class Crash(Callback):
        def on_epoch_complete(self, state):
            if state.epoch == 3:
                raise RuntimeError("power cut")

    old = os.umask(umask)
    try:
        sets = ["training.epochs=6", "output.checkpoint_every=1"]
        with pytest.raises(RuntimeError):
            api.train(CONFIGS / "iris.yaml", sets, runs_dir=tmp_path / "runs", callbacks=[Crash()])
        run = next((tmp_path / "runs").iterdir())
        api.train(resume=run)
        r = CliRunner().invoke(main, ["eval", str(run), "-q"])
        assert r.exit_code == 0, r.output
        checkpoint.save(tmp_path / "alone.npz", weights(), epoch=1)
    finally:
        os.umask(old)
    files = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode)
             for p in tmp_path.rglob("*")}
    names = {n.split("/", 2)[-1] for n in files}
    assert {"config.yaml", "metrics.jsonl", "summary.json", "preprocessing.npz", "eval.json",
            "checkpoints/last.npz", "checkpoints/best.npz", "alone.npz"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    for name, mode in files.items():
        expected = (0o777 if (tmp_path / name).is_dir() else 0o666) & ~umask
        assert oct(mode) == oct(expected), name


def test_format_number_absent_meta_and_the_tampering_message(tmp_path):
    # the format number is in every checkpoint (readers of later formats check it); meta
    # entries that were not saved read as the caller's default
    p = tmp_path / "c.npz"
    checkpoint.save(p, weights(), epoch=1)
    arrays = checkpoint.load_arrays(p)
    assert int(arrays["meta/format"]) == checkpoint.FORMAT == 1
    assert checkpoint.read_meta(arrays, "config") is None
    assert checkpoint.read_meta(arrays, "state", {}) == {}
    arrays = dict(arrays)
    arrays["param/0.b"] = arrays["param/0.b"] * 2 + 1
    np.savez(p, **arrays)
    with pytest.raises(CheckpointError) as e:
        checkpoint.load_arrays(p)
    assert str(e.value) == (f"{p}: checksum mismatch: the checkpoint is corrupted or was "
                            "modified; refusing to load it")


def test_a_zip_with_a_broken_array_is_named_in_the_error(tmp_path):
    import zipfile
    p = tmp_path / "c.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("a.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}    \n")  # bad header
    with pytest.raises(CheckpointError) as e:
        checkpoint.load_arrays(p)
    assert str(e.value).startswith(f"{p}: not a readable .npz file (")


@pytest.mark.parametrize("header", [b"{'descr': 1}", b"{'descr': broken"])  # the second: unclosed
def test_a_broken_npy_header_is_one_error_line(tmp_path, header):
    """A checkpoint (train --resume, eval) or a data .npz (predict --data) whose array header
    is malformed gives the located one-line error, never a traceback (exit 3)."""
    import zipfile
    raw = b"\x93NUMPY\x01\x00\x10\x00" + header.ljust(15) + b"\n"
    p = tmp_path / "c.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("X.npy", raw)
    with pytest.raises(CheckpointError, match="not a readable .npz file"):
        checkpoint.load_arrays(p)
    from backprop_cli.data.npz import read_npz
    from backprop_cli.errors import DataError
    with pytest.raises(DataError, match="not a readable .npz file"):
        read_npz(p, "X", None)


def test_a_write_is_flushed_to_disk_before_it_replaces_the_file(tmp_path, monkeypatch):
    """Temp file, fsync, rename: after a power cut the old file or the whole new one is there,
    never a renamed file whose data was still in the page cache."""
    import os

    from backprop_cli.rundir import atomic_write
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.fstat(fd).st_ino))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.stat(src).st_ino))
        real_replace(src, dst)

    monkeypatch.setattr("os.fsync", fsync)
    monkeypatch.setattr("os.replace", replace)
    atomic_write(tmp_path / "summary.json", "{}\n")
    checkpoint.save(tmp_path / "last.npz", weights(), epoch=1)
    files = [(tmp_path / n).stat().st_ino for n in ("summary.json", "last.npz")]
    assert events == [("fsync", files[0]), ("replace", files[0]),
                      ("fsync", files[1]), ("replace", files[1])]


def test_a_temporary_name_in_use_is_never_written_through(tmp_path, monkeypatch):
    """The temp file is created new (O_EXCL): a name already taken, by another writer's temp
    file or by a symlink planted in the run folder, is skipped, and what it points at is kept."""
    import os
    import secrets

    from backprop_cli.rundir import atomic_write
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not yours\n")
    (tmp_path / ".summary.json.aaaa.tmp").write_text("another writer's\n")
    os.symlink(elsewhere, tmp_path / ".summary.json.bbbb.tmp")
    names = iter(["aaaa", "bbbb", "cccc"])
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(names))
    atomic_write(tmp_path / "summary.json", "{}\n")
    assert (tmp_path / "summary.json").read_text() == "{}\n"
    assert not (tmp_path / "summary.json").is_symlink()
    assert elsewhere.read_text() == "not yours\n"
    assert (tmp_path / ".summary.json.aaaa.tmp").read_text() == "another writer's\n"
    assert os.readlink(tmp_path / ".summary.json.bbbb.tmp") == str(elsewhere)


def test_no_free_temporary_name_is_an_error_naming_the_folder(tmp_path, monkeypatch):
    import secrets

    (tmp_path / ".last.npz.aaaa.tmp").write_text("taken")
    monkeypatch.setattr(secrets, "token_hex", lambda n: "aaaa")
    with pytest.raises(FileExistsError) as e:
        checkpoint.save(tmp_path / "last.npz", weights(), epoch=1)
    assert str(e.value) == f"{tmp_path}: no free temporary file name for last.npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".last.npz.aaaa.tmp"]
    assert (tmp_path / ".last.npz.aaaa.tmp").read_text() == "taken"


def test_a_long_file_name_is_written_atomically(tmp_path):
    """A name the user picks (eval --output) may be long: its temporary file, '.<name>.<8 hex
    digits>.tmp', stays within the 255 bytes a file name may have up to a 241-byte name."""
    from backprop_cli.rundir import atomic_write
    path = tmp_path / ("e" * 236 + ".json")
    atomic_write(path, "{}\n")
    assert [p.name for p in tmp_path.iterdir()] == [path.name] and path.read_text() == "{}\n"
