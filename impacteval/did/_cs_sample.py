"""``att_gt``'s arguments and estimation sample: validate, then prepare (R ``pre_process_did``).

:func:`check_options` checks every argument that does not need the data;
:func:`build_sample` takes the coded :class:`~impacteval._panel.Panel` and applies R did's
sample rules -- balancing (or keeping an unbalanced panel), cohorts after the last period
as never treated, units treated in the first period dropped, periods dropped when there
is no never-treated unit -- recording each on a :class:`~impacteval._warn.WarningLog`.
:func:`estimate_cells` makes the one numerics call for the sample's layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from impacteval._panel import Panel, format_label
from impacteval._validation import (
    as_column_list,
    check_choice,
    check_level,
    check_positive_int,
)
from impacteval._warn import WarningLog
from impacteval.did._cs_fast import estimate_group_time_simple
from impacteval.did._cs_numerics import (
    SE_CONVENTIONS,
    GroupTimeFit,
    estimate_group_time,
    estimate_group_time_rc,
)
from impacteval.exceptions import DataValidationError, SmallSampleWarning

__all__ = [
    "METHODS_ALL",
    "METHODS_RC_ONLY",
    "CSOptions",
    "CSSample",
    "build_sample",
    "check_options",
    "estimate_cells",
]

# att_gt's 2x2 estimators (impacteval.did._drdid's NOTES map them to R DRDID); the "rc1"
# variants exist for repeated cross-sections only, as in DRDID
METHODS_ALL: tuple[str, ...] = ("dr", "ipw", "reg", "dr_imp", "ipw_ht", "dr_rc1", "dr_imp_rc1")
METHODS_RC_ONLY: tuple[str, ...] = ("dr_rc1", "dr_imp_rc1")

Array = np.ndarray


@dataclass(frozen=True)
class CSOptions:
    """The checked arguments of :func:`impacteval.did.att_gt`."""

    outcome: str
    unit: str | None
    time: str
    cohort: str
    treatment: str | None
    covariates: list[str]
    control_group: str
    method: str
    base_period: str
    anticipation: int
    weights: str | None
    cluster: str | None
    panel: bool
    allow_unbalanced_panel: bool
    bootstrap: int | None
    level: float
    se_convention: str = "did"

    @property
    def used_columns(self) -> list[str]:
        """Every column the call reads, each once (cohort first, as hashed)."""
        named = [self.cohort, self.outcome, self.unit, self.time, *self.covariates]
        named += [self.weights, self.cluster, self.treatment]
        return [c for c in dict.fromkeys(named) if c]


def check_options(
    *,
    outcome: str,
    unit: str | None,
    time: str,
    cohort: str,
    treatment: str | None,
    covariates: Sequence[str],
    control_group: str,
    method: str,
    base_period: str,
    anticipation: int,
    weights: str | None,
    cluster: str | None,
    panel: bool,
    allow_unbalanced_panel: bool,
    bootstrap: int | None,
    level: float,
    se_convention: str = "did",
) -> CSOptions:
    """Check the arguments that do not need the data; see :func:`impacteval.did.att_gt`."""
    level = check_level(level)
    se_convention = check_choice(se_convention, "se_convention", SE_CONVENTIONS)
    control_group = check_choice(
        control_group, "control_group", ("never_treated", "not_yet_treated")
    )
    method = check_choice(method, "method", METHODS_ALL)
    base_period = check_choice(base_period, "base_period", ("varying", "universal"))
    anticipation = check_positive_int(anticipation, "anticipation", minimum=0)
    for name, flag in (("panel", panel), ("allow_unbalanced_panel", allow_unbalanced_panel)):
        if not isinstance(flag, (bool, np.bool_)):
            raise DataValidationError(f"`{name}` must be True or False; received {flag!r}")
    if bootstrap is not None:
        bootstrap = check_positive_int(bootstrap, "bootstrap", minimum=2)
    covs = as_column_list(covariates, "covariates")
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
    if method in METHODS_RC_ONLY and panel and not allow_unbalanced_panel:
        raise DataValidationError(
            f"`method`: {method!r} (DRDID's drdid_{method[3:]}) is defined for repeated "
            "cross-sections only; pass panel=False (or allow_unbalanced_panel=True for an "
            "unbalanced panel), or use 'dr' / 'dr_imp' with panel data"
        )
    _check_se_convention(se_convention, cluster, bootstrap)
    return CSOptions(
        outcome=outcome,
        unit=unit,
        time=time,
        cohort=cohort,
        treatment=treatment,
        covariates=covs,
        control_group=control_group,
        method=method,
        base_period=base_period,
        anticipation=anticipation,
        weights=weights,
        cluster=cluster,
        panel=bool(panel),
        allow_unbalanced_panel=bool(allow_unbalanced_panel),
        bootstrap=bootstrap,
        level=level,
        se_convention=se_convention,
    )


def _check_se_convention(se_convention: str, cluster: str | None, bootstrap: int | None) -> None:
    """DRDID's ``sd(IF) / sqrt(n)`` is defined for unit-level analytic SEs only."""
    if se_convention != "drdid":
        return
    if cluster is not None:
        raise DataValidationError(
            "`se_convention`: 'drdid' (R DRDID's sd(IF) / sqrt(n)) has no clustered form; "
            f"received cluster={cluster!r}: use se_convention='did' with `cluster`"
        )
    if bootstrap is not None:
        raise DataValidationError(
            "`se_convention`: 'drdid' applies to analytic standard errors; received "
            f"bootstrap={bootstrap!r}: bootstrap SEs follow R did's multiplier bootstrap "
            "(use se_convention='did' or bootstrap=None)"
        )


