"""The simplex-constrained least-squares solver behind the synthetic control.

Checked against scipy's SLSQP (a general solver) and against the KKT conditions, which pin
down the optimum independently of any solver.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from impacteval.synth._scm_numerics import (
    SimplexSolver,
    best_of_ties,
    fit_v,
    regression_start,
    simplex_lstsq,
)


def _slsqp(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = a.shape[1]
    res = optimize.minimize(
        lambda w: float(np.sum((a @ w - b) ** 2)),
        np.full(n, 1.0 / n),
        jac=lambda w: 2.0 * a.T @ (a @ w - b),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * n,
        constraints={"type": "eq", "fun": lambda w: w.sum() - 1.0},
        options={"ftol": 1e-15, "maxiter": 2000},
    )
    return np.asarray(res.x)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("shape", [(3, 8), (7, 38), (14, 16), (40, 10)])
def test_simplex_lstsq_matches_slsqp_and_kkt(seed: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape)
    b = rng.normal(size=shape[0]) * 2.0  # mostly outside the hull: a non-trivial face
    w = simplex_lstsq(a, b)
    assert w.min() >= 0.0
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    f_ours = float(np.sum((a @ w - b) ** 2))
    f_slsqp = float(np.sum((a @ _slsqp(a, b) - b) ** 2))
    # never worse than SLSQP (which stops at its tolerance), up to rounding
    assert f_ours <= f_slsqp + 1e-9 * max(1.0, f_slsqp)
    # KKT: gradient g = 2a'(aw - b); on the support g_i = lambda, elsewhere g_i >= lambda
    g = 2.0 * a.T @ (a @ w - b)
    support = w > 1e-12
    lam = g[support].mean()
    scale = 1e-7 * max(1.0, float(np.abs(g).max()))
    assert np.abs(g[support] - lam).max() <= scale
    assert (g[~support] >= lam - scale).all()


def test_interior_point_is_fitted_exactly() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 9))
    w_true = np.r_[0.2, 0.5, 0.3, np.zeros(6)]
    w = simplex_lstsq(a, a @ w_true)
    assert np.sum((a @ w - a @ w_true) ** 2) < 1e-20


def test_warm_start_does_not_change_the_answer() -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(size=(6, 30))
    b = rng.normal(size=6) * 3
    cold = simplex_lstsq(a, b)
    for guess in (cold > 0, np.ones(30, dtype=bool), rng.random(30) < 0.5):
        assert np.allclose(simplex_lstsq(a, b, start=guess), cold, atol=1e-10)


@pytest.mark.parametrize("seed", range(6))
def test_solver_fast_path_matches_a_cold_solve(seed: int) -> None:
    """Along a random walk of V (small steps, as a V search takes, so the support mostly
    stands and the support-only fast path answers), every W equals a cold
    :func:`simplex_lstsq` of the V-scaled problem, the fast path is taken in most calls,
    and the loss is the fit-period MSPE of that W."""
    rng = np.random.default_rng(seed)
    k, j, t = 6, 40, 12
    x0, z0 = rng.normal(size=(k, j)), rng.normal(size=(t, j))
    x1, z1 = rng.normal(size=k) * 1.5, rng.normal(size=t)
    solver = SimplexSolver(x1, x0, z1, z0)
    theta = rng.uniform(0.5, 1.5, size=k)
    n_changed = 0
    for _ in range(60):
        theta = np.abs(theta + rng.normal(scale=0.02, size=k))
        v = theta**2 / np.sum(theta**2)
        before = solver.support
        w = solver.weights(v)
        n_changed += before is None or not np.array_equal(before, solver.support)
        sv = np.sqrt(v)
        cold = simplex_lstsq(x0 * sv[:, None], x1 * sv)
        np.testing.assert_allclose(w, cold, atol=1e-10)
        r = z1 - z0 @ w
        assert solver.loss(v) == pytest.approx(float(r @ r) / t, rel=1e-12)
    assert n_changed < 30  # most calls keep the support (and take the fast path)


def test_regression_start_is_a_weight_vector() -> None:
    rng = np.random.default_rng(1)
    x0, x1 = rng.normal(size=(4, 20)), rng.normal(size=4)
    z0, z1 = rng.normal(size=(8, 20)), rng.normal(size=8)
    v = regression_start(x1, x0, z1, z0)
    assert v.shape == (4,) and v.min() >= 0 and v.sum() == pytest.approx(1.0)


def test_v_search_never_worse_than_its_equal_weight_start() -> None:
    rng = np.random.default_rng(2)
    x0, z0 = rng.normal(size=(5, 15)), rng.normal(size=(10, 15))
    x1, z1 = x0[:, :3].mean(axis=1) + 0.5, z0[:, :3].mean(axis=1)
    res = fit_v(x1, x0, z1, z0, n_random=2, seed=0)
    w_eq = simplex_lstsq(x0, x1)  # V = I/k gives the same W as V = I
    loss_eq = float(np.mean((z1 - z0 @ w_eq) ** 2))
    assert res.loss <= loss_eq + 1e-12
    assert res.v.sum() == pytest.approx(1.0) and len(res.starts) == 4


def _best_on_polytope(
    x1: np.ndarray, x0: np.ndarray, z1: np.ndarray, z0: np.ndarray, v: np.ndarray, w: np.ndarray
) -> float:
    """Independent answer: trust-constr (interior point) on the tie polytope."""
    a = x0 * np.sqrt(v)[:, None]
    n = w.shape[0]
    res = optimize.minimize(
        lambda u: float(np.mean((z1 - z0 @ u) ** 2)),
        np.full(n, 1.0 / n),
        jac=lambda u: -2.0 * z0.T @ (z1 - z0 @ u) / z1.shape[0],
        method="trust-constr",
        constraints=[
            optimize.LinearConstraint(
                np.vstack([np.ones(n), a]), np.r_[1.0, a @ w], np.r_[1.0, a @ w]
            )
        ],
        bounds=optimize.Bounds(0.0, 1.0),
        options={"gtol": 1e-12, "xtol": 1e-14, "maxiter": 5000},
    )
    return float(np.mean((z1 - z0 @ res.x) ** 2))


@pytest.mark.parametrize("seed", range(6))
def test_best_of_ties_inside_the_hull(seed: int) -> None:
    # treated predictors inside the donors' hull: every W with x0 W = x1 minimises the
    # predictor loss for every V, so W(V) is a polytope; the outcome decides among them
    rng = np.random.default_rng(seed)
    k, j, t = 3, 12, 10
    x0 = rng.normal(size=(k, j))
    w_true = rng.dirichlet(np.ones(j))
    x1 = x0 @ w_true
    z0 = rng.normal(size=(t, j)).cumsum(axis=0)
    z1 = z0 @ w_true + rng.normal(scale=0.3, size=t)
    v = rng.dirichlet(np.ones(k))
    sv = np.sqrt(v)
    w = simplex_lstsq(x0 * sv[:, None], x1 * sv)  # one minimiser (a vertex of the face)
    best = best_of_ties(x1, x0, z1, z0, v, w)
    assert best.min() >= 0.0 and best.sum() == pytest.approx(1.0, abs=1e-12)
    # still a minimiser of the predictor loss: zero here, up to rounding (O(1) entries,
    # squared residuals of order eps^2 ~ 1e-32; 1e-18 leaves room for the KKT solve)
    assert float(np.sum((sv * (x1 - x0 @ best)) ** 2)) < 1e-18
    mspe = float(np.mean((z1 - z0 @ best) ** 2))
    # no worse than the vertex, than the W that generated the data (also on the polytope)
    # and than an interior-point solve of the same problem. Tolerances: 1e-12 is rounding
    # of an O(1) MSPE; w_true's 1e-9 allows its own tiny misfit of the predictors; 1e-6
    # relative is trust-constr's stopping accuracy (gtol 1e-12 on the gradient)
    assert mspe <= float(np.mean((z1 - z0 @ w) ** 2)) + 1e-12
    assert mspe <= float(np.mean((z1 - z0 @ w_true) ** 2)) + 1e-9
    assert mspe == pytest.approx(_best_on_polytope(x1, x0, z1, z0, v, w), rel=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_best_of_ties_leaves_a_unique_minimiser_alone(seed: int) -> None:
    # more predictors than donors and the treated unit outside the hull: W(V) is unique
    rng = np.random.default_rng(100 + seed)
    k, j, t = 9, 6, 8
    x0 = rng.normal(size=(k, j))
    x1 = rng.normal(size=k) * 3.0
    z0 = rng.normal(size=(t, j))
    z1 = rng.normal(size=t)
    v = rng.dirichlet(np.ones(k))
    sv = np.sqrt(v)
    w = simplex_lstsq(x0 * sv[:, None], x1 * sv)
    assert np.array_equal(best_of_ties(x1, x0, z1, z0, v, w), w)
