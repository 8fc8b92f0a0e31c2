"""Evaluation metrics against values worked out by hand (scikit-learn's conventions)."""
import numpy as np
import pytest

from backprop_cli.evaluation import classification_report, confusion_matrix, regression_report


def test_classification_report_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 2, 2])
    r = classification_report(labels, pred, ["a", "b", "c"])
    assert r["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    a, b, c = r["per_class"]
    # class a: TP 2, predicted 2, true 3 -> P 1, R 2/3, F1 0.8
    assert (a["precision"], a["recall"], a["f1"], a["support"]) == pytest.approx((1.0, 2 / 3, 0.8, 3))
    # class b: TP 1, predicted 2, true 2 -> P 0.5, R 0.5, F1 0.5
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    # class c: TP 1, predicted 2, true 1 -> P 0.5, R 1, F1 2/3
    assert (c["precision"], c["recall"], c["f1"]) == pytest.approx((0.5, 1.0, 2 / 3))
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["macro"]["f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert r["weighted"]["recall"] == pytest.approx((3 * 2 / 3 + 2 * 0.5 + 1 * 1) / 6)


def test_undefined_precision_is_zero():
    r = classification_report(np.array([0, 1]), np.array([0, 0]), ["x", "y"])
    assert r["per_class"][1]["precision"] == 0.0 and r["per_class"][1]["f1"] == 0.0
    assert confusion_matrix(np.array([1]), np.array([0]), 2).tolist() == [[0, 0], [1, 0]]


def test_regression_report_by_hand():
    y = np.array([[1.0], [2.0], [3.0], [4.0]])
    o = np.array([[1.0], [2.0], [3.0], [6.0]])
    r = regression_report(o, y)
    # residuals 0,0,0,2: MSE 1, MAE 0.5; SS_tot = 5, SS_res = 4 -> R² = 0.2
    assert r == pytest.approx({"mse": 1.0, "mae": 0.5, "r2": 0.2})
    assert regression_report(y, y)["r2"] == 1.0
