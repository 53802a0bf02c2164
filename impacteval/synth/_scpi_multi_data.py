"""The staggered panel for synthetic controls of several treated units (Cattaneo, Feng,
Palomba & Titiunik, staggered adoption; scpi's ``scdataMulti``).

From a long panel with an absorbing 0/1 treatment column: the treated units (any treated
period), each one's adoption period ``T0_i`` (first treated period), and the donors (units
never treated). Each treated unit is compared with every never-treated unit; its
pre-period is every period before ``T0_i``, its post-period every period from ``T0_i`` on.
Not-yet-treated units are not donors (scpi's rule without ``post_est``).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._validation import check_columns, check_dataframe
from impacteval.exceptions import DataValidationError

__all__ = ["StaggeredPanel", "TreatedBlock", "build_staggered_panel"]

MIN_PRE = 5  # pre-periods per treated unit: the residual models need a few


@dataclass(frozen=True)
class TreatedBlock:
    """One treated unit: its column in ``y``, adoption row and name."""

    name: Hashable
    column: int
    adoption: int  # row of the first treated period

    def pre(self, n_times: int) -> np.ndarray:
        """Boolean mask of the pre-period rows."""
        return np.arange(n_times) < self.adoption


@dataclass(frozen=True)
class StaggeredPanel:
    """Outcomes as a (T, N) matrix with the treated blocks and the donor columns."""

    y: np.ndarray
    times: pd.Index
    units: pd.Index
    blocks: tuple[TreatedBlock, ...]
    donors: np.ndarray  # column indices of the never-treated units
    n_obs: int

    @property
    def donor_names(self) -> list[Hashable]:
        """Labels of the donors, in column order."""
        return [self.units[j] for j in self.donors]


def _treatment_matrix(data: pd.DataFrame, unit: str, time: str, treatment: str) -> pd.DataFrame:
    d = data[treatment]
    if not pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d):
        raise DataValidationError(
            f"`treatment`: column {treatment!r} must be 0/1 (or boolean); received dtype {d.dtype}"
        )
    values = pd.to_numeric(d).to_numpy(dtype=float)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        raise DataValidationError(
            f"`treatment`: column {treatment!r} must hold only 0 and 1; received "
            f"{int(bad.sum())} other values (e.g. {values[bad][0]!r})"
        )
    frame = pd.DataFrame({unit: data[unit], time: data[time], "d": values})
    return frame.pivot(index=time, columns=unit, values="d")


def build_staggered_panel(
    data: Any, *, outcome: str, unit: str, time: str, treatment: str
) -> StaggeredPanel:
    """Check the long panel and arrange it (see the module docstring).

    Raises
    ------
    DataValidationError
        Missing columns, duplicate (unit, time) rows, an unbalanced panel or missing
        outcomes, a treatment that is not 0/1 or switches off, no treated or fewer than two
        never-treated units, a treated unit with fewer than five pre-periods or treated
        from the first period.
    """
    data = check_dataframe(data)
    check_columns(data, outcome=outcome, unit=unit, time=time, treatment=treatment)
    if not pd.api.types.is_numeric_dtype(data[outcome]):
        raise DataValidationError(
            f"`outcome`: column {outcome!r} must be numeric; received dtype {data[outcome].dtype}"
        )
    dup = data.duplicated([unit, time])
    if dup.any():
        first = data.loc[dup, [unit, time]].iloc[0].tolist()
        raise DataValidationError(
            f"`data` has {int(dup.sum())} duplicate ({unit}, {time}) rows, e.g. {first}; "
            "expected one row per unit and period"
        )
    y = data.pivot(index=time, columns=unit, values=outcome).sort_index()
    if y.isna().to_numpy().any():
        n_missing = int(y.isna().to_numpy().sum())
        raise DataValidationError(
            f"`data` must be a balanced panel with no missing `outcome` ({outcome!r}); "
            f"received {n_missing} missing unit-period outcomes"
        )
    dmat = _treatment_matrix(data, unit, time, treatment).reindex_like(y).to_numpy()
    if np.isnan(dmat).any():
        raise DataValidationError(f"`treatment`: column {treatment!r} has missing values")
    if (np.diff(dmat, axis=0) < 0).any():
        off = int(np.flatnonzero((np.diff(dmat, axis=0) < 0).any(axis=0))[0])
        raise DataValidationError(
            f"`treatment` must be absorbing (once 1, 1 in every later period); unit "
            f"{y.columns[off]!r} switches from 1 back to 0"
        )
    ever = dmat.max(axis=0) > 0
    donors = np.flatnonzero(~ever)
    if not ever.any():
        raise DataValidationError(f"`treatment`: no unit is ever treated (column {treatment!r})")
    if donors.size < 2:
        raise DataValidationError(
            f"at least two never-treated units are needed as donors; received {donors.size}"
        )
    blocks = []
    for col in np.flatnonzero(ever):
        adoption = int(np.argmax(dmat[:, col] > 0))
        if adoption < MIN_PRE:
            raise DataValidationError(
                f"treated unit {y.columns[col]!r} has {adoption} pre-treatment periods; at "
                f"least {MIN_PRE} are needed (the residual models are fitted on them)"
            )
        blocks.append(TreatedBlock(name=y.columns[col], column=int(col), adoption=adoption))
    blocks.sort(key=lambda b: (b.adoption, str(b.name)))
    return StaggeredPanel(
        y=y.to_numpy(dtype=float),
        times=pd.Index(y.index),
        units=pd.Index(y.columns),
        blocks=tuple(blocks),
        donors=donors,
        n_obs=int(y.size),
    )
