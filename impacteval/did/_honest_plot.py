"""The sensitivity plot of a Rambachan-Roth analysis (matplotlib imported lazily)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from impacteval.did.honest import HonestSensitivity

__all__ = ["plot_sensitivity"]

_ORIGINAL, _ROBUST = "#555555", "#1f77b4"


def plot_sensitivity(result: HonestSensitivity, ax: Axes | None = None) -> Axes:
    """Original interval (left) and robust intervals against the bound, as HonestDiD's
    ``createSensitivityPlot``; the threshold is a horizontal line and the breakdown value a
    dashed vertical line."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7.0, 3.8))
    table = result.table
    m = table["m"].to_numpy(dtype=float)
    step = float(np.min(np.diff(m))) if m.size > 1 else max(float(m[0]), 1.0)
    x0 = float(m[0]) - step
    o = result.original
    ax.vlines(x0, o.ci_lower, o.ci_upper, color=_ORIGINAL, lw=2.5, label="original")
    lo = table["ci_lower"].to_numpy(dtype=float)
    hi = table["ci_upper"].to_numpy(dtype=float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    ax.vlines(m[ok], lo[ok], hi[ok], color=_ROBUST, lw=2.5, label=result.ci_method)
    ax.axhline(result.threshold, color="black", lw=0.8)
    if not math.isnan(result.breakdown):
        ax.axvline(
            result.breakdown,
            color="#d62728",
            ls="--",
            lw=1.0,
            label=f"breakdown {result.bound_name} = {result.breakdown:.3g}",
        )
    ax.set_xticks([x0, *m.tolist()])
    ax.set_xticklabels(["original", *[f"{v:g}" for v in m]])
    ax.set_xlabel(result.bound_name)
    ax.set_ylabel(f"{result.level:.0%} CI: {result.target}")
    ax.set_title(f"Sensitivity to parallel trends: {result.method.replace('_', ' ')}")
    ax.legend(loc="best", fontsize="small")
    return ax
