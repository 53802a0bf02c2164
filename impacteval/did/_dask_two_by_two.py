"""``two_by_two`` on a Dask DataFrame: OLS by map-reduce over the partitions.

Two passes, each returning kilobytes per partition:

1. the design's ``X'X`` and ``X'y``, the four group x period cells' counts and outcome sums
   (the cell means), the 0/1 values seen, and (panel form) the labels of units observed in
   one period only;
2. with ``beta = (X'X)^-1 X'y`` known, the HC meat ``sum_i w_i x_i x_i' e_i^2`` (``w_i`` = 1,
   ``1 / (1 - h_ii)`` or ``1 / (1 - h_ii)^2``, ``h_ii = x_i' (X'X)^-1 x_i``).

Forms, as in memory: without ``unit`` the pooled regression of the outcome on treated, post
and their product (plus covariates) over the rows; with ``unit`` the change-score
regression of each unit's ``y_post - y_pre`` on treated (plus its pre-period covariates),
which needs each unit's two rows in one partition (partitioned by unit; checked: a unit seen
once in two partitions is refused). Standard errors HC0-HC3 (default HC2) or ``"drdid"``.
Not here: ``cluster`` (CR2) and the unbalanced-panel form (CR2 by unit); ``balance=True``
drops the units seen once, as in memory.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pandas as pd

from impacteval._panel import format_label
from impacteval._validation import short_repr
from impacteval._warn import WarningLog
from impacteval.did._dask_att_gt import check_dask_columns, compute_all
from impacteval.exceptions import DataValidationError, SmallSampleWarning
from impacteval.results import EffectEstimate, Provenance, fingerprint

__all__ = ["two_by_two_dask"]

Array = np.ndarray


def _rows(part: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(part.loc[part[spec["used"]].notna().all(axis=1).to_numpy()])


def _change_design(rows: pd.DataFrame, spec: dict[str, Any]) -> tuple[Array, Array, list[Any]]:
    """Per unit seen in both periods: ``[1, treated, pre covariates]`` and the change."""
    unit, post, treated = spec["unit"], spec["post"], spec["treated"]
    if rows[[unit, post]].duplicated().any():
        raise DataValidationError(
            f"`unit`: some unit of {unit!r} has more than one row in the same period"
        )
    if (rows.groupby(unit, sort=False)[treated].nunique() > 1).any():
        raise DataValidationError(
            f"`treated`: column {treated!r} changes within a unit of {unit!r}; the treated "
            "group must be fixed"
        )
    pre = rows.loc[rows[post].to_numpy(dtype=float) == 0].set_index(unit)
    after = rows.loc[rows[post].to_numpy(dtype=float) == 1].set_index(unit)
    both = pre.index.intersection(after.index, sort=False)
    once = pre.index.symmetric_difference(after.index, sort=False).tolist()
    pre, after = pre.loc[both], after.loc[both]
    y = after[spec["outcome"]].to_numpy(dtype=float) - pre[spec["outcome"]].to_numpy(dtype=float)
    x = np.column_stack([np.ones(len(pre)), pre[treated].to_numpy(dtype=float),
                         pre[spec["covariates"]].to_numpy(dtype=float)])  # fmt: skip
    return x, y, once


def _design(
    part: pd.DataFrame, spec: dict[str, Any]
) -> tuple[Array, Array, pd.DataFrame, list[Any]]:
    rows = _rows(part, spec)
    if spec["form"] == "change_score":
        x, y, once = _change_design(rows, spec)
        return x, y, rows, once
    g = rows[spec["treated"]].to_numpy(dtype=float)
    p = rows[spec["post"]].to_numpy(dtype=float)
    covs = rows[spec["covariates"]].to_numpy(dtype=float)
    x = np.column_stack([np.ones(len(rows)), g, p, g * p, covs])
    return x, rows[spec["outcome"]].to_numpy(dtype=float), rows, []


def _drop_units(part: pd.DataFrame, spec: dict[str, Any], drop: set[Any]) -> pd.DataFrame:
    """``balance=True``: the partition without the units seen once."""
    if not drop:
        return part
    return pd.DataFrame(part.loc[~part[spec["unit"]].isin(list(drop)).to_numpy()])


def partition_gram(
    part: pd.DataFrame, spec: dict[str, Any], drop: set[Any] | None = None
) -> dict[str, Any]:
    """Pass 1: ``X'X``, ``X'y``, the cells' counts and sums, 0/1 values, units seen once."""
    part = _drop_units(part, spec, drop or set())
    x, y, rows, once = _design(part, spec)
    g = rows[spec["treated"]].to_numpy(dtype=float)
    p = rows[spec["post"]].to_numpy(dtype=float)
    yr = rows[spec["outcome"]].to_numpy(dtype=float)
    cells = {(a, b): (int(np.sum((g == a) & (p == b))), float(yr[(g == a) & (p == b)].sum()))
             for a in (0, 1) for b in (0, 1)}  # fmt: skip
    return {"xtx": x.T @ x, "xty": x.T @ y, "n": int(x.shape[0]), "n1": float(x[:, 1].sum()),
            "cells": cells, "g_values": np.unique(g), "p_values": np.unique(p), "once": once,
            "n_rows": int(part.shape[0]), "n_usable": int(rows.shape[0]),
            "digest": fingerprint(part, spec["used"])}  # fmt: skip


