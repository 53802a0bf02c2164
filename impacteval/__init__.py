"""impacteval: impact evaluation for outcome contracts.

Estimators (``rct``, ``did``, ``matching``, ``synth``) return :class:`EffectEstimate` /
:class:`EffectTable` results; ``payments`` turns them into settlements; ``reporting`` writes
executed notebooks. Heavy modules are imported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

from impacteval._version import __version__
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


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"impacteval.{name}")
    raise AttributeError(f"module 'impacteval' has no attribute {name!r}")
