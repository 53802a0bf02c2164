"""Weights, estimands and in-sample bounds for several treated units (Cattaneo, Feng,
Palomba & Titiunik, staggered adoption; scpi's ``scest``/``scpi`` on ``scdataMulti``
data with ``V="separate"``, the outcome as the only feature and simplex weights).

Each treated unit ``i`` has its own simplex weights ``w_i``, fitted on its pre-period
(before its adoption ``T0_i``) against the never-treated donors. The estimands are linear in
the stacked weights through rows ``p`` (the donors' outcomes):

- ``"unit-time"``: one row per treated unit and post period (``Y_it - p_it'w_i``);
- ``"unit"``: per unit, the average over its post periods (``p`` the mean post row);
- ``"time"``: per event time ``k`` (0 the adoption period) observed for every treated unit,
  the average over units of ``Y_i,T0_i+k - p'w_i``.

The in-sample bounds follow the single-unit construction unit by unit
(:mod:`impacteval.synth._scpi_insample`), with the pieces scpi pools over the stacked
pre-periods of all units (``TT = sum_i T0_i``): ``Q_i = B_i'B_i / TT``; the pseudo-residual
mean from a block regression on each unit's constant and active donors (a common constant
when ``TT - 10`` is not larger than the number of columns); the HC1 factor ``TT / (TT -
df)`` with ``df`` the total number of non-zero weights minus one; and ``Sigma_i =
B_i' diag(omega_i) B_i / TT^2``. For the event-time effect the units' bounds are averaged
draw by draw before the quantiles are taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impacteval.synth._scm_numerics import simplex_quadratic
from impacteval.synth._scpi import symmetric_sqrt
from impacteval.synth._scpi_insample import LocalGeometry, insample_bounds, local_geometry
from impacteval.synth._scpi_multi_data import StaggeredPanel
from impacteval.synth._scpi_multi_out import error_blocks, multi_outsample_bounds

__all__ = [
    "EFFECTS",
    "MultiArrays",
    "UnitProblem",
    "estimand_rows",
    "fit_simplex",
    "multi_bounds",
    "unit_problems",
]

EFFECTS = ("unit-time", "unit", "time")


def fit_simplex(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``argmin ||a - B w||^2`` over the unit simplex (exact active set; the problem is
    scaled by the mean of ``diag(B'B)`` first)."""
    gram = b.T @ b
    scale = float(np.trace(gram)) / gram.shape[0]
    w = simplex_quadratic(2.0 * gram / scale, -2.0 * (b.T @ a) / scale)
    w = np.clip(w, 0.0, None)
    return np.asarray(w / w.sum())


@dataclass(frozen=True)
class UnitProblem:
    """One treated unit's fit: pre-period outcomes ``a`` and donors ``b``, post-period
    donors ``post`` and outcomes ``y_post``, weights ``w``."""

    a: np.ndarray
    b: np.ndarray
    post: np.ndarray
    y_post: np.ndarray
    w: np.ndarray

    @property
    def resid(self) -> np.ndarray:
        """Pre-period residuals ``a - B w``."""
        return np.asarray(self.a - self.b @ self.w)


def unit_problems(panel: StaggeredPanel) -> list[UnitProblem]:
    """Fit every treated unit's weights (order of ``panel.blocks``)."""
    out = []
    n_t = panel.y.shape[0]
    for blk in panel.blocks:
        pre = blk.pre(n_t)
        a = panel.y[pre, blk.column]
        b = panel.y[np.ix_(pre, panel.donors)]
        out.append(
            UnitProblem(
                a=a,
                b=b,
                post=panel.y[np.ix_(~pre, panel.donors)],
                y_post=panel.y[~pre, blk.column],
                w=fit_simplex(a, b),
            )
        )
    return out


def estimand_rows(problems: list[UnitProblem], effect: str) -> list[np.ndarray]:
    """Per unit, the rows ``p`` (donors' outcomes) of the estimand (see module docstring)."""
    if effect == "unit-time":
        return [p.post for p in problems]
    if effect == "unit":
        return [p.post.mean(axis=0, keepdims=True) for p in problems]
    k = min(p.post.shape[0] for p in problems)
    return [p.post[:k] for p in problems]


