"""Bagging (note 002; Goodfellow et al., Deep Learning, 7.11): ``ensemble: {members: N}``
trains N networks in one run folder and averages their outputs.

One seed, N members. The data set, its val/test splits and their scaling come from the run's
seed, as for a single run, so every member sees the same examples and is scored on the same
held-out data. What differs is drawn from the member's own seed sequence,

    M_i = np.random.SeedSequence(seed, spawn_key=(1000, i))

a child of the run's seed sequence that no stream of a single run uses (those are its
children 0 to 5). ``M_i.spawn(2)`` gives two children: the first draws the member's bootstrap
sample, ``np.random.default_rng(child).integers(0, n, n)`` sorted into the training split's
order (n draws with replacement from the n training examples: about 63% of them, some
several times), the second spawns the member's init, shuffle, dropout, data, augment and
restart streams as the run's seed spawns a single run's; the data stream is then replaced by
the run's own. So member i's initial weights, example order and dropout masks differ from
every other member's and from a single run's, while the data does not.

A run folder of an ensemble::

    RUN/config.yaml       the resolved config (ensemble.member null)
    RUN/ensemble.json     what --resume needs: the config, where it came from, the overrides
    RUN/summary.json      each member's scores and the ensemble's (written at the end)
    RUN/members/<i>/      member i: a normal run folder; its config.yaml says ensemble.member: i

Member i's config is the run's with ``ensemble.member: i``: ``backprop train
RUN/members/2/config.yaml`` trains member 2 again, alone, to the same weights, and a sweep over
``ensemble.member`` trains the members in parallel (``backprop eval`` of the trial folders then
averages them). Members train one after the other in this process.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from .config import Config
from .errors import ConfigError, DataError
from .runs import MEMBERS, member_folders

ENSEMBLE_KEY = 1000          # the run seed sequence's child whose children are the members
STATE_FILE = "ensemble.json"


# -- random streams and samples ---------------------------------------------------------------
def member_sequence(seed: int, member: int) -> np.random.SeedSequence:
    """Member i's seed sequence M_i (see the module docstring)."""
    return np.random.SeedSequence(seed, spawn_key=(ENSEMBLE_KEY, member))


def member_children(seed: int, member: int, run_children: list, names: list[str]) -> list:
    """The seed sequences of member i's streams (named ``names``, a run's being
    ``run_children``): the second child of M_i spawns them, the data stream is the run's."""
    own = member_sequence(seed, member).spawn(2)[1].spawn(len(run_children))
    k = names.index("data")
    own[k] = run_children[k]
    return own


def bootstrap_indices(seed: int, member: int, n: int) -> np.ndarray:
    """Member i's bootstrap sample of n training examples: n indices drawn with replacement,
    sorted (the training split's order, repeats side by side)."""
    rng = np.random.default_rng(member_sequence(seed, member).spawn(2)[0])
    return np.sort(rng.integers(0, n, size=n))


def bootstrap(train, seed: int, member: int):
    """(member i's training Dataset, its indices into ``train``)."""
    from .data.dataset import Dataset
    idx = bootstrap_indices(seed, member, len(train))
    labels = None if train.labels is None else train.labels[idx]
    return Dataset(train.X[idx], train.Y[idx], labels), idx


def member_fields(s) -> dict:
    """What a member's summary.json adds: its index and its bootstrap sample's size."""
    sample = s.sample
    return {"member": s.config.data["ensemble"]["member"],
            "bootstrap": None if sample is None else
            {"draws": len(sample), "distinct": len(np.unique(sample))}}


def member_config(cfg: Config, member: int | None) -> Config:
    """The run's config for member i (``ensemble.member: i``), or with member None the run's."""
    c = json.loads(json.dumps(cfg.data))
    c["ensemble"]["member"] = member
    return Config(c, cfg.path, list(cfg.overrides), dict(cfg.origins), list(cfg.files))


# -- run folders --------------------------------------------------------------------------------
def is_ensemble(path) -> bool:
    """Whether ``path`` is the run folder of an ensemble (it has ensemble.json)."""
    return (Path(path) / STATE_FILE).is_file()


