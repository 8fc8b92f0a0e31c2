"""The benchmark harness still runs: W1 on backprop alone, a few dozen steps (no torch needed).

The benchmark itself is a script that prints figures (benchmarks/bench.py), never a test.
"""
import importlib.util
import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_w1_runs_on_backprops_real_training_loop(tmp_path):
    bench = load_bench()
    runner = bench.BackpropRunner(bench.WORKLOADS["W1"], tmp_path)
    c = runner.chunk(30)
    # 30 epochs of the 4 xor examples in batches of 4: one step per epoch
    assert (c.epochs, c.steps, c.samples) == (30, 30, 120)
    assert c.seconds > 0 and c.note == ""
    assert not list((tmp_path / f"runs-W1-{os.getpid()}").glob("*"))  # run folder removed


def test_workload_sizes():
    w = load_bench().WORKLOADS
    # W4: 784·1024 + 1024 + 1024·1024 + 1024 + 1024·10 + 10 weights and biases
    assert w["W4"].parameters == 1_863_690
    assert w["W1"].sizes == [2, 4, 1] and w["W3"].steps_per_epoch == 25600 // 128
