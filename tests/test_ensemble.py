"""Bagging (issue 16.3): `ensemble: {members: N}` trains N members on bootstrap samples in one
run folder; eval, predict and --resume take the folder as one model."""
import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from helpers import CONFIGS, write

from backprop_cli import api, checkpoint, ensemble, scoring
from backprop_cli.cli import main
from backprop_cli.training.callbacks import Callback

# noisy moons: members trained on different bootstrap samples disagree where the classes overlap
MOONS = """
data: {source: moons, n: 240, noise: 0.35, val_fraction: 0.25, test_fraction: 0.25}
model:
  layers:
    - {units: 24, activation: tanh}
    - {units: 1, activation: sigmoid}
loss: bce
optimizer: {name: sgd, lr: 0.5}
training: {epochs: 30, batch_size: 16}
ensemble: {members: 3}
"""

BLOBS = """
data: {source: blobs, n: 240, centers: 3, std: 3.0, test_fraction: 0.25}
model:
  layers:
    - {units: 16, activation: relu}
    - {units: 3, activation: softmax}
loss: cross_entropy
optimizer: {name: adam, lr: 0.02}
training: {epochs: 25, batch_size: 32}
ensemble: {members: 4}
"""

SINE = """
data: {source: sine, n: 160, noise: 0.3, val_fraction: 0.25}
model:
  layers:
    - {units: 16, activation: tanh}
    - {units: 1}
loss: mse
optimizer: {name: adam, lr: 0.02}
training: {epochs: 40, batch_size: 16}
ensemble: {members: 3}
"""


def cfg(tmp_path, text, name="bag.yaml"):
    return write(tmp_path / name, text)


def weights(run_dir, which="last"):
    a = checkpoint.load_arrays(run_dir / "checkpoints" / f"{which}.npz")
    return {k: v for k, v in a.items() if k.startswith(("param/", "optim/"))}


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=f"{a} {k}")


def metrics(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "epoch_time"} for r in rows]


def scores(summary):
    """An ensemble summary's numbers (not its times or folders)."""
    return (summary["ensemble"], summary["members_mean"],
            [{k: v for k, v in r.items() if k != "run_dir"} for r in summary["members"]])


@pytest.fixture(scope="module")
def bagged(tmp_path_factory):
    """One ensemble run of noisy moons, trained once for the tests that only read it."""
    tmp = tmp_path_factory.mktemp("bag")
    return api.train(cfg(tmp, MOONS), runs_dir=tmp / "runs")


def test_the_run_folder_holds_a_normal_run_per_member(bagged):
    run = bagged.run_dir
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "ensemble.json", "members", "summary.json"]
    for i in range(3):
        d = run / "members" / str(i)
        for f in ("config.yaml", "metrics.jsonl", "summary.json", "preprocessing.npz", "data.json",
                  "checkpoints/last.npz", "checkpoints/best.npz"):
            assert (d / f).is_file(), (d, f)
        c = yaml.safe_load((d / "config.yaml").read_text())
        assert c["ensemble"] == {"members": 3, "bootstrap": True, "member": i}
        s = json.loads((d / "summary.json").read_text())
        assert s["member"] == i and s["epochs"] == 30 and len(metrics(d)) == 30
    assert yaml.safe_load((run / "config.yaml").read_text())["ensemble"]["member"] is None
    s = bagged.summary
    assert s["ensemble"]["members"] == 3 and [r["member"] for r in s["members"]] == [0, 1, 2]
    assert s["stop_reason"] == "3 members trained, each: epoch limit reached (30)"
    assert s["epochs"] == 90 and (s["n_train"], s["n_val"], s["n_test"]) == (120, 60, 60)
    assert s["parameters"] == 3 * (2 * 24 + 24 + 24 + 1)
    assert s["final"] == {k: v for k, v in s["ensemble"].items() if k.startswith(("train_", "val_"))}
    assert s["test"] == {"test_loss": s["ensemble"]["test_loss"], "test_accuracy": s["ensemble"]["test_accuracy"]}
    assert len(bagged.members) == 3 and all(m.network is not None for m in bagged.members)
    # plot draws the members; commands that need one network say which to give
    from backprop_cli import plot
    runs, _ = plot.load([run])
    assert [r.name for r in runs] == [f"{run.name}/members/{i}" for i in range(3)]
    r = CliRunner().invoke(main, ["explain", "--run", str(run)])
    assert r.exit_code == 3 and "the run folder of an ensemble" in r.stderr and "members/0" in r.stderr


