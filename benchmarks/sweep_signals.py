"""Stop `backprop sweep` at random times and count hangs and leftover processes (issue 13.7).

Each round starts a 30-trial XOR sweep with ``--workers 2`` in a session of its own, sends
SIGINT to its process group (Ctrl-C in a terminal) or SIGTERM to the driver (kill) after a
random delay, and waits. A round *hangs* when the driver has not exited after ``--timeout``
seconds; it leaves an *orphan* when any process of its session is alive once the driver has
exited (a second later). Every results.jsonl line must be valid JSON. Prints one line per
problem and a summary; exit 1 if any round hung, left a process or broke results.jsonl.

Exit codes: 130 when stopped; 0 when every trial had finished before the signal; a signal in
the first ~0.1 s, while Python itself starts, ends it Python's way (-2, -15, or 1 with a
KeyboardInterrupt traceback from its start-up imports), printed with that traceback.

    python benchmarks/sweep_signals.py --rounds 200
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

XOR = """
data: xor
model:
  layers:
    - {units: 8, activation: tanh}
    - {units: 1, activation: sigmoid}
loss: bce
optimizer: {name: sgd, lr: 0.5}
training: {epochs: 300, batch_size: full}
"""
SWEEP = """
base: xor.yaml
method: random
trials: 30
parameters:
  optimizer.lr: {min: 0.01, max: 2.0, distribution: log_uniform}
  stopping.target_loss: {values: [null]}
"""


def session_processes(sid: int) -> list[tuple[int, str]]:
    """(pid, command) of every live process of session ``sid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append((int(stat.parent.name), cmd))
    return out


def one_round(exe: str, folder: Path, how: int, delay: float, timeout: float) -> dict:
    proc = subprocess.Popen([exe, "sweep", "sweep.yaml", "--workers", "2", "--quiet"], cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(delay)
    if how == signal.SIGINT:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(how)
    t0 = time.monotonic()
    try:
        code = proc.wait(timeout=timeout)
        hung = False
    except subprocess.TimeoutExpired:
        code, hung = None, True
    took = time.monotonic() - t0
    time.sleep(1.0)  # the workers' own exit (they watch the driver every 0.25 s)
    left = session_processes(proc.pid)
    if hung or left:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    bad_lines = 0
    for f in folder.glob("runs/*/results.jsonl"):
        for line in f.read_text().splitlines():
            try:
                json.loads(line)
            except json.JSONDecodeError:
                bad_lines += 1
    return {"code": code, "hung": hung, "left": left, "took": took, "bad_lines": bad_lines,
            "stderr": proc.stderr.read().decode()[-300:]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--max-delay", type=float, default=4.0, help="signal after 0..this many s")
    ap.add_argument("--timeout", type=float, default=15.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", action="store_true", help="a line per round")
    ap.add_argument("--exe", default=str(Path(sys.executable).parent / "backprop"))
    a = ap.parse_args(argv)
    rng = random.Random(a.seed)
    root = Path(tempfile.mkdtemp(prefix="sweep-signals-"))
    hangs = orphans = broken = unexpected = 0
    codes: dict = {}
    took = []
    try:
        for i in range(a.rounds):
            folder = root / f"r{i}"
            folder.mkdir()
            (folder / "xor.yaml").write_text(XOR)
            (folder / "sweep.yaml").write_text(SWEEP)
            how = rng.choice([signal.SIGINT, signal.SIGTERM])
            delay = rng.uniform(0, a.max_delay)
            r = one_round(a.exe, folder, how, delay, a.timeout)
            codes[r["code"]] = codes.get(r["code"], 0) + 1
            took.append(r["took"])
            hangs += r["hung"]
            orphans += bool(r["left"])
            broken += r["bad_lines"] > 0
            odd = r["code"] not in (0, 130, -signal.SIGINT, -signal.SIGTERM)
            if odd:
                unexpected += 1
            if r["hung"] or r["left"] or r["bad_lines"] or odd or a.verbose:
                print(f"round {i}: {signal.Signals(how).name} after {delay:.2f} s: "
                      f"{'HUNG' if r['hung'] else 'exit ' + str(r['code'])}, "
                      f"left {r['left']}, bad lines {r['bad_lines']}", flush=True)
                if odd:
                    print("  stderr: ..." + r["stderr"].replace("\n", "\n  "), flush=True)
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    took.sort()
    print(f"{a.rounds} rounds: {hangs} hung, {orphans} left processes, {broken} broke results.jsonl; "
          f"exit codes {dict(sorted(codes.items(), key=str))}; time to exit median "
          f"{took[len(took) // 2]:.2f} s, max {took[-1]:.2f} s")
    return 1 if hangs or orphans or broken else 0


if __name__ == "__main__":
    sys.exit(main())
