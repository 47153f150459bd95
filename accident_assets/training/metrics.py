"""Holdout metrics of both tasks, as plain dicts of floats (logged to MLflow and Dagster alike)."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

CLASSIFICATION_THRESHOLD = 0.5
# Poisson deviance is undefined for a zero prediction; forests do predict exact zeros.
MIN_RATE = 1e-6


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, threshold: float = CLASSIFICATION_THRESHOLD
) -> dict[str, float]:
    """F1/precision/recall of class 1 ("Priority") at ``threshold``, ROC AUC and PR AUC."""
    y_true = np.asarray(y_true).astype(int)
    predicted = (np.asarray(proba) >= threshold).astype(int)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "f1": float(skm.f1_score(y_true, predicted, pos_label=1, zero_division=0)),
        "precision": float(skm.precision_score(y_true, predicted, pos_label=1, zero_division=0)),
        "recall": float(skm.recall_score(y_true, predicted, pos_label=1, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(y_true, proba)) if both_classes else float("nan"),
        "pr_auc": float(skm.average_precision_score(y_true, proba))
        if both_classes
        else float("nan"),
        "threshold": float(threshold),
    }


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and mean Poisson deviance (predictions clipped to a tiny positive rate)."""
    y_true = np.asarray(y_true, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    return {
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, predicted))),
        "mae": float(skm.mean_absolute_error(y_true, predicted)),
        "poisson_deviance": float(
            skm.mean_poisson_deviance(y_true, np.clip(predicted, MIN_RATE, None))
        ),
    }
