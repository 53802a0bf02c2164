"""Triple differences with repeated cross-sections, array in, array out.

The repeated cross-section version of :mod:`impacteval.did.ddd_numerics`
(Ortiz-Villavicencio & Sant'Anna 2025, built on Sant'Anna & Zhao 2020): each observation
is seen once, so a cell ``(g, t)`` uses the rows of periods ``t`` and its base period
``b`` whose group is ``g`` or a comparison cohort, with ``post = (period == t)``. The
triple difference is the same sum of three 2x2 DiDs of subgroup 4 against subgroups 3, 2
and 1, each now one of DRDID's repeated cross-section estimators
(:mod:`impacteval.did._drdid_rc`): the locally efficient doubly robust ``drdid_rc`` (a
logit of subgroup membership on the pooled rows of both periods, and outcome regressions
fitted per subgroup and period), the normalised IPW ``std_ipw_did_rc`` or the outcome
regression ``reg_did_rc``. Covariates are each row's own values.

Influence functions are per row. A pair's is scaled to the cell's rows (``n_cell /
n_pair``), the cell's to all rows (``N / n_cell``); several not-yet-enabled comparison
cohorts are combined by the optimal GMM weights of the panel case
(:func:`~impacteval.did.ddd_numerics.gmm_combine`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impacteval.did._cs_numerics import GroupTimeFit
from impacteval.did._drdid import CellError
from impacteval.did._drdid_rc import drdid_rc, reg_did_rc, std_ipw_did_rc
from impacteval.did.ddd_numerics import (
    SUBGROUP_NAMES,
    CellPlan,
    TwoPeriodDDD,
    collect_cells,
    gmm_combine,
    subgroups,
    triple_sum,
)

__all__ = ["DDD_METHODS_RC", "CrossSections", "ddd_group_time_rc", "ddd_two_period_rc"]

Array = np.ndarray
DDD_METHODS_RC = {"dr": drdid_rc, "ipw": std_ipw_did_rc, "reg": reg_did_rc}


@dataclass(frozen=True)
class CrossSections:
    """Repeated cross-sections as arrays (``N`` rows, ``T`` periods, ``k`` covariates)."""

    y: Array  # (N,)
    period: Array  # (N,) int, position of the row's period in ``periods``
    cohort: Array  # (N,) first enabled period, inf = never
    eligible: Array  # (N,) bool
    x: Array | None  # (N, k) covariates, or None
    w: Array  # (N,) weights, mean one
    periods: Array  # (T,)


def ddd_two_period_rc(
    y: Array, post: Array, enabled: Array, eligible: Array, x: Array, w: Array, method: str
) -> TwoPeriodDDD:
    """Two-period triple difference of repeated cross-sections with its influence function.

    Parameters
    ----------
    y : (n,) outcomes of the rows of both periods.
    post : (n,) 0/1, the row is from the period of interest (else the base period).
    enabled : (n,) bool, the row's group enables treatment (``S = g``).
    eligible : (n,) bool, the row is in the eligible partition (``Q = 1``).
    x : (n, k) covariates with the intercept column first.
    w : (n,) sampling weights.
    method : {"dr", "ipw", "reg"}

    Returns
    -------
    TwoPeriodDDD
        ``influence`` per row, scaled to ``n`` (``var = sum(influence**2) / n**2``).

    Raises
    ------
    CellError
        A subgroup has no rows in one of the two periods, or a nuisance fit fails.
    """
    estimator = DDD_METHODS_RC[method]
    sub = subgroups(enabled, eligible)
    post = np.asarray(post, dtype=float)
    for code in (4, 3, 2, 1):
        for flag, when in ((1.0, "period of interest"), (0.0, "base period")):
            if not np.any((sub == code) & (post == flag)):
                raise CellError(f"no observations of the {SUBGROUP_NAMES[code]} subgroup "
                                f"in the {when}")  # fmt: skip
    return triple_sum(sub, lambda rows, d: estimator(y[rows], post[rows], d, x[rows], w[rows]))


def _design(data: CrossSections, rows: Array) -> Array:
    ones = np.ones((int(np.count_nonzero(rows)), 1))
    return ones if data.x is None else np.column_stack([ones, data.x[rows]])


def _pair(data: CrossSections, rows: Array, g: float, t_idx: int, method: str) -> TwoPeriodDDD:
    return ddd_two_period_rc(
        data.y[rows], data.period[rows] == t_idx, data.cohort[rows] == g,
        data.eligible[rows], _design(data, rows), data.w[rows], method,
    )  # fmt: skip


def _cell(
    data: CrossSections, plan: CellPlan, method: str, control_group: str
) -> tuple[float, Array, int, int, int] | None:
    """ATT, influence function on all rows, treated rows, comparison rows, comparisons."""
    g, t_idx, b_idx = plan.group, plan.t_idx, plan.b_idx
    cohort = data.cohort
    n = cohort.size
    in_periods = (data.period == t_idx) | (data.period == b_idx)
    treated = (cohort == g) & in_periods
    n_trt = int(np.sum(treated & data.eligible))
    if t_idx == b_idx:
        return 0.0, np.zeros(n), int(np.sum((cohort == g) & data.eligible)), 0, 0
    later = max(data.periods[t_idx], data.periods[b_idx])
    never = ~np.isfinite(cohort)
    ctrl = never if control_group == "never_treated" else (never | (cohort > later))
    ctrl = ctrl & (cohort != g) & in_periods
    comps = np.unique(cohort[ctrl])
    if comps.size == 0:
        return None
    cell = treated | ctrl
    n_cell = int(np.count_nonzero(cell))
    inf = np.zeros(n)
    if comps.size == 1:
        res = _pair(data, cell, g, t_idx, method)
        inf[cell] = res.influence * (n / n_cell)
        return res.att, inf, n_trt, int(np.count_nonzero(ctrl)), 1
    atts: list[float] = []
    cols: list[Array] = []
    for c in comps:
        pair = cell & ((cohort == g) | (cohort == c))
        try:
            res = _pair(data, pair, g, t_idx, method)
        except CellError as exc:
            label = "never enabled" if not np.isfinite(c) else f"enabled in {c:g}"
            raise CellError(f"comparison cohort {label}: {exc}") from exc
        col = np.zeros(n_cell)
        col[pair[cell]] = res.influence * (n_cell / np.count_nonzero(pair))
        atts.append(res.att)
        cols.append(col)
    att, inf_cell, _ = gmm_combine(np.array(atts), np.column_stack(cols))
    inf[cell] = inf_cell * (n / n_cell)
    return att, inf, n_trt, int(np.count_nonzero(ctrl)), len(atts)


def ddd_group_time_rc(
    data: CrossSections, *, method: str, control_group: str, base_period: str
) -> tuple[GroupTimeFit, dict[str, int]]:
    """Every ATT(g, t) of a staggered triple difference of repeated cross-sections.

    As :func:`impacteval.did.ddd_numerics.ddd_group_time`, with the rows as the "units" of
    the returned :class:`GroupTimeFit` (cohort, weights and influence functions per row).
    """
    return collect_cells(
        lambda plan: _cell(data, plan, method, control_group),
        data.periods, data.cohort, data.w, base_period,
    )  # fmt: skip
