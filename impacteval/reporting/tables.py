"""The report's tables: sample flow, attrition, estimates, equity cells, audit.

These are the helpers the cells of a report notebook call (next to the estimators
themselves), so a reader can re-run and change each step. They take DataFrames and
result objects and return DataFrames; none of them estimates anything new except
:func:`subgroup_effects`, which runs the estimator it is given on each subgroup.
"""

from __future__ import annotations

import importlib.metadata
import math
import platform
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from impacteval.exceptions import DataValidationError, ImpactEvalError, MissingColumnError
from impacteval.reporting.decision import decision_page
from impacteval.reporting.decision_basis import decision_basis, prediction_interval_table
from impacteval.reporting.disclosure import suppress_flow
from impacteval.reporting.lock import file_sha256, plan_status
from impacteval.reporting.present import (
    WarningLog,
    audit_tables,
    draw_triggers,
    mask_counts,
    settlement_table,
    treated_mean_se,
    trigger_levels,
)
from impacteval.reporting.readable import money, readable_frame
from impacteval.reporting.sensitivity import decision_sensitivity, decision_table
from impacteval.results import RESULT_COLUMNS, EffectEstimate

__all__ = [
    "WarningLog",
    "as_estimate",
    "attrition_table",
    "audit_tables",
    "decision_basis",
    "decision_page",
    "decision_sensitivity",
    "decision_table",
    "draw_triggers",
    "estimates_table",
    "file_sha256",
    "mask_counts",
    "mask_small_cells",
    "metric_input",
    "money",
    "package_versions",
    "plan_status",
    "prediction_interval_table",
    "readable_frame",
    "safeguard_inputs",
    "sample_flow",
    "select",
    "settlement_table",
    "subgroup_effects",
    "suppress_flow",
    "treated_mean_se",
    "trigger_levels",
]

_OPS: dict[str, Callable[[pd.Series, Any], pd.Series]] = {
    "lt": lambda s, v: s < v,
    "le": lambda s, v: s <= v,
    "gt": lambda s, v: s > v,
    "ge": lambda s, v: s >= v,
    "eq": lambda s, v: s == v,
    "ne": lambda s, v: s != v,
}


def select(data: pd.DataFrame, where: Mapping[str, Any] | None) -> pd.Series:
    """Boolean row mask of a spec filter ``{column: value | [values] | {op: value}}``.

    Conditions on different columns are combined with AND; a list means "any of";
    ``op`` is one of ``lt, le, gt, ge, eq, ne``. ``None`` selects every row.

    Examples
    --------
    >>> df = pd.DataFrame({"age": [20, 30, 40], "female": [1, 0, 1]})
    >>> df[select(df, {"female": 1, "age": {"lt": 35}})].index.tolist()
    [0]
    """
    mask = pd.Series(True, index=data.index)
    for col, cond in (where or {}).items():
        if col not in data.columns:
            raise MissingColumnError(f"`where`: no column {col!r} in the data")
        s = data[col]
        if isinstance(cond, list | tuple):
            mask &= s.isin(list(cond))
        elif isinstance(cond, Mapping):
            for op, value in cond.items():
                if op not in _OPS:
                    raise DataValidationError(f"`where.{col}`: unknown comparison {op!r}")
                mask &= _OPS[op](s, value).fillna(False).astype(bool)
        else:
            mask &= s == cond
    return mask


