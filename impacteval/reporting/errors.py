"""Errors raised while reading a report spec or building a report."""

from __future__ import annotations

from impacteval.exceptions import ImpactEvalError

__all__ = ["ReportExecutionError", "ReportSpecError"]


class ReportSpecError(ImpactEvalError, ValueError):
    """A report spec (TOML) is malformed, or does not fit its data or contract.

    The message names the key path (e.g. ``columns.outcome``), says what was expected and
    what was received and, for a misspelt key or column, suggests the right one. Raised
    before any notebook is written.
    """


class ReportExecutionError(ImpactEvalError, RuntimeError):
    """The report notebook was written but one of its cells failed when executed.

    The partly executed notebook is kept (its path is in the message) so the failing cell
    can be read and re-run.
    """
