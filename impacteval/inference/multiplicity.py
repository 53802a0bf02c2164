"""Multiple-testing adjustments: Bonferroni, Holm, Benjamini-Hochberg and Romano-Wolf.

The first three wrap ``statsmodels.stats.multitest.multipletests``. Romano-Wolf needs the
joint bootstrap distribution of the test statistics: :func:`impacteval.rct.romano_wolf`
produces it for a family of trial regressions (one per outcome), and
:func:`adjust_p_values` (through :func:`step_down`) applies the step-down algorithm to any
``(statistics, null_statistics)`` pair. This module needs no estimator: the arrow runs from
``rct`` to ``inference``, never back.
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from impacteval._validation import check_choice
from impacteval.exceptions import DataValidationError

__all__ = ["adjust_p_values", "bootstrap_p", "step_down"]

_METHODS = ("holm", "bonferroni", "bh", "romano_wolf")
_STATSMODELS = {"holm": "holm", "bonferroni": "bonferroni", "bh": "fdr_bh"}


# -- numerics: arrays in, arrays out ------------------------------------------------------
def bootstrap_p(stat: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Unadjusted bootstrap p-values ``(#{b: t*_bj >= t_j} + 1) / (B + 1)``."""
    counts = np.sum(null >= stat[None, :], axis=0)
    return np.asarray((counts + 1.0) / (null.shape[0] + 1.0), dtype=float)


