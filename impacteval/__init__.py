"""impacteval: impact evaluation for outcome contracts.

Estimators (``rct``, ``did``, ``matching``, ``synth``) return :class:`EffectEstimate` /
:class:`EffectTable` results; ``payments`` turns them into settlements; ``reporting`` writes
executed notebooks. Subpackages and result classes are imported on first attribute access,
so ``import impacteval`` is fast and ``ie.rct.difference_in_means`` still works.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from impacteval._version import __version__

if TYPE_CHECKING:  # imported on first use (``__getattr__``): numpy, pandas, scipy are heavy
    from impacteval import (
        datasets,
        diagnostics,
        did,
        exceptions,
        inference,
        matching,
        payments,
        plotting,
        rct,
        reporting,
        synth,
    )
    from impacteval.results import EffectEstimate, EffectTable, Summary

__all__ = [
    "EffectEstimate",
    "EffectTable",
    "Summary",
    "__version__",
    "datasets",
    "diagnostics",
    "did",
    "exceptions",
    "inference",
    "matching",
    "payments",
    "plotting",
    "rct",
    "reporting",
    "synth",
]

_SUBMODULES = {
    "datasets",
    "diagnostics",
    "did",
    "exceptions",
    "inference",
    "matching",
    "payments",
    "plotting",
    "rct",
    "reporting",
    "synth",
}


_RESULTS = {"EffectEstimate", "EffectTable", "Summary"}


def __getattr__(name: str) -> Any:
    """Import a subpackage or a result class on first access (PEP 562), so that
    ``import impacteval`` itself imports neither numpy, pandas, scipy, statsmodels nor
    matplotlib."""
    if name in _SUBMODULES:
        module = importlib.import_module(f"impacteval.{name}")
        globals()[name] = module
        return module
    if name in _RESULTS:
        value = getattr(importlib.import_module("impacteval.results"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'impacteval' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
