"""One asset factory for both tasks: training_set -> model_fits/<model> -> leaderboard ->
tuned_fits/top1..3 -> model_comparison -> champion -> performance_history, plus the task's job and
retraining sensor.

Every asset but the history is partitioned by the task's as-of partitions
(:mod:`accident_assets.training.as_of`): one partition is one retrain, judged on its own holdout and
kept beside the others. They share a single-run backfill policy, so one run covers one partition
(the retrain a sensor asks for) or a range of them (a rolling-origin backtest, one command); each
step loops over the run's partitions and records metadata per partition.

One asset per model (not one partitioned asset per stage) because a Dagster asset job cannot span
two partitions definitions, and ``<task>_training_job`` must run the whole lane in one run.
"""

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import dagster as dg
import mlflow
import numpy as np
import polars as pl

from accident_assets.checks import markdown_table
from accident_assets.resources import AssetStorage
from accident_assets.serving.pyfunc import load as load_logged
from accident_assets.training import champion as rules
from accident_assets.training import champion_model, history, models, plots
from accident_assets.training.comparison import (
    beats,
    best_baseline,
    best_model,
    fit_rows,
    table_metadata,
    verdict,
)
from accident_assets.training.fitting import FitResult, fit_default, plot_metadata, tune
from accident_assets.training.models import ParamRange
from accident_assets.training.sensors import build_retrain_sensor
from accident_assets.training.tasks import SplitConfig, TaskSpec, TrainingSet, build_training_set
from accident_assets.training.tracking import MlflowTracking, log_frame, log_png

T = TypeVar("T")
SINGLE_RUN = dg.BackfillPolicy.single_run()
# What a lane asset receives and returns: one partition's value, or {as_of: value} in a run over a
# range of partitions. Untyped for Dagster, whose type check would refuse the dict.
PerAsOf = Any


class TuneConfig(dg.Config):
    """Optuna on the model at this rank. ``search_space`` replaces the model's default space
    (dimensions the model does not have are ignored with a warning)."""

    n_trials: int = 4
    # Wall-clock budget per study, the running trial included (see fitting.tune).
    timeout_s: float = 90.0
    inner_validation_fraction: float = 0.2
    search_space: dict[str, ParamRange] = {}  # noqa: RUF012 (pydantic copies defaults)


class ChampionConfig(dg.Config):
    margin: float = 0.001
    # Negative means the task's default floor (none for both; set one to require a minimum score).
    floor: float = -1.0
    # A champion that cannot score the new holdout (e.g. trained on other feature columns) is
    # kept unless this is set, after a human has decided the old model may go.
    replace_unscorable_champion: bool = False


def by_partition(context: dg.AssetExecutionContext, value: Any) -> dict[str, Any]:
    """An input as ``{as_of: value}``: one partition's value, or the dict of a range run."""
    keys = list(context.partition_keys)
    return {keys[0]: value} if len(keys) == 1 else dict(value)


def output(context: dg.AssetExecutionContext, results: Mapping[str, T]) -> T | dict[str, T]:
    """What the IO manager expects back: the value of a one-partition run, else the dict."""
    keys = list(context.partition_keys)
    return results[keys[0]] if len(keys) == 1 else dict(results)


def each_as_of(
    context: dg.AssetExecutionContext,
    spec: TaskSpec,
    step: Callable[[str], tuple[T, Mapping[str, Any]]],
) -> T | dict[str, T]:
    """Run ``step`` for every as-of partition of the run, in order, with its metadata recorded on
    that partition's materialization (not on all of them)."""
    keys = sorted(context.partition_keys)
    results: dict[str, T] = {}
    for i, key in enumerate(keys, start=1):
        if len(keys) > 1:
            context.log.info(f"{spec.name} as-of {key} ({i}/{len(keys)})")
        results[key], metadata = step(key)
        context.add_asset_metadata(dict(metadata), partition_key=key)
    return output(context, results)


