"""Scoring and using trained runs: ``backprop eval`` and ``backprop predict``.

A run folder (or one of its checkpoints) is enough: the network is rebuilt from the resolved
config the checkpoint carries and the feature count in ``data.json``, its weights loaded by
name, and new data is read with the run's own file options, matched to the columns
``data.json`` names and scaled with the statistics stored in ``preprocessing.npz`` (fitted on
the run's training split). The training data is read only to score the run's own splits.
Several runs together form an ensemble: the average of their probabilities (classification)
or values (regression), the notes' bagging; so does the run folder of an ensemble config
(:func:`load_ensemble`), its members', which ``eval`` and ``predict`` take as one model.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checkpoint
from .config import Config
from .data import columns, preprocess
from .errors import BackpropError, DataError, DataLike, UsageError
from .evaluation import classification_report, regression_report
from .runs import MEMBERS, is_member
from .training.metrics import decide


@dataclass
class Member:
    """A trained network ready to score: where it came from, its config and network, the
    scaling statistics and ``info``, its run's ``data.json`` (see :mod:`data.columns`).
    The training data is read only when asked for (:meth:`splits`, for the run's own test
    split): new files need nothing but the run folder."""

    run_dir: Path
    checkpoint: Path
    epoch: int
    config: Config
    network: object        # engine.network.Network with the checkpoint's weights
    prep: dict
    info: dict
    _splits: object = None

    @property
    def name(self) -> str:
        """The run folder's name (members/<i> for a member of an ensemble run)."""
        if is_member(self.run_dir):
            return f"{MEMBERS}/{self.run_dir.name}"
        return self.run_dir.name

    @property
    def task(self) -> str:
        return self.info["task"]

    @property
    def classes(self) -> list[str] | None:
        return self.info["classes"]

    @property
    def dtype(self) -> str:
        return self.config.data["dtype"]

    def splits(self):
        """The run's data splits, read again from its training files."""
        if self._splits is None:
            self._splits = read_splits(self.config, self.run_dir)
        return self._splits

    def outputs(self, X) -> np.ndarray:
        """The network's outputs f(x) for the rows of X (scaled)."""
        return outputs_of(self.network, X)

    def loss(self, X, Y, labels, outputs=None) -> float:
        """The run's loss on (X, Y), as training computes it."""
        from .training.trainer import evaluate as loss_of
        return loss_of(self.network, X, Y, labels)["loss"]


def read_splits(config: Config, run_dir: Path):
    """A run's data splits, read again from its training files (or its arrays)."""
    from . import api
    try:
        return api.setup(config, data=api.run_arrays(run_dir, config.data)).splits
    except DataError as e:
        raise DataError(f"{e}; the run's own splits come from its training data (give "
                        "--data FILE, or --set data.path=FILE where it moved)") from None


@dataclass
class Ensemble:
    """The run folder of an ensemble (``ensemble.members`` >= 2) as one model: its outputs
    are the average of its members' (each a :class:`Member`; they share the data, its scaling
    and the network's shape). What a Member offers for scoring, an Ensemble offers too."""

    run_dir: Path
    members: list[Member]
    _splits: object = None

    @property
    def name(self) -> str:
        return self.run_dir.name

    def __getattr__(self, key):  # config, info, prep, task, classes, dtype, network: member 0's
        if key in ("config", "info", "prep", "task", "classes", "dtype", "network"):
            return getattr(self.members[0], key)
        raise AttributeError(key)

    @property
    def checkpoints(self) -> list[str]:
        return [str(m.checkpoint) for m in self.members]

    def splits(self):
        """The run's splits (a member's training split is its bootstrap sample; the ensemble's,
        and its members' when scored together, is the run's whole training split)."""
        if self._splits is None:
            from .ensemble import member_config
            self._splits = read_splits(member_config(self.config, None), self.members[0].run_dir)
            for m in self.members:
                m._splits = self._splits
        return self._splits

    def outputs(self, X) -> np.ndarray:
        return average_outputs([m.outputs(X) for m in self.members])

    def loss(self, X, Y, labels, outputs=None) -> float:
        """The loss of the averaged outputs (``outputs`` when already computed)."""
        return output_loss(self.config.data["loss"], self.outputs(X) if outputs is None else outputs, Y)


