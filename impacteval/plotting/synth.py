"""Displays for synthetic control and synthetic DiD results.

Each display is a small frozen object holding exactly what is drawn (labelled Series and
DataFrames, no estimator state) with a ``draw(ax=None)`` method; the results' ``.plot()``
methods build one and draw it. matplotlib is imported inside ``draw``, so importing this
module stays cheap.

- :class:`SyntheticControlDisplay`: treated vs synthetic path, and the gap.
- :class:`PlaceboGapsDisplay`, :class:`PlaceboRatiosDisplay`: the in-space placebo test.
- :class:`LeaveOneOutDisplay`: synthetic paths refitted without each donor.
- :class:`SyntheticDiDDisplay`: treated vs unit-weighted controls with the time weights,
  as R ``synthdid::synthdid_plot``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "LeaveOneOutDisplay",
    "PlaceboGapsDisplay",
    "PlaceboRatiosDisplay",
    "SyntheticControlDisplay",
    "SyntheticDiDDisplay",
]


def _new_axes(figsize: tuple[float, float], ncols: int = 1) -> Any:
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(1, ncols, figsize=figsize)
    return ax


def _mark(ax: Any, when: Any) -> None:
    ax.axvline(when, color="grey", linestyle=":", linewidth=1)


@dataclass(frozen=True)
class SyntheticControlDisplay:
    """Treated and synthetic paths (left) and their gap (right), treatment time marked.

    Attributes
    ----------
    treated_path, synthetic_path, gaps : pandas.Series
        By period.
    treatment_time
        Where the dotted vertical line goes.
    treated_label : str
        Legend entry of the treated path.
    outcome : str
        Label of the left y axis.
    """

    treated_path: pd.Series
    synthetic_path: pd.Series
    gaps: pd.Series
    treatment_time: Any
    treated_label: str
    outcome: str

    def draw(self, ax: Any = None) -> Any:
        """Draw on a pair of Axes (new figure when None); returns the pair."""
        if ax is None:
            ax = _new_axes((10, 3.5), ncols=2)
        ax1, ax2 = ax
        ax1.plot(
            self.treated_path.index, self.treated_path, color="black", label=self.treated_label
        )
        ax1.plot(
            self.synthetic_path.index,
            self.synthetic_path,
            color="black",
            linestyle="--",
            label="synthetic",
        )
        _mark(ax1, self.treatment_time)
        ax1.set_ylabel(self.outcome)
        ax1.legend(frameon=False)
        ax2.plot(self.gaps.index, self.gaps, color="black")
        ax2.axhline(0.0, color="grey", linewidth=0.8)
        _mark(ax2, self.treatment_time)
        ax2.set_ylabel("gap (treated - synthetic)")
        return ax


@dataclass(frozen=True)
class PlaceboGapsDisplay:
    """Every placebo's gap path in grey, the treated unit's in black.

    Attributes
    ----------
    gaps : pandas.DataFrame
        Gap paths by period (rows) and unit (columns), the placebos to draw only.
    treated : label
        The column of the treated unit.
    treatment_time
        Where the dotted vertical line goes.
    title : str or None
        Axes title (the p-value and rank), None for none.
    """

    gaps: pd.DataFrame
    treated: Hashable
    treatment_time: Any
    title: str | None = None

    def draw(self, ax: Axes | None = None) -> Axes:
        """Draw on ``ax`` (new figure when None); returns the Axes."""
        if ax is None:
            ax = _new_axes((6, 3.5))
        for col in self.gaps.columns[1:]:
            ax.plot(self.gaps.index, self.gaps[col], color="lightgrey", linewidth=0.8)
        treated = self.gaps[self.treated]
        ax.plot(self.gaps.index, treated, color="black", linewidth=1.8, label=str(self.treated))
        ax.axhline(0.0, color="grey", linewidth=0.8)
        _mark(ax, self.treatment_time)
        ax.set_ylabel("gap")
        if self.title is not None:
            ax.set_title(self.title)
        ax.legend(frameon=False)
        return ax


@dataclass(frozen=True)
class PlaceboRatiosDisplay:
    """Post/pre RMSPE ratios as horizontal bars, the treated unit's in black.

    Attributes
    ----------
    ratios : pandas.Series
        By unit, in the order drawn (bottom to top).
    treated : label
        The treated unit's index entry.
    """

    ratios: pd.Series
    treated: Hashable

    def draw(self, ax: Axes | None = None) -> Axes:
        """Draw on ``ax`` (new figure when None); returns the Axes."""
        if ax is None:
            ax = _new_axes((6, 3.5))
        colors = ["black" if u == self.treated else "lightgrey" for u in self.ratios.index]
        ax.barh([str(u) for u in self.ratios.index], self.ratios.to_numpy(), color=colors)
        ax.set_xlabel("post/pre RMSPE ratio")
        return ax


@dataclass(frozen=True)
class LeaveOneOutDisplay:
    """The treated path (black), the full synthetic path (dashed) and each leave-one-out
    synthetic path (grey).

    Attributes
    ----------
    paths : pandas.DataFrame
        Synthetic path by period (rows) and dropped donor (columns).
    treated_path, synthetic_path : pandas.Series
        Of the full fit.
    treatment_time
        Where the dotted vertical line goes.
    """

    paths: pd.DataFrame
    treated_path: pd.Series
    synthetic_path: pd.Series
    treatment_time: Any

    def draw(self, ax: Axes | None = None) -> Axes:
        """Draw on ``ax`` (new figure when None); returns the Axes."""
        if ax is None:
            ax = _new_axes((6, 3.5))
        for col in self.paths.columns:
            ax.plot(self.paths.index, self.paths[col], color="lightgrey", linewidth=0.9)
        ax.plot(self.treated_path.index, self.treated_path, color="black", label="treated")
        ax.plot(
            self.synthetic_path.index,
            self.synthetic_path,
            color="black",
            linestyle="--",
            label="synthetic",
        )
        _mark(ax, self.treatment_time)
        ax.legend(frameon=False)
        return ax


def _positions(times: pd.Series) -> np.ndarray:
    """x positions: the periods themselves when numeric or dates, else 0, 1, 2, ..."""
    if pd.api.types.is_numeric_dtype(times.dtype) or pd.api.types.is_datetime64_any_dtype(
        times.dtype
    ):
        return np.asarray(times.to_numpy(dtype=float))
    return np.arange(len(times), dtype=float)


@dataclass(frozen=True)
class SyntheticDiDDisplay:
    """One cohort's treated and synthetic-control trajectories, the DiD parallelogram, the
    effect arrow and the time weights (shaded bars along the bottom).

    The unit-weighted control path is drawn as is (synthdid's ``overlay = 0``); the
    parallelogram joins the lambda-weighted pre-period and the post-period means. Without
    time weights (synthetic control) there is no parallelogram.

    Attributes
    ----------
    times : pandas.Series
        The periods, in order.
    treated, synthetic, time_weights : numpy.ndarray
        By period: the treated units' mean outcome, the unit-weighted control mean and
        lambda (zero after treatment).
    post : numpy.ndarray of bool
        Periods from the cohort's adoption on.
    xlabel, ylabel, title : str
        Axis labels and title.
    """

    times: pd.Series
    treated: np.ndarray
    synthetic: np.ndarray
    time_weights: np.ndarray
    post: np.ndarray
    xlabel: str
    ylabel: str
    title: str

    def draw(self, ax: Axes | None = None) -> Axes:
        """Draw on ``ax`` (new figure when None); returns the Axes."""
        if ax is None:
            ax = _new_axes((7, 4))
        x = _positions(self.times)
        treated, synth, lam, post = self.treated, self.synthetic, self.time_weights, self.post
        ax.plot(x, treated, color="C3", label="treated")
        ax.plot(x, synth, color="C0", label="synthetic control")
        ax.axvline(x[post][0], color="grey", alpha=0.4, lw=1)
        x_post = float(x[post].mean())
        tr_post, co_post = float(treated[post].mean()), float(synth[post].mean())
        if lam.sum() > 0:
            x_pre = float(lam @ x)
            tr_pre, co_pre = float(lam @ treated), float(lam @ synth)
            ax.plot([x_pre, x_post], [co_pre, co_post], "o--", color="C0", alpha=0.8, lw=1)
            ax.plot([x_pre, x_post], [tr_pre, tr_pre + co_post - co_pre], "o--", color="C3", lw=1)
            counterfactual = tr_pre + co_post - co_pre
        else:  # synthetic control: no time weights, no parallelogram
            counterfactual = co_post
        ax.annotate(
            "",
            xy=(x_post, tr_post),
            xytext=(x_post, counterfactual),
            arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.5},
        )
        lo, hi = ax.get_ylim()
        if lam.sum() > 0:
            width = float(np.min(np.diff(x))) if len(x) > 1 else 1.0
            height = 0.15 * (hi - lo) * lam / lam.max()
            ax.bar(
                x, height, bottom=lo, width=0.9 * width, color="C0", alpha=0.3, label="time weight"
            )
            ax.set_ylim(lo, hi)
        ax.set_xlabel(self.xlabel)
        ax.set_ylabel(self.ylabel)
        ax.set_title(self.title)
        ax.legend(loc="best", fontsize="small")
        return ax
