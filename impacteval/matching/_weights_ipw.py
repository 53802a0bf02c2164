"""IPW and AIPW numerics: propensity scores (with trimming), nuisance fits (with
cross-fitting) and the estimates with their standard errors.

Called by the entry points in :mod:`impacteval.matching.weighting` after their input checks;
the results are frozen dataclasses, and messages meant for the user are returned (the entry
point issues and records them), never issued here.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from impacteval.exceptions import DataValidationError
from impacteval.matching._weights_input import Arrays, logit_scores, model_scores
from impacteval.matching._weights_logit import check_scores, crump_alpha, fit_logit
from impacteval.matching._weights_mest import MEstimate, ipw_mestimation

__all__ = ["AIPWFit", "IPWFit", "check_cross_fit", "fit_aipw", "fit_ipw"]


@dataclass(frozen=True)
class IPWFit:
    """Scores, weights and the M-estimate of one IPW fit (arrays over the complete rows).

    ``keep`` marks the units kept after trimming; ``weights`` is 0 and ``propensity`` NaN
    for the others; ``beta`` is the logit on the standardised design (None with a model).
    """

    keep: np.ndarray
    propensity: np.ndarray
    weights: np.ndarray
    beta: np.ndarray | None
    alpha: float
    m_est: MEstimate
    messages: tuple[str, ...]


def _ipw_scores(
    arr: Arrays,
    design: np.ndarray,
    covs: list[str],
    rows: np.ndarray,
    *,
    estimand: str,
    model: Any,
    separation_only: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Scores of ``rows`` (logit with its coefficients, or a model's with None)."""
    z, x = arr.z, arr.x
    if model is None:
        return logit_scores(design[rows], z[rows], x[rows], covs, estimand=estimand,
                            separation_only=separation_only)  # fmt: skip
    e_m = model_scores(model, x[rows], z[rows], x[rows], "model")
    check_scores(e_m, x=x[rows], z=z[rows], names=covs, source="`model`",
                 estimand=estimand, separation_only=separation_only, strict=True)  # fmt: skip
    return e_m, None


def fit_ipw(
    arr: Arrays,
    design: np.ndarray,
    covs: list[str],
    *,
    estimand: str,
    model: Any,
    trim: str | float | None,
    normalize: bool,
) -> IPWFit:
    """Propensity scores (refitted on the units kept after trimming) and the IPW estimate.

    Before trimming only separation is fatal: trimming may drop the extreme scores.
    """
    z = arr.z
    keep = np.ones(z.size, dtype=bool)
    e_all, beta = _ipw_scores(arr, design, covs, keep, estimand=estimand, model=model,
                              separation_only=trim is not None)  # fmt: skip
    alpha = 0.0
    messages: list[str] = []
    e_keep = e_all
    if trim is not None:
        alpha = crump_alpha(e_all) if trim == "crump" else float(trim)
        keep = (e_all >= alpha) & (e_all <= 1.0 - alpha)
        if not keep.all():
            if z[keep].min() == z[keep].max():
                raise DataValidationError(
                    f"`trim`: trimming at alpha={alpha:.4g} leaves only one arm; use a "
                    "smaller threshold"
                )
            messages.append(
                f"trim: {int((~keep).sum())} units with propensity scores outside "
                f"[{alpha:.4g}, {1 - alpha:.4g}] dropped; the estimand is the "
                f"{estimand} on the remaining (overlap) population"
            )
        # refit on the units kept (nothing trimmed: the full check)
        e_keep, beta = _ipw_scores(arr, design, covs, keep, estimand=estimand, model=model,
                                   separation_only=False)  # fmt: skip
    yk, zk = arr.y[keep], z[keep]
    m_est = ipw_mestimation(yk, zk, e_keep, estimand=estimand, normalize=normalize,
                            x=design[keep] if beta is not None else None, beta=beta)  # fmt: skip
    if estimand == "ATE":
        wk = zk / e_keep + (1.0 - zk) / (1.0 - e_keep)
    else:
        wk = zk + (1.0 - zk) * e_keep / (1.0 - e_keep)
    weights = np.zeros(z.size)
    weights[keep] = wk
    ps = np.full(z.size, np.nan)
    ps[keep] = e_keep
    return IPWFit(keep, ps, weights, beta, alpha, m_est, tuple(messages))


