"""One decorator for the package's compiled (numba) kernels.

``numba.njit(cache=True)`` writes the compiled code beside the module (``__pycache__``) or,
where the package directory is read-only, into the user's cache directory
(``NUMBA_CACHE_DIR`` or ``~/.cache``), so a kernel is compiled once per installation. Where
neither is writable (a read-only site-packages and home, as on some clusters and
containers) numba raises ``RuntimeError`` at decoration, which would fail ``import
impacteval``. :func:`kernel` then compiles without the cache instead: the same code, compiled
once per process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast, overload

from numba import njit

__all__ = ["kernel"]

F = TypeVar("F", bound=Callable[..., Any])


@overload
def kernel(fn: F) -> F: ...
@overload
def kernel(fn: None = None, **options: Any) -> Callable[[F], F]: ...
def kernel(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``numba.njit(cache=True, **options)``, falling back to no cache where numba finds no
    writable cache location.

    Usable bare (``@kernel``) or with numba's options (``@kernel(nogil=True)``).

    Parameters
    ----------
    fn : callable, optional
        The function to compile (bare use). Omitted when options are given.
    **options
        numba ``njit`` options (``nogil``, ``inline``, ...); ``cache`` is set here.

    Returns
    -------
    callable
        The compiled dispatcher (typed as the Python function it compiles: it is called
        alike), or, without ``fn``, a decorator that returns one.

    Notes
    -----
    Assumes ``fn`` is numba-compilable (nopython mode); a typing error surfaces at the first
    call, as with ``njit``. Only a ``RuntimeError`` at decoration is caught (numba raises it
    when it finds no writable cache location); the kernel is then compiled uncached.
    """

    def decorate(func: F) -> F:
        try:
            return cast(F, njit(cache=True, **options)(func))
        except RuntimeError:
            return cast(F, njit(**options)(func))

    return decorate if fn is None else decorate(fn)
