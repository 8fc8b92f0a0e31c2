"""The training methods end to end: the perceptron rule, restarts, misclassified examples,
config errors, and every shipped config of this family trains."""
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import CONFIGS, write

from backprop_cli import api
from backprop_cli.engine.network import build_network
from backprop_cli.errors import ConfigError
from backprop_cli.training.callbacks import Callback
from backprop_cli.training.perceptron import PerceptronTrainer

FAMILY = ["and-perceptron", "xor-perceptron", "restarts-xor", "sgd-spirals", "momentum-spirals",
          "adam-spirals", "overfit", "overfit-l2", "overfit-dropout", "early-stopping"]


def reference_perceptron(X, y, lr=1.0, epochs=100, per_epoch=False):
    """The notes' rule, written independently: weights w0..wn from 0, o = [w0 + w·x > 0].
    Returns the weights and the epoch it converged in (None if it did not), or with
    ``per_epoch`` the mistakes of each epoch."""
    w, mistakes_per_epoch = [0.0] * (X.shape[1] + 1), []
    for epoch in range(1, epochs + 1):
        mistakes = 0
        for x, t in zip(X.tolist(), y.tolist()):
            o = 1 if w[0] + sum(wi * xi for wi, xi in zip(w[1:], x)) > 0 else 0
            if o != t:
                mistakes += 1
                w = [w[0] + lr * (t - o)] + [wi + lr * (t - o) * xi for wi, xi in zip(w[1:], x)]
        mistakes_per_epoch.append(mistakes)
        if mistakes == 0:
            break
    if per_epoch:
        return w, mistakes_per_epoch
    return w, (len(mistakes_per_epoch) if mistakes_per_epoch[-1] == 0 else None)


@pytest.mark.parametrize("source", ["and", "or"])
def test_perceptron_matches_the_notes_rule(source, tmp_path):
    cfg = write(tmp_path / "p.yaml", (CONFIGS / "and-perceptron.yaml").read_text().replace(
        "data: and", f"data: {source}"))
    r = api.train(cfg, runs_dir=tmp_path)
    s = api.setup(cfg)
    w, epoch = reference_perceptron(s.splits.train.X, s.splits.train.labels)
    weights = np.load(r.run_dir / "checkpoints" / "last.npz")
    np.testing.assert_array_equal(weights["param/0.b"], [w[0]])
    np.testing.assert_array_equal(weights["param/0.W"][:, 0], w[1:])
    assert r.summary["epochs"] == epoch and r.summary["final"]["mistakes"] == 0
    assert r.summary["stop_reason"].startswith(f"converged: epoch {epoch} made no mistake")


def test_and_converges_by_hand():
    # AND, order 00 01 10 11, η = 1: epoch 1 makes one mistake (on 11: w = (1, 1, 1)) ...
    # the notes' rule ends at w0 = -2, w = (2, 1) after 6 epochs; the last one makes no mistake
    w, epoch = reference_perceptron(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float), np.array([0, 0, 0, 1]))
    assert w == [-2.0, 2.0, 1.0] and epoch == 6


def test_xor_perceptron_says_not_linearly_separable_with_a_hint(tmp_path):
    r = api.train(CONFIGS / "xor-perceptron.yaml", runs_dir=tmp_path)
    reason = r.summary["stop_reason"]
    assert reason.startswith("not linearly separable: the perceptron rule is cycling")
    assert "add a hidden layer" in reason and not r.diverged
    # with shuffling it cannot prove the cycle: it runs to the epoch limit and says so
    r = api.train(CONFIGS / "xor-perceptron.yaml", ["training.shuffle=true", "training.epochs=20"],
                  runs_dir=tmp_path)
    assert r.summary["epochs"] == 20
    assert r.summary["stop_reason"].startswith("no separating hyperplane within the epoch limit")
    assert "may not be linearly separable" in r.summary["stop_reason"]


def test_perceptron_trainer_refuses_other_networks():
    s = api.setup(CONFIGS / "xor.yaml")
    with pytest.raises(ValueError, match="one dense layer of threshold units"):
        PerceptronTrainer(s.network, None, epochs=1)


def metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_restarts_tag_attempts_and_escape_a_stuck_start(tmp_path):
    r = api.train(CONFIGS / "restarts-xor.yaml", runs_dir=tmp_path)
    rows = metrics(r.run_dir)
    attempts = [row["attempt"] for row in rows]
    assert attempts[0] == 1 and attempts[-1] >= 2 and attempts == sorted(attempts)
    first = r.summary["attempts"][0]
    assert first["train_loss"] == pytest.approx(np.log(2)) and first["end"].startswith("restarted:")
    assert r.summary["final"]["train_loss"] < 0.01 and r.summary["best_attempt"] == attempts[-1]


def test_restarts_keep_the_best_attempt(tmp_path):
    # a 1-epoch window with an impossible fall forces restarts; the kept weights are those of
    # the attempt with the lowest final loss
    r = api.train(CONFIGS / "xor.yaml", ["training.restarts=2", "training.restart_if.epochs=3",
                                         "training.restart_if.fall=0.99", "training.epochs=30",
                                         "stopping.target_loss=null"], runs_dir=tmp_path)
    atts = r.summary["attempts"]
    assert [a["attempt"] for a in atts] == [1, 2, 3]
    best = min(atts, key=lambda a: a["train_loss"])
    assert r.summary["best_attempt"] == best["attempt"]
    s = api.setup(CONFIGS / "xor.yaml")
    weights = np.load(r.run_dir / "checkpoints" / "last.npz")
    s.network.load_state_dict({k[6:]: v for k, v in weights.items() if k.startswith("param/")})
    from backprop_cli.training.trainer import evaluate
    assert evaluate(s.network, s.splits.train.X, s.splits.train.Y)["loss"] == pytest.approx(
        best["train_loss"], rel=0.05)


def test_misclassified_trains_only_on_mistakes(tmp_path):
    r = api.train(CONFIGS / "xor.yaml", ["training.examples=misclassified", "training.batch_size=1",
                                         "training.epochs=300", "stopping.target_loss=null"],
                  runs_dir=tmp_path)
    rows = metrics(r.run_dir)
    assert rows[0]["examples_trained"] == 4  # the first epoch goes over all examples
    for row, nxt in zip(rows, rows[1:]):
        wrong = round((1 - nxt["train_accuracy"]) * 4)
        assert nxt["examples_trained"] == (wrong or 4)
    assert any(row["examples_trained"] < 4 for row in rows)


def test_lr_of_every_epoch_is_logged(tmp_path):
    r = api.train(CONFIGS / "xor.yaml", ["schedule={name: step, step_size: 2, gamma: 0.5}",
                                         "training.epochs=5", "stopping.target_loss=null"],
                  runs_dir=tmp_path)
    assert [row["lr"] for row in metrics(r.run_dir)] == [0.5, 0.5, 0.25, 0.25, 0.125]


@pytest.mark.parametrize("override,message", [
    (["optimizer={name: sgd, nesterov: true}"], "optimizer.nesterov: Nesterov momentum needs momentum > 0"),
    (["optimizer={name: adam, beta1: 1.0}"], "optimizer.beta1: must be >= 0 and < 1, got 1"),
    (["optimizer={name: adam, momentum: 0.9}"], "optimizer.momentum: adam has no option 'momentum'"),
    (["schedule={name: multistep, milestones: []}"], "schedule.milestones: must list at least one epoch"),
    (["schedule={name: cosine}"], "schedule: missing required key 'T_max'"),
    (["regularization.l2=-1"], "regularization.l2: must be >= 0, got -1"),
    (["training.restart_if.fall=1.5"], "training.restart_if.fall: must be > 0 and < 1, got 1.5"),
    (["model.layers.0.activation=threshold"], "threshold units have no gradient"),
    (["training.method=perceptron"], "training.method perceptron trains one dense layer of threshold units"),
    (["training.restarts=2", "model.layers.0.init=zeros"], "training.perturb: null re-initializes, "
     "but model.layers.0.init is zeros"),
    (["stopping.patience=5", "stopping.monitor=val_loss"], "stopping.monitor: metric 'val_loss' is not logged"),
    (["schedule={name: reduce_on_plateau, monitor: val_loss}"],
     "schedule.monitor: metric 'val_loss' is not logged"),
])
def test_config_errors_are_one_line_and_specific(override, message):
    with pytest.raises(ConfigError) as e:
        cfg = api.load_config(CONFIGS / "xor.yaml", override)
        s = api.setup(cfg)
        from backprop_cli.training.build import check_against_data
        check_against_data(cfg.data, s.splits)
    assert message in str(e.value)


