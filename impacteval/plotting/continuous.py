"""Dose-response curves of a continuous-treatment DiD (``DoseResponse.plot``): ATT(d) and
ACRT(d) with their pointwise intervals and uniform bands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from impacteval.plotting.base import Display

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["DoseResponseDisplay"]

_TITLES = ("ATT(d)", "ACRT(d)")


@dataclass(frozen=True, eq=False)
class DoseResponseDisplay(Display):
    """One panel per curve: the estimate against the dose, the pointwise interval as a
    dark ribbon and, when it differs (the uniform band of the bootstrap), the band as a
    light one.

    Attributes
    ----------
    frames : tuple of pandas.DataFrame
        ATT(d) and optionally ACRT(d) tables (columns ``dose``, ``estimate``,
        ``ci_lower``, ``ci_upper``, ``band_lower``, ``band_upper``).
    level : float
        Confidence level (for the legend).
    """

    frames: tuple[pd.DataFrame, ...]
    level: float = 0.95
    figsize: ClassVar[tuple[float, float]] = (6.0, 3.5)

    def draw(self, ax: Axes | None = None) -> Axes:
        """Draw on ``ax`` (the first curve only), or on a new figure with one panel per
        curve; return the (first) Axes."""
        if ax is not None or len(self.frames) == 1:
            return super().draw(ax)
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, len(self.frames), figsize=(5.0 * len(self.frames), 3.5))
        for i, target in enumerate(np.atleast_1d(axes)):
            self._panel(target, self.frames[i], _TITLES[i])
        return np.atleast_1d(axes)[0]  # type: ignore[no-any-return]

    def render(self, ax: Axes) -> None:
        """The first curve on ``ax``."""
        self._panel(ax, self.frames[0], _TITLES[0])

    def _panel(self, ax: Axes, frame: pd.DataFrame, title: str) -> None:
        dose = frame["dose"].to_numpy(dtype=float)
        est = frame["estimate"].to_numpy(dtype=float)
        band_lo = frame["band_lower"].to_numpy(dtype=float)
        band_hi = frame["band_upper"].to_numpy(dtype=float)
        if not np.allclose(band_lo, frame["ci_lower"].to_numpy(dtype=float), equal_nan=True):
            ax.fill_between(
                dose, band_lo, band_hi, alpha=0.15, color="C0", label=f"{self.level:.0%} band"
            )
        ax.fill_between(
            dose,
            frame["ci_lower"].to_numpy(dtype=float),
            frame["ci_upper"].to_numpy(dtype=float),
            alpha=0.3,
            color="C0",
            label=f"{self.level:.0%} pointwise",
        )
        ax.plot(dose, est, color="C0", label=title)
        ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_xlabel("dose")
        ax.set_ylabel(title)
        ax.set_title(title)
        ax.legend(fontsize="small")
