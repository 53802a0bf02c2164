"""``att_gt`` on a Dask DataFrame: two map-reduce passes over the partitions.

1. each partition returns its distinct periods (the client takes the union);
2. each partition pivots its complete units to ``units x periods`` and returns, per cohort,
   the count, the sum of outcome rows and their cross-product matrix
   (:mod:`impacteval.did._dask_moments`); the client adds them up and computes every cell,
   its analytic SE and the ``"simple"`` overall ATT from those moments
   (:mod:`impacteval.did._dask_cells`);
3. with covariates (``method="reg"`` only): the cells come from the same moments, taken over
   the wide rows of outcome and covariates, and a third pass returns ``IF' IF`` and the
   per-cohort column sums of the influence functions (:mod:`impacteval.did._dask_reg`).

The rows are never collected: the client holds ``O(cohorts x periods^2)`` numbers. The frame
must be partitioned by unit (see :mod:`impacteval.did._dask_moments`; checked). Scope: a
balanced panel (units not observed in every period are dropped, with a warning, as in
memory), no weights or clusters, analytic SEs; without covariates every ``method`` other
than the repeated-cross-section ones (they all equal the 2x2 DiD), with covariates
``method="reg"``, ``"ipw"`` or ``"dr"`` (the logits by iterated passes:
:mod:`impacteval.did._dask_ipw`). ``"dr_imp"`` (inverse-probability tilting) and
``"ipw_ht"`` with covariates are not built. Outside that scope a clear error says what to do.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from impacteval._panel import format_label
from impacteval._validation import short_repr
from impacteval._warn import WarningLog
from impacteval.did._cs_numerics import GroupTimeFit
from impacteval.did._cs_sample import CSOptions
from impacteval.did._dask_cells import MomentCells, cells_from_moments, simple_overall
from impacteval.did._dask_ipw import (
    finish_ipw,
    fit_logits,
    ipw_plan,
    partition_ipw_if,
    partition_ipw_sums,
    partition_logit,
)
from impacteval.did._dask_moments import (
    CohortMoments,
    PanelSpec,
    merge_moments,
    partition_moments,
    partition_periods,
)
from impacteval.did._dask_reg import GramInfluence, partition_influence, reg_cells
from impacteval.did.aggregate import Inference, infer
from impacteval.did.group_time import METHOD_LABELS, GroupTimeEffects
from impacteval.exceptions import DataValidationError, MissingColumnError, SmallSampleWarning
from impacteval.results import EffectEstimate, Provenance

__all__ = ["att_gt_dask", "check_dask_columns", "compute_all"]


def compute_all(tasks: list[Any]) -> list[Any]:
    """Compute delayed tasks together (on the active Dask scheduler / client)."""
    from dask.base import compute

    return list(compute(*tasks))  # type: ignore[no-untyped-call]


def check_dask_columns(data: Any, named: dict[str, str | None], numeric: list[str]) -> None:
    """Every named column present; the ``numeric`` parameters' columns numeric."""
    cols = [str(c) for c in data.columns]
    for param, col in named.items():
        if col is not None and col not in cols:
            raise MissingColumnError(
                f"`{param}`: column {col!r} is not in the data (available: {short_repr(cols, 200)})"
            )
    for param in numeric:
        col = named[param]
        dtype = data.dtypes[col]
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise DataValidationError(
                f"`{param}`: column {col!r} must be numeric; received dtype {dtype}"
            )


def _refuse_options(opts: CSOptions) -> None:
    refused = {
        "method": bool(opts.covariates) and opts.method not in ("reg", "ipw", "dr"),
        "weights": opts.weights is not None,
        "cluster": opts.cluster is not None,
        "treatment": opts.treatment is not None,
        "bootstrap": opts.bootstrap is not None,
        "panel": not opts.panel,
        "se_convention": opts.se_convention != "did",
    }
    for param, bad in refused.items():
        if bad:
            value = getattr(opts, param)
            raise DataValidationError(
                f"`{param}`: att_gt on a Dask DataFrame (map-reduce over partitions) covers a "
                "balanced panel without weights, clusters, treatment check or bootstrap, "
                "with se_convention='did', and covariates with method='reg', 'ipw' or 'dr'; "
                f"received {param}={short_repr(value)}. "
                "Pass data.compute() if it fits in memory"
            )


