from sklearn.utils.estimator_checks import parametrize_with_checks
from backprop_cli.sklearn import BackpropClassifier, BackpropRegressor

@parametrize_with_checks([BackpropClassifier(), BackpropRegressor()])
def test_sklearn(estimator, check):
    check(estimator)
