"""The one warn-and-record helper: every estimator warning is both issued and kept.

An estimator that warns also records the message on its result (``result.warnings``), so
a warning seen once in a notebook is not lost when the result is saved, reported or
settled. :class:`WarningLog` does both in one call and points the warning at the user's
own line: the stack level is found by walking out of the ``impacteval`` package, so it is
right however deep inside the package the warning is raised.
"""

from __future__ import annotations

import sys
import warnings

from impacteval.exceptions import ImpactEvalWarning

__all__ = ["WarningLog", "user_stacklevel", "warn_user"]

_PACKAGE = "impacteval"


def user_stacklevel() -> int:
    """Return the ``stacklevel`` that makes a warning point at the first non-package frame.

    Counted for a :func:`warnings.warn` call made by the caller of this function.
    """
    level = 1
    frame = sys._getframe(1)  # the function that will call warnings.warn
    while frame is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if name != _PACKAGE and not name.startswith(_PACKAGE + "."):
            return level
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def warn_user(message: str, category: type[Warning]) -> None:
    """Issue ``message`` as ``category``, attributed to the user's calling line."""
    warnings.warn(message, category, stacklevel=user_stacklevel())


class WarningLog:
    """Warnings issued during one estimator call, kept for the result's ``warnings`` field.

    Examples
    --------
    >>> log = WarningLog()
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     log.warn("only 3 clusters", ImpactEvalWarning)
    >>> log.messages
    ('only 3 clusters',)
    """

    def __init__(self) -> None:
        self._messages: list[str] = []

    def warn(self, message: str, category: type[Warning] = ImpactEvalWarning) -> None:
        """Issue ``message`` (default category :class:`ImpactEvalWarning`) and record it."""
        warnings.warn(message, category, stacklevel=user_stacklevel())
        self._messages.append(message)

    def record(self, message: str) -> None:
        """Record ``message`` without issuing it (already issued elsewhere)."""
        self._messages.append(message)

    def extend(self, messages: tuple[str, ...] | list[str]) -> None:
        """Record several already-issued messages."""
        self._messages.extend(messages)

    @property
    def messages(self) -> tuple[str, ...]:
        """The recorded messages, in order."""
        return tuple(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def __bool__(self) -> bool:
        return bool(self._messages)
