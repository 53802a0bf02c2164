"""Compiled row loops of the batched DR kernel (:mod:`impacteval.did._drdid_batch`).

Why compiled: ``att_gt(method="dr")`` with covariates estimates, per cohort, the influence
functions of every cell on some 10^4 - 10^6 units. In numpy each of the kernel's ~40 steps
is a pass over the batch that allocates an ``n``-long (or ``n x 8``) temporary; on 100k
units those temporaries (and the page faults of their fresh memory) cost several times the
arithmetic. Here two passes over the rows do all of it: the first accumulates the sums the
estimator needs (DRDID's means, the regression's and the logit's cross products, the
moments of each cell's outcome change), the second writes each cell's influence function
straight into ``att_gt``'s influence matrix. The outcome changes are formed on the fly from
the ``units x periods`` outcome matrix (a unit's periods are adjacent in memory), so no
``n x cells`` array exists at all.

The algebra is :func:`impacteval.did._drdid.drdid_panel`'s, term by term (see
:func:`impacteval.did._drdid_batch.drdid_panel_batch`); only the order of the floating-point
additions differs (rows are summed in blocks of :data:`BLOCK`, the blocks' sums then added:
the rounding error grows with ``n / BLOCK + BLOCK`` rather than ``n``). numba compiles the
loops on first use (cached on disk: once per installation, see :mod:`impacteval._jit`)
and releases the GIL, so ``att_gt``'s threads run batches in parallel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from impacteval._jit import kernel

__all__ = ["BLOCK", "LogitPass", "accumulate", "logit_sums", "row_weights", "write_influence"]

Array = np.ndarray
BLOCK = 256  # rows per partial sum


@kernel(nogil=True, inline="always")
def row_weights(
    trim: float, w: float, d: float, ps: float
) -> tuple[float, float, float]:  # pragma: no cover - compiled (tested through its callers)
    """DRDID's row weights: treated ``trim w d``, controls reweighted by the odds of the
    score ``trim w ps (1 - d) / (1 - ps)``, and the regression's ``w (1 - d)``."""
    return trim * w * d, trim * w * ps * (1.0 - d) / (1.0 - ps), w * (1.0 - d)


@kernel(nogil=True)
def accumulate(
    y: Array,
    idx: Array,
    tb: Array,
    x: Array,
    d: Array,
    w: Array,
    ps: Array,
    trim: Array,
    q: Array,
) -> tuple[Any, ...]:  # pragma: no cover - compiled (tested through its callers)
    """First pass: the sums of the DR estimator over the batch's rows.

    Parameters: ``y`` (units x periods) outcomes; ``idx`` the batch's units (rows of the
    other arrays are these units, in this order); ``tb`` (cells x 2) each cell's period and
    base period (columns of ``y``); ``x`` (n x k) covariates with intercept; ``d`` 0/1;
    ``w`` normalised weights; ``ps``, ``trim`` the logit score and DRDID's trimming
    indicator; ``q`` (controls x k) the Q of the QR of the controls' ``x * sqrt(w)``, rows
    in batch order.

    Returns ``(s1, k1, xpx, hess, wcxx, cell)``: ``s1`` = (sum w_treat, sum w_cont);
    ``k1`` (2 x k) = sums of w_treat x and w_cont x; ``xpx`` = sum w_ols x x'; ``hess`` =
    sum w ps (1 - ps) x x'; ``wcxx`` = sum w_cont x x'; ``cell`` (cells x (2 + 2k)) per
    cell: sums of w_treat dy, w_cont dy, w_cont x dy (k) and sqrt(w) q dy over the
    controls (k).
    """
    n, k = x.shape
    m = tb.shape[0]
    width = 2 + 2 * k
    s1 = np.zeros(2)
    k1 = np.zeros((2, k))
    xpx = np.zeros((k, k))
    hess = np.zeros((k, k))
    wcxx = np.zeros((k, k))
    cell = np.zeros((m, width))
    b_s1 = np.zeros(2)
    b_k1 = np.zeros((2, k))
    b_xpx = np.zeros((k, k))
    b_hess = np.zeros((k, k))
    b_wcxx = np.zeros((k, k))
    b_cell = np.zeros((m, width))
    dy = np.empty(m)
    qrow = 0
    for start in range(0, n, BLOCK):
        b_s1[:] = 0.0
        b_k1[:] = 0.0
        b_xpx[:] = 0.0
        b_hess[:] = 0.0
        b_wcxx[:] = 0.0
        b_cell[:] = 0.0
        for i in range(start, min(start + BLOCK, n)):
            unit = idx[i]
            wi, di, pi = w[i], d[i], ps[i]
            w_treat, w_cont, w_ols = row_weights(trim[i], wi, di, pi)
            w_ps = pi * (1.0 - pi) * wi
            b_s1[0] += w_treat
            b_s1[1] += w_cont
            for c in range(m):
                dy[c] = y[unit, tb[c, 0]] - y[unit, tb[c, 1]]
                b_cell[c, 0] += w_treat * dy[c]
                b_cell[c, 1] += w_cont * dy[c]
            for a in range(k):
                xa = x[i, a]
                b_k1[0, a] += w_treat * xa
                b_k1[1, a] += w_cont * xa
                for b in range(k):
                    xab = xa * x[i, b]
                    b_xpx[a, b] += w_ols * xab
                    b_hess[a, b] += w_ps * xab
                    b_wcxx[a, b] += w_cont * xab
                for c in range(m):
                    b_cell[c, 2 + a] += w_cont * xa * dy[c]
            if di == 0.0:
                sw = np.sqrt(wi)
                for a in range(k):
                    qa = q[qrow, a] * sw
                    for c in range(m):
                        b_cell[c, 2 + k + a] += qa * dy[c]
                qrow += 1
        s1 += b_s1
        k1 += b_k1
        xpx += b_xpx
        hess += b_hess
        wcxx += b_wcxx
        cell += b_cell
    return s1, k1, xpx, hess, wcxx, cell