def _dagster_tags(context: dg.AssetExecutionContext, as_of: str) -> dict[str, str]:
    return {
        "dagster_run_id": context.run_id,
        "dagster_asset_key": context.asset_key.to_user_string(),
        "dagster_job": context.job_name or "",
        "dagster_partition": as_of,
        "as_of": as_of,
    }


def _fit_metadata(spec: TaskSpec, fit: FitResult) -> dict[str, Any]:
    return {
        spec.primary_metric: fit.metrics[spec.primary_metric],
        "metrics": dg.MetadataValue.json(fit.metrics),
        "params": dg.MetadataValue.json({k: str(v) for k, v in fit.params.items()}),
        "fit_time_s": round(fit.fit_time_s, 3),
        "mlflow_run_id": fit.run_id,
        "model_uri": fit.model_uri,
        **plot_metadata(fit.plots),
        **(
            {"calibration": dg.MetadataValue.md(markdown_table(calibration_frame(fit)))}
            if fit.calibration
            else {}
        ),
    }


def calibration_frame(fit: FitResult) -> pl.DataFrame:
    """The holdout calibration by decile of the prediction, rounded for reading."""
    return pl.DataFrame(fit.calibration).with_columns(
        pl.col("bin", "rows").cast(pl.Int64), pl.col("mean_predicted", "mean_observed").round(4)
    )


def training_set_metadata(
    spec: TaskSpec, ts: TrainingSet, frames: Mapping[str, pl.DataFrame]
) -> dict[str, Any]:
    return {
        "as_of": ts.as_of,
        "newest_as_of": ts.newest,
        "partitions": dg.MetadataValue.json(list(ts.partitions)),
        "train_partitions": dg.MetadataValue.json(list(ts.train_partitions)),
        "holdout_partitions": dg.MetadataValue.json(list(ts.holdout_partitions)),
        "left_out_partitions": dg.MetadataValue.json(list(ts.left_out)),
        "partition_count": len(ts.partitions),
        "rows_per_partition": dg.MetadataValue.json({k: f.height for k, f in frames.items()}),
        "train_rows": ts.train.height,
        "holdout_rows": ts.holdout.height,
        "split": ts.split,
        "feature_fingerprint": ts.fingerprint,
        "target_mean_train": float(ts.train.get_column(spec.target).mean()),  # type: ignore[arg-type]
        "target_mean_holdout": float(ts.holdout.get_column(spec.target).mean()),  # type: ignore[arg-type]
        "features": dg.MetadataValue.json(spec.feature_columns),
    }


def _lane(spec: TaskSpec, **extra: Any) -> dict[str, Any]:
    """What every partitioned asset of a lane shares."""
    return {
        "group_name": spec.group,
        "partitions_def": spec.as_of,
        "backfill_policy": SINGLE_RUN,
        **extra,
    }


def _fit_ins(spec: TaskSpec) -> dict[str, dg.AssetIn]:
    return {f"fit_{m}": dg.AssetIn(spec.key("model_fits", m)) for m in spec.candidates}


def _tuned_ins(spec: TaskSpec) -> dict[str, dg.AssetIn]:
    return {
        f"tuned_top{k}": dg.AssetIn(spec.key("tuned_fits", f"top{k}"))
        for k in range(1, spec.top_k + 1)
    }


