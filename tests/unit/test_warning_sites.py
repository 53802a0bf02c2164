"""Warnings from results, balance and sensitivity point at the caller's line.

Each site issues through ``impacteval._warn`` (the stack level is found by walking out of
the package), so however deep the warning is raised, ``filename`` is the file of the line
that called the package. The call is made from code compiled as ``user_script.py``, one
frame below this module, so a fixed ``stacklevel`` that counts one frame too many (as
``from_wald``'s ``stacklevel=3`` did) would point at this file instead and fail.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

import impacteval as ie
from impacteval.exceptions import ImpactEvalWarning, MissingDataWarning, SmallSampleWarning
from impacteval.results import EffectEstimate

USER = "user_script.py"


def _caught(fn: object, *args: object, **kwargs: object) -> list[warnings.WarningMessage]:
    """Call ``fn(*args, **kwargs)`` from a line of ``user_script.py``; our warnings."""
    code = compile("fn(*args, **kwargs)", USER, "eval")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        eval(code, {"fn": fn, "args": args, "kwargs": kwargs})
    return [w for w in seen if issubclass(w.category, ImpactEvalWarning)]


def test_degenerate_standard_error_warns_at_the_callers_line() -> None:
    seen = _caught(EffectEstimate.from_wald, 2.0, 0.0, level=0.95, df=None)
    assert [w.category for w in seen] == [SmallSampleWarning]
    assert seen[0].filename == USER


def test_balance_constant_covariate_warns_at_the_callers_line_and_records() -> None:
    df = pd.DataFrame({"d": [0, 1] * 5, "x": np.arange(10.0), "k": 1.0})
    seen = _caught(ie.diagnostics.balance, df, treatment="d", covariates=["x", "k"])
    assert len(seen) == 1 and "'k'" in str(seen[0].message)
    assert seen[0].filename == USER
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = ie.diagnostics.balance(df, treatment="d", covariates=["x", "k"])
    assert table.warnings == (str(seen[0].message),)


def test_rosenbaum_warnings_point_at_the_callers_line() -> None:
    t = np.array([3.0, 2.0, np.nan, 4.0, 5.0, 1.0, 2.5, 3.5])
    c = np.array([1.0, 1.5, 0.0, 2.0, 1.0, 0.5, 1.0, 2.0])
    dropped = _caught(ie.diagnostics.rosenbaum_bounds, t, c)
    assert [w.category for w in dropped] == [MissingDataWarning]
    assert dropped[0].filename == USER
    # no effect at all: not significant even at gamma = 1
    flat = _caught(ie.diagnostics.rosenbaum_gamma, [1.0, -1.0, 2.0, -2.0], [0.0] * 4)
    assert len(flat) == 1 and flat[0].filename == USER
