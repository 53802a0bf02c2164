"""Long panel -> outcome matrix for synthetic DiD, with the input checks (private).

Unit and period coding, dropping incomplete rows and the duplicate check are the shared
panel layer's (:mod:`impacteval._panel`); the rest is particular to synthetic DiD.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._panel import Panel, format_label, prepare_panel
from impacteval._validation import short_repr
from impacteval.exceptions import DataValidationError, MissingColumnError

__all__ = ["SdidPanel", "balanced_outcome", "build_panel", "cohort_label", "first_treated"]


@dataclass(frozen=True)
class SdidPanel:
    """A balanced panel laid out for synthetic DiD.

    Attributes
    ----------
    y : ndarray, shape (N, T)
        Outcomes; rows are the never-treated units (sorted by label) followed by the
        treated units (sorted by adoption period, then label); columns are sorted periods.
    units : pandas.Index
        Unit labels in row order.
    times : pandas.Index
        Period labels in column order.
    n0 : int
        Number of never-treated (control) units.
    adoption : ndarray of int, shape (N - n0,)
        Column index of each treated unit's first treated period.
    cohorts : ndarray of int
        The distinct adoption columns, ascending.
    n_dropped : int
        Rows dropped for missing values.
    """

    y: np.ndarray
    units: pd.Index
    times: pd.Index
    n0: int
    adoption: np.ndarray
    cohorts: np.ndarray
    n_dropped: int

    def cohort_rows(self, cohort: int) -> np.ndarray:
        """Row indices of the treated units adopting at column ``cohort``."""
        return self.n0 + np.flatnonzero(self.adoption == cohort)


def cohort_label(times: pd.Index, col: int) -> Any:
    """The period label of column ``col``, numpy scalars as plain Python values."""
    value = times[col]
    return value.item() if isinstance(value, np.generic) else value


def build_panel(data: object, *, outcome: str, unit: str, time: str, treatment: str) -> SdidPanel:
    """Check the long panel and reshape it (see :func:`~impacteval.synth.synthetic_did`).

    The shared panel layer (:func:`impacteval._panel.prepare_panel`) checks the columns,
    drops incomplete rows visibly, codes units (sorted) and periods (sorted, any orderable
    dtype) and refuses duplicate unit-periods; the balance requirement, the 0/1 absorbing
    treatment and the control / treated layout are synthetic DiD's and are checked here.
    """
    if not isinstance(treatment, str):
        raise DataValidationError(
            f"`treatment` must be a column name (str); received {short_repr(treatment)}"
        )
    try:
        coded = prepare_panel(
            data,
            unit=unit,
            time=time,
            outcome=outcome,
            numeric={"treatment": treatment},
            numeric_time=False,
            one_row_hint="each (unit, time) pair must appear once",
        )
    except DataValidationError as err:
        _refine_duplicate_error(err, data, unit, time)
        raise
    y_mat = balanced_outcome(coded, outcome, treatment)
    return _layout(y_mat, coded.wide(treatment), coded, treatment)


def balanced_outcome(coded: Panel, outcome: str, treatment: str) -> np.ndarray:
    """The outcome as units x periods, after checking that ``treatment`` is 0/1 and the
    panel balanced (errors name a value, or a missing unit-period cell)."""
    values = np.unique(coded.column(treatment))
    if not np.isin(values, (0.0, 1.0)).all():
        raise DataValidationError(
            f"`treatment`: column {treatment!r} must be a 0/1 indicator (1 for treated units "
            f"in treated periods); received values {short_repr(values.tolist())}"
        )
    y_mat = coded.wide(outcome)
    if not coded.balanced:
        i, t = np.argwhere(np.isnan(y_mat))[0]
        dropped = (
            f" ({coded.n_dropped} rows were dropped for missing values)" if coded.n_dropped else ""
        )
        raise DataValidationError(
            "`data` must be a balanced panel (every unit observed in every period); "
            f"{int(np.isnan(y_mat).sum())} unit-period cells are missing, e.g. unit "
            f"{coded.unit_label(i)} in period {format_label(coded.periods[t])}{dropped}"
        )
    return y_mat


def first_treated(w_mat: np.ndarray, units: Any, times: Any, treatment: str) -> np.ndarray:
    """Each unit's first treated column (``T`` when never treated), after checking that the
    treatment is absorbing and not 0 everywhere."""
    switch_off = np.diff(w_mat, axis=1) < 0
    if switch_off.any():
        i, t = np.argwhere(switch_off)[0]
        raise DataValidationError(
            f"`treatment`: column {treatment!r} must be absorbing (once 1, 1 in every later "
            f"period); unit {format_label(units[i])} is treated in "
            f"{format_label(times[t])} but not in {format_label(times[t + 1])}"
        )
    ever = w_mat.max(axis=1) > 0
    if not ever.any():
        raise DataValidationError(
            f"`treatment`: column {treatment!r} is 0 everywhere; at least one unit must be "
            "treated in some period"
        )
    return np.asarray(np.where(ever, w_mat.argmax(axis=1), w_mat.shape[1]), dtype=np.intp)


def _refine_duplicate_error(err: DataValidationError, data: object, unit: str, time: str) -> None:
    """When ``err`` is the panel layer's duplicate-row error, raise it again naming the
    first repeated (unit, time) pair and how often it appears (only on this error path)."""
    if isinstance(err, MissingColumnError) or not isinstance(data, pd.DataFrame):
        return
    if "duplicate rows" not in str(err):
        return
    sizes = data.groupby([unit, time], sort=False, dropna=False).size()
    over = sizes[sizes > 1]
    if over.empty:
        return
    u, t = over.index[0]
    raise DataValidationError(
        "`unit`/`time`: each (unit, time) pair must appear once; "
        f"({format_label(u)}, {format_label(t)}) appears {int(over.iloc[0])} times"
    ) from err


def _layout(y_mat: np.ndarray, w_mat: np.ndarray, coded: Panel, treatment: str) -> SdidPanel:
    """Absorbing treatment with never-treated controls; rows reordered controls first."""
    ulabels, tlabels = coded.unit_labels, coded.periods
    first = first_treated(w_mat, ulabels, tlabels, treatment)
    ever = first < coded.n_periods
    if ever.all():
        raise DataValidationError(
            f"`treatment`: every unit is treated at some point (column {treatment!r}); "
            "synthetic DiD needs never-treated units as controls"
        )
    too_early = ever & (first < 2)
    if too_early.any():
        i = int(np.flatnonzero(too_early)[0])
        raise DataValidationError(
            f"`treatment`: unit {format_label(ulabels[i])} is treated from period "
            f"{format_label(tlabels[first[i]])}, leaving {int(first[i])} pre-treatment period(s); "
            "synthetic DiD needs at least two (the noise level is the sd of first "
            "differences before treatment)"
        )
    controls = np.flatnonzero(~ever)
    treated = np.flatnonzero(ever)
    treated = treated[np.lexsort((treated, first[treated]))]
    order = np.concatenate([controls, treated])
    adoption = first[treated].astype(np.intp)
    return SdidPanel(
        y=np.ascontiguousarray(y_mat[order]),
        units=pd.Index(np.asarray(ulabels)[order], name=coded.unit),
        times=pd.Index(np.asarray(tlabels), name=coded.time),
        n0=len(controls),
        adoption=adoption,
        cohorts=np.unique(adoption),
        n_dropped=coded.n_dropped,
    )