def load_ensemble(run, which: str = "best", overrides=()) -> Ensemble:
    """An ensemble run folder's members, each with the weights of checkpoints/<which>.npz
    (best falls back to last), as one model; ``overrides`` change every member's config."""
    from .ensemble import member_dir, read_state
    check_which(which)
    run = Path(run)
    n = int(read_state(run)["members"])
    missing = [i for i in range(n) if not (member_dir(run, i) / "checkpoints" / "last.npz").is_file()]
    if missing:
        raise DataError(f"{run}: member{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} of "
                        f"{n} not trained (the run was stopped); finish it first: backprop train --resume {run}")
    return Ensemble(run, [load_member(member_dir(run, i), which, overrides) for i in range(n)])


def load_model(target, which: str = "best", overrides=()) -> Member | Ensemble:
    """A run folder (or checkpoint) as a model: an Ensemble for an ensemble's run folder."""
    from .ensemble import is_ensemble
    if is_ensemble(target):
        return load_ensemble(target, which, overrides)
    return load_member(target, which, overrides)


def average_outputs(outputs: list[np.ndarray]) -> np.ndarray:
    """The ensemble's outputs: the mean of its members' f(x) (probabilities after sigmoid or
    softmax, the values for regression), in their dtype."""
    return np.mean(outputs, axis=0, dtype=outputs[0].dtype)


def output_loss(loss_spec, outputs: np.ndarray, Y: np.ndarray) -> float:
    """The config's loss of outputs f(x) themselves, not of logits: bce or cross_entropy of
    (averaged) probabilities, squared error of values, ... (see engine.losses)."""
    from .engine.losses import LOSSES
    from .engine.network import named
    name, opts = named(loss_spec)
    return float(LOSSES.get(name)(**opts).forward(outputs, Y.astype(outputs.dtype, copy=False)))


def ensemble_scores(networks: list, loss_spec, splits) -> dict:
    """Each split's scores of the members and of their ensemble: split name -> (a dict per
    member of its loss, as training computes it, and accuracy, the ensemble's dict of the
    same from its averaged outputs)."""
    from .training.trainer import evaluate as loss_of
    out = {}
    for name, d in splits.items():
        members = [loss_of(net, d.X, d.Y, d.labels) for net in networks]
        avg = average_outputs([outputs_of(net, d.X) for net in networks])
        ens = {"loss": output_loss(loss_spec, avg, d.Y)}
        if d.labels is not None:
            ens["accuracy"] = float(np.mean(predicted_classes(avg, networks[0]) == d.labels))
        out[name] = (members, ens)
    return out


def check_which(which: str) -> None:
    """``which`` checkpoint: best or last (a usage error otherwise)."""
    if which not in ("best", "last"):
        raise UsageError(f"which: expected 'best' or 'last', got {which!r}")


def locate(target, which: str = "best") -> tuple[Path, Path]:
    """(run folder, checkpoint file) for a run folder or a checkpoint path. ``which``:
    best (falls back to last when the run kept no best) or last."""
    p = Path(target)
    if p.is_file():
        run_dir = p.parent.parent if p.parent.name == "checkpoints" else p.parent
        return run_dir, p
    if not p.is_dir():
        raise DataError(f"{p}: no such run folder or checkpoint")
    ckpts = p / "checkpoints"
    for name in ([which, "last"] if which == "best" else [which]):
        if (ckpts / f"{name}.npz").is_file():
            return p, ckpts / f"{name}.npz"
    raise DataError(f"{p}: no checkpoints/{which}.npz; expected a run folder that backprop train wrote")


def load_member(target, which: str = "best", overrides=()) -> Member:
    """A run's network with the checkpoint's weights; ``overrides`` (--set) change the run's
    resolved config first (say, to point its data files elsewhere) and are validated.

    The network is built from the config and ``data.json``'s feature count; a run without
    ``data.json`` (written by an older backprop) reads its training data to learn them."""
    from .api import Streams, network_input
    from .config import Locator, apply_override, parse_override, validate
    from .engine.network import build_network
    run_dir, ckpt = locate(target, which)
    arrays = checkpoint.load_arrays(ckpt)
    config = checkpoint.read_meta(arrays, "config")
    if config is None:
        raise DataError(f"{ckpt}: the checkpoint carries no config; expected one written by backprop train")
    state = checkpoint.read_meta(arrays, "state", {}) or {}
    base = state.get("config_dir")
    if base is None:  # older checkpoints: the config's folder from summary.json
        summary = run_dir / "summary.json"
        origin = json.loads(summary.read_text()).get("config") if summary.is_file() else None
        base = str(Path(origin).parent) if origin else str(run_dir)
    config = json.loads(json.dumps(config))
    config["model"]["init_from"] = None  # the checkpoint's weights replace the initial ones
    if overrides:
        loc = Locator(f"{ckpt} (the run's config)")
        for text in overrides:
            keys, value = parse_override(text)
            apply_override(config, keys, value, text)
            loc.set_override(tuple(keys), f"--set {text}")
        config = validate(config, loc)  # data files are checked when read, if ever
    cfg = Config(config, Path(base) / "config.yaml", list(overrides))
    member = Member(run_dir, ckpt, int(arrays["meta/epoch"]), cfg, None, {}, columns.load(run_dir))
    if member.info is None:
        member.info = legacy_info(member)
    prep_file = run_dir / "preprocessing.npz"
    member.prep = preprocess.load(prep_file)[0] if prep_file.is_file() else member.splits().preprocessing
    streams = Streams.from_seed(config["seed"])
    layers = config["model"]["layers"]
    shape = network_input(layers, member.info["n_features"], member.info.get("shape"), str(ckpt))
    member.network = build_network(layers, shape, config["loss"], config["dtype"], streams.init,
                                   streams.dropout)
    weights = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    member.network.load_state_dict(weights, source=str(ckpt))
    return member


