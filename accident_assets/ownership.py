"""Who owns each asset and how it is tagged: one place for every domain (the Dagster UI filters
and groups by these)."""

from __future__ import annotations

# The ingest lanes (raw -> clean -> features) and the ML assets built on them.
DATA_OWNERS = ["team:data"]
ML_OWNERS = ["team:ml"]


def lane_ownership(lane: str, stage: str) -> dict[str, object]:
    """The ``owners`` and ``tags`` of an ingest asset: ``domain`` (``france`` or ``nyc``) and its
    ``stage`` (``raw``, ``clean``, ``features``)."""
    return {"owners": list(DATA_OWNERS), "tags": {"domain": lane, "stage": stage}}


def asset_tags(task: str, stage: str) -> dict[str, str]:
    """``domain`` (the data's lane: ``france`` or ``nyc``), ``task`` and the ``stage`` of the
    asset in it (e.g. ``model_fit``, ``champion``, ``drift``, ``forecast``)."""
    return {"domain": task.split("_")[0], "task": task, "stage": stage}


def ownership(task: str, stage: str) -> dict[str, object]:
    """The ``owners`` and ``tags`` arguments of an ML asset of ``task``."""
    return {"owners": list(ML_OWNERS), "tags": asset_tags(task, stage)}
