"""Historical incident rates per H3 cell, hour and weekday, shrunk toward coarser levels.

NYC cell-hours are sparse counts: a cell seen on 8 days has 8 observations per hour and weekday,
mostly zeros. Each level's rate is therefore a posterior mean
``(sum_y + k * prior) / (n + k)``: its own data plus ``k`` pseudo-observations of a prior built
from the coarser levels, multiplicatively (a busy cell is busy at every hour, in proportion to
the city's hourly profile):

- ``rate_ring``: the cell's H3 neighbours (k-ring 1) pooled, toward the global rate; it shares
  strength between sparse cells and is what a cell unseen in training falls back to;
- ``rate_cell``: toward its ring rate;
- ``rate_cell_hour`` / ``rate_cell_weekday``: toward ``rate_cell`` × the city's hour (weekday)
  factor;
- ``rate_cell_hour_weekday``: toward ``rate_cell_hour × rate_cell_weekday / rate_cell`` × the
  city's hour × weekday interaction;
- ``profile_hour_weekday``: the city's rate at that hour and weekday over its mean rate.

Each level's strength ``k`` is chosen by two-fold cross-validation of the Poisson deviance over a
grid (:func:`choose_strength`): a moment estimate assumes Poisson noise and under-shrinks the
overdispersed real counts. Everything is dense numpy arrays over the training cells, so scoring a
row is a few array lookups (serving calls this on every request).

:class:`ShrunkRateRegressor` (the ``shrunk_rate`` baseline) predicts ``rate_cell_hour_weekday``;
:class:`CellRateEncoder` adds every rate as a feature for the models, cross-fitted at training
time so that no training row's features were computed from its own target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import h3
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from accident_assets.training.metrics import MIN_RATE

HOURS, WEEKDAYS = 24, 7
RATE_COLUMNS = (
    "rate_ring",
    "rate_cell",
    "rate_cell_hour",
    "rate_cell_weekday",
    "rate_cell_hour_weekday",
    "profile_hour_weekday",
)
# Prior strengths tried per level, in pseudo-observations (rows): from "the data alone" to "the
# prior alone" for any window the lane trains on.
STRENGTH_GRID = np.geomspace(0.1, 1e6, 57)
CROSS_FIT_FOLDS = 5
RING = 1


def _deviance_part(sums: np.ndarray, counts: np.ndarray, rates: np.ndarray) -> float:
    """The rate-dependent part of the Poisson deviance of groups with these held-out sums and
    row counts, each predicted at one rate: sum(n * mu - s * log mu)."""
    mu = np.maximum(rates, MIN_RATE)
    return float(np.sum(counts * mu - sums * np.log(mu)))


def choose_strength(sums: np.ndarray, counts: np.ndarray, priors: np.ndarray) -> float:
    """The prior strength of the grid that best predicts each half of the groups' rows from the
    other half. ``sums``/``counts`` are (2, groups): the per-group target sums and row counts of
    fold 0 and fold 1; ``priors`` the groups' prior rates."""
    losses = []
    for k in STRENGTH_GRID:
        loss = 0.0
        for a, b in ((0, 1), (1, 0)):
            rates = (sums[a] + k * priors) / (counts[a] + k)
            loss += _deviance_part(sums[b], counts[b], rates)
        losses.append(loss)
    # Where the halves cannot tell strengths apart (groups of one row: each half either has the
    # row or predicts nothing), the strongest is taken: without evidence, trust the prior.
    losses_array = np.asarray(losses)
    best = losses_array.min()
    tied = np.flatnonzero(losses_array <= best + 1e-9 * max(abs(best), 1.0))
    return float(STRENGTH_GRID[int(tied[-1])])


def _shrink(sums: np.ndarray, counts: np.ndarray, priors: np.ndarray, k: float) -> np.ndarray:
    return (sums + k * priors) / (counts + k)


def _group_sums(key: np.ndarray, y: np.ndarray, size: int, fold: np.ndarray) -> np.ndarray:
    """Per group, target sums (``[0]``) and row counts (``[1]``), each (3, size): all rows, fold
    0, fold 1."""
    out = np.zeros((2, 3, size))
    for i, mask in enumerate((slice(None), fold == 0, fold == 1)):
        out[0, i] = np.bincount(key[mask], weights=y[mask], minlength=size)
        out[1, i] = np.bincount(key[mask], minlength=size)
    return out


def ring_members(cells: list[str], k: int = RING) -> dict[str, list[str]]:
    """Each cell's neighbours within ``k`` rings (itself excluded); a key that is not an H3
    cell has none."""
    return {
        c: [n for n in h3.grid_disk(c, k) if n != c] if h3.is_valid_cell(c) else [] for c in cells
    }


