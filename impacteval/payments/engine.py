"""The settlement engine: metric values -> triggers -> component amounts -> limits.

Order of operations (each step is recorded in the ``bound`` column of a line):

1. decision statistics of every metric (:mod:`impacteval.payments.metrics`);
2. triggers: ``pay`` triggers gate components via ``when`` / ``unless``; a fired ``stop``
   trigger voids every component of a later period;
3. per component: the rule, rounding at ``line`` (rate cards round each person at
   ``unit``), then the component cap and floor (only when the component is due), each
   rounded *toward its bound* (a cap of 0.045 on a 0.01 grid pays at most 0.04), so a
   limit holds after rounding;
4. true-ups: final amount minus the interim component's amount; a negative difference is
   clawed back only when ``clawback = true``;
5. caps per cohort, per period, on outcome components and on the total; then floors at the
   same levels; then the outcome and total caps again (a cohort floor may have raised
   them). Each is an explicit adjustment line, so the lines always add up to the total.
   When the contract rounds (at ``line`` or ``total``), every limit is first moved onto
   the rounding grid toward its bound. A cap adjustment trims the group's outcome payments
   first (at the total level, not below ``floors.outcomes``), then its fees and outputs
   (``outcome = false``), booked as one line per kind, so neither ``outcome_total`` nor
   the fees go negative through a cap;
6. safeguards: when the contract says ``on_breach = "withhold"`` and a safeguard is
   breached, one ``safeguards:withhold`` line withholds every outcome payment (fees and
   outputs, ``outcome = false``, are still paid);
7. rounding of the total at ``total`` (an explicit rounding line when needed).
"""

from __future__ import annotations

import decimal
import operator
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from impacteval.exceptions import DataValidationError
from impacteval.payments.errors import ContractError
from impacteval.payments.inputs import MetricInput
from impacteval.payments.metrics import MetricValue, evaluate_metrics
from impacteval.payments.money import PRECISION, Rounder
from impacteval.payments.rules import apply_rule
from impacteval.payments.schema import Component, ContractSpec, Limits

__all__ = ["Line", "Outcome", "run"]

ZERO = Decimal(0)
_OPS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass(frozen=True)
class Line:
    """One row of a settlement."""

    component: str
    metric: str
    statistic: str
    value: Decimal | None
    rule: str
    amount: Decimal
    bound: str
    cohort: str | None = None
    period: str | None = None
    outcome: bool = True


@dataclass(frozen=True)
class Outcome:
    """What the engine returns: lines, total, metric values and trigger states."""

    lines: tuple[Line, ...]
    total: Decimal
    outcome_total: Decimal
    metrics: dict[str, MetricValue]
    triggers: dict[str, bool | None]
    withheld: Decimal = ZERO


def _quantizer(spec: ContractSpec, point: str) -> Rounder:
    info = spec.info
    return Rounder(info.rounding if point in info.round_at else None, info.rounding_mode)


def limit_rounder(spec: ContractSpec) -> Rounder:
    """The grid limits above the component level are moved onto (line or total rounding)."""
    info = spec.info
    grid = any(p in info.round_at for p in ("line", "total"))
    return Rounder(info.rounding if grid else None, info.rounding_mode)


def _triggers(spec: ContractSpec, values: dict[str, MetricValue]) -> dict[str, bool | None]:
    fired: dict[str, bool | None] = {}
    for t in spec.triggers:
        mv = values[t.metric]
        if mv.value is None:
            fired[t.id] = None
        else:
            fired[t.id] = mv.gate_passed and _OPS[t.comparison](mv.value, t.threshold)
    return fired


def _blocked(
    spec: ContractSpec, c: Component, fired: dict[str, bool | None]
) -> tuple[str, bool] | None:
    """(reason, pending) when the component is not due, else None."""
    periods = spec.info.periods
    for t in spec.triggers:
        if t.action == "stop" and fired[t.id] and c.period is not None and t.period is not None:
            if periods.index(c.period) > periods.index(t.period):
                return f"stopped by trigger {t.id}", False
    for ref in c.when:
        if fired[ref] is None:
            return f"pending trigger {ref}", True
        if not fired[ref]:
            return f"trigger {ref} not met", False
    for ref in c.unless:
        if fired[ref] is None:
            return f"pending trigger {ref}", True
        if fired[ref]:
            return f"superseded: trigger {ref} met", False
    return None


