"""What values a metric can take: its domain, checked on the contract and on every input.

Each metric has a *level domain* (what a verified count, or a treated / control rate, can
be) and from it a *reachable range* of its decision statistic. The domain is declared with
``domain = "share" | "rate" | "count" | "real"`` (``per = 100`` for a rate per 100) or, when
not declared, inferred from the metric's type:

* ``scale = "relative_reduction"``: rates are ``>= 0``, so ``1 - T/C <= 1``;
* ``input = "count"`` with ``scale = "achievement"`` and a target strictly between 0 and 1:
  a share in ``[0, 1]`` (a target of 0.79 is 79% of a population);
* any other ``input = "count"``: a count ``>= 0``;
* an estimated effect (``input = "estimate"``): unrestricted (``"real"``), unless declared.

At load, a trigger threshold, tier, hurdle or size threshold the decision statistic can
never reach is refused, and a target must be > 0 (``direction`` carries the sign). On
settlement, a count or rate outside the level domain is refused, with the diagnosis "looks
like a percentage" for a value in (1, 100] where a share is expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from impacteval.exceptions import DataValidationError
from impacteval.payments.errors import ContractError
from impacteval.payments.schema import Component, ContractSpec, Metric

__all__ = ["DOMAINS", "Domain", "check_input_value", "check_reachable", "metric_domain"]

DOMAINS = ("share", "rate", "count", "real")
ONE = Decimal(1)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Domain:
    """A metric's level domain and the range of its decision statistic.

    Attributes
    ----------
    kind : str
        "share", "rate", "count" or "real".
    low, high : Decimal or None
        Bounds of a level (a count, a share, a rate); None = unbounded.
    value_low, value_high : Decimal or None
        Bounds of the decision statistic (point estimate); None = unbounded.
    inferred : bool
        True when inferred from the metric type (not declared in the contract).
    """

    kind: str
    low: Decimal | None
    high: Decimal | None
    value_low: Decimal | None
    value_high: Decimal | None
    inferred: bool

    def describe(self) -> str:
        """The level domain in words."""
        if self.kind == "share":
            return "a share in [0, 1]"
        if self.kind == "rate":
            return (
                "a rate >= 0"
                if self.high is None
                else f"a rate per {self.high} in [0, {self.high}]"
            )
        if self.kind == "count":
            return "a count >= 0"
        return "any real number"


def _scale_range(
    metric: Metric, lo: Decimal | None, hi: Decimal | None, effect: bool
) -> tuple[Decimal | None, Decimal | None]:
    """Range of ``k * x`` for ``x`` in ``[lo, hi]`` (a level, or an effect when ``effect``)."""
    if effect:
        if lo is None or hi is None:
            return None, None  # a difference of unbounded levels is unbounded
        lo, hi = lo - hi, hi - lo
    sign = ONE if metric.direction == "increase" else -ONE
    if metric.scale == "absolute":
        k = sign
    elif metric.scale == "aggregate":
        if metric.units is None:  # units come with the inputs: range not known here
            return None, None
        k = sign * metric.units
    elif metric.scale == "achievement" and metric.target is not None:
        k = sign / metric.target
    else:
        return None, None
    a = None if lo is None else k * lo
    b = None if hi is None else k * hi
    if k < 0:
        a, b = b, a
    return a, b


def metric_domain(metric: Metric) -> Domain:
    """The declared or inferred :class:`Domain` of a (non-blend) metric."""
    kind = metric.domain
    inferred = kind is None
    if kind is None:
        if metric.scale == "relative_reduction":
            kind = "rate"
        elif (
            metric.input == "count"
            and metric.scale == "achievement"
            and metric.target is not None
            and ZERO < metric.target < ONE
        ):
            kind = "share"
        elif metric.input in ("count", "rate_card"):
            kind = "count"
        else:
            kind = "real"
    low: Decimal | None = None if kind == "real" else ZERO
    high: Decimal | None = ONE if kind == "share" else metric.per if kind == "rate" else None
    if metric.scale == "relative_reduction":
        return Domain(kind, low, high, None, ONE, inferred)
    effect = metric.input == "estimate"
    v_lo, v_hi = _scale_range(metric, low, high, effect) if kind != "real" else (None, None)
    return Domain(kind, low, high, v_lo, v_hi, inferred)


def _value_range(spec: ContractSpec, metric: Metric) -> tuple[Decimal | None, Decimal | None]:
    if not metric.is_blend:
        d = metric_domain(metric)
        lo = d.value_low if metric.statistic == "point" else None  # a bound lies below
        return lo, d.value_high
    parts = [_value_range(spec, spec.metric(ref)) for ref, _ in metric.blend]
    los = [p[0] for p in parts]
    his = [p[1] for p in parts]
    lo = None if any(x is None for x in los) else min(x for x in los if x is not None)
    hi = None if any(x is None for x in his) else max(x for x in his if x is not None)
    return lo, hi


def _unreachable(
    path: str, what: str, value: Decimal, metric: Metric, rng: tuple[Decimal | None, ...]
) -> ContractError:
    lo, hi = rng
    shown = f"[{'-inf' if lo is None else lo}, {'+inf' if hi is None else hi}]"
    why = ""
    if metric.scale == "relative_reduction":
        why = " (a relative reduction 1 - T/C is at most 1, reached only when T = 0)"
    elif not metric.is_blend:
        why = f" ({metric.id!r} is {metric_domain(metric).describe()})"
    return ContractError(
        f"`{path}` = {value}: {what} can never be reached; metric {metric.id!r} takes "
        f"values in {shown}{why}"
    )


def _check_component(spec: ContractSpec, c: Component) -> None:
    if c.metric is None or c.rule not in ("linear", "tiers"):
        return
    metric = spec.metric(c.metric)
    lo, hi = _value_range(spec, metric)
    path = f"payments.{c.id}"
    if c.rule == "linear" and hi is not None and c.threshold > hi:
        raise _unreachable(f"{path}.threshold", "the hurdle", c.threshold, metric, (lo, hi))
    for i, tier in enumerate(c.tiers):
        if hi is not None and tier.start > hi:
            raise _unreachable(f"{path}.tiers[{i}].from", "this tier", tier.start, metric, (lo, hi))
        if lo is not None and tier.end is not None and tier.end <= lo:
            raise _unreachable(f"{path}.tiers[{i}].to", "this tier", tier.end, metric, (lo, hi))


def check_reachable(spec: ContractSpec) -> None:
    """Refuse targets <= 0 and thresholds, tiers or hurdles no metric value can reach.

    Raises
    ------
    ContractError
        Naming the key path, the value and the metric's range.
    """
    for m in spec.metrics:
        if m.target is not None and m.target <= 0:
            raise ContractError(
                f"`metrics.{m.id}.target` must be > 0 (the size of the effect or level to "
                f"reach; `direction` says which way is good); received {m.target}"
            )
        if m.domain == "share" and m.target is not None and m.target > 1 and m.input == "count":
            raise ContractError(
                f"`metrics.{m.id}.target` = {m.target} is not a share in [0, 1]"
                + (" (it looks like a percentage)" if m.target <= 100 else "")
            )
        if m.per is not None and m.domain != "rate":
            raise ContractError(f'`metrics.{m.id}.per` only applies with `domain = "rate"`')
        lo, hi = _value_range(spec, m)
        for s in m.size_thresholds:
            if hi is not None and s.threshold > hi:
                raise _unreachable(
                    f"metrics.{m.id}.size_thresholds",
                    "the size threshold",
                    s.threshold,
                    m,
                    (lo, hi),
                )
    for t in spec.triggers:
        metric = spec.metric(t.metric)
        lo, hi = _value_range(spec, metric)
        path = f"triggers.{t.id}.threshold"
        thr = t.threshold
        never = (
            (t.comparison == ">=" and hi is not None and thr > hi)
            or (t.comparison == ">" and hi is not None and thr >= hi)
            or (t.comparison == "<=" and lo is not None and thr < lo)
            or (t.comparison == "<" and lo is not None and thr <= lo)
        )
        if never:
            raise _unreachable(path, f"the condition `{t.comparison} {thr}`", thr, metric, (lo, hi))
    for c in spec.payments:
        _check_component(spec, c)


def check_input_value(metric: Metric, value: Decimal, path: str) -> None:
    """Refuse a level (count, share, rate) outside the metric's domain.

    A value in (1, 100] where a share is expected is diagnosed as a percentage.
    """
    d = metric_domain(metric)
    if d.kind == "real":
        return
    if (d.low is not None and value < d.low) or (d.high is not None and value > d.high):
        hint = ""
        if d.kind == "share" and ONE < value <= 100:
            hint = f"; it looks like a percentage: give the share {value / 100} instead"
        source = "inferred from the metric type" if d.inferred else "declared `domain`"
        raise DataValidationError(
            f"`inputs.{path}` = {value}: metric {metric.id!r} expects {d.describe()} "
            f"({source}){hint}"
        )


def check_effect(metric: Metric, value: Decimal, path: str) -> None:
    """Refuse an estimated effect (a difference of two levels) outside its possible range."""
    d = metric_domain(metric)
    if d.kind == "real" or d.high is None or d.low is None:
        return
    span = d.high - d.low
    if abs(value) > span:
        hint = ""
        if d.kind == "share" and abs(value) <= 100:
            hint = f"; it looks like percentage points: give {value / 100} instead"
        raise DataValidationError(
            f"`inputs.{path}` = {value}: an effect on {d.describe()} lies in "
            f"[{-span}, {span}]{hint}"
        )
