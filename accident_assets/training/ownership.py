"""Who owns the ML assets and how they are tagged: one place for the training lanes, the drift
monitors and the NYC forecast (the Dagster UI filters and groups by these)."""

from __future__ import annotations

OWNERS = ["team:ml"]


def asset_tags(task: str, stage: str) -> dict[str, str]:
    """``domain`` (the data's lane: ``france`` or ``nyc``), ``task`` and the ``stage`` of the
    asset in it (e.g. ``model_fit``, ``champion``, ``drift``, ``forecast``)."""
    return {"domain": task.split("_")[0], "task": task, "stage": stage}


def ownership(task: str, stage: str) -> dict[str, object]:
    """The ``owners`` and ``tags`` arguments of an asset of ``task``."""
    return {"owners": list(OWNERS), "tags": asset_tags(task, stage)}
