"""TOML -> :class:`~impacteval.payments.schema.ContractSpec`, with an explicit validator.

Only data is read: no expression in a contract is ever evaluated. Numbers are parsed by
``tomllib.loads(text, parse_float=decimal.Decimal)`` so money keeps the digits written in
the contract. Every refusal is a :class:`ContractError` naming the key path. The value
readers live in :mod:`impacteval.payments.convert`.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from impacteval.payments.convert import (
    Table,
    as_bool,
    as_dec,
    as_ident,
    as_int,
    as_level,
    as_money_map,
    as_nonneg,
    as_positive,
    as_quantum,
    as_share,
    as_str,
    as_weights,
    choice,
    list_of,
)
from impacteval.payments.domain import DOMAINS
from impacteval.payments.errors import ContractError
from impacteval.payments.investment import read_investment
from impacteval.payments.safeguards import read_safeguards
from impacteval.payments.schema import (
    COMPARISONS,
    GATES,
    INPUT_KINDS,
    ROUND_POINTS,
    ROUNDING_MODES,
    RULES,
    SCALES,
    STATISTICS,
    Component,
    ContractInfo,
    Limits,
    Metric,
    Point,
    SizeThreshold,
    Tier,
    Trigger,
)

__all__ = ["read_components"]

_CURRENCY = re.compile(r"^[A-Z]{3}$")


# -- tables -------------------------------------------------------------------------------
def _info(raw: object) -> ContractInfo:
    t = Table(raw, "contract")
    currency = t.need("currency", as_str)
    if not _CURRENCY.match(currency):
        raise ContractError(
            f'`contract.currency` must be an ISO 4217 code such as "USD"; got {currency!r}'
        )
    info = ContractInfo(
        name=t.need("name", as_str),
        currency=currency,
        rounding=t.get("rounding", as_quantum, Decimal("0.01")),
        rounding_mode=t.get("rounding_mode", choice(ROUNDING_MODES), "ROUND_HALF_UP"),
        round_at=t.get("round_at", list_of(choice(ROUND_POINTS)), ("line", "total")),
        periods=t.get("periods", list_of(as_str), ()),
        cohorts=t.get("cohorts", list_of(as_str), ()),
        description=t.get("description", as_str, ""),
        source=t.get("source", as_str, ""),
    )
    for key, labels in (("periods", info.periods), ("cohorts", info.cohorts)):
        if len(set(labels)) != len(labels):
            raise ContractError(f"`contract.{key}` lists a label twice: {list(labels)}")
    t.finish()
    return info


def _size_threshold(value: object, path: str) -> SizeThreshold:
    t = Table(value, path)
    out = SizeThreshold(min_n=t.need("min_n", as_int), threshold=t.need("threshold", as_dec))
    t.finish()
    return out


_METRIC_KEYS_BY_INPUT = {
    "estimate": set(),
    "count": {"statistic", "level", "sided", "gate", "size_thresholds", "unit", "estimand"},
    "rate_card": {
        "scale",
        "direction",
        "baseline",
        "units",
        "target",
        "statistic",
        "level",
        "sided",
        "gate",
        "size_thresholds",
        "value_rounding",
        "unit",
        "estimand",
    },
}


_METRIC_ALL = (
    "input",
    "scale",
    "direction",
    "baseline",
    "units",
    "target",
    "statistic",
    "level",
    "sided",
    "gate",
    "size_thresholds",
    "value_rounding",
    "blend",
    "weight_by",
    "domain",
    "per",
    "unit",
    "estimand",
    "description",
    "source",
)


def _metric(mid: str, raw: object) -> Metric:
    path = f"metrics.{mid}"
    as_ident(mid, path)
    t = Table(raw, path)
    t.finish(_METRIC_ALL)  # unknown keys (typos) first, before any semantic check
    blend: tuple[tuple[str, Decimal | None], ...] = t.get("blend", _weights_or_list, ())
    weight_by = t.get("weight_by", choice(("units",)), None)
    value_rounding = t.get("value_rounding", as_quantum, None)
    description = t.get("description", as_str, "")
    source = t.get("source", as_str, "")
    if blend or weight_by is not None:
        if not blend:
            raise ContractError(f"`{path}.blend` must list the metrics to blend")
        if weight_by is None and any(w is None for _, w in blend):
            raise ContractError(
                f"`{path}.blend` needs fixed weights (a table metric = weight) "
                'or `weight_by = "units"`'
            )
        t.finish()
        return Metric(
            id=mid,
            input="blend",
            blend=tuple((m, w if w is not None else Decimal(0)) for m, w in blend),
            weight_by=weight_by,
            value_rounding=value_rounding,
            description=description,
            source=source,
        )
    kind = t.get("input", choice(INPUT_KINDS), "estimate")
    scale = t.get("scale", choice(SCALES), "absolute")
    metric = Metric(
        id=mid,
        input=kind,
        scale=scale,
        direction=t.get("direction", choice(("increase", "decrease")), "increase"),
        baseline=t.get("baseline", as_positive, None),
        units=t.get("units", as_positive, None),
        target=t.get("target", as_dec, None),
        statistic=t.get("statistic", choice(STATISTICS), "point"),
        level=t.get("level", as_level, 0.95),
        sided=t.get("sided", choice(("one", "two")), "one"),
        gate=t.get("gate", choice(GATES), "none"),
        size_thresholds=t.get("size_thresholds", list_of(_size_threshold), ()),
        value_rounding=value_rounding,
        domain=t.get("domain", choice(DOMAINS), None),
        per=t.get("per", as_positive, None),
        unit=t.get("unit", as_str, None),
        estimand=t.get("estimand", list_of(as_str), ()),
        description=description,
        source=source,
    )
    for key in _METRIC_KEYS_BY_INPUT[kind]:
        if key in t.raw:
            raise ContractError(
                f'`{path}.{key}` does not apply to `input = "{kind}"` '
                "(verified counts carry no sampling error)"
            )
    if scale == "relative_reduction" and "direction" in t.raw:
        raise ContractError(
            f"`{path}.direction`: a relative reduction 1 - T/C is already "
            "signed (positive = reduction); remove `direction`"
        )
    if scale == "achievement" and (metric.target is None or metric.target == 0):
        raise ContractError(
            f"`{path}.target` is required (and non-zero) for "
            '`scale = "achievement"` (achievement = actual / target)'
        )
    if metric.gate == "size":
        if not metric.size_thresholds:
            raise ContractError(f'`{path}.size_thresholds` is required for `gate = "size"`')
        ns = [s.min_n for s in metric.size_thresholds]
        if ns != sorted(set(ns)):
            raise ContractError(
                f"`{path}.size_thresholds` must have strictly increasing `min_n`; got {ns}"
            )
    elif metric.size_thresholds:
        raise ContractError(f'`{path}.size_thresholds` only applies with `gate = "size"`')
    t.finish()
    return metric


def _weights_or_list(value: object, path: str) -> tuple[tuple[str, Decimal | None], ...]:
    if isinstance(value, list):
        return tuple((as_ident(v, f"{path}[{i}]"), None) for i, v in enumerate(value))
    return tuple(as_weights(value, path))


def _tier(value: object, path: str) -> Tier:
    t = Table(value, path)
    out = Tier(
        start=t.need("from", as_dec),
        end=t.get("to", as_dec, None),
        amount=t.need("amount", as_nonneg),
    )
    t.finish()
    return out


def _point(value: object, path: str) -> Point:
    t = Table(value, path)
    out = Point(x=t.need("x", as_dec), y=t.need("y", as_nonneg))
    t.finish()
    return out


_RULE_KEYS: dict[str, tuple[set[str], set[str]]] = {  # rule -> (required, optional)
    "linear": ({"metric", "price"}, {"threshold", "threshold_mode"}),
    "rate_card": ({"metric", "prices"}, {"unit_cap"}),
    "tiers": ({"metric", "tiers"}, set()),
    "piecewise": ({"metric", "points"}, set()),
    "achievement": ({"weights", "amount_at_target"}, {"ratio_cap"}),
    "savings_share": ({"metric", "share"}, {"share_after", "switch_at"}),
    "fixed": ({"amount"}, set()),
}
_COMMON_KEYS = {
    "rule",
    "cap",
    "floor",
    "cohort",
    "period",
    "when",
    "unless",
    "outcome",
    "true_up_of",
    "clawback",
    "description",
    "source",
}


_COMPONENT_ALL = tuple(sorted(_COMMON_KEYS.union(*(r | o for r, o in _RULE_KEYS.values()))))


def _component(cid: str, raw: object) -> Component:
    path = f"payments.{cid}"
    as_ident(cid, path)
    t = Table(raw, path)
    t.finish(_COMPONENT_ALL)  # unknown keys (typos) first, before any semantic check
    rule = t.need("rule", choice(RULES))
    required, optional = _RULE_KEYS[rule]
    for key in sorted(required):
        if key not in t.raw:
            raise ContractError(f'`{path}.{key}` is required for `rule = "{rule}"`')
    for key in t.raw:
        if key not in required | optional | _COMMON_KEYS and any(
            key in r | o for r, o in _RULE_KEYS.values()
        ):
            raise ContractError(f'`{path}.{key}` does not apply to `rule = "{rule}"`')
    comp = Component(
        id=cid,
        rule=rule,
        metric=t.get("metric", as_ident, None),
        price=t.get("price", as_nonneg, None),
        threshold=t.get("threshold", as_dec, Decimal(0)),
        threshold_mode=t.get("threshold_mode", choice(("hurdle", "deductible")), "hurdle"),
        tiers=t.get("tiers", list_of(_tier), ()),
        points=t.get("points", list_of(_point), ()),
        weights=t.get("weights", as_weights, ()),
        amount_at_target=t.get("amount_at_target", as_nonneg, None),
        ratio_cap=t.get("ratio_cap", as_positive, None),
        prices=t.get("prices", as_money_map, ()),
        unit_cap=t.get("unit_cap", as_nonneg, None),
        share=t.get("share", as_share, None),
        share_after=t.get("share_after", as_share, Decimal(0)),
        switch_at=t.get("switch_at", as_nonneg, None),
        amount=t.get("amount", as_nonneg, None),
        cap=t.get("cap", as_nonneg, None),
        floor=t.get("floor", as_nonneg, None),
        cohort=t.get("cohort", as_str, None),
        period=t.get("period", as_str, None),
        when=t.get("when", list_of(as_ident), ()),
        unless=t.get("unless", list_of(as_ident), ()),
        outcome=t.get("outcome", as_bool, True),
        true_up_of=t.get("true_up_of", as_ident, None),
        clawback=t.get("clawback", as_bool, False),
        description=t.get("description", as_str, ""),
        source=t.get("source", as_str, ""),
    )
    t.finish()
    if comp.cap is not None and comp.floor is not None and comp.cap < comp.floor:
        raise ContractError(f"`{path}.cap` ({comp.cap}) is below `{path}.floor` ({comp.floor})")
    _check_tiers(comp.tiers, f"{path}.tiers")
    if rule == "piecewise":
        xs = [p.x for p in comp.points]
        if len(xs) < 2 or any(b <= a for a, b in itertools.pairwise(xs)):
            raise ContractError(
                f"`{path}.points` needs at least two knots with strictly "
                f"increasing x; got x = {[str(x) for x in xs]}"
            )
    if rule == "rate_card" and not comp.prices:
        raise ContractError(f"`{path}.prices` must list at least one outcome and its price")
    return comp


def _check_tiers(tiers: tuple[Tier, ...], path: str) -> None:
    if not tiers and path.endswith(".tiers"):
        return
    for i, tier in enumerate(tiers):
        if tier.end is not None and tier.end <= tier.start:
            raise ContractError(
                f"`{path}[{i}]`: `to` ({tier.end}) must exceed `from` ({tier.start})"
            )
        if i:
            prev = tiers[i - 1]
            if tier.start <= prev.start:
                raise ContractError(
                    f"`{path}[{i}].from` ({tier.start}): tiers must be listed "
                    f"in strictly increasing `from` order (previous "
                    f"{prev.start})"
                )
            if prev.end is not None and prev.end > tier.start:
                raise ContractError(
                    f"`{path}[{i}]` overlaps `{path}[{i - 1}]` (that tier runs "
                    f"to {prev.end}, this one starts at {tier.start})"
                )


def _trigger(tid: str, raw: object) -> Trigger:
    path = f"triggers.{tid}"
    as_ident(tid, path)
    t = Table(raw, path)
    out = Trigger(
        id=tid,
        metric=t.need("metric", as_ident),
        threshold=t.need("threshold", as_dec),
        comparison=t.get("comparison", choice(COMPARISONS), ">="),
        action=t.get("action", choice(("pay", "stop")), "pay"),
        period=t.get("period", as_str, None),
        description=t.get("description", as_str, ""),
        source=t.get("source", as_str, ""),
    )
    t.finish()
    if out.action == "stop" and out.period is None:
        raise ContractError(
            f'`{path}.period` is required for `action = "stop"` (later '
            "periods are not paid once the trigger fires)"
        )
    return out


def _limits(raw: object, path: str) -> Limits:
    t = Table(raw, path)
    out = Limits(
        total=t.get("total", as_nonneg, None),
        outcomes=t.get("outcomes", as_nonneg, None),
        cohort=t.get("cohort", as_money_map, ()),
        period=t.get("period", as_money_map, ()),
    )
    t.finish()
    return out


_TOP_KEYS = (
    "contract",
    "metrics",
    "payments",
    "triggers",
    "caps",
    "floors",
    "investment",
    "safeguards",
)


def read_components(document: Mapping[str, Any]) -> dict[str, Any]:
    """Read every top-level table into schema objects (cross-references not yet checked)."""
    top = Table(dict(document), "")
    for name in document:
        if name not in _TOP_KEYS:
            close = difflib.get_close_matches(name, _TOP_KEYS, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ContractError(
                f"`{name}`: unknown top-level table{hint} (allowed: {list(_TOP_KEYS)})"
            )
    if "contract" not in document:
        raise ContractError("`contract` table is required (name and currency)")
    info = _info(document["contract"])
    metrics = Table(top.raw.get("metrics", {}), "metrics")
    payments = Table(top.raw.get("payments", {}), "payments")
    triggers = Table(top.raw.get("triggers", {}), "triggers")
    if not payments.raw:
        raise ContractError("`payments` must define at least one payment component")
    return {
        "info": info,
        "metrics": tuple(_metric(k, v) for k, v in metrics.raw.items()),
        "payments": tuple(_component(k, v) for k, v in payments.raw.items()),
        "triggers": tuple(_trigger(k, v) for k, v in triggers.raw.items()),
        "caps": _limits(top.raw.get("caps", {}), "caps"),
        "floors": _limits(top.raw.get("floors", {}), "floors"),
        "investment": (
            read_investment(document["investment"]) if "investment" in document else None
        ),
        "safeguards": (
            read_safeguards(document["safeguards"]) if "safeguards" in document else None
        ),
    }
