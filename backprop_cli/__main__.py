"""``python -m backprop_cli ...`` is the ``backprop`` command (where its script is not on PATH)."""
from .cli import run

if __name__ == "__main__":
    run()
