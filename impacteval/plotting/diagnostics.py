"""Design-diagnostic figures: the Love plot of covariate balance and the overlap of scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from impacteval.plotting.base import Display

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["LoveDisplay", "OverlapDisplay", "love_plot"]


@dataclass(frozen=True, eq=False)
class LoveDisplay(Display):
    """Absolute standardised mean differences by covariate (before / after, if present).

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by covariate, with column ``smd`` and optionally ``smd_adjusted``.
    threshold : float
        Reference line drawn at this absolute SMD (0.1 is the usual rule of thumb).
    """

    table: pd.DataFrame
    threshold: float = 0.1

    def render(self, ax: Axes) -> None:
        """Unadjusted SMDs as circles, adjusted as crosses, one row per covariate."""
        table = self.table
        y = np.arange(len(table))
        ax.scatter(np.abs(table["smd"].to_numpy(dtype=float)), y, label="unadjusted", marker="o")
        if "smd_adjusted" in table.columns:
            ax.scatter(
                np.abs(table["smd_adjusted"].to_numpy(dtype=float)),
                y,
                label="adjusted",
                marker="x",
            )
            ax.legend()
        ax.axvline(self.threshold, color="grey", linestyle="--", linewidth=0.8)
        ax.set_yticks(y, [str(i) for i in table.index])
        ax.set_xlabel("absolute standardised mean difference")


def love_plot(table: pd.DataFrame, ax: Axes | None = None, threshold: float = 0.1) -> Axes:
    """Absolute standardised mean differences by covariate (before / after, if present).

    Parameters
    ----------
    table : pandas.DataFrame
        Indexed by covariate, with column ``smd`` and optionally ``smd_adjusted``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.
    threshold : float
        Reference line drawn at this absolute SMD (0.1 is the usual rule of thumb).
    """
    return LoveDisplay(table, threshold).draw(ax)


@dataclass(frozen=True, eq=False)
class OverlapDisplay(Display):
    """Mirrored histograms of scores (treated above the axis, controls below).

    Attributes
    ----------
    scores, treatment : numpy.ndarray
        Checked scores and 0/1 arms, same length.
    lower, upper : float
        The common support, drawn as dashed vertical lines.
    bins : int
        Number of equal-width bins over the range of all scores.
    """

    scores: np.ndarray
    treatment: np.ndarray
    lower: float
    upper: float
    bins: int = 30

    def render(self, ax: Axes) -> None:
        """Density bars per arm (controls negated) and the support's edges."""
        s, z = self.scores, self.treatment
        lo, hi = float(s.min()), float(s.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, int(self.bins) + 1)
        dens_t, _ = np.histogram(s[z == 1], bins=edges, density=True)
        dens_c, _ = np.histogram(s[z == 0], bins=edges, density=True)
        width = np.diff(edges)
        ax.bar(edges[:-1], dens_t, width=width, align="edge", alpha=0.7, label="treated")
        ax.bar(edges[:-1], -dens_c, width=width, align="edge", alpha=0.7, label="control")
        ax.axhline(0.0, color="black", linewidth=0.8)
        for edge in (self.lower, self.upper):
            ax.axvline(edge, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlabel("score")
        ax.set_ylabel("density (control below the axis)")
        ax.legend()