def legacy_info(member: Member) -> dict:
    """``data.json`` of a run written before it existed, from the run's training data."""
    from . import api
    try:
        member._splits = splits = api.setup(member.config).splits
    except BackpropError as e:
        raise DataError(f"{member.run_dir}: no {columns.FILE} (the run was written by an older "
                        "backprop), so its training data is needed to read new files, and it cannot "
                        f"be read: {e}") from None
    return columns.describe(splits)


def new_data(member: Member, path, targets: bool = True, skip_bad: bool = False):
    """(X scaled as in training, Y encoded or None, labels or None, the file read) from a
    file whose columns are matched to the run's by name (see :func:`columns.read`)."""
    new = columns.read(path, member.info, member.config.data["data"], targets, skip_bad)
    X = preprocess.apply(member.prep, new.X, member.dtype, str(new.path))
    if not targets:
        return X, None, None, new
    units = member.network.parameters()[-1].value.shape[-1]
    if member.task == "classification":
        labels = columns.labels_of(new.y, member.classes, new)
        Y = labels[:, None] if units == 1 else np.eye(len(member.classes))[labels]
        return X, Y.astype(X.dtype), labels, new
    Y = np.asarray(new.y, dtype=float).reshape(len(new.y), -1)
    if Y.shape[1] != units:
        raise DataError(f"{path}: {Y.shape[1]} target column(s), expected {units}")
    bad = np.flatnonzero(~np.isfinite(Y).all(axis=1))
    if len(bad):
        raise DataError(f"{new.where(int(bad[0]), target=True)}: NaN or inf target; expected finite numbers")
    return X, Y.astype(X.dtype), None, new


def run_split(member: Member):
    """The run's test split, else its validation split, else its training data."""
    sp = member.splits()
    for name, d in (("test", sp.test), ("val", sp.val), ("train", sp.train)):
        if d is not None:
            return name, d.X, d.Y, d.labels
    raise DataError(f"{member.run_dir}: no data to score")


def outputs_of(network, X, batch: int = 8192) -> np.ndarray:
    """The network's outputs f(x) (probabilities after sigmoid/softmax), in batches."""
    return np.concatenate([network.predict(X[i:i + batch]) for i in range(0, len(X), batch)])