def _passes(data: Any, spec: PanelSpec) -> tuple[np.ndarray, CohortMoments, dict[str, Any]]:
    from dask.delayed import delayed

    parts = data[spec.used].to_delayed()
    first = compute_all([delayed(partition_periods)(p, spec) for p in parts])
    periods = np.unique(np.concatenate([f["periods"] for f in first]))
    if periods.size < 2:
        raise DataValidationError(
            f"`time`: column {spec.time!r} has {periods.size} distinct period(s); need >= 2"
        )
    pieces = compute_all([delayed(partition_moments)(p, spec, periods) for p in parts])
    info = {
        "parts": parts,
        "n_rows": sum(f["n_rows"] for f in first),
        "n_usable": sum(f["n_usable"] for f in first),
        "n_partitions": len(parts),
        "digest": hashlib.sha256("".join(f["digest"] for f in first).encode()).hexdigest(),
    }
    return periods, merge_moments(pieces), info


def _sample_rules(
    moments: CohortMoments, periods: np.ndarray, opts: CSOptions, log: WarningLog
) -> np.ndarray:
    """R did's sample rules on the merged moments (warnings on ``log``); the groups."""
    n_incomplete = len(moments.incomplete)
    if n_incomplete and opts.allow_unbalanced_panel:
        raise DataValidationError(
            "`allow_unbalanced_panel`: on a Dask DataFrame att_gt uses the balanced-panel "
            f"estimator; {n_incomplete} units are not observed in every period. Pass "
            "allow_unbalanced_panel=False to drop them (as R did) or data.compute()"
        )
    if n_incomplete:
        log.warn(
            f"{n_incomplete} units are not observed in all {periods.size} periods and were "
            "dropped to balance the panel (as R did); see details['n_units_unbalanced']"
        )
    if moments.n_as_if_never:
        log.warn(
            f"`cohort`: {moments.n_as_if_never} units of column {opts.cohort!r} are first "
            f"treated after the last period {format_label(periods[-1])}; they serve as "
            "never-treated controls (as R did); see details['n_units_as_if_never_treated']"
        )
    if moments.n_first_treated:
        log.warn(
            f"dropped {moments.n_first_treated} units already treated in the first period "
            f"{format_label(periods[0])}: they have no pre-treatment period; see "
            "details['n_units_treated_first_period']"
        )
    if not moments.count:
        raise DataValidationError("no units remain after balancing the panel")
    n_never = moments.count.get(float("inf"), 0)
    if n_never == 0:
        raise DataValidationError(
            f"`cohort`: column {opts.cohort!r} has no never-treated units (0 or missing); "
            "att_gt on a Dask DataFrame needs them (pass data.compute() for the "
            "not-yet-treated rules without never-treated units)"
        )
    need = len(opts.covariates) + 5
    if opts.control_group == "never_treated" and n_never < need:
        raise DataValidationError(
            f"only {n_never} never-treated units: too few to serve as controls (R did "
            f"requires at least {need}); use control_group='not_yet_treated'"
        )
    groups = np.array(sorted(g for g in moments.count if np.isfinite(g)), dtype=float)
    if groups.size == 0:
        raise DataValidationError("`cohort`: no treated cohort remains; nothing to estimate")
    small = {g: moments.count[g] for g in groups if moments.count[g] < need}
    if small:
        shown = ", ".join(f"{format_label(g)}: {k}" for g, k in small.items())
        log.warn(
            f"`cohort`: small cohorts (units per cohort {shown}; fewer than {need} as R did "
            "warns): their influence-function standard errors are unreliable",
            SmallSampleWarning,
        )
    return groups


def att_gt_dask(data: Any, opts: CSOptions) -> GroupTimeEffects:
    """:func:`impacteval.did.att_gt` by map-reduce (see the module docstring)."""
    _refuse_options(opts)
    assert opts.unit is not None  # check_options requires it for panel data
    if opts.unit not in [str(c) for c in data.columns] and data.index.name == opts.unit:
        data = data.reset_index()  # partitioned by ``set_index(unit)``: the unit is the index
    named: dict[str, str | None] = {"outcome": opts.outcome, "unit": opts.unit, "time": opts.time,
             "cohort": opts.cohort}  # fmt: skip
    named.update({f"covariates[{c}]": c for c in opts.covariates})
    check_dask_columns(data, named, [k for k in named if k != "unit"])
    spec = PanelSpec(unit=opts.unit, time=opts.time, outcome=opts.outcome, cohort=opts.cohort,
                     anticipation=float(opts.anticipation),
                     extra=tuple(opts.covariates))  # fmt: skip
    periods, moments, info = _passes(data, spec)
    log = WarningLog()
    groups = _sample_rules(moments, periods, opts, log)
    levels = np.array(sorted(moments.count), dtype=float)  # inf (never) sorts last
    n_t = periods.size
    if opts.covariates and opts.method in ("ipw", "dr"):
        cells = ipw_cells(levels, moments, periods, groups, opts, spec, info, log)
        return _result(cells, periods, groups, opts, log, moments, info)
    if opts.covariates:
        cells = covariate_cells(levels, moments, periods, groups, opts, spec, info)
        return _result(cells, periods, groups, opts, log, moments, info)
    stats = (
        np.array([moments.count[g] for g in levels], dtype=float),
        np.stack([moments.s1[g][:n_t] for g in levels]),
        np.stack([moments.s2[g][:n_t, :n_t] for g in levels]),
    )
    cells = cells_from_moments(levels, stats, periods, groups, control_group=opts.control_group,
                               base_period=opts.base_period,
                               anticipation=float(opts.anticipation))  # fmt: skip
    return _result(cells, periods, groups, opts, log, moments, info)


