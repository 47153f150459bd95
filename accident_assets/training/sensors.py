"""Retraining: request ``<task>_training_job`` for the newest as-of partition when its data is new.

The newest as-of partition is the latest one the stored feature partitions can train and judge
(:mod:`accident_assets.training.as_of`): a new French year, or a new complete NYC week. It is
requested when the versions of the feature partitions it reads differ from the last request's
(the cursor), so a revised day inside its window asks again, while unchanged data — including a
retrain that kept the old champion — never does. A champion already trained on exactly that
window (its ``as_of`` and ``trained_on_partitions`` tags) is not retrained either.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from accident_assets.resources import AssetStorage
from accident_assets.training import champion as rules
from accident_assets.training.tasks import SplitConfig, TaskSpec
from accident_assets.training.tracking import MlflowTracking


@dataclass(frozen=True)
class RetrainCheck:
    request: bool
    reason: str
    as_of: str | None = None
    # Versions of the feature partitions the requested as-of partition reads.
    versions: dict[str, str] = field(default_factory=dict)
    new_partitions: list[str] = field(default_factory=list)


def retrain_check(
    spec: TaskSpec,
    stored: Mapping[str, str],
    champion: Mapping[str, str] | None,
    last_request: Mapping[str, Any] | None,
    config: SplitConfig | None = None,
) -> RetrainCheck:
    """Whether the stored feature partitions (key -> stored version) warrant a retrain (pure).

    ``champion`` is the champion version's tags (None without a champion); ``last_request`` the
    cursor, ``{"as_of": key, "versions": {partition: version}}``.
    """
    config = config or SplitConfig()
    newest = spec.newest_as_of(list(stored), config)
    if newest is None:
        return RetrainCheck(
            False,
            f"{len(stored)} {spec.feature_asset.to_user_string()} partition(s) stored: no as-of "
            "partition can be trained and judged yet",
        )
    window = spec.window(newest, list(stored), config.training_days, config.min_training_days)
    versions = {k: stored[k] for k in window.partitions}
    last = dict(last_request or {})
    if last.get("as_of") == newest and last.get("versions") == versions:
        return RetrainCheck(False, f"as-of {newest} already requested for this data", newest)
    previous = last.get("versions") or {}
    revised = sorted(k for k, v in versions.items() if k in previous and previous[k] != v)
    trained = set(rules.tagged_partitions(champion or {}, rules.TRAINED_ON))
    champion_as_of = (champion or {}).get("as_of")
    if champion_as_of == newest and not revised and trained == set(window.partitions):
        return RetrainCheck(
            False, f"the champion was trained as of {newest} on the same partitions", newest
        )
    known = set(previous) if previous else trained
    new = sorted({*(set(versions) - known), *revised})
    what = (
        f"{len(revised)} revised partition(s) in the window of as-of {newest}"
        if revised
        else f"as-of {newest} is new ({len(new)} new partition(s))"
    )
    return RetrainCheck(True, what, newest, versions, new)


def champion_tags(tracking: MlflowTracking, task: str) -> dict[str, str] | None:
    version = rules.current_champion(tracking.client(), task)
    return None if version is None else dict(version.tags or {})


def _cursor(text: str | None) -> dict[str, Any] | None:
    """The last request; a cursor of an older format counts as none."""
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) and "as_of" in value else None


def build_retrain_sensor(spec: TaskSpec, minimum_interval_seconds: int = 60) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{spec.name}_retrain_sensor",
        job_name=spec.job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Requests {spec.job_name} for the newest as-of partition when the "
            f"{spec.feature_asset.to_user_string()} partitions it reads are new or revised."
        ),
    )
    def _sensor(
        context: dg.SensorEvaluationContext, asset_storage: AssetStorage, mlflow: MlflowTracking
    ):
        check = retrain_check(
            spec,
            asset_storage.versions(spec.feature_asset),
            champion_tags(mlflow, spec.name),
            _cursor(context.cursor),
        )
        if not check.request:
            return dg.SkipReason(check.reason)
        context.update_cursor(json.dumps({"as_of": check.as_of, "versions": check.versions}))
        digest = json.dumps(check.versions, sort_keys=True).encode()
        return dg.RunRequest(
            run_key=f"{spec.name}-{check.as_of}-{hashlib.sha256(digest).hexdigest()[:16]}",
            partition_key=check.as_of,
            tags={
                "retrain_reason": check.reason,
                "new_partitions": ",".join(check.new_partitions[:20]),
            },
        )

    return _sensor
