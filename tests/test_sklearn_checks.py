"""scikit-learn's own estimator checks (sklearn.utils.estimator_checks), all of them, on both
estimators with their default parameters: none is skipped or expected to fail. (One check,
on array API input, runs only with SciPy's array API support on: tests/conftest.py sets
SCIPY_ARRAY_API=1.)"""
import pytest

pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from backprop_cli.sklearn import BackpropClassifier, BackpropRegressor  # noqa: E402


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # short fits, as intended
@parametrize_with_checks([BackpropClassifier(), BackpropRegressor()])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
