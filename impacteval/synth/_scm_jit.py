"""Compiled (numba) kernels of the V search: the W solve of :class:`SimplexSolver`, the
search objective, its forward differences and the Nelder-Mead loop.

Why compiled, and why it calls BLAS: a V search evaluates W(V) about ten thousand times
per fit on tiny arrays (k = 6-7 predictors, supports of a few donors), and in numpy each
evaluation cost ~50 us, nearly all of it per-call overhead. Here one evaluation is one
compiled call. The numbers stay numpy's, bit for bit: every elementwise operation is the
same single IEEE operation numpy performs (no fast-math, so no fused multiply-adds),
every reduction is done in numpy's order (``np.add.reduce``'s pairwise summation, the
sequential sum over a simplex's rows, first-index argmax/argmin, NaN-propagating min/max),
and every product that numpy hands to BLAS is handed to the same OpenBLAS kernel with the
same arguments (``A @ x`` for a C-ordered ``A`` is ``dgemv('T')`` on its transpose,
``A.T @ x`` is ``dgemv('N')``, ``A.T @ A`` is ``dsyrk('L', 'N')`` mirrored, a 1-column
product is elementwise, a 1-row one ``ddot``), called through scipy's ``cython_blas`` /
``cython_lapack`` pointers (the OpenBLAS that ``scipy.linalg.lapack.dposv`` uses; numpy's
own OpenBLAS build gives the same results for these calls, checked by the tests). The
addresses are passed in at run time (``ADDRESSES``), so the compiled code holds no
process-specific pointer and can be cached on disk (:func:`impacteval._jit.kernel`).

Where numpy's result cannot be reproduced cheaply the kernels defer to numpy itself
(``numba.objmode``): the Nelder-Mead's sort when two vertices have exactly equal values
(numpy's argsort may order ties differently from an insertion sort; on x86-64 with AVX-512
it uses a sorting network) and the least-squares fallback of a singular NNLS subproblem.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import get_cython_function_address, intrinsic

from impacteval._jit import kernel

__all__ = [
    "ADDRESSES",
    "fd_gradient",
    "nm_run",
    "scm_objective",
    "test_objective",
    "weights",
]

_BLAS, _LAPACK = "scipy.linalg.cython_blas", "scipy.linalg.cython_lapack"
# [dgemv, dsyrk, ddot, dposv]: resolved per process, handed to the kernels as data
ADDRESSES = np.array(
    [
        get_cython_function_address(_BLAS, "dgemv"),
        get_cython_function_address(_BLAS, "dsyrk"),
        get_cython_function_address(_BLAS, "ddot"),
        get_cython_function_address(_LAPACK, "dposv"),
    ],
    dtype=np.int64,
)
_GEMV, _SYRK, _DOT, _POSV = 0, 1, 2, 3
_EPS = float(np.finfo(float).eps)
_T, _N, _L, _U = ord("T"), ord("N"), ord("L"), ord("U")


# :func:`impacteval._jit.kernel`, seen by mypy as untyped: the kernels here are unannotated
# (numba infers their types), so their compiled dispatchers are left as ``Any``.
_kernel: Any = kernel


def _codegen(returns_double: bool):  # type: ignore[no-untyped-def]
    """Call the function at address ``args[0]`` with the data pointers of the other
    (array) arguments, Fortran style (every argument by reference)."""

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        ptrs = []
        for ty, val in zip(sig.args[1:], args[1:], strict=True):
            ary = context.make_array(ty)(context, builder, val)
            ptrs.append(builder.bitcast(ary.data, ir.IntType(8).as_pointer()))
        ret = ir.DoubleType() if returns_double else ir.VoidType()
        fnty = ir.FunctionType(ret, [ir.IntType(8).as_pointer()] * len(ptrs))
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        res = builder.call(fn, ptrs)
        return res if returns_double else context.get_dummy_value()

    return codegen


@intrinsic
def _call_void(typingctx, addr, args):  # type: ignore[no-untyped-def]
    """``_call_void(address, (array, ...))``: a BLAS/LAPACK subroutine."""
    sig = types.void(addr, args)

    def codegen(context, builder, sig_, llargs):  # type: ignore[no-untyped-def]
        tup_ty = sig_.args[1]
        vals = [builder.extract_value(llargs[1], i) for i in range(len(tup_ty))]
        inner = types.void(types.int64, *tup_ty.types)
        return _codegen(False)(context, builder, inner, [llargs[0], *vals])

    return sig, codegen


@intrinsic
def _call_double(typingctx, addr, args):  # type: ignore[no-untyped-def]
    """``_call_double(address, (array, ...))``: a BLAS function returning a double."""
    sig = types.float64(addr, args)

    def codegen(context, builder, sig_, llargs):  # type: ignore[no-untyped-def]
        tup_ty = sig_.args[1]
        vals = [builder.extract_value(llargs[1], i) for i in range(len(tup_ty))]
        inner = types.float64(types.int64, *tup_ty.types)
        return _codegen(True)(context, builder, inner, [llargs[0], *vals])

    return sig, codegen


@_kernel
def _i32(value):  # type: ignore[no-untyped-def]
    out = np.empty(1, dtype=np.int32)
    out[0] = value
    return out


@_kernel
def _f64(value):  # type: ignore[no-untyped-def]
    out = np.empty(1)
    out[0] = value
    return out


@_kernel
def _ch(code):  # type: ignore[no-untyped-def]
    out = np.empty(1, dtype=np.uint8)
    out[0] = code
    return out


@_kernel
def _ddot(addrs, x, y):  # type: ignore[no-untyped-def]
    """``x @ y`` of contiguous vectors as numpy computes it (``0.0 + ddot``)."""
    one = _i32(1)
    return 0.0 + _call_double(addrs[_DOT], (_i32(x.shape[0]), x, one, y, one))  # type: ignore[call-arg]


@_kernel
def _matvec(addrs, a, x, out):  # type: ignore[no-untyped-def]
    """``out = a @ x`` for C-ordered ``a`` (r, c), as numpy's matmul does it."""
    r, c = a.shape
    if c == 1:  # numpy's no-BLAS loop: 0 + a*x
        for i in range(r):
            out[i] = 0.0 + a[i, 0] * x[0]
    elif r == 1:
        out[0] = _ddot(addrs, a[0], x)
    else:
        one = _i32(1)
        _call_void(  # type: ignore[call-arg]
            addrs[_GEMV],
            (_ch(_T), _i32(c), _i32(r), _f64(1.0), a, _i32(c), x, one, _f64(0.0), out, one),
        )


