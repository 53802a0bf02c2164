"""Callaway & Sant'Anna (2021) group-time average treatment effects, as R ``did::att_gt``."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from impacteval._validation import (
    as_column_list,
    check_choice,
    check_columns,
    check_dataframe,
    check_level,
    check_positive_int,
    check_rng,
    prepare,
)
from impacteval.did._cs_fast import estimate_group_time_simple
from impacteval.did._cs_numerics import (
    GroupTimeFit,
    estimate_group_time,
    estimate_group_time_rc,
)
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
from impacteval.exceptions import DataValidationError, ImpactEvalWarning, SmallSampleWarning
from impacteval.results import (
    EffectEstimate,
    EffectTable,
    Provenance,
    fingerprint_in_background,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["GroupTimeEffects", "att_gt"]

_METHOD_LABELS = {
    "dr": "doubly robust (DRDID::drdid_panel)",
    "dr_imp": "improved doubly robust (DRDID::drdid_imp_panel)",
    "ipw": "normalised IPW (DRDID::std_ipw_did_panel)",
    "reg": "outcome regression (DRDID::reg_did_panel)",
}


class GroupTimeEffects(EffectTable):
    """Group-time ATTs with their influence functions; aggregate without refitting.

    ``table`` has the index columns ``group`` and ``time`` followed by the five result
    columns and ``event_time``, ``base_period``, ``n_treated``, ``n_control``. ``overall``
    is the ``"simple"`` aggregation's overall ATT. ``details`` holds ``influence`` (the
    ``n_units x n_cells`` influence-function matrix, columns in table order; without
    covariates on a balanced panel it is held factored, as a ``GroupedInfluence`` that
    supports ``shape``, ``@`` and ``[:, cols]``, and ``numpy.asarray`` gives the array),
    ``units`` (the unit label of each influence-function row), ``fit`` (the numerics'
    :class:`GroupTimeFit`), ``inference`` and ``critical_value``.
    """

    # -- internals -----------------------------------------------------------------------
    @property
    def _fit(self) -> GroupTimeFit:
        fit = self.details["fit"]
        if not isinstance(fit, GroupTimeFit):  # pragma: no cover - constructed internally
            raise TypeError("GroupTimeEffects.details['fit'] is not a GroupTimeFit")
        return fit

    def _inference(self, bootstrap: int | bool | None, level: float | None) -> Inference:
        how = self.details["_how"]
        if not isinstance(how, Inference):  # pragma: no cover - constructed internally
            raise TypeError("GroupTimeEffects.details['_how'] is not an Inference")
        draws = how.bootstrap
        if bootstrap is False:
            draws = None
        elif bootstrap is not None and bootstrap is not True:
            draws = check_positive_int(bootstrap, "bootstrap", minimum=2)
        elif bootstrap is True and draws is None:
            draws = 1000
        lvl = how.level if level is None else check_level(level)
        return Inference(
            level=lvl, clusters=how.clusters, n_clusters=how.n_clusters, bootstrap=draws
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
            self._fit,
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
            self._fit,
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
        return pretrend_wald(self._fit, self._inference(False, None))

    def plot(self, ax: Axes | None = None) -> Axes:
        """ATT(g, t) against time, one series per cohort (pre-periods blue, post red)."""
        from impacteval.did._cs_plot import plot_group_time

        return plot_group_time(self, ax=ax)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _label(value: Any) -> str:
    """A unit label for messages: 8001 rather than np.float64(8001.0)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _unit_invariant(
    values: pd.Series,
    unit_codes: np.ndarray | None,
    n_units: int,
    param: str,
    column: str,
    width: int | None = None,
) -> np.ndarray:
    """The per-unit value of a column that must not vary within unit.

    ``width``: the rows are ``n_units`` consecutive blocks of ``width`` rows, one per unit
    (``unit_codes`` may then be None); otherwise ``unit_codes`` gives each row's unit.
    """

    if unit_codes is None and width is None:
        raise ValueError("_unit_invariant needs unit_codes or width")

    def changes(row: int) -> DataValidationError:
        bad = row // width if unit_codes is None and width else int(np.asarray(unit_codes)[row])
        return DataValidationError(
            f"`{param}`: column {column!r} changes within a unit (e.g. the unit with index "
            f"{bad} in sorted order); it must be constant within each unit"
        )

    if pd.api.types.is_float_dtype(values.dtype) or pd.api.types.is_integer_dtype(values.dtype):
        # numbers: compare each row with its unit's first value directly (no factorize)
        vals = values.to_numpy(dtype=float)
        if width is not None:  # unit blocks: compare each block with its first row
            grid = vals.reshape(-1, width)
            head = grid[:, 0].copy()
            differ = (grid != head[:, None]).ravel()
        else:
            assert unit_codes is not None  # checked above
            head = np.empty(n_units)
            head[unit_codes[::-1]] = vals[::-1]
            differ = vals != head[unit_codes]
        if differ.any():  # NaN != NaN: a unit that is missing throughout does not change
            mine = head[unit_codes] if width is None else np.repeat(head, width)
            differ &= ~(np.isnan(vals) & np.isnan(mine))
            if differ.any():
                raise changes(int(np.flatnonzero(differ)[0]))
        return head
    if unit_codes is None:
        unit_codes = np.repeat(np.arange(n_units), int(width or 0))  # width given: checked above
    codes, uniques = pd.factorize(values, sort=True)
    first = np.full(n_units, -1, dtype=np.intp)
    first[unit_codes[::-1]] = codes[::-1]
    if np.any(codes != first[unit_codes]):
        raise changes(int(np.flatnonzero(codes != first[unit_codes])[0]))
    return np.asarray(uniques.to_numpy()[first])


