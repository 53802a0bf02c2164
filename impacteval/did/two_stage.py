"""Gardner's (2021) two-stage difference in differences (R ``did2s``, pyfixest ``did2s``)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._panel import Panel, format_label, prepare_panel
from impacteval._validation import as_column_list, check_choice, check_level, short_repr
from impacteval._warn import WarningLog
from impacteval.did.event_study import EventStudyTable
from impacteval.did.twfe import few_treated_clusters
from impacteval.did.two_stage_numerics import TwoStageFit, two_stage_fit
from impacteval.exceptions import DataValidationError, SmallSampleWarning
from impacteval.results import EffectEstimate, Provenance, fingerprint, interval

__all__ = ["FORMS", "two_stage"]

FORMS: tuple[str, ...] = ("static", "event_study")
Array = np.ndarray


# ---------------------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------------------
def _event_time(value: object, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataValidationError(f"`{param}` must be an integer; received {short_repr(value)}")
    if not float(value).is_integer():
        raise DataValidationError(f"`{param}` must be an integer; received {short_repr(value)}")
    return int(float(value))


def _check_options(
    reference: object, bins: object, fixed_effects: Sequence[str] | None, unit: str, time: str
) -> tuple[int | None, tuple[int, int] | None, list[str]]:
    """``reference`` (int < 0 or None), ``bins`` (lo <= reference < 0 <= hi) and the
    first-stage fixed effects (default unit and time)."""
    ref = None if reference is None else _event_time(reference, "reference")
    if ref is not None and ref >= 0:
        raise DataValidationError(
            f"`reference` must be a pre-treatment event time (< 0) or None; received {ref}"
        )
    bins_: tuple[int, int] | None = None
    if bins is not None:
        if isinstance(bins, (str, bytes)) or not isinstance(bins, Sequence) or len(bins) != 2:
            raise DataValidationError(
                f"`bins` must be None or a pair (lo, hi) of event times; received "
                f"{short_repr(bins)}"
            )
        lo, hi = _event_time(bins[0], "bins[0]"), _event_time(bins[1], "bins[1]")
        if not lo <= (-1 if ref is None else ref) < 0 <= hi:
            raise DataValidationError(
                f"`bins` must satisfy lo <= reference < 0 <= hi (reference = {ref}); "
                f"received ({lo}, {hi})"
            )
        bins_ = (lo, hi)
    fes = as_column_list([unit, time] if fixed_effects is None else fixed_effects, "fixed_effects")
    if not fes:
        raise DataValidationError(
            "`fixed_effects` must name at least one column (the default is the unit and the "
            "time column); received an empty sequence"
        )
    if len(set(fes)) != len(fes):
        raise DataValidationError(f"`fixed_effects` lists a column twice; received {fes}")
    return ref, bins_, fes


@dataclass(frozen=True)
class _Sample:
    """The estimation sample: one row per observation whose ``Y(0)`` can be predicted."""

    y: Array
    x: Array  # (n, m) covariates
    fe: list[Array]  # one integer code array per fixed effect
    weights: Array
    cluster: Array
    cohort: Array  # per row, inf = never treated
    event: Array  # (binned) event time, NaN for never treated
    treated: Array  # bool: in the second stage's treated set (not in the first stage)
    unit: Array
    n_not_imputable: int
    n_always_treated: int


def _prepare(
    data: pd.DataFrame, opts: dict[str, Any], bins: tuple[int, int] | None, log: WarningLog
) -> tuple[_Sample, int]:
    """Code the panel; drop treated observations whose fixed-effect levels never occur
    untreated (their ``Y(0)`` cannot be predicted), with a warning."""
    unit, time, fes, covs = opts["unit"], opts["time"], opts["fixed_effects"], opts["covariates"]
    extra = [c for c in fes if c not in (unit, time)]
    panel = prepare_panel(
        data,
        unit=unit,
        time=time,
        outcome=opts["outcome"],
        cohort=opts["cohort"],
        numeric={"covariates": covs, "weights": opts["weights"]},
        labels={"cluster": opts["cluster"], **{f"fixed_effects[{c}]": c for c in extra}},
        one_row_hint="two-stage DiD needs one row per unit and period",
    )
    assert panel.cohort is not None  # given a cohort column
    ucodes, tvals = panel.unit_codes, panel.column(time)
    coh = np.where(panel.cohort > panel.periods[-1], np.inf, panel.cohort)[ucodes]
    treated = np.isfinite(coh) & (tvals >= coh)
    fe = [_codes(panel, c) for c in fes]
    if not treated.any():
        raise DataValidationError(
            f"`cohort`: column {opts['cohort']!r} has no treated observation (every unit is "
            "never treated, or first treated after the last period)"
        )
    lost: dict[str, int] = {}
    ok = np.ones(treated.size, dtype=bool)
    for name, codes in zip(fes, fe, strict=True):
        seen = np.zeros(int(codes.max()) + 1, dtype=bool)
        seen[codes[~treated]] = True
        lost[name] = int(np.sum(~seen[codes]))
        ok &= seen[codes]
    n_lost = int((~ok).sum())
    always = np.isfinite(panel.cohort) & (panel.cohort <= panel.first_period())
    by_fe = ", ".join(f"{k}: {v}" for k, v in lost.items() if v)
    if not (treated & ok).any():
        raise DataValidationError(
            "`fixed_effects`: no treated observation has a predictable Y(0); each has a "
            f"fixed-effect level with no untreated observation ({by_fe}), e.g. a fixed "
            "effect at the level at which treatment is assigned"
        )
    if n_lost:
        log.warn(
            f"{n_lost} treated observations have a first-stage fixed-effect level with no "
            f"untreated observation ({by_fe}; {int(always.sum())} units are treated in every "
            "observed period), so their Y(0) cannot be predicted; they were dropped; see "
            "details['n_obs_not_imputable']"
        )
    event = np.where(np.isfinite(coh), tvals - coh, np.nan)
    if bins is not None:
        event = np.clip(event, bins[0], bins[1])
    weights = panel.column(opts["weights"]) if opts["weights"] else np.ones(treated.size)
    if np.any(weights <= 0):
        raise DataValidationError(
            f"`weights`: column {opts['weights']!r} must be strictly positive; received "
            f"{int(np.sum(weights <= 0))} values <= 0"
        )
    clus = opts["cluster"]
    ccodes = ucodes if clus == unit else pd.factorize(panel.labels(clus), sort=True)[0]
    sample = _Sample(
        y=panel.column(opts["outcome"])[ok],
        x=panel.column(covs)[ok] if covs else np.zeros((int(ok.sum()), 0)),
        fe=[codes[ok] for codes in fe],
        weights=weights[ok],
        cluster=np.asarray(ccodes, dtype=np.intp)[ok],
        cohort=coh[ok],
        event=event[ok],
        treated=treated[ok],
        unit=ucodes[ok],
        n_not_imputable=n_lost,
        n_always_treated=int(always.sum()),
    )
    return sample, panel.n_dropped


def _codes(panel: Panel, column: str) -> Array:
    if column == panel.unit:
        return np.asarray(panel.unit_codes, dtype=np.intp)
    if column == panel.time:
        return np.asarray(panel.period_codes, dtype=np.intp)
    return np.asarray(pd.factorize(panel.labels(column), sort=True)[0], dtype=np.intp)


def _design(s: _Sample, form: str, reference: int | None, cohort: str) -> tuple[Array, Array]:
    """The second-stage regressors and their event times (static: one column, NaN)."""
    if form == "static":
        return s.treated[:, None].astype(float), np.array([np.nan])
    events = np.unique(s.event[np.isfinite(s.event)])
    if reference is not None and reference not in events:
        raise DataValidationError(
            f"`reference`: event time {reference} does not occur in the data (event times "
            f"of units in {cohort!r}: {', '.join(format_label(e) for e in events)})"
        )
    events = events[events != reference] if reference is not None else events
    return (s.event[:, None] == events[None, :]).astype(float), events


def _check_clusters(s: _Sample, cluster: str, log: WarningLog) -> None:
    n_groups = int(np.unique(s.cluster).size)
    if n_groups < 2:
        raise DataValidationError(f"`cluster`: at least 2 clusters are needed; {cluster!r} has 1")
    codes = np.unique(s.cluster, return_inverse=True)[1].astype(np.intp)
    few = few_treated_clusters(
        np.isfinite(s.cohort).astype(float), codes, n_groups, cluster, "GMM clustered (did2s)"
    )
    if few:
        log.warn(few, SmallSampleWarning)


# ---------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------
def two_stage(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    form: str = "static",
    fixed_effects: Sequence[str] | None = None,
    covariates: Sequence[str] = (),
    reference: int | None = -1,
    bins: tuple[int, int] | None = None,
    weights: str | None = None,
    cluster: str | None = None,
    level: float = 0.95,
) -> EffectEstimate | EventStudyTable:
    """Gardner's two-stage difference in differences (did2s).

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per unit and period.
    outcome, unit, time : str
        Outcome (numeric), unit identifier and period (numeric) columns.
    cohort : str
        First treated period of the unit (0 or missing = never treated; constant within
        unit). An observation is treated from its cohort's period on (absorbing).
    form : {"static", "event_study"}
        ``"static"``: one treatment dummy in the second stage (the ATT over the treated
        observations). ``"event_study"``: one dummy per event time ``t - cohort`` of the
        treated units other than ``reference`` (pre-treatment ones included; never-treated
        units have none), as did2s's ``i(rel_year, ref = c(-1, Inf))``.
    fixed_effects : sequence of str, optional
        First-stage fixed effects (columns of labels), the unit and time columns by
        default; e.g. ``["state", "year"]`` for units nested in states.
    covariates : sequence of str
        First-stage covariates (numeric, linear, common slopes).
    reference : int or None, default -1
        ``"event_study"``: the pre-treatment event time without a dummy (pooled with the
        never-treated units); None estimates every pre-treatment event time. The
        second stage has no intercept and disjoint dummies, so the choice changes which
        rows are reported, not the other rows' estimates or SEs.
    bins : tuple (lo, hi), optional
        ``"event_study"``: event times below ``lo`` pooled into ``lo``, above ``hi`` into
        ``hi``.
    weights : str, optional
        Sampling weights (strictly positive) used in both stages and in the variance.
    cluster : str, optional
        Cluster identifier for the standard errors; the unit by default.
    level : float
        Confidence level.

    Returns
    -------
    EffectEstimate or EventStudyTable
        ``"static"``: the ATT with its GMM-corrected clustered SE. ``"event_study"``: an
        :class:`~impacteval.did.event_study.EventStudyTable` (``event_time``, the five
        result columns, ``n_obs``, ``n_cohorts``, ``reference``) with ``.vcov``;
        ``.overall`` is the average of the post-treatment rows weighted by their treated
        (weighted) observations, i.e. the static point estimate, with its delta-method SE
        from the event-study covariance (close to, not equal to, the static form's SE,
        whose second-stage residuals differ). ``n_treated``/``n_control`` of the static
        result count treated and untreated observations. ``details`` hold
        ``first_stage_covariates``, ``n_obs_not_imputable``, ``n_treated_obs`` and the
        fixed effects used (and ``vcov`` without the reference row, event study).

    Raises
    ------
    DataValidationError
        Missing or non-numeric columns, duplicate unit-period rows, a cohort changing
        within a unit, an unknown ``form``, a bad ``reference``/``bins``/``fixed_effects``,
        non-positive weights, fewer than 2 clusters, no treated observation with a
        predictable ``Y(0)``, a singular first stage (fixed effects not connected through
        the untreated observations, or a covariate collinear with them).

    Warns
    -----
    UserWarning
        Treated observations whose fixed-effect levels never occur untreated (e.g. units
        treated in every observed period) are dropped.
    SmallSampleWarning
        Fewer than 10 clusters contain treated units.

    Notes
    -----
    First stage: ``y_it = sum_f alpha_f[level_f(it)] + x_it'c + u_it`` by weighted least
    squares on the untreated observations (never treated and not yet treated); second
    stage: ``y_it - yhat_it = X2_it'b + e_it`` by weighted least squares on every
    observation, without intercept. The dummies are disjoint, so each coefficient is the
    (weighted) mean of ``y - yhat`` over its observations: the post-treatment ones, and
    the static one, average the imputed effects of the treated observations. With unit
    and period effects (the default) and equal weights they are therefore the
    Borusyak-Jaravel-Spiess imputation estimates (``event_study(method="imputation")``
    event-time rows and overall ATT), exactly; only the standard errors differ.
    Pre-treatment coefficients are the mean first-stage residuals of the treated units at
    each pre-treatment event time (a pre-trend check; zero in expectation under parallel
    trends and no anticipation).

    Standard errors: the two stages are a just-identified GMM problem; the clustered
    sandwich accounts for the estimated first stage (Gardner 2021, sec. 3; Butts &
    Gardner 2022): ``V = B^-1 (sum_g S_g S_g') B^-1`` with ``B = X2'WX2`` and cluster scores
    ``S_g = X2g'W_g e2g - (X2'WX1)(X10'WX10)^-1 X10g'W_g e1g`` (``X1`` first-stage design,
    ``X10`` its untreated rows, ``e1``/``e2`` the two stages' residuals). No small-sample
    factor, normal intervals (as did2s). Identification: parallel trends in ``Y(0)``
    given the first-stage fixed effects and covariates, and no anticipation.

    References
    ----------
    Gardner, J. (2021). Two-stage differences in differences. arXiv:2207.05943.
    Butts, K. & Gardner, J. (2022). did2s: Two-stage difference-in-differences. The R
    Journal 14(3), 162-173. R: ``did2s::did2s(data, yname, first_stage = ~ 0 | id + t,
    second_stage = ~ i(rel, ref = c(-1, Inf)), treatment, cluster_var)``; Python:
    ``pyfixest.did2s``.

    Examples
    --------
    >>> import impacteval as ie
    >>> mpdta = ie.datasets.load("mpdta")
    >>> att = ie.did.two_stage(mpdta, outcome="lemp", unit="countyreal", time="year",
    ...                        cohort="first_treat")
    >>> round(att.estimate, 4), round(att.std_error, 4)
    (-0.0477, 0.0135)
    >>> es = ie.did.two_stage(mpdta, outcome="lemp", unit="countyreal", time="year",
    ...                       cohort="first_treat", form="event_study")
    >>> es.table.loc[es.table["event_time"] == 2, "estimate"].round(4).tolist()
    [-0.1361]
    """
    level = check_level(level)
    form = check_choice(form, "form", FORMS)
    ref, bins_, fes = _check_options(reference, bins, fixed_effects, unit, time)
    if bins_ is not None and form == "static":
        raise DataValidationError(
            f"`bins` applies to form='event_study' only; received bins={bins!r} with form='static'"
        )
    covs = as_column_list(covariates, "covariates")
    opts: dict[str, Any] = dict(outcome=outcome, unit=unit, time=time, cohort=cohort, form=form)
    opts.update(fixed_effects=fes, covariates=covs, weights=weights, cluster=cluster or unit)
    opts.update(reference=ref if form == "event_study" else None, level=level)
    opts["bins"] = list(bins_) if bins_ is not None and form == "event_study" else None
    log = WarningLog()
    sample, n_dropped = _prepare(data, opts, bins_ if form == "event_study" else None, log)
    _check_clusters(sample, opts["cluster"], log)
    x2, events = _design(sample, form, ref, cohort)
    fit = two_stage_fit(
        sample.y, sample.fe, sample.x, ~sample.treated, x2, sample.weights, sample.cluster
    )
    used = [outcome, unit, time, cohort, *fes, *covs, weights, cluster]
    provenance = Provenance(
        options=opts, data_fingerprint=fingerprint(data, list(dict.fromkeys(c for c in used if c)))
    )
    return _build_result(fit, sample, x2, events, opts, provenance, n_dropped, log)


# ---------------------------------------------------------------------------------------
# the result builder
# ---------------------------------------------------------------------------------------
def _label(opts: dict[str, Any]) -> str:
    label = (
        f"two-stage DiD (Gardner 2021), first stage | {' + '.join(opts['fixed_effects'])}"
        + (f" + {', '.join(opts['covariates'])}" if opts["covariates"] else "")
        + f", GMM clustered by {opts['cluster']}"
    )
    if opts["weights"]:
        label += f", weighted by {opts['weights']}"
    if opts["form"] == "event_study":
        ref = opts["reference"]
        label += "; no reference period" if ref is None else f"; reference e = {ref}"
        if opts["bins"] is not None:
            label += f"; bins [{opts['bins'][0]}, {opts['bins'][1]}]"
    return label


def _build_result(
    fit: TwoStageFit,
    s: _Sample,
    x2: Array,
    events: Array,
    opts: dict[str, Any],
    provenance: Provenance,
    n_dropped: int,
    log: WarningLog,
) -> EffectEstimate | EventStudyTable:
    """The one result builder: the static ATT, or the event-time table with its vcov."""
    label = _label(opts)
    never = ~np.isfinite(s.cohort)
    details: dict[str, Any] = {
        "fixed_effects": list(opts["fixed_effects"]),
        "first_stage_covariates": pd.Series(fit.covariate_coef, index=opts["covariates"]),
        "n_obs_not_imputable": s.n_not_imputable,
        "n_units_always_treated": s.n_always_treated,
        "n_treated_obs": int(s.treated.sum()),
        "n_treated_units": int(np.unique(s.unit[~never]).size),
        "n_never_treated_units": int(np.unique(s.unit[never]).size),
        "outcome": opts["outcome"],
    }
    common: dict[str, Any] = dict(
        n_obs=int(s.y.size),
        n_clusters=fit.n_clusters,
        n_dropped=n_dropped,
        warnings=log.messages,
        provenance=provenance,
    )
    # overall ATT: post-treatment rows weighted by their (weighted) treated observations
    post = np.isfinite(events) & (events >= 0) if opts["form"] == "event_study" else [True]
    share = np.asarray(post, dtype=float) * ((s.weights * s.treated) @ x2)
    share /= share.sum()
    overall = EffectEstimate.from_wald(
        float(share @ fit.coef),
        float(np.sqrt(max(float(share @ fit.vcov @ share), 0.0))),
        level=opts["level"],
        df=None,
        estimand="ATT",
        method=label if opts["form"] == "static" else f"{label}; average of post-treatment rows",
        n_treated=int(s.treated.sum()),
        n_control=int((~s.treated).sum()),
        outcome=opts["outcome"],
        details=details if opts["form"] == "static" else {},
        **common,
    )
    if opts["form"] == "static":
        return overall
    return _event_table(fit, s, x2, events, opts, overall, details, label, common)


def _event_table(
    fit: TwoStageFit,
    s: _Sample,
    x2: Array,
    events: Array,
    opts: dict[str, Any],
    overall: EffectEstimate,
    details: dict[str, Any],
    label: str,
    common: dict[str, Any],
) -> EventStudyTable:
    se = np.sqrt(np.clip(np.diag(fit.vcov), 0.0, None))
    ci = [
        interval(float(b), float(e), opts["level"], None) for b, e in zip(fit.coef, se, strict=True)
    ]
    ref = opts["reference"]
    has_ref = ref is not None
    at_ref = s.event == ref if has_ref else np.zeros(s.y.size, dtype=bool)
    n_coh = [np.unique(s.cohort[x2[:, j] > 0]).size for j in range(events.size)]
    extra = [float(ref)] if has_ref else []
    table = pd.DataFrame(
        {
            "event_time": np.r_[events, extra],
            "estimate": np.r_[fit.coef, [0.0] * has_ref],
            "std_error": np.r_[se, [np.nan] * has_ref],
            "ci_lower": [c[0] for c in ci] + [np.nan] * has_ref,
            "ci_upper": [c[1] for c in ci] + [np.nan] * has_ref,
            "p_value": [c[2] for c in ci] + [np.nan] * has_ref,
            "n_obs": np.r_[x2.sum(axis=0), [at_ref.sum()] * has_ref].astype(int),
            "n_cohorts": np.r_[n_coh, [np.unique(s.cohort[at_ref]).size] * has_ref].astype(int),
            "reference": [False] * events.size + [True] * has_ref,
        }
    )
    order = np.argsort(table["event_time"].to_numpy(), kind="stable")
    table = table.iloc[order].reset_index(drop=True)
    integer = bool(np.all(np.mod(table["event_time"].to_numpy(dtype=float), 1) == 0))
    if integer:
        table["event_time"] = table["event_time"].astype(np.int64)
    k = events.size
    full = np.zeros((k + has_ref, k + has_ref))
    full[:k, :k] = fit.vcov
    labels = table["event_time"].tolist()
    vcov = pd.DataFrame(full[np.ix_(order, order)], index=labels, columns=labels)
    event_labels = [int(e) if integer else float(e) for e in events]
    details["vcov"] = pd.DataFrame(fit.vcov, index=event_labels, columns=event_labels)
    return EventStudyTable(
        table=table,
        index_columns=("event_time",),
        overall=overall,
        level=opts["level"],
        estimand="ATT",
        method=label,
        n_treated=details["n_treated_units"],
        n_control=details["n_never_treated_units"],
        df=None,
        ci_method="normal",
        details=details,
        vcov=vcov,
        **common,
    )
