"""Feature encodings shared by the France and NYC lanes."""

from __future__ import annotations

import math

import polars as pl


def cyclic_encoding(column: str, period: int, offset: int = 0) -> list[pl.Expr]:
    """``<column>_sin`` and ``<column>_cos``: the value as an angle on a circle of ``period``.

    Trees and linear models then see the last value of a cycle next to the first (23 h beside
    0 h, December beside January). ``offset`` is the value placed at angle 0.
    """
    angle = (pl.col(column).cast(pl.Float64) - offset) * (2 * math.pi / period)
    return [angle.sin().alias(f"{column}_sin"), angle.cos().alias(f"{column}_cos")]