def member_dir(run_dir: Path, member: int) -> Path:
    return Path(run_dir) / MEMBERS / str(member)


def member_dirs(run_dir: Path) -> list[Path]:
    """The folders of an ensemble's members that training has made, in order."""
    n = int(read_state(run_dir)["members"])
    return [d for d in member_folders(run_dir) if int(d.name) < n]


def read_state(run_dir: Path) -> dict:
    path = Path(run_dir) / STATE_FILE
    try:
        state = json.loads(path.read_text())
        missing = [k for k in ("members", "config") if k not in state]
    except (OSError, ValueError, TypeError) as e:
        raise DataError(f"{path}: not an ensemble record that backprop train wrote ({e})") from None
    if missing:
        raise DataError(f"{path}: not an ensemble record that backprop train wrote (no {', '.join(missing)})")
    return state


def state_config(state: dict) -> Config:
    """The run's Config from ensemble.json."""
    path = Path(state["config_path"]) if state.get("config_path") else Path(state["config_dir"]) / "config.yaml"
    return Config(state["config"], path, list(state.get("overrides", [])))


def _write_state(run_dir: Path, cfg: Config) -> None:
    from .rundir import write_json
    write_json(run_dir / STATE_FILE, {
        "members": cfg.data["ensemble"]["members"], "bootstrap": cfg.data["ensemble"]["bootstrap"],
        "config": cfg.data, "config_path": str(cfg.path) if cfg.path else None,
        "config_dir": str(cfg.base_dir), "overrides": list(cfg.overrides)})


# -- training -----------------------------------------------------------------------------------
def train_ensemble(cfg: Config, s, *, data, run_dir: Path | None, callbacks, on_start,
                   handle_signals, t_start):
    """Train every member of a new ensemble run (``run_dir`` None: in memory) and write
    RUN/summary.json; ``s``: the run's Setup (its data splits score the ensemble)."""
    if run_dir is not None:
        from . import api
        api.write_config(run_dir, cfg)
        _write_state(run_dir, cfg)
        if data is not None:  # for members trained after a --resume
            from .data.sources import ARRAYS_FILE, save_arrays
            save_arrays(run_dir / ARRAYS_FILE, data)
    plan = ["new"] * cfg.data["ensemble"]["members"]
    return _run_members(run_dir, cfg, s.splits, data, plan, callbacks=callbacks, on_start=on_start,
                        handle_signals=handle_signals, t_start=t_start)


def _train_member(run_dir: Path | None, cfg: Config, i: int, data, *, callbacks, on_start,
                  handle_signals):
    from . import api
    s = api.setup(member_config(cfg, i), data=data)
    t = time.perf_counter()
    if run_dir is None:
        return api._fit(None, s, callbacks, on_start, handle_signals, t)
    d = member_dir(run_dir, i)
    d.mkdir(parents=True)
    api.write_run_files(d, s, data)
    return api._fit(d, s, callbacks, on_start, handle_signals, t)


def _run_members(run_dir, cfg: Config, splits, data, plan: list[str], *, callbacks, on_start,
                 handle_signals, t_start, epochs: int | None = None):
    """Train the members ``plan`` marks new, resume those it marks resume (keeping those
    done), stopping at the first that diverges or is interrupted; then the summary."""
    from . import api
    results: dict[int, object] = {}
    stop = None
    for i, how in enumerate(plan):
        if how == "done":
            continue
        try:
            if how == "resume":
                r = api.train(resume=member_dir(run_dir, i), callbacks=callbacks, on_start=on_start,
                              handle_signals=handle_signals, epochs=epochs)
            else:
                r = _train_member(run_dir, cfg, i, data, callbacks=callbacks, on_start=on_start,
                                  handle_signals=handle_signals)
        except KeyboardInterrupt:  # between two members' epochs: those done are whole
            if run_dir is None:
                raise
            stop = ("interrupted", i, "interrupted")
            break
        results[i] = r
        if r.diverged:
            stop = ("diverged", i, r.summary["stop_reason"])
            break
        if r.summary.get("interrupted"):
            stop = ("interrupted", i, r.summary["stop_reason"])
            break
    earlier = _earlier_summaries(run_dir, len(plan), results)
    summary = ensemble_summary(run_dir, cfg, splits, results, stop, t_start, earlier)
    if run_dir is not None:
        from .rundir import write_json
        write_json(run_dir / "summary.json", summary)
    from .api import RunResult
    members = [results[i] if i in results else RunResult(member_dir(run_dir, i), earlier[i])
               for i in range(len(plan)) if i in results or i in earlier]
    return RunResult(run_dir, summary, [], None, None, members)


