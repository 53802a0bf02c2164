"""Display of a multisynth fit (staggered adoption): event-time effects with their band.

:class:`MultisynthDisplay` holds the event-time averages, their interval and each treated
unit's effect path (numbers computed by :func:`impacteval.synth.multisynth`) and draws
either the average with its band over faint unit paths (``kind="event"``) or the unit
paths alone, labelled (``kind="units"``). matplotlib is imported on the first draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from impacteval.plotting.base import Display

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["MultisynthDisplay"]


@dataclass(frozen=True)
class MultisynthDisplay(Display):
    """Event-time effects of a staggered synthetic control.

    Attributes
    ----------
    event_times, estimate, lower, upper : numpy.ndarray
        The event-time averages and their interval (band; NaN bounds are not drawn).
    paths : dict
        Treated unit label -> (event times, effects) of that unit.
    kind : {"event", "units"}
        Average with band over faint unit paths, or the unit paths alone.
    ylabel, title : str
        Axis label and title.
    level : float
        Confidence level of the band (legend).
    """

    event_times: np.ndarray
    estimate: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    paths: dict[str, tuple[np.ndarray, np.ndarray]]
    kind: str
    ylabel: str
    title: str
    level: float = 0.95
    figsize: ClassVar[tuple[float, float]] = (7.0, 4.0)

    def render(self, ax: Axes) -> None:
        """Draw the effects against event time on ``ax``."""
        if self.kind == "event":
            for x, y in self.paths.values():
                ax.plot(x, y, color="0.75", linewidth=0.8)
            band = np.isfinite(self.lower) & np.isfinite(self.upper)
            if band.any():
                ax.fill_between(
                    self.event_times[band],
                    self.lower[band],
                    self.upper[band],
                    color="C0",
                    alpha=0.25,
                    label=f"{self.level:.0%} interval",
                )
            ax.plot(self.event_times, self.estimate, "o-", color="C0", label="average")
            ax.legend(loc="best", fontsize="small")
        else:
            for k, (label, (x, y)) in enumerate(self.paths.items()):
                ax.plot(x, y, color=f"C{k % 10}", linewidth=1.0)
                ax.annotate(label, (x[-1], y[-1]), fontsize="x-small", color=f"C{k % 10}")
        ax.axhline(0.0, color="0.3", linestyle="--", linewidth=0.8)
        ax.axvline(-0.5, color="0.3", linestyle=":", linewidth=0.8)
        ax.set_xlabel("periods since adoption")
        ax.set_ylabel(self.ylabel)
        ax.set_title(self.title)