@dataclass(frozen=True)
class CSSample:
    """The estimation sample of ``att_gt`` after R did's sample rules.

    ``layout`` is "balanced_panel" (``y``: units x periods, ``x``: units x periods x k or
    None) or "unbalanced_panel" / "repeated_cross_sections" (``y``: one value per row,
    ``x``: rows x k or None, with ``row_unit`` and ``row_period`` codes). ``cohort`` and
    ``weights`` (mean one) are per unit; ``clusters`` per unit codes or None.
    """

    layout: str
    panel: Panel
    y: Array
    x: Array | None
    row_unit: Array | None
    row_period: Array | None
    cohort: Array
    weights: Array
    clusters: Array | None
    n_clusters: int | None
    groups: Array
    n_unbalanced: int
    n_unbalanced_dropped: int
    n_first_treated: int
    n_as_if_never: int
    periods_dropped: list[float]

    @property
    def periods(self) -> Array:
        return self.panel.periods

    @property
    def what(self) -> str:
        """What a unit of the sample is, for messages."""
        return "observations" if self.layout == "repeated_cross_sections" else "units"


def build_sample(panel: Panel, opts: CSOptions, log: WarningLog) -> CSSample:
    """Apply R did's sample rules to the coded panel (warnings recorded on ``log``)."""
    periods, ant = panel.periods, opts.anticipation
    weights = _unit_weights(panel, opts)
    assert panel.cohort is not None  # prepare_panel was given the cohort column
    if opts.treatment is not None:
        check_treatment(panel, opts.treatment)
    keep_unit, layout, n_unbalanced, n_unbal_dropped = _balance(panel, opts, log)
    what = "observations" if layout == "repeated_cross_sections" else "units"
    cohort = panel.cohort.copy()
    as_if_never = np.isfinite(cohort) & (cohort > periods[-1] + ant)
    if as_if_never.any():
        late = np.unique(cohort[as_if_never])
        shown = ", ".join(format_label(g) for g in late[:5]) + (", ..." if late.size > 5 else "")
        log.warn(
            f"`cohort`: {int(as_if_never.sum())} {what} of column {opts.cohort!r} have a first "
            f"treated period ({shown}) after the last period {format_label(periods[-1])}"
            f"{f' plus anticipation = {ant}' if ant else ''}; they are "
            "never treated within the data and serve as never-treated controls (as R did "
            "does). If that is not intended, drop them or check the cohort coding; see "
            "details['n_units_as_if_never_treated']"
        )
    cohort[as_if_never] = np.inf
    first = np.isfinite(cohort) & (cohort <= periods[0] + ant) & keep_unit
    if first.any():
        log.warn(
            f"dropped {int(first.sum())} {what} already treated in the first period "
            f"{format_label(periods[0])}{f' (with anticipation = {ant})' if ant else ''}"
            ": they have no pre-treatment period; see details['n_units_treated_first_period']"
        )
    keep_unit &= ~first
    if not keep_unit.any():
        raise DataValidationError(f"no {what} remain after balancing the panel")
    groups, keep_period = _groups(cohort, keep_unit, periods, opts, what, log)
    sub = replace(panel, cohort=cohort, unit_values={**panel.unit_values, "weights": weights})
    sub = sub.restrict(keep_unit, keep_period)
    assert sub.cohort is not None
    unit_w = sub.unit_values["weights"]
    if unit_w.sum() <= 0:
        raise DataValidationError("`weights`: the kept units have zero total weight")
    clusters, n_clusters = _clusters(sub, opts)
    covs = opts.covariates
    balanced_layout = layout == "balanced_panel"
    return CSSample(
        layout=layout,
        panel=sub,
        y=sub.wide(opts.outcome) if balanced_layout else sub.column(opts.outcome),
        x=None if not covs else (sub.wide(covs) if balanced_layout else sub.column(covs)),
        row_unit=None if balanced_layout else sub.unit_codes,
        row_period=None if balanced_layout else sub.period_codes,
        cohort=sub.cohort,
        weights=unit_w / unit_w.mean(),
        clusters=clusters,
        n_clusters=n_clusters,
        groups=groups,
        n_unbalanced=n_unbalanced,
        n_unbalanced_dropped=n_unbal_dropped,
        n_first_treated=int(first.sum()),
        n_as_if_never=int(as_if_never.sum()),
        periods_dropped=[float(p) for p in periods[~keep_period]],
    )


