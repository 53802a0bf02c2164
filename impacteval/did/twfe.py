"""Two-way fixed effects regression (unit and period effects) with clustered SEs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._panel import Panel, prepare_panel
from impacteval._validation import (
    as_column_list,
    check_binary,
    check_choice,
    check_level,
    group_codes,
)
from impacteval._warn import WarningLog
from impacteval.did._dask_twfe import twfe_dask
from impacteval.exceptions import (
    ConvergenceError,
    DataValidationError,
    SmallSampleWarning,
)
from impacteval.inference.variance import fit_ols
from impacteval.inference.wild import WildBootstrapResult
from impacteval.inference.wild_frame import (
    apply_wild_bootstrap,
    check_wild_options,
    wild_bootstrap_regression,
)
from impacteval.rct.regression_dask import is_dask_dataframe
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
    inference: str = "analytic",
    wild_bootstrap: Mapping[str, Any] | None = None,
    rng: int | np.random.Generator | None = None,
) -> EffectEstimate:
    """Two-way fixed effects: ``y_it = a_i + l_t + b D_it + x_it'c + e_it``.

    Parameters
    ----------
    data : pandas.DataFrame or dask.dataframe.DataFrame
        Long panel, one row per unit and period; may be unbalanced. A Dask DataFrame
        (balanced panel partitioned by unit, clusters = units, CR1 / CR0 / "stata",
        analytic inference) is estimated by map-reduce over its partitions without
        collecting the rows: see :mod:`impacteval.did._dask_twfe`.
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
    inference : {"analytic", "wild"}
        ``"analytic"`` (default): t interval with ``G - 1`` df from ``se_type``.
        ``"wild"``: p-value and interval from the wild cluster bootstrap of the treatment
        coefficient (clusters as ``cluster``; :func:`impacteval.inference.
        wild_bootstrap_regression` with ``fixed_effects=[unit, time]``), the remedy for few
        (treated) clusters. Estimate and ``std_error`` stay the analytic ones.
    wild_bootstrap : mapping, optional
        Options of the wild bootstrap (only with ``inference="wild"``): ``impose_null``
        (True: WCR, default; False: WCU), ``weights_type`` (``"rademacher"`` default,
        ``"webb"`` -- recommended below about 10 clusters --, ``"mammen"``, ``"normal"``),
        ``B`` (draws, default 9999), ``enumerate`` (``"auto"``: all ``2^G`` Rademacher sign
        vectors when ``2^G <= B``) and ``p_value_type`` (``"symmetric"`` or
        ``"equal_tailed"``).
    rng : int or numpy.random.Generator, optional
        Seed of the wild bootstrap draws (only with ``inference="wild"``).

    Returns
    -------
    EffectEstimate
        The coefficient on ``treatment``; ``details["coefficients"]`` holds every slope and
        ``details["small_sample_factor"]`` the multiplier applied to the CR0 variance.
        With ``inference="wild"``: ``ci_method`` is ``"wild bootstrap"``, ``method`` names
        the bootstrap, ``details["wild_bootstrap"]`` holds its statistic, draws and both
        p-values, and ``provenance`` records ``inference="wild"``, its options and the seed.

    Raises
    ------
    DataValidationError
        Missing columns, a treatment not coded 0/1 (or with only one value), duplicate
        unit-period rows, a treatment absorbed by the fixed effects, an unknown ``se_type``,
        an unknown ``inference`` or bootstrap option, ``wild_bootstrap`` or ``rng`` with
        analytic inference.

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

    With ``inference="wild"`` the bootstrap runs on the dummy-variable regression of the
    estimation sample (unit effects absorbed exactly when nested in the clusters, period
    effects as dummies; covariates the fit dropped as collinear left out). Its CR1 factor
    counts every fixed effect, so ``details["wild_bootstrap"]["t_stat"]`` can differ from
    ``estimate / std_error``; the p-value and interval do not depend on that factor.

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
    wild = check_wild_options(inference, wild_bootstrap, rng)
    covs = as_column_list(covariates, "covariates")
    if is_dask_dataframe(data):  # map-reduce over the partitions (did/_dask_twfe.py)
        return twfe_dask(data, outcome=outcome, treatment=treatment, unit=unit, time=time,
                         covariates=covs, cluster=cluster, se_type=se_type, level=level,
                         inference=str(inference))  # fmt: skip
    panel = prepare_panel(
        data,
        unit=unit,
        time=time,
        outcome=outcome,
        numeric={"treatment": treatment, "covariates": covs},
        labels={"cluster": cluster},
        numeric_time=False,
    )
    check_binary(panel.column(treatment), "treatment", treatment)
    clus = cluster if cluster is not None else unit
    cc, n_groups = (
        (panel.unit_codes, panel.n_units)
        if clus == unit
        else group_codes(pd.Series(panel.labels(clus)))
    )
    if n_groups < 2:
        raise DataValidationError(
            f"`cluster`: column {clus!r} has a single cluster; a cluster-robust variance "
            "needs at least 2 (and is only reliable with many, several of them treated)"
        )
    names = [treatment, *covs]
    raw = panel.column([outcome, *names])
    fit = _fit(raw, panel, cc, n_groups, se_type, treatment)
    log = WarningLog()
    few = few_treated_clusters(raw[:, 1], cc, n_groups, clus, se_type)
    if few and wild is not None:  # the bootstrap is the remedy; its own limits remain
        few = (
            f"`cluster`: few of the {n_groups} clusters of {clus!r} contain treated "
            "observations; the wild cluster bootstrap is far more reliable than "
            "cluster-robust t-tests here, but with very few treated clusters it can still "
            "mislead (WCR tends to under-reject, WCU to over-reject; MacKinnon & Webb 2017)"
        )
    if few:
        log.warn(few, SmallSampleWarning)
    dropped = [nm for nm, kk in zip(names, fit.kept, strict=True) if not kk]
    if dropped:
        log.warn(f"terms collinear with the fixed effects dropped: {dropped}")
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
    used = [outcome, treatment, unit, time, *covs] + ([cluster] if cluster else [])
    provenance = Provenance(options=options, data_fingerprint=fingerprint(data, used))
    result = _build_result(fit, names, raw[:, 1], panel, n_groups, options, provenance, log)
    if wild is None:
        return result
    boot = _wild(raw, names, fit.kept, panel, cc, options, wild)
    return apply_wild_bootstrap(result, boot)


