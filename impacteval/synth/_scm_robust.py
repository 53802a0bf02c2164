"""Robust synthetic control (Amjad, Shah & Shen 2018): the numerics. Array in, array out.

Step 1, de-noising: the donors' outcome matrix over every period, ``Y0`` (T, J), is
replaced by its rank-r truncated singular value decomposition ``M = U_r S_r V_r'`` (hard
singular value thresholding: singular values below the r-th are set to zero). Missing
entries (NaN) are handled as the paper's matrix estimation: they are set to 0 and the
truncated SVD is divided by ``p_hat``, the share of observed entries of ``Y0`` (each
observed entry kept with probability ``p``, so ``E[filled] = p Y0`` and ``filled / p_hat``
estimates ``Y0``). Without missing entries ``p_hat = 1``.

Step 2, learning: the treated unit's fit-period outcomes are regressed on the de-noised
donors, ``beta = argmin ||y1 - M_fit beta||^2 + eta ||beta||^2`` (``eta = 0``: least
squares, the minimum-norm solution since ``M_fit`` has rank at most r). Fit periods where
the treated unit's outcome is missing are left out of the regression (and of the rank
validation). The counterfactual is the de-noised projection ``M beta`` in every period, as
the paper's Algorithm 1. With complete data it equals ``Y0 beta`` (what pysyncon's
``RobustSynth`` reports): ``beta`` lies in the span of the kept right singular vectors
``V_r``, so ``Y0 beta = U S V' V_r gamma = U_r S_r gamma = M beta``. With missing entries
``Y0 beta`` is undefined and ``M beta`` is the estimate. (Least squares makes ``M beta``
invariant to the rescaling by ``p_hat``, which scales ``beta`` inversely; the rescaling
matters for ``M`` itself, for the reported singular values and for a ridge penalty.)

Rank choice when not given: forward-chaining validation on the fit period, the
data-driven choice the paper suggests for its hyper-parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "RankChoice",
    "RobustFit",
    "choose_rank",
    "rescaled_svd",
    "robust_fit",
    "robust_weights",
    "truncated_svd",
]

TIE_RTOL = 1e-9
"""Forward-chaining errors within this relative distance of the minimum count as tied."""


def truncated_svd(y0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD of the donor matrix ``y0`` (T, J): ``(U, s, Vt)``, ``s`` descending."""
    u, s, vt = np.linalg.svd(y0, full_matrices=False)
    return u, s, vt


