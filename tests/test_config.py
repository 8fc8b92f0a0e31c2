"""Config loading beyond the bad-config corpus: overrides, extends, origins, the generated docs
and JSON Schema, and ``backprop config show / validate / schema``."""
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from helpers import CONFIGS, ROOT, XOR_YAML, write

from backprop_cli import configdoc, yamlio
from backprop_cli.cli import main
from backprop_cli.config import load_config
from backprop_cli.errors import ConfigError


def run(*args):
    return CliRunner().invoke(main, list(args))


# -- overrides ---------------------------------------------------------------------------------
def test_overrides_set_list_items_and_flow_mappings(tmp_path):
    cfg = write(tmp_path / "x.yaml", XOR_YAML)
    c = load_config(cfg, ["model.layers.0.units=8", "optimizer={name: sgd, lr: 0.001, momentum: 0.9}",
                          "training.batch_size=2", "data.n_inputs=3"])
    assert c["model"]["layers"][0]["units"] == 8
    assert c["optimizer"]["lr"] == 0.001 and c["optimizer"]["momentum"] == 0.9
    assert c["training"]["batch_size"] == 2
    assert c["data"]["source"] == "xor" and c["data"]["n_inputs"] == 3  # short form expanded
    assert c.origin(("optimizer", "lr")) == "--set optimizer={name: sgd, lr: 0.001, momentum: 0.9}"
    assert c.origin(("optimizer", "nesterov")) == "default"


def test_later_override_of_a_whole_mapping_names_itself(tmp_path):
    cfg = write(tmp_path / "x.yaml", XOR_YAML)
    with pytest.raises(ConfigError) as e:
        load_config(cfg, ["optimizer.lr=0.1", "optimizer={name: sgd, lr: -2}"])
    assert e.value.errors == ["--set optimizer={name: sgd, lr: -2}: optimizer.lr: must be > 0, got -2"]


def test_override_errors_come_after_file_errors(tmp_path):
    cfg = write(tmp_path / "x.yaml", XOR_YAML.replace("epochs: 2000", "epochs: 0"))
    with pytest.raises(ConfigError) as e:
        load_config(cfg, ["optimizer.lr=-1"])
    assert e.value.errors == [f"{cfg}:9:20: training.epochs: must be >= 1, got 0",
                              "--set optimizer.lr=-1: optimizer.lr: must be > 0, got -1"]


def test_train_records_overrides_in_the_run_folder(tmp_path):
    cfg = write(tmp_path / "x.yaml", XOR_YAML)
    r = run("train", str(cfg), "--set", "training.epochs=3", "--set", "optimizer={name: sgd, lr: 0.2}",
            "--runs-dir", str(tmp_path / "runs"), "--quiet", "--json")
    assert r.exit_code == 0, r.output
    run_dir = Path(json.loads(r.stdout)["run_dir"])
    text = (run_dir / "config.yaml").read_text()
    assert text.splitlines()[0].endswith(
        "overrides: --set training.epochs=3 --set optimizer={name: sgd, lr: 0.2}")
    saved = yaml.safe_load(text)
    assert saved["training"]["epochs"] == 3 and saved["optimizer"]["lr"] == 0.2


def test_gradcheck_validates_overrides_like_train(tmp_path):
    cfg = write(tmp_path / "x.yaml", XOR_YAML)
    r = run("gradcheck", str(cfg), "--set", "model.layers.1.activation=sigmoidd")
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: --set model.layers.1.activation=sigmoidd: "
                               "model.layers.1.activation: unknown activation 'sigmoidd'; "
                               "did you mean 'sigmoid'?")


