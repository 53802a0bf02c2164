"""Who is treated in a synth report: one unit (design keys) or several (a treatment column).

A synth spec names its treated units in one of two ways:

* ``[design] treated_unit = "California"`` and ``treatment_time = 1989``: one treated
  unit, for every synth estimator;
* ``[columns] treatment = "treated"``: a 0/1 column, 1 for treated units in treated
  periods and absorbing (once 1, always 1). Several units may adopt at different times;
  only the estimators that take such a column fit it (``multisynth``, partially pooled
  synthetic control, and ``synthetic_did``).

:func:`check_synth_roles` refuses a spec that mixes the two or pairs a treatment column
with ``synthetic_control``; :func:`check_treatment_column` checks the column on the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from impacteval.reporting.errors import ReportSpecError

__all__ = ["MULTI_UNIT_ESTIMATORS", "check_synth_roles", "check_treatment_column"]

#: synth estimators that read a 0/1 treatment column (several treated units)
MULTI_UNIT_ESTIMATORS = ("multisynth", "synthetic_did")

_SINGLE_KEYS = ("treated_unit", "treatment_time")


def _refuse_single_unit(name: str, key: str, treatment: str) -> None:
    if name not in MULTI_UNIT_ESTIMATORS:
        raise ReportSpecError(
            f"`{key}`: {name!r} fits one treated unit, but `columns.treatment` "
            f"({treatment!r}) may mark several; use 'multisynth' (partially pooled synthetic "
            "control, several units adopting at different times) or 'synthetic_did', or name "
            "the one treated unit with `design.treated_unit` and `design.treatment_time` "
            "instead of `columns.treatment`"
        )


def check_synth_roles(
    design: str,
    estimator: str,
    alternatives: Sequence[str],
    columns: Mapping[str, Any],
    keys: Mapping[str, Any],
) -> None:
    """Refuse a synth spec whose treated units are named inconsistently.

    Parameters
    ----------
    design : str
        The spec's ``design.type`` (nothing is checked unless ``"synth"``).
    estimator : str
        The primary estimator's name.
    alternatives : sequence of str
        The alternative estimators' names, in spec order.
    columns : mapping
        The column roles (``treatment`` may be None).
    keys : mapping
        The design keys read so far (``treated_unit``, ``treatment_time`` when given).

    Raises
    ------
    ReportSpecError
        Both a treatment column and ``treated_unit`` / ``treatment_time``; neither; only
        one of the two keys; a treatment column with ``synthetic_control``.
    """
    if design != "synth":
        return
    treatment = columns.get("treatment")
    given = [k for k in _SINGLE_KEYS if k in keys]
    if treatment:
        if given:
            named = " and ".join(f"`design.{k}`" for k in given)
            raise ReportSpecError(
                f"`columns.treatment` ({treatment!r}) and {named} both say who is treated; "
                "give either `columns.treatment` (a 0/1 absorbing indicator: several treated "
                "units) or `design.treated_unit` and `design.treatment_time` (one treated "
                "unit), not both"
            )
        _refuse_single_unit(estimator, "design.estimator", str(treatment))
        for i, name in enumerate(alternatives):
            _refuse_single_unit(name, f"design.alternatives[{i}]", str(treatment))
        return
    missing = [k for k in _SINGLE_KEYS if k not in keys]
    if missing:
        raise ReportSpecError(
            f"design 'synth' needs `design.treated_unit` and `design.treatment_time` (one "
            f"treated unit) or `columns.treatment` (a 0/1 absorbing indicator: several "
            f"treated units); missing {[f'design.{k}' for k in missing]}"
        )


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python scalar (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def check_treatment_column(data: pd.DataFrame, treatment: str, unit: str, time: str) -> None:
    """Refuse a treatment column that is not 0/1, not absorbing, or leaves no donors.

    Raises
    ------
    ReportSpecError
        Values other than 0 and 1; a unit whose indicator falls back to 0; no treated
        unit; no never-treated unit; a unit treated from the first period on.
    """
    key = f"`columns.treatment` ({treatment!r})"
    values = set(pd.unique(data[treatment].dropna()))
    if not values <= {0, 1}:
        raise ReportSpecError(
            f"{key} must be coded 0/1; values found: {sorted(values, key=str)[:10]}"
        )
    ordered = data.sort_values([unit, time])
    d = ordered[treatment].fillna(0).to_numpy(dtype=float)
    by_unit = ordered.groupby(unit, sort=False)[treatment]
    back = ordered[d < by_unit.cummax().fillna(0).to_numpy(dtype=float)]
    if not back.empty:
        first = back.iloc[0]
        raise ReportSpecError(
            f"{key} must be absorbing (once 1, 1 in every later period); unit "
            f"{_plain(first[unit])!r} returns to 0 in period {_plain(first[time])!r}"
        )
    ever = by_unit.max().fillna(0)
    if not (ever == 1).any() or (ever == 1).all():
        raise ReportSpecError(
            f"{key} must mark at least one treated unit and leave at least one unit never "
            f"treated (the donors); found {int((ever == 1).sum())} treated of {len(ever)} units"
        )
    first_period = ordered[time].min()
    early = ordered[(ordered[time] == first_period) & (ordered[treatment] == 1)][unit]
    if not early.empty:
        raise ReportSpecError(
            f"{key}: units {sorted(set(map(str, early)))[:5]} are treated in the first "
            f"period ({_plain(first_period)!r}), leaving no pre-treatment period to fit"
        )