def estimate_cells(sample: CSSample, opts: CSOptions) -> GroupTimeFit:
    """The one numerics call: every ATT(g, t) of the sample with its influence function."""
    common: dict[str, Any] = {
        "control_group": opts.control_group,
        "base_period": opts.base_period,
        "anticipation": float(opts.anticipation),
    }
    method: dict[str, Any] = {"method": opts.method, "covariate_names": tuple(opts.covariates)}
    cohort, periods, groups = sample.cohort, sample.periods, sample.groups
    if sample.layout == "balanced_panel" and opts.method in METHODS_RC_ONLY:
        raise DataValidationError(
            f"`method`: {opts.method!r} is a repeated-cross-section estimator (DRDID defines "
            "the rc1 variants for repeated cross-sections only), but the panel is balanced, "
            "so att_gt uses the panel estimators; use 'dr' or 'dr_imp', or panel=False to "
            "treat the rows as repeated cross-sections"
        )
    if sample.layout == "balanced_panel" and sample.x is None:
        # every method is the plain 2x2 DiD: all cells from cohort sums
        return estimate_group_time_simple(
            sample.y, cohort, periods, groups, weights=sample.weights, **common
        )
    if sample.layout == "balanced_panel":
        return estimate_group_time(
            sample.y,
            cohort,
            periods,
            groups,
            x=sample.x,
            weights=sample.weights,
            **common,
            **method,
        )
    assert sample.row_unit is not None and sample.row_period is not None
    return estimate_group_time_rc(
        sample.y,
        sample.row_period,
        sample.row_unit,
        cohort,
        periods,
        groups,
        x=sample.x,
        row_weights=sample.weights[sample.row_unit],  # weights are constant within unit
        unit_weights=sample.weights,
        **common,
        **method,
    )


# ---------------------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------------------
def _unit_weights(panel: Panel, opts: CSOptions) -> Array:
    if opts.weights is None:
        return np.ones(panel.n_units)
    w = np.asarray(panel.unit_values["weights"], dtype=float)
    if np.any(w < 0) or w.sum() <= 0:
        raise DataValidationError(
            f"`weights`: column {opts.weights!r} must be non-negative with a positive sum"
        )
    return w


def _balance(panel: Panel, opts: CSOptions, log: WarningLog) -> tuple[Array, str, int, int]:
    """Units kept by balancing, the layout, units unbalanced and units dropped for it."""
    keep_unit = np.ones(panel.n_units, dtype=bool)
    if not panel.is_panel:
        return keep_unit, "repeated_cross_sections", 0, 0
    balanced = panel.balanced
    n_unbalanced = 0 if balanced else int(np.sum(~panel.complete_units))
    if balanced or opts.allow_unbalanced_panel:
        return keep_unit, "balanced_panel" if balanced else "unbalanced_panel", n_unbalanced, 0
    log.warn(
        f"{n_unbalanced} units are not observed in all {panel.n_periods} periods and were "
        "dropped to balance the panel (as R did); pass allow_unbalanced_panel=True to keep "
        "them; see details['n_units_unbalanced']"
    )
    return panel.complete_units, "balanced_panel", n_unbalanced, n_unbalanced


