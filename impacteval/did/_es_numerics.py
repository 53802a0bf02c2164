"""Numerics of the event-study estimators (arrays in, arrays out; no pandas, no checks).

* :func:`fe_regression` -- OLS of ``y`` on slopes plus unit and period effects (absorbed by
  two-way demeaning), with the fixest CR1 clustered variance.
* :func:`imputation` -- Borusyak, Jaravel & Spiess (2024) imputation: unit and period
  effects (and covariate slopes) fitted on untreated observations only, ``Y(0)`` imputed
  for the treated ones, weighted averages of the imputed effects, and BJS's conservative
  clustered variance (their Theorem 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import scipy.sparse.linalg

from impacteval.did.twfe import demean_two_way
from impacteval.exceptions import DataValidationError
from impacteval.inference.variance import fit_ols

__all__ = ["FERegression", "ImputationFit", "compact_codes", "fe_regression", "imputation"]

Array = np.ndarray


def compact_codes(codes: Array) -> tuple[Array, int]:
    """Relabel integer codes as ``0..k-1`` (for subsets where some levels are absent)."""
    uniq, inverse = np.unique(codes, return_inverse=True)
    return inverse.astype(np.intp), int(uniq.size)


def _group_sum(values: Array, codes: Array, n_groups: int) -> Array:
    """Column sums of ``values`` (n x m) within groups: a (G, m) array."""
    return np.column_stack(
        [
            np.bincount(codes, weights=values[:, j], minlength=n_groups)
            for j in range(values.shape[1])
        ]
    ).reshape(n_groups, values.shape[1])


@dataclass(frozen=True)
class FERegression:
    """Slopes of a two-way fixed-effects regression with the fixest CR1 variance."""

    coef: Array  # (p,), NaN where dropped
    vcov: Array  # (p, p), CR1 (fixest), NaN rows/cols where dropped
    kept: Array  # (p,) bool
    n_obs: int
    n_clusters: int
    small_sample_factor: float


def fe_regression(
    y: Array,
    x: Array,
    unit: Array,
    time: Array,
    cluster: Array,
) -> FERegression:
    """``y ~ x | unit + time`` with CR1 standard errors clustered by ``cluster``.

    The small-sample factor is fixest's default ``G/(G-1) * (n-1)/(n-K)``, where ``K``
    counts the kept slopes and the fixed effects *not nested* in the clusters (unit effects
    nested in unit clusters leave ``K = slopes + T``), exactly as
    :func:`impacteval.did.twfe.twfe`. Columns absorbed by the fixed effects or collinear
    with earlier columns are dropped (``kept`` False).
    """
    uc, n_units = compact_codes(unit)
    tc, n_periods = compact_codes(time)
    cc, n_groups = compact_codes(cluster)
    n = x.shape[0]
    raw = np.column_stack([y, x])
    tilde = demean_two_way(raw, uc, tc)
    centred = x - x.mean(axis=0) if n else x
    absorbed = np.linalg.norm(tilde[:, 1:], axis=0) <= 1e-7 * np.maximum(
        np.linalg.norm(centred, axis=0), 1e-300
    )
    tilde[:, 1:][:, absorbed] = 0.0
    fit = fit_ols(tilde[:, 1:], tilde[:, 0], se_type="CR0", clusters=cc, n_clusters=n_groups)
    kept = fit.kept & ~absorbed
    nested_unit = _nested(uc, n_units, cc)
    nested_time = _nested(tc, n_periods, cc)
    k_fe = (
        n_units
        + n_periods
        - 1
        - (n_units if nested_unit else 0)
        - (n_periods if nested_time else 0)
        + int(nested_unit)
        + int(nested_time)
    )
    k_total = int(kept.sum()) + k_fe
    factor = n_groups / (n_groups - 1) * (n - 1) / (n - k_total) if n_groups > 1 else np.nan
    vcov = fit.vcov * factor
    coef = np.where(kept, fit.coef, np.nan)
    vcov[~kept, :] = np.nan
    vcov[:, ~kept] = np.nan
    return FERegression(
        coef=coef,
        vcov=vcov,
        kept=kept,
        n_obs=n,
        n_clusters=n_groups,
        small_sample_factor=float(factor),
    )


def _nested(codes: Array, n_levels: int, clusters: Array) -> bool:
    """Whether every level of ``codes`` lies within a single cluster."""
    first = np.full(n_levels, -1, dtype=np.intp)
    first[codes[::-1]] = clusters[::-1]
    return bool(np.all(first[codes] == clusters))


@dataclass(frozen=True)
class ImputationFit:
    """Imputed effects and the BJS variance of chosen weighted averages of them."""

    tau: Array  # (n1,) imputed effects Y - Y(0)_hat of the treated observations
    estimates: Array  # (m,) W' tau
    vcov: Array  # (m, m) BJS conservative clustered covariance of the estimates
    covariate_coef: Array  # (k,)
    n_untreated: int
    n_leave_out_fallback: int = 0  # treated obs whose cell has one cluster (plain average)


def imputation(
    y: Array,
    covariates: Array,
    unit: Array,
    time: Array,
    treated: Array,
    weights: Array,
    cells: Array,
    cluster: Array,
    *,
    leave_out: bool = True,
) -> ImputationFit:
    """BJS imputation estimates ``W' tau`` and their conservative variance.

    Parameters
    ----------
    y : (n,) outcome; covariates : (n, k); unit, time : (n,) integer codes.
    treated : (n,) bool -- the observations in Omega_1 (their ``Y(0)`` is imputed); every
        unit and period must have at least one untreated observation (the caller drops
        the observations that cannot be imputed).
    weights : (n1, m) -- one column of weights on the treated observations per estimand.
    cells : (n1,) integer codes of the groups within which BJS average the imputed effects
        for the variance (cohort x period here).
    cluster : (n,) integer codes of the clusters.
    leave_out : bool
        Average the imputed effects for the variance leaving out the observation's own
        cluster (BJS's leave-out refinement, Stata ``did_imputation, leaveout``), which
        removes the downward bias of the plain cell average in small cells. Cells with a
        single cluster fall back to the plain average; ``n_leave_out_fallback`` counts the
        treated observations concerned.

    Notes
    -----
    The estimator is linear in ``Y``: ``tau_w = sum_it v_it Y_it`` with ``v = w`` on the
    treated observations and ``v_0 = -Z_0 (Z_0'Z_0)^-1 Z_1' w`` on the untreated ones
    (``Z`` the unit and period dummies and covariates). BJS Theorem 3's conservative
    variance is ``sum_c (sum_{it in c} v_it e_it)^2`` with ``e_it`` the first-stage residual
    on untreated observations and ``tau_it - taubar_g`` on treated ones, ``taubar_g`` the
    ``v^2``-weighted mean of the imputed effects within the observation's cell ``g``.
    """
    n = y.shape[0]
    uc, n_units = compact_codes(unit)
    tc, n_periods = compact_codes(time)
    cc, n_groups = compact_codes(cluster)
    untreated = ~treated
    # unit and period dummies (period 0 dropped) and the covariates, sparse
    rows = np.arange(n)
    z_unit = scipy.sparse.csr_matrix((np.ones(n), (rows, uc)), shape=(n, n_units))
    keep_t = tc > 0
    z_time = scipy.sparse.csr_matrix(
        (np.ones(int(keep_t.sum())), (rows[keep_t], tc[keep_t] - 1)), shape=(n, n_periods - 1)
    )
    z = scipy.sparse.hstack([z_unit, z_time, scipy.sparse.csr_matrix(covariates)], format="csr")
    z0, z1 = z[untreated], z[treated]
    # the unit-period graph of the untreated observations must be connected, else the
    # effects are not identified up to one normalisation
    n_comp, _ = scipy.sparse.csgraph.connected_components(
        scipy.sparse.csr_matrix(
            (np.ones(int(untreated.sum())), (uc[untreated], n_units + tc[untreated])),
            shape=(n_units + n_periods, n_units + n_periods),
        ),
        directed=False,
    )
    if n_comp > 1:
        raise DataValidationError(
            "the untreated observations split the units and periods into "
            f"{n_comp} disconnected sets; unit and period effects are not identified"
        )
    gram = (z0.T @ z0).tocsc()
    try:
        lu = scipy.sparse.linalg.splu(gram)
    except RuntimeError as exc:  # exactly singular: covariates collinear with the effects
        raise DataValidationError(
            "`covariates`: the first-stage design on untreated observations is singular "
            "(a covariate is collinear with the unit and period effects)"
        ) from exc
    rhs = np.asarray(z0.T @ y[untreated])
    gamma = lu.solve(rhs)
    check = np.asarray(gram @ gamma) - rhs
    if not np.all(np.isfinite(gamma)) or np.linalg.norm(check) > 1e-6 * max(
        1.0, float(np.linalg.norm(rhs))
    ):
        raise DataValidationError(
            "`covariates`: the first-stage design on untreated observations is singular "
            "(a covariate is collinear with the unit and period effects)"
        )
    fitted = np.asarray(z @ gamma)
    resid0 = y[untreated] - fitted[untreated]
    tau = y[treated] - fitted[treated]
    estimates = weights.T @ tau

    # imputation weights of the untreated observations, one column per estimand
    solved = lu.solve(np.asarray(z1.T @ weights))
    solved = solved.reshape(gram.shape[0], weights.shape[1])
    v0 = -np.asarray(z0 @ solved)
    cell_codes, n_cells = compact_codes(cells)
    v1sq = weights**2
    num = _group_sum(v1sq * tau[:, None], cell_codes, n_cells)
    den = _group_sum(v1sq, cell_codes, n_cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        taubar = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    taubar_obs = taubar[cell_codes]
    n_fallback = 0
    if leave_out:
        # the same averages without the observation's own cluster: subtract the sums of
        # its (cell, cluster) pair from the cell sums
        pair, n_pairs = compact_codes(cell_codes.astype(np.int64) * n_groups + cc[treated])
        num_lo = num[cell_codes] - _group_sum(v1sq * tau[:, None], pair, n_pairs)[pair]
        den_lo = den[cell_codes] - _group_sum(v1sq, pair, n_pairs)[pair]
        usable = den_lo > 1e-12 * np.maximum(den[cell_codes], 1e-300)
        with np.errstate(invalid="ignore", divide="ignore"):
            taubar_lo = num_lo / np.where(usable, den_lo, 1.0)
        taubar_obs = np.where(usable, taubar_lo, taubar_obs)
        # observations with weight in some estimand whose cell has a single cluster
        n_fallback = int(np.sum(np.any(~usable & (weights != 0), axis=1)))
    eps1 = tau[:, None] - taubar_obs
    scores = _group_sum(v0 * resid0[:, None], cc[untreated], n_groups) + _group_sum(
        weights * eps1, cc[treated], n_groups
    )
    vcov = scores.T @ scores
    k = covariates.shape[1]
    return ImputationFit(
        tau=tau,
        estimates=estimates,
        vcov=vcov,
        covariate_coef=gamma[gram.shape[0] - k :] if k else np.zeros(0),
        n_untreated=int(untreated.sum()),
        n_leave_out_fallback=n_fallback,
    )