def _earlier_summaries(run_dir: Path | None, n: int, results: dict) -> dict[int, dict]:
    """The summary.json of each member trained before this call (read once), by index."""
    if run_dir is None:
        return {}
    out = {}
    for i in range(n):
        path = member_dir(run_dir, i) / "summary.json"
        if i not in results and path.is_file():
            out[i] = json.loads(path.read_text())
    return out


def _member_network(run_dir: Path, i: int, results: dict):
    r = results.get(i)
    if r is not None:
        return r.network
    from .scoring import load_member
    return load_member(member_dir(run_dir, i), "last").network


def ensemble_summary(run_dir, cfg: Config, splits, results: dict, stop, t_start: float,
                     earlier: dict[int, dict]) -> dict:
    """RUN/summary.json: each member's record and its scores on the run's splits (its final
    weights), their mean, and the ensemble's (averaged outputs, its loss on them). ``results``:
    the members trained in this call; ``earlier``: the summaries of those trained before."""
    from . import api
    from .rundir import json_number
    from .scoring import ensemble_scores
    c = cfg.data
    n = c["ensemble"]["members"]
    records = []
    for i in range(n):
        if i in results:
            records.append(results[i].summary)
        elif i in earlier:
            records.append(earlier[i])
        else:
            break
    rows = [{"member": i, "run_dir": r.get("run_dir"), "epochs": r["epochs"],
             "stop_reason": r["stop_reason"], "bootstrap": r.get("bootstrap")} for i, r in enumerate(records)]
    complete = stop is None and len(records) == n
    out = {
        "run_dir": None if run_dir is None else str(run_dir),
        "name": cfg.name if run_dir is None else run_dir.name,
        "config": str(cfg.path) if cfg.path else None,
        "overrides": cfg.overrides,
        "task": splits.task,
        "ensemble": {"members": n, "bootstrap": c["ensemble"]["bootstrap"]},
        "epochs": sum(r["epochs"] for r in records),
        "stop_reason": None, "diverged": stop is not None and stop[0] == "diverged",
        "interrupted": stop is not None and stop[0] == "interrupted",
        "members": rows, "members_mean": {}, "final": {}, "best": {},
    }
    if complete:
        nets = [_member_network(run_dir, i, results) for i in range(n)]
        scores = ensemble_scores(nets, c["loss"], splits)
        for name, (members, ens) in scores.items():
            for row, m in zip(rows, members):
                row.update({f"{name}_{k}": json_number(v) for k, v in m.items()})
            for k in members[0]:
                out["members_mean"][f"{name}_{k}"] = json_number(float(np.mean([m[k] for m in members])))
            out["ensemble"].update({f"{name}_{k}": json_number(v) for k, v in ens.items()})
        # as a single run's: sweeps rank ensembles by these
        out["final"] = {k: v for k, v in out["ensemble"].items() if k.startswith(("train_", "val_"))}
        if "test" in scores:
            out["test"] = {k: v for k, v in out["ensemble"].items() if k.startswith("test_")}
        reasons = {r["stop_reason"] for r in records}
        out["stop_reason"] = f"{n} members trained" + (f", each: {reasons.pop()}" if len(reasons) == 1 else "")
    elif stop is not None:
        what = "interrupted" if stop[0] == "interrupted" else "diverged"
        out["stop_reason"] = f"member {stop[1]} of {n} {what}: {stop[2]}" if stop[2] != what else \
            f"{what} in member {stop[1]} of {n}"
    else:
        out["stop_reason"] = f"{len(records)} of {n} members trained"
    out.update({
        "n_train": len(splits.train), "n_val": len(splits.val) if splits.val is not None else 0,
        "n_test": len(splits.test) if splits.test is not None else 0, "classes": splits.classes,
        "parameters": None, "wall_time": time.perf_counter() - t_start, "seed": c["seed"],
        "dtype": c["dtype"], "config_sha256": api._config_digest(c),
        "data_sha256": api._digest(*[a for _, d in splits.items() for a in (d.X, d.Y)]),
        "versions": api.versions()})
    if complete:
        out["parameters"] = int(sum(p.value.size for net in nets for p in net.parameters()))
    return out


