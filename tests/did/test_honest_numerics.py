"""The numerical building blocks of ``ie.did.honest`` against their definitions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from impacteval.did import _honest_numerics as hn


@pytest.mark.parametrize("t", [0.0, 0.3, 1.0, 2.5, 6.0])
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_fold_normal_cv_is_the_quantile_of_abs_normal(t, alpha):
    c = hn.fold_normal_cv(t, alpha)
    # P(|N(t, 1)| <= c) = Phi(c - t) - Phi(-c - t)
    coverage = stats.norm.cdf(c - t) - stats.norm.cdf(-c - t)
    assert coverage == pytest.approx(1 - alpha, abs=1e-9)


@pytest.mark.parametrize(("n_pre", "n_post", "seed"), [(3, 2, 0), (2, 4, 1), (4, 3, 2)])
def test_vertex_maximum_equals_the_lp_statistic(n_pre, n_post, seed):
    """max over enumerated dual vertices of gamma'Y = min {eta : Y - X nu <= eta sd}."""
    rng = np.random.default_rng(seed)
    k = n_pre + n_post
    root = rng.normal(size=(k, k))
    sigma = root @ root.T / k + np.eye(k) * 0.1
    beta = rng.normal(size=k)
    l_vec = rng.uniform(0.2, 1.0, n_post)
    polys = [hn.sd_polyhedron(n_pre, n_post, 0.3), *hn.rm_polyhedra(n_pre, n_post, 0.7)[:2]]
    for poly in polys:
        test = hn.MomentTest(beta, sigma, n_pre, l_vec, poly, 0.05, hybrid=False, n_sims=10, seed=0)
        a_mat = poly.A[np.any(poly.A[:, n_pre:] != 0, axis=1)]
        d = poly.d[np.any(poly.A[:, n_pre:] != 0, axis=1)]
        sd = np.sqrt(np.diag(a_mat @ sigma @ a_mat.T))
        x = a_mat[:, n_pre:] @ hn.null_basis(l_vec)
        for theta in (-1.0, 0.0, 0.8):
            y = a_mat @ beta - d - a_mat[:, n_pre:] @ l_vec * theta / (l_vec @ l_vec)
            # variables (eta, nu): minimise eta s.t. -eta sd - X nu <= -Y
            lp = optimize.linprog(
                np.r_[1.0, np.zeros(x.shape[1])],
                A_ub=-np.column_stack([sd, x]),
                b_ub=-y,
                bounds=[(None, None)] * (1 + x.shape[1]),
                method="highs",
            )
            vert = np.max(test.vertices @ y)
            assert lp.status == 0
            # HiGHS solves to ~1e-9; the vertices are exact solutions of small systems
            assert vert == pytest.approx(lp.fun, abs=1e-7)


def test_flci_worst_case_bias_is_the_lp_maximum():
    """``M ||lambda||_1`` equals max (v'delta) over ``|D delta| <= M`` (LP duality)."""
    rng = np.random.default_rng(5)
    n_pre, n_post, m = 3, 2, 0.02
    k = n_pre + n_post
    root = rng.normal(size=(k, k)) * 0.01
    sigma = root @ root.T + np.eye(k) * 1e-4
    beta = rng.normal(scale=0.02, size=k)
    res = hn.flci(beta, sigma, n_pre, n_post, np.array([0.5, 0.5]), m, 0.05)
    d2 = hn.second_differences(n_pre, n_post)
    lp = optimize.linprog(
        -res.weights,
        A_ub=np.vstack([d2, -d2]),
        b_ub=np.full(2 * d2.shape[0], m),
        bounds=[(None, None)] * k,
        method="highs",
    )
    assert lp.status == 0
    assert -lp.fun == pytest.approx(res.max_bias, rel=1e-7)
    assert res.weights[n_pre:] == pytest.approx([0.5, 0.5], abs=1e-9)  # unbiased for tau


def test_confidence_set_of_an_interval():
    lo, hi = hn.confidence_set(lambda x: (x > -0.3) & (x < 1.7), 0.0, 1.0)
    # the grid (0 +/- 1) is doubled once; the ends are refined to 4/400/50**4
    assert lo == pytest.approx(-0.3, abs=1e-8)
    assert hi == pytest.approx(1.7, abs=1e-8)
    assert hn.confidence_set(lambda x: np.zeros(x.size, bool), 0.0, 1.0) == (
        pytest.approx(np.nan, nan_ok=True),
        pytest.approx(np.nan, nan_ok=True),
    )
    inf = hn.confidence_set(lambda x: x > -0.5, 0.0, 1.0, max_expand=2)
    assert inf[0] == pytest.approx(-0.5, abs=1e-8) and inf[1] == np.inf


def _polyhedral_conditional_test(beta, sigma, a_mat, d, n_pre, theta, alpha):
    """The no-nuisance ARP test written out directly (one post coefficient): condition on
    the binding normalised moment i (``Abar y <= dbar``, Lee et al. 2016's polyhedral
    lemma) and compare ``(A~y)_i`` with the truncated normal centred at ``d~_i``."""
    y = beta - np.eye(beta.size)[n_pre] * theta
    sd = np.sqrt(np.diag(a_mat @ sigma @ a_mat.T))
    at, dt = a_mat / sd[:, None], d / sd
    i = int(np.argmax(at @ y - dt))
    g = at[i]
    abar, dbar = at - g[None, :], dt - dt[i]
    var = g @ sigma @ g
    c = sigma @ g / var
    z = y - c * (g @ y)
    ac, res = abar @ c, dbar - abar @ z
    with np.errstate(divide="ignore", invalid="ignore"):
        r = res / ac
    vlo = np.max(np.where(ac < -1e-12, r, -np.inf))
    vup = np.min(np.where(ac > 1e-12, r, np.inf))
    s = np.sqrt(var)
    crit = dt[i] + s * stats.truncnorm.ppf(1 - alpha, (vlo - dt[i]) / s, (vup - dt[i]) / s)
    return not (g @ y > crit)


def test_no_nuisance_test_equals_the_polyhedral_conditional_test():
    rng = np.random.default_rng(11)
    n_pre = 4
    root = rng.normal(size=(5, 5)) * 0.01
    sigma = root @ root.T + np.eye(5) * 5e-5
    beta = rng.normal(scale=0.02, size=5)
    poly = hn.sd_polyhedron(n_pre, 1, 0.01)
    test = hn.MomentTest(
        beta, sigma, n_pre, np.array([1.0]), poly, 0.05, hybrid=False, n_sims=10, seed=0
    )
    thetas = np.linspace(beta[n_pre] - 0.08, beta[n_pre] + 0.08, 161)
    ours = test.accepts(thetas)
    direct = [
        _polyhedral_conditional_test(beta, sigma, poly.A, poly.d, n_pre, t, 0.05) for t in thetas
    ]
    assert ours.any() and not ours.all()
    assert ours.tolist() == direct
