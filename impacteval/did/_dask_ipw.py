"""``att_gt(method="ipw"/"dr")`` with covariates on a Dask DataFrame: logits by map-reduce.

DRDID's normalised IPW 2x2 (``std_ipw_did_panel``, unweighted) in every cell at once:

1. the propensity logit of each cell (treated cohort against its controls, on ``[1, x_p]``)
   by the same Newton-Raphson with step halving as :func:`impacteval.did._drdid.logit_fit`
   (same start, same acceptance and stopping rules), each step one pass that returns every
   active cell's log-likelihood, score and information at its candidate coefficients;
2. one pass for the weighted sums that give the ATT and the influence function's
   coefficients (``w_cont = trim ps / (1 - ps)`` on the controls, the information matrix at
   the capped score, the largest score for R did's overlap check);
3. one pass returning ``IF' IF`` and the per-cohort column sums
   (:class:`impacteval.did._dask_reg.GramInfluence`).

A cell's influence function, rescaled to the ``n`` units, is
``n [w_t (dy - eta_t) / S_t - (w_c (dy - eta_c) + (d - ps) x' q) / S_c]`` with
``q = H^-1 sum w_c (dy - eta_c) x`` (DRDID's ``asy.lin.rep.ps`` term).

``method="dr"`` (``drdid_panel``) is the same with ``dy`` replaced by its residual from the
control-group OLS fit (from the Gram matrices of :mod:`impacteval.did._dask_reg`) and the
OLS estimation effect subtracted: ``(1 - d) e x' a_t`` in the treated part and
``(1 - d) e x' a_c`` in the control part, ``a = (X_c' X_c)^-1 sum w x``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from impacteval._panel import format_label
from impacteval.did._cs_numerics import cell_controls, cell_plan
from impacteval.did._dask_moments import PanelSpec, kept_units
from impacteval.did._drdid import PS_CAP, TRIM_LEVEL
from impacteval.exceptions import ConvergenceWarning, DataValidationError

__all__ = ["IpwPlan", "fit_logits", "ipw_plan", "partition_ipw_if", "partition_ipw_sums",
           "partition_logit"]  # fmt: skip

Array = np.ndarray
_OVERLAP_MAX = 0.999


@dataclass
class IpwPlan:
    """The cells, their units (cohort groups) and, once fitted, the logits and sums."""

    group: Array
    time: Array
    base: Array
    t_idx: Array
    b_idx: Array
    control: Array  # (H, K)
    levels: Array
    counts: Array
    n: int
    m: int
    beta: Array = field(default_factory=lambda: np.zeros(0))  # (K, 1 + m)
    att: Array = field(default_factory=lambda: np.zeros(0))
    coef: dict[str, Array] = field(default_factory=dict)  # eta_t, eta_c, s_t, s_c, q, ...
    # "dr": the control-group OLS coefficients of each cell (dy is replaced by its residual)
    ols: Array | None = None

    @property
    def live(self) -> Array:
        return np.asarray(self.t_idx != self.b_idx)


def ipw_plan(
    levels: Array, counts: Array, periods: Array, groups: Array, m: int, opts: Any
) -> IpwPlan:
    plan = cell_plan(periods, groups, base_period=opts.base_period,
                     anticipation=float(opts.anticipation))  # fmt: skip
    cells = np.array(plan, dtype=float).reshape(-1, 3)
    control = np.zeros((levels.size, len(plan)), dtype=bool)
    for j, (g, ti, bi) in enumerate(plan):
        if ti == bi:
            continue
        label = f"(g, t) = ({format_label(g)}, {format_label(periods[ti])})"
        cut = max(periods[ti], periods[bi]) + float(opts.anticipation)
        control[:, j] = cell_controls(levels, g, cut, opts.control_group, label)[1]
    t_idx, b_idx = cells[:, 1].astype(np.intp), cells[:, 2].astype(np.intp)
    return IpwPlan(group=cells[:, 0], time=periods[t_idx], base=periods[b_idx], t_idx=t_idx,
                   b_idx=b_idx, control=control, levels=levels, counts=counts,
                   n=int(counts.sum()), m=m)  # fmt: skip


def _cell_rows(
    wide: Array, cohort: Array, plan: IpwPlan, j: int, n_t: int
) -> tuple[Array, Array, Array]:
    """The cell's units: ``[1, x_p]``, the treated indicator and ``dy``."""
    pos = np.searchsorted(plan.levels, cohort)
    tr = cohort == plan.group[j]
    idx = tr | plan.control[pos, j]
    p = min(int(plan.t_idx[j]), int(plan.b_idx[j]))
    cols = [n_t * (1 + q) + p for q in range(plan.m)]
    x = np.column_stack([np.ones(int(idx.sum())), wide[idx][:, cols]])
    dy = wide[idx, plan.t_idx[j]] - wide[idx, plan.b_idx[j]]
    if plan.ols is not None:  # doubly robust: the outcome-regression residual
        dy = dy - x @ plan.ols[j]
    return x, tr[idx].astype(float), dy


