"""de Chaisemartin & D'Haultfoeuille (2024) event-study DiD for treatments that switch on
and off or change in dose (R/Stata ``did_multiplegt_dyn``, moderndid ``did_multiplegt``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from impacteval._validation import (
    as_column_list,
    check_bool,
    check_choice,
    check_columns,
    check_dataframe,
    check_level,
    check_positive_int,
    short_repr,
)
from impacteval._warn import WarningLog
from impacteval.did.aggregate import WaldTest
from impacteval.did.dcdh_numerics import (
    HorizonFit,
    SwitchingSample,
    average_total_effect,
    horizon_fit,
    switching_sample,
)
from impacteval.did.event_study import EventStudyTable
from impacteval.did.honest import HonestSensitivity, honest
from impacteval.exceptions import DataValidationError, SmallSampleWarning
from impacteval.results import EffectEstimate, Provenance, Summary, fingerprint, interval

__all__ = ["SWITCHERS", "SwitchingEffects", "dcdh"]

SWITCHERS: tuple[str, ...] = ("", "in", "out")
Array = np.ndarray


class SwitchingEffects(EventStudyTable):
    """Effects of having switched treatment ``l`` periods ago, and placebos.

    ``table`` columns: ``event_time`` (placebos ``-P..-1``, the reference ``0`` = the last
    period before the switch, effects ``1..L``), the five result columns, ``n_obs``
    (unit-periods used), ``n_switchers`` (switchers used), ``delta_d`` (their average
    cumulative treatment change, the normaliser), ``placebo`` and ``reference``.
    ``overall`` is the average total effect per unit of treatment. ``details`` hold
    ``placebo_test`` (:class:`~impacteval.did.WaldTest` that all placebos are 0),
    ``effects_equal_test`` (that all effects are equal),
    ``vcov`` (of the effect and placebo rows) and the sample counts. ``.plot()`` draws
    the event study; ``.sensitivity()`` the Rambachan-Roth analysis of effect 1.
    """

    @property
    def placebo_test(self) -> WaldTest:
        """Joint Wald test that every placebo is 0 (``details["placebo_test"]``)."""
        test: WaldTest = self.details["placebo_test"]
        return test

    def sensitivity(self, **kwargs: Any) -> HonestSensitivity:
        """Rambachan-Roth sensitivity of an effect to violations of parallel trends.

        :func:`impacteval.did.honest` on the placebos (pre-treatment) and effects
        (post-treatment), as ``did_multiplegt_dyn``'s ``honest_did`` option; the target
        ``e`` defaults to the first effect, ``l = 1``. Other arguments as ``honest``.
        """
        kwargs.setdefault("e", 1)
        return honest(self, **kwargs)

    def summary(self) -> Summary:
        """The rows, the average total effect, the switchers used and the placebo test."""
        base = super().summary()
        facts = [f for f in base.facts if f[0] != "Overall"]
        if self.overall is not None:
            o = self.overall
            facts.append(
                ("Avg total effect", f"{o.estimate:.4g} (SE {o.std_error:.4g}) per unit of D")
            )
        d = self.details
        facts.append(("Units", f"{d['n_switchers']} switchers, {d['n_never_switchers']} never"))
        missing = [
            f"{d[key]:,} {what}"
            for key, what in (
                ("n_missing_outcome", "outcome"),
                ("n_missing_treatment", "treatment"),
            )
            if d.get(key)
        ]
        if missing:
            facts.append(("Rows with a missing value", ", ".join(missing) + " (not used)"))
        if d["placebo"]:
            t = self.placebo_test
            facts.append(("Placebo test", f"chi2({t.df}) = {t.statistic:.4g}, p = {t.p_value:.4g}"))
        return replace(base, facts=tuple(facts))


@dataclass(frozen=True)
class _Options:
    outcome: str
    unit: str
    time: str
    treatment: str
    effects: int
    placebo: int
    normalized: bool
    switchers: str
    cluster: str | None
    weights: str | None
    same_switchers: bool
    trends_nonparam: tuple[str, ...]
    less_conservative_se: bool
    level: float


@dataclass(frozen=True)
class _Grid:
    y: Array
    d: Array
    exists: Array
    clusters: Array | None  # per unit codes
    weights: Array | None  # G x T
    strata: Array | None  # per unit codes of the trends_nonparam columns
    unit_labels: pd.Index
    periods: Array
    n_dropped: int


# ---------------------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------------------
def _check_options(**kw: Any) -> _Options:
    for name in ("outcome", "unit", "time", "treatment"):
        if not isinstance(kw[name], str):
            raise DataValidationError(
                f"`{name}` must be a column name (str); received {short_repr(kw[name])}"
            )
    for name in ("cluster", "weights"):
        if kw[name] is not None and not isinstance(kw[name], str):
            raise DataValidationError(
                f"`{name}` must be a column name (str) or None; received {short_repr(kw[name])}"
            )
    switchers = "" if kw["switchers"] is None else kw["switchers"]
    return _Options(
        outcome=kw["outcome"],
        unit=kw["unit"],
        time=kw["time"],
        treatment=kw["treatment"],
        effects=check_positive_int(kw["effects"], "effects"),
        placebo=check_positive_int(kw["placebo"], "placebo", minimum=0),
        normalized=check_bool(kw["normalized"], "normalized"),
        switchers=check_choice(switchers, "switchers", SWITCHERS),
        cluster=None if kw["cluster"] == kw["unit"] else kw["cluster"],
        weights=kw["weights"],
        same_switchers=check_bool(kw["same_switchers"], "same_switchers"),
        trends_nonparam=tuple(as_column_list(kw["trends_nonparam"], "trends_nonparam")),
        less_conservative_se=check_bool(kw["less_conservative_se"], "less_conservative_se"),
        level=check_level(kw["level"]),
    )


def _numeric(frame: pd.DataFrame, column: str, param: str) -> Array:
    series = frame[column]
    if not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
        if not pd.api.types.is_bool_dtype(series):
            raise DataValidationError(
                f"`{param}`: column {column!r} must be numeric; received dtype {series.dtype}"
            )
    values = series.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(values).any():
        raise DataValidationError(f"`{param}`: column {column!r} has infinite values")
    return values


def _periods(times: Array, time: str) -> tuple[Array, Array]:
    periods = np.unique(times)
    if periods.size < 2:
        raise DataValidationError(f"`time`: column {time!r} needs at least 2 distinct periods")
    gaps = np.diff(periods)
    if not np.allclose(gaps, gaps[0]):
        raise DataValidationError(
            f"`time`: column {time!r} must be evenly spaced periods (the estimator compares "
            f"period t with t - l); received gaps {short_repr(np.unique(gaps).tolist())}"
        )
    return periods, np.searchsorted(periods, times)


def _grid(data: object, o: _Options) -> _Grid:
    """The ``units x periods`` grid of outcome and treatment (NaN where missing)."""
    frame = check_dataframe(data)
    check_columns(
        frame, outcome=o.outcome, unit=o.unit, time=o.time, treatment=o.treatment,
        cluster=o.cluster, weights=o.weights,
    )  # fmt: skip
    for column in o.trends_nonparam:
        check_columns(frame, trends_nonparam=column)
    y, d = _numeric(frame, o.outcome, "outcome"), _numeric(frame, o.treatment, "treatment")
    times = _numeric(frame, o.time, "time")
    keep = np.isfinite(times) & frame[o.unit].notna().to_numpy()
    if o.cluster is not None:
        keep &= frame[o.cluster].notna().to_numpy()
    if not keep.any():
        raise DataValidationError("`data`: no row has both a unit and a period")
    if np.nanmin(d[keep], initial=0.0) < 0:
        raise DataValidationError(
            f"`treatment`: column {o.treatment!r} must be non-negative (a dose); received "
            f"a minimum of {np.nanmin(d[keep])}"
        )
    units, ucodes = np.unique(frame[o.unit].to_numpy()[keep], return_inverse=True)
    periods, tcodes = _periods(times[keep], o.time)
    ucodes = np.asarray(ucodes, dtype=np.intp).ravel()
    dup = pd.Series(ucodes * periods.size + tcodes).duplicated()
    if dup.any():
        raise DataValidationError(
            f"`unit`/`time`: {int(dup.sum())} duplicate ({o.unit}, {o.time}) rows; the "
            "estimator needs one row per unit and period"
        )
    shape = (units.size, periods.size)
    ywide, dwide, exists = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, bool)
    ywide[ucodes, tcodes], dwide[ucodes, tcodes] = y[keep], d[keep]
    exists[ucodes, tcodes] = True
    wwide = None
    if o.weights is not None:
        w = _numeric(frame, o.weights, "weights")[keep]
        if np.nanmin(w, initial=0.0) < 0:
            raise DataValidationError(
                f"`weights`: column {o.weights!r} must be non-negative; received a minimum "
                f"of {np.nanmin(w)}"
            )
        wwide = np.zeros(shape)
        wwide[ucodes, tcodes] = np.nan_to_num(w)
    clusters = None
    if o.cluster is not None:
        labels = pd.factorize(frame[o.cluster].to_numpy()[keep], sort=True)[0]
        per_unit = pd.Series(labels).groupby(ucodes).nunique()
        if (per_unit > 1).any():
            raise DataValidationError(
                f"`cluster`: column {o.cluster!r} changes within {int((per_unit > 1).sum())} "
                "units; units must be nested in clusters"
            )
        clusters = np.zeros(units.size, dtype=np.intp)
        clusters[ucodes] = labels
    strata = _strata(frame, o, keep, ucodes, units.size)
    n_dropped = int((~keep).sum())
    return _Grid(ywide, dwide, exists, clusters, wwide, strata, pd.Index(units), periods, n_dropped)


def _strata(
    frame: pd.DataFrame, o: _Options, keep: Array, ucodes: Array, n_units: int
) -> Array | None:
    """Per unit, the code of its ``trends_nonparam`` combination (constant within unit)."""
    if not o.trends_nonparam:
        return None
    sub = frame.loc[keep, list(o.trends_nonparam)].reset_index(drop=True)
    if sub.isna().any().any():
        raise DataValidationError(
            f"`trends_nonparam`: columns {list(o.trends_nonparam)} have missing values"
        )
    codes = sub.groupby(list(o.trends_nonparam), sort=True).ngroup().to_numpy()
    per_unit = pd.Series(codes).groupby(ucodes).nunique()
    if (per_unit > 1).any():
        raise DataValidationError(
            f"`trends_nonparam`: {list(o.trends_nonparam)} change within "
            f"{int((per_unit > 1).sum())} units; they must be constant within unit"
        )
    out = np.zeros(n_units)
    out[ucodes] = codes
    return out


def _sample(g: _Grid, o: _Options, log: WarningLog) -> tuple[SwitchingSample, Array | None]:
    has_data = np.any(np.isfinite(g.y), axis=1) & np.any(np.isfinite(g.d), axis=1)
    if not has_data.any():
        raise DataValidationError(
            f"`outcome`/`treatment`: no unit has both a non-missing {o.outcome!r} and a "
            f"non-missing {o.treatment!r}"
        )
    w = None if g.weights is None else g.weights[has_data]
    strata = None if g.strata is None else g.strata[has_data]
    s = switching_sample(g.y[has_data], g.d[has_data], g.exists[has_data], o.switchers, w, strata)
    clusters = None if g.clusters is None else g.clusters[has_data][s.keep]
    if s.n_bidirectional:
        log.warn(
            f"{s.n_bidirectional} units have a treatment both above and below their "
            f"first-period value at different times; their {s.n_obs_reversed} unit-periods "
            "from the first period by which both happened were dropped (effects there "
            "would mix lags with weights of both signs)"
        )
    sw, never = np.isfinite(s.first_switch), ~np.isfinite(s.first_switch)
    dropped = (
        f"(column {o.treatment!r}; units dropped: {s.n_other_direction} switching in the other "
        f"direction, {s.n_no_variation} whose first-period treatment group has no unit "
        "switching at another date or never)"
    )
    if not sw.any() and not never.any() and not s.n_cells_without_control:
        raise DataValidationError(f"`treatment`: no unit is left after the sample rules {dropped}")
    if not never.any() or not np.any(s.exists[never]):
        raise DataValidationError(
            "`treatment`: no unit keeps its first-period treatment in every period, so no "
            f"switcher has a comparison {dropped}"
        )
    if not sw.any():
        raise DataValidationError(f"`treatment`: no unit changes treatment {dropped}")
    return s, clusters


# ---------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------
def dcdh(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    treatment: str,
    effects: int = 1,
    placebo: int = 0,
    normalized: bool = False,
    switchers: str = "",
    cluster: str | None = None,
    weights: str | None = None,
    same_switchers: bool = False,
    trends_nonparam: Sequence[str] = (),
    less_conservative_se: bool = False,
    level: float = 0.95,
) -> SwitchingEffects:
    """de Chaisemartin & D'Haultfoeuille (2024) event study for non-absorbing treatments.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per unit and period (unbalanced allowed).
    outcome, unit, time : str
        Outcome (numeric), unit identifier and period (numeric, evenly spaced) columns.
    treatment : str
        Treatment (numeric, non-negative; binary or a dose) that may change in any period
        and in either direction (switch on and off).
    effects : int, default 1
        Number of effects ``l = 1..effects`` (``l`` periods after the first switch);
        capped, with a warning, at the largest ``l`` observed for some switcher.
    placebo : int, default 0
        Number of placebos ``l = -1..-placebo``; capped likewise.
    normalized : bool, default False
        Divide each ``DID_l`` (and placebo) by the switchers' average cumulative
        treatment change over ``F_g .. F_g - 1 + l``: a weighted average of the effects
        of the current treatment and its ``l - 1`` first lags, per unit of treatment.
    switchers : {"", "in", "out"}
        ``"in"``: only switchers whose first change is an increase (units whose first
        change is a decrease are dropped); ``"out"``: only decreases; ``""``: both.
    cluster : str, optional
        Cluster column (units nested in clusters); the unit by default.
    weights : str, optional
        Sampling weights (non-negative; may vary over time; a missing weight counts as 0):
        every mean, count and cell mean of the estimator is weighted.
    same_switchers : bool, default False
        Use only switchers observed at least ``effects`` periods after their switch, at
        every horizon, so that the effects compare the same units (placebos use the same
        switchers, those with enough periods before their switch).
    trends_nonparam : sequence of str
        Columns (constant within unit, e.g. a region) within which units are compared:
        switchers are compared only with units of the same status quo *and* the same
        values of these columns, allowing each stratum its own time trend.
    less_conservative_se : bool, default False
        Leave out the ``sqrt(n / (n - 1))`` small-cell factor of the variance.
    level : float
        Confidence level.

    Returns
    -------
    SwitchingEffects
        An event-study table (``event_time``, the five result columns, ``n_obs``,
        ``n_switchers``, ``delta_d``, ``placebo``, ``reference``) with ``.vcov``;
        ``.overall`` is the average total effect per unit of treatment;
        ``details["placebo_test"]`` the joint Wald test that the placebos are 0.

    Raises
    ------
    DataValidationError
        Missing, non-numeric or badly typed columns and options, a negative treatment,
        unevenly spaced periods, duplicate unit-period rows, a cluster that changes within
        a unit, or no switcher or no never-switcher left after the sample rules.

    Warns
    -----
    UserWarning
        Units dropped by the sample rules (bidirectional switchers), horizons capped, a
        horizon without switchers, a singular placebo covariance.
    SmallSampleWarning
        Fewer than 10 clusters.

    Notes
    -----
    Units are compared with units of the same first-period treatment (the status quo
    ``D_g1``). ``F_g`` is a unit's first period with a treatment different from the
    previous period's. For ``l >= 1`` the switchers observed at ``F_g - 1 + l`` enter
    ``DID_l = (1/N_l) sum_g [Y_{g,F_g-1+l} - Y_{g,F_g-1} - mean over controls g' of
    (Y_{g',F_g-1+l} - Y_{g',F_g-1})]``, the controls being the units of the same status
    quo that have not switched by ``F_g - 1 + l``; ``DID_l`` estimates the average effect
    of having been exposed to a different treatment path than the status quo for ``l``
    periods (actual versus status quo). It is not signed by the switch's direction:
    with ``switchers=""`` it averages the outcome changes of switchers in (a higher
    dose than the status quo) and out (a lower one); ``"in"``/``"out"`` separate them,
    as in did_multiplegt_dyn. Placebos ``l = -k`` use the outcome change from ``F_g - 1`` back to
    ``F_g - 1 - k`` with the same switchers and controls. Sample rules as
    ``did_multiplegt_dyn``: bidirectional units, status-quo groups where every unit
    switches at the same time, and unit-periods with no never-switcher of the same
    status quo are dropped.

    Standard errors come from each unit's influence function, with switchers demeaned
    within their cohort (status quo x ``F_g`` x treatment at ``F_g``) and controls within
    their period x status quo cell, each cell times ``sqrt(n/(n-1))`` (the conservative
    variance of the paper), clustered by summing within clusters. The average total
    effect is ``sum_l w_l DID_l / sum_l w_l (dD_l - dD_{l-1})`` with ``w_l`` the share of
    switchers at ``l`` and ``dD_l`` the average cumulative treatment change (as moderndid
    0.2.0 computes it). The placebo test is ``b' V^-1 b`` with ``V`` the placebos'
    influence-function covariance (clustered when ``cluster`` is given).

    Not (yet) supported: covariates, linear trends, ``same_switchers`` for placebos only,
    bootstrap, heterogeneity regressions.

    References
    ----------
    de Chaisemartin, C. & D'Haultfoeuille, X. (2024). Difference-in-differences
    estimators of intertemporal treatment effects. Review of Economics and Statistics
    106(6), 1723-1736. R/Stata ``did_multiplegt_dyn``; Python ``moderndid.did_multiplegt``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import impacteval as ie
    >>> rng = np.random.default_rng(0)
    >>> units, periods = np.repeat(np.arange(200), 6), np.tile(np.arange(1, 7), 200)
    >>> start = np.repeat(rng.choice([3, 4, 5, 99], 200), 6)
    >>> d = ((periods >= start) & (periods < start + 2)).astype(float)  # on, then off
    >>> y = rng.normal(size=units.size) + 2.0 * d
    >>> df = pd.DataFrame({"id": units, "t": periods, "d": d, "y": y})
    >>> es = ie.did.dcdh(df, outcome="y", unit="id", time="t", treatment="d",
    ...                  effects=2, placebo=1)
    >>> es.table.set_index("event_time")["estimate"].round(2).tolist()
    [-0.22, 0.0, 2.09, 2.03]
    >>> es.placebo_test.df, round(es.overall.estimate, 2)
    (1, 2.06)
    """
    o = _check_options(
        outcome=outcome, unit=unit, time=time, treatment=treatment, effects=effects,
        placebo=placebo, normalized=normalized, switchers=switchers, cluster=cluster,
        weights=weights, same_switchers=same_switchers, trends_nonparam=trends_nonparam,
        less_conservative_se=less_conservative_se, level=level,
    )  # fmt: skip
    log = WarningLog()
    grid = _grid(data, o)
    s, clusters = _sample(grid, o, log)
    o = _cap_horizons(s, o, log)
    fits = {
        h: horizon_fit(
            s,
            abs(h),
            placebo=h < 0,
            switchers=o.switchers,
            clusters=clusters,
            less_conservative=o.less_conservative_se,
            min_exposure=o.effects if o.same_switchers else 0,
        )
        for h in [*range(-o.placebo, 0), *range(1, o.effects + 1)]
    }
    named = [outcome, unit, time, treatment, o.cluster, o.weights, *o.trends_nonparam]
    used = [c for c in dict.fromkeys(named) if c]
    provenance = Provenance(
        options=dict(o.__dict__), data_fingerprint=fingerprint(check_dataframe(data), used)
    )
    return _build(fits, s, clusters, o, grid, provenance, log)


def _cap_horizons(s: SwitchingSample, o: _Options, log: WarningLog) -> _Options:
    n_periods = s.y.shape[1]
    f = s.first_switch[np.isfinite(s.first_switch)]
    max_effects, max_placebo = int(n_periods - f.min()), int(f.max() - 1)
    effects, placebo = o.effects, o.placebo
    if effects > max_effects:
        log.warn(
            f"effects={effects} asked but switchers are observed at most {max_effects} "
            f"periods after their switch; effects={max_effects} estimated"
        )
        effects = max_effects
    if placebo > max_placebo:
        log.warn(
            f"placebo={placebo} asked but at most {max_placebo} periods are observed "
            f"before a switch (besides the reference); placebo={max_placebo} estimated"
        )
        placebo = max_placebo
    return _Options(**{**o.__dict__, "effects": effects, "placebo": placebo})


# ---------------------------------------------------------------------------------------
# inference and the result
# ---------------------------------------------------------------------------------------
def _scores(influence: Array, clusters: Array | None) -> Array:
    """Per cluster (or unit), the summed influence functions (rows) of each column."""
    if clusters is None or np.unique(clusters).size <= 1:
        return influence
    codes = np.unique(clusters, return_inverse=True)[1].ravel()
    out = np.zeros((int(codes.max()) + 1, influence.shape[1]))
    np.add.at(out, codes, influence)
    return out


def _wald(b: Array, v: Array, what: str, equal: bool = False) -> WaldTest:
    """``b'V^-1 b`` (all zero), or with ``equal`` the same on the deviations from the
    mean of ``b`` (all equal; one degree of freedom less)."""
    ok = np.isfinite(b)
    b, v = b[ok], v[np.ix_(ok, ok)]
    if equal and b.size >= 2:
        k = b.size
        contrast = np.eye(k - 1, k) - 1.0 / k
        b, v = contrast @ b, contrast @ v @ contrast.T
    elif equal:
        return WaldTest(np.nan, 0, np.nan, method=what, note="fewer than 2 effects")
    if b.size == 0:
        return WaldTest(np.nan, 0, np.nan, method=what, note="no placebo estimated")
    eig = np.linalg.eigvalsh(v)
    if np.sum(eig > 1e-10 * max(float(eig.max()), 1e-300)) < b.size:
        return WaldTest(np.nan, int(b.size), np.nan, method=what, note="singular covariance")
    stat = float(b @ np.linalg.solve(v, b))
    return WaldTest(stat, int(b.size), float(stats.chi2.sf(stat, b.size)), method=what)


def _build(
    fits: dict[int, HorizonFit],
    s: SwitchingSample,
    clusters: Array | None,
    o: _Options,
    grid: _Grid,
    provenance: Provenance,
    log: WarningLog,
) -> SwitchingEffects:
    n_units = s.y.shape[0]
    hs = np.array(list(fits))
    raw = np.array([f.estimate for f in fits.values()])
    delta = np.array([f.delta_d for f in fits.values()])
    infl = np.column_stack([f.influence for f in fits.values()])
    scale = np.where(o.normalized & np.isfinite(delta) & (delta != 0), delta, 1.0)
    est, infl_n = raw / scale, infl / scale
    sc = _scores(infl_n, clusters)
    vcov = sc.T @ sc / n_units**2
    se = np.sqrt(np.diag(vcov))
    se = np.where(np.isfinite(est), se, np.nan)
    for h, f in fits.items():
        if f.n_switchers == 0:
            log.warn(f"no switcher is observed at event time {h}; its row is NaN")
    n_clusters = int(np.unique(clusters).size) if clusters is not None else n_units
    if clusters is not None and n_clusters < 10:
        log.warn(f"only {n_clusters} clusters in {o.cluster!r}", SmallSampleWarning)
    counts = (n_units, n_clusters, int(s.exists.sum()), int((~np.isfinite(s.first_switch)).sum()))
    overall = _overall(fits, hs, raw, infl, clusters, o, counts, log, provenance)
    ci = [interval(float(b), float(e), o.level, None) for b, e in zip(est, se, strict=True)]
    table = pd.DataFrame(
        {
            "event_time": np.r_[hs, 0].astype(np.int64),
            "estimate": np.r_[est, 0.0],
            "std_error": np.r_[se, np.nan],
            "ci_lower": [c[0] for c in ci] + [np.nan],
            "ci_upper": [c[1] for c in ci] + [np.nan],
            "p_value": [c[2] for c in ci] + [np.nan],
            "n_obs": [f.n_obs for f in fits.values()] + [0],
            "n_switchers": [f.n_switchers for f in fits.values()] + [0],
            "delta_d": np.r_[delta, np.nan],
            "placebo": np.r_[hs < 0, False],
            "reference": [False] * hs.size + [True],
        }
    )
    order = np.argsort(table["event_time"].to_numpy(), kind="stable")
    table = table.iloc[order].reset_index(drop=True)
    full = np.zeros((hs.size + 1, hs.size + 1))
    full[: hs.size, : hs.size] = vcov
    labels = table["event_time"].tolist()
    pl = hs < 0
    details: dict[str, Any] = {
        "vcov": pd.DataFrame(vcov, index=hs.tolist(), columns=hs.tolist()),
        "placebo_test": _wald(est[pl], vcov[np.ix_(pl, pl)], "placebos jointly zero"),
        "effects_equal_test": _wald(
            est[~pl], vcov[np.ix_(~pl, ~pl)], "effects all equal", equal=True
        ),
        "n_units": n_units,
        "n_switchers": int(np.isfinite(s.first_switch).sum()),
        "n_never_switchers": int((~np.isfinite(s.first_switch)).sum()),
        # rows kept whose outcome / treatment is missing: they enter no outcome difference
        "n_missing_outcome": int(np.sum(grid.exists & np.isnan(grid.y))),
        "n_missing_treatment": int(np.sum(grid.exists & np.isnan(grid.d))),
        "n_units_bidirectional": s.n_bidirectional,
        "n_obs_removed_bidirectional": s.n_obs_reversed,
        "n_units_dropped_other_direction": s.n_other_direction,
        "n_units_dropped_no_comparison": s.n_no_variation,
        "n_obs_removed_no_never_switcher": s.n_cells_without_control,
        "effects": o.effects,
        "placebo": o.placebo,
        "outcome": o.outcome,
    }
    return SwitchingEffects(
        table=table,
        index_columns=("event_time",),
        overall=overall,
        level=o.level,
        estimand="DID_l (actual vs status quo)",
        method=_label(o),
        n_obs=int(s.exists.sum()),
        n_treated=details["n_switchers"],
        n_control=details["n_never_switchers"],
        n_clusters=n_clusters,
        df=None,
        ci_method="normal",
        n_dropped=grid.n_dropped,
        warnings=log.messages,
        provenance=provenance,
        details=details,
        vcov=pd.DataFrame(full[np.ix_(order, order)], index=labels, columns=labels),
    )


def _label(o: _Options) -> str:
    who = {"": "all switchers", "in": "switchers in", "out": "switchers out"}[o.switchers]
    label = f"dCDH event study (did_multiplegt_dyn), {who}"
    label += ", same switchers" if o.same_switchers else ""
    label += ", normalized" if o.normalized else ""
    label += f", weighted by {o.weights}" if o.weights else ""
    label += f", within {', '.join(o.trends_nonparam)}" if o.trends_nonparam else ""
    return label + (f", clustered by {o.cluster}" if o.cluster else "")


def _overall(
    fits: dict[int, HorizonFit],
    hs: Array,
    raw: Array,
    infl: Array,
    clusters: Array | None,
    o: _Options,
    counts: tuple[int, int, int, int],
    log: WarningLog,
    provenance: Provenance,
) -> EffectEstimate | None:
    """The average total effect per unit of treatment; ``counts``: units, clusters, the
    estimation sample's unit-periods and the never-switchers (as on the event-study
    result, so both summaries count the same sample)."""
    n_units, n_clusters, n_obs, n_never = counts
    post = hs > 0
    n_sw = np.array([f.n_switchers_weighted for f in fits.values()])[post]
    if not np.any(np.isfinite(raw[post]) & (n_sw > 0)):
        return None
    delta = np.array([f.delta_d for f in fits.values()])[post]
    est, psi = average_total_effect(raw[post], infl[:, post], n_sw, delta)
    sc = _scores(psi[:, None], clusters)
    se = float(np.sqrt(np.sum(sc**2))) / n_units
    return EffectEstimate.from_wald(
        est,
        se,
        level=o.level,
        df=None,
        estimand="average total effect per unit of treatment",
        method=f"{_label(o)}; average total effect over l = 1..{o.effects}",
        n_obs=n_obs,
        n_treated=max(f.n_switchers for f in fits.values()),
        n_control=n_never,
        n_clusters=n_clusters,
        outcome=o.outcome,
        warnings=log.messages,
        provenance=provenance,
    )