def test_members_differ_in_bootstrap_sample_and_initial_weights_not_in_data(bagged):
    run = bagged.run_dir
    c = api.as_config(MOONS)
    whole = api.setup(c)
    n = len(whole.splits.train)
    samples, inits = [], []
    for i in range(3):
        s = api.setup(run / "members" / str(i) / "config.yaml")
        idx = ensemble.bootstrap_indices(0, i, n)
        np.testing.assert_array_equal(s.sample, idx)
        assert np.all(np.diff(idx) >= 0) and idx.min() >= 0 and idx.max() < n
        assert len(np.unique(idx)) < n              # drawn with replacement: repeats, and examples left out
        np.testing.assert_array_equal(s.splits.train.X, whole.splits.train.X[idx])
        np.testing.assert_array_equal(s.splits.train.Y, whole.splits.train.Y[idx])
        for split in ("val", "test"):               # the held-out data is the run's, for every member
            np.testing.assert_array_equal(getattr(s.splits, split).X, getattr(whole.splits, split).X)
        for k, v in whole.splits.preprocessing.items():  # scaled as the run's whole training split
            np.testing.assert_array_equal(s.splits.preprocessing[k], v)
        record = json.loads((run / "members" / str(i) / "summary.json").read_text())
        assert record["bootstrap"] == {"draws": n, "distinct": len(np.unique(idx))}
        assert record["n_train"] == n
        samples.append(idx)
        inits.append(s.network.state_dict())
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.array_equal(samples[i], samples[j])
            assert all(not np.array_equal(inits[i][k], inits[j][k]) for k in inits[i] if k.endswith("W"))
            assert any(not np.array_equal(weights(run / "members" / str(i))[k],
                                          weights(run / "members" / str(j))[k]) for k in weights(run / "members" / "0"))
    # nor are they the single run's initial weights
    assert not np.array_equal(whole.network.state_dict()["0.W"], inits[0]["0.W"])
    # without bootstrap, every member trains on the whole split; the weights still differ
    s = api.setup(MOONS, ["ensemble.bootstrap=false", "ensemble.member=1"])
    assert s.sample is None
    np.testing.assert_array_equal(s.splits.train.X, whole.splits.train.X)
    np.testing.assert_array_equal(s.network.state_dict()["0.W"], inits[1]["0.W"])


def test_the_same_config_and_seed_give_the_same_ensemble_and_a_member_trains_again_alone(bagged, tmp_path):
    again = api.train(MOONS, runs_dir=tmp_path / "again")
    assert scores(again.summary) == scores(bagged.summary)
    for i in range(3):
        assert_same_weights(bagged.run_dir / "members" / str(i), again.run_dir / "members" / str(i))
        assert metrics(bagged.run_dir / "members" / str(i)) == metrics(again.run_dir / "members" / str(i))
    # a member's own config.yaml trains that member again, alone, to the same weights
    alone = api.train(bagged.run_dir / "members" / "2" / "config.yaml", runs_dir=tmp_path / "alone")
    assert alone.summary["member"] == 2 and not (alone.run_dir / "members").exists()
    assert_same_weights(bagged.run_dir / "members" / "2", alone.run_dir)
    # in memory, the same numbers
    mem = api.train(MOONS, save=False)
    assert mem.run_dir is None and scores(mem.summary) == scores(bagged.summary)
    np.testing.assert_array_equal(mem.members[1].weights["0.W"], weights(bagged.run_dir / "members" / "1")["param/0.W"])
    # another seed, another ensemble
    other = api.train(MOONS, ["seed=1"], save=False)
    assert other.summary["ensemble"]["test_loss"] != bagged.summary["ensemble"]["test_loss"]


def own_loss(name, outputs, Y):
    """The losses written out in NumPy, float64, independently of the engine."""
    o, y = np.asarray(outputs, np.float64), np.asarray(Y, np.float64)
    if name == "bce":
        return float(np.mean(-(y * np.log(o) + (1 - y) * np.log(1 - o))))
    if name == "cross_entropy":
        return float(np.mean(-np.log((o * y).sum(axis=1))))
    if name == "mse":
        return float(np.mean((o - y) ** 2))
    if name == "quadratic":
        return float(np.mean(0.5 * ((o - y) ** 2).sum(axis=1)))
    raise ValueError(name)