def partition_logit(
    part: pd.DataFrame, spec: PanelSpec, periods: Array, plan: IpwPlan, cand: dict[int, Array]
) -> dict[int, tuple[float, Array, Array]]:
    """One Newton pass: per active cell, log-likelihood, score and information at ``cand``."""
    wide, cohort, _ = kept_units(part, spec, periods)
    out = {}
    for j, beta in cand.items():
        x, d, _ = _cell_rows(wide, cohort, plan, j, periods.size)
        eta = x @ beta
        p = special.expit(eta)
        ll = float(np.sum(d * eta - np.logaddexp(0.0, eta)))
        out[j] = (ll, x.T @ (d - p), (x * (p * (1.0 - p))[:, None]).T @ x)
    return out


def fit_logits(run: Any, plan: IpwPlan, warn: Any, maxiter: int = 100, tol: float = 1e-10) -> None:
    """Every live cell's logit, as ``logit_fit`` (``run(cand)`` = one summed pass)."""
    live = [int(j) for j in np.flatnonzero(plan.live)]
    k = plan.m + 1
    beta = {j: np.zeros(k) for j in live}
    for j in live:
        n_t = float(plan.counts[np.searchsorted(plan.levels, plan.group[j])])
        n_c = n_t + float(plan.counts[plan.control[:, j]].sum())
        pbar = n_t / n_c
        if 0.0 < pbar < 1.0:
            beta[j][0] = math.log(pbar / (1.0 - pbar))
    first: dict[int, tuple[float, Array, Array]] = run(beta)
    ll = {j: float(v[0]) for j, v in first.items()}
    step = {j: _solve(v[2], v[1], plan, j) for j, v in first.items()}
    t = dict.fromkeys(beta, 1.0)
    iters = dict.fromkeys(beta, 0)
    active = set(beta)
    while active:
        got = run({j: beta[j] + t[j] * step[j] for j in active})
        for j in list(active):
            ll_new, grad, hess = got[j]
            if not (ll_new >= ll[j] - 1e-12 * abs(ll[j]) or t[j] < 1e-8):
                t[j] *= 0.5
                continue
            move = t[j] * step[j]
            beta[j], ll_old, ll[j] = beta[j] + move, ll[j], ll_new
            iters[j] += 1
            if np.max(np.abs(move)) < tol or abs(ll[j] - ll_old) < tol * (abs(ll[j]) + tol):
                active.discard(j)
            elif iters[j] >= maxiter:
                warn("propensity-score logit did not converge in 100 Newton steps",
                     ConvergenceWarning)  # fmt: skip
                active.discard(j)
            else:
                step[j], t[j] = _solve(hess, grad, plan, j), 1.0
    plan.beta = np.zeros((plan.group.size, k))
    for j, b in beta.items():
        plan.beta[j] = b


def _solve(hess: Array, grad: Array, plan: IpwPlan, j: int) -> Array:
    try:
        return np.asarray(np.linalg.solve(hess, grad))
    except np.linalg.LinAlgError:
        raise _overlap_error(plan, j) from None


def _overlap_error(plan: IpwPlan, j: int) -> DataValidationError:
    return DataValidationError(
        f"overlap fails in cell (g, t) = ({format_label(plan.group[j])}, "
        f"{format_label(plan.time[j])}): a fitted propensity score reaches {_OVERLAP_MAX} "
        "(treated units without comparable controls) or the logit is singular; drop or "
        "coarsen covariates, or use method='reg'"
    )


def _weights(x: Array, d: Array, beta: Array) -> tuple[Array, Array, Array, float]:
    raw = special.expit(x @ beta)
    ps = np.minimum(raw, PS_CAP)
    trim = np.where(d == 1, ps < 1.01, ps < TRIM_LEVEL).astype(float)
    return ps, trim * d, trim * ps * (1.0 - d) / (1.0 - ps), float(raw.max(initial=0.0))


