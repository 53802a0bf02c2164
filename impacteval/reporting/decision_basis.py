"""Which interval a payment decision used: the sentence a report shows beside the estimate.

A contract decides on a metric's point estimate, or on an interval: the lower bound of a
one- or two-sided confidence interval (``statistic = "lower_bound"``) or a significance
gate. The payment engine forms that interval from the estimate's standard error (normal
reference, or t with the estimate's degrees of freedom), so when a report also shows other
intervals -- scpi prediction intervals for a synthetic control, say -- the reader must be
told which one the decision used. :func:`decision_basis` says it in one sentence per metric;
:func:`prediction_interval_table` is the readable table of the prediction intervals.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from impacteval.payments.contract import Contract
from impacteval.results import EffectEstimate

__all__ = ["decision_basis", "prediction_interval_table"]


def _intervals_words(intervals: Any) -> str:
    oos = intervals.details.get("out_of_sample", "")
    return (
        f"the {intervals.level:.0%} scpi prediction intervals shown with the fit "
        f"({oos} out-of-sample bounds; per post period, for the counterfactual Y(0))"
    )


def decision_basis(
    contract: Contract,
    metric: str,
    estimate: EffectEstimate,
    *,
    intervals: Any = None,
) -> str:
    """One sentence: on which statistic and which interval the contract decides ``metric``.

    Parameters
    ----------
    contract : Contract
        The contract.
    metric : str
        A direct contract metric fed by ``estimate``.
    estimate : EffectEstimate
        The estimate feeding it (its ``std_error``, ``df`` and ``method`` describe the
        interval the engine forms).
    intervals : PredictionIntervals, optional
        Prediction intervals the report shows beside the estimate; the sentence says they
        are not what the decision used.

    Returns
    -------
    str
    """
    m = contract.spec.metric(metric)
    other = ""
    if intervals is not None:
        words = _intervals_words(intervals)
        other = f" {words[0].upper()}{words[1:]} are shown for information; the contract does "
        other += "not use them."
    uses = []
    if m.statistic == "lower_bound":
        uses.append(f"the lower bound of a {m.level:.0%} {m.sided}-sided confidence interval")
    if m.gate == "significance":
        uses.append(f"a {m.level:.0%} {m.sided}-sided significance test against zero (its gate)")
    if not uses:
        return (
            f"The contract decides {metric} on the point estimate ({estimate.estimate:.4g}); "
            f"no interval enters the payment decision.{other}"
        )
    se = estimate.std_error
    if not math.isfinite(se):
        return (
            f"The contract's rule for {metric} uses {' and '.join(uses)}, but the estimate "
            f"({estimate.method}) has no standard error, so that interval cannot be formed."
        )
    reference = "normal"
    if estimate.df is not None and math.isfinite(estimate.df):
        reference = f"t with {estimate.df:.4g} degrees of freedom"
    used = (
        f"The contract's rule for {metric} uses an interval: {' and '.join(uses)}. The "
        f"decision used the estimate's own interval, formed from its standard error "
        f"({se:.4g}, {reference} reference) as given by {estimate.method}"
    )
    if intervals is not None:
        return used + f", not {_intervals_words(intervals)}."
    return used + "."


def prediction_interval_table(intervals: Any) -> pd.DataFrame:
    """The prediction intervals by post period, with readable column names.

    Columns: the treated outcome, the synthetic prediction of ``Y(0)`` with its combined
    prediction interval, the gap (effect) and the effect interval it implies
    (``treated - upper`` to ``treated - lower``), and the in-sample (weights) part alone.
    """
    t = intervals.table.set_index("time")
    lev = f"{intervals.level:.0%}"
    out = pd.DataFrame(
        {
            "treated": t["treated"],
            "synthetic Y(0)": t["synthetic"],
            f"Y(0) {lev} PI lower": t["lower"],
            f"Y(0) {lev} PI upper": t["upper"],
            "effect (gap)": t["estimate"],
            "effect lower": t["ci_lower"],
            "effect upper": t["ci_upper"],
            "in-sample lower": t["insample_lower"],
            "in-sample upper": t["insample_upper"],
        }
    )
    return out.round(4)
