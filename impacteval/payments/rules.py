"""Payment functions: Decimal value(s) in, Decimal amount and the binding reason out.

Each function returns ``(amount, bound)`` where ``bound`` names the tier, hurdle or cap
that determined the amount ("" when nothing bound). Amounts are never negative here;
clawbacks arise only from true-ups (see :mod:`impacteval.payments.engine`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from decimal import Decimal

from impacteval.payments.inputs import MetricInput
from impacteval.payments.money import Rounder
from impacteval.payments.schema import Component

__all__ = ["RULE_FUNCTIONS", "apply_rule"]

ZERO = Decimal(0)
Result = tuple[Decimal, str]


def _fmt(x: Decimal) -> str:
    return f"{x.normalize():f}" if x == x.to_integral_value() or abs(x) < 1e6 else str(x)


def linear(c: Component, value: Decimal) -> Result:
    """``price * value`` once ``value`` reaches ``threshold`` (hurdle: on all of it;
    deductible: only on the part above)."""
    assert c.price is not None
    if value < c.threshold or value <= 0:
        return ZERO, f"below {c.threshold_mode} {_fmt(c.threshold)}"
    base = value - c.threshold if c.threshold_mode == "deductible" else value
    bound = f"{c.threshold_mode} {_fmt(c.threshold)} passed" if c.threshold else ""
    return c.price * max(base, ZERO), bound


def tiers(c: Component, value: Decimal) -> Result:
    """The amount of the tier containing ``value`` (step function)."""
    reached = None
    for i, tier in enumerate(c.tiers):
        if value >= tier.start and (tier.end is None or value < tier.end):
            reached = (i, tier)
    if reached is None:
        if value < c.tiers[0].start:
            return ZERO, f"below lowest tier ({_fmt(c.tiers[0].start)})"
        return ZERO, "between tiers (gap)"
    i, tier = reached
    return tier.amount, f"tier {i + 1} (from {_fmt(tier.start)})"


def piecewise(c: Component, value: Decimal) -> Result:
    """Linear interpolation between knots; flat beyond the first and last knot."""
    pts = c.points
    if value <= pts[0].x:
        return pts[0].y, f"flat below first knot ({_fmt(pts[0].x)})"
    if value >= pts[-1].x:
        return pts[-1].y, f"flat above last knot ({_fmt(pts[-1].x)})"
    for a, b in itertools.pairwise(pts):
        if a.x <= value < b.x:
            y = a.y + (b.y - a.y) * (value - a.x) / (b.x - a.x)
            return y, f"segment [{_fmt(a.x)}, {_fmt(b.x)})"
    raise AssertionError("unreachable")  # pragma: no cover


def achievement(c: Component, values: Mapping[str, Decimal]) -> Result:
    """``amount_at_target * sum_i w_i * min(ratio_i, ratio_cap)`` (ratios below 0 -> 0)."""
    assert c.amount_at_target is not None
    total = ZERO
    capped = []
    for mid, w in c.weights:
        ratio = max(values[mid], ZERO)
        if c.ratio_cap is not None and ratio > c.ratio_cap:
            ratio = c.ratio_cap
            capped.append(mid)
        total += w * ratio
    bound = f"ratio cap {c.ratio_cap} on {', '.join(capped)}" if capped else ""
    return c.amount_at_target * total, bound


def rate_card(c: Component, inp: MetricInput, round_unit: Rounder) -> Result:
    """Sum over persons of ``min(sum_outcome price * count, unit_cap)``.

    With rounding at ``unit``, each person's amount is rounded and the per-person cap is
    moved onto the rounding grid toward zero, so no person is paid above the cap.
    """
    prices = dict(c.prices)
    total, n_capped = ZERO, 0
    for person, outcomes in inp.persons or ():
        amount = ZERO
        for outcome, count in outcomes:
            if outcome not in prices:
                from impacteval.exceptions import DataValidationError

                raise DataValidationError(
                    f"`inputs.{c.metric}.{person}.{outcome}`: outcome not on the rate card of "
                    f"payments.{c.id} (priced: {sorted(prices)})"
                )
            amount += prices[outcome] * count
        amount = round_unit(amount)
        if c.unit_cap is not None and amount > round_unit.down(c.unit_cap):
            amount = round_unit.down(c.unit_cap)
            n_capped += 1
        total += amount
    n = len(inp.persons or ())
    bound = f"per-person cap {c.unit_cap} ({n_capped} of {n})" if n_capped else ""
    return total, bound


def savings_share(c: Component, value: Decimal) -> Result:
    """``share`` of savings until ``switch_at`` has been paid, ``share_after`` beyond."""
    assert c.share is not None
    savings = max(value, ZERO)
    if c.switch_at is None or c.share == 0:
        return c.share * savings, ""
    switch_savings = c.switch_at / c.share
    if savings <= switch_savings:
        return c.share * savings, ""
    amount = c.switch_at + c.share_after * (savings - switch_savings)
    return amount, f"repayment switch at {_fmt(c.switch_at)} passed"


def apply_rule(
    c: Component,
    values: Mapping[str, Decimal],
    inputs: Mapping[str, MetricInput],
    round_unit: Rounder,
) -> Result:
    """Dispatch on ``c.rule``."""
    if c.rule == "fixed":
        assert c.amount is not None
        return c.amount, "fixed amount"
    if c.rule == "achievement":
        return achievement(c, values)
    assert c.metric is not None
    if c.rule == "rate_card":
        return rate_card(c, inputs[c.metric], round_unit)
    return RULE_FUNCTIONS[c.rule](c, values[c.metric])


RULE_FUNCTIONS: dict[str, Callable[[Component, Decimal], Result]] = {
    "linear": linear,
    "tiers": tiers,
    "piecewise": piecewise,
    "savings_share": savings_share,
}