def _component_amount(
    spec: ContractSpec,
    c: Component,
    values: dict[str, MetricValue],
    inputs: dict[str, MetricInput],
    fired: dict[str, bool | None],
) -> tuple[Decimal, str]:
    blocked = _blocked(spec, c, fired)
    if blocked is not None:
        return ZERO, blocked[0]
    used = [values[m] for m in c.metrics_used()]
    pending = [mv.id for mv in used if mv.value is None]
    if pending:
        return ZERO, f"pending input {pending}"
    failed = [mv for mv in used if not mv.gate_passed]
    if failed:
        return ZERO, f"{failed[0].gate_note} not passed ({failed[0].id})"
    numbers = {mv.id: mv.value for mv in used if mv.value is not None}
    amount, bound = apply_rule(c, numbers, inputs, _quantizer(spec, "unit"))
    line = _quantizer(spec, "line")
    amount = line(amount)
    if c.cap is not None and amount > line.down(c.cap):
        amount, bound = line.down(c.cap), f"component cap {c.cap}"
    if c.floor is not None and amount < line.up(c.floor):
        amount, bound = line.up(c.floor), f"component floor {c.floor}"
    return amount, bound


def _member(ln: Line, kind: str, label: str) -> bool:
    if kind == "cohort":
        return ln.cohort == label
    if kind == "period":
        return ln.period == label
    return ln.outcome if kind == "outcomes" else True


def _groups(limits: Limits, levels: tuple[str, ...]) -> list[tuple[str, str, Decimal]]:
    groups: list[tuple[str, str, Decimal]] = []
    if "cohort" in levels:
        groups += [("cohort", lb, v) for lb, v in limits.cohort]
    if "period" in levels:
        groups += [("period", lb, v) for lb, v in limits.period]
    if "outcomes" in levels and limits.outcomes is not None:
        groups.append(("outcomes", "", limits.outcomes))
    if "total" in levels and limits.total is not None:
        groups.append(("total", "", limits.total))
    return groups


_LEVELS = ("cohort", "period", "outcomes", "total")


def _floor_groups(spec: ContractSpec, ln: Line) -> list[tuple[str, str, Decimal]]:
    """The floors (on the grid) whose groups contain ``ln``."""
    grid = limit_rounder(spec)
    out = [(k, lb, grid.up(v)) for k, lb, v in _groups(spec.floors, _LEVELS)]
    return [g for g in out if _member(ln, g[0], g[1])]


def _gsum(lines: list[Line], kind: str, label: str) -> Decimal:
    return sum((ln.amount for ln in lines if _member(ln, kind, label)), ZERO)


def _cap_group(
    spec: ContractSpec,
    lines: list[Line],
    trimmable: dict[int, Decimal],
    group: tuple[str, str, Decimal],
    name: str,
    protect: bool,
) -> None:
    """Trim one capped group: outcome lines first (last listed first), then fees.

    With ``protect`` (after the floors were applied), a line is trimmed only as far as
    the floors of every group containing it allow; the
    adjustment is booked with the labels and kind of the lines it trims, so every group's
    sum (lines carrying its label) reflects it.
    """
    kind, label, written = group
    grid = limit_rounder(spec)
    limit = grid.down(written)
    excess = _gsum(lines, kind, label) - limit
    if excess <= 0:
        return
    order = sorted(
        (i for i in trimmable if trimmable[i] > 0 and _member(lines[i], kind, label)),
        key=lambda i: (not lines[i].outcome, -i),
    )
    if kind == "outcomes":
        order = [i for i in order if lines[i].outcome]
    level = f"{kind} {label}".strip()
    base = f"{name}:{level.replace(' ', ':')}"
    shown = f"cap {written}" + ("" if limit == written else f" (on the grid: {limit})")
    booked: dict[tuple[bool, str | None, str | None], Line] = {}
    for i in order:
        if excess <= 0:
            break
        ln = lines[i]
        room = trimmable[i]
        for fk, fl, floor in _floor_groups(spec, ln) if protect else ():
            room = min(room, _gsum(lines, fk, fl) - floor)
        cut = min(max(room, ZERO), excess)
        if cut <= 0:
            continue
        trimmable[i] -= cut
        excess -= cut
        key = (ln.outcome, ln.cohort, ln.period)
        if key in booked:
            prev = booked[key]
            idx = lines.index(prev)
            lines[idx] = booked[key] = Line(**{**prev.__dict__, "amount": prev.amount - cut})
            continue
        suffix = "" if ln.outcome else ":fees"
        taken = {b.component for b in booked.values()} | {x.component for x in lines}
        comp = base + suffix
        k = 2
        while comp in taken:
            comp, k = f"{base}{suffix}:{k}", k + 1
        booked[key] = Line(
            component=comp,
            metric="",
            statistic="",
            value=None,
            rule=shown,
            amount=-cut,
            bound=f"{level} cap {written} binds",
            cohort=ln.cohort,
            period=ln.period,
            outcome=ln.outcome,
        )
        lines.append(booked[key])
    if excess > 0:
        raise ContractError(
            f"caps and floors of {spec.info.name!r} cannot all hold on these inputs: the "
            f"{level} cap {written} would cut {excess} from payments protected by floors"
        )


