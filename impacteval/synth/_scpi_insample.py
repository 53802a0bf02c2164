"""In-sample (weights) uncertainty of the synthetic control prediction, by simulation.

Cattaneo, Feng & Titiunik (2021) bound the error ``p'(w_hat - w0)`` of the synthetic
prediction ``p'w_hat`` (``p``: the donors' outcomes in a post period) through the limiting
distribution of the constrained least-squares estimator
``w_hat = argmin_{w in W} (a - B w)'(a - B w)``, ``W`` the unit simplex. With
``Q = B'B / T0`` and ``G ~ N(0, Sigma)``, ``Sigma = B' diag(u^2) B / T0^2`` (HC1-scaled
pseudo-residuals ``u`` after removing their conditional mean), each draw of ``G`` gives the
set of deviations that the criterion cannot tell from zero,

    Delta(G) = {d in W_local - w_hat : d'Q d - 2 G'd <= 0},

where ``W_local`` is the simplex with the weights that are (nearly) zero held at their
estimate (lower bound ``w_j`` when ``w_j < rho``, else 0; ``rho`` the paper's
regularisation of the local geometry). The lower and upper in-sample bounds at ``level``
are the ``alpha/2`` quantile of ``min_{d in Delta(G)} -p'd`` and the ``1 - alpha/2``
quantile of ``max_{d in Delta(G)} -p'd`` over the draws.

Each draw needs the extremes of a linear function over ``Delta(G)``: a linear objective
under one convex quadratic constraint and the simplex. They are solved through the
Lagrangian: for ``t > 0`` let ``d(t)`` minimise ``d'Q d - (2G + t p)'d`` over the local
simplex (a small quadratic programme, solved exactly by an active-set method below);
``f(d(t)) = d(t)'Q d(t) - 2 G'd(t)`` is non-decreasing in ``t`` and the maximiser of
``p'd`` is ``d(t*)`` with ``f(d(t*)) = 0``, or the linear programme's vertex when that
already satisfies the constraint. On a fixed support ``d(t)`` is affine in ``t`` and
``f(d(t))`` quadratic, so ``t*`` is found exactly once the support is right (a bracketed
search in ``log t`` finds it). Pure array-in /
array-out functions.
"""

from __future__ import annotations

import math

import numpy as np

from impacteval.synth._scm_numerics import simplex_quadratic

__all__ = [
    "LocalGeometry",
    "degenerate",
    "extreme_deviation",
    "hc_sigma",
    "insample_bounds",
    "local_geometry",
    "residual_mean",
    "simplex_qp",
]

_RIDGE = 1e-10  # relative ridge on Q: keeps the KKT systems solvable when J > T0
_T_LO, _T_HI = 1e-9, 1e9  # bracket of the multiplier t = 1 / lambda (normalised problem)


class LocalGeometry:
    """``rho``, the active donors (weight above ``rho``) and the lower bounds of the local
    constraint set."""

    __slots__ = ("active", "lower", "rho")

    def __init__(self, rho: float, active: np.ndarray, lower: np.ndarray) -> None:
        self.rho = rho
        self.active = active
        self.lower = lower


def local_geometry(
    w: np.ndarray, residuals: np.ndarray, b: np.ndarray, rho: float | None, rho_max: float
) -> LocalGeometry:
    """The paper's ``rho`` ("type-2" rule of scpi when None) and the local simplex.

    ``rho = C sqrt(log(J) d0 log(T0) / T0)`` with ``C = sd(u) max_j sd(B_j) / min_j
    var(B_j)`` and ``d0`` the number of non-zero weights, capped at ``rho_max``; a value
    below 0.001 is raised as scpi does (to the larger of its type-1 and type-2 rules capped
    at 0.2, or to ``rho_max`` if that is still below 0.05).
    """
    t0, j = b.shape
    d0 = int((np.abs(w) >= 1e-6).sum())
    if rho is None:
        sd_u = float(np.sqrt(np.mean((residuals - residuals.mean()) ** 2)))
        sd_b = b.std(axis=0, ddof=1)
        var_b = b.var(axis=0, ddof=1)
        if float(var_b.min()) == 0.0:
            raise ValueError("a donor's outcome is constant over the fit period")
        root = math.sqrt(math.log(j) * d0 * math.log(t0) / t0)
        type1 = sd_u / float(sd_b.min()) * root
        type2 = sd_u * float(sd_b.max()) / float(var_b.min()) * root
        value = min(type2, rho_max)
        if value < 0.001:
            value = max(min(type1, 0.2), min(type2, 0.2))
            if value < 0.05:
                value = rho_max
    else:
        value = float(rho)
    active = w > value
    if not active.any():
        active = w >= w.max()
    lower = np.where(w < value, w, 0.0)
    return LocalGeometry(value, active, lower)


