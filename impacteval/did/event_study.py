"""Event studies: dynamic TWFE, Sun & Abraham (2021) and Borusyak, Jaravel & Spiess (2024)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from impacteval._panel import format_label, prepare_panel
from impacteval._validation import as_column_list, check_choice, check_level
from impacteval._warn import WarningLog
from impacteval.did._es_numerics import compact_codes, fe_regression, imputation
from impacteval.did.honest import HonestSensitivity, honest
from impacteval.did.twfe import few_treated_clusters
from impacteval.exceptions import DataValidationError, SmallSampleWarning
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
        from impacteval.plotting.did import EventStudyDisplay

        return EventStudyDisplay.from_table(self).plot(ax=ax)

    def sensitivity(self, **kwargs: Any) -> HonestSensitivity:
        """Rambachan-Roth sensitivity to violations of parallel trends.

        ``self.sensitivity(**kwargs)`` is :func:`impacteval.did.honest` ``(self,
        **kwargs)``: robust confidence intervals for a post-treatment effect across
        bounds on the violation (``method``, ``m``, ``e``, ``level``, ``ci_method``,
        ``threshold`` as there) and the breakdown value. The reference period is left
        out and the rows' covariance is ``details["vcov"]``.

        Examples
        --------
        >>> import impacteval as ie
        >>> d = ie.datasets.load("mpdta")
        >>> es = ie.did.event_study(d, outcome="lemp", unit="countyreal", time="year",
        ...                         cohort="first_treat", method="sun_abraham")
        >>> es.sensitivity(m=[0, 1]).bound_name
        'Mbar'
        """
        return honest(self, **kwargs)


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


@dataclass(frozen=True)
class _Sample:
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


def _prepare_sample(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    covs: list[str],
    cluster: str | None,
    bins: tuple[int, int] | None,
    log: WarningLog,
) -> tuple[_Sample, int]:
    """Code the panel (shared layer), drop always-treated units, compute event times."""
    panel = prepare_panel(
        data,
        unit=unit,
        time=time,
        outcome=outcome,
        cohort=cohort,
        numeric={"covariates": covs},
        labels={"cluster": cluster},
        one_row_hint="an event study needs one row per unit and period",
    )
    assert panel.cohort is not None  # given a cohort column
    ucodes, periods = panel.unit_codes, panel.periods
    tvals = panel.column(time)
    # a cohort after the last period is never treated within the data
    unit_cohort = np.where(panel.cohort > periods[-1], np.inf, panel.cohort)
    # units observed only at or after their cohort have no untreated period: dropped
    always = np.isfinite(panel.cohort) & (panel.cohort <= panel.first_period())
    n_always = int(always.sum())
    keep = ~always[ucodes]
    if n_always:
        log.warn(
            f"{n_always} units are treated in every period in which they are observed (no "
            "pre-treatment period) and were dropped; see details['n_units_always_treated']"
        )
    if not keep.any():
        raise DataValidationError("no units remain after dropping always-treated units")
    coh = unit_cohort[ucodes]
    event = tvals - coh
    if bins is not None:
        event = np.clip(event, bins[0], bins[1])
    event = np.where(np.isfinite(coh), event, np.nan)
    if cluster is None or cluster == unit:
        ccodes = ucodes
    else:
        ccodes = pd.factorize(panel.labels(cluster), sort=True)[0].astype(np.intp)
    sample = _Sample(
        y=panel.column(outcome)[keep],
        x=panel.column(covs)[keep] if covs else np.zeros((int(keep.sum()), 0)),
        unit=ucodes[keep],
        time=tvals[keep],
        tcode=panel.period_codes[keep],
        cluster=ccodes[keep],
        cohort=coh[keep],
        event=event[keep],
        n_dropped_always=n_always,
    )
    return sample, panel.n_dropped


def _subset(p: _Sample, mask: Array) -> _Sample:
    return _Sample(
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


def _counts(p: _Sample, events: Array) -> tuple[Array, Array]:
    n_obs = np.array([int(np.sum(p.event == e)) for e in events])
    n_coh = np.array([np.unique(p.cohort[p.event == e]).size for e in events])
    return n_obs, n_coh


def _slopes_table(names: list[str], coef: Array, vcov: Array) -> pd.DataFrame:
    return pd.DataFrame(
        {"estimate": coef, "std_error": np.sqrt(np.diag(vcov))}, index=pd.Index(names, name="term")
    )


def _twfe(p: _Sample, reference: int, covs: list[str]) -> _Rows:
    treated_unit = np.isfinite(p.cohort)
    events = np.unique(p.event[treated_unit])
    events = events[events != reference]
    dummies = (p.event[:, None] == events[None, :]).astype(float)
    reg = fe_regression(p.y, np.column_stack([dummies, p.x]), p.unit, p.tcode, p.cluster)
    k = events.size
    n_obs, n_coh = _counts(p, events)
    names = [f"event_time::{format_label(e)}" for e in events] + covs
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


def _sun_abraham(p: _Sample, reference: int, covs: list[str], log: WarningLog) -> _Rows:
    if np.isfinite(p.cohort).all():
        last = float(np.max(p.cohort))
        shown = format_label(last)
        log.warn(
            f"no never-treated units: the last-treated cohort ({shown}) is the control "
            f"group and periods from {shown} on are dropped (Sun & Abraham 2021, sec. 4)"
        )
        p = _subset(p, p.time < last)
        control = p.cohort == last
        control_label = f"last-treated cohort {format_label(last)}"
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
    names = [f"event_time::{format_label(e)}:cohort::{format_label(c)}" for c, e in cells] + covs
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


def _imputation(
    p: _Sample, reference: int, covs: list[str], log: WarningLog, *, leave_out: bool
) -> _Rows:
    treated = np.isfinite(p.cohort) & (p.time >= p.cohort)
    # treated observations in periods without untreated observations cannot be imputed
    untreated_periods = np.unique(p.tcode[~treated])
    imputable = ~treated | np.isin(p.tcode, untreated_periods)
    n_lost = int((~imputable).sum())
    if n_lost:
        lost = np.unique(p.time[~imputable])
        log.warn(
            f"{n_lost} treated observations in periods with no untreated observation "
            f"({', '.join(format_label(t) for t in lost)}) cannot be imputed and were dropped; see "
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
        log.warn(
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
        names = [f"event_time::{format_label(e)}" for e in pre] + covs
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
    log = WarningLog()
    sample, n_dropped = _prepare_sample(
        data, outcome, unit, time, cohort, covs, cluster, bins_, log
    )
    _check_sample(sample, reference, cohort, cluster or unit, method, log)
    if method == "twfe":
        rows = _twfe(sample, reference, covs)
    elif method == "sun_abraham":
        rows = _sun_abraham(sample, reference, covs, log)
    else:
        rows = _imputation(sample, reference, covs, log, leave_out=bool(leave_out))
    dropped_terms = (rows.details or {}).pop("dropped_terms", None)
    if dropped_terms:
        log.warn(
            f"terms collinear with the fixed effects dropped (not identified): {dropped_terms}"
        )
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
    return _build_result(rows, sample, options, provenance, n_dropped, log)


# ---------------------------------------------------------------------------------------
# checks on the sample and the result builder
# ---------------------------------------------------------------------------------------
def _check_sample(
    sample: _Sample, reference: int, cohort: str, cluster: str, method: str, log: WarningLog
) -> None:
    """A treated unit, the reference event time in the data, 2+ clusters (few: warning)."""
    treated_events = np.unique(sample.event[np.isfinite(sample.event)])
    if treated_events.size == 0:
        raise DataValidationError(
            f"`cohort`: column {cohort!r} has no treated unit with an observed period "
            "(every unit is never treated)"
        )
    if reference not in treated_events:
        raise DataValidationError(
            f"`reference`: event time {reference} does not occur in the data (event times "
            f"of treated units: {', '.join(format_label(e) for e in treated_events)})"
        )
    if np.unique(sample.cluster).size < 2:
        raise DataValidationError("`cluster`: at least 2 clusters are needed")
    cl_labels, cl_codes = np.unique(sample.cluster, return_inverse=True)
    few = few_treated_clusters(
        np.isfinite(sample.cohort).astype(float),
        cl_codes.astype(np.intp),
        int(cl_labels.size),
        cluster,
        "CR1" if method != "imputation" else "clustered (BJS)",
    )
    if few:
        log.warn(few, SmallSampleWarning)


def _event_table(
    rows: _Rows, sample: _Sample, reference: int, level: float, df: float | None
) -> pd.DataFrame:
    """One row per event time, the reference row included, sorted by event time."""
    se = np.sqrt(np.clip(np.diag(rows.vcov), 0.0, None))
    finite = np.isfinite(rows.estimate)
    ci = [
        interval(float(b), float(s), level, df) if ok else (np.nan,) * 3
        for b, s, ok in zip(rows.estimate, se, finite, strict=True)
    ]
    at_ref = sample.event == reference
    table = pd.DataFrame(
        {
            "event_time": np.r_[rows.event, float(reference)],
            "estimate": np.r_[rows.estimate, 0.0],
            "std_error": np.r_[np.where(finite, se, np.nan), np.nan],
            "ci_lower": [c[0] for c in ci] + [np.nan],
            "ci_upper": [c[1] for c in ci] + [np.nan],
            "p_value": [c[2] for c in ci] + [np.nan],
            "n_obs": np.r_[rows.n_obs, int(np.sum(at_ref))].astype(int),
            "n_cohorts": np.r_[rows.n_cohorts, np.unique(sample.cohort[at_ref]).size].astype(int),
            "reference": [False] * rows.event.size + [True],
        }
    )
    table = table.sort_values("event_time", kind="stable").reset_index(drop=True)
    if np.all(np.mod(table["event_time"].to_numpy(dtype=float), 1) == 0):
        table["event_time"] = table["event_time"].astype(np.int64)
    return table


def _table_vcov(rows: _Rows, table: pd.DataFrame) -> pd.DataFrame:
    """The rows' covariance in table order; the reference row (fixed at 0) has zero
    variance and covariances."""
    k = rows.event.size
    full = np.zeros((k + 1, k + 1))
    full[:k, :k] = rows.vcov
    events = np.r_[rows.event, np.nan]  # the reference row is the last of ``full``
    ref = table["reference"].to_numpy(dtype=bool)
    pos = np.array(
        [
            k if r else int(np.flatnonzero(events == e)[0])
            for e, r in zip(table["event_time"], ref, strict=True)
        ]
    )
    labels = table["event_time"].tolist()
    return pd.DataFrame(full[np.ix_(pos, pos)], index=labels, columns=labels)


def _overall(rows: _Rows) -> tuple[float, float]:
    """Post-treatment rows weighted by their treated observations (or the method's own)."""
    if rows.overall is not None:
        return rows.overall
    post = (rows.event >= 0) & np.isfinite(rows.estimate)
    if not post.any():
        return np.nan, np.nan
    w = np.where(post, rows.n_obs, 0.0).astype(float)
    w /= w.sum()
    est = float(w[post] @ rows.estimate[post])
    return est, float(np.sqrt(max(float(w[post] @ rows.vcov[np.ix_(post, post)] @ w[post]), 0.0)))


def _label(options: dict[str, Any], details: dict[str, Any]) -> str:
    method, reference, bins = options["method"], options["reference"], options["bins"]
    label = {
        "twfe": "dynamic TWFE event study, CR1 clustered",
        "sun_abraham": "Sun-Abraham interaction-weighted event study "
        f"({details.get('control_group', '')} controls), CR1 clustered",
        "imputation": "Borusyak-Jaravel-Spiess imputation event study, conservative "
        f"clustered variance (BJS Theorem 3{', leave-out' if options['leave_out'] else ''})",
    }[method]
    label += f" by {options['cluster']}; reference e = {reference}"
    if bins is not None:
        label += f"; bins [{bins[0]}, {bins[1]}]"
    return label


def _build_result(
    rows: _Rows,
    sample: _Sample,
    options: dict[str, Any],
    provenance: Provenance,
    n_dropped: int,
    log: WarningLog,
) -> EventStudyTable:
    """The one result builder: table, typed covariance, overall effect, details."""
    level, method = options["level"], options["method"]
    df = None if method == "imputation" else float(rows.n_clusters - 1)
    table = _event_table(rows, sample, options["reference"], level, df)
    integer_events = table["event_time"].dtype == np.int64
    labels = [int(e) if integer_events else float(e) for e in rows.event]
    details = dict(rows.details or {})
    label = _label(options, details)
    never = ~np.isfinite(sample.cohort)
    n_treated_units = int(np.unique(sample.unit[~never]).size)
    n_control_units = int(np.unique(sample.unit[never]).size)
    overall_est, overall_se = _overall(rows)
    post = (rows.event >= 0) & np.isfinite(rows.estimate)
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
            outcome=options["outcome"],
            n_dropped=n_dropped,
            warnings=log.messages,
            provenance=provenance,
        )
    details.update(
        {
            "vcov": pd.DataFrame(rows.vcov, index=labels, columns=labels),
            "outcome": options["outcome"],
            "n_units_always_treated": sample.n_dropped_always,
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
        warnings=log.messages,
        provenance=provenance,
        details=details,
        vcov=_table_vcov(rows, table),
    )
