"""Numerics of triple differences (Ortiz-Villavicencio & Sant'Anna 2025), array in, array out.

A triple difference compares four subgroups of units, crossed by the period ``S`` in which
their group enables treatment and a binary eligibility partition ``Q``:

====  ==================  ==============================================
code  cell                role
====  ==================  ==============================================
4     ``S = g, Q = 1``    treated (the ATT is theirs)
3     ``S = g, Q = 0``    enabled but ineligible
2     ``S = c, Q = 1``    eligible in a comparison group ``c`` (not enabled by ``t``)
1     ``S = c, Q = 0``    ineligible in a comparison group
====  ==================  ==============================================

The paper's estimator (its eq. 3.5 for two periods, 4.8 for a cell ``(g, t)``) is **not**
the difference of two DiDs run separately on the eligible and the ineligible: it is the
sum of three 2x2 DiDs that each compare subgroup 4 with one other subgroup,

    ATT = DiD(4 vs 3) + DiD(4 vs 2) - DiD(4 vs 1),

where each DiD reweights (IPW), models (regression) or both (doubly robust) its comparison
subgroup to the covariate distribution of subgroup 4, so all three target the same
population. With covariates the naive "DiD among the eligible minus DiD among the
ineligible" averages over different covariate distributions and is biased (the paper's
section 3). Without covariates the two coincide.

Each 2x2 DiD is one of DRDID's panel estimators in :mod:`impacteval.did._drdid`
(``drdid_panel``, ``std_ipw_did_panel``, ``reg_did_panel``) applied to the units of the two
subgroups; its influence function is rescaled to the whole sample (``n / n_pair``, zero off
the pair) and the three are combined with the same signs, as the authors' R package
``triplediff`` does.

With staggered adoption and not-yet-treated comparisons, a cell ``(g, t)`` has one DDD per
comparison cohort ``c`` (never enabled, or enabled after ``max(t, base)``). The paper (eq.
4.11-4.12) combines them by optimal GMM: weights ``Omega^-1 1 / (1' Omega^-1 1)`` with
``Omega`` the covariance of the per-comparison influence functions over the cell's units.
Pooling all not-yet-treated groups into one comparison, as in ``att_gt``, is not valid for
DDD (the paper's section 4).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from impacteval.did._cs_numerics import GroupTimeFit
from impacteval.did._drdid import CellError, reg_did_panel, std_ipw_did_panel
from impacteval.did._drdid import drdid_panel as dr_panel

__all__ = [
    "DDD_METHODS",
    "SUBGROUP_NAMES",
    "CellOutcome",
    "CellPlan",
    "PairFit",
    "TwoPeriodDDD",
    "collect_cells",
    "ddd_group_time",
    "ddd_two_period",
    "gmm_combine",
    "plan_cells",
    "subgroups",
    "triple_sum",
]

Array = np.ndarray
CellOutcome = tuple[float, Array, int, int, int]  # att, influence, n treated, n control, comps
DDD_METHODS = {"dr": dr_panel, "ipw": std_ipw_did_panel, "reg": reg_did_panel}
_COMPARISONS = (3, 2, 1)  # subgroup compared with subgroup 4, in the order of the sum
SUBGROUP_NAMES = {
    1: "ineligible comparison",
    2: "eligible comparison",
    3: "enabled ineligible",
    4: "treated",
}


@dataclass(frozen=True)
class TwoPeriodDDD:
    """One triple difference on two periods.

    Attributes
    ----------
    att : float
        DiD(4 vs 3) + DiD(4 vs 2) - DiD(4 vs 1).
    influence : (n,) array
        Influence function on the units passed in, scaled as R ``did`` scales a cell's
        (``var = sum(influence**2) / n**2``).
    did_atts : tuple of 3 floats
        The three DiDs, 4 vs 3, 4 vs 2, 4 vs 1.
    counts : tuple of 4 ints
        Units in subgroups 1, 2, 3, 4.
    """

    att: float
    influence: Array
    did_atts: tuple[float, float, float]
    counts: tuple[int, int, int, int]


def subgroups(enabled: Array, eligible: Array) -> Array:
    """Subgroup codes 1-4 from the enabled-group and eligibility indicators."""
    return np.asarray(1 + eligible.astype(int) + 2 * enabled.astype(int))


def ddd_two_period(
    dy: Array, enabled: Array, eligible: Array, x: Array, w: Array, method: str
) -> TwoPeriodDDD:
    """Two-period triple difference with its influence function.

    Parameters
    ----------
    dy : (n,) outcome change from the base period to the period of interest.
    enabled : (n,) bool, the unit's group enables treatment (``S = g``).
    eligible : (n,) bool, the unit is in the eligible partition (``Q = 1``).
    x : (n, k) covariates with the intercept column first.
    w : (n,) sampling weights.
    method : {"dr", "ipw", "reg"}

    Raises
    ------
    CellError
        A subgroup is empty or a nuisance fit fails.
    """
    estimator = DDD_METHODS[method]
    return triple_sum(
        subgroups(enabled, eligible),
        lambda rows, d: estimator(dy[rows], d, x[rows], w[rows]),
    )


PairFit = Callable[[Array, Array], tuple[float, Array]]


def triple_sum(sub: Array, fit_pair: PairFit) -> TwoPeriodDDD:
    """DiD(4 vs 3) + DiD(4 vs 2) - DiD(4 vs 1) from a 2x2 DiD on a pair of subgroups.

    Parameters
    ----------
    sub : (n,) subgroup codes 1-4 (:func:`subgroups`).
    fit_pair : callable
        ``fit_pair(rows, d)`` with a boolean row mask of subgroup 4 and one comparison
        subgroup and ``d`` (1 = subgroup 4) on those rows; returns the DiD and its influence
        function on those rows, scaled to their number.

    Raises
    ------
    CellError
        A subgroup is empty or a nuisance fit fails.
    """
    counts = tuple(int(np.count_nonzero(sub == k)) for k in (1, 2, 3, 4))
    if counts[3] == 0:
        raise CellError("no treated units (enabled group and eligible partition)")
    n = sub.shape[0]
    atts: list[float] = []
    inf = np.zeros(n)
    for comp, sign in zip(_COMPARISONS, (1.0, 1.0, -1.0), strict=True):
        if counts[comp - 1] == 0:
            raise CellError(f"no units in the {SUBGROUP_NAMES[comp]} subgroup")
        rows = (sub == 4) | (sub == comp)
        att_c, inf_c = fit_pair(rows, (sub[rows] == 4).astype(float))
        atts.append(att_c)
        inf[rows] += sign * inf_c * (n / np.count_nonzero(rows))
    att = atts[0] + atts[1] - atts[2]
    return TwoPeriodDDD(att, inf, (atts[0], atts[1], atts[2]), counts)  # type: ignore[arg-type]


def gmm_combine(atts: Array, inf_mat: Array) -> tuple[float, Array, Array]:
    """Optimal-GMM combination of DDDs that estimate one ATT(g, t) (paper eq. 4.11-4.12).

    Parameters
    ----------
    atts : (m,) the estimates, one per comparison cohort.
    inf_mat : (n_cell, m) their influence functions on the cell's units, each scaled to
        ``n_cell``.

    Returns
    -------
    att, influence (n_cell,), weights (m,)
        ``weights = Omega^-1 1 / (1' Omega^-1 1)`` with ``Omega`` the sample covariance of
        the columns of ``inf_mat`` (a pseudo-inverse if it is singular).
    """
    omega = np.atleast_2d(np.cov(inf_mat, rowvar=False))
    try:
        inv = np.linalg.inv(omega)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(omega)
    ones = np.ones(atts.size)
    weights = inv @ ones / float(ones @ inv @ ones)
    return float(weights @ atts), np.asarray(inf_mat @ weights), np.asarray(weights)


@dataclass(frozen=True)
class CellPlan:
    """A group-time cell: cohort, period, base period (indices into ``periods``)."""

    group: float
    t_idx: int
    b_idx: int


def plan_cells(periods: Array, cohorts: Array, base_period: str) -> list[CellPlan]:
    """The (g, t) cells and their base periods.

    Post-treatment cells (``t >= g``) use the last period before ``g``. Pre-treatment cells
    use the previous period (``varying``) or also the last period before ``g``
    (``universal``; the cell ``t = base`` is the normalised zero).
    """
    plans: list[CellPlan] = []
    for g in cohorts:
        before = np.flatnonzero(periods < g)
        if before.size == 0:
            continue
        b_post = int(before[-1])
        start = 1 if base_period == "varying" else 0
        for t_idx in range(start, periods.size):
            pre = periods[t_idx] < g
            b_idx = t_idx - 1 if (pre and base_period == "varying") else b_post
            plans.append(CellPlan(float(g), t_idx, b_idx))
    return plans


@dataclass(frozen=True)
class PanelArrays:
    """The balanced panel as arrays (``n`` units, ``T`` periods, ``k`` covariates)."""

    y: Array  # (n, T)
    cohort: Array  # (n,) first enabled period, inf = never
    eligible: Array  # (n,) bool
    x: Array | None  # (n, T, k) covariates, or None
    w: Array  # (n,) weights, mean one
    periods: Array  # (T,)


def _design(data: PanelArrays, rows: Array, when: int) -> Array:
    ones = np.ones((int(np.count_nonzero(rows)), 1))
    if data.x is None:
        return ones
    return np.column_stack([ones, data.x[rows, when, :]])


def _cell(
    data: PanelArrays, plan: CellPlan, method: str, control_group: str
) -> tuple[float, Array, int, int, int] | None:
    """ATT, full-sample influence function, treated, comparison units, comparisons used."""
    g, t_idx, b_idx = plan.group, plan.t_idx, plan.b_idx
    periods, cohort = data.periods, data.cohort
    n = cohort.size
    if t_idx == b_idx:
        return 0.0, np.zeros(n), int(np.sum((cohort == g) & data.eligible)), 0, 0
    later = max(periods[t_idx], periods[b_idx])
    never = ~np.isfinite(cohort)
    if control_group == "never_treated":
        ctrl = never
    else:
        ctrl = (never | (cohort > later)) & (cohort != g)
    comps = np.unique(cohort[ctrl])
    if comps.size == 0:
        return None
    cell = (cohort == g) | ctrl
    dy = data.y[:, t_idx] - data.y[:, b_idx]
    when = min(t_idx, b_idx)
    n_trt = int(np.sum((cohort == g) & data.eligible))
    if comps.size == 1 or control_group == "never_treated":
        res = ddd_two_period(
            dy[cell], cohort[cell] == g, data.eligible[cell], _design(data, cell, when),
            data.w[cell], method,
        )  # fmt: skip
        inf = np.zeros(n)
        inf[cell] = res.influence * (n / np.count_nonzero(cell))
        return res.att, inf, n_trt, int(np.count_nonzero(ctrl)), 1
    att, inf, n_ctl, n_used = _gmm_cell(data, g, comps, cell, dy, when, method)
    return att, inf, n_trt, n_ctl, n_used


def _gmm_cell(
    data: PanelArrays, g: float, comps: Array, cell: Array, dy: Array, when: int, method: str
) -> tuple[float, Array, int, int]:
    """One DDD per comparison cohort, combined by GMM (a failure names the cohort)."""
    cohort = data.cohort
    n, n_cell = cohort.size, int(np.count_nonzero(cell))
    atts: list[float] = []
    cols: list[Array] = []
    for c in comps:
        pair = (cohort == g) | (cohort == c)
        try:
            res = ddd_two_period(
                dy[pair], cohort[pair] == g, data.eligible[pair], _design(data, pair, when),
                data.w[pair], method,
            )  # fmt: skip
        except CellError as exc:
            label = "never enabled" if not np.isfinite(c) else f"enabled in {c:g}"
            raise CellError(f"comparison cohort {label}: {exc}") from exc
        col = np.zeros(n_cell)
        col[pair[cell]] = res.influence * (n_cell / np.count_nonzero(pair))
        atts.append(res.att)
        cols.append(col)
    n_ctl = int(np.count_nonzero(cell & (cohort != g)))
    att, inf_cell, _ = gmm_combine(np.array(atts), np.column_stack(cols))
    inf = np.zeros(n)
    inf[cell] = inf_cell * (n / n_cell)
    return att, inf, n_ctl, len(atts)


def ddd_group_time(
    data: PanelArrays, *, method: str, control_group: str, base_period: str
) -> tuple[GroupTimeFit, dict[str, int]]:
    """Every ATT(g, t) of a staggered triple difference, as a :class:`GroupTimeFit`.

    Cells without any comparison units are skipped (counted in the returned dict under
    ``"cells_without_comparison"``; ``"cells_gmm"`` counts the cells that combine several
    comparison cohorts). A :class:`CellError` names the cell that failed.
    """
    return collect_cells(
        lambda plan: _cell(data, plan, method, control_group),
        data.periods, data.cohort, data.w, base_period,
    )  # fmt: skip


def collect_cells(
    run_cell: Callable[[CellPlan], CellOutcome | None],
    periods: Array,
    cohort: Array,
    weights: Array,
    base_period: str,
) -> tuple[GroupTimeFit, dict[str, int]]:
    """``run_cell`` on every planned cell (panel or repeated cross-sections: ``cohort`` and
    ``weights`` per unit or row), assembled as a :class:`GroupTimeFit` with the counts of
    skipped cells (``None``: no comparison units) and of cells combining several
    comparison cohorts; a failing cell's :class:`CellError` is re-raised naming the cell."""
    cohorts = np.unique(cohort[np.isfinite(cohort)])
    cols: list[tuple[CellPlan, float, Array, int, int]] = []
    skipped = gmm = 0
    for plan in plan_cells(periods, cohorts, base_period):
        try:
            out = run_cell(plan)
        except CellError as exc:
            raise CellError(
                f"cell (group {plan.group:g}, time {periods[plan.t_idx]:g}): {exc}"
            ) from exc
        if out is None:
            skipped += 1
            continue
        att, inf, n_trt, n_ctl, n_comp = out
        gmm += int(n_comp > 1)
        cols.append((plan, att, inf, n_trt, n_ctl))
    if not cols:
        raise CellError("no group-time cell has a comparison group")
    fit = GroupTimeFit(
        group=np.array([c[0].group for c in cols]),
        time=np.array([periods[c[0].t_idx] for c in cols]),
        base=np.array([periods[c[0].b_idx] for c in cols]),
        att=np.array([c[1] for c in cols]),
        influence=np.column_stack([c[2] for c in cols]),
        n_treated=np.array([c[3] for c in cols], dtype=int),
        n_control=np.array([c[4] for c in cols], dtype=int),
        unit_cohort=cohort,
        weights=weights,
        periods=periods,
    )
    return fit, {"cells_without_comparison": skipped, "cells_gmm": gmm}


def naive_ddd(dy: Array, enabled: Array, eligible: Array, w: Array) -> float:
    """The difference of two unconditional DiDs (eligible minus ineligible), for contrast.

    Equals :func:`ddd_two_period` without covariates; with covariates it is not the
    paper's estimator.
    """

    def did(mask: Array) -> float:
        t, c = mask & enabled, mask & ~enabled
        if not t.any() or not c.any():
            return math.nan
        return float(np.average(dy[t], weights=w[t]) - np.average(dy[c], weights=w[c]))

    return did(eligible) - did(~eligible)
