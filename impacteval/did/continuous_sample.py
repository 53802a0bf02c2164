"""Input checks and the unit-level sample of :func:`impacteval.did.continuous`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._panel import format_label, prepare_panel
from impacteval._validation import (
    check_choice,
    check_columns,
    check_dataframe,
    check_level,
    check_positive_int,
    short_repr,
)
from impacteval._warn import WarningLog
from impacteval.exceptions import DataValidationError

__all__ = ["CellPlan", "ContinuousOptions", "DoseSample", "check_options", "dose_sample", "plan"]

Array = np.ndarray
AGGREGATIONS: tuple[str, ...] = ("dose", "event_study")


@dataclass(frozen=True)
class ContinuousOptions:
    """The resolved options of one call."""

    outcome: str
    unit: str
    time: str
    cohort: str
    dose: str
    aggregation: str
    target: str
    degree: int
    num_knots: int
    dose_grid: Array | None
    control_group: str
    base_period: str
    anticipation: int
    bootstrap: int | None
    level: float


def _grid(value: object) -> Array | None:
    if value is None:
        return None
    try:
        grid = np.asarray(value, dtype=float).ravel()
    except (TypeError, ValueError):
        grid = np.empty(0)
    if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise DataValidationError(
            "`dose_grid` must be None or a non-empty sequence of finite positive doses; "
            f"received {short_repr(value)}"
        )
    return np.sort(grid)


def check_options(**kw: Any) -> ContinuousOptions:
    """Check the scalar options (columns are checked against the data later)."""
    for name in ("outcome", "unit", "time", "cohort", "dose"):
        if not isinstance(kw[name], str):
            raise DataValidationError(
                f"`{name}` must be a column name (str); received {short_repr(kw[name])}"
            )
    boot = kw["bootstrap"]
    return ContinuousOptions(
        outcome=kw["outcome"],
        unit=kw["unit"],
        time=kw["time"],
        cohort=kw["cohort"],
        dose=kw["dose"],
        aggregation=check_choice(kw["aggregation"], "aggregation", AGGREGATIONS),
        target=check_choice(kw["target"], "target", ("level", "slope")),
        degree=check_positive_int(kw["degree"], "degree", minimum=1),
        num_knots=check_positive_int(kw["num_knots"], "num_knots", minimum=0),
        dose_grid=_grid(kw["dose_grid"]),
        control_group=check_choice(
            kw["control_group"], "control_group", ("not_yet_treated", "never_treated")
        ),
        base_period=check_choice(kw["base_period"], "base_period", ("varying", "universal")),
        anticipation=check_positive_int(kw["anticipation"], "anticipation", minimum=0),
        bootstrap=None if boot is None else check_positive_int(boot, "bootstrap", minimum=2),
        level=check_level(kw["level"]),
    )


@dataclass(frozen=True)
class DoseSample:
    """One row per unit of a balanced panel.

    Attributes
    ----------
    y : (n, T) array
        Outcomes.
    dose : (n,) array
        The unit's dose (0 for never treated).
    cohort : (n,) array
        First treated period (``inf`` = never treated).
    periods : (T,) array
    units : (n,) array
        Unit labels.
    n_rows, n_dropped : int
        Rows used, and rows dropped (missing outcome, or of a dropped unit).
    n_unbalanced, n_always_treated : int
        Units dropped for missing periods, and for being treated in the first period.
    """

    y: Array
    dose: Array
    cohort: Array
    periods: Array
    units: Array
    n_rows: int
    n_dropped: int
    n_unbalanced: int
    n_always_treated: int


def _check_dose_column(frame: pd.DataFrame, column: str) -> None:
    values = frame[column]
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        raise DataValidationError(
            f"`dose`: column {column!r} must be numeric (the treatment intensity, 0 = "
            f"untreated); received dtype {values.dtype}"
        )
    arr = values.to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(arr).any():
        raise DataValidationError(
            f"`dose`: column {column!r} has {int(np.isnan(arr).sum())} missing values; every "
            "row needs a dose (0 for untreated units)"
        )
    if np.any(~np.isfinite(arr)) or np.any(arr < 0):
        bad = int(np.sum(~np.isfinite(arr) | (arr < 0)))
        raise DataValidationError(
            f"`dose`: column {column!r} must be finite and >= 0; received {bad} negative or "
            "infinite values"
        )


def _unit_dose(
    dose_wide: Array, treated_wide: Array, cohort: Array, late: Array, column: str
) -> Array:
    """Per unit: the dose of the treated periods (constant, > 0), 0 for never treated.
    Units first treated after the last period (``late``) are untreated in the sample; their
    dose column is not read."""
    post = np.where(treated_wide, dose_wide, np.nan)
    with np.errstate(invalid="ignore"):
        lo, hi = (
            np.nanmin(np.where(treated_wide, post, np.inf), axis=1),
            np.nanmax(np.where(treated_wide, post, -np.inf), axis=1),
        )
    treated = np.isfinite(cohort)
    varies = treated & (lo != hi)
    if varies.any():
        raise DataValidationError(
            f"`dose`: column {column!r} must be constant within unit over its treated periods; "
            f"{int(varies.sum())} units change dose after treatment starts"
        )
    never_dosed = ~treated & ~late & np.any(np.nan_to_num(dose_wide) != 0, axis=1)
    if never_dosed.any():
        raise DataValidationError(
            f"`dose`: never-treated units (cohort 0 or missing) must have dose 0; "
            f"{int(never_dosed.sum())} have a positive dose"
        )
    pre = ~treated_wide & np.isfinite(dose_wide)
    dose = np.where(treated, lo, 0.0)
    bad_pre = ~late & np.any(pre & (dose_wide != 0) & (dose_wide != dose[:, None]), axis=1)
    if bad_pre.any():
        raise DataValidationError(
            f"`dose`: column {column!r} before a unit's treatment must be 0 or the unit's dose; "
            f"{int(bad_pre.sum())} units have another value"
        )
    zero = treated & (dose == 0)
    if zero.any():
        raise DataValidationError(
            f"`dose`: units with a cohort must have a positive dose once treated; "
            f"{int(zero.sum())} have dose 0 (code them as never treated: cohort 0)"
        )
    return np.asarray(dose)


def dose_sample(data: object, opts: ContinuousOptions, log: WarningLog) -> DoseSample:
    """Check the data and code it as a balanced panel of units (always-treated units and
    units with missing periods dropped, with a warning)."""
    frame = check_dataframe(data)
    check_columns(frame, dose=opts.dose)
    _check_dose_column(frame, opts.dose)
    panel = prepare_panel(
        frame,
        unit=opts.unit,
        time=opts.time,
        outcome=opts.outcome,
        cohort=opts.cohort,
        numeric={"dose": opts.dose},
        one_row_hint="continuous DiD needs one row per unit and period",
    )
    assert panel.cohort is not None  # given a cohort column
    y = np.array(panel.wide(opts.outcome), dtype=float)
    cohort = np.where(panel.cohort > panel.periods[-1], np.inf, panel.cohort)
    dose_wide = np.array(panel.wide(opts.dose), dtype=float)
    late = np.isfinite(panel.cohort) & ~np.isfinite(cohort)
    treated_wide = panel.treated() & np.isfinite(dose_wide)
    dose = _unit_dose(dose_wide, treated_wide, cohort, late, opts.dose)
    complete = np.isfinite(y).all(axis=1)
    # a unit needs a period before its cohort - anticipation (the base of its post cells)
    first_ok = panel.periods[min(opts.anticipation, panel.n_periods - 1)]
    always = np.isfinite(cohort) & (cohort <= first_ok)
    counts = np.isfinite(y).sum(axis=1)
    keep = complete & ~always
    if (~complete).any():
        log.warn(
            f"{int((~complete).sum())} units lack the outcome in some period (the estimator "
            "needs a balanced panel); they were dropped; see details['n_units_unbalanced']"
        )
    if always.any():
        log.warn(
            f"{int(always.sum())} units are treated (or, with anticipation, affected) in the "
            "first period (no pre-treatment outcome); they were dropped; see "
            "details['n_units_always_treated']"
        )
    sample = DoseSample(
        y=y[keep],
        dose=dose[keep],
        cohort=cohort[keep],
        periods=np.asarray(panel.periods, dtype=float),
        units=np.asarray(panel.unit_labels)[keep],
        n_rows=int(keep.sum()) * panel.n_periods,
        n_dropped=panel.n_dropped + int(counts[~keep].sum()),
        n_unbalanced=int((~complete).sum()),
        n_always_treated=int((always & complete).sum()),
    )
    _check_sample(sample, opts)
    return sample


def _check_sample(s: DoseSample, opts: ContinuousOptions) -> None:
    untreated = ~np.isfinite(s.cohort)
    if opts.control_group == "never_treated" and not untreated.any():
        raise DataValidationError(
            "`control_group`: 'never_treated' needs units with dose 0 that are never treated "
            f"(cohort 0 in {opts.cohort!r}); there are none; use "
            "control_group='not_yet_treated' or add untreated units"
        )
    if not np.isfinite(s.cohort).any():
        raise DataValidationError(
            f"`cohort`: column {opts.cohort!r} has no unit treated after the first period"
        )
    if untreated.sum() == 0 and np.unique(s.cohort).size < 2:
        raise DataValidationError(
            "no comparison units: every unit is treated in the same period and none has "
            "dose 0; continuous DiD needs untreated (dose 0) or later-treated units"
        )


@dataclass(frozen=True)
class CellPlan:
    """The 2x2 cells: cohort, period and base period (indices into ``periods``)."""

    group: Array
    time: Array
    base: Array


def plan(s: DoseSample, base_period: str, anticipation: int = 0) -> CellPlan:
    """The (cohort, period) cells and their base periods. ``varying``: every period from
    the second on, compared with the previous period before treatment and with the period
    before the cohort's first treated period from then on. ``universal``: every period but
    that reference period itself, all compared with it. With ``anticipation`` a periods,
    "treatment" starts a periods before the cohort (the reference period moves back)."""
    periods = s.periods
    cohorts = np.unique(s.cohort[np.isfinite(s.cohort)])
    rows: list[tuple[float, float, float]] = []
    for t_idx in range(0 if base_period == "universal" else 1, periods.size):
        t = periods[t_idx]
        for g in cohorts:
            g_idx = int(np.searchsorted(periods, g))
            if g_idx < 1 or g_idx >= periods.size or periods[g_idx] != g:
                raise DataValidationError(
                    f"`cohort`: {format_label(g)} is not one of the observed periods of the "
                    "time column"
                )
            main = periods[g_idx - 1 - anticipation]
            if base_period == "universal":
                if t == main:
                    continue
                base = main
            else:
                base = periods[t_idx - 1] if t_idx < g_idx - anticipation else main
            rows.append((g, t, base))
    arr = np.array(rows, dtype=float).reshape(-1, 3)
    return CellPlan(group=arr[:, 0], time=arr[:, 1], base=arr[:, 2])


def positive_doses_of_treated_rows(s: DoseSample) -> Array:
    """The dose of every treated unit-period (a unit counts once per treated period); the
    quantile knots are chosen from these."""
    treated = np.isfinite(s.cohort)
    n_post = (s.periods[None, :] >= s.cohort[treated][:, None]).sum(axis=1)
    return np.repeat(s.dose[treated], n_post)


def columns_used(opts: ContinuousOptions) -> Sequence[str]:
    """The data columns the estimate depends on (for the fingerprint)."""
    return [opts.unit, opts.time, opts.outcome, opts.cohort, opts.dose]
