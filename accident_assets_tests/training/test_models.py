"""Pure pieces of the training lane: the seasonal-mean baseline, metrics, splits, fingerprints."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pytest

from accident_assets.training.metrics import baseline_f1, classification_metrics, regression_metrics
from accident_assets.training.models import SeasonalMeanRegressor
from accident_assets.training.tasks import (
    SplitConfig,
    fingerprint,
    nyc_feature_tags,
    split_france,
    split_nyc,
)


def test_seasonal_mean_falls_back_to_coarser_means():
    X = pd.DataFrame({"cell": ["a", "a", "b", "b"], "weekday": [0, 1, 0, 0], "hour": [1, 1, 1, 2]})
    model = SeasonalMeanRegressor().fit(X, [1, 3, 2, 4])
    new = pd.DataFrame(
        {"cell": ["a", "a", "b", "c"], "weekday": [0, 5, 3, 0], "hour": [1, 1, 2, 1]}
    )
    np.testing.assert_allclose(model.predict(new), [1.0, 2.0, 4.0, 2.5])


def test_metrics():
    m = classification_metrics(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.4, 0.6]))
    assert m["f1"] == pytest.approx(0.5) and m["roc_auc"] == pytest.approx(0.75)
    assert m["threshold"] == 0.5
    r = regression_metrics(np.array([0, 1, 2]), np.array([0.0, 1.0, 2.0]))
    assert r["rmse"] == 0 and r["mae"] == 0 and r["poisson_deviance"] == pytest.approx(0, abs=1e-4)
    naive = baseline_f1(np.array([1, 0, 0, 0]))
    assert naive["majority"] == 0 and naive["all_positive"] == pytest.approx(0.4)


def test_france_split_latest_year_or_stratified():
    frame = pl.DataFrame({"year": [2021] * 10 + [2022] * 5, "priority": [0, 1] * 7 + [1]})
    train, test, how = split_france(frame, ("2021", "2022"), SplitConfig())
    assert set(test["year"]) == {2022} and train.height == 10 and "2022" in how
    one = frame.filter(pl.col("year") == 2021)
    train, test, how = split_france(one, ("2021",), SplitConfig())
    assert (train.height, test.height) == (7, 3) and test["priority"].sum() in (1, 2)


def test_nyc_split_last_days_and_clear_error_when_too_short():
    days = [dt.date(2023, 1, d) for d in range(1, 11)]
    frame = pl.DataFrame({"date": days})
    keys = tuple(d.isoformat() for d in days)
    train, hold, _ = split_nyc(frame, keys, SplitConfig(validation_days=3))
    assert hold["date"].min() == dt.date(2023, 1, 8) and train.height == 7
    with pytest.raises(ValueError, match="10 day"):
        split_nyc(frame, keys, SplitConfig(validation_days=14))


def test_fingerprint_changes_with_content_not_with_order():
    a, b = pl.DataFrame({"x": [1, 2]}), pl.DataFrame({"x": [3]})
    assert fingerprint({"1": a, "2": b}) == fingerprint({"2": b, "1": a})
    assert fingerprint({"1": a, "2": b}) != fingerprint({"1": a, "2": pl.DataFrame({"x": [4]})})


def test_nyc_models_record_the_h3_resolution_of_their_cells():
    import h3

    cells = [None, h3.latlng_to_cell(40.75, -73.98, 8)]
    assert nyc_feature_tags(pl.DataFrame({"cell": cells})) == {"h3_resolution": "8"}
    assert nyc_feature_tags(pl.DataFrame({"cell": []}, schema={"cell": pl.Utf8})) == {}