def att_gt(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str | None = None,
    time: str,
    cohort: str,
    treatment: str | None = None,
    covariates: Sequence[str] = (),
    control_group: str = "never_treated",
    method: str = "dr",
    base_period: str = "varying",
    anticipation: int = 0,
    weights: str | None = None,
    cluster: str | None = None,
    panel: bool = True,
    allow_unbalanced_panel: bool = False,
    bootstrap: int | None = None,
    rng: int | np.random.Generator | None = None,
    level: float = 0.95,
) -> GroupTimeEffects:
    """Group-time average treatment effects ATT(g, t) (Callaway & Sant'Anna 2021).

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel (one row per unit and period) or, with ``panel=False``, repeated
        cross-sections (one row per observation).
    outcome : str
        Outcome column.
    unit : str, optional
        Unit identifier; required for panel data, not used with ``panel=False``.
    time : str
        Period column; must be numeric (an error otherwise). Periods need not be evenly
        spaced: as in R did they are used by position (the "varying" base period of ``t``
        is the previous *observed* period), while event times are ``t - g`` in the
        column's units.
    cohort : str
        First period in which the unit is treated; 0 or missing = never treated. Cohorts
        later than the last period (plus ``anticipation``) count as never treated, as R
        did's ``pre_process_did`` does; unlike R, a warning says so and
        ``details["n_units_as_if_never_treated"]`` counts them.
    treatment : str, optional
        A 0/1 treatment column to cross-check ``cohort``: it must be absorbing (never
        1 then 0 within a unit) and equal ``1{cohort > 0 and time >= cohort}``; else an
        error names the first offending unit. Not used in the estimation.
    covariates : sequence of str
        Covariates for conditional parallel trends. Balanced panels: each cell uses their
        values in the earlier of its base period and its period (R did's rule), so
        time-varying covariates are allowed and enter at their base-period values.
        Repeated cross-sections and unbalanced panels: each row's own values (as R did).
    control_group : {"never_treated", "not_yet_treated"}
        Comparison units: never treated, or also those not yet treated by
        ``max(t, base) + anticipation``.
    method : {"dr", "ipw", "reg", "dr_imp"}
        2x2 estimator: ``dr`` doubly robust (DRDID ``drdid_panel``, what R ``did`` uses),
        ``ipw`` normalised IPW (``std_ipw_did_panel``), ``reg`` outcome regression
        (``reg_did_panel``), ``dr_imp`` improved doubly robust with inverse-probability
        tilting (``drdid_imp_panel``). Without covariates all reduce to the 2x2 DiD.
    base_period : {"varying", "universal"}
        ``varying``: pre-treatment cells compare ``t`` with ``t - 1``; ``universal``: every
        cell uses ``g - 1 - anticipation`` (that cell is reported as 0 with no SE).
    anticipation : int
        Periods before ``cohort`` in which units may already react.
    weights : str, optional
        Sampling weights (non-negative, constant within unit), normalised to mean one.
    cluster : str, optional
        Cluster column (constant within unit). Units are always clusters; a coarser
        cluster gives cluster-sum influence-function SEs (``did``'s ``clustervars``).
    panel : bool
        False: the rows are repeated cross-sections (R did's ``panel = FALSE``); every row
        is its own observation and each cell uses the DRDID repeated-cross-section
        estimators ``drdid_rc`` / ``std_ipw_did_rc`` / ``reg_did_rc`` (``dr_imp`` is panel
        only). Cohort, weights and cluster are then per row.
    allow_unbalanced_panel : bool
        With an unbalanced panel: False (default, as R did) drops the units not observed
        in every period, with a warning; True keeps every observation and, as R did's
        ``allow_unbalanced_panel = TRUE``, estimates each cell with the
        repeated-cross-section estimators on the observed rows, summing each unit's row
        influence functions (so SEs allow for within-unit correlation). A balanced panel
        uses the panel estimators either way.
    bootstrap : int, optional
        Multiplier-bootstrap draws (Rademacher weights, as R did / BMisc): SEs from the
        bootstrap IQR and ``ci_lower``/``ci_upper`` a simultaneous band (sup-t critical
        value). None (default): analytic SEs and pointwise normal intervals.
    rng : int or numpy.random.Generator, optional
        Seed or generator for the bootstrap.
    level : float
        Confidence level.

    Returns
    -------
    GroupTimeEffects
        One row per (group, time) with the five result columns; ``.aggregate()``,
        ``.aggregate_window()``, ``.pretrend_test()`` and ``.plot()``. ``overall`` is the
        simple (cohort-size weighted) average of post-treatment cells.

    Raises
    ------
    DataValidationError
        Missing columns, a non-numeric ``time``, duplicate unit-period rows, a cohort,
        weight or cluster that changes within a unit, a ``treatment`` column that switches
        off or disagrees with ``cohort``, no never-treated units with ``control_group =
        "never_treated"``, a cell without controls (or, for repeated cross-sections,
        without treated or control rows in one of its periods), overlap failure or a
        singular design in a cell (the message names the cell and the covariates), bad
        arguments.

    Warns
    -----
    ImpactEvalWarning
        Cohorts after the last period (treated as never treated, as R did), units dropped
        to balance the panel or treated in the first period, cells whose standard error
        is degenerate (reported as NaN, as R did).
    SmallSampleWarning
        Cohorts with fewer than ``len(covariates) + 5`` units (R did's "small groups"
        warning): their influence-function standard errors are unreliable.

    Notes
    -----
    Identification: staggered, irreversible adoption; (conditional) parallel trends of
    each cohort with the control group between the base period and ``t``; no anticipation
    beyond ``anticipation`` periods. ATT(g, t) is estimated by the 2x2 DiD between cohort
    ``g`` and the controls over (base, ``t``). Each cell's influence function (DRDID's,
    rescaled by ``n / n_cell`` to the ``n`` units) gives the SEs ``sqrt(sum_i IF_i^2) / n``
    (cluster sums with ``cluster``), the Wald pre-test and every aggregation, exactly as R
    ``did`` 2.x. Units not observed in every period are dropped unless
    ``allow_unbalanced_panel`` (warning; count in ``details["n_units_unbalanced"]``), as
    are units treated in the first period (no pre-period; warning; count in
    ``details["n_units_treated_first_period"]``). ``details["layout"]`` says which form
    was estimated: "balanced_panel", "unbalanced_panel" or "repeated_cross_sections"; for
    the last two ``n_treated``/``n_control`` of a cell count rows, and with
    ``panel=False`` the "units" of the influence function are the rows.

    References
    ----------
    Callaway, B. & Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time
    periods. Journal of Econometrics 225(2), 200-230. Sant'Anna, P. H. C. & Zhao, J. (2020).
    Doubly robust difference-in-differences estimators. Journal of Econometrics 219(1),
    101-122. R: ``did::att_gt``, ``did::aggte`` (did 2.5), ``DRDID``.

    Examples
    --------
    >>> import impacteval as ie
    >>> from impacteval.did.att_gt import att_gt
    >>> mpdta = ie.datasets.load("mpdta")
    >>> res = att_gt(mpdta, outcome="lemp", unit="countyreal", time="year",
    ...              cohort="first_treat", method="reg")
    >>> round(float(res.table["estimate"].iloc[0]), 4)
    -0.0105
    >>> round(res.aggregate("dynamic").overall.estimate, 4)
    -0.0772
    """
    level = check_level(level)
    control_group = check_choice(
        control_group, "control_group", ("never_treated", "not_yet_treated")
    )
    method = check_choice(method, "method", ("dr", "ipw", "reg", "dr_imp"))
    base_period = check_choice(base_period, "base_period", ("varying", "universal"))
    anticipation = check_positive_int(anticipation, "anticipation", minimum=0)
    for name, flag in (("panel", panel), ("allow_unbalanced_panel", allow_unbalanced_panel)):
        if not isinstance(flag, (bool, np.bool_)):
            raise DataValidationError(f"`{name}` must be True or False; received {flag!r}")
    if bootstrap is not None:
        bootstrap = check_positive_int(bootstrap, "bootstrap", minimum=2)
    # a Generator is only drawn from by the bootstrap (seeding one from the OS costs ~0.2 ms)
    gen, seed = check_rng(rng) if rng is not None or bootstrap is not None else (None, None)
    covs = as_column_list(covariates, "covariates")
    frame = check_dataframe(data)
    for name, col in (("outcome", outcome), ("time", time), ("cohort", cohort)):
        if not isinstance(col, str):
            raise DataValidationError(f"`{name}` must be a column name (str); received {col!r}")
    if unit is None and panel:
        raise DataValidationError(
            "`unit` is required for panel data; pass the unit identifier column, or "
            "panel=False for repeated cross-sections"
        )
    if unit is not None and not isinstance(unit, str):
        raise DataValidationError(f"`unit` must be a column name (str); received {unit!r}")
    if method == "dr_imp" and not panel:
        raise DataValidationError(
            "`method`: 'dr_imp' is only available for panel data (DRDID's drdid_imp_panel); "
            "use 'dr', 'ipw' or 'reg' with panel=False"
        )
    check_columns(frame, outcome=outcome, unit=unit, time=time, cohort=cohort, covariates=covs)
    check_columns(frame, weights=weights, cluster=cluster, treatment=treatment)

    # cohort: 0, missing or +inf all mean never treated
    cohort_col = frame[cohort]
    if not pd.api.types.is_numeric_dtype(cohort_col.dtype) or pd.api.types.is_bool_dtype(
        cohort_col.dtype
    ):
        raise DataValidationError(
            f"`cohort`: column {cohort!r} must be numeric (first treated period, 0 = never); "
            f"received dtype {cohort_col.dtype}"
        )
    cohort_values = cohort_col.to_numpy(dtype=float, na_value=np.nan)
    cohort_values = np.where(
        np.isnan(cohort_values) | np.isposinf(cohort_values), 0.0, cohort_values
    )
    if np.any(cohort_values < 0):
        raise DataValidationError(
            f"`cohort`: column {cohort!r} must be a period (>= 0, 0 = never treated); received "
            f"negative values"
        )
    named = [outcome, unit, time, *covs, weights, cluster, treatment]
    # hash the input columns on the other core while estimating (see results.fingerprint)
    digest = fingerprint_in_background(frame, [c for c in dict.fromkeys([cohort, *named]) if c])
    cohort_key = "__cohort__" if cohort in named else cohort
    columns: dict[str, Any] = {c: frame[c].array for c in dict.fromkeys(named) if c}
    columns[cohort_key] = cohort_values
    work = pd.DataFrame(columns, copy=False)
    prepared = prepare(
        work,
        numeric={
            "outcome": outcome,
            "time": time,
            "cohort": cohort_key,
            "covariates": covs,
            "weights": weights,
            "treatment": treatment,
        },
        labels={"unit": unit, "cluster": cluster},
        outcome_param="outcome",
    )
    df = prepared.frame
    caught: list[str] = []

    def note(msg: str, category: type[Warning] = ImpactEvalWarning) -> None:
        warnings.warn(msg, category, stacklevel=3)
        caught.append(msg)

    # -- structure: rows -> units ------------------------------------------------------------
    tvals = df[time].to_numpy(dtype=float)
    # a panel sorted by unit and period with every unit in every period (the common case) is
    # the wide array in row order: no coding, no duplicates, nothing to scatter
    blocks = _sorted_blocks(df[unit], tvals) if panel and unit is not None else None
    if blocks is not None:
        periods, ulabels = blocks
        n_periods, n_units = periods.size, len(ulabels)
        # codes are implied by the layout; built only where needed (_block_codes)
        ucodes: np.ndarray | None = None
        tcodes: np.ndarray | None = None
    else:
        periods, tcodes = _periods_and_codes(tvals)
        n_periods = periods.size
    if n_periods < 2:
        raise DataValidationError(
            f"`time`: column {time!r} has {n_periods} distinct period; at least 2 are needed"
        )
    in_order = blocks is not None
    if panel and unit is not None:
        if blocks is None:
            ucodes, ulabels = _unit_codes(df[unit])
            n_units = len(ulabels)
            assert tcodes is not None
            _check_duplicates(ucodes, tcodes, n_periods, ulabels, tvals)
        width = n_periods if in_order else None
        unit_cohort = _unit_invariant(df[cohort_key], ucodes, n_units, "cohort", cohort, width)
        unit_w = np.ones(n_units)
        if weights is not None:
            unit_w = _unit_invariant(df[weights], ucodes, n_units, "weights", weights, width)
        unit_cluster = None
        if cluster is not None and cluster != unit:
            unit_cluster = _unit_invariant(df[cluster], ucodes, n_units, "cluster", cluster, width)
    else:  # repeated cross-sections: every row is its own observation
        n_units = len(df)
        ucodes = np.arange(n_units)
        ulabels = pd.Index(np.arange(n_units))
        in_order = False
        unit_cohort = df[cohort_key].to_numpy(dtype=float)
        unit_w = np.ones(n_units) if weights is None else df[weights].to_numpy(dtype=float)
        unit_cluster = None if cluster is None else df[cluster].to_numpy()
    unit_cohort, unit_w = np.asarray(unit_cohort, dtype=float), np.asarray(unit_w, dtype=float)
    if weights is not None and (np.any(unit_w < 0) or unit_w.sum() <= 0):
        raise DataValidationError(
            f"`weights`: column {weights!r} must be non-negative with a positive sum"
        )
    if treatment is not None:
        if ucodes is None:
            ucodes, tcodes = _block_codes(n_units, n_periods)
        _check_treatment(df[treatment], tvals, unit_cohort[ucodes], ucodes, ulabels, panel)

    counts = (
        np.full(n_units, n_periods) if ucodes is None else np.bincount(ucodes, minlength=n_units)
    )
    balanced = bool(np.all(counts == n_periods)) if panel else False
    keep_unit = np.ones(n_units, dtype=bool)
    n_unbalanced = int(np.sum(counts != n_periods)) if panel else 0
    if panel and not balanced and not allow_unbalanced_panel:
        keep_unit = counts == n_periods
        note(
            f"{n_unbalanced} units are not observed in all {n_periods} periods and were "
            "dropped to balance the panel (as R did); pass allow_unbalanced_panel=True to keep "
            "them; see details['n_units_unbalanced']"
        )
        n_unbalanced_dropped = n_unbalanced
    else:
        n_unbalanced_dropped = 0
    layout = (
        "balanced_panel"
        if panel and (balanced or not allow_unbalanced_panel)
        else ("unbalanced_panel" if panel else "repeated_cross_sections")
    )
    what = "observations" if layout == "repeated_cross_sections" else "units"
    unit_cohort = np.where(unit_cohort == 0, np.inf, unit_cohort)
    asif_never = np.isfinite(unit_cohort) & (unit_cohort > periods[-1] + anticipation)
    if asif_never.any():
        late = np.unique(unit_cohort[asif_never])
        shown = ", ".join(_fmt(float(g)) for g in late[:5]) + (", ..." if late.size > 5 else "")
        note(
            f"`cohort`: {int(asif_never.sum())} {what} of column {cohort!r} have a first "
            f"treated period ({shown}) after the last period {_fmt(periods[-1])}"
            f"{f' plus anticipation = {anticipation}' if anticipation else ''}; they are "
            "never treated within the data and serve as never-treated controls (as R did "
            "does). If that is not intended, drop them or check the cohort coding; see "
            "details['n_units_as_if_never_treated']"
        )
    unit_cohort[asif_never] = np.inf
    first_treated = (
        np.isfinite(unit_cohort) & (unit_cohort <= periods[0] + anticipation) & keep_unit
    )
    n_first = int(first_treated.sum())
    if n_first:
        note(
            f"dropped {n_first} {what} already treated in the first period "
            f"{_fmt(periods[0])}{f' (with anticipation = {anticipation})' if anticipation else ''}"
            ": they have no pre-treatment period; see details['n_units_treated_first_period']"
        )
    keep_unit &= ~first_treated
    if not keep_unit.any():
        raise DataValidationError(f"no {what} remain after balancing the panel")

    never = ~np.isfinite(unit_cohort) & keep_unit
    groups_all = np.unique(unit_cohort[keep_unit & ~never])
    keep_period = np.ones(n_periods, dtype=bool)
    if not never.any():
        if control_group == "never_treated":
            raise DataValidationError(
                f"`cohort`: column {cohort!r} has no never-treated units (0 or missing), so "
                "control_group='never_treated' has no controls; use "
                "control_group='not_yet_treated'"
            )
        if groups_all.size < 2:
            raise DataValidationError(
                f"`cohort`: column {cohort!r} has no never-treated units and "
                f"{'no' if groups_all.size == 0 else 'a single'} treated cohort, so no unit "
                "can serve as a not-yet-treated control for any cell"
            )
        latest = float(groups_all.max())
        keep_period = periods < latest - anticipation
        note(
            f"no never-treated units: periods from {_fmt(latest - anticipation)} on are dropped "
            f"and cohort {_fmt(latest)} serves only as a not-yet-treated control (as R did)"
        )
        groups_all = groups_all[groups_all < latest]
    groups = groups_all[groups_all > periods[0] + anticipation]
    if groups.size == 0:
        raise DataValidationError(
            f"`cohort`: no treated cohort has a pre-treatment period in the data (periods "
            f"{_fmt(periods[0])}..{_fmt(periods[-1])}); nothing to estimate"
        )
    if control_group == "never_treated" and never.sum() < len(covs) + 5:
        raise DataValidationError(
            f"only {int(never.sum())} never-treated {what}: too few to serve as controls with "
            f"{len(covs)} covariates (R did requires at least {len(covs) + 5}); use "
            "control_group='not_yet_treated'"
        )
    sizes = {float(g): int(np.count_nonzero(keep_unit & (unit_cohort == g))) for g in groups}
    small = {g: k for g, k in sizes.items() if k < len(covs) + 5}
    if small:
        shown = ", ".join(f"{_fmt(g)}: {k}" for g, k in small.items())
        note(
            f"`cohort`: small cohorts ({what} per cohort {shown}; fewer than {len(covs) + 5} "
            "as R did warns): their ATT(g,t) rest on so few treated units that the "
            "influence-function standard errors are unreliable (with a single unit, far too "
            "small); prefer randomization inference or report them descriptively",
            SmallSampleWarning,
        )

    # rows kept, units re-coded 0..n-1 among those with a kept row
    keep_all = bool(keep_unit.all() and keep_period.all())
    old_periods = periods
    periods = periods[keep_period]
    if ucodes is None or tcodes is None:  # in unit blocks: codes needed below unless all kept
        if keep_all:
            ucodes = tcodes = np.empty(0, dtype=np.intp)  # unused: y is the reshaped rows
        else:
            ucodes, tcodes = _block_codes(n_units, n_periods)
    keep_row = np.ones(len(df), dtype=bool) if keep_all else keep_unit[ucodes] & keep_period[tcodes]
    if keep_all and counts.min() > 0:  # every unit kept: codes unchanged
        sel = np.arange(n_units)
        r_unit, r_period = ucodes, tcodes
    else:
        sel = np.flatnonzero(np.bincount(ucodes[keep_row], minlength=n_units) > 0)
        recode = np.full(n_units, -1, dtype=np.intp)
        recode[sel] = np.arange(sel.size)
        pcode = np.cumsum(keep_period) - 1
        r_unit, r_period = recode[ucodes[keep_row]], pcode[tcodes[keep_row]]
        in_order = False
    unit_cohort, unit_w = unit_cohort[sel], unit_w[sel]
    if unit_w.sum() <= 0:
        raise DataValidationError("`weights`: the kept units have zero total weight")
    unit_w = unit_w / unit_w.mean()
    never = ~np.isfinite(unit_cohort)
    y_rows = df[outcome].to_numpy(dtype=float)
    x_rows = df[covs].to_numpy(dtype=float) if covs else None
    if not keep_all:
        y_rows = y_rows[keep_row]
        x_rows = None if x_rows is None else x_rows[keep_row]

    clusters: np.ndarray | None = None
    n_clusters: int | None = None
    if unit_cluster is not None:
        ccodes, cuniq = pd.factorize(pd.Series(unit_cluster[sel]), sort=True)
        clusters, n_clusters = ccodes.astype(np.intp), len(cuniq)
        if n_clusters < 2:
            raise DataValidationError(
                f"`cluster`: column {cluster!r} must give at least 2 clusters; received "
                f"{n_clusters}"
            )

    common: dict[str, Any] = {
        "control_group": control_group,
        "base_period": base_period,
        "anticipation": float(anticipation),
        "method": method,
        "covariate_names": tuple(covs),
    }
    if layout == "balanced_panel":
        if in_order:
            y = y_rows.reshape(sel.size, periods.size)
        else:
            y = np.full((sel.size, periods.size), np.nan)
            y.ravel()[r_unit * periods.size + r_period] = y_rows
        x = None
        if x_rows is not None and in_order:
            x = x_rows.reshape(sel.size, periods.size, len(covs))
        elif x_rows is not None:
            x = np.full((sel.size, periods.size, len(covs)), np.nan)
            x[r_unit, r_period, :] = x_rows
        if x is None:  # every method is the plain 2x2 DiD: all cells from cohort sums
            common.pop("method")
            common.pop("covariate_names")
            fit = estimate_group_time_simple(
                y, unit_cohort, periods, groups, weights=unit_w, **common
            )
        else:
            fit = estimate_group_time(
                y, unit_cohort, periods, groups, x=x, weights=unit_w, **common
            )
    else:
        row_w = unit_w[r_unit]  # weights are constant within unit
        fit = estimate_group_time_rc(
            y_rows,
            r_period,
            r_unit,
            unit_cohort,
            periods,
            groups,
            x=x_rows,
            row_weights=row_w,
            unit_weights=unit_w,
            **common,
        )
    units = ulabels[sel]
    how = Inference(level=level, clusters=clusters, n_clusters=n_clusters, bootstrap=bootstrap)
    cols, _ = infer(fit.att, fit.influence, how, gen, uniform=True)
    n_degenerate = int(np.count_nonzero(np.isnan(cols.se) & np.isfinite(fit.att)))
    if n_degenerate:
        note(
            f"{n_degenerate} of {fit.att.size} group-time cells have a degenerate standard "
            "error (at most sqrt(machine epsilon) x 10: the outcome does not vary in the "
            "cell's comparison, or the fit is exact); it is reported as NaN, with its interval "
            "and p-value, as R did does; check the outcome column"
        )

    integer_periods = bool(np.all(np.mod(np.r_[periods, groups], 1) == 0))

    def as_out(values: np.ndarray) -> np.ndarray:
        return values.astype(np.int64) if integer_periods else values

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
    form = {
        "balanced_panel": "",
        "unbalanced_panel": ", unbalanced panel (DRDID repeated-cross-section estimators, "
        "unit-summed influence functions)",
        "repeated_cross_sections": ", repeated cross-sections",
    }[layout]
    method_label = _METHOD_LABELS[method]
    if layout != "balanced_panel":
        method_label = method_label.replace("_panel)", "_rc)")
    label = (
        f"Callaway-Sant'Anna ATT(g,t), {method_label}, "
        f"{control_group.replace('_', '-')} controls, {base_period} base period"
        f"{f', anticipation {anticipation}' if anticipation else ''}{form}; {how.label}"
    )
    options = {
        "outcome": outcome,
        "unit": unit,
        "time": time,
        "cohort": cohort,
        "covariates": covs,
        "control_group": control_group,
        "method": method,
        "base_period": base_period,
        "anticipation": anticipation,
        "weights": weights,
        "cluster": cluster,
        "panel": bool(panel),
        "allow_unbalanced_panel": bool(allow_unbalanced_panel),
        "treatment": treatment,
        "bootstrap": bootstrap,
        "level": level,
        "bootstrap_weights": "rademacher" if bootstrap else None,
    }
    provenance = Provenance(options=options, data_fingerprint=digest(), seed=seed)
    n_rows = int(keep_row.sum())
    n_treated = int((~never).sum())
    base: dict[str, Any] = {
        "method": label,
        "n_obs": n_rows,
        "n_treated": n_treated,
        "n_control": int(never.sum()),
        "n_dropped": prepared.n_dropped,
        "outcome": outcome,
        "warnings": tuple(caught),
        "provenance": provenance,
    }
    overall: EffectEstimate | None
    if how.bootstrap is None:  # the same numbers without building the one-row table
        overall = simple_overall_analytic(fit, how, base)
    else:
        overall = build_aggregate(
            fit, "simple", how, gen, min_e=None, max_e=None, balance_e=None, base=base
        ).overall
    return GroupTimeEffects(
        table=table,
        index_columns=("group", "time"),
        overall=overall,
        level=level,
        estimand="ATT",
        method=label,
        n_obs=n_rows,
        n_treated=n_treated,
        n_control=int(never.sum()),
        n_clusters=n_clusters,
        df=None,
        ci_method=cols.ci_method,
        n_dropped=prepared.n_dropped,
        warnings=tuple(caught),
        provenance=provenance,
        details={
            "influence": fit.influence,
            "units": np.asarray(units),
            "fit": fit,
            "_how": how,
            "outcome": outcome,
            "critical_value": cols.crit,
            "inference": how.label,
            "layout": layout,
            "n_units": int(sel.size),
            "n_units_unbalanced": n_unbalanced,
            "n_units_unbalanced_dropped": n_unbalanced_dropped,
            "n_units_treated_first_period": n_first,
            "n_units_as_if_never_treated": int(asif_never.sum()),
            "groups": [int(g) if integer_periods else float(g) for g in groups],
            "periods": [int(p) if integer_periods else float(p) for p in periods],
            "periods_dropped": [float(p) for p in old_periods[~keep_period]],
            "bootstrap_weights": "rademacher" if bootstrap else None,
        },
    )


