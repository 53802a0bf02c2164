"""``att_gt(method="reg")`` with covariates on a Dask DataFrame: Gram matrices per cohort.

DRDID's outcome-regression 2x2 (``reg_did_panel``, unweighted) in cell ``(g, t)`` with base
``b`` and covariates ``x`` taken at ``p = min(b, t)``: ``beta`` is the OLS fit of
``dy = y_t - y_b`` on ``[1, x_p]`` over the controls, ``ATT = mean_treated(dy - x_p' beta)``.
Every input is a sum over the units of a cohort of entries of ``z z'`` with ``z`` a unit's
wide row ``[y_1..y_T, x_1(1..T), ...]``, so the per-cohort moments of
:mod:`impacteval.did._dask_moments` give every cell.

The cell's influence function, rescaled to the ``n`` units as R did does, is
``(n / n_T) (dy_i - x_i' beta - ATT)`` for a treated unit and
``-(n / n_T) (x_i' c) e_i`` for a control (``e_i = dy_i - x_i' beta``,
``c = (X_c' X_c)^-1 sum_treated x``; DRDID's ``asy.lin.rep.ols`` term), zero otherwise.
Its squares are quartic in the data, so a third pass computes, with the cells' ``beta`` and
``c`` known, each unit's influence row on its worker and returns only ``IF' IF`` (K x K) and
the per-cohort column sums: what the SEs, the pre-test and the ``"simple"`` overall need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._panel import format_label
from impacteval.did._cs_numerics import cell_controls, cell_plan
from impacteval.did._dask_moments import PanelSpec, kept_units
from impacteval.did._drdid import EPS, rcond1
from impacteval.exceptions import DataValidationError

__all__ = ["GramInfluence", "RegCells", "partition_influence", "reg_cells"]

Array = np.ndarray


@dataclass(frozen=True)
class RegCells:
    """The cells of the outcome-regression fit and what a worker needs for the IF rows."""

    group: Array
    time: Array
    base: Array
    att: Array
    n_treated: Array
    n_control: Array
    t_idx: Array
    b_idx: Array
    p_idx: Array  # covariate period (position) of each cell
    beta: Array  # (K, 1 + m)
    c: Array  # (K, 1 + m)
    treated_level: Array  # (K,) cohort of the treated group
    control: Array  # (H, K) bool, control cohort groups per cell
    levels: Array
    n: int


def _block(s1: Array, s2: Array, cnt: float, n_t: int, m: int, p: int) -> tuple[Array, Array]:
    """``sum [1, x_p]`` and ``sum [1, x_p][1, x_p]'`` from a cohort's moments."""
    ix = [n_t * (1 + j) + p for j in range(m)]
    first = np.r_[cnt, s1[ix]]
    gram = np.empty((m + 1, m + 1))
    gram[0, 0], gram[0, 1:], gram[1:, 0] = cnt, s1[ix], s1[ix]
    gram[1:, 1:] = s2[np.ix_(ix, ix)]
    return first, gram


def _cross(s1: Array, s2: Array, n_t: int, m: int, p: int, t: int, b: int) -> Array:
    """``sum [1, x_p] (y_t - y_b)`` from a cohort's moments."""
    ix = [n_t * (1 + j) + p for j in range(m)]
    return np.asarray(np.r_[s1[t] - s1[b], s2[ix, t] - s2[ix, b]])


