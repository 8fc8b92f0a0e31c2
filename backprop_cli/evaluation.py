"""Scores of predictions: classification reports, regression errors, ensembles.

Conventions follow scikit-learn's ``classification_report`` and ``r2_score``:
precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2PR / (P + R) (0 when undefined),
macro = unweighted mean over classes, weighted = mean weighted by support;
R² = 1 - SS_res / SS_tot over all outputs (uniform average over target columns).
"""
from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """C[i, j] = number of examples of true class i predicted as class j."""
    return np.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes)


def classification_report(labels, predicted, classes: list[str]) -> dict:
    k = len(classes)
    cm = confusion_matrix(np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64), k)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    pred_count = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred_count > 0, tp / pred_count, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    per_class = [{"class": c, "precision": float(p), "recall": float(r), "f1": float(f),
                  "support": int(s)} for c, p, r, f, s in zip(classes, precision, recall, f1, support)]
    total = int(support.sum())
    w = support / total if total else np.zeros(k)

    def avg(weights):
        return {"precision": float(np.sum(weights * precision)), "recall": float(np.sum(weights * recall)),
                "f1": float(np.sum(weights * f1)), "support": total}

    return {"accuracy": float(tp.sum() / total) if total else 0.0, "per_class": per_class,
            "macro": avg(np.full(k, 1.0 / k)), "weighted": avg(w),
            "confusion_matrix": cm.tolist(), "classes": list(classes)}


def regression_report(outputs: np.ndarray, targets: np.ndarray) -> dict:
    o, y = np.asarray(outputs, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    diff = o - y
    ss_res = (diff ** 2).sum(axis=0)
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.where(ss_res == 0, 1.0, 0.0))
    return {"mse": float((diff ** 2).mean()), "mae": float(np.abs(diff).mean()),
            "r2": float(r2.mean())}
