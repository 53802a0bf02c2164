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
import pandas as pd
from scipy import optimize, special

from impacteval.exceptions import ConvergenceError, DataValidationError

__all__ = ["EbalFit", "EntropyFit", "fit_entropy", "infeasible_features", "solve_dual"]


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


# -- the whole fit: features, feasibility, dual, balance table ------------------------------
@dataclass(frozen=True)
class EntropyFit:
    """One entropy-balancing fit over the complete rows.

    ``reference`` is 1 for the arm whose moments are the target (treated for the ATT),
    ``weights`` is 1 there and the balancing weights (summing to the reference arm's size)
    in the weighted arm; ``features_std`` the standardised balance features; ``table`` the
    balance table; ``messages`` warnings for the user (a fit that stopped before ``tol``).
    """

    reference: np.ndarray
    weights: np.ndarray
    features_std: np.ndarray
    names: list[str]
    dual: EbalFit
    table: pd.DataFrame
    messages: tuple[str, ...]


def _features(x: np.ndarray, covs: list[str], moments: int) -> tuple[np.ndarray, list[str]]:
    cols, names = [x[:, j] for j in range(x.shape[1])], list(covs)
    if moments == 2:
        for j, name in enumerate(covs):
            if np.unique(x[:, j]).size > 2:  # the square of a binary covariate adds nothing
                cols.append(x[:, j] ** 2)
                names.append(f"{name}^2")
    return np.column_stack(cols), names


def _outside_range(c: np.ndarray, target: np.ndarray) -> bool:
    return bool(((target <= c.min(axis=0)) | (target >= c.max(axis=0))).any())


def _infeasible(bad: list[int], names: list[str], arm: str, estimand: str) -> ConvergenceError:
    ref = "treated" if estimand == "ATT" else "control"
    which = [names[j] for j in bad]
    named = (
        f"offending covariates: {which}"
        if which
        else "the target lies on the boundary of their convex hull"
    )
    return ConvergenceError(
        f"entropy balancing is infeasible: the {ref} moments are outside the convex hull of "
        f"the {arm} (no positive weights balance them); {named}. Drop or coarsen these "
        "covariates, use moments=1, or restrict the sample to common support."
    )


def _balance_table(
    feats: np.ndarray, z: np.ndarray, w: np.ndarray, names: list[str], sd: np.ndarray
) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "target": feats[z == 1].mean(axis=0),
            "unweighted": feats[z == 0].mean(axis=0),
            "weighted": w @ feats[z == 0],
        },
        index=pd.Index(names, name="feature"),
    )
    table["smd_unweighted"] = (table["unweighted"] - table["target"]) / sd
    table["smd_weighted"] = (table["weighted"] - table["target"]) / sd
    return table


def fit_entropy(
    x: np.ndarray,
    treated: np.ndarray,
    covs: list[str],
    *,
    moments: int,
    estimand: str,
    max_iter: int,
    tol: float,
) -> EntropyFit:
    """Entropy-balancing weights of the controls (ATT) or treated units (ATC).

    Raises
    ------
    DataValidationError
        Constant or collinear balance features in the weighted arm.
    ConvergenceError
        The target moments are outside the convex hull of the weighted arm.
    """
    z = treated if estimand == "ATT" else 1.0 - treated  # z == 1: the reference (target) arm
    feats, names = _features(x, covs, moments)
    sd = feats.std(axis=0)
    if (sd == 0).any():
        raise DataValidationError(
            f"`covariates`: {[n for n, s in zip(names, sd, strict=True) if s == 0]} are "
            "constant; drop them"
        )
    c = (feats - feats.mean(axis=0)) / sd
    weighted_arm = "controls" if estimand == "ATT" else "treated units"
    cw, target = c[z == 0], c[z == 1].mean(axis=0)
    centred = np.column_stack([np.ones(cw.shape[0]), cw])
    if np.linalg.matrix_rank(centred) < centred.shape[1]:
        raise DataValidationError(
            f"`covariates`: the balance features are collinear among the {weighted_arm} "
            f"(features {names}); drop redundant covariates"
        )
    bad = infeasible_features(cw, target) if _outside_range(cw, target) else []
    if bad:
        raise _infeasible(bad, names, weighted_arm, estimand)
    fit = solve_dual(cw, target, max_iter=max_iter, tol=tol)
    messages: list[str] = []
    if not fit.converged:
        bad = infeasible_features(cw, target)
        if bad or not np.isfinite(fit.max_imbalance):
            raise _infeasible(bad, names, weighted_arm, estimand)
        messages.append(
            f"entropy balancing stopped after {fit.n_iter} iterations with a remaining "
            f"imbalance of {fit.max_imbalance:.3g} SD (tol={tol}); {fit.message}"
        )
    weights = np.ones(z.size)
    weights[z == 0] = fit.weights * float(z.sum())
    table = _balance_table(feats, z, fit.weights, names, sd)
    return EntropyFit(z, weights, c, names, fit, table, tuple(messages))
