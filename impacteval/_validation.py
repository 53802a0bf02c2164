"""The one place where user input is checked.

Every public entry point calls these helpers once, before any numerics. Messages name the
parameter, say what was expected and what was received. Nothing here uses ``assert``.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._warn import warn_user
from impacteval.exceptions import DataValidationError, MissingColumnError, MissingDataWarning

__all__ = [
    "PreparedData",
    "as_column_list",
    "as_pandas",
    "check_aligned",
    "check_binary",
    "check_bool",
    "check_choice",
    "check_column_name",
    "check_columns",
    "check_dataframe",
    "check_level",
    "check_min_per_arm",
    "check_n_jobs",
    "check_positive_int",
    "check_positive_weights",
    "check_rng",
    "prepare",
    "short_repr",
]


def short_repr(value: object, limit: int = 60) -> str:
    """Return ``repr(value)`` cut to ``limit`` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_pandas(data: object, param: str = "data") -> object:
    """A pandas DataFrame for a polars or pyarrow table (or any Arrow-exporting frame).

    pandas input is returned as is (no copy) and so is anything that is not a table, for
    :func:`check_dataframe` to refuse. A polars ``DataFrame`` (a ``LazyFrame`` is collected
    first) and a pyarrow ``Table`` or ``RecordBatch`` go through their ``to_pandas()``, so
    numeric columns arrive as float64 / int64 (with NaN for nulls) and strings as labels,
    exactly as the same data read by pandas; other frames that export the Arrow PyCapsule
    stream (``__arrow_c_stream__``: DuckDB relations, narwhals-compatible frames) are read
    through :func:`pyarrow.table`. Neither polars nor pyarrow is imported unless the input
    is one of theirs.

    Raises
    ------
    DataValidationError
        For a Dask DataFrame: estimation by map-reduce over partitions is not available for
        this estimator, and collecting the rows silently could exhaust memory.
    """
    if isinstance(data, pd.DataFrame):
        return data
    root = type(data).__module__.partition(".")[0]
    if root in ("dask", "dask_expr"):
        raise DataValidationError(
            f"`{param}`: a Dask DataFrame is not accepted by this estimator (it would "
            "collect every row into memory); pass `data.compute()` if it fits, or run the "
            "resampling on the cluster with `joblib.parallel_config(backend='dask')`"
        )
    converted: object = data
    if root == "polars" and hasattr(data, "collect") and not hasattr(data, "to_pandas"):
        converted = data.collect()  # a LazyFrame
    if root in ("polars", "pyarrow") and hasattr(converted, "to_pandas"):
        return converted.to_pandas()
    if hasattr(data, "__arrow_c_stream__"):
        import pyarrow as pa

        return pa.table(data).to_pandas()
    return data


def check_dataframe(data: object, param: str = "data") -> pd.DataFrame:
    """Require a non-empty table: pandas, or polars / pyarrow converted by :func:`as_pandas`."""
    data = as_pandas(data, param)
    if not isinstance(data, pd.DataFrame):
        raise DataValidationError(
            f"`{param}` must be a pandas DataFrame (or a polars / pyarrow table); received "
            f"{type(data).__name__}"
        )
    if data.shape[0] == 0:
        raise DataValidationError(f"`{param}` has no rows")
    return data


