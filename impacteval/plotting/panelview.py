"""Treatment rollout picture of a panel: units (sorted by adoption) x periods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from impacteval._validation import check_columns, check_dataframe
from impacteval.exceptions import DataValidationError
from impacteval.plotting.base import Display

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["RolloutDisplay", "panel_view", "rollout_matrix"]


def panel_view(
    data: pd.DataFrame,
    *,
    unit: str,
    time: str,
    treatment: str | None = None,
    cohort: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of treatment status: one row per unit, one column per period.

    Units are sorted by adoption time (earliest first, never treated last). Cells are
    "untreated" (light), "treated" (dark) or "missing" (white: the unit is not observed
    in that period), as R ``panelView``.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel: one row per unit and period.
    unit, time : str
        Unit identifier and period column (sortable).
    treatment : str, optional
        0/1 treatment indicator per row. Exactly one of ``treatment`` and ``cohort``.
    cohort : str, optional
        First treated period per unit (0 or missing = never treated); a unit is treated
        from its cohort on.
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    DataValidationError
        Missing columns, neither or both of ``treatment`` and ``cohort``, non-binary
        treatment, duplicate unit-period rows.

    Examples
    --------
    >>> import impacteval as ie
    >>> from impacteval.plotting.panelview import panel_view
    >>> ax = panel_view(ie.datasets.load("mpdta"), unit="countyreal", time="year",
    ...                 cohort="first_treat")
    >>> ax.get_xlabel()
    'year'
    """
    matrix, periods = rollout_matrix(data, unit=unit, time=time, treatment=treatment, cohort=cohort)
    return RolloutDisplay(matrix, periods, unit=unit, time=time).draw(ax)


def rollout_matrix(
    data: pd.DataFrame,
    *,
    unit: str,
    time: str,
    treatment: str | None = None,
    cohort: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Treatment status as a units x periods matrix, units sorted by adoption.

    Arguments as :func:`panel_view`. Returns the matrix (1 treated, 0 untreated, NaN not
    observed; rows by first treated period, never treated last, ties in data order) and
    the sorted periods.
    """
    frame = check_dataframe(data)
    if (treatment is None) == (cohort is None):
        raise DataValidationError(
            "give exactly one of `treatment` (0/1 per row) and `cohort` (first treated "
            f"period); received treatment={treatment!r}, cohort={cohort!r}"
        )
    check_columns(frame, unit=unit, time=time, treatment=treatment, cohort=cohort)
    if frame.duplicated([unit, time]).any():
        raise DataValidationError(
            f"`unit`/`time`: {int(frame.duplicated([unit, time]).sum())} duplicate "
            f"({unit}, {time}) rows; a panel has one row per unit and period"
        )
    if cohort is not None:
        g = pd.to_numeric(frame[cohort], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        t = pd.to_numeric(frame[time], errors="coerce").to_numpy(dtype=float)
        status = ((g > 0) & (t >= g)).astype(float)
    else:
        raw = pd.to_numeric(frame[str(treatment)], errors="coerce").to_numpy(dtype=float)
        vals = np.unique(raw[~np.isnan(raw)])
        if not np.all(np.isin(vals, (0.0, 1.0))):
            raise DataValidationError(
                f"`treatment`: column {treatment!r} must be 0/1; received values "
                f"{vals.tolist()[:6]}"
            )
        status = raw
    wide = (
        pd.DataFrame({"u": frame[unit].to_numpy(), "t": frame[time].to_numpy(), "s": status})
        .pivot(index="u", columns="t", values="s")
        .sort_index(axis=1)
    )
    periods = np.asarray(wide.columns)
    mat = wide.to_numpy(dtype=float)
    treated_any = np.nan_to_num(mat, nan=0.0) > 0
    first = np.where(treated_any.any(axis=1), treated_any.argmax(axis=1), periods.size)
    order = np.lexsort((np.arange(len(wide)), first))
    return mat[order], periods


@dataclass(frozen=True, eq=False)
class RolloutDisplay(Display):
    """Heatmap of a units x periods treatment-status matrix (see :func:`rollout_matrix`).

    Attributes
    ----------
    matrix : numpy.ndarray
        1 treated, 0 untreated, NaN not observed; one row per unit.
    periods : numpy.ndarray
        Column labels.
    unit, time : str
        Axis labels.
    """

    figsize: ClassVar[tuple[float, float]] = (7.0, 4.5)
    matrix: np.ndarray
    periods: np.ndarray
    unit: str
    time: str

    def render(self, ax: Axes) -> None:
        """Light cells untreated, dark treated, white missing; legend outside the plot."""
        mat, periods, unit, time = self.matrix, self.periods, self.unit, self.time
        from matplotlib.colors import ListedColormap
        from matplotlib.patches import Patch

        cmap = ListedColormap(["#c6dbef", "#08519c"]).with_extremes(bad="white")
        ax.imshow(
            np.ma.masked_invalid(mat),
            aspect="auto",
            interpolation="nearest",
            cmap=cmap,
            vmin=0.0,
            vmax=1.0,
        )
        step = max(1, periods.size // 12)
        ticks = np.arange(0, periods.size, step)
        ax.set_xticks(ticks, [str(periods[i]) for i in ticks])
        ax.set_yticks([])
        ax.set_xlabel(str(time))
        ax.set_ylabel(f"{unit} (sorted by adoption; {mat.shape[0]:,} units)")
        ax.set_title("Treatment rollout", fontsize=9)
        handles = [
            Patch(facecolor="#c6dbef", label="untreated"),
            Patch(facecolor="#08519c", label="treated"),
        ]
        if np.isnan(mat).any():
            handles.append(Patch(facecolor="white", edgecolor="grey", label="missing"))
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
