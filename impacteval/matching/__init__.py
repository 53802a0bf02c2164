"""Propensity-score matching and weighting: MatchIt / Matching / ebal parity.

Where things are. Nearest-neighbour matching: ``nearest.py`` (entry point),
``_nn_prepare.py`` (options and data), ``_nn_numerics.py`` + ``_nn_match.py`` (matched sets
and weights; MatchIt's kernels), ``abadie_imbens.py`` (Match's estimator and variance),
``_nn_result.py`` (outcome analysis, balance, :class:`MatchingEstimate`). Weighting:
``weighting.py`` (``ipw``, ``aipw``) over ``_weights_input.py`` (data),
``_weights_ipw.py``, ``_weights_logit.py`` and ``_weights_mest.py`` (numerics);
``entropy.py`` (``entropy_balance``) over ``_weights_ebal.py``. Propensity scores:
``propensity.py``. Balance tables and their love plots: :mod:`impacteval.diagnostics` and
:mod:`impacteval.plotting`.
"""

from impacteval.matching.entropy import EntropyBalance, entropy_balance
from impacteval.matching.nearest import MatchingEstimate, nearest_neighbor
from impacteval.matching.propensity import propensity_score
from impacteval.matching.weighting import aipw, ipw

__all__ = [
    "EntropyBalance",
    "MatchingEstimate",
    "aipw",
    "entropy_balance",
    "ipw",
    "nearest_neighbor",
    "propensity_score",
]
