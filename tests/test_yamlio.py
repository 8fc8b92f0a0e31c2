"""YAML 1.2 numbers (yamlio.py), through every way a value reaches a config: the config file,
--set, a sweep file's values and an extends parent."""
import math

import pytest
import yaml
from click.testing import CliRunner
from helpers import XOR_YAML, write

from backprop_cli import yamlio
from backprop_cli.cli import main
from backprop_cli.config import load_config
from backprop_cli.errors import ConfigError
from backprop_cli.sweep.spec import load_sweep, yaml_value

# spelling of optimizer.lr (a float > 0) -> the value read, or the validator's exact complaint
LR = [
    ("1e-3", 0.001), ("1E3", 1000.0), ("1e+3", 1000.0), ("2.5e-4", 0.00025), ("5E-1", 0.5),
    (".5", 0.5), ("+.5", 0.5), ("1.", 1.0), ("+1", 1.0), ("0.1", 0.1), ("1.0e-3", 0.001),
    ("0x10", 16.0), ("0o10", 8.0), ("1_000.5", 1000.5),
    ("-1e-3", "must be > 0, got -0.001"),
    ("-.inf", "must be a finite number, got -.inf"),
    (".inf", "must be a finite number, got .inf"),
    (".nan", "must be a finite number, got .nan"),
    ("-inf", "must be a number, got '-inf'"),
    ("1e3abc", "must be a number, got '1e3abc'"),
    ("1.2.3", "must be a number, got '1.2.3'"),
    ("1e", "must be a number, got '1e'"),
    ("e3", "must be a number, got 'e3'"),
    ("1:30", "must be a number, got '1:30'"),
    ("0b11", "must be a number, got '0b11'"),
]
# spelling of training.epochs (an integer >= 1)
EPOCHS = [("010", 10), ("+7", 7), ("1_000", 1000), ("0x1F", 31),
          ("1e3", "must be an integer, got 1000.0"), ("0", "must be >= 1, got 0")]


def with_lr(text: str) -> str:
    return XOR_YAML.replace("lr: 0.5", f"lr: {text}")


def outcome(key: tuple, make_config):
    """The value at ``key`` of the loaded config, or the problem reported for it."""
    try:
        cfg = make_config()
    except ConfigError as e:
        (line,) = e.errors
        return line.split(f"{'.'.join(key)}: ", 1)[1]
    return cfg.data[key[0]][key[1]]


def same(found, expected) -> bool:
    return found == expected and type(found) is type(expected)


@pytest.mark.parametrize("text, expected", LR + [("1_000", 1000.0)])
def test_lr_spellings_in_a_config_file_and_an_extends_parent(tmp_path, text, expected):
    cfg = write(tmp_path / "c.yaml", with_lr(text))
    assert same(outcome(("optimizer", "lr"), lambda: load_config(cfg)), expected)
    (tmp_path / "base").mkdir()
    write(tmp_path / "base" / "parent.yaml", with_lr(text))
    child = write(tmp_path / "child.yaml", "extends: base/parent.yaml\ntraining: {epochs: 5}\n")
    assert same(outcome(("optimizer", "lr"), lambda: load_config(child)), expected)


@pytest.mark.parametrize("text, expected", LR)
def test_lr_spellings_in_set(tmp_path, text, expected):
    cfg = write(tmp_path / "c.yaml", XOR_YAML)
    assert same(outcome(("optimizer", "lr"), lambda: load_config(cfg, [f"optimizer.lr={text}"])), expected)


@pytest.mark.parametrize("text, expected", [(t, e) for t, e in LR if isinstance(e, float)])
def test_lr_spellings_in_a_sweep_file(tmp_path, text, expected):
    write(tmp_path / "xor.yaml", XOR_YAML)
    sweep = write(tmp_path / "sweep.yaml", f"base: xor.yaml\nparameters:\n  optimizer.lr: [{text}, 7]\n")
    spec = load_sweep(sweep)
    trial = spec.trials()[0]
    assert load_config(spec.base, trial.overrides)["optimizer"]["lr"] == expected


def test_log_uniform_bounds_in_e_notation(tmp_path):
    write(tmp_path / "xor.yaml", XOR_YAML)
    sweep = write(tmp_path / "sweep.yaml", "base: xor.yaml\nmethod: random\ntrials: 5\nparameters:\n"
                                           "  optimizer.lr: {distribution: log_uniform, min: 1e-4, max: 1e-1}\n")
    spec = load_sweep(sweep)
    assert (spec.parameters[0].low, spec.parameters[0].high) == (1e-4, 1e-1)
    assert all(1e-4 <= t.params["optimizer.lr"] <= 1e-1 for t in spec.trials())


@pytest.mark.parametrize("text, expected", EPOCHS)
def test_integer_spellings_in_a_file_and_in_set(tmp_path, text, expected):
    cfg = write(tmp_path / "c.yaml", XOR_YAML.replace("epochs: 2000", f"epochs: {text}"))
    assert same(outcome(("training", "epochs"), lambda: load_config(cfg)), expected)
    base = write(tmp_path / "base.yaml", XOR_YAML)
    assert same(outcome(("training", "epochs"), lambda: load_config(base, [f"training.epochs={text}"])),
                expected)


@pytest.mark.parametrize("name", ["1e3abc", "v1.2.3", "1.2.3", "Dense", "0b11", "1e-3x"])
def test_strings_that_start_like_numbers_stay_strings(tmp_path, name):
    cfg = write(tmp_path / "c.yaml", f"name: {name}\n" + XOR_YAML)
    assert load_config(cfg).name == name
    assert load_config(tmp_path / "c.yaml", [f"name={name}"]).name == name


@pytest.mark.parametrize("value", ["1e3", "010", ".5", "1:30", "0b11", "1_0", "0o7", "yes", "1e3abc",
                                   1e-3, 1e-05, 1e16, 31, -0.5, math.inf])
def test_what_backprop_writes_reads_back_the_same_in_yaml_1_2_and_1_1(value):
    for text in (yaml_value(value), yamlio.dump({"k": value})):
        assert yamlio.load(text) in (value, {"k": value})
        assert yaml.safe_load(text) in (value, {"k": value})


def test_a_quoted_number_in_a_sweep_stays_a_string(tmp_path):
    write(tmp_path / "xor.yaml", XOR_YAML)
    sweep = write(tmp_path / "sweep.yaml", "base: xor.yaml\nparameters:\n  name: ['1e3', '010']\n")
    spec = load_sweep(sweep)
    assert [load_config(spec.base, t.overrides).name for t in spec.trials()] == ["1e3", "010"]


def test_the_cli_trains_with_lr_1e_3_and_locates_a_bad_one(tmp_path):
    cfg = write(tmp_path / "c.yaml", with_lr("1e-1"))
    r = CliRunner().invoke(main, ["config", "validate", str(cfg)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["train", str(cfg), "--set", "optimizer.lr=1e-3", "--set", "training.epochs=2",
                                  "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    assert r.exit_code == 0, r.output
    (run,) = (tmp_path / "runs").iterdir()
    assert yamlio.load((run / "config.yaml").read_text())["optimizer"]["lr"] == 0.001
    r = CliRunner().invoke(main, ["train", str(cfg), "--set", "optimizer.lr=1e3abc"])
    assert r.exit_code == 2
    assert r.stderr.strip() == "Error: --set optimizer.lr=1e3abc: optimizer.lr: must be a number, got '1e3abc'"
