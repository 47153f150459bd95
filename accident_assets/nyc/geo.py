"""Where New York is, and H3 cells of points.

No shapefile: a bounding box of the five boroughs is enough to reject bogus geocodes (``0,0``,
points in other states); an H3 cell replaces the reference's taxi zones. ``h3`` is imported by
the functions that use it: defining the lane's assets must not load it.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

# The five boroughs' extent (Staten Island's south-west tip to the Bronx / Queens edges).
LAT_MIN, LAT_MAX = 40.49, 40.92
LON_MIN, LON_MAX = -74.27, -73.68


def in_nyc(lat: pl.Expr, lon: pl.Expr) -> pl.Expr:
    return lat.is_between(LAT_MIN, LAT_MAX) & lon.is_between(LON_MIN, LON_MAX)


def cells_of(
    lats: Iterable[float | None], lons: Iterable[float | None], resolution: int
) -> list[str | None]:
    """H3 cell of each point; None where the point is missing."""
    import h3

    return [
        None if lat is None or lon is None else h3.latlng_to_cell(lat, lon, resolution)
        for lat, lon in zip(lats, lons, strict=True)
    ]


def cell_centroids(cells: Iterable[str]) -> pl.DataFrame:
    """One row per distinct cell: ``cell``, ``cell_lat``, ``cell_lng``."""
    import h3

    distinct = sorted(set(cells))
    centres = [h3.cell_to_latlng(c) for c in distinct]
    return pl.DataFrame(
        {
            "cell": distinct,
            "cell_lat": [c[0] for c in centres],
            "cell_lng": [c[1] for c in centres],
        },
        schema={"cell": pl.Utf8, "cell_lat": pl.Float64, "cell_lng": pl.Float64},
    )


class GridPathError(ValueError):
    """No grid path between two places, or one with more cells than a request may score."""


def cell_centre(cell: str) -> tuple[float, float]:
    import h3

    lat, lng = h3.cell_to_latlng(cell)
    return float(lat), float(lng)


def grid_path(
    start_lat: float,
    start_lon: float,
    end_lat: float,
    end_lon: float,
    resolution: int,
    max_cells: int,
) -> list[str]:
    """The H3 cells from the start's cell to the end's (both included, in order), at most
    ``max_cells`` of them."""
    import h3

    start = h3.latlng_to_cell(start_lat, start_lon, resolution)
    end = h3.latlng_to_cell(end_lat, end_lon, resolution)
    try:
        cells = h3.grid_distance(start, end) + 1
        if cells > max_cells:
            raise GridPathError(
                f"the path from start to end crosses {cells} H3 cells at resolution "
                f"{resolution}; at most {max_cells} are scored"
            )
        return list(h3.grid_path_cells(start, end))
    except h3.H3BaseException as exc:
        raise GridPathError(f"no H3 grid path from start to end: {exc}") from exc
