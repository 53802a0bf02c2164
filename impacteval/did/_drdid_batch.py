"""DRDID's locally efficient panel DiD for several outcome changes at once.

``att_gt`` estimates many cells whose 2x2 problems share everything but the outcome: with
never-treated controls (or the same not-yet-treated set) and covariates that do not change
over time, every cell of a cohort has the same units, treatment indicator, covariates,
weights and hence the same propensity score, the same outcome-regression design and the
same linear representations. :func:`drdid_panel_batch` takes the cells' outcome changes as
the columns of one matrix and computes :func:`impacteval.did._drdid.drdid_panel` for all of
them with matrix products: one least-squares solve with several right-hand sides, one
factorisation of the regression's Gram matrix, and the influence functions as ``n x m``
arrays. The algebra is that of ``drdid_panel`` term by term; only the order of floating
point operations differs (a test checks the two agree to ~1e-12).
"""

from __future__ import annotations

import numpy as np

from impacteval.did._drdid import EPS, CellError, PScore, normalise, rcond1

__all__ = ["drdid_panel_batch"]

Array = np.ndarray


def drdid_panel_batch(
    dy: Array, d: Array, x: Array, w: Array, *, pscore: PScore | None = None
) -> tuple[Array, Array]:
    """``drdid_panel`` for every column of ``dy``.

    Parameters
    ----------
    dy : (n, m) outcome changes, one column per cell.
    d : (n,) 0/1 treated-cohort indicator; x : (n, k) covariates with the intercept column;
    w : (n,) sampling weights (normalised here, as DRDID does).
    pscore : PScore, optional
        The propensity-score fits of ``(x, d, normalise(w))``, when the caller has them.

    Returns
    -------
    att : (m,) the ATTs; influence : (n, m) their influence functions.

    Raises
    ------
    CellError
        The controls' outcome-regression design is singular.
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
    sw = np.sqrt(w[ctrl])
    beta, *_ = np.linalg.lstsq(x[ctrl] * sw[:, None], dy[ctrl] * sw[:, None], rcond=None)
    resid = dy - x @ beta  # (n, m)
    w_treat = trim * w * d
    w_cont = trim * w * ps * (1.0 - d) / (1.0 - ps)
    mean_t, mean_c = float(np.mean(w_treat)), float(np.mean(w_cont))
    eta_treat = (w_treat @ resid) / n / mean_t
    eta_cont = (w_cont @ resid) / n / mean_c
    # asy_ols @ v = (w_ols * resid) * (x @ xpx^-1 v) for the two moment vectors v
    moments = np.column_stack([w_treat @ x, w_cont @ x]) / n  # (k, 2)
    xv = x @ np.linalg.solve(xpx, moments)  # (n, 2)
    ols_part = w_ols[:, None] * resid
    inf_treat = (w_treat[:, None] * (resid - eta_treat) - ols_part * xv[:, :1]) / mean_t
    cont_centred = w_cont[:, None] * (resid - eta_cont)
    ps_part = fits.asy() @ (x.T @ cont_centred / n)  # (n, m)
    inf_control = (cont_centred + ps_part - ols_part * xv[:, 1:]) / mean_c
    return np.asarray(eta_treat - eta_cont), np.asarray(inf_treat - inf_control)
