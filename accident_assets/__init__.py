"""accident_assets: road-accident data from NYC and France as a Dagster asset graph."""

import warnings

# Beta/preview Dagster features used on purpose, where they are the tool for the job: single-run
# backfills (one run per range of partitions), partition mappings that may reach before the first
# partition, partitioned asset checks. Their warnings would repeat for every asset on every
# command and bury the ones that matter; any other beta or preview warning still shows.
for _message in (
    r"Parameter `backfill_policy` of (function|initializer)",
    r"Parameter `allow_nonexistent_upstream_partitions` of initializer",
    r"Specifying a partitions_def on an AssetCheckSpec",
):
    warnings.filterwarnings("ignore", message=_message)
