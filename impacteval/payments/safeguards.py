"""Safeguards from the field: equity by subgroup, exclusions and refusals, indicator baskets.

Contract table (all keys optional, but a table that can neither report nor breach is
refused)::

    [safeguards]
    subgroups = ["female", "age_under_25"]  # equity cells: inputs give estimate and n each
    min_cell = 10                # cells (and exclusion reasons) under 10 people are masked
    max_exclusion_share = 0.1    # exclusions / eligible above this is a breach
    max_refusal_share = 0.05     # refusals / eligible above this is a breach
    exempt_reasons = ["died"]    # exclusion reasons reported but not counted in the share
    on_breach = "flag"           # flag (report only) | withhold (outcome payments withheld)
    basket = { min_met = 2, indicators = { attendance = 0.8, dropout = { max = 0.2 } } }

Settlement inputs (``Contract.settle(inputs, safeguards=...)``)::

    {"subgroups": {"female": {"estimate": -3.1, "std_error": 1.2, "n": 120}, ...},
     "eligible": 1000, "exclusions": {"deported": 26, "died": 4} (or a number),
     "refusals": 3, "indicators": {"attendance": 0.84}}

A basket indicator that names a contract metric takes the metric's decision statistic;
any other indicator is read from ``indicators``. Safeguards never change an amount unless
the contract says ``on_breach = "withhold"``; then a breach (or, in a partial settlement,
missing safeguard inputs) adds one explicit line that withholds every outcome payment.
Raw subgroup inputs stay out of the audit record: it keeps their SHA-256 and the masked
table only.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

from impacteval.exceptions import DataValidationError
from impacteval.payments.convert import (
    Table,
    as_dec,
    as_ident,
    as_int,
    as_share,
    as_str,
    choice,
    list_of,
)
from impacteval.payments.errors import ContractError
from impacteval.payments.inputs import to_decimal
from impacteval.payments.schema import BREACH_ACTIONS, BasketRule, Safeguards
from impacteval.results import EffectEstimate

__all__ = [
    "SAFEGUARD_COLUMNS",
    "SafeguardInputs",
    "SafeguardOutcome",
    "evaluate_safeguards",
    "normalise_safeguards",
    "read_safeguards",
]

SAFEGUARD_COLUMNS = ("check", "item", "n", "estimate", "std_error", "value", "limit", "status")
INPUT_KEYS = ("subgroups", "eligible", "exclusions", "refusals", "indicators")
SUBGROUP_KEYS = ("estimate", "std_error", "n", "eligible")


# -- the contract table -------------------------------------------------------------------
def _rule(name: str, value: object, path: str) -> BasketRule:
    if isinstance(value, dict):
        t = Table(value, path)
        rule = BasketRule(name, t.get("min", as_dec, None), t.get("max", as_dec, None))
        t.finish()
        if rule.minimum is None and rule.maximum is None:
            raise ContractError(f"`{path}` needs `min` and / or `max`")
        if rule.minimum is not None and rule.maximum is not None and rule.maximum < rule.minimum:
            raise ContractError(f"`{path}.max` ({rule.maximum}) is below `min` ({rule.minimum})")
        return rule
    return BasketRule(name, minimum=as_dec(value, path))


def _basket(value: object, path: str) -> tuple[tuple[BasketRule, ...], int | None]:
    t = Table(value, path)
    min_met = t.get("min_met", as_int, None)
    ind = Table(t.need("indicators", lambda v, _: v), t.key("indicators"))
    t.finish()
    rules = tuple(_rule(as_ident(k, ind.key(k)), v, ind.key(k)) for k, v in ind.raw.items())
    if not rules:
        raise ContractError(f"`{ind.path}` must name at least one indicator")
    if min_met is not None and not 1 <= min_met <= len(rules):
        raise ContractError(
            f"`{path}.min_met` must be between 1 and the number of indicators "
            f"({len(rules)}); got {min_met}"
        )
    return rules, min_met


def read_safeguards(raw: object) -> Safeguards:
    """Read the ``[safeguards]`` table (see the module notes)."""
    t = Table(raw, "safeguards")
    empty: tuple[tuple[BasketRule, ...], int | None] = ((), None)
    basket, min_met = t.get("basket", _basket, empty)
    out = Safeguards(
        subgroups=t.get("subgroups", list_of(as_ident), ()),
        min_cell=t.get("min_cell", as_int, 10),
        max_exclusion_share=t.get("max_exclusion_share", as_share, None),
        max_refusal_share=t.get("max_refusal_share", as_share, None),
        exempt_reasons=t.get("exempt_reasons", list_of(as_str), ()),
        basket=basket,
        basket_min_met=min_met,
        on_breach=t.get("on_breach", choice(BREACH_ACTIONS), "flag"),
        description=t.get("description", as_str, ""),
        source=t.get("source", as_str, ""),
    )
    t.finish()
    if len(set(out.subgroups)) != len(out.subgroups):
        raise ContractError(f"`safeguards.subgroups` lists a subgroup twice: {list(out.subgroups)}")
    if not out.subgroups and not out.can_breach:
        raise ContractError(
            "`safeguards` declares nothing to report or check: give `subgroups`, "
            "`max_exclusion_share`, `max_refusal_share` or `basket`"
        )
    if out.on_breach == "withhold" and not out.can_breach:
        raise ContractError(
            '`safeguards.on_breach = "withhold"` needs a check that can be breached '
            "(`max_exclusion_share`, `max_refusal_share` or `basket`); subgroups are "
            "reported only"
        )
    if out.exempt_reasons and out.max_exclusion_share is None:
        raise ContractError("`safeguards.exempt_reasons` only applies with `max_exclusion_share`")
    return out


# -- settlement inputs --------------------------------------------------------------------
@dataclass(frozen=True)
class Subgroup:
    """One equity cell: the subgroup's effect estimate and head count."""

    estimate: Decimal
    n: int
    std_error: float | None = None
    eligible: int | None = None


