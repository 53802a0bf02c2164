"""Callaway-Sant'Anna without covariates on a balanced panel: every cell from cohort sums.

Without covariates each ATT(g, t) is a difference of two weighted means of the long
difference ``y_t - y_b`` (the cohort ``g`` against its controls), and every method ("reg",
"ipw", "dr", "dr_imp") reduces to it. Both the cell estimates and the covariance of the
influence functions then depend on the data only through per-cohort sums: the weighted
count, the weighted sum of outcome rows and the (squared-weight) cross-product matrix of the
outcome rows. This module computes all cells from those sums in ``O(n T^2)`` and keeps the
``n x K`` influence-function matrix in factored form (:class:`GroupedInfluence`), so that
standard errors, the covariance of the cells and any weighted aggregation never need the
dense matrix (which for 1,000,000 units and 54 cells is 430 MB written column by column).

The numbers are those of :func:`impacteval.did._cs_numerics.estimate_group_time` (R did's
``compute.att_gt2`` with DRDID's no-covariate 2x2 estimator); a test checks the two paths
agree cell by cell and on the dense influence functions. numpy has no structure for a
"per-group linear map" matrix, hence the small class below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._panel import format_label
from impacteval.did._cs_numerics import GroupTimeFit, cell_controls, cell_plan
from impacteval.exceptions import DataValidationError

__all__ = ["GroupedInfluence", "estimate_group_time_simple"]

Array = np.ndarray


@dataclass(frozen=True)
class _SortedPanel:
    """The wide panel with units sorted by cohort group: each group a contiguous block.

    Sorting once lets every per-group product run on views instead of gathering each
    group's rows again.
    """

    order: Array  # (n,) unit index of each sorted row
    bounds: Array  # (H + 1,) block boundaries
    y_sorted: Array  # (n, T)
    w_sorted: Array | None  # (n,), None when every weight is one

    @classmethod
    def build(cls, y: Array, group_of_unit: Array, weights: Array, n_groups: int) -> _SortedPanel:
        # few groups: a stable sort of small integers is numpy's radix sort (linear time)
        small = group_of_unit.astype(np.int16 if n_groups < 2**15 else np.intp)
        order = np.argsort(small, kind="stable")
        bounds = np.searchsorted(small[order], np.arange(n_groups + 1))
        w_sorted = None if np.all(weights == 1.0) else weights[order]
        return cls(order=order, bounds=bounds, y_sorted=y[order], w_sorted=w_sorted)

    def group_sums(self) -> tuple[Array, Array]:
        """Per group: the weighted row sums ``sum w y`` (H x T) and ``sum w`` (H,)."""
        n_groups = self.bounds.size - 1
        ysum = np.zeros((n_groups, self.y_sorted.shape[1]))
        wsum = np.zeros(n_groups)
        for h in range(n_groups):
            lo, hi = int(self.bounds[h]), int(self.bounds[h + 1])
            if hi == lo:
                continue
            if self.w_sorted is None:
                ysum[h] = self.y_sorted[lo:hi].sum(axis=0)
                wsum[h] = hi - lo
            else:
                ysum[h] = self.w_sorted[lo:hi] @ self.y_sorted[lo:hi]
                wsum[h] = self.w_sorted[lo:hi].sum()
        return ysum, wsum


class GroupedInfluence:
    """An ``n x K`` influence-function matrix held in factored form.

    Entry ``(i, k)`` is ``w_i * coef[h_i, k] * (y_i[t_k] - y_i[b_k] - m[h_i, k])`` where
    ``h_i`` is unit ``i``'s cohort group, ``t_k``/``b_k`` the cell's period and base period
    (as column positions of ``y``), ``coef`` the cell's scale for that group (``n / W_treated``
    for the treated cohort, ``-n / W_control`` for control groups, 0 otherwise) and ``m`` the
    cell mean that group is centred on.

    It behaves as an array where the package needs one: ``shape``, ``ndim``, ``@`` with a
    vector or matrix, ``[:, cols]`` and ``numpy.asarray`` (which builds the dense matrix).
    """

    ndim = 2

    def __init__(
        self,
        panel: _SortedPanel,
        t_idx: Array,
        b_idx: Array,
        coef: Array,
        centre: Array,
    ) -> None:
        self._t = np.asarray(t_idx, dtype=np.intp)
        self._b = np.asarray(b_idx, dtype=np.intp)
        self._coef = coef  # (H, K)
        self._centre = centre  # (H, K)
        self._n, self._periods = int(panel.y_sorted.shape[0]), int(panel.y_sorted.shape[1])
        self._order = panel.order
        self._bounds = panel.bounds
        self._y_sorted = panel.y_sorted
        self._w_sorted = panel.w_sorted
        self._gram: Array | None = None

    def _blocks(self) -> list[tuple[int, slice]]:
        return [
            (h, slice(int(self._bounds[h]), int(self._bounds[h + 1])))
            for h in range(self._coef.shape[0])
            if self._bounds[h + 1] > self._bounds[h]
        ]

    # -- array protocol ------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return (self._n, int(self._t.size))

    def _diff_matrix(self) -> Array:
        """``D`` (T x K) with ``y @ D`` the long differences of every cell."""
        d = np.zeros((self._periods, self._t.size))
        cols = np.arange(self._t.size)
        d[self._t, cols] += 1.0
        d[self._b, cols] -= 1.0
        return d

    def __matmul__(self, v: Array) -> Array:
        """``IF @ v`` for a (K,) vector or (K, m) matrix, without the dense ``IF``."""
        vec = np.asarray(v, dtype=float)
        mat = vec[:, None] if vec.ndim == 1 else vec
        d = self._diff_matrix()
        out_sorted = np.empty((self._n, mat.shape[1]))
        for h, rows in self._blocks():
            scaled = self._coef[h][:, None] * mat  # (K, m)
            if not np.any(scaled):
                out_sorted[rows] = 0.0
                continue
            a = d @ scaled  # (T, m)
            c = self._centre[h] @ scaled  # (m,)
            block = self._y_sorted[rows] @ a
            block -= c
            if self._w_sorted is not None:
                block *= self._w_sorted[rows, None]
            out_sorted[rows] = block
        out = np.empty_like(out_sorted)
        out[self._order] = out_sorted
        return out[:, 0] if vec.ndim == 1 else out

    def dense(self) -> Array:
        """The dense ``n x K`` matrix."""
        return self @ np.eye(self.shape[1])

    def __array__(self, dtype: Any = None, copy: Any = None) -> Array:
        out = self.dense()
        return out if dtype is None else out.astype(dtype)

    def take_columns(self, cols: Array) -> GroupedInfluence:
        """The columns ``cols`` (indices) as another factored matrix."""
        idx = np.asarray(cols, dtype=np.intp)
        new = GroupedInfluence.__new__(GroupedInfluence)
        new.__dict__.update(self.__dict__)  # shares the sorted panel (read only)
        new._t, new._b = self._t[idx], self._b[idx]
        new._coef, new._centre = self._coef[:, idx], self._centre[:, idx]
        new._gram = None if self._gram is None else self._gram[np.ix_(idx, idx)]
        return new

    def __getitem__(self, key: Any) -> Any:
        if (
            isinstance(key, tuple)
            and len(key) == 2
            and isinstance(key[0], slice)
            and key[0] == slice(None)
        ):
            cols = np.arange(self.shape[1])[key[1]]
            if np.ndim(cols) == 1:
                return self.take_columns(cols)
        return self.dense()[key]

    # -- second moments ------------------------------------------------------------------
    def gram(self) -> Array:
        """``IF' IF`` (K x K) from per-group squared-weight moments of the outcome rows.

        For units of group ``h``: ``sum_i IF_ik IF_il = a_hk a_hl (u_k' S2 u_l - m_hl u_k' S1
        - m_hk u_l' S1 + m_hk m_hl S0)`` with ``S0 = sum w^2``, ``S1 = sum w^2 y_i`` and
        ``S2 = sum w^2 y_i y_i'`` over the group and ``u_k`` the cell's difference vector.
        """
        if self._gram is not None:
            return self._gram
        d = self._diff_matrix()
        k = self.shape[1]
        out = np.zeros((k, k))
        for h, rows in self._blocks():
            a = self._coef[h]
            if not np.any(a):
                continue
            s0, s1, s2 = self._moments(rows)
            m = self._centre[h]
            q = d.T @ s2 @ d  # (K, K)
            r = d.T @ s1  # (K,)
            inner = q - np.outer(r, m) - np.outer(m, r) + s0 * np.outer(m, m)
            out += np.outer(a, a) * inner
        out.flags.writeable = False
        self._gram = out
        return out

    def column_sq_sums(self) -> Array:
        """``sum_i IF_ik^2`` per column (the diagonal of :meth:`gram`, without the rest).

        Per group: ``a_hk^2 (S2[t,t] + S2[b,b] - 2 S2[t,b] - 2 m_hk (S1[t] - S1[b]) + m_hk^2 S0)``.
        """
        if self._gram is not None:
            return np.diag(self._gram).copy()
        t, b = self._t, self._b
        out = np.zeros(t.size)
        for h, rows in self._blocks():
            a = self._coef[h]
            if not np.any(a):
                continue
            s0, s1, s2 = self._moments(rows)
            m = self._centre[h]
            quad = s2[t, t] + s2[b, b] - 2.0 * s2[t, b]
            out += a * a * (quad - 2.0 * m * (s1[t] - s1[b]) + m * m * s0)
        return out

    def _moments(self, rows: slice) -> tuple[float, Array, Array]:
        """``S0 = sum w^2``, ``S1 = sum w^2 y_i`` and ``S2 = sum w^2 y_i y_i'`` of a block."""
        yw = self._y_sorted[rows]
        if self._w_sorted is None:
            return float(yw.shape[0]), yw.sum(axis=0), yw.T @ yw
        w = self._w_sorted[rows]
        yw = yw * w[:, None]
        return float(w @ w), yw.T @ w, yw.T @ yw


def estimate_group_time_simple(
    y: Array,
    unit_cohort: Array,
    periods: Array,
    groups: Array,
    *,
    weights: Array,
    control_group: str,
    base_period: str,
    anticipation: float,
) -> GroupTimeFit:
    """Every ATT(g, t) of a balanced panel without covariates, from cohort sums.

    Same arguments and result as :func:`~impacteval.did._cs_numerics.estimate_group_time`
    with ``x=None``; the result's ``influence`` is a :class:`GroupedInfluence`.
    """
    n = y.shape[0]
    # cohort groups: the distinct cohorts (never treated = inf sorts last)
    codes, uniques = pd.factorize(unit_cohort)  # hash: no sort of the n units
    rank = np.argsort(np.argsort(uniques))  # order the few cohorts (inf sorts last)
    levels = np.sort(np.asarray(uniques, dtype=float))
    group_of_unit = rank[codes].astype(np.intp)
    n_groups = levels.size
    count = np.bincount(group_of_unit, minlength=n_groups)
    panel = _SortedPanel.build(y, group_of_unit, weights, n_groups)
    ysum, wsum = panel.group_sums()  # weighted sums of the outcome rows per group (H x T)
    if not np.all(np.isfinite(ysum)):
        raise DataValidationError("`outcome`: the panel holds non-finite outcomes")

    plan = cell_plan(periods, groups, base_period=base_period, anticipation=anticipation)
    cells = np.array(plan, dtype=float).reshape(-1, 3)
    group_col = cells[:, 0]
    t_idx, b_idx = cells[:, 1].astype(np.intp), cells[:, 2].astype(np.intp)
    time_col, base_col = periods[t_idx], periods[b_idx]
    gi = np.searchsorted(levels, group_col)  # (K,) group position of each cell's cohort
    live = t_idx != b_idx  # under a universal base the cell t == base is normalised to 0
    # (H, K) memberships, vectorised over cells: the treated cohort and its controls
    treated = levels[:, None] == group_col[None, :]
    control = ~np.isfinite(levels)[:, None] & live[None, :]
    if control_group != "never_treated":
        cutoff = np.maximum(time_col, base_col) + anticipation
        control = control | ((levels[:, None] > cutoff[None, :]) & ~treated & live[None, :])
    w_t = wsum[gi]
    w_c = wsum @ control
    for j in np.flatnonzero(live & (w_c <= 0)):  # the first such cell, with R did's message
        label = f"(g, t) = ({format_label(group_col[j])}, {format_label(time_col[j])})"
        cut = max(time_col[j], base_col[j]) + anticipation
        cell_controls(levels, group_col[j], cut, control_group, label)
        raise DataValidationError(f"no control units are available for cell {label}")
    diff = ysum[:, t_idx] - ysum[:, b_idx]  # (H, K) weighted sums of the long differences
    with np.errstate(invalid="ignore", divide="ignore"):
        mu_t = diff[gi, np.arange(gi.size)] / w_t
        mu_c = np.where(live, np.sum(diff * control, axis=0) / np.where(live, w_c, 1.0), 0.0)
    mu_t = np.where(live, mu_t, 0.0)
    att = mu_t - mu_c
    bad = np.flatnonzero(~np.isfinite(att))
    if bad.size:
        first = int(bad[0])
        raise DataValidationError(
            f"cell (g, t) = ({format_label(group_col[first])}, "
            f"{format_label(time_col[first])}): the 2x2 estimate is not finite"
        )
    tr_live = treated & live[None, :]
    coef = np.where(tr_live, n / w_t, 0.0) - np.where(control, n / np.where(live, w_c, 1.0), 0.0)
    centre = np.where(tr_live, mu_t, 0.0) + np.where(control, mu_c, 0.0)
    n_treated = count[gi].astype(int)
    n_control = (count @ control).astype(int)
    influence = GroupedInfluence(panel, t_idx, b_idx, coef, centre)
    return GroupTimeFit(
        group=group_col,
        time=time_col,
        base=base_col,
        att=att,
        influence=influence,  # type: ignore[arg-type]  # behaves as the (n, K) array
        n_treated=n_treated,
        n_control=n_control,
        unit_cohort=unit_cohort,
        weights=weights,
        periods=periods,
    )