def _wild(
    raw: np.ndarray,
    names: list[str],
    kept: np.ndarray,
    panel: Panel,
    cc: np.ndarray,
    options: Mapping[str, Any],
    wild: Mapping[str, Any],
) -> WildBootstrapResult:
    """Wild cluster bootstrap of the treatment coefficient on the estimation sample.

    The frame holds the fitted rows only (outcome, the kept slopes, unit, period and
    cluster codes), so rows dropped for missing values are dropped once, and warned
    about once, by the fit.
    """
    unit, time, clus = str(options["unit"]), str(options["time"]), str(options["cluster"])
    slopes = [nm for nm, k in zip(names, kept, strict=True) if k]
    frame = pd.DataFrame(raw[:, 1:][:, np.asarray(kept, dtype=bool)], columns=slopes)
    frame.insert(0, "__outcome__", raw[:, 0])
    frame[time] = panel.period_codes
    frame[unit] = panel.unit_codes
    frame[clus] = cc
    return wild_bootstrap_regression(
        frame,
        outcome="__outcome__",
        treatment=names[0],
        covariates=slopes[1:],
        cluster=clus,
        fixed_effects=[unit, time],
        level=float(options["level"]),  # type: ignore[arg-type]
        **wild,
    )


# ---------------------------------------------------------------------------------------
# numerics and the result builder
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _TwfeFit:
    coef: np.ndarray
    vcov: np.ndarray
    df: np.ndarray
    kept: np.ndarray
    small_sample_factor: float


def _not_identified(treatment: str) -> DataValidationError:
    return DataValidationError(
        f"`treatment`: column {treatment!r} is collinear with the unit and period "
        "effects (e.g. every unit treated in the same periods); not identified"
    )


