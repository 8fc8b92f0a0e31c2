"""Property: whatever a config file or --set holds (mutations of valid configs, random bytes,
deep nesting), `backprop config validate` ends in a valid setup (exit 0, and api.setup builds
the network) or a clean error (exit 2, one `Error:` line per problem), never a traceback.
Nothing is written: validation reads YAML only, and setup reads built-in data only."""
import tempfile
from pathlib import Path

import yaml
from click.testing import CliRunner
from helpers import XOR_YAML
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli import api
from backprop_cli.cli import main

BASES = [yaml.safe_load(XOR_YAML), yaml.safe_load("""
data: {source: spirals, arms: 3, n: 30}
model: {layers: [{units: 8, activation: relu, dropout: 0.1}, {units: 3, activation: softmax}]}
loss: cross_entropy
optimizer: {name: sgd, lr: 0.1, momentum: 0.9}
training: {epochs: 2, batch_size: 8}
""")]
KEYS = ["data", "source", "model", "layers", "units", "activation", "loss", "optimizer", "name",
        "lr", "momentum", "training", "epochs", "batch_size", "dropout", "init", "seed", "dtype",
        "stopping", "target_loss", "extends", "n_inputs", "type", "gate", "output", "runs_dir"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**20),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["full", "sgd", "tanh", "softmax", "threshold", "xor", "csv",
                                     "bce", "he_normal", "gated", "float32", "nope.yaml"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6),
                                                 inner, max_size=4)), max_leaves=12)
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, path + (i,))


@st.composite
def mutated(draw):
    import copy
    cfg = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        targets = [p for p in paths(cfg) if p]
        path = draw(st.sampled_from(targets))
        parent = cfg
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS) | st.text(max_size=6))] = draw(values)
        else:
            parent[path[-1]] = draw(values)
        if not cfg:
            break
    return cfg


def check(text: bytes | str, *args):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        r = CliRunner().invoke(main, ["config", "validate", str(path), "--quiet"])
        assert r.exit_code in (0, 2), r.output
        assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
        assert "Traceback" not in r.output
        if r.exit_code == 2:
            errors = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
            assert errors and all("\n" not in e for e in errors)
        else:
            s = api.setup(path)  # a valid config builds: data read and network made, no error
            assert s.network.parameters()
        if args:
            r = CliRunner().invoke(main, ["config", "show", str(path), *args])
            assert r.exit_code in (0, 2) and isinstance(r.exception, (SystemExit, type(None))), r.output
        assert sorted(p.name for p in Path(d).iterdir()) == ["c.yaml"]  # nothing written


@SETTINGS
@given(mutated())
def test_mutated_configs_validate_or_fail_cleanly(cfg):
    check(yaml.safe_dump(cfg, allow_unicode=True))


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_fail_cleanly(data):
    check(data)


@SETTINGS
@given(st.text(max_size=200), st.integers(0, len(XOR_YAML)))
def test_random_text_spliced_into_a_valid_config(junk, at):
    check(XOR_YAML[:at] + junk + XOR_YAML[at:])


@settings(max_examples=10, deadline=None, derandomize=True)
@given(st.integers(1, 3000), st.sampled_from(["[", "{a: ", "- "]), st.sampled_from(["data", "optimizer", "zzz"]))
def test_deep_nesting_fails_cleanly(depth, opener, key):
    closer = {"[": "]", "{a: ": "}", "- ": ""}[opener]
    body = opener * depth + "1" + closer * depth
    check(XOR_YAML + f"{key}: {body}\n" if opener != "- " else XOR_YAML + f"{key}:\n" + "".join(
        "  " * i + "-\n" for i in range(min(depth, 400))))


@SETTINGS
@given(st.lists(st.sampled_from(KEYS) | st.integers(-3, 3).map(str), min_size=1, max_size=4),
       st.text(max_size=20))
def test_random_overrides_fail_cleanly(keys, value):
    check(XOR_YAML, "--set", ".".join(keys) + "=" + value)
