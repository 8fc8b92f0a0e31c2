"""Every lesson of configs/lessons/: run it, measure what it shows, check the lesson's claim.

    python benchmarks/lessons.py [--only NAME,...] [--json]

Prints the README's "Lessons" table (note, config, command, what you will see with the
measured figures) and exits 1 if a lesson's claim does not hold. tests/test_lessons.py runs
the same lessons (each in a few seconds at most) and asserts every claim.

Each lesson is a small function that trains the lesson's configs through the library
(``backprop_cli.train(..., save=False)``: nothing is written) and returns its figures; its
``claim`` is what the lesson teaches, as a test on those figures.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LESSONS_DIR = ROOT / "configs" / "lessons"


def train(name: str, *overrides: str):
    """The summary and history of configs/lessons/<name>.yaml trained in memory."""
    import backprop_cli
    return backprop_cli.train(LESSONS_DIR / f"{name}.yaml", list(overrides), save=False)


def final(name: str, key: str = "train_loss", *overrides: str) -> float:
    return train(name, *overrides).summary["final"][key]


def layer_gradient_norms(name: str) -> list[float]:
    """‖dE/dW‖ of each layer at the initial weights, over the whole training set."""
    import backprop_cli
    s = backprop_cli.setup(LESSONS_DIR / f"{name}.yaml")
    train_set = s.splits.train
    s.network.train_step_gradients(train_set.X, train_set.Y)
    return [float(np.linalg.norm(p.grad)) for p in s.network.parameters() if p.name.endswith(".W")]


@dataclass
class Lesson:
    name: str                         # the lesson, as the README's table names it
    note: str                         # where the notes teach it
    configs: list[str]                # configs/lessons/<name>.yaml (and sweeps) it uses
    command: str                      # what a student types
    measure: Callable[[], dict]       # its figures
    claim: Callable[[dict], bool]     # what it teaches, as a test on the figures
    shows: Callable[[dict], str]      # "what you will see", with the figures


def _perceptron() -> dict:
    a, x = train("perceptron-and"), train("perceptron-xor")
    return {"and_epochs": a.summary["epochs"], "and_accuracy": a.summary["final"]["train_accuracy"],
            "and_reason": a.summary["stop_reason"], "xor_accuracy": x.summary["final"]["train_accuracy"],
            "xor_reason": x.summary["stop_reason"]}


def _xor_hidden() -> dict:
    no, yes = train("xor-no-hidden"), train("xor-hidden")
    return {"no_loss": no.summary["final"]["train_loss"], "no_accuracy": no.summary["final"]["train_accuracy"],
            "yes_epochs": yes.summary["epochs"], "yes_accuracy": yes.summary["final"]["train_accuracy"]}


def _batch_size() -> dict:
    out = {}
    for bs in ("full", "16", "1"):
        r = train("gradient-descent", f"training.batch_size={bs}")
        out[bs] = r.summary["final"]["train_loss"]
    return out


def _learning_rate() -> dict:
    out = {}
    for lr in ("0.001", "0.1", "3.0"):
        r = train("learning-rate", f"optimizer.lr={lr}")
        out[lr] = {"loss": r.summary["final"].get("train_loss"), "diverged": r.summary["diverged"],
                   "epochs": r.summary["epochs"]}
    return out


def _optimizers() -> dict:
    return {name: final(name) for name in ("sgd", "momentum", "adaptive")}


def _clipping() -> dict:
    with_clip = train("gradient-clipping")
    without = train("gradient-clipping", "optimizer.clip_norm=null")
    return {"loss": with_clip.summary["final"]["train_loss"], "first": with_clip.history[0]["train_loss"],
            "without_diverged": without.summary["diverged"], "without_epochs": without.summary["epochs"]}


def _vanishing() -> dict:
    out = {}
    for name in ("vanishing-sigmoid", "vanishing-relu", "vanishing-shallow"):
        norms = layer_gradient_norms(name)
        out[name] = {"first": norms[0], "last": norms[-1], "ratio": norms[-1] / norms[0],
                     "loss": final(name)}
    return out


def _init() -> dict:
    z, r = train("init-zeros"), train("init-random")
    return {"zeros_losses": [h["train_loss"] for h in z.history], "random_loss": r.summary["final"]["train_loss"],
            "random_accuracy": r.summary["final"]["train_accuracy"]}


def _universal() -> dict:
    return {w: final("universal-approximation", "train_loss", f"model.layers.0.units={w}")
            for w in (1, 2, 4, 8, 32)}


def _overfitting() -> dict:
    from backprop_cli.training.trainer import evaluate
    out = {}
    for name in ("overfit", "overfit-l2", "overfit-l1", "overfit-dropout", "overfit-noise",
                 "overfit-early-stopping"):
        r = train(name)
        val = r.setup.splits.val  # the final weights (early stopping's: the best epoch's)
        out[name] = {"val_loss": evaluate(r.network, val.X, val.Y, val.labels)["loss"],
                     "best_val_loss": r.summary["best"]["val_loss"], "epochs": r.summary["epochs"]}
    return out


def _augment() -> dict:
    plain, shifted = train("overfit-images"), train("overfit-augment")
    return {k: {"val_loss": r.summary["final"]["val_loss"], "val_accuracy": r.summary["final"]["val_accuracy"]}
            for k, r in (("plain", plain), ("augment", shifted))}


def _restarts() -> dict:
    r = train("restarts")
    return {"attempts": [(a["attempt"], a["train_loss"]) for a in r.summary["attempts"]],
            "best_attempt": r.summary["best_attempt"], "loss": r.summary["final"]["train_loss"]}


def _misclassified() -> dict:
    mis, every = train("misclassified"), train("misclassified", "training.examples=all")
    visits = sum(h.get("examples_trained", 200) for h in mis.history)
    return {"accuracy": mis.summary["final"]["train_accuracy"], "visits": visits,
            "all_accuracy": every.summary["final"]["train_accuracy"],
            "all_visits": 200 * every.summary["epochs"],
            "last_trained": mis.history[-1].get("examples_trained")}


def _ensemble() -> dict:
    import tempfile

    import backprop_cli
    with tempfile.TemporaryDirectory() as tmp:
        s = backprop_cli.train(LESSONS_DIR / "ensemble.yaml", runs_dir=tmp).summary
    return {"ensemble": s["ensemble"]["val_loss"], "members_mean": s["members_mean"]["val_loss"],
            "single": final("overfit", "val_loss")}


def _pretraining() -> dict:
    import tempfile

    import backprop_cli
    with tempfile.TemporaryDirectory() as tmp:
        pre = backprop_cli.train(LESSONS_DIR / "pretrain.yaml", runs_dir=tmp)
        weights = pre.run_dir / "checkpoints" / "last.npz"
        tuned = train("finetune", f"model.init_from={{path: {weights}, layers: [0, 1]}}")
    random = train("finetune")
    scratch = train("finetune", "model.layers.0.freeze=false", "model.layers.1.freeze=false")
    return {"pretrain": pre.summary["test"]["test_accuracy"],
            "tuned": tuned.summary["test"]["test_accuracy"],
            "random": random.summary["test"]["test_accuracy"],
            "scratch": scratch.summary["test"]["test_accuracy"]}


def _graph() -> dict:
    from backprop_cli.explain.expr import explain
    e = explain("exp(x*z) + x*z/log(x) + sin(log(x))/(x*z)", {"x": 2.0, "z": 3.0})
    return {"dx": e.gradient["x"], "dz": e.gradient["z"]}


def g(x: float) -> str:
    return f"{x:.3g}"


LESSONS = [
    Lesson("The perceptron learns AND, never XOR", "001, the perceptron training rule",
           ["perceptron-and", "perceptron-xor"], "backprop train configs/lessons/perceptron-and.yaml",
           _perceptron,
           lambda f: f["and_accuracy"] == 1.0 and f["and_reason"].startswith("converged")
           and f["xor_accuracy"] <= 0.75 and "not linearly separable" in f["xor_reason"],
           lambda f: f"AND: no mistake in epoch {f['and_epochs']}; XOR: the rule cycles at "
                     f"{f['xor_accuracy']:.0%} accuracy"),
    Lesson("XOR needs a hidden layer", "001, XOR and multilayer networks", ["xor-no-hidden", "xor-hidden"],
           "backprop train configs/lessons/xor-no-hidden.yaml", _xor_hidden,
           lambda f: f["no_accuracy"] <= 0.75 and abs(f["no_loss"] - math.log(2)) < 0.01
           and f["yes_accuracy"] == 1.0,
           lambda f: f"one unit: loss {f['no_loss']:.3f} (log 2), {f['no_accuracy']:.0%}; 4 hidden "
                     f"units: 100% in {f['yes_epochs']} epochs"),
    Lesson("Batch, online and mini-batch descent", "001, online vs. batch training; 002, mini-batch",
           ["gradient-descent", "batch-size"], "backprop sweep configs/lessons/batch-size.yaml",
           _batch_size, lambda f: f["1"] < f["16"] < f["full"],
           lambda f: f"loss after 40 epochs: online {g(f['1'])}, mini-batch {g(f['16'])}, batch "
                     f"{g(f['full'])}"),
    Lesson("Learning rate too small, right, too large", "001, gradient descent: Δw = -η ∇E(w)",
           ["learning-rate", "learning-rates"], "backprop sweep configs/lessons/learning-rates.yaml",
           _learning_rate,
           lambda f: not f["0.1"]["diverged"] and f["0.001"]["loss"] > 10 * f["0.1"]["loss"]
           and f["3.0"]["diverged"],
           lambda f: f"η 0.001: {g(f['0.001']['loss'])}; η 0.1: {g(f['0.1']['loss'])}; η 3: "
                     f"diverged at epoch {f['3.0']['epochs']} (exit 4)"),
    Lesson("Momentum and adaptive rates", "002, challenges in training deep networks", ["sgd", "momentum", "adaptive"],
           "backprop train configs/lessons/momentum.yaml", _optimizers,
           lambda f: f["momentum"] < f["sgd"] / 5 and f["adaptive"] < f["sgd"] / 5,
           lambda f: f"loss after 300 epochs: SGD {g(f['sgd'])}, momentum {g(f['momentum'])}, "
                     f"Adam {g(f['adaptive'])}"),
    Lesson("Gradient clipping rescues a diverging run", "002, challenges (large gradients)", ["gradient-clipping"],
           "backprop train configs/lessons/gradient-clipping.yaml", _clipping,
           lambda f: f["without_diverged"] and f["loss"] < f["first"] / 10,
           lambda f: f"η 1 diverges at epoch {f['without_epochs']}; clipped to norm 0.1 it ends at "
                     f"{g(f['loss'])}"),
    Lesson("Vanishing gradients", "001, backpropagation (δ gains a factor g'(a) per layer); 002, challenges of depth",
           ["vanishing-sigmoid", "vanishing-relu", "vanishing-shallow"],
           "backprop train configs/lessons/vanishing-sigmoid.yaml", _vanishing,
           lambda f: f["vanishing-sigmoid"]["ratio"] >= 100 and f["vanishing-relu"]["ratio"] < 100
           and f["vanishing-shallow"]["ratio"] < 100
           and f["vanishing-relu"]["loss"] < f["vanishing-sigmoid"]["loss"] / 10,
           lambda f: f"last/first layer gradient: 9 sigmoid {f['vanishing-sigmoid']['ratio']:.2g}×, "
                     f"9 relu {f['vanishing-relu']['ratio']:.2g}×, 2 sigmoid "
                     f"{f['vanishing-shallow']['ratio']:.2g}×; loss {g(f['vanishing-sigmoid']['loss'])} "
                     f"vs {g(f['vanishing-relu']['loss'])}"),
    Lesson("Initialization: zeros cannot break symmetry", "001, \"initialize all weights to small random numbers\"",
           ["init-zeros", "init-random"], "backprop train configs/lessons/init-zeros.yaml", _init,
           lambda f: max(abs(x - math.log(2)) for x in f["zeros_losses"]) < 1e-6
           and f["random_accuracy"] == 1.0,
           lambda f: f"zeros: loss {f['zeros_losses'][-1]:.4f} = log 2 every epoch; random: "
                     f"{g(f['random_loss'])}, 100%"),
    Lesson("Universal approximation", "002, universal approximation properties",
           ["universal-approximation", "universal-approximation-widths"],
           "backprop sweep configs/lessons/universal-approximation-widths.yaml", _universal,
           lambda f: f[32] < f[1] / 100 and f[8] < f[2] < f[1],
           lambda f: "mse by width: " + ", ".join(f"{w}: {g(v)}" for w, v in f.items())),
    Lesson("Overfitting and its cures", "002, recap: regularization",
           ["overfit", "overfit-l2", "overfit-l1", "overfit-dropout", "overfit-noise",
            "overfit-early-stopping"], "backprop train configs/lessons/overfit.yaml", _overfitting,
           lambda f: all(v["val_loss"] < f["overfit"]["val_loss"] / 2 for k, v in f.items() if k != "overfit"),
           lambda f: f"val loss: none {f['overfit']['val_loss']:.2f}; " + ", ".join(
               f"{k.removeprefix('overfit-')} {v['val_loss']:.2f}" for k, v in f.items() if k != "overfit")),
    Lesson("Augmenting images", "002, recap: regularization (dataset augmentation)",
           ["overfit-images", "overfit-augment"], "backprop train configs/lessons/overfit-augment.yaml",
           _augment,
           lambda f: f["augment"]["val_loss"] < 0.8 * f["plain"]["val_loss"]
           and f["augment"]["val_accuracy"] > f["plain"]["val_accuracy"],
           lambda f: f"179 digits: val loss {f['plain']['val_loss']:.2f} ({f['plain']['val_accuracy']:.1%}) "
                     f"plain, {f['augment']['val_loss']:.2f} ({f['augment']['val_accuracy']:.1%}) with "
                     "shifts and turns"),
    Lesson("Bagging: an ensemble against one network", "002, recap: regularization (bagging)",
           ["ensemble"], "backprop train configs/lessons/ensemble.yaml", _ensemble,
           lambda f: f["ensemble"] <= f["members_mean"] and f["ensemble"] < f["single"],
           lambda f: f"val loss: 5 bootstrap members {f['members_mean']:.2f} on average, their "
                     f"ensemble {f['ensemble']:.2f}, one network on all the data {f['single']:.2f}"),
    Lesson("Local minima and restarts", "002, the backpropagation algorithm: perturb and restart", ["restarts"],
           "backprop train configs/lessons/restarts.yaml", _restarts,
           lambda f: f["attempts"][0][1] > 0.69 and f["loss"] < 0.01 and f["best_attempt"] > 1,
           lambda f: f"attempt 1 stalls at {f['attempts'][0][1]:.3f}; attempt {f['best_attempt']} "
                     f"reaches {g(f['loss'])}"),
    Lesson("Training on misclassified examples", "002, the backpropagation algorithm: misclassified examples", ["misclassified"],
           "backprop train configs/lessons/misclassified.yaml", _misclassified,
           lambda f: f["accuracy"] > 0.8 and f["visits"] < f["all_visits"] / 4,
           lambda f: f"{f['accuracy']:.1%} accuracy from {f['visits']} example visits (all "
                     f"examples: {f['all_accuracy']:.1%} from {f['all_visits']})"),
    Lesson("Pre-training and fine-tuning", "002, challenges and opportunities: pre-training",
           ["pretrain", "finetune"], "backprop train configs/lessons/pretrain.yaml --runs-dir runs/pretrain",
           _pretraining,
           lambda f: f["tuned"] > f["random"] + 0.2 and f["tuned"] > f["scratch"],
           lambda f: f"then finetune.yaml's header command: odd/even from 45 images, pre-trained frozen layers {f['tuned']:.1%}, the same "
                     f"layers frozen at random {f['random']:.1%}, all trained from scratch "
                     f"{f['scratch']:.1%} (pre-training: {f['pretrain']:.1%} on 10 digits)"),
    Lesson("The computation graph of note 000", "000, example 1", [],
           'backprop explain --expr "exp(x*z) + x*z/log(x) + sin(log(x))/(x*z)" --at x=2 --at z=3',
           _graph, lambda f: abs(f["dx"] - 1208.38) < 0.01 and abs(f["dz"] - 809.71) < 0.01,
           lambda f: f"dy/dx = {f['dx']:.2f}, dy/dz = {f['dz']:.2f}, node by node"),
]


def table(results: list[tuple[Lesson, dict]]) -> str:
    lines = ["| lesson | note | configs | command | what you will see |", "| --- | --- | --- | --- | --- |"]
    for lesson, figures in results:
        configs = ", ".join(f"`{c}`" for c in lesson.configs) or "-"
        lines.append(f"| {lesson.name} | {lesson.note} | {configs} | `{lesson.command}` | "
                     f"{lesson.shows(figures)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated lesson configs or names to run")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = ap.parse_args(argv)
    chosen = LESSONS
    if a.only:
        keys = {k.strip() for k in a.only.split(",")}
        chosen = [x for x in LESSONS if x.name in keys or keys & set(x.configs)]
    results, failed = [], []
    for lesson in chosen:
        figures = lesson.measure()
        results.append((lesson, figures))
        if not lesson.claim(figures):
            failed.append(lesson.name)
    if a.json:
        print(json.dumps({x.name: f for x, f in results}, indent=1, default=str))
    else:
        print(table(results))
    for name in failed:
        print(f"claim does not hold: {name}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