def check_mc_dropout(mc_dropout, seed) -> int | None:
    """``mc_dropout`` as a number of passes (None: off); a usage error for anything but an
    integer >= 1, and for a ``seed`` without it (the seed is that of the dropout masks)."""
    if mc_dropout is None or mc_dropout is False:
        if seed is not None:
            raise UsageError(f"seed {seed}: it seeds the masks of mc_dropout (--mc-dropout N); "
                             "give mc_dropout too, or leave the seed out")
        return None
    if isinstance(mc_dropout, bool) or not isinstance(mc_dropout, (int, np.integer)) or mc_dropout < 1:
        raise UsageError(f"mc_dropout: expected a number of passes, an integer >= 1, got {mc_dropout!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise UsageError(f"seed: expected an integer >= 0, got {seed!r}")
    return int(mc_dropout)


def mc_outputs(member: Member | Ensemble, X, passes: int, seed: int | None = None,
               batch: int = 8192) -> tuple[np.ndarray, int]:
    """MC dropout (Gal and Ghahramani 2016): the average of the outputs f(x) over ``passes``
    forward passes with dropout on, each with its own masks d, and the seed used.

    Dropout trains the sub-networks of the masks d together; the notes' (SPEC.md, note 002)
    prediction is their average Pr(y|x) = Σ_d Pr(d) Pr(y|x, d). Evaluation normally takes the
    one pass with dropout off and the weights scaled (exact for a linear network, an
    approximation otherwise); this estimates the sum instead by sampling N masks from Pr(d):
    (1/N) Σ_t f(x; d_t), probabilities averaged for classification, values for regression.

    Reproducible: the masks come from the run's dropout stream as its seed makes it
    (``Streams.from_seed(seed).dropout``, the config's seed unless ``seed`` is given), drawn
    pass after pass over all of X in order, so the same seed gives the same average. Refused
    (a usage error, exit 2) for a network without dropout: every pass would be the same."""
    from .api import Streams
    from .engine.layers import Dropout
    if isinstance(member, Ensemble):  # each member's average, then theirs
        runs = [mc_outputs(m, X, passes, seed, batch) for m in member.members]
        return average_outputs([out for out, _ in runs]), runs[0][1]
    net = member.network
    if not any(isinstance(layer, Dropout) and layer.rate > 0 for layer in net.layers):
        raise UsageError(f"{member.run_dir}: mc_dropout {passes}: the network has no dropout "
                         "layer, so every pass would give the same outputs; MC dropout averages "
                         "over dropout masks (train with dropout on a hidden layer, or leave "
                         "--mc-dropout out)")
    seed = int(member.config.data["seed"] if seed is None else seed)
    rng = Streams.from_seed(seed).dropout
    total = None
    for _ in range(passes):
        out = np.concatenate([net.predict_dropout(X[i:i + batch], rng) for i in range(0, len(X), batch)])
        if total is None:
            total = out
        else:
            total += out
    total /= total.dtype.type(passes)
    return total, seed


def probabilities(network, outputs: np.ndarray) -> np.ndarray:
    """(n, K) class probabilities: a single sigmoid output p becomes [1 - p, p]."""
    if outputs.shape[1] == 1:
        return np.hstack([1 - outputs, outputs])
    return outputs


def predicted_classes(outputs: np.ndarray, network) -> np.ndarray:
    """Class indices from the network's outputs f(x): after a fused sigmoid they are
    probabilities (threshold 0.5), otherwise what training decided on (see ``decide``)."""
    if outputs.shape[1] == 1 and network.head is not None:
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return decide(outputs, network)


def report(task, outputs, Y, labels, classes, network, loss: float | None) -> dict:
    out = {"n": int(len(outputs))}
    if loss is not None:
        out["loss"] = loss
    if task == "classification":
        out.update(classification_report(labels, predicted_classes(outputs, network), classes))
    else:
        out.update(regression_report(outputs, Y))
    return out


def evaluate(targets: str | os.PathLike | list[str | os.PathLike], which: str = "best", data: DataLike | None = None,
             overrides: list[str] | tuple = (), mc_dropout: int | None = None,
             seed: int | None = None) -> dict:
    """Score one or several runs (and their ensemble) on their test split or on ``data``: a
    CSV or .npz file, or arrays (X, y) from Python. An ensemble's run folder alone is scored
    as its members side by side with their ensemble; among other runs it is one of them.

    ``mc_dropout=N``: each run's outputs are the average over N passes with dropout on
    (:func:`mc_outputs`; masks from ``seed``, else the run's seed), and its loss is that of
    the averaged outputs; each run's result records ``mc_dropout: {passes, seed}``."""
    check_which(which)
    passes = check_mc_dropout(mc_dropout, seed)
    if isinstance(targets, (str, os.PathLike)):  # one run folder
        targets = [targets]
    members = [load_model(t, which, overrides) for t in targets]
    whole = None
    if len(members) == 1 and isinstance(members[0], Ensemble):
        whole = members[0]
        if data is None:
            whole.splits()  # the run's splits, shared by its members
        members = whole.members
    tasks = {m.task for m in members}
    if len(tasks) > 1:
        raise UsageError("the runs do not share a task (classification and regression mixed)")
    results, all_outputs, ref = [], [], None
    for m in members:
        if data is not None:
            split = "data"
            X, Y, labels, _ = new_data(m, data)
        else:
            split, X, Y, labels = run_split(m)
        net = m.network
        if passes is None:
            outputs = m.outputs(X)
            loss = m.loss(X, Y, labels, outputs)
        else:
            outputs, used = mc_outputs(m, X, passes, seed)
            loss = output_loss(m.config.data["loss"], outputs, Y)
        all_outputs.append(outputs)
        r = report(m.task, outputs, Y, labels, m.classes, net, loss)
        r.update({"run": str(m.run_dir), "name": m.name, "split": split,
                  "data": None if data is None else str(data) if isinstance(data, (str, Path))
                  else "<arrays>"})
        if isinstance(m, Ensemble):
            r.update({"checkpoints": m.checkpoints, "epochs": [k.epoch for k in m.members],
                      "members": [k.name for k in m.members]})
        else:
            r.update({"checkpoint": str(m.checkpoint), "epoch": m.epoch})
        if passes is not None:
            r["mc_dropout"] = {"passes": passes, "seed": used}
        results.append(r)
        # the same examples, compared before each run's own scaling
        raw = X * m.prep["divisor"] + m.prep["shift"] if data is None else None
        if ref is None:
            ref = (split, Y, labels, m, raw)
        elif data is None and (raw.shape != ref[4].shape or not np.allclose(raw, ref[4], rtol=1e-5)
                               or not np.array_equal(Y, ref[1])):
            raise UsageError(f"{m.run_dir}: its {split} split differs from {ref[3].run_dir}'s (different "
                             "seeds or data); give the same data to all with --data FILE")
    out = {"task": members[0].task, "runs": results}
    if len(members) > 1:
        classes = members[0].classes
        if any(m.classes != classes for m in members):
            raise UsageError("the runs were trained on different classes; an ensemble needs the same")
        # the mean of the probabilities (or values); its loss when the runs share theirs
        avg = average_outputs(all_outputs)
        losses = {json.dumps(m.config.data["loss"], sort_keys=True) for m in members}
        loss = output_loss(members[0].config.data["loss"], avg, ref[1]) if len(losses) == 1 else None
        ens = report(members[0].task, avg, ref[1], ref[2], classes, members[0].network, loss)
        ens.update({"name": "ensemble", "members": [m.name for m in members], "split": ref[0]})
        if whole is not None:
            ens["run"] = str(whole.run_dir)
        out["ensemble"] = ens
    return out


def output_columns(task: str, classes, units: int, probability: bool) -> list[str]:
    """The names of a model's output columns, as ``predict`` writes them (and an ONNX export
    names them): p_<class> for probabilities (one sigmoid unit p gives two, 1 - p and p),
    score_<class> for a score per class, score for one score, y or y_<i> for regression."""
    if task == "classification":
        units = 2 if probability and units == 1 else units
        if units == len(classes):
            return [f"{'p' if probability else 'score'}_{c}" for c in classes]
        return ["score"]
    return ["y"] if units == 1 else [f"y_{i}" for i in range(units)]


def is_probability(network) -> bool:
    """Whether the outputs are probabilities (a sigmoid or softmax output), not raw scores."""
    from .engine.activations import Sigmoid, Softmax
    last = network.head if network.head is not None else network.layers[-1]
    return isinstance(last, (Sigmoid, Softmax))


@dataclass
class Prediction:
    """``predict``'s answer: a CSV header, then one row per row of the file. Rows left out
    by ``skip_bad`` have no values (NaN) and no class (None)."""

    header: list[str]
    values: np.ndarray           # (rows, k)
    classes: list | None         # predicted class names, or None for regression
    skipped: list[int]           # file lines (or .npz indices) of the rows left out
    kept: np.ndarray             # (rows,) bool: False for the rows left out


def predict(target: str | os.PathLike, data: DataLike, which: str = "best",
            overrides: list[str] | tuple = (), skip_bad: bool = False,
            mc_dropout: int | None = None, seed: int | None = None) -> Prediction:
    """Predictions for the rows of a file without targets (a target column is ignored), or
    of an array X from Python; with ``skip_bad``, rows with empty, NaN, inf or non-numeric
    features get none. ``mc_dropout=N``: the outputs averaged over N passes with dropout on
    (:func:`mc_outputs`; masks from ``seed``, else the run's seed)."""
    check_which(which)
    passes = check_mc_dropout(mc_dropout, seed)
    m = load_model(target, which, overrides)
    X, _, _, new = new_data(m, data, targets=False, skip_bad=skip_bad)
    outputs = m.outputs(X) if passes is None else mc_outputs(m, X, passes, seed)[0]
    if m.task == "classification":
        net = m.network
        predicted = [m.classes[i] for i in predicted_classes(outputs, net)]
        values = probabilities(net, outputs) if is_probability(net) else outputs
        header = ["class"] + output_columns(m.task, m.classes, outputs.shape[1], is_probability(net))
    else:
        values, predicted = outputs, None
        header = output_columns(m.task, None, outputs.shape[1], False)
    if new.skipped:  # back to one row per row of the file
        full = np.full((new.rows, values.shape[1]), np.nan)
        full[new.kept] = values
        values = full
        if predicted is not None:
            it = iter(predicted)
            predicted = [next(it) if ok else None for ok in new.kept]
    return Prediction(header, values, predicted, new.skipped, new.kept)