@pytest.mark.parametrize("text", [MOONS, BLOBS, SINE], ids=["bce", "cross_entropy", "mse"])
def test_the_ensembles_loss_is_at_most_the_members_mean_loss(text, tmp_path):
    """Cross-entropy and squared error are convex in the outputs, so the loss of the averaged
    probabilities (values) is at most the members' mean loss (Jensen), on every split."""
    res = api.train(cfg(tmp_path, text), runs_dir=tmp_path / "runs")
    s = res.summary
    splits = [k[:-5] for k in s["ensemble"] if k.endswith("_loss")]
    assert set(splits) >= {"train", "test" if "test_fraction" in text else "val"}
    loss = api.as_config(text).data["loss"]
    ens = scoring.load_ensemble(res.run_dir, "last")
    data = ens.splits()
    for split in splits:
        mean = s["members_mean"][f"{split}_loss"]
        assert mean == pytest.approx(np.mean([r[f"{split}_loss"] for r in s["members"]]), rel=1e-12)
        assert s["ensemble"][f"{split}_loss"] <= mean
        # the same inequality, each side computed here in float64 from the members' outputs
        d = getattr(data, split)
        outs = [m.outputs(d.X) for m in ens.members]
        mine = own_loss(loss, np.mean(np.asarray(outs, np.float64), axis=0), d.Y)
        each = [own_loss(loss, o, d.Y) for o in outs]
        assert mine < np.mean(each) * (1 - 1e-3)    # not by a hair: the members disagree
        assert s["ensemble"][f"{split}_loss"] == pytest.approx(mine, rel=1e-5)
        for r, e in zip(s["members"], each):
            assert r[f"{split}_loss"] == pytest.approx(e, rel=1e-4)


@pytest.mark.parametrize("name", ["bce", "cross_entropy", "mse", "quadratic", "mae", "hinge"])
def test_output_loss_is_convex_in_the_outputs(name):
    """output_loss, the ensemble row's loss, is convex: for any members' outputs, the loss
    of their mean is at most the mean of their losses (float64, random outputs)."""
    rng = np.random.default_rng(3)
    for trial in range(20):
        k = 1 if name in ("bce",) or (name == "hinge" and trial % 2) else 3
        n, m = 50, 2 + trial % 4
        if name in ("bce", "cross_entropy"):
            raw = rng.uniform(-4, 4, (m, n, k))
            outs = 1 / (1 + np.exp(-raw)) if k == 1 else np.exp(raw) / np.exp(raw).sum(axis=2, keepdims=True)
        else:
            outs = rng.normal(0, 2, (m, n, k))
        labels = rng.integers(0, 2 if k == 1 else k, n)
        Y = labels[:, None].astype(float) if k == 1 else np.eye(k)[labels]
        if name in ("mse", "quadratic", "mae"):
            Y = rng.normal(0, 1, (n, k))
        each = [scoring.output_loss(name, o, Y) for o in outs]
        assert scoring.output_loss(name, scoring.average_outputs(list(outs)), Y) <= np.mean(each) + 1e-12
        # and each value is the loss's formula, written out here (a constant would pass the above)
        assert each == pytest.approx([by_formula(name, o, Y) for o in outs], rel=1e-12)


def by_formula(name, o, Y):
    """The mean over examples of each loss, from its definition (engine/losses.py's docstrings)."""
    if name == "bce":
        return float(np.mean(-(Y * np.log(o) + (1 - Y) * np.log(1 - o)).sum(axis=1)))
    if name == "cross_entropy":
        return float(np.mean(-(Y * np.log(o)).sum(axis=1)))
    if name == "mse":
        return float(np.mean((o - Y) ** 2))
    if name == "quadratic":
        return float(np.mean(0.5 * ((o - Y) ** 2).sum(axis=1)))
    if name == "mae":
        return float(np.mean(np.abs(o - Y)))
    if o.shape[1] == 1:  # hinge, binary: t = ±1
        t = np.where(Y > 0, 1.0, -1.0)
        return float(np.mean(np.maximum(0.0, 1 - t * o)))
    c = Y.argmax(axis=1)  # hinge, multi-class: the other classes' margins against the true one's
    zc = o[np.arange(len(o)), c][:, None]
    margins = np.maximum(0.0, 1 + o - zc)
    margins[np.arange(len(o)), c] = 0
    return float(np.mean(margins.sum(axis=1)))


