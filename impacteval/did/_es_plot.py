"""Picture of an event study (matplotlib imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from impacteval.results import EffectTable

__all__ = ["plot_event_study"]

_PRE, _POST, _REF = "#1f77b4", "#d62728", "black"


def plot_event_study(table: EffectTable, ax: Axes | None = None) -> Axes:
    """Event-time coefficients with their intervals; the reference period is a hollow marker.

    Pre-treatment event times are blue, post-treatment red; a dotted line separates them.
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7.0, 3.8))
    frame = table.table
    x = frame["event_time"].to_numpy(dtype=float)
    est = frame["estimate"].to_numpy(dtype=float)
    lo = frame["ci_lower"].to_numpy(dtype=float)
    hi = frame["ci_upper"].to_numpy(dtype=float)
    ref = (
        frame["reference"].to_numpy(dtype=bool)
        if "reference" in frame.columns
        else np.zeros(len(frame), dtype=bool)
    )
    ok = ~ref & np.isfinite(est)
    err = np.vstack([est - lo, hi - est])
    for mask, colour, label in (
        (ok & (x < 0), _PRE, "pre-treatment"),
        (ok & (x >= 0), _POST, "post-treatment"),
    ):
        if mask.any():
            ax.errorbar(
                x[mask],
                est[mask],
                yerr=np.nan_to_num(err[:, mask]),
                fmt="o",
                color=colour,
                capsize=3,
                label=label,
            )
    if ref.any():
        ax.plot(
            x[ref],
            np.zeros(int(ref.sum())),
            linestyle="none",
            marker="o",
            markerfacecolor="white",
            markeredgecolor=_REF,
            label="reference (normalised to 0)",
        )
    ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
    ax.axvline(-0.5, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xlabel("event time (periods since treatment)")
    ax.set_ylabel("effect")
    ax.set_title(table.method, fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    return ax