def test_perceptron_rejects_backprop_only_options():
    with pytest.raises(ConfigError) as e:
        api.load_config(CONFIGS / "and-perceptron.yaml", ["regularization.l2=0.1", "loss=bce",
                                                          "optimizer.momentum=0.9"])
    text = str(e.value)
    assert "regularization.l2: the perceptron rule does not use l2" in text
    assert "use quadratic" in text and "w += lr·(y - o)·x" in text


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """The summary of a run of every shipped config of this family (trained once)."""
    runs = tmp_path_factory.mktemp("family")
    out = {}
    for name in FAMILY:
        r = api.train(CONFIGS / f"{name}.yaml", runs_dir=runs)
        assert not r.diverged, name
        out[name] = r.summary
    return out


# What each config is there to show, as a check on its run's summary.
SHOWS = {
    "and-perceptron": lambda s, f: s["stop_reason"].startswith("converged: epoch ")
    and s["final"]["train_accuracy"] == 1.0,
    "xor-perceptron": lambda s, f: s["stop_reason"].startswith("not linearly separable")
    and s["final"]["train_accuracy"] < 1.0 and s["epochs"] < 100,
    # zero-initialized weights stay stuck until a restart perturbs them
    "restarts-xor": lambda s, f: s["stop_reason"].startswith("target loss reached")
    and len(s["attempts"]) >= 2 and s["final"]["train_loss"] < 0.01 and s["final"]["train_accuracy"] == 1.0,
    # plain SGD learns the spirals, but less far than with momentum in the same 300 epochs
    "sgd-spirals": lambda s, f: s["stop_reason"] == "epoch limit reached (300)"
    and 0.75 <= s["best"]["train_accuracy"] < f["momentum-spirals"]["best"]["train_accuracy"]
    and s["best"]["train_loss"] > 2 * f["momentum-spirals"]["best"]["train_loss"],
    "momentum-spirals": lambda s, f: s["best"]["train_accuracy"] >= 0.95,
    # the cosine schedule ends (nearly) at its min_lr
    "adam-spirals": lambda s, f: s["best"]["train_accuracy"] >= 0.95
    and s["final"]["lr"] == pytest.approx(1e-4, rel=0.01),
    # fits the training set while the validation loss climbs
    "overfit": lambda s, f: s["final"]["train_accuracy"] == 1.0
    and s["final"]["val_loss"] > 3 * s["best"]["val_loss"],
    "overfit-l2": lambda s, f: s["final"]["train_objective"] > s["final"]["train_loss"]
    and s["final"]["val_loss"] < f["overfit"]["final"]["val_loss"] / 2,
    "overfit-dropout": lambda s, f: s["final"]["val_loss"] < f["overfit"]["final"]["val_loss"] / 2,
    # stops long before the 500 epochs and puts back the best epoch's weights
    "early-stopping": lambda s, f: s["stop_reason"].startswith("early stopping: val_loss did not improve")
    and s["epochs"] < 100 and s["restored_epoch"] == s["best"]["epoch"] == s["epochs"] - 30,
}


@pytest.mark.parametrize("name", FAMILY)
def test_shipped_config_shows_what_it_is_for(name, family):
    assert set(SHOWS) == set(FAMILY)
    s = family[name]
    assert SHOWS[name](s, family), (name, s["stop_reason"], s["best"], s["final"])


# PerceptronTrainer called directly (as the library is used, without a run folder)