def _block_codes(n_units: int, n_periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit and period codes of a panel stored as consecutive unit blocks (_sorted_blocks)."""
    return np.repeat(np.arange(n_units), n_periods), np.tile(np.arange(n_periods), n_units)


def _sorted_blocks(units: pd.Series, tvals: np.ndarray) -> tuple[np.ndarray, Any] | None:
    """``(periods, unit labels)`` when the rows are a balanced panel sorted by unit, then
    period, with numeric unit labels (one row per unit and period); otherwise None.

    The checks are a few vectorised comparisons on the ``(units, periods)`` reshape, cheaper
    than coding units and periods (the general path) for the layout most panels come in.
    """
    numeric = pd.api.types.is_integer_dtype(units.dtype) or pd.api.types.is_float_dtype(units.dtype)
    if not numeric or tvals.size < 4:
        return None
    arr = units.to_numpy()
    width = int(np.argmax(arr != arr[0]))  # rows of the first unit (0: a single unit)
    if width < 2 or tvals.size % width:
        return None
    grid = arr.reshape(-1, width)
    heads = grid[:, 0]
    if not (np.all(heads[1:] > heads[:-1]) and np.all(grid == heads[:, None])):
        return None
    times = tvals.reshape(-1, width)
    periods = times[0]
    if not (np.all(periods[1:] > periods[:-1]) and np.all(times == periods)):
        return None  # NaN periods fail both comparisons and take the general path
    return periods.copy(), pd.Index(heads.copy())


def _periods_and_codes(tvals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct periods and each row's position among them.

    Integer periods over a modest range are found by counting (one pass; a hash-based unique
    plus a binary search over 10M rows is several times slower); anything else uses
    ``pandas.unique`` and ``searchsorted``.
    """
    if tvals.size:
        low, high = float(tvals.min()), float(tvals.max())
        if np.isfinite(low) and np.isfinite(high) and high - low < 1e6:
            shifted = tvals - low
            offsets = shifted.astype(np.intp)
            if np.array_equal(offsets, shifted):  # integer-valued periods
                present = np.flatnonzero(np.bincount(offsets, minlength=int(high - low) + 1))
                lut = np.empty(int(high - low) + 1, dtype=np.intp)
                lut[present] = np.arange(present.size)
                return present + low, np.asarray(lut[offsets])
    # pandas' hash-based unique is far faster than np.unique (a sort) on 10M-row panels
    periods = np.sort(pd.unique(tvals))
    return periods, np.searchsorted(periods, tvals)


def _unit_codes(values: pd.Series) -> tuple[np.ndarray, Any]:
    """Codes 0..n-1 of the unit labels in sorted label order, and the labels.

    Integer labels already in non-decreasing order (a panel sorted by unit) are coded by
    counting changes, in one pass; anything else goes through ``pandas.factorize``.
    """
    if pd.api.types.is_integer_dtype(values.dtype) and len(values) > 1:
        arr = values.to_numpy()
        step = arr[1:] != arr[:-1]
        if np.all(arr[1:] >= arr[:-1]):
            codes = np.empty(arr.size, dtype=np.intp)
            codes[0] = 0
            np.cumsum(step, out=codes[1:])
            return codes, pd.Index(arr[np.r_[True, step]])
    codes, labels = pd.factorize(values, sort=True)
    return codes, labels


def _check_duplicates(
    ucodes: np.ndarray, tcodes: np.ndarray, n_periods: int, ulabels: Any, tvals: np.ndarray
) -> None:
    cell_id = ucodes.astype(np.int64) * n_periods + tcodes
    if np.bincount(cell_id).max() > 1:
        dup = pd.Series(cell_id).duplicated(keep=False).to_numpy()
        first = int(np.flatnonzero(dup)[0])
        raise DataValidationError(
            f"`unit`/`time`: {int(dup.sum())} rows share a (unit, period) with another row, "
            f"e.g. unit {_label(ulabels[ucodes[first]])} in period {_fmt(tvals[first])}; a panel "
            "has one row per unit and period (for repeated cross-sections pass panel=False)"
        )


def _check_treatment(
    values: pd.Series,
    tvals: np.ndarray,
    row_cohort: np.ndarray,
    ucodes: np.ndarray,
    ulabels: Any,
    panel: bool,
) -> None:
    """``treatment`` must be 0/1, absorbing, and equal ``1{cohort > 0 and t >= cohort}``."""
    d = values.to_numpy(dtype=float)
    if not np.all(np.isin(d, (0.0, 1.0))):
        raise DataValidationError(
            f"`treatment`: column {values.name!r} must be 0/1; received values "
            f"{sorted(set(np.unique(d).tolist()) - {0.0, 1.0})[:5]} besides 0 and 1"
        )
    if panel:
        order = np.lexsort((tvals, ucodes))
        du, dd = ucodes[order], d[order]
        off = (du[1:] == du[:-1]) & (dd[:-1] == 1) & (dd[1:] == 0)
        if off.any():
            k = int(np.flatnonzero(off)[0])
            raise DataValidationError(
                f"`treatment`: column {values.name!r} switches off (1 then 0) for unit "
                f"{_label(ulabels[du[k]])} in period {_fmt(tvals[order][k + 1])}; att_gt needs "
                "staggered, absorbing (irreversible) treatment"
            )
    expected = (row_cohort > 0) & (tvals >= row_cohort)
    bad = np.flatnonzero(expected != (d == 1))
    if bad.size:
        k = int(bad[0])
        who = f"unit {_label(ulabels[ucodes[k]])}" if panel else f"row {k}"
        raise DataValidationError(
            f"`treatment` and `cohort` disagree in {bad.size} rows, e.g. {who} in period "
            f"{_fmt(tvals[k])}: treatment {int(d[k])} but cohort {_fmt(row_cohort[k])} "
            "(cohort = first period with treatment 1, 0 = never treated)"
        )