def test_eval_and_predict_of_the_ensemble_are_the_average_of_its_members(bagged, tmp_path):
    run = bagged.run_dir
    r = CliRunner().invoke(main, ["eval", str(run), "--checkpoint", "last", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert [x["name"] for x in rep["runs"]] == ["members/0", "members/1", "members/2"]
    assert rep["ensemble"]["members"] == ["members/0", "members/1", "members/2"]
    assert rep["ensemble"]["run"] == str(run) and json.loads((run / "eval.json").read_text()) == rep
    assert not (run / "members" / "0" / "eval.json").exists()
    # by hand: each member's network on the run's test split, the probabilities averaged
    whole = api.setup(MOONS).splits.test
    members = [scoring.load_member(run / "members" / str(i), "last") for i in range(3)]
    p = np.mean([m.network.predict(whole.X).astype(np.float64) for m in members], axis=0)[:, 0]
    y = whole.labels
    assert rep["ensemble"]["n"] == len(y) == 60
    assert rep["ensemble"]["accuracy"] == pytest.approx(np.mean((p > 0.5) == y))
    assert rep["ensemble"]["loss"] == pytest.approx(float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))),
                                                    rel=1e-5)
    # as training reported it, and each member's row as its own eval
    assert rep["ensemble"]["loss"] == pytest.approx(bagged.summary["ensemble"]["test_loss"], rel=1e-12)
    for i, row in enumerate(rep["runs"]):
        alone = scoring.evaluate(run / "members" / str(i), "last")["runs"][0]
        assert row["loss"] == pytest.approx(alone["loss"], rel=1e-12) and row["accuracy"] == alone["accuracy"]
        assert row["loss"] == pytest.approx(bagged.summary["members"][i]["test_loss"], rel=1e-12)
    # the same examples given as new data (unscaled): the same scores
    raw = whole.X * members[0].prep["divisor"] + members[0].prep["shift"]
    given = scoring.evaluate(run, "last", data=(raw, y))
    assert given["ensemble"]["split"] == "data" and given["ensemble"]["n"] == 60
    assert given["ensemble"]["loss"] == pytest.approx(rep["ensemble"]["loss"], rel=1e-5)
    assert given["ensemble"]["accuracy"] == rep["ensemble"]["accuracy"]
    # predict: the averaged probabilities, the class of the larger; from Python and as a CSV
    X = np.array([[0.0, 0.5], [1.0, -0.4], [0.5, 0.25], [-1.0, 1.2]])
    pred = scoring.predict(run, X, "last")
    scaled = (X - members[0].prep["shift"]) / members[0].prep["divisor"]
    avg = np.mean([m.network.predict(scaled.astype(np.float32)) for m in members], axis=0)[:, 0]
    np.testing.assert_allclose(pred.values[:, 1], avg, rtol=1e-6)
    np.testing.assert_allclose(pred.values.sum(axis=1), 1.0, rtol=1e-6)
    assert pred.classes == [("1" if v > 0.5 else "0") for v in avg]
    write(tmp_path / "new.csv", "x0,x1\n" + "\n".join(f"{a},{b}" for a, b in X) + "\n")
    r = CliRunner().invoke(main, ["predict", str(run), "--data", str(tmp_path / "new.csv"), "--checkpoint", "last"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "class,p_0,p_1" and [ln.split(",")[0] for ln in lines[1:]] == pred.classes
    np.testing.assert_allclose([float(ln.split(",")[2]) for ln in lines[1:]], avg, rtol=1e-6)
    # the same through the library's top-level names
    import backprop_cli
    assert backprop_cli.evaluate(run, "last")["ensemble"]["loss"] == rep["ensemble"]["loss"]


def test_eval_of_an_ensemble_among_other_runs_counts_it_as_one_model(bagged, tmp_path):
    single = api.train(MOONS, ["ensemble.members=1"], runs_dir=tmp_path / "runs")
    rep = scoring.evaluate([bagged.run_dir, single.run_dir], "last")
    first, _ = rep["runs"]
    alone = scoring.evaluate(bagged.run_dir, "last")["ensemble"]
    assert first["name"] == bagged.run_dir.name and len(first["checkpoints"]) == 3
    assert first["loss"] == pytest.approx(alone["loss"], rel=1e-12) and first["accuracy"] == alone["accuracy"]
    assert rep["ensemble"]["members"] == [bagged.run_dir.name, single.run_dir.name]
    # the two models' outputs averaged: the ensemble's and the single run's, equally weighted
    test = api.setup(MOONS).splits.test
    ens = scoring.load_ensemble(bagged.run_dir, "last").outputs(test.X).astype(np.float64)
    one = scoring.load_member(single.run_dir, "last").network.predict(test.X).astype(np.float64)
    p = ((ens + one) / 2)[:, 0]
    y = test.labels
    assert rep["ensemble"]["loss"] == pytest.approx(float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))),
                                                    rel=1e-5)
    r = CliRunner().invoke(main, ["eval", str(bagged.run_dir), str(single.run_dir)])
    assert r.exit_code == 0 and "(ensemble of 3, best)" in r.stderr


