"""Inference shared by the designs: robust variances, multiplicity adjustments.

Nothing here imports an estimator. ``romano_wolf`` (Romano-Wolf p-values for a trial's
regressions on several outcomes) is an RCT estimator and lives in
:mod:`impacteval.rct.romano_wolf`; ``impacteval.inference.romano_wolf`` still resolves to it,
loaded on first access, so that existing code keeps working.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from impacteval.inference.multiplicity import adjust_p_values
from impacteval.inference.variance import SE_TYPES, fit_ols
from impacteval.inference.wild import WildBootstrapResult, wild_cluster_bootstrap
from impacteval.inference.wild_frame import wild_bootstrap_regression

if TYPE_CHECKING:
    from collections.abc import Callable

# ``romano_wolf`` is left out of ``__all__``: it is documented at its home, impacteval.rct
__all__ = ["SE_TYPES", "adjust_p_values", "fit_ols"]
__all__ += ["WildBootstrapResult", "wild_bootstrap_regression", "wild_cluster_bootstrap"]

romano_wolf: Callable[..., Any]


def __getattr__(name: str) -> Any:
    """Resolve ``romano_wolf`` to :func:`impacteval.rct.romano_wolf` on first access (PEP
    562); loading it lazily keeps this package free of module-level imports of ``rct``."""
    if name == "romano_wolf":
        value = importlib.import_module("impacteval.rct.romano_wolf").romano_wolf
        globals()[name] = value
        return value
    raise AttributeError(f"module 'impacteval.inference' has no attribute {name!r}")