def build_training_set_asset(spec: TaskSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.key("training_set"),
        kinds={"polars"},
        deps=[dg.AssetDep(spec.feature_asset, partition_mapping=spec.feature_mapping)],
        description=(
            f"The {spec.feature_asset.to_user_string()} partitions this as-of partition may read, "
            "assembled and split into training rows (before it) and holdout rows (it); the "
            "partitions used, rows and a fingerprint in metadata."
        ),
        **_lane(spec),
    )
    def training_set(
        context: dg.AssetExecutionContext, config: SplitConfig, asset_storage: AssetStorage
    ) -> PerAsOf:
        stored = asset_storage.partitions(spec.feature_asset)

        def step(as_of: str) -> tuple[TrainingSet, dict[str, Any]]:
            ts, frames = build_training_set(
                spec,
                as_of,
                stored,
                lambda keys: asset_storage.read(spec.feature_asset, keys),
                config,
                quality=(lambda keys: spec.quality(asset_storage, keys)) if spec.quality else None,
            )
            context.log.info(
                f"{spec.name} as-of {as_of}: {ts.split}; train {ts.train.height} rows, "
                f"holdout {ts.holdout.height}{'' if ts.newest else ' (backtest)'}"
                + (f"; left out {', '.join(ts.left_out)}" if ts.left_out else "")
            )
            return ts, training_set_metadata(spec, ts, frames)

        return each_as_of(context, spec, step)

    return training_set


def build_fit_asset(spec: TaskSpec, model: str) -> dg.AssetsDefinition:
    kind = spec.candidates[model]

    def _fit(
        context: dg.AssetExecutionContext,
        config,
        training_set: PerAsOf,
        mlflow: MlflowTracking,
    ):
        sets = by_partition(context, training_set)

        def step(as_of: str) -> tuple[FitResult, dict[str, Any]]:
            fit = fit_default(
                spec,
                model,
                config.model_dump(),
                sets[as_of],
                mlflow,
                _dagster_tags(context, as_of),
                context.log.info,
            )
            return fit, _fit_metadata(spec, fit)

        return each_as_of(context, spec, step)

    # Dagster reads the config schema from the annotation; each model has its own Config.
    _fit.__annotations__["config"] = kind.params
    what = "baseline" if getattr(kind, "baseline", False) else "default parameters"
    return dg.asset(
        name=model,
        key_prefix=[spec.name, "model_fits"],
        ins={"training_set": dg.AssetIn(spec.key("training_set"))},
        description=f"{model} ({what}), fitted on training_set and scored on its holdout.",
        kinds={"mlflow", "sklearn"},
        **_lane(spec),
    )(_fit)


def build_leaderboard_asset(spec: TaskSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.key("leaderboard"),
        ins=_fit_ins(spec),
        io_manager_key="parquet_io_manager",
        kinds={"polars"},
        description=(
            f"Default fits and baselines ranked by {spec.primary_metric} on the holdout (best "
            "first), with each model's gain over the best baseline."
        ),
        **_lane(spec),
    )
    def leaderboard(context: dg.AssetExecutionContext, **fits_in: PerAsOf) -> PerAsOf:
        fits = {name: by_partition(context, value) for name, value in fits_in.items()}

        def step(as_of: str) -> tuple[pl.DataFrame, dict[str, Any]]:
            frame = fit_rows(spec, [f[as_of] for f in fits.values()])
            frame = frame.with_columns(
                pl.col("model")
                .is_in([m for m, k in spec.candidates.items() if k.tunable])
                .alias("tunable")
            )
            top = frame.row(0, named=True)
            context.log.info(
                f"{spec.name} as-of {as_of} leaderboard: "
                f"{frame.select('rank', 'model', spec.primary_metric).rows()}"
            )
            return frame, {
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
                    ),
                ),
            }

        return each_as_of(context, spec, step)

    return leaderboard


