"""france_priority on real accidents: every candidate over repeated stratified splits.

Usage::

    .venv/bin/python bench/bench_france_real.py [--folder ../shared/data/france_baac/2021-first976]
        [--year 2021] [--splits 10] [--test-size 0.3] [--models xgboost lightgbm ...]
        [--no-smote-logistic]

The folder is read through the lane's local-folder France source and ingest functions
(``LocalFranceSource`` -> ``build_year`` -> ``validate_year``), so the features are
exactly what ``france/features`` would store. Each split (seed 0, 1, ...) is a stratified
``--test-size`` holdout; every candidate of ``models.FRANCE_MODELS`` (baselines included) is built
with its default parameters, fitted on the rest and scored at its own decision threshold (no
MLflow, no Dagster). ``logistic_regression_smote`` is the logistic regression as it was before
issue 13 (one-hot -> SMOTE -> L-BFGS), for the comparison with class weights.

Reports mean ± standard deviation (and min..max) of ROC AUC, PR AUC and F1 per candidate, and on
how many splits each model's F1 beats the best baseline of the same split.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psutil
from _common import load_average
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accident_assets.france.ingest import SourceFile, build_year, validate_year  # noqa: E402
from accident_assets.france.reader import TABLES  # noqa: E402
from accident_assets.france.sources import LocalFranceSource  # noqa: E402
from accident_assets.training import models  # noqa: E402
from accident_assets.training.tasks import FRANCE  # noqa: E402

DEFAULT_FOLDER = ROOT.parent / "shared" / "data" / "france_baac" / "2021-first976"
METRICS = ("roc_auc", "pr_auc", "f1")
SMOTE_LOGISTIC = "logistic_regression_smote"


def real_features(folder: Path, year: int) -> pl.DataFrame:
    """The year's ``france/features`` rows, through the local source and the ingest checks."""
    source = LocalFranceSource(folder=str(folder))
    files = {
        t: SourceFile(t, source.filename(t, year), source.describe(t, year), source.fetch(year, t))
        for t in TABLES
    }
    tables = build_year(files, str(year))
    validate_year(tables, files)
    return tables.features


def smote_logistic(params: Mapping[str, Any], categorical: Sequence[str], numeric: Sequence[str]):
    """The logistic regression before issue 13: one-hot, SMOTE, L-BFGS."""
    from sklearn.linear_model import LogisticRegression

    return models._classification(
        models.linear_encoding(categorical, numeric),
        LogisticRegression(**params, random_state=models.RANDOM_STATE),
    )


def candidates(names: Sequence[str], with_smote_logistic: bool) -> dict[str, models.ModelKind]:
    chosen = {n: models.FRANCE_MODELS[n] for n in names}
    if with_smote_logistic:
        chosen[SMOTE_LOGISTIC] = models.ModelKind(
            SMOTE_LOGISTIC, models.LogisticRegressionParams, smote_logistic, {}
        )
    return chosen


def stratified_split(y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        np.arange(len(y)), test_size=test_size, random_state=seed, stratify=y
    )
    return np.sort(train), np.sort(test)


def fit_score(kind: models.ModelKind, train: pl.DataFrame, test: pl.DataFrame) -> dict[str, float]:
    pipeline = kind.build(kind.params().model_dump(), FRANCE.categorical, FRANCE.numeric)
    X, y = FRANCE.xy(train)
    started = time.perf_counter()
    pipeline.fit(X, y)
    fit_s = time.perf_counter() - started
    X_test, y_test = FRANCE.xy(test)
    scores = FRANCE.score(
        y_test, FRANCE.predict(pipeline, X_test), threshold=models.decision_threshold(pipeline)
    )
    return {**scores, "fit_s": fit_s}


def summary(values: Sequence[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f} ({min(values):.3f}..{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--year", type=int, default=2021)
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--test-size", type=float, default=0.3)
    parser.add_argument("--models", nargs="+", default=list(models.FRANCE_MODELS))
    parser.add_argument("--no-smote-logistic", action="store_true")
    args = parser.parse_args()
    if not args.folder.is_dir():
        sys.exit(f"{args.folder} is absent (the real BAAC files of ../shared/data)")

    print(
        f"machine: {platform.platform()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB; python {platform.python_version()}; "
        f"{dt.date.today()}; load average {load_average()}"
    )
    frame = real_features(args.folder, args.year)
    y = frame.get_column(FRANCE.target).to_numpy()
    print(
        f"{args.folder}: {frame.height} accidents, priority rate {y.mean():.3f}; "
        f"{args.splits} stratified {1 - args.test_size:.0%}/{args.test_size:.0%} splits, seeds "
        f"0..{args.splits - 1}"
    )
    chosen = candidates(args.models, not args.no_smote_logistic)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in chosen}
    for seed in tqdm(range(args.splits), desc="splits", unit="split"):
        train_idx, test_idx = stratified_split(y, args.test_size, seed)
        train, test = frame[train_idx], frame[test_idx]
        for name, kind in chosen.items():
            results[name].append(fit_score(kind, train, test))

    baselines = [n for n in chosen if chosen[n].baseline]
    best_baseline_f1 = [
        max((results[b][i]["f1"] for b in baselines), default=float("nan"))
        for i in range(args.splits)
    ]
    print(f"\n| candidate | {' | '.join(METRICS)} | F1 > best baseline | fit s |")
    print(f"|---|{'---|' * len(METRICS)}---:|---:|")
    order = sorted(chosen, key=lambda n: -statistics.mean(r["f1"] for r in results[n]))
    for name in order:
        rows = results[name]
        cells = [summary([r[m] for r in rows]) for m in METRICS]
        wins = (
            "baseline"
            if chosen[name].baseline
            else f"{sum(r['f1'] > b for r, b in zip(rows, best_baseline_f1, strict=True))}"
            f"/{len(rows)}"
        )
        fit_s = statistics.mean(r["fit_s"] for r in rows)
        print(f"| {name} | {' | '.join(cells)} | {wins} | {fit_s:.2f} |")
    print(f"\nbest baseline F1 per split: {summary(best_baseline_f1)}")


if __name__ == "__main__":
    main()
