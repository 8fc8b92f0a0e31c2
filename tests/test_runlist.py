"""`backprop runs`: listing run, ensemble and sweep folders, their status, --where, --sort,
--json, --diff, errors, plain output when piped, and a folder of hundreds of runs."""
import io
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import CONFIGS, XOR_YAML, write

from backprop_cli import api, runlist
from backprop_cli.cli import main

SWEEP = """
base: xor.yaml
metric: {name: train_loss, goal: minimize}
seeds: [0, 1]
parameters:
  optimizer.lr: {values: [0.1, 2.0]}
  training.epochs: {values: [20]}
  stopping.target_loss: {values: [null]}
"""


def cli(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Real folders: two iris runs (lr 0.1 for 20 epochs, lr 0.05 for 30), a diverged xor run,
    an ensemble of 2 members and a sweep of 4 trials (2 learning rates x 2 seeds)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    root = tmp_path_factory.mktemp("runs-real")
    runs = root / "runs"
    iris = CONFIGS / "iris.yaml"
    a = api.train(iris, ["training.epochs=20"], runs_dir=runs, name="iris-a").run_dir
    b = api.train(iris, ["optimizer.lr=0.05", "training.epochs=30"], runs_dir=runs, name="iris-b").run_dir
    write(root / "xor.yaml", XOR_YAML)
    d = api.train(root / "xor.yaml", ["stopping.max_loss=1e-9"], runs_dir=runs, name="xor-div").run_dir
    e = api.train(CONFIGS / "lessons" / "ensemble.yaml", ["ensemble.members=2", "training.epochs=3"],
                  runs_dir=runs, name="ens").run_dir
    from backprop_cli.sweep.runner import run_sweep
    s = run_sweep(write(root / "sweep.yaml", SWEEP), workers=1, runs_dir=runs).sweep_dir
    return {"runs": runs, "a": a, "b": b, "div": d, "ens": e, "sweep": Path(s)}


def rows_of(folder, *args):
    code, out, err = cli("runs", folder, "--json", *args)
    assert code == 0, err
    return json.loads(out)


def by_name(rows):
    return {r["name"]: r for r in rows}


# -- what is listed ------------------------------------------------------------------------------
def test_each_folder_is_one_row_with_its_summary_figures(real):
    rows = by_name(rows_of(real["runs"]))
    assert set(rows) == {real[k].name for k in ("a", "b", "div", "ens", "sweep")}
    a = rows[real["a"].name]
    s = json.loads((real["a"] / "summary.json").read_text())
    assert (a["kind"], a["status"], a["config"], a["data"], a["task"]) == ("run", "finished", "iris", "iris.csv",
                                                                             "classification")
    assert a["epochs"] == 20 and a["stop_reason"] == s["stop_reason"]
    assert (a["best_split"], a["best_loss"], a["best_accuracy"], a["best_epoch"]) == (
        "val", s["best"]["val_loss"], s["best"]["val_accuracy"], s["best"]["epoch"])
    assert (a["test_loss"], a["test_accuracy"]) == (s["test"]["test_loss"], s["test"]["test_accuracy"])
    assert a["wall_time"] == s["wall_time"] and a["path"] == str(real["a"])
    # the start time is the folder name's stamp
    stamp = re.search(r"(\d{8})-(\d{6})$", real["a"].name).groups()
    assert a["when"].replace("-", "").replace(":", "").replace("T", "") == "".join(stamp)
    d = rows[real["div"].name]
    assert (d["status"], d["data"], d["epochs"]) == ("diverged", "xor", 1)


def test_ensemble_is_one_row_and_all_adds_its_members(real):
    rows = by_name(rows_of(real["runs"]))
    e = rows[real["ens"].name]
    s = json.loads((real["ens"] / "summary.json").read_text())
    assert (e["kind"], e["status"], e["members"], e["data"]) == ("ensemble", "finished", 2, "moons")
    # the ensemble's own scores: its members' averaged outputs
    assert e["best_loss"] == s["ensemble"]["val_loss"] and e["best_epoch"] is None
    assert not any("/members/" in n for n in rows)
    everything = rows_of(real["runs"], "--all")
    names = [r["name"] for r in everything]
    members = [f"{real['ens'].name}/members/{i}" for i in range(2)]
    assert names[names.index(real["ens"].name) + 1:names.index(real["ens"].name) + 3] == members
    assert {by_name(everything)[m]["kind"] for m in members} == {"member"}


def test_sweep_is_one_row_with_trials_and_best_point_and_all_adds_its_trials(real):
    rows = by_name(rows_of(real["runs"]))
    sw = rows[real["sweep"].name]
    results = [json.loads(line) for line in (real["sweep"] / "results.jsonl").read_text().splitlines()]
    means = {}
    for r in results:
        means.setdefault(r["point"], []).append(r["metric"])
    best_point = min(means, key=lambda p: sum(means[p]) / len(means[p]))
    assert (sw["kind"], sw["status"], sw["trials"], sw["metric"]) == ("sweep", "finished", 4, "train_loss")
    assert sw["metric_value"] == pytest.approx(sum(means[best_point]) / 2)
    best_trial = min((r for r in results if r["point"] == best_point), key=lambda r: r["metric"])
    assert sw["best_trial"] == best_trial["trial"] and "4 of 4 trials" in sw["stop_reason"]
    everything = rows_of(real["runs"], "--all")
    trials = [r for r in everything if r["kind"] == "trial"]
    assert sorted(r["name"] for r in trials) == sorted(f"{real['sweep'].name}/trials/{r['trial']}" for r in results)
    # DIR a sweep folder: its trials
    inside = rows_of(real["sweep"])
    assert sorted(r["name"] for r in inside) == sorted(f"trials/{r['trial']}" for r in results)


def test_json_objects_have_the_same_keys_in_the_same_order_for_every_kind(real):
    rows = rows_of(real["runs"], "--all")
    assert {r["kind"] for r in rows} == {"run", "ensemble", "member", "sweep", "trial"}
    for r in rows:
        assert tuple(r) == runlist.COLUMNS


# -- status ----------------------------------------------------------------------------------------
def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def age(folder: Path, seconds: float) -> None:
    t = time.time() - seconds
    for p in folder.rglob("*"):
        os.utime(p, (t, t))


def test_status_of_each_case(real, tmp_path):
    runs = tmp_path / "runs"
    fin = copy_run(real["a"], runs / "fin-20260101-100000")
    intr = copy_run(real["a"], runs / "intr-20260101-100001")
    s = json.loads((intr / "summary.json").read_text())
    s.update(interrupted=True, stop_reason="interrupted")
    (intr / "summary.json").write_text(json.dumps(s))
    div = copy_run(real["div"], runs / "div-20260101-100002")
    running = copy_run(real["a"], runs / "running-20260101-100003")
    (running / "summary.json").unlink()
    killed = copy_run(real["a"], runs / "killed-20260101-100004")
    (killed / "summary.json").unlink()
    age(killed, 3600)
    # an hour since its files changed, but its epochs take 30 minutes: still running
    slow = copy_run(real["a"], runs / "slow-20260101-100005")
    (slow / "summary.json").unlink()
    lines = (slow / "metrics.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    last["epoch_time"] = 1800.0
    (slow / "metrics.jsonl").write_text("\n".join(lines[:-1] + [json.dumps(last)]) + "\n")
    age(slow, 3600)
    rows = by_name(rows_of(runs))
    assert {n: r["status"] for n, r in rows.items()} == {
        fin.name: "finished", intr.name: "interrupted", div.name: "diverged", running.name: "running",
        killed.name: "killed", slow.name: "running"}
    # without a summary, the figures come from metrics.jsonl so far
    recs = [json.loads(x) for x in (real["a"] / "metrics.jsonl").read_text().splitlines()]
    best = min(recs, key=lambda r: r["val_loss"])
    k = rows[killed.name]
    assert (k["epochs"], k["best_epoch"], k["best_loss"]) == (recs[-1]["epoch"], best["epoch"], best["val_loss"])
    assert k["stop_reason"] is None and k["test_accuracy"] is None and k["config"] == "killed"


def test_a_run_resumed_after_its_summary_is_running_then_killed(real, tmp_path):
    run = copy_run(real["a"], tmp_path / "runs" / "again-20260101-100000")
    age(run, 3600)
    assert rows_of(tmp_path / "runs")[0]["status"] == "finished"
    os.utime(run / "metrics.jsonl")  # --resume writes metrics.jsonl, summary.json comes at the end
    assert rows_of(tmp_path / "runs")[0]["status"] == "running"
    t = time.time() - 1800
    os.utime(run / "metrics.jsonl", (t, t))
    assert rows_of(tmp_path / "runs")[0]["status"] == "killed"


def test_a_killed_run_whose_last_line_was_cut_short_is_listed(real, tmp_path):
    run = copy_run(real["a"], tmp_path / "runs" / "cut-20260101-100000")
    (run / "summary.json").unlink()
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"epoch": 21, "train_lo')
    age(run, 3600)
    (row,) = rows_of(tmp_path / "runs")
    assert (row["status"], row["epochs"]) == ("killed", 20)


def test_status_running_for_an_ensemble_and_a_sweep_still_going(real, tmp_path):
    runs = tmp_path / "runs"
    ens = copy_run(real["ens"], runs / "ens-20260101-100000")
    (ens / "summary.json").unlink()
    (ens / "members" / "1" / "summary.json").unlink()
    sw = copy_run(real["sweep"], runs / "sw-20260101-100000")
    lines = (sw / "results.jsonl").read_text().splitlines()
    (sw / "results.jsonl").write_text("\n".join(lines[:3]) + "\n")
    rows = by_name(rows_of(runs))
    assert rows[ens.name]["status"] == "running" and rows[ens.name]["stop_reason"] == "1 of 2 members trained"
    assert rows[sw.name]["status"] == "running" and "3 of 4 trials" in rows[sw.name]["stop_reason"]
    age(ens, 3600)
    age(sw, 3600)
    rows = by_name(rows_of(runs))
    assert rows[ens.name]["status"] == "killed" and rows[sw.name]["status"] == "interrupted"


# -- --where and --sort ----------------------------------------------------------------------------
def fake_runs(real, folder: Path, specs: list[dict]) -> list[Path]:
    """Copies of a real run with the given summary fields (None: removed) and config lr."""
    out = []
    for i, spec in enumerate(specs):
        d = copy_run(real["a"], folder / f"r{i}-20260101-1000{i:02d}")
        s = json.loads((d / "summary.json").read_text())
        for k, v in spec.items():
            if k == "lr":
                cfg = (d / "config.yaml").read_text()
                (d / "config.yaml").write_text(cfg.replace("  lr: 0.1\n", f"  lr: {v}\n"))
            elif v is None:
                s.pop(k, None)
            else:
                s[k] = v
        (d / "summary.json").write_text(json.dumps(s))
        out.append(d)
    return out


@pytest.fixture
def five(real, tmp_path):
    specs = [{"test": {"test_loss": 0.3, "test_accuracy": 0.9}, "wall_time": 5.0, "lr": 0.1},
             {"test": {"test_loss": 0.2, "test_accuracy": 0.95}, "wall_time": 1.0, "lr": 0.001},
             {"test": None, "wall_time": 3.0, "lr": "1e-3"},  # no test split
             {"test": {"test_loss": 0.5, "test_accuracy": 0.8}, "wall_time": 20.0, "lr": 0.5},
             {"test": {"test_loss": 0.2, "test_accuracy": 0.95}, "wall_time": 2.0, "lr": 0.01}]
    runs = tmp_path / "runs"
    return runs, [d.name for d in fake_runs(real, runs, specs)]


def names(folder, *args):
    return [r["name"] for r in rows_of(folder, *args)]


def test_sort_ascending_descending_missing_last_and_ties(five):
    runs, n = five
    assert names(runs) == [n[4], n[3], n[2], n[1], n[0]]  # default: newest first
    # ties in the order of the default keys (-when: newer first); missing last
    assert names(runs, "--sort", "test_accuracy") == [n[3], n[0], n[4], n[1], n[2]]
    assert names(runs, "--sort", "-test_accuracy") == [n[4], n[1], n[0], n[3], n[2]]
    assert names(runs, "--sort", "-test_accuracy", "--sort", "wall_time") == [n[1], n[4], n[0], n[3], n[2]]
    assert names(runs, "--sort", "wall_time") == [n[1], n[4], n[2], n[0], n[3]]
    # a config key, numbers compared as numbers (1e-3 is 0.001)
    assert names(runs, "--sort", "optimizer.lr", "--sort", "name") == [n[1], n[2], n[4], n[0], n[3]]
    assert names(runs, "--sort", "test_accuracy", "--reverse") == [n[2], n[1], n[4], n[0], n[3]]
    assert names(runs, "--sort", "-wall_time", "--limit", "2") == [n[3], n[0]]
    assert names(runs, "--sort", "name") == sorted(n)


def test_where_compares_numbers_as_numbers_and_leaves_out_rows_without_the_key(five):
    runs, n = five
    assert names(runs, "--where", "test_accuracy>=0.95", "--sort", "name") == [n[1], n[4]]
    assert names(runs, "--where", "test_accuracy>=95%", "--sort", "name") == [n[1], n[4]]
    assert names(runs, "--where", "test_accuracy<0.95", "--sort", "name") == [n[0], n[3]]
    # != leaves out the run without a test split too (it has no such key)
    assert names(runs, "--where", "test_accuracy!=0.95", "--sort", "name") == [n[0], n[3]]
    assert names(runs, "--where", "test.test_loss<=0.2", "--sort", "name") == [n[1], n[4]]
    assert names(runs, "--where", "optimizer.lr=0.001", "--sort", "name") == [n[1], n[2]]
    assert names(runs, "--where", "optimizer.lr=1e-3", "--sort", "name") == [n[1], n[2]]
    assert names(runs, "--where", "optimizer.lr>0.01", "--sort", "name") == [n[0], n[3]]
    assert names(runs, "--where", "optimizer.lr>0.001", "--where", "wall_time<10", "--sort", "name") == [n[0], n[4]]
    assert names(runs, "--where", "optimizer.name=sgd", "--sort", "name") == sorted(n)
    assert names(runs, "--where", "optimizer.name!=sgd") == []
    assert names(runs, "--where", "stopping.patience=null", "--sort", "name") == sorted(n)
    assert names(runs, "--where", f"name={n[3][:3]}*") == [n[3]]
    assert names(runs, "--where", "when>=2026-01-01T10:00:03", "--sort", "name") == [n[3], n[4]]
    assert names(runs, "--where", "model.layers.0.units=8", "--sort", "name") == sorted(n)


def test_where_on_a_key_no_run_has_keeps_nothing_and_says_so(five):
    runs, _ = five
    code, out, err = cli("runs", runs, "--json", "--where", "optimzer.name=adam")
    assert code == 0 and json.loads(out) == []
    assert "no run has the key 'optimzer.name'" in err


@pytest.mark.parametrize("bad", ["optimizer.name", "=adam", "optimizer.name=", "lr=>0.1", "a b=1",
                                 "test_accuracy>null", "x<true"])
def test_malformed_where_is_a_one_line_usage_error(five, bad):
    runs, _ = five
    code, out, err = cli("runs", runs, "--where", bad)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("Error: --where ")


def test_malformed_sort_is_a_usage_error(five):
    code, _, err = cli("runs", five[0], "--sort", "-")
    assert code == 2 and err.startswith("Error: --sort '-'")


# -- --diff ----------------------------------------------------------------------------------------
def test_diff_shows_the_config_keys_that_differ_and_the_metrics_side_by_side(real):
    code, out, err = cli("runs", real["runs"], "--diff", real["a"].name, real["b"], "--json")
    assert code == 0, err
    d = json.loads(out)
    assert [(c["key"], c["a"], c["b"], c["missing"]) for c in d["config"]] == [
        ("optimizer.lr", 0.1, 0.05, None), ("training.epochs", 20, 30, None)]
    assert d["same_config"] is False and d["same_data"] is True
    sa = json.loads((real["a"] / "summary.json").read_text())
    sb = json.loads((real["b"] / "summary.json").read_text())
    m = {x["key"]: x for x in d["metrics"]}
    for section in ("final", "best", "test"):
        for k in sa[section]:
            if k == "epoch_time" or (section, k) == ("final", "epoch"):  # timing noise; epochs
                assert f"{section}.{k}" not in m
                continue
            assert (m[f"{section}.{k}"]["a"], m[f"{section}.{k}"]["b"]) == (sa[section][k], sb[section][k])
    assert m["epochs"]["delta"] == 10 and m["test.test_loss"]["delta"] == pytest.approx(
        sb["test"]["test_loss"] - sa["test"]["test_loss"])
    code, text, _ = cli("runs", real["runs"], "--diff", real["a"], real["b"])
    assert code == 0
    lines = text.splitlines()
    assert lines[0].split() == ["config", real["a"].name, real["b"].name]
    assert lines[1].split() == ["optimizer.lr", "0.1", "0.05"] and lines[2].split() == ["training.epochs", "20", "30"]
    assert any(line.split()[:1] == ["test.test_accuracy"] for line in lines)
    assert "same data (data_sha256)" in text and "\x1b[" not in text


def test_diff_of_a_run_with_itself_and_of_layers_only_one_has(real, tmp_path):
    d = runlist.diff_runs(real["a"], real["a"])
    assert d["config"] == [] and d["same_config"] is True
    assert all(m["delta"] in (0, None) for m in d["metrics"])
    other = copy_run(real["a"], tmp_path / "deeper")
    cfg = (other / "config.yaml").read_text()
    layer = cfg[cfg.index("  - type: dense"):cfg.index("  - type: dense", cfg.index("  - type: dense") + 1)]
    (other / "config.yaml").write_text(cfg.replace(layer, layer + layer.replace("units: 8", "units: 5"), 1))
    d = runlist.diff_runs(real["a"], other)
    missing = [c for c in d["config"] if c["missing"] == "a"]
    assert {c["key"] for c in missing} >= {"model.layers.2.units", "model.layers.2.activation"}
    assert {c["key"]: c["b"] for c in d["config"]}["model.layers.1.units"] == 5


def test_diff_errors(real, tmp_path):
    code, _, err = cli("runs", "--diff", real["a"], tmp_path / "nope")
    assert code == 3 and "nope: no such run folder" in err
    code, _, err = cli("runs", "--diff", real["a"], real["sweep"])
    assert code == 3 and "a sweep folder" in err
    code, _, err = cli("runs", "--diff", real["a"], real["b"], "--sort", "name")
    assert code == 2


# -- output and errors ----------------------------------------------------------------------------
def test_bad_dir_is_a_one_line_error_exit_3(tmp_path):
    code, out, err = cli("runs", tmp_path / "nowhere")
    assert code == 3 and out == "" and err == f"Error: {tmp_path / 'nowhere'}: no such folder; expected a " \
        f"folder of run folders (backprop train writes them in runs/)\n"
    (tmp_path / "file").write_text("x")
    code, _, err = cli("runs", tmp_path / "file")
    assert code == 3 and len(err.splitlines()) == 1


def test_default_dir_is_runs_as_output_runs_dir(real, tmp_path):
    from backprop_cli.config import schema
    assert schema().fields["output"].fields["runs_dir"].default == runlist.DEFAULT_DIR
    shutil.copytree(real["a"], tmp_path / "runs" / real["a"].name)  # tests run in tmp_path
    code, out, _ = cli("runs", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == [real["a"].name]


def test_piped_output_is_plain_aligned_text_one_line_per_row(real):
    code, out, err = cli("runs", real["runs"])
    assert code == 0 and "\x1b[" not in out
    lines = out.splitlines()
    assert lines[0].split() == list(runlist.SHOWN)
    assert len(lines) == 1 + 5
    rows = rows_of(real["runs"])
    for line, row in zip(lines[1:], rows):
        assert line.startswith(row["name"] + " ") and row["status"] in line.split()
    # columns line up: each header starts where its column does (left-aligned ones)
    start = lines[0].index("status")
    assert {line[start:].split()[0] for line in lines[1:]} <= {"finished", "diverged"}


def test_empty_folder_says_so_on_stderr(tmp_path):
    (tmp_path / "empty").mkdir()
    code, out, err = cli("runs", tmp_path / "empty")
    assert code == 0 and out == "" and "no runs in" in err
    assert cli("runs", tmp_path / "empty", "--json")[1] == "[]\n"


def test_terminal_table_fits_the_width_by_hiding_columns(real):
    from rich.console import Console
    listing = runlist.list_runs(real["runs"])
    for width in (250, 100, 60):
        buf = io.StringIO()
        console = Console(file=buf, width=width, force_terminal=True, color_system=None)
        runlist.render_listing(listing, terminal=True, console=console)
        text = buf.getvalue()
        assert max(len(line) for line in text.splitlines()) <= width
        for r in listing.rows:
            assert r.cols["name"] in text  # names are never cut
    assert "hidden for width" in text and "status" in text.splitlines()[0]


def test_data_column_and_config_sections_match_a_full_parse(real, tmp_path):
    from backprop_cli import yamlio
    text = (real["a"] / "config.yaml").read_text()
    weird = "/data sets/a: b's/ir#is.csv"
    odd = text.replace("  path: " + text.split("  path: ")[1].split("\n")[0], "  path: " + yamlio.dump(weird).strip()
                       .removesuffix("\n...").strip())
    assert yamlio.load(odd)["data"]["path"] == weird
    assert runlist._data_of(odd) == "ir#is.csv" and runlist._data_of(text) == "iris.csv"
    row = runlist.Row(tmp_path, {}, None, odd)
    full = yamlio.load(odd)
    for key in full:
        assert row.section(key) == full[key]


# -- scale -----------------------------------------------------------------------------------------
def test_five_hundred_runs_are_listed_quickly(real, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for i in range(500):
        d = runs / f"r-20260101-{i // 60:04d}{i % 60:02d}"
        d.mkdir()
        for f in ("summary.json", "config.yaml", "metrics.jsonl", "data.json"):
            os.link(real["a"] / f, d / f)
    t = time.perf_counter()
    listing = runlist.list_runs(runs, where=["optimizer.name=sgd"], sort=["-test_accuracy"])
    text = runlist.render_listing(listing, terminal=False)
    seconds = time.perf_counter() - t
    assert len(listing.rows) == 500 and len(text.splitlines()) == 501
    assert seconds < 10, f"500 runs took {seconds:.1f} s"  # about 0.1 s on a 2-core machine


def test_a_broken_summary_is_left_out_with_a_note(real, tmp_path):
    good = copy_run(real["a"], tmp_path / "runs" / "good-20260101-100000")
    bad = copy_run(real["a"], tmp_path / "runs" / "bad-20260101-100000")
    (bad / "summary.json").write_text('{"epochs": 3,')
    (tmp_path / "runs" / "notes").mkdir()  # a folder backprop did not write: not listed
    code, out, err = cli("runs", tmp_path / "runs", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == [good.name]
    assert err.startswith(f"note: {bad / 'summary.json'}: not valid JSON")


def test_where_notes_only_keys_no_tested_run_has(five):
    runs, _ = five
    # the first filter leaves every run out: the second is never tested, so not reported
    code, out, err = cli("runs", runs, "--where", "test_accuracy>2", "--where", "optimizer.name=adam")
    assert code == 0 and out == "" and "note:" not in err and "pass the --where filters" in err


def test_fast_yaml_loader_reads_what_the_loader_reads(real):
    from backprop_cli import yamlio
    texts = [p.read_text() for p in CONFIGS.rglob("*.yaml")]
    texts += [(real[k] / "config.yaml").read_text() for k in ("a", "ens")]
    texts.append("a: 1e-3\nb: 010\nc: 0x1F\nd: .5\ne: 1_000\nf: yes\ng: .inf\nh: 1.2.3\ni: 0o17\nj: +1\nk: 1:30\n")
    for text in texts:
        assert repr(yamlio.load_fast(text)) == repr(yamlio.load(text))


def test_terminal_diff_has_both_tables(real):
    from rich.console import Console
    buf = io.StringIO()
    d = runlist.diff_runs(real["a"], real["b"])
    runlist.render_diff(d, terminal=True, console=Console(file=buf, width=120, force_terminal=True,
                                                          color_system=None))
    text = buf.getvalue()
    assert text.index("config keys that differ") < text.index("optimizer.lr") < text.index("metrics")
    assert "test.test_accuracy" in text and "same data (data_sha256)" in text


def test_completion_offers_run_folders_for_diff_and_folders_for_dir(real, tmp_path):
    shutil.copytree(real["a"], tmp_path / "runs" / real["a"].name)  # tests run in tmp_path
    env = {"_BACKPROP_COMPLETE": "bash_complete", "COMP_WORDS": "backprop runs --diff runs/", "COMP_CWORD": "3"}
    r = CliRunner().invoke(main, [], env=env, prog_name="backprop")
    assert r.output.split() == [f"plain,runs/{real['a'].name}"]
    env.update(COMP_WORDS="backprop runs ru", COMP_CWORD="2")
    assert CliRunner().invoke(main, [], env=env, prog_name="backprop").output.split() == ["dir,ru"]
