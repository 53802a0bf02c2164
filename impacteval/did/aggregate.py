"""Aggregations of Callaway-Sant'Anna group-time ATTs, as R ``did::aggte``.

Every aggregate is a weighted average of ATT(g, t) cells; its influence function is the
same weighted average of the cells' influence functions plus, where the weights are
estimated cohort shares, the influence function of the weights (``did:::wif``). Standard
errors, bootstrap draws and uniform bands all come from these influence functions, so an
aggregation never refits anything.

The public objects are :class:`AggregatedEffects` (what ``GroupTimeEffects.aggregate``
returns) and :class:`WaldTest` (what ``GroupTimeEffects.pretrend_test`` returns).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special, stats

from impacteval._validation import check_positive_int
from impacteval.did._cs_numerics import (
    GroupTimeFit,
    bootstrap_draws,
    bootstrap_se_and_crit,
    if_standard_errors,
    if_vcov,
)
from impacteval.exceptions import DataValidationError, ImpactEvalWarning
from impacteval.results import EffectEstimate, EffectTable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from impacteval.did.honest import HonestSensitivity

__all__ = ["KINDS", "AggregatedEffects", "WaldTest"]

Array = np.ndarray
KINDS: tuple[str, ...] = ("simple", "dynamic", "group", "calendar")
_INDEX = {"simple": "aggregation", "dynamic": "event_time", "group": "group", "calendar": "time"}


@dataclass(frozen=True)
class Inference:
    """How standard errors and intervals are formed from influence functions."""

    level: float = 0.95
    clusters: Array | None = None
    n_clusters: int | None = None
    bootstrap: int | None = None
    se_convention: str = "did"  # "drdid": sd(IF) / sqrt(n), see did._cs_numerics

    @property
    def label(self) -> str:
        cl = "clustered" if self.clusters is not None else "unit-level"
        if self.se_convention == "drdid" and self.bootstrap is None:
            cl += ", DRDID's sd(IF)/sqrt(n)"
        if self.bootstrap is None:
            return f"analytic influence-function SEs ({cl})"
        return f"multiplier bootstrap, {self.bootstrap:,} Rademacher draws ({cl})"


@dataclass(frozen=True)
class InferenceColumns:
    se: Array
    ci_lower: Array
    ci_upper: Array
    p_value: Array
    crit: float
    ci_method: str


def infer(
    estimates: Array,
    influence: Array,
    how: Inference,
    rng: np.random.Generator | None,
    *,
    uniform: bool,
    extra: Array | None = None,
) -> tuple[InferenceColumns, Array | None]:
    """SEs, intervals and p-values for ``estimates`` from their influence functions.

    With ``how.bootstrap`` the SEs are the bootstrap IQR scale and, when ``uniform``, the
    intervals form a simultaneous band with the sup-t critical value (``did::mboot``); the
    p-values are pointwise (normal, bootstrap SE). ``extra`` (an n-vector, e.g. an overall
    effect's influence function) is bootstrapped with the same draws; its SE is returned.
    """
    n = influence.shape[0]
    z = float(-special.ndtri((1.0 - how.level) / 2.0))  # = stats.norm.isf, without overhead
    extra_se: Array | None = None
    if how.bootstrap is None:
        se = if_standard_errors(influence, how.clusters, how.n_clusters, how.se_convention)
        if extra is not None:
            extra_se = if_standard_errors(
                extra[:, None], how.clusters, how.n_clusters, how.se_convention
            )
        crit, method = z, "normal"
    else:
        if rng is None:
            rng = np.random.default_rng()
        mat = influence if extra is None else np.column_stack([influence, extra])
        bres = bootstrap_draws(mat, how.clusters, how.n_clusters, how.bootstrap, rng)
        n_c = n if how.clusters is None else int(how.n_clusters or 0)
        k = influence.shape[1]
        se_all, _ = bootstrap_se_and_crit(bres, n, n_c, how.level)
        se = se_all[:k]
        if extra is not None:
            extra_se = se_all[k:]
        crit, method = z, "normal (bootstrap SE)"
        if uniform and k > 1:
            _, band = bootstrap_se_and_crit(bres[:, :k], n, n_c, how.level)
            if not np.isfinite(band) or band < z:
                warnings.warn(
                    "the simultaneous critical value is undefined or below the pointwise one; "
                    "reporting pointwise intervals",
                    ImpactEvalWarning,
                    stacklevel=3,
                )
            else:
                crit, method = band, "uniform band (multiplier bootstrap sup-t)"
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2.0 * special.ndtr(-np.abs(estimates / se))  # = stats.norm.sf
    cols = InferenceColumns(
        se=se,
        ci_lower=estimates - crit * se,
        ci_upper=estimates + crit * se,
        p_value=np.where(np.isfinite(se), p, np.nan),
        crit=crit,
        ci_method=method,
    )
    return cols, extra_se


# ---------------------------------------------------------------------------------------
# Influence functions of aggregates (did:::wif, did:::get_agg_inf_func)
# ---------------------------------------------------------------------------------------
def cohort_shares(fit: GroupTimeFit) -> Array:
    """``pg`` per cell: the weighted share of units in the cell's cohort (``mean(w 1{G=g})``)."""
    levels, codes = np.unique(fit.unit_cohort, return_inverse=True)
    share = np.bincount(codes.ravel(), weights=fit.weights, minlength=levels.size) / fit.n
    pos = np.searchsorted(levels, fit.group)
    found = (pos < levels.size) & (levels[np.minimum(pos, levels.size - 1)] == fit.group)
    return np.where(found, share[np.minimum(pos, levels.size - 1)], 0.0)


def weighted_influence(
    fit: GroupTimeFit, keep: Array, pg: Array, *, estimated_weights: bool
) -> tuple[float, Array]:
    """Cohort-share-weighted average of the cells ``keep`` and its influence function.

    With ``estimated_weights`` the influence function of the estimated shares is added
    (``did:::wif``): ``sum_k att_k (c_k / S - pg_k sum_j c_j / S^2)`` with
    ``c_k = w 1{G = g_k} - pg_k`` and ``S = sum_k pg_k``.
    """
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        raise DataValidationError("no group-time cells fall in the requested aggregation")
    pgk = pg[idx]
    total = float(pgk.sum())
    att = fit.att[idx]
    est = float(np.sum(att * pgk) / total)
    # the full (zero-padded) weight vector: no copy of the selected columns (for a dense
    # matrix one pass over it; factored influence functions multiply it directly)
    full = np.zeros(fit.group.size)
    full[idx] = pgk / total
    inf = fit.influence @ full
    if estimated_weights:
        # centered_ik = w_i 1{G_i = g_k} - pg_k; its products with att and with ones are
        # per-cohort sums, so no n x K matrix is formed
        levels, pos = np.unique(fit.group[idx], return_inverse=True)
        att_by_cohort = np.bincount(pos, weights=att, minlength=levels.size)
        cells_by_cohort = np.bincount(pos, minlength=levels.size).astype(float)
        where = np.searchsorted(levels, fit.unit_cohort)
        clipped = np.minimum(where, levels.size - 1)
        member = (where < levels.size) & (levels[clipped] == fit.unit_cohort)
        w_member = np.where(member, fit.weights, 0.0)
        c_att = w_member * att_by_cohort[clipped] - float(pgk @ att)
        c_one = w_member * cells_by_cohort[clipped] - float(pgk.sum())
        inf = inf + c_att / total - c_one * float(pgk @ att) / total**2
    return est, np.asarray(inf)


@dataclass(frozen=True)
class AggregationParts:
    labels: list[Any]
    estimates: Array
    influence: Array
    overall: float
    overall_influence: Array


def aggregate_parts(
    fit: GroupTimeFit,
    kind: str,
    *,
    min_e: float = -math.inf,
    max_e: float = math.inf,
    balance_e: int | None = None,
) -> AggregationParts:
    """Estimates and influence functions of one ``did::aggte`` aggregation."""
    g, t = fit.group, fit.time
    pg = cohort_shares(fit)
    post = (g <= t) & (t <= g + max_e)
    n = fit.n
    if kind == "simple":
        est, inf = weighted_influence(fit, post, pg, estimated_weights=True)
        return AggregationParts(["simple"], np.array([est]), inf[:, None], est, inf)
    if kind == "group":
        glist = np.unique(g)
        ests, infs = [], []
        for gg in glist:
            e, i = weighted_influence(fit, post & (g == gg), pg, estimated_weights=False)
            ests.append(e)
            infs.append(i)
        est_g, inf_g = np.array(ests), np.column_stack(infs)
        pgg = np.array([np.mean(fit.weights * (fit.unit_cohort == gg)) for gg in glist])
        sub = _cells_as_fit(fit, glist, est_g, inf_g)
        overall, o_inf = weighted_influence(
            sub, np.ones(glist.size, bool), pgg, estimated_weights=True
        )
        return AggregationParts(list(glist), est_g, inf_g, overall, o_inf)
    if kind == "dynamic":
        e_all = t - g
        include = np.ones(g.size, dtype=bool)
        eseq = np.unique(e_all)
        if balance_e is not None:
            include = (fit.periods.max() - g) >= balance_e
            eseq = np.unique(e_all[include])
            eseq = eseq[
                (eseq <= balance_e) & (eseq >= balance_e - fit.periods.max() + fit.periods.min())
            ]
        eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
        if eseq.size == 0:
            raise DataValidationError(
                "no event times fall within the requested window; adjust `min_e`, `max_e` "
                "or `balance_e`"
            )
        ests, infs = [], []
        for e in eseq:
            est, inf = weighted_influence(fit, (e_all == e) & include, pg, estimated_weights=True)
            ests.append(est)
            infs.append(inf)
        est_e, inf_e = np.array(ests), np.column_stack(infs)
        pos = eseq >= 0
        if not pos.any():
            overall, o_inf = math.nan, np.full(n, np.nan)
        else:
            overall = float(np.mean(est_e[pos]))
            o_inf = inf_e[:, pos].mean(axis=1)
        return AggregationParts(list(eseq), est_e, inf_e, overall, o_inf)
    if kind == "calendar":
        tlist = np.unique(t[t >= g.min()])
        tlist = np.array([tt for tt in tlist if np.any((t == tt) & (g <= t))])
        ests, infs = [], []
        for tt in tlist:
            est, inf = weighted_influence(fit, (t == tt) & (g <= t), pg, estimated_weights=True)
            ests.append(est)
            infs.append(inf)
        est_t, inf_t = np.array(ests), np.column_stack(infs)
        return AggregationParts(
            list(tlist), est_t, inf_t, float(np.mean(est_t)), inf_t.mean(axis=1)
        )
    raise DataValidationError(f"`kind` must be one of {list(KINDS)}; received {kind!r}")


def _cells_as_fit(fit: GroupTimeFit, glist: Array, att: Array, inf: Array) -> GroupTimeFit:
    """Per-cohort aggregates dressed as cells (one per cohort) to reuse the weight IF."""
    return GroupTimeFit(
        group=glist,
        time=glist,
        base=glist,
        att=att,
        influence=inf,
        n_treated=np.zeros(glist.size, int),
        n_control=np.zeros(glist.size, int),
        unit_cohort=fit.unit_cohort,
        weights=fit.weights,
        periods=fit.periods,
    )


def _as_number(value: Any) -> Any:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value


# ---------------------------------------------------------------------------------------
# Result objects
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class AggregatedEffects(EffectTable):
    """An aggregation of group-time ATTs (``did::aggte``) with its overall effect.

    ``table`` is indexed by ``event_time`` (dynamic), ``group`` (group), ``time``
    (calendar) or ``aggregation`` (simple, one row). ``overall`` is the overall ATT of the
    aggregation. ``vcov`` is the analytic influence-function covariance of the rows
    (``S'S / n^2``, clustered when clustered; analytic even when the table's SEs are
    bootstrapped). ``details`` holds ``kind``, ``influence`` (n x rows),
    ``overall_influence`` (n,) and ``critical_value`` (of the row intervals).
    """

    def plot(self, ax: Axes | None = None) -> Axes:
        """Estimates with their intervals (event-study picture for ``dynamic``)."""
        from impacteval.plotting.did import plot_aggregate

        return plot_aggregate(self, ax=ax)

    def sensitivity(self, **kwargs: Any) -> HonestSensitivity:
        """Rambachan-Roth sensitivity to violations of parallel trends (``dynamic`` only).

        ``self.sensitivity(**kwargs)`` is :func:`impacteval.did.honest` ``(self, **kwargs)``:
        robust intervals across bounds on the violation and the breakdown value.
        """
        from impacteval.did.honest import honest

        return honest(self, **kwargs)


def build_aggregate(
    fit: GroupTimeFit,
    kind: str,
    how: Inference,
    rng: np.random.Generator | None,
    *,
    min_e: float | None,
    max_e: float | None,
    balance_e: int | None,
    base: Mapping[str, Any],
) -> AggregatedEffects:
    """Compute one aggregation and wrap it (``base`` carries provenance and labels)."""
    if kind not in KINDS:
        raise DataValidationError(f"`kind` must be one of {list(KINDS)}; received {kind!r}")
    if balance_e is not None:
        balance_e = check_positive_int(balance_e, "balance_e", minimum=0)
    for name, val in (("min_e", min_e), ("max_e", max_e)):
        if val is not None and (isinstance(val, bool) or not isinstance(val, (int, float))):
            raise DataValidationError(f"`{name}` must be a number or None; received {val!r}")
    if kind == "calendar" and (min_e is not None or max_e is not None or balance_e is not None):
        warnings.warn(
            "`min_e`, `max_e` and `balance_e` are ignored for kind='calendar' (as R did)",
            ImpactEvalWarning,
            stacklevel=3,
        )
    lo = -math.inf if min_e is None or kind in ("simple", "group", "calendar") else min_e
    hi = math.inf if max_e is None or kind == "calendar" else max_e
    parts = aggregate_parts(
        fit, kind, min_e=lo, max_e=hi, balance_e=balance_e if kind == "dynamic" else None
    )
    uniform = kind != "simple"
    cols, extra_se = infer(
        parts.estimates, parts.influence, how, rng, uniform=uniform, extra=parts.overall_influence
    )
    index = _INDEX[kind]
    table = pd.DataFrame(
        {
            index: [_as_number(v) for v in parts.labels],
            "estimate": parts.estimates,
            "std_error": cols.se,
            "ci_lower": cols.ci_lower,
            "ci_upper": cols.ci_upper,
            "p_value": cols.p_value,
        }
    )
    overall_se = float(extra_se[0]) if extra_se is not None else math.nan
    labels = [_as_number(v) for v in parts.labels]
    # analytic IF covariance S'S / n^2 (cluster sums when clustered): its diagonal is the
    # square of the analytic SEs; with the multiplier bootstrap the table's SEs are the
    # bootstrap ones while the covariance stays analytic (as R HonestDiD reads did's IF)
    vcov = pd.DataFrame(
        if_vcov(parts.influence, how.clusters, how.n_clusters, how.se_convention),
        index=labels,
        columns=labels,
    )
    method = f"{base['method']}; aggregation {kind!r}"
    overall = _overall_estimate(parts, overall_se, how, kind, base)
    return AggregatedEffects(
        table=table,
        index_columns=(index,),
        overall=overall,
        level=how.level,
        estimand="ATT",
        method=method,
        n_obs=int(base["n_obs"]),
        n_treated=base.get("n_treated"),
        n_control=base.get("n_control"),
        n_clusters=how.n_clusters,
        ci_method=cols.ci_method,
        n_dropped=int(base.get("n_dropped", 0)),
        warnings=tuple(base.get("warnings", ())),
        provenance=base["provenance"],
        vcov=vcov,
        details={
            "kind": kind,
            "influence": parts.influence,
            "overall_influence": parts.overall_influence,
            "critical_value": cols.crit,
            "min_e": min_e,
            "max_e": max_e,
            "balance_e": balance_e,
            "inference": how.label,
        },
    )


def _overall_estimate(
    parts: AggregationParts, se: float, how: Inference, kind: str, base: Mapping[str, Any]
) -> EffectEstimate:
    return EffectEstimate.from_wald(
        parts.overall,
        se if np.isfinite(se) else math.nan,
        level=how.level,
        df=None,
        estimand="ATT",
        method=f"{base['method']}; aggregation {kind!r}",
        n_obs=int(base["n_obs"]),
        n_treated=base.get("n_treated"),
        n_control=base.get("n_control"),
        n_clusters=how.n_clusters,
        outcome=base.get("outcome"),
        n_dropped=int(base.get("n_dropped", 0)),
        provenance=base["provenance"],
        details={"kind": kind, "influence": parts.overall_influence},
    )


def simple_overall_analytic(
    fit: GroupTimeFit, how: Inference, base: Mapping[str, Any]
) -> EffectEstimate:
    """The ``"simple"`` aggregation's overall effect with analytic SEs, as
    ``build_aggregate(fit, "simple", ...).overall`` gives it, without its one-row table."""
    if how.bootstrap is not None:
        raise ValueError("simple_overall_analytic is for analytic SEs only")
    parts = aggregate_parts(fit, "simple")
    se = if_standard_errors(
        parts.overall_influence[:, None], how.clusters, how.n_clusters, how.se_convention
    )
    return _overall_estimate(parts, float(se[0]), how, "simple", base)


def window_estimate(
    fit: GroupTimeFit,
    how: Inference,
    rng: np.random.Generator | None,
    *,
    cohorts: Iterable[float] | None,
    periods: Iterable[float] | None,
    event_times: Iterable[float] | None,
    base: Mapping[str, Any],
) -> EffectEstimate:
    """Cohort-size-weighted average of the chosen cells, with the estimated-weight IF term."""
    keep = np.ones(fit.group.size, dtype=bool)
    for name, values, col in (
        ("cohorts", cohorts, fit.group),
        ("periods", periods, fit.time),
        ("event_times", event_times, fit.time - fit.group),
    ):
        if values is None:
            continue
        try:
            vals = np.asarray(list(values), dtype=float)
        except (TypeError, ValueError):
            raise DataValidationError(
                f"`{name}` must be an iterable of numbers or None; received {values!r}"
            ) from None
        unknown = sorted(set(vals.tolist()) - set(col.tolist()))
        if unknown:
            raise DataValidationError(
                f"`{name}`: {unknown} match no group-time cell (available: "
                f"{sorted(set(col.tolist()))})"
            )
        keep &= np.isin(col, vals)
    if event_times is None:
        keep &= fit.time >= fit.group
    if not keep.any():
        raise DataValidationError(
            "aggregate_window: no group-time cell matches all of `cohorts`, `periods` and "
            "`event_times` (post-treatment cells only unless `event_times` is given)"
        )
    est, inf = weighted_influence(fit, keep, cohort_shares(fit), estimated_weights=True)
    cols, _ = infer(np.array([est]), inf[:, None], how, rng, uniform=False)
    cells = [
        (_as_number(g), _as_number(t)) for g, t in zip(fit.group[keep], fit.time[keep], strict=True)
    ]
    return EffectEstimate(
        estimate=est,
        std_error=float(cols.se[0]),
        ci_lower=float(cols.ci_lower[0]),
        ci_upper=float(cols.ci_upper[0]),
        p_value=float(cols.p_value[0]),
        level=how.level,
        estimand="ATT",
        method=f"{base['method']}; window average of {len(cells)} cells",
        n_obs=int(base["n_obs"]),
        n_treated=base.get("n_treated"),
        n_control=base.get("n_control"),
        n_clusters=how.n_clusters,
        df=None,
        ci_method=cols.ci_method,
        statistic=est / float(cols.se[0]) if cols.se[0] > 0 else math.nan,
        outcome=base.get("outcome"),
        n_dropped=int(base.get("n_dropped", 0)),
        provenance=base["provenance"],
        details={"cells": cells, "influence": inf},
    )


@dataclass(frozen=True)
class WaldTest:
    """A Wald (chi-square) test.

    Attributes
    ----------
    statistic : float
        ``b' V^-1 b`` with ``V`` the influence-function covariance of ``b``.
    df : int
        Number of restrictions (pre-treatment cells tested).
    p_value : float
        Chi-square survival function at ``statistic`` (NaN if the test is undefined).
    cells : tuple of (group, time)
        The cells tested.
    method : str
        What was tested and how.
    note : str
        Why the test is undefined, when it is.
    """

    statistic: float
    df: int
    p_value: float
    cells: tuple[tuple[Any, Any], ...] = ()
    method: str = ""
    note: str = ""
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __str__(self) -> str:
        text = f"{self.method}: chi2({self.df}) = {self.statistic:.4f}, p = {self.p_value:.4g}"
        return text + (f" ({self.note})" if self.note else "")


def pretrend_wald(fit: GroupTimeFit, how: Inference) -> WaldTest:
    """Wald pre-test of parallel trends: all pre-treatment ATT(g, t) = 0 (``did::att_gt``).

    Uses the analytic influence-function covariance (clustered when clustered) even when
    the table's SEs were bootstrapped, as R ``did`` does; cells with zero or undefined
    variance (e.g. the normalised base-period cells) are left out.
    """
    se = if_standard_errors(fit.influence, how.clusters, how.n_clusters, how.se_convention)
    pre = np.flatnonzero((fit.group > fit.time) & np.isfinite(se))
    cells = tuple((_as_number(fit.group[i]), _as_number(fit.time[i])) for i in pre)
    method = "Wald pre-test of parallel trends (pre-treatment ATT(g,t) = 0)"
    if pre.size == 0:
        return WaldTest(math.nan, 0, math.nan, cells, method, "no pre-treatment cells")
    v = if_vcov(fit.influence[:, pre], how.clusters, how.n_clusters, how.se_convention)
    b = fit.att[pre]
    rcond = 1.0 / np.linalg.cond(v, 1)
    if not np.isfinite(rcond) or rcond <= np.finfo(float).eps:
        return WaldTest(
            math.nan, int(pre.size), math.nan, cells, method, "singular covariance matrix"
        )
    stat = float(b @ np.linalg.solve(v, b))
    return WaldTest(stat, int(pre.size), float(stats.chi2.sf(stat, pre.size)), cells, method)