def residual_mean(residuals: np.ndarray, b_active: np.ndarray) -> np.ndarray:
    """Fitted conditional mean of the pseudo-residuals: OLS on the active donors' outcomes
    and a constant (a constant alone when fewer than ten degrees of freedom would remain)."""
    t0 = residuals.shape[0]
    design = np.column_stack([b_active, np.ones(t0)])
    if t0 - 10 <= design.shape[1]:
        return np.full(t0, residuals.mean())
    coef = np.linalg.lstsq(design, residuals, rcond=None)[0]
    return np.asarray(design @ coef)


def hc_sigma(b: np.ndarray, u: np.ndarray, n_weights: int) -> np.ndarray:
    """``Sigma = B' diag(u^2) B / T0^2`` with the HC1 factor ``T0 / (T0 - df)``, ``df`` the
    number of non-zero weights minus one (the simplex's equality constraint)."""
    t0 = b.shape[0]
    df = min(n_weights - 1, t0 - 1)
    omega = u**2 * (t0 / (t0 - df))
    return np.asarray((b.T * omega) @ b / t0**2)


def simplex_qp(
    h_mat: np.ndarray, h: np.ndarray, start: np.ndarray | None = None, max_iter: int = 500
) -> np.ndarray:
    """Exact ``argmin_w w'H w - h'w`` over the unit simplex, ``H`` positive definite.

    :func:`impacteval.synth._scm_numerics.simplex_quadratic` (a primal active-set method,
    Lawson-Hanson's for the simplex) with ``G2 = 2H`` and linear term ``-h``; ``start``
    (boolean mask) is a guessed support, shrunk until its solution is positive.
    """
    return simplex_quadratic(2.0 * h_mat, -h, start=start, max_iter=max_iter)


