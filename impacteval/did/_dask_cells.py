"""ATT(g, t) of a balanced panel without covariates from per-cohort moments.

Without covariates every ``att_gt`` method is the 2x2 DiD, a difference of two cohort means
of the long difference ``y_t - y_b``, and its influence function for a unit of cohort group
``h`` is ``coef[h, k] (y_t - y_b - centre[h, k])`` (see :mod:`impacteval.did._cs_fast`).
Cell estimates, the sums of squares of the influence functions (the analytic SEs), their
cross products (the covariance of the cells) and the influence function of the ``"simple"``
aggregation are then functions of three per-cohort moments only: the count ``S0``, the
sum of outcome rows ``S1`` and the cross-product matrix ``S2``. Those are what the Dask
partitions return (:mod:`impacteval.did._dask_moments`); this module turns them into the
numbers the in-memory path gives, by the same formulas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from impacteval._panel import format_label
from impacteval.did._cs_numerics import cell_controls, cell_plan
from impacteval.exceptions import DataValidationError

__all__ = ["MomentCells", "MomentInfluence", "cells_from_moments"]

Array = np.ndarray


class MomentInfluence:
    """The ``n x K`` influence-function matrix known only through per-cohort moments.

    Supports what the analytic standard errors and the pre-test need (``shape``,
    :meth:`column_sq_sums`, :meth:`gram`); anything needing one unit's entry (``@`` with a
    vector, ``numpy.asarray``) raises, since the rows stayed on the cluster.
    """

    ndim = 2

    def __init__(
        self, n: int, t_idx: Array, b_idx: Array, coef: Array, centre: Array, moments: Any
    ) -> None:
        self._n = n
        self._t, self._b = t_idx, b_idx
        self._coef, self._centre = coef, centre
        self._s0, self._s1, self._s2 = moments  # (H,), (H, T), (H, T, T)

    @property
    def shape(self) -> tuple[int, int]:
        return (self._n, int(self._t.size))

    def _refuse(self) -> DataValidationError:
        return DataValidationError(
            "this att_gt result was computed from a Dask DataFrame by map-reduce: its "
            "influence functions are held as per-cohort moments, so the per-unit matrix, "
            "aggregate() and the bootstrap are not available; the cell table, its analytic "
            "SEs, `overall` and `pretrend_test()` are. Pass data.compute() if it fits in memory"
        )

    def __matmul__(self, v: Any) -> Array:
        raise self._refuse()

    def __array__(self, dtype: Any = None, copy: Any = None) -> Array:
        raise self._refuse()

    def __getitem__(self, key: Any) -> Any:
        """Only ``[:, cols]``: the columns ``cols`` as another factored matrix."""
        if isinstance(key, tuple) and len(key) == 2 and key[0] == slice(None):
            idx = np.arange(self._t.size)[key[1]]
            if np.ndim(idx) == 1:
                moments = (self._s0, self._s1, self._s2)
                return MomentInfluence(
                    self._n, self._t[idx], self._b[idx], self._coef[:, idx],
                    self._centre[:, idx], moments,
                )  # fmt: skip
        raise self._refuse()

    def _diff(self) -> Array:
        d = np.zeros((self._s1.shape[1], self._t.size))
        cols = np.arange(self._t.size)
        d[self._t, cols] += 1.0
        d[self._b, cols] -= 1.0
        return d

    def gram(self) -> Array:
        """``IF' IF`` (K x K) from the per-cohort moments."""
        d = self._diff()
        k = self._t.size
        out = np.zeros((k, k))
        for h in range(self._s0.size):
            a = self._coef[h]
            if not np.any(a):
                continue
            m = self._centre[h]
            q = d.T @ self._s2[h] @ d
            r = d.T @ self._s1[h]
            inner = q - np.outer(r, m) - np.outer(m, r) + self._s0[h] * np.outer(m, m)
            out += np.outer(a, a) * inner
        return out

    def column_sq_sums(self) -> Array:
        """``sum_i IF_ik^2`` per cell."""
        t, b = self._t, self._b
        out = np.zeros(t.size)
        for h in range(self._s0.size):
            a = self._coef[h]
            if not np.any(a):
                continue
            s1, s2, m = self._s1[h], self._s2[h], self._centre[h]
            quad = s2[t, t] + s2[b, b] - 2.0 * s2[t, b]
            out += a * a * (quad - 2.0 * m * (s1[t] - s1[b]) + m * m * self._s0[h])
        return out

    def affine(self, v: Array) -> tuple[Array, Array]:
        """``IF @ v`` per cohort group as ``y' alpha_h + beta_h``: ``(alpha (H x T), beta)``."""
        scaled = self._coef * v[None, :]
        return scaled @ self._diff().T, -np.sum(self._centre * scaled, axis=1)

    def sq_sum_plus(self, v: Array, const: Array) -> float:
        """``sum_i (IF_i v + const[h_i])^2`` (``h_i`` the cohort group of unit i)."""
        alpha, beta = self.affine(v)
        return self.affine_sq_sum(alpha, beta + const)

    def affine_sq_sum(self, alpha: Array, beta: Array) -> float:
        """``sum_i (y_i' alpha_h + beta_h)^2`` over the units (cohort group ``h`` of unit i)."""
        total = 0.0
        for h in range(self._s0.size):
            a = alpha[h]
            total += float(a @ self._s2[h] @ a + 2.0 * beta[h] * (a @ self._s1[h]))
            total += float(beta[h] ** 2 * self._s0[h])
        return total


