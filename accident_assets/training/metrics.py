"""Holdout metrics of both tasks, as plain dicts of floats (logged to MLflow and Dagster alike).

numpy and scikit-learn are imported by the functions that use them: defining the assets must not
load them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


CLASSIFICATION_THRESHOLD = 0.5
# Poisson deviance is undefined for a zero prediction; forests do predict exact zeros.
MIN_RATE = 1e-6


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, threshold: float = CLASSIFICATION_THRESHOLD
) -> dict[str, float]:
    """F1/precision/recall of class 1 ("Priority") at ``threshold``, ROC AUC and PR AUC."""
    import numpy as np
    from sklearn import metrics as skm

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


# Hotspot capture: the share of holdout incidents in the top 1 % / 5 % of predicted cell-hours,
# the hit rate of hotspot forecasting (where a patrol or a campaign would go).
CAPTURE_FRACTIONS = {"capture_1pct": 0.01, "capture_5pct": 0.05}


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Mean Poisson deviance (predictions clipped to a tiny positive rate), RMSE, MAE and the
    hotspot capture shares (:data:`CAPTURE_FRACTIONS`)."""
    import numpy as np
    from sklearn import metrics as skm

    y_true = np.asarray(y_true, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    return {
        "poisson_deviance": float(
            skm.mean_poisson_deviance(y_true, np.clip(predicted, MIN_RATE, None))
        ),
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, predicted))),
        "mae": float(skm.mean_absolute_error(y_true, predicted)),
        **{
            name: capture_share(y_true, predicted, fraction)
            for name, fraction in CAPTURE_FRACTIONS.items()
        },
    }


def calibration_by_decile(
    y_true: np.ndarray, predicted: np.ndarray, bins: int = 10
) -> list[dict[str, float]]:
    """Mean predicted and mean observed count per bin of predictions (deciles by default, rank
    based so that ties at zero do not merge bins): a calibrated model has them equal in every
    bin, where RMSE would hide a model that is right on average and wrong at both ends."""
    import numpy as np

    y_true = np.asarray(y_true, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    if y_true.shape != predicted.shape or y_true.ndim != 1:
        raise ValueError(f"y_true {y_true.shape} and predicted {predicted.shape} differ")
    if y_true.size == 0:
        return []
    # Stable sort: rows with equal predictions keep their order, so the result is reproducible.
    order = np.argsort(predicted, kind="stable")
    rows = []
    for i, part in enumerate(np.array_split(order, min(bins, y_true.size)), start=1):
        rows.append(
            {
                "bin": float(i),
                "rows": float(part.size),
                "mean_predicted": float(predicted[part].mean()),
                "mean_observed": float(y_true[part].mean()),
            }
        )
    return rows


def capture_share(y_true: np.ndarray, predicted: np.ndarray, top_fraction: float) -> float:
    """Share of the observed total that falls in the ``top_fraction`` highest-predicted rows.

    The top holds ``k = ceil(top_fraction * n)`` rows (at least one). Ties at the cut are shared
    out, not broken by row order: rows predicted strictly above the k-th highest prediction count
    in full, and the rows tied with it fill the remaining slots pro rata, each counting
    ``slots / tied`` of its observed value (the expected capture under a random tie-break). The
    result therefore does not depend on the order of the rows. NaN when nothing was observed.
    """
    import numpy as np

    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction!r}")
    y_true = np.asarray(y_true, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    if y_true.shape != predicted.shape or y_true.ndim != 1:
        raise ValueError(f"y_true {y_true.shape} and predicted {predicted.shape} differ")
    total = float(y_true.sum())
    if y_true.size == 0 or total == 0:
        return float("nan")
    # 1e-9: 0.05 * 20 is 1.0000000000000002, which is one row, not two.
    k = min(y_true.size, max(1, math.ceil(top_fraction * y_true.size - 1e-9)))
    cut = np.sort(predicted)[::-1][k - 1]
    above = predicted > cut
    tied = predicted == cut
    slots = k - int(above.sum())
    captured = y_true[above].sum() + y_true[tied].sum() * slots / int(tied.sum())
    return float(captured / total)
