"""Frank-Wolfe solver for the synthetic-DiD unit and time weights (private numerics).

The weights solve a ridge-penalised least-squares problem on the unit simplex,

    min_x  ||A x - b||^2 / m + zeta^2 ||x||^2    subject to  x >= 0,  sum(x) = 1,

with ``m`` the number of rows of ``A``. Arkhangelsky et al. (2021) and R ``synthdid`` solve it
by Frank-Wolfe with exact line search. This module runs the same iteration on the Gram
matrix ``H = A'A + m zeta^2 I`` and keeps ``h = H x`` up to date, so a step costs O(n) for
n weights instead of O(m n), and it runs many problems at once (a batch of placebo or
bootstrap replications) so that numpy's per-call overhead is paid once per iteration for the
whole batch. No library offers a batched simplex-constrained Frank-Wolfe, and a generic QP
solver would not reproduce synthdid's stopping rule (hence its weights), so it is written
here.

Stopping rule (synthdid ``sc.weight.fw``): stop after ``max_iter`` steps or as soon as the
last step decreased the objective by no more than ``min_decrease2`` (at least two steps are
taken). The decrease of a step of size ``s`` along ``d = e_i - x`` is computed exactly as
``(2 s (-g'd) - s^2 d'Hd) / m`` rather than as a difference of two objective values, which
avoids cancellation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fw_simplex", "gram_problem", "sparsify", "sum_normalize", "two_stage_weights"]

#: Value of ``c`` on padding coordinates: their gradient is huge, so they are never chosen.
_PAD = 1e300


def sum_normalize(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to sum to one; an all-zero row becomes uniform (synthdid's rule)."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    total = x.sum(axis=1, keepdims=True)
    uniform = np.full_like(x, 1.0 / x.shape[1])
    safe = np.where(total != 0, total, 1.0)
    return np.asarray(np.where(total != 0, x / safe, uniform))


def sparsify(x: np.ndarray) -> np.ndarray:
    """synthdid's default: zero every weight at most a quarter of the row's largest, rescale."""
    x = np.array(x, dtype=float, copy=True)
    x[x <= x.max(axis=1, keepdims=True) / 4.0] = 0.0
    return np.asarray(x / x.sum(axis=1, keepdims=True))


def gram_problem(
    a: np.ndarray,
    b: np.ndarray,
    row_mask: np.ndarray,
    col_mask: np.ndarray,
    zeta2: np.ndarray,
    intercept: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gram form of a batch of penalised simplex regressions.

    Parameters
    ----------
    a : ndarray, shape (B, m, n)
        Regressors of each problem (padding rows / columns allowed; their values are ignored).
    b : ndarray, shape (B, m)
        Targets.
    row_mask, col_mask : ndarray of bool, shapes (B, m) and (B, n)
        Which rows and columns of each problem are real.
    zeta2 : ndarray, shape (B,)
        Squared ridge parameters.
    intercept : bool
        Demean the columns of ``a`` and ``b`` over the real rows first (an intercept that is
        profiled out, as synthdid does).

    Returns
    -------
    H, c, m : ndarray
        ``H = A'A + m zeta^2 I`` (B, n, n), ``c = A'b`` (B, n) with ``-1e300`` on padding
        columns, and the number of real rows ``m`` (B,).
    """
    rm = row_mask.astype(float)
    cm = col_mask.astype(float)
    m = rm.sum(axis=1)
    a = a * rm[:, :, None] * cm[:, None, :]
    b = b * rm
    if intercept:
        a = a - (a.sum(axis=1, keepdims=True) / m[:, None, None]) * rm[:, :, None]
        b = b - (b.sum(axis=1, keepdims=True) / m[:, None]) * rm
    h = np.einsum("bmi,bmj->bij", a, a)
    n = a.shape[2]
    h[:, np.arange(n), np.arange(n)] += (m * zeta2)[:, None] * cm
    c = np.einsum("bmi,bm->bi", a, b)
    c = np.where(col_mask, c, -_PAD)
    return h, c, m


