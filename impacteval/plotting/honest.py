"""The sensitivity plot of a Rambachan-Roth analysis (matplotlib imported lazily).

:class:`SensitivityDisplay` holds the numbers drawn; :meth:`impacteval.did.HonestSensitivity.plot`
builds it with :meth:`SensitivityDisplay.from_result`, which reads the result's attributes
by name, so this module imports nothing from ``did``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from impacteval.plotting.base import Display

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["SensitivityDisplay"]

_ORIGINAL, _ROBUST = "#555555", "#1f77b4"


@dataclass(frozen=True)
class SensitivityDisplay(Display):
    """Original interval (left) and robust intervals against the bound, as HonestDiD's
    ``createSensitivityPlot``; the threshold is a horizontal line and the breakdown value
    a dashed vertical line."""

    bounds: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    original: tuple[float, float]
    threshold: float
    breakdown: float
    bound_name: str
    level: float
    target: str
    method: str
    ci_method: str

    figsize: ClassVar[tuple[float, float]] = (7.0, 3.8)

    @classmethod
    def from_result(cls, result: Any) -> SensitivityDisplay:
        """What to draw of an ``HonestSensitivity`` result."""
        table = result.table
        return cls(
            bounds=table["m"].to_numpy(dtype=float),
            ci_lower=table["ci_lower"].to_numpy(dtype=float),
            ci_upper=table["ci_upper"].to_numpy(dtype=float),
            original=(float(result.original.ci_lower), float(result.original.ci_upper)),
            threshold=float(result.threshold),
            breakdown=float(result.breakdown),
            bound_name=str(result.bound_name),
            level=float(result.level),
            target=str(result.target),
            method=str(result.method),
            ci_method=str(result.ci_method),
        )

    def render(self, ax: Axes) -> None:
        """Draw on ``ax``."""
        m = self.bounds
        step = float(np.min(np.diff(m))) if m.size > 1 else max(float(m[0]), 1.0)
        x0 = float(m[0]) - step
        ax.vlines(x0, *self.original, color=_ORIGINAL, lw=2.5, label="original")
        ok = np.isfinite(self.ci_lower) & np.isfinite(self.ci_upper)
        ax.vlines(
            m[ok], self.ci_lower[ok], self.ci_upper[ok], color=_ROBUST, lw=2.5, label=self.ci_method
        )
        ax.axhline(self.threshold, color="black", lw=0.8)
        if not math.isnan(self.breakdown):
            ax.axvline(
                self.breakdown,
                color="#d62728",
                ls="--",
                lw=1.0,
                label=f"breakdown {self.bound_name} = {self.breakdown:.3g}",
            )
        ax.set_xticks([x0, *m.tolist()])
        ax.set_xticklabels(["original", *[f"{v:g}" for v in m]])
        ax.set_xlabel(self.bound_name)
        ax.set_ylabel(f"{self.level:.0%} CI: {self.target}")
        ax.set_title(f"Sensitivity to parallel trends: {self.method.replace('_', ' ')}")
        ax.legend(loc="best", fontsize="small")