@dataclass(frozen=True)
class SafeguardInputs:
    """Safeguard inputs, normalised (counts as ints, reasons sorted)."""

    subgroups: tuple[tuple[str, Subgroup], ...] = ()
    eligible: int | None = None
    exclusions: tuple[tuple[str, int], ...] | None = None
    refusals: int | None = None
    indicators: tuple[tuple[str, Decimal], ...] = ()

    def canonical(self) -> dict[str, Any]:
        """JSON-ready form (hashed into the audit record; never stored there in clear)."""
        return {
            "subgroups": {
                k: {
                    "estimate": str(g.estimate),
                    "n": g.n,
                    "std_error": None if g.std_error is None else repr(g.std_error),
                    "eligible": g.eligible,
                }
                for k, g in self.subgroups
            },
            "eligible": self.eligible,
            "exclusions": None if self.exclusions is None else dict(self.exclusions),
            "refusals": self.refusals,
            "indicators": {k: str(v) for k, v in self.indicators},
        }


def _fail(path: str, message: str) -> DataValidationError:
    return DataValidationError(f"`safeguards.{path}` {message}")


def _count(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 0:
        raise _fail(path, f"must be a non-negative whole number of people; received {value!r}")
    return int(value)


def _unknown(keys: object, allowed: tuple[str, ...] | list[str], path: str, what: str) -> None:
    assert isinstance(keys, Mapping)
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise _fail(f"{path}{key}".strip("."), f": unknown {what}{hint} (allowed: {allowed})")


def _subgroup(raw: object, path: str) -> Subgroup:
    if not isinstance(raw, Mapping):
        raise _fail(path, f"must be a mapping {list(SUBGROUP_KEYS)}; received {raw!r}")
    _unknown(raw, SUBGROUP_KEYS, f"{path}.", "field")
    if "estimate" not in raw or "n" not in raw:
        raise _fail(path, "needs `estimate` and `n` (the subgroup's head count)")
    est: Any = raw["estimate"]
    se: Any = raw.get("std_error")
    if isinstance(est, EffectEstimate):
        if se is not None:
            raise _fail(path, "gives `std_error` twice (the EffectEstimate carries one)")
        est, se = est.estimate, est.std_error
    try:
        estimate = to_decimal(est, f"safeguards.{path}.estimate")
        std_error = None if se is None else float(to_decimal(se, f"safeguards.{path}.std_error"))
    except DataValidationError as exc:
        raise DataValidationError(str(exc).replace("`inputs.", "`")) from None
    if std_error is not None and (std_error < 0 or not math.isfinite(std_error)):
        raise _fail(f"{path}.std_error", f"must be >= 0; received {se!r}")
    n = _count(raw["n"], f"{path}.n")
    eligible = None if raw.get("eligible") is None else _count(raw["eligible"], f"{path}.eligible")
    if eligible is not None and n > eligible:
        raise _fail(f"{path}.n", f"({n}) exceeds the subgroup's `eligible` ({eligible})")
    return Subgroup(estimate, n, std_error, eligible)


def _need(spec: Safeguards, present: Mapping[str, Any], partial: bool) -> None:
    needed = []
    if spec.subgroups:
        needed.append("subgroups")
    if spec.max_exclusion_share is not None:
        needed += ["eligible", "exclusions"]
    if spec.max_refusal_share is not None:
        needed += ["eligible", "refusals"]
    missing = sorted({k for k in needed if present.get(k) is None})
    if missing and not partial:
        raise DataValidationError(
            f"`safeguards`: missing {missing} (the contract's [safeguards] table needs them); "
            "pass partial=True for an interim settlement that leaves them pending"
        )


def normalise_safeguards(
    spec: Safeguards | None, raw: object, metric_ids: tuple[str, ...], *, partial: bool = False
) -> SafeguardInputs | None:
    """Check and normalise the ``safeguards=`` argument of :meth:`Contract.settle`.

    Raises
    ------
    DataValidationError
        Unknown keys or subgroups (with a suggestion), missing inputs the contract needs
        (unless ``partial``), negative or fractional counts, or counts that exceed
        ``eligible``; the message names ``safeguards.<key>``.
    """
    if spec is None:
        if raw is not None:
            raise DataValidationError(
                "`safeguards`: the contract has no [safeguards] table; pass no safeguards"
            )
        return None
    if raw is None:
        _need(spec, {}, partial)
        own = [r.indicator for r in spec.basket if r.indicator not in metric_ids]
        if own and not partial:
            raise _fail("indicators", f"misses basket indicators {sorted(own)}")
        return None
    if not isinstance(raw, Mapping):
        raise DataValidationError(f"`safeguards` must be a mapping; received {type(raw).__name__}")
    _unknown(raw, INPUT_KEYS, "", "key")
    _need(spec, raw, partial)
    groups_raw = raw.get("subgroups") or {}
    if not isinstance(groups_raw, Mapping):
        raise _fail("subgroups", "must map each subgroup to {estimate, n[, std_error]}")
    _unknown(groups_raw, list(spec.subgroups), "subgroups.", "subgroup")
    missing = sorted(set(spec.subgroups) - set(groups_raw))
    if missing and not partial and "subgroups" in raw:
        raise _fail("subgroups", f"misses {missing} (declared in `safeguards.subgroups`)")
    groups = tuple(
        (k, _subgroup(groups_raw[k], f"subgroups.{k}")) for k in spec.subgroups if k in groups_raw
    )
    eligible = None if raw.get("eligible") is None else _count(raw["eligible"], "eligible")
    if eligible == 0:
        raise _fail("eligible", "must be > 0")
    excl_raw = raw.get("exclusions")
    exclusions: tuple[tuple[str, int], ...] | None = None
    if isinstance(excl_raw, Mapping):
        exclusions = tuple(
            sorted((str(k), _count(v, f"exclusions.{k}")) for k, v in excl_raw.items())
        )
    elif excl_raw is not None:
        exclusions = (("all", _count(excl_raw, "exclusions")),)
    refusals = None if raw.get("refusals") is None else _count(raw["refusals"], "refusals")
    removed = sum(c for _, c in exclusions or ()) + (refusals or 0)
    if eligible is not None and removed > eligible:
        raise _fail("eligible", f"({eligible}) is smaller than exclusions + refusals ({removed})")
    ind_raw = raw.get("indicators") or {}
    if not isinstance(ind_raw, Mapping):
        raise _fail("indicators", "must map indicator -> value")
    own = [r.indicator for r in spec.basket if r.indicator not in metric_ids]
    _unknown(ind_raw, own, "indicators.", "indicator")
    absent = sorted(set(own) - set(ind_raw))
    if absent and not partial:
        raise _fail("indicators", f"misses basket indicators {absent}")
    indicators = []
    for k, v in sorted(ind_raw.items()):
        try:
            indicators.append((k, to_decimal(v, f"safeguards.indicators.{k}")))
        except DataValidationError as exc:
            raise DataValidationError(str(exc).replace("`inputs.", "`")) from None
    return SafeguardInputs(groups, eligible, exclusions, refusals, tuple(indicators))


# -- evaluation ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SafeguardOutcome:
    """Safeguard results: the (masked) table, flags, and whether payments are withheld."""

    rows: tuple[dict[str, Any], ...]
    flags: tuple[str, ...]
    withhold: str | None
    on_breach: str

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame (columns :data:`SAFEGUARD_COLUMNS`)."""
        return pd.DataFrame(list(self.rows), columns=list(SAFEGUARD_COLUMNS), dtype=object)

    def canonical(self) -> dict[str, Any]:
        """JSON-ready form for the audit record (already masked)."""
        rows = [
            {k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items()}
            for row in self.rows
        ]
        return {"on_breach": self.on_breach, "flags": list(self.flags), "table": rows}


def _row(check: str, item: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(SAFEGUARD_COLUMNS)
    row.update(check=check, item=item, **kw)
    return row


def _share_check(
    name: str, removed: int, eligible: int, limit: Decimal | None, flags: list[str]
) -> dict[str, Any]:
    share = Decimal(removed) / Decimal(eligible)
    status = "reported"
    if limit is not None:
        status = "breach" if share > limit else "ok"
        if status == "breach":
            flags.append(f"{name} {share:.4f} > max {limit} ({removed} of {eligible})")
    return _row(
        f"{name.replace(' ', '_')}", "all", n=removed, value=share, limit=limit, status=status
    )


@dataclass
class _Tally:
    """What the checks found so far: table rows, breach flags, inputs still pending."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # inputs not yet given
    checks_pending: bool = False  # ... of which some feed a check that can be breached


def _subgroup_rows(spec: Safeguards, inp: SafeguardInputs, tally: _Tally) -> None:
    """One row per contract subgroup: reported, suppressed under ``min_cell``, or pending."""
    cell = spec.min_cell
    groups = dict(inp.subgroups)
    for name in spec.subgroups:
        g = groups.get(name)
        if g is None:
            tally.rows.append(_row("subgroup", name, status="pending"))
            tally.pending.append(f"subgroup {name}")
        elif g.n < cell:
            tally.rows.append(_row("subgroup", name, status=f"suppressed (n < {cell})"))
        else:
            coverage = None if not g.eligible else Decimal(g.n) / Decimal(g.eligible)
            tally.rows.append(
                _row(
                    "subgroup",
                    name,
                    n=g.n,
                    estimate=g.estimate,
                    std_error=g.std_error,
                    value=coverage,
                    status="reported",
                )
            )


def _exclusion_rows(spec: Safeguards, inp: SafeguardInputs, tally: _Tally) -> None:
    """One row per exclusion reason (exempt or counted; small counts masked)."""
    if inp.exclusions is None:
        return
    cell = spec.min_cell
    for reason, count in inp.exclusions:
        masked = 0 < count < cell
        status = "exempt" if reason in spec.exempt_reasons else "counted"
        tally.rows.append(
            _row(
                "exclusion",
                reason,
                n=None if masked else count,
                status=f"{status}, suppressed (n < {cell})" if masked else status,
            )
        )


def _share_rows(spec: Safeguards, inp: SafeguardInputs, tally: _Tally) -> None:
    """The exclusion-share and refusal-share checks against their ceilings."""
    exempt = set(spec.exempt_reasons)
    checks = (
        ("exclusion share", spec.max_exclusion_share, inp.exclusions, "exclusions"),
        ("refusal share", spec.max_refusal_share, inp.refusals, "refusals"),
    )
    for name, limit, given, key in checks:
        if given is None or inp.eligible is None:
            if limit is not None:
                tally.rows.append(
                    _row(name.replace(" ", "_"), "all", limit=limit, status="pending")
                )
                tally.pending.append(key if inp.eligible is not None else f"{key} / eligible")
                tally.checks_pending = True
            continue
        if isinstance(given, tuple):
            removed = sum(c for r, c in given if r not in exempt)
        else:
            removed = given
        tally.rows.append(_share_check(name, removed, inp.eligible, limit, tally.flags))


def _basket_rows(
    spec: Safeguards,
    inp: SafeguardInputs,
    metric_values: Mapping[str, Decimal | None],
    tally: _Tally,
) -> None:
    """Each basket indicator against its bounds, then how many were met against the need."""
    own = dict(inp.indicators)
    met = 0
    for rule in spec.basket:
        value = metric_values[rule.indicator] if rule.indicator in metric_values else None
        value = own.get(rule.indicator, value)
        bounds = [f">= {rule.minimum}"] if rule.minimum is not None else []
        bounds += [f"<= {rule.maximum}"] if rule.maximum is not None else []
        if value is None:
            tally.rows.append(
                _row("basket", rule.indicator, limit=" and ".join(bounds), status="pending")
            )
            tally.pending.append(f"indicator {rule.indicator}")
            tally.checks_pending = True
            continue
        ok = (rule.minimum is None or value >= rule.minimum) and (
            rule.maximum is None or value <= rule.maximum
        )
        met += ok
        tally.rows.append(
            _row(
                "basket",
                rule.indicator,
                value=value,
                limit=" and ".join(bounds),
                status="met" if ok else "not met",
            )
        )
    need = spec.basket_min_met or len(spec.basket)
    if not any(p.startswith("indicator ") for p in tally.pending):
        status = "ok" if met >= need else "breach"
        if status == "breach":
            tally.flags.append(f"basket: {met} of {len(spec.basket)} indicators met (need {need})")
        tally.rows.append(_row("basket", "indicators met", n=met, limit=need, status=status))


def evaluate_safeguards(
    spec: Safeguards,
    inputs: SafeguardInputs | None,
    metric_values: Mapping[str, Decimal | None],
) -> SafeguardOutcome:
    """Evaluate every check: masked subgroup cells, exclusion / refusal shares, basket."""
    inp = inputs if inputs is not None else SafeguardInputs()
    tally = _Tally()
    _subgroup_rows(spec, inp, tally)
    _exclusion_rows(spec, inp, tally)
    _share_rows(spec, inp, tally)
    if spec.basket:
        _basket_rows(spec, inp, metric_values, tally)
    withhold = None
    if spec.on_breach == "withhold":
        if tally.flags:
            withhold = "safeguard breach: " + "; ".join(tally.flags)
        elif tally.checks_pending:
            withhold = "safeguard inputs pending: " + ", ".join(tally.pending)
    flags = list(tally.flags)
    if tally.pending:
        flags.append("pending: " + ", ".join(tally.pending))
    return SafeguardOutcome(tuple(tally.rows), tuple(flags), withhold, spec.on_breach)
