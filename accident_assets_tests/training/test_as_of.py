"""As-of windows: what one retrain may read, and which as-of partition is the newest."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from accident_assets.training.as_of import (
    AsOfWindow,
    WindowError,
    france_newest,
    france_window,
    nyc_newest,
    nyc_window,
)
from accident_assets.training.tasks import SplitConfig, split_france, split_nyc


def days(first: str, count: int) -> list[str]:
    start = dt.date.fromisoformat(first)
    return [str(start + dt.timedelta(days=i)) for i in range(count)]


def test_france_year_trains_on_earlier_years_only():
    stored = ["2019", "2021", "2022", "2023"]
    window = france_window("2022", stored)
    assert window.train == ("2019", "2021") and window.holdout == ("2022",)
    assert "2023" not in window.partitions  # a later year is never read
    assert france_window("2019", stored).train == ()
    with pytest.raises(WindowError, match="france/features 2020 is not stored"):
        france_window("2020", stored)
    assert france_newest(stored) == "2023" and france_newest([]) is None


def test_nyc_week_is_held_out_and_only_earlier_days_within_the_window_train():
    stored = days("2023-01-01", 36)  # Sunday 2023-01-01 .. Sunday 2023-02-05
    window = nyc_window("2023-01-16", stored, training_days=7)
    assert window.holdout == tuple(days("2023-01-16", 7))
    assert window.train == tuple(days("2023-01-09", 7))
    everything = nyc_window("2023-01-16", stored, training_days=56)
    assert everything.train == tuple(days("2023-01-01", 15))
    assert max(everything.partitions) == "2023-01-22"


def test_nyc_week_refused_when_a_holdout_day_is_missing_or_training_is_short():
    stored = [d for d in days("2023-01-01", 36) if d != "2023-01-18"]
    with pytest.raises(WindowError, match="misses nyc/features day\\(s\\) 2023-01-18"):
        nyc_window("2023-01-16", stored, training_days=56)
    with pytest.raises(WindowError, match="1 stored nyc/features day"):
        nyc_window("2023-01-02", days("2023-01-01", 8), training_days=56, min_training=7)
    with pytest.raises(WindowError, match="not a Monday"):
        nyc_window("2023-01-03", days("2023-01-01", 36), training_days=56)


def test_nyc_newest_is_the_latest_complete_week_with_enough_training_days():
    assert nyc_newest(days("2023-01-01", 36), 56, 7) == "2023-01-30"
    # One day short of the last week: the week before is the newest.
    assert nyc_newest(days("2023-01-01", 35), 56, 7) == "2023-01-23"
    # A gap inside the latest week does not stop an earlier complete week.
    gap = [d for d in days("2023-01-01", 36) if d != "2023-02-01"]
    assert nyc_newest(gap, 56, 7) == "2023-01-23"
    assert nyc_newest(days("2023-01-01", 9), 56, 7) is None
    assert nyc_newest([], 56, 7) is None


def test_france_split_as_of_year_or_stratified_for_a_single_year():
    frame = pl.DataFrame({"year": [2021] * 10 + [2022] * 5, "priority": [0, 1] * 7 + [1]})
    train, test, how = split_france(frame, AsOfWindow("2022", ("2021",), ("2022",)), SplitConfig())
    assert set(test["year"]) == {2022} and train.height == 10 and "2022" in how
    one = AsOfWindow("2021", (), ("2021",))
    train, test, how = split_france(frame, one, SplitConfig())
    assert (train.height, test.height) == (7, 3) and test["priority"].sum() in (1, 2)
    assert set(train["year"]) == set(test["year"]) == {2021}


def test_nyc_split_by_window_days():
    frame = pl.DataFrame({"date": [dt.date.fromisoformat(d) for d in days("2023-01-01", 23)]})
    window = nyc_window("2023-01-16", days("2023-01-01", 23), training_days=7)
    train, hold, how = split_nyc(frame, window, SplitConfig())
    assert train["date"].min() == dt.date(2023, 1, 9) and train.height == 7
    assert hold["date"].min() == dt.date(2023, 1, 16) and hold.height == 7
    assert "2023-01-22" not in {str(d) for d in train["date"]}
    assert "week 2023-01-16..2023-01-22" in how


def test_nyc_training_rows_never_cover_a_cell_first_seen_in_the_holdout_week():
    import h3

    from accident_assets.training.tasks import assemble_nyc

    old, new = h3.latlng_to_cell(40.68, -73.95, 7), h3.latlng_to_cell(40.73, -73.80, 7)

    def day(key: str, cells: dict[str, str]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "date": [dt.date.fromisoformat(key)] * len(cells),
                "hour": [8] * len(cells),
                "cell": list(cells),
                "borough": list(cells.values()),
                "incidents": [1] * len(cells),
            }
        )

    stored = days("2023-01-09", 14)
    frames = {k: day(k, {old: "BROOKLYN"}) for k in stored}
    frames["2023-01-18"] = day("2023-01-18", {new: "QUEENS"})  # only in the holdout week
    window = nyc_window("2023-01-16", stored, training_days=7)
    frame = assemble_nyc(frames, window)
    train, hold, _ = split_nyc(frame, window, SplitConfig())
    assert set(train["cell"]) == {old} and train.height == 7 * 24
    assert set(hold["cell"]) == {old, new} and hold.height == 2 * 7 * 24
    assert hold.filter(pl.col("cell") == new)["incidents"].sum() == 1
    # A cell quiet on a holdout day keeps the borough the training days gave it.
    assert set(hold.filter(pl.col("cell") == old)["borough"]) == {"BROOKLYN"}
    assert hold["incidents"].sum() == 6 + 1  # no training-day incident leaks into the holdout


def test_backtest_as_of_is_the_newest_consecutive_partitions_that_can_train():
    from accident_assets.training.tasks import FRANCE, NYC

    stored = days("2023-01-01", 36)
    assert NYC.backtest_as_of(stored, 4) == ["2023-01-09", "2023-01-16", "2023-01-23", "2023-01-30"]
    # The week of 2023-01-02 has one training day before it: the backtest stops there.
    assert NYC.backtest_as_of(stored, 10) == NYC.backtest_as_of(stored, 4)
    assert NYC.backtest_as_of(stored, 1) == ["2023-01-30"]
    assert NYC.backtest_as_of(days("2023-01-01", 9), 4) == []
    assert FRANCE.backtest_as_of(["2019", "2021", "2022"], 2) == ["2021", "2022"]


def test_days_with_a_geocoding_backlog_leave_training_and_holdout():
    """A day geocoded at less than ``min_geocoded_ratio`` of the window's median share is left
    out of both sides, and recorded; a week whose every day is left out is refused."""
    import h3

    from accident_assets.nyc.checks import incomplete_days
    from accident_assets.training.tasks import NYC, build_training_set

    cell = h3.latlng_to_cell(40.68, -73.95, 7)
    stored = days("2023-01-02", 21)

    def read(keys: list[str]) -> dict[str, pl.DataFrame]:
        return {
            k: pl.DataFrame(
                {
                    "date": [dt.date.fromisoformat(k)],
                    "hour": [8],
                    "cell": [cell],
                    "borough": ["BROOKLYN"],
                    "incidents": [1],
                }
            )
            for k in keys
        }

    shares = dict.fromkeys(stored, 0.92)
    shares["2023-01-10"] = 0.40  # training day with a backlog
    shares["2023-01-18"] = 0.70  # holdout day: 0.70 < 0.8 x 0.92
    shares["2023-01-19"] = 0.80  # 0.80 >= 0.736: kept
    assert incomplete_days(shares, 0.8) == ["2023-01-10", "2023-01-18"]
    config = SplitConfig(training_days=14)
    ts, frames = build_training_set(
        NYC, "2023-01-16", stored, read, config, quality=lambda keys: {k: shares[k] for k in keys}
    )
    assert ts.left_out == ("2023-01-10", "2023-01-18")
    assert "2023-01-10" not in ts.train_partitions and "2023-01-18" not in ts.holdout_partitions
    assert "2023-01-10" not in frames and "2023-01-18" not in frames
    used = {str(d) for d in ts.train["date"].unique()} | {
        str(d) for d in ts.holdout["date"].unique()
    }
    assert not used & set(ts.left_out)
    assert ts.holdout["date"].n_unique() == 6 and ts.train["date"].n_unique() == 13
    # Without quality figures every day is used.
    whole, _ = build_training_set(NYC, "2023-01-16", stored, read, config)
    assert whole.left_out == () and whole.holdout["date"].n_unique() == 7
    week = set(days("2023-01-16", 7))
    backlog = {k: (0.1 if k in week else 0.92) for k in stored}
    with pytest.raises(WindowError, match="every holdout partition was left out"):
        build_training_set(
            NYC,
            "2023-01-16",
            stored,
            read,
            config,
            quality=lambda keys: {k: backlog[k] for k in keys},
        )
