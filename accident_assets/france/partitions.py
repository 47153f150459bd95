"""Yearly partitions of the French lane.

BAAC switched to its current layout (four tables, ``;``, every field quoted, ``id_vehicule``) with
the 2019 release, so earlier years are not partitions: the reader would reject their files.
"""

from __future__ import annotations

import dagster as dg

FIRST_YEAR = 2019

france_yearly_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="@yearly",
    fmt="%Y",
    start=str(FIRST_YEAR),
    end_offset=1,  # the current year is a valid key: a release can be announced in-year
)
