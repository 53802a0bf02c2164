"""Diagnostics shared by the designs: covariate balance, overlap / common support, and
sensitivity to hidden bias (Rosenbaum bounds, E-values)."""

from impacteval.diagnostics.balance import BalanceTable, OmnibusTest, balance
from impacteval.diagnostics.overlap import CommonSupport, common_support, overlap_plot
from impacteval.diagnostics.sensitivity import (
    EValue,
    RosenbaumBounds,
    e_value,
    rosenbaum_bounds,
    rosenbaum_gamma,
)

__all__ = [
    "BalanceTable",
    "CommonSupport",
    "EValue",
    "OmnibusTest",
    "RosenbaumBounds",
    "balance",
    "common_support",
    "e_value",
    "overlap_plot",
    "rosenbaum_bounds",
    "rosenbaum_gamma",
]
