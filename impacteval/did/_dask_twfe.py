"""``twfe`` on a Dask DataFrame: four map-reduce passes over unit-partitioned partitions.

On a balanced panel the two-way within transformation of a unit's row ``w`` (outcome,
treatment and covariates over the ``T`` periods) is ``A (w - mu)``, with ``A`` removing the
unit's own mean over periods and ``mu`` the vector of per-period means over units; it is
what ``demean_two_way`` gives after its one sweep. So:

1. the distinct periods;
2. per partition, the units' wide rows pivoted: their count and sum (``mu``), the labels of
   incomplete units (the frame must be partitioned by unit: see
   :mod:`impacteval.did._dask_moments`), the treated units, the treatment's values;
3. the centred cross-product ``sum (w - mu)(w - mu)'`` (``T m x T m``), from which the
   demeaned Gram matrix ``X~'X~``, ``X~'y~`` and the absorbed-regressor check follow;
4. with the slopes known, each unit's score ``sum_t x~_t e_t`` (units are the clusters, each
   in one partition), summed as ``S'S`` into the meat.

The variance is ``(X~'X~)^-1 meat (X~'X~)^-1`` times the small-sample factor of the in-memory
``twfe`` (CR1: fixest's nested rule, ``K = slopes + T``; ``"stata"``: every effect counted;
CR0: none), t reference with ``G - 1`` df. Scope: balanced panels, clusters = units; CR2,
other clusters and the wild bootstrap need the rows together (an error says so).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from impacteval._validation import short_repr
from impacteval._warn import WarningLog
from impacteval.did._dask_att_gt import check_dask_columns, compute_all
from impacteval.did._dask_moments import (
    PanelSpec,
    partition_periods,
    pivot_units,
    usable_rows,
)
from impacteval.exceptions import DataValidationError, SmallSampleWarning
from impacteval.results import EffectEstimate, Provenance, interval

__all__ = ["twfe_dask"]

Array = np.ndarray


def _pivot(part: pd.DataFrame, spec: PanelSpec, periods: Array) -> tuple[Array, Array, Array]:
    usable = usable_rows(part, spec)
    _, labels, wide, counts = pivot_units(usable, spec, periods)
    return labels, wide, counts


def partition_sums(part: pd.DataFrame, spec: PanelSpec, periods: Array) -> dict[str, Any]:
    """Pass 2: count and sum of the complete units' wide rows; incomplete units' labels."""
    labels, wide, counts = _pivot(part, spec, periods)
    complete = counts == periods.size
    rows = wide[complete]
    n_t = periods.size
    d = rows[:, n_t : 2 * n_t]
    return {
        "n": int(rows.shape[0]),
        "sum": rows.sum(axis=0),
        "incomplete": labels[~complete].tolist(),
        "treated_units": int(np.count_nonzero(np.any(d != 0, axis=1))),
        "d_values": np.unique(d),
    }


def partition_cross(part: pd.DataFrame, spec: PanelSpec, periods: Array, mu: Array) -> Array:
    """Pass 3: ``sum (w - mu)(w - mu)'`` over the complete units."""
    _, wide, counts = _pivot(part, spec, periods)
    rows = wide[counts == periods.size] - mu
    return np.asarray(rows.T @ rows)


def _demeaned(rows: Array, n_t: int) -> Array:
    """``(units, m, T)``: each variable's centred rows minus the unit's mean over periods."""
    cube = rows.reshape(rows.shape[0], -1, n_t)
    return np.asarray(cube - cube.mean(axis=2, keepdims=True))


def partition_meat(
    part: pd.DataFrame, spec: PanelSpec, periods: Array, mu: Array, beta: Array
) -> Array:
    """Pass 4: ``S'S`` with ``S`` the units' scores ``sum_t x~_t e_t`` (k columns)."""
    _, wide, counts = _pivot(part, spec, periods)
    cube = _demeaned(wide[counts == periods.size] - mu, periods.size)
    x = cube[:, 1:, :]  # (units, k, T)
    e = cube[:, 0, :] - np.einsum("ukt,k->ut", x, beta)
    scores = np.einsum("ukt,ut->uk", x, e)
    return np.asarray(scores.T @ scores)


