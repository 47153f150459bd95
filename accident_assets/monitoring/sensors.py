"""Drift may request retraining: off by default (a sensor a user turns on in the UI).

When a ``<task>/drift`` report since the last tick exceeded its threshold, the task's training
job is requested for its newest as-of partition, once (the cursor is the last report's event id). The retrain is judged like any other: the alias moves only if the candidate beats the
champion on the same holdout.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from accident_assets.resources import AssetStorage
from accident_assets.training.tasks import TaskSpec


def drift_key(spec: TaskSpec) -> dg.AssetKey:
    return spec.key("drift")


def _metadata_value(entry: dg.EventLogEntry, name: str) -> Any:
    materialization = entry.asset_materialization
    value = materialization.metadata.get(name) if materialization is not None else None
    return None if value is None else value.value


def build_drift_retrain_sensor(spec: TaskSpec) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{spec.name}_drift_retrain_sensor",
        job_name=spec.job_name,
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            f"Off by default. Requests {spec.job_name} for the newest as-of partition when the "
            f"latest {drift_key(spec).to_user_string()} report exceeded its threshold."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, asset_storage: AssetStorage):
        # Every report since the last tick, so a drifted day followed by a clean one is not missed.
        after = int(context.cursor) if context.cursor and context.cursor.isdigit() else None
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=drift_key(spec), after_storage_id=after),
            limit=100,
            ascending=True,
        ).records
        if not records:
            return dg.SkipReason(
                f"no new {drift_key(spec).to_user_string()} report"
                + (f" since report {after}" if after else " yet")
            )
        drifted = [
            r for r in records if _metadata_value(r.event_log_entry, "drift_exceeded") is True
        ]
        if not drifted:
            context.update_cursor(str(records[-1].storage_id))
            return dg.SkipReason(f"{len(records)} drift report(s), all below their threshold")
        newest = spec.newest_as_of(asset_storage.partitions(spec.feature_asset))
        if newest is None:
            return dg.SkipReason("drift exceeded, but no as-of partition can be trained yet")
        context.update_cursor(str(records[-1].storage_id))
        report = drifted[-1]
        partitions = sorted({r.event_log_entry.asset_materialization.partition for r in drifted})
        columns = _metadata_value(report.event_log_entry, "drifted_columns") or []
        return dg.RunRequest(
            run_key=f"{spec.name}-drift-{report.storage_id}",
            partition_key=newest,
            tags={
                "retrain_reason": f"drift of {', '.join(map(str, partitions))} above its "
                f"threshold: {', '.join(columns)}"
            },
        )

    return _sensor