@dataclass
class RateTables:
    """Fitted rates, dense over the training cells (index ``cells``), hours and weekdays."""

    cells: pd.Index
    global_rate: float
    hour_factor: np.ndarray  # (24,)
    weekday_factor: np.ndarray  # (7,)
    interaction: np.ndarray  # (24, 7): hour x weekday beyond the two factors
    profile: np.ndarray  # (24, 7)
    cell_sums: dict[str, float]  # for the rings of cells unseen in training
    cell_counts: dict[str, float]
    ring: np.ndarray  # (C,)
    cell: np.ndarray  # (C,)
    cell_hour: np.ndarray  # (C, 24)
    cell_weekday: np.ndarray  # (C, 7)
    cell_hour_weekday: np.ndarray  # (C, 24, 7)
    strengths: dict[str, float]

    def ring_rate(self, cell: str) -> float:
        """The pooled, shrunk rate of a cell's training neighbours (global when it has none)."""
        neighbours = ring_members([cell])[cell]
        s = sum(self.cell_sums.get(n, 0.0) for n in neighbours)
        n = sum(self.cell_counts.get(n, 0.0) for n in neighbours)
        return float(
            _shrink(np.array(s), np.array(n), np.array(self.global_rate), self.strengths["ring"])
        )

    def columns(
        self, cells: np.ndarray, hours: np.ndarray, weekdays: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Every rate column at these rows; a cell unseen in training takes its ring rate as its
        cell rate and the city's factors below it."""
        at = self.cells.get_indexer(pd.Index(cells))
        known = at >= 0
        safe = np.where(known, at, 0)
        h, w = hours.astype(np.intp), weekdays.astype(np.intp)
        ring = self.ring[safe]
        cell = self.cell[safe]
        cell_hour = self.cell_hour[safe, h]
        cell_weekday = self.cell_weekday[safe, w]
        chw = self.cell_hour_weekday[safe, h, w]
        if not known.all():
            unseen = {c: self.ring_rate(c) for c in pd.unique(cells[~known])}
            fallback = np.array([unseen[c] for c in cells[~known]])
            ring[~known] = fallback
            cell[~known] = fallback
            cell_hour[~known] = fallback * self.hour_factor[h[~known]]
            cell_weekday[~known] = fallback * self.weekday_factor[w[~known]]
            chw[~known] = (
                fallback
                * self.hour_factor[h[~known]]
                * self.weekday_factor[w[~known]]
                * self.interaction[h[~known], w[~known]]
            )
        return {
            "rate_ring": ring,
            "rate_cell": cell,
            "rate_cell_hour": cell_hour,
            "rate_cell_weekday": cell_weekday,
            "rate_cell_hour_weekday": chw,
            "profile_hour_weekday": self.profile[h, w],
        }


def fit_rates(
    cells: np.ndarray, hours: np.ndarray, weekdays: np.ndarray, y: np.ndarray, seed: int = 0
) -> RateTables:
    """Fit every level on these rows (a cell-hour each, zeros included)."""
    y = np.asarray(y, dtype=float)
    index = pd.Index(pd.unique(cells)).sort_values()
    c = index.get_indexer(pd.Index(cells))
    h, w = np.asarray(hours, dtype=np.intp), np.asarray(weekdays, dtype=np.intp)
    n_cells = len(index)
    fold = np.random.default_rng(seed).integers(0, 2, len(y))
    global_rate = max(float(y.mean()), MIN_RATE) if len(y) else MIN_RATE
    strengths: dict[str, float] = {}

    def level(name: str, key: np.ndarray, size: int, priors: np.ndarray) -> np.ndarray:
        (sums, counts) = _group_sums(key, y, size, fold)
        strengths[name] = choose_strength(sums[1:], counts[1:], priors)
        return _shrink(sums[0], counts[0], priors, strengths[name])

    # The city's hour and weekday factors, then its hour x weekday profile toward their product.
    # An hour or weekday absent from training (a window of one Sunday) has no information: it
    # shrinks to the global rate, a factor of 1, instead of predicting nothing.
    hour_factor = level("hour", h, HOURS, np.full(HOURS, global_rate)) / global_rate
    weekday_factor = level("weekday", w, WEEKDAYS, np.full(WEEKDAYS, global_rate)) / global_rate
    hour_factor = np.maximum(hour_factor, MIN_RATE)
    weekday_factor = np.maximum(weekday_factor, MIN_RATE)
    hw = level(
        "hour_weekday",
        h * WEEKDAYS + w,
        HOURS * WEEKDAYS,
        (global_rate * np.outer(hour_factor, weekday_factor)).ravel(),
    ).reshape(HOURS, WEEKDAYS)
    profile = hw / global_rate
    interaction = profile / np.outer(hour_factor, weekday_factor)

    # Rings: each cell's neighbours pooled (per fold too, for the strength).
    (cell_sums, cell_counts) = _group_sums(c, y, n_cells, fold)
    members = ring_members(list(index))
    position = {cell: i for i, cell in enumerate(index)}
    ring_sums = np.zeros((3, n_cells))
    ring_counts = np.zeros((3, n_cells))
    for i, cell in enumerate(index):
        near = [position[n] for n in members[cell] if n in position]
        if near:
            ring_sums[:, i] = cell_sums[:, near].sum(axis=1)
            ring_counts[:, i] = cell_counts[:, near].sum(axis=1)
    global_priors = np.full(n_cells, global_rate)
    strengths["ring"] = choose_strength(ring_sums[1:], ring_counts[1:], global_priors)
    ring = _shrink(ring_sums[0], ring_counts[0], global_priors, strengths["ring"])

    cell = level("cell", c, n_cells, ring)
    cell_hour = level(
        "cell_hour", c * HOURS + h, n_cells * HOURS, (cell[:, None] * hour_factor[None, :]).ravel()
    ).reshape(n_cells, HOURS)
    cell_weekday = level(
        "cell_weekday",
        c * WEEKDAYS + w,
        n_cells * WEEKDAYS,
        (cell[:, None] * weekday_factor[None, :]).ravel(),
    ).reshape(n_cells, WEEKDAYS)
    prior_chw = (
        cell_hour[:, :, None]
        * cell_weekday[:, None, :]
        / np.maximum(cell, MIN_RATE)[:, None, None]
        * interaction[None, :, :]
    )
    cell_hour_weekday = level(
        "cell_hour_weekday",
        (c * HOURS + h) * WEEKDAYS + w,
        n_cells * HOURS * WEEKDAYS,
        prior_chw.ravel(),
    ).reshape(n_cells, HOURS, WEEKDAYS)
    return RateTables(
        cells=index,
        global_rate=global_rate,
        hour_factor=hour_factor,
        weekday_factor=weekday_factor,
        interaction=interaction,
        profile=profile,
        cell_sums=dict(zip(index, cell_sums[0].tolist(), strict=True)),
        cell_counts=dict(zip(index, cell_counts[0].tolist(), strict=True)),
        ring=ring,
        cell=cell,
        cell_hour=cell_hour,
        cell_weekday=cell_weekday,
        cell_hour_weekday=cell_hour_weekday,
        strengths=strengths,
    )


def _keys(X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``cell``, ``hour``, ``weekday`` of a frame or of a mapping of columns (serving's input)."""
    return (
        np.asarray(X["cell"], dtype=object),
        np.asarray(X["hour"]),
        np.asarray(X["weekday"]),
    )


class ShrunkRateRegressor(RegressorMixin, BaseEstimator):
    """The ``shrunk_rate`` baseline: each row's ``rate_cell_hour_weekday`` (see the module)."""

    def fit(self, X: pd.DataFrame, y: Any) -> ShrunkRateRegressor:
        self.tables_ = fit_rates(*_keys(X), np.asarray(y, dtype=float))
        self.strengths_ = self.tables_.strengths
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "tables_")
        return self.tables_.columns(*_keys(X))["rate_cell_hour_weekday"]


class CellRateEncoder(TransformerMixin, BaseEstimator):
    """A matrix of :data:`RATE_COLUMNS` then the ``passthrough`` columns (``cell`` itself is
    replaced by its rates). ``fit_transform`` cross-fits: the rows of each of
    :data:`CROSS_FIT_FOLDS` folds get rates fitted on the other folds, so a training row never
    sees its own target; ``transform`` (holdout, serving) uses the rates of all training rows.

    The output is a plain array (names in :meth:`get_feature_names_out`), and ``transform``
    takes a frame or a mapping of column arrays: serving scores a few rows without pandas."""

    def __init__(self, passthrough: tuple[str, ...] = (), folds: int = CROSS_FIT_FOLDS) -> None:
        self.passthrough = passthrough
        self.folds = folds

    def fit(self, X: pd.DataFrame, y: Any) -> CellRateEncoder:
        self.tables_ = fit_rates(*_keys(X), np.asarray(y, dtype=float))
        self.n_features_in_ = X.shape[1]
        return self

    def _matrix(self, X: Any, rates: dict[str, np.ndarray]) -> np.ndarray:
        columns = [rates[name] for name in RATE_COLUMNS]
        columns += [np.asarray(X[c], dtype=np.float64) for c in self.passthrough]
        return np.column_stack(columns)

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "tables_")
        return self._matrix(X, self.tables_.columns(*_keys(X)))

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        cells, hours, weekdays = _keys(X)
        fold = np.random.default_rng(1).integers(0, self.folds, len(y))
        rates = {name: np.empty(len(y)) for name in RATE_COLUMNS}
        for f in range(self.folds):
            held = fold == f
            if not held.any():
                continue
            tables = fit_rates(cells[~held], hours[~held], weekdays[~held], y[~held])
            for name, values in tables.columns(cells[held], hours[held], weekdays[held]).items():
                rates[name][held] = values
        self.fit(X, y)
        return self._matrix(X, rates)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([*RATE_COLUMNS, *self.passthrough], dtype=object)