def partition_ipw_sums(
    part: pd.DataFrame, spec: PanelSpec, periods: Array, plan: IpwPlan
) -> dict[int, tuple[Array, ...]]:
    """Per live cell: ``S_t, sum w_t dy, S_c, sum w_c dy``, ``sum w_c dy x``, ``sum w_c x``,
    the information matrix at the capped score and the largest (uncapped) score."""
    wide, cohort, _ = kept_units(part, spec, periods)
    out: dict[int, tuple[Array, ...]] = {}
    for j in np.flatnonzero(plan.live):
        x, d, dy = _cell_rows(wide, cohort, plan, int(j), periods.size)
        ps, wt, wc, top = _weights(x, d, plan.beta[j])
        scal = np.array([wt.sum(), wt @ dy, wc.sum(), wc @ dy, top])
        xc = x[d == 0]
        out[int(j)] = (scal, x.T @ (wc * dy), x.T @ wc, (x * (ps * (1.0 - ps))[:, None]).T @ x,
                       x.T @ wt, xc.T @ xc)  # fmt: skip
    return out


def finish_ipw(pieces: list[dict[int, tuple[Array, ...]]], plan: IpwPlan) -> None:
    """The ATTs and the influence functions' coefficients from the summed pieces."""
    k_cells = plan.group.size
    plan.att = np.zeros(k_cells)
    eta_t, eta_c, s_t, s_c = (np.zeros(k_cells) for _ in range(4))
    q = np.zeros((k_cells, plan.m + 1))
    a_t, a_c = np.zeros_like(q), np.zeros_like(q)
    for j in [int(i) for i in np.flatnonzero(plan.live)]:
        scal: Array = np.sum([pc[j][0][:4] for pc in pieces], axis=0)
        top = max(float(pc[j][0][4]) for pc in pieces)
        if top >= _OVERLAP_MAX:
            raise _overlap_error(plan, j)
        wcdyx: Array = np.sum([pc[j][1] for pc in pieces], axis=0)
        wcx: Array = np.sum([pc[j][2] for pc in pieces], axis=0)
        hess: Array = np.sum([pc[j][3] for pc in pieces], axis=0)
        s_t[j], s_c[j] = scal[0], scal[2]
        eta_t[j], eta_c[j] = scal[1] / scal[0], scal[3] / scal[2]
        plan.att[j] = eta_t[j] - eta_c[j]
        q[j] = _solve(hess, wcdyx - eta_c[j] * wcx, plan, j)
        if plan.ols is not None:
            xtx: Array = np.sum([pc[j][5] for pc in pieces], axis=0)
            a_t[j] = np.linalg.solve(xtx, np.sum([pc[j][4] for pc in pieces], axis=0))
            a_c[j] = np.linalg.solve(xtx, wcx)
    plan.coef = {"eta_t": eta_t, "eta_c": eta_c, "s_t": s_t, "s_c": s_c, "q": q,
                 "a_t": a_t, "a_c": a_c}  # fmt: skip


def partition_ipw_if(
    part: pd.DataFrame, spec: PanelSpec, periods: Array, plan: IpwPlan
) -> tuple[Array, Array]:
    """``IF' IF`` of this partition's units and their per-cohort column sums."""
    wide, cohort, _ = kept_units(part, spec, periods)
    pos = np.searchsorted(plan.levels, cohort)
    c = plan.coef
    inf = np.zeros((wide.shape[0], plan.group.size))
    for j in np.flatnonzero(plan.live):
        idx = (cohort == plan.group[j]) | plan.control[pos, j]
        x, d, dy = _cell_rows(wide, cohort, plan, int(j), periods.size)
        ps, wt, wc, _ = _weights(x, d, plan.beta[j])
        treat = wt * (dy - c["eta_t"][j])
        cont = wc * (dy - c["eta_c"][j]) + (d - ps) * (x @ c["q"][j])
        if plan.ols is not None:  # the outcome regression's estimation effect (DRDID)
            treat -= (1.0 - d) * dy * (x @ c["a_t"][j])
            cont -= (1.0 - d) * dy * (x @ c["a_c"][j])
        treat, cont = treat / c["s_t"][j], cont / c["s_c"][j]
        inf[idx, j] = plan.n * (treat - cont)
    sums = np.zeros((plan.levels.size, plan.group.size))
    np.add.at(sums, pos, inf)
    return inf.T @ inf, sums
