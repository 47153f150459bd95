"""Performance history: every as-of partition's candidates and decision, and the backtest
summary (mean ± spread of the primary metric per model) that the dashboard asset shows."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from accident_assets.training import plots
from accident_assets.training.tasks import TaskSpec

DECISION_COLUMNS = ["as_of", "newest", "promoted", "would_promote", "candidate"]


def history_frame(
    spec: TaskSpec,
    comparisons: Mapping[str, pl.DataFrame],
    decisions: Mapping[str, pl.DataFrame],
) -> pl.DataFrame:
    """One row per (as-of partition, candidate): its holdout metrics, its gain over the best
    baseline, whether it was that partition's candidate and whether it was promoted."""
    if not comparisons:
        return pl.DataFrame()
    metric_columns = list(spec.metrics)
    frames = [
        frame.select(
            "rank",
            "model",
            "variant",
            "baseline",
            *metric_columns,
            "vs_best_baseline",
            "fit_time_s",
            "mlflow_run_id",
        ).with_columns(pl.lit(key).alias("as_of"))
        for key, frame in sorted(comparisons.items())
    ]
    history = pl.concat(frames, how="vertical_relaxed")
    decided = [d.select(DECISION_COLUMNS) for _, d in sorted(decisions.items()) if d.height]
    if decided:
        decision = pl.concat(decided, how="vertical_relaxed")
        history = history.join(decision, on="as_of", how="left")
    else:
        history = history.with_columns(
            pl.lit(None, pl.Boolean).alias("newest"),
            pl.lit(None, pl.Boolean).alias("promoted"),
            pl.lit(None, pl.Boolean).alias("would_promote"),
            pl.lit(None, pl.Utf8).alias("candidate"),
        )
    # The champion asset judges the comparison's first row, so the candidate is rank 1.
    is_candidate = pl.col("rank") == 1
    return (
        history.with_columns(
            is_candidate.alias("is_candidate"),
            (is_candidate & pl.col("promoted").fill_null(False)).alias("promoted"),
            (is_candidate & pl.col("would_promote").fill_null(False)).alias("would_promote"),
        )
        .drop("candidate")
        .select("as_of", pl.exclude("as_of"))
    )


def backtest_summary(spec: TaskSpec, history: pl.DataFrame) -> pl.DataFrame:
    """Per model and variant, over the as-of partitions it was fitted in: mean, spread (standard
    deviation), min and max of the primary metric, and its mean gain over the best baseline
    (best first)."""
    if history.height == 0:
        return pl.DataFrame()
    metric = pl.col(spec.primary_metric)
    summary = (
        history.group_by("model", "variant", "baseline")
        .agg(
            pl.len().alias("partitions"),
            metric.mean().alias("mean"),
            metric.std(ddof=1).fill_null(0.0).alias("spread"),
            metric.min().alias("min"),
            metric.max().alias("max"),
            pl.col("vs_best_baseline").mean().alias("mean_vs_best_baseline"),
            pl.col("vs_best_baseline").std(ddof=1).fill_null(0.0).alias("spread_vs_best_baseline"),
            (pl.col("vs_best_baseline") > 0).sum().alias("partitions_beating_best_baseline"),
            pl.col("is_candidate").sum().alias("times_candidate"),
        )
        # By the gain over each partition's best baseline: it compares across partitions, while a
        # mean metric does not when models were fitted in different partitions (tuned top-k).
        .sort("mean_vs_best_baseline", "mean", descending=[True, spec.greater_is_better])
    )
    return summary.with_columns(pl.lit(spec.primary_metric).alias("metric"))


def summary_lines(spec: TaskSpec, summary: pl.DataFrame) -> list[str]:
    """The backtest as text: ``model (variant): mean ± spread, gain ± spread vs best baseline``
    (the gain's spread is the one to compare it with: the metric's own moves with the week)."""
    lines = []
    for row in summary.iter_rows(named=True):
        gain = row["mean_vs_best_baseline"]
        spread = row["spread_vs_best_baseline"]
        tail = (
            "baseline"
            if row["baseline"]
            else f"{gain:+.1%} ± {spread:.1%} vs best baseline"
            if gain is not None
            else "no baseline"
        )
        lines.append(
            f"{row['model']} ({row['variant']}): {spec.primary_metric} "
            f"{row['mean']:.4f} ± {row['spread']:.4f} over {row['partitions']} partition(s), {tail}"
            + (
                f", better in {row['partitions_beating_best_baseline']}"
                if not row["baseline"]
                else ""
            )
        )
    return lines


