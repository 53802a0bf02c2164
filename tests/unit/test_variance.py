"""The OLS variance engine against independent implementations.

HC0-HC3 against statsmodels; CR0/CR1 against statsmodels' cluster covariance; CR2 and its
Bell-McCaffrey df against a direct, dense implementation of the textbook formulas
(n x n hat matrix, per-cluster eigendecomposition, n x G matrix G). Tolerance 1e-9
relative: the algebra is exact, only rounding differs.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from impacteval.inference.variance import (
    cr2_cluster_sums,
    cr2_from_sums,
    fit_ols,
    in_span_of_others,
)


def _data(n: int = 150, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.normal(size=(n, 2))])
    y = x @ np.array([1.0, 0.5, -1.0, 2.0]) + rng.normal(size=n) * (1 + np.abs(x[:, 2]))
    clusters = rng.integers(0, 12, size=n)
    return x, y, clusters


def _dense_cr2(x: np.ndarray, y: np.ndarray, cl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, k = x.shape
    m = np.linalg.inv(x.T @ x)
    h = x @ m @ x.T
    e = y - h @ y
    groups = np.unique(cl)
    meat = np.zeros((k, k))
    adj = []
    for g in groups:
        idx = cl == g
        vals, vecs = np.linalg.eigh(np.eye(idx.sum()) - h[np.ix_(idx, idx)])
        a = vecs @ np.diag(vals**-0.5) @ vecs.T
        u = x[idx].T @ a @ e[idx]
        meat += np.outer(u, u)
        adj.append((idx, a @ x[idx] @ m))
    dfs = []
    for p in range(k):
        gmat = np.zeros((n, groups.size))
        for j, (idx, am) in enumerate(adj):
            gmat[:, j] = (np.eye(n) - h)[:, idx] @ am[:, p]
        gg = gmat.T @ gmat
        dfs.append(np.trace(gg) ** 2 / np.trace(gg @ gg))
    return m @ meat @ m, np.array(dfs)


@pytest.mark.parametrize("se_type", ["HC0", "HC1", "HC2", "HC3"])
def test_hc_matches_statsmodels(se_type: str) -> None:
    x, y, _ = _data()
    ours = fit_ols(x, y, se_type=se_type)
    ref = sm.OLS(y, x).fit(cov_type=se_type)
    np.testing.assert_allclose(ours.coef, ref.params, rtol=1e-10)
    np.testing.assert_allclose(ours.vcov, ref.cov_params(), rtol=1e-9)


def test_classical_matches_statsmodels() -> None:
    x, y, _ = _data()
    ref = sm.OLS(y, x).fit()
    np.testing.assert_allclose(fit_ols(x, y, se_type="classical").vcov, ref.cov_params(), rtol=1e-9)


def test_cr1_matches_statsmodels_cluster() -> None:
    x, y, cl = _data()
    ours = fit_ols(x, y, se_type="CR1", clusters=cl)
    ref = sm.OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": cl})
    np.testing.assert_allclose(ours.vcov, ref.cov_params(), rtol=1e-9)
    assert np.all(ours.df == 11)  # G - 1


def test_cr2_and_bell_mccaffrey_df_match_dense_formula() -> None:
    x, y, cl = _data()
    ours = fit_ols(x, y, se_type="CR2", clusters=cl)
    vcov, dfs = _dense_cr2(x, y, cl)
    np.testing.assert_allclose(ours.vcov, vcov, rtol=1e-9)
    np.testing.assert_allclose(ours.df, dfs, rtol=1e-9)


def test_cr2_sums_over_disjoint_cluster_sets_add_up_to_the_dense_formula() -> None:
    # what the Dask path relies on: the clusters split into three sets (codes renumbered
    # 0..g-1 within each, rows in a different order), each set's pieces computed from its
    # own rows only, added with +, equal the dense CR2 of all clusters
    x, y, cl = _data()
    r = np.linalg.cholesky(x.T @ x).T
    rinv = np.linalg.inv(r)
    resid = y - x @ np.linalg.solve(x.T @ x, x.T @ y)
    q = x @ rinv
    pieces = []
    for subset in (range(0, 4), range(4, 5), range(5, 12)):
        rows = np.flatnonzero(np.isin(cl, list(subset)))[::-1]
        codes = np.unique(cl[rows], return_inverse=True)[1]
        pieces.append(cr2_cluster_sums(q[rows], resid[rows], rinv.T, codes, len(subset)))
    total = pieces[0] + pieces[1] + pieces[2]
    meat, dfs = cr2_from_sums(total, np.arange(x.shape[1]))
    vcov, ref_dfs = _dense_cr2(x, y, cl)
    np.testing.assert_allclose(rinv @ meat @ rinv.T, vcov, rtol=1e-9)
    np.testing.assert_allclose(dfs, ref_dfs, rtol=1e-9)


def test_weighted_cr2_reduces_to_unweighted_with_unit_weights() -> None:
    x, y, cl = _data()
    plain = fit_ols(x, y, se_type="CR2", clusters=cl)
    weighted = fit_ols(x, y, se_type="CR2", clusters=cl, weights=np.full(y.size, 2.5))
    np.testing.assert_allclose(weighted.vcov, plain.vcov, rtol=1e-9)
    np.testing.assert_allclose(weighted.df, plain.df, rtol=1e-9)


def test_collinear_column_dropped_like_r_lm() -> None:
    x, y, _ = _data()
    x2 = np.column_stack([x, x[:, 2] + x[:, 3]])
    fit = fit_ols(x2, y, se_type="HC2")
    assert fit.kept.tolist() == [True, True, True, True, False]
    assert np.isnan(fit.coef[4]) and fit.rank == 4
    np.testing.assert_allclose(fit.coef[:4], fit_ols(x, y, se_type="HC2").coef, rtol=1e-10)
    assert in_span_of_others(x2, 4) and not in_span_of_others(x, 1)