def partition_meat(
    part: pd.DataFrame, spec: dict[str, Any], beta: Array, inv: Array, drop: set[Any]
) -> Array:
    """Pass 2: the HC meat of this partition's design rows."""
    part = _drop_units(part, spec, drop)
    x, y, _, _ = _design(part, spec)
    e = y - x @ beta
    weight = e**2
    if spec["se_type"] in ("HC2", "HC3"):
        h = np.einsum("ij,jk,ik->i", x, inv, x)
        weight = weight / (1.0 - h) ** (1 if spec["se_type"] == "HC2" else 2)
    return np.asarray((x * weight[:, None]).T @ x)


def _check_values(first: list[dict[str, Any]], treated: str, post: str) -> None:
    for param, col, key in (("treated", treated, "g_values"), ("post", post, "p_values")):
        values = np.unique(np.concatenate([f[key] for f in first]))
        if not np.all(np.isin(values, (0.0, 1.0))):
            raise DataValidationError(
                f"`{param}`: column {col!r} must be 0/1; received values "
                f"{short_repr(values.tolist())}"
            )


def _cells(first: list[dict[str, Any]]) -> tuple[dict[tuple[int, int], float], list[int]]:
    counts = {c: sum(f["cells"][c][0] for f in first) for c in first[0]["cells"]}
    sums = {c: sum(f["cells"][c][1] for f in first) for c in first[0]["cells"]}
    missing = [c for c in counts if counts[c] == 0]
    if missing:
        raise DataValidationError(
            "`treated`/`post`: every group x period cell needs observations; empty cells "
            f"(treated, post): {missing}"
        )
    means = {(int(a), int(b)): sums[(a, b)] / counts[(a, b)] for (a, b) in counts}
    return means, [counts[c] for c in counts]


def _units_seen_once(first: list[dict[str, Any]], unit: str, balance: bool) -> set[Any]:
    once = pd.Series([u for f in first for u in f["once"]], dtype=object)
    if once.duplicated().any():
        raise DataValidationError(
            f"unit {format_label(once[once.duplicated()].iloc[0])} has rows in more than one "
            "partition of the Dask DataFrame: the change-score form needs each unit's rows "
            f"together. Repartition by unit (data.shuffle(on={unit!r}) or data.set_index)"
        )
    if once.size and not balance:
        raise DataValidationError(
            f"the panel is unbalanced ({once.size} units observed in one period only): its "
            "pooled regression is clustered by unit (CR2), not available on a Dask "
            "DataFrame; pass balance=True to drop those units, or data.compute()"
        )
    return set(once.tolist())


