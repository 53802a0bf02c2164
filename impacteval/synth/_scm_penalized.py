"""Penalized synthetic control (Abadie & L'Hour 2021): the numerics. Array in, array out.

For the treated unit's (scaled) predictors ``x1`` (k,), the donors' ``x0`` (k, J), a
diagonal V and a penalty ``lambda >= 0`` the weights solve

.. math:: \\min_{w \\ge 0, 1'w = 1} \\|x_1 - x_0 w\\|_V^2
          + \\lambda \\sum_j w_j \\|x_1 - x_{0j}\\|_V^2 ,

a convex quadratic programme (the paper's eq. 5): ``lambda -> 0`` gives the synthetic
control, a large ``lambda`` the nearest neighbour. :func:`penalized_simplex` solves it
exactly (up to rounding) by a primal active-set method, the quadratic-programme analogue of
the Lawson-Hanson NNLS that :func:`~impacteval.synth._scm_numerics.simplex_lstsq` uses for
``lambda = 0``: the linear penalty cannot be folded into a least-squares problem, so the
standard solver does not apply directly. :func:`holdout_penalty` chooses ``lambda`` by the
paper's pre-intervention hold-out validation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from impacteval.synth._scm_numerics import fit_v, scale_predictors, simplex_quadratic

__all__ = [
    "GRID_DECADES",
    "GRID_POINTS",
    "GRID_TOP_MAX",
    "GRID_TOP_MIN",
    "PenalizedUnit",
    "PenaltyChoice",
    "holdout_penalty",
    "lambda_grid",
    "nearest_neighbour_lambda",
    "penalized_objective",
    "penalized_simplex",
    "penalized_unit",
    "split_fit_period",
]

GRID_DECADES = 8
"""The hold-out grid spans this many decades below :func:`nearest_neighbour_lambda`."""
GRID_POINTS = 41
"""Points of the hold-out grid (five per decade), equally spaced in log(lambda)."""
GRID_TOP_MIN = 1e-2
"""Smallest upper end of the hold-out grid."""
GRID_TOP_MAX = 1e4
"""Largest upper end of the hold-out grid."""
TIE_RTOL = 1e-9
"""Hold-out errors within this relative distance of the minimum count as tied."""


def _distances(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = a - b[:, None]
    return d, np.einsum("ij,ij->j", d, d)


def penalized_objective(a: np.ndarray, b: np.ndarray, lam: float, w: np.ndarray) -> float:
    """``||b - a w||^2 + lam * sum_j w_j ||b - a_j||^2`` (V already folded into a, b)."""
    _, c = _distances(a, b)
    r = b - a @ w
    return float(r @ r + lam * (c @ w))


def nearest_neighbour_lambda(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest ``lambda`` from which the nearest donor alone is the solution.

    At ``w = e_n`` (``n`` the nearest donor, ``c_j = ||b - a_j||^2``, ``d_j = a_j - b``)
    the reduced gradient of donor j is ``2 d_j'd_n - 2 c_n + lambda (c_j - c_n)``; the
    vertex is optimal once every one is non-negative. Returns 0 when it already is at
    ``lambda = 0`` and ``inf`` when another donor is exactly as near (no finite lambda
    singles one out).
    """
    d, c = _distances(a, b)
    n = int(np.argmin(c))
    others = np.arange(c.shape[0]) != n
    need = 2.0 * (c[n] - d[:, others].T @ d[:, n])
    gap = c[others] - c[n]
    if np.any((gap <= 0.0) & (need > 0.0)):
        return math.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(need > 0.0, need / gap, 0.0)
    return float(max(ratio.max(initial=0.0), 0.0))


def penalized_simplex(
    a: np.ndarray, b: np.ndarray, lam: float, max_iter: int | None = None
) -> np.ndarray:
    """Exact ``argmin ||b - a w||^2 + lam * sum_j w_j ||b - a_j||^2`` over the simplex.

    Notes
    -----
    On the simplex ``||b - a w||^2 = ||D w||^2`` with ``D = a - b 1'``, so the objective
    is ``w'Gw + h'w`` with ``G = D'D`` and ``h = lam * c``, ``c_j = ||d_j||^2``. Primal
    active set: start at the nearest donor (the best vertex: ``f(e_j) = (1 + lam) c_j``);
    add the donor with the most negative reduced gradient ``g_j - mu`` (``g = 2Gw + h``,
    ``mu`` the common gradient on the support); solve the equality-constrained problem on
    the support and step back to feasibility as Lawson-Hanson do when a weight would turn
    negative. When the support has more points than the predictors can fix (the KKT
    matrix singular), the objective is linear along the null direction ``d`` and falls
    along it (slope ``d_new (g_new - mu) < 0``), so the step runs until a weight reaches
    zero. Stops when no reduced gradient is below ``-tol`` (the KKT conditions, to
    rounding). For ``lam > 0`` and predictors in general position the minimiser is unique
    and has at most k + 1 donors (Abadie & L'Hour 2021, Theorem 1).
    """
    d, c = _distances(a, b)
    return simplex_quadratic(2.0 * (d.T @ d), lam * c, max_iter=max_iter)


