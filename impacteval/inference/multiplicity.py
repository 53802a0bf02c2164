"""Multiple-testing adjustments: Bonferroni, Holm, Benjamini-Hochberg and Romano-Wolf.

The first three wrap ``statsmodels.stats.multitest.multipletests``. Romano-Wolf needs the
joint bootstrap distribution of the test statistics: :func:`romano_wolf` produces it for a
family of trial regressions (one per outcome) and :func:`adjust_p_values` applies the
step-down algorithm to any ``(statistics, null_statistics)`` pair.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, overload

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from impacteval._validation import (
    check_binary,
    check_choice,
    check_positive_int,
    check_rng,
    group_codes,
    prepare,
)
from impacteval.exceptions import DataValidationError
from impacteval.inference.variance import fit_ols
from impacteval.results import fingerprint

__all__ = ["adjust_p_values", "romano_wolf"]

_METHODS = ("holm", "bonferroni", "bh", "romano_wolf")
_STATSMODELS = {"holm": "holm", "bonferroni": "bonferroni", "bh": "fdr_bh"}
_MAX_REDRAWS = 1000  # bootstrap draws rejected (an empty arm) before giving up


# -- numerics: arrays in, arrays out ------------------------------------------------------
def _bootstrap_p(stat: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Unadjusted bootstrap p-values ``(#{b: t*_bj >= t_j} + 1) / (B + 1)``."""
    counts = np.sum(null >= stat[None, :], axis=0)
    return np.asarray((counts + 1.0) / (null.shape[0] + 1.0), dtype=float)


def _step_down(stat: np.ndarray, null: np.ndarray) -> np.ndarray:
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
        ``|b*_j - b_j| / se*_j`` (as :func:`romano_wolf` computes them).

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
        adjusted = _step_down(stat, null)
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
            "impacteval.inference.romano_wolf(...) to compute them from the data; received "
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


# -- romano_wolf --------------------------------------------------------------------------
def _design(z: np.ndarray, xc: np.ndarray, adjustment: str) -> np.ndarray:
    """The design of :func:`impacteval.rct.regression` (Lin: covariates centred, interacted)."""
    n = z.shape[0]
    if xc.shape[1] == 0:
        return np.column_stack([np.ones(n), z])
    if adjustment == "lin":
        xc = xc - xc.mean(axis=0)
        return np.column_stack([np.ones(n), z, xc, z[:, None] * xc])
    return np.column_stack([np.ones(n), z, xc])


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread: the bootstrap's many tiny factorisations gain nothing from
    threads and, on a busy machine, lose 10-100x to thread contention."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")  # type: ignore[no-any-return]


