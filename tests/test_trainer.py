"""The training loop: batch schedules, shuffling, stopping, divergence, reproducibility."""
import numpy as np
import pytest

from backprop_cli.data.dataset import Dataset
from backprop_cli.engine.network import build_network
from backprop_cli.training.callbacks import Callback, TargetLoss
from backprop_cli.training.optimizers import SGD
from backprop_cli.training.trainer import Trainer


def problem(n=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    labels = (X[:, 0] > 0).astype(int)
    return Dataset(X, labels[:, None].astype(float), labels)


def net(seed=0):
    rng = np.random.default_rng(seed)
    return build_network([{"units": 4, "activation": "tanh"}, {"units": 1, "activation": "sigmoid"}],
                         3, "bce", np.float64, rng, rng)


class Recorder(Callback):
    def __init__(self):
        self.batches = 0
        self.seen = []

    def on_batch_end(self, state):
        self.batches += 1


@pytest.mark.parametrize("batch_size,steps", [(None, 1), (1, 10), (4, 3), (10, 1), (32, 1)])
def test_batch_schedules_take_the_right_number_of_steps(batch_size, steps):
    rec = Recorder()
    network = net()
    opt = SGD(network.parameters(), lr=0.1)
    Trainer(network, opt, epochs=2, batch_size=batch_size, callbacks=[rec]).fit(problem())
    assert rec.batches == 2 * steps and opt.t == 2 * steps


def test_whole_batch_step_is_the_mean_gradient():
    """One epoch of whole-batch descent = one step along the mean of the examples' gradients."""
    data = problem()
    a, b = net(), net()
    Trainer(a, SGD(a.parameters(), lr=0.3), epochs=1, batch_size=None, shuffle=False).fit(data)
    grads = []
    for i in range(len(data)):
        b.train_step_gradients(data.X[i:i + 1], data.Y[i:i + 1])
        grads.append({p.name: p.grad.copy() for p in b.parameters()})
    for p in b.parameters():
        p.value -= 0.3 * np.mean([g[p.name] for g in grads], axis=0)
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(pa.value, pb.value, rtol=1e-12, atol=1e-15)


def test_online_without_shuffle_visits_examples_in_order():
    data = problem(5)
    a, b = net(), net()
    Trainer(a, SGD(a.parameters(), lr=0.2), epochs=1, batch_size=1, shuffle=False).fit(data)
    opt = SGD(b.parameters(), lr=0.2)
    for i in range(5):
        b.train_step_gradients(data.X[i:i + 1], data.Y[i:i + 1])
        opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.value, pb.value)


def test_shuffle_is_reproducible_from_the_seed_and_differs_between_seeds():
    def run(seed):
        n = net()
        Trainer(n, SGD(n.parameters(), lr=0.2), epochs=3, batch_size=2,
                rng=np.random.default_rng(seed)).fit(problem())
        return n.state_dict()["0.W"]
    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


def test_target_loss_stops_and_epoch_limit_is_the_default_reason():
    n = net()
    state = Trainer(n, SGD(n.parameters(), lr=1.0), epochs=5000, batch_size=None,
                    callbacks=[TargetLoss(0.05)]).fit(problem())
    assert state.stop_reason.startswith("target loss reached") and state.logs["train_loss"] < 0.05
    assert state.epoch < 5000
    n = net()
    state = Trainer(n, SGD(n.parameters(), lr=0.01), epochs=3, batch_size=None).fit(problem())
    assert state.stop_reason == "epoch limit reached (3)" and state.epoch == 3
    with pytest.raises(ValueError):
        TargetLoss(0)


def test_metrics_are_logged_per_epoch():
    n = net()
    seen = []

    class Spy(Callback):
        def on_epoch_end(self, state):
            seen.append(dict(state.logs))

    Trainer(n, SGD(n.parameters(), lr=0.1), epochs=3, batch_size=4, callbacks=[Spy()]).fit(problem(), problem(6, 1))
    assert [s["epoch"] for s in seen] == [1, 2, 3]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "epoch_time"} <= set(seen[0])
    assert all(0 <= s["train_accuracy"] <= 1 for s in seen)


