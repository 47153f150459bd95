"""Retraining: request ``<task>_training_job`` when enough new feature partitions have landed.

"New" is counted against the partitions the champion was trained on (its model version's
``trained_on_partitions`` tag) AND against the partitions of the last request (the cursor), so
a retrain that did not beat the champion is not requested again until more data lands.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

import dagster as dg

from accident_assets.resources import AssetStorage
from accident_assets.training import champion as rules
from accident_assets.training.tasks import SplitConfig, TaskSpec
from accident_assets.training.tracking import MlflowTracking


@dataclass(frozen=True)
class RetrainCheck:
    request: bool
    new_partitions: list[str]
    reason: str


def retrain_check(
    stored: Mapping[str, str],
    champion_partitions: list[str] | None,
    last_requested: Mapping[str, str] | list[str] | None,
    *,
    min_new: int,
    min_total: int,
) -> RetrainCheck:
    """Whether the stored partitions warrant a retrain (pure, tested directly).

    ``stored`` maps each partition to its stored version: a partition is new when the reference
    does not have it, or when its version changed since the last request (a revised NYC day is
    new data). The last request is a dict of versions (an older cursor is a plain list).
    """
    if len(stored) < min_total:
        return RetrainCheck(
            False, [], f"{len(stored)} partitions stored, need {min_total} to train"
        )
    last = dict.fromkeys(last_requested, "") if isinstance(last_requested, list) else last_requested
    revised = {p for p, v in stored.items() if last and last.get(p) and v and last[p] != v}
    references = [set(p) for p in (champion_partitions, last) if p is not None]
    if not references:
        return RetrainCheck(True, sorted(stored), "no champion yet and never requested")
    new_against = [sorted((set(stored) - ref) | revised) for ref in references]
    new = min(new_against, key=len)
    what = f"{len(new)} new or revised partitions"
    if len(new) >= min_new:
        return RetrainCheck(True, new, f"{what} (threshold {min_new})")
    return RetrainCheck(False, new, f"{what}, below the threshold {min_new}")


def champion_partitions(tracking: MlflowTracking, task: str) -> list[str] | None:
    version = rules.current_champion(tracking.client(), task)
    if version is None:
        return None
    tag = (version.tags or {}).get("trained_on_partitions", "")
    return [p for p in tag.split(",") if p]


def build_retrain_sensor(spec: TaskSpec, minimum_interval_seconds: int = 60) -> dg.SensorDefinition:
    # Training needs the validation window plus a day (NYC) or one year (France).
    min_total = SplitConfig().validation_days + 1 if spec.kind == "regression" else 1

    @dg.sensor(
        name=f"{spec.name}_retrain_sensor",
        job_name=spec.job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Requests {spec.job_name} when at least {spec.retrain_min_new_partitions} new "
            f"{spec.feature_asset.to_user_string()} partitions exist since the champion was trained."
        ),
    )
    def _sensor(
        context: dg.SensorEvaluationContext, asset_storage: AssetStorage, mlflow: MlflowTracking
    ):
        stored = asset_storage.versions(spec.feature_asset)
        last = json.loads(context.cursor) if context.cursor else None
        check = retrain_check(
            stored,
            champion_partitions(mlflow, spec.name),
            last,
            min_new=spec.retrain_min_new_partitions,
            min_total=min_total,
        )
        if not check.request:
            return dg.SkipReason(check.reason)
        context.update_cursor(json.dumps(stored))
        key = hashlib.sha256(json.dumps(stored, sort_keys=True).encode()).hexdigest()[:16]
        return dg.RunRequest(
            run_key=f"{spec.name}-{key}",
            tags={
                "retrain_reason": check.reason,
                "new_partitions": ",".join(check.new_partitions[:20]),
            },
        )

    return _sensor
