"""Out-of-sample (outcome shock) uncertainty of the synthetic control prediction.

The post-period error ``e_t`` of the counterfactual is not estimable from the weights; it is
modelled from the pre-period residuals ``e_s = y_1s - b_s'w_hat`` with a design ``H`` (a
constant and the outcomes of the active donors; a constant alone when fewer than ten degrees
of freedom would remain), as Cattaneo, Feng & Titiunik (2021, sec. 4.2):

- ``"gaussian"``: ``e_t`` sub-Gaussian given ``H``: mean ``E[e|H]`` by OLS, scale
  ``sigma = min(sqrt(exp(H'g)), IQR / 1.34)`` (``g`` the OLS fit of ``log r^2``; IQR from
  quantile regressions of the residual ``r`` at 0.25 and 0.75), bounds
  ``E[e|H] -/+ sqrt(2 log(1/a)) sigma`` with ``a = alpha / 2``.
- ``"ls"`` (location-scale): ``E[e|H] + sigma q_a``, ``q_a`` the empirical quantiles of the
  standardised residuals ``r / sqrt(exp(H'g))``.
- ``"qreg"``: conditional quantiles at ``a`` and ``1 - a`` by quantile regression on ``H``
  (plain sample quantiles with the constant-only design).

Pure array-in / array-out functions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["OUT_METHODS", "error_design", "ols_coef", "outsample_bounds", "quantile_fit"]

OUT_METHODS = ("gaussian", "ls", "qreg")


def error_design(pre_active: np.ndarray, post_active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pre design, post design): a constant and the active donors' outcomes, or a
    constant alone when ``T0 - 10 <= columns`` or ``columns >= T0 - 1``."""
    t0, t1 = pre_active.shape[0], post_active.shape[0]
    keep = pre_active.std(axis=0) > 0
    x0 = np.column_stack([np.ones(t0), pre_active[:, keep]])
    x1 = np.column_stack([np.ones(t1), post_active[:, keep]])
    if t0 - 10 <= x0.shape[1] or x0.shape[1] >= t0 - 1:
        return np.ones((t0, 1)), np.ones((t1, 1))
    return x0, x1


def ols_coef(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.asarray(np.linalg.lstsq(x, y, rcond=None)[0])


def quantile_fit(y: np.ndarray, x: np.ndarray, x_new: np.ndarray, q: float) -> np.ndarray:
    """Linear quantile regression at ``q`` (statsmodels' IRLS ``QuantReg``), predicted at
    ``x_new``."""
    import warnings

    from statsmodels.regression.quantile_regression import QuantReg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = QuantReg(y, x).fit(q=q)
    return np.asarray(x_new @ np.asarray(fit.params))


def outsample_bounds(
    e: np.ndarray, x0: np.ndarray, x1: np.ndarray, method: str, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds on the post-period errors (one per row of ``x1``) for a
    two-sided ``alpha`` (each tail ``alpha / 2``).

    Parameters
    ----------
    e : (T0,) pre-period residuals of the synthetic control.
    x0, x1 : designs from :func:`error_design`.
    method : one of :data:`OUT_METHODS`.
    alpha : total error probability of the out-of-sample bound.
    """
    a = alpha / 2.0
    if method == "qreg":
        if x0.shape[1] == 1:
            lo, hi = np.quantile(e, a), np.quantile(e, 1.0 - a)
            return np.full(x1.shape[0], lo), np.full(x1.shape[0], hi)
        return quantile_fit(e, x0, x1, a), quantile_fit(e, x0, x1, 1.0 - a)
    beta = ols_coef(e, x0)
    mean = x1 @ beta
    r = e - x0 @ beta
    gamma = ols_coef(np.log(r**2), x0)
    sig2 = np.exp(x1 @ gamma)
    iqr = np.abs(quantile_fit(r, x0, x1, 0.75) - quantile_fit(r, x0, x1, 0.25))
    sigma = np.minimum(np.sqrt(sig2), iqr / 1.34)
    if method == "gaussian":
        eps = np.sqrt(-2.0 * np.log(a)) * sigma
        return mean - eps, mean + eps
    standardised = r / np.sqrt(np.exp(x0 @ gamma))
    return (
        mean + sigma * np.quantile(standardised, a),
        mean + sigma * np.quantile(standardised, 1.0 - a),
    )