def test_regression_ensemble_predicts_the_mean_value(tmp_path):
    res = api.train(cfg(tmp_path, SINE), runs_dir=tmp_path / "runs")
    X = np.linspace(-3, 3, 7)[:, None]
    pred = scoring.predict(res.run_dir, X, "last")
    members = [scoring.load_member(res.run_dir / "members" / str(i), "last") for i in range(3)]
    scaled = ((X - members[0].prep["shift"]) / members[0].prep["divisor"]).astype(np.float32)
    each = np.array([m.network.predict(scaled) for m in members])
    np.testing.assert_allclose(pred.values, each.mean(axis=0), rtol=1e-6)
    assert pred.header == ["y"] and pred.classes is None
    assert np.ptp(each[:, :, 0], axis=0).max() > 1e-3     # the members do disagree
    rep = scoring.evaluate(res.run_dir, "last")
    assert rep["ensemble"]["split"] == "val" and rep["ensemble"]["mse"] == pytest.approx(rep["ensemble"]["loss"], rel=1e-6)


class CrashIn(Callback):
    """A power cut after epoch k of the m-th member to train (counted from 0)."""

    def __init__(self, member, k):
        self.member, self.k, self.started = member, k, -1

    def on_train_begin(self, state):
        self.started += 1

    def on_epoch_complete(self, state):
        if self.started == self.member and state.epoch == self.k:
            raise RuntimeError("power cut")


class InterruptIn(CrashIn):
    """Ctrl-C during epoch k of the m-th member: it stops after the epoch, as the CLI's does."""

    def on_epoch_end(self, state):
        if self.started == self.member and state.epoch == self.k:
            state.interrupted = True
            state.stop("interrupted")

    def on_epoch_complete(self, state):
        pass


def assert_same_ensemble(a, b):
    for i in range(len(json.loads((a / "summary.json").read_text())["members"])):
        assert_same_weights(a / "members" / str(i), b / "members" / str(i))
        assert metrics(a / "members" / str(i)) == metrics(b / "members" / str(i))
    sa, sb = (json.loads((r / "summary.json").read_text()) for r in (a, b))
    assert scores(sa) == scores(sb)
    for k in ("epochs", "stop_reason", "config_sha256", "data_sha256", "final", "test"):
        assert sa[k] == sb[k], k


def test_resume_goes_on_with_the_unfinished_member_bit_for_bit(tmp_path):
    sets = ["output.checkpoint_every=5", "data.val_fraction=0.25", "stopping.patience=50"]
    ref = api.train(MOONS, sets, runs_dir=tmp_path / "ref")
    with pytest.raises(RuntimeError, match="power cut"):
        api.train(MOONS, sets, runs_dir=tmp_path / "cut", callbacks=[CrashIn(1, 15)])
    cut = next((tmp_path / "cut").iterdir())
    assert not (cut / "summary.json").exists() and (cut / "members" / "0" / "summary.json").exists()
    assert int(checkpoint.load_arrays(cut / "members" / "1" / "checkpoints" / "last.npz")["meta/epoch"]) == 15
    assert not (cut / "members" / "2").exists()
    r = CliRunner().invoke(main, ["train", "--resume", str(cut), "-q"])
    assert r.exit_code == 0, r.output
    assert_same_ensemble(ref.run_dir, cut)
    # finished: a second --resume says so
    r = CliRunner().invoke(main, ["train", "--resume", str(cut)])
    assert r.exit_code == 3 and "the ensemble already finished" in r.stderr and "--epochs N (N > 30)" in r.stderr