OPT = SimpleNamespace(lr=1.0)  # the rule reads only optimizer.lr (η)
AND_OR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)


def reference_with_mistakes(X, y, lr=1.0, epochs=100):
    """The notes' rule for one unit (reference_perceptron above): (w0, w), mistakes per epoch."""
    return reference_perceptron(X, y, lr, epochs, per_epoch=True)


class RecordEpochs(Callback):
    def __init__(self):
        self.begun, self.logs, self.states = [], [], []

    def on_epoch_begin(self, state):
        self.begun.append(state.epoch)

    def on_epoch_end(self, state):
        self.logs.append(dict(state.logs))
        self.states.append(state)


class Data:
    def __init__(self, X, Y, labels=None):
        self.X, self.Y, self.labels = X, Y, labels

    def __len__(self):
        return len(self.X)


def and_setup():
    return api.setup(CONFIGS / "and-perceptron.yaml")


def test_perceptron_fit_logs_every_epoch_and_starts_from_zero_weights():
    s = and_setup()
    train = s.splits.train
    rec = RecordEpochs()
    t = PerceptronTrainer(s.network, OPT, epochs=100, callbacks=[rec])
    t.W[...], t.b[...] = 5.0, 3.0  # fit() without start_epoch starts from zero weights
    state = t.fit(train, val=train)
    w, per_epoch = reference_with_mistakes(train.X, train.labels)
    np.testing.assert_array_equal(t.b, [w[0]])
    np.testing.assert_array_equal(t.W[:, 0], w[1:])
    n = len(per_epoch)
    assert rec.begun == list(range(1, n + 1)) and state.epoch == n
    assert [row["mistakes"] for row in rec.logs] == per_epoch and max(per_epoch) > 1
    assert [row["epoch"] for row in rec.logs] == list(range(1, n + 1))
    for row in rec.logs:
        assert set(row) == {"epoch", "train_loss", "train_accuracy", "mistakes", "val_loss",
                            "val_accuracy", "lr", "epoch_time"}
        assert row["val_loss"] == row["train_loss"] and row["val_accuracy"] == row["train_accuracy"]
        assert row["lr"] == 1.0 and 0 <= row["epoch_time"] < 5
    assert rec.logs[-1]["train_accuracy"] == 1.0
    assert all(st is state for st in rec.states)
    assert state.network is s.network and state.optimizer is OPT and state.epochs == 100
    assert state.stop_reason == (f"converged: epoch {n} made no mistake, so the perceptron rule "
                                 "found a separating hyperplane (the data is linearly separable)")


def test_perceptron_several_threshold_units_learn_independently():
    # AND and OR at once: each unit follows the rule on its own column; an example counts as
    # one mistake when any unit is wrong, and a unit that is right is not updated
    net = build_network([{"units": 2, "activation": "threshold", "init": "zeros"}], 2,
                        "quadratic", "float64", np.random.default_rng(0), np.random.default_rng(0))
    s = and_setup()
    y_and, y_or = np.array([0, 0, 0, 1]), np.array([0, 1, 1, 1])
    t = PerceptronTrainer(net, OPT, epochs=100)
    t.fit(Data(AND_OR_X, np.stack([y_and, y_or], 1).astype(float)))
    for k, y in enumerate((y_and, y_or)):
        w, _ = reference_with_mistakes(AND_OR_X, y)
        assert [t.b[k], *t.W[:, k]] == w


def test_perceptron_shuffling_is_reproducible_without_a_generator_and_off_by_default():
    s = and_setup()
    # 60 separable points: the order of the examples shows in the weights found
    X = np.random.default_rng(5).uniform(-1, 1, (60, 2))
    y = (X[:, 0] + 2 * X[:, 1] > 0.1).astype(float)
    train = Data(X, y[:, None])
    runs = []
    for rng in (None, None, np.random.default_rng(1)):
        t = PerceptronTrainer(s.network, OPT, epochs=1000, shuffle=True, rng=rng)
        state = t.fit(train)
        assert state.stop_reason.startswith("converged")
        runs.append([state.epoch, t.b[0], *t.W[:, 0]])
    assert runs[0] == runs[1] and runs[0] != runs[2]
    t = PerceptronTrainer(s.network, OPT, epochs=1000)
    t.fit(train)
    ordered = [t.b[0], *t.W[:, 0]]
    np.testing.assert_allclose(ordered, reference_with_mistakes(X, y, epochs=1000)[0], rtol=1e-5)  # data order
    assert ordered not in [r[1:] for r in runs]


