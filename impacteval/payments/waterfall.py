"""Investor waterfall: principal drawn, outcome payments, IRR cap, guarantee, first loss.

Cash flows are dated; the IRR solves ``XNPV(r) = sum_i cf_i (1 + r)^(-(t_i - t_0) / 365)
= 0`` with :func:`scipy.optimize.brentq` (actual/365 day count, as spreadsheet XIRR).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from scipy import optimize

from impacteval.exceptions import DataValidationError
from impacteval.payments.inputs import to_decimal

__all__ = ["InvestorOutcome", "irr", "irr_cap_amount", "waterfall", "xnpv"]

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


def irr_cap_amount(
    principal: Decimal, drawn_on: dt.date, paid_on: dt.date, irr_cap: Decimal
) -> Decimal:
    """Largest single repayment at ``paid_on`` whose IRR does not exceed ``irr_cap``.

    ``principal * (1 + cap) ** (days / 365)``, rounded down to the cent.
    """
    years = (paid_on - drawn_on).days / 365.0
    growth = to_decimal((1.0 + float(irr_cap)) ** years)
    return (principal * growth).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


@dataclass(frozen=True)
class InvestorOutcome:
    """Who ends up with what.

    Attributes
    ----------
    principal : Decimal
        Capital drawn from investors.
    outcome_payments : Decimal
        Outcome payments due under the contract.
    paid_to_investors : Decimal
        Outcome payments passed to investors (after the IRR cap).
    retained_by_payer : Decimal
        Payments not made because of the IRR cap.
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
        Annual IRR of the investors' flows, when dates are known.
    bound : str
        "IRR cap" when the cap bound, else "".
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

    def to_dict(self) -> dict[str, str | float | None]:
        """Plain dict (Decimals as strings)."""
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in self.__dict__.items()}


def waterfall(
    principal: Decimal,
    payments: Decimal,
    *,
    guarantee: Decimal = ZERO,
    first_loss: Decimal = ZERO,
    irr_cap: Decimal | None = None,
    drawn_on: dt.date | None = None,
    paid_on: dt.date | None = None,
) -> InvestorOutcome:
    """Split outcome payments between investors, guarantor and payer.

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
        Maximum investor IRR; payments above the amount that yields it are retained.
    drawn_on, paid_on : datetime.date, optional
        Single draw and single repayment dates (for the IRR and its cap).

    Returns
    -------
    InvestorOutcome

    Notes
    -----
    One draw, one repayment. Multi-date flows: use :func:`irr` directly. The guarantee
    covers principal only (not a return); losses hit the first-loss tranche first.

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
    paid, bound = payments, ""
    if irr_cap is not None:
        if drawn_on is None or paid_on is None:
            raise DataValidationError("`irr_cap` needs `drawn_on` and `paid_on`")
        ceiling = irr_cap_amount(principal, drawn_on, paid_on, irr_cap)
        if paid > ceiling:
            paid, bound = ceiling, "IRR cap"
    shortfall = max(principal - paid, ZERO)
    guarantee_paid = min(guarantee, shortfall)
    loss = shortfall - guarantee_paid
    absorbed = min(first_loss, loss)
    received = paid + guarantee_paid
    rate = None
    if drawn_on is not None and paid_on is not None and received > 0:
        rate = irr([(drawn_on, -principal), (paid_on, received)])
    return InvestorOutcome(
        principal=principal,
        outcome_payments=payments,
        paid_to_investors=paid,
        retained_by_payer=payments - paid,
        guarantee_paid=guarantee_paid,
        first_loss_absorbed=absorbed,
        investor_loss=loss,
        senior_loss=loss - absorbed,
        multiple=received / principal,
        irr=rate,
        bound=bound,
    )
