"""Long panel -> outcome matrix and adoption times for multisynth, with the input checks.

Unit and period coding, dropping incomplete rows and the duplicate check are the shared
panel layer's (:mod:`impacteval._panel`); the balance requirement, the 0/1 absorbing
treatment and the treated / donor layout are checked here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._panel import format_label, prepare_panel
from impacteval._validation import short_repr
from impacteval.exceptions import DataValidationError
from impacteval.synth._sdid_data import balanced_outcome, first_treated

__all__ = ["StaggeredPanel", "build_staggered_panel", "period_value"]


@dataclass(frozen=True)
class StaggeredPanel:
    """A balanced panel laid out for multisynth.

    Attributes
    ----------
    y : ndarray, shape (N, T)
        Outcomes; rows are units sorted by label, columns sorted periods.
    units : pandas.Index
        Unit labels in row order.
    times : pandas.Index
        Period labels in column order.
    adoption : ndarray of int, shape (N,)
        Column index of each unit's first treated period; ``T`` for never-treated units.
    treated : ndarray of int
        Rows of the treated units, sorted by adoption column, then label.
    n_dropped : int
        Rows dropped for missing values.
    """

    y: np.ndarray
    units: pd.Index
    times: pd.Index
    adoption: np.ndarray
    treated: np.ndarray
    n_dropped: int

    @property
    def n_times(self) -> int:
        """Number of periods ``T``."""
        return int(self.y.shape[1])


def period_value(times: pd.Index, col: int) -> Any:
    """The period label of column ``col``, numpy scalars as plain Python values."""
    value = times[col]
    return value.item() if isinstance(value, np.generic) else value


def build_staggered_panel(
    data: object, *, outcome: str, unit: str, time: str, treatment: str
) -> StaggeredPanel:
    """Check the long panel and reshape it (see :func:`~impacteval.synth.multisynth`)."""
    if not isinstance(treatment, str):
        raise DataValidationError(
            f"`treatment` must be a column name (str); received {short_repr(treatment)}"
        )
    coded = prepare_panel(
        data,
        unit=unit,
        time=time,
        outcome=outcome,
        numeric={"treatment": treatment},
        numeric_time=False,
        one_row_hint="each (unit, time) pair must appear once",
    )
    y_mat = balanced_outcome(coded, outcome, treatment)
    units = pd.Index(np.asarray(coded.unit_labels), name=unit)
    times = pd.Index(np.asarray(coded.periods), name=time)
    adoption = _adoption(coded.wide(treatment), units, times, treatment)
    treated = np.flatnonzero(adoption < len(times))
    treated = treated[np.lexsort((treated, adoption[treated]))]
    return StaggeredPanel(
        y=np.ascontiguousarray(y_mat, dtype=float),
        units=units,
        times=times,
        adoption=adoption,
        treated=treated.astype(np.intp),
        n_dropped=coded.n_dropped,
    )


def _adoption(w_mat: np.ndarray, units: pd.Index, times: pd.Index, treatment: str) -> np.ndarray:
    """First treated column per unit (``T`` when never treated), checking absorption."""
    first = first_treated(w_mat, units, times, treatment)
    at_start = first == 0
    if at_start.any():
        i = int(np.flatnonzero(at_start)[0])
        raise DataValidationError(
            f"`treatment`: unit {format_label(units[i])} is treated from the first period "
            f"{format_label(times[0])}, so it has no pre-treatment period to balance; drop it "
            "or add earlier periods"
        )
    return first
