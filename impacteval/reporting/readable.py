"""Numbers a person reads: money, shares, effects, counts; tables of strings for display.

Reports show these strings instead of raw floats and Decimals: money with thousands
separators and the currency code, shares as percentages, effects to a few significant
digits, counts as integers with separators. Nothing here changes a number, only how it is
written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import pandas as pd

__all__ = ["count", "money", "number", "percent", "readable_frame"]


def money(amount: Decimal | float | int | None, currency: str, decimals: int = 2) -> str:
    """``"GBP 6,520,000.00"``; None -> ``"n/a"``.

    Examples
    --------
    >>> money(Decimal("3580000.00"), "GBP")
    'GBP 3,580,000.00'
    >>> money(422000, "USD", 0)
    'USD 422,000'
    """
    if amount is None:
        return "n/a"
    value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    return f"{currency} {value:,.{decimals}f}"


def percent(share: float | Decimal | None, digits: int = 1) -> str:
    """``0.179 -> "17.9%"``; None or NaN -> ``"n/a"``.

    Examples
    --------
    >>> percent(0.0190336749)
    '1.9%'
    """
    if share is None:
        return "n/a"
    x = float(share)
    if not math.isfinite(x):
        return "n/a"
    return f"{100 * x:.{digits}f}%"


def number(x: float | Decimal | None, digits: int = 3) -> str:
    """A float to ``digits`` significant digits with thousands separators.

    Examples
    --------
    >>> number(-23.598820058997045)
    '-23.6'
    >>> number(131.56342182890853, 5)
    '131.56'
    >>> number(5592.0)
    '5,592'
    """
    if x is None:
        return "n/a"
    v = float(x)
    if not math.isfinite(v):
        return "n/a"
    if v == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(v)))
    decimals = max(digits - 1 - magnitude, 0)
    text = f"{v:,.{decimals}f}"
    if "." in text:  # significant digits, not padding: 0.003000 -> 0.003
        text = text.rstrip("0").rstrip(".")
    return text


def count(n: int | float | None) -> str:
    """An integer count with separators (``21,000``)."""
    if n is None or (isinstance(n, float) and not math.isfinite(n)):
        return "n/a"
    return f"{int(n):,}"


def _cell(value: Any, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return count(value)
    if isinstance(value, float | Decimal):
        v = float(value)
        if not math.isfinite(v):
            return ""
        if v == int(v) and abs(v) >= 1 and isinstance(value, float) and abs(v) < 1e15:
            return count(v)
        return number(v, digits)
    if isinstance(value, Mapping | list | tuple):
        return ", ".join(str(v) for v in (value.values() if isinstance(value, Mapping) else value))
    return str(value)


def _p_cell(value: object, digits: int) -> str:
    """A p-value cell: below 0.0001 written as ``"< 0.0001"``."""
    if isinstance(value, float | Decimal) and math.isfinite(float(value)):
        if 0 <= float(value) < 1e-4:
            return "< 0.0001"
    return _cell(value, digits)


def readable_frame(
    frame: pd.DataFrame,
    *,
    digits: int = 4,
    percent_columns: Iterable[str] = (),
    keep: Iterable[str] = (),
) -> pd.DataFrame:
    """A copy of ``frame`` with every cell written for a reader (strings).

    Floats get ``digits`` significant digits, integers separators, columns in
    ``percent_columns`` become percentages, a ``p_value`` column below 0.0001 reads
    ``"< 0.0001"``, missing values are blank, columns in ``keep`` are left as they are.

    Examples
    --------
    >>> readable_frame(pd.DataFrame({"p": [0.0123456], "n": [1200]}), percent_columns=["p"])
          p      n
    0  1.2%  1,200
    """
    pct = set(percent_columns)
    kept = set(keep)
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        if col in kept:
            out[col] = frame[col]
        elif col in pct:
            out[col] = [percent(v) if v is not None else "" for v in frame[col]]
        elif col == "p_value":  # a tiny p-value is "< 0.0001", not a run of zeros
            out[col] = [_p_cell(v, digits) for v in frame[col].tolist()]
        else:
            out[col] = [_cell(v, digits) for v in frame[col].tolist()]
    return out