def build_tuned_asset(spec: TaskSpec, rank: int) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"top{rank}",
        key_prefix=[spec.name, "tuned_fits"],
        ins={
            "training_set": dg.AssetIn(spec.key("training_set")),
            "leaderboard": dg.AssetIn(spec.key("leaderboard")),
            **_fit_ins(spec),
        },
        description=(
            f"Optuna (TPE) on the tunable model ranked {rank} on the leaderboard (baselines are "
            "not tuned); best parameters refitted and scored on the holdout."
        ),
        kinds={"mlflow", "sklearn", "optuna"},
        **_lane(spec),
    )
    def _tuned(
        context: dg.AssetExecutionContext,
        config: TuneConfig,
        training_set: PerAsOf,
        leaderboard: PerAsOf,
        mlflow: MlflowTracking,
        **fits_in: PerAsOf,
    ) -> PerAsOf:
        sets = by_partition(context, training_set)
        boards = by_partition(context, leaderboard)
        fits = {name: by_partition(context, value) for name, value in fits_in.items()}

        def step(as_of: str) -> tuple[FitResult, dict[str, Any]]:
            tunable = boards[as_of].filter(pl.col("tunable"))
            if tunable.height < rank:
                raise ValueError(
                    f"{spec.name} as-of {as_of}: the leaderboard has {tunable.height} tunable "
                    f"models, no rank {rank}"
                )
            model = tunable.row(rank - 1, named=True)["model"]
            kind = spec.candidates[model]
            space = dict(kind.search_space)
            if config.search_space:
                unknown = [k for k in config.search_space if k not in kind.params.model_fields]
                if unknown:
                    context.log.warning(
                        f"{spec.name}: {model} has no parameter(s) {unknown}; ignored"
                    )
                space = {
                    k: v for k, v in config.search_space.items() if k in kind.params.model_fields
                }
            default = fits[f"fit_{model}"][as_of]
            context.log.info(
                f"{spec.name} as-of {as_of}: tuning {model} (rank {rank}) with "
                f"{config.n_trials} trials"
            )
            fit = tune(
                spec,
                model,
                default.params,
                space,
                sets[as_of],
                mlflow,
                _dagster_tags(context, as_of),
                rank=rank,
                n_trials=config.n_trials,
                timeout_s=config.timeout_s,
                inner_fraction=config.inner_validation_fraction,
                log=context.log.info,
            )
            return fit, {
                "model": model,
                "trials": fit.trials or 0,
                "tuning_time_s": round(fit.tuning_time_s or 0.0, 3),
                "default_" + spec.primary_metric: default.metrics[spec.primary_metric],
                **_fit_metadata(spec, fit),
            }

        return each_as_of(context, spec, step)

    return _tuned


def build_comparison_asset(spec: TaskSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.key("model_comparison"),
        ins={**_fit_ins(spec), **_tuned_ins(spec)},
        io_manager_key="parquet_io_manager",
        description=(
            "Every candidate (default, tuned and baselines) with every holdout metric, fit time "
            "and gain over the best baseline; also a CSV/Parquet artifact of an MLflow run."
        ),
        kinds={"polars", "mlflow"},
        **_lane(spec),
    )
    def model_comparison(
        context: dg.AssetExecutionContext, mlflow: MlflowTracking, **candidates: PerAsOf
    ) -> PerAsOf:
        fits = {name: by_partition(context, value) for name, value in candidates.items()}

        def step(as_of: str) -> tuple[pl.DataFrame, dict[str, Any]]:
            frame = fit_rows(spec, [f[as_of] for f in fits.values()])
            tags = {
                "task": spec.name,
                "kind": "model_comparison",
                **_dagster_tags(context, as_of),
            }
            with mlflow.start_run(spec.name, f"model_comparison {as_of}", tags) as run:
                log_frame(frame.to_pandas(), "model_comparison")
                bars = plots.comparison_bars(
                    [f"{m} ({v})" for m, v in frame.select("model", "variant").rows()],
                    frame[spec.primary_metric].to_list(),
                    spec.primary_metric,
                )
                log_png(bars, "plots/comparison.png")
                best = frame.row(0, named=True)
                _mlflow_log_metric(f"best_{spec.primary_metric}", best[spec.primary_metric])
            context.log.info(f"{spec.name} as-of {as_of}: {verdict(spec, frame)}")
            return frame, {
                "comparison": table_metadata(frame),
                "best": f"{best['model']} ({best['variant']})",
                f"best_{spec.primary_metric}": best[spec.primary_metric],
                "versus_best_baseline": verdict(spec, frame),
                "mlflow_run_id": run.info.run_id,
                "plot_comparison": plots.as_markdown("comparison", bars),
            }

        return each_as_of(context, spec, step)

    return model_comparison


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


