"""The fitted encoding step of a pipeline as lookup tables, for scoring a few rows in microseconds.

scikit-learn validates its input column by column on every call: one row through the French
one-hot encoding takes ~8 ms, a hundred times the model itself. Every encoder the training lane
uses (``OneHotEncoder``, ``OrdinalEncoder``, ``SimpleImputer``, ``StandardScaler``) maps each
input column on its own, so its output is ``base + sum over columns of delta_column(value)``, and
those deltas can be read off the fitted encoder itself by transforming probe rows: every known
category of each categorical column (plus one never seen, for sklearn's own unknown handling) and
0 / 1 for each numeric column. Nothing is re-implemented: the tables are sklearn's outputs.

:func:`compile_pipeline` builds the tables and then checks them against the pipeline on probe
rows in which every category of every column appears in shifting combinations, with numbers up to
about a million; a pipeline whose encoding does not reproduce to 1e-9 (a transformer that mixes
columns, categories that are neither numbers nor text) is served by scikit-learn as it is.
Inputs must be what serving builds: no missing values (they never reach the model).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

log = logging.getLogger(__name__)
TOLERANCE = 1e-9
# Values no BAAC or NYC column holds: they probe sklearn's own handling of unknown categories.
UNSEEN, UNSEEN_TEXT = -9_999, "\x00unseen"


def _dense(values: Any) -> np.ndarray:
    return np.asarray(values.toarray() if sparse.issparse(values) else values, dtype=np.float64)


@dataclass(frozen=True)
class _CategoricalBlock:
    """One encoder over categorical columns: per column, sorted codes and their output deltas."""

    columns: list[str]
    base: np.ndarray  # the output of the probe base row
    codes: list[np.ndarray]
    deltas: list[np.ndarray]  # (len(codes) + 1, n_out); the last row: a code never seen

    def transform(self, X: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        out = np.tile(self.base, (n, 1))
        for column, codes, delta in zip(self.columns, self.codes, self.deltas, strict=True):
            out += delta[_positions(codes, np.asarray(X[column]))]
        return out


def _positions(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each value's index in ``codes``; ``len(codes)`` (the unseen row) when it is not there."""
    if codes.dtype == object:  # text: a dictionary, as text and numbers do not compare
        index = {code: i for i, code in enumerate(codes)}
        return np.fromiter((index.get(v, len(codes)) for v in values), np.intp, len(values))
    at = np.searchsorted(codes, values)
    found = at < len(codes)
    found[found] = codes[at[found]] == values[found]
    return np.where(found, at, len(codes))


@dataclass(frozen=True)
class _AffineBlock:
    """A numeric transformer that maps each column on its own: ``value * scale + offset``."""

    columns: list[str]
    scale: np.ndarray
    offset: np.ndarray

    def transform(self, X: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        values = np.column_stack([np.asarray(X[c], dtype=np.float64) for c in self.columns])
        return values * self.scale + self.offset


def _frame(
    columns: list[str], values: Mapping[str, Any], dtypes: Mapping[str, Any]
) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(values[c]).astype(dtypes[c]) for c in columns})


def _codes(categories: Any) -> np.ndarray | None:
    """A column's known categories as a sorted array to search, or None when they are neither
    all numbers (without NaN) nor all text."""
    values = np.asarray(categories)
    if np.issubdtype(values.dtype, np.number):
        return None if np.isnan(values.astype(np.float64)).any() else values.astype(np.float64)
    if all(isinstance(v, str) for v in values):
        return np.asarray(sorted(values), dtype=object)
    return None


def _unseen(codes: np.ndarray) -> Any:
    return UNSEEN_TEXT if codes.dtype == object else UNSEEN


def _categorical_block(encoder: Any, columns: list[str], dtypes: Mapping[str, Any]) -> Any:
    known = [_codes(c) for c in encoder.categories_]
    if any(codes is None for codes in known):
        return None
    base_row = {c: [codes[0]] for c, codes in zip(columns, known, strict=True)}
    base = _dense(encoder.transform(_frame(columns, base_row, dtypes)))[0]
    deltas = []
    for column, codes in zip(columns, known, strict=True):
        probes = {c: v * (len(codes) + 1) for c, v in base_row.items()}
        probes[column] = [*codes, _unseen(codes)]
        deltas.append(_dense(encoder.transform(_frame(columns, probes, dtypes))) - base)
    return _CategoricalBlock(columns, base, known, deltas)


def _affine_block(transformer: Any, columns: list[str], dtypes: Mapping[str, Any]) -> Any:
    width = len(columns)
    if transformer == "passthrough":
        return _AffineBlock(columns, np.ones(width), np.zeros(width))
    zero = _dense(transformer.transform(_frame(columns, {c: [0] for c in columns}, dtypes)))[0]
    one = _dense(transformer.transform(_frame(columns, {c: [1] for c in columns}, dtypes)))[0]
    if zero.shape != (width,):
        return None
    return _AffineBlock(columns, one - zero, zero)