@_kernel
def _matTvec(addrs, a, x, out):  # type: ignore[no-untyped-def]
    """``out = a.T @ x`` for C-ordered ``a`` (r, c), as numpy's matmul does it."""
    r, c = a.shape
    if r == 1:
        for j in range(c):
            out[j] = 0.0 + a[0, j] * x[0]
    elif c == 1:
        out[0] = _ddot(addrs, a[:, 0].copy(), x)
    else:
        one = _i32(1)
        _call_void(  # type: ignore[call-arg]
            addrs[_GEMV],
            (_ch(_N), _i32(c), _i32(r), _f64(1.0), a, _i32(c), x, one, _f64(0.0), out, one),
        )


@_kernel
def _gram(addrs, ap, out):  # type: ignore[no-untyped-def]
    """``out = ap.T @ ap`` for C-ordered ``ap`` (r, s), as numpy's matmul does it (``syrk``
    of one triangle, mirrored; ``ddot`` for one column)."""
    r, s = ap.shape
    if s == 1:
        out[0, 0] = _ddot(addrs, ap[:, 0].copy(), ap[:, 0].copy())
        return
    _call_void(  # type: ignore[call-arg]
        addrs[_SYRK],
        (_ch(_L), _ch(_N), _i32(s), _i32(r), _f64(1.0), ap, _i32(s), _f64(0.0), out, _i32(s)),
    )
    for i in range(s):  # column-major lower = row-major upper; mirror it
        for j in range(i + 1, s):
            out[j, i] = out[i, j]


