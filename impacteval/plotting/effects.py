"""Point estimates with their confidence intervals (``EffectEstimate.plot``,
``EffectTable.plot`` and the report's estimate figures)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from impacteval.plotting.base import Display

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["EstimatesDisplay", "plot_estimates"]


@dataclass(frozen=True, eq=False)
class EstimatesDisplay(Display):
    """One point and interval per row of ``frame``, a dashed line at zero.

    Attributes
    ----------
    frame : pandas.DataFrame
        Indexed by what goes on the x axis; needs ``estimate``, ``ci_lower``, ``ci_upper``.
    """

    frame: pd.DataFrame

    def render(self, ax: Axes) -> None:
        """Error bars at 0, 1, ... labelled by the index; the y axis is the effect."""
        frame = self.frame
        labels = [str(i) for i in frame.index]
        x = np.arange(len(frame))
        est = frame["estimate"].to_numpy(dtype=float)
        lo = frame["ci_lower"].to_numpy(dtype=float)
        hi = frame["ci_upper"].to_numpy(dtype=float)
        ax.errorbar(x, est, yerr=np.vstack([est - lo, hi - est]), fmt="o", capsize=3)
        ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_xticks(x, labels)
        ax.set_xlabel(str(frame.index.name or ""))
        ax.set_ylabel("effect")


def plot_estimates(frame: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Point estimates with confidence intervals, one per row of ``frame``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Indexed by what goes on the x axis; needs ``estimate``, ``ci_lower``, ``ci_upper``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.

    Returns
    -------
    matplotlib Axes
    """
    return EstimatesDisplay(frame).draw(ax)
