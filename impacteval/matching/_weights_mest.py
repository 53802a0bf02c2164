"""Stacked M-estimation (sandwich) variances for the weighting estimators.

Every estimator here is the root of a stack of estimating equations
``sum_i psi_i(theta) = 0``. With ``A = -(1/n) sum_i d psi_i / d theta'`` (the "bread") and
``B = (1/n) sum_i psi_i psi_i'`` (the "meat"), the sandwich variance of ``theta_hat`` is
``A^{-1} B A^{-T} / n`` (Stefanski & Boos 2002). The Jacobians are analytic; the tests
check them against numerical derivatives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MEstimate", "ebal_att_mestimation", "ipw_mestimation", "sandwich"]


@dataclass(frozen=True)
class MEstimate:
    """Two arm means, their difference and the sandwich variance of the whole stack."""

    mu1: float
    mu0: float
    estimate: float
    std_error: float
    vcov: np.ndarray


def sandwich(psi: np.ndarray, jac: np.ndarray) -> np.ndarray:
    """``A^{-1} B A^{-T} / n`` from the stacked scores (n, q) and the mean Jacobian (q, q)."""
    n = psi.shape[0]
    meat = psi.T @ psi / n
    inv = np.linalg.inv(jac)
    return np.asarray(inv @ meat @ inv.T / n)


def _arm_means(
    y: np.ndarray, z: np.ndarray, e: np.ndarray, estimand: str, normalize: bool
) -> tuple[float, float]:
    if estimand == "ATE":
        w1, w0 = z / e, (1.0 - z) / (1.0 - e)
        if normalize:
            return float(w1 @ y / w1.sum()), float(w0 @ y / w0.sum())
        return float(w1 @ y / y.size), float(w0 @ y / y.size)
    odds = e / (1.0 - e)
    w0 = (1.0 - z) * odds
    mu1 = float(z @ y / z.sum())
    if normalize:
        return mu1, float(w0 @ y / w0.sum())
    return mu1, float(w0 @ y / z.sum())


def ipw_scores(
    theta: np.ndarray,
    x: np.ndarray | None,
    z: np.ndarray,
    y: np.ndarray,
    e_fixed: np.ndarray | None,
    estimand: str,
    normalize: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Stacked scores (n, q) and their mean Jacobian (q, q) for IPW.

    ``theta = (beta, mu1, mu0)`` with the logit coefficients ``beta`` when ``x`` is given;
    ``theta = (mu1, mu0)`` with the propensity scores ``e_fixed`` treated as known.
    """
    n = y.size
    if x is not None:
        p = x.shape[1]
        beta = theta[:p]
        e = 1.0 / (1.0 + np.exp(-(x @ beta)))
    else:
        p = 0
        if e_fixed is None:  # pragma: no cover - internal misuse
            raise ValueError("either x or e_fixed is needed")
        e = e_fixed
    mu1, mu0 = float(theta[p]), float(theta[p + 1])
    q = p + 2
    psi = np.empty((n, q))
    jac = np.zeros((q, q))
    odds = e / (1.0 - e)
    if estimand == "ATE":
        if normalize:
            psi1, d1_mu = z * (y - mu1) / e, -z / e
            psi0, d0_mu = (1.0 - z) * (y - mu0) / (1.0 - e), -(1.0 - z) / (1.0 - e)
            d1_eta = -z * (y - mu1) * (1.0 - e) / e  # d psi1 / d eta, eta = x'beta
            d0_eta = (1.0 - z) * (y - mu0) * odds
        else:
            psi1, d1_mu = z * y / e - mu1, -np.ones(n)
            psi0, d0_mu = (1.0 - z) * y / (1.0 - e) - mu0, -np.ones(n)
            d1_eta = -z * y * (1.0 - e) / e
            d0_eta = (1.0 - z) * y * odds
    else:  # ATT
        psi1, d1_mu = z * (y - mu1), -z
        d1_eta = np.zeros(n)
        if normalize:
            psi0, d0_mu = (1.0 - z) * odds * (y - mu0), -(1.0 - z) * odds
            d0_eta = (1.0 - z) * odds * (y - mu0)
        else:
            psi0, d0_mu = (1.0 - z) * odds * y - z * mu0, -z
            d0_eta = (1.0 - z) * odds * y
    psi[:, p] = psi1
    psi[:, p + 1] = psi0
    jac[p, p] = d1_mu.mean()
    jac[p + 1, p + 1] = d0_mu.mean()
    if x is not None:
        psi[:, :p] = x * (z - e)[:, None]
        jac[:p, :p] = -(x * (e * (1.0 - e))[:, None]).T @ x / n
        jac[p, :p] = d1_eta @ x / n
        jac[p + 1, :p] = d0_eta @ x / n
    return psi, jac