def _kkt_path(
    q: np.ndarray, h0: np.ndarray, h1: np.ndarray, support: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """On a fixed support the simplex QP's solution with linear term ``h0 + t h1`` is
    affine in ``t``: ``w(t) = wa + t wb``, multiplier ``nu(t) = na + t nb``."""
    idx = np.flatnonzero(support)
    k = idx.size
    kkt = np.empty((k + 1, k + 1))
    kkt[:k, :k] = 2.0 * q[np.ix_(idx, idx)]
    kkt[:k, k] = 1.0
    kkt[k, :k] = 1.0
    kkt[k, k] = 0.0
    rhs = np.zeros((k + 1, 2))
    rhs[:k, 0] = h0[idx]
    rhs[k, 0] = 1.0
    rhs[:k, 1] = h1[idx]
    sol = np.linalg.solve(kkt, rhs)
    wa = np.zeros(q.shape[0])
    wb = np.zeros(q.shape[0])
    wa[idx] = sol[:k, 0]
    wb[idx] = sol[:k, 1]
    return wa, wb, sol[k, 0], sol[k, 1]


def _root_on_support(
    q: np.ndarray,
    g: np.ndarray,
    d0: np.ndarray,
    scale: float,
    h0: np.ndarray,
    h1: np.ndarray,
    support: np.ndarray,
) -> tuple[float, np.ndarray | None] | None:
    """The ``t`` at which ``f(d(t)) = 0`` on this support, with ``d`` if the support is
    optimal there (else None); None when no positive root exists on the support."""
    wa, wb, _, _ = _kkt_path(q, h0, h1, support)
    da, db = d0 + scale * wa, scale * wb
    qdb = q @ db
    a2 = float(db @ qdb)
    b1 = 2.0 * float(da @ qdb) - 2.0 * float(g @ db)
    c0 = float(da @ q @ da) - 2.0 * float(g @ da)
    if a2 > 1e-14 * max(1.0, abs(b1), abs(c0)):
        disc = b1 * b1 - 4.0 * a2 * c0
        if disc < 0.0:
            return None
        t = (-b1 + math.sqrt(disc)) / (2.0 * a2)
    elif b1 > 0.0:
        t = -c0 / b1
    else:
        return None
    if not t > 0.0:
        return None
    w = wa + t * wb
    tol = 1e-10 * max(1.0, float(np.abs(w).max()))
    if (w[support] < -tol).any():
        return t, None
    h = h0 + t * h1
    grad = 2.0 * q @ w - h
    nu = float(grad[support].mean())
    gap = np.where(support, 0.0, grad - nu)
    if (gap < -1e-9 * max(1.0, float(np.abs(h).max()))).any():
        return t, None
    return t, d0 + scale * np.clip(w, 0.0, None)


def extreme_deviation(
    q: np.ndarray,
    g: np.ndarray,
    p: np.ndarray,
    d0: np.ndarray,
    scale: float,
    warm: list[np.ndarray | None] | None = None,
) -> float:
    """``max p'd`` over ``{d = d0 + scale * w : w in simplex, d'Q d - 2 g'd <= 0}``.

    ``q`` must be normalised (mean diagonal about one, ridge added) and ``p`` of unit norm;
    ``d = 0`` is feasible (``d0 + scale * w_hat_local = 0``) and the caller has checked
    that the set has an interior point (:func:`degenerate` is False). The root ``t*`` is found by
    solving ``f(d(t)) = 0`` exactly on the current support (``d(t)`` is affine in ``t``
    there) and re-solving the QP at the candidate when the support changes, inside a
    bracket that falls back to bisection in ``log t``. ``warm`` (three supports, updated in
    place: the QP's at the upper end of the bracket, unused, and at the root)
    warm-starts the search: a previous root support that satisfies the KKT conditions at
    its own root gives the answer directly (a Lagrangian certificate: with ``lambda > 0``,
    ``f(d*) = 0`` and ``d*`` maximising ``p'd - lambda f(d)`` over the simplex, no feasible
    ``d`` has a larger ``p'd``).
    """
    warm = [None, None, None] if warm is None else warm
    h0 = (2.0 * g - 2.0 * (q @ d0)) / scale
    h1 = p / scale

    def solve_at(t: float, start: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        w = simplex_qp(q, h0 + t * h1, start)
        return d0 + scale * w, w > 0.0

    def excess(d: np.ndarray) -> float:
        return float(d @ q @ d - 2.0 * g @ d)

    if warm[2] is not None:
        found = _root_on_support(q, g, d0, scale, h0, h1, warm[2])
        if found is not None and found[1] is not None:
            return float(p @ found[1])
    d_hi, support = solve_at(_T_HI, warm[0])
    warm[0] = support
    if excess(d_hi) <= 0.0:
        return float(p @ d_hi)
    lo, hi = math.log(_T_LO), math.log(_T_HI)
    for _ in range(200):
        found = _root_on_support(q, g, d0, scale, h0, h1, support)
        mid = 0.5 * (lo + hi)
        if found is not None:
            if found[1] is not None:
                warm[2] = support
                return float(p @ found[1])
            log_t = math.log(found[0])
            if lo < log_t < hi:
                mid = log_t  # a Newton-like probe at the root of the current piece
        d_mid, support = solve_at(math.exp(mid), support)
        if excess(d_mid) > 0.0:
            hi = mid
        else:
            lo = mid
        if hi - lo < 1e-12:
            return float(p @ d_mid)
    return math.nan


def degenerate(q: np.ndarray, g: np.ndarray, d0: np.ndarray, scale: float) -> bool:
    """True when ``min f`` over the local simplex is not negative: ``Delta(G)`` is the
    point ``d = 0`` (up to rounding) and every bound of the draw is zero."""
    w = simplex_qp(q, (2.0 * g - 2.0 * (q @ d0)) / scale)
    d = d0 + scale * w
    return float(d @ q @ d - 2.0 * g @ d) >= 0.0


def insample_bounds(
    w: np.ndarray,
    q: np.ndarray,
    lower: np.ndarray,
    post: np.ndarray,
    draws: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per draw and post period, ``min`` and ``max`` of ``-p_t'd`` over ``Delta(G)``.

    Parameters
    ----------
    w : (J,) estimated weights.
    q : (J, J) ``B'B / T0``.
    lower : (J,) lower bounds of the local simplex (sum below one).
    post : (T1, J) donors' outcomes in the post periods (rows ``p_t``).
    draws : (S, J) draws of ``G``.

    Returns
    -------
    (S, T1) arrays ``lo`` and ``hi``: ``lo = -max p'd`` and ``hi = -min p'd``.
    """
    s_q = float(np.trace(q)) / q.shape[0]
    qn = q / s_q + _RIDGE * np.eye(q.shape[0])
    gn = draws / s_q
    d0 = lower - w
    scale = 1.0 - float(lower.sum())
    n_sims, n_post = draws.shape[0], post.shape[0]
    lo = np.empty((n_sims, n_post))
    hi = np.empty((n_sims, n_post))
    norms = np.linalg.norm(post, axis=1)
    units = post / norms[:, None]
    # per period and direction: supports at the bracket's ends (carried across draws);
    # the root support is carried across the periods of one draw (adjacent periods' p
    # are alike, so the previous period's support is often already the right one)
    warm_max: list[list[np.ndarray | None]] = [[None, None, None] for _ in range(n_post)]
    warm_min: list[list[np.ndarray | None]] = [[None, None, None] for _ in range(n_post)]
    for s in range(n_sims):
        if degenerate(qn, gn[s], d0, scale):
            lo[s], hi[s] = 0.0, 0.0
            continue
        for t in range(n_post):
            if t > 0:
                warm_max[t][2] = warm_max[t - 1][2]
                warm_min[t][2] = warm_min[t - 1][2]
            p = units[t]
            lo[s, t] = -norms[t] * extreme_deviation(qn, gn[s], p, d0, scale, warm_max[t])
            hi[s, t] = norms[t] * extreme_deviation(qn, gn[s], -p, d0, scale, warm_min[t])
    return lo, hi