def two_by_two_dask(
    data: Any,
    *,
    outcome: str,
    treated: str,
    post: str,
    unit: str | None,
    cluster: str | None,
    covariates: list[str],
    balance: bool,
    level: float,
    se_type: str | None,
) -> EffectEstimate:
    """:func:`impacteval.did.two_by_two` by map-reduce (see the module docstring)."""
    from dask.delayed import delayed

    if cluster is not None:
        raise DataValidationError(
            f"`cluster`: CR2 standard errors need each cluster's rows together; received "
            f"cluster={cluster!r} on a Dask DataFrame. Pass data.compute() if it fits"
        )
    if unit is not None and unit not in [str(c) for c in data.columns]:
        if data.index.name == unit:
            data = data.reset_index()
    named: dict[str, str | None] = {"outcome": outcome, "treated": treated, "post": post,
                                    "unit": unit}  # fmt: skip
    named.update({f"covariates[{c}]": c for c in covariates})
    check_dask_columns(data, named, [k for k in named if k != "unit"])
    form = "change_score" if unit is not None and se_type != "drdid" else "pooled"
    used = [outcome, treated, post, *covariates] + ([unit] if unit else [])
    spec = {"outcome": outcome, "treated": treated, "post": post, "unit": unit,
            "covariates": covariates, "used": used, "form": form,
            "se_type": "HC0" if se_type == "drdid" else (se_type or "HC2")}  # fmt: skip
    parts = data[used].to_delayed()
    first = compute_all([delayed(partition_gram)(p, spec) for p in parts])
    _check_values(first, treated, post)
    cells, cell_counts = _cells(first)
    log = WarningLog()
    once = _units_seen_once(first, unit, balance) if form == "change_score" and unit else set()
    n_dropped = sum(f["n_rows"] - f["n_usable"] for f in first)
    if once:
        first = compute_all([delayed(partition_gram)(p, spec, once) for p in parts])
        n_dropped += len(once)
        log.warn(f"balance=True: {len(once)} units observed in one period only were dropped "
                 f"({len(once)} rows)")  # fmt: skip
    xtx, xty = sum(f["xtx"] for f in first), sum(f["xty"] for f in first)
    n, k = sum(f["n"] for f in first), xtx.shape[0]
    if np.linalg.matrix_rank(xtx) < k:
        raise DataValidationError("the design is collinear: drop the redundant covariates")
    inv = np.linalg.inv(xtx)
    beta = inv @ xty
    meat = sum(compute_all([delayed(partition_meat)(p, spec, beta, inv, once) for p in parts]))
    j = 1 if form == "change_score" else 3
    var = float((inv @ meat @ inv)[j, j]) * (n / (n - k) if spec["se_type"] == "HC1" else 1.0)
    se, df = math.sqrt(var), float(n - k)
    if se_type == "drdid":
        se, df = se * math.sqrt(n / (n - 1)), math.inf
    n1 = int(sum(f["n1"] for f in first))
    counts = [n1, n - n1] if form == "change_score" else cell_counts
    if min(counts) < 2 or not np.isfinite(se):
        log.warn(f"`treated`/`post`: a cell has fewer than 2 observations (counts {counts}); "
                 "the HC2 standard error is not identified: NaN", SmallSampleWarning)  # fmt: skip
        se, df = math.nan, math.nan
    digest = hashlib.sha256("".join(f["digest"] for f in first).encode()).hexdigest()
    options = {"outcome": outcome, "treated": treated, "post": post, "unit": unit,
               "cluster": None, "covariates": covariates, "balance": balance, "level": level,
               "form": form, "se_type": se_type, "engine": "dask"}  # fmt: skip
    label = "DRDID's TWFE SE, HC0 x sqrt(N/(N-1))" if se_type == "drdid" else spec["se_type"]
    return EffectEstimate.from_wald(
        float(beta[j]), se, level=level, df=df, estimand="ATT",
        method=f"2x2 difference in differences ({form.replace('_', ' ')}, {label}), "
        f"map-reduce over {len(parts)} Dask partitions",
        n_obs=n, n_treated=n1, n_control=n - n1, n_clusters=None, outcome=outcome,
        n_dropped=n_dropped, warnings=log.messages,
        provenance=Provenance(options=options, data_fingerprint=digest),
        details={"form": form, "cell_means": cells},
    )  # fmt: skip
