"""Entropy-balancing numerics (Hainmueller 2012): the convex dual and a feasibility LP.

The control weights ``w_j = q_j exp(c_j'lam) / sum_l q_l exp(c_l'lam)`` minimise the
Kullback-Leibler divergence from the base weights ``q`` subject to
``sum_j w_j c_j = t`` (the target moments). ``lam`` minimises the convex dual

    L(lam) = log sum_j q_j exp((c_j - t)'lam),

whose gradient is ``sum_j w_j (c_j - t)`` (the remaining imbalance) and whose Hessian is
the ``w``-weighted covariance of ``c``. The dual is unbounded below exactly when ``t`` is
not in the relative interior of the convex hull of the ``c_j`` (no strictly positive
weights balance); :func:`infeasible_features` then finds the features responsible with a
linear programme.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

__all__ = ["EbalFit", "infeasible_features", "solve_dual"]


@dataclass(frozen=True)
class EbalFit:
    """Dual solution, normalised weights (sum 1) and convergence facts."""

    lam: np.ndarray
    weights: np.ndarray
    converged: bool
    n_iter: int
    max_imbalance: float
    message: str


def _parts(lam: np.ndarray, dev: np.ndarray, logq: np.ndarray) -> tuple[float, np.ndarray]:
    a = dev @ lam + logq
    lse = float(special.logsumexp(a))
    return lse, np.exp(a - lse)


def solve_dual(
    c: np.ndarray,
    target: np.ndarray,
    *,
    base_weights: np.ndarray | None = None,
    max_iter: int = 200,
    tol: float = 1e-8,
) -> EbalFit:
    """Minimise the entropy-balancing dual with ``scipy.optimize.minimize`` (trust-exact).

    Parameters
    ----------
    c : ndarray, shape (n0, k)
        Balance features of the units being weighted (standardise them first: ``tol`` is in
        their units).
    target : ndarray, shape (k,)
        Target moments.
    base_weights : ndarray, optional
        Positive base weights ``q`` (uniform by default).
    max_iter, tol
        Iteration limit and tolerance on the largest absolute remaining imbalance.
    """
    n0, k = c.shape
    dev = c - target
    q = np.ones(n0) if base_weights is None else np.asarray(base_weights, dtype=float)
    logq = np.log(q / q.sum())

    def fun(lam: np.ndarray) -> tuple[float, np.ndarray]:
        lse, w = _parts(lam, dev, logq)
        return lse, w @ dev

    def hess(lam: np.ndarray) -> np.ndarray:
        _, w = _parts(lam, dev, logq)
        g = w @ dev
        return np.asarray((dev * w[:, None]).T @ dev - np.outer(g, g))

    res = optimize.minimize(
        fun,
        np.zeros(k),
        jac=True,
        hess=hess,
        method="trust-exact",
        options={"gtol": tol, "maxiter": max_iter},
    )
    lam = np.asarray(res.x, dtype=float)
    _, w = _parts(lam, dev, logq)
    imbalance = float(np.max(np.abs(w @ dev))) if k else 0.0
    n_iter = int(res.nit)
    # Near the optimum the trust region stalls on the rounding of the objective (~1e-16
    # relative); plain Newton steps on the gradient keep converging there.
    for _ in range(20):
        if not np.isfinite(imbalance) or imbalance <= tol:
            break
        try:
            step = np.linalg.solve(hess(lam), w @ dev)
        except np.linalg.LinAlgError:
            break
        cand = lam - step
        _, w_c = _parts(cand, dev, logq)
        imb_c = float(np.max(np.abs(w_c @ dev)))
        if not imb_c < imbalance:
            break
        lam, w, imbalance, n_iter = cand, w_c, imb_c, n_iter + 1
    converged = bool(np.isfinite(imbalance) and imbalance <= tol)
    return EbalFit(
        lam=lam,
        weights=w,
        converged=converged,
        n_iter=n_iter,
        max_imbalance=imbalance,
        message=str(res.message),
    )


def _min_slack(c: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """Per-feature slack of ``min sum(s+ + s-)`` s.t. ``c'w + s+ - s- = target``,
    ``sum w = 1``, ``w, s+, s- >= 0`` (HiGHS); None if the LP fails."""
    n0, k = c.shape
    a_eq = np.zeros((k + 1, n0 + 2 * k))
    a_eq[:k, :n0] = c.T
    a_eq[:k, n0 : n0 + k] = np.eye(k)
    a_eq[:k, n0 + k :] = -np.eye(k)
    a_eq[k, :n0] = 1.0
    b_eq = np.concatenate([target, [1.0]])
    cost = np.concatenate([np.zeros(n0), np.ones(2 * k)])
    res = optimize.linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if res.status != 0:
        return None
    return np.asarray(res.x[n0 : n0 + k] + res.x[n0 + k :])


def infeasible_features(c: np.ndarray, target: np.ndarray, *, slack_tol: float = 1e-7) -> list[int]:
    """Indices of the features that no convex combination of the rows of ``c`` can match.

    A feature is flagged when (a) its target lies on or outside the range of ``c`` (matching
    it needs zero weights, which entropy balancing cannot give), (b) it carries slack in
    the L1-closest convex combination (:func:`_min_slack`), or (c) dropping it alone makes
    the remaining targets reachable (so jointly infeasible pairs are both named). Empty
    when the target is reachable.
    """
    k = c.shape[1]
    lo, hi = c.min(axis=0), c.max(axis=0)
    flagged = {j for j in range(k) if not lo[j] < target[j] < hi[j]}
    slack = _min_slack(c, target)
    if slack is None or float(slack.sum()) <= slack_tol:
        return sorted(flagged)
    flagged |= {j for j in range(k) if slack[j] > slack_tol}
    if k > 1:
        for j in range(k):
            keep = np.arange(k) != j
            rest = _min_slack(c[:, keep], target[keep])
            if rest is not None and float(rest.sum()) <= slack_tol:
                flagged.add(j)
    return sorted(flagged)
