"""Every raw BAAC column is documented in the UI: the year's materialization of each raw table
carries a column schema whose every column has the codebook's meaning."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from accident_assets import settings
from accident_assets.checks import validate
from accident_assets.france import codes, schemas
from accident_assets.france.assets import FRANCE_ASSETS
from accident_assets.france.definitions import FRANCE_CHECKS
from accident_assets.france.ingest import RAW_KEYS
from accident_assets.france.reader import COLUMNS
from accident_assets.france.sources import SampleFranceSource
from accident_assets.io_manager import read_partitions
from accident_assets.resources import shared_resources


def test_every_raw_column_has_a_description_in_the_materialized_column_schema(state_home: Path):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [*FRANCE_ASSETS, *FRANCE_CHECKS],
        partition_key="2021",
        resources={**shared_resources(), "france_source": SampleFranceSource(sample_accidents=60)},
        instance=instance,
    )
    assert result.success
    for table, key in RAW_KEYS.items():
        event = instance.get_latest_materialization_event(key)
        assert event is not None and event.asset_materialization.partition == "2021"
        metadata = event.asset_materialization.metadata
        columns = metadata["dagster/column_schema"].value.columns
        stored = read_partitions(settings.storage_root(), key, ["2021"])["2021"]
        assert [c.name for c in columns] == stored.columns == list(COLUMNS[table])
        undocumented = [c.name for c in columns if not (c.description or "").strip()]
        assert undocumented == [], f"{table}: {undocumented}"
        assert metadata["dagster/row_count"].value == stored.height
        # One source: the Pandera schema that validated the table carries the same text.
        pandera_columns = schemas.RAW_SCHEMAS[table].columns
        assert {c.name: c.description for c in columns} == {
            name: column.description for name, column in pandera_columns.items()
        }
        assert validate(schemas.RAW_SCHEMAS[table], stored) is None


def test_the_codebook_gives_each_code_of_the_documented_columns():
    """Spot checks against the official codebook's wording of two columns."""
    lum = codes.DESCRIPTIONS["caracteristiques"]["lum"]
    for code, meaning in [
        (1, "full daylight"),
        (2, "dusk or dawn"),
        (3, "night without public lighting"),
        (5, "night with public lighting lit"),
    ]:
        assert f"{code} {meaning}" in lum
    grav = codes.DESCRIPTIONS["usagers"]["grav"]
    assert "1 unhurt; 2 killed; 3 hospitalised; 4 slightly injured" in grav
