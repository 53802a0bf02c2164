"""Event studies: dynamic TWFE, Sun & Abraham (2021) and Borusyak, Jaravel & Spiess (2024)."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from impacteval._validation import (
    as_column_list,
    check_choice,
    check_columns,
    check_dataframe,
    check_level,
    prepare,
)
from impacteval.did._es_numerics import compact_codes, fe_regression, imputation
from impacteval.did.twfe import few_treated_clusters
from impacteval.exceptions import DataValidationError, ImpactEvalWarning, SmallSampleWarning
from impacteval.results import EffectEstimate, EffectTable, Provenance, fingerprint, interval

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["METHODS", "EventStudyTable", "event_study"]

METHODS: tuple[str, ...] = ("twfe", "sun_abraham", "imputation")
Array = np.ndarray


class EventStudyTable(EffectTable):
    """Effects by event time (periods since treatment) with the reference period marked.

    ``table`` columns: ``event_time``, the five result columns, ``n_obs`` (observations of
    treated cohorts at that event time in the estimation sample), ``n_cohorts`` and
    ``reference`` (True on the normalised row, whose estimate is 0 with no SE). ``overall``
    is the average post-treatment effect weighted by treated observations. ``details``
    holds ``vcov`` (covariance of the rows, DataFrame), ``coefficients`` (the regression
    terms; twfe and sun_abraham), ``cohort_effects`` (sun_abraham: cohort x event time),
    ``control_group`` and the counts of dropped units and observations.
    """

    def plot(self, ax: Axes | None = None) -> Axes:
        """Event-time estimates with intervals; the reference period drawn hollow at zero."""
        from impacteval.did._es_plot import plot_event_study

        return plot_event_study(self, ax=ax)


# ---------------------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------------------
def _integer(value: object, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataValidationError(f"`{param}` must be an integer; received {value!r}")
    if not float(value).is_integer():
        raise DataValidationError(f"`{param}` must be an integer; received {value!r}")
    return int(float(value))


def _check_bins(bins: object, reference: int) -> tuple[int, int] | None:
    if bins is None:
        return None
    if isinstance(bins, (str, bytes)) or not isinstance(bins, Sequence) or len(bins) != 2:
        raise DataValidationError(
            f"`bins` must be None or a pair (lo, hi) of event times; received {bins!r}"
        )
    lo, hi = _integer(bins[0], "bins[0]"), _integer(bins[1], "bins[1]")
    if not lo <= reference < 0 <= hi:
        raise DataValidationError(
            f"`bins` must satisfy lo <= reference < 0 <= hi (reference = {reference}); "
            f"received ({lo}, {hi})"
        )
    return lo, hi


def _numeric_column(frame: pd.DataFrame, col: str, param: str, what: str) -> None:
    dtype = frame[col].dtype
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        raise DataValidationError(
            f"`{param}`: column {col!r} must be numeric ({what}); received dtype {dtype}"
        )


@dataclass(frozen=True)
class _Panel:
    """The estimation sample, one row per unit and period, with event times."""

    y: Array
    x: Array  # (n, k) covariates
    unit: Array  # codes
    time: Array  # period values (float)
    tcode: Array
    cluster: Array  # codes
    cohort: Array  # per row; inf = never treated
    event: Array  # binned event time per row; NaN for never-treated units
    n_dropped_always: int


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _prepare_panel(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    covs: list[str],
    cluster: str | None,
    bins: tuple[int, int] | None,
    note: Any,
) -> tuple[_Panel, int]:
    frame = check_dataframe(data)
    for name, col in (("outcome", outcome), ("unit", unit), ("time", time), ("cohort", cohort)):
        if not isinstance(col, str):
            raise DataValidationError(f"`{name}` must be a column name (str); received {col!r}")
    check_columns(frame, outcome=outcome, unit=unit, time=time, cohort=cohort, covariates=covs)
    check_columns(frame, cluster=cluster)
    _numeric_column(frame, time, "time", "periods such as years or period numbers")
    _numeric_column(frame, cohort, "cohort", "first treated period, 0 = never treated")
    cohort_values = frame[cohort].to_numpy(dtype=float, na_value=np.nan)
    cohort_values = np.where(
        np.isnan(cohort_values) | np.isposinf(cohort_values), 0.0, cohort_values
    )
    if np.any(cohort_values < 0):
        raise DataValidationError(
            f"`cohort`: column {cohort!r} must be a period (>= 0, 0 = never treated); "
            "received negative values"
        )
    key = "__cohort__"
    work = pd.DataFrame(
        {c: frame[c] for c in dict.fromkeys([outcome, unit, time, *covs, cluster]) if c}
    )
    work[key] = cohort_values
    prepared = prepare(
        work,
        numeric={"outcome": outcome, "time": time, "cohort": key, "covariates": covs},
        labels={"unit": unit, "cluster": cluster},
        outcome_param="outcome",
    )
    df = prepared.frame
    ucodes, ulabels = pd.factorize(df[unit], sort=True)
    ucodes = ucodes.astype(np.intp)
    n_units = len(ulabels)
    tvals = df[time].to_numpy(dtype=float)
    dup = pd.Series(ucodes.astype(np.int64)).astype(str) + "|" + pd.Series(tvals).astype(str)
    is_dup = dup.duplicated(keep=False).to_numpy()
    if is_dup.any():
        first = int(np.flatnonzero(is_dup)[0])
        raise DataValidationError(
            f"`unit`/`time`: {int(is_dup.sum())} rows share a (unit, period) with another "
            f"row, e.g. unit {ulabels[ucodes[first]]!r} in period {_fmt(tvals[first])}; an "
            "event study needs one row per unit and period"
        )
    coh = df[key].to_numpy(dtype=float)
    first_c = np.full(n_units, np.nan)
    first_c[ucodes[::-1]] = coh[::-1]
    if np.any(coh != first_c[ucodes]):
        bad = ulabels[ucodes[int(np.flatnonzero(coh != first_c[ucodes])[0])]]
        raise DataValidationError(
            f"`cohort`: column {cohort!r} changes within a unit (e.g. unit {bad!r}); the "
            "first treated period must be constant within each unit"
        )
    periods = np.unique(tvals)
    if periods.size < 2:
        raise DataValidationError(
            f"`time`: column {time!r} has {periods.size} distinct period; at least 2 are needed"
        )
    coh = np.where((coh == 0) | (coh > periods[-1]), np.inf, coh)
    # units observed only at or after their cohort have no untreated period: dropped
    unit_min_t = np.full(n_units, np.inf)
    np.minimum.at(unit_min_t, ucodes, tvals)
    always = np.isfinite(first_c) & (np.where(first_c == 0, np.inf, first_c) <= unit_min_t)
    n_always = int(always.sum())
    keep = ~always[ucodes]
    if n_always:
        note(
            f"{n_always} units are treated in every period in which they are observed (no "
            "pre-treatment period) and were dropped; see details['n_units_always_treated']"
        )
    if not keep.any():
        raise DataValidationError("no units remain after dropping always-treated units")
    event = tvals - coh
    if bins is not None:
        event = np.clip(event, bins[0], bins[1])
    event = np.where(np.isfinite(coh), event, np.nan)
    cl = df[cluster] if cluster is not None else df[unit]
    ccodes = pd.factorize(cl, sort=True)[0].astype(np.intp)
    panel = _Panel(
        y=df[outcome].to_numpy(dtype=float)[keep],
        x=df[covs].to_numpy(dtype=float)[keep] if covs else np.zeros((int(keep.sum()), 0)),
        unit=ucodes[keep],
        time=tvals[keep],
        tcode=np.searchsorted(periods, tvals[keep]),
        cluster=ccodes[keep],
        cohort=coh[keep],
        event=event[keep],
        n_dropped_always=n_always,
    )
    return panel, prepared.n_dropped


def _subset(p: _Panel, mask: Array) -> _Panel:
    return _Panel(
        y=p.y[mask],
        x=p.x[mask],
        unit=p.unit[mask],
        time=p.time[mask],
        tcode=p.tcode[mask],
        cluster=p.cluster[mask],
        cohort=p.cohort[mask],
        event=p.event[mask],
        n_dropped_always=p.n_dropped_always,
    )


# ---------------------------------------------------------------------------------------
# the three designs: each returns event times, estimates, their covariance, counts, extras
# ---------------------------------------------------------------------------------------
@dataclass
class _Rows:
    event: Array
    estimate: Array
    vcov: Array
    n_obs: Array
    n_cohorts: Array
    overall: tuple[float, float] | None = None  # set when not a function of the rows
    details: dict[str, Any] | None = None
    n_sample: int = 0
    n_clusters: int = 0


def _counts(p: _Panel, events: Array) -> tuple[Array, Array]:
    n_obs = np.array([int(np.sum(p.event == e)) for e in events])
    n_coh = np.array([np.unique(p.cohort[p.event == e]).size for e in events])
    return n_obs, n_coh


def _slopes_table(names: list[str], coef: Array, vcov: Array) -> pd.DataFrame:
    return pd.DataFrame(
        {"estimate": coef, "std_error": np.sqrt(np.diag(vcov))}, index=pd.Index(names, name="term")
    )


def _twfe(p: _Panel, reference: int, covs: list[str]) -> _Rows:
    treated_unit = np.isfinite(p.cohort)
    events = np.unique(p.event[treated_unit])
    events = events[events != reference]
    dummies = (p.event[:, None] == events[None, :]).astype(float)
    reg = fe_regression(p.y, np.column_stack([dummies, p.x]), p.unit, p.tcode, p.cluster)
    k = events.size
    n_obs, n_coh = _counts(p, events)
    names = [f"event_time::{_fmt(e)}" for e in events] + covs
    return _Rows(
        event=events,
        estimate=reg.coef[:k],
        vcov=reg.vcov[:k, :k],
        n_obs=n_obs,
        n_cohorts=n_coh,
        details={
            "coefficients": _slopes_table(names, reg.coef, reg.vcov),
            "small_sample_factor": reg.small_sample_factor,
            "dropped_terms": [nm for nm, kk in zip(names, reg.kept, strict=True) if not kk],
        },
        n_sample=reg.n_obs,
        n_clusters=reg.n_clusters,
    )


def _sun_abraham(p: _Panel, reference: int, covs: list[str], note: Any) -> _Rows:
    if np.isfinite(p.cohort).all():
        last = float(np.max(p.cohort))
        note(
            f"no never-treated units: the last-treated cohort ({_fmt(last)}) is the control "
            f"group and periods from {_fmt(last)} on are dropped (Sun & Abraham 2021, sec. 4)"
        )
        p = _subset(p, p.time < last)
        control = p.cohort == last
        control_label = f"last-treated cohort {_fmt(last)}"
    else:
        control = ~np.isfinite(p.cohort)
        control_label = "never treated"
    treated = ~control
    cells = sorted({(c, e) for c, e in zip(p.cohort[treated], p.event[treated], strict=True)})
    cells = [(c, e) for c, e in cells if e != reference]
    if not cells:
        raise DataValidationError("no treated cohort has an event time other than the reference")
    cell_c = np.array([c for c, _ in cells])
    cell_e = np.array([e for _, e in cells])
    dummies = (
        treated[:, None] & (p.cohort[:, None] == cell_c[None, :]) & (p.event[:, None] == cell_e)
    ).astype(float)
    counts = dummies.sum(axis=0)
    reg = fe_regression(p.y, np.column_stack([dummies, p.x]), p.unit, p.tcode, p.cluster)
    m = len(cells)
    beta, vb, kept = reg.coef[:m], reg.vcov[:m, :m], reg.kept[:m]
    events = np.unique(cell_e)
    share = np.zeros((events.size, m))
    for i, e in enumerate(events):
        sel = (cell_e == e) & kept
        if sel.any():
            share[i, sel] = counts[sel] / counts[sel].sum()
    has = share.sum(axis=1) > 0
    bk, vk = np.where(kept, beta, 0.0), np.where(np.outer(kept, kept), vb, 0.0)
    est = np.where(has, share @ bk, np.nan)
    vcov = share @ vk @ share.T
    vcov[~has, :] = np.nan
    vcov[:, ~has] = np.nan
    n_obs = np.array([int(counts[(cell_e == e) & kept].sum()) for e in events])
    n_coh = np.array([int(((cell_e == e) & kept).sum()) for e in events])
    cohort_effects = pd.DataFrame(
        {
            "cohort": cell_c,
            "event_time": cell_e,
            "estimate": beta,
            "std_error": np.sqrt(np.diag(vb)),
            "n_obs": counts.astype(int),
        }
    )
    names = [f"event_time::{_fmt(e)}:cohort::{_fmt(c)}" for c, e in cells] + covs
    return _Rows(
        event=events,
        estimate=est,
        vcov=vcov,
        n_obs=n_obs,
        n_cohorts=n_coh,
        details={
            "coefficients": _slopes_table(names, reg.coef, reg.vcov),
            "cohort_effects": cohort_effects,
            "control_group": control_label,
            "small_sample_factor": reg.small_sample_factor,
            "dropped_terms": [nm for nm, kk in zip(names, reg.kept, strict=True) if not kk],
        },
        n_sample=reg.n_obs,
        n_clusters=reg.n_clusters,
    )


def _imputation(p: _Panel, reference: int, covs: list[str], note: Any, *, leave_out: bool) -> _Rows:
    treated = np.isfinite(p.cohort) & (p.time >= p.cohort)
    # treated observations in periods without untreated observations cannot be imputed
    untreated_periods = np.unique(p.tcode[~treated])
    imputable = ~treated | np.isin(p.tcode, untreated_periods)
    n_lost = int((~imputable).sum())
    if n_lost:
        lost = np.unique(p.time[~imputable])
        note(
            f"{n_lost} treated observations in periods with no untreated observation "
            f"({', '.join(_fmt(t) for t in lost)}) cannot be imputed and were dropped; see "
            "details['n_obs_not_imputable']"
        )
        p = _subset(p, imputable)
        treated = treated[imputable]
    if not treated.any():
        raise DataValidationError("no treated observation can be imputed")
    ev1 = p.event[treated]
    post = np.unique(ev1)
    weights = (ev1[:, None] == post[None, :]).astype(float)
    weights /= weights.sum(axis=0)
    weights = np.column_stack([weights, np.full(ev1.size, 1.0 / ev1.size)])
    # BJS average the imputed effects within cohort x period cells for the variance
    cohort_idx = np.searchsorted(np.unique(p.cohort[treated]), p.cohort[treated])
    cells = compact_codes(cohort_idx * (int(p.tcode.max()) + 1) + p.tcode[treated])[0]
    fit = imputation(
        p.y, p.x, p.unit, p.tcode, treated, weights, cells, p.cluster, leave_out=leave_out
    )
    if fit.n_leave_out_fallback:
        note(
            f"{fit.n_leave_out_fallback} treated observations are in cohort x period cells "
            "with a single cluster, where the leave-out average is undefined; the plain cell "
            "average is used for them (their SE contribution is smaller); see "
            "details['n_leave_out_fallback']"
        )
    k = post.size
    post_n, post_c = _counts(_subset(p, treated), post)

    # pre-trend coefficients: BJS's test regression on the untreated observations
    u = _subset(p, ~treated)
    pre = np.unique(u.event[np.isfinite(u.event)])
    pre = pre[pre != reference]
    pre_est, pre_v = np.zeros(0), np.zeros((0, 0))
    details: dict[str, Any] = {
        "n_obs_not_imputable": n_lost,
        "control_group": "not yet treated",
        "leave_out": leave_out,
        "n_leave_out_fallback": fit.n_leave_out_fallback,
    }
    if pre.size:
        dummies = (u.event[:, None] == pre[None, :]).astype(float)
        reg = fe_regression(u.y, np.column_stack([dummies, u.x]), u.unit, u.tcode, u.cluster)
        pre_est, pre_v = reg.coef[: pre.size], reg.vcov[: pre.size, : pre.size]
        names = [f"event_time::{_fmt(e)}" for e in pre] + covs
        details["pretrend_coefficients"] = _slopes_table(names, reg.coef, reg.vcov)
        details["pretrend_small_sample_factor"] = reg.small_sample_factor
    pre_n, pre_c = _counts(u, pre)
    events = np.concatenate([pre, post])
    vcov = np.full((events.size, events.size), np.nan)
    vcov[: pre.size, : pre.size] = pre_v
    vcov[pre.size :, pre.size :] = fit.vcov[:k, :k]
    if covs:
        details["first_stage_covariates"] = pd.Series(fit.covariate_coef, index=covs)
    return _Rows(
        event=events,
        estimate=np.concatenate([pre_est, fit.estimates[:k]]),
        vcov=vcov,
        n_obs=np.concatenate([pre_n, post_n]),
        n_cohorts=np.concatenate([pre_c, post_c]),
        overall=(float(fit.estimates[k]), float(np.sqrt(fit.vcov[k, k]))),
        details=details,
        n_sample=int(p.y.size),
        n_clusters=int(np.unique(p.cluster).size),
    )


# ---------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------
def event_study(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    reference: int = -1,
    method: str = "twfe",
    covariates: Sequence[str] = (),
    cluster: str | None = None,
    bins: tuple[int, int] | None = None,
    leave_out: bool = True,
    level: float = 0.95,
) -> EventStudyTable:
    """Effects by event time (periods since treatment) in a staggered-adoption panel.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel: one row per unit and period (may be unbalanced).
    outcome, unit, time : str
        Outcome column, unit identifier and numeric period column.
    cohort : str
        First treated period of each unit (constant within unit); 0, missing or a period
        after the last one in the data = never treated. Units observed only at or after
        their cohort (always treated) are dropped with a warning.
    reference : int
        The omitted (normalising) pre-treatment event time, ``< 0``; it must occur in
        the data. Its row is reported with estimate 0 and no standard error.
    method : {"twfe", "sun_abraham", "imputation"}
        See Notes.
    covariates : sequence of str
        Time-varying controls (linear, common slopes).
    cluster : str, optional
        Cluster identifier for the standard errors; the unit by default.
    bins : tuple (lo, hi), optional
        Event times below ``lo`` are pooled into ``lo``, above ``hi`` into ``hi`` (binned
        end points); ``lo <= reference < 0 <= hi``. With ``lo == reference`` every
        earlier period is part of the reference.
    leave_out : bool, default True
        ``"imputation"`` only: leave-out cell averages in the BJS variance (see Notes).
    level : float
        Confidence level.

    Returns
    -------
    EventStudyTable
        One row per event time (``event_time``, the five result columns, ``n_obs``,
        ``n_cohorts``, ``reference``); ``.overall`` is the average effect over the treated
        post-treatment observations (each row weighted by its ``n_obs``; for sun_abraham
        this is fixest's ``agg = "att"``, for imputation BJS's default overall ATT), with
        its delta-method (or BJS) standard error; ``.plot()`` draws the event study.

    Raises
    ------
    DataValidationError
        Missing or non-numeric columns, duplicate unit-period rows, a cohort that changes
        within a unit, a reference period that is not a pre-treatment event time in the
        data, bad ``bins``, no treated cohort.

    Warns
    -----
    SmallSampleWarning
        Fewer than 10 clusters contain treated units: clustered tests over-reject (badly
        with a single treated cluster); prefer randomization inference or the wild
        cluster bootstrap.

    Notes
    -----
    Event time is ``e = t - cohort`` (binned when ``bins`` is given).

    ``"twfe"`` (dynamic two-way fixed effects): ``y_it = a_i + l_t + sum_{e != ref}
    b_e 1{E_it = e} + x_it'c + u_it``; never-treated units have every dummy zero. SEs are
    CR1 clustered as fixest (``G/(G-1) (n-1)/(n-K)``, ``K`` = slopes + fixed effects not
    nested in the clusters) with ``G - 1`` df. Under heterogeneous effects across cohorts
    the ``b_e`` mix effects of other event times (Sun & Abraham 2021): prefer the others.

    ``"sun_abraham"`` (interaction-weighted): the regression above with one dummy per
    (cohort, event time) of the treated cohorts, the control cohort getting none. Control:
    the never-treated units; if there are none, the last-treated cohort, with the periods
    from its treatment on dropped (Sun & Abraham 2021, sec. 4; fixest's ``sunab`` would
    instead keep those periods and rely on collinearity drops). Event-time effects are the
    cohort-share weighted averages of the cell coefficients, with shares = observations
    per cell (fixest ``aggregate``); SEs by the delta method from the full CR1 covariance,
    shares treated as fixed (as fixest), ``G - 1`` df. In a balanced panel with
    never-treated controls and no covariates the cell coefficients equal Callaway &
    Sant'Anna's ATT(g, t) with never-treated controls and a universal base period, and the
    event-time estimates their ``"dynamic"`` aggregation, exactly.

    ``"imputation"`` (Borusyak, Jaravel & Spiess 2024): unit and period effects (and
    covariate slopes) are fitted on the untreated observations (never treated and not yet
    treated); ``Y(0)`` is imputed for every treated observation and the event-time effect
    is the mean imputed effect at that event time. Treated observations in periods with
    no untreated observation cannot be imputed and are dropped (warning). SEs: BJS
    Theorem 3's conservative clustered variance (the exact formula, weights of the
    untreated observations ``v_0 = -Z_0 (Z_0'Z_0)^-1 Z_1'w`` computed, not approximated),
    with the imputed effects averaged within cohort x event-time cells (``v^2``-weighted,
    did_imputation's default ``avgeffectsby``). With ``leave_out=True`` (the default, as BJS
    recommend) each observation's cell average leaves out its own cluster (Stata
    ``did_imputation, leaveout``); the plain average, ``leave_out=False``, uses each
    observation's own effect in its average and makes the SE too small in small cells (1-7%
    in our simulations). Cells with a single cluster fall back to the plain average
    (warning; count in ``details["n_leave_out_fallback"]``). No small-sample factor; normal
    intervals. Pre-treatment rows are
    BJS's test regression: OLS on the untreated observations of the outcome on the unit
    and period effects, covariates and dummies for the pre-treatment event times other
    than ``reference``, with CR1 (fixest) clustered SEs; they are a pre-trend check, not
    effects, and their covariance with the post-treatment rows is not estimated (NaN in
    ``details["vcov"]``).
    Gardner's two-stage did2s gives the same post-treatment point estimates.

    Identification (all three): no anticipation before ``reference + 1`` and parallel
    trends; twfe additionally homogeneous effects across cohorts.

    References
    ----------
    Sun, L. & Abraham, S. (2021). Estimating dynamic treatment effects in event studies
    with heterogeneous treatment effects. Journal of Econometrics 225(2), 175-199.
    Borusyak, K., Jaravel, X. & Spiess, J. (2024). Revisiting event-study designs: robust
    and efficient estimation. Review of Economic Studies 91(6), 3253-3285. R:
    ``fixest::feols(y ~ i(rel, ref = -1) | id + t)`` and ``feols(y ~ sunab(g, t) | id +
    t)``; ``didimputation::did_imputation``; Stata ``did_imputation``,
    ``eventstudyinteract``. Python: ``pyfixest.event_study``, ``pyfixest.did2s``.

    Examples
    --------
    >>> import impacteval as ie
    >>> from impacteval.did.event_study import event_study
    >>> mpdta = ie.datasets.load("mpdta")
    >>> es = event_study(mpdta, outcome="lemp", unit="countyreal", time="year",
    ...                  cohort="first_treat", method="sun_abraham")
    >>> es.table.loc[es.table["event_time"] == 2, "estimate"].round(4).tolist()
    [-0.1373]
    >>> round(es.overall.estimate, 4)
    -0.04
    """
    level = check_level(level)
    method = check_choice(method, "method", METHODS)
    reference = _integer(reference, "reference")
    if reference >= 0:
        raise DataValidationError(
            f"`reference` must be a pre-treatment event time (< 0); received {reference}"
        )
    bins_ = _check_bins(bins, reference)
    covs = as_column_list(covariates, "covariates")
    caught: list[str] = []

    def note(msg: str) -> None:
        warnings.warn(msg, ImpactEvalWarning, stacklevel=3)
        caught.append(msg)

    panel, n_dropped = _prepare_panel(data, outcome, unit, time, cohort, covs, cluster, bins_, note)
    treated_events = np.unique(panel.event[np.isfinite(panel.event)])
    if treated_events.size == 0:
        raise DataValidationError(
            f"`cohort`: column {cohort!r} has no treated unit with an observed period "
            "(every unit is never treated)"
        )
    if reference not in treated_events:
        raise DataValidationError(
            f"`reference`: event time {reference} does not occur in the data (event times "
            f"of treated units: {', '.join(_fmt(e) for e in treated_events)})"
        )
    if np.unique(panel.cluster).size < 2:
        raise DataValidationError("`cluster`: at least 2 clusters are needed")
    cl_labels, cl_codes = np.unique(panel.cluster, return_inverse=True)
    few = few_treated_clusters(
        np.isfinite(panel.cohort).astype(float),
        cl_codes.astype(np.intp),
        int(cl_labels.size),
        cluster or unit,
        "CR1" if method != "imputation" else "clustered (BJS)",
    )
    if few:
        warnings.warn(few, SmallSampleWarning, stacklevel=2)
        caught.append(few)

    if method == "twfe":
        rows = _twfe(panel, reference, covs)
        df: float | None = float(rows.n_clusters - 1)
    elif method == "sun_abraham":
        rows = _sun_abraham(panel, reference, covs, note)
        df = float(rows.n_clusters - 1)
    else:
        rows = _imputation(panel, reference, covs, note, leave_out=bool(leave_out))
        df = None
    details = rows.details or {}
    dropped_terms = details.get("dropped_terms") or []
    if dropped_terms:
        note(f"terms collinear with the fixed effects dropped (not identified): {dropped_terms}")

    se = np.sqrt(np.clip(np.diag(rows.vcov), 0.0, None))
    out_rows: list[dict[str, Any]] = []
    for e, b, s, n_o, n_c in zip(
        rows.event, rows.estimate, se, rows.n_obs, rows.n_cohorts, strict=True
    ):
        lo, hi, pv = interval(float(b), float(s), level, df) if np.isfinite(b) else (np.nan,) * 3
        out_rows.append(
            {
                "event_time": e,
                "estimate": float(b),
                "std_error": float(s) if np.isfinite(b) else np.nan,
                "ci_lower": lo,
                "ci_upper": hi,
                "p_value": pv,
                "n_obs": int(n_o),
                "n_cohorts": int(n_c),
                "reference": False,
            }
        )
    ref_n = int(np.sum(panel.event == reference))
    ref_c = int(np.unique(panel.cohort[panel.event == reference]).size)
    out_rows.append(
        {
            "event_time": float(reference),
            "estimate": 0.0,
            "std_error": np.nan,
            "ci_lower": np.nan,
            "ci_upper": np.nan,
            "p_value": np.nan,
            "n_obs": ref_n,
            "n_cohorts": ref_c,
            "reference": True,
        }
    )
    table = pd.DataFrame(out_rows).sort_values("event_time", kind="stable")
    table = table.reset_index(drop=True)
    integer_events = bool(np.all(np.mod(table["event_time"].to_numpy(dtype=float), 1) == 0))
    if integer_events:
        table["event_time"] = table["event_time"].astype(np.int64)
    labels = [int(e) if integer_events else float(e) for e in rows.event]
    vcov_frame = pd.DataFrame(rows.vcov, index=labels, columns=labels)

    # overall: post-treatment rows weighted by their treated observations
    post = (rows.event >= 0) & np.isfinite(rows.estimate)
    if rows.overall is not None:
        overall_est, overall_se = rows.overall
    elif post.any():
        w = np.where(post, rows.n_obs, 0.0).astype(float)
        w /= w.sum()
        overall_est = float(w[post] @ rows.estimate[post])
        overall_se = float(
            np.sqrt(max(float(w[post] @ rows.vcov[np.ix_(post, post)] @ w[post]), 0.0))
        )
    else:
        overall_est = overall_se = np.nan
    label = {
        "twfe": "dynamic TWFE event study, CR1 clustered",
        "sun_abraham": "Sun-Abraham interaction-weighted event study "
        f"({details.get('control_group', '')} controls), CR1 clustered",
        "imputation": "Borusyak-Jaravel-Spiess imputation event study, conservative "
        f"clustered variance (BJS Theorem 3{', leave-out' if leave_out else ''})",
    }[method]
    label += f" by {cluster or unit}; reference e = {reference}"
    if bins_ is not None:
        label += f"; bins [{bins_[0]}, {bins_[1]}]"
    options = {
        "outcome": outcome,
        "unit": unit,
        "time": time,
        "cohort": cohort,
        "reference": reference,
        "method": method,
        "covariates": covs,
        "cluster": cluster or unit,
        "bins": list(bins_) if bins_ is not None else None,
        "leave_out": bool(leave_out) if method == "imputation" else None,
        "level": level,
    }
    used = [c for c in dict.fromkeys([outcome, unit, time, cohort, *covs, cluster]) if c]
    provenance = Provenance(options=options, data_fingerprint=fingerprint(data, used))
    never = ~np.isfinite(panel.cohort)
    n_treated_units = int(np.unique(panel.unit[~never]).size)
    n_control_units = int(np.unique(panel.unit[never]).size)
    overall = None
    if np.isfinite(overall_est):
        overall = EffectEstimate.from_wald(
            overall_est,
            overall_se,
            level=level,
            df=df,
            estimand="ATT",
            method=f"{label}; average over treated post-treatment observations",
            n_obs=rows.n_sample,
            n_treated=int(rows.n_obs[post].sum()),
            n_clusters=rows.n_clusters,
            outcome=outcome,
            n_dropped=n_dropped,
            warnings=tuple(caught),
            provenance=provenance,
        )
    details.pop("dropped_terms", None)
    details.update(
        {
            "vcov": vcov_frame,
            "outcome": outcome,
            "n_units_always_treated": panel.n_dropped_always,
            "n_treated_units": n_treated_units,
            "n_never_treated_units": n_control_units,
        }
    )
    return EventStudyTable(
        table=table,
        index_columns=("event_time",),
        overall=overall,
        level=level,
        estimand="ATT",
        method=label,
        n_obs=rows.n_sample,
        n_treated=n_treated_units,
        n_control=n_control_units,
        n_clusters=rows.n_clusters,
        df=df,
        ci_method="t" if df is not None else "normal",
        n_dropped=n_dropped,
        warnings=tuple(caught),
        provenance=provenance,
        details=details,
    )
