"""Pictures of Callaway-Sant'Anna results (matplotlib imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from impacteval.results import EffectTable

__all__ = ["plot_aggregate", "plot_group_time"]

_PRE, _POST = "#1f77b4", "#d62728"


def _axes(ax: Axes | None, width: float = 7.0) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new_ax = plt.subplots(figsize=(width, 3.8))
    return new_ax


def plot_group_time(table: EffectTable, ax: Axes | None = None) -> Axes:
    """ATT(g, t) against calendar time, one dodged series per cohort; pre-periods in blue.

    Intervals are the table's (simultaneous bands when the table was bootstrapped).
    """
    ax = _axes(ax)
    frame = table.table
    groups = sorted(frame["group"].unique())
    width = 0.6 / max(len(groups), 1)
    for k, g in enumerate(groups):
        sub = frame[frame["group"] == g]
        x = sub["time"].to_numpy(dtype=float) + (k - (len(groups) - 1) / 2) * width
        est = sub["estimate"].to_numpy(dtype=float)
        err = np.vstack(
            [
                est - sub["ci_lower"].to_numpy(dtype=float),
                sub["ci_upper"].to_numpy(dtype=float) - est,
            ]
        )
        post = sub["time"].to_numpy(dtype=float) >= float(g)
        for mask, colour in ((~post, _PRE), (post, _POST)):
            if mask.any():
                ax.errorbar(
                    x[mask], est[mask], yerr=err[:, mask], fmt="o", color=colour, capsize=2, ms=4
                )
        for xi, yi in zip(x[:1], est[:1], strict=False):
            ax.annotate(f"g={g}", (xi, yi), textcoords="offset points", xytext=(0, 8), fontsize=7)
    ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("period (dodged by cohort; blue = pre-treatment, red = post)")
    ax.set_ylabel("ATT(g, t)")
    ax.set_title(table.method, fontsize=8)
    return ax


def plot_aggregate(table: EffectTable, ax: Axes | None = None) -> Axes:
    """An aggregation: estimates with intervals; event-study colours for ``event_time``."""
    ax = _axes(ax)
    frame = table.table
    index = table.index_columns[0]
    labels = frame[index].to_numpy()
    est = frame["estimate"].to_numpy(dtype=float)
    err = np.vstack(
        [
            est - frame["ci_lower"].to_numpy(dtype=float),
            frame["ci_upper"].to_numpy(dtype=float) - est,
        ]
    )
    if index in ("event_time", "time", "group"):
        x = labels.astype(float)
    else:
        x = np.arange(len(frame), dtype=float)
        ax.set_xticks(x, [str(v) for v in labels])
    post = x >= 0 if index == "event_time" else np.ones(len(x), dtype=bool)
    for mask, colour in ((~post, _PRE), (post, _POST)):
        if mask.any():
            ax.errorbar(x[mask], est[mask], yerr=err[:, mask], fmt="o", color=colour, capsize=3)
    ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
    if index == "event_time":
        ax.axvline(-0.5, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xlabel(index.replace("_", " "))
    ax.set_ylabel("ATT")
    ax.set_title(table.method, fontsize=8)
    return ax
