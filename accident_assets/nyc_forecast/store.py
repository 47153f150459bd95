"""Stored forecasts, read for the API: no Dagster and no polars on a request.

The forecast asset's IO manager writes day ``D`` to ``<storage root>/nyc_incidents/forecast/
D.parquet`` (one file per partition); this reads that file with pyarrow (its threads never need
the interpreter lock) from a local folder or any fsspec URL.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from typing import Any

from upath import UPath

FORECAST_PATH = ("nyc_incidents", "forecast")
TASK = "nyc_incidents"


def forecast_path(root: str, day: dt.date) -> UPath:
    return UPath(root).joinpath(*FORECAST_PATH, f"{day.isoformat()}.parquet")


def read_forecast_rows(root: str, day: dt.date) -> list[dict[str, Any]] | None:
    """The stored cell-hours of ``day``'s forecast, or None when none is stored."""
    import pyarrow.parquet as pq

    path = forecast_path(root, day)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return pq.read_table(io.BytesIO(data)).to_pylist()


def forecast_content(day: dt.date, rows: list[dict[str, Any]], top: int | None) -> dict[str, Any]:
    """The API's answer for ``day``: every cell ranked by its expected incidents over the day
    (ties by cell id), and the cell-hours of the first ``top`` cells (all cells without ``top``),
    in rank then hour order."""
    by_cell: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_cell[row["cell"]].append(row)
    totals = {cell: sum(r["expected_incidents"] for r in hours) for cell, hours in by_cell.items()}
    ranked = sorted(totals, key=lambda cell: (-totals[cell], cell))
    shown = ranked if top is None else ranked[:top]
    first = rows[0] if rows else {}
    return {
        "task": TASK,
        "date": day.isoformat(),
        "model_version": first.get("model_version"),
        "model_uri": first.get("model_uri"),
        "cells_in_forecast": len(ranked),
        "expected_incidents_total": float(sum(totals.values())),
        "top": top,
        "cells": [
            {
                "rank": rank,
                "cell": cell,
                "borough": by_cell[cell][0].get("borough"),
                "expected_incidents": totals[cell],
            }
            for rank, cell in enumerate(shown, start=1)
        ],
        "cell_hours": [
            {
                "cell": cell,
                "hour": int(r["hour"]),
                "expected_incidents": float(r["expected_incidents"]),
            }
            for cell in shown
            for r in sorted(by_cell[cell], key=lambda r: r["hour"])
        ],
    }