def rescaled_svd(y0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """:func:`truncated_svd` of ``y0`` with missing entries (NaN) set to 0 and the singular
    values divided by the observed share ``p_hat``: ``(U, s / p_hat, Vt, p_hat)``, so that
    ``U_r diag(s_r) Vt_r`` is the rescaled rank-r estimate of the complete matrix. A
    complete ``y0`` gives ``p_hat = 1`` and exactly :func:`truncated_svd`."""
    observed = np.isfinite(y0)
    if observed.all():
        u, s, vt = truncated_svd(y0)
        return u, s, vt, 1.0
    p_hat = float(observed.mean())
    if p_hat <= 0.0:
        raise ValueError("every donor outcome is missing")
    u, s, vt = truncated_svd(np.where(observed, y0, 0.0))
    return u, s / p_hat, vt, p_hat


def robust_weights(
    us_fit: np.ndarray, vt: np.ndarray, y1_fit: np.ndarray, ridge: float
) -> np.ndarray:
    """Regression coefficients on the de-noised donors.

    ``us_fit`` is ``U_r S_r`` on the fit periods (T_fit, r) and ``vt`` is ``V_r'`` (r, J),
    so that ``M_fit = us_fit @ vt``. The solution lies in the row space of ``V_r'``:
    ``beta = V_r gamma`` with ``gamma`` the ridge (``ridge > 0``) or minimum-norm least
    squares (``ridge = 0``) coefficients of ``y1_fit`` on ``us_fit``. This equals
    ``(M'M + ridge I)^{-1} M'y1`` for ``ridge > 0`` and ``pinv(M) y1`` for ``ridge = 0``.
    """
    if ridge > 0.0:
        gram = us_fit.T @ us_fit + ridge * np.eye(us_fit.shape[1])
        gamma = np.linalg.solve(gram, us_fit.T @ y1_fit)
    else:
        gamma = np.linalg.lstsq(us_fit, y1_fit, rcond=None)[0]
    return np.asarray(vt.T @ gamma)


@dataclass(frozen=True)
class RankChoice:
    """Forward-chaining choice of the rank: candidate ranks, their mean squared one-step
    prediction error over the validation periods, and the chosen rank."""

    ranks: np.ndarray
    mspe: np.ndarray
    rank: int
    n_validation: int


def choose_rank(
    u: np.ndarray, s: np.ndarray, vt: np.ndarray, fit_idx: np.ndarray, y1: np.ndarray, ridge: float
) -> RankChoice:
    """Forward chaining over the second half of the fit periods.

    For every candidate rank r (1 up to one less than the shortest training window, and
    at most the number of singular values, so that no training regression can
    interpolate its outcomes exactly) and every validation
    period ``fit_idx[m]``, ``m >= ceil(T_fit / 2)``, the weights are learnt on the fit
    periods before it and predict it (``M_t beta``); the rank with the smallest mean
    squared error wins, near-ties (``TIE_RTOL``) going to the smaller rank.
    """
    n_fit = fit_idx.shape[0]
    start = max(1, math.ceil(n_fit / 2))
    ranks = np.arange(1, max(1, min(s.shape[0], start - 1)) + 1)
    mspe = np.empty(ranks.shape[0])
    for i, r in enumerate(ranks):
        us = u[:, :r] * s[:r]
        err = 0.0
        for m in range(start, n_fit):
            train, t = fit_idx[:m], fit_idx[m]
            beta = robust_weights(us[train], vt[:r], y1[train], ridge)
            err += float(y1[t] - us[t] @ (vt[:r] @ beta)) ** 2
        mspe[i] = err / max(n_fit - start, 1)
    best = float(mspe.min())
    ok = np.flatnonzero(mspe <= best + TIE_RTOL * max(best, np.finfo(float).tiny))
    return RankChoice(ranks=ranks, mspe=mspe, rank=int(ranks[ok[0]]), n_validation=n_fit - start)


@dataclass(frozen=True)
class RobustFit:
    """Outcome of :func:`robust_fit`: weights ``beta``, the de-noised synthetic path, the
    rank used, the (rescaled) singular values, the rank choice (None when given), the
    observed share ``p_hat`` of the donor matrix and the missing counts (donor entries,
    treated fit periods)."""

    beta: np.ndarray
    synthetic: np.ndarray
    rank: int
    singular_values: np.ndarray
    choice: RankChoice | None
    p_hat: float
    n_missing_donors: int
    n_missing_treated_fit: int


def robust_fit(
    y1: np.ndarray, y0: np.ndarray, fit: np.ndarray, rank: int | None, ridge: float
) -> RobustFit:
    """Robust synthetic control of ``y1`` (T,) on the donors' outcomes ``y0`` (T, J) over
    the fit periods ``fit`` (boolean mask); NaN marks a missing outcome (see the module
    docstring)."""
    u, s, vt, p_hat = rescaled_svd(y0)
    fit_idx = np.flatnonzero(fit & np.isfinite(y1))
    if fit_idx.shape[0] < 2:
        raise ValueError("fewer than two fit periods with an observed treated outcome")
    choice = None
    if rank is None:
        choice = choose_rank(u, s, vt, fit_idx, y1, ridge)
        rank = choice.rank
    r = min(int(rank), s.shape[0])
    us = u[:, :r] * s[:r]
    beta = robust_weights(us[fit_idx], vt[:r], y1[fit_idx], ridge)
    synthetic = us @ (vt[:r] @ beta)
    return RobustFit(
        beta=beta,
        synthetic=synthetic,
        rank=r,
        singular_values=s,
        choice=choice,
        p_hat=p_hat,
        n_missing_donors=int((~np.isfinite(y0)).sum()),
        n_missing_treated_fit=int(fit.sum()) - int(fit_idx.shape[0]),
    )