# -- extends -----------------------------------------------------------------------------------
def test_extends_chain_merges_mappings_and_replaces_lists(tmp_path):
    (tmp_path / "base").mkdir()
    write(tmp_path / "base" / "root.yaml", XOR_YAML)
    write(tmp_path / "base" / "mid.yaml", "extends: root.yaml\noptimizer: {momentum: 0.5}\n"
          "model:\n  layers: [{units: 1, activation: sigmoid}]\n")
    child = write(tmp_path / "child.yaml", "extends: base/mid.yaml\ntraining: {epochs: 7}\n")
    c = load_config(child)
    assert c["optimizer"]["name"] == "sgd" and c["optimizer"]["lr"] == 0.5  # from root
    assert c["optimizer"]["momentum"] == 0.5  # merged in from mid
    assert [layer["units"] for layer in c["model"]["layers"]] == [1]  # list replaced
    assert c["training"]["epochs"] == 7 and c["training"]["batch_size"] == "full"
    assert c.files == [str(child), str(tmp_path / "base" / "mid.yaml"),
                       str(tmp_path / "base" / "root.yaml")]
    assert c.origin(("training", "epochs")) == "file"
    assert c.origin(("optimizer", "lr")) == f"extends {tmp_path / 'base' / 'root.yaml'}"
    assert c.origin(("optimizer", "momentum")) == f"extends {tmp_path / 'base' / 'mid.yaml'}"
    assert c.origin(("seed",)) == "default"