@_kernel
def _posv(addrs, m, b):  # type: ignore[no-untyped-def]
    """Solve ``m x = b`` in place (``b``) by LAPACK's ``dposv('U')``, as scipy's wrapper
    calls it; returns LAPACK's ``info``."""
    n = _i32(m.shape[0])
    info = _i32(0)
    _call_void(addrs[_POSV], (_ch(_U), n, _i32(1), m, n, b, n, info))  # type: ignore[call-arg]
    return info[0]


@_kernel
def _block(a, lo, n):  # type: ignore[no-untyped-def]
    """numpy's pairwise summation of ``a[lo:lo + n]`` for ``n <= 128`` (a plain loop
    below 8, else 8 accumulators)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    stop = n - (n % 8)
    while i < stop:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@_kernel
def _pairwise(a, lo, n):  # type: ignore[no-untyped-def]
    """numpy's pairwise summation of ``a[lo:lo + n]``: above 128 the sum of the two halves
    (the first a multiple of 8), recursively. Written with an explicit stack: numba's
    on-disk cache mishandles recursive functions (a cached recursive kernel crashed)."""
    if n <= 128:
        return _block(a, lo, n)
    frames = np.empty((64, 3), dtype=np.int64)  # (lo, n, phase); depth <= log2(n)
    vals = np.empty(64)
    top, nv = 1, 0
    frames[0, 0], frames[0, 1], frames[0, 2] = lo, n, 0
    while top > 0:
        fl, fn, ph = frames[top - 1, 0], frames[top - 1, 1], frames[top - 1, 2]
        if fn <= 128:
            vals[nv] = _block(a, fl, fn)
            nv += 1
            top -= 1
            continue
        n2 = fn // 2
        n2 -= n2 % 8
        if ph == 0:
            frames[top - 1, 2] = 1
            frames[top, 0], frames[top, 1], frames[top, 2] = fl, n2, 0
            top += 1
        elif ph == 1:
            frames[top - 1, 2] = 2
            frames[top, 0], frames[top, 1], frames[top, 2] = fl + n2, fn - n2, 0
            top += 1
        else:
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
            top -= 1
    return vals[0]


@_kernel
def _sum(a):  # type: ignore[no-untyped-def]
    """``np.add.reduce(a)`` of a contiguous vector (0 + numpy's pairwise sum)."""
    return 0.0 + _pairwise(a, 0, a.shape[0])


@_kernel
def _max(a):  # type: ignore[no-untyped-def]
    """``np.maximum.reduce`` (NaN propagates)."""
    m = a[0]
    for i in range(a.shape[0]):
        x = a[i]
        if x != x:
            return x
        if x > m:
            m = x
    return m


@_kernel
def _min(a):  # type: ignore[no-untyped-def]
    """``np.minimum.reduce`` (NaN propagates)."""
    m = a[0]
    for i in range(a.shape[0]):
        x = a[i]
        if x != x:
            return x
        if x < m:
            m = x
    return m


@_kernel
def _argmax(a):  # type: ignore[no-untyped-def]
    """``np.argmax``: first maximum, or first NaN."""
    j = 0
    m = a[0]
    if m != m:
        return 0
    for i in range(1, a.shape[0]):
        x = a[i]
        if x != x:
            return i
        if x > m:
            m, j = x, i
    return j


@_kernel
def _argmin(a):  # type: ignore[no-untyped-def]
    """``np.argmin``: first minimum, or first NaN."""
    j = 0
    m = a[0]
    if m != m:
        return 0
    for i in range(1, a.shape[0]):
        x = a[i]
        if x != x:
            return i
        if x < m:
            m, j = x, i
    return j


@_kernel
def _nnls_solve(addrs, a, b, atb, mask):  # type: ignore[no-untyped-def]
    """The passive-set subproblem of :func:`_nnls` (normal equations by ``posv``,
    least squares when the factorisation fails)."""
    n = a.shape[1]
    idx = np.flatnonzero(mask)
    s = idx.shape[0]
    ap = np.empty((a.shape[0], s))
    for i in range(a.shape[0]):
        for c in range(s):
            ap[i, c] = a[i, idx[c]]
    m = np.empty((s, s))
    _gram(addrs, ap, m)
    sol = atb[idx].copy()
    info = _posv(addrs, m, sol)
    out = np.zeros(n)
    if info != 0:
        with numba.objmode(sol="float64[:]"):
            sol = np.linalg.lstsq(ap, b, rcond=None)[0]
    for c in range(s):
        out[idx[c]] = sol[c]
    return out


@_kernel
def _residual_grad(addrs, a, atb, u):  # type: ignore[no-untyped-def]
    """``atb - a.T @ (a @ u)``."""
    au = np.empty(a.shape[0])
    _matvec(addrs, a, u, au)
    out = np.empty(a.shape[1])
    _matTvec(addrs, a, au, out)
    return atb - out


@_kernel
def _nnls(addrs, a, b, start, max_iter, tol):  # type: ignore[no-untyped-def]
    """Lawson-Hanson NNLS warm-started from the mask ``start``: the same steps, in the same
    order and with the same numbers, as ``_scm_numerics._nnls_ls``."""
    n = a.shape[1]
    atb = np.empty(n)
    _matTvec(addrs, a, b, atb)
    u = np.zeros(n)
    passive = np.zeros(n, dtype=np.bool_)
    if start.any():
        passive = start.copy()
        while passive.any():
            s = _nnls_solve(addrs, a, b, atb, passive)
            bad = passive & (s <= 0.0)
            if not bad.any():
                u = s
                break
            passive &= ~bad
    grad = _residual_grad(addrs, a, atb, u)
    for _ in range(max_iter):
        cand = grad.copy()
        for i in range(n):
            if passive[i]:
                cand[i] = -np.inf
        j = _argmax(cand)
        if cand[j] <= tol:
            break
        passive[j] = True
        s = _nnls_solve(addrs, a, b, atb, passive)
        inner = 0
        while (s[passive] <= 0.0).any() and inner < n:
            inner += 1
            neg = np.flatnonzero(passive & (s <= 0.0))
            ratios = u[neg] / (u[neg] - s[neg])
            alpha = _min(ratios)
            u = u + alpha * (s - u)
            u[neg[_argmin(ratios)]] = 0.0
            passive &= u > 0.0
            for i in range(n):
                if not passive[i]:
                    u[i] = 0.0
            if not passive.any():
                s = np.zeros(n)
                break
            s = _nnls_solve(addrs, a, b, atb, passive)
        u = s
        grad = _residual_grad(addrs, a, atb, u)
    return u


@_kernel
def _tolerance(a):  # type: ignore[no-untyped-def]
    """``_scm_numerics._tolerance``: the NNLS stopping tolerance for the matrix ``a``."""
    scale = 1.0
    if a.size:
        scale = 0.0
        for x in a.ravel():
            x = abs(x)
            if x != x:
                scale = x
                break
            scale = max(scale, x)
    return 1e3 * _EPS * max(1.0, scale * scale) * max(a.shape[0], a.shape[1])


# the solver's state: a tuple of arrays (see ``_scm_numerics.SimplexSolver``)
# (d, dt, a, e1, z1, z0, support, idx, ints, floats, seen_v, seen_w, trace)
# ints = [support size, W solves, evaluations traced, NNLS runs]; floats = [tol, T, best loss]


@_kernel
def weights(st, addrs, v):  # type: ignore[no-untyped-def]
    """W(V) warm-started from the state's support: ``SimplexSolver.weights``."""
    d, dt, a, e1 = st[0], st[1], st[2], st[3]
    support, idx, ints, floats = st[6], st[7], st[8], st[9]
    k, n_donors = d.shape
    sv = np.sqrt(v)
    ints[1] += 1
    s = ints[0]
    if s:
        ap = np.empty((k + 1, s))
        for c in range(s):
            ap[0, c] = 1.0
        for i in range(k):
            for c in range(s):
                ap[i + 1, c] = d[i, idx[c]] * sv[i]
        m = np.empty((s, s))
        _gram(addrs, ap, m)
        sol = np.ones(s)
        info = _posv(addrs, m, sol)
        if info == 0 and _min(sol) > 0.0:
            r = np.empty(k + 1)
            _matvec(addrs, ap, sol, r)
            tmp = sv * r[1:]
            g = np.empty(n_donors)
            _matvec(addrs, dt, tmp, g)
            grad = 1.0 - (r[0] + g)
            for c in range(s):
                grad[idx[c]] = -np.inf
            if _max(grad) <= floats[0]:
                u = np.zeros(n_donors)
                for c in range(s):
                    u[idx[c]] = sol[c]
                return u / _sum(u)
    for i in range(k):
        for j in range(n_donors):
            a[i + 1, j] = d[i, j] * sv[i]
    ints[3] += 1
    u = _nnls(addrs, a, e1, support, 500, _tolerance(a))
    ints[0] = 0
    for j in range(n_donors):
        support[j] = u[j] > 0.0
        if support[j]:
            idx[ints[0]] = j
            ints[0] += 1
    return u / _sum(u)


@_kernel
def _to_v(theta):  # type: ignore[no-untyped-def]
    sq = theta * theta
    total = _sum(sq)
    if not math.isfinite(total) or total <= 0:
        return np.full(theta.shape[0], 1.0 / theta.shape[0])
    return sq / total


@_kernel
def scm_objective(st, addrs, theta):  # type: ignore[no-untyped-def]
    """Fit-period MSPE of W(V(theta)); keeps the best value with its V and W."""
    z1, z0, floats, seen_v, seen_w = st[4], st[5], st[9], st[10], st[11]
    v = _to_v(theta)
    w = weights(st, addrs, v)
    zw = np.empty(z0.shape[0])
    _matvec(addrs, z0, w, zw)
    r = z1 - zw
    val = _ddot(addrs, r, r) / floats[1]
    if val < floats[2]:
        floats[2] = val
        seen_v[:] = v
        seen_w[:] = w
    return val


@_kernel
def test_objective(st, kind, x):  # type: ignore[no-untyped-def]
    """Smooth and kinked test functions (kind 1: Rosenbrock, 2: piecewise smooth with a
    flat region), for checking the compiled Nelder-Mead against scipy's; each call is
    recorded in the state's trace."""
    ints, trace = st[8], st[12]
    n = x.shape[0]
    if ints[2] < trace.shape[0]:
        trace[ints[2]] = x
    ints[2] += 1
    if kind == 1:
        t = np.empty(n - 1)
        for i in range(n - 1):
            y = x[i + 1] - x[i] * x[i]
            z = 1.0 - x[i]
            t[i] = 100.0 * (y * y) + z * z
        return _sum(t)
    sq = (x - 0.3) * (x - 0.3)
    return max(_sum(sq), 0.05) + 0.1 * abs(x[0] - x[n - 1])


@_kernel
def _evaluate(st, addrs, kind, x):  # type: ignore[no-untyped-def]
    if kind == 0:
        return scm_objective(st, addrs, x)
    return test_objective(st, kind, x)


@_kernel
def fd_gradient(st, addrs, kind, x, f0, step):  # type: ignore[no-untyped-def]
    """scipy's 2-point forward differences at ``x`` (value ``f0``), coordinates in order."""
    n = x.shape[0]
    g = np.empty(n)
    for i in range(n):
        h = step
        if (x[i] + h) - x[i] == 0:
            sign = 1.0 if x[i] >= 0 else -1.0
            h = (step * sign) * max(1.0, abs(x[i]))
        x1 = x.copy()
        x1[i] = x[i] + h
        g[i] = (_evaluate(st, addrs, kind, x1) - f0) / ((x[i] + h) - x[i])
    return g


@_kernel
def _argsort(f):  # type: ignore[no-untyped-def]
    """``np.argsort(f)``: an insertion sort when the values are distinct (then every sort
    agrees), numpy itself when two are equal or one is NaN."""
    n = f.shape[0]
    ind = np.arange(n)
    for i in range(1, n):
        j = i
        while j > 0 and f[ind[j - 1]] > f[ind[j]]:
            ind[j - 1], ind[j] = ind[j], ind[j - 1]
            j -= 1
    for i in range(n):
        if f[i] != f[i] or (i and f[ind[i]] == f[ind[i - 1]]):
            with numba.objmode(ind="int64[:]"):
                ind = np.argsort(f).astype(np.int64)
            break
    return ind


@_kernel
def _sort(sim, fsim):  # type: ignore[no-untyped-def]
    ind = _argsort(fsim)
    return sim[ind], fsim[ind]


@_kernel
def nm_run(st, addrs, kind, x0, maxiter, xatol, fatol, adaptive, stall, stall_rtol):  # type: ignore[no-untyped-def]
    """scipy's Nelder-Mead (``_scm_vsearch.nelder_mead``, same points in the same order)
    on the objective ``kind`` (0: the V search's). ``stall <= 0``: no stall stop.
    Returns (best vertex, its value, iterations, status 0 converged / 1 maxiter / 2
    stalled)."""
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
        fsim[k] = _evaluate(st, addrs, kind, sim[k])
    for _ in range(2):
        sim, fsim = _sort(sim, fsim)
    c_r, c_e, c_c = 1 + rho, 1 + rho * chi, 1 + psi * rho
    rc, pr, ip = rho * chi, psi * rho, 1 - psi
    ref, quiet = fsim[0], 0
    iterations, status = 1, 1
    while iterations < maxiter:
        best = sim[0]
        if (
            _max(np.abs(fsim[0] - fsim[1:])) <= fatol
            and _max(np.abs(sim[1:] - best).ravel()) <= xatol
        ):
            status = 0
            break
        worst = sim[-1].copy()
        xbar = sim[0].copy()
        for j in range(1, n):
            xbar += sim[j]
        xbar = xbar / n
        xr = c_r * xbar - rho * worst
        fxr = _evaluate(st, addrs, kind, xr)
        if fxr < fsim[0]:
            xe = c_e * xbar - rc * worst
            fxe = _evaluate(st, addrs, kind, xe)
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
                fxc = _evaluate(st, addrs, kind, xc)
                if fxc <= fxr:
                    sim[-1], fsim[-1] = xc, fxc
                else:
                    shrink = True
            else:
                xcc = ip * xbar + psi * worst
                fxcc = _evaluate(st, addrs, kind, xcc)
                if fxcc < fsim[-1]:
                    sim[-1], fsim[-1] = xcc, fxcc
                else:
                    shrink = True
            if shrink:
                for j in range(1, n + 1):
                    sim[j] = sim[0] + sigma * (sim[j] - sim[0])
                    fsim[j] = _evaluate(st, addrs, kind, sim[j])
        iterations += 1
        sim, fsim = _sort(sim, fsim)
        if stall > 0:
            low = fsim[0]
            if low < ref - stall_rtol * abs(ref):
                ref, quiet = low, 0
            else:
                quiet += 1
                if quiet >= stall:
                    status = 2
                    break
    return sim[0].copy(), fsim[0], iterations, status
