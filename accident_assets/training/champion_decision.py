"""The champion decision of one as-of partition (:mod:`accident_assets.training.assets.champion`
runs it): the best candidate scored against the current champion on the same holdout, the
registry moved for the newest partition only, and what the decision shows in the Dagster UI.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import polars as pl

from accident_assets.training import champion as rules
from accident_assets.training import models
from accident_assets.training.assets.metadata import mlflow_plot_metadata, run_link
from accident_assets.training.comparison import beats, best_baseline, best_model, verdict
from accident_assets.training.tasks import TaskSpec, TrainingSet
from accident_assets.training.tracking import MlflowTracking, model_version_url

if TYPE_CHECKING:
    import numpy as np

    from accident_assets.training.assets.champion import ChampionConfig


DECISION_SCHEMA = {
    "as_of": pl.Utf8,
    "newest": pl.Boolean,
    "backtest": pl.Boolean,
    "promoted": pl.Boolean,
    "would_promote": pl.Boolean,
    "decision": pl.Utf8,
    "reason": pl.Utf8,
    "candidate": pl.Utf8,
    "candidate_model": pl.Utf8,
    "candidate_is_baseline": pl.Boolean,
    "candidate_run_id": pl.Utf8,
    "candidate_score": pl.Float64,
    "champion_score": pl.Float64,
    "champion_version": pl.Utf8,
    "previous_champion_version": pl.Utf8,
    "metric": pl.Utf8,
    "best_baseline": pl.Utf8,
    "best_baseline_score": pl.Float64,
    "best_model": pl.Utf8,
    "best_model_score": pl.Float64,
    "best_model_beats_best_baseline": pl.Boolean,
}


def decide_champion(
    spec: TaskSpec,
    config: ChampionConfig,
    comparison: pl.DataFrame,
    ts: TrainingSet,
    tracking: MlflowTracking,
    run_id: str,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The best candidate of one as-of partition against the champion on the same holdout.

    Only the newest as-of partition may move the alias. An older one is a backtest: it records
    whether its candidate would have been crowned (above the floor; today's champion, which may
    have been trained on that holdout, is not scored) and leaves the registry alone.
    """
    from accident_assets.training import champion_model  # MLflow and the serving pyfunc

    client = tracking.client()
    best = comparison.row(0, named=True)
    X, y = spec.xy(ts.holdout)
    candidate = load_pipeline(best["model_uri"])
    candidate_score = score_pipeline(spec, candidate, X, y)
    floor = spec.floor if config.floor < 0 else config.floor
    current = rules.current_champion(client, spec.name)
    current_score, current_error = None, None
    if ts.newest and current is not None:
        try:
            current_score = score_model(spec, f"models:/{spec.name}@{rules.CHAMPION}", X, y)
        except Exception as err:  # whatever the cause, an unscored champion is not beaten
            current_error = f"v{current.version}: {type(err).__name__}: {err}"
            log(f"{spec.name}: champion cannot score this holdout: {err}")
    decision = rules.decide(
        candidate_score,
        current_score if ts.newest else None,
        greater_is_better=spec.greater_is_better,
        margin=config.margin,
        floor=floor,
        champion_error=current_error,
        replace_unscorable=config.replace_unscorable_champion,
    )
    version, previous = None, None
    promoted = ts.newest and decision.promote
    if promoted:
        tags = {
            **ts.lineage_tags(),
            "model": best["model"],
            "variant": best["variant"],
            "baseline": str(best["baseline"]).lower(),
            spec.primary_metric: str(candidate_score),
            "dagster_run_id": run_id,
            **spec.feature_tags(ts.train),
        }
        # The registry gets the pyfunc that takes raw records, logged in the winning run.
        served_uri = champion_model.log_in_run(
            best["mlflow_run_id"],
            spec.name,
            candidate,
            threshold=champion_model.threshold_of(client, best["mlflow_run_id"]),
            h3_resolution=champion_model.h3_resolution_of(tags),
        )
        version, previous = rules.promote(
            client, spec.name, served_uri, best["mlflow_run_id"], tags
        )
    if ts.newest:
        reason = decision.reason
        label = "promoted" if promoted else "kept current champion" if current else "no champion"
    else:
        outcome = (
            "would be crowned (it clears the floor; the champion of the time is not known)"
            if decision.promote
            else f"would NOT be crowned: {decision.reason}"
        )
        reason = (
            f"backtest: as-of {ts.as_of} is not the newest as-of partition, so the registry is "
            f"not touched; its candidate {best['model']} ({best['variant']}) {outcome}"
        )
        label = "backtest"
    base = best_baseline(spec, comparison)
    model = best_model(spec, comparison)
    log(f"{spec.name} as-of {ts.as_of}: {label} — {reason}")
    return {
        "as_of": ts.as_of,
        "newest": ts.newest,
        "backtest": not ts.newest,
        "promoted": promoted,
        "would_promote": decision.promote,
        "decision": label,
        "reason": reason,
        "candidate": f"{best['model']} ({best['variant']})",
        "candidate_model": best["model"],
        "candidate_is_baseline": bool(best["baseline"]),
        "candidate_run_id": best["mlflow_run_id"],
        "candidate_score": candidate_score,
        "champion_score": current_score,
        "champion_version": version
        if promoted
        else (str(current.version) if current is not None else None),
        "previous_champion_version": previous,
        "metric": spec.primary_metric,
        "best_baseline": base[0] if base else None,
        "best_baseline_score": base[1] if base else None,
        "best_model": f"{model['model']} ({model['variant']})" if model else None,
        "best_model_score": float(model[spec.primary_metric]) if model else None,
        "best_model_beats_best_baseline": beats(spec, float(model[spec.primary_metric]), base[1])
        if model and base
        else None,
    }


