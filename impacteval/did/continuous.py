"""Difference in differences with a continuous (or multi-valued) dose: Callaway,
Goodman-Bacon and Sant'Anna (2024), as moderndid's ``cont_did`` (parametric sieve)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from impacteval._validation import check_dataframe, check_rng
from impacteval._warn import WarningLog
from impacteval.did._cs_numerics import GroupTimeFit
from impacteval.did.aggregate import AggregatedEffects, Inference, build_aggregate, infer
from impacteval.did.continuous_numerics import (
    CellEstimate,
    cell_estimate,
    dose_weights,
    quantile_knots,
)
from impacteval.did.continuous_sample import (
    CellPlan,
    ContinuousOptions,
    DoseSample,
    check_options,
    columns_used,
    dose_sample,
    plan,
    positive_doses_of_treated_rows,
)
from impacteval.exceptions import DataValidationError
from impacteval.results import EffectEstimate, EffectTable, Provenance, Summary, fingerprint

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["DoseResponse", "continuous"]

Array = np.ndarray
GRID_POINTS = 50


@dataclass(frozen=True, kw_only=True)
class DoseResponse(EffectTable):
    """Dose-response curves of a continuous-treatment DiD.

    ``table`` is ATT(d) indexed by ``dose`` (the five result columns plus ``band_lower``
    and ``band_upper``, the uniform band over the grid with the multiplier bootstrap,
    the pointwise interval otherwise); ``overall`` is ATT^o, the average of ATT(D) over
    the treated units. ``acrt`` is the same table for ACRT(d), the derivative of the dose
    response (average causal response on the treated), and ``overall_acrt`` is ACRT^o.
    ``details`` holds ``knots``, ``cells`` (per cell: group, time, base period, weight,
    ATT^o and ACRT^o of the cell, treated and comparison units), ``influence_att``,
    ``influence_acrt`` (n x grid), ``units`` and the drop counts.
    """

    acrt: EffectTable | None = None
    overall_acrt: EffectEstimate | None = None

    def summary(self) -> Summary:
        """ATT(d) rows (doses to 4 significant digits), ATT^o and ACRT^o."""
        base = super().summary()
        table = base.table.copy()
        table.index = pd.Index([f"{d:.4g}" for d in self.table["dose"]], name="dose")
        facts = list(base.facts)
        if self.overall_acrt is not None:
            o = self.overall_acrt
            facts.append(("Overall ACRT", f"{o.estimate:.4f} (SE {o.std_error:.4f})"))
        facts = [("Overall ATT", v) if k == "Overall" else (k, v) for k, v in facts]
        return replace(base, facts=tuple(facts), table=table)

    def plot(self, ax: Axes | None = None) -> Axes:
        """ATT(d) and ACRT(d) with their intervals and bands (two panels when ``ax`` is
        None; ``ax`` draws ATT(d) only)."""
        from impacteval.plotting.continuous import DoseResponseDisplay

        frames = (
            [self.table]
            if ax is not None or self.acrt is None
            else [
                self.table,
                self.acrt.table,
            ]
        )
        return DoseResponseDisplay(tuple(frames), self.level).draw(ax)


@dataclass(frozen=True)
class _Cells:
    plan: CellPlan
    fits: list[CellEstimate]
    n_treated: Array
    n_control: Array
    grid: Array
    knots: Array


def _fit_cells(s: DoseSample, opts: ContinuousOptions, log: WarningLog) -> _Cells:
    cells = plan(s, opts.base_period, opts.anticipation)
    cohort_idx = np.searchsorted(s.periods, s.cohort)  # inf (never treated): T
    knots = quantile_knots(positive_doses_of_treated_rows(s), opts.num_knots)
    treated_doses = s.dose[np.isfinite(s.cohort)]
    grid = (
        opts.dose_grid
        if opts.dose_grid is not None
        else np.linspace(treated_doses.min(), treated_doses.max(), GRID_POINTS)
    )
    col = {p: i for i, p in enumerate(s.periods)}
    n_basis = opts.degree + opts.num_knots + 1
    keep, fits, n_t, n_c = [], [], [], []
    skipped = 0
    for k, (g, t, base) in enumerate(zip(cells.group, cells.time, cells.base, strict=True)):
        treated = s.cohort == g
        if opts.control_group == "never_treated":
            control = ~np.isfinite(s.cohort)
        else:
            # untreated (and not anticipating) in both periods of the cell
            last = max(col[t], col[base]) + opts.anticipation
            control = (~np.isfinite(s.cohort) | (cohort_idx > last)) & ~treated
        if not control.any():
            skipped += 1
            continue
        if np.unique(s.dose[treated]).size < n_basis:
            raise DataValidationError(
                f"`dose`: cohort {g:g} has {np.unique(s.dose[treated]).size} distinct doses; "
                f"the sieve (degree {opts.degree}, {opts.num_knots} knots) needs at least "
                f"{n_basis}; lower `degree` or `num_knots`"
            )
        dy = s.y[:, col[t]] - s.y[:, col[base]]
        fits.append(cell_estimate(dy, s.dose, treated, control, grid, opts.degree, knots))
        keep.append(k)
        n_t.append(int(treated.sum()))
        n_c.append(int(control.sum()))
    if skipped:
        log.warn(
            f"{skipped} group-time cells have no comparison unit (every unit is treated by "
            "then and none is never treated); they were left out"
        )
    if not fits:
        raise DataValidationError("no group-time cell has both treated and comparison units")
    idx = np.array(keep, dtype=int)
    sub = CellPlan(group=cells.group[idx], time=cells.time[idx], base=cells.base[idx])
    return _Cells(sub, fits, np.array(n_t), np.array(n_c), grid, knots)


def _curve(
    grid: Array, est: Array, psi: Array, how: Inference, rng: np.random.Generator | None
) -> tuple[pd.DataFrame, str]:
    """ATT(d) or ACRT(d) table: pointwise columns and the uniform band."""
    pointwise, _ = infer(est, psi, Inference(level=how.level), None, uniform=False)
    if how.bootstrap is None:
        cols, method = pointwise, "normal"
        lo, hi = pointwise.ci_lower, pointwise.ci_upper
    else:
        cols, _ = infer(est, psi, how, rng, uniform=True)
        method = cols.ci_method
        lo, hi = cols.ci_lower, cols.ci_upper
        z = pointwise.crit
        cols = replace(cols, ci_lower=est - z * cols.se, ci_upper=est + z * cols.se)
    table = pd.DataFrame(
        {
            "dose": grid,
            "estimate": est,
            "std_error": cols.se,
            "ci_lower": cols.ci_lower,
            "ci_upper": cols.ci_upper,
            "p_value": cols.p_value,
            "band_lower": lo,
            "band_upper": hi,
        }
    )
    return table, method


def _overall(
    est: float, psi: Array, how: Inference, rng: np.random.Generator | None, **kw: Any
) -> EffectEstimate:
    cols, _ = infer(np.array([est]), psi[:, None], how, rng, uniform=False)
    se = float(cols.se[0])
    return EffectEstimate.from_wald(
        est, se if np.isfinite(se) else math.nan, level=how.level, df=None, **kw
    )


def _dose_result(
    s: DoseSample,
    cells: _Cells,
    base: dict[str, Any],
    how: Inference,
    rng: np.random.Generator | None,
) -> DoseResponse:
    w = dose_weights(cells.plan.group, cells.plan.time, s.cohort)
    on = np.flatnonzero(w > 0)

    def total(name: str) -> Any:
        return sum(w[k] * getattr(cells.fits[k], name) for k in on)

    common = {k: base[k] for k in ("n_obs", "n_treated", "n_control", "n_dropped", "outcome")}
    common.update(warnings=base["warnings"], provenance=base["provenance"])
    overall = _overall(
        float(total("att_o")),
        total("psi_att_o"),
        how,
        rng,
        estimand="ATT^o",
        **common,
        method=f"{base['method']}; overall ATT (average of ATT(D) over the treated)",
    )
    overall_acrt = _overall(
        float(total("acrt_o")),
        total("psi_acrt_o"),
        how,
        rng,
        estimand="ACRT^o",
        **common,
        method=f"{base['method']}; overall ACRT (average of ACRT(D) over the treated)",
    )
    psi_att, psi_acrt = total("psi_att_d"), total("psi_acrt_d")
    att_table, att_ci = _curve(cells.grid, total("att_d"), psi_att, how, rng)
    acrt_table, acrt_ci = _curve(cells.grid, total("acrt_d"), psi_acrt, how, rng)
    del common["outcome"]
    acrt = EffectTable(
        table=acrt_table, index_columns=("dose",), overall=overall_acrt, level=how.level,
        estimand="ACRT(d)", method=f"{base['method']}; ACRT(d)", ci_method=acrt_ci, **common,
    )  # fmt: skip
    details = {
        **base["details"],
        "knots": cells.knots,
        "cells": _cell_frame(cells, w),
        "influence_att": psi_att,
        "influence_acrt": psi_acrt,
    }
    return DoseResponse(
        table=att_table, index_columns=("dose",), overall=overall, level=how.level,
        estimand="ATT(d)", method=f"{base['method']}; ATT(d)", ci_method=att_ci,
        details=details, acrt=acrt, overall_acrt=overall_acrt, **common,
    )  # fmt: skip


def _cell_frame(cells: _Cells, w: Array) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "group": cells.plan.group,
            "time": cells.plan.time,
            "base_period": cells.plan.base,
            "weight": w,
            "att_o": [f.att_o for f in cells.fits],
            "acrt_o": [f.acrt_o for f in cells.fits],
            "n_treated": cells.n_treated,
            "n_control": cells.n_control,
        }
    )


def _event_study(
    s: DoseSample,
    cells: _Cells,
    opts: ContinuousOptions,
    base: dict[str, Any],
    how: Inference,
    rng: np.random.Generator | None,
) -> AggregatedEffects:
    slope = opts.target == "slope"
    fit = GroupTimeFit(
        group=cells.plan.group,
        time=cells.plan.time,
        base=cells.plan.base,
        att=np.array([f.acrt_o if slope else f.att_o for f in cells.fits]),
        influence=np.column_stack([f.psi_acrt_o if slope else f.psi_att_o for f in cells.fits]),
        n_treated=cells.n_treated,
        n_control=cells.n_control,
        unit_cohort=s.cohort,
        weights=np.ones(s.cohort.size),
        periods=s.periods,
    )
    result = build_aggregate(
        fit, "dynamic", how, rng, min_e=None, max_e=None, balance_e=None, base=base
    )
    estimand = "ACRT^o(e)" if slope else "ATT^o(e)"
    details = {
        **result.details,
        **base["details"],
        "cells": _cell_frame(cells, np.full(len(cells.fits), np.nan)),
    }
    return replace(result, estimand=estimand, details=details)


def continuous(
    data: object,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    dose: str,
    aggregation: str = "dose",
    target: str = "level",
    degree: int = 3,
    num_knots: int = 0,
    dose_grid: Any = None,
    control_group: str = "not_yet_treated",
    base_period: str = "varying",
    anticipation: int = 0,
    bootstrap: int | None = None,
    rng: int | np.random.Generator | None = None,
    level: float = 0.95,
) -> DoseResponse | AggregatedEffects:
    """Difference in differences with a continuous dose (Callaway, Goodman-Bacon and
    Sant'Anna 2024).

    Each unit receives a dose ``D >= 0`` from its cohort's first treated period on (0 =
    never treated). In every 2x2 cell (cohort ``g``, period ``t``, against the base period)
    the outcome change of cohort ``g`` is regressed on a B-spline sieve of the dose; the
    comparison units' mean change is the counterfactual. Under strong parallel trends
    ``ATT(d)`` is the effect of dose ``d`` and ``ACRT(d) = ATT'(d)`` the average causal
    response (the effect of a marginal increase of the dose). ``ATT^o`` and ``ACRT^o`` are
    their averages over the treated units' doses. With staggered adoption the cells
    are averaged with did's "simple" weights (cohort share, equal within cohort) into the
    dose curves, or by event time into an event study.

    Parameters
    ----------
    data : pandas.DataFrame
        Balanced long panel, one row per unit and period (polars and pyarrow tables are
        converted). Units with missing outcomes are dropped, with a warning.
    outcome, unit, time : str
        Outcome (numeric), unit and period (numeric) columns.
    cohort : str
        First treated period (0 or missing = never treated; constant within unit). Units
        treated in the first period are dropped (no pre-treatment outcome), with a warning;
        units first treated after the last period are untreated in the sample (their dose is
        not read).
    dose : str
        The dose (numeric, >= 0, no missing values): constant within unit over its treated
        periods, 0 or the same value before, 0 for never-treated units.
    aggregation : {"dose", "event_study"}
        ``"dose"``: ATT(d) and ACRT(d) on ``dose_grid`` and the overall ATT^o and ACRT^o
        (moderndid ``aggregation="dose"``). ``"event_study"``: the cells' ATT^o (or ACRT^o
        with ``target="slope"``) averaged by event time ``t - g`` (``"eventstudy"``).
    target : {"level", "slope"}
        ``"event_study"`` only: aggregate the cells' overall ATT or ACRT.
    degree : int, default 3
        Degree of the B-spline in the dose (with ``num_knots=0`` a global polynomial).
    num_knots : int, default 0
        Interior knots, at equally spaced quantiles of the doses of the treated
        unit-periods.
    dose_grid : sequence of float, optional
        Doses at which ATT(d) and ACRT(d) are reported; 50 equally spaced points over the
        treated units' doses by default.
    control_group : {"not_yet_treated", "never_treated"}
        Comparison units in cell ``(g, t)``: units not treated by ``t`` nor by the base
        period (default, as moderndid) or never treated only.
    base_period : {"varying", "universal"}
        Pre-treatment cells compare with the previous period (``"varying"``) or with the
        period before treatment (``"universal"``, from the first period on; the reference
        period itself has no row); post-treatment cells always use the period before
        treatment.
    anticipation : int, default 0
        Periods before its cohort in which a unit may already react: its post-treatment
        cells compare with the period ``anticipation + 1`` periods before the cohort, and
        not-yet-treated comparison units must be ``anticipation`` periods from their own
        cohort in both periods (did's convention; periods counted as positions in the
        sorted periods).
    bootstrap : int, optional
        Multiplier-bootstrap draws (Rademacher, as did's ``mboot``): SEs from the
        bootstrap and a uniform (sup-t) band over the dose grid or the event times.
        None (default): analytic influence-function SEs and pointwise bands.
    rng : int or numpy.random.Generator, optional
        Seed for the bootstrap.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    DoseResponse or AggregatedEffects
        ``"dose"``: :class:`DoseResponse` (ATT(d) rows, ``.acrt`` the ACRT(d) rows,
        ``.overall`` ATT^o, ``.overall_acrt`` ACRT^o, ``.plot()`` both curves).
        ``"event_study"``: an event-study table (``event_time`` rows, ``.overall`` the
        average over post-treatment event times, ``.plot()``).

    Notes
    -----
    Point estimates equal moderndid 0.2.0's ``cont_did`` (parametric). The standard
    errors are influence-function based and differ from moderndid's where moderndid's
    differ from the delta method: its ATT^o uses the ACRT^o influence function, its ACRT^o
    influence function is scaled by the cell size instead of the treated count, and its
    ATT(d) omits the comparison mean's variance (see the reference tests).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import impacteval as ie
    >>> rng = np.random.default_rng(0)
    >>> n = 400
    >>> d = np.where(np.arange(n) < 150, 0.0, rng.uniform(0.1, 1.0, n))
    >>> y0 = rng.normal(size=n)  # the effect of dose d is 2 d: ACRT(d) = 2
    >>> y1 = y0 + 0.5 + 0.05 * rng.normal(size=n) + 2.0 * d
    >>> df = pd.DataFrame({"id": np.repeat(np.arange(n), 2), "t": np.tile([1, 2], n),
    ...                    "y": np.column_stack([y0, y1]).ravel(),
    ...                    "g": np.repeat(np.where(d > 0, 2, 0), 2), "d": np.repeat(d, 2)})
    >>> res = ie.did.continuous(df, outcome="y", unit="id", time="t", cohort="g", dose="d",
    ...                         degree=1)
    >>> round(res.overall_acrt.estimate, 1)
    2.0
    """
    opts = check_options(
        outcome=outcome, unit=unit, time=time, cohort=cohort, dose=dose,
        aggregation=aggregation, target=target, degree=degree, num_knots=num_knots,
        dose_grid=dose_grid, control_group=control_group, base_period=base_period,
        anticipation=anticipation, bootstrap=bootstrap, level=level,
    )  # fmt: skip
    gen, seed = check_rng(rng)
    log = WarningLog()
    frame = check_dataframe(data)
    sample = dose_sample(frame, opts, log)
    cells = _fit_cells(sample, opts, log)
    how = Inference(level=opts.level, bootstrap=opts.bootstrap)
    options = {k: getattr(opts, k) for k in opts.__dataclass_fields__ if k != "dose_grid"}
    options["dose_grid"] = None if opts.dose_grid is None else opts.dose_grid.tolist()
    provenance = Provenance(
        options=options,
        data_fingerprint=fingerprint(frame, columns_used(opts)),
        seed=seed,
    )
    treated = np.isfinite(sample.cohort)
    base: dict[str, Any] = {
        "method": f"continuous DiD (CGS 2024), B-spline degree {opts.degree}, "
        f"{opts.num_knots} knots, {opts.control_group.replace('_', '-')} controls; "
        f"{how.label}",
        "n_obs": sample.n_rows,
        "n_treated": int(treated.sum()),
        "n_control": int((~treated).sum()),
        "n_dropped": sample.n_dropped,
        "outcome": opts.outcome,
        "warnings": log.messages,
        "provenance": provenance,
        "details": {
            "units": sample.units,
            "n_units_unbalanced": sample.n_unbalanced,
            "n_units_always_treated": sample.n_always_treated,
        },
    }
    if opts.aggregation == "event_study":
        return _event_study(sample, cells, opts, base, how, gen)
    return _dose_result(sample, cells, base, how, gen)
