"""The result of :func:`impacteval.did.att_gt`: group-time ATTs that aggregate without refitting.

:class:`GroupTimeEffects` holds the table and, as typed fields, what its methods read back:
the numerics' :class:`~impacteval.did._cs_numerics.GroupTimeFit` (cells and influence
functions) and the :class:`~impacteval.did.aggregate.Inference` setup (level, clusters,
bootstrap). :func:`build_group_time_effects` is ``att_gt``'s one result builder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from impacteval._validation import check_level, check_positive_int, check_rng
from impacteval._warn import WarningLog
from impacteval.did._cs_numerics import GroupTimeFit
from impacteval.did._cs_sample import CSOptions, CSSample
from impacteval.did.aggregate import (
    AggregatedEffects,
    Inference,
    WaldTest,
    build_aggregate,
    infer,
    pretrend_wald,
    simple_overall_analytic,
    window_estimate,
)
from impacteval.did.honest import HonestSensitivity, honest
from impacteval.results import EffectEstimate, EffectTable, Provenance

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["GroupTimeEffects", "build_group_time_effects"]

METHOD_LABELS = {
    "dr": "doubly robust (DRDID::drdid_panel)",
    "dr_imp": "improved doubly robust (DRDID::drdid_imp_panel)",
    "ipw": "normalised IPW (DRDID::std_ipw_did_panel)",
    "ipw_ht": "unnormalised (Horvitz-Thompson) IPW (DRDID::ipw_did_panel)",
    "reg": "outcome regression (DRDID::reg_did_panel)",
    "dr_rc1": "doubly robust, not locally efficient (DRDID::drdid_rc1)",
    "dr_imp_rc1": "improved doubly robust, not locally efficient (DRDID::drdid_imp_rc1)",
}
_LAYOUT_LABELS = {
    "balanced_panel": "",
    "unbalanced_panel": ", unbalanced panel (DRDID repeated-cross-section estimators, "
    "unit-summed influence functions)",
    "repeated_cross_sections": ", repeated cross-sections",
}


@dataclass(frozen=True, kw_only=True)
class GroupTimeEffects(EffectTable):
    """Group-time ATTs with their influence functions; aggregate without refitting.

    ``table`` has the index columns ``group`` and ``time`` followed by the five result
    columns and ``event_time``, ``base_period``, ``n_treated``, ``n_control``. ``overall``
    is the ``"simple"`` aggregation's overall ATT. ``fit`` is the numerics'
    :class:`~impacteval.did._cs_numerics.GroupTimeFit` (cells, influence functions, cohorts
    and weights of the units) and ``inference_setup`` how the table's standard errors were
    formed; the aggregations start from both. ``details`` holds ``influence`` (the
    ``n_units x n_cells`` influence-function matrix, columns in table order; without
    covariates on a balanced panel it is held factored, as a ``GroupedInfluence`` that
    supports ``shape``, ``@`` and ``[:, cols]``, and ``numpy.asarray`` gives the array),
    ``units`` (the unit label of each influence-function row), ``fit`` (the same object
    as the field, for readers of ``details``), ``inference`` (a label) and
    ``critical_value``.
    """

    fit: GroupTimeFit | None = None
    inference_setup: Inference = field(default_factory=Inference)

    # -- internals -----------------------------------------------------------------------
    def _fitted(self) -> GroupTimeFit:
        if self.fit is None:
            raise ValueError("this GroupTimeEffects was built without its fit; re-run att_gt")
        return self.fit

    def _inference(self, bootstrap: int | bool | None, level: float | None) -> Inference:
        how = self.inference_setup
        draws = how.bootstrap
        if bootstrap is False:
            draws = None
        elif bootstrap is not None and bootstrap is not True:
            draws = check_positive_int(bootstrap, "bootstrap", minimum=2)
        elif bootstrap is True and draws is None:
            draws = 1000
        lvl = how.level if level is None else check_level(level)
        return Inference(
            level=lvl,
            clusters=how.clusters,
            n_clusters=how.n_clusters,
            bootstrap=draws,
            se_convention=how.se_convention,
        )

    def _base(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "n_obs": self.n_obs,
            "n_treated": self.n_treated,
            "n_control": self.n_control,
            "n_dropped": self.n_dropped,
            "outcome": self.details.get("outcome"),
            "warnings": self.warnings,
            "provenance": self.provenance,
        }

    # -- public --------------------------------------------------------------------------
    def aggregate(
        self,
        kind: str = "group",
        *,
        min_e: float | None = None,
        max_e: float | None = None,
        balance_e: int | None = None,
        bootstrap: int | bool | None = None,
        rng: int | np.random.Generator | None = None,
        level: float | None = None,
    ) -> AggregatedEffects:
        """Aggregate the ATT(g, t) as R ``did::aggte``.

        Parameters
        ----------
        kind : {"simple", "dynamic", "group", "calendar"}
            ``simple``: post-treatment cells weighted by cohort size. ``dynamic``: by event
            time ``e = t - g`` (overall = mean over ``e >= 0``). ``group``: per cohort
            (mean of its post-treatment cells; overall weighted by cohort size).
            ``calendar``: per period (overall = mean over periods).
        min_e, max_e : float, optional
            Event-time window (``dynamic``); ``max_e`` also caps the cells of ``simple``
            and ``group`` (as R).
        balance_e : int, optional
            ``dynamic`` only: keep cohorts observed for at least ``balance_e`` periods after
            treatment and event times ``balance_e - (T_max - T_min) .. balance_e``.
        bootstrap : int, bool or None
            None: as the table was computed. False: analytic SEs. An int (or True =
            1,000): multiplier-bootstrap draws with simultaneous bands for the rows.
        rng : int or numpy.random.Generator, optional
            Seed or generator for the bootstrap.
        level : float, optional
            Confidence level (default: the table's).

        Returns
        -------
        AggregatedEffects
            Rows of the aggregation with SEs from the aggregated influence function
            (including the estimated cohort-share term, ``did:::wif``) and ``.overall``.
        """
        how = self._inference(bootstrap, level)
        gen, _ = check_rng(rng)
        return build_aggregate(
            self._fitted(),
            kind,
            how,
            gen,
            min_e=min_e,
            max_e=max_e,
            balance_e=balance_e,
            base=self._base(),
        )

    def aggregate_window(
        self,
        *,
        cohorts: Iterable[float] | None = None,
        periods: Iterable[float] | None = None,
        event_times: Iterable[float] | None = None,
        bootstrap: int | bool | None = None,
        rng: int | np.random.Generator | None = None,
        level: float | None = None,
    ) -> EffectEstimate:
        """Average of the chosen cells, weighted by cohort size, with an IF-based SE.

        Cells are those whose cohort is in ``cohorts``, period in ``periods`` and event
        time in ``event_times`` (each filter optional). Unless ``event_times`` is given only
        post-treatment cells (``t >= g``) are used. The influence function includes the
        estimated cohort-share term, as ``did::aggte`` does for its averages.
        """
        how = self._inference(bootstrap, level)
        gen, _ = check_rng(rng)
        return window_estimate(
            self._fitted(),
            how,
            gen,
            cohorts=cohorts,
            periods=periods,
            event_times=event_times,
            base=self._base(),
        )

    def pretrend_test(self) -> WaldTest:
        """Wald test that every pre-treatment ATT(g, t) is zero (R did's pre-test).

        ``n b' V^-1 b`` with ``V`` the influence-function covariance of the pre-treatment
        cells (clustered when the table is); chi-square with one df per cell.
        """
        return pretrend_wald(self._fitted(), self._inference(False, None))

    def sensitivity(
        self, *, min_e: float | None = None, max_e: float | None = None, **kwargs: Any
    ) -> HonestSensitivity:
        """Rambachan-Roth sensitivity of the event study to violations of parallel trends.

        The one-liner for ``ie.did.honest(self.aggregate("dynamic", min_e=min_e,
        max_e=max_e), **kwargs)``: the dynamic (event-study) aggregation, then robust
        intervals across bounds on the violation and the breakdown value.

        Parameters
        ----------
        min_e, max_e : float, optional
            Event-time window of the dynamic aggregation (as in :meth:`aggregate`).
        **kwargs
            Arguments of :func:`impacteval.did.honest`: ``method``
            (``"relative_magnitudes"`` default, or ``"smoothness"``), ``m`` (the bounds),
            ``e`` (the target event time or ``"average"``), ``level``, ``ci_method``,
            ``threshold``.

        Returns
        -------
        HonestSensitivity

        Notes
        -----
        The intervals use the point estimates and the analytic influence-function
        covariance of the dynamic aggregation, so the aggregation here skips the
        multiplier bootstrap (it would change only the table's standard errors).
        ``base_period="universal"`` in ``att_gt`` is what Rambachan & Roth assume; with
        ``"varying"`` a warning says so.

        Examples
        --------
        >>> import impacteval as ie
        >>> gt = ie.did.att_gt(ie.datasets.load("mpdta"), outcome="lemp", unit="countyreal",
        ...                    time="year", cohort="first_treat", base_period="universal")
        >>> sens = gt.sensitivity(m=[0, 0.5, 1])
        >>> sens.bound_name, len(sens.table)
        ('Mbar', 3)
        """
        dynamic = self.aggregate("dynamic", min_e=min_e, max_e=max_e, bootstrap=False)
        return honest(dynamic, **kwargs)

    def plot(self, ax: Axes | None = None) -> Axes:
        """ATT(g, t) against time, one series per cohort (pre-periods blue, post red)."""
        from impacteval.plotting.did import GroupTimeDisplay

        return GroupTimeDisplay.from_table(self).plot(ax=ax)


def build_group_time_effects(
    fit: GroupTimeFit,
    sample: CSSample,
    opts: CSOptions,
    log: WarningLog,
    *,
    digest: Callable[[], str],
    seed: int | None,
    rng: np.random.Generator | None,
    n_dropped: int,
) -> GroupTimeEffects:
    """``att_gt``'s result: inference on the cells, the table, the overall ATT, provenance."""
    how = Inference(
        level=opts.level,
        clusters=sample.clusters,
        n_clusters=sample.n_clusters,
        bootstrap=opts.bootstrap,
        se_convention=opts.se_convention,
    )
    cols, _ = infer(fit.att, fit.influence, how, rng, uniform=True)
    n_degenerate = int(np.count_nonzero(np.isnan(cols.se) & np.isfinite(fit.att)))
    if n_degenerate:
        log.warn(
            f"{n_degenerate} of {fit.att.size} group-time cells have a degenerate standard "
            "error (at most sqrt(machine epsilon) x 10: the outcome does not vary in the "
            "cell's comparison, or the fit is exact); it is reported as NaN, with its interval "
            "and p-value, as R did does; check the outcome column"
        )
    periods, groups = sample.periods, sample.groups
    integer = bool(np.all(np.mod(np.r_[periods, groups], 1) == 0))

    def as_out(values: np.ndarray) -> np.ndarray:
        return values.astype(np.int64) if integer else values

    table = pd.DataFrame(
        {
            "group": as_out(fit.group),
            "time": as_out(fit.time),
            "estimate": fit.att,
            "std_error": cols.se,
            "ci_lower": cols.ci_lower,
            "ci_upper": cols.ci_upper,
            "p_value": cols.p_value,
            "event_time": as_out(fit.time - fit.group),
            "base_period": as_out(fit.base),
            "n_treated": fit.n_treated,
            "n_control": fit.n_control,
        }
    )
    label = _method_label(opts, sample.layout, how)
    options = {
        **{k: getattr(opts, k) for k in ("outcome", "unit", "time", "cohort", "covariates")},
        **{k: getattr(opts, k) for k in ("control_group", "method", "base_period")},
        **{k: getattr(opts, k) for k in ("anticipation", "weights", "cluster", "panel")},
        "allow_unbalanced_panel": opts.allow_unbalanced_panel,
        "treatment": opts.treatment,
        "bootstrap": opts.bootstrap,
        "level": opts.level,
        "bootstrap_weights": "rademacher" if opts.bootstrap else None,
        "se_convention": opts.se_convention,
    }
    provenance = Provenance(options=options, data_fingerprint=digest(), seed=seed)
    never = ~np.isfinite(sample.cohort)
    base: dict[str, Any] = {
        "method": label,
        "n_obs": sample.panel.n_rows,
        "n_treated": int((~never).sum()),
        "n_control": int(never.sum()),
        "n_dropped": n_dropped,
        "outcome": opts.outcome,
        "warnings": log.messages,
        "provenance": provenance,
    }
    overall: EffectEstimate | None
    if how.bootstrap is None:  # the same numbers without building the one-row table
        overall = simple_overall_analytic(fit, how, base)
    else:
        overall = build_aggregate(
            fit, "simple", how, rng, min_e=None, max_e=None, balance_e=None, base=base
        ).overall
    return GroupTimeEffects(
        table=table,
        index_columns=("group", "time"),
        overall=overall,
        level=opts.level,
        estimand="ATT",
        n_clusters=sample.n_clusters,
        df=None,
        ci_method=cols.ci_method,
        details=_details(fit, sample, how, cols.crit, opts.outcome, integer),
        fit=fit,
        inference_setup=how,
        **{k: base[k] for k in ("method", "n_obs", "n_treated", "n_control", "n_dropped")},
        **{k: base[k] for k in ("warnings", "provenance")},
    )


def _method_label(opts: CSOptions, layout: str, how: Inference) -> str:
    method_label = METHOD_LABELS[opts.method]
    if layout != "balanced_panel":
        method_label = method_label.replace("_panel)", "_rc)")
    ant = opts.anticipation
    return (
        f"Callaway-Sant'Anna ATT(g,t), {method_label}, "
        f"{opts.control_group.replace('_', '-')} controls, {opts.base_period} base period"
        f"{f', anticipation {ant}' if ant else ''}{_LAYOUT_LABELS[layout]}; {how.label}"
    )


def _details(
    fit: GroupTimeFit,
    sample: CSSample,
    how: Inference,
    crit: float,
    outcome: str,
    integer: bool,
) -> dict[str, Any]:
    return {
        "influence": fit.influence,
        "fit": fit,  # also the typed field ``fit``, which the methods read
        "units": np.asarray(sample.panel.unit_labels),
        "outcome": outcome,
        "critical_value": crit,
        "inference": how.label,
        "layout": sample.layout,
        "n_units": int(sample.panel.n_units),
        "n_units_unbalanced": sample.n_unbalanced,
        "n_units_unbalanced_dropped": sample.n_unbalanced_dropped,
        "n_units_treated_first_period": sample.n_first_treated,
        "n_units_as_if_never_treated": sample.n_as_if_never,
        "groups": [int(g) if integer else float(g) for g in sample.groups],
        "periods": [int(p) if integer else float(p) for p in sample.periods],
        "periods_dropped": sample.periods_dropped,
        "bootstrap_weights": "rademacher" if how.bootstrap else None,
    }
