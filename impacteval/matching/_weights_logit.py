"""Propensity-score numerics for the weighting estimators: arrays in, arrays out.

An unpenalised logistic regression fitted by Newton-Raphson (IRLS), a diagnosis of perfect
separation that names the covariates responsible, and the Crump et al. (2009) optimal
trimming threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from impacteval.exceptions import DataValidationError

__all__ = ["LogitFit", "check_scores", "crump_alpha", "fit_logit", "separating_covariates"]

# fitted probabilities this close to 0 or 1 are treated as "exactly" 0 or 1
_PS_EPS = 1e-10


@dataclass(frozen=True)
class LogitFit:
    """An unpenalised logit fit on a design with an intercept in column 0."""

    coef: np.ndarray
    fitted: np.ndarray
    converged: bool
    n_iter: int


def fit_logit(x: np.ndarray, z: np.ndarray, *, max_iter: int = 100, tol: float = 1e-10) -> LogitFit:
    """Maximum-likelihood logit of ``z`` on ``x`` by Newton-Raphson with step halving.

    Parameters
    ----------
    x : ndarray, shape (n, p)
        Design matrix (include the intercept column yourself).
    z : ndarray, shape (n,)
        Binary response.

    Returns
    -------
    LogitFit
        ``converged`` is False when the Newton steps did not settle (typically because the
        likelihood has no maximum: perfect or quasi-perfect separation).
    """
    n, p = x.shape
    beta = np.zeros(p)
    eta = x @ beta
    loglik = float(np.sum(z * eta - np.logaddexp(0.0, eta)))
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        prob = special.expit(eta)
        grad = x.T @ (z - prob)
        hess = (x * (prob * (1.0 - prob))[:, None]).T @ x
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        shrink = 1.0
        while True:
            cand = beta + shrink * step
            eta_c = x @ cand
            ll_c = float(np.sum(z * eta_c - np.logaddexp(0.0, eta_c)))
            if ll_c >= loglik - 1e-12 * (1.0 + abs(loglik)) or shrink < 1e-8:
                break
            shrink /= 2.0
        change = float(np.max(np.abs(cand - beta)))
        beta, eta, gain, loglik = cand, eta_c, ll_c - loglik, ll_c
        if change < tol * (1.0 + float(np.max(np.abs(beta)))) and abs(gain) < 1e-8 * (1 + n):
            converged = bool(np.isfinite(beta).all())
            break
    return LogitFit(coef=beta, fitted=special.expit(eta), converged=converged, n_iter=it)


def separating_covariates(
    x: np.ndarray, z: np.ndarray, names: Sequence[str], coef: np.ndarray | None = None
) -> list[str]:
    """Covariates that (quasi-)separate the arms on their own; otherwise the largest
    standardised logit coefficients (up to three), which drive the fitted 0/1 scores.

    ``x`` holds the covariates only (no intercept); ``coef`` the matching slopes.
    """
    found: list[str] = []
    for j, name in enumerate(names):
        xt, xc = x[z == 1, j], x[z == 0, j]
        if np.ptp(x[:, j]) == 0:
            continue
        if xt.max() <= xc.min() or xc.max() <= xt.min():
            found.append(name)
    if found or coef is None:
        return found
    scaled = np.abs(coef) * x.std(axis=0)
    scaled = np.where(np.isfinite(scaled), scaled, np.inf)
    order = np.argsort(-scaled, kind="stable")[: min(3, len(names))]
    return [names[j] for j in order]


def check_scores(
    scores: np.ndarray,
    *,
    x: np.ndarray | None = None,
    z: np.ndarray | None = None,
    names: Sequence[str] = (),
    coef: np.ndarray | None = None,
    source: str = "the logit propensity model",
    failed: bool = False,
) -> None:
    """Raise a :class:`DataValidationError` naming covariates when a score is 0 or 1.

    ``failed=True`` (the logit did not converge) raises even if no score is numerically
    0 or 1 yet: a diverging logit is heading there.
    """
    bad = (scores <= _PS_EPS) | (scores >= 1.0 - _PS_EPS) | ~np.isfinite(scores)
    if not bad.any() and not failed:
        return
    if not bad.any():
        bad = (scores <= 1e-6) | (scores >= 1.0 - 1e-6)
    culprits: list[str] = []
    if x is not None and z is not None:
        culprits = separating_covariates(x, z, names, coef)
    named = f" Covariates responsible: {culprits}." if culprits else ""
    raise DataValidationError(
        f"`covariates`: {source} gives propensity scores of exactly 0 or 1 for "
        f"{int(bad.sum())} units (perfect separation: treatment is predicted without error)."
        f"{named} Drop or coarsen these covariates, or restrict the sample to common support "
        '(e.g. `trim="crump"` after fixing the separation).'
    )


def crump_alpha(scores: np.ndarray) -> float:
    """Optimal trimming threshold of Crump, Hotz, Imbens and Mitnik (2009).

    With ``g = 1 / (e (1 - e))``: alpha = 0 when ``max g <= 2 mean g``; otherwise
    ``alpha = 1/2 - sqrt(1/4 - 1/gamma)`` where gamma solves ``gamma = 2 E[g | g <= gamma]``.
    Among the (finitely many) sample solutions the largest, i.e. the least trimming, is used.
    """
    g = np.sort(1.0 / (scores * (1.0 - scores)))
    if g[-1] <= 2.0 * g.mean():
        return 0.0
    k = np.arange(1, g.size + 1)
    rhs = 2.0 * np.cumsum(g) / k
    ok = np.flatnonzero(g <= rhs)
    gamma = float(rhs[ok[-1]])
    return float(0.5 - np.sqrt(0.25 - 1.0 / gamma))
