"""The comparison chart shows the differences between candidates, and plots are metadata the
Dagster UI shows in place."""

from __future__ import annotations

import polars as pl
import pytest

from accident_assets.training import plots, tracking
from accident_assets.training.comparison import chart_focus
from accident_assets.training.tasks import FRANCE

# The Dagster UI (1.13) renders markdown metadata in place below this length, else behind a button.
UI_INLINE_MARKDOWN = 1000


def test_close_scores_zoom_the_axis() -> None:
    values = [0.738, 0.731, 0.722, 0.715]
    fig = plots.comparison_axes(["a", "b", "c", "d"], values, "f1")
    low, high = fig.axes[0].get_xlim()
    assert 0.6 < low < min(values) and high > max(values)
    # 0.715 and 0.738 are far apart on the drawn axis: over a fifth of its width.
    assert (max(values) - min(values)) / (high - low) > 0.2
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert "0.738" in labels and "0.715" in labels


def test_a_weak_baseline_does_not_squeeze_the_models() -> None:
    """The chart zooms to the models and the best baseline; a weaker baseline is drawn at the
    edge with its value."""
    frame = pl.DataFrame(
        {
            "model": ["xgboost", "lightgbm", "small_logistic", "class_prior"],
            "baseline": [False, False, True, True],
            "f1": [0.738, 0.731, 0.715, 0.52],
        }
    )
    focus = chart_focus(FRANCE, frame)
    assert sorted(focus) == [0.715, 0.731, 0.738]
    fig = plots.comparison_axes(frame["model"].to_list(), frame["f1"].to_list(), "f1", focus)
    low, _ = fig.axes[0].get_xlim()
    assert 0.7 < low < 0.715
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert "0.52 (off scale)" in labels and "0.738" in labels


def test_far_apart_scores_start_at_zero() -> None:
    """The zero baseline among models: the axis keeps zero, so each bar's length is its value."""
    assert plots.value_limits([0.0, 0.52, 0.55])[0] == 0.0
    assert plots.value_limits([0.2, 1.9])[0] == 0.0


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.5, 0.5], (0.475, 0.525)),  # all equal: 5 % of the value either side
        ([float("nan"), 0.6, 0.7], (0.585, 0.715)),  # NaN (an unscored metric) is ignored
        ([], (0.0, 1.0)),
        ([-2.0, -1.9], (-2.015, -1.885)),
    ],
)
def test_value_limits(values: list[float], expected: tuple[float, float]) -> None:
    assert plots.value_limits(values) == pytest.approx(expected)


def test_a_linked_image_shows_in_place_an_embedded_one_does_not() -> None:
    run_id = "0123456789abcdef0123456789abcdef"
    linked = plots.image_markdown(
        "confusion_matrix",
        tracking.artifact_url(run_id, "plots/confusion_matrix.png"),
        link=tracking.run_url("12", run_id),
    )
    assert len(linked.value) < UI_INLINE_MARKDOWN
    assert linked.value.startswith(
        "[![confusion_matrix](http://127.0.0.1:5000/get-artifact?path=plots%2Fconfusion_matrix.png"
        f"&run_id={run_id})](http://127.0.0.1:5000/#/experiments/12/runs/{run_id}"
        "?workflowType=machine_learning)"
    )
    png = plots.comparison_bars(["a", "b"], [0.7, 0.71], "f1")
    assert png.startswith(b"\x89PNG")
    assert len(plots.as_markdown("comparison", png).value) > UI_INLINE_MARKDOWN


def test_mlflow_links_share_one_base_url() -> None:
    base = tracking.mlflow_ui_url()
    assert base == "http://127.0.0.1:5000"
    # Every page opens in MLflow's model-training view, not its GenAI one.
    view = "?workflowType=machine_learning"
    assert (
        tracking.model_version_url("nyc_incidents", 3)
        == f"{base}/#/models/nyc_incidents/versions/3{view}"
    )
    assert (
        tracking.logged_model_url("7", "models:/m-abc")
        == f"{base}/#/experiments/7/models/m-abc{view}"
    )
    assert tracking.logged_model_url("7", "runs:/abc/model") is None
