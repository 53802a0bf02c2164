"""The compiled kernels of the V search give numpy's numbers, bit for bit.

``impacteval/synth/_scm_jit.py`` claims that every operation of the W solve, the search
objective, its differences and the Nelder-Mead loop is the one numpy (and scipy's LAPACK
wrapper) performs, in the same order and through the same BLAS kernels. These tests check
that claim against numpy itself: each primitive on random inputs (including the one-row and
one-column shapes where numpy leaves BLAS), the NNLS against ``_nnls_ls``, the W solve
along V walks against the numpy formulation it replaced (kept below as the reference), and
the Nelder-Mead against scipy's (same points, same order, same result). All comparisons
are exact (no tolerance): the claim is identity, so any difference fails.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize
from scipy.linalg import lapack

from impacteval.synth import _scm_jit as jit
from impacteval.synth import _scm_numerics as num
from impacteval.synth._scm_vsearch import FD_STEP, nelder_mead

A = jit.ADDRESSES


def test_pairwise_sum_is_numpys() -> None:
    rng = np.random.default_rng(0)
    for n in [*range(1, 40), 127, 128, 129, 200, 255, 256, 257, 1000, 4099]:
        a = rng.standard_normal(n) * 10.0 ** rng.integers(-6, 6, n)
        a[rng.random(n) < 0.6] = 0.0  # W vectors are mostly zeros
        assert jit._sum(a) == np.add.reduce(a), n


@pytest.mark.parametrize("seed", range(4))
def test_products_are_numpys(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for r in [1, 2, 7, 8, 30]:
        for c in [1, 2, 5, 9, 38, 200]:
            a = rng.standard_normal((r, c))
            x, y = rng.standard_normal(c), rng.standard_normal(r)
            out_c, out_r = np.empty(r), np.empty(c)
            jit._matvec(A, a, x, out_c)
            jit._matTvec(A, a, y, out_r)
            assert np.array_equal(out_c, a @ x), (r, c)
            assert np.array_equal(out_r, a.T @ y), (r, c)
            gram = np.empty((c, c))
            if c <= 9:
                jit._gram(A, a, gram)
                assert np.array_equal(gram, a.T @ a), (r, c)
            assert jit._ddot(A, x, x) == x @ x
    # the NNLS subproblem's columns are a fancy-indexed copy (F-ordered in numpy): same
    big = rng.standard_normal((8, 38))
    idx = np.array([2, 3, 6, 17, 19, 32])
    gram = np.empty((6, 6))
    jit._gram(A, np.ascontiguousarray(big[:, idx]), gram)
    assert np.array_equal(gram, big[:, idx].T @ big[:, idx])


@pytest.mark.parametrize("seed", range(4))
def test_posv_is_scipys(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for s in range(1, 10):
        b = rng.standard_normal((12, s))
        m = b.T @ b
        _, ref, info = lapack.dposv(m, np.ones(s))
        sol = np.ones(s)
        assert jit._posv(A, m.copy(), sol) == info == 0
        assert np.array_equal(sol, ref)
    singular = np.zeros((2, 2))
    assert jit._posv(A, singular, np.ones(2)) != 0


@pytest.mark.parametrize("seed", range(6))
def test_nnls_is_the_numpy_nnls(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for j in [5, 38, 200]:
        a = np.vstack([np.ones(j), rng.standard_normal((6, j)) * rng.uniform(0.1, 3.0)])
        b = np.zeros(7)
        b[0] = 1.0
        assert jit._tolerance(a) == num._tolerance(a)
        for start in [None, rng.random(j) < 0.1, np.zeros(j, dtype=bool)]:
            ref = num._nnls_ls(a, b, start, 500)
            mask = np.zeros(j, dtype=bool) if start is None else start.copy()
            got = jit._nnls(A, a, b, mask, 500, num._tolerance(a))
            assert np.array_equal(got, ref), (j, start is None)


class _NumpySolver:
    """The numpy formulation of ``SimplexSolver.weights`` that the kernels replaced (as of
    commit be75978), kept as the reference."""

    def __init__(self, x1: np.ndarray, x0: np.ndarray) -> None:
        self.d = x0 - x1[:, None]
        self.dt = np.ascontiguousarray(self.d.T)
        self.a = np.vstack([np.ones(x0.shape[1]), self.d])
        self.e1 = np.zeros(x0.shape[0] + 1)
        self.e1[0] = 1.0
        self.tol = num._tolerance(self.a)
        self.support: np.ndarray | None = None

    def weights(self, v: np.ndarray) -> np.ndarray:
        sv = np.sqrt(v)
        if self.support is not None and self.support.any():
            idx = np.flatnonzero(self.support)
            ap = np.ones((self.d.shape[0] + 1, idx.shape[0]))
            np.multiply(self.d[:, idx], sv[:, None], out=ap[1:])
            _, sol, info = lapack.dposv(ap.T @ ap, np.ones(idx.shape[0]))
            if info == 0 and np.minimum.reduce(sol) > 0.0:
                r = ap @ sol
                grad = 1.0 - (r[0] + self.dt @ (sv * r[1:]))
                grad[idx] = -np.inf
                if np.maximum.reduce(grad) <= self.tol:
                    u = np.zeros(self.d.shape[1])
                    u[idx] = sol
                    u /= np.add.reduce(u)
                    return u
        a = self.a
        a[1:] = self.d * sv[:, None]
        u = num._nnls_ls(a, self.e1, self.support, 500)
        self.support = u > 0
        return np.asarray(u / u.sum())


@pytest.mark.parametrize("seed", range(6))
def test_w_solve_along_a_v_walk_is_the_numpy_solve(seed: int) -> None:
    """Small steps (mostly the fast path) and jumps (support changes, the NNLS), J = 40
    and 200: every W identical to the numpy formulation's, and so is the loss."""
    rng = np.random.default_rng(seed)
    k, j, t = 6, [40, 200][seed % 2], 25
    x0, z0 = rng.normal(size=(k, j)), rng.normal(size=(t, j))
    x1, z1 = rng.normal(size=k) * 1.5, rng.normal(size=t)
    ref, solver = _NumpySolver(x1, x0), num.SimplexSolver(x1, x0, z1, z0)
    theta = rng.uniform(0.5, 1.5, size=k)
    fast = 0
    for step in range(120):
        scale = 0.5 if step % 15 == 0 else 0.01
        theta = np.abs(theta + rng.normal(scale=scale, size=k))
        v = theta**2 / np.sum(theta**2)
        before = solver.support
        w = solver.weights(v)
        assert np.array_equal(w, ref.weights(v)), step
        fast += before is not None and np.array_equal(before, solver.support)
        r = z1 - z0 @ w
        assert solver.loss(v) == float(r @ r) / t
    assert fast > 60  # both paths were exercised


