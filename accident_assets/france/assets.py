"""The French lane's assets (group ``france``, yearly partitions): one step reads, merges, checks
and commits the six tables of a year (:mod:`accident_assets.france.ingest`); row counts, source
files and previews in the metadata (:mod:`accident_assets.france.metadata`).

The step imports the logic it runs in its body: the logic modules load polars; defining the lane
must not.
"""

import dagster as dg

from accident_assets.france.keys import ACCIDENTS, FEATURES, LANE, RAW_KEYS
from accident_assets.france.layouts import TABLES
from accident_assets.france.partitions import france_yearly_partitions
from accident_assets.france.sources import FranceSource
from accident_assets.instance import INGEST_POOL
from accident_assets.ownership import lane_ownership
from accident_assets.resources import AssetStorage

GROUP = "france"


DESCRIPTIONS = {
    **{
        key: f"The BAAC `{table}` file of the year as a typed table, nothing dropped."
        for table, key in RAW_KEYS.items()
    },
    ACCIDENTS: "One row per accident: place, aggregated users and vehicles (never selected by "
    "grav), nb_victim, nb_vehicules and the target `priority` (anyone killed or hospitalized).",
    FEATURES: "Row-wise features (france.features.build_features), identical at serving time.",
}
UPSTREAM = {**{key: [] for key in RAW_KEYS.values()}, ACCIDENTS: list(RAW_KEYS.values())}
UPSTREAM[FEATURES] = [ACCIDENTS]
STAGES = {**{key: "raw" for key in RAW_KEYS.values()}, ACCIDENTS: "clean", FEATURES: "features"}
SPECS = {
    key: dg.AssetSpec(
        key,
        group_name=GROUP,
        partitions_def=france_yearly_partitions,
        description=description,
        deps=UPSTREAM[key],
        kinds={"polars"},
        **lane_ownership(GROUP, STAGES[key]),
    ).with_io_manager_key("parquet_io_manager")
    for key, description in DESCRIPTIONS.items()
}
RAW_SPECS = {table: SPECS[key] for table, key in RAW_KEYS.items()}


@dg.multi_asset(specs=list(SPECS.values()), name="france_year", can_subset=False, pool=INGEST_POOL)
def france_year(
    context: dg.AssetExecutionContext, france_source: FranceSource, asset_storage: AssetStorage
):
    """The four files of a year -> six tables, validated together in memory, then committed.

    Nothing is stored before every table of the year passed its checks, and the six are switched
    together (see :mod:`accident_assets.france.ingest`), so the previous good year stays whole.
    """
    from accident_assets.france.ingest import SourceFile, build_year, validate_year, year_findings
    from accident_assets.france.metadata import year_metadata

    year = context.partition_key
    files = {}
    for table in TABLES:
        where = france_source.describe(table, year)
        context.log.info(f"reading {table} {year} from {where}")
        files[table] = SourceFile(
            table, france_source.filename(table, year), where, france_source.fetch(year, table)
        )
    tables = build_year(files, year)
    validate_year(tables, files)
    findings = year_findings(tables, asset_storage.current(LANE, str(int(year) - 1)))
    for finding in findings:
        context.log.warning(finding)
    commit = asset_storage.commit(
        LANE,
        year,
        tables.tables(),
        source={
            "backend": france_source.backend,
            "files": {t: f.describe() for t, f in files.items()},
        },
    )
    rate = float(tables.accidents.get_column("priority").mean() or 0.0)
    context.log.info(
        f"{year}: {tables.accidents.height} accidents, priority rate {rate:.1%}, "
        f"committed version {commit.version[:8]}"
    )
    for key in SPECS:
        yield dg.MaterializeResult(
            asset_key=key, metadata=year_metadata(key, tables, commit, files, findings)
        )


FRANCE_ASSETS = [france_year]
