"""Typed readers for contract TOML values: ``(value, key path) -> typed value``.

Every refusal is a :class:`ContractError` naming the key path. Numbers arrive as ``int`` or
``Decimal`` (``tomllib.loads(..., parse_float=Decimal)``) or as numeric strings; money
keeps the digits written in the contract. :class:`Table` reads one TOML table and refuses
unknown keys with a suggestion for the nearest allowed one.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from impacteval._toml import TomlTable, kind_of, short
from impacteval.payments.errors import ContractError
from impacteval.payments.money import check_magnitude

__all__ = [
    "Table",
    "as_bool",
    "as_date",
    "as_dec",
    "as_ident",
    "as_int",
    "as_level",
    "as_money_map",
    "as_nonneg",
    "as_positive",
    "as_quantum",
    "as_share",
    "as_str",
    "as_weights",
    "choice",
    "kind_of",
    "list_of",
    "short",
]

T = TypeVar("T")
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Table(TomlTable):
    """One contract TOML table: typed getters; refusals are :class:`ContractError`."""

    error = ContractError


# -- converters (value, key path) -> typed value ------------------------------------------
def as_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ContractError(f"`{path}` must be a string; received {kind_of(value)} {short(value)}")
    return value


def as_ident(value: object, path: str) -> str:
    text = as_str(value, path)
    if not _ID.match(text):
        raise ContractError(f"`{path}` must be an identifier (letters, digits, _); got {text!r}")
    return text


def as_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise ContractError(f"`{path}` must be true or false; received {kind_of(value)}")
    return value


def as_int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ContractError(f"`{path}` must be a non-negative integer; received {short(value)}")
    return value


def as_dec(value: object, path: str) -> Decimal:
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
        raise ContractError(f"`{path}` must be a number; received {kind_of(value)} {short(value)}")
    if not out.is_finite():
        raise ContractError(f"`{path}` must be finite; received {value!r}")
    return check_magnitude(out, path, ContractError)


def as_nonneg(value: object, path: str) -> Decimal:
    out = as_dec(value, path)
    if out < 0:
        raise ContractError(
            f"`{path}` must be >= 0 (money and prices are never negative); received {out}"
        )
    return out


def as_positive(value: object, path: str) -> Decimal:
    out = as_dec(value, path)
    if out <= 0:
        raise ContractError(f"`{path}` must be > 0; received {out}")
    return out


def as_share(value: object, path: str) -> Decimal:
    out = as_dec(value, path)
    if not 0 <= out <= 1:
        raise ContractError(f"`{path}` must be a share between 0 and 1; received {out}")
    return out


def as_level(value: object, path: str) -> float:
    out = as_dec(value, path)
    if not 0 < out < 1:
        raise ContractError(
            f"`{path}` must be a confidence level strictly between 0 and 1 "
            f"(e.g. 0.95); received {out}"
        )
    return float(out)


def choice(options: tuple[str, ...]) -> Callable[[object, str], str]:
    def conv(value: object, path: str) -> str:
        text = as_str(value, path)
        if text not in options:
            close = difflib.get_close_matches(text, options, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ContractError(f"`{path}` must be one of {list(options)}; got {text!r}{hint}")
        return text

    return conv


def as_date(value: object, path: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ContractError(
        f'`{path}` must be a date (TOML 2015-06-01 or the string "2015-06-01"); '
        f"received {kind_of(value)} {short(value)}"
    )


def list_of(conv: Callable[[object, str], T]) -> Callable[[object, str], tuple[T, ...]]:
    def inner(value: object, path: str) -> tuple[T, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ContractError(f"`{path}` must be an array; received {kind_of(value)}")
        return tuple(conv(v, f"{path}[{i}]") for i, v in enumerate(value))

    return inner


def as_weights(value: object, path: str) -> tuple[tuple[str, Decimal], ...]:
    table = Table(value, path)
    out = tuple((k, as_positive(v, table.key(k))) for k, v in table.raw.items())
    if not out:
        raise ContractError(f"`{path}` must name at least one metric")
    total = sum((w for _, w in out), Decimal(0))
    if total != 1:
        raise ContractError(f"`{path}`: weights must sum to exactly 1; they sum to {total}")
    return out


def as_money_map(value: object, path: str) -> tuple[tuple[str, Decimal], ...]:
    table = Table(value, path)
    return tuple((str(k), as_nonneg(v, table.key(str(k)))) for k, v in table.raw.items())


def as_quantum(value: object, path: str) -> Decimal:
    out = as_positive(value, path)
    if out != Decimal(1).scaleb(out.adjusted()):
        raise ContractError(f'`{path}` must be a power of ten such as "0.01" or "1"; got {out}')
    if not -12 <= out.adjusted() <= 12:
        raise ContractError(f"`{path}` must be between 1e-12 and 1e12; got {out}")
    return out
