"""Abadie-Imbens matching estimator and variance, as R ``Matching::Match`` computes them.

Arrays in, arrays out. :func:`ties_pairs` forms matched sets with Match's tie rule;
:func:`ai_estimate` turns any matched sets (Match's or MatchIt's) into the matching estimate,
the optional bias-adjusted estimate and the Abadie-Imbens (2006) standard error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AIResult", "ai_estimate", "match_standardize", "ties_pairs"]

# Match's `tolerance` (sqrt(.Machine$double.eps)) and `distance.tolerance` defaults
_CCC = float(np.sqrt(np.finfo(float).eps))
DISTANCE_TOLERANCE = 1e-5


@dataclass(frozen=True)
class AIResult:
    """Matching estimate and Abadie-Imbens variance pieces."""

    estimate: float
    std_error: float
    estimate_unadjusted: float
    std_error_standard: float
    n_focal: int
    k_count: np.ndarray


def match_standardize(x: np.ndarray) -> np.ndarray:
    """Standardise a score as Match does before matching (mean 0, SD with divisor n - 1)."""
    n = x.size
    mu = float(np.sum(x) / n)
    sig = np.sqrt(max(_CCC, float(np.sum(x * x))) / n - mu**2) * np.sqrt(n / (n - 1))
    sig = max(float(sig), _CCC)
    return np.asarray((x - mu) / sig)


def ties_pairs(
    focal: np.ndarray,
    score: np.ndarray,
    ratio: int,
    tolerance: float = DISTANCE_TOLERANCE,
    candidates: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Matched sets with ties kept, as ``Match(..., ties=TRUE, replace=TRUE)``.

    For each focal unit, the distance to every unit of the other group is the squared
    difference of the standardised score (:func:`match_standardize`); its matches are all the
    other-group units within ``tolerance`` of the ``ratio``-th smallest distance, each with
    weight ``1 / (number of matches)``.

    Parameters
    ----------
    focal : ndarray of bool
        Units to be matched.
    score : ndarray of float
        The scalar distance (propensity score or its logit), unstandardised.
    ratio : int
        ``M``, the number of matches (capped at the size of the other group).
    tolerance : float
        Match's ``distance.tolerance``.
    candidates : ndarray of bool, optional
        The potential matches (default: the non-focal units).

    Returns
    -------
    tuple of ndarray
        ``(unit, match, weight)`` row indices and pair weights, grouped by unit in data order.
    """
    xs = match_standardize(score)
    pool = np.flatnonzero(~focal if candidates is None else candidates)
    m = min(ratio, pool.size)
    xp = xs[pool]
    units: list[np.ndarray] = []
    matches: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for i in np.flatnonzero(focal).tolist():
        diff = xp - xs[i]
        dist = diff * diff
        dmax = np.partition(dist, m - 1)[m - 1]
        sel = pool[dist <= dmax + tolerance]
        units.append(np.full(sel.size, i, dtype=np.intp))
        matches.append(sel)
        weights.append(np.full(sel.size, 1.0 / sel.size))
    return np.concatenate(units), np.concatenate(matches), np.concatenate(weights)


def _alpha(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Match's weighted regression of ``y`` on ``[1, z]`` (weights ``w``); slopes only."""
    design = np.column_stack([np.ones(z.shape[0]), z])
    xw = design * np.sqrt(w)[:, None]
    xtx = xw.T @ xw
    ridge = 0.0
    if float(np.min(np.linalg.eigvalsh(xtx))) <= _CCC:
        ridge = _CCC * float(np.max(np.std(xw, axis=0, ddof=1)))
    coef = np.linalg.solve(xtx + ridge * np.eye(xtx.shape[0]), xw.T @ (y * np.sqrt(w)))
    return np.asarray(coef[1:])


def ai_estimate(
    y: np.ndarray,
    treat: np.ndarray,
    z: np.ndarray,
    unit: np.ndarray,
    match: np.ndarray,
    weight: np.ndarray,
    *,
    ate: bool,
    bias_adjust: bool,
) -> AIResult:
    """Matching estimate and Abadie-Imbens (2006) standard error (Match's ``est``, ``se``).

    Parameters
    ----------
    y : ndarray, shape (n,)
        Outcome.
    treat : ndarray of {0, 1}, shape (n,)
        Treatment; for the ATC pass ``1 - treat`` and negate the estimate.
    z : ndarray, shape (n, q)
        Bias-adjustment covariates (Match's ``Z``; used only with ``bias_adjust``).
    unit, match, weight : ndarray
        Matched pairs: the unit being matched, its match and ``1 / M_i``.
    ate : bool
        Units of both groups were matched (``estimand="ATE"``); else only treated (ATT).
    bias_adjust : bool
        Abadie & Imbens (2011) regression bias adjustment (Match's ``BiasAdjust=TRUE``).

    Returns
    -------
    AIResult
    """
    n = y.size
    k_count = np.bincount(match, weights=weight, minlength=n)
    kk_count = np.bincount(match, weights=weight * weight, minlength=n)
    t_unit = treat[unit] == 1
    a = np.where(t_unit, unit, match)  # treated member of each pair
    b = np.where(t_unit, match, unit)  # control member
    tau = y[a] - y[b]
    sum_w = float(weight.sum())
    est_noadj = float(weight @ tau / sum_w)
    # per-unit effect YCAUS (and ZCAUS) over the matched units
    matched_mean_y = np.bincount(unit, weights=weight * y[match], minlength=n)
    wsum_unit = np.bincount(unit, weights=weight, minlength=n)
    is_unit = wsum_unit > 0
    sign = np.where(treat == 1, 1.0, -1.0)
    ycaus = np.where(is_unit, sign * (y - matched_mean_y), 0.0)
    scaus = ycaus
    if bias_adjust:
        alpha_c = _alpha(z, y, (1 - treat) * k_count)
        alpha_t = _alpha(z, y, treat * k_count) if ate else np.zeros(z.shape[1])
        zi = z[unit]
        tau = (y[a] + (zi - z[a]) @ alpha_t) - (y[b] + (zi - z[b]) @ alpha_c)
        matched_mean_z = np.column_stack(
            [
                np.bincount(unit, weights=weight * z[match, j], minlength=n)
                for j in range(z.shape[1])
            ]
        )
        zcaus = np.where(is_unit[:, None], sign[:, None] * (z - matched_mean_z), 0.0)
        scaus = ycaus - np.where(treat == 1, zcaus @ alpha_c, zcaus @ alpha_t)
    est = float(weight @ tau / sum_w)
    sigma2 = 0.5 * float(weight @ (tau - est) ** 2) / sum_w
    n_focal = int(is_unit.sum())
    if ate:
        var = sigma2 * float(np.sum(k_count**2 + 2 * k_count - kk_count))
    else:
        ctrl = treat == 0
        var = sigma2 * float(np.sum(k_count[ctrl] ** 2 - kk_count[ctrl]))
    var += float(np.sum((scaus[is_unit] - est) ** 2))
    var /= n_focal**2
    # Match's se.standard: the naive SE of the weighted mean of unadjusted pair differences
    tau0 = y[a] - y[b]
    var_std = float(weight @ (tau0 - est_noadj) ** 2) / sum_w**2
    return AIResult(
        estimate=est,
        std_error=float(np.sqrt(var)),
        estimate_unadjusted=est_noadj,
        std_error_standard=float(np.sqrt(var_std)),
        n_focal=n_focal,
        k_count=k_count,
    )
