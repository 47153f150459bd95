"""Drift may request retraining: off by default (a sensor a user turns on in the UI).

When the latest ``<task>/drift`` materialization exceeded its threshold, the task's training job
is requested for its newest as-of partition, once per drift report (the cursor is the report's
event id). The retrain is judged like any other: the alias moves only if the candidate beats the
champion on the same holdout.
"""

from __future__ import annotations

import dagster as dg

from accident_assets.resources import AssetStorage
from accident_assets.training.tasks import TaskSpec


def drift_key(spec: TaskSpec) -> dg.AssetKey:
    return spec.key("drift")


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
        records = context.instance.fetch_materializations(drift_key(spec), limit=1).records
        event = records[0].event_log_entry if records else None
        if event is None or event.asset_materialization is None:
            return dg.SkipReason(f"no {drift_key(spec).to_user_string()} report yet")
        report_id = str(records[0].storage_id)
        if context.cursor == report_id:
            return dg.SkipReason(f"drift report {report_id} already handled")
        metadata = event.asset_materialization.metadata
        partition = event.asset_materialization.partition
        exceeded = metadata.get("drift_exceeded")
        if exceeded is None or not exceeded.value:
            context.update_cursor(report_id)
            return dg.SkipReason(f"drift report of {partition} is below its threshold")
        newest = spec.newest_as_of(asset_storage.partitions(spec.feature_asset))
        if newest is None:
            return dg.SkipReason("drift exceeded, but no as-of partition can be trained yet")
        context.update_cursor(report_id)
        drifted = metadata.get("drifted_columns")
        columns = ", ".join(drifted.value) if drifted is not None else "?"
        return dg.RunRequest(
            run_key=f"{spec.name}-drift-{report_id}",
            partition_key=newest,
            tags={"retrain_reason": f"drift of {partition} above its threshold: {columns}"},
        )

    return _sensor
