"""Outcome-contract figures: payment risk, a contract's operating characteristic, and
the contract's trigger levels drawn over an estimates figure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import pandas as pd

from impacteval.plotting.base import Display

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["OperatingCharacteristicDisplay", "PaymentRiskDisplay", "TriggerLinesDisplay"]


def _target_lines(ax: Axes) -> None:
    """Dotted line at a null programme (0), dashed at the target (1)."""
    ax.axvline(0.0, color="grey", lw=0.8, ls=":")
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")


@dataclass(frozen=True, eq=False)
class PaymentRiskDisplay(Display):
    """Expected payment (left axis) and P(pay) (right axis) against the true effect.

    Attributes
    ----------
    curve : pandas.DataFrame
        ``fraction_of_target``, ``expected_payment`` and ``p_pay`` per true effect.
    contract, currency : str
        Named in the title and the axis label.
    p_pay_null : float
        Probability of paying for a null programme (in the title).
    """

    figsize: ClassVar[tuple[float, float]] = (6.5, 4.0)
    curve: pd.DataFrame
    contract: str
    currency: str
    p_pay_null: float

    def render(self, ax: Axes) -> None:
        """Two curves on twin y axes; money formatted with thousands separators."""
        from matplotlib.ticker import FuncFormatter

        x = self.curve["fraction_of_target"].to_numpy()
        ax.plot(x, self.curve["expected_payment"].to_numpy(), "o-", label="expected payment")
        ax.set_xlabel("true effect as a fraction of target (0 = null programme)")
        ax.set_ylabel(f"expected payment ({self.currency})")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        _target_lines(ax)
        twin = ax.twinx()
        twin.plot(x, self.curve["p_pay"].to_numpy(), "s--", color="C1", label="P(pay)")
        twin.set_ylim(-0.02, 1.02)
        twin.set_ylabel("P(pay)")
        ax.set_title(f"{self.contract}: P(pay | null) = {self.p_pay_null:.1%}")


@dataclass(frozen=True, eq=False)
class OperatingCharacteristicDisplay(Display):
    """P(pay) of a contract design (left axis) and expected payment (right axis).

    Attributes
    ----------
    curve : pandas.DataFrame
        ``fraction_of_target``, ``p_pay`` and ``expected_payment`` per true effect.
    contract, currency : str
        Named in the title and the axis label.
    """

    figsize: ClassVar[tuple[float, float]] = (6.5, 4.0)
    curve: pd.DataFrame
    contract: str
    currency: str

    def render(self, ax: Axes) -> None:
        """Two curves on twin y axes, with the null and target marked."""
        x = self.curve["fraction_of_target"].to_numpy()
        ax.plot(x, self.curve["p_pay"].to_numpy(), "o-", label="P(outcome payment > 0)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("true effect as a fraction of target (0 = no effect)")
        ax.set_ylabel("probability of paying")
        _target_lines(ax)
        twin = ax.twinx()
        twin.plot(x, self.curve["expected_payment"].to_numpy(), "s--", color="C1")
        twin.set_ylabel(f"expected payment ({self.currency})")
        ax.set_title(f"{self.contract}: operating characteristic")
        ax.legend(loc="upper left")


@dataclass(frozen=True, eq=False)
class TriggerLinesDisplay(Display):
    """Short dashed red lines at each estimate's trigger level, over an estimates figure.

    Attributes
    ----------
    positions : mapping of str to int
        x position (index of the estimate on the axis) of each metric.
    levels : mapping of str to float
        Trigger level of each metric, in the estimate's units; metrics without one are
        skipped.
    """

    positions: Mapping[str, int] = field(default_factory=dict)
    levels: Mapping[str, float] = field(default_factory=dict)

    def render(self, ax: Axes) -> None:
        """One line per metric with a level; a legend entry once."""
        drawn = False
        for name, x in self.positions.items():
            if name not in self.levels:
                continue
            ax.hlines(
                self.levels[name],
                x - 0.35,
                x + 0.35,
                colors="crimson",
                linestyles="--",
                label="_nolegend_" if drawn else "contract trigger",
            )
            drawn = True
        if drawn:
            ax.legend(loc="best", fontsize="small")
