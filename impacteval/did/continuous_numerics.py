"""Numerics of difference in differences with a continuous dose (Callaway, Goodman-Bacon and
Sant'Anna 2024): the B-spline sieve of one 2x2 cell, its influence functions, and the
dose aggregation over cells.

Conventions (those of the estimator's reference implementation, moderndid ``cont_did``):
in cell ``(g, t)`` the outcome change ``dY = Y_t - Y_base`` of the treated units (cohort
``g``) is regressed on an intercept and a B-spline basis of the dose without its first
function (degree ``degree``, the given interior knots, boundary knots at the smallest and
largest dose of the cell's treated units; outside them the end polynomial pieces are
extended). ``ATT(d) = m(d) - mean(dY | control)`` and ``ACRT(d) = m'(d)``; ``ATT^o`` is the
treated units' mean fitted change minus the control mean, ``ACRT^o`` the treated units'
mean ``m'(D)``. Influence functions are per unit and scaled to the whole sample (the
estimate minus the truth is about ``mean_i psi_i``), as R ``did`` scales them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import BSpline

__all__ = ["CellEstimate", "cell_estimate", "dose_weights", "quantile_knots", "spline_basis"]

Array = np.ndarray


def quantile_knots(doses: Array, num_knots: int) -> Array:
    """``num_knots`` interior knots at equally spaced quantiles of ``doses`` (linear
    interpolation between order statistics), the boundary quantiles excluded."""
    if num_knots <= 0 or doses.size == 0:
        return np.empty(0)
    return np.asarray(np.quantile(doses, np.linspace(0.0, 1.0, num_knots + 2))[1:-1])


def spline_basis(x: Array, degree: int, interior: Array, bounds: tuple[float, float]) -> Array:
    """``[1, B_2(x), ..., B_K(x)]``: an intercept and the B-spline basis of ``degree`` with
    knots ``interior`` inside ``bounds``, without its first function (so the columns are not
    collinear with the intercept). Row ``i`` is ``x[i]``; polynomial extension outside
    ``bounds``."""
    return np.column_stack([np.ones(x.size), _bspline_matrix(x, degree, interior, bounds, 0)])


def spline_derivative(x: Array, degree: int, interior: Array, bounds: tuple[float, float]) -> Array:
    """Derivative of :func:`spline_basis` in ``x`` (first column zero)."""
    return np.column_stack([np.zeros(x.size), _bspline_matrix(x, degree, interior, bounds, 1)])


def _bspline_matrix(
    x: Array, degree: int, interior: Array, bounds: tuple[float, float], deriv: int
) -> Array:
    lo, hi = bounds
    knots = np.r_[np.repeat(lo, degree + 1), np.sort(interior), np.repeat(hi, degree + 1)]
    n_basis = knots.size - degree - 1
    spline = BSpline(knots, np.eye(n_basis), degree, extrapolate=True)
    if deriv:
        spline = spline.derivative(deriv)
    return np.asarray(spline(np.asarray(x, dtype=float)))[:, 1:]


@dataclass(frozen=True)
class CellEstimate:
    """The dose-response estimates of one cell with their influence functions.

    Attributes
    ----------
    att_o, acrt_o : float
        The cell's overall ATT and overall average causal response.
    att_d, acrt_d : (G,) arrays
        ATT(d) and ACRT(d) on the dose grid.
    psi_att_o, psi_acrt_o : (n,) arrays
        Influence functions (zero for units outside the cell).
    psi_att_d, psi_acrt_d : (n, G) arrays
    coef : (K,) array
        The sieve coefficients (intercept first).
    """

    att_o: float
    acrt_o: float
    att_d: Array
    acrt_d: Array
    psi_att_o: Array
    psi_acrt_o: Array
    psi_att_d: Array
    psi_acrt_d: Array
    coef: Array


def cell_estimate(
    dy: Array,
    dose: Array,
    treated: Array,
    control: Array,
    grid: Array,
    degree: int,
    interior: Array,
) -> CellEstimate:
    """Fit the sieve in one 2x2 cell.

    Parameters
    ----------
    dy : (n,) array
        Outcome change of every unit (only treated and control rows are read).
    dose : (n,) array
        Dose of every unit (read for the treated).
    treated, control : (n,) bool arrays
        The cell's treated units (cohort ``g``) and comparison units.
    grid : (G,) array
        Doses at which ATT(d) and ACRT(d) are evaluated.
    degree : int
        B-spline degree.
    interior : array
        Interior knots.
    """
    n = dy.size
    d_t, y_t, y_c = dose[treated], dy[treated], dy[control]
    n_t, n_c = d_t.size, y_c.size
    bounds = (float(d_t.min()), float(d_t.max()))
    inside = interior[(interior > bounds[0]) & (interior < bounds[1])]
    x = spline_basis(d_t, degree, inside, bounds)
    coef = np.linalg.lstsq(x, y_t, rcond=None)[0]
    resid = y_t - x @ coef
    bread = np.linalg.pinv(x.T @ x / n_t)
    psi_coef = (n / n_t) * (resid[:, None] * x) @ bread  # (n_t, K)
    mean_c = float(y_c.mean())
    psi_c = (n / n_c) * (y_c - mean_c)

    b_grid = spline_basis(grid, degree, inside, bounds)
    db_grid = spline_derivative(grid, degree, inside, bounds)
    db_t = spline_derivative(d_t, degree, inside, bounds)
    slope_t = db_t @ coef
    acrt_o = float(slope_t.mean())

    psi_att_d = np.zeros((n, grid.size))
    psi_att_d[treated] = psi_coef @ b_grid.T
    psi_att_d[control] = -psi_c[:, None]
    psi_acrt_d = np.zeros((n, grid.size))
    psi_acrt_d[treated] = psi_coef @ db_grid.T
    psi_att_o = np.zeros(n)
    psi_att_o[treated] = (n / n_t) * (y_t - y_t.mean())
    psi_att_o[control] = -psi_c
    psi_acrt_o = np.zeros(n)
    psi_acrt_o[treated] = (n / n_t) * (slope_t - acrt_o) + psi_coef @ db_t.mean(axis=0)
    return CellEstimate(
        att_o=float((x @ coef).mean() - mean_c),
        acrt_o=acrt_o,
        att_d=b_grid @ coef - mean_c,
        acrt_d=db_grid @ coef,
        psi_att_o=psi_att_o,
        psi_acrt_o=psi_acrt_o,
        psi_att_d=psi_att_d,
        psi_acrt_d=psi_acrt_d,
        coef=coef,
    )


def dose_weights(group: Array, time: Array, unit_cohort: Array) -> Array:
    """Weights of the cells in the dose aggregation: each post-treatment cell ``(g, t)``
    (``g <= t``) gets its cohort's share of the treated units divided by the cohort's
    number of post-treatment cells; pre-treatment cells get 0. Sums to one."""
    cohorts = np.unique(group)
    share = np.array([np.sum(unit_cohort == g) for g in cohorts], dtype=float)
    share = share / share.sum()
    post = group <= time
    w = np.zeros(group.size)
    for g, s in zip(cohorts, share, strict=True):
        cells = post & (group == g)
        if cells.any():
            w[cells] = s / cells.sum()
    total = w.sum()
    return w / total if total > 0 else w