def reg_cells(
    levels: Array,
    moments: tuple[Array, Array, Array],
    periods: Array,
    groups: Array,
    *,
    m: int,
    control_group: str,
    base_period: str,
    anticipation: float,
    names: tuple[str, ...],
) -> RegCells:
    """Every cell's ``beta``, ``c`` and ATT from the per-cohort moments."""
    cnt, s1, s2 = moments
    n_t, n = periods.size, int(cnt.sum())
    plan = cell_plan(periods, groups, base_period=base_period, anticipation=anticipation)
    k = len(plan)
    att, betas, cs = np.zeros(k), np.zeros((k, m + 1)), np.zeros((k, m + 1))
    control = np.zeros((levels.size, k), dtype=bool)
    n_tr, n_co = np.zeros(k, dtype=int), np.zeros(k, dtype=int)
    for j, (g, ti, bi) in enumerate(plan):
        h_g = int(np.searchsorted(levels, g))
        n_tr[j] = int(cnt[h_g])
        if ti == bi:
            continue
        label = f"(g, t) = ({format_label(g)}, {format_label(periods[ti])})"
        _, ctrl = cell_controls(levels, g, max(periods[ti], periods[bi]) + anticipation,
                                control_group, label)  # fmt: skip
        control[:, j] = ctrl
        p = min(ti, bi)
        xtx = np.zeros((m + 1, m + 1))
        xty = np.zeros(m + 1)
        for h in np.flatnonzero(ctrl):
            xtx += _block(s1[h], s2[h], cnt[h], n_t, m, p)[1]
            xty += _cross(s1[h], s2[h], n_t, m, p, ti, bi)
        if rcond1(xtx) < EPS:
            raise DataValidationError(
                f"the covariate matrix of the control units is singular in cell {label} "
                f"(covariates {list(names)}); remove collinear or constant covariates"
            )
        beta = np.linalg.solve(xtx, xty)
        sum_x = _block(s1[h_g], s2[h_g], cnt[h_g], n_t, m, p)[0]
        att[j] = (s1[h_g][ti] - s1[h_g][bi] - sum_x @ beta) / cnt[h_g]
        betas[j], cs[j] = beta, np.linalg.solve(xtx, sum_x)
        n_co[j] = int(cnt[ctrl].sum())
    cells = np.array(plan, dtype=float).reshape(-1, 3)
    t_idx, b_idx = cells[:, 1].astype(np.intp), cells[:, 2].astype(np.intp)
    return RegCells(
        group=cells[:, 0], time=periods[t_idx], base=periods[b_idx], att=att,
        n_treated=n_tr, n_control=n_co, t_idx=t_idx, b_idx=b_idx,
        p_idx=np.minimum(t_idx, b_idx), beta=betas, c=cs, treated_level=cells[:, 0],
        control=control, levels=levels, n=n,
    )  # fmt: skip


def partition_influence(
    part: pd.DataFrame, spec: PanelSpec, periods: Array, cells: RegCells
) -> tuple[Array, Array]:
    """Pass 3: ``IF' IF`` (K x K) of this partition's units and per-cohort column sums."""
    wide, cohort, _ = kept_units(part, spec, periods)
    n_t, m = periods.size, len(spec.extra)
    k = cells.att.size
    inf = np.zeros((wide.shape[0], k))
    level_pos = np.searchsorted(cells.levels, cohort)
    for j in range(k):
        if cells.t_idx[j] == cells.b_idx[j]:
            continue
        cov_cols = [n_t * (1 + q) + int(cells.p_idx[j]) for q in range(m)]
        x = np.column_stack([np.ones(wide.shape[0]), wide[:, cov_cols]])
        dy = wide[:, cells.t_idx[j]] - wide[:, cells.b_idx[j]]
        e = dy - x @ cells.beta[j]
        scale = cells.n / cells.n_treated[j]
        tr = cohort == cells.treated_level[j]
        co = cells.control[level_pos, j]
        inf[tr, j] = scale * (e[tr] - cells.att[j])
        inf[co, j] = -scale * (x[co] @ cells.c[j]) * e[co]
    sums = np.zeros((cells.levels.size, k))
    np.add.at(sums, level_pos, inf)
    return inf.T @ inf, sums


class GramInfluence:
    """The ``n x K`` influence-function matrix known through ``IF' IF`` and the per-cohort
    column sums (see the module docstring); per-unit entries stayed on the workers."""

    ndim = 2

    def __init__(self, n: int, gram: Array, sums: Array, counts: Array, refuse: Any) -> None:
        self._n, self._gram, self._sums, self._counts = n, gram, sums, counts
        self._refuse = refuse

    @property
    def shape(self) -> tuple[int, int]:
        return (self._n, int(self._gram.shape[0]))

    def gram(self) -> Array:
        return self._gram

    def column_sq_sums(self) -> Array:
        return np.diag(self._gram).copy()

    def sq_sum_plus(self, v: Array, const: Array) -> float:
        """``sum_i (IF_i v + const[h_i])^2`` (``h_i`` the cohort group of unit i)."""
        return float(v @ self._gram @ v + 2.0 * const @ (self._sums @ v)
                     + np.sum(self._counts * const**2))  # fmt: skip

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple) and len(key) == 2 and key[0] == slice(None):
            idx = np.arange(self._gram.shape[0])[key[1]]
            if np.ndim(idx) == 1:
                return GramInfluence(self._n, self._gram[np.ix_(idx, idx)],
                                     self._sums[:, idx], self._counts, self._refuse)  # fmt: skip
        raise self._refuse()

    def __matmul__(self, v: Any) -> Array:
        raise self._refuse()

    def __array__(self, dtype: Any = None, copy: Any = None) -> Array:
        raise self._refuse()