def sample_flow(
    raw: pd.DataFrame,
    *,
    required: Sequence[str],
    treatment: str | None = None,
    exclude: str | None = None,
    exclusion_reason: str | None = None,
    refused: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows kept for analysis, and a table of the rows removed and why.

    Order: refusals (``refused == 1``), then exclusions (``exclude == 1``, split by
    ``exclusion_reason``), then rows missing any ``required`` column.

    Returns
    -------
    sample : pandas.DataFrame
        The analysed rows (original index kept).
    flow : pandas.DataFrame
        One row per step (``step``, ``reason``, ``rows``) and, with ``treatment``, the
        rows per arm.

    Examples
    --------
    >>> raw = pd.DataFrame({"y": [1.0, None, 3.0, 4.0], "d": [1, 0, 1, 0], "x": [0, 0, 1, 0]})
    >>> sample, flow = sample_flow(raw, required=["y", "d"], treatment="d", exclude="x")
    >>> len(sample), flow["rows"].tolist()
    (2, [4, 1, 1, 2])
    """
    rows: list[dict[str, Any]] = []

    def record(step: str, reason: str, part: pd.DataFrame) -> None:
        row: dict[str, Any] = {"step": step, "reason": reason, "rows": len(part)}
        if treatment is not None:
            row["treated"] = int((part[treatment] == 1).sum())
            row["control"] = int((part[treatment] == 0).sum())
        rows.append(row)

    record("input", "all rows", raw)
    keep = raw
    if refused is not None:
        gone = keep[refused] == 1
        record("refused", "refused consent", keep[gone])
        keep = keep[~gone]
    if exclude is not None:
        gone = keep[exclude] == 1
        if exclusion_reason is not None and gone.any():
            reasons = keep.loc[gone, exclusion_reason].fillna("(no reason given)").astype(str)
            for reason in sorted(reasons.unique()):
                record("excluded", reason, keep[gone & (reasons == reason).reindex(keep.index)])
        else:
            record("excluded", "excluded from measurement", keep[gone])
        keep = keep[~gone]
    missing = keep[list(required)].isna().any(axis=1)
    record("missing", "missing " + ", ".join(required), keep[missing])
    keep = keep[~missing]
    record("analysed", "rows analysed", keep)
    return keep.copy(), pd.DataFrame(rows)


def attrition_table(raw: pd.DataFrame, *, outcome: str, treatment: str) -> pd.DataFrame:
    """Outcome missingness by arm (randomised trials): assigned, observed, attrition rate.

    Examples
    --------
    >>> raw = pd.DataFrame({"y": [1.0, None, 3.0, 4.0], "d": [1, 1, 0, 0]})
    >>> attrition_table(raw, outcome="y", treatment="d")["attrition"].tolist()
    [0.0, 0.5]
    """
    out = pd.DataFrame(raw.groupby(treatment)[outcome].agg(assigned="size", observed="count"))
    out["missing"] = out["assigned"] - out["observed"]
    out["attrition"] = out["missing"] / out["assigned"]
    out.index.name = "arm"
    return out


def as_estimate(result: Any) -> EffectEstimate:
    """The single overall effect of any estimator's result.

    Callaway-Sant'Anna group-time effects give their ``simple`` aggregation, tables their
    ``overall`` effect, entropy balancing its ``effect``; an EffectEstimate is returned as
    is.
    """
    if isinstance(result, EffectEstimate):
        return result
    if hasattr(result, "aggregate") and hasattr(result, "pretrend_test"):
        return as_estimate(result.aggregate("simple"))
    overall = getattr(result, "overall", None)
    if isinstance(overall, EffectEstimate):
        return overall
    effect = getattr(result, "effect", None)
    if isinstance(effect, EffectEstimate):
        return effect
    raise DataValidationError(
        f"`result`: {type(result).__name__} has no single overall effect "
        "(expected an EffectEstimate, or a table with .overall)"
    )


def estimates_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per named result: the five result columns, level, n and the exact method.

    Examples
    --------
    >>> import impacteval as ie
    >>> nsw = ie.datasets.load("nsw_dw")
    >>> r = ie.rct.difference_in_means(nsw, outcome="re78", treatment="treat")
    >>> int(estimates_table({"NSW": r}).loc["NSW", "n_obs"])
    445
    """
    rows = []
    for name, res in results.items():
        est = as_estimate(res)
        row = est.to_frame().iloc[0][list(RESULT_COLUMNS)].to_dict()
        row.update(
            level=est.level,
            estimand=est.estimand,
            n_obs=est.n_obs,
            n_treated=est.n_treated,
            n_control=est.n_control,
            method=est.method,
        )
        rows.append(pd.Series(row, name=name))
    return pd.DataFrame(rows)


def _count_units(part: pd.DataFrame, unit: str | None) -> int:
    return int(part[unit].nunique()) if unit is not None else len(part)


def subgroup_effects(
    data: pd.DataFrame,
    subgroups: Mapping[str, Mapping[str, Any]],
    estimator: Callable[[pd.DataFrame], Any],
    *,
    treatment: str,
    unit: str | None = None,
    min_estimable: int = 2,
) -> pd.DataFrame:
    """The effect in each subgroup, by running ``estimator`` on the subgroup's rows.

    Parameters
    ----------
    data : pandas.DataFrame
        The analysed rows.
    subgroups : mapping
        ``{name: where}`` filters (see :func:`select`).
    estimator : callable
        ``rows -> result``; the design's primary estimator.
    treatment : str
        0/1 column (ever treated, for panels) used to count people per arm.
    unit : str, optional
        Count distinct units rather than rows (panels).
    min_estimable : int, default 2
        Subgroups with fewer units than this in an arm are not estimated.

    Returns
    -------
    pandas.DataFrame
        UNMASKED: ``n_treated``, ``n_control``, the five result columns and ``note``.
        Pass it through :func:`mask_small_cells` before showing it.
    """
    rows = []
    for name, where in subgroups.items():
        part = data[select(data, where)]
        n_t = _count_units(part[part[treatment] == 1], unit)
        n_c = _count_units(part[part[treatment] == 0], unit)
        row: dict[str, Any] = {"n_treated": n_t, "n_control": n_c, "note": ""}
        row.update(dict.fromkeys(RESULT_COLUMNS, math.nan))
        if min(n_t, n_c) >= min_estimable:
            try:
                est = as_estimate(estimator(part.reset_index(drop=True)))
                row.update({c: float(getattr(est, c)) for c in RESULT_COLUMNS})
            except (ImpactEvalError, np.linalg.LinAlgError) as exc:
                row["note"] = f"not estimable: {exc}"
        else:
            row["note"] = "not estimable: too few units in an arm"
        rows.append(pd.Series(row, name=name))
    out = pd.DataFrame(rows, columns=["n_treated", "n_control", *RESULT_COLUMNS, "note"])
    out.index.name = "subgroup"
    return out


def mask_small_cells(effects: pd.DataFrame, min_cell_size: int = 10) -> pd.DataFrame:
    """Suppress subgroup cells with fewer than ``min_cell_size`` people in either arm.

    The effect, its interval and p-value are blanked and each small count is shown as
    ``"<10"``, so no individual can be singled out.

    Examples
    --------
    >>> cells = pd.DataFrame({"n_treated": [9, 50], "n_control": [40, 60],
    ...                       "estimate": [1.5, 0.2], "note": ["", ""]}, index=["a", "b"])
    >>> masked = mask_small_cells(cells)
    >>> masked["n_treated"].tolist(), masked["estimate"].tolist()
    (['<10', '50'], ['masked', '0.2'])
    >>> masked.loc["a", "note"]
    'masked: fewer than 10 people in an arm'
    """
    if min_cell_size < 1:
        raise DataValidationError(f"`min_cell_size` must be >= 1; received {min_cell_size}")
    out = effects.astype(object).copy()
    small = (effects["n_treated"] < min_cell_size) | (effects["n_control"] < min_cell_size)
    value_cols = [c for c in effects.columns if c not in ("n_treated", "n_control", "note")]
    for idx in effects.index:
        for col in ("n_treated", "n_control"):
            n = int(effects[col].loc[idx])
            out.at[idx, col] = f"<{min_cell_size}" if n < min_cell_size else f"{n}"
        if small[idx]:
            for col in value_cols:
                out.at[idx, col] = "masked"
            out.at[idx, "note"] = f"masked: fewer than {min_cell_size} people in an arm"
        else:
            for col in value_cols:
                val = effects.at[idx, col]
                out.at[idx, col] = f"{val:.4g}" if isinstance(val, float) else str(val)
    return out


def metric_input(
    result: Any,
    data: pd.DataFrame | None = None,
    *,
    outcome: str | None = None,
    treatment: str | None = None,
    multiplier: float = 1.0,
    rates: bool = False,
) -> Any:
    """A contract input from an estimate: the result itself, or a scaled mapping.

    With ``multiplier == 1`` and ``rates=False`` the EffectEstimate is passed as is. Else
    a mapping ``{estimate, std_error, df, n_obs}`` times ``multiplier`` (without
    ``std_error`` when the estimate has none, as a synthetic control's: the contract can
    then decide on the point estimate only); with ``rates``
    also ``treated_rate`` (``multiplier`` x the treated mean of ``outcome`` in ``data``),
    ``control_rate = treated_rate - estimate`` (the estimated counterfactual mean of the
    treated) and ``units`` (treated rows), for relative-reduction metrics.
    """
    est = as_estimate(result)
    has_se = math.isfinite(est.std_error)
    if multiplier == 1.0 and not rates and has_se:
        return est
    out: dict[str, Any] = {"estimate": multiplier * est.estimate, "n_obs": int(est.n_obs)}
    if has_se:
        out["std_error"] = abs(multiplier) * est.std_error
    else:  # no standard error (a synthetic control): rules on the point estimate only
        out["estimand"] = est.estimand
    if est.df is not None and math.isfinite(est.df):
        out["df"] = float(est.df)
    if rates:
        if data is None or outcome is None or treatment is None:
            raise DataValidationError("`metric_input`: rates=True needs data, outcome, treatment")
        treated = data.loc[data[treatment] == 1, outcome]
        out["treated_rate"] = multiplier * float(treated.mean())
        out["control_rate"] = out["treated_rate"] - out["estimate"]
        out["units"] = int(treated.size)
    return out


def safeguard_inputs(
    raw: pd.DataFrame,
    effects: pd.DataFrame | None,
    *,
    treatment: str,
    subgroups: Iterable[str] = (),
    exclude: str | None = None,
    exclusion_reason: str | None = None,
    refused: str | None = None,
    multiplier: float = 1.0,
) -> dict[str, Any]:
    """The ``safeguards=`` argument of ``Contract.settle`` from the rows and subgroup effects.

    ``eligible`` counts treated rows before exclusions and refusals; ``exclusions`` counts
    excluded treated rows by reason; ``subgroups`` gives each named subgroup's effect
    (times ``multiplier``) and treated head count from :func:`subgroup_effects` (the
    contract masks small cells itself).
    """
    treated = raw[raw[treatment] == 1]
    out: dict[str, Any] = {"eligible": len(treated)}
    if exclude is not None:
        gone = treated[treated[exclude] == 1]
        if exclusion_reason is not None:
            reasons = gone[exclusion_reason].fillna("(no reason given)").astype(str)
            out["exclusions"] = {str(k): int(v) for k, v in reasons.value_counts().items()}
        else:
            out["exclusions"] = len(gone)
    if refused is not None:
        out["refusals"] = int((treated[refused] == 1).sum())
    names = list(subgroups)
    if names:
        if effects is None:
            raise DataValidationError("`effects`: the contract's subgroups need subgroup_effects")
        cells = {}
        for name in names:
            est = float(effects["estimate"].loc[name])
            if not math.isfinite(est):
                raise DataValidationError(
                    f"`effects`: subgroup {name!r} could not be estimated "
                    f"({effects['note'].loc[name]!s}); the contract needs its effect"
                )
            n = int(effects["n_treated"].loc[name])
            cells[name] = {"estimate": multiplier * est, "n": n}
        out["subgroups"] = cells
    return out


def package_versions(
    names: Sequence[str] = (
        "impacteval",
        "numpy",
        "scipy",
        "pandas",
        "statsmodels",
        "linearmodels",
        "scikit-learn",
        "matplotlib",
    ),
) -> pd.Series:
    """Installed versions of the packages behind the numbers (and Python's)."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return pd.Series(out, name="version")
