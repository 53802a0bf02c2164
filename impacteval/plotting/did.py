"""Pictures of difference-in-differences results (matplotlib imported lazily).

Each display is a small frozen object holding exactly what is drawn, built from a result
with ``from_table`` and drawn with ``plot(ax=None)``; the results' ``.plot()`` methods
(:class:`~impacteval.did.GroupTimeEffects`, :class:`~impacteval.did.AggregatedEffects`,
:class:`~impacteval.did.EventStudyTable`) delegate here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from impacteval.plotting.base import get_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from impacteval.results import EffectTable

__all__ = ["AggregateDisplay", "EventStudyDisplay", "GroupTimeDisplay", "plot_aggregate"]

_PRE, _POST, _REF = "#1f77b4", "#d62728", "black"
_FIGSIZE = (7.0, 3.8)
Array = np.ndarray


def _columns(table: EffectTable) -> tuple[Array, Array, Array]:
    frame = table.table
    return (
        frame["estimate"].to_numpy(dtype=float),
        frame["ci_lower"].to_numpy(dtype=float),
        frame["ci_upper"].to_numpy(dtype=float),
    )


@dataclass(frozen=True)
class GroupTimeDisplay:
    """ATT(g, t) against calendar time, one dodged series per cohort; pre-periods blue.

    Intervals are the table's (simultaneous bands when the table was bootstrapped).
    """

    group: Array
    time: Array
    estimate: Array
    ci_lower: Array
    ci_upper: Array
    title: str

    @classmethod
    def from_table(cls, table: EffectTable) -> GroupTimeDisplay:
        """What to draw of a group-time table (columns ``group`` and ``time``)."""
        est, lo, hi = _columns(table)
        frame = table.table
        return cls(frame["group"].to_numpy(), frame["time"].to_numpy(), est, lo, hi, table.method)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw on ``ax`` (a new figure when None) and return it."""
        ax = get_axes(ax, _FIGSIZE)
        groups = sorted(np.unique(self.group).tolist())
        width = 0.6 / max(len(groups), 1)
        for k, g in enumerate(groups):
            sel = self.group == g
            t = self.time[sel].astype(float)
            x = t + (k - (len(groups) - 1) / 2) * width
            est = self.estimate[sel]
            err = np.vstack([est - self.ci_lower[sel], self.ci_upper[sel] - est])
            post = t >= float(g)
            for mask, colour in ((~post, _PRE), (post, _POST)):
                if mask.any():
                    ax.errorbar(
                        x[mask],
                        est[mask],
                        yerr=err[:, mask],
                        fmt="o",
                        color=colour,
                        capsize=2,
                        ms=4,
                    )
            for xi, yi in zip(x[:1], est[:1], strict=False):
                ax.annotate(
                    f"g={g}", (xi, yi), textcoords="offset points", xytext=(0, 8), fontsize=7
                )
        ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_xlabel("period (dodged by cohort; blue = pre-treatment, red = post)")
        ax.set_ylabel("ATT(g, t)")
        ax.set_title(self.title, fontsize=8)
        return ax


@dataclass(frozen=True)
class AggregateDisplay:
    """An aggregation of ATT(g, t): estimates with intervals; event-study colours by
    ``event_time`` (pre-treatment blue, post red)."""

    index: str
    labels: Array
    estimate: Array
    ci_lower: Array
    ci_upper: Array
    title: str

    @classmethod
    def from_table(cls, table: EffectTable) -> AggregateDisplay:
        """What to draw of an aggregation (its first index column on the x axis)."""
        est, lo, hi = _columns(table)
        index = table.index_columns[0]
        return cls(index, table.table[index].to_numpy(), est, lo, hi, table.method)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw on ``ax`` (a new figure when None) and return it."""
        ax = get_axes(ax, _FIGSIZE)
        est = self.estimate
        err = np.vstack([est - self.ci_lower, self.ci_upper - est])
        if self.index in ("event_time", "time", "group"):
            x = self.labels.astype(float)
        else:
            x = np.arange(len(self.labels), dtype=float)
            ax.set_xticks(x, [str(v) for v in self.labels])
        post = x >= 0 if self.index == "event_time" else np.ones(len(x), dtype=bool)
        for mask, colour in ((~post, _PRE), (post, _POST)):
            if mask.any():
                ax.errorbar(x[mask], est[mask], yerr=err[:, mask], fmt="o", color=colour, capsize=3)
        ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
        if self.index == "event_time":
            ax.axvline(-0.5, color="grey", linewidth=0.6, linestyle=":")
        ax.set_xlabel(self.index.replace("_", " "))
        ax.set_ylabel("ATT")
        ax.set_title(self.title, fontsize=8)
        return ax


def plot_aggregate(table: EffectTable, ax: Axes | None = None) -> Axes:
    """Draw an aggregation of ATT(g, t) (:class:`AggregateDisplay`)."""
    return AggregateDisplay.from_table(table).plot(ax=ax)


@dataclass(frozen=True)
class EventStudyDisplay:
    """Event-time coefficients with their intervals; the reference period a hollow marker.

    Pre-treatment event times are blue, post-treatment red; a dotted line separates them.
    """

    event_time: Array
    estimate: Array
    ci_lower: Array
    ci_upper: Array
    reference: Array  # boolean: the normalised row(s)
    title: str

    @classmethod
    def from_table(cls, table: EffectTable) -> EventStudyDisplay:
        """What to draw of an event-study table (column ``event_time``, optional
        ``reference``)."""
        frame = table.table
        est, lo, hi = _columns(table)
        ref = (
            frame["reference"].to_numpy(dtype=bool)
            if "reference" in frame.columns
            else np.zeros(len(frame), dtype=bool)
        )
        return cls(frame["event_time"].to_numpy(dtype=float), est, lo, hi, ref, table.method)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw on ``ax`` (a new figure when None) and return it."""
        ax = get_axes(ax, _FIGSIZE)
        x, est, ref = self.event_time, self.estimate, self.reference
        ok = ~ref & np.isfinite(est)
        err = np.vstack([est - self.ci_lower, self.ci_upper - est])
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
        ax.set_title(self.title, fontsize=8)
        ax.legend(fontsize=7, frameon=False)
        return ax
