"""scikit-learn estimators on backprop's engine: :class:`BackpropClassifier` and
:class:`BackpropRegressor` (the optional extra ``sklearn``).

They are thin: ``fit`` turns the constructor's parameters into a config, validates it with
the config schema (the same messages as ``backprop config validate``) and trains it with
:func:`backprop_cli.train`, the trainer the CLI runs, on the arrays given. ``partial_fit``
trains one epoch per call on the same network and optimizer.

Parameters mirror the config's sections. Each left at None takes the config's value when
``config=`` is given, else the estimator's default (those of scikit-learn's MLPClassifier,
in backprop's terms)::

    hidden=(100,) activation='relu'            model.layers: one dense layer per entry
    optimizer='adam' lr=0.001                  optimizer: {name: adam, lr: 0.001}
    batch_size=200 epochs=200 shuffle=True     training (a batch is at most the whole set)
    l1=0 l2=0.0001 dropout=0                   regularization; dropout on every hidden layer
    tol=0.0001 n_iter_no_change=10             stopping: convergence of the training loss
    early_stopping=False validation_fraction=0.1   or early stopping on a held-out fraction
    scale='none' dtype='float32'               data.scale, dtype (float32: backprop's own default,
                                               twice float64's speed; outputs come in X's dtype)
    random_state=None                          seed (None: a new one each fit, as scikit-learn)

The output layer comes from the data: for two classes one sigmoid unit (with ``bce``),
for K > 2 a softmax of K units (with ``cross_entropy``); for regression, an identity unit
per target (with ``mse``). ``layers=`` (a list of layer mappings, conv layers included)
replaces ``hidden``. ``run_dir='runs'`` also writes a run folder there, as
``backprop train`` does (``run_dir_`` names it), which the CLI's eval, plot and explain read.
"""
from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Self

import numpy as np
from numpy.typing import ArrayLike

try:
    from sklearn.base import BaseEstimator
except ModuleNotFoundError as e:  # pragma: no cover - the extra is not installed
    raise ImportError("backprop_cli.sklearn needs scikit-learn: pip install 'backprop-cli[sklearn]'") from e
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (_check_partial_fit_first_call, check_classification_targets,
                                      type_of_target)
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from .errors import BackpropError
from .training.callbacks import Callback

__all__ = ["BackpropClassifier", "BackpropRegressor"]

#: the defaults of parameters left at None when no config is given (MLPClassifier's)
DEFAULTS = {"hidden": (100,), "activation": "relu", "optimizer": "adam",
            "batch_size": 200, "epochs": 200, "l1": 0.0, "l2": 1e-4, "dropout": 0.0,
            "early_stopping": False, "validation_fraction": 0.1, "n_iter_no_change": 10,
            "tol": 1e-4, "scale": "none", "dtype": "float32", "shuffle": True}

#: layer types that take an activation and dropout (the others: pools, flatten)
_UNITS = ("dense", "gated", "conv2d")


def _named(section, key: str = "name") -> dict:
    """A config section written short (``adam``) or long (``{name: adam, ...}``) as a dict."""
    return {key: section} if isinstance(section, str) else dict(section or {})


