"""Exceptions and warnings raised by impacteval.

Every exception derives from :class:`ImpactEvalError` *and* from the builtin a user would
naturally catch (``ValueError``, ``KeyError``, ...), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "ConvergenceError",
    "ConvergenceWarning",
    "DataUnavailableError",
    "DataValidationError",
    "ImpactEvalError",
    "ImpactEvalWarning",
    "MissingColumnError",
    "MissingDataWarning",
    "NumericalError",
    "SmallSampleWarning",
]


class ImpactEvalError(Exception):
    """Base class of every error raised by impacteval."""


class DataValidationError(ImpactEvalError, ValueError):
    """User input (data or an argument) is not what the function expects.

    The message names the parameter, says what was expected and what was received.
    """


class MissingColumnError(DataValidationError, KeyError):
    """A column named in an argument is not in the data."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ConvergenceError(ImpactEvalError, RuntimeError):
    """A numerical routine failed to converge."""


class NumericalError(ImpactEvalError, ArithmeticError):
    """A result would be infinite or undefined (overflow, a zero denominator); the message
    says which quantity and why, instead of returning a silent inf or NaN."""


class DataUnavailableError(ImpactEvalError, FileNotFoundError):
    """A dataset can be neither read locally nor downloaded."""


class ImpactEvalWarning(UserWarning):
    """Base class of every warning issued by impacteval."""


class MissingDataWarning(ImpactEvalWarning):
    """Rows were dropped because of missing values (the count is on the result)."""


class SmallSampleWarning(ImpactEvalWarning):
    """The sample is too small for the asymptotic approximation to be trusted."""


class ConvergenceWarning(ImpactEvalWarning):
    """A numerical routine stopped before meeting its tolerance."""
