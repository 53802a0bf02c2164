"""Decimal money helpers: rounding to a declared quantum, toward a bound, within range.

A contract's ``rounding`` is a power of ten (``"0.01"``, ``"1"``, ``"100"``). Rounding to it
uses the quantum's *order of magnitude* (``Decimal("100")`` has exponent 0 but means
hundreds), and the result is returned with a non-positive exponent so it prints as plain
digits (``12300``, never ``1.23E+4``).

Caps and floors must hold *after* rounding: :func:`round_down_to` (toward a cap) and
:func:`round_up_to` (toward a floor) give the nearest amount on the quantum's grid that
does not cross the bound.

Every number that enters the engine is bounded by :data:`MAX_MAGNITUDE` so that exact
arithmetic at :data:`PRECISION` significant digits never overflows or loses digits.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

__all__ = [
    "MAX_MAGNITUDE",
    "PRECISION",
    "Rounder",
    "check_magnitude",
    "round_down_to",
    "round_to",
    "round_up_to",
]

#: Largest absolute value accepted for any contract number or settlement input
#: (10^15: a quadrillion units of any currency, or a count far beyond any programme).
MAX_MAGNITUDE = Decimal(10) ** 15
#: Significant digits of the engine's decimal context: products of two bounded numbers
#: (<= 10^30) quantized to 10^-6 need 37 digits; 60 leaves ample room.
PRECISION = 60


def _grid(quantum: Decimal) -> Decimal:
    """The quantum as ``1E<exponent>`` (``Decimal("100")`` -> ``1E+2``)."""
    return Decimal(1).scaleb(quantum.adjusted())


def round_to(x: Decimal, quantum: Decimal, mode: str) -> Decimal:
    """``x`` rounded to a multiple of ``quantum`` (a power of ten) with ``mode``."""
    grid = _grid(quantum)
    with decimal.localcontext() as ctx:
        ctx.prec = PRECISION
        out = x.quantize(grid, rounding=mode)
        if grid.as_tuple().exponent > 0:  # type: ignore[operator]
            out = out.quantize(Decimal(1))
    return out


def round_down_to(x: Decimal, quantum: Decimal) -> Decimal:
    """The largest multiple of ``quantum`` not above ``x`` (for caps)."""
    return round_to(x, quantum, decimal.ROUND_FLOOR)


def round_up_to(x: Decimal, quantum: Decimal) -> Decimal:
    """The smallest multiple of ``quantum`` not below ``x`` (for floors)."""
    return round_to(x, quantum, decimal.ROUND_CEILING)


def check_magnitude(value: Decimal, what: str, error: type[Exception]) -> Decimal:
    """``value`` unchanged, or ``error`` when ``|value|`` exceeds :data:`MAX_MAGNITUDE`."""
    if abs(value) > MAX_MAGNITUDE:
        raise error(
            f"`{what}` = {value:.6E} is out of range: numbers in contracts and settlement "
            f"inputs must be at most {MAX_MAGNITUDE:.0E} in absolute value"
        )
    return value


class Rounder:
    """Rounding at one declared point of a contract (identity when not declared there).

    Parameters
    ----------
    quantum : Decimal or None
        The contract's rounding quantum; None: this point does not round.
    mode : str
        A :mod:`decimal` rounding mode name.
    """

    def __init__(self, quantum: Decimal | None, mode: str) -> None:
        self.quantum = quantum
        self.mode = mode

    @property
    def active(self) -> bool:
        """Whether this point rounds at all."""
        return self.quantum is not None

    def __call__(self, x: Decimal) -> Decimal:
        return x if self.quantum is None else round_to(x, self.quantum, self.mode)

    def down(self, x: Decimal) -> Decimal:
        """Toward a cap: the grid value at or below ``x``."""
        return x if self.quantum is None else round_down_to(x, self.quantum)

    def up(self, x: Decimal) -> Decimal:
        """Toward a floor: the grid value at or above ``x``."""
        return x if self.quantum is None else round_up_to(x, self.quantum)
