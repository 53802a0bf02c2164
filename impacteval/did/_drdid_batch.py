"""DRDID's locally efficient panel DiD for several outcome changes at once.

``att_gt`` estimates many cells whose 2x2 problems share everything but the outcome: with
never-treated controls (or the same not-yet-treated set) and covariates that do not change
over time, every cell of a cohort has the same units, treatment indicator, covariates,
weights and hence the same propensity score, the same outcome-regression design and the
same linear representations. :func:`drdid_panel_batch` takes the cells' outcome changes as
the columns of one matrix and computes :func:`impacteval.did._drdid.drdid_panel` for all of
them with matrix products: one QR least-squares solve with several right-hand sides, one
factorisation of the regression's Gram matrix, and the influence functions as ``n x m``
arrays. The algebra is that of ``drdid_panel`` term by term; only the order of floating
point operations differs (a test checks the two agree to ~1e-12).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from impacteval.did._drdid import EPS, CellError, PScore, normalise, rcond1
from impacteval.did._drdid_fused import accumulate, write_influence

__all__ = ["dr_cells", "drdid_panel_batch"]

Array = np.ndarray


def drdid_panel_batch(
    dy: Array,
    d: Array,
    x: Array,
    w: Array,
    *,
    pscore: PScore | None = None,
    scale: float = 1.0,
    control_qr: tuple[Array, Array] | None = None,
    overwrite_dy: bool = False,
) -> tuple[Array, Array]:
    """``drdid_panel`` for every column of ``dy``.

    Parameters
    ----------
    dy : (n, m) outcome changes, one column per cell.
    d : (n,) 0/1 treated-cohort indicator; x : (n, k) covariates with the intercept column;
    w : (n,) sampling weights (normalised here, as DRDID does).
    pscore : PScore, optional
        The propensity-score fits of ``(x, d, normalise(w))``, when the caller has them.
    scale : float
        Factor applied to the influence functions (``att_gt`` rescales a cell's to the
        whole sample).
    control_qr : (q, r), optional
        ``numpy.linalg.qr`` of the controls' rows of ``x * sqrt(normalise(w))``, when the
        caller has it (``att_gt``'s cohorts share their never-treated controls); computed
        here otherwise.
    overwrite_dy : bool
        Let the influence functions take the place of ``dy`` (which must then be a
        column-major float array): saves allocating (and the kernel first touching) an
        array of its size.

    Returns
    -------
    att : (m,) the ATTs; influence : (n, m) their influence functions (times ``scale``).

    Raises
    ------
    CellError
        The controls' outcome-regression design is singular.

    Notes
    -----
    With ``r = dy - x beta`` the regression residuals, ``drdid_panel``'s influence function
    is, per column, ``a * r - w_treat eta_treat / mean(w_treat) + w_cont eta_cont /
    mean(w_cont) - asy_ps M2 / mean(w_cont)`` with the row factor ``a = w_treat /
    mean(w_treat) - w_cont / mean(w_cont) - w_ols (x v_treat / mean(w_treat) - x v_cont /
    mean(w_cont))`` (``v = xpx^-1`` times the moment vectors of the OLS representation).
    Everything but ``a * dy`` is a product of an ``n x (2 + 2k)`` matrix shared by the
    columns with a small per-column one, so the ``n x m`` work is one multiply and one
    matrix product (accumulated onto ``a * dy`` by BLAS ``dgemm``). The propensity-score
    term uses ``asy_ps = n score inv(H)`` (:func:`ps_score_hessian`) as ``score (n H^-1
    M2)``: a solve with ``m`` right-hand sides instead of forming the ``n x k``
    representation.
    """
    n, m = dy.shape
    # the cells' outcome changes as "period c minus a zero base period" of an n x (m + 1)
    # outcome matrix (subtracting 0.0 is exact)
    y = np.zeros((n, m + 1))
    y[:, :m] = dy
    tb = np.column_stack([np.arange(m), np.full(m, m)])
    out = dy if overwrite_dy else np.empty((n, m), order="F")
    rows = np.arange(n)
    att, _ = dr_cells(
        y, rows, tb, x, d, w, pscore=pscore, scale=scale, control_qr=control_qr,
        out=(out, rows, np.arange(m)),
    )  # fmt: skip
    return att, out


def dr_cells(
    y: Array,
    idx: Array,
    tb: Array,
    x: Array,
    d: Array,
    w: Array,
    *,
    pscore: PScore | None,
    scale: float,
    control_qr: tuple[Array, Array] | None,
    out: tuple[Array, Array, Array],
) -> tuple[Array, Array]:
    """The engine of :func:`drdid_panel_batch`, reading outcome changes from a
    ``units x periods`` matrix and writing influence functions into a larger matrix.

    Parameters
    ----------
    y : (N, T) outcomes, a row per unit.
    idx : (n,) the batch's units (rows of ``y``; rows of ``x``, ``d``, ``w`` are these
        units in this order).
    tb : (m, 2) each cell's period and base period (columns of ``y``): the cell's outcome
        change is ``y[:, t] - y[:, base]``.
    x, d, w, pscore, scale, control_qr : as :func:`drdid_panel_batch`.
    out : (matrix, rows, columns)
        Influence function of cell ``c`` at unit ``i`` goes to ``matrix[rows[i],
        columns[c]]`` (other entries are not touched).

    Returns
    -------
    att : (m,) the ATTs; bad : (m,) bool, True where an influence value was not finite.
    """
    n, k = x.shape
    x = np.ascontiguousarray(x, dtype=float)
    d = np.ascontiguousarray(d, dtype=float)
    w = normalise(np.ascontiguousarray(w, dtype=float))
    fits = PScore(x, d, w) if pscore is None else pscore
    ps, trim = fits.logit()
    if control_qr is None:
        ctrl = d == 0
        control_qr = np.linalg.qr(x[ctrl] * np.sqrt(w[ctrl])[:, None])
    q, r = control_qr
    args = (np.ascontiguousarray(y, dtype=float), np.asarray(idx, dtype=np.int64),
            np.ascontiguousarray(tb, dtype=np.int64), x, d, w, np.ascontiguousarray(ps),
            np.ascontiguousarray(trim, dtype=float))  # fmt: skip
    s1, k1, xpx, hess, wcxx, cell = accumulate(*args, np.ascontiguousarray(q))
    xpx = xpx / n
    if rcond1(xpx) < EPS:
        raise CellError("the outcome-regression design for the controls is singular")
    mean_t, mean_c = float(s1[0]) / n, float(s1[1]) / n
    xt, xc = k1[0], k1[1]
    beta = linalg.solve_triangular(r, cell[:, 2 + k :].T)  # (k, m)
    eta_treat = (cell[:, 0] - xt @ beta) / n / mean_t
    eta_cont = (cell[:, 1] - xc @ beta) / n / mean_c
    # M2 = mean(w_cont (r - eta_cont) x), k x m
    m2 = (cell[:, 2 : 2 + k].T - wcxx @ beta - np.outer(xc, eta_cont)) / n
    v = np.linalg.solve(xpx, np.column_stack([xt, xc]) / n)  # (k, 2)
    try:  # asy_ps M2 = n score H^-1 M2
        ps_coef = np.linalg.solve(hess, m2) * n
    except np.linalg.LinAlgError as exc:
        raise CellError("the propensity-score information matrix is singular") from exc
    coef = np.ascontiguousarray(np.column_stack([eta_treat, eta_cont, beta.T, ps_coef.T]))
    row = np.r_[1.0 / mean_t, 1.0 / mean_c, scale, v[:, 0] / mean_t - v[:, 1] / mean_c]
    matrix, rows, cols = out
    bad = write_influence(*args, coef, row, matrix, np.asarray(rows, dtype=np.int64),
                          np.asarray(cols, dtype=np.int64))  # fmt: skip
    return np.asarray(eta_treat - eta_cont), np.asarray(bad > 0)