def test_metrics_lines_are_the_json_of_the_record_with_non_finite_numbers_as_null():
    import json

    from backprop_cli.rundir import json_line
    record = {"epoch": 3, "train_loss": 0.1 + 0.2, "tiny": 5e-324, "big": 10 ** 20, "flag": True,
              "nan": float("nan"), "inf": float("-inf"), "np": np.float32(0.25), "n": np.int64(7),
              "np_nan": np.float32("nan"),
              "text": 'a "quoted" é', "none": None, "list": [1, 2.5]}
    line = json_line(record)
    assert line.endswith("}\n") and "\n" not in line[:-1]
    expected = {**record, "nan": None, "inf": None, "np": 0.25, "n": 7, "np_nan": None}
    assert json.loads(line) == expected
    assert line == json.dumps(expected) + "\n"   # the same text json.dumps writes


def test_a_metric_name_new_to_the_process_is_written_as_json_first_time_and_after():
    """json_line keeps each key's JSON text for the next epochs: the first record with a new
    name (a process that ran other trainings first) is written as json.dumps writes it too."""
    import json
    import uuid

    from backprop_cli.rundir import json_line
    record = {f"metric_{uuid.uuid4().hex}": 0.5, f'a "quoted" é {uuid.uuid4().hex}': 2}
    assert json_line(record) == json.dumps(record) + "\n" == json_line(record)

def test_summary_numbers_that_json_cannot_hold_become_null():
    """summary.json's final and best metrics of a diverged run: NaN and inf are not JSON
    (strict parsers refuse them), so they are written as null; every other value as it is."""
    from backprop_cli.rundir import json_number
    assert [json_number(x) for x in (float("nan"), float("inf"), float("-inf"))] == [None] * 3
    assert [json_number(x) for x in (0.0, -2.5, 1e308, 3, None, "nan")] == [0.0, -2.5, 1e308, 3, None, "nan"]
    assert [json_number(np.float32(x)) for x in ("nan", "inf", "-inf")] == [None] * 3   # a callback's own metric
    assert json_number(np.float32(0.25)) == 0.25 and json_number(True) is True and json_number([1.0]) == [1.0]

def test_metrics_lines_write_numpy_arrays_as_lists():
    """A callback may log a vector (per-class figures): it is written as a JSON list."""
    from backprop_cli.rundir import json_line
    assert json_line({"recall": np.array([0.25, 1.0]), "n": np.array(3)}) == '{"recall": [0.25, 1.0], "n": 3}\n'

def test_json_files_hold_numpy_values_and_paths_as_json_two_space_indented(tmp_path):
    """summary.json, eval.json and data.json: NumPy scalars and arrays as numbers and lists,
    paths as text, one key per line, a final newline; a value JSON cannot hold is a TypeError
    naming its type, and no file is written."""
    import json
    from pathlib import Path

    from backprop_cli.rundir import json_line, write_json
    path = tmp_path / "summary.json"
    write_json(path, {"loss": np.float32(0.5), "w": np.arange(3), "run": Path("runs/x"), "n": {"k": 1}})
    plain = {"loss": 0.5, "w": [0, 1, 2], "run": "runs/x", "n": {"k": 1}}
    assert path.read_text() == json.dumps(plain, indent=2) + "\n"
    for write in (lambda v: write_json(tmp_path / "bad.json", v), json_line):
        with pytest.raises(TypeError) as e:
            write({"x": {1, 2}})
        assert str(e.value) == "not JSON serializable: set"
    assert not (tmp_path / "bad.json").exists()


@pytest.mark.parametrize("outputs,loss", [(1, "bce"), (1, "mse"), (1, "hinge"), (3, "cross_entropy")])
def test_correct_counter_agrees_with_decide(outputs, loss, rng):
    from backprop_cli.engine.network import build_network
    from backprop_cli.training.metrics import correct_counter, decide
    out = {"bce": "sigmoid", "cross_entropy": "softmax"}.get(loss, "identity")
    net = build_network([{"units": 5, "activation": "tanh"}, {"units": outputs, "activation": out}],
                        2, loss, np.float64, rng, rng)
    z = net.forward(rng.normal(size=(200, 2)) * 3)
    labels = rng.integers(0, max(outputs, 2), 200)
    count = correct_counter(net)(z, labels)
    assert count == int((decide(z, net) == labels).sum()) and 0 < count < 200


