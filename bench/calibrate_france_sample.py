"""How close the French sample is to the real accidents: code frequencies, sizes, and the default
models' holdout metrics on both.

Usage::

    .venv/bin/python bench/calibrate_france_sample.py [--real ../shared/data/france_baac/2021-first976]
        [--accidents 4000] [--models logistic_regression lightgbm] [--frequencies]

Both sides go through the project's own pipeline (reader -> ``merge_accidents`` ->
``build_features``) and the training lane's model builders with their default parameters:

* real: the 976 first accidents of 2021, stratified 70/30 split, random_state 42;
* sample: years 2021 and 2022 at ``--accidents`` a year, trained on 2021 and judged on 2022 (what
  the as-of partition 2022 does), plus a stratified 70/30 split of 2021 alone.

``--frequencies`` prints the real code frequencies as Python dict literals (what ``sample.py``
embeds) and the total variation distance of each to the sample's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accident_assets.france import sample  # noqa: E402
from accident_assets.france.features import build_features  # noqa: E402
from accident_assets.france.reader import TABLES, read_table  # noqa: E402
from accident_assets.france.transforms import merge_accidents  # noqa: E402
from accident_assets.training.models import decision_threshold  # noqa: E402
from accident_assets.training.tasks import FRANCE, SplitConfig, split_france  # noqa: E402

DEFAULT_REAL = ROOT.parent / "shared" / "data" / "france_baac" / "2021-first976"


def read_real(folder: Path, year: int = 2021) -> dict[str, pl.DataFrame]:
    return {t: read_table((folder / f"{t}-{year}.csv").read_bytes(), t, year) for t in TABLES}


def features_of(tables: dict[str, pl.DataFrame], year: int) -> pl.DataFrame:
    return build_features(merge_accidents(*(tables[t] for t in TABLES), year))


def evaluate(train: pl.DataFrame, holdout: pl.DataFrame, names: list[str]) -> dict[str, dict]:
    out = {}
    for name in names:
        kind = FRANCE.candidates[name]
        pipeline = kind.build(kind.params().model_dump(), FRANCE.categorical, FRANCE.numeric)
        X, y = FRANCE.xy(train)
        pipeline.fit(X, y)
        X_hold, y_hold = FRANCE.xy(holdout)
        out[name] = FRANCE.score(
            y_hold, FRANCE.predict(pipeline, X_hold), threshold=decision_threshold(pipeline)
        )
    return out


def show(label: str, results: dict[str, dict]) -> None:
    for name, m in results.items():
        print(f"  {label:<28} {name:<20} roc_auc {m['roc_auc']:.3f}  f1 {m['f1']:.3f}  "
              f"precision {m['precision']:.3f}  recall {m['recall']:.3f}")  # fmt: skip


def stratified(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    train, holdout, _ = split_france(frame, ("2021",), SplitConfig())
    return train, holdout


def frequencies(tables: dict[str, pl.DataFrame], table: str, column: str) -> dict:
    counts = tables[table].get_column(column).value_counts(sort=True)
    return dict(counts.iter_rows())


def tvd(a: dict, b: dict) -> float:
    ta, tb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a.get(k, 0) / ta - b.get(k, 0) / tb) for k in set(a) | set(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--accidents", type=int, default=sample.SAMPLE_ACCIDENTS)
    parser.add_argument("--models", nargs="+", default=["logistic_regression", "lightgbm"])
    parser.add_argument("--frequencies", action="store_true")
    args = parser.parse_args()

    real = read_real(args.real)
    started = time.perf_counter()
    synthetic = {y: sample.generate_year(y, args.accidents) for y in (2021, 2022)}
    print(f"generated 2 x {args.accidents} accidents in {time.perf_counter() - started:.2f} s")

    for label, tables in (("real", real), ("sample 2021", synthetic[2021])):
        n = tables["caracteristiques"].height
        merged = merge_accidents(*(tables[t] for t in TABLES), 2021)
        print(f"{label}: {n} accidents, {tables['usagers'].height / n:.3f} users and "
              f"{tables['vehicules'].height / n:.3f} vehicles per accident, "
              f"{tables['lieux'].height / n:.3f} lieux rows, priority {merged['priority'].mean():.3f}")  # fmt: skip

    if args.frequencies:
        for table, columns in sample.CALIBRATED_COLUMNS.items():
            for column in columns:
                fitted = frequencies(real, table, column)
                ours = frequencies(synthetic[2021], table, column)
                print(f"{table}.{column}: tvd {tvd(fitted, ours):.3f}  real {fitted}")

    real_features = features_of(real, 2021)
    show("real 976, 70/30", evaluate(*stratified(real_features), args.models))
    sample_features = {y: features_of(t, y) for y, t in synthetic.items()}
    show("sample 2021 -> 2022", evaluate(sample_features[2021], sample_features[2022], args.models))
    show("sample 2021, 70/30", evaluate(*stratified(sample_features[2021]), args.models))
    print(
        "positive rate, sample 2022 holdout:",
        round(float(sample_features[2022]["priority"].mean()), 3),
    )


if __name__ == "__main__":
    main()