def _fit(
    raw: np.ndarray, panel: Panel, cc: np.ndarray, n_groups: int, se_type: str, treatment: str
) -> _TwfeFit:
    """The slopes' coefficients and (small-sample corrected) cluster-robust covariance."""
    uc, tc = panel.unit_codes, panel.period_codes
    n_units, n_periods = panel.n_units, panel.n_periods
    n, k = raw.shape[0], raw.shape[1] - 1
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
        res = fit_ols(
            x, raw[:, 0], se_type="CR2", clusters=cc, n_clusters=n_groups, df_for=np.arange(k)
        )
        if not res.kept[0]:
            raise _not_identified(treatment)
        return _TwfeFit(res.coef[:k], res.vcov[:k, :k], res.df[:k], res.kept[:k], math.nan)
    tilde = demean_two_way(raw, uc, tc)
    # a regressor the fixed effects absorb leaves only rounding noise after demeaning:
    # zero it so that it is reported as collinear (as fixest does)
    centred = raw[:, 1:] - raw[:, 1:].mean(axis=0)
    absorbed = np.linalg.norm(tilde[:, 1:], axis=0) <= 1e-7 * np.maximum(
        np.linalg.norm(centred, axis=0), 1e-300
    )
    if absorbed[0]:
        raise _not_identified(treatment)
    tilde[:, 1:][:, absorbed] = 0.0
    res = fit_ols(tilde[:, 1:], tilde[:, 0], se_type="CR0", clusters=cc, n_clusters=n_groups)
    if not res.kept[0]:
        raise _not_identified(treatment)
    factor = _small_sample_factor(panel, cc, n_groups, int(res.kept.sum()), se_type)
    dfs = np.full(k, float(n_groups - 1))
    return _TwfeFit(res.coef, res.vcov * factor, dfs, res.kept, factor)


def _nested(codes: np.ndarray, n_levels: int, clusters: np.ndarray) -> bool:
    """Every level of a fixed effect lies within a single cluster."""
    first = np.empty(n_levels, dtype=clusters.dtype)
    first[codes[::-1]] = clusters[::-1]  # the cluster of each level's first row
    return bool(np.all(clusters == first[codes]))


def _small_sample_factor(
    panel: Panel, cc: np.ndarray, n_groups: int, k_slopes: int, se_type: str
) -> float:
    """CR1 (fixest's nested rule), "stata" (every effect counted) or 1 (CR0)."""
    if se_type == "CR0":
        return 1.0
    n, n_units, n_periods = panel.n_rows, panel.n_units, panel.n_periods
    nested_unit = _nested(panel.unit_codes, n_units, cc)
    nested_time = _nested(panel.period_codes, n_periods, cc)
    # fixed-effect parameters: N + T - 1 (one restriction between the two sets). fixest's
    # "nested" rule drops the levels of effects nested in the clusters and gives back
    # the restriction each fully nested effect had absorbed (pyfixest's get_ssc):
    # unit effects nested in unit clusters leave K = slopes + T.
    k_fe_all = n_units + n_periods - 1
    n_nested = int(nested_unit) + int(nested_time)
    k_fe = k_fe_all - (n_units if nested_unit else 0) - (n_periods if nested_time else 0) + n_nested
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
    return n_groups / (n_groups - 1) * (n - 1) / (n - k_total)


def _build_result(
    fit: _TwfeFit,
    names: list[str],
    d: np.ndarray,
    panel: Panel,
    n_groups: int,
    options: dict[str, object],
    provenance: Provenance,
    log: WarningLog,
) -> EffectEstimate:
    """The coefficient on the treatment, with every slope in ``details``."""
    level = float(options["level"])  # type: ignore[arg-type]
    se = np.sqrt(np.diag(fit.vcov))
    rows_out = []
    for j, name in enumerate(names):
        lo, hi, p = interval(float(fit.coef[j]), float(se[j]), level, float(fit.df[j]))
        rows_out.append(
            {
                "term": name,
                "estimate": fit.coef[j],
                "std_error": se[j],
                "p_value": p,
                "ci_lower": lo,
                "ci_upper": hi,
                "df": fit.df[j],
            }
        )
    return EffectEstimate.from_wald(
        float(fit.coef[0]),
        float(se[0]),
        level=level,
        df=float(fit.df[0]),
        estimand="ATT",
        method=f"two-way fixed effects, {options['se_type']} clustered by {options['cluster']}",
        n_obs=panel.n_rows,
        n_treated=int((d != 0).sum()),
        n_control=int((d == 0).sum()),
        n_clusters=n_groups,
        outcome=str(options["outcome"]),
        n_dropped=panel.n_dropped,
        warnings=log.messages,
        provenance=provenance,
        details={
            "coefficients": pd.DataFrame(rows_out).set_index("term"),
            "small_sample_factor": fit.small_sample_factor,
            "n_units": panel.n_units,
            "n_periods": panel.n_periods,
        },
    )