def build_champion_asset(spec: TaskSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.key("champion"),
        ins={
            "model_comparison": dg.AssetIn(spec.key("model_comparison")),
            "training_set": dg.AssetIn(spec.key("training_set")),
        },
        io_manager_key="parquet_io_manager",
        description=(
            f"The best candidate (a baseline when no model beats it) against the current champion "
            f"on the same holdout; promoted (registered model {spec.name}, alias champion) only "
            "for the newest as-of partition and only if better by the margin. Older partitions "
            "are backtests and never touch the registry."
        ),
        kinds={"mlflow", "sklearn"},
        **_lane(spec),
    )
    def champion(
        context: dg.AssetExecutionContext,
        config: ChampionConfig,
        model_comparison: PerAsOf,
        training_set: PerAsOf,
        mlflow: MlflowTracking,
    ) -> PerAsOf:
        comparisons = by_partition(context, model_comparison)
        sets = by_partition(context, training_set)

        def step(as_of: str) -> tuple[pl.DataFrame, dict[str, Any]]:
            result = decide_champion(
                spec,
                config,
                comparisons[as_of],
                sets[as_of],
                mlflow,
                context.run_id,
                context.log.info,
            )
            metadata = {
                "decision": result["decision"],
                "reason": result["reason"],
                "candidate": result["candidate"],
                f"candidate_{spec.primary_metric}": result["candidate_score"],
                f"champion_{spec.primary_metric}": result["champion_score"]
                if result["champion_score"] is not None
                else float("nan"),
                "champion_version": str(result["champion_version"]),
                "previous_champion_version": str(result["previous_champion_version"]),
                "versus_best_baseline": verdict(spec, comparisons[as_of]),
                "trained_on_partitions": len(sets[as_of].partitions),
                "feature_fingerprint": sets[as_of].fingerprint,
            }
            return pl.DataFrame([result], schema=DECISION_SCHEMA), metadata

        return each_as_of(context, spec, step)

    return champion


def build_history_asset(spec: TaskSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.key("performance_history"),
        group_name=spec.group,
        # Unpartitioned, but in every run of the lane's job, ranges included (`dg launch
        # --partition-range` asks every asset of the job for a single-run policy).
        backfill_policy=SINGLE_RUN,
        deps=[
            spec.key("model_comparison"),
            spec.key("champion"),
            *([spec.accuracy_asset] if spec.accuracy_asset else []),
        ],
        io_manager_key="parquet_io_manager",
        kinds={"polars"},
        description=(
            "The dashboard: every stored as-of partition's candidates, baselines and decision, "
            "and the backtest mean ± spread of the primary metric per model."
        ),
    )
    def performance_history(
        context: dg.AssetExecutionContext, asset_storage: AssetStorage
    ) -> pl.DataFrame:
        keys = asset_storage.partitions(spec.key("model_comparison"))
        comparisons = asset_storage.read(spec.key("model_comparison"), keys)
        decided = [k for k in asset_storage.partitions(spec.key("champion")) if k in keys]
        decisions = asset_storage.read(spec.key("champion"), decided)
        frame = history.history_frame(spec, comparisons, decisions)
        if frame.height == 0:
            raise dg.Failure(f"{spec.name}: no stored model_comparison partition yet")
        summary = history.backtest_summary(spec, frame)
        lines = history.summary_lines(spec, summary)
        context.log.info(
            f"{spec.name} backtest over {len(keys)} as-of partition(s):\n  " + "\n  ".join(lines)
        )
        per_partition = (
            pl.concat([decisions[k] for k in decided], how="vertical_relaxed")
            if decided
            else pl.DataFrame()
        )
        accuracy_metadata: dict[str, Any] = {}
        if spec.accuracy_asset is not None:
            days = asset_storage.partitions(spec.accuracy_asset)
            accuracy = history.accuracy_frame(asset_storage.read(spec.accuracy_asset, days))
            accuracy_metadata["forecast_days"] = len(days)
            if accuracy.height:
                accuracy_metadata["forecast_accuracy"] = table_metadata(accuracy)
                accuracy_metadata["plot_forecast_accuracy"] = plots.as_markdown(
                    "forecast_accuracy", history.accuracy_plot(accuracy)
                )
        context.add_output_metadata(
            {
                "as_of_partitions": dg.MetadataValue.json(keys),
                "backtest": table_metadata(summary),
                "decisions": table_metadata(per_partition.drop("reason"))
                if per_partition.height
                else "none",
                "backtest_summary": dg.MetadataValue.md("\n".join(f"- {line}" for line in lines)),
                "plot_history": plots.as_markdown("history", history.history_plot(spec, frame)),
                **accuracy_metadata,
            }
        )
        return frame

    return performance_history


