"""The training lane's assets, one module per asset (named after its key), each a small builder
over plain functions that tests call directly. The builders are wiring, imported when the code
location loads; each step imports the logic it runs (which loads polars) in its body:

``training_set`` -> ``model_fits`` -> ``leaderboard`` -> ``tuned_fits`` -> ``model_comparison``
-> ``champion`` -> ``performance_history``.

:mod:`.common` holds what every lane asset shares (partitions, the per-as-of loop),
:mod:`.metadata` what they show in the Dagster UI. :func:`accident_assets.training.factory.
build_training_defs` wires them into a task's definitions.
"""
