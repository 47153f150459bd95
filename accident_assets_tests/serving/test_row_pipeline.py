"""The encoding step as lookup tables: every candidate the training lane builds scores exactly as
its sklearn pipeline does, on training rows and on codes it never saw; what cannot be compiled is
left to sklearn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from accident_assets.france import features as ff
from accident_assets.nyc import features as nf
from accident_assets.serving import predict as scoring
from accident_assets.serving.row_pipeline import compile_pipeline
from accident_assets.training import models
from accident_assets_tests.serving import registry as reg


def _france() -> tuple[pd.DataFrame, np.ndarray]:
    frame = reg.france_features()
    return frame.select(ff.FEATURE_COLUMNS).to_pandas(), frame[ff.TARGET].to_numpy()


def _nyc() -> tuple[pd.DataFrame, np.ndarray]:
    frame = reg.nyc_training_frame()
    return frame.select(nf.FEATURE_COLUMNS).to_pandas(), frame[nf.TARGET].to_numpy()


def _with_unseen_codes(X: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Rows whose categories were never seen in training (new codes, a new département)."""
    odd = X.head(20).copy()
    for j, column in enumerate(categorical):
        unseen = "8f2a100d2c2ffff" if odd[column].dtype == object else 999
        odd.loc[odd.index[j % len(odd)], column] = unseen
    return odd


def _without_encoding(pipeline: object) -> bool:
    """A baseline that reads its columns itself (no "encode" step): sklearn (pandas lookups)
    serves it; the baselines with an encoding (small_logistic) are compiled like the others."""
    return "encode" not in pipeline.named_steps  # type: ignore[attr-defined]


def _fit(kind: models.ModelKind, X: pd.DataFrame, y: np.ndarray, cat, num) -> object:
    params = {k: v for k, v in kind.params().model_dump().items() if v is not None}
    if "n_estimators" in params:
        params["n_estimators"] = 20  # small: this checks the encoding, not the model
    return kind.build(params, cat, num).fit(X, y)


@pytest.mark.parametrize("name", sorted(models.FRANCE_MODELS))
def test_every_france_candidate_scores_as_sklearn(name: str) -> None:
    X, y = _france()
    pipeline = _fit(models.FRANCE_MODELS[name], X, y, ff.CATEGORICAL_FEATURES, ff.NUMERIC_FEATURES)
    compiled = compile_pipeline(pipeline, X.dtypes.to_dict())
    if _without_encoding(pipeline):
        assert compiled is None
        served = scoring.france_probabilities(pipeline, {c: X[c].to_numpy() for c in X})
        np.testing.assert_allclose(served, pipeline.predict_proba(X)[:, 1])
        return
    assert compiled is not None, name
    for rows in (X, _with_unseen_codes(X, ff.CATEGORICAL_FEATURES)):
        columns = {c: rows[c].to_numpy() for c in rows}
        expected = pipeline.predict_proba(rows)
        np.testing.assert_allclose(compiled.predict_proba(columns), expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", sorted(models.NYC_MODELS))
def test_every_nyc_candidate_scores_as_sklearn(name: str) -> None:
    X, y = _nyc()
    pipeline = _fit(models.NYC_MODELS[name], X, y, nf.CATEGORICAL_FEATURES, nf.NUMERIC_FEATURES)
    compiled = compile_pipeline(pipeline, X.dtypes.to_dict())
    if _without_encoding(pipeline):
        assert compiled is None
        served = scoring.nyc_expected(pipeline, {c: X[c].to_numpy() for c in X})
        np.testing.assert_allclose(served, pipeline.predict(X))
        return
    assert compiled is not None, name
    for rows in (X, _with_unseen_codes(X, nf.CATEGORICAL_FEATURES)):
        columns = {c: rows[c].to_numpy() for c in rows}
        np.testing.assert_allclose(
            compiled.predict(columns), pipeline.predict(rows), rtol=0, atol=1e-9
        )


def test_an_encoding_that_mixes_columns_is_left_to_sklearn() -> None:
    X, y = _france()
    mixing = Pipeline(
        [
            ("encode", ColumnTransformer([("pca", PCA(3), ff.NUMERIC_FEATURES[:6])])),
            ("model", LogisticRegression()),
        ]
    ).fit(X, y)
    assert compile_pipeline(mixing, X.dtypes.to_dict()) is None
    # ... and scoring still works, through sklearn.
    probabilities = scoring.france_probabilities(mixing, {c: X[c].to_numpy() for c in X})
    np.testing.assert_allclose(probabilities, mixing.predict_proba(X)[:, 1])