def step_down(stat: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Romano-Wolf step-down max-t adjusted p-values (Romano & Wolf 2016, Algorithm 4.1).

    ``stat`` (m,) are the observed |t|; ``null`` (B, m) the centred bootstrap |t|.
    """
    order = np.argsort(-stat, kind="stable")  # most significant first
    null_sorted = null[:, order]
    # max over the hypotheses not yet rejected at each step: a reverse running maximum
    tail_max = np.maximum.accumulate(null_sorted[:, ::-1], axis=1)[:, ::-1]
    p_sorted = (np.sum(tail_max >= stat[order][None, :], axis=0) + 1.0) / (null.shape[0] + 1.0)
    p_sorted = np.maximum.accumulate(p_sorted)  # monotone in the order of significance
    adjusted = np.empty_like(p_sorted)
    adjusted[order] = p_sorted
    return adjusted


# -- adjust_p_values ----------------------------------------------------------------------
@overload
def adjust_p_values(
    p_values: pd.Series, *, method: str = ..., statistics: Any = ..., null_statistics: Any = ...
) -> pd.Series: ...
@overload
def adjust_p_values(
    p_values: Any, *, method: str = ..., statistics: Any = ..., null_statistics: Any = ...
) -> np.ndarray: ...
def adjust_p_values(
    p_values: Any,
    *,
    method: str = "holm",
    statistics: Any = None,
    null_statistics: Any = None,
) -> pd.Series | np.ndarray:
    """Adjust a family of p-values for multiple testing.

    Parameters
    ----------
    p_values : array-like or pandas.Series
        Unadjusted p-values in [0, 1]. With ``method="romano_wolf"`` they only fix the
        shape and labels of the output (the adjustment uses the statistics).
    method : {"holm", "bonferroni", "bh", "romano_wolf"}
        Holm (1979) step-down and Bonferroni control the family-wise error rate (FWER);
        Benjamini-Hochberg (1995) controls the false discovery rate; Romano-Wolf (2005)
        controls the FWER using the joint (bootstrap) distribution of the statistics.
    statistics : array-like, shape (m,)
        Romano-Wolf only: the observed absolute t statistics.
    null_statistics : array-like, shape (B, m)
        Romano-Wolf only: bootstrap absolute t statistics centred at the estimates,
        ``|b*_j - b_j| / se*_j`` (as :func:`impacteval.rct.romano_wolf` computes them).

    Returns
    -------
    numpy.ndarray or pandas.Series
        Adjusted p-values: a Series with the same index and name for a Series input,
        otherwise an array of the input's shape.

    Raises
    ------
    DataValidationError
        Empty input, p-values that are not finite or outside [0, 1], an unknown method,
        Romano-Wolf without ``statistics`` / ``null_statistics`` or with shapes that do not
        match.

    Notes
    -----
    With ``m`` p-values ordered ``p_(1) <= ... <= p_(m)``: Bonferroni ``min(1, m p)``;
    Holm ``max_{k <= i} min(1, (m - k + 1) p_(k))``; Benjamini-Hochberg
    ``min_{k >= i} min(1, m p_(k) / k)`` (valid under independence or positive
    dependence). Romano-Wolf orders the hypotheses by ``|t|`` (largest first) and, for
    the ``s``-th, counts bootstrap draws whose maximum centred statistic over the
    hypotheses ranked ``s..m`` reaches ``|t|_(s)``:
    ``p_(s) = (#{b: max_{k >= s} t*_b,(k) >= |t|_(s)} + 1) / (B + 1)``, then enforces
    monotonicity ``p_(s) = max(p_(s-1), p_(s))``. Each adjusted p-value is at least the
    unadjusted bootstrap p-value of the same hypothesis, and with one hypothesis equals it.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure. Scandinavian
    Journal of Statistics 6(2), 65-70.
    Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate. JRSS B
    57(1), 289-300.
    Romano, J. P. & Wolf, M. (2005). Stepwise multiple testing as formalized data
    snooping. Econometrica 73(4), 1237-1282.
    Romano, J. P. & Wolf, M. (2016). Efficient computation of adjusted p-values for
    resampling-based stepdown multiple testing. Statistics & Probability Letters 113,
    38-40.
    R: ``stats::p.adjust(p, "holm" | "bonferroni" | "BH")``; Stata: ``rwolf`` (Clarke,
    Romano & Wolf 2020, Stata Journal 20(4)).

    Examples
    --------
    >>> from impacteval.inference.multiplicity import adjust_p_values
    >>> adjust_p_values([0.01, 0.04, 0.03], method="holm").round(4).tolist()
    [0.03, 0.06, 0.06]
    """
    method = check_choice(method, "method", _METHODS)
    is_series = isinstance(p_values, pd.Series)
    try:
        raw = np.asarray(p_values, dtype=float)
    except (TypeError, ValueError):
        raise DataValidationError(
            f"`p_values` must be numbers in [0, 1]; received {type(p_values).__name__}"
        ) from None
    flat = raw.ravel()
    if flat.size == 0:
        raise DataValidationError("`p_values` is empty; nothing to adjust")
    if not np.all(np.isfinite(flat)) or np.any((flat < 0) | (flat > 1)):
        bad = flat[~np.isfinite(flat) | (flat < 0) | (flat > 1)]
        raise DataValidationError(
            f"`p_values` must be finite numbers in [0, 1]; received {bad[:5].tolist()}"
        )
    if method == "romano_wolf":
        stat, null = _check_statistics(statistics, null_statistics, flat.size)
        adjusted = step_down(stat, null)
    else:
        adjusted = multipletests(flat, method=_STATSMODELS[method])[1]
    if is_series:
        return pd.Series(adjusted, index=p_values.index, name=p_values.name)
    return np.asarray(adjusted, dtype=float).reshape(raw.shape)


def _check_statistics(statistics: Any, null_statistics: Any, m: int) -> tuple[np.ndarray, ...]:
    if statistics is None or null_statistics is None:
        raise DataValidationError(
            "method='romano_wolf' needs `statistics` (the m observed |t|) and "
            "`null_statistics` (a B x m array of centred bootstrap |t|); use "
            "impacteval.rct.romano_wolf(...) to compute them from the data; received "
            f"statistics={'None' if statistics is None else 'given'}, "
            f"null_statistics={'None' if null_statistics is None else 'given'}"
        )
    stat = np.abs(np.asarray(statistics, dtype=float).ravel())
    null = np.abs(np.asarray(null_statistics, dtype=float))
    if null.ndim == 1 and m == 1:
        null = null[:, None]
    if stat.size != m or null.ndim != 2 or null.shape[1] != m or null.shape[0] < 1:
        raise DataValidationError(
            f"`statistics` must have shape ({m},) and `null_statistics` shape (B, {m}) to "
            f"match the {m} p-values; received {stat.shape} and {null.shape}"
        )
    if not (np.all(np.isfinite(stat)) and np.all(np.isfinite(null))):
        raise DataValidationError("`statistics` and `null_statistics` must be finite")
    return stat, null
