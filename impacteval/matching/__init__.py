"""Propensity-score matching and weighting: MatchIt / Matching / ebal parity."""

from impacteval.matching.nearest import MatchingEstimate, nearest_neighbor
from impacteval.matching.propensity import propensity_score
from impacteval.matching.weighting import EntropyBalance, aipw, entropy_balance, ipw

__all__ = [
    "EntropyBalance",
    "MatchingEstimate",
    "aipw",
    "entropy_balance",
    "ipw",
    "nearest_neighbor",
    "propensity_score",
]