def test_ctrl_c_in_a_member_stops_the_ensemble_with_130_and_resume_finishes_it(tmp_path):
    ref = api.train(MOONS, ["output.checkpoint_every=1"], runs_dir=tmp_path / "ref")
    cut = api.train(MOONS, ["output.checkpoint_every=1"], runs_dir=tmp_path / "cut", callbacks=[InterruptIn(2, 7)])
    s = cut.summary
    assert s["interrupted"] and not s["diverged"] and s["stop_reason"] == "interrupted in member 2 of 3"
    assert [r["epochs"] for r in s["members"]] == [30, 30, 7] and s["members_mean"] == {} and "test" not in s
    assert json.loads((cut.run_dir / "summary.json").read_text())["interrupted"]
    r = CliRunner().invoke(main, ["eval", str(cut.run_dir)])  # member 2 has weights: eval works
    assert r.exit_code == 0, r.output
    # a member killed before its first checkpoint starts again
    (cut.run_dir / "members" / "2" / "checkpoints" / "last.npz").unlink()
    r = CliRunner().invoke(main, ["train", "--resume", str(cut.run_dir), "-q"])
    assert r.exit_code == 0, r.output
    assert_same_ensemble(ref.run_dir, cut.run_dir)


def test_resume_with_a_new_total_trains_every_member_on(tmp_path):
    first = api.train(MOONS, ["training.epochs=10"], runs_dir=tmp_path / "runs")
    more = api.train(resume=first.run_dir, epochs=25)
    assert more.run_dir == first.run_dir and [r["epochs"] for r in more.summary["members"]] == [25, 25, 25]
    whole = api.train(MOONS, ["training.epochs=25"], runs_dir=tmp_path / "whole")
    for i in range(3):
        assert_same_weights(whole.run_dir / "members" / str(i), first.run_dir / "members" / str(i))
    assert more.summary["ensemble"] == whole.summary["ensemble"]
    assert "training.epochs 10 -> 25 for every member" in (first.run_dir / "config.yaml").read_text()
    assert yaml.safe_load((first.run_dir / "config.yaml").read_text())["training"]["epochs"] == 25
    r = CliRunner().invoke(main, ["train", "--resume", str(first.run_dir), "--epochs", "20"])
    assert r.exit_code == 2 and "the members were given 25 epochs; give a new total above 25" in r.stderr


def test_a_diverging_member_stops_the_ensemble_with_exit_4_and_is_not_resumed(tmp_path):
    path = cfg(tmp_path, MOONS.replace("lr: 0.5", "lr: 1.0e+6") + "stopping: {max_loss: 5}\n")
    r = CliRunner().invoke(main, ["train", str(path), "--runs-dir", str(tmp_path / "runs"), "--json", "-q"])
    assert r.exit_code == 4
    s = json.loads(r.stdout)
    assert s["diverged"] and s["stop_reason"].startswith("member 0 of 3 diverged: ") and len(s["members"]) == 1
    r = CliRunner().invoke(main, ["train", "--resume", s["run_dir"]])
    assert r.exit_code == 3 and "smaller learning rate" in r.stderr


