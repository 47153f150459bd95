"""Candidates side by side: ranking, the best baseline, and each model's gain over it; the
leaderboard and the comparison chart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg
import polars as pl

from accident_assets.training import plots
from accident_assets.training.fitting import FitResult
from accident_assets.training.tasks import TaskSpec


def is_baseline(spec: TaskSpec, model: str) -> bool:
    return bool(getattr(spec.candidates[model], "baseline", False))


def fit_rows(spec: TaskSpec, fits: list[FitResult]) -> pl.DataFrame:
    """Candidates ranked by the primary metric (best first), baselines included and marked, with
    ``vs_best_baseline``: the relative improvement over the best baseline on the same holdout
    (positive is better, whatever the metric's direction)."""
    rows = [
        {
            "model": f.model,
            "variant": f.variant,
            "baseline": is_baseline(spec, f.model),
            **{m: f.metrics.get(m, float("nan")) for m in spec.metrics},
            "fit_time_s": f.fit_time_s,
            "tuning_time_s": f.tuning_time_s,
            "trials": f.trials,
            "mlflow_run_id": f.run_id,
            "model_uri": f.model_uri,
        }
        for f in fits
    ]
    frame = pl.DataFrame(rows, schema_overrides={"tuning_time_s": pl.Float64, "trials": pl.Int64})
    # polars orders NaN above every number: as a null it ranks last whatever the direction.
    metric = pl.col(spec.primary_metric)
    frame = frame.with_columns(metric.fill_nan(None)).sort(
        spec.primary_metric, descending=spec.greater_is_better, nulls_last=True
    )
    frame = frame.with_row_index("rank", offset=1)
    best = best_baseline(spec, frame)
    if best is None:
        gain = pl.lit(None, pl.Float64)
    else:
        score = best[1]
        gain = (metric - score if spec.greater_is_better else score - metric) / max(
            abs(score), 1e-12
        )
    return frame.with_columns(gain.alias("vs_best_baseline"))


def best_baseline(spec: TaskSpec, frame: pl.DataFrame) -> tuple[str, float] | None:
    """(name, score) of the best baseline in a ranked frame, or None when it has none."""
    baselines = frame.filter(pl.col("baseline") & pl.col(spec.primary_metric).is_not_null())
    if baselines.height == 0:
        return None
    row = baselines.row(0, named=True)  # the frame is ranked best first
    return str(row["model"]), float(row[spec.primary_metric])


def best_model(spec: TaskSpec, frame: pl.DataFrame) -> dict[str, Any] | None:
    """The best row that is not a baseline."""
    models = frame.filter(~pl.col("baseline"))
    return models.row(0, named=True) if models.height else None


def beats(spec: TaskSpec, score: float, other: float) -> bool:
    return score > other if spec.greater_is_better else score < other


def verdict(spec: TaskSpec, frame: pl.DataFrame) -> str:
    """One plain sentence: does the best model beat the best baseline on this holdout?"""
    base, model = best_baseline(spec, frame), best_model(spec, frame)
    metric = spec.primary_metric
    if base is None or model is None:
        return "no baseline to compare with" if base is None else "only baselines were fitted"
    score = float(model[metric])
    if beats(spec, score, base[1]):
        return (
            f"{model['model']} ({model['variant']}) beats the best baseline {base[0]}: "
            f"{metric} {score:.4f} vs {base[1]:.4f} ({float(model['vs_best_baseline']):+.1%})"
        )
    return (
        f"NO model beats the best baseline {base[0]} ({metric} {base[1]:.4f}; best model "
        f"{model['model']} {score:.4f}): the baseline is the candidate"
    )


def table_metadata(frame: pl.DataFrame) -> dg.MetadataValue:
    import numpy as np

    shown = frame.drop([c for c in ("model_uri",) if c in frame.columns])
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype)) for name, dtype in shown.schema.items()]
    )

    def value(v: Any) -> Any:
        if isinstance(v, float):
            return None if np.isnan(v) else round(v, 5)
        if isinstance(v, bool | int | str) or v is None:
            return v
        return str(v)

    records = [
        dg.TableRecord({k: value(v) for k, v in row.items()}) for row in shown.iter_rows(named=True)
    ]
    return dg.MetadataValue.table(records, schema=schema)


def chart_focus(spec: TaskSpec, frame: pl.DataFrame) -> list[float]:
    """The scores a comparison chart zooms to: every model's and the best baseline's. A weaker
    baseline (e.g. predicting zero incidents) would otherwise squeeze the models together."""
    base = best_baseline(spec, frame)
    models = frame.filter(~pl.col("baseline"))[spec.primary_metric].to_list()
    return [*models, *([base[1]] if base else [])] or frame[spec.primary_metric].to_list()


def leaderboard_frame(spec: TaskSpec, fits: Sequence[FitResult]) -> pl.DataFrame:
    """:func:`fit_rows` of the default fits, with whether each model may be tuned."""
    frame = fit_rows(spec, list(fits))
    return frame.with_columns(
        pl.col("model").is_in([m for m, k in spec.candidates.items() if k.tunable]).alias("tunable")
    )


def leaderboard_metadata(spec: TaskSpec, frame: pl.DataFrame) -> dict[str, Any]:
    top = frame.row(0, named=True)
    return {
        "leaderboard": table_metadata(frame),
        "best_model": top["model"],
        f"best_{spec.primary_metric}": top[spec.primary_metric],
        "versus_best_baseline": verdict(spec, frame),
        "plot_leaderboard": plots.as_markdown(
            "leaderboard",
            plots.comparison_bars(
                frame["model"].to_list(),
                frame[spec.primary_metric].to_list(),
                spec.primary_metric,
                focus=chart_focus(spec, frame),
                greater_is_better=spec.greater_is_better,
            ),
        ),
    }


def comparison_chart(spec: TaskSpec, frame: pl.DataFrame) -> bytes:
    """The candidates' primary metric, labelled ``model (variant)``, best first."""
    return plots.comparison_bars(
        [f"{m} ({v})" for m, v in frame.select("model", "variant").rows()],
        frame[spec.primary_metric].to_list(),
        spec.primary_metric,
        focus=chart_focus(spec, frame),
        greater_is_better=spec.greater_is_better,
    )


def model_at_rank(spec: TaskSpec, leaderboard: pl.DataFrame, rank: int, as_of: str) -> str:
    """The tunable model ranked ``rank`` (1-based) on a leaderboard (baselines are not tuned)."""
    tunable = leaderboard.filter(pl.col("tunable"))
    if tunable.height < rank:
        raise ValueError(
            f"{spec.name} as-of {as_of}: the leaderboard has {tunable.height} tunable "
            f"models, no rank {rank}"
        )
    return tunable.row(rank - 1, named=True)["model"]
