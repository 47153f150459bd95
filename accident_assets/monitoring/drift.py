"""Per-column drift of current feature rows against reference rows, with Evidently.

Pure functions over polars frames; Evidently (and pandas, which it runs on) are imported inside
the functions so that loading the code location does not import them.

The tests are chosen here, not left to Evidently's size-dependent default (which picks K-S /
chi-square up to 1000 reference rows and distances above): numeric columns use the normed
Wasserstein distance, categorical columns the Jensen–Shannon distance, both with Evidently's
threshold 0.1 (drifted when the distance is >= 0.1). They are Evidently's defaults for large
references; one scale (0 = same distribution, larger = more different) serves every column and
the chart, a constant column scores 0 instead of NaN, and a category the reference never had
counts as a difference instead of dividing by zero as chi-square does. A distance does not grow
significant with the row count as a p-value does, but on a small current partition (a few hundred
rows) it carries sampling noise, high-cardinality columns most: on one NYC sample day (~200
cell-hours over ~80 cells) ``cell`` scores 0.33-0.37 against its own training days. So each
column's threshold is also size-aware: the larger of 0.1 and the ``NULL_QUANTILE`` of the distance
that random samples of the reference, of the current partition's size, reach against the
reference itself (``null_draws`` of them, fixed seeds). A column drifts when it is further from
the reference than the reference is from itself at that size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from accident_assets.monitoring.defaults import (
    COLUMN_THRESHOLD,
    DEFAULT_MAX_REFERENCE_ROWS,
    SAMPLE_SEED,
)

NUMERIC_TEST = "wasserstein"
CATEGORICAL_TEST = "jensenshannon"
# Evidently's names of its tests, as shown in the table.
TEST_NAMES = {
    NUMERIC_TEST: "Wasserstein distance (normed)",
    CATEGORICAL_TEST: "Jensen-Shannon distance",
}
NULL_DRAWS = 20
NULL_QUANTILE = 0.95

TABLE_SCHEMA = {
    "column": pl.Utf8,
    "kind": pl.Utf8,
    "test": pl.Utf8,
    "score": pl.Float64,
    "threshold": pl.Float64,
    "drifted": pl.Boolean,
}


@dataclass(frozen=True)
class DriftReport:
    """Per-column drift of one comparison."""

    table: pl.DataFrame  # TABLE_SCHEMA, one row per column compared
    drifted_columns: tuple[str, ...]
    share_drifted: float
    plot: bytes  # PNG
    reference_rows: int  # rows compared (after sampling)
    reference_rows_total: int  # rows before sampling
    current_rows: int
    sample_seed: int

    def exceeds(self, share_threshold: float) -> bool:
        """True when the share of drifted columns is above ``share_threshold``."""
        return self.share_drifted > share_threshold


def empty_table() -> pl.DataFrame:
    return pl.DataFrame(schema=TABLE_SCHEMA)


def sample_rows(frame: pl.DataFrame, max_rows: int, seed: int = SAMPLE_SEED) -> pl.DataFrame:
    """At most ``max_rows`` rows drawn without replacement with a fixed seed (all when fewer)."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    if frame.height <= max_rows:
        return frame
    return frame.sample(n=max_rows, with_replacement=False, shuffle=False, seed=seed)


