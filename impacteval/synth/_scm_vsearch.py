"""The local searches of the synthetic control's V choice: a Nelder-Mead that stops once it
stalls, and scipy's BFGS with its finite-difference gradient computed outside scipy.

Why hand-written: the V search evaluates W(V) about ten thousand times per fit, so every
per-call layer counts. ``scipy.optimize.minimize`` wraps the objective (a copy and a check
per call, an ``OptimizeResult`` per Nelder-Mead iteration; for BFGS's finite differences
three more layers per call) and has no stall rule. :func:`nelder_mead` below performs
scipy's algorithm (``_minimize_neldermead`` as of scipy 1.17: the same initial simplex, the
same adaptive coefficients of Gao & Han 2012, the same order of operations and of the
sort), so that without the stall stop it visits the same points and returns the same
result (checked by a test); the stall stop is its only change of behaviour. The V search
itself runs the compiled copy of this loop, ``_scm_jit.nm_run`` (numba, one compiled call
per run instead of a Python iteration per step: the W solve costs a few microseconds
compiled, so Python's own overhead per step would dominate); that copy is checked against
scipy (same points, same order, same result) and against :func:`nelder_mead` with the stall
stop, bit for bit. The BFGS keeps scipy's iteration and line search (not compiled: a
compiled replica of scipy's BFGS and line searches would be the next gain, about half of
the remaining time, but was not written) and only takes over the forward differences,
with scipy's steps and in scipy's order (same numbers; in the V search they are computed
by ``_scm_jit.fd_gradient`` in one compiled call).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "NMResult",
    "bfgs_forward_difference",
    "nelder_mead",
]

_MAX = np.maximum.reduce
STALL_RTOL = 1e-12  # a gain of the best value below this fraction of it counts as no gain


@dataclass(frozen=True)
class NMResult:
    """Outcome of :func:`nelder_mead`: best vertex, its value, iterations (counted as scipy
    counts them) and why it stopped (``"converged"``, ``"maxiter"`` or ``"stalled"``)."""

    x: np.ndarray
    fun: float
    nit: int
    status: str


def nelder_mead(
    func: Callable[[np.ndarray], float],
    x0: np.ndarray,
    *,
    maxiter: int,
    xatol: float,
    fatol: float,
    adaptive: bool,
    stall: int | None = None,
) -> NMResult:
    """Minimise ``func`` by Nelder-Mead as scipy does, optionally stopping once it stalls.

    Parameters
    ----------
    func : objective of a float vector; it must not modify its argument (it receives rows
        of the simplex itself, not copies).
    x0 : starting point (float vector).
    maxiter, xatol, fatol, adaptive : as scipy's options of the same names (``maxfun``
        unlimited). Convergence: every vertex within ``xatol`` of the best in every
        coordinate and every value within ``fatol`` of the best.
    stall : stop when the best value has not fallen by more than ``STALL_RTOL`` of its
        magnitude over this many consecutive iterations (None: never). A run that still
        gains more than that at least once every ``stall`` iterations runs exactly as
        without the rule.

    Returns
    -------
    NMResult
        The best vertex of the final simplex and its value.
    """
    x0 = np.asarray(x0, dtype=float).ravel()
    n = x0.shape[0]
    if adaptive:
        rho, chi, psi, sigma = 1.0, 1.0 + 2.0 / n, 0.75 - 1.0 / (2.0 * n), 1.0 - 1.0 / n
    else:
        rho, chi, psi, sigma = 1.0, 2.0, 0.5, 0.5
    sim = np.empty((n + 1, n))
    sim[0] = x0
    for k in range(n):
        y = x0.copy()
        y[k] = (1 + 0.05) * y[k] if y[k] != 0 else 0.00025
        sim[k + 1] = y
    fsim = np.full(n + 1, np.inf)
    for k in range(n + 1):
        fsim[k] = func(sim[k])
    for _ in range(2):  # scipy sorts twice here; kept for identical tie order
        ind = np.argsort(fsim)
        sim = np.take(sim, ind, 0)
        fsim = np.take(fsim, ind, 0)
    # the coefficients of scipy's updates, precomputed (the same floating-point products)
    c_r, c_e, c_c = 1 + rho, 1 + rho * chi, 1 + psi * rho
    rc, pr, ip = rho * chi, psi * rho, 1 - psi
    ref, quiet = float(fsim[0]), 0
    iterations, status = 1, "maxiter"
    while iterations < maxiter:
        best = sim[0]
        # scipy's test with its two halves swapped: the values' (cheap, usually failing)
        # first; the outcome is the same
        if (
            _MAX(np.abs(fsim[0] - fsim[1:])) <= fatol
            and _MAX(np.abs(sim[1:] - best), axis=None) <= xatol
        ):
            status = "converged"
            break
        worst = sim[-1]
        xbar = np.add.reduce(sim[:-1], 0) / n
        xr = c_r * xbar - rho * worst
        fxr = func(xr)
        if fxr < fsim[0]:
            xe = c_e * xbar - rc * worst
            fxe = func(xe)
            if fxe < fxr:
                sim[-1], fsim[-1] = xe, fxe
            else:
                sim[-1], fsim[-1] = xr, fxr
        elif fxr < fsim[-2]:
            sim[-1], fsim[-1] = xr, fxr
        else:
            shrink = False
            if fxr < fsim[-1]:
                xc = c_c * xbar - pr * worst
                fxc = func(xc)
                if fxc <= fxr:
                    sim[-1], fsim[-1] = xc, fxc
                else:
                    shrink = True
            else:
                xcc = ip * xbar + psi * worst
                fxcc = func(xcc)
                if fxcc < fsim[-1]:
                    sim[-1], fsim[-1] = xcc, fxcc
                else:
                    shrink = True
            if shrink:
                for j in range(1, n + 1):
                    sim[j] = sim[0] + sigma * (sim[j] - sim[0])
                    fsim[j] = func(sim[j])
        iterations += 1
        ind = fsim.argsort()
        sim = sim.take(ind, 0)
        fsim = fsim.take(ind, 0)
        if stall is not None:
            low = float(fsim[0])
            if low < ref - STALL_RTOL * abs(ref):
                ref, quiet = low, 0
            else:
                quiet += 1
                if quiet >= stall:
                    status = "stalled"
                    break
    return NMResult(sim[0].copy(), float(fsim[0]), iterations, status)


# scipy's BFGS without a gradient differences forward with this absolute step
FD_STEP = float(np.sqrt(np.finfo(float).eps))


def bfgs_forward_difference(
    func: Callable[[np.ndarray], float],
    x0: np.ndarray,
    *,
    maxiter: int,
    gtol: float,
    differences: Callable[[np.ndarray, float], np.ndarray] | None = None,
) -> tuple[np.ndarray, float]:
    """``scipy.optimize.minimize(func, x0, method="BFGS")`` with its default forward-difference
    gradient computed here instead of by scipy, so that each difference costs one call of
    ``func`` and not scipy's layers of wrappers around it.

    The gradient is scipy's (``approx_derivative``, 2-point, absolute step ``FD_STEP``):
    ``(f(x + h_i e_i) - f(x)) / ((x_i + h_i) - x_i)``, ``h_i = FD_STEP`` unless it vanishes
    against ``x_i`` (then ``FD_STEP * max(1, |x_i|)`` with the sign of ``x_i``), the
    coordinates in order. ``func`` is called at the same points, in the same order, as
    scipy calls it: with finite differences scipy evaluates ``f(x)`` right before the
    differences when its current ``f`` is not at ``x`` and never again while ``x`` stands;
    here the gradient evaluates ``f(x)`` itself in that case and hands the value to the next
    call of the objective at ``x``. ``differences(x, f(x))``, if given, computes the
    differences in one call (the same points and formula, e.g. compiled); otherwise they
    are computed here by calling ``func``. Returns the final point and its value.
    """
    from scipy import optimize

    last_x: np.ndarray | None = None  # where scipy's current value was computed
    last_f = 0.0
    handed: np.ndarray | None = None  # f evaluated by the gradient, owed to the next call

    def fun(x: np.ndarray) -> float:
        nonlocal last_x, last_f, handed
        val = last_f if handed is not None and np.array_equal(x, handed) else func(x)
        handed = None
        last_x, last_f = x.copy(), val
        return val

    def grad(x: np.ndarray) -> np.ndarray:
        nonlocal last_x, last_f, handed
        if last_x is None or not np.array_equal(x, last_x):
            last_x, last_f = x.copy(), func(x)
            handed = last_x
        f0 = last_f
        if differences is not None:
            return differences(x, f0)
        sign = (x >= 0).astype(float) * 2 - 1
        h = np.full(x.shape[0], FD_STEP)
        h = np.where((x + h) - x == 0, FD_STEP * sign * np.maximum(1.0, np.abs(x)), h)
        g = np.empty(x.shape[0])
        for i in range(x.shape[0]):
            x1 = x.copy()
            x1[i] = x[i] + h[i]
            g[i] = (func(x1) - f0) / ((x[i] + h[i]) - x[i])
        return g

    res = optimize.minimize(
        fun, x0, jac=grad, method="BFGS", options={"maxiter": maxiter, "gtol": gtol}
    )
    return np.asarray(res.x), float(res.fun)