@dataclass(frozen=True)
class MomentCells:
    """The cells and their factored influence functions, with the per-cohort counts."""

    group: Array
    time: Array
    base: Array
    att: Array
    n_treated: Array
    n_control: Array
    influence: Any  # MomentInfluence, or _dask_reg.GramInfluence with covariates
    levels: Array  # (H,) cohort of each group (inf = never treated), sorted
    count: Array  # (H,) units per group


def cells_from_moments(
    levels: Array,
    moments: tuple[Array, Array, Array],
    periods: Array,
    groups: Array,
    *,
    control_group: str,
    base_period: str,
    anticipation: float,
) -> MomentCells:
    """Every ATT(g, t) from per-cohort moments (unweighted units), as ``_cs_fast`` does."""
    s0, ysum, _ = moments
    n = int(s0.sum())
    plan = cell_plan(periods, groups, base_period=base_period, anticipation=anticipation)
    cells = np.array(plan, dtype=float).reshape(-1, 3)
    group_col = cells[:, 0]
    t_idx, b_idx = cells[:, 1].astype(np.intp), cells[:, 2].astype(np.intp)
    time_col, base_col = periods[t_idx], periods[b_idx]
    gi = np.searchsorted(levels, group_col)
    live = t_idx != b_idx
    treated = levels[:, None] == group_col[None, :]
    control = ~np.isfinite(levels)[:, None] & live[None, :]
    if control_group != "never_treated":
        cutoff = np.maximum(time_col, base_col) + anticipation
        control = control | ((levels[:, None] > cutoff[None, :]) & ~treated & live[None, :])
    w_t = s0[gi]
    w_c = s0 @ control
    for j in np.flatnonzero(live & (w_c <= 0)):
        label = f"(g, t) = ({format_label(group_col[j])}, {format_label(time_col[j])})"
        cut = max(time_col[j], base_col[j]) + anticipation
        cell_controls(levels, group_col[j], cut, control_group, label)
        raise DataValidationError(f"no control units are available for cell {label}")
    diff = ysum[:, t_idx] - ysum[:, b_idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        mu_t = diff[gi, np.arange(gi.size)] / w_t
        mu_c = np.where(live, np.sum(diff * control, axis=0) / np.where(live, w_c, 1.0), 0.0)
    mu_t = np.where(live, mu_t, 0.0)
    att = mu_t - mu_c
    if not np.all(np.isfinite(att)):
        first = int(np.flatnonzero(~np.isfinite(att))[0])
        raise DataValidationError(
            f"cell (g, t) = ({format_label(group_col[first])}, "
            f"{format_label(time_col[first])}): the 2x2 estimate is not finite"
        )
    tr_live = treated & live[None, :]
    coef = np.where(tr_live, n / w_t, 0.0) - np.where(control, n / np.where(live, w_c, 1.0), 0.0)
    centre = np.where(tr_live, mu_t, 0.0) + np.where(control, mu_c, 0.0)
    return MomentCells(
        group=group_col,
        time=time_col,
        base=base_col,
        att=att,
        n_treated=s0[gi].astype(int),
        n_control=(s0 @ control).astype(int),
        influence=MomentInfluence(n, t_idx, b_idx, coef, centre, moments),
        levels=levels,
        count=s0,
    )


def simple_overall(cells: MomentCells) -> tuple[float, float]:
    """The ``"simple"`` aggregation (post-treatment cells, cohort-share weights) and the
    square root of its influence function's sum of squares over ``n`` (R did's SE).

    The aggregated influence function of a unit of group ``h`` is affine in its outcome row,
    ``y' alpha_h + beta_h``: the cells' part ``sum_k v_k coef[h, k] (y_tk - y_bk -
    centre[h, k])`` plus the estimated-weight term (``did:::wif``), constant within a cohort.
    """
    inf = cells.influence
    n = inf.shape[0]
    pos = np.searchsorted(cells.levels, cells.group)
    pg = cells.count[pos] / n
    keep = cells.group <= cells.time
    if not keep.any():
        return float("nan"), float("nan")
    pgk, att = pg[keep], cells.att[keep]
    total = float(pgk.sum())
    est = float(np.sum(att * pgk) / total)
    v = np.zeros(cells.group.size)
    v[keep] = pgk / total
    kept_groups, kpos = np.unique(cells.group[keep], return_inverse=True)
    att_by = np.bincount(kpos, weights=att, minlength=kept_groups.size)
    cells_by = np.bincount(kpos, minlength=kept_groups.size).astype(float)
    pa = float(pgk @ att)
    const = np.zeros(cells.levels.size)
    for h, level in enumerate(cells.levels):
        hit = np.flatnonzero(kept_groups == level)
        a_h = float(att_by[hit[0]]) if hit.size else 0.0
        c_h = float(cells_by[hit[0]]) if hit.size else 0.0
        const[h] = (a_h - pa) / total - (c_h - total) * pa / total**2
    ss = inf.sq_sum_plus(v, const)
    return est, float(np.sqrt(max(ss, 0.0)) / n)
