"""The ``[investment]`` table: principal or dated draws, payment dates, guarantee, IRR cap.

Backwards compatible: ``principal`` with an optional single ``drawn_on`` / ``paid_on`` is
one draw and one payment date; ``draws = [{date, amount}, ...]`` draws in tranches
(``principal``, if given, must equal their sum); ``payments_on = {component = date}`` dates
individual outcome components, the others are paid on ``paid_on``. Cross-references to the
payment components are checked in :mod:`impacteval.payments.validate`.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from impacteval.payments.convert import (
    Table,
    as_date,
    as_ident,
    as_nonneg,
    as_positive,
    as_str,
    choice,
    list_of,
)
from impacteval.payments.errors import ContractError
from impacteval.payments.schema import EXCESS_TO, Draw, Investment

__all__ = ["read_investment"]


def _draw(value: object, path: str) -> Draw:
    t = Table(value, path)
    out = Draw(date=t.need("date", as_date), amount=t.need("amount", as_positive))
    t.finish()
    return out


def _dates(value: object, path: str) -> tuple[tuple[str, dt.date], ...]:
    t = Table(value, path)
    return tuple((as_ident(k, t.key(k)), as_date(v, t.key(k))) for k, v in t.raw.items())


_INVESTMENT_KEYS = (
    "principal",
    "guarantee",
    "first_loss",
    "irr_cap",
    "drawn_on",
    "paid_on",
    "draws",
    "payments_on",
    "excess_to",
    "source",
)


def read_investment(raw: object) -> Investment:
    """Read and check the ``[investment]`` table."""
    t = Table(raw, "investment")
    t.finish(_INVESTMENT_KEYS)  # unknown keys (typos) first, before any semantic check
    no_draws: tuple[Draw, ...] = ()
    draws = t.get("draws", list_of(_draw), no_draws)
    drawn_on = t.get("drawn_on", as_date, None)
    principal = t.get("principal", as_nonneg, None)
    if draws and drawn_on is not None:
        raise ContractError("`investment.draws` and `investment.drawn_on` are exclusive")
    if principal is None and not draws:
        raise ContractError("`investment.principal` is required but missing (or give `draws`)")
    drawn = sum((d.amount for d in draws), Decimal(0))
    if draws and principal is not None and principal != drawn:
        raise ContractError(
            f"`investment.principal` ({principal}) must equal the sum of "
            f"`investment.draws` ({drawn}); omit it to use the sum"
        )
    principal = drawn if principal is None else principal
    if drawn_on is not None:
        draws = (Draw(drawn_on, principal),)
    out = Investment(
        principal=principal,
        guarantee=t.get("guarantee", as_nonneg, Decimal(0)),
        first_loss=t.get("first_loss", as_nonneg, Decimal(0)),
        irr_cap=t.get("irr_cap", as_nonneg, None),
        drawn_on=drawn_on,
        paid_on=t.get("paid_on", as_date, None),
        draws=draws,
        payments_on=t.get("payments_on", _dates, ()),
        excess_to=t.get("excess_to", choice(EXCESS_TO), "payer"),
        source=t.get("source", as_str, ""),
    )
    t.finish()
    if out.irr_cap is not None and not draws:
        raise ContractError(
            "`investment.irr_cap` needs dated flows: `drawn_on` (or `draws`) and `paid_on` "
            "(or `payments_on`)"
        )
    if "excess_to" in t.raw and out.irr_cap is None:
        raise ContractError("`investment.excess_to` only applies with `investment.irr_cap`")
    if out.first_loss > out.principal:
        raise ContractError("`investment.first_loss` exceeds `investment.principal`")
    if not draws and (out.paid_on is not None or out.payments_on):
        key = "paid_on" if out.paid_on is not None else "payments_on"
        raise ContractError(
            f"`investment.{key}` needs the draw dates: `investment.drawn_on` or `draws`"
        )
    if draws and out.paid_on is None and not out.payments_on:
        raise ContractError(
            "`investment.drawn_on` / `draws` need payment dates: `investment.paid_on` "
            "and / or `payments_on`"
        )
    for i, (a, b) in enumerate(itertools.pairwise(draws)):
        if b.date <= a.date:
            raise ContractError(
                f"`investment.draws[{i + 1}].date` ({b.date}) must be after the previous "
                f"draw ({a.date})"
            )
    first = draws[0].date if draws else None
    dated = [("paid_on", out.paid_on)] + [(f"payments_on.{k}", d) for k, d in out.payments_on]
    for key, when in dated:
        if first is not None and when is not None and when <= first:
            what = "`investment.drawn_on`" if drawn_on is not None else "the first draw"
            raise ContractError(f"`investment.{key}` ({when}) must be after {what} ({first})")
    return out
