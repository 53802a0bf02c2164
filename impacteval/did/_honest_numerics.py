"""Numerics of the Rambachan-Roth sensitivity analysis: pure arrays in, arrays out.

Notation (Rambachan & Roth 2023, section 2). The event-study coefficients are stacked as
``beta = (beta_pre, beta_post)`` with ``T_pre`` pre-treatment and ``T_post`` post-treatment
coefficients, the reference period (normalised to 0) excluded, and
``beta_hat ~ N(beta, Sigma)``. They decompose as ``beta = tau + delta`` with
``tau_pre = 0``: ``delta`` is the difference in trends (the bias). The target is
``theta = l' tau_post``. Periods are indexed ``t = -T_pre, ..., -1, 0, 1, ..., T_post``
with ``t = 0`` the reference period (``delta_0 = 0``, its column dropped), so event time
``e >= 0`` is ``t = e + 1``.

Restrictions on ``delta`` (each a union of polyhedra ``{delta : A delta <= d}``):

* smoothness ``Delta^SD(M)``: ``|delta_{t+1} - 2 delta_t + delta_{t-1}| <= M`` for every
  interior ``t`` (one polyhedron; ``M = 0`` allows exactly the linear trends);
* relative magnitudes ``Delta^RM(Mbar)``: every post-treatment first difference is at
  most ``Mbar`` times the largest pre-treatment first difference in absolute value.
  This is the union over the pre-period ``s`` carrying the maximum and its sign of the
  polyhedra ``Delta^RM_{s,+/-}`` (Rambachan & Roth 2023, section 2.4.1 and appendix).

Inference:

* :func:`flci` -- the fixed-length confidence interval of Armstrong & Kolesar (2018) for
  the affine estimators ``v' beta_hat`` whose worst-case bias over ``Delta^SD(M)`` is
  finite. Writing ``v = D' lambda`` with ``D`` the second-difference operator, the
  worst-case bias is ``M ||lambda||_1`` (the LP dual of ``max v'delta`` subject to
  ``|D delta| <= M``; ``D'`` has full column rank so ``lambda`` is unique), and unbiasedness
  for ``tau_post`` forces ``(D' lambda)_post = l``. The interval is
  ``v' beta_hat +/- cv_alpha(b / s) s`` with ``s = sd(v' beta_hat)``, ``b`` the worst-case
  bias and ``cv_alpha(t)`` the ``1 - alpha`` quantile of ``|N(t, 1)|``. The length is
  minimised along the convex frontier ``s(B) = min {sd : ||lambda||_1 <= B}`` (a small
  quadratic programme per ``B``), by a grid then a bounded Brent search over ``B``.
* :class:`MomentTest` -- the conditional and conditional-least-favourable hybrid tests of
  Andrews, Roth & Pakes (2023) for ``H0: theta = theta0``. Under ``H0`` the moments
  ``Y(theta0) - X nu = A beta_hat - d - A_post (l theta0 / l'l) - A_post N nu`` (``N`` a
  basis of the null space of ``l'``, ``nu`` the free part of ``tau_post``) have mean
  ``<= 0`` for some ``nu``. The statistic is the LP value
  ``eta = min {eta : Y - X nu <= eta sigma_tilde}``, ``sigma_tilde = sd(Y)``, whose dual is
  ``max gamma'Y`` over ``{gamma >= 0, X'gamma = 0, sigma_tilde'gamma = 1}``. That polytope
  does not depend on ``theta0``, so its vertices are enumerated once (every basic
  solution) and ``eta(theta0)`` is a maximum of linear functions: the test is evaluated on
  a whole grid of ``theta0`` by matrix products, without one LP per grid point. Given the
  optimal vertex ``gamma``, ``eta`` is normal with variance ``gamma' Sigma_Y gamma``,
  truncated to ``[V_lo, V_up]``, the values for which ``gamma`` stays optimal
  (ARP Lemma 9; computed exactly over the vertices). The hybrid first rejects when
  ``eta`` exceeds the least-favourable critical value ``c_LF`` (the ``1 - kappa``
  quantile of the LP value at ``Y ~ N(0, Sigma_Y)``, simulated with a fixed seed), then
  runs the conditional test at level ``(alpha - kappa) / (1 - kappa)`` with ``V_up``
  capped at ``c_LF``; ``kappa = alpha / 10`` as in HonestDiD. As in HonestDiD, only the
  moments that involve post-treatment coefficients are used when ``T_post > 1``. With one
  post-treatment coefficient (no nuisance parameter) the same hybrid is used; R HonestDiD
  there runs its second stage at level ``alpha`` without the cap at ``c_LF``
  (``.testInIdentifiedSet_LF_Hybrid``), which is not the ARP hybrid, so its C-LF intervals
  can differ from these when ``T_post = 1`` (the conditional ones do not).

The confidence set is the set of ``theta0`` not rejected (for ``Delta^RM``: not rejected
for at least one polyhedron of the union), reported as its smallest and largest points;
they are located on a grid and then refined by bisection.

References
----------
Rambachan, A. and Roth, J. (2023). A more credible approach to parallel trends. Review of
Economic Studies 90(5), 2555-2591. R package HonestDiD.
Armstrong, T. B. and Kolesar, M. (2018). Optimal inference in a class of regression
models. Econometrica 86(2), 655-683.
Andrews, I., Roth, J. and Pakes, A. (2023). Inference for linear conditional moment
inequalities. Review of Economic Studies 90(6), 2763-2791.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize, special, stats

from impacteval.exceptions import NumericalError

__all__ = [
    "MAX_BASES",
    "FLCIResult",
    "MomentTest",
    "Polyhedron",
    "confidence_set",
    "flci",
    "fold_normal_cv",
    "null_basis",
    "rm_polyhedra",
    "sd_polyhedron",
    "second_differences",
    "union_accepts",
]

Array = np.ndarray

# Largest number of candidate bases (row subsets) enumerated for the dual polytope's vertices.
MAX_BASES = 300_000


@dataclass(frozen=True)
class Polyhedron:
    """``{delta : A delta <= d}`` over the ``T_pre + T_post`` non-reference periods."""

    A: Array
    d: Array


# ---------------------------------------------------------------------------------------
# Restriction sets
# ---------------------------------------------------------------------------------------
def _first_differences(n_pre: int, n_post: int) -> Array:
    """Rows ``delta_t - delta_{t-1}`` for ``t = -T_pre + 1, ..., T_post`` (full index)."""
    n = n_pre + n_post
    f = np.zeros((n, n + 1))
    idx = np.arange(n)
    f[idx, idx] = -1.0
    f[idx, idx + 1] = 1.0
    return f


def second_differences(n_pre: int, n_post: int) -> Array:
    """``D``: rows ``delta_{t-1} - 2 delta_t + delta_{t+1}``, reference column dropped."""
    n = n_pre + n_post
    full = np.zeros((n - 1, n + 1))
    idx = np.arange(n - 1)
    full[idx, idx] = 1.0
    full[idx, idx + 1] = -2.0
    full[idx, idx + 2] = 1.0
    return np.delete(full, n_pre, axis=1)


def sd_polyhedron(n_pre: int, n_post: int, m: float) -> Polyhedron:
    """``Delta^SD(M)``: ``|D delta| <= M`` written as ``[D; -D] delta <= M``."""
    d2 = second_differences(n_pre, n_post)
    return Polyhedron(np.vstack([d2, -d2]), np.full(2 * d2.shape[0], float(m)))


def rm_polyhedra(n_pre: int, n_post: int, m_bar: float) -> list[Polyhedron]:
    """The ``2 T_pre`` polyhedra ``Delta^RM_{s,+/-}(Mbar)`` whose union is ``Delta^RM``.

    For the pre-period first difference ``s`` and sign ``+/-``, ``u = +/-(delta_s -
    delta_{s-1})`` is the largest pre-period difference: ``|F_r delta| <= u`` for every
    pre-period difference ``r`` and ``|F_t delta| <= Mbar u`` for every post-period ``t``.
    """
    f = _first_differences(n_pre, n_post)
    out = []
    for s in range(n_pre):
        for sign in (1.0, -1.0):
            u = sign * f[s]
            bound = np.vstack([np.tile(u, (n_pre, 1)), np.tile(m_bar * u, (n_post, 1))])
            a = np.vstack([f - bound, -f - bound])
            a = a[np.einsum("ij,ij->i", a, a) > 1e-10]
            a = np.delete(a, n_pre, axis=1)
            out.append(Polyhedron(a, np.zeros(a.shape[0])))
    return out


# ---------------------------------------------------------------------------------------
# Fixed-length confidence interval (Armstrong & Kolesar 2018) for Delta^SD(M)
# ---------------------------------------------------------------------------------------
def fold_normal_cv(t: float, alpha: float) -> float:
    """``cv_alpha(t)``: the ``1 - alpha`` quantile of ``|N(t, 1)|``.

    ``sqrt`` of the quantile of a non-central chi-square with one degree of freedom and
    non-centrality ``t^2``; ``z_{1 - alpha/2}`` at ``t = 0``.
    """
    if t <= 1e-10:
        return float(-special.ndtri(alpha / 2.0))
    return float(np.sqrt(stats.ncx2.ppf(1.0 - alpha, 1, t * t)))


@dataclass(frozen=True)
class FLCIResult:
    """The optimal fixed-length interval: ``center +/- half_length``."""

    center: float
    half_length: float
    weights: Array  # v, the estimator is v' beta_hat
    max_bias: float
    std_error: float


def flci(
    betahat: Array, sigma: Array, n_pre: int, n_post: int, l_vec: Array, m: float, alpha: float
) -> FLCIResult:
    """Armstrong-Kolesar optimal FLCI for ``l' tau_post`` under ``Delta^SD(M)``.

    Parametrised by ``lambda`` (``v = D' lambda``): the bias bound is ``M ||lambda||_1``
    and the variance ``lambda' Q lambda`` with ``Q = D Sigma D'``; the constraint
    ``E lambda = l`` (``E = D[:, post]'``) makes ``v_post = l``. The frontier runs from the
    least-bias ``lambda`` (an LP) to the least-variance one (closed form, a GLS
    extrapolation of a linear pre-trend); the half-length ``cv_alpha(M B / s(B)) s(B)`` is
    minimised over ``B`` on that segment.
    """
    d2 = second_differences(n_pre, n_post)
    e = d2[:, n_pre:].T
    q = d2 @ sigma @ d2.T
    q = (q + q.T) / 2.0
    k = d2.shape[0]
    qi_et = linalg.solve(q, e.T, assume_a="pos")
    lam_var = qi_et @ linalg.solve(e @ qi_et, l_vec)
    b_max = float(np.abs(lam_var).sum())

    def summary(lam: Array, bias_norm: float) -> FLCIResult:
        v = d2.T @ lam
        sd = float(np.sqrt(max(float(lam @ q @ lam), 0.0)))
        bias = m * bias_norm
        half = fold_normal_cv(bias / sd, alpha) * sd if sd > 0 else bias
        return FLCIResult(float(v @ betahat), float(half), v, float(bias), sd)

    if m == 0.0:
        return summary(lam_var, b_max)
    lp = optimize.linprog(
        np.ones(2 * k), A_eq=np.hstack([e, -e]), b_eq=l_vec, bounds=(0, None), method="highs"
    )
    if lp.status != 0:
        raise NumericalError(f"FLCI: the least-bias linear programme failed ({lp.message})")
    b_min = float(lp.fun)
    if b_max - b_min <= 1e-10 * max(1.0, b_max):
        return summary(lam_var, b_max)
    cache: dict[float, Array] = {}

    def lam_at(bound: float) -> Array:
        if bound not in cache:
            cache[bound] = _min_variance_given_bias(q, e, l_vec, bound, lam_var, lp.x)
        return cache[bound]

    def half_length(bound: float) -> float:
        lam = lam_at(bound)
        return summary(lam, float(np.abs(lam).sum())).half_length

    grid = np.linspace(b_min, b_max, 12)
    values = np.array([half_length(float(b)) for b in grid])
    i = int(np.argmin(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    best = optimize.minimize_scalar(
        half_length,
        bounds=(float(lo), float(hi)),
        method="bounded",
        options={"xatol": 1e-6 * (b_max - b_min)},
    )
    b_opt = float(best.x) if best.fun <= values[i] else float(grid[i])
    lam = lam_at(b_opt)
    return summary(lam, float(np.abs(lam).sum()))


def _min_variance_given_bias(
    q: Array, e: Array, l_vec: Array, bound: float, lam_var: Array, lp_x: Array
) -> Array:
    """``argmin lambda'Q lambda`` s.t. ``E lambda = l`` and ``||lambda||_1 <= bound``.

    Solved by SLSQP on ``lambda = p - n`` with ``p, n >= 0`` (a convex QP), started from
    the point of the segment between the least-bias and least-variance solutions whose
    L1 norm is ``bound``.
    """
    k = q.shape[0]
    lam_b = lp_x[:k] - lp_x[k:]
    b0, b1 = float(np.abs(lam_b).sum()), float(np.abs(lam_var).sum())
    w = 0.0 if b1 <= b0 else min(max((bound - b0) / (b1 - b0), 0.0), 1.0)
    start = (1 - w) * lam_b + w * lam_var
    x0 = np.concatenate([np.maximum(start, 0.0), np.maximum(-start, 0.0)])
    ee = np.hstack([e, -e])

    def fun(x: Array) -> tuple[float, Array]:
        lam = x[:k] - x[k:]
        g = 2.0 * q @ lam
        return float(lam @ q @ lam), np.concatenate([g, -g])

    res = optimize.minimize(
        fun,
        x0,
        jac=True,
        method="SLSQP",
        bounds=[(0.0, None)] * (2 * k),
        constraints=[
            {"type": "eq", "fun": lambda x: ee @ x - l_vec, "jac": lambda x: ee},
            {"type": "ineq", "fun": lambda x: bound - x.sum(), "jac": lambda x: -np.ones(2 * k)},
        ],
        options={"ftol": 1e-14, "maxiter": 500},
    )
    x = res.x if res.success else x0
    return np.asarray(x[:k] - x[k:])


# ---------------------------------------------------------------------------------------
# Conditional and hybrid moment-inequality tests (Andrews, Roth & Pakes 2023)
# ---------------------------------------------------------------------------------------
def null_basis(l_vec: Array) -> Array:
    """Orthonormal basis of ``{x : l'x = 0}`` (``T_post x (T_post - 1)``)."""
    return np.asarray(linalg.null_space(l_vec[None, :]))


def _dual_vertices(x: Array, sd: Array) -> Array:
    """Vertices of ``{gamma >= 0, X'gamma = 0, sd'gamma = 1}`` as rows.

    Every vertex is a basic feasible solution: ``r + 1`` rows (``r = rank X``) whose
    square system ``[Q_S'; sd_S'] gamma_S = e_{r+1}`` (``Q`` an orthonormal basis of
    ``col(X)``) is non-singular with a non-negative solution. All row subsets are solved
    in batches; duplicates (degenerate vertices) are removed.
    """
    m = x.shape[0]
    if x.shape[1] > 0:
        u, sv, _ = np.linalg.svd(x, full_matrices=False)
        basis = u[:, sv > 1e-10 * max(sv.max(), 1.0)]
    else:
        basis = np.zeros((m, 0))
    r = basis.shape[1]
    size = r + 1
    if size > m:
        return np.zeros((0, m))
    n_sub = math.comb(m, size)
    if n_sub > MAX_BASES:
        raise NumericalError(
            f"the moment-inequality test would enumerate {n_sub:,} candidate bases "
            f"(> {MAX_BASES:,}); use fewer event times (e.g. `ci_method='FLCI'` for "
            "smoothness, or a shorter event window)"
        )
    rows = np.column_stack([basis, sd])  # m x (r + 1)
    rhs = np.zeros(size)
    rhs[-1] = 1.0
    found = []
    combos = itertools.combinations(range(m), size)
    while True:
        chunk = np.array(list(itertools.islice(combos, 20_000)), dtype=np.intp)
        if chunk.size == 0:
            break
        mats = np.transpose(rows[chunk], (0, 2, 1))  # (c, r+1, r+1): column j is row S_j
        scale = np.prod(np.linalg.norm(mats, axis=1), axis=1)
        det = np.linalg.det(mats)
        ok = np.abs(det) > 1e-10 * np.maximum(scale, 1e-300)
        if not ok.any():
            continue
        sol = np.linalg.solve(mats[ok], np.broadcast_to(rhs, (int(ok.sum()), size))[..., None])
        sol = sol[..., 0]
        feas = np.all(sol >= -1e-10, axis=1)
        if not feas.any():
            continue
        gam = np.zeros((int(feas.sum()), m))
        np.put_along_axis(gam, chunk[ok][feas], np.maximum(sol[feas], 0.0), axis=1)
        found.append(gam)
    if not found:
        return np.zeros((0, m))
    allv = np.vstack(found)
    _, keep = np.unique(np.round(allv, 10), axis=0, return_index=True)
    return np.asarray(allv[np.sort(keep)])


class MomentTest:
    """ARP conditional / hybrid test of ``theta = theta0`` for one polyhedron.

    Built once per polyhedron (vertices, variances, the least-favourable critical value);
    :meth:`accepts` then evaluates any number of ``theta0`` at once.
    """

    def __init__(
        self,
        betahat: Array,
        sigma: Array,
        n_pre: int,
        l_vec: Array,
        poly: Polyhedron,
        alpha: float,
        *,
        hybrid: bool,
        n_sims: int,
        seed: int,
    ) -> None:
        a_mat, d = poly.A, poly.d
        n_post = l_vec.size
        if n_post > 1:  # HonestDiD's postPeriodMomentsOnly
            keep = np.any(a_mat[:, n_pre:] != 0.0, axis=1)
            a_mat, d = a_mat[keep], d[keep]
        a_post = a_mat[:, n_pre:]
        sigma_y = a_mat @ sigma @ a_mat.T
        self.sigma_y = (sigma_y + sigma_y.T) / 2.0
        sd = np.sqrt(np.clip(np.diag(self.sigma_y), 0.0, None))
        if np.any(sd <= 0):
            raise NumericalError("a moment of the restriction has zero variance")
        y0 = a_mat @ betahat - d
        slope = a_post @ l_vec / float(l_vec @ l_vec)  # Y(theta) = y0 - slope * theta
        x = a_post @ null_basis(l_vec) if n_post > 1 else np.zeros((a_mat.shape[0], 0))
        self.vertices = _dual_vertices(x, sd)
        g = self.vertices
        self.g_y0 = g @ y0
        self.g_slope = g @ slope
        self.g_sigma = g @ self.sigma_y  # rows: Sigma_Y gamma_j
        self.var = np.einsum("ij,ij->i", self.g_sigma, g)
        self.alpha = alpha
        self.hybrid = hybrid
        self.kappa = alpha / 10.0
        self.c_lf = math.inf
        if hybrid and g.shape[0] > 0:
            w, vecs = linalg.eigh(self.sigma_y)
            root = vecs * np.sqrt(np.clip(w, 0.0, None))
            draws = root @ np.random.default_rng(seed).standard_normal((root.shape[1], n_sims))
            stat = np.max(g @ draws, axis=0)
            self.c_lf = float(np.quantile(stat, 1.0 - self.kappa))

    def accepts(self, theta: Array) -> Array:
        """Boolean array: ``theta0`` values not rejected at level ``alpha``."""
        theta = np.atleast_1d(np.asarray(theta, dtype=float))
        if self.vertices.shape[0] == 0:  # primal unbounded below: eta = -inf
            return np.ones(theta.size, dtype=bool)
        out = np.empty(theta.size, dtype=bool)
        step = max(1, 2_000_000 // self.vertices.shape[0])
        for start in range(0, theta.size, step):
            out[start : start + step] = self._accepts(theta[start : start + step])
        return out

    def _accepts(self, theta: Array) -> Array:
        vals = self.g_y0[:, None] - self.g_slope[:, None] * theta[None, :]  # gamma_j'Y
        best = np.argmax(vals, axis=0)
        cols = np.arange(theta.size)
        eta = vals[best, cols]
        var = self.var[best]
        # a vertex mixing a moment with its mirror image has a constant gamma'Y: eta is
        # then deterministic and the test rejects exactly when it is positive
        fixed = var <= 1e-12 * max(float(self.var.max()), 1e-300)
        var = np.where(fixed, 1.0, var)
        # gamma_j'c with c = Sigma_Y gamma* / var*: slopes of the other vertices along c
        gc = (self.vertices @ self.g_sigma[best].T) / var[None, :]
        gs = vals - gc * eta[None, :]  # gamma_j'S, S = Y - c eta
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = gs / (1.0 - gc)
        tol = 1e-9
        v_lo = np.max(np.where(gc < 1.0 - tol, ratio, -np.inf), axis=0)
        v_up = np.min(np.where(gc > 1.0 + tol, ratio, np.inf), axis=0)
        level = self.alpha
        if self.hybrid:
            v_up = np.minimum(v_up, self.c_lf)
            level = (self.alpha - self.kappa) / (1.0 - self.kappa)
        sd = np.sqrt(var)
        tail = _truncated_tail(eta / sd, v_lo / sd, v_up / sd)
        reject = tail <= level
        if self.hybrid:
            reject |= eta > self.c_lf
        reject = np.where(fixed, eta > 0.0, reject)
        return np.asarray(~reject)


def _truncated_tail(z: Array, lo: Array, up: Array) -> Array:
    """``P(Z >= z | lo <= Z <= up)`` for standard normal ``Z``, stable in both tails."""
    z = np.clip(z, lo, up)
    right = lo > 0  # all mass in the right tail: use survival functions
    with np.errstate(divide="ignore", invalid="ignore"):
        num = np.where(
            right, special.ndtr(-z) - special.ndtr(-up), special.ndtr(up) - special.ndtr(z)
        )
        den = np.where(
            right, special.ndtr(-lo) - special.ndtr(-up), special.ndtr(up) - special.ndtr(lo)
        )
        tail = num / den
    return np.where(den > 0, np.clip(tail, 0.0, 1.0), 1.0)


def confidence_set(
    accepts: Callable[[Array], Array],
    center: float,
    width: float,
    *,
    n_grid: int = 400,
    max_expand: int = 8,
    bisect_steps: int = 4,
) -> tuple[float, float]:
    """Smallest and largest ``theta0`` accepted, searched on ``center +/- width``.

    The grid is doubled while its ends are still accepted (infinite ends after
    ``max_expand`` doublings); each end is then refined by bisection between the last
    accepted and the first rejected grid point (to ``width / n_grid / 50**bisect_steps``).
    Returns NaNs when no point is accepted.
    """
    for _ in range(max_expand + 1):
        grid = np.linspace(center - width, center + width, n_grid)
        ok = accepts(grid)
        if not ok.any():
            return (math.nan, math.nan)
        first, last = int(np.argmax(ok)), int(ok.size - 1 - np.argmax(ok[::-1]))
        if first > 0 and last < ok.size - 1:
            break
        width *= 2.0
    else:
        lo = -math.inf if ok[0] else _bisect(accepts, grid[first - 1], grid[first], bisect_steps)
        hi = math.inf if ok[-1] else _bisect(accepts, grid[last + 1], grid[last], bisect_steps)
        return (lo, hi)
    lo = _bisect(accepts, float(grid[first - 1]), float(grid[first]), bisect_steps)
    hi = _bisect(accepts, float(grid[last + 1]), float(grid[last]), bisect_steps)
    return (lo, hi)


def _bisect(accepts: Callable[[Array], Array], out: float, inside: float, steps: int) -> float:
    """Boundary between a rejected point ``out`` and an accepted one ``inside``.

    ``steps`` rounds of 49 interior points each shrink the bracket 50-fold (vectorised,
    so one call of ``accepts`` per round).
    """
    for _ in range(steps):
        pts = np.linspace(out, inside, 51)[1:-1]
        ok = accepts(pts)
        # first accepted point walking from `out` towards `inside`
        j = int(np.argmax(ok)) if ok.any() else pts.size
        if j < pts.size:
            inside = float(pts[j])
        out = float(pts[j - 1]) if j > 0 else out
    return float(inside)


def union_accepts(tests: Sequence[MomentTest]) -> Callable[[Array], Array]:
    """Acceptance of the union of polyhedra: accepted by at least one test."""

    def accepts(theta: Array) -> Array:
        out = np.zeros(np.atleast_1d(theta).size, dtype=bool)
        for test in tests:
            out |= test.accepts(theta)
        return out

    return accepts
