"""Callaway-Sant'Anna group-time ATTs: pure array-in / array-out numerics.

Everything here works on the wide (unit x period) panel as numpy arrays; the public entry
point :func:`impacteval.did.att_gt.att_gt` validates the data and calls these functions.

The 2x2 estimators (R ``DRDID``, Sant'Anna & Zhao 2020) are in
:mod:`impacteval.did._drdid` (panel) and :mod:`impacteval.did._drdid_rc` (repeated
cross-sections); the no-covariate fast path in :mod:`impacteval.did._cs_fast`.
The group-time loop here follows R ``did`` 2.x (``did:::compute.att_gt2``): base periods,
control groups and the ``n / n_cell`` rescaling of each cell's influence function to the
whole sample.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from impacteval._panel import format_label
from impacteval._parallel import one_blas_thread, run_tasks
from impacteval.did._drdid import (
    EPS,
    METHODS,
    CellError,
    PScore,
    logit_newton,
    normalise,
    rcond1,
    simple_did,
)
from impacteval.did._drdid_batch import dr_cells
from impacteval.did._drdid_rc import METHODS_RC
from impacteval.exceptions import DataValidationError

__all__ = [
    "SE_CONVENTIONS",
    "GroupTimeFit",
    "as_dense",
    "bootstrap_draws",
    "bootstrap_se_and_crit",
    "cell_controls",
    "cell_plan",
    "estimate_group_time",
    "estimate_group_time_rc",
    "if_standard_errors",
    "if_vcov",
]

Array = np.ndarray
# R did: standard errors at or below this are degenerate (reported as NaN)
_SE_FLOOR = math.sqrt(EPS) * 10.0
_OVERLAP_MAX = 0.999  # did:::overlap_check_fail
# "did": sqrt(sum IF^2) / n (R did); "drdid": sd(IF) / sqrt(n) (R DRDID, divisor n - 1)
SE_CONVENTIONS: tuple[str, ...] = ("did", "drdid")
_PS_METHODS = ("dr", "dr_imp", "ipw", "ipw_ht", "dr_rc1", "dr_imp_rc1")
_OR_METHODS = ("dr", "dr_imp", "reg", "dr_rc1", "dr_imp_rc1")
# threads for the batched DR kernels (their products release the GIL)
KERNEL_THREADS = 2


# ---------------------------------------------------------------------------------------
# Group-time loop
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupTimeFit:
    """All group-time ATTs of one panel with their influence functions.

    Attributes
    ----------
    group, time, base : (K,) arrays
        Cohort, period and base period of each cell.
    att : (K,) array
        ATT(g, t) (0 for the normalised cell ``t == base`` under a universal base).
    influence : (n, K) array
        Unit-level influence functions, scaled to the whole sample as R ``did`` does (the
        cell's DRDID influence function times ``n / n_cell``; zero off the cell).
    n_treated, n_control : (K,) int arrays
        Units in each 2x2 comparison.
    unit_cohort : (n,) array
        Each unit's cohort (``inf`` for never treated and as-if never treated).
    weights : (n,) array
        Sampling weights normalised to mean one (ones without weights).
    periods : (T,) array
        The periods of the panel.
    """

    group: Array
    time: Array
    base: Array
    att: Array
    influence: Array
    n_treated: Array
    n_control: Array
    unit_cohort: Array
    weights: Array
    periods: Array

    @property
    def n(self) -> int:
        return int(self.influence.shape[0])


def cell_plan(
    periods: Array, groups: Array, *, base_period: str, anticipation: float
) -> list[tuple[float, int, int]]:
    """The (g, t-index, base-index) of every cell, in R ``did``'s order (cohort, then time).

    Post-treatment (``t >= g``): base = last period ``p`` with ``p + anticipation < g``;
    pre-treatment: the period just before ``t`` ("varying") or as post ("universal"). Periods
    are used by position, so unevenly spaced periods work as in R ``did``.
    """
    universal = base_period == "universal"
    plan: list[tuple[float, int, int]] = []
    for g in groups:
        pret_g = int(np.flatnonzero(periods + anticipation < g)[-1])
        for ti in range(0 if universal else 1, periods.size):
            bi = pret_g if (periods[ti] >= g or universal) else ti - 1
            plan.append((float(g), ti, bi))
    return plan


def cell_controls(
    cohort: Array, g: float, cutoff: float, control_group: str, label: str
) -> tuple[Array, Array]:
    """Treated (cohort g) and control indicators; an error naming the cell if no controls."""
    treated = cohort == g
    if control_group == "never_treated":
        control = ~np.isfinite(cohort)
    else:
        control = ~np.isfinite(cohort) | ((cohort > cutoff) & ~treated)
    if not control.any():
        raise DataValidationError(
            f"no control units are available for cell {label}: no unit is "
            f"{'never treated' if control_group == 'never_treated' else 'not yet treated'}"
            f" in period {format_label(cutoff)}"
        )
    return treated, control


def _finish_cell(att: float, inf: Array, label: str, method: str, names: tuple[str, ...]) -> None:
    if not np.isfinite(att) or not np.all(np.isfinite(inf)):
        raise DataValidationError(
            f"cell {label} with covariates {list(names)}: the 2x2 estimate is not finite "
            f"(method {method!r})"
        )


# a cell's influence function: a full n-vector, (rows, values) with zeros elsewhere, or None
_Column = Array | tuple[Array, Array] | None
_Row = tuple[float, float, float, float, _Column, int, int]


def _stack_columns(columns: list[_Column], n: int) -> Array:
    """Columns into one Fortran-ordered ``n x K`` array, each written once in place."""
    out = np.zeros((n, len(columns)), order="F")
    for j, column in enumerate(columns):
        if isinstance(column, tuple):
            out[column[0], j] = column[1]
        elif column is not None:
            out[:, j] = column
    return out


def _assemble(
    rows: list[_Row],
    n: int,
    unit_cohort: Array,
    weights: Array,
    periods: Array,
    influence: Array | None = None,
) -> GroupTimeFit:
    """The fit from its rows; ``influence``: the rows' influence matrix when already built
    (the rows' own columns are then not used)."""
    return GroupTimeFit(
        group=np.array([r[0] for r in rows]),
        time=np.array([r[1] for r in rows]),
        base=np.array([r[2] for r in rows]),
        att=np.array([r[3] for r in rows]),
        influence=_stack_columns([r[4] for r in rows], n) if influence is None else influence,
        n_treated=np.array([r[5] for r in rows], dtype=int),
        n_control=np.array([r[6] for r in rows], dtype=int),
        unit_cohort=unit_cohort,
        weights=weights,
        periods=periods,
    )


def estimate_group_time(
    y: Array,
    unit_cohort: Array,
    periods: Array,
    groups: Array,
    *,
    x: Array | None,
    weights: Array,
    control_group: str,
    base_period: str,
    anticipation: float,
    method: str,
    covariate_names: tuple[str, ...] = (),
) -> GroupTimeFit:
    """Every ATT(g, t) of a balanced panel, as R ``did::att_gt`` (did 2.x).

    Parameters
    ----------
    y : (n, T) outcomes, periods in increasing order.
    unit_cohort : (n,) first treated period; ``inf`` for never treated.
    periods : (T,) the sorted periods.
    groups : the treated cohorts to estimate (each later than ``periods[0] + anticipation``).
    x : (n, T, k) covariates *without* intercept, or None.
    weights : (n,) positive sampling weights, normalised to mean one.
    control_group : "never_treated" or "not_yet_treated".
    base_period : "varying" or "universal".
    anticipation : periods of anticipation (delta).
    method : a key of :data:`impacteval.did._drdid.METHODS` ("dr", "dr_imp", "ipw",
        "ipw_ht" or "reg").

    Notes
    -----
    Cells follow ``did:::run_att_gt_estimation`` (see :func:`cell_plan`); under a universal
    base the cell ``t == base`` is normalised to 0. Controls: never treated, or in addition
    (not-yet-treated) units whose cohort exceeds ``max(t, base) + anticipation``, the cohort
    ``g`` itself excluded. Covariates (and weights) are taken from the earlier of ``t`` and
    the base period.
    """
    n = y.shape[0]
    # unweighted: DRDID's normalised weights are exactly 1, so the overlap check's logit is
    # the estimator's (same inputs, same numbers) and is passed on instead of refitted;
    # consecutive cells with equal (x, d, w) share their propensity-score fits (PScore)
    unweighted = bool(np.all(weights == 1.0))
    shared: PScore | None = None
    if method not in METHODS:
        raise DataValidationError(
            f"`method`: {method!r} is a repeated-cross-section estimator (DRDID defines it "
            "for repeated cross-sections only); use it with panel=False, or one of "
            f"{sorted(METHODS)} with a balanced panel"
        )
    estimator = METHODS[method]
    ones = np.ones((n, 1))
    rows: list[_Row] = []
    plan = cell_plan(periods, groups, base_period=base_period, anticipation=anticipation)
    if x is not None and method == "dr":  # cells sharing their 2x2 design: one batch each
        # skinny products (n x k by k x cells): one BLAS thread is faster, and bit-stable
        with one_blas_thread():
            setup = (control_group, anticipation, covariate_names)
            batched, influence = _dr_batched(y, unit_cohort, periods, plan, x, weights, setup)
        return _assemble(batched, n, unit_cohort, weights, periods, influence)
    for g, ti, bi in plan:
        t, base = float(periods[ti]), float(periods[bi])
        if bi == ti:
            n_g = int(np.sum(unit_cohort == g))
            rows.append((g, t, base, 0.0, None, n_g, 0))
            continue
        label = f"(g, t) = ({format_label(g)}, {format_label(t)})"
        treated, control = cell_controls(
            unit_cohort, g, max(t, base) + anticipation, control_group, label
        )
        idx = np.flatnonzero(treated | control)
        d = treated[idx].astype(float)
        dy = y[idx, ti] - y[idx, bi]
        wc = weights[idx]
        if x is None:
            att, inf_cell = simple_did(dy, d, ones[idx], wc)
        else:
            xc = np.column_stack([np.ones(idx.size), x[idx, min(bi, ti), :]])
            wn = normalise(wc)
            if shared is None or not shared.matches(xc, d, wn):  # else: checked already
                beta = _check_cell(xc, d, method, label, covariate_names)
                shared = PScore(xc, d, wn, beta if unweighted else None)
            try:
                att, inf_cell = estimator(dy, d, xc, wc, pscore=shared)
            except CellError as exc:
                raise DataValidationError(
                    f"cell {label} with covariates {list(covariate_names)}: {exc}"
                ) from exc
        _finish_cell(att, inf_cell, label, method, covariate_names)
        column = (idx, (n / idx.size) * inf_cell)  # zero off the cell
        rows.append((g, t, base, att, column, int(d.sum()), int(idx.size - d.sum())))
    return _assemble(rows, n, unit_cohort, weights, periods)


def _batch_key(
    levels: Array, g: float, cutoff: float, control_group: str, x_period: int
) -> tuple[float, tuple[float, ...], int]:
    """Cells with equal keys have the same units, treatment, covariates and weights."""
    ctrl = ~np.isfinite(levels)
    if control_group != "never_treated":
        ctrl = ctrl | ((levels > cutoff) & (levels != g))
    return g, tuple(levels[ctrl].tolist()), x_period


def _dr_batched(
    y: Array,
    unit_cohort: Array,
    periods: Array,
    plan: list[tuple[float, int, int]],
    x: Array,
    weights: Array,
    setup: tuple[str, float, tuple[str, ...]],
) -> tuple[list[_Row], Array]:
    """The cells of ``estimate_group_time`` with ``method="dr"``, batched: the rows (in
    plan order, without their columns) and the cells' influence matrix (n x cells).

    Cells whose 2x2 problems differ only in the outcome change (same cohort, same control
    cohorts, same covariate values) are estimated together by
    :func:`~impacteval.did._drdid_batch.drdid_panel_batch`: one propensity score, one
    regression design, the influence functions as one matrix. Checks, errors and warnings
    are those of the cell-by-cell loop (raised for the first cell of a batch, in plan order).
    """
    control_group, anticipation, names = setup
    n = y.shape[0]
    # covariates constant over time: each period's equal to the one before (compared as
    # rows of n x (T k), contiguous, instead of the strided (n, T, k) slices)
    flat = np.ascontiguousarray(x).reshape(n, -1)
    kx = x.shape[2]
    static = bool((flat[:, kx:] == flat[:, :-kx]).all())
    design = None
    if static:
        design = np.empty((n, kx + 1))
        design[:, 0] = 1.0
        design[:, 1:] = x[:, 0, :]
    y_c = np.ascontiguousarray(y, dtype=float)  # units x periods, as the kernels read it
    unweighted = bool(np.all(weights == 1.0))
    levels = np.unique(unit_cohort)
    out: list[_Row | None] = [None] * len(plan)
    batches: dict[tuple[float, tuple[float, ...], int], list[int]] = {}
    labels: list[str] = []
    for j, (g, ti, bi) in enumerate(plan):
        t, base = float(periods[ti]), float(periods[bi])
        labels.append(f"(g, t) = ({format_label(g)}, {format_label(t)})")
        if bi == ti:
            out[j] = (g, t, base, 0.0, None, int(np.sum(unit_cohort == g)), 0)
            continue
        cutoff = max(t, base) + anticipation
        key = _batch_key(levels, g, cutoff, control_group, 0 if static else min(bi, ti))
        if key not in batches:
            cell_controls(unit_cohort, g, cutoff, control_group, labels[j])  # errors only
            batches[key] = []
        batches[key].append(j)
    arrays = (unit_cohort, x, design, weights)
    influence = np.zeros((n, len(plan)), order="F")  # each kernel writes its cells' columns
    # unweighted: batches with the same controls (e.g. never treated) share the QR of the
    # controls' design, and each batch runs its kernel right after its checks, on the
    # same thread (its logit is fitted by the check); a weighted batch refits its logit,
    # which may warn, so it is refitted here and its kernel run afterwards
    qrs = _control_qrs(batches, unit_cohort, x, design) if unweighted else {}

    def prepare_and_run(item: tuple[tuple[float, tuple[float, ...], int], list[int]]) -> _BatchJob:
        job = _prepare_batch(item, plan, arrays, labels[item[1][0]], names, unweighted)
        if job.error is None and job.pscore is not None and job.pscore.fitted and qrs:
            job.control_qr = qrs[item[0][1:]]
            job.result = _batch_kernel(job, y_c, plan, influence)
        return job

    jobs = threaded(prepare_and_run, list(batches.items()))
    # the batches up to the first failed check are estimated, then that check's error raised
    n_ok = next((i for i, job in enumerate(jobs) if job.error is not None), len(jobs))
    todo = [job for job in jobs[:n_ok] if job.result is None]
    for job in todo:
        if job.pscore is not None and not job.pscore.fitted:
            job.pscore.logit()  # a refit (weighted, or not converged) may warn: this thread
    for job, result in zip(todo, threaded(lambda j: _batch_kernel(j, y_c, plan, influence), todo),
                           strict=True):  # fmt: skip
        job.result = result
    kernels = [job.result for job in jobs[:n_ok]]
    for job, result in zip(jobs[:n_ok], kernels, strict=True):
        if isinstance(result, CellError):
            first = labels[job.cells[0]]
            raise DataValidationError(
                f"cell {first} with covariates {list(names)}: {result}"
            ) from result
        att, bad = result
        n_t = int(job.d.sum())
        finite = np.isfinite(att) & ~bad
        for col, j in enumerate(job.cells):
            if not finite[col]:
                _finish_cell(float(att[col]), influence[job.idx, j], labels[j], "dr", names)
            g_j, t_j, b_j = plan[j]
            out[j] = (g_j, float(periods[t_j]), float(periods[b_j]), float(att[col]), None,
                      n_t, int(job.idx.size - n_t))  # fmt: skip
    failed = jobs[n_ok].error if n_ok < len(jobs) else None
    if failed is not None:
        raise failed
    return [r for r in out if r is not None], influence


def _control_qrs(
    batches: dict[tuple[float, tuple[float, ...], int], list[int]],
    unit_cohort: Array,
    x: Array,
    design: Array | None,
) -> dict[tuple[tuple[float, ...], int], tuple[Array, Array]]:
    """QR of the controls' design (unit weights) per control set and covariate period: the
    same rows in the same order as the kernel of any batch with those controls takes."""
    out: dict[tuple[tuple[float, ...], int], tuple[Array, Array]] = {}
    for _g, ctrl_levels, xp in batches:
        if (ctrl_levels, xp) not in out:
            idx = np.flatnonzero(np.isin(unit_cohort, ctrl_levels))
            xc = (
                design[idx]
                if design is not None
                else np.column_stack([np.ones(idx.size), x[idx, xp, :]])
            )
            q, r = np.linalg.qr(xc)
            out[ctrl_levels, xp] = (np.ascontiguousarray(q), r)  # as the kernels read it
    return out


@dataclass
class _BatchJob:
    """One batch of DR cells: its sample, propensity-score fits, or the check that failed."""

    cells: list[int]
    idx: Array
    d: Array
    xc: Array
    wc: Array
    pscore: PScore | None
    error: DataValidationError | None = None
    control_qr: tuple[Array, Array] | None = None
    result: tuple[Array, Array] | CellError | None = None


def _prepare_batch(
    item: tuple[tuple[float, tuple[float, ...], int], list[int]],
    plan: list[tuple[float, int, int]],
    arrays: tuple[Array, Array, Array | None, Array],
    first: str,
    names: tuple[str, ...],
    unweighted: bool,
) -> _BatchJob:
    """The batch's sample and R did's checks (no warnings: it may run on a thread); a failed
    check is kept on the job and raised in plan order."""
    (g, ctrl_levels, xp), cells = item
    unit_cohort, x, design, weights = arrays
    treated = unit_cohort == g
    idx = np.flatnonzero(treated | np.isin(unit_cohort, ctrl_levels))
    d = treated[idx].astype(float)
    xc = design[idx] if design is not None else np.column_stack([np.ones(idx.size), x[idx, xp, :]])
    wc = weights[idx]
    job = _BatchJob(cells, idx, d, xc, wc, None)
    try:
        beta = _check_cell(xc, d, "dr", first, names)
    except DataValidationError as exc:
        job.error = exc
        return job
    job.pscore = PScore(xc, d, normalise(wc), beta if unweighted else None)
    return job


def _batch_kernel(
    job: _BatchJob, y: Array, plan: list[tuple[float, int, int]], influence: Array
) -> tuple[Array, Array] | CellError:
    """:func:`~impacteval.did._drdid_batch.dr_cells` of one batch (compiled loops that
    release the GIL): the cells' ATTs and a flag per cell for non-finite influence values;
    the influence functions, rescaled to the whole sample, are written into the batch's
    own columns of ``influence`` at its units (zero elsewhere)."""
    tb = np.array([[plan[j][1], plan[j][2]] for j in job.cells], dtype=np.int64)
    try:
        return dr_cells(
            y, job.idx, tb, job.xc, job.d, job.wc, pscore=job.pscore,
            scale=influence.shape[0] / job.idx.size, control_qr=job.control_qr,
            out=(influence, job.idx, np.asarray(job.cells, dtype=np.int64)),
        )  # fmt: skip
    except CellError as exc:
        return exc


def threaded(func: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """``[func(i) for i in items]`` on up to :data:`KERNEL_THREADS` threads.

    For array work whose numpy operations release the GIL (the batched DR cells): each item
    is computed by the same operations on any thread, so the numbers do not depend on the
    threads. ``func`` must not issue warnings (``warnings.catch_warnings`` and the warning
    registry are not thread-safe) and should run BLAS single-threaded (the caller's limit).
    Serial for one item or one CPU.
    """
    n_threads = min(KERNEL_THREADS, len(items), os.cpu_count() or 1)
    if n_threads <= 1:
        return [func(i) for i in items]
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        return list(pool.map(func, items))


def estimate_group_time_rc(
    y: Array,
    row_period: Array,
    row_unit: Array,
    unit_cohort: Array,
    periods: Array,
    groups: Array,
    *,
    x: Array | None,
    row_weights: Array,
    unit_weights: Array,
    control_group: str,
    base_period: str,
    anticipation: float,
    method: str,
    covariate_names: tuple[str, ...] = (),
) -> GroupTimeFit:
    """Every ATT(g, t) from repeated cross-sections or an unbalanced panel (R ``did``).

    Parameters
    ----------
    y : (m,) outcome of each observation (row).
    row_period : (m,) index into ``periods`` of each row.
    row_unit : (m,) unit code 0..n-1 of each row: ``arange(m)`` for repeated
        cross-sections, the panel unit for an unbalanced panel.
    unit_cohort : (n,) cohort of each unit (``inf`` = never treated).
    x : (m, k) covariates of each row *without* intercept, or None.
    row_weights : (m,) sampling weights; unit_weights : (n,) the same per unit, mean one.

    Notes
    -----
    As R ``did``'s ``panel = FALSE`` code, which ``allow_unbalanced_panel = TRUE`` also
    runs: each cell keeps the rows of cohort ``g`` and its controls observed in ``t`` or in
    the base period and applies the DRDID repeated-cross-section estimator of ``method``
    (:data:`impacteval.did._drdid_rc.METHODS_RC`) with each row's own covariates. The rows'
    influence function is scaled by ``n / m_cell`` and summed within unit, so an unbalanced
    panel's SEs account for the correlation of a unit's observations.
    """
    n = unit_cohort.shape[0]
    if method not in METHODS_RC:
        raise DataValidationError(
            f"`method`: {method!r} is only available for balanced panels; use one of "
            f"{sorted(METHODS_RC)} with repeated cross-sections or unbalanced panels"
        )
    estimator = METHODS_RC[method]
    row_cohort = unit_cohort[row_unit]
    rows: list[_Row] = []
    plan = cell_plan(periods, groups, base_period=base_period, anticipation=anticipation)
    for g, ti, bi in plan:
        t, base = float(periods[ti]), float(periods[bi])
        if bi == ti:
            n_g = int(np.sum((row_cohort == g) & (row_period == ti)))
            rows.append((g, t, base, 0.0, None, n_g, 0))
            continue
        label = f"(g, t) = ({format_label(g)}, {format_label(t)})"
        treated, control = cell_controls(
            row_cohort, g, max(t, base) + anticipation, control_group, label
        )
        idx = np.flatnonzero((treated | control) & ((row_period == ti) | (row_period == bi)))
        d = treated[idx].astype(float)
        post = (row_period[idx] == ti).astype(float)
        for dd, pp, what in ((1, 1, "treated"), (1, 0, "treated"), (0, 1, "control"),
                             (0, 0, "control")):  # fmt: skip
            if not np.any((d == dd) & (post == pp)):
                raise DataValidationError(
                    f"cell {label}: no {what} observations in period "
                    f"{format_label(t if pp else base)}; every cell needs treated and control "
                    "observations in both of its periods"
                )
        xc = np.ones((idx.size, 1))
        if x is not None:
            xc = np.column_stack([xc, x[idx]])
            _check_cell(xc, d, method, label, covariate_names)
        try:
            att, inf_cell = estimator(y[idx], post, d, xc, row_weights[idx])
        except CellError as exc:
            raise DataValidationError(
                f"cell {label} with covariates {list(covariate_names)}: {exc}"
            ) from exc
        _finish_cell(att, inf_cell, label, method, covariate_names)
        column = np.bincount(row_unit[idx], weights=(n / idx.size) * inf_cell, minlength=n)
        rows.append((g, t, base, att, column, int(d.sum()), int(idx.size - d.sum())))
    return _assemble(rows, n, unit_cohort, unit_weights, periods)


def _check_cell(
    x: Array, d: Array, method: str, label: str, names: tuple[str, ...]
) -> Array | None:
    """R did's per-cell guards, as errors: overlap (logit score >= 0.999), singular design.

    Returns the unweighted logit coefficients of the overlap check when that fit converged
    (None otherwise, or for methods without a logit score): an unweighted cell's estimator
    reuses them instead of refitting the identical logit.
    """
    beta: Array | None = None
    if method in _PS_METHODS:
        converged = False
        try:  # no warning here: this may run on a worker thread
            beta, converged = logit_newton(x, d, np.ones_like(d))
        except CellError:
            beta = None
        # the largest score is the score of the largest index (expit is increasing)
        if beta is None or float(special.expit(np.max(x @ beta))) >= _OVERLAP_MAX:
            raise DataValidationError(
                f"overlap fails in cell {label}: a fitted propensity score on covariates "
                f"{list(names)} reaches {_OVERLAP_MAX} (treated units without comparable "
                "controls); drop or coarsen covariates, or use method='reg'"
            )
        if not converged:
            beta = None  # let the estimator refit (and warn) as before
    if method in _OR_METHODS:
        xc = x[d == 0]
        if rcond1(xc.T @ xc) < EPS:
            raise DataValidationError(
                f"the covariate matrix of the control units is singular in cell {label} "
                f"(covariates {list(names)}); remove collinear or constant covariates"
            )
    return beta


# ---------------------------------------------------------------------------------------
# Inference from influence functions
# ---------------------------------------------------------------------------------------
def as_dense(inf: Array) -> Array:
    """The influence matrix as a numpy array (a factored ``GroupedInfluence`` is expanded)."""
    return inf if isinstance(inf, np.ndarray) else np.asarray(inf)


def _cluster_sums(inf: Array, clusters: Array | None, n_clusters: int | None) -> Array:
    inf = as_dense(inf)
    if clusters is None:
        return inf
    out = np.zeros((int(n_clusters or clusters.max() + 1), inf.shape[1]))
    np.add.at(out, clusters, inf)
    return out


def _demeaned(inf: Array) -> Array:
    """The dense influence matrix with each column's mean removed (R's ``sd`` centring)."""
    dense = as_dense(inf)
    return np.asarray(dense - dense.mean(axis=0))


def if_vcov(
    inf: Array,
    clusters: Array | None = None,
    n_clusters: int | None = None,
    convention: str = "did",
) -> Array:
    """Covariance of the estimates: ``S'S / n^2`` with ``S`` the (cluster-summed) IF.

    Without clusters this is R did's ``V / n`` with ``V = t(inffunc) %*% inffunc / n``; with
    clusters the rows are first summed by cluster (``did``'s ``cluster_analytic`` branch).
    ``convention="drdid"`` (no clusters): the sample covariance of the IF over ``n``,
    ``(S - mean S)'(S - mean S) / ((n - 1) n)``, whose diagonal is R DRDID's
    ``var(IF) / n``.
    """
    n = inf.shape[0]
    if convention == "drdid":
        c = _demeaned(inf)
        return np.asarray(c.T @ c / ((n - 1) * n))
    if clusters is None and hasattr(inf, "gram"):  # factored: no dense n x K matrix
        return np.asarray(inf.gram() / n**2)
    s = _cluster_sums(inf, clusters, n_clusters)
    return np.asarray(s.T @ s / n**2)


def if_standard_errors(
    inf: Array,
    clusters: Array | None = None,
    n_clusters: int | None = None,
    convention: str = "did",
) -> Array:
    """``sqrt(sum_c S_c^2) / n`` per column; degenerate ones (<= sqrt(eps) * 10) are NaN.

    ``convention="drdid"`` (no clusters): ``sd(IF) / sqrt(n)`` per column, R DRDID's
    ``stats::sd(inf.func) / sqrt(n)``.
    """
    n = inf.shape[0]
    if convention == "drdid":
        c = _demeaned(inf)
        se = np.sqrt(np.einsum("ij,ij->j", c, c) / (n - 1)) / math.sqrt(n)
        return np.where(se <= _SE_FLOOR, np.nan, se)
    if clusters is None and hasattr(inf, "column_sq_sums"):  # factored: no dense matrix
        se = np.sqrt(np.maximum(inf.column_sq_sums(), 0.0)) / n
        return np.where(se <= _SE_FLOOR, np.nan, se)
    s = _cluster_sums(inf, clusters, n_clusters)
    se = np.sqrt(np.einsum("ij,ij->j", s, s)) / n
    return np.where(se <= _SE_FLOOR, np.nan, se)


def bootstrap_draws(
    inf: Array,
    clusters: Array | None,
    n_clusters: int | None,
    draws: int,
    rng: np.random.Generator,
    n_jobs: int | None = None,
) -> Array:
    """Multiplier-bootstrap draws ``sqrt(C) * mean_c(U_c S_c)`` with Rademacher ``U_c``.

    As ``did::mboot`` (``BMisc::multiplier_bootstrap`` uses Rademacher weights): ``S`` is the
    IF, summed by cluster when clustered, and ``C`` the number of rows of ``S``. Draws are
    generated in blocks so memory stays below about 40 MB.
    """
    s = _cluster_sums(inf, clusters, n_clusters)
    c = s.shape[0]
    block = max(1, min(draws, 5_000_000 // max(c, 1)))
    # weights drawn here block by block (the serial order); the products run as joblib
    # tasks, so an active joblib context (e.g. Dask) takes them with the same numbers
    tasks = (
        (rng.integers(0, 2, size=(min(block, draws - i), c), dtype=np.int8), s)
        for i in range(0, draws, block)
    )
    parts = run_tasks(rademacher_times, tasks, n_jobs=n_jobs)
    return np.vstack(parts) / math.sqrt(c)


def rademacher_times(u: Array, s: Array) -> Array:
    """``(2u - 1) @ s`` for 0/1 draws ``u`` (one block of multiplier-bootstrap draws), with
    one BLAS thread so that the bits do not depend on where the task runs."""
    with one_blas_thread():
        return np.asarray((u.astype(float) * 2.0 - 1.0) @ s)


def _type1_quantile(sorted_values: Array, p: float) -> float:
    m = sorted_values.shape[0]
    j = max(math.ceil(p * m - 1e-12), 1)
    return float(sorted_values[j - 1])


def bootstrap_se_and_crit(
    bres: Array, n: int, n_clusters: int, level: float
) -> tuple[Array, float]:
    """Bootstrap SEs (IQR / 1.349 scale) and the sup-t critical value, as ``did::mboot``.

    Returns
    -------
    se : (K,) array, NaN for degenerate columns; crit : float, the ``level`` quantile of
    ``max_k |b_k / sigma_k|`` over draws (R quantile type 1). NaN when every column is
    degenerate.
    """
    ok = np.isfinite(bres).all(axis=0) & (np.sum(bres**2, axis=0) > _SE_FLOOR)
    iqr_norm = float(stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    sigma = np.full(bres.shape[1], np.nan)
    for k in np.flatnonzero(ok):
        col = np.sort(bres[:, k])
        sigma[k] = (_type1_quantile(col, 0.75) - _type1_quantile(col, 0.25)) / iqr_norm
    se = sigma * math.sqrt(n_clusters) / n
    se = np.where(se <= _SE_FLOOR, np.nan, se)
    usable = ok & np.isfinite(sigma) & (sigma > _SE_FLOOR)
    if not usable.any():
        return se, math.nan
    sup_t = np.max(np.abs(bres[:, usable] / sigma[usable]), axis=1)
    return se, _type1_quantile(np.sort(sup_t), level)