def test_objective_and_differences_are_the_numpy_ones() -> None:
    rng = np.random.default_rng(3)
    k, j, t = 5, 30, 12
    x0, z0 = rng.normal(size=(k, j)), rng.normal(size=(t, j))
    x1, z1 = rng.normal(size=k), rng.normal(size=t)
    solver, ref = num.SimplexSolver(x1, x0, z1, z0), _NumpySolver(x1, x0)

    def f_ref(theta: np.ndarray) -> float:
        v = num._to_v(theta)
        r = z1 - z0 @ ref.weights(v)
        return float(r @ r) / float(t)

    theta = rng.uniform(0.2, 1.0, size=k)
    theta[1] = 0.0  # a zero coordinate takes the other step rule
    f0 = jit.scm_objective(solver.state, A, theta)
    assert f0 == f_ref(theta)
    g = jit.fd_gradient(solver.state, A, 0, theta, f0, FD_STEP)
    sign = (theta >= 0).astype(float) * 2 - 1
    h = np.full(k, FD_STEP)
    h = np.where((theta + h) - theta == 0, FD_STEP * sign * np.maximum(1.0, np.abs(theta)), h)
    for i in range(k):
        x1_ = theta.copy()
        x1_[i] = theta[i] + h[i]
        assert g[i] == (f_ref(x1_) - f0) / ((theta[i] + h[i]) - theta[i])
    assert jit.scm_objective(solver.state, A, np.zeros(k)) == f_ref(np.zeros(k))


def _trace_state(n: int, cap: int = 20000) -> tuple[np.ndarray, ...]:
    """A solver state whose only used parts are the trace and its counter."""
    s = num.SimplexSolver(np.zeros(n), np.ones((n, 2)), np.zeros(1), np.ones((1, 2))).state
    return (*s[:12], np.zeros((cap, n)))


NM_CASES = [
    (1, np.array([-1.2, 1.0, 0.5, -0.3, 0.8]), True),
    (1, np.array([-1.2, 1.0, 0.0]), False),
    (2, np.array([0.9, 0.0, 0.2, 0.7, 0.1, 0.4, 0.6]), True),
    (2, np.array([1.0, 2.0]), False),
]


@pytest.mark.parametrize(("kind", "x0", "adaptive"), NM_CASES)
def test_compiled_nelder_mead_is_scipys(kind: int, x0: np.ndarray, adaptive: bool) -> None:
    """Without the stall stop: scipy's points in scipy's order (scipy calls the same
    compiled test function), the same result, bit for bit; kind 2 has exact ties (a flat
    region), where the sort's order of ties matters."""
    ref_state, our_state = _trace_state(x0.shape[0]), _trace_state(x0.shape[0])
    ref = optimize.minimize(
        lambda x: jit.test_objective(ref_state, kind, x),
        x0,
        method="Nelder-Mead",
        options={"maxiter": 300 * x0.shape[0], "xatol": 1e-4, "fatol": 1e-6, "adaptive": adaptive},
    )
    x, fun, nit, status = jit.nm_run(
        our_state, A, kind, x0, 300 * x0.shape[0], 1e-4, 1e-6, adaptive, 0, 1e-12
    )
    n_ref, n_ours = ref_state[8][2], our_state[8][2]
    assert n_ref == n_ours <= ref_state[12].shape[0]
    assert np.array_equal(ref_state[12][:n_ref], our_state[12][:n_ours])
    assert np.array_equal(x, ref.x)
    assert fun == ref.fun
    assert nit == ref.nit
    assert status == (0 if ref.status == 0 else 1)


@pytest.mark.parametrize("stall", [5, 25, 60])
def test_compiled_stall_stop_is_the_python_ones(stall: int) -> None:
    x0 = np.array([0.9, 0.0, 0.2, 0.7, 0.1, 0.4, 0.6])
    state = _trace_state(7)
    x, fun, nit, status = jit.nm_run(state, A, 2, x0, 2100, 1e-4, 1e-6, True, stall, 1e-12)
    ref = nelder_mead(
        lambda z: jit.test_objective(_trace_state(7, 0), 2, z),
        x0,
        maxiter=2100,
        xatol=1e-4,
        fatol=1e-6,
        adaptive=True,
        stall=stall,
    )
    assert np.array_equal(x, ref.x) and fun == ref.fun and nit == ref.nit
    assert ["converged", "maxiter", "stalled"][status] == ref.status