def test_a_child_fixes_a_parents_error_and_a_parents_error_points_at_the_parent(tmp_path):
    base = write(tmp_path / "base.yaml", XOR_YAML.replace("lr: 0.5", "lr: -0.5"))
    fixed = write(tmp_path / "fixed.yaml", "extends: base.yaml\noptimizer: {lr: 0.1}\n")
    assert load_config(fixed)["optimizer"]["lr"] == 0.1
    broken = write(tmp_path / "broken.yaml", "extends: base.yaml\nseed: 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(broken)
    assert e.value.errors == [f"{base}:8:28: optimizer.lr: must be > 0, got -0.5"]


def test_extends_merges_a_short_form_with_a_mapping(tmp_path):
    """data: xor in a parent and data: {val_fraction: ...} in a child (and the other way
    round, with an optimizer) merge as the long forms do, layers' activations included."""
    write(tmp_path / "root.yaml", XOR_YAML.replace("optimizer: {name: sgd, lr: 0.5}", "optimizer: adam"))
    child = write(tmp_path / "child.yaml", "extends: root.yaml\ndata: {val_fraction: 0.25}\n"
                  "optimizer: {lr: 0.02}\n")
    c = load_config(child)
    assert c["data"]["source"] == "xor" and c["data"]["val_fraction"] == 0.25
    assert c["optimizer"]["name"] == "adam" and c["optimizer"]["lr"] == 0.02
    back = write(tmp_path / "back.yaml", "extends: child.yaml\ndata: spirals\n")
    c = load_config(back)
    assert c["data"]["source"] == "spirals" and c["data"]["val_fraction"] == 0.25


def test_extends_self_is_a_cycle(tmp_path):
    cfg = write(tmp_path / "me.yaml", "extends: me.yaml\n")
    with pytest.raises(ConfigError, match=r"me.yaml:1:10: extends: cycle: .*me.yaml -> .*me.yaml$"):
        load_config(cfg)


# -- config show / validate / schema / docs -----------------------------------------------------
def test_config_show_prints_every_value_with_its_origin(tmp_path):
    write(tmp_path / "base.yaml", XOR_YAML)
    cfg = write(tmp_path / "c.yaml", "extends: base.yaml\nseed: 4\n")
    r = run("config", "show", str(cfg), "--set", "training.epochs=9")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == f"# {cfg}, resolved (extends {tmp_path / 'base.yaml'}); overrides: --set training.epochs=9"
    found = {line.split("#")[0].strip(): line.split("# ")[-1] for line in lines[1:] if "#" in line}
    assert found["seed: 4"] == "file"
    assert found["epochs: 9"] == "--set training.epochs=9"
    assert found["lr: 0.5"] == f"extends {tmp_path / 'base.yaml'}"
    assert found["dtype: float32"] == "default"
    # the text without its comments is the resolved config itself
    assert yaml.safe_load(r.stdout) == load_config(cfg, ["training.epochs=9"]).data


def test_config_show_json(tmp_path):
    cfg = write(tmp_path / "c.yaml", XOR_YAML)
    r = run("config", "show", str(cfg), "--json")
    out = json.loads(r.stdout)
    assert out["origins"]["optimizer.lr"] == "file"
    assert out["origins"]["model.layers.0.dropout"] == "default"
    assert out["config"]["training"]["epochs"] == 2000


def test_config_validate_many_files(tmp_path):
    good = write(tmp_path / "good.yaml", XOR_YAML)
    bad = write(tmp_path / "bad.yaml", XOR_YAML.replace("lr: 0.5", "lr: 0"))
    r = run("config", "validate", str(good), str(bad), str(CONFIGS / "xor.yaml"))
    assert r.exit_code == 2
    assert r.stdout.splitlines() == [f"{good}: ok", f"{bad}: 1 error", f"{CONFIGS / 'xor.yaml'}: ok"]
    assert r.stderr.splitlines() == [f"Error: {bad}:8:28: optimizer.lr: must be > 0, got 0",
                                     "2 of 3 configs valid, 1 invalid"]
    assert not (tmp_path / "runs").exists() and not Path("runs").exists()


def test_shipped_configs_are_valid(tmp_path):
    # MNIST is not committed: its configs are checked against a folder of its four files
    from backprop_cli.config import read_config
    from backprop_cli.data.sources import MNIST_FILES
    for stem in MNIST_FILES["train"] + MNIST_FILES["test"]:
        (tmp_path / f"{stem}.gz").touch()
    paths = sorted(CONFIGS.glob("*.yaml"))
    data = {p: read_config(p)[0].get("data") for p in paths}  # extends resolved
    mnist = [p for p in paths if isinstance(data[p], dict) and data[p].get("source") == "mnist"]
    r = run("config", "validate", *(str(p) for p in paths if p not in mnist))
    assert r.exit_code == 0, r.output
    assert mnist and all(load_config(p, [f"data.dir={tmp_path}"]) for p in mnist)


def test_docs_config_md_is_generated_from_the_schema():
    committed = (ROOT / "docs" / "CONFIG.md").read_text()
    assert committed == configdoc.markdown(), (
        "docs/CONFIG.md is stale: run `backprop config docs > docs/CONFIG.md`")
    assert "docs/CONFIG.md" in (ROOT / "README.md").read_text()


def test_docs_name_every_key_and_component():
    md = configdoc.markdown()
    from backprop_cli.config import schema
    for key, node in schema().fields.items():
        assert f"`{key}`" in md
    for name in ("sgd", "tanh", "xavier_uniform", "bce", "xor"):
        assert f"`{name}`" in md
    assert "yaml-language-server: $schema=" in md and "yaml.schemas" in md


def test_config_schema_is_json_schema_with_per_component_options():
    r = run("config", "schema")
    assert r.exit_code == 0
    s = json.loads(r.stdout)
    assert s["$schema"].startswith("http://json-schema.org/draft-07")
    opt = s["else"]["properties"]["optimizer"]["oneOf"]  # "then": a config with extends
    sgd = next(b for b in opt if b.get("properties", {}).get("name", {}).get("const") == "sgd")
    assert sgd["properties"]["lr"]["exclusiveMinimum"] == 0 and "momentum" in sgd["properties"]
    assert sgd["additionalProperties"] is False


def test_json_schema_agrees_with_the_validator_on_examples(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft7Validator(configdoc.json_schema())
    for path in sorted(CONFIGS.glob("*.yaml")):
        errors = list(validator.iter_errors(yamlio.load(path.read_text())))
        assert not errors, (path, errors[0].message)
    good = yamlio.load(XOR_YAML)
    for bad in ({"optimizer": {"name": "sgd", "lr": -1}}, {"optimiser": {}},
                {"optimizer": "sgdd"}, {"training": {"batch_size": 0}},
                {"training": {"batch_size": "fulll"}}, {"optimizer": {"name": "sgd", "momentun": 1}}):
        assert list(validator.iter_errors({**good, **bad})), bad
    assert not list(validator.iter_errors({**good, "training": {"batch_size": "full"},
                                          "extends": "base.yaml"}))


def test_json_schema_leaves_required_keys_to_an_extended_parent(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft7Validator(configdoc.json_schema())
    write(tmp_path / "base.yaml", XOR_YAML.replace("name: sgd, lr: 0.5", "name: adam, lr: 0.01")
          .replace("data: xor", "data: {source: xor}"))
    children = ["extends: base.yaml\ntraining: {epochs: 5}\n",
                "extends: base.yaml\noptimizer: {beta1: 0.8}\n",         # adam's option, adam from the parent
                "extends: base.yaml\nmodel: {input_size: 2}\ndata: {val_fraction: 0.25}\n"]
    for text in children:
        child = write(tmp_path / "child.yaml", text)
        load_config(child)  # valid for the validator ...
        assert not list(validator.iter_errors(yamlio.load(text))), text  # ... and for the schema
        alone = yamlio.load(text.replace("extends: base.yaml\n", ""))
        assert list(validator.iter_errors(alone)), text  # without extends, keys are missing
    # a partial child is still checked: unknown keys, types and ranges
    for bad in ("training: {epochs: 0}", "optimizer: {lr: -1e-3}", "trainng: {}", "model: {layers: 3}"):
        assert list(validator.iter_errors(yamlio.load(f"extends: base.yaml\n{bad}\n"))), bad


def test_json_schema_takes_yaml_1_2_numbers_as_the_validator_does(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft7Validator(configdoc.json_schema())
    for lr, valid in (("1e-3", True), ("1E3", True), (".5", True), ("+1", True), ("-1e-3", False),
                      ("1e3abc", False), ("-.inf", False)):
        text = XOR_YAML.replace("lr: 0.5", f"lr: {lr}")
        errors = list(validator.iter_errors(yamlio.load(text)))
        assert (not errors) == valid, (lr, errors[:1])
        cfg = write(tmp_path / "c.yaml", text)
        if valid:
            assert load_config(cfg)["optimizer"]["lr"] > 0
        else:
            with pytest.raises(ConfigError):
                load_config(cfg)


def test_every_key_of_the_schema_has_a_description_and_a_valid_default():
    from backprop_cli.config import REQUIRED, Component, ListOf, Option, Section, schema
    problems = []

    def walk(node, path):
        if isinstance(node, Option):
            if not node.doc:
                problems.append(f"{path}: no description")
            if node.default is not REQUIRED and node.check(node.default)[1]:
                problems.append(f"{path}: default {node.default!r}: {node.check(node.default)[1]}")
        elif isinstance(node, Section):
            for k, sub in node.fields.items():
                walk(sub, f"{path}.{k}".lstrip("."))
        elif isinstance(node, ListOf):
            problems.extend([f"{path}: no description"] if not node.doc else [])
            walk(node.item, f"{path}.N")
        elif isinstance(node, Component):
            problems.extend([f"{path}: no description"] if not node.doc else [])
            for name in node.registry.names():
                for k, opt in node.options_of(name).items():
                    walk(opt, f"{path}[{name}].{k}")
    walk(schema(), "")
    assert problems == []


def test_file_paths_in_a_parent_are_relative_to_the_parent(tmp_path):
    """A child in another folder inherits its parent's data and init_from files: each path
    names the file beside the parent, and a path the child sets is relative to the child."""
    import numpy as np
    (tmp_path / "base" / "data").mkdir(parents=True)
    (tmp_path / "base" / "data" / "xor.csv").write_text("a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    np.savez(tmp_path / "base" / "w.npz", **{"0.W": np.ones((2, 4)), "0.b": np.zeros(4),
                                             "1.W": np.ones((4, 1)), "1.b": np.zeros(1)})
    write(tmp_path / "base" / "base.yaml", "data: {source: csv, path: data/xor.csv, target: y}\n"
          "model:\n  init_from: w.npz\n  layers: [{units: 4, activation: tanh}, {units: 1, activation: sigmoid}]\n"
          "loss: bce\n")
    (tmp_path / "runs" / "exp").mkdir(parents=True)
    child = write(tmp_path / "runs" / "exp" / "child.yaml", "extends: ../../base/base.yaml\nseed: 3\n")
    c = load_config(child)
    assert c["data"]["path"] == "../../base/data/xor.csv"
    assert (c.base_dir / c["model"]["init_from"]).resolve() == (tmp_path / "base" / "w.npz").resolve()
    from backprop_cli import api
    s = api.setup(c)
    assert len(s.splits.train) + (len(s.splits.val) if s.splits.val is not None else 0) == 4
    np.testing.assert_array_equal(s.network.state_dict()["0.W"], np.ones((2, 4)))
    write(tmp_path / "runs" / "exp" / "mine.csv", "a,b,y\n0,0,0\n1,1,0\n0,1,1\n")
    own = write(tmp_path / "runs" / "exp" / "own.yaml", "extends: ../../base/base.yaml\n"
                "data: {path: mine.csv}\n")
    assert load_config(own)["data"]["path"] == "mine.csv"


# -- paths: normalized, and absolute in a run's config.yaml (issue 13.4) -------------------------
def test_config_show_normalizes_paths(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "a" / "b").mkdir(parents=True)
    write(tmp_path / "data" / "xy.csv", "x,y\n1,0\n2,1\n")
    write(tmp_path / "a" / "b" / "base.yaml", XOR_YAML.replace(
        "data: xor", "data: {source: csv, path: ../b/./../../data/xy.csv}"))
    cfg = write(tmp_path / "a" / "c.yaml", "extends: b/../b/base.yaml\n")
    r = run("config", "show", str(tmp_path / "a" / "b" / ".." / "c.yaml"))
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == f"# {cfg}, resolved (extends {tmp_path / 'a' / 'b' / 'base.yaml'})"
    assert yaml.safe_load(r.stdout)["data"]["path"] == "../data/xy.csv"   # relative to c.yaml
    r = run("config", "show", str(cfg), "--set", "data.path=x/../../data/nope.csv")
    assert r.exit_code == 2 and f"data.path: file not found: {tmp_path / 'data' / 'nope.csv'}" in r.stderr


def test_a_runs_config_yaml_trains_again_from_any_folder(tmp_path, monkeypatch):
    from backprop_cli import api
    from backprop_cli.config import absolute_files
    (tmp_path / "project" / "configs").mkdir(parents=True)
    write(tmp_path / "project" / "xy.csv", "x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(8)))
    cfg = write(tmp_path / "project" / "configs" / "c.yaml", XOR_YAML.replace(
        "data: xor", "data: {source: csv, path: ../xy.csv}").replace("epochs: 2000", "epochs: 3"))
    monkeypatch.chdir(tmp_path / "project")
    first = api.train(Path("configs/c.yaml"), runs_dir=tmp_path / "runs")
    saved = yaml.safe_load((first.run_dir / "config.yaml").read_text())
    assert saved["data"]["path"] == str(tmp_path / "project" / "xy.csv")
    assert saved == absolute_files(load_config(cfg).data, cfg.parent)
    monkeypatch.chdir(tmp_path)
    r = run("train", str(first.run_dir / "config.yaml"), "--runs-dir", str(tmp_path / "again"), "--json", "-q")
    assert r.exit_code == 0, r.output
    again = json.loads(r.stdout)
    assert again["data_sha256"] == first.summary["data_sha256"]
    assert again["final"]["train_loss"] == first.summary["final"]["train_loss"]
    # --resume --epochs N rewrites config.yaml: its paths stay absolute
    r = run("train", "--resume", str(first.run_dir), "--epochs", "5", "-q")
    assert r.exit_code == 0, r.output
    assert yaml.safe_load((first.run_dir / "config.yaml").read_text())["data"]["path"] == saved["data"]["path"]


def test_absolute_files_covers_folders_and_leaves_the_config_alone(tmp_path):
    from backprop_cli.config import absolute_files
    raw = {"data": {"source": "mnist", "dir": "../m/./x/.."}, "model": {"init_from": "w.npz"}}
    out = absolute_files(raw, tmp_path / "c")
    assert out["data"]["dir"] == str(tmp_path / "m") and out["model"]["init_from"] == str(tmp_path / "c" / "w.npz")
    assert raw["data"]["dir"] == "../m/./x/.."
    from backprop_cli.config import rebase_files
    rebase_files(raw, tmp_path / "c", tmp_path)            # extends: a parent's folder, from a child
    assert raw["data"]["dir"] == "m" and raw["model"]["init_from"] == "c/w.npz"