def check_columns(data: pd.DataFrame, **named: str | Sequence[str] | None) -> None:
    """Require every named column to exist; the error names the parameter and suggests.

    Parameters
    ----------
    data : pandas.DataFrame
    **named
        Parameter name -> column name (or a sequence of names, or None to skip).
    """
    available = [str(c) for c in data.columns]
    for param, cols in named.items():
        if cols is None:
            continue
        if param not in MULTI_COLUMN_PARAMS:
            check_column_name(cols, param)
        for col in [cols] if isinstance(cols, str) else list(cols):
            if not isinstance(col, Hashable) or col not in data.columns:
                close = difflib.get_close_matches(str(col), available, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise MissingColumnError(
                    f"`{param}`: column {col!r} is not in the data{hint} "
                    f"(available: {short_repr(available, 200)})"
                )
            copies = int(np.count_nonzero(data.columns == col))
            if copies > 1:
                raise DataValidationError(
                    f"`{param}`: the data have {copies} columns named {col!r}; column names "
                    "must be unique to say which one is meant (rename or drop the duplicates)"
                )


# Parameters that take several columns; every other parameter checked by `prepare` and
# `check_columns` names exactly one column.
MULTI_COLUMN_PARAMS: frozenset[str] = frozenset(
    {"covariates", "fixed_effects", "mahalanobis", "exact", "outcomes", "predictors"}
)


def check_column_name(value: object, param: str) -> None:
    """Require a single column name (not a list, array or Series of them).

    Raises
    ------
    DataValidationError
        When ``value`` is a container (list, tuple, set, dict, array, Series, Index) or is
        not hashable; a one-element list gets a hint naming its element.
    """
    containers = (list, tuple, set, frozenset, dict, np.ndarray, pd.Series, pd.Index)
    if isinstance(value, containers) or not isinstance(value, Hashable):
        items = list(value) if isinstance(value, containers) else []
        hint = f"; pass {items[0]!r} instead" if len(items) == 1 else ""
        shown = (
            f"of length {len(items)}"
            if isinstance(value, (np.ndarray, pd.Series, pd.Index))
            else short_repr(value)
        )
        raise DataValidationError(
            f"`{param}` must be a single column name (str); received "
            f"{type(value).__name__} {shown}{hint}"
        )


def as_column_list(value: str | Sequence[str] | None, param: str) -> list[str]:
    """A column name or a sequence of names as a list (None gives ``[]``).

    Raises
    ------
    DataValidationError
        When ``value`` is neither a name nor an iterable of names (``str``).
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        items = list(value)
    except TypeError:
        raise DataValidationError(
            f"`{param}` must be a column name or a sequence of column names; "
            f"received {type(value).__name__}"
        ) from None
    for item in items:
        if not isinstance(item, str):
            raise DataValidationError(
                f"`{param}` must contain column names (str); received {item!r}"
            )
    return items


def check_bool(value: object, param: str) -> bool:
    """Require True or False (a numpy bool is accepted)."""
    if not isinstance(value, (bool, np.bool_)):
        raise DataValidationError(f"`{param}` must be True or False; received {value!r}")
    return bool(value)


def check_level(level: object, param: str = "level") -> float:
    """Require a confidence level strictly between 0 and 1."""
    if (
        isinstance(level, bool)
        or not isinstance(level, numbers.Real)
        or not 0.0 < float(level) < 1.0
    ):
        raise DataValidationError(
            f"`{param}` must be a confidence level strictly between 0 and 1 (e.g. 0.95); "
            f"received {short_repr(level)}"
        )
    return float(level)


def check_choice(value: object, param: str, choices: Iterable[str]) -> str:
    """Require one of a fixed set of strings (case-sensitive), suggesting the closest."""
    options = list(choices)
    if not isinstance(value, str) or value not in options:
        same_case = [o for o in options if o.lower() == str(value).lower()]
        close = same_case or difflib.get_close_matches(str(value), options, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DataValidationError(
            f"`{param}` must be one of {options}; received {short_repr(value)}{hint}"
        )
    return value


def check_positive_int(value: object, param: str, minimum: int = 1) -> int:
    """Require an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise DataValidationError(
            f"`{param}` must be an integer >= {minimum}; received {short_repr(value)}"
        )
    return int(value)


def check_n_jobs(value: object, param: str = "n_jobs") -> int | None:
    """Require None (serial, or the active joblib context) or a non-zero int (-1: all cores)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value == 0:
        raise DataValidationError(
            f"`{param}` must be None or a non-zero int (-1 for all cores); received "
            f"{short_repr(value)}"
        )
    return int(value)


def check_positive_weights(column: pd.Series, param: str = "weights") -> np.ndarray:
    """Observation weights as float, refusing zero or negative values."""
    w = column.to_numpy(dtype=float)
    if (w <= 0).any():
        raise DataValidationError(
            f"`{param}`: column {column.name!r} must be strictly positive; received "
            f"{int((w <= 0).sum())} values <= 0"
        )
    return w


def check_rng(rng: object, param: str = "rng") -> tuple[np.random.Generator, int | None]:
    """Turn ``rng`` (int seed, Generator or None) into a Generator and the seed if known."""
    if rng is None:
        return np.random.default_rng(), None
    if isinstance(rng, np.random.Generator):
        return rng, None
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and int(rng) >= 0:
        return np.random.default_rng(int(rng)), int(rng)
    raise DataValidationError(
        f"`{param}` must be a non-negative int seed, a numpy Generator or None; "
        f"received {short_repr(rng)}"
    )


def _numeric(series: pd.Series, param: str) -> np.ndarray:
    if isinstance(series.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)
    ):
        raise DataValidationError(
            f"`{param}`: column {series.name!r} must be numeric; received dtype {series.dtype}"
        )
    return series.to_numpy(dtype=float, na_value=np.nan)


def check_binary(values: np.ndarray, param: str, column: str) -> np.ndarray:
    """Require values in {0, 1} with both present; return them as float."""
    uniq = np.unique(values)
    if not np.all(np.isin(uniq, (0.0, 1.0))):
        raise DataValidationError(
            f"`{param}`: column {column!r} must be binary (0/1 or False/True); received "
            f"values {short_repr(uniq.tolist())}"
        )
    for arm, name in ((1.0, "treated (1)"), (0.0, "control (0)")):
        if arm not in uniq:
            raise DataValidationError(
                f"`{param}`: column {column!r} has no {name} units after dropping missing "
                "values; both arms are needed"
            )
    return values


# Largest absolute value accepted in a numeric column. Variances and Gram matrices hold
# squares and (in robust sandwiches) fourth powers of the data, and 1e77**4 is near the
# largest double (1.8e308): beyond this scale standard errors would overflow to inf.
MAX_ABS_VALUE = 1e75


def _check_magnitude(values: np.ndarray, bad: np.ndarray, param: str, col: str) -> None:
    """Refuse values so large that squared terms would overflow double precision."""
    finite = values[~bad] if bad.any() else values
    if finite.size == 0:
        return
    # max and -min: two passes without the n-sized temporary np.abs would allocate
    largest = max(float(finite.max()), -float(finite.min()))
    if largest > MAX_ABS_VALUE:
        raise DataValidationError(
            f"`{param}`: column {col!r} has values up to {largest:.3g} in absolute value; "
            f"values beyond {MAX_ABS_VALUE:.0e} make variances overflow double precision "
            "(standard errors would be inf). Rescale the column (e.g. divide it by a power of "
            "ten) and scale the estimate back"
        )


def check_min_per_arm(
    z: np.ndarray, param: str, column: str, *, minimum: int, reason: str, suggestion: str
) -> None:
    """Require at least ``minimum`` units in each arm of a 0/1 array.

    Parameters
    ----------
    z : ndarray
        The 0/1 treatment (after :func:`check_binary`).
    param, column : str
        The parameter and column named in the message.
    minimum : int
        Units needed in each arm.
    reason, suggestion : str
        Why the estimator needs them, and what to do instead (ends the message).
    """
    n1 = int(np.count_nonzero(z == 1))
    n0 = int(z.size - n1)
    if min(n1, n0) < minimum:
        raise DataValidationError(
            f"`{param}`: column {column!r} has {n1} treated and {n0} control units; "
            f"at least {minimum} in each arm are needed: {reason}. {suggestion}"
        )


def check_aligned(values: object, data: pd.DataFrame, param: str) -> np.ndarray:
    """Values given as a Series or array, aligned row by row with ``data``.

    A pandas Series must carry the labels of ``data.index`` (in any order; it is aligned by
    label); an array or list must be one-dimensional with one value per row of ``data``.

    Raises
    ------
    DataValidationError
        A Series whose index does not hold the same labels as ``data``, an array of the
        wrong length or shape, or values that are not numeric.
    """
    n = data.shape[0]
    if isinstance(values, pd.Series):
        if values.index.equals(data.index):
            out = values
        elif (
            values.index.is_unique
            and data.index.is_unique
            and len(values) == n
            and values.index.isin(data.index).all()
        ):
            out = values.reindex(data.index)
        else:
            extra = int((~values.index.isin(data.index)).sum())
            absent = int((~data.index.isin(values.index)).sum())
            raise DataValidationError(
                f"`{param}`: the Series must be indexed like `data` (one value per row, same "
                f"index labels); received {len(values)} values, {extra} labels not in the "
                f"data's index and {absent} rows of the data without a value"
            )
        series = out
    else:
        arr = np.asarray(values)
        if arr.ndim != 1 or arr.shape[0] != n:
            raise DataValidationError(
                f"`{param}`: an array must be one-dimensional with one value per row of "
                f"`data` ({n}); received shape {arr.shape}"
            )
        series = pd.Series(arr, index=data.index)
    if not (
        pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)
    ) or isinstance(series.dtype, pd.CategoricalDtype):
        raise DataValidationError(f"`{param}` must be numeric; received dtype {series.dtype}")
    return series.to_numpy(dtype=float, na_value=np.nan)


@dataclass(frozen=True)
class PreparedData:
    """Complete cases of the columns an estimator uses, with the count dropped."""

    frame: pd.DataFrame
    n_dropped: int
    n_input: int


def prepare(
    data: object,
    *,
    numeric: dict[str, str | Sequence[str] | None],
    labels: dict[str, str | Sequence[str] | None] | None = None,
    outcome_param: str | None = None,
) -> PreparedData:
    """Check columns and drop incomplete rows visibly.

    Parameters
    ----------
    data : object
        What the user passed as ``data``.
    numeric : dict
        Parameter name -> numeric column(s) (outcome, treatment, covariates, weights).
    labels : dict, optional
        Parameter name -> label column(s) of any dtype (blocks, clusters, fixed effects).
    outcome_param : str, optional
        The outcome's parameter name: an outcome that is entirely missing is an error.

    Returns
    -------
    PreparedData
        ``frame`` holds the used columns, numeric ones as float64, complete rows only.
        A :class:`MissingDataWarning` is issued when rows are dropped; the count is
        ``n_dropped`` and estimators copy it onto their result.
    """
    frame = check_dataframe(data)
    labels = labels or {}
    check_columns(frame, **numeric, **labels)
    # columns as arrays (a frame built from arrays with copy=False is ~10x cheaper than one
    # built from Series, which matters on 10M-row panels); NaN masks computed once per column
    used: dict[str, Any] = {}
    missing: dict[str, np.ndarray] = {}  # masks of the columns that have missing values
    for param, cols in numeric.items():
        for col in [] if cols is None else ([cols] if isinstance(cols, str) else list(cols)):
            if col in used:
                continue
            series = frame[col]
            values = _numeric(series, param)
            if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iub":
                # numpy integers and booleans: neither missing nor infinite, and below
                # 2^64 < MAX_ABS_VALUE in magnitude
                used[col] = values
                continue
            bad = ~np.isfinite(values)  # one pass for both NaN and +-inf
            if bad.any():
                if np.isinf(values[bad]).any():
                    raise DataValidationError(f"`{param}`: column {col!r} contains infinite values")
                missing[col] = bad
            _check_magnitude(values, bad, param, col)
            used[col] = values
    for _param, cols in labels.items():
        for col in [] if cols is None else ([cols] if isinstance(cols, str) else list(cols)):
            if col not in used:
                used[col] = frame[col].array
                mask = np.asarray(pd.isna(frame[col]))
                if mask.any():
                    missing[col] = mask
    if outcome_param is not None:
        out_col = numeric[outcome_param]
        if isinstance(out_col, str) and out_col in missing and missing[out_col].all():
            raise DataValidationError(
                f"`{outcome_param}`: column {out_col!r} has no non-missing values"
            )
    n_input = int(frame.shape[0])
    incomplete = np.zeros(n_input, dtype=bool)
    for mask in missing.values():  # only the columns with a missing value
        incomplete |= mask
    n_dropped = int(incomplete.sum()) if missing else 0
    if n_dropped:
        warn_user(  # pointed at the user's line, however deep the estimator calls this
            f"{n_dropped} of {n_input} rows dropped for missing values in "
            f"{[c for c, mask in missing.items() if mask.any()]}; the count is on the result "
            "as `n_dropped`",
            MissingDataWarning,
        )
        keep = ~incomplete
        used = {c: v[keep] for c, v in used.items()}
    if n_input - n_dropped == 0:
        raise DataValidationError("no complete rows remain after dropping missing values")
    sub = pd.DataFrame(used, copy=False)
    return PreparedData(frame=sub, n_dropped=n_dropped, n_input=n_input)


def group_codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """Integer codes 0..G-1 of a label column (order of first appearance irrelevant)."""
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.intp), len(uniques)