def _refusal() -> DataValidationError:
    return DataValidationError(
        "this att_gt result was computed from a Dask DataFrame by map-reduce: its influence "
        "functions are held as IF'IF and per-cohort sums, so the per-unit matrix, "
        "aggregate() and the bootstrap are not available; the cell table, its analytic SEs, "
        "`overall` and pretrend_test() are. Pass data.compute() if it fits in memory"
    )


def covariate_cells(
    levels: np.ndarray,
    moments: CohortMoments,
    periods: np.ndarray,
    groups: np.ndarray,
    opts: CSOptions,
    spec: PanelSpec,
    info: dict[str, Any],
) -> MomentCells:
    """``method="reg"`` with covariates: cells from the moments, IF'IF by a third pass."""
    from dask.delayed import delayed

    stats = (
        np.array([moments.count[g] for g in levels], dtype=float),
        np.stack([moments.s1[g] for g in levels]),
        np.stack([moments.s2[g] for g in levels]),
    )
    reg = reg_cells(levels, stats, periods, groups, m=len(opts.covariates),
                    control_group=opts.control_group, base_period=opts.base_period,
                    anticipation=float(opts.anticipation),
                    names=tuple(opts.covariates))  # fmt: skip
    pieces = compute_all([delayed(partition_influence)(p, spec, periods, reg)
                          for p in info["parts"]])  # fmt: skip
    gram = sum(pc[0] for pc in pieces)
    sums = sum(pc[1] for pc in pieces)
    influence = GramInfluence(reg.n, gram, sums, stats[0], _refusal)
    return MomentCells(
        group=reg.group, time=reg.time, base=reg.base, att=reg.att, n_treated=reg.n_treated,
        n_control=reg.n_control, influence=influence, levels=levels, count=stats[0],
    )  # fmt: skip


def ipw_cells(
    levels: np.ndarray,
    moments: CohortMoments,
    periods: np.ndarray,
    groups: np.ndarray,
    opts: CSOptions,
    spec: PanelSpec,
    info: dict[str, Any],
    log: WarningLog,
) -> MomentCells:
    """``method="ipw"`` or ``"dr"`` with covariates: logits by iterated passes, then sums,
    then IF'IF."""
    from dask.delayed import delayed

    counts = np.array([moments.count[g] for g in levels], dtype=float)
    plan = ipw_plan(levels, counts, periods, groups, len(opts.covariates), opts)
    parts = info["parts"]
    if opts.method == "dr":  # the control-group OLS fits, from the per-cohort moments
        stats = (counts, np.stack([moments.s1[g] for g in levels]),
                 np.stack([moments.s2[g] for g in levels]))  # fmt: skip
        plan.ols = reg_cells(levels, stats, periods, groups, m=len(opts.covariates),
                             control_group=opts.control_group, base_period=opts.base_period,
                             anticipation=float(opts.anticipation),
                             names=tuple(opts.covariates)).beta  # fmt: skip

    def run(cand: dict[int, np.ndarray]) -> dict[int, tuple[float, Any, Any]]:
        got = compute_all([delayed(partition_logit)(p, spec, periods, plan, cand) for p in parts])
        return {j: (sum(g[j][0] for g in got), sum(g[j][1] for g in got),
                    sum(g[j][2] for g in got)) for j in cand}  # fmt: skip

    fit_logits(run, plan, log.warn)
    finish_ipw(compute_all([delayed(partition_ipw_sums)(p, spec, periods, plan) for p in parts]),
               plan)  # fmt: skip
    pieces = compute_all([delayed(partition_ipw_if)(p, spec, periods, plan) for p in parts])
    influence = GramInfluence(plan.n, sum(pc[0] for pc in pieces), sum(pc[1] for pc in pieces),
                              counts, _refusal)  # fmt: skip
    pos = np.searchsorted(levels, plan.group)
    return MomentCells(
        group=plan.group, time=plan.time, base=plan.base, att=plan.att,
        n_treated=counts[pos].astype(int),
        n_control=np.where(plan.live, counts @ plan.control, 0).astype(int),
        influence=influence, levels=levels, count=counts,
    )  # fmt: skip


