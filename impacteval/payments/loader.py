"""TOML -> :class:`~impacteval.payments.schema.ContractSpec`, with an explicit validator.

Only data is read: no expression in a contract is ever evaluated. Numbers are parsed by
``tomllib.loads(text, parse_float=decimal.Decimal)`` so money keeps the digits written in
the contract. Every refusal is a :class:`ContractError` naming the key path.
"""

from __future__ import annotations

import datetime as dt
import difflib
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from impacteval.payments.errors import ContractError
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
    Investment,
    Limits,
    Metric,
    Point,
    SizeThreshold,
    Tier,
    Trigger,
)

__all__ = ["read_components"]

T = TypeVar("T")
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: object) -> str:
    names = {Decimal: "float", dict: "table", list: "array", str: "string", bool: "boolean"}
    return names.get(type(value), type(value).__name__)


class _Table:
    """One TOML table being read: typed getters, and a check for unknown keys at the end."""

    def __init__(self, raw: object, path: str) -> None:
        if not isinstance(raw, dict):
            raise ContractError(f"`{path}` must be a table; received {_kind(raw)} {_short(raw)}")
        self.raw: dict[str, Any] = raw
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, conv: Callable[[object, str], T], default: T) -> T:
        self.used.add(name)
        if name not in self.raw:
            return default
        return conv(self.raw[name], self.key(name))

    def need(self, name: str, conv: Callable[[object, str], T]) -> T:
        self.used.add(name)
        if name not in self.raw:
            raise ContractError(f"`{self.key(name)}` is required but missing")
        return conv(self.raw[name], self.key(name))

    def finish(self, extra_allowed: Iterable[str] = ()) -> None:
        allowed = self.used | set(extra_allowed)
        for name in self.raw:
            if name not in allowed:
                close = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ContractError(
                    f"`{self.key(name)}`: unknown key{hint} (allowed here: {sorted(allowed)})"
                )


# -- converters (value, key path) -> typed value ------------------------------------------
def _str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ContractError(f"`{path}` must be a string; received {_kind(value)} {_short(value)}")
    return value


def _ident(value: object, path: str) -> str:
    text = _str(value, path)
    if not _ID.match(text):
        raise ContractError(f"`{path}` must be an identifier (letters, digits, _); got {text!r}")
    return text


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise ContractError(f"`{path}` must be true or false; received {_kind(value)}")
    return value


def _int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ContractError(f"`{path}` must be a non-negative integer; received {_short(value)}")
    return value


def _dec(value: object, path: str) -> Decimal:
    """A number: TOML integer or float (parsed as Decimal) or a numeric string."""
    if isinstance(value, bool):
        raise ContractError(f"`{path}` must be a number; received a boolean")
    if isinstance(value, int | Decimal):
        out = Decimal(value)
    elif isinstance(value, str):
        try:
            out = Decimal(value.replace("_", "").strip())
        except InvalidOperation:
            raise ContractError(f"`{path}` must be a number; received {value!r}") from None
    else:
        raise ContractError(f"`{path}` must be a number; received {_kind(value)} {_short(value)}")
    if not out.is_finite():
        raise ContractError(f"`{path}` must be finite; received {value!r}")
    return out


def _nonneg(value: object, path: str) -> Decimal:
    out = _dec(value, path)
    if out < 0:
        raise ContractError(
            f"`{path}` must be >= 0 (money and prices are never negative); received {out}"
        )
    return out


def _positive(value: object, path: str) -> Decimal:
    out = _dec(value, path)
    if out <= 0:
        raise ContractError(f"`{path}` must be > 0; received {out}")
    return out


def _share(value: object, path: str) -> Decimal:
    out = _dec(value, path)
    if not 0 <= out <= 1:
        raise ContractError(f"`{path}` must be a share between 0 and 1; received {out}")
    return out


def _level(value: object, path: str) -> float:
    out = _dec(value, path)
    if not 0 < out < 1:
        raise ContractError(
            f"`{path}` must be a confidence level strictly between 0 and 1 "
            f"(e.g. 0.95); received {out}"
        )
    return float(out)


