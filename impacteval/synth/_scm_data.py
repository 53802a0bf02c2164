"""Input checking and matrix building for :func:`impacteval.synth.synthetic_control`.

Everything the user passes is checked here once; the fit works on the :class:`Panel` this
module returns (outcome matrix, predictor matrix, labels), never on the DataFrame again.
Unit and period coding and the duplicate check are the shared panel layer's
(:mod:`impacteval._panel`); the treated unit, the donors and the predictors are synthetic
control's and stay here.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._panel import format_label, prepare_panel
from impacteval._validation import check_columns, check_dataframe, short_repr
from impacteval.exceptions import DataValidationError

__all__ = ["Panel", "PredictorSpec", "build_panel", "parse_predictors", "predictor_matrix"]


@dataclass(frozen=True)
class PredictorSpec:
    """One predictor: a column averaged over some years."""

    column: str
    years: tuple[Any, ...]
    op: str = "mean"

    @property
    def label(self) -> str:
        ys = self.years
        if len(ys) == 1:
            return f"{self.column} ({ys[0]})"
        ints = all(isinstance(y, numbers.Integral) for y in ys)
        if ints and list(ys) == list(range(int(ys[0]), int(ys[-1]) + 1)):
            return f"{self.column} ({ys[0]}-{ys[-1]} {self.op})"
        return f"{self.column} ({', '.join(map(str, ys))} {self.op})"


@dataclass(frozen=True)
class Panel:
    """A balanced panel as matrices: ``y`` is (T, N) outcome, ``times`` sorted."""

    y: np.ndarray
    times: np.ndarray
    units: pd.Index
    frame: pd.DataFrame  # the used columns, sorted by unit then time, for predictor means
    unit_col: str
    time_col: str
    outcome: str


def _as_time(value: Any, times: np.ndarray) -> Any:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return value
    if np.issubdtype(times.dtype, np.floating) or np.issubdtype(times.dtype, np.integer):
        return float(value) if float(value) in set(times.astype(float).tolist()) else value
    return value


def build_panel(
    data: object,
    *,
    outcome: str,
    unit: str,
    time: str,
    predictor_columns: Sequence[str],
    allow_missing_outcome: bool = False,
) -> Panel:
    """Check the columns and the panel structure; return the outcome matrix.

    The shared panel layer (:func:`impacteval._panel.prepare_panel`) codes units (in order
    of first appearance) and periods (sorted, any orderable dtype) and refuses duplicate
    unit-periods. What is particular to synthetic control is checked here: the unit,
    period and outcome must be complete (a missing value is an error, never a dropped row:
    dropping one would unbalance the panel) and the panel balanced; predictor columns may
    have missing values (their means skip them, see :func:`predictor_matrix`). With
    ``allow_missing_outcome`` (the robust synthetic control, which estimates the missing
    entries) an outcome may be NaN; its row must still be present.
    """
    frame = check_dataframe(data)
    check_columns(frame, outcome=outcome, unit=unit, time=time, predictors=predictor_columns)
    cols = list(dict.fromkeys([unit, time, outcome, *predictor_columns]))
    sub = frame[cols]
    _check_complete(
        sub,
        outcome=outcome,
        unit=unit,
        time=time,
        predictors=predictor_columns,
        allow_missing_outcome=allow_missing_outcome,
    )
    long = sub[[unit, time, outcome]]
    missing = sub[outcome].isna().to_numpy()
    if missing.any():
        # the panel layer drops rows with a missing outcome: code the row with 0 and put
        # the NaN back after the reshape
        long = long.assign(**{outcome: sub[outcome].fillna(0.0)})
    coded = prepare_panel(
        long,
        unit=unit,
        time=time,
        outcome=outcome,
        numeric_time=False,
        unit_order="appearance",
        one_row_hint="synthetic control needs each unit once per period (no duplicated "
        "unit-period rows)",
    )
    if not coded.balanced:
        counts = pd.Series(coded.counts, index=coded.unit_labels)
        short = counts[counts < coded.n_periods]
        raise DataValidationError(
            f"unbalanced panel: synthetic control needs every unit observed in every period "
            f"({coded.n_units} units x {coded.n_periods} periods = "
            f"{coded.n_units * coded.n_periods} rows); received {coded.n_rows} rows, with "
            f"{len(short)} units missing periods (e.g. {format_label(short.index[0])} has "
            f"{int(short.iloc[0])} of {coded.n_periods})"
        )
    y = np.ascontiguousarray(coded.wide(outcome).T)
    if missing.any():
        miss = pd.DataFrame({unit: sub[unit], time: sub[time], "m": missing})
        wide = miss.pivot(index=time, columns=unit, values="m")
        wide = wide.reindex(index=coded.periods, columns=coded.unit_labels)
        y[wide.to_numpy(dtype=bool)] = np.nan
    return Panel(
        y=y,
        times=coded.periods,
        units=coded.unit_labels,
        frame=sub,
        unit_col=unit,
        time_col=time,
        outcome=outcome,
    )


def _check_complete(
    sub: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    predictors: Sequence[str],
    allow_missing_outcome: bool,
) -> None:
    """Numeric outcome and predictors; no missing unit, period or (unless allowed) outcome."""
    for col, param in [(outcome, "outcome"), *((c, "predictors") for c in predictors)]:
        if not pd.api.types.is_numeric_dtype(sub[col].dtype) or pd.api.types.is_bool_dtype(
            sub[col].dtype
        ):
            raise DataValidationError(
                f"`{param}`: column {col!r} must be numeric; received dtype {sub[col].dtype}"
            )
    if sub[unit].isna().any() or sub[time].isna().any():
        raise DataValidationError(
            f"`unit`/`time`: columns {unit!r} and {time!r} must not contain missing values; "
            f"received {int(sub[unit].isna().sum())} and {int(sub[time].isna().sum())} missing"
        )
    missing = sub[outcome].isna().to_numpy()
    if missing.any() and not allow_missing_outcome:
        bad = np.asarray(pd.unique(sub.loc[missing, unit])).tolist()
        raise DataValidationError(
            f"`outcome`: column {outcome!r} has {int(missing.sum())} missing values "
            f"(units {short_repr(bad)}); the outcome must be observed for every "
            "unit-period (method='robust' accepts missing outcomes)"
        )


def _years(value: object, param: str) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes)):
        raise DataValidationError(
            f"`{param}`: years must be a period or an iterable of periods; received {value!r}"
        )
    if isinstance(value, Iterable):
        ys = tuple(value)
    else:
        ys = (value,)
    if not ys:
        raise DataValidationError(f"`{param}`: the list of years is empty")
    return ys


def parse_predictors(predictors: object) -> list[PredictorSpec]:
    """Turn ``(column, years[, "mean"])`` tuples into :class:`PredictorSpec`."""
    if predictors is None:
        return []
    if isinstance(predictors, (str, tuple)) and predictors and isinstance(predictors[0], str):
        raise DataValidationError(
            "`predictors` must be a sequence of (column, years) or (column, years, 'mean') "
            f"tuples; received {short_repr(predictors)} (wrap a single predictor in a list)"
        )
    out: list[PredictorSpec] = []
    for i, spec in enumerate(list(predictors)):  # type: ignore[call-overload]
        param = f"predictors[{i}]"
        if not isinstance(spec, (tuple, list)) or len(spec) not in (2, 3):
            raise DataValidationError(
                f"`{param}` must be (column, years) or (column, years, 'mean'); received "
                f"{short_repr(spec)}"
            )
        col, years = spec[0], spec[1]
        op = spec[2] if len(spec) == 3 else "mean"
        if not isinstance(col, str):
            raise DataValidationError(f"`{param}`: the column must be a str; received {col!r}")
        if op != "mean":
            raise DataValidationError(f"`{param}`: the only aggregation is 'mean'; received {op!r}")
        out.append(PredictorSpec(col, _years(years, param), "mean"))
    labels = [p.label for p in out]
    dups = {lab for lab in labels if labels.count(lab) > 1}
    if dups:
        raise DataValidationError(f"`predictors`: duplicated predictors {sorted(dups)}")
    return out


def check_periods(
    values: Iterable[Any], times: np.ndarray, param: str, before: Any | None = None
) -> np.ndarray:
    """Require periods present in the data (and earlier than ``before``)."""
    vals = [_as_time(v, times) for v in values]
    known = set(times.tolist())
    missing = [v for v in vals if v not in known]
    if missing:
        raise DataValidationError(
            f"`{param}`: periods {short_repr(missing)} are not in the data (periods run from "
            f"{times[0]} to {times[-1]})"
        )
    if before is not None:
        late = [v for v in vals if not v < before]
        if late:
            raise DataValidationError(
                f"`{param}`: periods {short_repr(late)} are not before the treatment time "
                f"{before}; predictors and the fit period must be pre-treatment"
            )
    return np.asarray(vals)


def predictor_matrix(
    panel: Panel, specs: Sequence[PredictorSpec], units: Sequence[Hashable], before: Any
) -> np.ndarray:
    """(k, N) predictor values: each the mean over the stated years of the non-missing
    values (as R Synth's ``mean(na.rm = TRUE)``); a unit with no value is an error."""
    out = np.empty((len(specs), len(units)))
    frame = panel.frame
    for i, spec in enumerate(specs):
        years = check_periods(spec.years, panel.times, f"predictors[{i}] ({spec.column})", before)
        rows = frame[frame[panel.time_col].isin(years)]
        means = rows.groupby(panel.unit_col, sort=False)[spec.column].mean()
        vals = means.reindex(pd.Index(units)).to_numpy(dtype=float)
        if np.isnan(vals).any():
            bad = [u for u, v in zip(units, vals, strict=True) if np.isnan(v)]
            raise DataValidationError(
                f"`predictors[{i}]`: {spec.column!r} is missing in every one of the years "
                f"{short_repr(list(spec.years))} for units {short_repr(bad)}"
            )
        if np.isinf(vals).any():
            raise DataValidationError(f"`predictors[{i}]`: {spec.column!r} has infinite values")
        out[i] = vals
    return out
