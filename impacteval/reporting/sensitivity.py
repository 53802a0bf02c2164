"""The DiD report's breakdown value in contract terms: does the payment decision survive?

A contract decides on a metric's decision statistic (the point estimate, or the lower bound
of an interval at the metric's own level) against a threshold: a trigger, the hurdle of a
linear payment or the start of the lowest paying tier. :func:`decision_sensitivity` finds
that threshold in the estimator's own units (a linear metric ``v = k e`` reaches ``h`` at
``e = h / k``), reads the decision the contract takes on the report's estimate, and asks
Rambachan & Roth's question about *that* decision: the largest ``Mbar`` (relative
magnitudes) for which the robust confidence set of the event study's average
post-treatment effect still lies entirely on the decision's side of the threshold
(:func:`impacteval.did.honest` with ``threshold=``).

The interval matches the contract's rule: for ``statistic = "lower_bound"`` a one-sided
bound at the metric's level is the end of a two-sided interval at ``2 level - 1`` (or at
``level`` when the metric is two-sided); for ``statistic = "point"`` the robust interval
is at the report's level. Three cases have no breakdown value in the usual sense and get
their own sentence: the decision is already not established at ``Mbar = 0`` (the robust
interval includes the threshold, or the event study's average effect lies on the other
side of it); a contract that pays on a lower bound and does not pay, which no violation
of parallel trends can overturn (the robust intervals only widen with ``Mbar``); and a
decision that holds at every bound searched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from impacteval.did.honest import HonestSensitivity, honest
from impacteval.exceptions import DataValidationError
from impacteval.payments.contract import Contract
from impacteval.payments.inputs import normalise_inputs
from impacteval.payments.metrics import evaluate_metrics
from impacteval.payments.metrics import multiplier as metric_multiplier
from impacteval.payments.schema import Metric

__all__ = [
    "DecisionSensitivity",
    "DecisionThreshold",
    "decision_sensitivity",
    "decision_table",
    "decision_thresholds",
    "describe_decision",
]

_CMP = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}


@dataclass(frozen=True)
class DecisionThreshold:
    """One threshold a contract decides on: where the metric's statistic starts to pay.

    ``source`` names it (``trigger t1`` / ``payment p1``); ``comparison`` is how the
    statistic must compare with ``threshold`` to pay (metric units).
    """

    metric: str
    source: str
    threshold: Decimal
    comparison: str

    def pays(self, value: Decimal) -> bool:
        """Whether the statistic ``value`` is on the paying side."""
        h = self.threshold
        return {
            ">=": value >= h,
            ">": value > h,
            "<=": value <= h,
            "<": value < h,
        }[self.comparison]


@dataclass(frozen=True)
class DecisionSensitivity:
    """The sensitivity of one payment decision to violations of parallel trends.

    Attributes
    ----------
    threshold : DecisionThreshold
    statistic : str
        The statistic the contract decides on (``"point estimate"``, ``"lower bound
        (95%, one-sided)"``).
    value : Decimal
        Its value on the report's estimate (metric units).
    pays : bool
        The decision: the statistic is on the paying side of the threshold.
    threshold_estimate : float
        The threshold in the estimator's own units.
    level : float
        Two-sided level of the robust intervals compared with the threshold.
    case : str
        ``"survives"`` (a breakdown value), ``"beyond_grid"`` (holds at every bound
        searched), ``"fails_at_zero"`` (not established under exact parallel trends),
        ``"other_side"`` (the event study's average effect is on the other side) or
        ``"cannot_flip"`` (a lower-bound rule that does not pay).
    breakdown : float
        The breakdown ``Mbar`` (NaN unless ``case`` is ``"survives"`` or
        ``"beyond_grid"``, where it is the largest bound searched).
    sentence : str
        The plain-language statement.
    sensitivity : HonestSensitivity or None
        The robust intervals against the threshold (None for ``"cannot_flip"`` and
        ``"other_side"``).
    """

    threshold: DecisionThreshold
    statistic: str
    value: Decimal
    pays: bool
    threshold_estimate: float
    level: float
    case: str
    breakdown: float
    sentence: str
    sensitivity: HonestSensitivity | None = None


def decision_thresholds(contract: Contract, metric: str) -> list[DecisionThreshold]:
    """The thresholds the contract decides on for ``metric``.

    Pay triggers on the metric; the threshold of each linear payment on it (a linear
    payment pays once the statistic reaches its threshold and is positive); the start of
    the lowest tier with a positive amount. Other rules (piecewise, achievement, rate
    cards) pay continuously and set no threshold. Duplicates are dropped.
    """
    out: list[DecisionThreshold] = []
    for t in contract.spec.triggers:
        if t.metric == metric and t.action == "pay":
            out.append(DecisionThreshold(metric, f"trigger {t.id}", t.threshold, t.comparison))
    for c in contract.spec.payments:
        if c.metric != metric:
            continue
        if c.rule == "linear":
            # pays once the statistic reaches the threshold and is positive
            if c.threshold <= 0:
                out.append(DecisionThreshold(metric, f"payment {c.id}", Decimal(0), ">"))
            else:
                out.append(DecisionThreshold(metric, f"payment {c.id}", c.threshold, ">="))
        elif c.rule == "tiers":
            paying = [tier for tier in c.tiers if tier.amount > 0]
            if paying:
                out.append(DecisionThreshold(metric, f"payment {c.id}", paying[0].start, ">="))
    seen: set[tuple[Decimal, str]] = set()
    unique = []
    for d in out:
        if (d.threshold, d.comparison) not in seen:
            seen.add((d.threshold, d.comparison))
            unique.append(d)
    return unique


def _robust_level(metric: Metric, level: float) -> tuple[float, str]:
    """Two-sided level of the robust interval matching the metric's rule, and its words."""
    if metric.statistic == "lower_bound":
        if metric.sided == "one":
            return 2 * metric.level - 1, f"lower bound ({metric.level:.0%}, one-sided)"
        return metric.level, f"lower bound ({metric.level:.0%}, two-sided)"
    return level, "point estimate"


def decision_sensitivity(
    event_study: Any,
    contract: Contract,
    inputs: Mapping[str, Any],
    *,
    metric: str,
    multiplier: float = 1.0,
    level: float = 0.95,
    m: Sequence[float] | None = None,
    e: Any = "average",
) -> list[DecisionSensitivity]:
    """Rambachan-Roth breakdown values of the contract's decisions on ``metric``.

    Parameters
    ----------
    event_study : EffectTable
        The event study the sensitivity analysis reads (as for :func:`impacteval.did.honest`).
    contract : Contract
        The contract.
    inputs : mapping
        At least ``{metric: input}``, as for :meth:`Contract.settle` (other metrics may be
        missing).
    metric : str
        The contract metric fed by the report's estimate.
    multiplier : float, default 1.0
        The report's scaling of the estimate into the contract's units (the spec's
        ``multiplier``): the contract input is ``multiplier`` times the event study's units.
    level : float, default 0.95
        The report's confidence level (used for point-estimate rules).
    m : sequence of float, optional
        Grid of ``Mbar`` (default: that of :func:`impacteval.did.honest`).
    e : int, "average", mapping or sequence, default "average"
        The event-study target (as for :func:`impacteval.did.honest`).

    Returns
    -------
    list of DecisionSensitivity
        One per threshold of :func:`decision_thresholds` (empty when the contract sets
        none on ``metric``).

    Raises
    ------
    DataValidationError
        ``metric`` is not a direct (non-blend) contract metric fed by ``inputs``.
    """
    known = [x.id for x in contract.spec.metrics if not x.is_blend]
    if metric not in known:
        raise DataValidationError(
            f"`metric` must be a direct metric of the contract {known}; received {metric!r}"
        )
    norm = normalise_inputs(contract.spec, {metric: inputs[metric]}, partial=True)
    spec_metric = contract.spec.metric(metric)
    value = evaluate_metrics(contract.spec, norm)[metric].value
    if value is None:
        raise DataValidationError(f"`inputs.{metric}` is pending; the decision is not taken")
    k = float(metric_multiplier(spec_metric, norm[metric])) * float(multiplier)
    robust_level, statistic = _robust_level(spec_metric, level)
    out = []
    for th in decision_thresholds(contract, metric):
        pays = th.pays(value)
        e_star = float(th.threshold) / k
        # the paying side in estimator units: above e* when the metric rises with it
        pay_above = (k > 0) == (th.comparison in (">=", ">"))
        decision_above = pay_above if pays else not pay_above
        sens = None
        if spec_metric.statistic == "lower_bound" and not pays:
            case, breakdown = "cannot_flip", math.nan
        else:
            sens = honest(event_study, e=e, m=m, level=robust_level, threshold=e_star)
            theta = sens.original.estimate
            if (theta > e_star) != decision_above:
                case, breakdown = "other_side", math.nan
            elif math.isnan(sens.breakdown):
                case, breakdown = "fails_at_zero", math.nan
            else:
                case = "beyond_grid" if sens.breakdown_note else "survives"
                breakdown = sens.breakdown
        item = DecisionSensitivity(
            threshold=th,
            statistic=statistic,
            value=value,
            pays=pays,
            threshold_estimate=e_star,
            level=robust_level,
            case=case,
            breakdown=breakdown,
            sentence="",
            sensitivity=sens,
        )
        out.append(_with_sentence(item))
    return out


def _with_sentence(d: DecisionSensitivity) -> DecisionSensitivity:
    from dataclasses import replace

    return replace(d, sentence=describe_decision(d))


def describe_decision(d: DecisionSensitivity) -> str:
    """The plain-language sentence for one decision (see :class:`DecisionSensitivity`)."""
    th = d.threshold
    verb = "pays" if d.pays else "does not pay"
    what = (
        f"The payment decision ({th.source}: the {d.statistic} of {th.metric}, "
        f"{_num(d.value)}, is {'' if d.pays else 'not '}{_CMP[th.comparison]} "
        f"{_num(th.threshold)}, so the contract {verb}"
    )
    where = f"the threshold, {d.threshold_estimate:.4g} in the estimate's units"
    interval = f"the robust {d.level:.0%} interval of the event study's average effect"
    if d.case == "survives":
        return (
            f"{what}) survives violations of parallel trends up to M̄\u00a0=\u00a0{d.breakdown:.2g} "
            f"(relative magnitudes): post-treatment deviations from parallel trends up to "
            f"{d.breakdown:.2g} times the largest pre-treatment one leave {interval} on "
            f"the same side of {where}; larger ones could flip the decision."
        )
    if d.case == "beyond_grid":
        return (
            f"{what}) survives every violation of parallel trends searched, up to M̄\u00a0=\u00a0"
            f"{d.breakdown:.2g} (relative magnitudes): {interval} stays on the same side of "
            f"{where}."
        )
    if d.case == "cannot_flip":
        return (
            f"{what}) cannot be overturned by violations of parallel trends: the contract "
            "pays on a lower confidence bound, and allowing violations only widens the "
            "interval and lowers that bound, for any M̄."
        )
    if d.case == "other_side":
        return (
            f"{what}) is not supported by the event study even under exact parallel trends "
            f"(M̄ = 0): its average post-treatment effect lies on the other side of "
            f"{where}, so no breakdown value applies."
        )
    return (
        f"{what}) is not established even under exact parallel trends (M̄ = 0): "
        f"{interval} already includes {where}, so the decision rests on the point "
        "estimate, not on the interval, and no breakdown value applies."
    )


def _num(x: Decimal | float) -> str:
    return f"{float(x):.4g}"


def decision_table(items: Sequence[DecisionSensitivity]) -> pd.DataFrame:
    """One row per decision: threshold, statistic, decision, breakdown and case."""
    return pd.DataFrame(
        [
            {
                "decision on": f"{d.threshold.source} ({d.threshold.metric} "
                f"{_CMP[d.threshold.comparison]} {_num(d.threshold.threshold)})",
                "statistic": f"{d.statistic} = {_num(d.value)}",
                "decision": "pays" if d.pays else "does not pay",
                "threshold (estimate units)": f"{d.threshold_estimate:.4g}",
                "robust interval": f"{d.level:.0%}",
                "breakdown M̄": "-" if math.isnan(d.breakdown) else f"{d.breakdown:.3g}",
                "case": d.case.replace("_", " "),
            }
            for d in items
        ]
    )