def _gram(cross: Array, mu: Array, n: int, n_t: int, m: int) -> tuple[Array, Array, Array]:
    """``T~'T~`` of the m variables (m x m) from the centred cross product, and the centred
    sums of squares of the raw columns (for the absorbed check)."""
    a = np.kron(np.eye(m), np.eye(n_t) - 1.0 / n_t)
    tilde = a @ cross @ a.T
    blocks = tilde.reshape(m, n_t, m, n_t)
    gram = np.einsum("atbt->ab", blocks)
    mus = mu.reshape(m, n_t)
    raw_ss = np.array([
        np.trace(cross.reshape(m, n_t, m, n_t)[j, :, j, :])
        + n * float(np.sum((mus[j] - mus[j].mean()) ** 2))
        for j in range(m)
    ])  # fmt: skip
    return gram, np.diag(gram).copy(), raw_ss


def _factor(se_type: str, n_rows: int, n_units: int, n_t: int, k: int) -> float:
    if se_type == "CR0":
        return 1.0
    k_total = k + (n_units + n_t - 1 if se_type == "stata" else n_t)
    if n_rows <= k_total:
        raise DataValidationError(
            f"`se_type`: the {se_type!r} small-sample factor divides by n - K = {n_rows} - "
            f"{k_total} <= 0 (no residual degrees of freedom)"
        )
    return n_units / (n_units - 1) * (n_rows - 1) / (n_rows - k_total)


def _refuse(se_type: str, cluster: str | None, unit: str, inference: str) -> None:
    if se_type not in ("CR1", "CR0", "stata"):
        raise DataValidationError(
            f"`se_type`: on a Dask DataFrame twfe computes 'CR1', 'CR0' or 'stata'; received "
            f"{se_type!r} (CR2 needs each cluster's design together: pass data.compute())"
        )
    if cluster is not None and cluster != unit:
        raise DataValidationError(
            f"`cluster`: on a Dask DataFrame twfe clusters by `unit`; received "
            f"cluster={cluster!r}. Pass data.compute() for other clusters"
        )
    if inference != "analytic":
        raise DataValidationError(
            f"`inference`: {inference!r} is not available on a Dask DataFrame (the wild "
            "bootstrap refits on the rows); use 'analytic' or pass data.compute()"
        )


def _passes(data: Any, spec: PanelSpec, m: int) -> dict[str, Any]:
    from dask.delayed import delayed

    parts = data[spec.used].to_delayed()
    first = compute_all([delayed(partition_periods)(p, spec) for p in parts])
    periods = np.unique(np.concatenate([f["periods"] for f in first]))
    if periods.size < 2:
        raise DataValidationError(f"`time`: column {spec.time!r} needs at least 2 periods")
    sums = compute_all([delayed(partition_sums)(p, spec, periods) for p in parts])
    incomplete = [u for s in sums for u in s["incomplete"]]
    if incomplete:
        raise DataValidationError(
            f"{len(incomplete)} units (e.g. {short_repr(incomplete[:3])}) are not observed in "
            "every period, or have rows in several partitions: twfe on a Dask DataFrame needs "
            "a balanced panel partitioned by unit (data.shuffle(on=unit) or "
            "data.set_index(unit)); pass data.compute() for an unbalanced panel"
        )
    n = sum(s["n"] for s in sums)
    if n < 2:
        raise DataValidationError("twfe needs at least 2 complete units")
    mu = sum(s["sum"] for s in sums) / n
    values = np.unique(np.concatenate([s["d_values"] for s in sums]))
    cross = sum(compute_all([delayed(partition_cross)(p, spec, periods, mu) for p in parts]))
    return {"parts": parts, "periods": periods, "n": n, "mu": mu, "cross": cross,
            "values": values, "treated_units": sum(s["treated_units"] for s in sums),
            "n_rows": sum(f["n_rows"] for f in first),
            "n_usable": sum(f["n_usable"] for f in first),
            "digest": hashlib.sha256("".join(f["digest"] for f in first).encode()
                                     ).hexdigest()}  # fmt: skip


