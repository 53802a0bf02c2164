"""Diagnostics shared by the designs: covariate balance (overlap, pre-trends and
sensitivity join here as they are built)."""

from impacteval.diagnostics.balance import BalanceTable, OmnibusTest, balance

__all__ = ["BalanceTable", "OmnibusTest", "balance"]