def fw_simplex(
    h_mat: np.ndarray,
    c: np.ndarray,
    m: np.ndarray,
    x0: np.ndarray,
    min_decrease2: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Frank-Wolfe with exact line search for a batch of problems in Gram form.

    Minimises ``(x'Hx - 2c'x) / m`` (plus a constant) over the simplex for every problem of
    the batch, each with synthdid's stopping rule.

    Parameters
    ----------
    h_mat : ndarray, shape (B, n, n)
        Symmetric positive semi-definite ``A'A + m zeta^2 I``.
    c : ndarray, shape (B, n)
        ``A'b``.
    m : ndarray, shape (B,)
        Rows of ``A`` (the objective is an average over rows).
    x0 : ndarray, shape (B, n)
        Starting points on the simplex.
    min_decrease2 : float
        Stop a problem once one step decreases its objective by no more than this.
    max_iter : int
        Cap on the number of steps.

    Returns
    -------
    x : ndarray, shape (B, n)
        The weights.
    n_iter : ndarray of int, shape (B,)
        Steps taken by each problem.
    """
    x = np.array(x0, dtype=float, copy=True)
    n_b, n = x.shape
    if n_b == 1:
        x1, steps = _fw_single(h_mat[0], c[0], float(m[0]), x[0], min_decrease2, max_iter)
        return x1[None, :], np.array([steps], dtype=np.intp)
    offset = np.arange(n_b) * n
    h_rows = h_mat.reshape(n_b * n, n)
    diag = np.einsum("bii->bi", h_mat).ravel()
    hx = np.einsum("bij,bj->bi", h_mat, x)
    active = np.ones(n_b, dtype=bool)
    n_iter = np.zeros(n_b, dtype=np.intp)
    scale = 1.0 / m
    step = np.zeros(n_b)
    for t in range(max_iter):
        grad = hx - c
        flat = grad.argmin(axis=1) + offset
        g_i = grad.take(flat)
        # direction d = e_i - x: -g'd = g'x - g_i and d'Hd = H_ii - 2 (Hx)_i + x'Hx
        num = np.einsum("bi,bi->b", grad, x) - g_i
        den = diag.take(flat) - 2.0 * hx.take(flat) + np.einsum("bi,bi->b", hx, x)
        # at a vertex (x = e_i) num and den vanish and the step, whatever it is, leaves x put
        np.divide(num, den, out=step, where=den > 0)
        step[den <= 0] = 0.0
        np.clip(step, 0.0, 1.0, out=step)
        step *= active
        decrease = step * (2.0 * num - step * den) * scale
        keep = (1.0 - step)[:, None]
        x *= keep
        x.ravel()[flat] += step
        hx *= keep
        hx += step[:, None] * h_rows.take(flat, axis=0)
        n_iter += active
        if t >= 1:
            active &= decrease > min_decrease2
            if not active.any():
                break
    return x, n_iter


def _fw_single(
    h_mat: np.ndarray,
    c: np.ndarray,
    m: float,
    x: np.ndarray,
    min_decrease2: float,
    max_iter: int,
) -> tuple[np.ndarray, int]:
    """:func:`fw_simplex` for one problem: the scalar parts of a step in Python floats,
    which is several times faster than length-1 numpy arrays."""
    hx = h_mat @ x
    steps = 0
    for t in range(max_iter):
        grad = hx - c
        i = int(grad.argmin())
        g_i = float(grad[i])
        num = float(grad @ x) - g_i
        den = float(h_mat[i, i]) - 2.0 * float(hx[i]) + float(hx @ x)
        step = min(max(num / den, 0.0), 1.0) if den > 0 else 0.0
        decrease = step * (2.0 * num - step * den) / m
        keep = 1.0 - step
        x *= keep
        x[i] += step
        hx *= keep
        hx += step * h_mat[i]
        steps += 1
        if t >= 1 and not decrease > min_decrease2:
            break
    return x, steps


def two_stage_weights(
    h_mat: np.ndarray,
    c: np.ndarray,
    m: np.ndarray,
    x0: np.ndarray,
    col_mask: np.ndarray,
    min_decrease2: float,
    max_iter: int,
    max_iter_pre_sparsify: int,
) -> tuple[np.ndarray, np.ndarray]:
    """synthdid's default fit: a short run, sparsify, then a full run from the sparse point.

    Returns the weights (B, n), zero on padding columns, and the total steps per problem.
    """
    x0 = np.where(col_mask, x0, 0.0)
    first, it1 = fw_simplex(h_mat, c, m, x0, min_decrease2, max_iter_pre_sparsify)
    second, it2 = fw_simplex(h_mat, c, m, sparsify(first), min_decrease2, max_iter)
    return second, it1 + it2
