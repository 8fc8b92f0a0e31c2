"""Helpers shared by the tests (import as `from helpers import ...`)."""
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"


def backprop_exe() -> str:
    """The installed console script: beside this Python, else on PATH."""
    exe = Path(sys.executable).parent / "backprop"
    if exe.exists():
        return str(exe)
    found = shutil.which("backprop")
    if not found:
        pytest.skip("the backprop command is not installed")
    return found


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


XOR_YAML = """
data: xor
model:
  layers:
    - {units: 4, activation: tanh}
    - {units: 1, activation: sigmoid}
loss: bce
optimizer: {name: sgd, lr: 0.5}
training: {epochs: 2000, batch_size: full}
stopping: {target_loss: 0.01}
"""