@kernel(nogil=True)
def write_influence(
    y: Array,
    idx: Array,
    tb: Array,
    x: Array,
    d: Array,
    w: Array,
    ps: Array,
    trim: Array,
    coef: Array,
    row: Array,
    out: Array,
    out_rows: Array,
    out_cols: Array,
) -> Array:  # pragma: no cover - compiled (tested through its callers)
    """Second pass: every cell's influence function, written to ``out[out_rows[i],
    out_cols[c]]``; returns a flag per cell, 1 where a value was not finite.

    ``row`` = (1 / mean_t, 1 / mean_c, scale) and the k-vector ``u`` (the OLS
    representation's row factor): ``a_i = scale (w_treat / mean_t - w_cont / mean_c -
    w_ols x_i'u)``. ``coef`` (cells x (2 + 3k)): per cell ``eta_treat, eta_cont``, the OLS
    coefficients (k), the logit term ``n H^-1 M2`` (k). The value is ``a_i (dy - x_i'beta) -
    scale w_treat eta_treat / mean_t + scale w_cont eta_cont / mean_c - scale / mean_c
    w_i (d_i - ps_i) x_i' (n H^-1 M2)``.
    """
    n, k = x.shape
    m = tb.shape[0]
    inv_t, inv_c, scale = row[0], row[1], row[2]
    bad = np.zeros(m)
    for i in range(n):
        unit = idx[i]
        wi, di, pi = w[i], d[i], ps[i]
        w_treat, w_cont, w_ols = row_weights(trim[i], wi, di, pi)
        xu = 0.0
        for a in range(k):
            xu += x[i, a] * row[3 + a]
        ai = scale * (w_treat * inv_t - w_cont * inv_c - w_ols * xu)
        si = wi * (di - pi)
        for c in range(m):
            xb = 0.0
            xg = 0.0
            for a in range(k):
                xb += x[i, a] * coef[c, 2 + a]
                xg += x[i, a] * coef[c, 2 + k + a]
            dy = y[unit, tb[c, 0]] - y[unit, tb[c, 1]]
            val = (
                ai * (dy - xb)
                - scale * w_treat * coef[c, 0] * inv_t
                + scale * w_cont * coef[c, 1] * inv_c
                - scale * inv_c * si * xg
            )
            if not np.isfinite(val):
                bad[c] = 1.0
            out[out_rows[i], out_cols[c]] = val
    return bad


@kernel(nogil=True)
def logit_sums(
    x: Array, d: Array, w: Array, eta: Array, e: Array, l1p: Array, unit: bool
) -> tuple[float, Array, Array]:  # pragma: no cover - compiled (tested through its callers)
    """The sums of one Newton pass of the logit, given each row's linear index ``eta``,
    ``e = exp(-|eta|)`` and ``l1p = log1p(e)`` (vectorised by the caller): the weighted
    log-likelihood ``sum w (d eta - log(1 + e^eta))`` (``log(1 + e^eta) = max(eta, 0) +
    l1p``), the score ``sum w (d - p) x`` and the information ``sum w p (1 - p) x x'``
    (``p = 1 / (1 + e)`` for ``eta >= 0``, ``e / (1 + e)`` otherwise); ``unit``: all
    weights are 1 and are not multiplied in. Rows are summed in blocks of :data:`BLOCK`.
    """
    n, k = x.shape
    ll = 0.0
    grad = np.zeros(k)
    hess = np.zeros((k, k))
    b_grad = np.zeros(k)
    b_hess = np.zeros((k, k))
    for start in range(0, n, BLOCK):
        b_ll = 0.0
        b_grad[:] = 0.0
        b_hess[:] = 0.0
        for i in range(start, min(start + BLOCK, n)):
            ei = e[i]
            p = 1.0 / (1.0 + ei) if eta[i] >= 0.0 else ei / (1.0 + ei)
            wi = 1.0 if unit else w[i]
            b_ll += wi * (d[i] * eta[i] - (max(eta[i], 0.0) + l1p[i]))
            r = wi * (d[i] - p)
            v = wi * p * (1.0 - p)
            for a in range(k):
                xa = x[i, a]
                b_grad[a] += r * xa
                for b in range(a + 1):
                    b_hess[a, b] += v * xa * x[i, b]
        ll += b_ll
        grad += b_grad
        hess += b_hess
    for a in range(k):
        for b in range(a):
            hess[b, a] = hess[a, b]
    return ll, grad, hess


class LogitPass:
    """One Newton pass of the logit at a given ``beta``: ``(log-likelihood, score,
    information)``. The index ``x beta`` and the exponentials are computed by numpy's
    vectorised ufuncs into buffers allocated once per fit, the sums by
    :func:`logit_sums`; ``w`` all ones is detected once and not multiplied in."""

    def __init__(self, x: Array, d: Array, w: Array) -> None:
        self.x, self.d, self.w = x, d, w
        self.unit = bool(np.all(w == 1.0))
        n = x.shape[0]
        self.eta, self.e, self.l1p = np.empty(n), np.empty(n), np.empty(n)

    def __call__(self, beta: Array) -> tuple[float, Array, Array]:
        eta, e, l1p = self.eta, self.e, self.l1p
        np.dot(self.x, beta, out=eta)
        np.abs(eta, out=e)
        np.negative(e, out=e)
        np.exp(e, out=e)
        np.log1p(e, out=l1p)
        ll, grad, hess = logit_sums(self.x, self.d, self.w, eta, e, l1p, self.unit)
        return float(ll), grad, hess
