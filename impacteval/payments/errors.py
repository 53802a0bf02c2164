"""The error raised for an invalid contract."""

from __future__ import annotations

from impacteval.exceptions import ImpactEvalError

__all__ = ["ContractError"]


class ContractError(ImpactEvalError, ValueError):
    """A contract (TOML) is malformed or inconsistent.

    The message names the key path (e.g. ``metrics.learning.target``), says what was
    expected and what was received and, for a misspelt key, suggests the right one.
    """
