import numpy as np
import pytest

@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _no_runs_in_repo(monkeypatch, tmp_path):
    """Tests run in a temporary working directory, so default runs/ never lands in the repo."""
    monkeypatch.chdir(tmp_path)