def _draw(
    generator: np.random.Generator, n: int, members: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows of one pairs-bootstrap draw, and cluster codes (drawn clusters are distinct)."""
    if not members:
        return generator.integers(0, n, n), None
    draw = generator.integers(0, len(members), len(members))
    rows = np.concatenate([members[k] for k in draw])
    return rows, np.repeat(np.arange(len(members)), [members[k].size for k in draw])


def _fit_all(
    x: np.ndarray, ys: np.ndarray, se_type: str, codes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Treatment coefficient and SE for each outcome column of ``ys``.

    A draw that leaves an arm empty (or, clustered, fewer than two clusters per arm) gets
    NaN standard errors, so the caller redraws it.
    """
    z = x[:, 1]
    est = np.full(ys.shape[1], np.nan)
    se = np.full(ys.shape[1], np.nan)
    if not 0 < z.sum() < z.size:
        return est, se
    g = None
    if codes is not None:
        g = int(codes.max()) + 1
        if min(np.unique(codes[z == 1]).size, np.unique(codes[z == 0]).size) < 2:
            return est, se
    for j in range(ys.shape[1]):
        fit = fit_ols(x, ys[:, j], se_type=se_type, clusters=codes, n_clusters=g)
        if fit.kept[1]:
            est[j] = fit.coef[1]
            se[j] = np.sqrt(fit.vcov[1, 1])
    return est, se


def romano_wolf(
    data: pd.DataFrame,
    *,
    outcomes: Sequence[str],
    treatment: str,
    covariates: Sequence[str] = (),
    cluster: str | None = None,
    adjustment: str = "lin",
    se_type: str | None = None,
    n_bootstrap: int = 1000,
    rng: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Romano-Wolf adjusted p-values for the treatment effect on several outcomes.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit.
    outcomes : sequence of str
        The family of outcome columns; one regression each.
    treatment, covariates, cluster, adjustment, se_type
        As in :func:`impacteval.rct.regression` (defaults: Lin adjustment, HC2, or CR2
        with ``cluster``).
    n_bootstrap : int
        Bootstrap draws ``B``.
    rng : int or numpy.random.Generator, optional
        Seed or generator; the same seed gives the same p-values.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``outcome``: ``estimate``, ``std_error``, ``statistic`` (t),
        ``p_value_model`` (the regression's analytic p-value), ``p_value`` (unadjusted
        bootstrap p-value, from the same draws) and ``p_value_rw`` (Romano-Wolf).
        ``attrs`` holds ``null_statistics`` (B x m), the options, the seed, the data
        fingerprint and ``n_dropped``.

    Raises
    ------
    DataValidationError
        As :func:`impacteval.rct.regression`, plus an empty ``outcomes``, a bad
        ``n_bootstrap`` or ``rng``.

    Notes
    -----
    Each outcome's ATE is estimated by :func:`impacteval.rct.regression` on the rows
    complete in every outcome, treatment, covariate and cluster (so every hypothesis uses
    the same units; dropped rows are counted in ``attrs["n_dropped"]``). The pairs
    bootstrap resamples rows (whole clusters, relabelled as distinct, when ``cluster`` is
    given) and refits every regression with the same variance estimator; draws leaving an
    arm without units (or, clustered, with fewer than two clusters) are redrawn. The null
    statistics are studentised and centred at the original estimates,
    ``t*_bj = |b*_bj - b_j| / se*_bj``, which mimics the null distribution of
    ``|t_j|`` (Romano & Wolf 2005, 2016). The step-down algorithm is described in
    :func:`adjust_p_values`.

    References
    ----------
    Romano, J. P. & Wolf, M. (2005). Exact and approximate stepdown methods for multiple
    hypothesis testing. JASA 100(469), 94-108.
    Romano, J. P. & Wolf, M. (2016). Efficient computation of adjusted p-values for
    resampling-based stepdown multiple testing. Statistics & Probability Letters 113,
    38-40.
    Clarke, D., Romano, J. P. & Wolf, M. (2020). The Romano-Wolf multiple-hypothesis
    correction in Stata. Stata Journal 20(4), 812-843 (Stata: ``rwolf``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from impacteval.inference.multiplicity import romano_wolf
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"z": np.repeat([0, 1], 50), "y1": rng.normal(size=100),
    ...                    "y2": rng.normal(size=100)})
    >>> out = romano_wolf(df, outcomes=["y1", "y2"], treatment="z", n_bootstrap=99, rng=2)
    >>> bool((out["p_value_rw"] >= out["p_value"]).all())
    True
    """
    from impacteval._validation import as_column_list
    from impacteval.rct.regression import check_clusters_per_arm, regression

    outs = as_column_list(outcomes, "outcomes")
    if not outs:
        raise DataValidationError("`outcomes` must name at least one outcome column")
    covs = as_column_list(covariates, "covariates")
    adjustment = check_choice(adjustment, "adjustment", ("lin", "additive"))
    n_boot = check_positive_int(n_bootstrap, "n_bootstrap", minimum=1)
    generator, seed = check_rng(rng)
    prepared = prepare(
        data,
        numeric={"outcomes": outs, "treatment": treatment, "covariates": covs},
        labels={"cluster": cluster},
    )
    frame = prepared.frame
    fits = [
        regression(
            frame,
            outcome=o,
            treatment=treatment,
            covariates=covs,
            adjustment=adjustment,
            se_type=se_type,
            cluster=cluster,
        )
        for o in outs
    ]
    se_used = str(fits[0].details["se_type"])
    est = np.array([f.estimate for f in fits])
    se = np.array([f.std_error for f in fits])
    bad = np.flatnonzero(~(se > 0)).tolist()
    if bad:
        raise DataValidationError(
            f"`outcomes`: no positive standard error for {[outs[i] for i in bad]}; "
            "Romano-Wolf needs a finite, positive t statistic for every outcome"
        )
    z = check_binary(frame[treatment].to_numpy(dtype=float), "treatment", treatment)
    ys = frame[outs].to_numpy(dtype=float)
    xc = frame[covs].to_numpy(dtype=float) if covs else np.zeros((z.size, 0))
    members: list[np.ndarray] = []
    if cluster is not None:
        codes, g = group_codes(frame[cluster])
        check_clusters_per_arm(z, codes, cluster)
        order = np.argsort(codes, kind="stable")
        members = np.split(order, np.cumsum(np.bincount(codes, minlength=g))[:-1])
    null = np.empty((n_boot, len(outs)))
    b = redraws = 0
    with _one_blas_thread():
        while b < n_boot:
            rows, bcodes = _draw(generator, z.size, members)
            eb, sb = _fit_all(_design(z[rows], xc[rows], adjustment), ys[rows], se_used, bcodes)
            if np.all(np.isfinite(sb) & (sb > 0)):
                null[b] = np.abs(eb - est) / sb
                b += 1
                continue
            redraws += 1
            if redraws > _MAX_REDRAWS:
                raise DataValidationError(
                    f"the bootstrap failed {_MAX_REDRAWS} times to draw a sample with both arms "
                    "(two clusters per arm when clustered); the data are too small to bootstrap"
                )

    stat = np.abs(est / se)
    table = pd.DataFrame(
        {
            "estimate": est,
            "std_error": se,
            "statistic": est / se,
            "p_value_model": [f.p_value for f in fits],
            "p_value": _bootstrap_p(stat, null),
            "p_value_rw": _step_down(stat, null),
        },
        index=pd.Index(outs, name="outcome"),
    )
    used = [*outs, treatment, *covs] + ([cluster] if cluster else [])
    table.attrs.update(
        {
            "null_statistics": null,
            "n_bootstrap": n_boot,
            "seed": seed,
            "se_type": se_used,
            "adjustment": adjustment,
            "n_dropped": prepared.n_dropped,
            "n_redraws": redraws,
            "n_obs": int(z.size),
            "data_fingerprint": fingerprint(data, used),
        }
    )
    return table
