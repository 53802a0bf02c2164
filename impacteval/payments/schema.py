"""Typed, frozen description of a parsed outcome contract.

The loader (:mod:`impacteval.payments.loader`) builds these objects from TOML and checks
them; nothing here is evaluated as code. Every number is a :class:`decimal.Decimal` taken
from the TOML text, except confidence levels (floats, used only for quantiles).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

__all__ = [
    "BREACH_ACTIONS",
    "COMPARISONS",
    "EXCESS_TO",
    "GATES",
    "INPUT_KINDS",
    "ROUNDING_MODES",
    "ROUND_POINTS",
    "RULES",
    "SCALES",
    "STATISTICS",
    "BasketRule",
    "Component",
    "ContractInfo",
    "ContractSpec",
    "Draw",
    "Investment",
    "Limits",
    "Metric",
    "Point",
    "Safeguards",
    "SizeThreshold",
    "Tier",
    "Trigger",
]

INPUT_KINDS = ("estimate", "count", "rate_card")
SCALES = ("absolute", "relative_reduction", "aggregate", "achievement")
STATISTICS = ("point", "lower_bound")
GATES = ("none", "significance", "size")
RULES = ("linear", "rate_card", "tiers", "piecewise", "achievement", "savings_share", "fixed")
COMPARISONS = (">=", ">", "<=", "<")
ROUNDING_MODES = (
    "ROUND_HALF_UP",
    "ROUND_HALF_EVEN",
    "ROUND_HALF_DOWN",
    "ROUND_DOWN",
    "ROUND_UP",
    "ROUND_FLOOR",
    "ROUND_CEILING",
)
ROUND_POINTS = ("unit", "line", "total")
BREACH_ACTIONS = ("flag", "withhold")
EXCESS_TO = ("payer", "charity")


@dataclass(frozen=True)
class ContractInfo:
    """The ``[contract]`` table: identity, currency and the declared rounding."""

    name: str
    currency: str
    rounding: Decimal = Decimal("0.01")
    rounding_mode: str = "ROUND_HALF_UP"
    round_at: tuple[str, ...] = ("line", "total")
    periods: tuple[str, ...] = ()
    cohorts: tuple[str, ...] = ()
    description: str = ""
    source: str = ""


@dataclass(frozen=True)
class SizeThreshold:
    """Size-dependent threshold: applies when the sample size is at least ``min_n``."""

    min_n: int
    threshold: Decimal


@dataclass(frozen=True)
class Metric:
    """A ``[metrics.<id>]`` table: how an input becomes a decision statistic."""

    id: str
    input: str = "estimate"
    scale: str = "absolute"
    direction: str = "increase"
    baseline: Decimal | None = None
    units: Decimal | None = None
    target: Decimal | None = None
    statistic: str = "point"
    level: float = 0.95
    sided: str = "one"
    gate: str = "none"
    size_thresholds: tuple[SizeThreshold, ...] = ()
    value_rounding: Decimal | None = None
    blend: tuple[tuple[str, Decimal], ...] = ()
    weight_by: str | None = None
    domain: str | None = None
    per: Decimal | None = None
    unit: str | None = None
    estimand: tuple[str, ...] = ()
    description: str = ""
    source: str = ""

    @property
    def is_blend(self) -> bool:
        """Whether the metric is a fixed-weight blend of other metrics."""
        return bool(self.blend) or self.weight_by is not None


@dataclass(frozen=True)
class Tier:
    """A step tier: pays ``amount`` when ``start <= value < end`` (``end`` None = open)."""

    start: Decimal
    end: Decimal | None
    amount: Decimal


@dataclass(frozen=True)
class Point:
    """A knot of a piecewise-linear payment function."""

    x: Decimal
    y: Decimal


@dataclass(frozen=True)
class Component:
    """A ``[payments.<id>]`` table: one payment line of the contract."""

    id: str
    rule: str
    metric: str | None = None
    price: Decimal | None = None
    threshold: Decimal = Decimal(0)
    threshold_mode: str = "hurdle"
    tiers: tuple[Tier, ...] = ()
    points: tuple[Point, ...] = ()
    weights: tuple[tuple[str, Decimal], ...] = ()
    amount_at_target: Decimal | None = None
    ratio_cap: Decimal | None = None
    prices: tuple[tuple[str, Decimal], ...] = ()
    unit_cap: Decimal | None = None
    share: Decimal | None = None
    share_after: Decimal = Decimal(0)
    switch_at: Decimal | None = None
    amount: Decimal | None = None
    cap: Decimal | None = None
    floor: Decimal | None = None
    cohort: str | None = None
    period: str | None = None
    when: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    outcome: bool = True
    true_up_of: str | None = None
    clawback: bool = False
    description: str = ""
    source: str = ""

    def metrics_used(self) -> tuple[str, ...]:
        """Metric ids this component reads."""
        if self.rule == "achievement":
            return tuple(m for m, _ in self.weights)
        return (self.metric,) if self.metric is not None else ()


@dataclass(frozen=True)
class Trigger:
    """A ``[triggers.<id>]`` table: a named condition on a metric's decision statistic.

    ``action = "pay"`` triggers gate payment components (``when`` / ``unless``);
    ``action = "stop"`` triggers end the contract: components of later periods pay nothing.
    """

    id: str
    metric: str
    threshold: Decimal
    comparison: str = ">="
    action: str = "pay"
    period: str | None = None
    description: str = ""
    source: str = ""


@dataclass(frozen=True)
class Limits:
    """Caps (or floors) above the component level."""

    total: Decimal | None = None
    outcomes: Decimal | None = None
    cohort: tuple[tuple[str, Decimal], ...] = ()
    period: tuple[tuple[str, Decimal], ...] = ()


@dataclass(frozen=True)
class Draw:
    """One drawdown of investor capital."""

    date: dt.date
    amount: Decimal


@dataclass(frozen=True)
class Investment:
    """The ``[investment]`` table: the investor waterfall.

    ``draws`` holds the dated drawdowns (a single ``drawn_on`` becomes one draw of the
    whole principal); ``payments_on`` dates individual payment components, the others are
    paid on ``paid_on``. With no dates the waterfall is nominal (no IRR).
    """

    principal: Decimal
    guarantee: Decimal = Decimal(0)
    first_loss: Decimal = Decimal(0)
    irr_cap: Decimal | None = None
    drawn_on: dt.date | None = None
    paid_on: dt.date | None = None
    draws: tuple[Draw, ...] = ()
    payments_on: tuple[tuple[str, dt.date], ...] = ()
    excess_to: str = "payer"
    source: str = ""

    @property
    def dated(self) -> bool:
        """Whether cash flows carry dates (so an IRR can be computed)."""
        return bool(self.draws)


@dataclass(frozen=True)
class BasketRule:
    """One indicator of a safeguard basket: met when ``minimum <= value <= maximum``."""

    indicator: str
    minimum: Decimal | None = None
    maximum: Decimal | None = None


@dataclass(frozen=True)
class Safeguards:
    """The ``[safeguards]`` table: equity, exclusion and basket checks.

    Safeguards are reported with every settlement; they change amounts only when
    ``on_breach = "withhold"`` (outcome payments are then withheld on a breach).
    """

    subgroups: tuple[str, ...] = ()
    min_cell: int = 10
    max_exclusion_share: Decimal | None = None
    max_refusal_share: Decimal | None = None
    exempt_reasons: tuple[str, ...] = ()
    basket: tuple[BasketRule, ...] = ()
    basket_min_met: int | None = None
    on_breach: str = "flag"
    description: str = ""
    source: str = ""

    @property
    def can_breach(self) -> bool:
        """Whether any check here can be breached (subgroups are reported only)."""
        return (
            self.max_exclusion_share is not None
            or self.max_refusal_share is not None
            or bool(self.basket)
        )


@dataclass(frozen=True)
class ContractSpec:
    """A whole validated contract plus the parsed document (kept for the audit hash)."""

    info: ContractInfo
    metrics: tuple[Metric, ...]
    payments: tuple[Component, ...]
    triggers: tuple[Trigger, ...] = ()
    caps: Limits = Limits()
    floors: Limits = Limits()
    investment: Investment | None = None
    safeguards: Safeguards | None = None
    document: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def metric(self, metric_id: str) -> Metric:
        """The metric with this id (``KeyError`` if absent)."""
        for m in self.metrics:
            if m.id == metric_id:
                return m
        raise KeyError(metric_id)
