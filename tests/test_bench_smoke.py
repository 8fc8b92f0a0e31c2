"""The benchmark harness still runs: W1 on backprop alone, a few dozen steps (no torch needed);
W6 and W7 for two steps of each competitor.

The benchmark itself is a script that prints figures (benchmarks/bench.py), never a test.
"""
import importlib.util
import os
import sys
from pathlib import Path

import pytest

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


def test_conv_workload_sizes():
    w = load_bench().WORKLOADS
    # LeNet-5: 6·1·25 + 6, 16·6·25 + 16, then 400·120 + 120, 120·84 + 84, 84·10 + 10
    assert w["W6"].parameters == 156 + 2416 + 48120 + 10164 + 850
    assert w["W6"].sizes == [400, 120, 84, 10]  # 16 maps of 5x5 after the second pool
    # W7: 32·3·9 + 32, 64·32·9 + 64, then 64·8·8 features into 10 outputs
    assert w["W7"].parameters == 896 + 18496 + 4096 * 10 + 10
    # conv products per sample: 2·Ho·Wo·O·C·k² each, twice for the first layer (forward and
    # weight gradient), three times for the second (and its input gradient)
    assert w["W6"].conv_flops == 2 * 28 * 28 * 6 * 25 * 2 + 2 * 10 * 10 * 16 * 150 * 3
    assert "sklearn" not in w["W6"].competitors and "torch_cl" in w["W7"].competitors


@pytest.mark.parametrize("name", ["W6", "W7"])
def test_conv_workloads_run_on_backprop_and_torch_in_both_layouts(name, tmp_path):
    """A few steps of each competitor on a small copy of the workload: backprop builds the
    same network as the PyTorch model (parameter counts), the im2col buffers it keeps are the
    formula's, and channels_last really is the torch_cl model's layout."""
    from dataclasses import replace
    bench = load_bench()
    w = replace(bench.WORKLOADS[name], n=2 * bench.WORKLOADS[name].batch)
    runner = bench.BackpropRunner(w, tmp_path)
    c = runner.chunk(1)
    assert (c.epochs, c.steps, c.samples, c.note) == (1, 2, w.n, "")
    measured = list(runner.workspace.values())  # read from the conv layers after training
    assert [{k: v for k, v in f.items() if v} for f in w.im2col_bytes(w.batch)] == measured
    if importlib.util.find_spec("torch") is None:
        return
    import torch
    for cls, layout in ((bench.TorchRunner, torch.contiguous_format),
                        (bench.TorchChannelsLastRunner, torch.channels_last)):
        t = cls(w, tmp_path)
        assert sum(p.numel() for p in t.model.parameters()) == w.parameters
        assert t.model[0].weight.is_contiguous(memory_format=layout)
        assert t.X.is_contiguous(memory_format=layout)
        assert t.chunk(1).steps == 2


def test_scaling_model_is_amdahls_law_and_karp_flatt():
    bench = load_bench()
    # a 1000 µs step, 600 of it products; on 2 threads the products halve and the rest stays:
    # exactly Amdahl's assumption, so both models agree and predict the measured 2-thread step
    # (500 products + 100 of the optimizer's blocks on backprop's pool)
    one = {"step_us": 1000.0, "products_us": 500.0, "pooled_us": 100.0, "parallel_share": 0.6}
    two = {"step_us": 700.0, "products_us": 250.0, "pooled_us": 50.0, "parallel_share": 300 / 700}
    m = bench.scaling_model(one, two, at=(4, 16))
    assert m["amdahl_2"] == pytest.approx(1000 / 700) == pytest.approx(m["measured_2"])
    assert m["serial_fraction"] == pytest.approx(0.4)
    assert m["parallel_2"] == pytest.approx(2.0) and m["rest_2"] == pytest.approx(1.0)
    assert m["amdahl"][4] == pytest.approx(1 / (0.4 + 0.6 / 4))
    assert m["karp_flatt"][16] == pytest.approx(m["amdahl"][16])
    assert m["limit"] == pytest.approx(2.5)
    # worse than Amdahl on 2 threads (the parallel work scaled 1.5x): Karp-Flatt sees a larger
    # serial fraction and predicts less than the share-based bound at every count
    two = {"step_us": 800.0, "products_us": 340.0, "pooled_us": 60.0, "parallel_share": 0.5}
    m = bench.scaling_model(one, two, at=(4, 16))
    assert m["serial_fraction"] == pytest.approx(0.6)
    assert m["karp_flatt"][16] == pytest.approx(1 / (0.6 + 0.4 / 16))
    assert all(m["karp_flatt"][n] < m["amdahl"][n] for n in (4, 16))


def test_speedups_divide_each_competitors_throughput_by_its_first_thread_count():
    bench = load_bench()

    def at(**rates):
        return {"workloads": {"W4": {"competitors": {c: {"samples_per_s": v} for c, v in rates.items()}}}}
    results = {"1": at(backprop=100.0, torch=50.0), "2": at(backprop=180.0, torch=90.0, sklearn=7.0),
               "4": at(backprop=300.0, torch=200.0)}
    s = bench.speedups(results, [1, 2, 4])
    assert s == {"W4": {"backprop": {2: 1.8, 4: 3.0}, "torch": {2: 1.8, 4: 4.0}}}
