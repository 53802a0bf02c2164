"""Long panel -> outcome matrix for synthetic DiD, with the input checks (private)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._validation import prepare, short_repr
from impacteval.exceptions import DataValidationError

__all__ = ["SdidPanel", "build_panel", "cohort_label"]


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


def _lab(value: object) -> str:
    """A label for messages: numpy scalars shown as plain Python values."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def build_panel(data: object, *, outcome: str, unit: str, time: str, treatment: str) -> SdidPanel:
    """Check the long panel and reshape it (see :func:`~impacteval.synth.synthetic_did`)."""
    for param, value in (("outcome", outcome), ("unit", unit), ("time", time)):
        if not isinstance(value, str):
            raise DataValidationError(
                f"`{param}` must be a column name (str); received {short_repr(value)}"
            )
    if not isinstance(treatment, str):
        raise DataValidationError(
            f"`treatment` must be a column name (str); received {short_repr(treatment)}"
        )
    prepared = prepare(
        data,
        numeric={"outcome": outcome, "treatment": treatment},
        labels={"unit": unit, "time": time},
        outcome_param="outcome",
    )
    frame = prepared.frame
    w = frame[treatment].to_numpy(dtype=float)
    values = np.unique(w)
    if not np.isin(values, (0.0, 1.0)).all():
        raise DataValidationError(
            f"`treatment`: column {treatment!r} must be a 0/1 indicator (1 for treated units "
            f"in treated periods); received values {short_repr(values.tolist())}"
        )
    ucode, ulabels = pd.factorize(frame[unit], sort=True)
    tcode, tlabels = pd.factorize(frame[time], sort=True)
    n_units, n_times = len(ulabels), len(tlabels)
    cell = ucode.astype(np.int64) * n_times + tcode
    counts = np.bincount(cell, minlength=n_units * n_times)
    if (counts > 1).any():
        k = int(np.flatnonzero(counts > 1)[0])
        raise DataValidationError(
            "`unit`/`time`: each (unit, time) pair must appear once; "
            f"({_lab(ulabels[k // n_times])}, {_lab(tlabels[k % n_times])}) appears "
            f"{int(counts[k])} times"
        )
    if (counts == 0).any():
        k = int(np.flatnonzero(counts == 0)[0])
        dropped = (
            f" ({prepared.n_dropped} rows were dropped for missing values)"
            if prepared.n_dropped
            else ""
        )
        raise DataValidationError(
            "`data` must be a balanced panel (every unit observed in every period); "
            f"{int((counts == 0).sum())} unit-period cells are missing, e.g. unit "
            f"{_lab(ulabels[k // n_times])} in period {_lab(tlabels[k % n_times])}{dropped}"
        )
    y_all = np.empty(n_units * n_times)
    w_all = np.empty(n_units * n_times)
    y_all[cell] = frame[outcome].to_numpy(dtype=float)
    w_all[cell] = w
    y_mat = y_all.reshape(n_units, n_times)
    w_mat = w_all.reshape(n_units, n_times)
    switch_off = np.diff(w_mat, axis=1) < 0
    if switch_off.any():
        i, t = np.argwhere(switch_off)[0]
        raise DataValidationError(
            f"`treatment`: column {treatment!r} must be absorbing (once 1, 1 in every later "
            f"period); unit {_lab(ulabels[i])} is treated in {_lab(tlabels[t])} but not in "
            f"{_lab(tlabels[t + 1])}"
        )
    ever = w_mat.max(axis=1) > 0
    if not ever.any():
        raise DataValidationError(
            f"`treatment`: column {treatment!r} is 0 everywhere; at least one unit must be "
            "treated in some period"
        )
    if ever.all():
        raise DataValidationError(
            f"`treatment`: every unit is treated at some point (column {treatment!r}); "
            "synthetic DiD needs never-treated units as controls"
        )
    first = np.where(ever, w_mat.argmax(axis=1), n_times)
    too_early = ever & (first < 2)
    if too_early.any():
        i = int(np.flatnonzero(too_early)[0])
        raise DataValidationError(
            f"`treatment`: unit {_lab(ulabels[i])} is treated from period "
            f"{_lab(tlabels[first[i]])}, leaving {int(first[i])} pre-treatment period(s); "
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
        units=pd.Index(np.asarray(ulabels)[order], name=unit),
        times=pd.Index(np.asarray(tlabels), name=time),
        n0=len(controls),
        adoption=adoption,
        cohorts=np.unique(adoption),
        n_dropped=prepared.n_dropped,
    )