def column_drift(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    *,
    threshold: float = COLUMN_THRESHOLD,
) -> pl.DataFrame:
    """One Evidently ``ValueDrift`` per column; the table of TABLE_SCHEMA (categorical first)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    numeric, categorical = list(numeric), list(categorical)
    columns = [*categorical, *numeric]
    if not columns:
        raise ValueError("no columns to compare")
    for name, frame in (("reference", reference), ("current", current)):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} rows lack column(s) {missing}")
        if frame.height == 0:
            raise ValueError(f"no {name} rows to compare")
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    method = {c: CATEGORICAL_TEST for c in categorical} | {c: NUMERIC_TEST for c in numeric}
    report = Report(
        [ValueDrift(column=c, method=method[c], threshold=threshold) for c in columns],
        include_tests=True,
    )
    snapshot = report.run(
        Dataset.from_pandas(current.select(columns).to_pandas(), data_definition=definition),
        Dataset.from_pandas(reference.select(columns).to_pandas(), data_definition=definition),
    )
    rows = []
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        score = float(metric["value"])
        rows.append(
            {
                "column": config["column"],
                "kind": "categorical" if config["column"] in categorical else "numeric",
                "test": TEST_NAMES.get(str(config["method"]), str(config["method"])),
                "score": score,
                "threshold": float(config["threshold"]),
                # Evidently's rule for its distance tests: drifted when distance >= threshold.
                "drifted": bool(not math.isnan(score) and score >= float(config["threshold"])),
            }
        )
    return pl.DataFrame(rows, schema=TABLE_SCHEMA)


def drift_plot(table: pl.DataFrame, title: str = "Feature drift") -> bytes:
    """Horizontal bars of each column's distance, the threshold as a dashed line, drifted in red."""
    from accident_assets.training.plots import png, pyplot

    plt = pyplot()

    ordered = table.sort("score", descending=False, nulls_last=False)
    names = ordered.get_column("column").to_list()
    scores = ordered.get_column("score").fill_nan(0.0).fill_null(0.0).to_list()
    drifted = ordered.get_column("drifted").to_list()
    threshold = float(table.get_column("threshold").max() or COLUMN_THRESHOLD)
    fig, ax = plt.subplots(figsize=(6.5, 0.22 * len(names) + 1.4))
    ax.barh(
        names,
        scores,
        color=["#cc3311" if d else "#4477aa" for d in drifted],
    )
    ax.axvline(
        threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}"
    )
    ax.set_xlim(0, max([threshold * 1.5, *scores]) * 1.05)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_xlabel("distance, reference vs current (Wasserstein normed / Jensen–Shannon)")
    ax.tick_params(axis="y", labelsize=7)
    n_drifted = sum(drifted)
    ax.set_title(f"{title}: {n_drifted} of {len(names)} column(s) drifted (red)", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return png(fig)


def null_distances(
    reference: pl.DataFrame,
    rows: int,
    numeric: Sequence[str],
    categorical: Sequence[str],
    draws: int,
    seed: int = SAMPLE_SEED,
) -> list[float] | None:
    """Per column (in ``column_drift``'s order), the ``NULL_QUANTILE`` of the distance between
    ``draws`` random ``rows``-row samples of the reference and the reference: the noise a
    partition of that size shows with no drift at all. None when there is nothing to sample."""
    if draws < 1 or rows < 1 or rows >= reference.height:
        return None
    import numpy as np

    scores = [
        column_drift(reference, sample_rows(reference, rows, seed + 1 + i), numeric, categorical)[
            "score"
        ].to_numpy()
        for i in range(draws)
    ]
    return np.quantile(np.vstack(scores), NULL_QUANTILE, axis=0).tolist()


def compute_drift(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    *,
    max_reference_rows: int = DEFAULT_MAX_REFERENCE_ROWS,
    seed: int = SAMPLE_SEED,
    threshold: float = COLUMN_THRESHOLD,
    null_draws: int = NULL_DRAWS,
    title: str = "Feature drift",
) -> DriftReport:
    """Sample the reference to ``max_reference_rows`` (fixed ``seed``), compare every column at
    its size-aware threshold (see the module docstring; ``null_draws=0`` keeps 0.1)."""
    sampled = sample_rows(reference, max_reference_rows, seed)
    table = column_drift(sampled, current, numeric, categorical, threshold=threshold)
    null = null_distances(sampled, current.height, numeric, categorical, null_draws, seed)
    if null is not None:
        limit = pl.max_horizontal(pl.lit(threshold), pl.Series(null))
        table = table.with_columns(limit.alias("threshold")).with_columns(
            (pl.col("score").is_not_nan() & (pl.col("score") >= pl.col("threshold"))).alias(
                "drifted"
            )
        )
    drifted = tuple(table.filter(pl.col("drifted")).get_column("column").to_list())
    return DriftReport(
        table=table,
        drifted_columns=drifted,
        share_drifted=len(drifted) / table.height,
        plot=drift_plot(table, title),
        reference_rows=sampled.height,
        reference_rows_total=reference.height,
        current_rows=current.height,
        sample_seed=seed,
    )
