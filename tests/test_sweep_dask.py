"""Trials on a real Dask LocalCluster (skipped without the `dask` extra; CI installs it)."""
import os

import pytest
from helpers import XOR_YAML, write

distributed = pytest.importorskip("distributed")

from backprop_cli.sweep.dask_executor import DaskExecutor  # noqa: E402
from backprop_cli.sweep.runner import run_sweep  # noqa: E402


def worker_env():
    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS")


def test_a_local_cluster_stays_on_loopback_without_malloc_trim(tmp_path):
    with DaskExecutor(2) as ex:
        assert ex.address.startswith("tcp://127.0.0.1:")
        assert ex.cluster.dashboard_link.startswith("http://127.0.0.1:")
        envs = ex.client.run(worker_env)
        assert len(envs) == 2
        assert all(w.startswith("tcp://127.0.0.1:") for w in envs)
        assert set(envs.values()) == {(None, "1")}


def test_a_sweep_on_a_local_dask_cluster(tmp_path):
    write(tmp_path / "xor.yaml", XOR_YAML)
    path = write(tmp_path / "sweep.yaml", """
base: xor.yaml
seeds: [0, 1]
parameters:
  optimizer.lr: {values: [0.5, 2.0]}
  training.epochs: {values: [100]}
""")
    result = run_sweep(path, workers=2, executor="dask", runs_dir=tmp_path / "runs")
    assert result.ran == 4 and {r["status"] for r in result.rows.values()} == {"ok"}
    for tid, row in result.rows.items():  # the driver wrote the files the workers sent back
        run = result.sweep_dir / "trials" / tid
        assert row["run_dir"] == str(run)
        assert len((run / "metrics.jsonl").read_text().splitlines()) == row["epochs"] == 100
    assert [p.std is not None for p in result.points] == [True, True]  # mean ± std over 2 seeds
    assert (result.sweep_dir / "best.yaml").exists()
