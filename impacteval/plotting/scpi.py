"""Display of the synthetic control prediction intervals (Cattaneo, Feng & Titiunik 2021).

:class:`PredictionIntervalsDisplay` holds the treated and synthetic paths and the interval
bounds by period (numbers computed by
:meth:`impacteval.synth.SyntheticControl.prediction_intervals`) and draws them; matplotlib
is imported on the first draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from impacteval.plotting.base import Display

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["PredictionIntervalsDisplay"]


@dataclass(frozen=True)
class PredictionIntervalsDisplay(Display):
    """Treated and synthetic paths with the prediction intervals of ``Y(0)``.

    Attributes
    ----------
    times, treated, synthetic : pandas.Series
        Post periods and the two paths over them.
    lower, upper : pandas.Series
        Combined prediction interval (shaded band).
    insample_lower, insample_upper : pandas.Series
        In-sample (weights) interval (error bars).
    pre_treated, pre_synthetic : pandas.Series or None
        The paths before treatment (drawn when given).
    treatment_time
        Where the dotted vertical line goes.
    treated_label : str
        Legend entry of the treated path.
    level : float
        Coverage of the combined interval (legend).
    """

    times: pd.Series
    treated: pd.Series
    synthetic: pd.Series
    lower: pd.Series
    upper: pd.Series
    insample_lower: pd.Series
    insample_upper: pd.Series
    pre_treated: pd.Series | None
    pre_synthetic: pd.Series | None
    treatment_time: Any
    treated_label: str
    level: float
    figsize: ClassVar[tuple[float, float]] = (7.0, 4.0)

    def render(self, ax: Axes) -> None:
        """Paths, the shaded combined interval and the in-sample error bars."""
        t = self.times.to_numpy()
        syn = self.synthetic.to_numpy()
        if self.pre_treated is not None and self.pre_synthetic is not None:
            ax.plot(self.pre_treated.index, self.pre_treated, color="black")
            ax.plot(self.pre_synthetic.index, self.pre_synthetic, color="tab:blue", ls="--")
        ax.plot(t, self.treated, color="black", label=self.treated_label)
        ax.plot(t, syn, color="tab:blue", ls="--", label="synthetic")
        ax.fill_between(
            t,
            self.lower,
            self.upper,
            color="tab:blue",
            alpha=0.2,
            label=f"{self.level:.0%} prediction interval",
        )
        ax.errorbar(
            t,
            syn,
            yerr=[syn - self.insample_lower.to_numpy(), self.insample_upper.to_numpy() - syn],
            fmt="none",
            ecolor="tab:blue",
            capsize=2,
            label="in-sample (weights) part",
        )
        if self.treatment_time is not None:
            ax.axvline(self.treatment_time, color="grey", linestyle=":", linewidth=1)
        ax.legend(frameon=False)