def ipw_mestimation(
    y: np.ndarray,
    z: np.ndarray,
    e: np.ndarray,
    *,
    estimand: str,
    normalize: bool,
    x: np.ndarray | None = None,
    beta: np.ndarray | None = None,
) -> MEstimate:
    """IPW arm means and the sandwich variance.

    With ``x`` and ``beta`` (the logit design and its MLE) the logit score equations are
    stacked with the weighted-mean equations, so the variance accounts for the estimated
    propensity score; without them the scores ``e`` are treated as known.
    """
    mu1, mu0 = _arm_means(y, z, e, estimand, normalize)
    if x is not None and beta is not None:
        theta = np.concatenate([beta, [mu1, mu0]])
        psi, jac = ipw_scores(theta, x, z, y, None, estimand, normalize)
    else:
        theta = np.array([mu1, mu0])
        psi, jac = ipw_scores(theta, None, z, y, e, estimand, normalize)
    vcov = sandwich(psi, jac)
    contrast = np.zeros(theta.size)
    contrast[-2:] = (1.0, -1.0)
    var = float(contrast @ vcov @ contrast)
    return MEstimate(mu1, mu0, mu1 - mu0, float(np.sqrt(max(var, 0.0))), vcov)


def ebal_scores(
    theta: np.ndarray, c: np.ndarray, z: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Stacked scores and mean Jacobian for entropy balancing (ATT).

    ``theta = (m, lam, mu1, mu0)``: ``m`` the treated means of the balance features ``c``,
    ``lam`` the dual coefficients (control weights proportional to ``exp(c'lam)``), ``mu1``
    the treated mean outcome and ``mu0`` the weighted control mean outcome::

        psi_m   = z (c - m)
        psi_lam = (1 - z) s (c - m)        s = exp(c'lam - kappa)
        psi_1   = z (y - mu1)
        psi_0   = (1 - z) s (y - mu0)

    ``kappa`` is a constant (fixed at the solution) that keeps ``s`` in range; scaling an
    estimating equation by a constant leaves the sandwich unchanged.
    """
    n, k = c.shape
    m, lam = theta[:k], theta[k : 2 * k]
    mu1, mu0 = float(theta[2 * k]), float(theta[2 * k + 1])
    eta = c @ lam
    ctrl = 1.0 - z
    kappa = float(np.max(eta[ctrl == 1])) if (ctrl == 1).any() else 0.0
    s = ctrl * np.exp(np.minimum(eta - kappa, 700.0))
    s = s * (n / max(s.sum(), np.finfo(float).tiny))  # rescale: mean s = 1 (a constant)
    dev = c - m
    q = 2 * k + 2
    psi = np.empty((n, q))
    psi[:, :k] = z[:, None] * dev
    psi[:, k : 2 * k] = s[:, None] * dev
    psi[:, 2 * k] = z * (y - mu1)
    psi[:, 2 * k + 1] = s * (y - mu0)
    jac = np.zeros((q, q))
    jac[:k, :k] = -z.mean() * np.eye(k)
    jac[k : 2 * k, :k] = -s.mean() * np.eye(k)
    jac[k : 2 * k, k : 2 * k] = (dev * s[:, None]).T @ c / n
    jac[2 * k, 2 * k] = -z.mean()
    jac[2 * k + 1, k : 2 * k] = (s * (y - mu0)) @ c / n
    jac[2 * k + 1, 2 * k + 1] = -s.mean()
    return psi, jac


def ebal_att_mestimation(
    y: np.ndarray, z: np.ndarray, c: np.ndarray, lam: np.ndarray, weights: np.ndarray
) -> MEstimate:
    """Weighted difference in means after entropy balancing, with its M-estimation SE.

    ``weights`` are the control weights (any scale; zero for treated units), ``lam`` the
    dual solution on the features ``c`` (n, k).
    """
    mu1 = float(z @ y / z.sum())
    mu0 = float(weights @ y / weights.sum())
    m = c[z == 1].mean(axis=0)
    theta = np.concatenate([m, lam, [mu1, mu0]])
    psi, jac = ebal_scores(theta, c, z, y)
    vcov = sandwich(psi, jac)
    contrast = np.zeros(theta.size)
    contrast[-2:] = (1.0, -1.0)
    var = float(contrast @ vcov @ contrast)
    return MEstimate(mu1, mu0, mu1 - mu0, float(np.sqrt(max(var, 0.0))), vcov)