def history_plot(spec: TaskSpec, history: pl.DataFrame) -> bytes:
    """The primary metric per as-of partition: one line per default model, baselines dashed,
    each partition's candidate circled, promotions starred."""
    import numpy as np

    plt = plots.pyplot()

    keys = sorted(history.get_column("as_of").unique().to_list())
    x = {k: i for i, k in enumerate(keys)}
    fig, ax = plt.subplots(figsize=(7.5, 4))
    shown = history.filter((pl.col("variant") == "default") | pl.col("baseline"))
    for (model, baseline), rows in shown.group_by("model", "baseline", maintain_order=True):
        rows = rows.sort("as_of")
        ax.plot(
            [x[k] for k in rows["as_of"]],
            rows[spec.primary_metric].to_list(),
            linestyle="--" if baseline else "-",
            marker="." if baseline else "o",
            color="grey" if baseline else None,
            alpha=0.7 if baseline else 1.0,
            label=f"{model} (baseline)" if baseline else str(model),
        )
    candidates = history.filter(pl.col("is_candidate")).sort("as_of")
    ax.scatter(
        [x[k] for k in candidates["as_of"]],
        candidates[spec.primary_metric].to_list(),
        s=160,
        facecolors="none",
        edgecolors="black",
        label="candidate",
        zorder=3,
    )
    promoted = history.filter(pl.col("promoted"))
    if promoted.height:
        ax.scatter(
            [x[k] for k in promoted["as_of"]],
            promoted[spec.primary_metric].to_list(),
            marker="*",
            s=200,
            color="gold",
            edgecolors="black",
            label="promoted",
            zorder=4,
        )
    ax.set_xticks(range(len(keys)), keys, rotation=30, ha="right")
    ax.set_xlabel("as-of partition")
    ax.set_ylabel(f"holdout {spec.primary_metric}")
    values = history[spec.primary_metric].drop_nans().drop_nulls().to_numpy()
    if len(values):
        low, high = float(np.min(values)), float(np.max(values))
        pad = (high - low) * 0.08 or abs(high) * 0.05 or 0.01
        ax.set_ylim(low - pad, high + pad)  # the differences, not the distance from zero
    better = "higher" if spec.greater_is_better else "lower"
    ax.set_title(f"{spec.name}: {spec.primary_metric} per as-of partition ({better} is better)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.grid(alpha=0.3)
    return plots.png(fig)


ACCURACY_METRICS = ("poisson_deviance", "rmse", "capture_5pct")


def accuracy_frame(days: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """The stored daily forecast-accuracy rows, one per day, in date order."""
    if not days:
        return pl.DataFrame()
    return pl.concat([days[k] for k in sorted(days)], how="vertical_relaxed").sort("date")


def accuracy_plot(accuracy: pl.DataFrame) -> bytes:
    """Daily forecast accuracy: Poisson deviance and RMSE (left), capture in the top 5 % of
    forecast cell-hours (right), a marker per day labelled by the model version at a change."""
    plt = plots.pyplot()

    dates = accuracy.get_column("date").to_list()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for metric in ("poisson_deviance", "rmse"):
        left.plot(dates, accuracy[metric].to_list(), marker="o", label=metric)
    left.set_title("forecast error per day (lower is better)")
    left.legend(fontsize=8)
    right.plot(dates, accuracy["capture_5pct"].to_list(), marker="o", color="tab:green")
    right.set_title("share of incidents in the top 5 % forecast cell-hours")
    previous = None
    for date, version, value in accuracy.select("date", "model_version", "capture_5pct").rows():
        if version != previous:
            right.annotate(
                f"v{version}", (date, value), fontsize=7, xytext=(0, 6), textcoords="offset points"
            )
            previous = version
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", rotation=30)
    return plots.png(fig)
