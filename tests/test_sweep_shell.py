"""Shell-scripted sweeps as the README shows them: a loop and xargs -P over
`backprop train --json`, and concurrent processes sharing one runs folder."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import XOR_YAML, backprop_exe, write

LRS = ["0.1", "0.5", "1.0", "2.0"]


@pytest.fixture
def env(tmp_path):
    write(tmp_path / "xor.yaml", XOR_YAML.replace("2000", "100"))
    exe_dir = str(Path(backprop_exe()).parent)
    import os
    return {**os.environ, "PATH": exe_dir + os.pathsep + os.environ["PATH"]}


def run_sh(script, env, cwd):
    r = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], capture_output=True, text=True,
                       env=env, cwd=cwd, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def check_lines(lines, runs: Path):
    summaries = [json.loads(line) for line in lines]
    assert sorted(s["overrides"][0] for s in summaries) == sorted(f"optimizer.lr={lr}" for lr in LRS)
    dirs = {s["run_dir"] for s in summaries}
    assert len(dirs) == len(LRS)  # same name, same second: never the same folder
    assert all((Path(d) / "summary.json").exists() and Path(d).parent == runs.resolve() for d in dirs)


def test_shell_loop_collects_one_json_line_per_run(tmp_path, env):
    out = run_sh(f"""
for lr in {' '.join(LRS)}; do
  backprop train xor.yaml --set optimizer.lr=$lr --runs-dir runs/lr --json --quiet
done > results.jsonl
cat results.jsonl""", env, tmp_path)
    check_lines(out.splitlines(), tmp_path / "runs" / "lr")


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_shell_loop_with_jq_as_the_readme_shows(tmp_path, env):
    out = run_sh(f"""
for lr in {' '.join(LRS)}; do
  backprop train xor.yaml --set optimizer.lr=$lr --runs-dir runs/lr --json --quiet
done | jq -r -s 'sort_by(.final.train_loss) | .[] | [.overrides[0], .final.train_loss, .run_dir] | @tsv'
""", env, tmp_path)
    rows = [line.split("\t") for line in out.splitlines()]
    assert len(rows) == 4
    losses = [float(r[1]) for r in rows]
    assert losses == sorted(losses)
    assert len({r[2] for r in rows}) == 4


def test_xargs_parallel_runs_never_collide(tmp_path, env):
    out = run_sh(f"""
printf '%s\\n' {' '.join(LRS)} |
  OMP_NUM_THREADS=1 xargs -P 4 -I{{}} backprop train xor.yaml --set optimizer.lr={{}} --name xor \\
    --runs-dir runs/lr --json --quiet > results.jsonl
cat results.jsonl""", env, tmp_path)
    check_lines(out.splitlines(), tmp_path / "runs" / "lr")


def test_concurrent_train_processes_share_one_runs_folder(tmp_path, env):
    procs = [subprocess.Popen([backprop_exe(), "train", "xor.yaml", "--name", "same", "--runs-dir",
                               "runs", "--json", "--quiet"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(8)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8
    dirs = [json.loads(o)["run_dir"] for o in outs]
    assert len(set(dirs)) == 8
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(Path(d).name for d in dirs)
    assert all(Path(d, "summary.json").exists() for d in dirs)
