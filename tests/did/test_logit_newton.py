"""The propensity-score logit (compiled Newton passes) against statsmodels' maximum
likelihood, weighted and unweighted, and its reuse of repeated linear indices."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from impacteval.did._drdid import CellError, logit_newton
from impacteval.did._drdid_fused import LogitPass


def _design(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.random(n) < 0.4, rng.gamma(2, size=n)])
    eta = -0.5 + 0.8 * x[:, 1] - 0.6 * x[:, 2] + 0.2 * x[:, 3]
    d = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return x, d


@pytest.mark.parametrize("weighted", [False, True])
def test_logit_equals_statsmodels(weighted: bool) -> None:
    """statsmodels' GLM (IRLS to 1e-12) is the reference; both solve the same score
    equations, so the coefficients agree to the tolerance of the two stopping rules."""
    x, d = _design(4000, 3)
    w = np.random.default_rng(4).uniform(0.2, 3.0, d.size) if weighted else np.ones(d.size)
    beta, converged = logit_newton(x, d, w)
    ref = sm.GLM(d, x, family=sm.families.Binomial(), freq_weights=w).fit(tol=1e-12)
    assert converged
    np.testing.assert_allclose(beta, ref.params, rtol=0, atol=1e-9)


def test_pass_sums_match_numpy() -> None:
    """One pass: log-likelihood, score and information as the numpy expressions (summed in
    another order: agreement to rounding); unit weights skip the multiplication, which
    changes no number."""
    x, d = _design(3000, 5)
    w = np.random.default_rng(6).uniform(0.5, 2.0, d.size)
    for beta in (np.array([0.3, -0.2, 0.5, 0.1]), np.array([-0.4, 0.0, 0.0, 0.0])):
        eta = x @ beta
        p = 1 / (1 + np.exp(-eta))
        ll, grad, hess = LogitPass(x, d, w)(beta)
        assert ll == pytest.approx(np.sum(w * (d * eta - np.logaddexp(0, eta))), rel=1e-13)
        np.testing.assert_allclose(grad, x.T @ (w * (d - p)), rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(hess, (x * (w * p * (1 - p))[:, None]).T @ x, rtol=1e-12)
    ones = np.ones(d.size)
    unit, weighted = LogitPass(x, d, ones), LogitPass(x, d, ones)
    weighted.unit = False  # multiplying by weights of 1.0 changes no number
    assert unit.unit and unit(beta)[0] == weighted(beta)[0]


def test_singular_design_is_a_cell_error() -> None:
    x, d = _design(500, 7)
    x = np.column_stack([x, 2 * x[:, 1]])
    with pytest.raises(CellError, match="singular"):
        logit_newton(x, d, np.ones(d.size))