class _Backprop(BaseEstimator):
    """What both estimators share: parameters to config, fitting, the fitted state."""

    _task = "regression"

    def __init__(self, hidden: int | tuple[int, ...] | None = None, activation: str | dict | None = None,
                 layers: list[dict] | None = None, loss: str | dict | None = None,
                 optimizer: str | dict | None = None, lr: float | None = None,
                 batch_size: int | str | None = None, epochs: int | None = None,
                 l1: float | None = None, l2: float | None = None, dropout: float | None = None,
                 schedule: str | dict | None = None, early_stopping: bool | None = None,
                 validation_fraction: float | None = None, n_iter_no_change: int | None = None,
                 tol: float | None = None, scale: str | None = None, dtype: str | None = None,
                 shuffle: bool | None = None,
                 random_state: int | np.random.RandomState | None = None,
                 config: str | os.PathLike | dict | None = None,
                 run_dir: str | os.PathLike | None = None, verbose: bool = False) -> None:
        self.hidden = hidden
        self.activation = activation
        self.layers = layers
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.l1 = l1
        self.l2 = l2
        self.dropout = dropout
        self.schedule = schedule
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.scale = scale
        self.dtype = dtype
        self.shuffle = shuffle
        self.random_state = random_state
        self.config = config
        self.run_dir = run_dir
        self.verbose = verbose

    # -- parameters to a config -------------------------------------------------------------
    def _base(self) -> dict:
        """The config= given, as a raw dict: only the keys it sets (a file's ``extends``
        merged and its relative paths made relative to the working directory)."""
        from .config import parse_yaml, read_config, rebase_files
        c = self.config
        if c is None:
            return {}
        if isinstance(c, dict):
            raw = c
        elif isinstance(c, str) and ("\n" in c or ": " in c):
            raw, _ = parse_yaml(c, "<config text>")
        elif isinstance(c, (str, os.PathLike)):
            path = Path(os.path.normpath(c))
            if not path.is_file():
                raise ValueError(f"{type(self).__name__}: config: {path}: file not found")
            try:
                raw, _, _ = read_config(path)
            except BackpropError as e:
                raise self._error(e) from None
            if isinstance(raw, dict):
                raw = copy.deepcopy(raw)
                try:
                    rebase_files(raw, path.parent, Path.cwd())
                except (TypeError, ValueError):  # malformed: validation says where
                    pass
        else:
            raise ValueError(f"{type(self).__name__}: config: expected a file path, YAML text or a "
                             f"dict, got {type(c).__name__}")
        if not isinstance(raw, dict):
            raise ValueError(f"{type(self).__name__}: config: expected a mapping of sections, got "
                             f"{type(raw).__name__}")
        return copy.deepcopy(raw)

    def _output_layer(self, n_outputs: int, loss) -> tuple[dict, str]:
        return {"units": n_outputs, "activation": "identity"}, loss or "mse"

    def _config(self, n_outputs: int, seed: int, classes=None, partial: bool = False) -> dict:
        """The config dict of these parameters for data with ``n_outputs`` classes or targets:
        config= (its keys win over the defaults) with every parameter not None over it."""
        raw = self._base()
        name = type(self).__name__

        def section(key, short="name") -> dict:
            return _named(raw.get(key), short)

        def value(param, *path):
            """The parameter, else the config's key at ``path`` (None: keep it), else the default."""
            v = getattr(self, param)
            if v is not None:
                return v
            node = raw
            for k in path:
                node = node.get(k) if isinstance(node, dict) else None
            return None if node is not None else DEFAULTS[param]

        model = section("model")
        if self.layers is not None or self.hidden is not None or not model.get("layers"):
            if self.layers is not None:
                if not isinstance(self.layers, (list, tuple)) or not all(isinstance(x, dict) for x in self.layers):
                    raise ValueError(f"{name}: layers: expected a list of layer mappings such as "
                                     f"{{'units': 64, 'activation': 'relu'}}, got {self.layers!r}")
                hidden = [dict(x) for x in self.layers]
            else:
                sizes = DEFAULTS["hidden"] if self.hidden is None else self.hidden
                hidden = [{"units": u} for u in ((sizes,) if np.isscalar(sizes) else sizes)]
            for layer in hidden:  # a layer's own keys win over activation= and dropout=
                if layer.get("type", "dense") in _UNITS:
                    layer.setdefault("activation", self.activation or DEFAULTS["activation"])
                    if self.dropout:
                        layer.setdefault("dropout", self.dropout)
            loss = self.loss if self.loss is not None else raw.get("loss")
            out, auto = self._output_layer(n_outputs, _named(loss).get("name") if loss is not None else None)
            model["layers"] = [*hidden, out]
            raw["loss"] = loss if isinstance(loss, dict) else auto
        else:  # the config's network; activation and dropout given apply to its hidden layers
            model["layers"] = [dict(x) if isinstance(x, dict) else x for x in model["layers"]]
            for layer in model["layers"][:-1]:
                if isinstance(layer, dict) and layer.get("type", "dense") in _UNITS:
                    if self.activation is not None:
                        layer["activation"] = self.activation
                    if self.dropout is not None:
                        layer["dropout"] = self.dropout
            if self.loss is not None:
                raw["loss"] = self.loss
        raw["model"] = model
        opt = value("optimizer", "optimizer")
        if opt is not None:
            raw["optimizer"] = _named(opt)
        if self.lr is not None:  # else the optimizer's own default (adam's: 0.001)
            raw["optimizer"] = {**section("optimizer"), "lr": self.lr}
        if self.schedule is not None:
            raw["schedule"] = _named(self.schedule)
        training, reg, data = section("training"), section("regularization"), section("data", "source")
        for key in ("epochs", "batch_size", "shuffle"):
            if value(key, "training", key) is not None:
                training[key] = value(key, "training", key)
        for key in ("l1", "l2"):
            if value(key, "regularization", key) is not None:
                reg[key] = value(key, "regularization", key)
        stopping = section("stopping")
        early = self.early_stopping
        if early is None:
            early = stopping.get("patience") is not None if "stopping" in raw else DEFAULTS["early_stopping"]
        given_stopping = "stopping" in raw
        patience = self.n_iter_no_change if self.n_iter_no_change is not None else (
            None if given_stopping else DEFAULTS["n_iter_no_change"])
        tol = self.tol if self.tol is not None else None if given_stopping else DEFAULTS["tol"]
        if early:
            stopping.pop("tol", None)
            stopping["patience"] = patience or stopping.get("patience") or DEFAULTS["n_iter_no_change"]
            if tol is not None:
                stopping["min_delta"] = tol
            if self.validation_fraction is not None or not data.get("val_fraction"):
                data["val_fraction"] = self.validation_fraction or DEFAULTS["validation_fraction"]
        else:
            stopping["patience"] = None
            if tol is not None:
                stopping["tol"] = tol
            if patience is not None:
                stopping["n_iter_no_change"] = patience
        if not early:  # the estimator holds out data for early stopping only; the caller tests
            data["val_fraction"] = 0.0
        data["test_fraction"] = 0.0
        if partial:  # one epoch per call: no stopping rule, no held-out data
            stopping = {"max_loss": stopping.get("max_loss")}
            data["val_fraction"] = 0.0
            training["restarts"] = 0
        raw.update(training=training, regularization=reg, stopping=stopping)
        if value("scale", "data", "scale") is not None:
            data["scale"] = value("scale", "data", "scale")
        data["task"] = self._task  # a classifier classifies, whatever its loss (quadratic: note 001's)
        if classes is not None:
            data["classes"] = [str(c) for c in classes]
        raw["data"] = data
        if value("dtype", "dtype") is not None:
            raw["dtype"] = value("dtype", "dtype")
        raw["seed"] = seed
        raw.setdefault("name", f"backprop-{self._task}")
        if self.run_dir is not None:
            raw["output"] = {**section("output"), "runs_dir": str(self.run_dir)}
        return raw

    def _seed(self) -> int:
        """random_state as the config's seed: an int as it is, None or a RandomState drawn from."""
        if isinstance(self.random_state, (int, np.integer)) and not isinstance(self.random_state, bool):
            if self.random_state < 0:
                raise ValueError(f"{type(self).__name__}: random_state: expected an integer >= 0, "
                                 f"None or a numpy RandomState, got {self.random_state}")
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _diverged(self, reason: str) -> ValueError:
        what = (reason or "").split(";")[0].removeprefix("diverged: ")
        return ValueError(f"{type(self).__name__}: training diverged ({what}); try a smaller lr, "
                          "or scaled inputs (scale='standardize' or a StandardScaler)")

    def _error(self, e: BackpropError) -> ValueError:
        return ValueError(f"{type(self).__name__}: {str(e).replace('<config dict>: ', '')}")

    # -- fitting ------------------------------------------------------------------------------
    def _validate(self, X, y="no_validation", reset: bool = True):
        multi = self._task == "regression"
        if isinstance(y, str) and y == "no_validation":
            return validate_data(self, X, reset=reset, dtype=(np.float64, np.float32))
        return validate_data(self, X, y, reset=reset, dtype=(np.float64, np.float32),
                             multi_output=multi, y_numeric=multi)

    def _targets(self, y):
        """(y as the data layer takes it, number of outputs, class names or None)."""
        y = np.asarray(y, dtype=float)
        return y, 1 if y.ndim == 1 else y.shape[1], None

    def fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        """Train a new network on X (n, d) and y, as ``backprop train`` would; returns self."""
        from . import api
        X, y = self._validate(X, y)
        y_data, n_outputs, classes = self._targets(y)
        raw = self._config(n_outputs, self._seed(), classes)
        ens = raw.get("ensemble") if isinstance(raw.get("ensemble"), dict) else {}
        members = ens.get("members")
        if isinstance(members, int) and members > 1 and ens.get("member") is None:
            raise ValueError(f"{type(self).__name__}: config: ensemble.members {members}: the estimator "
                             "fits one network; bag it with sklearn.ensemble.BaggingClassifier (or "
                             "BaggingRegressor), or train the config with backprop_cli.train")
        data = {"train": (X, y_data)}
        if hasattr(self, "feature_names_in_"):
            data["feature_names"] = [str(c) for c in self.feature_names_in_]
        r2 = _ValidationR2() if self._task == "regression" else None
        callbacks: list[Callback] = [cb for cb in (r2, _Verbose() if self.verbose else None) if cb]
        try:  # overflow on the way to a divergence is reported as one (below), not warned about
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                result = api.train(raw, data=data, save=self.run_dir is not None, callbacks=callbacks,
                                   on_start=r2.on_start if r2 else None)
        except BackpropError as e:
            raise self._error(e) from None
        summary = result.summary
        if summary["diverged"]:
            raise self._diverged(summary["stop_reason"])
        self._fitted(result.setup, result.history, summary, result.optimizer)
        self.run_dir_ = result.run_dir
        c = self.config_
        if (summary.get("stop_reason") or "").startswith("epoch limit") and c["stopping"]["tol"] is not None:
            warnings.warn(f"{type(self).__name__}: the epoch limit ({c['training']['epochs']}) was "
                          "reached before the training loss converged (stopping.tol "
                          f"{c['stopping']['tol']:g}); raise epochs", ConvergenceWarning, stacklevel=2)
        return self

    def _fitted(self, setup, history, summary, optimizer) -> None:
        """The fitted attributes, from a trained setup and its history."""
        self.config_ = setup.config.data
        self.network_ = setup.network
        self.history_ = history
        self.summary_ = summary
        self.loss_curve_ = [h["train_loss"] for h in history]
        key = "val_r2" if self._task == "regression" else "val_accuracy"
        scores = [h[key] for h in history if key in h]
        early = self.config_["stopping"]["patience"] is not None
        self.validation_scores_ = scores if scores else None
        self.best_validation_score_ = max(scores) if scores else None
        self.best_loss_ = None if early else (min(self.loss_curve_) if self.loss_curve_ else None)
        self.n_iter_ = summary["epochs"]
        self.t_ = self.n_iter_ * summary["n_train"]
        self.n_outputs_ = setup.network.parameters()[-1].value.shape[-1]
        self._prep = setup.splits.preprocessing
        self._streams = setup.streams
        self._optimizer = optimizer
        self._trainer = None
        self._weights_views()

    def _weights_views(self) -> None:
        """coefs_ and intercepts_: the weight matrices W (fan_in, fan_out; a conv layer's
        (out, in, kh, kw)) and bias vectors b of the layers, views of the network's own."""
        params = {p.name: p.value for p in self.network_.parameters()}
        n = len(self.config_["model"]["layers"])
        self.coefs_ = [params[f"{i}.W"] for i in range(n) if f"{i}.W" in params]
        self.intercepts_ = [params[f"{i}.b"] for i in range(n) if f"{i}.b" in params]
        self.n_layers_ = len(self.coefs_) + 1

    # -- partial_fit ---------------------------------------------------------------------------
    def _partial_fit(self, X, y, first: bool):
        from .api import Streams, network_input
        from .config import config_from
        from .data import preprocess
        from .data.base import image_shape
        from .data.dataset import Dataset, Splits
        from .engine.network import build_network
        from .training.build import build_trainer
        from .training.callbacks import History, TrainState
        from .training.regularizers import Regularizer
        classes = getattr(self, "classes_", None)
        y_data = y
        n_outputs = len(classes) if classes is not None else (1 if np.ndim(y) == 1 else y.shape[1])
        try:
            if first:
                seed = self._seed()
                raw = self._config(n_outputs, seed, classes, partial=True)
                c = config_from(raw, data={"source": "arrays"}).data
                if c["data"]["scale"] != "none":
                    raise ValueError(f"{type(self).__name__}: scale={c['data']['scale']!r}: scaling "
                                     "statistics come from the whole training set, which partial_fit "
                                     "never sees; scale the data beforehand (e.g. StandardScaler) "
                                     "and use scale='none'")
                streams = Streams.from_seed(seed)
                layers = c["model"]["layers"]
                shape = network_input(layers, X.shape[1], image_shape(c["data"].get("shape")),
                                      type(self).__name__)
                net = build_network(layers, shape, c["loss"], c["dtype"], streams.init, streams.dropout)
                self.config_, self.network_, self._streams = c, net, streams
                self._prep = preprocess.fit(X, "none")
                self.loss_curve_, self.history_, self.n_iter_, self.t_ = [], [], 0, 0
                self.validation_scores_ = self.best_validation_score_ = None
                self.run_dir_, self.summary_, self._optimizer, self._trainer = None, None, None, None
                self.n_outputs_ = n_outputs
                self._weights_views()
            c = self.config_
            Y, labels = self._encode(y_data)
            Xd = np.ascontiguousarray(X, dtype=c["dtype"])
            train = Dataset(Xd, np.ascontiguousarray(Y, dtype=c["dtype"]), labels)
            if self._trainer is None:
                splits = Splits(train=train, task=self._task, classes=classes,
                                shape=self.network_.input_shape if len(self.network_.input_shape) > 1 else None)
                pc = copy.deepcopy(c)
                pc["stopping"] = {**pc["stopping"], "target_loss": None, "max_time": None, "tol": None,
                                  "patience": None}
                pc["training"]["restarts"] = 0
                s = self._streams
                trainer, opt = build_trainer(pc, self.network_, splits, shuffle_rng=s.shuffle,
                                             augment_rng=s.augment, restart_rng=s.restart,
                                             reinit=lambda: None, callbacks=[History()])
                if self._optimizer is not None:  # go on from fit's (or a pickled) optimizer
                    state = self._optimizer if isinstance(self._optimizer, dict) else {
                        "buffers": self._optimizer.state_dict(), "lr": float(self._optimizer.lr)}
                    opt.load_state_dict(state["buffers"])
                    opt.lr = state["lr"]
                self._trainer, self._optimizer = trainer, opt
                self._state = TrainState(network=self.network_, optimizer=opt, epochs=self.n_iter_,
                                         epoch=self.n_iter_)
            reg = self.config_["regularization"]
            self._trainer.regularizer = (Regularizer({"l2": reg["l2"], "l1": reg["l1"]}, len(train))
                                         if reg["l1"] or reg["l2"] else None)
            state = self._state
            state.stop_reason, state.limit_reached = None, False
            self._trainer.epochs = state.epochs = state.epoch + 1
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                self._trainer.fit(train, None, start_epoch=state.epoch, state=state)
        except BackpropError as e:
            raise self._error(e) from None
        if state.diverged:
            raise self._diverged(state.stop_reason)
        logs = state.history[-1]
        self.history_.append(logs)
        self.loss_curve_.append(logs["train_loss"])
        self.best_loss_ = min(self.loss_curve_)
        self.n_iter_ = state.epoch
        self.t_ += len(X)
        return self

    def _encode(self, y):
        Y = y.reshape(len(y), -1)
        if Y.shape[1] != self.n_outputs_:
            raise ValueError(f"{type(self).__name__}: y has {Y.shape[1]} target column(s), but the "
                             f"network was fitted with {self.n_outputs_}")
        return Y, None

    # -- predicting ----------------------------------------------------------------------------
    def _outputs(self, X, raw: bool = False) -> np.ndarray:
        """f(x): the network's outputs (probabilities after sigmoid/softmax); ``raw``: what
        the loss sees, the output layer's nets z when the output is fused with the loss."""
        from .data import preprocess
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        # in X's precision: float64 rows through float32 weights are computed in float64 (the
        # weights are exact in it), so a row's outputs do not depend on the rows beside it
        Xs = preprocess.apply(self._prep, X, X.dtype, "X")
        net = self.network_
        step = 8192
        f = (lambda b: net.forward(b, training=False)) if raw else net.predict
        if len(Xs) == 1:  # BLAS multiplies one row by another kernel (gemv), rounding otherwise:
            return f(np.repeat(Xs, 2, axis=0))[:1].astype(X.dtype, copy=False)  # a row alone = in a batch
        out = np.concatenate([f(Xs[i:i + step]) for i in range(0, len(Xs), step)])
        return out.astype(X.dtype, copy=False)  # X's precision, as scikit-learn's estimators

    # -- from a run folder ----------------------------------------------------------------------
    @classmethod
    def from_run(cls, run: str | os.PathLike, which: str = "last") -> Self:
        """A fitted estimator from a run folder (``backprop train``'s, or ``run_dir=``'s),
        without unpickling anything: the network with the weights of ``checkpoints/<which>.npz``
        (last: the final ones; best: the best epoch's), the scaling, classes and feature names
        of its data.json, its metrics.jsonl as ``loss_curve_``; partial_fit goes on with the
        checkpoint's optimizer state. Class names written as integers (or decimals) come back
        as numbers."""
        from . import checkpoint
        from .api import Streams
        from .runs import read_run
        from .scoring import load_member
        from .training.snapshot import set_rng_state
        try:
            m = load_member(run, which)
            record = read_run(m.run_dir)
        except BackpropError as e:
            raise ValueError(f"{cls.__name__}.from_run: {e}") from None
        if (m.task == "classification") != (cls._task == "classification"):
            raise ValueError(f"{cls.__name__}.from_run: {m.run_dir} is a {m.task} run; use "
                             f"{'BackpropClassifier' if m.task == 'classification' else 'BackpropRegressor'}")
        est = cls(config=m.config.data)
        arrays = checkpoint.load_arrays(m.checkpoint)
        meta = checkpoint.read_meta(arrays, "state", {}) or {}
        est.config_, est.network_, est._prep = m.config.data, m.network, m.prep
        est._streams = Streams.from_seed(m.config.data["seed"])
        for k, st in (meta.get("streams") or {}).items():  # where training left them
            set_rng_state(getattr(est._streams, k), st)
        est._optimizer = {"buffers": {k[len("optim/"):]: v for k, v in arrays.items() if k.startswith("optim/")},
                          "lr": float(meta.get("lr", est.config_["optimizer"]["lr"]))}
        est._trainer = None
        est.history_ = [r for r in record.metrics if r["epoch"] <= m.epoch]
        est.summary_ = record.summary
        est.loss_curve_ = [r["train_loss"] for r in est.history_]
        key = "val_r2" if cls._task == "regression" else "val_accuracy"
        scores = [r[key] for r in est.history_ if key in r]
        est.validation_scores_ = scores or None
        est.best_validation_score_ = max(scores) if scores else None
        early = est.config_["stopping"]["patience"] is not None
        est.best_loss_ = None if early or not est.loss_curve_ else min(est.loss_curve_)
        est.n_iter_ = m.epoch
        est.t_ = m.epoch * ((record.summary or {}).get("n_train") or 0)
        est.n_features_in_ = m.info["n_features"]
        names = m.info["feature_names"]
        if names != [f"x{j}" for j in range(len(names))]:
            est.feature_names_in_ = np.array(names, dtype=object)
        est.n_outputs_ = m.network.parameters()[-1].value.shape[-1]
        if m.task == "classification":
            est.classes_ = _class_values(m.classes)
        est.run_dir_ = m.run_dir
        est._weights_views()
        return est

    # -- pickling: the network as named arrays, rebuilt on load ----------------------------
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: the estimator itself stays as it is
        if "network_" in state:
            state["network_"] = {"weights": self.network_.state_dict(),
                                 "input_shape": self.network_.input_shape}
            opt = state.get("_optimizer")
            if opt is not None and not isinstance(opt, dict):
                state["_optimizer"] = {"buffers": opt.state_dict(), "lr": float(opt.lr)}
            state.pop("_state", None)
            state["_trainer"] = None
            state.pop("coefs_", None)
            state.pop("intercepts_", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        saved = state.get("network_")
        if isinstance(saved, dict):
            from .engine.network import build_network
            c = self.config_
            rng = np.random.default_rng(0)  # the weights are overwritten
            net = build_network(c["model"]["layers"], saved["input_shape"], c["loss"], c["dtype"],
                                rng, self._streams.dropout)
            net.load_state_dict(saved["weights"], source="the pickled estimator")
            self.network_ = net
            self._weights_views()

def _class_values(names: list[str]) -> np.ndarray:
    """Class names as a run folder keeps them (strings), as numbers when all are numbers."""
    for kind in (int, float):
        try:
            return np.array([kind(n) for n in names])
        except ValueError:
            continue
    return np.array(names)


class BackpropClassifier(ClassifierMixin, _Backprop):
    """A neural-network classifier trained by backprop (see the module docstring for the
    parameters). Fitted attributes, as scikit-learn's MLPClassifier names them: ``classes_``,
    ``n_features_in_``, ``feature_names_in_`` (from a DataFrame), ``loss_curve_``,
    ``validation_scores_`` (accuracy per epoch, with early stopping), ``best_loss_``,
    ``best_validation_score_``, ``n_iter_``, ``t_``, ``coefs_``, ``intercepts_``,
    ``n_outputs_``, ``n_layers_``; and backprop's own: ``network_`` (the engine's Network),
    ``config_`` (the resolved config), ``history_`` (metrics.jsonl's rows), ``summary_``
    (summary.json's) and ``run_dir_`` (the run folder, or None).

    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BackpropClassifier(hidden=(16,), lr=0.01, epochs=500, scale="standardize",
    ...                          random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.95
    True
    """

    _task = "classification"

    def _output_layer(self, n_outputs: int, loss):
        if loss in (None, "bce"):
            if n_outputs == 2:
                return {"units": 1, "activation": "sigmoid"}, "bce"
            if loss is None:
                return {"units": n_outputs, "activation": "softmax"}, "cross_entropy"
            return {"units": n_outputs, "activation": "sigmoid"}, "bce"
        if loss == "cross_entropy":
            return {"units": n_outputs, "activation": "softmax"}, loss
        units = 1 if n_outputs == 2 else n_outputs
        if loss == "hinge":
            return {"units": units, "activation": "identity"}, loss
        return {"units": units, "activation": "sigmoid"}, loss  # quadratic, mse, ...: the notes' sigmoid outputs

    def _targets(self, y):
        check_classification_targets(y)
        kind = type_of_target(y, input_name="y")
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"{type(self).__name__}: y is {kind}; expected one column of class "
                             "labels (binary or multiclass)")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__}: needs samples of at least 2 classes in the data, "
                             f"but the data contains only one class: {self.classes_.tolist()[0]!r}")
        return codes, len(self.classes_), self.classes_

    def partial_fit(self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None) -> Self:
        """One epoch of training on (X, y), going on from the last call (or from ``fit``);
        ``classes`` (all the labels y will ever hold) on the first call. No stopping rule,
        held-out data or run folder (``run_dir`` is for ``fit``)."""
        first = _check_partial_fit_first_call(self, classes)
        X, y = self._validate(X, y, reset=first)
        check_classification_targets(y)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if len(unseen):
            raise ValueError(f"{type(self).__name__}: y holds labels {unseen.tolist()!r} not in classes "
                             f"{self.classes_.tolist()!r} given at the first call")
        return self._partial_fit(X, np.searchsorted(self.classes_, y), first)

    def _encode(self, codes):
        from .data.dataset import encode_targets
        codes = np.asarray(codes, dtype=np.int64)
        Y = encode_targets(codes, codes, "classification", len(self.classes_), self.n_outputs_,
                           type(self).__name__)
        return Y, codes

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The most probable class of each row (the highest score, for hinge)."""
        from .scoring import predicted_classes
        outputs = self._outputs(X)
        return self.classes_[predicted_classes(outputs, self.network_)]

    def _probabilistic(self) -> bool:
        if hasattr(self, "network_"):
            from .scoring import is_probability
            return is_probability(self.network_)
        loss = _named(self.loss).get("name") if self.loss is not None else None
        return loss in (None, "bce", "cross_entropy")

    @available_if(_probabilistic)
    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """(n, n_classes) class probabilities, columns in the order of ``classes_``. One
        sigmoid unit p gives [1 - p, p]; a sigmoid per class (bce or quadratic on K > 2
        classes, one-vs-rest) is normalized to sum to 1, as scikit-learn's one-vs-rest does."""
        from .engine.activations import Sigmoid
        from .scoring import probabilities
        outputs = self._outputs(X)
        net = self.network_
        if outputs.shape[1] > 1 and isinstance(net.head if net.head is not None else net.layers[-1], Sigmoid):
            total = outputs.sum(axis=1, keepdims=True)
            return np.divide(outputs, total, out=np.full_like(outputs, 1 / outputs.shape[1]), where=total > 0)
        return probabilities(net, outputs)

    @available_if(_probabilistic)
    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """The log of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """The output layer's nets z (before the sigmoid or softmax; the hinge's scores):
        (n,) for two classes, positive for ``classes_[1]``; else (n, n_classes). An output
        not fused with its loss (quadratic on sigmoids) gives its outputs less the 0.5
        threshold."""
        from .training.metrics import threshold
        z = self._outputs(X, raw=True)
        if z.shape[1] == 1:
            return z[:, 0] - threshold(self.network_)
        if len(self.classes_) == 2:
            return z[:, 1] - z[:, 0]
        return z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags


class BackpropRegressor(RegressorMixin, _Backprop):
    """A neural-network regressor trained by backprop (see the module docstring for the
    parameters): an identity output unit per target, mse loss. Fitted attributes as
    :class:`BackpropClassifier`'s, without ``classes_``; ``validation_scores_`` are R² per
    epoch (with early stopping).

    >>> import numpy as np
    >>> X = np.linspace(-3, 3, 200)[:, None]
    >>> reg = BackpropRegressor(hidden=(32,), activation="tanh", lr=0.01, epochs=500,
    ...                         random_state=0).fit(X, np.sin(X[:, 0]))
    >>> reg.score(X, np.sin(X[:, 0])) > 0.99
    True
    """

    _task = "regression"

    def partial_fit(self, X: ArrayLike, y: ArrayLike) -> Self:
        """One epoch of training on (X, y), going on from the last call (or from ``fit``).
        No stopping rule, held-out data or run folder (``run_dir`` is for ``fit``)."""
        first = not hasattr(self, "network_")
        X, y = self._validate(X, y, reset=first)
        return self._partial_fit(X, np.asarray(y, dtype=float), first)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The network's outputs: (n,) for one target (as MLPRegressor), else (n, n_targets)."""
        out = self._outputs(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


class _ValidationR2(Callback):
    """val_r2 in each epoch's logs: R² (scikit-learn's score, averaged over the targets) on
    the validation split, the regressor's ``validation_scores_``."""

    def __init__(self):
        self.val = None

    def on_start(self, run_dir, setup) -> None:  # api.train's on_start
        self.val = setup.splits.val

    def on_epoch_end(self, state):
        if self.val is None or "val_loss" not in state.logs:
            return
        from sklearn.metrics import r2_score

        from .scoring import outputs_of
        state.logs["val_r2"] = float(r2_score(self.val.Y, outputs_of(state.network, self.val.X)))


class _Verbose(Callback):
    """verbose=True: one line per epoch, as scikit-learn's MLP prints."""

    def on_epoch_end(self, state):
        line = f"Iteration {state.epoch}, loss = {state.logs['train_loss']:.8f}"
        if "val_loss" in state.logs:
            line += f", val_loss = {state.logs['val_loss']:.8f}"
        print(line)
