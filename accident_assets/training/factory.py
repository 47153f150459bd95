"""One asset factory for both tasks: training_set -> model_fits/<model> -> leaderboard ->
tuned_fits/top1..3 -> model_comparison -> champion, plus the task's job and retraining sensor.

One asset per model (not one partitioned asset) because a Dagster asset job cannot span two
partitions definitions, and ``<task>_training_job`` must run the whole lane in one run; each
asset is still materializable on its own and runs in parallel under the multiprocess executor.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
import mlflow
import numpy as np
import polars as pl
from dagster_mlflow import end_mlflow_on_run_finished

from accident_assets.resources import AssetStorage
from accident_assets.serving.pyfunc import load as load_logged
from accident_assets.training import champion as rules
from accident_assets.training import champion_model, models, plots
from accident_assets.training.fitting import FitResult, fit_default, plot_metadata, tune
from accident_assets.training.models import ParamRange
from accident_assets.training.sensors import build_retrain_sensor
from accident_assets.training.tasks import SplitConfig, TaskSpec, TrainingSet, fingerprint
from accident_assets.training.tracking import MlflowTracking, log_frame, log_png


class TuneConfig(dg.Config):
    """Optuna on the model at this rank. ``search_space`` replaces the model's default space
    (dimensions the model does not have are ignored with a warning)."""

    n_trials: int = 4
    timeout_s: float = 600.0
    inner_validation_fraction: float = 0.2
    search_space: dict[str, ParamRange] = {}  # noqa: RUF012 (pydantic copies defaults)


class ChampionConfig(dg.Config):
    margin: float = 0.001
    # Negative means the task's default floor (none for both; set one to require a minimum score).
    floor: float = -1.0
    # A champion that cannot score the new holdout (e.g. trained on other feature columns) is
    # kept unless this is set, after a human has decided the old model may go.
    replace_unscorable_champion: bool = False


def _dagster_tags(context: dg.AssetExecutionContext) -> dict[str, str]:
    tags = {
        "dagster_run_id": context.run_id,
        "dagster_asset_key": context.asset_key.to_user_string(),
        "dagster_job": context.job_name or "",
    }
    if context.has_partition_key:
        tags["dagster_partition"] = context.partition_key
    return tags


def _fit_metadata(spec: TaskSpec, fit: FitResult) -> dict[str, Any]:
    return {
        spec.primary_metric: fit.metrics[spec.primary_metric],
        "metrics": dg.MetadataValue.json(fit.metrics),
        "params": dg.MetadataValue.json({k: str(v) for k, v in fit.params.items()}),
        "fit_time_s": round(fit.fit_time_s, 3),
        "mlflow_run_id": fit.run_id,
        "model_uri": fit.model_uri,
        **plot_metadata(fit.plots),
    }


def fit_rows(spec: TaskSpec, fits: list[FitResult]) -> pl.DataFrame:
    """Candidates ranked by the primary metric (best first)."""
    rows = [
        {
            "model": f.model,
            "variant": f.variant,
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
    frame = frame.sort(spec.primary_metric, descending=spec.greater_is_better, nulls_last=True)
    return frame.with_row_index("rank", offset=1)


def table_metadata(frame: pl.DataFrame) -> dg.MetadataValue:
    shown = frame.drop("model_uri")
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype)) for name, dtype in shown.schema.items()]
    )

    def value(v: Any) -> Any:
        if isinstance(v, float):
            return None if np.isnan(v) else round(v, 5)
        return v

    records = [
        dg.TableRecord({k: value(v) for k, v in row.items()}) for row in shown.iter_rows(named=True)
    ]
    return dg.MetadataValue.table(records, schema=schema)


def build_training_defs(spec: TaskSpec) -> dg.Definitions:
    """Assets, job and retraining sensor of one task (resources come from the code location)."""
    prefix = [spec.name]
    common = {"group_name": spec.group, "kinds": {"mlflow", "sklearn"}}

    @dg.asset(
        key=spec.key("training_set"),
        group_name=spec.group,
        kinds={"polars"},
        deps=[spec.feature_asset],
        description=(
            f"Every stored {spec.feature_asset.to_user_string()} partition, assembled and split "
            "into training and holdout frames (partitions used, rows and a fingerprint in metadata)."
        ),
    )
    def training_set(
        context: dg.AssetExecutionContext, config: SplitConfig, asset_storage: AssetStorage
    ) -> TrainingSet:
        keys = asset_storage.partitions(spec.feature_asset)
        if not keys:
            raise ValueError(
                f"{spec.name}: no stored partition of {spec.feature_asset.to_user_string()}; "
                "materialize it first"
            )
        frames = asset_storage.read(spec.feature_asset, keys)
        context.log.info(
            f"{spec.name}: {len(keys)} partitions of {spec.feature_asset.to_user_string()}"
        )
        frame = spec.assemble(frames)
        train, holdout, split = spec.split(frame, tuple(keys), config)
        if train.height == 0 or holdout.height == 0:
            raise ValueError(
                f"{spec.name}: empty split ({split}): train {train.height}, holdout {holdout.height}"
            )
        ts = TrainingSet(spec.name, train, holdout, tuple(keys), fingerprint(frames), split)
        y = train.get_column(spec.target)
        context.add_output_metadata(
            {
                "partitions": dg.MetadataValue.json(list(keys)),
                "partition_count": len(keys),
                "rows_per_partition": dg.MetadataValue.json(
                    {k: f.height for k, f in frames.items()}
                ),
                "train_rows": train.height,
                "holdout_rows": holdout.height,
                "split": split,
                "feature_fingerprint": ts.fingerprint,
                "target_mean_train": float(y.mean()),  # type: ignore[arg-type]
                "target_mean_holdout": float(holdout.get_column(spec.target).mean()),  # type: ignore[arg-type]
                "features": dg.MetadataValue.json(spec.feature_columns),
            }
        )
        return ts

    def make_fit(model: str) -> dg.AssetsDefinition:
        kind = spec.candidates[model]

        def _fit(
            context: dg.AssetExecutionContext,
            config,
            training_set: TrainingSet,
            mlflow: MlflowTracking,
        ):
            fit = fit_default(
                spec,
                model,
                config.model_dump(),
                training_set,
                mlflow,
                _dagster_tags(context),
                context.log.info,
            )
            context.add_output_metadata(_fit_metadata(spec, fit))
            return fit

        # Dagster reads the config schema from the annotation; each model has its own Config.
        _fit.__annotations__["config"] = kind.params
        return dg.asset(
            name=model,
            key_prefix=[*prefix, "model_fits"],
            ins={"training_set": dg.AssetIn(spec.key("training_set"))},
            description=f"{model} with default parameters, fitted on training_set and scored on its holdout.",
            **common,
        )(_fit)

    fits = [make_fit(m) for m in spec.candidates]
    fit_ins = {f"fit_{m}": dg.AssetIn(spec.key("model_fits", m)) for m in spec.candidates}

    @dg.asset(
        key=spec.key("leaderboard"),
        ins=fit_ins,
        io_manager_key="parquet_io_manager",
        group_name=spec.group,
        kinds={"polars"},
        description=f"Default fits ranked by {spec.primary_metric} on the holdout (best first).",
    )
    def leaderboard(context: dg.AssetExecutionContext, **fits_in: FitResult) -> pl.DataFrame:
        frame = fit_rows(spec, list(fits_in.values()))
        frame = frame.with_columns(
            pl.col("model")
            .is_in([m for m, k in spec.candidates.items() if k.tunable])
            .alias("tunable")
        )
        top = frame.row(0, named=True)
        context.log.info(
            f"{spec.name} leaderboard: {frame.select('rank', 'model', spec.primary_metric).rows()}"
        )
        context.add_output_metadata(
            {
                "leaderboard": table_metadata(frame),
                "best_model": top["model"],
                f"best_{spec.primary_metric}": top[spec.primary_metric],
                "plot_leaderboard": plots.as_markdown(
                    "leaderboard",
                    plots.comparison_bars(
                        frame["model"].to_list(),
                        frame[spec.primary_metric].to_list(),
                        spec.primary_metric,
                    ),
                ),
            }
        )
        return frame

    def make_tuned(rank: int) -> dg.AssetsDefinition:
        @dg.asset(
            name=f"top{rank}",
            key_prefix=[*prefix, "tuned_fits"],
            ins={
                "training_set": dg.AssetIn(spec.key("training_set")),
                "leaderboard": dg.AssetIn(spec.key("leaderboard")),
                **fit_ins,
            },
            description=f"Optuna (TPE) on the tunable model ranked {rank} on the leaderboard; best parameters refitted and scored on the holdout.",
            **common,
        )
        def _tuned(
            context: dg.AssetExecutionContext,
            config: TuneConfig,
            training_set: TrainingSet,
            leaderboard: pl.DataFrame,
            mlflow: MlflowTracking,
            **fits_in: FitResult,
        ) -> FitResult:
            tunable = leaderboard.filter(pl.col("tunable"))
            if tunable.height < rank:
                raise ValueError(
                    f"{spec.name}: the leaderboard has {tunable.height} tunable models, no rank {rank}"
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
            base = fits_in[f"fit_{model}"].params
            context.log.info(
                f"{spec.name}: tuning {model} (rank {rank}) with {config.n_trials} trials"
            )
            fit = tune(
                spec,
                model,
                base,
                space,
                training_set,
                mlflow,
                _dagster_tags(context),
                rank=rank,
                n_trials=config.n_trials,
                timeout_s=config.timeout_s,
                inner_fraction=config.inner_validation_fraction,
                log=context.log.info,
            )
            context.add_output_metadata(
                {
                    "model": model,
                    "trials": fit.trials or 0,
                    "tuning_time_s": round(fit.tuning_time_s or 0.0, 3),
                    "default_" + spec.primary_metric: fits_in[f"fit_{model}"].metrics[
                        spec.primary_metric
                    ],
                    **_fit_metadata(spec, fit),
                }
            )
            return fit

        return _tuned

    tuned = [make_tuned(k) for k in range(1, spec.top_k + 1)]
    tuned_ins = {
        f"tuned_top{k}": dg.AssetIn(spec.key("tuned_fits", f"top{k}"))
        for k in range(1, spec.top_k + 1)
    }

    @dg.asset(
        key=spec.key("model_comparison"),
        ins={**fit_ins, **tuned_ins},
        io_manager_key="parquet_io_manager",
        description="Every candidate (default and tuned) with every holdout metric and fit time; also a CSV/Parquet artifact of an MLflow run.",
        **{**common, "kinds": {"polars", "mlflow"}},
    )
    def model_comparison(
        context: dg.AssetExecutionContext, mlflow: MlflowTracking, **candidates: FitResult
    ) -> pl.DataFrame:
        frame = fit_rows(spec, list(candidates.values()))
        tags = {"task": spec.name, "kind": "model_comparison", **_dagster_tags(context)}
        with mlflow.start_run(spec.name, "model_comparison", tags) as run:
            log_frame(frame.to_pandas(), "model_comparison")
            bars = plots.comparison_bars(
                [f"{m} ({v})" for m, v in frame.select("model", "variant").rows()],
                frame[spec.primary_metric].to_list(),
                spec.primary_metric,
            )
            log_png(bars, "plots/comparison.png")
            best = frame.row(0, named=True)
            _mlflow_log_metric(f"best_{spec.primary_metric}", best[spec.primary_metric])
        context.add_output_metadata(
            {
                "comparison": table_metadata(frame),
                "best": f"{best['model']} ({best['variant']})",
                f"best_{spec.primary_metric}": best[spec.primary_metric],
                "mlflow_run_id": run.info.run_id,
                "plot_comparison": plots.as_markdown("comparison", bars),
            }
        )
        return frame

    @dg.asset(
        key=spec.key("champion"),
        ins={
            "model_comparison": dg.AssetIn(spec.key("model_comparison")),
            "training_set": dg.AssetIn(spec.key("training_set")),
        },
        description=(
            f"The best candidate against the current champion on the same holdout; promoted "
            f"(registered model {spec.name}, alias champion) only if better by the margin."
        ),
        **common,
    )
    def champion(
        context: dg.AssetExecutionContext,
        config: ChampionConfig,
        model_comparison: pl.DataFrame,
        training_set: TrainingSet,
        mlflow: MlflowTracking,
    ) -> dict[str, Any]:
        client = mlflow.client()
        best = model_comparison.row(0, named=True)
        X, y = spec.xy(training_set.holdout)
        candidate = load_pipeline(best["model_uri"])
        candidate_score = score_pipeline(spec, candidate, X, y)
        current = rules.current_champion(client, spec.name)
        current_score, current_error = None, None
        if current is not None:
            try:
                current_score = score_model(spec, f"models:/{spec.name}@{rules.CHAMPION}", X, y)
            except Exception as err:  # whatever the cause, an unscored champion is not beaten
                current_error = f"v{current.version}: {type(err).__name__}: {err}"
                context.log.warning(f"{spec.name}: champion cannot score this holdout: {err}")
        floor = spec.floor if config.floor < 0 else config.floor
        baselines = spec.simple_baselines(y) if spec.simple_baselines else {}
        best_baseline = max(baselines.items(), key=lambda kv: kv[1], default=None)
        if best_baseline is not None:
            beats = candidate_score > best_baseline[1]
            context.log.info(
                f"{spec.name}: candidate {spec.primary_metric} {candidate_score:.4f} "
                f"{'beats' if beats else 'does NOT beat'} the best simple baseline "
                f"({best_baseline[0]}: {best_baseline[1]:.4f}) on the same holdout"
            )
        decision = rules.decide(
            candidate_score,
            current_score,
            greater_is_better=spec.greater_is_better,
            margin=config.margin,
            floor=floor,
            champion_error=current_error,
            replace_unscorable=config.replace_unscorable_champion,
        )
        context.log.info(
            f"{spec.name}: {'promote' if decision.promote else 'keep'} — {decision.reason}"
        )
        version, previous = None, None
        if decision.promote:
            tags = {
                "trained_on_partitions": ",".join(training_set.partitions),
                "feature_fingerprint": training_set.fingerprint,
                "model": best["model"],
                "variant": best["variant"],
                spec.primary_metric: str(candidate_score),
                "dagster_run_id": context.run_id,
                **spec.feature_tags(training_set.train),
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
        result = {
            "promoted": decision.promote,
            "reason": decision.reason,
            "candidate": f"{best['model']} ({best['variant']})",
            "candidate_run_id": best["mlflow_run_id"],
            "candidate_score": candidate_score,
            "champion_score": current_score,
            "champion_version": version
            if decision.promote
            else (str(current.version) if current is not None else None),
            "previous_champion_version": previous,
            "metric": spec.primary_metric,
            "best_simple_baseline": dict([best_baseline]) if best_baseline else None,
            "beats_best_simple_baseline": candidate_score > best_baseline[1]
            if best_baseline
            else None,
        }
        context.add_output_metadata(
            {
                "decision": "promoted"
                if decision.promote
                else "kept current champion"
                if current
                else "no champion",
                "reason": decision.reason,
                "candidate": result["candidate"],
                f"candidate_{spec.primary_metric}": candidate_score,
                f"champion_{spec.primary_metric}": current_score
                if current_score is not None
                else float("nan"),
                "champion_version": str(result["champion_version"]),
                "previous_champion_version": str(previous),
                "trained_on_partitions": len(training_set.partitions),
                "feature_fingerprint": training_set.fingerprint,
                **(
                    {
                        "best_simple_baseline": f"{best_baseline[0]}: {best_baseline[1]:.4f}",
                        "beats_best_simple_baseline": result["beats_best_simple_baseline"],
                    }
                    if best_baseline
                    else {}
                ),
            }
        )
        return result

    job = dg.define_asset_job(
        spec.job_name,
        selection=dg.AssetSelection.groups(spec.group),
        executor_def=dg.in_process_executor,
        hooks={end_mlflow_on_run_finished},
        description=f"The whole {spec.name} training lane in one run, ending with the champion decision.",
    )
    return dg.Definitions(
        assets=[training_set, *fits, leaderboard, *tuned, model_comparison, champion],
        jobs=[job],
        sensors=[build_retrain_sensor(spec)],
    )


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
    validation_days: int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> dg.RunConfig:
    """Run config for ``<task>_training_job``: trial count, NYC validation window, model params."""
    ops: dict[str, Any] = {}
    if validation_days is not None:
        ops[op_name(spec.key("training_set"))] = {"config": {"validation_days": validation_days}}
    if n_trials is not None:
        for k in range(1, spec.top_k + 1):
            ops[op_name(spec.key("tuned_fits", f"top{k}"))] = {"config": {"n_trials": n_trials}}
    for model, values in (params or {}).items():
        ops[op_name(spec.key("model_fits", model))] = {"config": dict(values)}
    return dg.RunConfig(ops=ops)
