"""The sweep file: trials it declares, ids, validation up front (spec.py), dry runs."""
import subprocess

import pytest
import yaml
from helpers import XOR_YAML, backprop_exe, write

from backprop_cli.errors import ConfigError
from backprop_cli.sweep.runner import parse_shard, run_sweep
from backprop_cli.sweep.spec import load_sweep, validate_trials, yaml_value


def sweep_file(tmp_path, body: str, base: str = XOR_YAML):
    write(tmp_path / "xor.yaml", base)
    return write(tmp_path / "sweep.yaml", body)


def test_grid_is_every_combination_times_seeds(tmp_path):
    spec = load_sweep(sweep_file(tmp_path, """
base: xor.yaml
seeds: [0, 1]
parameters:
  optimizer.lr: {values: [0.1, 1.0]}
  model.layers.0.units: [2, 4, 8]
"""))
    trials = spec.trials()
    assert len(trials) == 2 * 3 * 2
    assert trials[0].overrides == ["optimizer.lr=0.1", "model.layers.0.units=2", "seed=0"]
    assert trials[1].overrides == ["optimizer.lr=0.1", "model.layers.0.units=2", "seed=1"]
    assert len({t.id for t in trials}) == 12          # a hash of the overrides: all different
    assert trials[0].point == trials[1].point         # same point, different seeds
    assert trials[0].id == load_sweep(tmp_path / "sweep.yaml").trials()[0].id  # stable
    assert [t.index for t in trials] == list(range(12))


def test_random_draws_are_in_range_and_repeatable(tmp_path):
    path = sweep_file(tmp_path, """
base: xor.yaml
method: random
trials: 7
seed: 3
parameters:
  optimizer.lr: {distribution: log_uniform, min: 1.0e-3, max: 1.0}
  model.layers.0.units: {distribution: int_uniform, min: 2, max: 5}
  optimizer.momentum: {distribution: uniform, min: 0.0, max: 0.9}
  loss: {values: [bce, mse]}
""")
    trials = load_sweep(path).trials()
    assert len(trials) == 7 and len({t.id for t in trials}) == 7
    for t in trials:
        assert 1e-3 <= t.params["optimizer.lr"] <= 1.0
        assert t.params["model.layers.0.units"] in (2, 3, 4, 5)
        assert 0.0 <= t.params["optimizer.momentum"] <= 0.9
        assert t.params["loss"] in ("bce", "mse")
    assert [t.id for t in load_sweep(path).trials()] == [t.id for t in trials]


def test_override_values_round_trip_through_yaml():
    for v in (0.1, 1e-05, 3, None, True, "tanh", [1, 2], {"name": "sgd", "lr": 0.5}):
        assert yaml.safe_load(yaml_value(v)) == v


@pytest.mark.parametrize("body, message", [
    ("base: xor.yaml\nmetod: grid\n", "sweep.yaml:2:1: metod: unknown key; did you mean 'method'?"),
    ("base: xor.yaml\nparameters:\n  optimizer.lr: {distribution: log_uniform, min: 0.1, max: 1}\n",
     "sweep.yaml:3:32: parameters.optimizer.lr.distribution: distribution log_uniform needs method: random"),
    ("base: xor.yaml\nmetric: {name: val_los}\n",
     "sweep.yaml:2:16: metric.name: unknown metric 'val_los'; did you mean 'val_loss'?"),
    ("base: missing.yaml\n", "sweep.yaml:1:7: base: config file not found"),
    ("base: xor.yaml\nmethod: random\n", "sweep.yaml:2:9: method: random needs trials: N"),
    ("base: xor.yaml\nseeds: [0, 0]\n", "sweep.yaml:2:8: seeds: must be a list of different whole numbers"),
])
def test_sweep_file_errors_name_position_key_and_expectation(tmp_path, body, message):
    path = sweep_file(tmp_path, body)
    with pytest.raises(ConfigError) as e:
        load_sweep(path)
    assert any(message in line for line in e.value.errors), e.value.errors


def test_every_trial_is_validated_before_any_runs(tmp_path):
    path = sweep_file(tmp_path, """
base: xor.yaml
parameters:
  optimizer.lr: {values: [0.5, -1.0]}
""")
    spec = load_sweep(path)
    with pytest.raises(ConfigError) as e:
        validate_trials(spec, spec.trials())
    bad = spec.trials()[1]
    assert e.value.errors == [f"{path}: trial 1 ({bad.id}): --set optimizer.lr=-1.0: optimizer.lr: "
                              "must be > 0, got -1"]
    # from the command line: one line, exit 2, and nothing is run or written
    r = subprocess.run([backprop_exe(), "sweep", str(path)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == f"Error: {e.value.errors[0]}"
    assert not (tmp_path / "runs").exists()


def test_dry_run_prints_runnable_trials_and_writes_nothing(tmp_path):
    path = sweep_file(tmp_path, """
base: xor.yaml
seeds: [0, 1]
parameters:
  optimizer.lr: {values: [0.5, 1.0]}
""")
    r = subprocess.run([backprop_exe(), "sweep", str(path), "--dry-run"], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 4
    trial_id, command = lines[3].split("\t")
    assert command == (f"backprop train {tmp_path / 'xor.yaml'} --set optimizer.lr=1.0 --set seed=1")
    assert not (tmp_path / "runs").exists()
    result = run_sweep(path, dry_run=True, shard=(1, 2))
    assert [t.id for t in result.trials] == [line.split("\t")[0] for line in lines[1::2]]


@pytest.mark.parametrize("text", ["2/2", "1", "a/b", "-1/3", "0/0"])
def test_bad_shard_is_a_usage_error(text):
    with pytest.raises(ConfigError, match="expected I/N with 0 <= I < N"):
        parse_shard(text)


def test_the_example_sweep_is_valid():
    from helpers import CONFIGS
    result = run_sweep(CONFIGS / "sweeps" / "xor-lr.yaml", dry_run=True)
    assert len(result.trials) == 16 and result.info["base"] == str((CONFIGS / "xor.yaml").resolve())


def test_dask_executor_without_the_extra_is_a_usage_error(tmp_path, monkeypatch):
    import sys

    from backprop_cli.errors import UsageError
    path = sweep_file(tmp_path, "base: xor.yaml\nparameters:\n  training.epochs: [5]\n")
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(UsageError, match=r"needs dask.distributed.*pip install 'backprop-cli\[dask\]'"):
        run_sweep(path, executor="dask", runs_dir=tmp_path / "runs")