def _choice(options: tuple[str, ...]) -> Callable[[object, str], str]:
    def conv(value: object, path: str) -> str:
        text = _str(value, path)
        if text not in options:
            close = difflib.get_close_matches(text, options, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ContractError(f"`{path}` must be one of {list(options)}; got {text!r}{hint}")
        return text

    return conv


def _date(value: object, path: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise ContractError(f"`{path}` must be a TOML date (e.g. 2015-06-01); received {_kind(value)}")


def _list(conv: Callable[[object, str], T]) -> Callable[[object, str], tuple[T, ...]]:
    def inner(value: object, path: str) -> tuple[T, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ContractError(f"`{path}` must be an array; received {_kind(value)}")
        return tuple(conv(v, f"{path}[{i}]") for i, v in enumerate(value))

    return inner


def _weights(value: object, path: str) -> tuple[tuple[str, Decimal], ...]:
    table = _Table(value, path)
    out = tuple((k, _positive(v, table.key(k))) for k, v in table.raw.items())
    if not out:
        raise ContractError(f"`{path}` must name at least one metric")
    total = sum((w for _, w in out), Decimal(0))
    if total != 1:
        raise ContractError(f"`{path}`: weights must sum to exactly 1; they sum to {total}")
    return out


def _money_map(value: object, path: str) -> tuple[tuple[str, Decimal], ...]:
    table = _Table(value, path)
    return tuple((str(k), _nonneg(v, table.key(str(k)))) for k, v in table.raw.items())


def _quantum(value: object, path: str) -> Decimal:
    out = _positive(value, path)
    if out != Decimal(1).scaleb(out.adjusted()):
        raise ContractError(f'`{path}` must be a power of ten such as "0.01" or "1"; got {out}')
    return out


# -- tables -------------------------------------------------------------------------------
def _info(raw: object) -> ContractInfo:
    t = _Table(raw, "contract")
    currency = t.need("currency", _str)
    if not _CURRENCY.match(currency):
        raise ContractError(
            f'`contract.currency` must be an ISO 4217 code such as "USD"; got {currency!r}'
        )
    info = ContractInfo(
        name=t.need("name", _str),
        currency=currency,
        rounding=t.get("rounding", _quantum, Decimal("0.01")),
        rounding_mode=t.get("rounding_mode", _choice(ROUNDING_MODES), "ROUND_HALF_UP"),
        round_at=t.get("round_at", _list(_choice(ROUND_POINTS)), ("line", "total")),
        periods=t.get("periods", _list(_str), ()),
        cohorts=t.get("cohorts", _list(_str), ()),
        description=t.get("description", _str, ""),
        source=t.get("source", _str, ""),
    )
    for key, labels in (("periods", info.periods), ("cohorts", info.cohorts)):
        if len(set(labels)) != len(labels):
            raise ContractError(f"`contract.{key}` lists a label twice: {list(labels)}")
    t.finish()
    return info


def _size_threshold(value: object, path: str) -> SizeThreshold:
    t = _Table(value, path)
    out = SizeThreshold(min_n=t.need("min_n", _int), threshold=t.need("threshold", _dec))
    t.finish()
    return out


_METRIC_KEYS_BY_INPUT = {
    "estimate": set(),
    "count": {"statistic", "level", "sided", "gate", "size_thresholds"},
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
    "description",
    "source",
)


def _metric(mid: str, raw: object) -> Metric:
    path = f"metrics.{mid}"
    _ident(mid, path)
    t = _Table(raw, path)
    t.finish(_METRIC_ALL)  # unknown keys (typos) first, before any semantic check
    blend: tuple[tuple[str, Decimal | None], ...] = t.get("blend", _weights_or_list, ())
    weight_by = t.get("weight_by", _choice(("units",)), None)
    value_rounding = t.get("value_rounding", _quantum, None)
    description = t.get("description", _str, "")
    source = t.get("source", _str, "")
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
    kind = t.get("input", _choice(INPUT_KINDS), "estimate")
    scale = t.get("scale", _choice(SCALES), "absolute")
    metric = Metric(
        id=mid,
        input=kind,
        scale=scale,
        direction=t.get("direction", _choice(("increase", "decrease")), "increase"),
        baseline=t.get("baseline", _positive, None),
        units=t.get("units", _positive, None),
        target=t.get("target", _dec, None),
        statistic=t.get("statistic", _choice(STATISTICS), "point"),
        level=t.get("level", _level, 0.95),
        sided=t.get("sided", _choice(("one", "two")), "one"),
        gate=t.get("gate", _choice(GATES), "none"),
        size_thresholds=t.get("size_thresholds", _list(_size_threshold), ()),
        value_rounding=value_rounding,
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
        return tuple((_ident(v, f"{path}[{i}]"), None) for i, v in enumerate(value))
    return tuple(_weights(value, path))


def _tier(value: object, path: str) -> Tier:
    t = _Table(value, path)
    out = Tier(
        start=t.need("from", _dec), end=t.get("to", _dec, None), amount=t.need("amount", _nonneg)
    )
    t.finish()
    return out


def _point(value: object, path: str) -> Point:
    t = _Table(value, path)
    out = Point(x=t.need("x", _dec), y=t.need("y", _nonneg))
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
    _ident(cid, path)
    t = _Table(raw, path)
    t.finish(_COMPONENT_ALL)  # unknown keys (typos) first, before any semantic check
    rule = t.need("rule", _choice(RULES))
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
        metric=t.get("metric", _ident, None),
        price=t.get("price", _nonneg, None),
        threshold=t.get("threshold", _dec, Decimal(0)),
        threshold_mode=t.get("threshold_mode", _choice(("hurdle", "deductible")), "hurdle"),
        tiers=t.get("tiers", _list(_tier), ()),
        points=t.get("points", _list(_point), ()),
        weights=t.get("weights", _weights, ()),
        amount_at_target=t.get("amount_at_target", _nonneg, None),
        ratio_cap=t.get("ratio_cap", _positive, None),
        prices=t.get("prices", _money_map, ()),
        unit_cap=t.get("unit_cap", _nonneg, None),
        share=t.get("share", _share, None),
        share_after=t.get("share_after", _share, Decimal(0)),
        switch_at=t.get("switch_at", _nonneg, None),
        amount=t.get("amount", _nonneg, None),
        cap=t.get("cap", _nonneg, None),
        floor=t.get("floor", _nonneg, None),
        cohort=t.get("cohort", _str, None),
        period=t.get("period", _str, None),
        when=t.get("when", _list(_ident), ()),
        unless=t.get("unless", _list(_ident), ()),
        outcome=t.get("outcome", _bool, True),
        true_up_of=t.get("true_up_of", _ident, None),
        clawback=t.get("clawback", _bool, False),
        description=t.get("description", _str, ""),
        source=t.get("source", _str, ""),
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
    _ident(tid, path)
    t = _Table(raw, path)
    out = Trigger(
        id=tid,
        metric=t.need("metric", _ident),
        threshold=t.need("threshold", _dec),
        comparison=t.get("comparison", _choice(COMPARISONS), ">="),
        action=t.get("action", _choice(("pay", "stop")), "pay"),
        period=t.get("period", _str, None),
        description=t.get("description", _str, ""),
        source=t.get("source", _str, ""),
    )
    t.finish()
    if out.action == "stop" and out.period is None:
        raise ContractError(
            f'`{path}.period` is required for `action = "stop"` (later '
            "periods are not paid once the trigger fires)"
        )
    return out


def _limits(raw: object, path: str) -> Limits:
    t = _Table(raw, path)
    out = Limits(
        total=t.get("total", _nonneg, None),
        outcomes=t.get("outcomes", _nonneg, None),
        cohort=t.get("cohort", _money_map, ()),
        period=t.get("period", _money_map, ()),
    )
    t.finish()
    return out


def _investment(raw: object) -> Investment:
    t = _Table(raw, "investment")
    out = Investment(
        principal=t.need("principal", _nonneg),
        guarantee=t.get("guarantee", _nonneg, Decimal(0)),
        first_loss=t.get("first_loss", _nonneg, Decimal(0)),
        irr_cap=t.get("irr_cap", _nonneg, None),
        drawn_on=t.get("drawn_on", _date, None),
        paid_on=t.get("paid_on", _date, None),
        source=t.get("source", _str, ""),
    )
    t.finish()
    if out.irr_cap is not None and out.drawn_on is None:
        raise ContractError("`investment.irr_cap` needs `investment.drawn_on` and `paid_on`")
    if out.first_loss > out.principal:
        raise ContractError("`investment.first_loss` exceeds `investment.principal`")
    if (out.drawn_on is None) != (out.paid_on is None):
        raise ContractError("`investment.drawn_on` and `investment.paid_on` go together")
    if out.drawn_on is not None and out.paid_on is not None and out.paid_on <= out.drawn_on:
        raise ContractError("`investment.paid_on` must be after `investment.drawn_on`")
    return out


_TOP_KEYS = ("contract", "metrics", "payments", "triggers", "caps", "floors", "investment")


def read_components(document: Mapping[str, Any]) -> dict[str, Any]:
    """Read every top-level table into schema objects (cross-references not yet checked)."""
    top = _Table(dict(document), "")
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
    metrics = _Table(top.raw.get("metrics", {}), "metrics")
    payments = _Table(top.raw.get("payments", {}), "payments")
    triggers = _Table(top.raw.get("triggers", {}), "triggers")
    if not payments.raw:
        raise ContractError("`payments` must define at least one payment component")
    return {
        "info": info,
        "metrics": tuple(_metric(k, v) for k, v in metrics.raw.items()),
        "payments": tuple(_component(k, v) for k, v in payments.raw.items()),
        "triggers": tuple(_trigger(k, v) for k, v in triggers.raw.items()),
        "caps": _limits(top.raw.get("caps", {}), "caps"),
        "floors": _limits(top.raw.get("floors", {}), "floors"),
        "investment": (_investment(document["investment"]) if "investment" in document else None),
    }