def load_pipeline(model_uri: str) -> Any:
    """The sklearn pipeline of a fit's ``model`` or of a registered version (the serving pyfunc
    around it, or the bare pipeline for versions promoted before the pyfunc existed)."""
    from accident_assets.serving.pyfunc import load as load_logged

    return load_logged(model_uri)[0]


def score_pipeline(spec: TaskSpec, pipeline: Any, X: Any, y: np.ndarray) -> float:
    predicted = spec.predict(pipeline, X)
    return spec.score(y, predicted, threshold=models.decision_threshold(pipeline))[
        spec.primary_metric
    ]


def score_model(spec: TaskSpec, model_uri: str, X: Any, y: np.ndarray) -> float:
    """The primary metric of a logged or registered model on (X, y)."""
    return score_pipeline(spec, load_pipeline(model_uri), X, y)


def key_plots(spec: TaskSpec) -> tuple[str, ...]:
    """The fit plots the champion shows: how its predictions meet the holdout, and what it
    looks at."""
    first = "confusion_matrix" if spec.kind == "classification" else "predicted_vs_actual"
    return (first, "feature_importance")


def logged_plots(client: Any, run_id: str, names: tuple[str, ...]) -> dict[str, bytes]:
    """The PNGs ``plots/<name>.png`` a fit logged in ``run_id`` (those it has)."""
    logged = {Path(f.path).name for f in client.list_artifacts(run_id, "plots")}
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            if f"{name}.png" in logged:
                path = client.download_artifacts(run_id, f"plots/{name}.png", tmp)
                out[name] = Path(path).read_bytes()
    return out


def winner_metadata(
    spec: TaskSpec, result: Mapping[str, Any], run: Any, plots: Mapping[str, bytes]
) -> dict[str, Any]:
    """Links to the winning fit (MLflow run, Dagster asset), the registered version, and the
    winning fit's plots; ``run`` is the winning fit's MLflow run."""
    experiment_id = run.info.experiment_id
    out: dict[str, Any] = {"mlflow_run": run_link(experiment_id, run.info.run_id)}
    asset = run.data.tags.get("dagster_asset_key")
    if asset:
        out["winning_fit"] = dg.MetadataValue.asset(dg.AssetKey.from_user_string(asset))
    # The champion after the decision: the version just registered, or the one kept.
    version = result["champion_version"]
    if version is not None:
        out["champion_model_version"] = dg.MetadataValue.url(model_version_url(spec.name, version))
    return {**out, **mlflow_plot_metadata(plots, run.info.run_id, experiment_id)}


def champion_metadata(
    spec: TaskSpec, result: Mapping[str, Any], comparison: pl.DataFrame, ts: TrainingSet
) -> dict[str, Any]:
    """The decision, the scores and what the candidate was trained on."""
    return {
        "decision": result["decision"],
        "reason": result["reason"],
        "candidate": result["candidate"],
        f"candidate_{spec.primary_metric}": result["candidate_score"],
        f"champion_{spec.primary_metric}": result["champion_score"]
        if result["champion_score"] is not None
        else float("nan"),
        "champion_version": str(result["champion_version"]),
        "previous_champion_version": str(result["previous_champion_version"]),
        "versus_best_baseline": verdict(spec, comparison),
        "trained_on_partitions": len(ts.partitions),
        "feature_fingerprint": ts.fingerprint,
    }


def decision_frame(result: Mapping[str, Any]) -> pl.DataFrame:
    """The decision of :func:`decide_champion` as the one-row frame the asset stores."""
    return pl.DataFrame([dict(result)], schema=DECISION_SCHEMA)
