"""How close the NYC sample is to the real crashes: fits the figures ``sample.py`` embeds, and
compares the same statistics on real January 2023 and on 31 generated days.

Usage::

    .venv/bin/python bench/calibrate_nyc_sample.py [--real ../shared/data/nyc_collisions]
        [--seed 7] [--other-seeds 4] [--constants]

Both sides go through the lane's own code: the portal CSV export parser (``CsvExportNycSource``)
or ``sample.sample_day`` -> ``raw_frame`` -> ``clean_crashes`` (H3 resolution 7), so a crash gets
the same geocode status, cell and incidents (max(1, injured + killed)) either way.

Data (``--real``): ``2023-01/`` (citywide, 31 days; every statistic), the Manhattan series
``2022-01_2023-07_manhattan/`` (566 days; weekday and month factors and day-level dispersion,
which a month of data cannot pin down) and ``2024-w27/`` (a later citywide week; daily volume and
geocode shares). ``--constants`` prints the fitted figures as the Python literals ``sample.py``
embeds.

Statistics (see the functions): day-level dispersion is the squared coefficient of variation of
a Gamma day multiplier beyond Poisson and beyond the weekday (and month) factors; cell-day and
cell-hour dispersion are the same for a cell's counts given its share of the city and the day's
total (and the hour's share): a negative-binomial ``1/k`` by moments, ``Σ[(y-m)² - y] / Σm²``,
0 for Poisson.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import h3
import numpy as np
import polars as pl
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accident_assets.nyc import sample  # noqa: E402
from accident_assets.nyc.sources import CsvExportNycSource  # noqa: E402
from accident_assets.nyc.transforms import clean_crashes, raw_frame  # noqa: E402

DEFAULT_REAL = ROOT.parent / "shared" / "data" / "nyc_collisions"
JANUARY = [dt.date(2023, 1, 1) + dt.timedelta(days=i) for i in range(31)]
DAY_TYPES = ("weekday", "saturday", "sunday")


def crashes_of(days: list[dt.date], records_of) -> pl.DataFrame:
    return pl.concat([clean_crashes(raw_frame(records_of(d)), d) for d in days])


def read_export(path: Path) -> pl.DataFrame:
    source = CsvExportNycSource(path=str(path))
    return crashes_of(source.days(), source.fetch_day)


def day_type(weekday: pl.Expr) -> pl.Expr:
    return (
        pl.when(weekday == 6)
        .then(pl.lit("sunday"))
        .when(weekday == 5)
        .then(pl.lit("saturday"))
        .otherwise(pl.lit("weekday"))
    )


def nb_inverse_k(y: np.ndarray, m: np.ndarray) -> float:
    """Negative-binomial 1/k of counts ``y`` around means ``m`` by moments (0: Poisson)."""
    return float((((y - m) ** 2) - y).sum() / (m**2).sum())


# -- day level -----------------------------------------------------------------------------------


def daily_counts(crashes: pl.DataFrame) -> pl.DataFrame:
    return (
        crashes.group_by("date")
        .len("n")
        .sort("date")
        .with_columns(
            pl.col("date").dt.weekday().sub(1).alias("weekday"),
            pl.col("date").dt.month().alias("month"),
        )
    )


def weekday_factors(days: pl.DataFrame, by_month: bool) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicative weekday (Mon=0) and month factors, each of mean 1, by alternating means."""
    n = days["n"].to_numpy().astype(float)
    wd = days["weekday"].to_numpy()
    mo = days["month"].to_numpy() - 1
    week, month = np.ones(7), np.ones(12)
    for _ in range(20):
        week = np.array([(n / month[mo])[wd == w].mean() for w in range(7)])
        week /= week.mean()
        if by_month:
            present = np.unique(mo)
            month[present] = [(n / week[wd])[mo == m].mean() for m in present]
            month[present] /= month[present].mean()
    return week, month


def day_dispersion(days: pl.DataFrame, week: np.ndarray, month: np.ndarray) -> float:
    """1/k of a Gamma day multiplier: beyond Poisson and the weekday × month factors."""
    n = days["n"].to_numpy().astype(float)
    shape = week[days["weekday"].to_numpy()] * month[days["month"].to_numpy() - 1]
    return nb_inverse_k(n, n.mean() / shape.mean() * shape)


# -- space ---------------------------------------------------------------------------------------