def test_cli_train_shows_each_member_and_the_ensemble_table(tmp_path):
    path = cfg(tmp_path, MOONS)
    r = CliRunner().invoke(main, ["train", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert r.exit_code == 0, r.output
    err = r.stderr
    assert err.count("dense 24 tanh") == 1               # the network once, then a line per member
    for i in range(3):
        assert f"member {i} of 3: " in err and "distinct of 120 training examples" in err
    assert "mean of members" in err and "ensemble" in err and "90 epochs in all" in err


def test_arrays_from_python_train_an_ensemble_that_evaluates_and_resumes(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] + 0.5 * rng.normal(size=120) > 0).astype(int)
    text = MOONS.replace("data: {source: moons, n: 240, noise: 0.35,", "data: {")
    with pytest.raises(RuntimeError, match="power cut"):
        api.train(text, data=(X, y), runs_dir=tmp_path / "cut", callbacks=[CrashIn(1, 4)])
    cut = next((tmp_path / "cut").iterdir())
    done = api.train(resume=cut)
    ref = api.train(text, data=(X, y), runs_dir=tmp_path / "ref")
    assert scores(done.summary) == scores(ref.summary)
    assert scoring.evaluate(cut)["ensemble"]["n"] == 30


def test_members_trained_as_sweep_trials_equal_the_ensembles(bagged, tmp_path):
    """A sweep over ensemble.member trains the members in parallel worker processes; they are
    the in-process ensemble's members, weight for weight, and eval averages them alike."""
    from backprop_cli.sweep.runner import run_sweep
    write(tmp_path / "bag.yaml", MOONS)
    sweep = write(tmp_path / "sweep.yaml", "base: bag.yaml\nmetric: {name: val_loss, goal: minimize}\n"
                  "parameters:\n  ensemble.member: {values: [0, 1, 2]}\n")
    result = run_sweep(sweep, workers=2, runs_dir=tmp_path / "runs")
    trials = sorted((result.sweep_dir / "trials").iterdir(), key=lambda p: json.loads(
        (p / "summary.json").read_text())["member"])
    assert len(trials) == 3
    for i, t in enumerate(trials):
        assert_same_weights(bagged.run_dir / "members" / str(i), t)
    rep = scoring.evaluate(trials, "last")
    assert rep["ensemble"]["loss"] == scoring.evaluate(bagged.run_dir, "last")["ensemble"]["loss"]


def test_a_whole_ensemble_as_a_sweep_trial_is_ranked_by_its_ensemble_scores(tmp_path):
    from backprop_cli.sweep.runner import run_sweep
    write(tmp_path / "bag.yaml", MOONS)
    sweep = write(tmp_path / "sweep.yaml", "base: bag.yaml\nmetric: {name: test_loss, goal: minimize}\n"
                  "parameters:\n  ensemble.members: {values: [1, 3]}\n")
    result = run_sweep(sweep, workers=1, runs_dir=tmp_path / "runs")
    rows = {r["params"]["ensemble.members"]: r for r in result.rows.values()}
    three = next(p for p in (result.sweep_dir / "trials").iterdir() if (p / "ensemble.json").exists())
    s = json.loads((three / "summary.json").read_text())
    assert rows[3]["status"] == "ok" and rows[3]["metric"] == s["ensemble"]["test_loss"]
    assert (three / "members" / "2" / "checkpoints" / "last.npz").is_file()


def test_the_perceptron_bags_into_a_majority_vote(tmp_path):
    res = api.train(CONFIGS / "and-perceptron.yaml", ["ensemble.members=3"], runs_dir=tmp_path / "runs")
    assert not res.diverged and res.summary["ensemble"]["train_accuracy"] is not None
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    pred = scoring.predict(res.run_dir, X, "last")
    outs = [scoring.load_member(res.run_dir / "members" / str(i), "last").network.predict(
        X.astype(np.float32)) for i in range(3)]
    assert np.isin(outs, [0, 1]).all()   # each member votes 0 or 1
    votes = np.mean(outs, axis=0)[:, 0]
    assert pred.classes == [("1" if v > 0.5 else "0") for v in votes]


def test_the_sklearn_estimator_refuses_an_ensemble_config():
    pytest.importorskip("sklearn")
    from backprop_cli.sklearn import BackpropClassifier
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match=r"ensemble.members 3: the estimator fits one network; bag it with"):
        BackpropClassifier(config={"ensemble": {"members": 3}}, epochs=2).fit(X, y)


def test_member_folders_are_found_in_index_order_and_named_alike_everywhere(tmp_path):
    from backprop_cli.runs import is_member, member_folders
    run = tmp_path / "bag"
    for name in ("10", "2", "0", "notes", ".tmp"):
        (run / "members" / name).mkdir(parents=True)
    (run / "members" / "3").write_text("a file, not a member")
    assert [p.name for p in member_folders(run)] == ["0", "2", "10"]
    assert member_folders(tmp_path / "plain") == []
    assert is_member(run / "members" / "2") and not is_member(run / "members" / "notes")
    assert not is_member(run)


def test_a_run_is_named_by_its_folder_even_given_as_a_relative_path(tmp_path, monkeypatch):
    from backprop_cli.runs import run_label
    (tmp_path / "bag" / "members" / "0").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "bag")
    assert run_label("members/0") == "bag/members/0"  # as backprop runs --diff members/0 ... names it
    assert run_label(".") == "bag"
    monkeypatch.chdir(tmp_path / "bag" / "members" / "0")
    assert run_label(".") == "bag/members/0"
