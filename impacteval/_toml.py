"""Reading TOML tables with typed getters and clear refusals (contracts, report specs).

:class:`TomlTable` wraps one parsed TOML table: ``get``/``need`` convert values with a
``(value, key path) -> typed value`` converter, and ``finish`` refuses unknown keys with a
suggestion for the nearest allowed one. Subclasses choose the error class raised. Nothing
read here is ever evaluated.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

__all__ = ["TomlTable", "did_you_mean", "kind_of", "short"]

T = TypeVar("T")
U = TypeVar("U")


def short(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def kind_of(value: object) -> str:
    """The TOML name of a parsed value's type (table, array, string, ...)."""
    names = {
        Decimal: "float",
        float: "float",
        dict: "table",
        list: "array",
        str: "string",
        bool: "boolean",
    }
    return names.get(type(value), type(value).__name__)


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest option, or ``""``."""
    close = difflib.get_close_matches(name, sorted(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class TomlTable:
    """One TOML table being read: typed getters, and a check for unknown keys at the end."""

    error: ClassVar[type[Exception]] = ValueError
    truncate: ClassVar[bool] = True  # show a non-table value cut to 60 characters

    def __init__(self, raw: object, path: str) -> None:
        if not isinstance(raw, dict):
            shown = short(raw) if self.truncate else repr(raw)
            raise self.error(f"`{path}` must be a table; received {kind_of(raw)} {shown}")
        self.raw: dict[str, Any] = raw
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, conv: Callable[[object, str], T], default: U) -> T | U:
        self.used.add(name)
        if name not in self.raw:
            return default
        return conv(self.raw[name], self.key(name))

    def need(self, name: str, conv: Callable[[object, str], T]) -> T:
        self.used.add(name)
        if name not in self.raw:
            raise self.error(f"`{self.key(name)}` is required but missing")
        return conv(self.raw[name], self.key(name))

    def finish(self, extra_allowed: Iterable[str] = ()) -> None:
        allowed = self.used | set(extra_allowed)
        for name in self.raw:
            if name not in allowed:
                raise self.error(
                    f"`{self.key(name)}`: unknown key{did_you_mean(name, allowed)} "
                    f"(allowed here: {sorted(allowed)})"
                )