def cell_totals(crashes: pl.DataFrame) -> np.ndarray:
    """Crashes per active cell over the period, largest first."""
    valid = crashes.filter(pl.col("cell").is_not_null())
    return np.sort(valid.group_by("cell").len()["len"].to_numpy())[::-1].astype(float)


def top_share(totals: np.ndarray, fraction: float) -> float:
    k = max(1, round(fraction * len(totals)))
    return float(totals[:k].sum() / totals.sum())


def gamma_shape(totals: np.ndarray) -> float:
    """MLE shape of a Gamma fitted to the per-cell rates (small: long-tailed)."""
    shape, _, _ = stats.gamma.fit(totals, floc=0)
    return float(shape)


def lognormal_sigma(totals: np.ndarray) -> float:
    return float(np.log(totals).std(ddof=1))


def cell_counts(
    crashes: pl.DataFrame, hourly: bool, persistent: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Counts per active cell × day (× hour, zeros included) and their means given the cell's
    share of the period, the day's total and (hourly) the hour's share of its day type."""
    valid = crashes.filter(pl.col("cell").is_not_null())
    cells = (
        valid.group_by("cell")
        .len("cell_n")
        .with_columns((pl.col("cell_n") / valid.height).alias("share"))
    )
    days = valid.group_by("date").len("day_n")
    keys = cells.join(days, how="cross")
    by = ["cell", "date"]
    if hourly:
        keys = keys.join(pl.DataFrame({"hour": np.arange(24, dtype=np.int8)}), how="cross")
        dtype = day_type(pl.col("date").dt.weekday() - 1)
        kinds = valid.with_columns(dtype.alias("kind"))
        hours = (
            kinds.group_by("kind", "hour")
            .len("h")
            .with_columns((pl.col("h") / pl.col("h").sum().over("kind")).alias("hour_share"))
        )
        keys = keys.with_columns(dtype.alias("kind")).join(hours, on=["kind", "hour"], how="left")
        keys = keys.with_columns(pl.col("hour_share").fill_null(0.0))
        by.append("hour")
    else:
        keys = keys.with_columns(pl.lit(1.0).alias("hour_share"))
    counts = valid.group_by(by).len("y")
    frame = keys.join(counts, on=by, how="left").with_columns(pl.col("y").fill_null(0))
    frame = frame.with_columns(
        (pl.col("share") * pl.col("day_n") * pl.col("hour_share")).alias("m")
    )
    if persistent:
        # Summed over the days, a transient excess is diluted; what stays is the part of the
        # cell × hour pattern that repeats from day to day (a learnable interaction).
        frame = frame.group_by("cell", "hour").agg(pl.col("y").sum(), pl.col("m").sum())
    return frame["y"].to_numpy().astype(float), frame["m"].to_numpy()


# -- time ----------------------------------------------------------------------------------------


def hour_profiles(crashes: pl.DataFrame) -> dict[str, np.ndarray]:
    """Share of each hour in the crashes of each day type (sums to 1 per type)."""
    kinds = crashes.with_columns(day_type(pl.col("date").dt.weekday() - 1).alias("kind"))
    out = {}
    for kind in DAY_TYPES:
        hours = kinds.filter(pl.col("kind") == kind)["hour"].to_numpy().astype(int)
        counts = np.bincount(hours, minlength=24).astype(float)
        out[kind] = counts / counts.sum()
    return out


def profile_168(crashes: pl.DataFrame) -> np.ndarray:
    weekday = crashes["date"].dt.weekday().to_numpy().astype(int) - 1
    slot = weekday * 24 + crashes["hour"].to_numpy().astype(int)
    counts = np.bincount(slot, minlength=168).astype(float)
    return counts / counts.sum()


# -- all figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    values: dict[str, float]
    profiles: dict[str, np.ndarray]
    slots: np.ndarray
    cell_totals: np.ndarray
    week: np.ndarray


def figures(crashes: pl.DataFrame) -> Figures:
    days = daily_counts(crashes)
    n = days["n"].to_numpy().astype(float)
    week, month = weekday_factors(days, by_month=False)
    totals = cell_totals(crashes)
    ndays = days.height
    y_cd, m_cd = cell_counts(crashes, hourly=False)
    y_ch, m_ch = cell_counts(crashes, hourly=True)
    y_cp, m_cp = cell_counts(crashes, hourly=True, persistent=True)
    geo = crashes["geo_status"].value_counts(normalize=True)
    geo_share = dict(geo.iter_rows())
    geocoded = crashes["geo_status"] == "valid"
    incidents = crashes["incidents"].to_numpy()
    profiles = hour_profiles(crashes)
    values = {
        "days": ndays,
        "crashes": crashes.height,
        "crashes/day mean": n.mean(),
        "crashes/day var/mean": n.var(ddof=1) / n.mean(),
        "day 1/k beyond weekday": day_dispersion(days, week, month),
        "weekday factor max/min": week.max() / week.min(),
        "incidents/crash": incidents.mean(),
        "P(incidents>=2)": (incidents >= 2).mean(),
        "P(incidents>=4)": (incidents >= 4).mean(),
        "injured/crash": crashes["injured"].mean(),
        "killed per 1000 crashes": 1000 * crashes["killed"].mean(),
        "no geocode share": geo_share.get("missing", 0.0),
        "0,0 geocode share": geo_share.get("zero", 0.0),
        "outside NYC share": geo_share.get("outside_nyc", 0.0),
        "no borough share": crashes["borough"].is_null().mean(),
        "no borough, geocoded rows": crashes.filter(geocoded)["borough"].is_null().mean(),
        "no borough, rows without geocode": crashes.filter(~geocoded)["borough"].is_null().mean(),
        "active cells": len(totals),
        "top 1 % cells share": top_share(totals, 0.01),
        "top 5 % cells share": top_share(totals, 0.05),
        "top 20 % cells share": top_share(totals, 0.20),
        "cells for half": int(np.searchsorted(np.cumsum(totals), totals.sum() / 2) + 1),
        "cell rate Gamma shape": gamma_shape(totals / ndays),
        "cell rate log-normal sigma": lognormal_sigma(totals / ndays),
        "cell rate max/median": totals.max() / np.median(totals),
        "cell-day 1/k": nb_inverse_k(y_cd, m_cd),
        "cell-day var/mean": ((y_cd - m_cd) ** 2).sum() / m_cd.sum(),
        "cell-hour 1/k": nb_inverse_k(y_ch, m_ch),
        "cell-hour var/mean": ((y_ch - m_ch) ** 2).sum() / m_ch.sum(),
        "cell × hour 1/k, period sums": nb_inverse_k(y_cp, m_cp),
        "share 0-5 h (weekday)": profiles["weekday"][0:6].sum(),
        "share 16-18 h (weekday)": profiles["weekday"][16:19].sum(),
        "share 0-5 h (sunday)": profiles["sunday"][0:6].sum(),
        "peak/trough hour (weekday)": profiles["weekday"].max() / profiles["weekday"].min(),
    }
    return Figures(values, profiles, profile_168(crashes), totals, week)


# January 2022 was the Omicron wave (25 crashes/day in Manhattan against 31-36 in the months
# around it) and July 2023 ends 10 days before the export, so late reports are missing: neither
# says what a calendar month does.
SKIP_MONTHS = ((2022, 1), (2023, 7))


def series_figures(crashes: pl.DataFrame) -> dict[str, object]:
    """What a long series adds: weekday, month and holiday factors and the day multiplier's 1/k."""
    days = daily_counts(crashes).with_columns(pl.col("date").dt.year().alias("year"))
    skip = pl.lit(False)
    for year, month in SKIP_MONTHS:
        skip = skip | ((pl.col("year") == year) & (pl.col("month") == month))
    kept = days.filter(~skip)
    week, month = weekday_factors(kept, by_month=True)
    fitted = week[kept["weekday"].to_numpy()] * month[kept["month"].to_numpy() - 1]
    ratio = kept["n"].to_numpy() / (kept["n"].mean() / fitted.mean() * fitted)
    holiday = np.array([sample.is_holiday(d) for d in kept["date"].to_list()])
    return {
        "days": days.height,
        "kept days": kept.height,
        "crashes/day mean": days["n"].mean(),
        "weekday": week,
        "month": month,
        "holiday factor": float(ratio[holiday].mean() / ratio[~holiday].mean()),
        "holidays": int(holiday.sum()),
        "day 1/k beyond weekday × month": day_dispersion(kept, week, month),
    }


def borough_of_cells(crashes: pl.DataFrame) -> pl.DataFrame:
    """Crashes, days and borough per active cell: the borough most of its crashes name, else
    that of its neighbours (cells whose crashes never name one lie on the edges)."""
    valid = crashes.filter(pl.col("cell").is_not_null())
    named = valid.filter(pl.col("borough").is_not_null())
    majority = (
        named.group_by("cell", "borough")
        .len()
        .sort("len", "borough", descending=[True, False])
        .unique("cell", keep="first", maintain_order=True)
    )
    of = dict(zip(majority["cell"], majority["borough"], strict=True))
    totals = valid.group_by("cell").len("n").sort("cell")
    boroughs = []
    for cell in totals["cell"]:
        around = [of[c] for c in h3.grid_disk(cell, 2) if c in of]
        boroughs.append(of.get(cell) or max(sorted(set(around)), key=around.count))
    return totals.with_columns(pl.Series("borough", boroughs))


RATE_PROBS = (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)


def citywide_week(
    crashes: pl.DataFrame, holiday_factor: float, month_factor: float
) -> tuple[np.ndarray, float]:
    """Weekday factors of a month once its holidays are scaled up to ordinary days, and the
    base volume that gives the month its mean with these factors."""
    days = daily_counts(crashes)
    holiday = np.array([sample.is_holiday(d) for d in days["date"].to_list()])
    scale = np.where(holiday, holiday_factor, 1.0)
    adjusted = days.with_columns(pl.Series("n", days["n"].to_numpy() / scale))
    week, _ = weekday_factors(adjusted, by_month=False)
    shape = week[days["weekday"].to_numpy()] * scale
    return week, float(days["n"].mean() / (month_factor * shape.mean()))


def relative_rates(crashes: pl.DataFrame) -> np.ndarray:
    """Each active cell's crashes per day divided by its borough's mean."""
    cells = borough_of_cells(crashes)
    return cells.select(pl.col("n") / pl.col("n").mean().over("borough")).to_series().to_numpy()


def borough_figures(crashes: pl.DataFrame) -> pl.DataFrame:
    """Per borough: active cells, mean crashes per cell per day, and the Gamma shape of the
    cells' rates divided by their borough's mean (pooled over the boroughs)."""
    ndays = crashes["date"].n_unique()
    cells = borough_of_cells(crashes).with_columns((pl.col("n") / ndays).alias("rate"))
    cells = cells.with_columns(
        (pl.col("rate") / pl.col("rate").mean().over("borough")).alias("rel")
    )
    return (
        cells.group_by("borough")
        .agg(pl.len().alias("cells"), pl.col("rate").mean().alias("mean_rate"))
        .sort("borough")
        .with_columns(pl.lit(gamma_shape(cells["rel"].to_numpy())).alias("within_shape"))
    )


def tvd(a: np.ndarray, b: np.ndarray) -> float:
    return float(0.5 * np.abs(a / a.sum() - b / b.sum()).sum())


def literal(values: np.ndarray, digits: int = 3) -> str:
    return "[" + ", ".join(f"{v:.{digits}f}" for v in values) + "]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--constants", action="store_true")
    parser.add_argument("--other-seeds", type=int, default=4)
    args = parser.parse_args()

    real_crashes = read_export(args.real / "2023-01" / "nyc_crashes_202301.csv")
    real = figures(real_crashes)
    started = time.perf_counter()
    records = {d: sample.sample_day(d, args.seed) for d in JANUARY}
    first = (time.perf_counter() - started) / len(JANUARY)
    started = time.perf_counter()
    for d in JANUARY:
        sample.sample_day(d, args.seed)
    again = (time.perf_counter() - started) / len(JANUARY)
    synthetic = figures(crashes_of(JANUARY, records.__getitem__))
    # Other seeds: how much of a gap to the real month is the noise of 31 days.
    others = [
        figures(crashes_of(JANUARY, lambda d, s=s: sample.sample_day(d, s))).values
        for s in range(args.seed + 1, args.seed + 1 + args.other_seeds)
    ]
    week = read_export(args.real / "2024-w27" / "nyccrashes_2024w0630_by20250212.csv")
    manhattan = read_export(args.real / "2022-01_2023-07_manhattan")
    mseries = series_figures(manhattan)

    print(
        f"sample: {first * 1000:.1f} ms a day for the first 31 days (building its cells once), "
        f"{again * 1000:.1f} ms a day again (seed {args.seed})\n"
    )
    spread = f"seeds {args.seed + 1}-{args.seed + args.other_seeds}, min..max"
    print(f"| statistic | real 2023-01 citywide | sample 2023-01 (seed {args.seed}) | {spread} |")
    print("|---|---:|---:|---:|")
    for name, value in real.values.items():
        low = min(o[name] for o in others)
        high = max(o[name] for o in others)
        print(f"| {name} | {value:.4g} | {synthetic.values[name]:.4g} | {low:.4g}..{high:.4g} |")
    profile_tvd = {k: tvd(real.profiles[k], synthetic.profiles[k]) for k in DAY_TYPES}
    print(
        f"| hour profile TVD real vs sample (weekday/sat/sun) | 0 | "
        f"{profile_tvd['weekday']:.3f} / {profile_tvd['saturday']:.3f} / "
        f"{profile_tvd['sunday']:.3f} | |"
    )
    print(f"| 168-slot profile TVD real vs sample | 0 | {tvd(real.slots, synthetic.slots):.3f} | |")
    print(f"\nweekday factors (Mon..Sun), real 2023-01: {literal(real.week)}")
    print(f"weekday factors (Mon..Sun), sample:       {literal(synthetic.week)}")

    wk = figures(week)
    print(
        f"\nreal 2024-w27 citywide ({wk.values['days']:.0f} days): "
        f"{wk.values['crashes/day mean']:.1f} crashes/day, no geocode "
        f"{wk.values['no geocode share']:.3f}, 0,0 {wk.values['0,0 geocode share']:.3f}, "
        f"no borough {wk.values['no borough share']:.3f}, incidents/crash "
        f"{wk.values['incidents/crash']:.3f}, active cells {wk.values['active cells']:.0f}"
    )
    print(
        f"real Manhattan 2022-01..2023-07 ({mseries['days']} days, {mseries['kept days']} "
        f"without {SKIP_MONTHS}, {mseries['crashes/day mean']:.1f} crashes/day): day 1/k "
        f"beyond weekday × month {mseries['day 1/k beyond weekday × month']:.4f}, holiday "
        f"factor {mseries['holiday factor']:.3f} ({mseries['holidays']} NY holidays)"
    )
    print(f"  weekday factors: {literal(mseries['weekday'])}")
    print(f"  month factors:   {literal(mseries['month'])}")
    week_city, base = citywide_week(real_crashes, mseries["holiday factor"], mseries["month"][0])
    print(
        f"citywide weekday factors, January 2023 with its 3 holidays divided by Manhattan's "
        f"holiday factor: {literal(week_city)}"
    )
    print(f"base daily volume that gives real January 2023 its mean: {base:.1f}")
    boroughs = borough_figures(real_crashes)
    print("\nreal 2023-01 per borough (cells by the borough most of their crashes name):")
    shape = boroughs["within_shape"][0]
    print("| borough | active cells | crashes per cell per day | cells to draw |")
    print("|---|---:|---:|---:|")
    for row in boroughs.iter_rows(named=True):
        # A cell drawn from the Gamma is silent all month with this chance (negative binomial).
        silent = (1 + row["mean_rate"] * len(JANUARY) / shape) ** -shape
        universe = round(row["cells"] / (1 - silent))
        print(f"| {row['borough']} | {row['cells']} | {row['mean_rate']:.3f} | {universe} |")
    print(f"Gamma shape of cell rates within their borough: {shape:.3f}")
    rel = relative_rates(real_crashes)
    print(
        f"quantiles {RATE_PROBS} of a cell's rate / its borough's mean: "
        f"{literal(np.quantile(rel, RATE_PROBS))} (coefficient of variation "
        f"{rel.std() / rel.mean():.3f})"
    )

    if args.constants:
        print("\n# fitted constants for accident_assets/nyc/sample.py")
        for kind in DAY_TYPES:
            print(f"HOUR_SHARE_{kind.upper()} = {literal(real.profiles[kind], 4)}")
        print(f"WEEKDAY_FACTOR = {literal(week_city)}")
        print(f"MONTH_FACTOR = {literal(mseries['month'])}")
        print(f"HOLIDAY_FACTOR = {mseries['holiday factor']:.3f}")
        print(f"BASE_DAILY = {base:.1f}")
        hurt = (real_crashes["injured"] + real_crashes["killed"]).to_numpy()
        print(f"HURT_PMF = {literal(np.bincount(np.minimum(hurt, 8)) / len(hurt), 5)}")


if __name__ == "__main__":
    main()