@pytest.mark.parametrize("layers", [
    [{"units": 1, "activation": "sigmoid"}],
    [{"units": 2, "activation": "threshold"}, {"units": 1, "activation": "threshold"}],
])
def test_perceptron_refuses_other_networks_naming_its_layers(layers):
    net = build_network(layers, 2, "quadratic", "float64", np.random.default_rng(0),
                        np.random.default_rng(0))
    with pytest.raises(ValueError) as e:
        PerceptronTrainer(net, None, epochs=1)
    assert str(e.value) == ("the perceptron rule trains one dense layer of threshold units, got "
                            + " → ".join(map(repr, net.layers)))


def test_perceptron_cycling_names_the_two_epochs_with_equal_weights():
    s = api.setup(CONFIGS / "xor-perceptron.yaml")
    rec = RecordEpochs()
    state = PerceptronTrainer(s.network, OPT, epochs=100, callbacks=[rec]).fit(s.splits.train)
    m = re.search(r"the weights after epoch (\d+) equal those after epoch (\d+), with (\d+) "
                  r"mistake\(s\) per epoch\), so no epoch within the epoch limit \(100\)",
                  state.stop_reason)
    assert m and int(m[2]) < int(m[1]) == state.epoch < 100
    assert int(m[3]) == rec.logs[-1]["mistakes"] > 0


def test_early_stopping_settings_from_the_config(tmp_path):
    # monitor val_accuracy, mode max: the weights put back are those of the first epoch with
    # the highest val_accuracy; restore_best false puts nothing back
    over = ["stopping.monitor=val_accuracy", "stopping.mode=max", "stopping.patience=5",
            "stopping.min_delta=0", "training.epochs=60"]
    r = api.train(CONFIGS / "early-stopping.yaml", over, runs_dir=tmp_path)
    acc = [row["val_accuracy"] for row in metrics(r.run_dir)]
    assert r.summary["restored_epoch"] == 1 + acc.index(max(acc)) and len(acc) < 60
    assert len(acc) == r.summary["restored_epoch"] + 5  # patience 5 after the best
    r = api.train(CONFIGS / "early-stopping.yaml", over + ["stopping.restore_best=false"],
                  runs_dir=tmp_path)
    assert "restored_epoch" not in r.summary


def test_regularization_max_norm_and_noise_from_the_config_take_effect(tmp_path):
    base = ["training.epochs=20", "stopping.target_loss=null"]
    plain = api.train(CONFIGS / "xor.yaml", base, runs_dir=tmp_path)
    plain_loss = metrics(plain.run_dir)[-1]["train_loss"]
    for extra in (["regularization.l2=0.5"], ["regularization.l1=0.5"]):
        row = metrics(api.train(CONFIGS / "xor.yaml", base + extra, runs_dir=tmp_path).run_dir)[-1]
        assert row["train_objective"] > row["train_loss"], extra  # the penalty is in the objective
    r = api.train(CONFIGS / "xor.yaml", base + ["model.layers.0.max_norm=0.5"], runs_dir=tmp_path)
    W = np.load(r.run_dir / "checkpoints" / "last.npz")["param/0.W"]
    assert np.linalg.norm(W, axis=0).max() <= 0.5 + 1e-6  # each unit's incoming weights
    r = api.train(CONFIGS / "xor.yaml", base + ["augment.noise=0.5"], runs_dir=tmp_path)
    assert metrics(r.run_dir)[-1]["train_loss"] != plain_loss  # trained on noisy inputs