def lambda_grid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``GRID_POINTS`` penalties, log-spaced over ``GRID_DECADES`` decades up to
    :func:`nearest_neighbour_lambda` (beyond which every penalty gives the nearest
    neighbour), that upper end clipped to ``[GRID_TOP_MIN, GRID_TOP_MAX]`` (lambda is a
    ratio of two squared distances in the same metric, so these bounds are scale-free; a
    near-tie for the nearest donor would otherwise push the grid to astronomic values)."""
    top = nearest_neighbour_lambda(a, b)
    top = GRID_TOP_MAX if not top > 0.0 or math.isinf(top) else top
    top = min(max(top, GRID_TOP_MIN), GRID_TOP_MAX)
    return np.asarray(top * np.logspace(-GRID_DECADES, 0.0, GRID_POINTS))


@dataclass(frozen=True)
class PenaltyChoice:
    """The hold-out choice of ``lambda``: the grid, each penalty's hold-out MSPE, the
    chosen penalty, and the periods used (indices into the fit periods)."""

    grid: np.ndarray
    mspe: np.ndarray
    penalty: float
    n_train: int
    n_validation: int


def split_fit_period(n_fit: int) -> int:
    """Training periods of the hold-out: the first ``ceil(n_fit / 2)`` fit periods (the
    rest validate); ADH (2015) split the pre-period in halves the same way."""
    return max(1, math.ceil(n_fit / 2)) if n_fit > 1 else 1


def holdout_penalty(
    a_train: np.ndarray,
    b_train: np.ndarray,
    z0_val: np.ndarray,
    z1_val: np.ndarray,
    n_train: int,
) -> PenaltyChoice:
    """Choose ``lambda`` by pre-intervention hold-out validation (Abadie & L'Hour 2021).

    Weights are computed from the training predictors (``a_train``, ``b_train``: V already
    folded in) for every penalty of :func:`lambda_grid`; each is scored by the mean squared
    error of the treated unit's validation-period outcomes ``z1_val`` against
    ``z0_val @ w``. The chosen penalty minimises it; near-ties (within ``TIE_RTOL``) go to
    the largest penalty, the sparser fit, so the choice does not turn on rounding.
    """
    grid = lambda_grid(a_train, b_train)
    mspe = np.empty(grid.shape[0])
    for i, lam in enumerate(grid):
        w = penalized_simplex(a_train, b_train, float(lam))
        r = z1_val - z0_val @ w
        mspe[i] = float(r @ r) / r.shape[0]
    best = float(mspe.min())
    ok = np.flatnonzero(mspe <= best + TIE_RTOL * max(best, np.finfo(float).tiny))
    return PenaltyChoice(
        grid=grid,
        mspe=mspe,
        penalty=float(grid[ok[-1]]),
        n_train=n_train,
        n_validation=int(z1_val.shape[0]),
    )


@dataclass(frozen=True)
class PenalizedUnit:
    """One penalized fit: weights, V, predictor scale, the scaled predictors, the search
    record and what the result reports (``info``)."""

    w: np.ndarray
    v: np.ndarray
    scale: np.ndarray
    x1s: np.ndarray
    x0s: np.ndarray
    starts: tuple[tuple[str, float], ...]
    penalty: float
    choice: PenaltyChoice | None


def _training_block(
    y: np.ndarray,
    x_train: np.ndarray | None,
    v: np.ndarray,
    train: np.ndarray,
    treated: int,
    donors: np.ndarray,
    outcomes_only: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """V-weighted training predictors ``(a, b)`` of the hold-out."""
    if outcomes_only or x_train is None:
        return y[np.ix_(train, donors)], y[train, treated]
    kept = np.isfinite(x_train[:, treated])
    x1, x0, _ = scale_predictors(x_train[kept, treated], x_train[np.ix_(kept, donors)])
    vk = v[kept]
    vk = vk / vk.sum() if vk.sum() > 0 else np.full(vk.shape[0], 1.0 / vk.shape[0])
    sv = np.sqrt(vk)
    return x0 * sv[:, None], x1 * sv


def penalized_unit(
    y: np.ndarray,
    x: np.ndarray | None,
    x_train: np.ndarray | None,
    fit: np.ndarray,
    v_fixed: np.ndarray | None,
    penalty: float | None,
    treated: int,
    donors: np.ndarray,
    n_random: int,
    seed: int,
) -> PenalizedUnit:
    """Penalized weights for unit ``treated`` (column of ``y``) from ``donors``.

    Predictors as for the standard fit: ``x`` (k, N) scaled by their SD, V fixed or chosen
    by the standard nested search (at ``lambda = 0``) and then held fixed; without
    predictors the fit-period outcomes, V equal. ``penalty`` None: chosen by
    :func:`holdout_penalty` on the fit period split by :func:`split_fit_period`, with
    the predictors recomputed from training years only (``x_train``, NaN rows for
    predictors with no training year).
    """
    fit_idx = np.flatnonzero(fit)
    z1, z0 = y[fit_idx, treated], y[np.ix_(fit_idx, donors)]
    starts: tuple[tuple[str, float], ...]
    if x is None:
        x1s, x0s, scale = z1, z0, np.ones(z1.shape[0])
        v = np.full(z1.shape[0], 1.0 / z1.shape[0])
        starts = (("outcomes only", 0.0),)
    else:
        x1s, x0s, scale = scale_predictors(x[:, treated], x[:, donors])
        if v_fixed is not None:
            v, starts = v_fixed, (("given", 0.0),)
        else:
            res = fit_v(x1s, x0s, z1, z0, n_random=n_random, seed=seed)
            v, starts = res.v, res.starts
    choice = None
    if penalty is None:
        n_train = split_fit_period(fit_idx.shape[0])
        train, val = fit_idx[:n_train], fit_idx[n_train:]
        a_t, b_t = _training_block(y, x_train, v, train, treated, donors, x is None)
        choice = holdout_penalty(a_t, b_t, y[np.ix_(val, donors)], y[val, treated], n_train)
        penalty = choice.penalty
    sv = np.sqrt(v)
    w = penalized_simplex(x0s * sv[:, None], x1s * sv, float(penalty))
    return PenalizedUnit(
        w=w,
        v=v,
        scale=scale,
        x1s=x1s,
        x0s=x0s,
        starts=starts,
        penalty=float(penalty),
        choice=choice,
    )
