"""The gradient checker: it passes correct gradients, fails planted bugs, skips kinks."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from backprop_cli.cli import main
from backprop_cli.engine import activations, losses
from backprop_cli.engine.gradcheck import builtin_checks, check_layer, relative_error
from helpers import XOR_YAML, write


def test_builtin_suite_passes_and_covers_every_registered_component():
    report = builtin_checks()
    assert report.passed
    names = {c.check for c in report.checks}
    for name in ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "grelu", "prelu", "softplus", "softmax"):
        assert f"activation {name}" in names
    for name in ("quadratic", "mse", "mae", "bce", "cross_entropy", "hinge"):
        assert f"loss {name}" in names
    assert {"fused sigmoid+bce", "fused softmax+cross_entropy", "layer dense",
            "layer dropout (rate=0.5, fixed mask)", "layer dropout (rate=0)"} <= names
    for check in ("activation threshold", "layer gated (threshold gate)"):
        threshold = [c for c in report.checks if c.check == check]
        assert len(threshold) == 1 and threshold[0].status == "not differentiable"


def test_every_option_of_every_component_is_checked():
    """Each option an activation or loss declares is checked set away from its default, and
    every activation (with each of its options) is checked as a gate: a new option cannot be
    added without the built-in checks exercising it."""
    from backprop_cli.engine.activations import ACTIVATIONS
    from backprop_cli.engine.gradcheck import option_variants
    from backprop_cli.engine.losses import FUSED, LOSSES
    names = {c.check for c in builtin_checks().checks}
    components = [("activation", ACTIVATIONS.items()), ("loss", LOSSES.items()),
                  ("fused", [(f"{act.lower()}+{loss}", cls) for (loss, act), cls in FUSED.items()])]
    for kind, entries in components:
        canonical = {}
        for name, cls in entries:
            canonical.setdefault(cls, name)  # aliases (linear, l1, ...) are checked once
        for cls, name in canonical.items():
            variants = option_variants(cls)
            assert [label.split("=")[0] for label, _ in variants[1:]] == list(getattr(cls, "options", {}))
            for label, opts in variants:
                assert f"{kind} {name}" + (f" ({label})" if label else "") in names
                if kind == "activation":
                    assert f"layer gated ({name}{f' {label}' if label else ''} gate)" in names
                for key, value in opts.items():
                    assert value != cls.options[key].default


def test_planted_bug_in_an_option_fails(monkeypatch):
    """Bugs that only show with an option away from its default: PReLU's shared slope taking
    the mean instead of the sum over units, and a slope hard-coded to its default."""
    def shared_mean(self, dy):
        neg = np.where(self._mask, 0, self._z) * dy
        self.alpha.grad[...] = neg.sum(axis=0).mean() if self.shared else neg.sum(axis=0)
        return np.where(self._mask, dy, self.alpha.value * dy)

    monkeypatch.setattr(activations.PReLU, "backward", shared_mean)
    failed = {c.name for c in builtin_checks().checks if not c.passed}
    assert "activation prelu (shared=true): alpha" in failed
    assert "activation prelu: alpha" not in failed and "activation prelu (init=0.7): alpha" not in failed
    monkeypatch.undo()
    monkeypatch.setattr(activations.GReLU, "backward", lambda self, dy: np.where(self._mask, dy, 0.01 * dy))
    failed = {c.check for c in builtin_checks().checks if not c.passed}
    assert "activation leaky_relu (slope=0.7)" in failed and "activation leaky_relu" not in failed


def test_planted_bug_in_a_derivative_fails(monkeypatch):
    # tanh' written as 1 - y instead of 1 - y^2
    monkeypatch.setattr(activations.Tanh, "backward", lambda self, dy: dy * (1 - self._y))
    report = builtin_checks()
    assert not report.passed
    failed = {c.check for c in report.checks if not c.passed}
    assert "activation tanh" in failed
    assert "activation sigmoid" not in failed


def test_planted_bug_in_a_fused_loss_fails(monkeypatch):
    # forgetting the 1/n of the batch mean
    monkeypatch.setattr(losses.SoftmaxCrossEntropy, "backward", lambda self: self._o - self._y)
    failed = {c.check for c in builtin_checks().checks if not c.passed}
    assert "fused softmax+cross_entropy" in failed


def test_cli_exit_code_5_on_a_wrong_gradient(monkeypatch):
    monkeypatch.setattr(activations.Sigmoid, "backward", lambda self, dy: dy * self._y)
    r = CliRunner().invoke(main, ["gradcheck", "--json"])
    assert r.exit_code == 5
    report = json.loads(r.stdout)
    bad = [c for c in report["checks"] if not c["passed"]]
    assert bad and all({"name", "max_rel_error", "passed"} <= set(c) for c in report["checks"])
    assert report["failed"] == len(bad) and report["passed"] > 0


def test_cli_passes_on_a_config(tmp_path):
    cfg = write(tmp_path / "xor.yaml", XOR_YAML)
    r = CliRunner().invoke(main, ["gradcheck", str(cfg), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    names = [c["name"] for c in report["checks"]]
    assert names == ["xor.yaml: 0.W", "xor.yaml: 0.b", "xor.yaml: 1.W", "xor.yaml: 1.b", "xor.yaml: input"]
    assert report["passed"] == 5 and report["failed"] == 0
    assert not (tmp_path / "runs").exists()   # gradcheck writes nothing


def test_cli_reports_threshold_networks_as_not_differentiable_and_bad_options(tmp_path):
    r = CliRunner().invoke(main, ["gradcheck", "--eps", "-1"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["gradcheck", "--set", "a=1"])
    assert r.exit_code == 2


def test_kinks_are_skipped_not_failed():
    relu = activations.ReLU()
    z = np.array([[1e-9, -1e-9, 0.5, -0.5]])  # two entries within eps of the kink at 0
    checks = check_layer(relu, z, np.ones_like(z), "relu", eps=1e-6)
    assert checks[0].skipped == 2 and checks[0].checked == 2 and checks[0].passed


def test_relative_error_floor():
    assert relative_error(1e-12, 3e-12, floor=1e-3) < 1e-8     # near zero: judged absolutely
    assert relative_error(1.0, 1.1, floor=1e-3) == pytest.approx(0.1 / 1.1)