def build_training_defs(spec: TaskSpec) -> dg.Definitions:
    """Assets, job and retraining sensor of one task (resources come from the code location)."""
    assets = [
        build_training_set_asset(spec),
        *[build_fit_asset(spec, m) for m in spec.candidates],
        build_leaderboard_asset(spec),
        *[build_tuned_asset(spec, k) for k in range(1, spec.top_k + 1)],
        build_comparison_asset(spec),
        build_champion_asset(spec),
        build_history_asset(spec),
    ]
    job = dg.define_asset_job(
        spec.job_name,
        selection=dg.AssetSelection.groups(spec.group),
        partitions_def=spec.as_of,
        executor_def=dg.in_process_executor,
        description=(
            f"The {spec.name} training lane for one as-of partition (or a range: a backtest), "
            "ending with the champion decision and the performance history."
        ),
    )
    return dg.Definitions(assets=assets, jobs=[job], sensors=[build_retrain_sensor(spec)])


def _mlflow_log_metric(name: str, value: float) -> None:
    if value is not None and not np.isnan(value):
        mlflow.log_metric(name, value)


def load_pipeline(model_uri: str) -> Any:
    """The sklearn pipeline of a fit's ``model`` or of a registered version (the serving pyfunc
    around it, or the bare pipeline for versions promoted before the pyfunc existed)."""
    return load_logged(model_uri)[0]


def score_pipeline(spec: TaskSpec, pipeline: Any, X: Any, y: np.ndarray) -> float:
    predicted = spec.predict(pipeline, X)
    return spec.score(y, predicted, threshold=models.decision_threshold(pipeline))[
        spec.primary_metric
    ]


def score_model(spec: TaskSpec, model_uri: str, X: Any, y: np.ndarray) -> float:
    """The primary metric of a logged or registered model on (X, y)."""
    return score_pipeline(spec, load_pipeline(model_uri), X, y)


def op_name(key: dg.AssetKey) -> str:
    return "__".join(key.path)


def run_config(
    spec: TaskSpec,
    *,
    n_trials: int | None = None,
    training_days: int | None = None,
    min_training_days: int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> dg.RunConfig:
    """Run config for ``<task>_training_job``: trial count, NYC window lengths, model params."""
    ops: dict[str, Any] = {}
    split = {
        k: v
        for k, v in (("training_days", training_days), ("min_training_days", min_training_days))
        if v is not None
    }
    if split:
        ops[op_name(spec.key("training_set"))] = {"config": split}
    if n_trials is not None:
        for k in range(1, spec.top_k + 1):
            ops[op_name(spec.key("tuned_fits", f"top{k}"))] = {"config": {"n_trials": n_trials}}
    for model, values in (params or {}).items():
        ops[op_name(spec.key("model_fits", model))] = {"config": dict(values)}
    return dg.RunConfig(ops=ops)
