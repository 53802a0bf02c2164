"""Propensity-score matching and weighting: MatchIt / Matching parity."""

from impacteval.matching.nearest import MatchingEstimate, nearest_neighbor
from impacteval.matching.propensity import propensity_score

__all__ = ["MatchingEstimate", "nearest_neighbor", "propensity_score"]
