"""benchmarks/sklearn_mlp.py (BackpropClassifier beside MLPClassifier) still runs and reports
what it claims, on iris with few seeds. The benchmark's figures are printed, never asserted."""
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "sklearn_mlp.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("sklearn_mlp", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["sklearn_mlp"] = module
    spec.loader.exec_module(module)
    return module


def test_compare_on_iris_gives_sane_accuracies_and_times(bench):
    row = bench.compare("iris", seeds=1, epochs=200, repeats=1)
    # iris: 150 examples, a stratified 75/25 split
    assert (row["n_train"], row["n_test"], row["features"], row["classes"]) == (112, 38, 4, 3)
    assert row["batch_size"] == 112  # min(200, n_train)
    for key in ("backprop", "mlp"):
        r = row[key]
        assert len(r["accuracy"]) == len(r["seconds"]) == 1
        assert r["accuracy_mean"] > 0.8 and r["accuracy_std"] == 0.0
        assert r["fit_seconds"] > 0
    assert row["speedup"] == pytest.approx(row["mlp"]["fit_seconds"] / row["backprop"]["fit_seconds"])
    assert row["noise"] >= 1 / 38  # one test example at least
    assert row["within_noise"] == (abs(row["accuracy_difference"]) <= row["noise"])


def test_models_share_the_network_and_training(bench):
    backprop, mlp = bench.models(n_train=500, epochs=7, seed=3, alpha=1e-3)
    p, q = backprop.get_params(), mlp.get_params()
    assert p["layers"][0]["units"] == q["hidden_layer_sizes"][0] == 100
    assert p["batch_size"] == q["batch_size"] == 200
    assert p["epochs"] == q["max_iter"] == 7
    assert p["n_iter_no_change"] == q["n_iter_no_change"] == 8  # convergence never stops either
    # equal L2 per step: backprop's λ/m · W equals MLPClassifier's alpha/batch · W
    assert p["l2"] / 500 == pytest.approx(q["alpha"] / 200)
    assert p["random_state"] == q["random_state"] == 3


def test_run_report_and_table(bench):
    report = bench.run(["iris"], seeds=2, epochs=100, repeats=1, threads=1)
    assert report["threads"] == 1 and len(report["rows"]) == 1
    row = report["rows"][0]
    assert len(row["backprop"]["accuracy"]) == 2 and row["epochs"] == 100
    assert report["geomean_speedup"] == pytest.approx(row["speedup"])
    if report["blas"] is not None:  # threadpoolctl installed: every pool limited to 1 thread
        assert all(b["num_threads"] == 1 for b in report["blas"])
    text = bench.markdown(report)
    assert "| iris | 112 | 4 | 3 | 100 |" in text
    assert f"geometric-mean speed-up: {report['geomean_speedup']:.2f}×" in text
    assert json.loads(json.dumps(report)) == report


def test_main_json_and_bad_dataset(bench, capsys):
    assert bench.main(["--datasets", "wine", "--seeds", "1", "--epochs", "5", "--repeats", "1",
                       "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["dataset"] for r in report["rows"]] == ["wine"]
    assert math.isfinite(report["geomean_speedup"])
    with pytest.raises(SystemExit) as e:
        bench.main(["--datasets", "iris,mnist"])
    assert e.value.code == 2
    assert "unknown data set 'mnist'" in capsys.readouterr().err
