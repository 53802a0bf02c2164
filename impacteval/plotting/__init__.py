"""Matplotlib displays. Each result's ``.plot()`` delegates here.

matplotlib is imported lazily, inside the functions, so importing impacteval stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

from impacteval.plotting.panelview import panel_view

__all__ = ["love_plot", "panel_view", "plot_estimates"]


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new_ax = plt.subplots(figsize=(6, 3.5))
    return new_ax


def plot_estimates(frame: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Point estimates with confidence intervals, one per row of ``frame``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Indexed by what goes on the x axis; needs ``estimate``, ``ci_lower``, ``ci_upper``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.
    """
    ax = _axes(ax)
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
    return ax


def love_plot(table: pd.DataFrame, ax: Axes | None = None, threshold: float = 0.1) -> Axes:
    """Absolute standardised mean differences by covariate (before / after, if present).

    Parameters
    ----------
    table : pandas.DataFrame
        Indexed by covariate, with column ``smd`` and optionally ``smd_adjusted``.
    threshold : float
        Reference line drawn at this absolute SMD (0.1 is the usual rule of thumb).
    """
    ax = _axes(ax)
    y = np.arange(len(table))
    ax.scatter(np.abs(table["smd"].to_numpy(dtype=float)), y, label="unadjusted", marker="o")
    if "smd_adjusted" in table.columns:
        ax.scatter(
            np.abs(table["smd_adjusted"].to_numpy(dtype=float)), y, label="adjusted", marker="x"
        )
        ax.legend()
    ax.axvline(threshold, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yticks(y, [str(i) for i in table.index])
    ax.set_xlabel("absolute standardised mean difference")
    return ax
