"""Ridge-augmented synthetic control (Ben-Michael, Feller & Rothstein 2021): the numerics.

Array in, array out; :meth:`impacteval.synth.SyntheticControl.augment` applies the
correction to a result.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ridge_correction"]


def _loo_lambda(x0c: np.ndarray, y0c: np.ndarray) -> float:
    """Penalty minimising the leave-one-donor-out squared error of the ridge regression of
    the donors' (centred) post-period outcomes ``y0c`` (J, P) on their centred pre-period
    outcomes ``x0c`` (J, T0); closed form through the hat-matrix diagonal."""
    u, s, _ = np.linalg.svd(x0c, full_matrices=False)
    j = x0c.shape[0]
    grid = (s[0] ** 2) * np.logspace(-6, 2, 41)
    uy = u.T @ y0c
    best, best_lam = math.inf, float(grid[-1])
    for lam in grid:
        shrink = s**2 / (s**2 + lam)
        fitted = u @ (shrink[:, None] * uy)
        h = (u**2) @ shrink + 1.0 / j  # the intercept (centring) adds 1/J to the leverage
        resid = (y0c - fitted) / (1.0 - h)[:, None]
        err = float((resid**2).sum())
        if err < best:
            best, best_lam = err, float(lam)
    return best_lam


def ridge_correction(
    y1_pre: np.ndarray,
    y0_pre: np.ndarray,
    y0: np.ndarray,
    w: np.ndarray,
    post: np.ndarray,
    lam: float | None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Bias correction by period and the augmented weights.

    ``y0_pre`` is (T0, J), ``y0`` (T, J). Returns ``(correction (T,), w_aug (J,), lambda)``
    with ``correction_t = y0[t] @ (w_aug - w)`` and ``sum(w_aug) = 1``.
    """
    x0 = y0_pre.T  # J x T0
    mean = x0.mean(axis=0)
    x0c = x0 - mean
    d = y1_pre - x0.T @ w  # treated minus synthetic, pre-period
    if lam is None:
        yc = y0[post].T - y0[post].T.mean(axis=0)
        lam = _loo_lambda(x0c, yc) if yc.size else 1.0
    a = x0c @ np.linalg.solve(x0c.T @ x0c + lam * np.eye(x0c.shape[1]), d)
    return y0 @ a, w + a, float(lam)
