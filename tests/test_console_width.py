"""Output width (issue 13.14): piped output is never cut or wrapped (COLUMNS, when set, is the
width); on a terminal the live view's line fits the terminal's width."""
import io
import os
import re
import subprocess

import pytest
from helpers import XOR_YAML, backprop_exe, write
from rich.cells import cell_len
from rich.console import Console

from backprop_cli.console import SPARK, ProgressBar, Tracker

LONG = "a-run-name-long-enough-that-an-80-column-table-would-cut-it-short"
MOONS = """
data: {source: moons, n: 200, noise: 0.2, val_fraction: 0.25}
model:
  layers:
    - {units: 16, activation: tanh}
    - {units: 1, activation: sigmoid}
loss: bce
optimizer: {name: sgd, lr: 0.5}
training: {epochs: 400, batch_size: 8}
"""


def env(**extra):
    e = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return {**e, **extra}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("width")
    write(d / "xor.yaml", XOR_YAML)
    r = subprocess.run([backprop_exe(), "train", "xor.yaml", "--name", LONG, "--runs-dir", "runs"],
                       cwd=d, capture_output=True, text=True, env=env(), timeout=120)
    assert r.returncode == 0, r.stderr
    (folder,) = (d / "runs").iterdir()
    return folder, r.stderr


def test_piped_train_output_keeps_names_and_lines_whole(run):
    folder, err = run
    lines = err.splitlines()
    assert f"run {folder.name}" in [ln.strip() for ln in lines]  # the table's title, whole
    assert f"run folder: {folder}" in lines
    assert any(re.fullmatch(r"stopped: .* after \d+ epochs in [\d.]+ s on \d+ threads?", ln) for ln in lines), err


def test_piped_eval_table_shows_whole_run_names(run):
    folder, _ = run
    r = subprocess.run([backprop_exe(), "eval", str(folder), str(folder)], capture_output=True,
                       text=True, env=env(), timeout=120)
    assert r.returncode == 0, r.stderr
    rows = [ln for ln in r.stderr.splitlines() if ln.startswith("│ a-run")]
    assert len(rows) == 2 and all(f"│ {folder.name} (best, epoch" in ln for ln in rows)


def test_piped_output_takes_columns_when_set(run):
    folder, _ = run
    r = subprocess.run([backprop_exe(), "eval", str(folder)], capture_output=True, text=True,
                       env=env(COLUMNS="60"), timeout=120)
    assert r.returncode == 0, r.stderr
    assert max(cell_len(ln) for ln in r.stderr.splitlines()) == 60


def tracker_with_long_parts() -> Tracker:
    t = Tracker()
    for e in range(1, 301):
        t.update({"epoch": e, "train_loss": 1 / e, "val_loss": 1.5 / e, "train_accuracy": 0.9,
                  "val_accuracy": 0.875, "lr": 0.05})
    return t


@pytest.mark.parametrize("width", [40, 60, 80, 100, 110, 200])
def test_the_live_line_fits_the_width(width):
    buf = io.StringIO()
    console = Console(file=buf, width=width)
    bar = ProgressBar(console, health_every=None, live=True)
    bar.tracker = tracker_with_long_parts()
    console.print(bar.panel())  # what the live view draws under its bar
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1 and cell_len(lines[0]) <= width
    line = lines[0]
    spark = "".join(c for c in line if c in SPARK)
    bare = "  loss 0.003333  │  acc 90.0%  │  val_loss 0.005  │  val_acc 87.5%  │  lr 0.05"  # 78
    if width >= 153 + 10 + 24:  # every best value, and the sparkline at its full 24
        assert "(best 0.003333 @ 300)" in line and len(spark) == 24 and line.endswith("│  loss " + spark)
    elif width >= 78 + 10 + 8:  # the best values give way; the sparkline takes what is left
        assert line == bare + "  │  loss " + spark and len(spark) == min(24, width - 88)
    elif width >= 78:  # no room for a sparkline of 8
        assert line == bare
    else:  # cut, never wrapped
        assert line == bare[:width - 1] + "…"


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("width", [80, 100, 110])
def test_train_in_a_terminal_keeps_the_live_line_on_one_line(tmp_path, width):
    import fcntl
    import struct
    import termios
    write(tmp_path / "moons.yaml", MOONS)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, width, 0, 0))
    proc = subprocess.Popen([backprop_exe(), "train", "moons.yaml", "--runs-dir", "runs"], cwd=tmp_path,
                            stdin=slave, stdout=slave, stderr=slave, env=env(TERM="xterm-256color"))
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's last writer has gone
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0
    lines = ANSI.sub("", out.decode()).split("\n")
    live = [ln for ln in lines if ln.startswith("  loss ")]
    assert live, out.decode()[-2000:]
    for ln in live:  # whole metrics, then the sparkline if there is room, on one line
        assert "│  lr 0.5" in ln and cell_len(ln) <= width, ln
        spark = "".join(c for c in ln if c in SPARK)
        assert not spark or ln.endswith("│  loss " + spark), ln
    wrapped = [ln for ln in lines if ln.lstrip().startswith(("acc ", "val_", "lr ", "(best", *SPARK))]
    assert wrapped == []