def _floor_group(
    spec: ContractSpec,
    lines: list[Line],
    trimmable: dict[int, Decimal],
    group: tuple[str, str, Decimal],
) -> None:
    """Top a floored group up to its floor (on the grid) with one labelled line."""
    kind, label, written = group
    limit = limit_rounder(spec).up(written)
    deficit = limit - _gsum(lines, kind, label)
    if deficit <= 0:
        return
    members = [ln for ln in lines if _member(ln, kind, label)]
    level = f"{kind} {label}".strip()
    lines.append(
        Line(
            component=f"floor:{level.replace(' ', ':')}",
            metric="",
            statistic="",
            value=None,
            rule=f"floor {written}" + ("" if limit == written else f" (on the grid: {limit})"),
            amount=deficit,
            bound=f"{level} floor {written} binds",
            cohort=label if kind == "cohort" else None,
            period=label if kind == "period" else None,
            outcome=kind == "outcomes" or any(ln.outcome for ln in members),
        )
    )
    trimmable[len(lines) - 1] = deficit


def _apply_limits(spec: ContractSpec, lines: list[Line]) -> None:
    """Caps at every level, floors at every level, then outcome and total caps again."""
    trimmable = {i: ln.amount for i, ln in enumerate(lines) if ln.amount > 0}
    for group in _groups(spec.caps, _LEVELS):
        _cap_group(spec, lines, trimmable, group, "cap", protect=False)
    for group in _groups(spec.floors, _LEVELS):
        _floor_group(spec, lines, trimmable, group)
    for group in _groups(spec.caps, ("outcomes", "total")):
        _cap_group(spec, lines, trimmable, group, "cap", protect=True)


def run(spec: ContractSpec, inputs: dict[str, MetricInput], withhold: str | None = None) -> Outcome:
    """Settle ``spec`` on normalised ``inputs`` (see the module notes for the order).

    ``withhold`` (the reason, from the safeguards) withholds every outcome payment.
    """
    with decimal.localcontext() as ctx:
        ctx.prec = PRECISION
        ctx.rounding = decimal.ROUND_HALF_EVEN
        ctx.traps[decimal.InvalidOperation] = True
        ctx.traps[decimal.Inexact] = False
        try:
            return _run(spec, inputs, withhold)
        except (decimal.InvalidOperation, decimal.Overflow, OverflowError) as exc:
            raise DataValidationError(
                f"`inputs`: the settlement of {spec.info.name!r} exceeds exact decimal "
                f"arithmetic ({PRECISION} digits): an input or contract number is too large "
                f"or too precise ({type(exc).__name__})"
            ) from None


def _run(spec: ContractSpec, inputs: dict[str, MetricInput], withhold: str | None) -> Outcome:
    values = evaluate_metrics(spec, inputs)
    fired = _triggers(spec, values)
    amounts: dict[str, Decimal] = {}
    lines: list[Line] = []
    ordered = [c for c in spec.payments if c.true_up_of is None] + [
        c for c in spec.payments if c.true_up_of is not None
    ]
    round_line = _quantizer(spec, "line")
    for c in ordered:
        amount, bound = _component_amount(spec, c, values, inputs, fired)
        amount = round_line(amount)  # idempotent; gives pending lines the declared digits
        if c.true_up_of is not None and not bound.startswith(("pending", "stopped")):
            interim = amounts[c.true_up_of]
            diff = amount - interim
            if diff < 0 and not c.clawback:
                amount, bound = ZERO, f"true-up of {c.true_up_of}: no clawback of {-diff}"
            else:
                amount = diff
                bound = (
                    f"true-up of {c.true_up_of}: clawback"
                    if diff < 0
                    else f"true-up of {c.true_up_of} ({interim} paid)"
                )
        amounts[c.id] = amount
        used = c.metrics_used()
        first = values[used[0]] if used else None
        lines.append(
            Line(
                component=c.id,
                metric=", ".join(used),
                statistic=" | ".join(values[m].statistic for m in used),
                value=first.value if first is not None and len(used) == 1 else None,
                rule=c.rule,
                amount=amount,
                bound=bound,
                cohort=c.cohort,
                period=c.period,
                outcome=c.outcome,
            )
        )
    order = {c.id: i for i, c in enumerate(spec.payments)}
    lines.sort(key=lambda ln: order[ln.component])
    _apply_limits(spec, lines)
    held = sum((ln.amount for ln in lines if ln.outcome), ZERO)
    if withhold is not None and held > 0:
        lines.append(Line("safeguards:withhold", "", "", None, "withhold", -held, withhold))
    else:
        held = ZERO
    total = sum((ln.amount for ln in lines), ZERO)
    rounded = _quantizer(spec, "total")(total)
    if rounded != total:
        lines.append(
            Line(
                "rounding",
                "",
                "",
                None,
                f"total to {spec.info.rounding}",
                rounded - total,
                spec.info.rounding_mode,
                outcome=False,
            )
        )
    total = rounded
    outcome_total = sum((ln.amount for ln in lines if ln.outcome), ZERO)
    return Outcome(tuple(lines), total, outcome_total, values, fired, held)