def _result(
    cells: MomentCells,
    periods: np.ndarray,
    groups: np.ndarray,
    opts: CSOptions,
    log: WarningLog,
    moments: CohortMoments,
    info: dict[str, Any],
) -> GroupTimeEffects:
    how = Inference(level=opts.level)
    cols, _ = infer(cells.att, cells.influence, how, None, uniform=True)  # type: ignore[arg-type]
    n_degenerate = int(np.count_nonzero(np.isnan(cols.se) & np.isfinite(cells.att)))
    if n_degenerate:
        log.warn(
            f"{n_degenerate} of {cells.att.size} group-time cells have a degenerate standard "
            "error (at most sqrt(machine epsilon) x 10); it is reported as NaN, as R did does"
        )
    integer = bool(np.all(np.mod(np.r_[periods, groups], 1) == 0))

    def as_out(values: np.ndarray) -> np.ndarray:
        return values.astype(np.int64) if integer else values

    table = pd.DataFrame({
        "group": as_out(cells.group), "time": as_out(cells.time), "estimate": cells.att,
        "std_error": cols.se, "ci_lower": cols.ci_lower, "ci_upper": cols.ci_upper,
        "p_value": cols.p_value, "event_time": as_out(cells.time - cells.group),
        "base_period": as_out(cells.base), "n_treated": cells.n_treated,
        "n_control": cells.n_control,
    })  # fmt: skip
    n_units = int(cells.count.sum())
    n_never = int(cells.count[~np.isfinite(cells.levels)].sum())
    method = (
        f"Callaway-Sant'Anna ATT(g,t), {METHOD_LABELS[opts.method]}, "
        f"{opts.control_group.replace('_', '-')} controls, {opts.base_period} base period"
        f"{f', anticipation {opts.anticipation}' if opts.anticipation else ''}; {how.label}; "
        f"map-reduce over {info['n_partitions']} Dask partitions"
    )
    options = {k: getattr(opts, k) for k in ("outcome", "unit", "time", "cohort", "covariates",
               "control_group", "method", "base_period", "anticipation", "level")}  # fmt: skip
    options["engine"] = "dask"
    provenance = Provenance(options=options, data_fingerprint=info["digest"])
    est, se = simple_overall(cells)
    base = {"n_obs": n_units * periods.size, "n_treated": n_units - n_never,
            "n_control": n_never, "n_dropped": info["n_rows"] - info["n_usable"],
            "outcome": opts.outcome, "warnings": log.messages,
            "provenance": provenance}  # fmt: skip
    floor = float(np.sqrt(np.finfo(float).eps) * 10.0)
    overall = EffectEstimate.from_wald(
        est, se if se > floor else float("nan"), level=opts.level, df=None, estimand="ATT",
        method=f"{method}; aggregation 'simple'", **base,
    )  # fmt: skip
    fit = GroupTimeFit(
        group=cells.group, time=cells.time, base=cells.base, att=cells.att,
        influence=cells.influence,  # type: ignore[arg-type]  # factored, see _dask_cells
        n_treated=cells.n_treated, n_control=cells.n_control,
        unit_cohort=cells.levels, weights=cells.count, periods=periods,
    )  # fmt: skip
    details = {
        "influence": cells.influence, "fit": fit, "outcome": opts.outcome,
        "critical_value": cols.crit, "inference": how.label, "layout": "balanced_panel",
        "n_units": n_units, "n_units_unbalanced": len(moments.incomplete),
        "n_units_unbalanced_dropped": len(moments.incomplete),
        "n_units_treated_first_period": moments.n_first_treated,
        "n_units_as_if_never_treated": moments.n_as_if_never,
        "groups": [int(g) if integer else float(g) for g in groups],
        "periods": [int(p) if integer else float(p) for p in periods],
        "periods_dropped": [], "engine": "dask", "n_partitions": info["n_partitions"],
        "cohort_counts": dict(zip(cells.levels.tolist(), cells.count.tolist(), strict=True)),
    }  # fmt: skip
    return GroupTimeEffects(
        table=table, index_columns=("group", "time"), overall=overall, level=opts.level,
        estimand="ATT", n_clusters=None, df=None, ci_method=cols.ci_method, details=details,
        fit=fit, inference_setup=how, method=method,
        **{k: base[k] for k in ("n_obs", "n_treated", "n_control", "n_dropped")},
        warnings=log.messages, provenance=provenance,
    )  # fmt: skip
