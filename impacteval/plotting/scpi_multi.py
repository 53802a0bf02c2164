"""Display of synthetic control effects for several treated units, with optional prediction
intervals (numbers computed by :func:`impacteval.synth.synthetic_control_multi` and its
``prediction_intervals``); matplotlib is imported on the first draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from impacteval.plotting.base import Display

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["MultiEffectsDisplay"]


@dataclass(frozen=True)
class MultiEffectsDisplay(Display):
    """Effects (treated minus synthetic) by event time or by unit, with intervals.

    Attributes
    ----------
    table : pandas.DataFrame
        Rows of the estimand: ``estimate`` and, when intervals are drawn, ``ci_lower`` and
        ``ci_upper``; ``event_time`` (effects ``"unit-time"`` and ``"time"``) and ``unit``
        (``"unit-time"`` and ``"unit"``).
    effect : str
        ``"unit-time"`` (one line per unit against event time), ``"unit"`` (one point per
        unit) or ``"time"`` (one line against event time).
    intervals : bool
        Draw the intervals (shaded bands or error bars).
    level : float
        Coverage of the intervals (legend).
    """

    table: pd.DataFrame
    effect: str
    intervals: bool
    level: float
    figsize: ClassVar[tuple[float, float]] = (7.0, 4.0)

    def _band_label(self) -> str:
        return f"{self.level:.0%} prediction interval"

    def _lines(self, ax: Axes, groups: list[tuple[str, pd.DataFrame]]) -> None:
        for label, part in groups:
            x = part["event_time"].to_numpy()
            (line,) = ax.plot(x, part["estimate"].to_numpy(), marker="o", ms=3, label=label)
            if self.intervals:
                ax.fill_between(
                    x,
                    part["ci_lower"].to_numpy(),
                    part["ci_upper"].to_numpy(),
                    color=line.get_color(),
                    alpha=0.15,
                )
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("periods since adoption")

    def render(self, ax: Axes) -> None:
        """Lines by event time (per unit, or the average), or points by unit."""
        t = self.table
        if self.effect == "unit":
            x = np.arange(len(t))
            est = t["estimate"].to_numpy()
            if self.intervals:
                err = [est - t["ci_lower"].to_numpy(), t["ci_upper"].to_numpy() - est]
                ax.errorbar(x, est, yerr=err, fmt="o", capsize=3, label=self._band_label())
            else:
                ax.plot(x, est, "o")
            ax.set_xticks(x, [str(u) for u in t["unit"]])
            ax.set_xlim(-0.5, len(t) - 0.5)
            ax.set_xlabel("treated unit")
        elif self.effect == "time":
            label = "average over treated units"
            self._lines(ax, [(label, t)])
        else:
            self._lines(ax, [(str(u), part) for u, part in t.groupby("unit", sort=False)])
        ax.axhline(0.0, color="grey", linewidth=0.8)
        ax.set_ylabel("effect (treated - synthetic)")
        title = "shaded: " + self._band_label() if self.intervals and self.effect != "unit" else ""
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False, title=title or None)
