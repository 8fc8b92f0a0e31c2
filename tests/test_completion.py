"""Shell completion through click's own machinery (_BACKPROP_COMPLETE), and through bash."""
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import backprop_exe

from backprop_cli.cli import main


def complete(line: str, shell: str = "bash") -> list[str]:
    """What `backprop` offers for the last word of ``line`` (a trailing space: a new word)."""
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    env = {"_BACKPROP_COMPLETE": f"{shell}_complete", "COMP_WORDS": " ".join(words),
           "COMP_CWORD": str(len(words) - 1)}
    r = CliRunner().invoke(main, [], env=env, prog_name="backprop")
    assert r.exit_code == 0, r.output
    return [line for line in r.output.splitlines() if line]


def plain(line: str) -> list[str]:
    out = [c.split(",", 1) for c in complete(line)]
    assert all(kind == "plain" for kind, _ in out), out
    return [value for _, value in out]


def fake_run(path: Path) -> Path:
    """The files that make a folder a run folder (backprop train writes them first)."""
    path.mkdir(parents=True)
    (path / "config.yaml").write_text("data: xor\n")
    (path / "metrics.jsonl").write_text("")
    return path


@pytest.fixture
def folders(tmp_path):
    fake_run(tmp_path / "runs" / "xor-20260101-120000")
    fake_run(tmp_path / "runs" / "xor-20260101-120500")
    fake_run(tmp_path / "runs" / "iris-20260102-090000")
    fake_run(tmp_path / "runs" / "lr-20260103-100000" / "trials" / "5a69fd25e0cf")
    (tmp_path / "runs" / "lr-20260103-100000" / "results.jsonl").write_text("")
    (tmp_path / "runs" / "notes").mkdir()
    fake_run(tmp_path / "mine")
    (tmp_path / "data").mkdir()
    return tmp_path


def test_run_dir_arguments_complete_run_folders(folders):
    runs = ["mine", "runs/iris-20260102-090000", "runs/xor-20260101-120000",
            "runs/xor-20260101-120500"]
    for line in ("backprop eval ", "backprop eval runs/iris-20260102-090000 ", "backprop predict ",
                 "backprop train --resume ", "backprop explain --run "):
        assert plain(line) == runs, line
    assert plain("backprop eval runs/x") == runs[2:]
    assert plain("backprop predict runs/xor-20260101-1205") == runs[3:]
    assert plain("backprop eval r") == runs[1:]
    assert plain("backprop eval runs/lr-20260103-100000/trials/") == [
        "runs/lr-20260103-100000/trials/5a69fd25e0cf"]
    # plot takes sweep folders too
    assert plain("backprop plot runs/") == ["runs/iris-20260102-090000", "runs/lr-20260103-100000",
                                            "runs/xor-20260101-120000", "runs/xor-20260101-120500"]


def test_without_a_run_folder_to_offer_the_shell_completes_folders(folders):
    assert complete("backprop eval data/") == ["dir,data/"]
    assert complete("backprop train --resume runs/notes/") == ["dir,runs/notes/"]


def test_set_completes_config_keys_with_their_descriptions():
    keys = plain("backprop train configs/xor.yaml --set optimizer.")
    assert {"optimizer.name=", "optimizer.lr=", "optimizer.momentum=", "optimizer.beta1=",
            "optimizer.clip_norm="} <= set(keys)
    assert all(k.startswith("optimizer.") and k.endswith("=") for k in keys)
    assert plain("backprop gradcheck c.yaml --set stopping.pat") == ["stopping.patience="]
    assert plain("backprop eval runs/x --set data.val_f") == ["data.val_fraction="]
    # a list's items: the index as typed
    assert "model.layers.1.units=" in plain("backprop train c.yaml --set model.layers.1.u")
    assert plain("backprop train c.yaml --set model.layers.") [:4] == [
        "model.layers.0.type=", "model.layers.0.units=", "model.layers.0.activation=",
        "model.layers.0.activation.name="]
    assert "model.layers.0.kernel=" in plain("backprop train c.yaml --set model.layers.0.k")
    # zsh and fish show each key's description from the schema
    zsh = complete("backprop train c.yaml --set training.epo", shell="zsh")
    assert zsh == ["plain", "training.epochs=", "epoch limit"]


def test_set_completes_the_values_of_keys_that_take_names():
    assert plain("backprop train c.yaml --set optimizer.name=ad") == ["optimizer.name=adagrad",
                                                                      "optimizer.name=adam",
                                                                      "optimizer.name=adamw"]
    assert plain("backprop train c.yaml --set dtype=") == ["dtype=float32", "dtype=float64"]
    assert plain("backprop train c.yaml --set training.shuffle=") == ["training.shuffle=true",
                                                                       "training.shuffle=false"]
    assert "model.layers.0.activation=relu" in plain("backprop train c.yaml --set model.layers.0.activation=")
    assert plain("backprop train c.yaml --set optimizer.lr=") == []


def test_bash_completes_through_the_script_backprop_prints(folders):
    """The script of `_BACKPROP_COMPLETE=bash_source backprop`, run by bash: COMPREPLY holds
    the candidates, and a --set key ending in '=' asks bash for no space after it."""
    exe = backprop_exe()
    env = {**os.environ, "PATH": f"{Path(exe).parent}{os.pathsep}{os.environ['PATH']}"}
    script = subprocess.run([exe], env={**env, "_BACKPROP_COMPLETE": "bash_source"},
                            capture_output=True, text=True, timeout=60).stdout
    assert "[[ $value == *= ]] && compopt -o nospace" in script
    probe = script + """
t() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=()
      _backprop_completion backprop 2>/dev/null; echo "${COMPREPLY[*]}"; }
t backprop eval runs/xor
t backprop train configs/xor.yaml --set optimizer.l
"""
    out = subprocess.run(["bash", "-c", probe], env=env, capture_output=True, text=True,
                         timeout=60, cwd=folders).stdout.splitlines()
    assert out == ["runs/xor-20260101-120000 runs/xor-20260101-120500", "optimizer.lr= optimizer.lr_decay="]
