"""The compiled kernels' decorator (:func:`impacteval._jit.kernel`): cached where numba can
write a cache, compiled in memory where it cannot, instead of failing ``import impacteval``
on a read-only installation."""

from __future__ import annotations

import numba
import numba.core.caching as caching
import pytest

from impacteval._jit import kernel


def _twice(x: float) -> float:
    return 2.0 * x


def _thrice(x: float) -> float:
    return 3.0 * x


def test_kernel_is_numbas_cached_dispatcher() -> None:
    bare = kernel(_twice)
    with_options = kernel(nogil=True)(_thrice)
    assert bare(1.5) == 3.0 and with_options(1.5) == 4.5
    for compiled in (bare, with_options):
        assert isinstance(compiled, numba.core.registry.CPUDispatcher)
        assert compiled._cache.__class__.__name__ == "FunctionCache"  # on-disk cache in use
    assert with_options.targetoptions["nogil"] is True


def test_kernel_compiles_without_a_cache_location(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no locator (read-only package directory and home) ``njit(cache=True)`` raises at
    decoration; ``kernel`` compiles without the cache and the result is the same."""
    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])
    with pytest.raises(RuntimeError):
        numba.njit(cache=True)(_twice)
    bare = kernel(_twice)
    with_options = kernel(nogil=True)(_thrice)
    assert bare(1.5) == 3.0 and with_options(1.5) == 4.5
    assert bare._cache.__class__.__name__ == "NullCache"
    assert with_options._cache.__class__.__name__ == "NullCache"