def _pooled_sigma(
    problems: list[UnitProblem], geoms: list[LocalGeometry]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per unit ``Q_i`` and ``Sigma_i`` with the pooled rules (module docstring)."""
    tt = sum(p.a.size for p in problems)
    n_cols = sum(int(g.active.sum()) + 1 for g in geoms)
    resid = [p.resid for p in problems]
    if tt - 10 <= n_cols:
        pooled_mean = float(np.concatenate(resid).mean())
        u = [r - pooled_mean for r in resid]
    else:
        u = []
        for p, g, r in zip(problems, geoms, resid, strict=True):
            design = np.column_stack([p.b[:, g.active], np.ones(r.size)])
            coef = np.linalg.lstsq(design, r, rcond=None)[0]
            u.append(r - design @ coef)
    df = sum(int((np.abs(p.w) >= 1e-6).sum()) for p in problems) - 1
    df = min(df, tt - 1)
    factor = tt / (tt - df)
    q = [p.b.T @ p.b / tt for p in problems]
    sigma = [(p.b.T * (ui**2 * factor)) @ p.b / tt**2 for p, ui in zip(problems, u, strict=True)]
    return q, sigma


@dataclass(frozen=True)
class MultiArrays:
    """Bounds for ``Y(0)`` minus the synthetic prediction, by estimand row."""

    insample_lower: np.ndarray
    insample_upper: np.ndarray
    outsample_lower: np.ndarray
    outsample_upper: np.ndarray
    rho: tuple[float, ...]
    failed: int
    simple_error_model: bool


def multi_bounds(
    problems: list[UnitProblem],
    effect: str,
    *,
    draws: np.ndarray,
    u_alpha: float,
    e_alpha: float,
    out_of_sample: str,
    rho: float | None,
    rho_max: float,
) -> MultiArrays:
    """In-sample and out-of-sample bounds of the estimand's rows.

    Parameters
    ----------
    problems : from :func:`unit_problems`.
    effect : one of :data:`EFFECTS`.
    draws : (S, sum_i J_i) standard normal draws, unit by unit in the order of ``problems``.
    u_alpha, e_alpha : error probabilities of the in-sample and out-of-sample parts.
    out_of_sample : ``"gaussian"``, ``"ls"`` or ``"qreg"``.
    rho, rho_max : regularisation of the local geometry (None: scpi's type-2 rule, per unit).
    """
    geoms = [local_geometry(p.w, p.resid, p.b, rho, rho_max) for p in problems]
    q, sigma = _pooled_sigma(problems, geoms)
    rows = estimand_rows(problems, effect)
    lo_parts, hi_parts = [], []
    start = 0
    for p, g, qi, si, ri in zip(problems, geoms, q, sigma, rows, strict=True):
        j = p.w.size
        gi = draws[:, start : start + j] @ symmetric_sqrt(si)
        start += j
        lo, hi = insample_bounds(p.w, qi, g.lower, ri, gi)
        lo_parts.append(lo)
        hi_parts.append(hi)
    if effect == "time":
        lo_all = np.mean(np.stack(lo_parts), axis=0)
        hi_all = np.mean(np.stack(hi_parts), axis=0)
    else:
        lo_all = np.concatenate(lo_parts, axis=1)
        hi_all = np.concatenate(hi_parts, axis=1)
    failed = int((~np.isfinite(lo_all)).sum() + (~np.isfinite(hi_all)).sum())
    blocks, simple = error_blocks(
        [p.resid for p in problems],
        [p.b[:, g.active] for p, g in zip(problems, geoms, strict=True)],
        [ri[:, g.active] for ri, g in zip(rows, geoms, strict=True)],
    )
    e_lo, e_hi = multi_outsample_bounds(
        blocks, simple=simple, method=out_of_sample, alpha=e_alpha, average=effect == "time"
    )
    return MultiArrays(
        insample_lower=np.nanquantile(lo_all, u_alpha / 2.0, axis=0),
        insample_upper=np.nanquantile(hi_all, 1.0 - u_alpha / 2.0, axis=0),
        outsample_lower=e_lo,
        outsample_upper=e_hi,
        rho=tuple(g.rho for g in geoms),
        failed=failed,
        simple_error_model=simple,
    )