@dataclass(frozen=True)
class _ColumnsBlock:
    """An encoding step that maps a mapping of column arrays to its matrix itself (the NYC rate
    encoder, ``training.rates.CellRateEncoder``): nothing to tabulate, only pandas to skip."""

    encoder: Any
    columns: list[str]

    def transform(self, X: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        return self.encoder.transform(X)


@dataclass(frozen=True)
class CompiledPipeline:
    """``pipeline`` with its encoding step as tables; ``predict`` / ``predict_proba`` like it."""

    blocks: list[Any]
    sparse_output: bool
    rest: list[Any]  # the steps after the encoding that run at predict time (samplers skipped)

    def encode(self, X: Mapping[str, np.ndarray]) -> Any:
        n = len(np.asarray(X[self.blocks[0].columns[0]]))
        out = np.hstack([block.transform(X, n) for block in self.blocks])
        return sparse.csr_matrix(out) if self.sparse_output else out

    def _final(self, X: Mapping[str, np.ndarray]) -> tuple[Any, Any]:
        values = self.encode(X)
        for step in self.rest[:-1]:
            values = step.transform(values)
        return self.rest[-1], values

    def predict_proba(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        estimator, values = self._final(X)
        return estimator.predict_proba(values)

    def predict(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        estimator, values = self._final(X)
        return estimator.predict(values)


def _probe_rows(encoder: Any, columns: list[str], n: int = 96) -> pd.DataFrame:
    """Rows in which every known category of every column (and an unseen one) appears, in
    shifting combinations, with numbers of every sign and of sizes up to about a million."""
    rng = np.random.default_rng(0)
    known = {
        column: _codes(categories[j])
        for _name, transformer, cols in encoder.transformers_
        if (categories := getattr(transformer, "categories_", None)) is not None
        for j, column in enumerate(cols)
    }
    n = max([n, *(len(c) + 1 for c in known.values() if c is not None)])
    data: dict[str, np.ndarray] = {}
    for j, column in enumerate(columns):
        codes = known.get(column)
        if codes is not None:
            codes = np.append(codes, np.asarray([_unseen(codes)], dtype=codes.dtype))
            data[column] = codes[(np.arange(n) + 7 * j) % len(codes)]
        else:
            data[column] = rng.normal(0, 50, n).round(rng.integers(0, 4)) * 10.0 ** rng.integers(
                0, 5, n
            )
    return pd.DataFrame(data)


def compile_pipeline(pipeline: Any, dtypes: Mapping[str, Any]) -> CompiledPipeline | None:
    """The tables of ``pipeline``'s first step (a fitted ColumnTransformer), checked; None when the
    pipeline is of another shape or its encoding does not reproduce (served by sklearn then).
    ``dtypes`` are the input columns' types, as training passed them."""
    from sklearn.compose import ColumnTransformer

    from accident_assets.training.rates import CellRateEncoder

    steps = list(getattr(pipeline, "steps", []))
    if steps and isinstance(steps[0][1], CellRateEncoder):
        rest = [s for _, s in steps[1:] if s is not None and s != "passthrough"]
        return CompiledPipeline([_ColumnsBlock(steps[0][1], ["cell"])], False, rest)
    if not steps or not isinstance(steps[0][1], ColumnTransformer):
        return None
    encoder: ColumnTransformer = steps[0][1]
    columns = list(getattr(encoder, "feature_names_in_", []))
    if set(columns) != set(dtypes):
        return None
    rest = [
        s
        for _, s in steps[1:]
        if s is not None and s != "passthrough" and not hasattr(s, "fit_resample")
    ]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn's notes on unknown probe categories
            blocks = []
            for _name, transformer, cols in encoder.transformers_:
                if transformer == "drop":
                    continue
                cols = list(cols)
                if hasattr(transformer, "categories_"):
                    block = _categorical_block(transformer, cols, dtypes)
                else:
                    block = _affine_block(transformer, cols, dtypes)
                if block is None:
                    return None
                blocks.append(block)
            compiled = CompiledPipeline(blocks, bool(encoder.sparse_output_), rest)
            probes = _probe_rows(encoder, columns).astype(dict(dtypes))
            expected = _dense(encoder.transform(probes))
            got = _dense(compiled.encode({c: probes[c].to_numpy() for c in columns}))
    except Exception as exc:  # any surprise: serve with sklearn as it is
        log.info(
            "pipeline not compiled (%s: %s); scoring with scikit-learn", type(exc).__name__, exc
        )
        return None
    if got.shape != expected.shape or not np.allclose(
        got, expected, rtol=TOLERANCE, atol=TOLERANCE
    ):
        log.info("pipeline not compiled: its encoding does not reproduce on probe rows")
        return None
    return compiled