# -- AIPW -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AIPWFit:
    """Nuisance fits, the AIPW estimate, its influence function and standard error."""

    propensity: np.ndarray
    mu1: np.ndarray
    mu0: np.ndarray
    estimate: float
    std_error: float
    influence: np.ndarray
    folds: np.ndarray | None


def check_cross_fit(value: object) -> int:
    """Require 0 (no cross-fitting) or a number of folds >= 2."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < 0
        or value == 1
    ):
        raise DataValidationError(
            f"`cross_fit` must be 0 (no cross-fitting) or a number of folds >= 2; "
            f"received {value!r}"
        )
    return int(value)


def _folds(z: np.ndarray, k: int, gen: np.random.Generator) -> np.ndarray:
    """Fold labels 0..k-1, stratified by arm (each arm spread evenly over the folds)."""
    folds = np.empty(z.size, dtype=np.intp)
    for arm in (0.0, 1.0):
        idx = np.flatnonzero(z == arm)
        if idx.size < k:
            raise DataValidationError(
                f"`cross_fit`: {k} folds need at least {k} units per arm; the "
                f"{'treated' if arm else 'control'} arm has {idx.size}"
            )
        folds[gen.permutation(idx)] = np.arange(idx.size) % k
    return folds


def _fit_outcome(model: Any, x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    if model is None:
        design = np.column_stack([np.ones(x.shape[0]), x])
        coef = np.linalg.lstsq(design, y, rcond=None)[0]
        return np.asarray(np.column_stack([np.ones(x_new.shape[0]), x_new]) @ coef)
    from sklearn.base import clone

    est = clone(model).fit(x, y)
    return np.asarray(est.predict(x_new), dtype=float).reshape(-1)


def _nuisance(
    arr: Arrays,
    design: np.ndarray,
    covs: list[str],
    folds: np.ndarray | None,
    *,
    outcome_model: Any,
    propensity_model: Any,
    estimand: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Propensity scores and arm outcome predictions, out of fold with ``folds``."""
    y, z, x = arr.y, arr.z, arr.x
    n = z.size
    e, m1, m0 = np.empty(n), np.empty(n), np.empty(n)
    splits = [(np.ones(n, bool), np.ones(n, bool))]
    if folds is not None:
        splits = [(folds != f, folds == f) for f in range(int(folds.max()) + 1)]
    for train, test in splits:
        if propensity_model is None:
            fit = fit_logit(design[train], z[train])
            check_scores(fit.fitted, x=x[train], z=z[train], names=covs, coef=fit.coef[1:],
                         failed=not fit.converged, estimand=estimand)  # fmt: skip
            e[test] = 1.0 / (1.0 + np.exp(-(design[test] @ fit.coef)))
        else:
            e[test] = model_scores(
                propensity_model, x[train], z[train], x[test], "propensity_model"
            )
        tr1, tr0 = train & (z == 1), train & (z == 0)
        m1[test] = _fit_outcome(outcome_model, x[tr1], y[tr1], x[test])
        m0[test] = _fit_outcome(outcome_model, x[tr0], y[tr0], x[test])
    return e, m1, m0


def fit_aipw(
    arr: Arrays,
    design: np.ndarray,
    covs: list[str],
    *,
    k: int,
    gen: np.random.Generator,
    outcome_model: Any,
    propensity_model: Any,
    estimand: str,
) -> AIPWFit:
    """The AIPW estimate and its influence-function standard error (see ``aipw``)."""
    y, z, x = arr.y, arr.z, arr.x
    folds = _folds(z, k, gen) if k else None
    e, m1, m0 = _nuisance(arr, design, covs, folds, outcome_model=outcome_model,
                          propensity_model=propensity_model, estimand=estimand)  # fmt: skip
    check_scores(
        e,
        x=x,
        z=z,
        names=covs,
        source="the propensity model" + (" (cross-fitted)" if k else ""),
        estimand=estimand,
        strict=propensity_model is not None,
    )
    if estimand == "ATE":
        phi = m1 - m0 + z * (y - m1) / e - (1.0 - z) * (y - m0) / (1.0 - e)
        tau = float(phi.mean())
        infl = phi - tau
    else:
        core = z * (y - m0) - (1.0 - z) * e / (1.0 - e) * (y - m0)
        tau = float(core.sum() / z.sum())
        infl = (core - z * tau) / z.mean()
    se = float(np.sqrt(np.mean(infl**2) / z.size))
    return AIPWFit(e, m1, m0, tau, se, infl, folds)
