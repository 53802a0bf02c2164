"""Callaway & Sant'Anna (2021) group-time average treatment effects, as R ``did::att_gt``.

The entry point reads as the pipeline it runs: check the arguments
(:func:`~impacteval.did._cs_sample.check_options`), code the panel once
(:func:`impacteval._panel.prepare_panel`), apply R did's sample rules
(:func:`~impacteval.did._cs_sample.build_sample`), estimate every cell in one numerics call
(:func:`~impacteval.did._cs_sample.estimate_cells`) and build the result
(:func:`~impacteval.did.group_time.build_group_time_effects`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from impacteval._panel import prepare_panel
from impacteval._validation import check_dataframe, check_rng
from impacteval._warn import WarningLog
from impacteval.did._cs_sample import build_sample, check_options, estimate_cells
from impacteval.did._dask_att_gt import att_gt_dask
from impacteval.did.group_time import GroupTimeEffects, build_group_time_effects
from impacteval.rct.regression_dask import is_dask_dataframe
from impacteval.results import fingerprint_in_background

__all__ = ["GroupTimeEffects", "att_gt"]


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
    se_convention: str = "did",
) -> GroupTimeEffects:
    """Group-time average treatment effects ATT(g, t) (Callaway & Sant'Anna 2021).

    Parameters
    ----------
    data : pandas.DataFrame or dask.dataframe.DataFrame
        Long panel (one row per unit and period) or, with ``panel=False``, repeated
        cross-sections (one row per observation). A Dask DataFrame (balanced panel; no
        weights, clusters or bootstrap; covariates with ``method`` "reg", "ipw" or "dr") is
        estimated by map-reduce over its partitions without collecting the rows; it must be
        partitioned by unit (each unit's rows in one partition; checked): see
        :mod:`impacteval.did._dask_att_gt`.
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
    method : {"dr", "ipw", "reg", "dr_imp", "ipw_ht", "dr_rc1", "dr_imp_rc1"}
        2x2 estimator of each cell, R ``DRDID``'s family (Sant'Anna & Zhao 2020); panel /
        repeated-cross-section counterparts:

        * ``dr`` doubly robust, locally efficient (``drdid_panel`` / ``drdid_rc``; what R
          ``did`` uses);
        * ``dr_imp`` improved doubly robust: inverse-probability-tilting score, weighted
          least squares (``drdid_imp_panel`` / ``drdid_imp_rc``; DRDID's default);
        * ``ipw`` IPW with weights normalised to sum to one, Hajek (``std_ipw_did_panel`` /
          ``std_ipw_did_rc``; DRDID's ``ipwdid(normalized = TRUE)``);
        * ``ipw_ht`` unnormalised, Horvitz-Thompson IPW (``ipw_did_panel`` /
          ``ipw_did_rc``; ``ipwdid(normalized = FALSE)``, Abadie 2005's form);
        * ``reg`` outcome regression (``reg_did_panel`` / ``reg_did_rc``);
        * ``dr_rc1`` and ``dr_imp_rc1``: the doubly robust and improved doubly robust
          estimators that are not locally efficient (``drdid_rc1`` / ``drdid_imp_rc1``,
          eq. 3.3 of the paper), for repeated cross-sections only (``panel=False`` or an
          unbalanced panel with ``allow_unbalanced_panel=True``), as in DRDID.

        Without covariates all reduce to the 2x2 DiD, except ``ipw_ht`` with repeated
        cross-sections: it divides each group-period sum by ``n P(D=1) P(T=t)`` (estimated
        shares) rather than by the cell's own size.
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
        estimator of ``method`` (``drdid_rc``, ``drdid_imp_rc``, ...). Cohort, weights and
        cluster are then per row.
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
    se_convention : {"did", "drdid"}
        How analytic standard errors are formed from the influence function ``IF`` (one
        entry per unit, or per row with ``panel=False``): ``"did"`` (default) R ``did``'s
        ``sqrt(sum_i IF_i^2) / n``; ``"drdid"`` R ``DRDID``'s ``sd(IF) / sqrt(n)`` (R's
        ``sd``, divisor ``n - 1``), larger by about ``sqrt(n / (n - 1))``. Applied to the
        cells, the aggregations and the pre-test. On two-period data (one cell, every unit
        in it) ``"drdid"`` reproduces the SEs DRDID prints. Not with ``cluster`` or
        ``bootstrap`` (DRDID has no clustered form; bootstrap SEs are R did's).

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
    ``details["n_units_treated_first_period"]``). The estimator names, their DRDID
    counterparts and the two SE conventions are tabulated in the NOTES of
    :mod:`impacteval.did._drdid`. ``details["layout"]`` says which form
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
    opts = check_options(
        outcome=outcome,
        unit=unit,
        time=time,
        cohort=cohort,
        treatment=treatment,
        covariates=covariates,
        control_group=control_group,
        method=method,
        base_period=base_period,
        anticipation=anticipation,
        weights=weights,
        cluster=cluster,
        panel=panel,
        allow_unbalanced_panel=allow_unbalanced_panel,
        bootstrap=bootstrap,
        level=level,
        se_convention=se_convention,
    )
    if is_dask_dataframe(data):  # map-reduce over the partitions (did/_dask_att_gt.py)
        return att_gt_dask(data, opts)
    # a Generator is only drawn from by the bootstrap (seeding one from the OS costs ~0.2 ms)
    use_rng = rng is not None or opts.bootstrap is not None
    gen, seed = check_rng(rng) if use_rng else (None, None)
    frame = check_dataframe(data)
    # hash the input columns on the other core while estimating (see results.fingerprint)
    digest = fingerprint_in_background(frame, opts.used_columns)
    panel_data = prepare_panel(
        frame,
        unit=opts.unit if opts.panel else None,
        time=opts.time,
        outcome=opts.outcome,
        cohort=opts.cohort,
        numeric={
            "covariates": opts.covariates,
            "weights": opts.weights,
            "treatment": opts.treatment,
        },
        labels={"unit": opts.unit, "cluster": opts.cluster},
        unit_constant=("weights", "cluster"),
        one_row_hint="a panel has one row per unit and period (for repeated cross-sections "
        "pass panel=False)",
    )
    log = WarningLog()
    sample = build_sample(panel_data, opts, log)
    fit = estimate_cells(sample, opts)
    return build_group_time_effects(
        fit,
        sample,
        opts,
        log,
        digest=digest,
        seed=seed,
        rng=gen,
        n_dropped=panel_data.n_dropped,
    )
