"""Difference in differences: the 2x2 comparison, two-way fixed effects, and Callaway &
Sant'Anna (2021) group-time effects with their aggregations (event studies by Sun-Abraham
and imputation are still to come)."""

from impacteval.did.aggregate import AggregatedEffects, WaldTest
from impacteval.did.att_gt import GroupTimeEffects, att_gt
from impacteval.did.twfe import twfe
from impacteval.did.two_by_two import two_by_two

__all__ = [
    "AggregatedEffects",
    "GroupTimeEffects",
    "WaldTest",
    "att_gt",
    "twfe",
    "two_by_two",
]
