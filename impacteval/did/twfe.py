"""Two-way fixed effects regression (unit and period effects) with clustered SEs."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from impacteval._validation import (
    as_column_list,
    check_binary,
    check_choice,
    check_level,
    group_codes,
    prepare,
)
from impacteval.exceptions import (
    ConvergenceError,
    DataValidationError,
    ImpactEvalWarning,
    SmallSampleWarning,
)
from impacteval.inference.variance import fit_ols
from impacteval.results import EffectEstimate, Provenance, fingerprint, interval

__all__ = ["demean_two_way", "few_treated_clusters", "twfe"]

SE_TYPES_TWFE = ("CR1", "CR0", "stata", "CR2")
_MAX_DUMMY_CELLS = 200_000_000


def demean_two_way(
    values: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    *,
    tol: float = 1e-12,
    max_iter: int = 10_000,
) -> np.ndarray:
    """Residuals of ``values`` (n x m) on two sets of dummies, by alternating projections.

    Each sweep subtracts group means of the first factor, then of the second (the method of
    alternating projections, Guimaraes & Portugal 2010; what fixest and pyfixest do before
    their acceleration). A balanced panel converges after one sweep; an unbalanced one
    geometrically. Written here, with ``np.bincount`` group means, because the libraries
    that do it (pyhdfe via linearmodels) add a copy of the data per call and no speed.

    Raises
    ------
    ConvergenceError
        When the largest change in a sweep is still above ``tol`` (relative to the scale of
        the data) after ``max_iter`` sweeps.
    """
    out = np.array(values, dtype=float, copy=True)
    if out.ndim == 1:
        out = out[:, None]
    n1, n2 = int(first.max()) + 1, int(second.max()) + 1
    c1 = np.bincount(first, minlength=n1).astype(float)
    c2 = np.bincount(second, minlength=n2).astype(float)
    scale = max(1.0, float(np.abs(out).max()))
    for _ in range(max_iter):
        change = 0.0
        for codes, counts, k in ((first, c1, n1), (second, c2, n2)):
            means = (
                np.column_stack(
                    [
                        np.bincount(codes, weights=out[:, j], minlength=k)
                        for j in range(out.shape[1])
                    ]
                )
                / counts[:, None]
            )
            out -= means[codes]
            change = max(change, float(np.abs(means).max()))
        if change <= tol * scale:
            return out
    raise ConvergenceError(
        f"two-way demeaning did not converge in {max_iter} sweeps (last change {change:.3g})"
    )


# Below this many treated clusters, cluster-robust t-tests over-reject noticeably
# (MacKinnon & Webb 2017, 2018): a warning says so.
FEW_TREATED_CLUSTERS = 10


def few_treated_clusters(
    d: np.ndarray, codes: np.ndarray, n_groups: int, column: str, se_type: str
) -> str:
    """A warning message when few clusters contain treated observations ("" otherwise)."""
    n_treated = int(np.count_nonzero(np.bincount(codes, weights=d, minlength=n_groups) > 0))
    if n_treated >= FEW_TREATED_CLUSTERS:
        return ""
    alternatives = (
        "use randomization inference (permuting which clusters are treated) or the wild "
        "cluster (restricted) bootstrap instead"
    )
    if n_treated == 1:
        return (
            f"`cluster`: only 1 of {n_groups} clusters of {column!r} contains treated "
            f"observations; {se_type} cluster-robust standard errors with a single treated "
            "cluster over-reject badly (the treated cluster's residuals are fitted away, so "
            "its variance is missing from the standard error; Conley & Taber 2011, MacKinnon "
            f"& Webb 2017): do not trust the p-value or interval; {alternatives}"
        )
    return (
        f"`cluster`: only {n_treated} of {n_groups} clusters of {column!r} contain treated "
        f"observations; {se_type} cluster-robust t-tests over-reject with few treated "
        f"clusters (MacKinnon & Webb 2017), so the p-value is likely too small; "
        f"{alternatives}"
    )


def twfe(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    covariates: Sequence[str] = (),
    cluster: str | None = None,
    se_type: str = "CR1",
    level: float = 0.95,
) -> EffectEstimate:
    """Two-way fixed effects: ``y_it = a_i + l_t + b D_it + x_it'c + e_it``.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per unit and period; may be unbalanced.
    outcome : str
        Outcome column.
    treatment : str
        The treatment indicator ``D_it`` (1 when unit i is treated in period t), coded 0/1
        (or False/True); other codings (e.g. 0/2) are refused, since they rescale the
        coefficient.
    unit, time : str
        Unit and period identifiers (absorbed as fixed effects).
    covariates : sequence of str
        Time-varying controls (time-invariant ones are absorbed by the unit effects and
        dropped as collinear).
    cluster : str, optional
        Cluster identifier; the unit by default.
    se_type : {"CR1", "CR0", "stata", "CR2"}
        ``"CR1"`` (default) is fixest's default (``ssc(fixef.K = "nested")``):
        ``G/(G-1) * (n-1)/(n-K)`` with ``K`` counting the slopes and the fixed effects
        *not nested* in the clusters -- with unit clusters, ``K = slopes + T`` (the unit
        effects are not counted, the ``T`` period effects are), as fixest and pyfixest.
        ``"stata"`` counts every fixed effect in ``K`` (estimatr's ``se_type="stata"`` with
        ``fixed_effects``; Stata ``areg``). ``"CR0"``: no correction. ``"CR2"``:
        Bell-McCaffrey with the full dummy-variable hat matrix and its df (estimatr /
        clubSandwich), only for panels where the dummies fit in memory. CR0/CR1/stata use
        ``G - 1`` degrees of freedom, as fixest and estimatr do.
    level : float
        Confidence level.

    Returns
    -------
    EffectEstimate
        The coefficient on ``treatment``; ``details["coefficients"]`` holds every slope and
        ``details["small_sample_factor"]`` the multiplier applied to the CR0 variance.

    Raises
    ------
    DataValidationError
        Missing columns, a treatment not coded 0/1 (or with only one value), duplicate
        unit-period rows, a treatment absorbed by the fixed effects, an unknown ``se_type``.

    Warns
    -----
    SmallSampleWarning
        Fewer than 10 clusters contain treated observations: cluster-robust t-tests
        over-reject with few treated clusters (badly with a single one; Conley & Taber
        2011, MacKinnon & Webb 2017). Prefer randomization inference or the wild cluster
        bootstrap then.

    Notes
    -----
    Identification: parallel trends and a homogeneous effect. With staggered adoption and
    effects that vary over time or cohort, the TWFE coefficient is a weighted average of
    2x2 comparisons with possibly negative weights (Goodman-Bacon 2021): prefer ``att_gt``.
    Singleton units (one observation) are kept, as fixest does by default: they do not move
    the estimate but count in ``n``.

    References
    ----------
    Conley, T. G. & Taber, C. R. (2011). Inference with "difference in differences" with a
    small number of policy changes. Review of Economics and Statistics 93(1), 113-125.
    MacKinnon, J. G. & Webb, M. D. (2017). Wild bootstrap inference for wildly different
    cluster sizes. Journal of Applied Econometrics 32(2), 233-254.
    R: ``fixest::feols(y ~ d | unit + time, cluster = ~unit)``; Stata: ``reghdfe``.
    """
    level = check_level(level)
    se_type = check_choice(se_type, "se_type", SE_TYPES_TWFE)
    covs = as_column_list(covariates, "covariates")
    prepared = prepare(
        data,
        numeric={"outcome": outcome, "treatment": treatment, "covariates": covs},
        labels={"unit": unit, "time": time, "cluster": cluster},
        outcome_param="outcome",
    )
    frame = prepared.frame
    check_binary(frame[treatment].to_numpy(dtype=float), "treatment", treatment)
    if frame.duplicated([unit, time]).any():
        raise DataValidationError(
            f"`unit`/`time`: {int(frame.duplicated([unit, time]).sum())} duplicate "
            f"({unit}, {time}) rows; a panel has one row per unit and period"
        )
    uc, n_units = group_codes(frame[unit])
    tc, n_periods = group_codes(frame[time])
    clus = cluster if cluster is not None else unit
    cc, n_groups = group_codes(frame[clus])
    if n_groups < 2:
        raise DataValidationError(
            f"`cluster`: column {clus!r} has a single cluster; a cluster-robust variance "
            "needs at least 2 (and is only reliable with many, several of them treated)"
        )
    names = [treatment, *covs]
    raw = frame[[outcome, *names]].to_numpy(dtype=float)
    n = raw.shape[0]
    nested_unit = bool(frame.groupby(unit)[clus].nunique().max() == 1)
    nested_time = bool(frame.groupby(time)[clus].nunique().max() == 1)

    if se_type == "CR2":
        if n * (n_units + n_periods) > _MAX_DUMMY_CELLS:
            raise DataValidationError(
                f"`se_type`: CR2 needs the dummy-variable design ({n:,} rows x "
                f"{n_units + n_periods:,} effects), too large here; use 'CR1'"
            )
        d_unit = np.zeros((n, n_units))
        d_unit[np.arange(n), uc] = 1.0
        d_time = np.zeros((n, n_periods - 1))
        rows = np.flatnonzero(tc > 0)
        d_time[rows, tc[rows] - 1] = 1.0
        x = np.column_stack([raw[:, 1:], d_unit, d_time])
        fit = fit_ols(
            x,
            raw[:, 0],
            se_type="CR2",
            clusters=cc,
            n_clusters=n_groups,
            df_for=np.arange(len(names)),
        )
        k = len(names)
        coef, vcov, dfs, kept = fit.coef[:k], fit.vcov[:k, :k], fit.df[:k], fit.kept[:k]
        factor = math.nan
    else:
        tilde = demean_two_way(raw, uc, tc)
        # a regressor the fixed effects absorb leaves only rounding noise after demeaning:
        # zero it so that it is reported as collinear (as fixest does)
        centred = raw[:, 1:] - raw[:, 1:].mean(axis=0)
        absorbed = np.linalg.norm(tilde[:, 1:], axis=0) <= 1e-7 * np.maximum(
            np.linalg.norm(centred, axis=0), 1e-300
        )
        if absorbed[0]:
            raise DataValidationError(
                f"`treatment`: column {treatment!r} is collinear with the unit and period "
                "effects (e.g. every unit treated in the same periods); not identified"
            )
        tilde[:, 1:][:, absorbed] = 0.0
        fit = fit_ols(tilde[:, 1:], tilde[:, 0], se_type="CR0", clusters=cc, n_clusters=n_groups)
        coef, vcov, kept = fit.coef, fit.vcov, fit.kept
        k_slopes = int(kept.sum())
        # fixed-effect parameters: N + T - 1 (one restriction between the two sets). fixest's
        # "nested" rule drops the levels of effects nested in the clusters and gives back
        # the restriction each fully nested effect had absorbed (pyfixest's get_ssc):
        # unit effects nested in unit clusters leave K = slopes + T.
        k_fe_all = n_units + n_periods - 1
        n_nested = int(nested_unit) + int(nested_time)
        k_fe = (
            k_fe_all
            - (n_units if nested_unit else 0)
            - (n_periods if nested_time else 0)
            + n_nested
        )
        if se_type == "CR0":
            factor = 1.0
        else:
            k_total = k_slopes + (k_fe_all if se_type == "stata" else k_fe)
            if n <= k_total:
                hint = (
                    "use se_type='CR1', which counts only the effects not nested in the clusters"
                    if se_type == "stata"
                    else "add units or periods"
                )
                raise DataValidationError(
                    f"`se_type`: the {se_type!r} small-sample factor divides by n - K = {n} - "
                    f"{k_total} <= 0 (no residual degrees of freedom); {hint}"
                )
            factor = n_groups / (n_groups - 1) * (n - 1) / (n - k_total)
        vcov = vcov * factor
        dfs = np.full(len(names), float(n_groups - 1))
    if not kept[0]:
        raise DataValidationError(
            f"`treatment`: column {treatment!r} is collinear with the unit and period "
            "effects (e.g. every unit treated in the same periods); not identified"
        )
    caught: list[str] = []
    few = few_treated_clusters(raw[:, 1], cc, n_groups, clus, se_type)
    if few:
        warnings.warn(few, SmallSampleWarning, stacklevel=2)
        caught.append(few)
    dropped = [nm for nm, kk in zip(names, kept, strict=True) if not kk]
    if dropped:
        msg = f"terms collinear with the fixed effects dropped: {dropped}"
        warnings.warn(msg, ImpactEvalWarning, stacklevel=2)
        caught.append(msg)
    se = np.sqrt(np.diag(vcov))
    rows_out = []
    for j, name in enumerate(names):
        lo, hi, p = interval(float(coef[j]), float(se[j]), level, float(dfs[j]))
        rows_out.append(
            {
                "term": name,
                "estimate": coef[j],
                "std_error": se[j],
                "p_value": p,
                "ci_lower": lo,
                "ci_upper": hi,
                "df": dfs[j],
            }
        )
    table = pd.DataFrame(rows_out).set_index("term")
    d = frame[treatment].to_numpy(dtype=float)
    options = {
        "outcome": outcome,
        "treatment": treatment,
        "unit": unit,
        "time": time,
        "covariates": covs,
        "cluster": clus,
        "se_type": se_type,
        "level": level,
    }
    return EffectEstimate.from_wald(
        float(coef[0]),
        float(se[0]),
        level=level,
        df=float(dfs[0]),
        estimand="ATT",
        method=f"two-way fixed effects, {se_type} clustered by {clus}",
        n_obs=n,
        n_treated=int((d != 0).sum()),
        n_control=int((d == 0).sum()),
        n_clusters=n_groups,
        outcome=outcome,
        n_dropped=prepared.n_dropped,
        warnings=tuple(caught),
        provenance=Provenance(
            options=options,
            data_fingerprint=fingerprint(
                data, [outcome, treatment, unit, time, *covs] + ([cluster] if cluster else [])
            ),
        ),
        details={
            "coefficients": table,
            "small_sample_factor": factor,
            "n_units": n_units,
            "n_periods": n_periods,
        },
    )
