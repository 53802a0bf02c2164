"""Numerics of the Abadie synthetic control: simplex-constrained least squares and the
nested choice of the predictor weights V. Pure array-in / array-out functions.

Why hand-written: the inner problem is solved thousands of times per fit (once per trial V),
and again for every placebo. A general solver (SLSQP, an interior point) costs milliseconds
per call and stops at a tolerance; the active-set solver below is exact up to rounding and
warm starts from the previous support. Inside the V search (:class:`SimplexSolver`,
:func:`fit_v`) it runs compiled (:mod:`._scm_jit`, numba): in numpy one W solve cost ~50
us, nearly all per-call overhead on arrays of a few entries; compiled it costs ~3-5 us. The
compiled kernels compute the same numbers as the numpy formulation (kept here as
:func:`_nnls_ls` and :func:`simplex_lstsq`, used outside the search), bit for bit: so the
search takes the same path and every fit is the one before compilation (the 240 benchmark
fits are identical; benchmarks/RESULTS_synth.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack

from impacteval.synth._scm_jit import ADDRESSES, fd_gradient, nm_run, scm_objective
from impacteval.synth._scm_jit import weights as _compiled_weights
from impacteval.synth._scm_vsearch import FD_STEP, STALL_RTOL
from impacteval.synth._scm_vsearch import bfgs_forward_difference as _bfgs

_POSV = lapack.dposv
_SUM, _MIN, _MAX = np.add.reduce, np.minimum.reduce, np.maximum.reduce

XATOL = 1e-4
FATOL = 1e-6
BFGS_ITER = 50
MAXITER_PER_K = 200
# a Nelder-Mead run stops after STALL_PER_K * k iterations without a relative gain of its
# best value above 1e-12 (on the 240 benchmark fits, no run that stalled for 150 iterations
# -- k = 6 or 7 -- improved later; some that stalled for 25 or 50 did, by up to 4.7x)
STALL_PER_K = 25

__all__ = [
    "SimplexSolver",
    "VFit",
    "best_of_ties",
    "fit_v",
    "regression_start",
    "scale_predictors",
    "simplex_lstsq",
    "simplex_quadratic",
]


def _tolerance(a: np.ndarray) -> float:
    """Stopping tolerance on the NNLS gradient, relative to the scale of ``a``."""
    scale = float(np.abs(a).max()) if a.size else 1.0
    return float(1e3 * np.finfo(float).eps * max(1.0, scale * scale) * max(a.shape))


def _nnls_ls(a: np.ndarray, b: np.ndarray, start: np.ndarray | None, max_iter: int) -> np.ndarray:
    """min ||a u - b||^2 subject to u >= 0 (Lawson & Hanson 1974, NNLS), optionally
    warm-started from a guessed passive set ``start`` (bool mask).

    The passive-set systems are solved through their normal equations with LAPACK's
    Cholesky ``posv`` (called directly: numpy.linalg.solve costs more in call overhead than
    in arithmetic for these 2-20 column systems); a failed factorisation falls back to a
    least-squares solve.
    """
    n = a.shape[1]
    atb = a.T @ b
    tol = _tolerance(a)
    u = np.zeros(n)
    passive = np.zeros(n, dtype=bool)

    def solve(mask: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(mask)
        ap = a[:, idx]
        _, sol, info = _POSV(ap.T @ ap, atb[idx])
        if info != 0:
            sol = np.linalg.lstsq(ap, b, rcond=None)[0]
        out = np.zeros(n)
        out[idx] = sol.ravel()
        return out

    if start is not None and start.any():
        # shrink the guessed support until its unconstrained optimum is positive: a feasible
        # Lawson-Hanson state from which the main loop continues
        passive = start.copy()
        while passive.any():
            s = solve(passive)
            bad = passive & (s <= 0.0)
            if not bad.any():
                u = s
                break
            passive &= ~bad
    grad = atb - a.T @ (a @ u)
    for _ in range(max_iter):
        cand = np.where(passive, -np.inf, grad)
        j = int(np.argmax(cand))
        if cand[j] <= tol:
            break
        passive[j] = True
        s = solve(passive)
        inner = 0
        while (s[passive] <= 0.0).any() and inner < n:
            inner += 1
            neg = np.flatnonzero(passive & (s <= 0.0))
            ratios = u[neg] / (u[neg] - s[neg])
            alpha = float(ratios.min())
            u = u + alpha * (s - u)
            u[neg[np.argmin(ratios)]] = 0.0  # the blocking variable leaves exactly
            passive &= u > 0.0
            u[~passive] = 0.0
            if not passive.any():
                s = np.zeros(n)
                break
            s = solve(passive)
        u = s
        grad = atb - a.T @ (a @ u)
    return u


def simplex_lstsq(
    a: np.ndarray, b: np.ndarray, start: np.ndarray | None = None, max_iter: int = 500
) -> np.ndarray:
    """Exact ``argmin ||a w - b||^2`` over the unit simplex (w >= 0, sum w = 1).

    Notes
    -----
    With ``D = a - b 1'`` the objective is ``||D w||^2`` on the simplex (the minimum-norm
    point of the convex hull of D's columns). Writing ``u = s w`` with ``s = 1'u``, the
    non-negative least-squares problem ``min_{u >= 0} (1 - 1'u)^2 + ||D u||^2`` equals
    ``(1 - s)^2 + s^2 q`` with ``q = ||D w||^2``; minimised over s this is ``q / (1 + q)``,
    increasing in q, so its solution gives the simplex optimum as ``w = u / 1'u`` exactly
    (no penalty constant; the equality is not approximated). The NNLS is solved on its Gram
    least-squares form.
    """
    d = a - b[:, None]
    e1 = np.zeros(d.shape[0] + 1)
    e1[0] = 1.0
    u = _nnls_ls(np.vstack([np.ones(d.shape[1]), d]), e1, start, max_iter)
    total = u.sum()
    if total <= 0:  # cannot happen for finite data (u = e_j/(1+|d_j|^2) beats 0); guard
        return np.full(d.shape[1], 1.0 / d.shape[1])
    return np.asarray(u / total)


class SimplexSolver:
    """Weights for one treated unit under changing V, warm-started from the last support.

    Parameters
    ----------
    x1 : (k,) scaled predictors of the treated unit.
    x0 : (k, J) scaled predictors of the donors.
    z1 : (T,) fit-period outcomes of the treated unit; z0 : (T, J) of the donors.

    Notes
    -----
    Most calls of a V search change V a little and keep the support of W(V). The fast
    path therefore touches only the support's columns: the scaled columns ``[1; sqrt(V)
    d_S]`` are formed and their normal equations solved; optimality is checked through
    ``d' (V d_S u_S)``, without scaling the other donors' columns. Only when the support
    changes is the full matrix scaled and the active-set NNLS (:func:`_nnls_ls`'s steps)
    run. The work is done by the compiled kernels of :mod:`._scm_jit` on the arrays in
    ``state`` (the same numbers as the numpy formulation, bit for bit; see there).
    """

    def __init__(self, x1: np.ndarray, x0: np.ndarray, z1: np.ndarray, z0: np.ndarray) -> None:
        d = np.ascontiguousarray(x0 - x1[:, None], dtype=float)
        k, n_donors = d.shape
        a = np.vstack([np.ones(n_donors), d])
        e1 = np.zeros(k + 1)
        e1[0] = 1.0
        z1 = np.ascontiguousarray(z1, dtype=float)
        # V sums to one, so sqrt(V) <= 1 scales no entry of ``a`` up: one bound serves all
        floats = np.array([_tolerance(a), float(z1.shape[0]), np.inf])
        self.state = (
            d,
            np.ascontiguousarray(d.T),
            a,
            e1,
            z1,
            np.ascontiguousarray(z0, dtype=float),
            np.zeros(n_donors, dtype=bool),  # support mask
            np.zeros(n_donors, dtype=np.int64),  # support indices
            np.zeros(4, dtype=np.int64),  # support size, W solves, traced evaluations, NNLS runs
            floats,  # NNLS tolerance, T, best loss seen
            np.zeros(k),  # V of the best loss seen
            np.zeros(n_donors),  # W of the best loss seen
            np.zeros((0, k)),  # trace (test objectives only)
        )

    @property
    def n_solves(self) -> int:
        """Number of W solves so far."""
        return int(self.state[8][1])

    @property
    def support(self) -> np.ndarray | None:
        """The support of the last solution (bool mask), None before the first solve."""
        return self.state[6].copy() if self.state[8][0] else None

    @support.setter
    def support(self, mask: np.ndarray | None) -> None:
        mask_, idx, ints = self.state[6], self.state[7], self.state[8]
        mask_[:] = False if mask is None else mask
        found = np.flatnonzero(mask_)
        idx[: found.shape[0]] = found
        ints[0] = found.shape[0]

    def weights(self, v: np.ndarray) -> np.ndarray:
        """W(V) for diagonal V given as a vector."""
        return _compiled_weights(self.state, ADDRESSES, np.ascontiguousarray(v, dtype=float))  # type: ignore[no-any-return]

    def loss(self, v: np.ndarray) -> float:
        """Fit-period MSPE of the outcome at W(V)."""
        w = self.weights(v)
        r = self.state[4] - self.state[5] @ w
        return float(r @ r) / float(r.shape[0])


def scale_predictors(x1: np.ndarray, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Divide each predictor by its sample SD (n - 1) across treated and donors, as Synth.

    A predictor constant across these units (possible inside a placebo fit, where the real
    treated unit is left out) carries no information: it is left unscaled (SD taken as 1)
    rather than divided by zero; its difference to any synthetic unit is 0 either way.
    """
    both = np.column_stack([x0, x1])
    sd = both.std(axis=1, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)
    return x1 / sd, x0 / sd[:, None], sd


def regression_start(x1: np.ndarray, x0: np.ndarray, z1: np.ndarray, z0: np.ndarray) -> np.ndarray:
    """Synth's data-driven start: regress every fit-period outcome on the scaled predictors
    (with intercept) across all units; V proportional to the squared coefficients summed
    over periods. Falls back to equal weights when the regression is singular."""
    k = x0.shape[0]
    xmat = np.column_stack([np.ones(x0.shape[1] + 1), np.column_stack([x0, x1]).T])
    zmat = np.column_stack([z0, z1]).T
    beta, _, rank, _ = np.linalg.lstsq(xmat, zmat, rcond=None)
    if rank < xmat.shape[1]:
        return np.full(k, 1.0 / k)
    v = (beta[1:] ** 2).sum(axis=1)
    if not np.isfinite(v).all() or v.sum() <= 0:
        return np.full(k, 1.0 / k)
    return np.asarray(v / v.sum())


# a W counts as fitting the predictors as well as W(V) when its V-weighted loss exceeds the
# minimum by at most this fraction of the loss of equal donor weights (rounding level)
TIE_RTOL = 1e-10
TIE_RHO = (1e2, 1e3, 1e4, 1e5)  # penalty weights of the tie constraint, relative


def best_of_ties(
    x1: np.ndarray, x0: np.ndarray, z1: np.ndarray, z0: np.ndarray, v: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """Among the W that minimise the V-weighted predictor loss, the best outcome fit.

    The minimisers of ``||sqrt(V) (x1 - x0 w)||^2`` over the simplex all give the same
    fitted predictors ``c = sqrt(V) x0 w`` (the loss is strictly convex in them), so they
    form the polytope ``{w in simplex : sqrt(V) x0 w = c}``. It is a single point in the
    usual case (checked first, by :func:`_unique_minimiser`); it is larger when the treated
    unit's predictors lie inside the donors' convex hull (every W matching them exactly is
    a minimiser, for every V) or V has zero entries. W(V) is then not unique, and a solver
    returns one of them arbitrarily (the active set a vertex, an interior point an interior
    point). This returns the one with the smallest fit-period outcome MSPE, so the fit
    reported is the best the estimator defines (the "optimistic" bilevel solution).

    The polytope is imposed by a penalty: ``min ||z1 - z0 w||^2 / T + rho^2 ||sqrt(V) x0 w -
    c||^2`` over the simplex, solved exactly by :func:`simplex_lstsq` for increasing
    ``rho`` (relative to the two blocks' scales). A solution is only accepted if it fits the
    predictors as well as ``w`` (to ``TIE_RTOL`` of the loss of equal donor weights) and the
    outcome strictly better; otherwise ``w`` stands. (A general solver with the equality
    constraints, SLSQP, gave the same answers but took seconds per fit on 200 donors.)
    """
    sv = np.sqrt(v)
    a, b = x0 * sv[:, None], x1 * sv
    fitted = a @ w
    inner = float(np.sum((b - fitted) ** 2))
    if _unique_minimiser(a, b, w):
        return w
    scale = float(np.sum((b - a.mean(axis=1)) ** 2))
    limit = inner + TIE_RTOL * max(scale, inner)
    n_t = float(z1.shape[0])
    e, f = z0 / np.sqrt(n_t), z1 / np.sqrt(n_t)

    def outer(u: np.ndarray) -> float:
        r = f - e @ u
        return float(r @ r)

    norm_a = float(np.linalg.norm(a))
    if norm_a == 0.0:
        return w
    unit = float(np.linalg.norm(e)) / norm_a
    best, best_loss = w, outer(w)
    cons = np.vstack([np.ones(w.shape[0]), a])
    target = np.r_[1.0, fitted]
    for rel in TIE_RHO:
        rho = rel * unit
        u = simplex_lstsq(np.vstack([rho * a, e]), np.r_[rho * fitted, f])
        # the penalty leaves a rounding-level misfit of the predictors; re-solve on its
        # support with the constraints exact, and use that whenever it is valid
        exact = _polish_on_support(e, f, cons, target, u > 0)
        cand = exact if exact is not None else u
        loss = outer(cand)
        tied = float(np.sum((b - a @ cand) ** 2)) <= limit
        if tied and loss < best_loss - 1e-12 * max(best_loss, 1.0):
            best, best_loss = cand, loss
    return best


def _polish_on_support(
    e: np.ndarray, f: np.ndarray, cons: np.ndarray, target: np.ndarray, support: np.ndarray
) -> np.ndarray | None:
    """``argmin ||e w - f||`` with ``cons w = target`` exactly, on ``support`` (KKT system,
    least squares where it is singular); None when the solution is not non-negative."""
    idx = np.flatnonzero(support)
    es, cs = e[:, idx], cons[:, idx]
    m = cs.shape[0]
    kkt = np.block([[es.T @ es, cs.T], [cs, np.zeros((m, m))]])
    rhs = np.r_[es.T @ f, target]
    sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0][: idx.size]
    if not np.all(np.isfinite(sol)) or sol.min() < 0.0:
        return None
    out = np.zeros(e.shape[1])
    out[idx] = sol
    return out


def _unique_minimiser(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> bool:
    """A certificate that ``w`` is the only minimiser of ``||b - a w||^2`` on the simplex.

    Any other minimiser differs by a direction ``d`` with ``a d = 0`` and ``1'd = 0`` that
    may only enter donors outside the support; along it the loss is flat, so every donor it
    enters has a zero reduced gradient. With strictly positive reduced gradients off the
    support, ``d`` lives on the support, where linearly independent columns of ``[1; a]``
    leave only ``d = 0``. False means "maybe not unique" (including near-ties).
    """
    support = w > 0
    r = b - a @ w
    g = -2.0 * (a.T @ r)
    lam = float(np.mean(g[support]))
    # rounding level of the reduced gradient; inside the hull (r ~ 0) every donor is tied
    tol = 1e-9 * float(np.linalg.norm(a)) * (float(np.linalg.norm(r)) + float(np.linalg.norm(b)))
    if np.any(g[~support] - lam <= tol):
        return False
    cols = np.vstack([np.ones(int(support.sum())), a[:, support]])
    return bool(np.linalg.matrix_rank(cols) == cols.shape[1])


@dataclass(frozen=True)
class VFit:
    """Outcome of the V search."""

    v: np.ndarray
    w: np.ndarray
    loss: float
    starts: tuple[tuple[str, float], ...]
    n_solves: int


def _to_v(theta: np.ndarray) -> np.ndarray:
    sq = theta * theta
    total = float(_SUM(sq))
    if not math.isfinite(total) or total <= 0:
        return np.full(theta.shape[0], 1.0 / theta.shape[0])
    return sq / total  # type: ignore[no-any-return]


def fit_v(
    x1: np.ndarray,
    x0: np.ndarray,
    z1: np.ndarray,
    z0: np.ndarray,
    *,
    n_random: int = 3,
    seed: int = 0,
    maxiter: int | None = None,
) -> VFit:
    """Choose diagonal V (sum 1) minimising the fit-period outcome MSPE of W(V).

    Starts: equal weights, Synth's regression start and ``n_random`` Dirichlet draws
    (seeded). From each, Nelder-Mead on ``V = theta^2 / sum(theta^2)`` (scipy's algorithm,
    stopped once its best value has not improved by more than 1e-12 relatively over
    ``STALL_PER_K * k`` iterations) followed by a BFGS polish (forward differences); the
    best fit over all starts is kept (ties go to the earlier start). The
    result is the best fit any evaluation reached, with the W that produced it: where V has
    zero entries W(V) need not be unique, and re-solving could return another minimiser
    with a worse outcome fit (Prop 99's Georgia placebo: 2.99 instead of 1.41).
    """
    k = x0.shape[0]
    solver = SimplexSolver(x1, x0, z1, z0)
    if k == 1:
        v = np.ones(1)
        w = solver.weights(v)
        r = z1 - z0 @ w
        return VFit(v, w, float(r @ r) / r.shape[0], (("single predictor", 0.0),), 1)
    rng = np.random.default_rng(seed)
    starts: list[tuple[str, np.ndarray]] = [
        ("equal", np.full(k, 1.0 / k)),
        ("regression", regression_start(x1, x0, z1, z0)),
    ]
    starts += [(f"random {i + 1}", rng.dirichlet(np.ones(k))) for i in range(n_random)]

    iters = maxiter or MAXITER_PER_K * k
    record: list[tuple[str, float]] = []
    st, addrs = solver.state, ADDRESSES

    def objective(theta: np.ndarray) -> float:
        # the compiled objective keeps the W that produced the best fit: where V has zero
        # entries W(V) may not be unique, and a fresh solve could return another minimiser
        return float(scm_objective(st, addrs, theta))

    def differences(theta: np.ndarray, f0: float) -> np.ndarray:
        return fd_gradient(st, addrs, 0, theta, f0, FD_STEP)  # type: ignore[no-any-return]

    for name, v0 in starts:
        solver.support = None
        theta0 = np.sqrt(np.maximum(v0, 1e-12))
        f0 = objective(theta0)
        theta, val, _, _ = nm_run(
            st, addrs, 0, theta0, iters, XATOL, FATOL * f0, k > 4, STALL_PER_K * k, STALL_RTOL
        )
        _, val_b = _bfgs(objective, theta, maxiter=BFGS_ITER, gtol=1e-9, differences=differences)
        record.append((name, val_b if val_b < val else float(val)))
    # report the best fit the search evaluated, with the very W that produced it
    v, w = st[10].copy(), st[11].copy()
    r = z1 - z0 @ w
    return VFit(v, w, float(r @ r) / r.shape[0], tuple(record), solver.n_solves)


def simplex_quadratic(
    g2: np.ndarray,
    h: np.ndarray,
    *,
    start: np.ndarray | None = None,
    max_iter: int | None = None,
) -> np.ndarray:
    """Exact ``argmin_w w'(G2/2)w + h'w`` over the unit simplex, ``G2`` positive semidefinite.

    The shared solver of the penalized synthetic control (``G2 = 2 D'D``, ``h = lam c``)
    and of scpi's in-sample bounds (``G2 = 2 Q``, ``h = -q``). Primal active set: start at
    the best vertex (``argmin_j G2_jj / 2 + h_j``), or at ``start`` (a guessed support,
    shrunk until the equality-constrained optimum on it is positive); add the coordinate
    with the most negative reduced gradient ``g_j - mu`` (``g = G2 w + h``, ``mu`` the
    common gradient on the support); solve the equality-constrained problem on the
    support and step back to feasibility as Lawson-Hanson do when a weight would turn
    negative. When the support has more points than ``G2`` can fix (the KKT matrix
    singular), the objective is linear along the null direction and falls along it, so
    the step runs until a weight reaches zero. Stops when no reduced gradient is below
    ``-tol`` (the KKT conditions, to rounding).
    """
    n = h.shape[0]
    scale = max(float(np.abs(g2).max(initial=0.0)), float(np.abs(h).max(initial=0.0)), 1e-300)
    tol = 1e4 * np.finfo(float).eps * scale
    w = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    if start is not None and start.any():
        passive = start.copy()
        while passive.any():
            sol, _ = _kkt_solve(g2, h, np.flatnonzero(passive))
            if sol is None:
                passive[:] = False
                break
            bad = np.flatnonzero(passive)[sol <= 0.0]
            if bad.size == 0:
                w[passive] = sol
                break
            passive[bad] = False
    if not passive.any():
        w[:] = 0.0
        j0 = int(np.argmin(0.5 * np.diag(g2) + h))
        w[j0] = 1.0
        passive[j0] = True
    for _ in range(max_iter or 20 * n + 20):
        g = g2 @ w + h
        mu = float(g[passive].mean())
        red = np.where(passive, np.inf, g - mu)
        j = int(np.argmin(red))
        if red[j] >= -tol:
            break
        passive[j] = True
        w = _inner(g2, h, w, passive, j, n)
    w = np.maximum(w, 0.0)
    return np.asarray(w / w.sum())


def _kkt_solve(
    g2: np.ndarray, h: np.ndarray, idx: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray]:
    """Minimiser of ``w'Gw + h'w`` on ``{1'w = 1}`` over the coordinates ``idx``.

    Returns ``(solution, null)``: the solution, or None with ``null`` a direction ``d``
    (``G d = 0``, ``1'd = 0``) along which the objective is linear, when the KKT matrix is
    singular (more support points than the predictors can pin down).
    """
    n = idx.shape[0]
    kkt = np.zeros((n + 1, n + 1))
    kkt[:n, :n] = g2[np.ix_(idx, idx)]
    kkt[:n, n] = 1.0
    kkt[n, :n] = 1.0
    rhs = np.r_[-h[idx], 1.0]
    _, s, vt = np.linalg.svd(kkt)
    if s[-1] <= 1e-12 * s[0]:
        return None, vt[-1, :n]
    sol = np.linalg.solve(kkt, rhs)
    return sol[:n], np.zeros(n)


def _inner(
    g2: np.ndarray, h: np.ndarray, w: np.ndarray, passive: np.ndarray, new: int, n: int
) -> np.ndarray:
    """Re-optimise on the support after donor ``new`` joined it (modifies ``passive``)."""
    w = w.copy()
    for _ in range(2 * n + 2):
        idx = np.flatnonzero(passive)
        sol, null = _kkt_solve(g2, h, idx)
        if sol is None:
            # linear along null: orient it downhill and step until a weight hits zero
            g = g2 @ w + h
            if float(g[idx] @ null) > 0.0 or (
                float(g[idx] @ null) == 0.0 and null[idx == new].sum() < 0
            ):
                null = -null
            neg = null < 0.0
            if not neg.any():  # cannot happen (1'd = 0, d != 0); guard
                break
            ratios = w[idx[neg]] / -null[neg]
            t = float(ratios.min())
            w[idx] = w[idx] + t * null
            block = idx[neg][int(np.argmin(ratios))]
            w[block] = 0.0
            passive[block] = False
            w[~passive] = 0.0
            continue
        s = np.zeros(n)
        s[idx] = sol
        if sol.min() > 0.0:
            return s
        out = idx[sol <= 0.0]
        ratios = w[out] / (w[out] - s[out])
        alpha = float(ratios.min())
        w = w + alpha * (s - w)
        w[out[int(np.argmin(ratios))]] = 0.0
        passive &= w > 0.0
        w[~passive] = 0.0
        if not passive.any():  # cannot happen (the weights sum to one); guard
            passive[new] = True
            w[new] = 1.0
            return w
    return w