@pytest.mark.parametrize("outputs,loss,cut", [(1, "bce", 0.0), (1, "mse", 0.5), (2, "cross_entropy", None)])
def test_decisions_at_the_threshold_and_with_two_outputs(outputs, loss, cut, rng):
    """One output: class 1 only strictly above the threshold (0 for logits, 0.5 for
    probabilities), as integer classes; two outputs: the argmax, whatever the threshold."""
    from backprop_cli.engine.network import build_network
    from backprop_cli.training.metrics import correct_counter, decide
    out = {"bce": "sigmoid", "cross_entropy": "softmax"}.get(loss, "identity")
    net = build_network([{"units": outputs, "activation": out}], 2, loss, np.float64, rng, rng)
    if outputs == 1:
        z = np.array([[cut], [cut + 0.01], [cut - 0.01]])
        expected = [0, 1, 0]
    else:
        z = np.array([[0.2, 0.9], [0.7, 0.1], [-0.3, -0.2]])   # z[:, 0] vs 0.5 would say 0, 1, 0
        expected = [1, 0, 1]
    classes = decide(z, net)
    assert classes.dtype == np.int64 and classes.tolist() == expected
    assert correct_counter(net)(z, np.array(expected)) == 3


def _classifier(seed=0, n_in=2):
    rng = np.random.default_rng(seed)
    return build_network([{"units": 4, "activation": "tanh"}, {"units": 1, "activation": "sigmoid"}],
                         n_in, "bce", np.float64, rng, rng)


def test_evaluate_sums_over_batches():
    from backprop_cli.training.trainer import evaluate
    rng = np.random.default_rng(3)
    X = rng.normal(size=(10, 2))
    labels = (X[:, 0] > 0).astype(int)
    Y = labels[:, None].astype(float)
    net = _classifier()
    whole = evaluate(net, X, Y, labels, batch_size=10)
    loss, z = net.evaluate_loss(X, Y)
    assert whole["loss"] == pytest.approx(loss, rel=1e-14)
    assert whole["accuracy"] == float(np.mean((z[:, 0] > 0) == labels))
    split = evaluate(net, X, Y, labels, batch_size=3)             # batches of 3, 3, 3, 1
    assert split["loss"] == pytest.approx(loss, rel=1e-14) and split["accuracy"] == whole["accuracy"]
    assert evaluate(net, X, Y)["loss"] == pytest.approx(loss, rel=1e-14) and "accuracy" not in evaluate(net, X, Y)


def test_misclassified_epochs_log_every_example_before_their_steps():
    """examples: misclassified logs the loss, accuracy and objective of all examples at the
    epoch's start (over blocks of 8192 rows), then trains on the misclassified ones."""
    from backprop_cli.training.regularizers import Regularizer
    from backprop_cli.training.trainer import evaluate
    rng = np.random.default_rng(4)
    X = rng.normal(size=(8200, 2))
    labels = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    data = Dataset(X, labels[:, None].astype(float), labels)
    net = _classifier(1)
    reg = Regularizer({"l2": 0.5}, len(data))
    logs = []

    class Spy(Callback):
        def on_epoch_begin(self, state):
            logs.append({"before": evaluate(net, X, data.Y, labels),
                         "penalty": reg.value(net.parameters())})

        def on_epoch_end(self, state):
            logs[-1].update(state.logs)

    Trainer(net, SGD(net.parameters(), lr=0.1), epochs=2, batch_size=None, shuffle=False,
            regularizer=reg, callbacks=[Spy()], examples="misclassified").fit(data)
    second = logs[1]   # the first epoch of an attempt trains on every example
    assert second["train_loss"] == pytest.approx(second["before"]["loss"], rel=1e-12)
    assert second["train_accuracy"] == pytest.approx(second["before"]["accuracy"], abs=1e-12)
    assert second["train_objective"] == pytest.approx(second["before"]["loss"] + second["penalty"], rel=1e-12)
    assert second["examples_trained"] == round((1 - second["train_accuracy"]) * 8200) > 0
    with pytest.raises(ValueError, match=r"^examples: misclassified needs class labels \(a classification task\)$"):
        Trainer(net, SGD(net.parameters()), epochs=1, batch_size=None,
                examples="misclassified").fit(Dataset(X, data.Y))


def test_trainer_defaults_state_and_arguments():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(6, 2))
    labels = (X[:, 0] > 0).astype(int)
    data = Dataset(X, labels[:, None].astype(float), labels)
    net = _classifier(2)
    seen = []
    step = net.train_step_gradients
    net.train_step_gradients = lambda xb, yb: (seen.append(xb[0].copy()), step(xb, yb))[1]
    opt = SGD(net.parameters(), lr=0.1)
    state = Trainer(net, opt, epochs=1, batch_size=1).fit(data)   # shuffled, no rng given
    assert state.network is net and state.optimizer is opt and state.epochs == 1
    order = np.random.default_rng(0).permutation(6)               # the default stream: seed 0
    np.testing.assert_array_equal(np.array(seen), X[order])
    with pytest.raises(ValueError, match=r"^examples must be 'all' or 'misclassified', got 'some'$"):
        Trainer(net, opt, epochs=1, batch_size=1, examples="some")


