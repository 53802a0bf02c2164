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

__all__ = ["drdid_panel_batch"]

Array = np.ndarray


def drdid_panel_batch(
    dy: Array, d: Array, x: Array, w: Array, *, pscore: PScore | None = None, scale: float = 1.0
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
    matrix product.
    """
    n = dy.shape[0]
    w = normalise(w)
    fits = PScore(x, d, w) if pscore is None else pscore
    ps, trim = fits.logit()
    ctrl = d == 0
    w_ols = w * (1.0 - d)
    xpx = (x * w_ols[:, None]).T @ x / n
    if rcond1(xpx) < EPS:
        raise CellError("the outcome-regression design for the controls is singular")
    w_treat = trim * w * d
    w_cont = trim * w * ps * (1.0 - d) / (1.0 - ps)
    mean_t, mean_c = float(np.mean(w_treat)), float(np.mean(w_cont))
    xt, xc = w_treat @ x, w_cont @ x  # (k,)
    # every product with dy in one pass: [Q sqrt(w) on the controls, w_treat, w_cont,
    # w_cont x]' dy. Least squares on the controls by a QR of their sqrt-weighted design
    # (as R's lm.wfit); the residual means and moments without forming the residuals.
    k = x.shape[1]
    sw = np.sqrt(w[ctrl])
    q, r = np.linalg.qr(x[ctrl] * sw[:, None])
    right = np.zeros((n, 2 * k + 2), order="F")
    right[ctrl, :k] = q * sw[:, None]
    right[:, k] = w_treat
    right[:, k + 1] = w_cont
    np.multiply(x, w_cont[:, None], out=right[:, k + 2 :])
    prod = right.T @ dy  # (2k + 2, m)
    beta = linalg.solve_triangular(r, prod[:k])
    eta_treat = (prod[k] - xt @ beta) / n / mean_t
    eta_cont = (prod[k + 1] - xc @ beta) / n / mean_c
    # M2 = mean(w_cont (r - eta_cont) x), k x m
    m2 = (prod[k + 2 :] - (right[:, k + 2 :].T @ x) @ beta - np.outer(xc, eta_cont)) / n
    v = np.linalg.solve(xpx, np.column_stack([xt, xc]) / n)  # (k, 2)
    a = w_treat / mean_t - w_cont / mean_c - w_ols * (x @ (v[:, 0] / mean_t - v[:, 1] / mean_c))
    a *= scale
    # inf = a * dy + [-a x, -w_treat / mean_t, w_cont / mean_c, -asy_ps / mean_c] @ coef
    left = np.empty((n, 2 * k + 2), order="F")  # filled column by column, contiguous
    np.multiply(x, -a[:, None], out=left[:, :k])
    np.multiply(w_treat, -scale / mean_t, out=left[:, k])
    np.multiply(w_cont, scale / mean_c, out=left[:, k + 1])
    np.multiply(fits.asy(), -scale / mean_c, out=left[:, k + 2 :])
    coef = np.vstack([beta, eta_treat, eta_cont, m2])
    inf = (coef.T @ left.T).T  # column-major like ``left``
    inf += a[:, None] * dy
    return np.asarray(eta_treat - eta_cont), np.asarray(inf)
