"""Investor waterfall: principal drawn, outcome payments, IRR cap, guarantee, first loss.

Cash flows are dated; the IRR solves ``XNPV(r) = sum_i cf_i (1 + r)^(-(t_i - t_0) / 365)
= 0`` with :func:`scipy.optimize.brentq` (actual/365 day count, as spreadsheet XIRR).

The IRR cap is applied through a capped account: every draw is added to it, the account
grows at the cap rate between dates, and each payment passes to investors only up to the
account's balance (rounded down to the cent); the rest is the excess, retained by the
payer or paid to a charity as the contract says. The investors' flows then have an IRR of
at most the cap, exactly the cap when it binds (up to the cent rounding). With one draw
and one payment this is ``principal * (1 + cap) ** (days / 365)``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal
from typing import Any

from scipy import optimize

from impacteval.exceptions import DataValidationError
from impacteval.payments.engine import Line

__all__ = [
    "InvestorOutcome",
    "dated_payments",
    "dated_waterfall",
    "irr",
    "irr_cap_amount",
    "waterfall",
    "xnpv",
]

ZERO = Decimal(0)
CashFlows = Sequence[tuple[dt.date, Decimal | float | int]]


def xnpv(rate: float, flows: CashFlows) -> float:
    """Net present value at ``rate`` of dated flows (actual/365 from the first date)."""
    t0 = min(d for d, _ in flows)
    return float(sum(float(cf) / (1.0 + rate) ** ((d - t0).days / 365.0) for d, cf in flows))


def irr(flows: CashFlows) -> float:
    """Internal rate of return of dated cash flows (annual, actual/365).

    Raises
    ------
    DataValidationError
        When the flows do not change sign (no IRR exists).

    Examples
    --------
    >>> import datetime as dt
    >>> round(irr([(dt.date(2021, 1, 1), -100), (dt.date(2022, 1, 1), 110)]), 6)
    0.1
    """
    signs = {math.copysign(1.0, float(cf)) for _, cf in flows if float(cf) != 0}
    if signs != {1.0, -1.0}:
        raise DataValidationError("`flows` must contain both outflows and inflows for an IRR")
    lo, hi = -0.999999, 1.0
    while xnpv(hi, flows) * xnpv(lo, flows) > 0 and hi < 1e6:
        hi *= 10.0
    return float(optimize.brentq(xnpv, lo, hi, args=(flows,), xtol=1e-12, maxiter=500))


CENT = Decimal("0.01")


def _growth(rate: Decimal, days: int) -> Decimal:
    """``(1 + rate) ** (days / 365)`` in 34-digit decimal arithmetic."""
    with decimal.localcontext() as ctx:
        ctx.prec = 34
        return (Decimal(1) + rate) ** (Decimal(days) / Decimal(365))


def irr_cap_amount(
    principal: Decimal, drawn_on: dt.date, paid_on: dt.date, irr_cap: Decimal
) -> Decimal:
    """Largest single repayment at ``paid_on`` whose IRR does not exceed ``irr_cap``.

    ``principal * (1 + cap) ** (days / 365)``, rounded down to the cent.

    Examples
    --------
    >>> import datetime as dt
    >>> from decimal import Decimal as D
    >>> irr_cap_amount(D("1000000"), dt.date(2021, 1, 1), dt.date(2022, 1, 1), D("0.15"))
    Decimal('1150000.00')
    """
    growth = _growth(irr_cap, (paid_on - drawn_on).days)
    return (principal * growth).quantize(CENT, rounding=ROUND_DOWN)


@dataclass(frozen=True)
class InvestorOutcome:
    """Who ends up with what.

    Attributes
    ----------
    principal : Decimal
        Capital drawn from investors (the sum of the draws).
    outcome_payments : Decimal
        Outcome payments due under the contract.
    paid_to_investors : Decimal
        Outcome payments passed to investors (after the IRR cap).
    retained_by_payer : Decimal
        Payments not made because of the IRR cap (``excess_to = "payer"``).
    guarantee_paid : Decimal
        Paid by the guarantor towards the shortfall ``principal - paid_to_investors``.
    first_loss_absorbed : Decimal
        Loss borne by the first-loss (subordinated) tranche.
    investor_loss : Decimal
        Capital not returned after the guarantee (all tranches).
    senior_loss : Decimal
        Part of ``investor_loss`` borne by senior investors.
    multiple : Decimal
        ``(paid_to_investors + guarantee_paid) / principal``.
    irr : float or None
        Annual IRR (XIRR, actual/365) of the investors' dated flows; None without dates
        or when investors receive nothing.
    bound : str
        "IRR cap" when the cap bound, else "".
    paid_to_charity : Decimal
        The excess over the IRR cap when the contract sends it to a charity.
    excess_to : str
        "payer" or "charity".
    flows : tuple
        The investors' dated flows ``((date, amount), ...)``: draws negative, payments
        passed and the guarantee (on the last date) positive; empty when undated.
    """

    principal: Decimal
    outcome_payments: Decimal
    paid_to_investors: Decimal
    retained_by_payer: Decimal
    guarantee_paid: Decimal
    first_loss_absorbed: Decimal
    investor_loss: Decimal
    senior_loss: Decimal
    multiple: Decimal
    irr: float | None
    bound: str = ""
    paid_to_charity: Decimal = ZERO
    excess_to: str = "payer"
    flows: tuple[tuple[dt.date, Decimal], ...] = ()

    @property
    def excess(self) -> Decimal:
        """Outcome payments above the IRR cap (to the payer or a charity)."""
        return self.retained_by_payer + self.paid_to_charity

    def to_dict(self) -> dict[str, object]:
        """Plain dict (Decimals as strings, flows as ``[[iso date, amount], ...]``)."""
        out: dict[str, object] = {
            k: (str(v) if isinstance(v, Decimal) else v)
            for k, v in self.__dict__.items()
            if k != "flows"
        }
        out["flows"] = [[d.isoformat(), str(a)] for d, a in self.flows]
        return out


def _by_date(flows: Sequence[tuple[dt.date, Decimal]]) -> list[tuple[dt.date, Decimal]]:
    out: dict[dt.date, Decimal] = {}
    for d, a in flows:
        out[d] = out.get(d, ZERO) + a
    return sorted(out.items())


def _split(
    principal: Decimal,
    payments: Decimal,
    passed: Decimal,
    guarantee: Decimal,
    first_loss: Decimal,
) -> InvestorOutcome:
    shortfall = max(principal - passed, ZERO)
    guarantee_paid = min(guarantee, shortfall)
    loss = shortfall - guarantee_paid
    absorbed = min(first_loss, loss)
    return InvestorOutcome(
        principal=principal,
        outcome_payments=payments,
        paid_to_investors=passed,
        retained_by_payer=payments - passed,
        guarantee_paid=guarantee_paid,
        first_loss_absorbed=absorbed,
        investor_loss=loss,
        senior_loss=loss - absorbed,
        multiple=(passed + guarantee_paid) / principal,
        irr=None,
    )


def dated_waterfall(
    draws: Sequence[tuple[dt.date, Decimal]],
    payments: Sequence[tuple[dt.date, Decimal]],
    *,
    guarantee: Decimal = ZERO,
    first_loss: Decimal = ZERO,
    irr_cap: Decimal | None = None,
    excess_to: str = "payer",
) -> InvestorOutcome:
    """Split dated outcome payments between investors, guarantor, payer and charity.

    Parameters
    ----------
    draws : sequence of (date, Decimal)
        Capital drawn from investors, by date (amounts > 0).
    payments : sequence of (date, Decimal)
        Outcome payments by date (a negative amount is a clawback repaid by investors).
    guarantee : Decimal, optional
        Guarantor's maximum contribution towards unrecovered principal, paid on the last
        date of the flows.
    first_loss : Decimal, optional
        Subordinated tranche that absorbs losses before senior investors.
    irr_cap : Decimal, optional
        Maximum investor IRR, applied through the capped account (module notes).
    excess_to : {"payer", "charity"}
        Who receives payments above the cap: the payer keeps them, or the payer pays them
        to a charity.

    Returns
    -------
    InvestorOutcome

    Examples
    --------
    >>> import datetime as dt
    >>> from decimal import Decimal as D
    >>> w = dated_waterfall(
    ...     [(dt.date(2021, 1, 1), D("100")), (dt.date(2022, 1, 1), D("100"))],
    ...     [(dt.date(2023, 1, 1), D("250"))],
    ...     irr_cap=D("0.10"),
    ... )
    >>> w.paid_to_investors, w.retained_by_payer  # 100 x 1.1^2 + 100 x 1.1
    (Decimal('231.00'), Decimal('19.00'))
    >>> round(w.irr, 6)
    0.1
    """
    if not draws:
        raise DataValidationError("`draws` must list at least one draw")
    if any(a <= 0 for _, a in draws):
        raise DataValidationError(f"`draws` amounts must be > 0; received {list(draws)}")
    if excess_to not in ("payer", "charity"):
        raise DataValidationError(f'`excess_to` must be "payer" or "charity"; got {excess_to!r}')
    total = sum((a for _, a in payments), ZERO)
    if total < 0:
        raise DataValidationError(f"`payments` must sum to >= 0; they sum to {total}")
    principal = sum((a for _, a in draws), ZERO)
    drawn = _by_date(draws)
    paid = _by_date(payments)
    events = sorted({d for d, _ in drawn} | {d for d, _ in paid})
    drawn_map, paid_map = dict(drawn), dict(paid)
    account, last = ZERO, events[0]
    passed_flows: list[tuple[dt.date, Decimal]] = []
    bound = ""
    for day in events:
        if irr_cap is not None:
            account *= _growth(irr_cap, (day - last).days)
        last = day
        account += drawn_map.get(day, ZERO)
        if day not in paid_map:
            continue
        amount = paid_map[day]
        if irr_cap is not None and amount > 0:
            room = max(account, ZERO).quantize(CENT, rounding=ROUND_DOWN)
            if amount > room:
                amount, bound = room, "IRR cap"
        account -= amount
        passed_flows.append((day, amount))
    passed = sum((a for _, a in passed_flows), ZERO)
    parts = _split(principal, total, passed, guarantee, first_loss)
    flows = [(d, -a) for d, a in drawn] + passed_flows
    if parts.guarantee_paid > 0:
        flows.append((events[-1], parts.guarantee_paid))
    flows = _by_date(flows)
    received = passed + parts.guarantee_paid
    rate = None
    if received > 0 and any(a > 0 for _, a in flows) and any(a < 0 for _, a in flows):
        rate = irr(flows)
    excess = total - passed
    return replace(
        parts,
        retained_by_payer=excess if excess_to == "payer" else ZERO,
        paid_to_charity=excess if excess_to == "charity" else ZERO,
        excess_to=excess_to,
        irr=rate,
        bound=bound,
        flows=tuple(flows),
    )


def waterfall(
    principal: Decimal,
    payments: Decimal,
    *,
    guarantee: Decimal = ZERO,
    first_loss: Decimal = ZERO,
    irr_cap: Decimal | None = None,
    drawn_on: dt.date | None = None,
    paid_on: dt.date | None = None,
    excess_to: str = "payer",
) -> InvestorOutcome:
    """Split outcome payments between investors, guarantor and payer (one draw, one payment).

    Parameters
    ----------
    principal : Decimal
        Capital drawn.
    payments : Decimal
        Outcome payments due.
    guarantee : Decimal, optional
        Guarantor's maximum contribution towards unrecovered principal.
    first_loss : Decimal, optional
        Size of a subordinated tranche that absorbs losses before senior investors.
    irr_cap : Decimal, optional
        Maximum investor IRR; payments above the amount that yields it are the excess.
    drawn_on, paid_on : datetime.date, optional
        Single draw and single repayment dates (for the IRR and its cap).
    excess_to : {"payer", "charity"}
        Who receives the excess over the IRR cap.

    Returns
    -------
    InvestorOutcome

    Notes
    -----
    Several draws or payment dates: :func:`dated_waterfall`. The guarantee covers
    principal only (not a return); losses hit the first-loss tranche first.

    Examples
    --------
    >>> from decimal import Decimal as D
    >>> w = waterfall(D("7200000"), D("0"), guarantee=D("6000000"))
    >>> w.guarantee_paid, w.investor_loss
    (Decimal('6000000'), Decimal('1200000'))
    """
    if principal <= 0:
        raise DataValidationError(f"`principal` must be > 0; received {principal}")
    if payments < 0:
        raise DataValidationError(f"`payments` must be >= 0; received {payments}")
    if drawn_on is not None and paid_on is not None:
        return dated_waterfall(
            [(drawn_on, principal)],
            [(paid_on, payments)],
            guarantee=guarantee,
            first_loss=first_loss,
            irr_cap=irr_cap,
            excess_to=excess_to,
        )
    if irr_cap is not None:
        raise DataValidationError("`irr_cap` needs `drawn_on` and `paid_on`")
    return _split(principal, payments, payments, guarantee, first_loss)


def dated_payments(
    lines: Sequence[Line],
    components: Collection[str],
    dates: Mapping[str, dt.date],
    default: dt.date | None,
) -> list[tuple[dt.date, Decimal]]:
    """Date the outcome lines of a settlement (investors are paid outcome payments only).

    A component line is paid on ``dates[component]`` (else ``default``). An adjustment
    line (cohort, period, outcome or total cap or floor; a safeguard withholding) has no
    date of its own: a cap or withholding cuts the latest payments of the lines it covers
    first (the payments that would have exceeded it are the ones not made); a floor tops
    up on the latest date it covers.
    """
    own: list[list[Any]] = []  # [date, amount, line], mutable amounts
    for ln in lines:
        if ln.outcome and ln.component in components:
            when = dates.get(ln.component, default)
            if when is None:
                raise DataValidationError(f"`investment`: no payment date for {ln.component!r}")
            own.append([when, ln.amount, ln])
    for ln in lines:
        if not ln.outcome or ln.component in components:
            continue
        covered = [
            row
            for row in own
            if (ln.cohort is None or row[2].cohort == ln.cohort)
            and (ln.period is None or row[2].period == ln.period)
        ]
        covered.sort(key=lambda row: row[0], reverse=True)
        if not covered:
            covered = sorted(own, key=lambda row: row[0], reverse=True)[:1]
        if not covered:
            continue
        if ln.amount > 0:
            covered[0][1] += ln.amount
            continue
        cut = -ln.amount
        for row in covered:
            take = min(max(row[1], ZERO), cut)
            row[1] -= take
            cut -= take
        covered[-1][1] -= cut  # only when the covered lines were already below zero
    return [(row[0], row[1]) for row in own]
