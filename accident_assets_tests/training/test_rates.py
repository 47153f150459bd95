"""The shrunk historical rates of NYC cells: the ``shrunk_rate`` baseline and the rate features
of the models (``rates.CellRateEncoder``), and the hotspot metrics they are judged by."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from accident_assets.training import rates
from accident_assets.training.metrics import (
    calibration_by_decile,
    capture_share,
    regression_metrics,
)

CENTRE = h3.latlng_to_cell(40.75, -73.98, 7)
NEIGHBOURS = sorted(h3.grid_ring(CENTRE, 1))
FAR = h3.latlng_to_cell(40.58, -74.15, 7)  # Staten Island: no training cell near it


def _cells(
    rates_by_cell: dict[str, float], days: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Every hour of ``days`` days for each cell, Poisson counts at the cell's rate."""
    rng = np.random.default_rng(seed)
    rows = days * 24
    cell = np.repeat(list(rates_by_cell), rows)
    hour = np.tile(np.arange(rows) % 24, len(rates_by_cell))
    weekday = np.tile(np.arange(rows) // 24 % 7, len(rates_by_cell))
    y = rng.poisson(np.repeat(list(rates_by_cell.values()), rows)).astype(float)
    return pd.DataFrame({"cell": cell, "hour": hour, "weekday": weekday}), y


def _named(encoder: rates.CellRateEncoder, matrix: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(matrix, columns=encoder.get_feature_names_out())


def test_no_training_row_sees_its_own_target():
    """Cross-fitting: changing one row's target leaves that row's rate features unchanged (they
    come from the other folds) while rows of other folds, which learnt from it, move."""
    X, y = _cells({CENTRE: 0.3, NEIGHBOURS[0]: 0.1, NEIGHBOURS[1]: 0.05}, days=14, seed=1)
    encoder = rates.CellRateEncoder(passthrough=("hour",))
    before = _named(encoder, encoder.fit_transform(X, y))
    row = int(np.flatnonzero(X["cell"].to_numpy() == CENTRE)[0])
    changed = y.copy()
    changed[row] += 50
    after = _named(encoder, rates.CellRateEncoder(passthrough=("hour",)).fit_transform(X, changed))
    same_cell = X["cell"].to_numpy() == CENTRE
    assert before.iloc[row].equals(after.iloc[row])
    moved = ~np.isclose(before["rate_cell"], after["rate_cell"]) & same_cell
    assert moved.sum() > 0.5 * same_cell.sum()  # the other folds of the cell saw the change
    # Without cross-fitting (fit, then transform the training rows) the row sees itself.
    plain = _named(
        encoder, rates.CellRateEncoder(passthrough=("hour",)).fit(X, changed).transform(X)
    )
    assert plain["rate_cell"].iloc[row] > before["rate_cell"].iloc[row]


def test_transform_uses_every_training_row_and_keeps_the_passthrough_columns():
    X, y = _cells({CENTRE: 0.3, NEIGHBOURS[0]: 0.1}, days=7, seed=2)
    encoder = rates.CellRateEncoder(passthrough=("hour", "weekday")).fit(X, y)
    out = _named(encoder, encoder.transform(X.head(3)))
    assert list(out.columns) == [*rates.RATE_COLUMNS, "hour", "weekday"]
    # Serving's input, a mapping of column arrays, gives the same matrix as the frame.
    columns = {c: X[c].head(3).to_numpy() for c in X}
    np.testing.assert_array_equal(encoder.transform(columns), out.to_numpy())
    np.testing.assert_array_equal(out["hour"], X["hour"].head(3))
    tables = rates.fit_rates(X["cell"].to_numpy(), X["hour"].to_numpy(), X["weekday"].to_numpy(), y)
    np.testing.assert_allclose(out["rate_cell"], tables.cell[tables.cells.get_loc(CENTRE)])


def test_an_unseen_cell_takes_its_neighbourhood_rate_and_a_lonely_one_the_global_rate():
    X, y = _cells(dict.fromkeys(NEIGHBOURS, 0.4), days=14, seed=3)
    quiet, y_quiet = _cells({h3.latlng_to_cell(40.85, -73.88, 7): 0.02}, days=14, seed=4)
    X, y = pd.concat([X, quiet], ignore_index=True), np.append(y, y_quiet)
    model = rates.ShrunkRateRegressor().fit(X, y)
    tables = model.tables_
    new = pd.DataFrame({"cell": [CENTRE, FAR], "hour": [8, 8], "weekday": [2, 2]})
    columns = tables.columns(
        new["cell"].to_numpy(), new["hour"].to_numpy(), new["weekday"].to_numpy()
    )
    # CENTRE was never seen; its six neighbours were, at 0.4 a cell-hour.
    assert CENTRE not in tables.cells
    assert columns["rate_cell"][0] == pytest.approx(columns["rate_ring"][0])
    assert columns["rate_ring"][0] == pytest.approx(0.4, rel=0.05)
    # FAR has no training cell near it: the global rate, shaped by the city's hour and weekday.
    assert columns["rate_cell"][1] == pytest.approx(tables.global_rate)
    expected = (
        tables.global_rate
        * tables.hour_factor[8]
        * tables.weekday_factor[2]
        * tables.interaction[8, 2]
    )
    assert model.predict(new)[1] == pytest.approx(expected)
    assert np.all(np.isfinite(model.predict(new)))


def test_a_dense_cell_keeps_its_rate_and_a_cell_seen_once_is_pulled_to_its_prior():
    true = dict(zip(NEIGHBOURS, [0.5, 0.2, 0.1, 0.3, 0.05, 0.4], strict=True))
    X, y = _cells(true, days=28, seed=5)
    once = pd.DataFrame({"cell": [CENTRE], "hour": [3], "weekday": [2]})
    X, y = pd.concat([X, once], ignore_index=True), np.append(y, 4.0)
    tables = rates.ShrunkRateRegressor().fit(X, y).tables_
    dense = tables.cell[tables.cells.get_loc(NEIGHBOURS[0])]
    assert dense == pytest.approx(y[: 28 * 24].mean(), rel=0.02)
    seen_once = tables.cell[tables.cells.get_loc(CENTRE)]
    ring = tables.ring[tables.cells.get_loc(CENTRE)]
    assert ring < seen_once < 4.0
    assert seen_once - ring < (4.0 - ring) / 2  # nearer its neighbourhood than its one count


def test_strength_is_larger_when_groups_are_alike():
    alike = dict.fromkeys(NEIGHBOURS, 0.2)
    unlike = dict(zip(NEIGHBOURS, [0.9, 0.02, 0.3, 0.05, 0.6, 0.01], strict=True))
    k = {}
    for name, cells in (("alike", alike), ("unlike", unlike)):
        X, y = _cells(cells, days=14, seed=6)
        k[name] = rates.ShrunkRateRegressor().fit(X, y).strengths_["cell"]
    assert k["alike"] > 5 * k["unlike"]


def test_choose_strength_prefers_the_prior_for_noise_and_the_data_for_real_differences():
    rng = np.random.default_rng(7)
    counts = np.full((2, 200), 50.0)
    noise = rng.poisson(0.2 * counts).astype(float)  # every group at the prior's 0.2
    assert rates.choose_strength(noise, counts, np.full(200, 0.2)) >= 100
    true = rng.gamma(1.0, 0.5, 200)
    real = rng.poisson(true * counts).astype(float)
    assert rates.choose_strength(real, counts, np.full(200, 0.5)) <= 10


def test_shrunk_rates_beat_raw_cell_hour_weekday_means_on_sparse_cells():
    """Cells whose hourly profile is the city's: the multiplicative prior recovers it from a few
    weeks, where a raw mean per cell x hour x weekday is mostly noise."""
    rng = np.random.default_rng(8)
    cells = [CENTRE, *NEIGHBOURS]
    level = dict(zip(cells, rng.gamma(2.0, 0.1, len(cells)), strict=True))
    profile = 0.5 + np.sin(np.arange(24) / 24 * np.pi) ** 2
    X, _ = _cells(level, days=21, seed=9)
    truth = np.array([level[c] for c in X["cell"]]) * profile[X["hour"]]
    y = rng.poisson(truth).astype(float)
    shrunk = rates.ShrunkRateRegressor().fit(X, y).predict(X)
    raw = pd.Series(y).groupby([X["cell"], X["hour"], X["weekday"]]).transform("mean")
    assert np.mean((shrunk - truth) ** 2) < 0.5 * np.mean((raw - truth) ** 2)


# ---------------------------------------------------------------------------------------------
# Metrics


def test_regression_metrics_include_the_hotspot_captures():
    y = np.array([0, 0, 0, 5, 0, 0, 0, 0, 0, 0] * 10, dtype=float)
    right = np.where(y > 0, 2.0, 0.1)
    m = regression_metrics(y, right)
    assert set(m) == {"poisson_deviance", "rmse", "mae", "capture_1pct", "capture_5pct"}
    # 10 of 100 rows hold every incident: the top 1 row holds 1/10 of them, the top 5 half.
    assert m["capture_1pct"] == pytest.approx(0.1) and m["capture_5pct"] == pytest.approx(0.5)
    wrong = regression_metrics(y, np.where(y > 0, 0.1, 2.0))
    assert wrong["capture_5pct"] == 0 and wrong["poisson_deviance"] > m["poisson_deviance"]
    assert capture_share(y, np.ones_like(y), 0.05) == pytest.approx(0.05)  # ties: pro rata


def test_calibration_by_decile_compares_the_mean_prediction_with_what_happened():
    rng = np.random.default_rng(10)
    predicted = rng.gamma(1.0, 0.3, 20_000)
    calibrated = calibration_by_decile(rng.poisson(predicted).astype(float), predicted)
    assert len(calibrated) == 10 and sum(r["rows"] for r in calibrated) == 20_000
    means = [r["mean_predicted"] for r in calibrated]
    assert means == sorted(means)
    for r in calibrated:
        assert r["mean_observed"] == pytest.approx(r["mean_predicted"], abs=0.03)
    flat = calibration_by_decile(rng.poisson(predicted).astype(float), np.full(20_000, 0.3))
    assert len(flat) == 10  # ties do not merge bins
    doubled = calibration_by_decile(rng.poisson(predicted).astype(float), 2 * predicted)
    assert doubled[-1]["mean_observed"] < 0.7 * doubled[-1]["mean_predicted"]
    assert calibration_by_decile(np.array([]), np.array([])) == []
    with pytest.raises(ValueError, match="differ"):
        calibration_by_decile(np.zeros(3), np.zeros(4))


def test_a_weekday_never_seen_in_training_predicts_like_the_days_that_were():
    """One Sunday of training (the 2024 week's window): a Monday has no information of its own,
    so it takes the rates learnt, not a zero factor."""
    X, y = _cells({CENTRE: 0.3, NEIGHBOURS[0]: 0.05}, days=1, seed=11)
    X["weekday"] = 6
    model = rates.ShrunkRateRegressor().fit(X, y)
    sunday = X.head(24)
    monday = sunday.assign(weekday=0)
    np.testing.assert_allclose(model.predict(monday), model.predict(sunday), rtol=1e-4)
    assert model.predict(monday).mean() == pytest.approx(y[:24].mean(), rel=0.5)