@pytest.mark.parametrize("shuffle", [False, True])
def test_epoch_figures_cover_every_batch(shuffle):
    # lr 0: the weights do not move, so the epoch's train_loss, train_objective and
    # train_accuracy (averaged over its batches of 4, 4 and 2) equal those of the whole set
    from backprop_cli.training.regularizers import Regularizer
    from backprop_cli.training.trainer import evaluate
    data, network = problem(), net()
    reg = Regularizer({"l2": 0.5}, len(data))

    class LastLogs(Recorder):
        def on_epoch_end(self, state):
            self.logs = dict(state.logs)

    rec = LastLogs()
    Trainer(network, SGD(network.parameters(), lr=0.0), epochs=1, batch_size=4, shuffle=shuffle,
            regularizer=reg, callbacks=[rec]).fit(data)
    whole = evaluate(network, data.X, data.Y, data.labels)
    assert rec.batches == 3
    state_logs = rec.logs
    assert state_logs["train_loss"] == pytest.approx(whole["loss"], rel=1e-12)
    assert state_logs["train_accuracy"] == whole["accuracy"] and 0 < whole["accuracy"] < 1
    assert state_logs["train_objective"] == pytest.approx(
        whole["loss"] + reg.value(network.parameters()), rel=1e-12)


def test_misclassified_epochs_train_on_those_examples_in_shuffled_order():
    # examples: misclassified: after the first epoch (all examples), each epoch's batches hold
    # exactly the examples misclassified at its start, shuffled; seen through the augment hook
    from backprop_cli.training.metrics import decide
    data, network = problem(n=200), net()
    trained = []

    def augment(xb):
        trained.append(xb.copy())
        return xb

    class Wrong(Callback):
        def on_epoch_begin(self, state):
            _, z = network.evaluate_loss(data.X, data.Y)
            self.wrong = np.flatnonzero(decide(z, network) != data.labels)

    w = Wrong()
    t = Trainer(network, SGD(network.parameters(), lr=0.0), epochs=2, batch_size=1,
                callbacks=[w], augment=augment, examples="misclassified", rng=np.random.default_rng(0))
    t.fit(data)
    second = np.concatenate(trained[len(data):])
    assert 10 < len(w.wrong) < len(data) and len(second) == len(w.wrong)
    rows = [int(np.flatnonzero((data.X == x).all(1))[0]) for x in second]
    assert sorted(rows) == w.wrong.tolist() and rows != w.wrong.tolist()


def test_a_non_finite_batch_makes_the_epoch_loss_and_objective_nan_and_times_the_epoch():
    from backprop_cli.training.regularizers import Regularizer
    data, network = problem(), net()

    class LastLogs(Callback):
        def on_epoch_end(self, state):
            self.logs = dict(state.logs)

    rec = LastLogs()
    Trainer(network, SGD(network.parameters(), lr=0.1), epochs=1, batch_size=4,
            regularizer=Regularizer({"l2": 0.5}, len(data)), callbacks=[rec]).fit(data)
    assert 0 <= rec.logs["epoch_time"] < 60
    network.parameters()[0].value[0, 0] = np.nan
    with np.errstate(invalid="ignore"):
        Trainer(network, SGD(network.parameters(), lr=0.1), epochs=1, batch_size=4,
                regularizer=Regularizer({"l2": 0.5}, len(data)), callbacks=[rec]).fit(data)
    assert np.isnan(rec.logs["train_loss"]) and np.isnan(rec.logs["train_objective"])


def test_a_restarted_attempt_begins_with_an_epoch_over_all_examples():
    # examples: misclassified trains an attempt's first epoch on every example, the next ones
    # on the misclassified ones only; a restart begins a new attempt
    data, network = problem(n=50), net()

    class RestartAfterTwo(Callback):
        def on_epoch_end(self, state):
            self.trained = getattr(self, "trained", []) + [state.logs["examples_trained"]]
            if state.epoch == 2:
                state.restart_reason = "test"

    cb = RestartAfterTwo()
    state = Trainer(network, SGD(network.parameters(), lr=0.0), epochs=4, batch_size=5,
                    callbacks=[cb], examples="misclassified").fit(data)
    assert state.attempt == 2
    wrong = cb.trained[1]
    assert 0 < wrong < 50 and cb.trained == [50, wrong, 50, wrong]
