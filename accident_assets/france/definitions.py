"""The French lane's definitions: assets, their Pandera checks, the ingest job and the
``france_source`` resource (``sample`` unless ``ACCIDENT_ASSETS_FRANCE_SOURCE`` says otherwise)."""

import dagster as dg

from accident_assets.checks import pandera_check
from accident_assets.france import schemas
from accident_assets.france.assets import FRANCE_ASSETS, RAW_SPECS, accidents, features
from accident_assets.france.checks import spec_pandera_check
from accident_assets.france.sources import source_from_env

FRANCE_CHECKS = [
    *(
        spec_pandera_check(spec, schemas.RAW_SCHEMAS[t], blocking=True)
        for t, spec in RAW_SPECS.items()
    ),
    pandera_check(accidents, schemas.ACCIDENTS, blocking=True),
    pandera_check(features, schemas.FEATURES, blocking=False),
]

france_ingest_job = dg.define_asset_job(
    "france_ingest_job",
    selection=dg.AssetSelection.groups("france"),
    executor_def=dg.in_process_executor,
    description="BAAC files of a year -> raw tables -> accidents -> features, with checks.",
)

defs = dg.Definitions(
    assets=FRANCE_ASSETS,
    asset_checks=FRANCE_CHECKS,
    jobs=[france_ingest_job],
    resources={"france_source": source_from_env()},
)