def _groups(
    cohort: Array,
    keep_unit: Array,
    periods: Array,
    opts: CSOptions,
    what: str,
    log: WarningLog,
) -> tuple[Array, Array]:
    """The treated cohorts to estimate and the periods kept; R did's errors and warnings."""
    never = ~np.isfinite(cohort) & keep_unit
    groups_all = np.unique(cohort[keep_unit & ~never])
    keep_period = np.ones(periods.size, dtype=bool)
    ant, name = opts.anticipation, opts.cohort
    if not never.any():
        if opts.control_group == "never_treated":
            raise DataValidationError(
                f"`cohort`: column {name!r} has no never-treated units (0 or missing), so "
                "control_group='never_treated' has no controls; use "
                "control_group='not_yet_treated'"
            )
        if groups_all.size < 2:
            raise DataValidationError(
                f"`cohort`: column {name!r} has no never-treated units and "
                f"{'no' if groups_all.size == 0 else 'a single'} treated cohort, so no unit "
                "can serve as a not-yet-treated control for any cell"
            )
        latest = float(groups_all.max())
        keep_period = periods < latest - ant
        log.warn(
            f"no never-treated units: periods from {format_label(latest - ant)} on are "
            f"dropped and cohort {format_label(latest)} serves only as a not-yet-treated "
            "control (as R did)"
        )
        groups_all = groups_all[groups_all < latest]
    groups = groups_all[groups_all > periods[0] + ant]
    if groups.size == 0:
        raise DataValidationError(
            f"`cohort`: no treated cohort has a pre-treatment period in the data (periods "
            f"{format_label(periods[0])}..{format_label(periods[-1])}); nothing to estimate"
        )
    n_cov = len(opts.covariates)
    if opts.control_group == "never_treated" and never.sum() < n_cov + 5:
        raise DataValidationError(
            f"only {int(never.sum())} never-treated {what}: too few to serve as controls with "
            f"{n_cov} covariates (R did requires at least {n_cov + 5}); use "
            "control_group='not_yet_treated'"
        )
    sizes = {float(g): int(np.count_nonzero(keep_unit & (cohort == g))) for g in groups}
    small = {g: k for g, k in sizes.items() if k < n_cov + 5}
    if small:
        shown = ", ".join(f"{format_label(g)}: {k}" for g, k in small.items())
        log.warn(
            f"`cohort`: small cohorts ({what} per cohort {shown}; fewer than {n_cov + 5} "
            "as R did warns): their ATT(g,t) rest on so few treated units that the "
            "influence-function standard errors are unreliable (with a single unit, far too "
            "small); prefer randomization inference or report them descriptively",
            SmallSampleWarning,
        )
    return groups, keep_period


def _clusters(sample_panel: Panel, opts: CSOptions) -> tuple[Array | None, int | None]:
    unit_cluster = sample_panel.unit_values.get("cluster")
    if unit_cluster is None:
        return None, None
    codes, uniques = pd.factorize(pd.Series(unit_cluster), sort=True)
    if len(uniques) < 2:
        raise DataValidationError(
            f"`cluster`: column {opts.cluster!r} must give at least 2 clusters; received "
            f"{len(uniques)}"
        )
    return codes.astype(np.intp), len(uniques)


def check_treatment(panel: Panel, column: str) -> None:
    """``treatment`` must be 0/1, absorbing, and equal ``1{cohort > 0 and t >= cohort}``."""
    assert panel.cohort is not None
    d = panel.column(column)
    if not np.all(np.isin(d, (0.0, 1.0))):
        raise DataValidationError(
            f"`treatment`: column {column!r} must be 0/1; received values "
            f"{sorted(set(np.unique(d).tolist()) - {0.0, 1.0})[:5]} besides 0 and 1"
        )
    ucodes = panel.unit_codes
    tvals = panel.periods[panel.period_codes]
    if panel.is_panel:
        order = np.lexsort((tvals, ucodes))
        du, dd = ucodes[order], d[order]
        off = (du[1:] == du[:-1]) & (dd[:-1] == 1) & (dd[1:] == 0)
        if off.any():
            k = int(np.flatnonzero(off)[0])
            raise DataValidationError(
                f"`treatment`: column {column!r} switches off (1 then 0) for unit "
                f"{panel.unit_label(du[k])} in period {format_label(tvals[order][k + 1])}; "
                "att_gt needs staggered, absorbing (irreversible) treatment"
            )
    row_cohort = panel.cohort[ucodes]
    expected = tvals >= row_cohort  # never treated: cohort inf
    bad = np.flatnonzero(expected != (d == 1))
    if bad.size:
        k = int(bad[0])
        who = f"unit {panel.unit_label(ucodes[k])}" if panel.is_panel else f"row {k}"
        shown = row_cohort[k] if np.isfinite(row_cohort[k]) else 0.0
        raise DataValidationError(
            f"`treatment` and `cohort` disagree in {bad.size} rows, e.g. {who} in period "
            f"{format_label(tvals[k])}: treatment {int(d[k])} but cohort {format_label(shown)} "
            "(cohort = first period with treatment 1, 0 = never treated)"
        )