def test_training_shuffle_from_the_config_takes_effect(tmp_path):
    base = ["training.epochs=5", "training.batch_size=1", "stopping.target_loss=null"]
    losses = {s: [row["train_loss"] for row in metrics(api.train(
        CONFIGS / "xor.yaml", base + [f"training.shuffle={s}"], runs_dir=tmp_path).run_dir)]
        for s in ("true", "false")}
    assert losses["true"] != losses["false"]


@pytest.mark.parametrize("name,over", [
    ("xor", []), ("xor", ["regularization.l2=0.1"]), ("and-perceptron", []),
    ("early-stopping", ["training.epochs=3"]), ("iris", ["training.epochs=2"]),
    ("xor", ["data=sine", "model.layers.1.activation=identity", "loss=mse", "training.epochs=2"]),
    ("xor", ["data={source: sine, val_fraction: 0.25}", "model.layers.1.activation=identity",
             "loss=mse", "training.epochs=2"]),
])
def test_metrics_a_config_check_accepts_are_those_a_run_logs(name, over, tmp_path):
    # stopping.monitor and schedule.monitor are checked against logged_metrics before the
    # run: it must name exactly the metrics each epoch's row holds
    from backprop_cli.training.build import logged_metrics
    cfg = api.load_config(CONFIGS / f"{name}.yaml", over + ["stopping.target_loss=null"])
    s = api.setup(cfg)
    rows = metrics(api.train(cfg, runs_dir=tmp_path).run_dir)
    logged = set(rows[0]) - {"epoch", "lr", "epoch_time", "attempt", "examples_trained"}
    assert sorted(logged) == sorted(logged_metrics(cfg.data, s.splits))


@pytest.mark.parametrize("override,message", [
    (["schedule={name: reduce_on_plateau, monitor: val_loss}"],
     "schedule.monitor: metric 'val_loss' is not logged (logged: train_loss, train_accuracy); "
     "set data.val_fraction to hold out validation data"),
    (["data=sine", "model.layers.1.activation=identity", "loss=mse", "training.examples=misclassified"],
     "training.examples: misclassified needs a classification task, but the task is regression; "
     "use examples: all"),
])
def test_choices_judged_against_the_data_have_exact_messages(override, message):
    from backprop_cli.training.build import check_against_data
    cfg = api.load_config(CONFIGS / "xor.yaml", override)
    with pytest.raises(ConfigError) as e:
        check_against_data(cfg.data, api.setup(cfg).splits)
    assert str(e.value) == message


def test_build_trainer_works_without_a_run_recorder():
    # the library use: a trainer from a config, no run folder
    from backprop_cli.training.build import build_trainer
    cfg = api.load_config(CONFIGS / "xor.yaml", ["training.epochs=3", "stopping.target_loss=null"])
    s = api.setup(cfg)
    rng = np.random.default_rng(0)
    trainer, _ = build_trainer(cfg.data, s.network, s.splits, shuffle_rng=rng, augment_rng=rng,
                               restart_rng=rng, reinit=s.network.state_dict)
    state = trainer.fit(s.splits.train)
    assert state.epoch == 3 and state.stop_reason == "epoch limit reached (3)"


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_augment_stream_is_drawn_from_only_when_noise_is_on(noise):
    # the run's augment stream (recorded in every checkpoint) stays untouched without input
    # noise: noise 0 means no augmentation step, not N(0, 0) draws
    from backprop_cli.training.build import build_trainer
    cfg = api.load_config(CONFIGS / "xor.yaml", ["training.epochs=2", "stopping.target_loss=null",
                                                  f"augment.noise={noise}"])
    s = api.setup(cfg)
    augment_rng = np.random.default_rng(1)
    start = augment_rng.bit_generator.state
    trainer, _ = build_trainer(cfg.data, s.network, s.splits, shuffle_rng=np.random.default_rng(0),
                               augment_rng=augment_rng, restart_rng=np.random.default_rng(2),
                               reinit=s.network.state_dict)
    trainer.fit(s.splits.train)
    assert (augment_rng.bit_generator.state == start) == (noise == 0.0)
