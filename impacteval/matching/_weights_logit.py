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

__all__ = [
    "LogitFit",
    "check_scores",
    "crump_alpha",
    "fit_logit",
    "separating_covariates",
    "separation_direction",
]

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


def separation_direction(x: np.ndarray, z: np.ndarray) -> np.ndarray | None:
    """Direction of (quasi-)complete separation, or None when the logit MLE exists.

    The linear programme of Konis (2007), as R's ``detectseparation``: maximise
    ``sum_i s_i x_i'b`` subject to ``s_i x_i'b >= 0`` (``s_i = 2 z_i - 1``) and
    ``-1 <= b <= 1``, with an intercept added and the covariates standardised. A positive
    optimum means some linear combination of the covariates separates the arms (the MLE
    does not exist); the slopes returned are on the standardised scale.
    """
    from scipy.optimize import linprog

    sd = x.std(axis=0) if x.size else np.zeros(x.shape[1])
    varying = sd > 0
    xs = np.zeros_like(x, dtype=float)
    xs[:, varying] = (x[:, varying] - x[:, varying].mean(axis=0)) / sd[varying]
    design = np.column_stack([np.ones(x.shape[0]), xs])
    sign = np.where(z == 1, 1.0, -1.0)
    a = design * sign[:, None]
    res = linprog(
        -a.sum(axis=0),
        A_ub=-a,
        b_ub=np.zeros(a.shape[0]),
        bounds=[(-1.0, 1.0)] * a.shape[1],
        method="highs",
    )
    if not res.success:
        return None
    margin = a @ res.x
    scale = float(np.abs(a).sum(axis=1).max()) if a.size else 1.0
    if -res.fun <= 1e-7 * scale or (margin < -1e-9 * scale).any():
        return None
    return np.asarray(res.x[1:], dtype=float)


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
    estimand: str = "ATE",
    separation_only: bool = False,
    strict: bool = False,
) -> None:
    """Raise a :class:`DataValidationError` when the scores make the weights unbounded.

    * Perfect separation (``failed=True``, i.e. the logit did not converge, or the linear
      programme of :func:`separation_direction` finds a separating direction when some
      score is within ``1e-10`` of 0 or 1): the message names the covariates.
    * Otherwise, scores within ``1e-10`` of 0 or 1 where they give unbounded weights: for the
      ATE treated units near 0 (weight ``1/e``) and controls near 1 (``1/(1 - e)``); for the
      ATT only controls near 1 (weight ``e / (1 - e)``). A control near 0 (or, for the ATE, a
      treated unit near 1) just gets a bounded weight. Without ``z``, any unit. Skipped with
      ``separation_only=True`` (used before trimming, which may remove those units).

    ``strict=True`` (scores from a custom classifier, whose separation the linear programme
    cannot diagnose): any score within ``1e-10`` of 0 or 1 raises.

    The message reports the smallest and largest scores.
    """
    nonfinite = ~np.isfinite(scores)
    extreme = (scores <= _PS_EPS) | (scores >= 1.0 - _PS_EPS) | nonfinite
    if not extreme.any() and not failed:
        return
    fin = scores[~nonfinite]
    span = (
        f"fitted scores from {float(fin.min()):.3g} to {float(fin.max()):.3g}"
        if fin.size
        else "no finite fitted score"
    )
    culprits: list[str] = []
    if strict and extreme.any() and not separation_only:
        if x is not None and z is not None:
            culprits = separating_covariates(x, z, names, coef)
        named = f" Covariates responsible: {culprits}." if culprits else ""
        raise DataValidationError(
            f"`covariates`: {source} gives propensity scores of exactly 0 or 1 for "
            f"{int(extreme.sum())} units ({span}): it predicts treatment without error there, "
            f"so the weights are unbounded or degenerate.{named} Use a smoother model, drop or "
            'coarsen covariates, or restrict the sample to common support (e.g. `trim="crump"`).'
        )
    separated = failed
    if not separated and x is not None and z is not None:
        separated = separation_direction(x, z) is not None
    if separated:
        if x is not None and z is not None:
            culprits = separating_covariates(x, z, names, coef)
        named = f" Covariates responsible: {culprits}." if culprits else ""
        shown = extreme if extreme.any() else (scores <= 1e-6) | (scores >= 1.0 - 1e-6)
        raise DataValidationError(
            f"`covariates`: {source} gives propensity scores of exactly 0 or 1 (within 1e-6) "
            f"for {int(shown.sum())} units ({span}): perfect separation (treatment is "
            f"predicted without error; the logit has no maximum-likelihood fit).{named} Drop or "
            "coarsen these covariates, or restrict the sample to common support (e.g. "
            '`trim="crump"` after fixing the separation).'
        )
    if nonfinite.any():
        raise DataValidationError(
            f"`covariates`: {source} gives {int(nonfinite.sum())} non-finite propensity scores"
        )
    if separation_only:
        return
    if z is None:
        bad = extreme
        where = "units with a score within 1e-10 of 0 or 1 (weights 1/e or 1/(1 - e))"
    elif estimand == "ATT":
        bad = (z == 0) & (scores >= 1.0 - _PS_EPS)
        where = "control units with a score within 1e-10 of 1 (ATT weight e / (1 - e))"
    else:
        bad = ((z == 1) & (scores <= _PS_EPS)) | ((z == 0) & (scores >= 1.0 - _PS_EPS))
        where = (
            "treated units with a score within 1e-10 of 0 or control units within 1e-10 of 1 "
            "(weights 1/e and 1/(1 - e))"
        )
    if not bad.any():
        return
    raise DataValidationError(
        f"`covariates`: {source} gives {int(bad.sum())} {where}: their weights are unbounded "
        f"({span}). The logit converged without separation, so this is a failure of overlap: "
        'restrict the sample to common support (e.g. `trim="crump"`) or simplify the model.'
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