def twfe_dask(
    data: Any,
    *,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    covariates: list[str],
    cluster: str | None,
    se_type: str,
    level: float,
    inference: str,
) -> EffectEstimate:
    """:func:`impacteval.did.twfe` by map-reduce (see the module docstring)."""
    from dask.delayed import delayed

    _refuse(se_type, cluster, unit, inference)
    if unit not in [str(c) for c in data.columns] and data.index.name == unit:
        data = data.reset_index()
    named: dict[str, str | None] = {"outcome": outcome, "treatment": treatment, "unit": unit,
                                    "time": time}  # fmt: skip
    named.update({f"covariates[{c}]": c for c in covariates})
    check_dask_columns(data, named, [k for k in named if k != "unit"])
    names = [treatment, *covariates]
    spec = PanelSpec(unit=unit, time=time, outcome=outcome, cohort=time, extra=tuple(names))
    info = _passes(data, spec, 1 + len(names))
    if not np.all(np.isin(info["values"], (0.0, 1.0))):
        raise DataValidationError(
            f"`treatment`: column {treatment!r} must be 0/1; received values "
            f"{short_repr(info['values'].tolist())}"
        )
    periods, n = info["periods"], int(info["n"])
    n_t, m = periods.size, 1 + len(names)
    gram_all, tilde_ss, raw_ss = _gram(info["cross"], info["mu"], n, n_t, m)
    absorbed = np.sqrt(np.maximum(tilde_ss[1:], 0.0)) <= 1e-7 * np.maximum(
        np.sqrt(np.maximum(raw_ss[1:], 0.0)), 1e-300
    )
    if absorbed.any():
        raise DataValidationError(
            f"`treatment`/`covariates`: {[nm for nm, a in zip(names, absorbed, strict=True) if a]} "
            "are absorbed by the unit and period effects; drop them (on a Dask DataFrame "
            "twfe does not drop collinear terms)"
        )
    xtx, xty = gram_all[1:, 1:], gram_all[1:, 0]
    if np.linalg.matrix_rank(xtx) < xtx.shape[0]:
        raise DataValidationError("the demeaned regressors are collinear; drop redundant terms")
    inv = np.linalg.inv(xtx)
    beta = inv @ xty
    pieces = compute_all([delayed(partition_meat)(p, spec, periods, info["mu"], beta)
                          for p in info["parts"]])  # fmt: skip
    factor = _factor(se_type, n * n_t, n, n_t, len(names))
    vcov = inv @ sum(pieces) @ inv * factor
    return _result(beta, vcov, names, info, factor, n, n_t, se_type, outcome, unit, level,
                   {"outcome": outcome, "treatment": treatment, "unit": unit, "time": time,
                    "covariates": covariates, "cluster": unit, "se_type": se_type,
                    "level": level, "engine": "dask"})  # fmt: skip


def _result(
    beta: Array,
    vcov: Array,
    names: list[str],
    info: dict[str, Any],
    factor: float,
    n: int,
    n_t: int,
    se_type: str,
    outcome: str,
    unit: str,
    level: float,
    options: dict[str, Any],
) -> EffectEstimate:
    se = np.sqrt(np.diag(vcov))
    df = float(n - 1)
    rows = []
    for j, name in enumerate(names):
        lo, hi, p = interval(float(beta[j]), float(se[j]), level, df)
        rows.append({"term": name, "estimate": beta[j], "std_error": se[j], "p_value": p,
                     "ci_lower": lo, "ci_upper": hi, "df": df})  # fmt: skip
    log = WarningLog()
    if info["treated_units"] < 10:
        log.warn(
            f"`cluster`: only {info['treated_units']} of {n} clusters of {unit!r} contain "
            f"treated observations; {se_type} cluster-robust t-tests over-reject with few "
            "treated clusters (MacKinnon & Webb 2017)",
            SmallSampleWarning,
        )
    n_treated_rows = round(float(info["mu"][n_t : 2 * n_t].sum()) * n)
    return EffectEstimate.from_wald(
        float(beta[0]), float(se[0]), level=level, df=df, estimand="ATT",
        method=f"two-way fixed effects, {se_type} clustered by {unit}, map-reduce over "
        f"{len(info['parts'])} Dask partitions",
        n_obs=n * n_t, n_treated=n_treated_rows, n_control=n * n_t - n_treated_rows,
        n_clusters=n, outcome=outcome, n_dropped=info["n_rows"] - info["n_usable"],
        warnings=log.messages,
        provenance=Provenance(options=options, data_fingerprint=info["digest"]),
        details={"coefficients": pd.DataFrame(rows).set_index("term"),
                 "small_sample_factor": factor, "n_units": n, "n_periods": n_t,
                 "engine": "dask"},
    )  # fmt: skip
