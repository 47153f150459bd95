"""Diagnostic plots as PNG bytes: logged to MLflow and shown in Dagster asset metadata.

numpy, matplotlib (and scikit-learn's displays) are imported by the functions that draw: defining
the assets must not load them. :func:`pyplot` is the one way in, with the file-only backend.

How the Dagster UI (1.13) shows a plot: it has no image metadata type; markdown metadata is
rendered in place when it is shorter than 1,000 characters and behind "[Show Markdown]"
otherwise. A PNG embedded as base64 (:func:`as_markdown`) is always longer, so it stays behind
the button; an image linked by URL (:func:`image_markdown`, e.g. a run's artifact served by the
MLflow UI) is short and shows where the asset opens.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from accident_assets.training.metrics import calibration_by_decile

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

DPI = 80


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display: plots are files)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig: Figure) -> bytes:
    plt = pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    # "tight" keeps labels drawn beside the axes (values, "off scale") and long titles whole.
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def confusion_matrix(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> bytes:
    import numpy as np
    from sklearn import metrics as skm

    plt = pyplot()
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
    import numpy as np
    from sklearn import metrics as skm

    plt = pyplot()
    fig, (roc, pr) = plt.subplots(1, 2, figsize=(8, 3.5))
    skm.RocCurveDisplay.from_predictions(y_true, proba, ax=roc)
    roc.plot([0, 1], [0, 1], linestyle=":", color="grey")
    roc.set_title("ROC curve")
    skm.PrecisionRecallDisplay.from_predictions(y_true, proba, ax=pr)
    pr.axhline(float(np.mean(y_true)), linestyle=":", color="grey")
    pr.set_title("Precision-recall curve")
    return png(fig)


def feature_importance(importance: dict[str, float], top: int = 20) -> bytes:
    plt = pyplot()
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
    plt = pyplot()
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
    import numpy as np

    plt = pyplot()
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


def value_limits(values: Sequence[float], margin: float = 0.15) -> tuple[float, float]:
    """Axis limits that show how far apart ``values`` are, not how far they are from zero.

    The range of the finite values, widened by ``margin`` of it on each side (by 5 % of the
    largest magnitude when they are all equal). The axis starts at zero only when the widened
    range would reach zero anyway (values far apart, e.g. the ``zero`` baseline among models);
    then a bar's length is its value."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    pad = (high - low) * margin or max(abs(high), abs(low)) * 0.05 or 0.01
    lower, upper = low - pad, high + pad
    if low >= 0 and lower <= 0:
        lower = 0.0
    if high <= 0 and upper >= 0:
        upper = 0.0
    return lower, upper


def comparison_axes(
    names: list[str],
    values: list[float],
    metric: str,
    focus: Sequence[float] | None = None,
    greater_is_better: bool | None = None,
) -> Any:
    """The candidates' bars, zoomed to the range of ``focus`` (default: every value;
    :func:`value_limits`) and labelled with their values; a value outside that range is drawn to
    the edge and labelled "off scale". Returns the matplotlib figure (:func:`comparison_bars`
    renders it)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(names) + 1.2))
    lower, upper = value_limits(values if focus is None else focus)
    shown = [float(v) if v is not None and math.isfinite(v) else float("nan") for v in values]
    # An unscored candidate keeps its row: an empty bar labelled n/a.
    drawn = [min(max(v, lower), upper) if not math.isnan(v) else lower for v in shown]
    labels = [
        "n/a" if math.isnan(v) else f"{v:.4g}" + ("" if lower <= v <= upper else " (off scale)")
        for v in shown
    ]
    # Bars start at the axis' left edge, so a zoomed axis does not cut them.
    bars = ax.barh(
        names[::-1], [v - lower for v in drawn[::-1]], left=lower, color="#4477aa", height=0.6
    )
    ax.bar_label(bars, labels=labels[::-1], padding=3, fontsize=8)
    # Room on the right for the labels.
    ax.set_xlim(lower, upper + (upper - lower) * 0.2)
    ax.set_xlabel(metric if lower == 0 else f"{metric} (axis from {lower:.4g}, not 0)")
    better = {True: ", higher is better", False: ", lower is better", None: ""}[greater_is_better]
    ax.set_title(f"Candidates by {metric} (holdout{better})")
    ax.grid(axis="x", alpha=0.3)
    return fig


def comparison_bars(
    names: list[str],
    values: list[float],
    metric: str,
    focus: Sequence[float] | None = None,
    greater_is_better: bool | None = None,
) -> bytes:
    return png(comparison_axes(names, values, metric, focus, greater_is_better))


def as_markdown(title: str, png: bytes) -> dg.MetadataValue:
    """A PNG embedded in markdown as a base64 data URI: it needs nothing else to be shown, but
    the Dagster UI keeps it behind "[Show Markdown]" (see the module docstring)."""
    data = base64.b64encode(png).decode("ascii")
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{data})")


def image_markdown(title: str, url: str, link: str | None = None) -> dg.MetadataValue:
    """An image by URL, which the Dagster UI shows in place (short markdown); ``link`` makes it
    a link (e.g. to the MLflow run it belongs to)."""
    image = f"![{title}]({url})"
    return dg.MetadataValue.md(f"[{image}]({link})" if link else image)
