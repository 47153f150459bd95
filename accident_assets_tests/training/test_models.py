"""Pure pieces of the training lane: the simple baselines, decision thresholds, metrics, splits,
fingerprints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from accident_assets.france import features as ff
from accident_assets.training import models
from accident_assets.training.fitting import _fit_evaluate
from accident_assets.training.metrics import classification_metrics, regression_metrics
from accident_assets.training.tasks import (
    FRANCE,
    fingerprint,
    nyc_feature_tags,
)
from accident_assets_tests.serving import registry as reg


def _build(candidates: dict[str, models.ModelKind], name: str) -> object:
    kind = candidates[name]
    return kind.build(kind.params().model_dump(), [], [])


# ---------------------------------------------------------------------------------------------
# France baselines


def test_baselines_are_flagged_and_never_tuned():
    for candidates in (models.FRANCE_MODELS, models.NYC_MODELS):
        for kind in candidates.values():
            assert not (kind.baseline and kind.tunable), kind.name
    assert models.baseline_names(models.FRANCE_MODELS) == ["class_prior", "small_logistic"]
    assert models.baseline_names(models.NYC_MODELS) == [
        "zero",
        "global_mean",
        "cell_mean",
        "shrunk_rate",
    ]
    assert "seasonal_mean" not in models.NYC_MODELS


def test_class_prior_calls_everyone_priority_the_best_constant_f1():
    y = np.array([1, 0, 0, 1, 0, 0, 0, 1, 0, 0])  # p = 0.3
    X = pd.DataFrame({"anything": np.arange(len(y))})
    pipeline = _build(models.FRANCE_MODELS, "class_prior").fit(X, y)
    proba = pipeline.predict_proba(X)[:, 1]
    threshold = models.decision_threshold(pipeline)
    assert threshold == pytest.approx(0.3) and np.all(proba >= threshold)
    m = classification_metrics(y, proba, threshold)
    assert m["f1"] == pytest.approx(2 * 0.3 / 1.3) and m["recall"] == 1.0
    assert m["roc_auc"] == pytest.approx(0.5) and m["threshold"] == pytest.approx(0.3)
    assert FRANCE.score(y, proba, threshold=threshold) == m
    assert pipeline.predict(X).tolist() == [1] * len(y)  # as serving decides: proba >= threshold
    # At the fixed 0.5 the same model would call nobody Priority: the bug this guards.
    assert classification_metrics(y, proba)["f1"] == 0


def test_fits_are_scored_at_their_own_threshold():
    frame = reg.france_features()
    train, holdout = frame.head(600), frame.tail(300)
    _, metrics, *_ = _fit_evaluate(FRANCE, FRANCE.candidates["class_prior"], {}, train, holdout)
    q = float(holdout[ff.TARGET].mean())
    assert metrics["threshold"] == pytest.approx(float(train[ff.TARGET].mean()))
    assert metrics["f1"] == pytest.approx(2 * q / (1 + q)) and metrics["roc_auc"] == 0.5
    kind = FRANCE.candidates["small_logistic"]
    _, metrics, *_ = _fit_evaluate(FRANCE, kind, kind.params().model_dump(), train, holdout)
    assert metrics["threshold"] == 0.5


def test_small_logistic_reads_only_its_own_columns():
    X, y = FRANCE.xy(reg.france_features())
    used = [*models.SMALL_LOGISTIC_CATEGORICAL, *models.SMALL_LOGISTIC_NUMERIC]
    assert set(used) <= set(ff.CATEGORICAL_FEATURES) | set(ff.NUMERIC_FEATURES)
    rng = np.random.default_rng(0)
    garbled = X.copy()
    for column in X.columns.difference(used):
        garbled[column] = rng.permutation(X[column].to_numpy())
    kind = models.FRANCE_MODELS["small_logistic"]
    params = kind.params().model_dump()
    pipeline = kind.build(params, ff.CATEGORICAL_FEATURES, ff.NUMERIC_FEATURES).fit(X, y)
    on_garbled = kind.build(params, ff.CATEGORICAL_FEATURES, ff.NUMERIC_FEATURES).fit(garbled, y)
    expected = pipeline.predict_proba(X)
    np.testing.assert_array_equal(pipeline.predict_proba(garbled), expected)
    np.testing.assert_allclose(on_garbled.predict_proba(garbled), expected, rtol=0, atol=1e-12)
    assert models.decision_threshold(pipeline) == 0.5
    assert pipeline.named_steps["model"].class_weight == "balanced"
    assert "smote" not in pipeline.named_steps


# ---------------------------------------------------------------------------------------------
# NYC baselines

TINY = pd.DataFrame(
    {
        "cell": ["a", "a", "a", "a", "a", "b", "b"],
        "hour": [1, 1, 1, 2, 2, 1, 2],
        "weekday": [0, 0, 1, 0, 0, 0, 1],
        "other": [9.0] * 7,  # a feature the baselines must ignore
    }
)
TINY_Y = np.array([4, 4, 1, 0, 1, 0, 1], dtype=float)


def test_constant_and_cell_means_are_exact():
    new = pd.DataFrame({"cell": ["a", "b", "z"], "hour": [5, 5, 5], "weekday": [3, 3, 3]})
    fitted = {
        name: _build(models.NYC_MODELS, name).fit(TINY, TINY_Y)
        for name in models.NYC_MODELS
        if name in ("zero", "global_mean", "cell_mean")
    }
    np.testing.assert_array_equal(fitted["zero"].predict(new), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(fitted["global_mean"].predict(new), [11 / 7] * 3)
    np.testing.assert_allclose(fitted["cell_mean"].predict(new), [10 / 5, 1 / 2, 11 / 7])


def test_metrics():
    m = classification_metrics(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.4, 0.6]))
    assert m["f1"] == pytest.approx(0.5) and m["roc_auc"] == pytest.approx(0.75)
    assert m["threshold"] == 0.5
    r = regression_metrics(np.array([0, 1, 2]), np.array([0.0, 1.0, 2.0]))
    assert r["rmse"] == 0 and r["mae"] == 0 and r["poisson_deviance"] == pytest.approx(0, abs=1e-4)


def test_fingerprint_changes_with_content_not_with_order():
    a, b = pl.DataFrame({"x": [1, 2]}), pl.DataFrame({"x": [3]})
    assert fingerprint({"1": a, "2": b}) == fingerprint({"2": b, "1": a})
    assert fingerprint({"1": a, "2": b}) != fingerprint({"1": a, "2": pl.DataFrame({"x": [4]})})


def test_nyc_models_record_the_h3_resolution_of_their_cells():
    import h3

    cells = [None, h3.latlng_to_cell(40.75, -73.98, 8)]
    assert nyc_feature_tags(pl.DataFrame({"cell": cells})) == {"h3_resolution": "8"}
    assert nyc_feature_tags(pl.DataFrame({"cell": []}, schema={"cell": pl.Utf8})) == {}


def test_a_nan_score_ranks_last_whatever_the_direction():
    from accident_assets.training.comparison import fit_rows
    from accident_assets.training.fitting import FitResult
    from accident_assets.training.tasks import FRANCE, NYC

    for spec, good, bad, third in ((FRANCE, 0.6, 0.4, "class_prior"), (NYC, 0.2, 0.3, "cell_mean")):
        fits = [
            FitResult(spec.name, m, "default", {}, {spec.primary_metric: v}, 0.0, m, m)
            for m, v in (("xgboost", float("nan")), ("lightgbm", bad), (third, good))
        ]
        frame = fit_rows(spec, fits)
        assert frame["model"].to_list() == [third, "lightgbm", "xgboost"], spec.name


def test_a_baseline_pickled_before_the_estimators_moved_still_loads() -> None:
    """Registered models pickled ``accident_assets.training.models.ClassPriorClassifier``; the
    class lives in ``estimators`` now and loads by its old name too."""
    import pickle

    fitted = _build(models.FRANCE_MODELS, "class_prior").fit(
        pd.DataFrame({"x": [0, 1, 2, 3]}), np.array([0, 1, 0, 0])
    )
    # Protocol 2 names classes as text lines (no frames or length prefixes to fix up).
    data = pickle.dumps(fitted, protocol=2)
    new, old = b"accident_assets.training.estimators\n", b"accident_assets.training.models\n"
    assert new in data
    data = data.replace(new, old)
    loaded = pickle.loads(data)
    estimator = loaded.named_steps["model"]
    assert type(estimator).__name__ == "ClassPriorClassifier"
    assert loaded.predict_proba(pd.DataFrame({"x": [5]}))[0, 1] == pytest.approx(0.25)
