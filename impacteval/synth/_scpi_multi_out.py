"""Out-of-sample (outcome shock) bounds for several treated units.

The single-unit models of :mod:`impacteval.synth._scpi_outsample` fitted on the stacked
pre-period residuals of all treated units with a block design (each unit its own constant
and active donors' outcomes), as scpi's ``scpi`` does for ``scdataMulti`` data:

- the design is a constant alone for every unit when ``sum_i T0_i - 10`` is not larger than
  the total number of columns (``sum_i (active_i + 1)``); a unit whose own block would have
  at least ``T0_i - 1`` columns falls back to its constant alone;
- a block-diagonal design makes the OLS fits of the mean and of ``log r^2`` and the quantile
  regressions separate unit by unit; the location-scale quantiles of the standardised
  residuals are pooled over all units, and with the constant-only design the ``"qreg"``
  bounds are the pooled sample quantiles;
- for the effect by event time (average over treated units) the per-unit conditional mean,
  log variance and interquartile range (``"gaussian"``, ``"ls"``) or conditional quantiles
  (``"qreg"``) at each event time are averaged over the units before the bounds are formed.
  scpi-pkg 4.0.0 additionally divides the post-period design by the number of units before
  this average, which shrinks the bounds of the average by that factor; here the average is
  of the units' own predictions (see the reference test).

Pure array-in / array-out functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impacteval.synth._scpi_outsample import ols_coef, quantile_fit

__all__ = ["ErrorBlock", "error_blocks", "multi_outsample_bounds"]


@dataclass(frozen=True)
class ErrorBlock:
    """One unit's residuals ``e`` (T0,) and designs ``x0`` (T0, k), ``x1`` (rows, k)."""

    e: np.ndarray
    x0: np.ndarray
    x1: np.ndarray


def error_blocks(
    resid: list[np.ndarray], pre_active: list[np.ndarray], rows_active: list[np.ndarray]
) -> tuple[list[ErrorBlock], bool]:
    """The per-unit designs and whether the constant-only rule applied to all units.

    Parameters
    ----------
    resid : per unit, the pre-period residuals of the synthetic control.
    pre_active : per unit, the active donors' pre-period outcomes (T0_i, a_i).
    rows_active : per unit, the active donors' outcomes in the estimand's rows.
    """
    total_rows = sum(e.size for e in resid)
    total_cols = sum(x.shape[1] + 1 for x in pre_active)
    simple = total_rows - 10 <= total_cols
    blocks = []
    for e, x0a, x1a in zip(resid, pre_active, rows_active, strict=True):
        t0, n1 = e.size, x1a.shape[0]
        keep = x0a.std(axis=0) > 0
        x0 = np.column_stack([np.ones(t0), x0a[:, keep]])
        x1 = np.column_stack([np.ones(n1), x1a[:, keep]])
        if simple or x0.shape[1] >= t0 - 1:
            x0, x1 = np.ones((t0, 1)), np.ones((n1, 1))
        blocks.append(ErrorBlock(e=e, x0=x0, x1=x1))
    return blocks, simple


@dataclass(frozen=True)
class _Moments:
    mean: np.ndarray
    logvar: np.ndarray
    iqr: np.ndarray
    standardised: np.ndarray


def _moments(b: ErrorBlock) -> _Moments:
    beta = ols_coef(b.e, b.x0)
    r = b.e - b.x0 @ beta
    gamma = ols_coef(np.log(r**2), b.x0)
    iqr = np.abs(quantile_fit(r, b.x0, b.x1, 0.75) - quantile_fit(r, b.x0, b.x1, 0.25))
    return _Moments(
        mean=b.x1 @ beta,
        logvar=b.x1 @ gamma,
        iqr=iqr,
        standardised=r / np.sqrt(np.exp(b.x0 @ gamma)),
    )


def _combine(parts: list[np.ndarray], average: bool) -> np.ndarray:
    """Stack the units' rows, or average them row by row (event-time effect)."""
    if average:
        return np.asarray(np.mean(np.vstack(parts), axis=0))
    return np.concatenate(parts)


def multi_outsample_bounds(
    blocks: list[ErrorBlock], *, simple: bool, method: str, alpha: float, average: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds on the out-of-sample errors of the estimand's rows.

    Parameters
    ----------
    blocks, simple : from :func:`error_blocks` (with ``average``, every block has the same
        number of rows: the event times common to all units).
    method : ``"gaussian"``, ``"ls"`` or ``"qreg"``.
    alpha : total error probability (each tail ``alpha / 2``).
    average : average the units' predictions by row (effect by event time) instead of
        stacking them.
    """
    a = alpha / 2.0
    if method == "qreg":
        if simple:
            pooled = np.concatenate([b.e for b in blocks])
            lo_q, hi_q = np.quantile(pooled, a), np.quantile(pooled, 1.0 - a)
            lo = [np.full(b.x1.shape[0], lo_q) for b in blocks]
            hi = [np.full(b.x1.shape[0], hi_q) for b in blocks]
        else:
            lo = [quantile_fit(b.e, b.x0, b.x1, a) for b in blocks]
            hi = [quantile_fit(b.e, b.x0, b.x1, 1.0 - a) for b in blocks]
        return _combine(lo, average), _combine(hi, average)
    moments = [_moments(b) for b in blocks]
    mean = _combine([m.mean for m in moments], average)
    logvar = _combine([m.logvar for m in moments], average)
    iqr = _combine([m.iqr for m in moments], average)
    sigma = np.minimum(np.sqrt(np.exp(logvar)), iqr / 1.34)
    if method == "gaussian":
        eps = np.sqrt(-2.0 * np.log(a)) * sigma
        return mean - eps, mean + eps
    standardised = np.concatenate([m.standardised for m in moments])
    return (
        mean + sigma * np.quantile(standardised, a),
        mean + sigma * np.quantile(standardised, 1.0 - a),
    )