# -- resuming -----------------------------------------------------------------------------------
def resume_ensemble(run_dir: Path, *, callbacks, on_start, handle_signals, t_start,
                    epochs: int | None = None):
    """Go on with an ensemble run: members done are kept, a member stopped or killed is
    resumed from its checkpoint (bit for bit as if never stopped), members not started are
    trained (each member's streams come from the seed and its index alone, so the order of
    training does not matter). ``epochs``: a new total for every member; members that a
    stopping rule ended are kept (with any epoch limit they would have stopped there)."""
    from . import api, checkpoint
    from .config import absolute_files
    state = read_state(run_dir)
    cfg = state_config(state)
    n = cfg.data["ensemble"]["members"]
    summary_file = run_dir / "summary.json"
    done = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    if done.get("diverged"):
        raise DataError(f"{run_dir}: --resume: {done.get('stop_reason')}; going on from its last good "
                        "checkpoint it would diverge the same way; train the config again with a "
                        "smaller learning rate")
    total = cfg.data["training"]["epochs"]
    if epochs is not None and epochs <= total:
        raise ConfigError(f"{run_dir}: --epochs {epochs}: the members were given {total} epochs; "
                          f"give a new total above {total}")
    if done and not done.get("interrupted") and epochs is None:
        raise DataError(f"{run_dir}: --resume: the ensemble already finished ({done.get('stop_reason')}); "
                        f"to train its members on, give a new total: --resume {run_dir} --epochs N "
                        f"(N > {total})")
    plan = []
    for i in range(n):
        d = member_dir(run_dir, i)
        ckpt = d / "checkpoints" / "last.npz"
        if not ckpt.is_file():
            if d.exists():  # stopped before its first checkpoint: nothing to keep
                shutil.rmtree(d)
            plan.append("new")
            continue
        record = json.loads((d / "summary.json").read_text()) if (d / "summary.json").is_file() else None
        if record is None or record.get("interrupted"):
            plan.append("resume")
        elif record.get("diverged"):
            raise DataError(f"{d}: --resume: member {i} diverged at epoch {record.get('epochs')}; train "
                            "the config again with a smaller learning rate")
        elif epochs is None:
            plan.append("done")
        else:
            meta = checkpoint.read_meta(checkpoint.load_arrays(ckpt), "state") or {}
            plan.append("resume" if meta.get("train_state", {}).get("limit_reached") else "done")
    if epochs is not None:
        c = json.loads(json.dumps(cfg.data))
        c["training"]["epochs"] = epochs
        api._record_new_total(run_dir / "config.yaml", absolute_files(c, cfg.base_dir),
                          f"# --resume --epochs {epochs}: training.epochs {total} -> {epochs} for every member")
        cfg = Config(c, cfg.path, cfg.overrides)
        _write_state(run_dir, cfg)
    data = api.run_arrays(run_dir, cfg.data)
    splits = api.setup(member_config(cfg, None), data=data).splits
    return _run_members(run_dir, cfg, splits, data, plan, callbacks=callbacks, on_start=on_start,
                        handle_signals=handle_signals, t_start=t_start, epochs=epochs)
