"""Robust synthetic control (Amjad, Shah & Shen 2018): the numerics. Array in, array out.

Step 1, de-noising: the donors' outcome matrix over every period, ``Y0`` (T, J), is
replaced by its rank-r truncated singular value decomposition ``M = U_r S_r V_r'`` (hard
singular value thresholding: singular values below the r-th are set to zero). The paper
divides by the share of observed entries ``p``; a balanced panel without missing outcomes
(which :func:`~impacteval.synth.synthetic_control` requires) has ``p = 1``.

Step 2, learning: the treated unit's fit-period outcomes are regressed on the de-noised
donors, ``beta = argmin ||y1 - M_fit beta||^2 + eta ||beta||^2`` (``eta = 0``: least
squares, the minimum-norm solution since ``M_fit`` has rank at most r). The counterfactual
is the de-noised projection ``M beta`` in every period, as the paper's Algorithm 1. With
complete data it equals ``Y0 beta`` (what pysyncon's ``RobustSynth`` reports): ``beta``
lies in the span of the kept right singular vectors ``V_r``, so ``Y0 beta = U S V' V_r
gamma = U_r S_r gamma = M beta``; the two differ only under the missing-data rescaling.

Rank choice when not given: forward-chaining validation on the fit period, the
data-driven choice the paper suggests for its hyper-parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["RankChoice", "choose_rank", "robust_fit", "robust_weights", "truncated_svd"]

TIE_RTOL = 1e-9
"""Forward-chaining errors within this relative distance of the minimum count as tied."""


def truncated_svd(y0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD of the donor matrix ``y0`` (T, J): ``(U, s, Vt)``, ``s`` descending."""
    u, s, vt = np.linalg.svd(y0, full_matrices=False)
    return u, s, vt


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


def robust_fit(
    y1: np.ndarray, y0: np.ndarray, fit: np.ndarray, rank: int | None, ridge: float
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, RankChoice | None]:
    """Weights, de-noised synthetic path, rank used, singular values and the rank choice.

    ``y1`` (T,) is the treated unit's outcome, ``y0`` (T, J) the donors', ``fit`` a
    boolean mask of the fit periods.
    """
    u, s, vt = truncated_svd(y0)
    fit_idx = np.flatnonzero(fit)
    choice = None
    if rank is None:
        choice = choose_rank(u, s, vt, fit_idx, y1, ridge)
        rank = choice.rank
    r = min(int(rank), s.shape[0])
    us = u[:, :r] * s[:r]
    beta = robust_weights(us[fit_idx], vt[:r], y1[fit_idx], ridge)
    synthetic = us @ (vt[:r] @ beta)
    return beta, synthetic, r, s, choice
