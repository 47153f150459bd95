"""Diagnostic plots as PNG bytes: logged to MLflow and embedded in Dagster asset metadata."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display: plots are files

import dagster as dg
import matplotlib.pyplot as plt
import numpy as np
from sklearn import metrics as skm

from accident_assets.training.metrics import calibration_by_decile

DPI = 80


def png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()


def confusion_matrix(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> bytes:
    predicted = (np.asarray(proba) >= threshold).astype(int)
    fig, ax = plt.subplots(figsize=(4, 3.5))
    skm.ConfusionMatrixDisplay.from_predictions(
        np.asarray(y_true).astype(int),
        predicted,
        labels=[0, 1],
        display_labels=["Non-priority", "Priority"],
        ax=ax,
        colorbar=False,
    )
    ax.set_title(f"Confusion matrix (threshold {threshold:g})")
    return png(fig)


def roc_pr_curves(y_true: np.ndarray, proba: np.ndarray) -> bytes:
    fig, (roc, pr) = plt.subplots(1, 2, figsize=(8, 3.5))
    skm.RocCurveDisplay.from_predictions(y_true, proba, ax=roc)
    roc.plot([0, 1], [0, 1], linestyle=":", color="grey")
    roc.set_title("ROC curve")
    skm.PrecisionRecallDisplay.from_predictions(y_true, proba, ax=pr)
    pr.axhline(float(np.mean(y_true)), linestyle=":", color="grey")
    pr.set_title("Precision-recall curve")
    return png(fig)


def feature_importance(importance: dict[str, float], top: int = 20) -> bytes:
    items = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)[:top][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#4477aa")
    ax.set_title(f"Feature importance (top {len(items)})")
    return png(fig)


def predicted_vs_actual(y_true: np.ndarray, predicted: np.ndarray) -> bytes:
    """Mean observed against mean predicted count per decile of the prediction (calibration).

    Not the mean prediction per observed count: for a count process that one is flat whatever
    the model (a cell-hour that happened to see 3 incidents was not predicted 3), so it showed
    0.3-0.5 everywhere. Here a calibrated model follows the diagonal and a sharper one spreads
    further along it."""
    rows = calibration_by_decile(y_true, predicted)
    xs = [r["mean_predicted"] for r in rows]
    ys = [r["mean_observed"] for r in rows]
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    ax.plot(xs, ys, marker="o", color="#4477aa", label="deciles of the prediction")
    top = max([*xs, *ys, 1e-3])
    ax.plot([0, top], [0, top], linestyle=":", color="grey", label="calibrated")
    ax.set_xlabel("mean predicted incidents per cell-hour")
    ax.set_ylabel("mean observed")
    ax.set_title("Predicted vs actual by predicted decile (holdout)")
    ax.legend(fontsize=7)
    return png(fig)


def error_by_hour(hours: np.ndarray, y_true: np.ndarray, predicted: np.ndarray) -> bytes:
    hours = np.asarray(hours, dtype=int)
    err = np.asarray(predicted, dtype=float) - np.asarray(y_true, dtype=float)
    xs = np.arange(24)
    rmse = [np.sqrt(np.mean(err[hours == h] ** 2)) if (hours == h).any() else np.nan for h in xs]
    bias = [np.mean(err[hours == h]) if (hours == h).any() else np.nan for h in xs]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(xs, rmse, color="#4477aa", label="RMSE")
    ax.plot(xs, bias, color="#cc6677", marker="o", label="mean error (bias)")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_xlabel("hour of day")
    ax.set_title("Holdout error by hour")
    ax.legend()
    return png(fig)


def comparison_bars(names: list[str], values: list[float], metric: str) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1))
    ax.barh(names[::-1], values[::-1], color="#4477aa")
    ax.set_xlabel(metric)
    ax.set_title(f"Candidates by {metric} (holdout)")
    return png(fig)


def as_markdown(title: str, png: bytes) -> dg.MetadataValue:
    """A PNG the Dagster UI shows inline: markdown with a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{data})")
