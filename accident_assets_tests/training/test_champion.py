"""Champion rules (pure) and the registry moves they cause (real MLflow on sqlite)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import polars as pl
import pytest

from accident_assets.france import features as F
from accident_assets.training import champion as rules
from accident_assets.training import champion_model
from accident_assets.training.champion_decision import score_model
from accident_assets.training.mlflow_config import configure_mlflow, tracking_uri
from accident_assets.training.models import FRANCE_MODELS
from accident_assets.training.tasks import FRANCE
from accident_assets.training.tracking import MlflowTracking, log_model


def decide(candidate, champion, higher=True, floor=None, **unscorable):
    return rules.decide(
        candidate, champion, greater_is_better=higher, margin=0.001, floor=floor, **unscorable
    )


def test_first_model_above_the_floor_is_promoted():
    assert decide(0.70, None, floor=0.65).promote
    assert decide(0.65, None, floor=0.65).promote


def test_a_model_below_the_floor_is_never_promoted():
    assert not decide(0.64, None, floor=0.65).promote
    assert not decide(0.64, 0.30, floor=0.65).promote


@pytest.mark.parametrize(
    ("candidate", "champion"),
    [(0.70, 0.70), (0.69, 0.70), (0.7005, 0.70)],  # equal, worse, better but inside the margin
)
def test_equal_worse_or_within_margin_never_wins(candidate, champion):
    decision = decide(candidate, champion, floor=0.65)
    assert not decision.promote
    assert decision.candidate_score == candidate and decision.champion_score == champion


def test_better_by_the_margin_wins_in_both_directions():
    assert decide(0.7008, 0.70).promote
    assert decide(0.299, 0.30, higher=False).promote  # RMSE: lower is better
    assert not decide(0.2999, 0.30, higher=False).promote
    assert not decide(0.30, 0.30, higher=False).promote
    assert not decide(float("nan"), None).promote


def test_a_champion_that_cannot_be_scored_is_kept_unless_replacement_is_allowed():
    error = "v3: KeyError: 'lum'"
    kept = decide(0.9, None, floor=0.65, champion_error=error)
    assert not kept.promote
    assert error in kept.reason and "replace_unscorable_champion" in kept.reason
    assert decide(0.9, None, floor=0.65, champion_error=error, replace_unscorable=True).promote
    assert not decide(0.5, None, floor=0.65, champion_error=error, replace_unscorable=True).promote


def _frame(n: int, seed: int) -> pl.DataFrame:
    """Rows with the France feature columns; priority depends on two of them."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {c: rng.integers(0, 4, n) for c in F.CATEGORICAL_FEATURES}
    data.update({c: rng.normal(size=n) for c in F.NUMERIC_FEATURES})
    score = 1.5 * np.asarray(data[F.NUMERIC_FEATURES[0]]) + (np.asarray(data["lum"]) == 3)
    data[F.TARGET] = (score + rng.normal(scale=0.5, size=n) > 0.8).astype(np.int8)
    return pl.DataFrame(data)


def _logged(model: str, X: pd.DataFrame, y: np.ndarray) -> tuple[object, str, str]:
    kind = FRANCE_MODELS[model]
    pipeline = kind.build(
        {
            **kind.params().model_dump(),
            **({"n_estimators": 20} if model != "logistic_regression" else {}),
        },
        FRANCE.categorical,
        FRANCE.numeric,
    )
    pipeline.fit(X, y)
    with MlflowTracking().start_run("france_priority", model, {"task": "france_priority"}) as run:
        uri = log_model(pipeline, X, FRANCE.predict)
    return pipeline, uri, run.info.run_id


def test_registry_aliases_and_loaded_champion_predicts_like_the_fitted_pipeline(state_home: Path):
    assert tracking_uri().startswith(f"sqlite:///{state_home}")
    client = configure_mlflow()
    X, y = FRANCE.xy(_frame(400, 1))
    first, uri1, run1 = _logged("xgboost", X, y)
    v1, previous = rules.promote(
        client, "france_priority", uri1, run1, {"trained_on_partitions": "2021"}
    )
    assert (v1, previous) == ("1", None)

    loaded = mlflow.sklearn.load_model("models:/france_priority@champion")
    X_new, _ = FRANCE.xy(_frame(50, 2))
    np.testing.assert_allclose(loaded.predict_proba(X_new), first.predict_proba(X_new))

    _, uri2, run2 = _logged("logistic_regression", X, y)
    v2, previous = rules.promote(
        client, "france_priority", uri2, run2, {"trained_on_partitions": "2021,2022"}
    )
    assert (v2, previous) == ("2", "1")
    assert str(client.get_model_version_by_alias("france_priority", "champion").version) == "2"
    old = client.get_model_version_by_alias("france_priority", "previous_champion")
    assert str(old.version) == "1" and old.tags["trained_on_partitions"] == "2021"
    # The old champion's version still exists and still loads.
    assert mlflow.sklearn.load_model("models:/france_priority/1") is not None


def test_score_model_reads_old_sklearn_champions_and_pyfunc_champions(state_home: Path):
    """Registries hold versions promoted before the pyfunc (bare pipelines) and after it."""
    client = configure_mlflow()
    X, y = FRANCE.xy(_frame(400, 1))
    X_new, y_new = FRANCE.xy(_frame(200, 3))
    old, uri, run = _logged("xgboost", X, y)
    rules.promote(client, "france_priority", uri, run, {})
    assert "sklearn" in mlflow.models.get_model_info("models:/france_priority@champion").flavors
    expected = FRANCE.score(y_new, FRANCE.predict(old, X_new))[FRANCE.primary_metric]
    champion_uri = "models:/france_priority@champion"
    assert score_model(FRANCE, champion_uri, X_new, y_new) == pytest.approx(expected)

    new, _, run2 = _logged("logistic_regression", X, y)
    served_uri = champion_model.log_in_run(
        run2, "france_priority", new, threshold=0.5, h3_resolution=None
    )
    rules.promote(client, "france_priority", served_uri, run2, {})
    assert set(mlflow.models.get_model_info(champion_uri).flavors) == {"python_function"}
    expected = FRANCE.score(y_new, FRANCE.predict(new, X_new))[FRANCE.primary_metric]
    assert score_model(FRANCE, champion_uri, X_new, y_new) == pytest.approx(expected)
    # Resumed to log the pyfunc, the fit's run is finished again.
    assert client.get_run(run2).info.status == "FINISHED"
