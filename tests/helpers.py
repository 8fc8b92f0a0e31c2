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


# A small CNN on the bundled 8x8 digits (the brief's digits-cnn): trains an epoch in ~0.2 s.
DIGITS_CNN_YAML = f"""
data:
  source: csv
  path: {ROOT / 'datasets' / 'digits.csv.gz'}
  target: digit
  scale: pixels
  pixel_max: 16
  shape: [1, 8, 8]
  val_fraction: 0.15
  test_fraction: 0.15
model:
  layers:
    - {{type: conv2d, channels: 8, kernel: 3, padding: 1, activation: relu}}
    - {{type: maxpool2d, kernel: 2}}
    - {{type: conv2d, channels: 16, kernel: 3, padding: 1, activation: relu}}
    - {{type: maxpool2d, kernel: 2}}
    - {{type: flatten}}
    - {{units: 10, activation: softmax}}
loss: cross_entropy
optimizer: {{name: adam, lr: 0.01}}
training: {{epochs: 2, batch_size: 32}}
seed: 0
"""
