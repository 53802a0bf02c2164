"""Numerics of Gardner's two-stage difference in differences (arrays in, arrays out).

:func:`two_stage_fit` runs both stages and the GMM-corrected clustered variance of
Gardner (2021) and Butts & Gardner (2022, R ``did2s``):

1. **First stage.** Weighted least squares of ``y`` on the fixed effects (sparse dummies:
   every level of the first factor, all but one level of each further factor) and the
   covariates, on the untreated observations only. The fitted model predicts ``Y(0)`` for
   every observation; ``ytilde = y - yhat`` is the residualised outcome.
2. **Second stage.** Weighted least squares (no intercept) of ``ytilde`` on the
   second-stage design ``X2`` (a treatment dummy, or relative-time dummies), on all
   observations.
3. **Variance.** The two stages are one just-identified GMM problem. With ``W`` the
   weights, ``X1`` the first-stage design (all rows), ``X10`` the same with the treated
   rows zeroed, ``e1`` the first-stage residual and ``e2`` the second-stage residual, the
   cluster score is ``S_g = X2g' W_g e2g - (X2' W X1)(X10' W X10)^{-1} X10g' W_g e1g`` and
   ``V = (X2' W X2)^{-1} (sum_g S_g S_g') (X2' W X2)^{-1}``, with no small-sample factor
   (as ``did2s``). The middle term is computed as ``v = X10 (X10' W X10)^{-1} X1' W X2``,
   the weight of each untreated observation in the second-stage moments, so that
   ``S_g = sum_{i in g} w_i (x2_i e2_i - v_i e1_i)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from impacteval.did._es_numerics import compact_codes
from impacteval.exceptions import DataValidationError

__all__ = ["PIVOT_TOLERANCE", "TwoStageFit", "fe_design", "two_stage_fit"]

Array = np.ndarray
#: A first-stage pivot below this fraction of the largest (covariates scaled to unit SD)
#: marks a design singular: exact collinearity leaves pivots near 1e-14 relative, a
#: poorly but genuinely identified design stays far above 1e-9.
PIVOT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class TwoStageFit:
    """Second-stage coefficients with their GMM-corrected clustered covariance."""

    coef: Array  # (k,)
    vcov: Array  # (k, k)
    ytilde: Array  # (n,) residualised outcome y - yhat
    covariate_coef: Array  # (m,) first-stage covariate slopes
    n_clusters: int


def fe_design(fixed_effects: list[Array], covariates: Array) -> scipy.sparse.csr_matrix:
    """Sparse first-stage design: dummies of each factor (the first with every level, the
    others without their level 0) and the covariates."""
    n = covariates.shape[0]
    rows = np.arange(n)
    blocks = []
    for j, codes in enumerate(fixed_effects):
        cc, n_levels = compact_codes(codes)
        keep = cc >= (1 if j else 0)
        shift = 1 if j else 0
        blocks.append(
            scipy.sparse.csr_matrix(
                (np.ones(int(keep.sum())), (rows[keep], cc[keep] - shift)),
                shape=(n, n_levels - shift),
            )
        )
    blocks.append(scipy.sparse.csr_matrix(covariates))
    return scipy.sparse.hstack(blocks, format="csr")


def _singular() -> DataValidationError:
    return DataValidationError(
        "`fixed_effects`/`covariates`: the first-stage design on the untreated observations "
        "is singular (fixed effects nested in one another or not connected through the "
        "untreated observations, or a covariate collinear with them)"
    )


def two_stage_fit(
    y: Array,
    fixed_effects: list[Array],
    covariates: Array,
    untreated: Array,
    x2: Array,
    weights: Array,
    cluster: Array,
) -> TwoStageFit:
    """Both stages of did2s and the GMM-corrected clustered covariance.

    Parameters
    ----------
    y : (n,) outcome.
    fixed_effects : list of (n,) integer codes, one array per first-stage factor; every
        level must occur among the untreated observations (the caller drops the treated
        observations whose ``Y(0)`` cannot be predicted).
    covariates : (n, m) first-stage covariates.
    untreated : (n,) bool, the first-stage sample.
    x2 : (n, k) second-stage design (no intercept).
    weights : (n,) positive observation weights.
    cluster : (n,) integer cluster codes.
    """
    # covariates on a unit scale, so that a tiny pivot means collinearity, not units
    scale = covariates[untreated].std(axis=0) if covariates.shape[1] else np.ones(0)
    if np.any(scale <= 0):  # constant on the untreated rows: absorbed by the effects
        raise _singular()
    z = fe_design(fixed_effects, covariates / scale)
    w = weights
    z0 = z[untreated]
    w0 = w[untreated]
    gram = (z0.T @ scipy.sparse.diags(w0) @ z0).tocsc()
    try:
        lu = scipy.sparse.linalg.splu(gram)
    except RuntimeError as exc:  # exactly singular
        raise _singular() from exc
    pivots = np.abs(lu.U.diagonal())
    if pivots.min() <= PIVOT_TOLERANCE * pivots.max():  # numerically singular
        raise _singular()
    rhs = np.asarray(z0.T @ (w0 * y[untreated]))
    gamma = lu.solve(rhs)
    if not np.all(np.isfinite(gamma)) or np.linalg.norm(
        np.asarray(gram @ gamma) - rhs
    ) > 1e-6 * max(1.0, float(np.linalg.norm(rhs))):
        raise _singular()
    ytilde = y - np.asarray(z @ gamma)
    # second stage
    wx2 = x2 * w[:, None]
    bread = x2.T @ wx2
    coef = np.linalg.solve(bread, wx2.T @ ytilde)
    e2 = ytilde - x2 @ coef
    # weight of each untreated observation in the second-stage moments
    solved = lu.solve(np.asarray(z.T @ wx2)).reshape(gram.shape[0], x2.shape[1])
    v0 = np.asarray(z0 @ solved)
    cc, n_groups = compact_codes(cluster)
    contrib = wx2 * e2[:, None]
    contrib[untreated] -= v0 * (w0 * ytilde[untreated])[:, None]
    scores = np.column_stack(
        [np.bincount(cc, weights=contrib[:, j], minlength=n_groups) for j in range(x2.shape[1])]
    ).reshape(n_groups, x2.shape[1])
    inv = np.linalg.inv(bread)
    vcov = inv @ (scores.T @ scores) @ inv
    m = covariates.shape[1]
    return TwoStageFit(
        coef=coef,
        vcov=(vcov + vcov.T) / 2,
        ytilde=ytilde,
        covariate_coef=gamma[gram.shape[0] - m :] / scale if m else np.zeros(0),
        n_clusters=n_groups,
    )
