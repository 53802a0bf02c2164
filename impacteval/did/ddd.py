"""Triple differences with staggered adoption (Ortiz-Villavicencio & Sant'Anna 2025).

The entry point :func:`ddd` reads as its pipeline: check the arguments, code the panel
once (:func:`impacteval._panel.prepare_panel`), apply the sample rules (balanced panel,
cohorts after the data are never enabled, cohorts enabled in the first period dropped),
estimate every ATT(g, t) (:func:`impacteval.did.ddd_numerics.ddd_group_time`, or
:func:`impacteval.did.ddd_rc_numerics.ddd_group_time_rc` for repeated cross-sections with
``panel=False``) and build a
:class:`TripleDifferenceEffects`, which is a
:class:`~impacteval.did.group_time.GroupTimeEffects`: the aggregations, the multiplier
bootstrap, the pre-trend test and the plot are those of ``att_gt``, read from the cells'
influence functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._panel import Panel, format_label, prepare_panel
from impacteval._validation import (
    as_column_list,
    check_choice,
    check_dataframe,
    check_level,
    check_positive_int,
    check_rng,
    group_codes,
)
from impacteval._warn import WarningLog
from impacteval.did._drdid import CellError
from impacteval.did.aggregate import Inference, build_aggregate, infer
from impacteval.did.ddd_numerics import (
    DDD_METHODS,
    SUBGROUP_NAMES,
    PanelArrays,
    ddd_group_time,
    ddd_two_period,
)
from impacteval.did.ddd_rc_numerics import CrossSections, ddd_group_time_rc, ddd_two_period_rc
from impacteval.did.group_time import GroupTimeEffects
from impacteval.exceptions import DataValidationError, SmallSampleWarning
from impacteval.results import Provenance, fingerprint_in_background

__all__ = ["TripleDifferenceEffects", "ddd"]

_METHOD_LABELS = {
    "dr": "doubly robust",
    "ipw": "normalised IPW",
    "reg": "outcome regression",
}


@dataclass(frozen=True, kw_only=True)
class TripleDifferenceEffects(GroupTimeEffects):
    """Triple-difference ATT(g, t) of the eligible units of each enabled cohort.

    The same object as :func:`impacteval.did.att_gt` returns (``.aggregate()``,
    ``.aggregate_window()``, ``.pretrend_test()``, ``.plot()``, typed ``.vcov`` on the
    aggregations), with ATT(g, t) from :func:`ddd`. ``table`` adds ``n_control`` = units of
    the comparison cohorts (both partitions) and ``n_treated`` = eligible units of cohort
    ``g``. ``details`` adds ``subgroup_counts`` and, with two periods, ``did_components``
    (the three DiDs: 4 vs 3, 4 vs 2, 4 vs 1), plus ``cells_gmm`` (cells that combine
    several comparison cohorts by GMM).
    """


@dataclass(frozen=True)
class _Options:
    outcome: str
    unit: str | None
    time: str
    cohort: str
    partition: str
    covariates: tuple[str, ...]
    control_group: str
    method: str
    base_period: str
    weights: str | None
    cluster: str | None
    bootstrap: int | None
    level: float
    panel: bool


def _check_options(**kw: Any) -> _Options:
    if not isinstance(kw["panel"], (bool, np.bool_)):
        raise DataValidationError(f"`panel` must be True or False; received {kw['panel']!r}")
    if kw["unit"] is None and kw["panel"]:
        raise DataValidationError(
            "`unit` is required for panel data; pass the unit identifier column, or "
            "panel=False for repeated cross-sections"
        )
    for name in ("outcome", "time", "cohort", "partition"):
        if not isinstance(kw[name], str):
            raise DataValidationError(
                f"`{name}` must be a column name (str); received {kw[name]!r}"
            )
    for name in ("unit", "weights", "cluster"):
        if kw[name] is not None and not isinstance(kw[name], str):
            raise DataValidationError(
                f"`{name}` must be a column name (str) or None; received {kw[name]!r}"
            )
    boot = kw["bootstrap"]
    return _Options(
        outcome=kw["outcome"],
        unit=kw["unit"],
        time=kw["time"],
        cohort=kw["cohort"],
        partition=kw["partition"],
        covariates=tuple(as_column_list(kw["covariates"], "covariates")),
        control_group=check_choice(
            kw["control_group"], "control_group", ("never_treated", "not_yet_treated")
        ),
        method=check_choice(kw["method"], "method", tuple(DDD_METHODS)),
        base_period=check_choice(kw["base_period"], "base_period", ("varying", "universal")),
        weights=kw["weights"],
        cluster=kw["cluster"],
        bootstrap=None if boot is None else check_positive_int(boot, "bootstrap", minimum=2),
        level=check_level(kw["level"]),
        panel=bool(kw["panel"]),
    )


def ddd(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str | None = None,
    time: str,
    cohort: str,
    partition: str,
    covariates: Sequence[str] = (),
    control_group: str = "never_treated",
    method: str = "dr",
    base_period: str = "varying",
    weights: str | None = None,
    cluster: str | None = None,
    bootstrap: int | None = None,
    rng: int | np.random.Generator | None = None,
    level: float = 0.95,
    panel: bool = True,
) -> TripleDifferenceEffects:
    """Triple-difference group-time ATTs (Ortiz-Villavicencio & Sant'Anna 2025).

    Treatment reaches a unit when its group enables it (period ``cohort``) **and** the
    unit is in the eligible partition (``partition == 1``). ATT(g, t) is the effect on the
    eligible units of cohort ``g`` in period ``t``; with two periods and one cohort the
    table has one row and ``.overall`` is the two-period DDD.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per unit and period; with ``panel=False``, repeated
        cross-sections (one row per observation, each observed once).
    outcome, time : str
        Outcome and (numeric) period columns.
    unit : str, optional
        Unit identifier; required for panel data, not used with ``panel=False``.
    cohort : str
        First period in which the unit's group enables treatment; 0, missing or +inf =
        never enabled. Constant within unit. Cohorts after the last period count as never
        enabled (with a warning); units enabled in the first period have no pre-period and
        are dropped (with a warning).
    partition : str
        0/1 eligibility (``Q``), constant within unit; both values must occur.
    covariates : sequence of str
        Covariates for the DDD conditional parallel trends. Panels: each cell uses their
        values in the earlier of its base period and ``t`` (as ``att_gt``). Repeated
        cross-sections: each row's own values.
    control_group : {"never_treated", "not_yet_treated"}
        Comparison cohorts: never enabled, or also enabled after ``max(t, base)``. With
        several comparison cohorts a cell estimates one DDD per cohort and combines them
        by optimal GMM (the paper's eq. 4.11-4.12), never by pooling them.
    method : {"dr", "ipw", "reg"}
        Each of the three 2x2 DiDs: doubly robust (``DRDID::drdid_panel``; with
        ``panel=False`` the locally efficient ``drdid_rc``), normalised IPW
        (``std_ipw_did_panel`` / ``std_ipw_did_rc``) or outcome regression
        (``reg_did_panel`` / ``reg_did_rc``).
    base_period : {"varying", "universal"}
        Pre-treatment cells compare ``t`` with ``t - 1`` (varying) or with ``g - 1``
        (universal; the cell ``t = g - 1`` is the normalised zero). Post-treatment cells
        always use ``g - 1``.
    weights : str, optional
        Sampling weights, constant within unit (normalised to mean one; per row with
        ``panel=False``).
    cluster : str, optional
        Cluster column (constant within unit) for cluster-sum influence-function SEs.
    bootstrap : int, optional
        Multiplier-bootstrap draws (Rademacher), as ``att_gt``: bootstrap SEs and a
        simultaneous band over the cells.
    rng : int or numpy.random.Generator, optional
        Seed for the bootstrap.
    level : float
        Confidence level.
    panel : bool
        True (default): a panel, balanced by dropping units not seen in every period.
        False: repeated cross-sections (the DDD built from Sant'Anna & Zhao's 2020
        repeated cross-section DiDs, as ``triplediff`` / ``moderndid`` do): a cell
        ``(g, t)`` uses the rows of periods ``t`` and its base period in cohort ``g`` and
        its comparison cohorts, outcome models are fitted per subgroup and period, and
        influence functions, cohort shares, clusters and the bootstrap are per row
        (``n`` = rows). ``cohort``, ``partition``, ``weights`` and ``cluster`` are read
        per row; every subgroup needs rows in both periods of each cell.

    Returns
    -------
    TripleDifferenceEffects
        One row per (group, time); ``.overall`` is the cohort-size weighted average of the
        post-treatment cells (``aggregate("simple")``).

    Raises
    ------
    DataValidationError
        Bad arguments or columns, a partition that is not 0/1 or changes within a unit, no
        enabled cohort, no never-enabled units with ``control_group="never_treated"``, an
        empty subgroup (with ``panel=False``: in one of the cell's two periods) or a failed
        nuisance fit in a cell (the message names the cell); ``unit`` missing with
        ``panel=True``; ``panel`` not a bool.

    Warns
    -----
    SmallSampleWarning
        A subgroup that a reported cell uses (the eligible or the ineligible units of the
        cell's cohort or of one of its comparison cohorts) has fewer than
        ``len(covariates) + 5`` units (with ``panel=False``: rows in one of the cell's two
        periods), the size below which ``att_gt`` warns about a cohort, as R ``did`` does.
        The message names each such subgroup, its role (treated, enabled ineligible,
        eligible or ineligible comparison) and its smallest count. The cells' SEs rest on
        those few units; the estimate is unchanged (ddd warns, it does not refuse).
    ImpactEvalWarning
        Units dropped to balance the panel or because they are enabled in the first
        period; cohorts after the last period counted as never enabled; cells without a
        comparison cohort (not reported).

    Every warning is also recorded on the result's ``warnings``.

    Notes
    -----
    Identification (the paper's DDD conditional parallel trends): given ``X``, the gap
    between the untreated outcome trends of eligible and ineligible units is the same in
    every enabling cohort; no anticipation. Trends may differ by eligibility and by
    cohort, which ordinary DiD does not allow. Each cell sums three 2x2 DiDs of the treated
    subgroup against the other three (4 vs 3 + 4 vs 2 - 4 vs 1, see
    :mod:`impacteval.did.ddd_numerics`), each reweighted to the treated's covariates; with
    covariates this differs from the naive difference of an eligible and an ineligible
    DiD, which the paper shows is biased. Standard errors are ``sqrt(sum_i IF_i^2) / n``
    from the cells' influence functions (R ``did``'s convention, also that of the
    multi-period ``triplediff`` / ``moderndid``; for two periods those report
    ``sd(IF) / sqrt(n)``, larger by ``sqrt(n / (n - 1))``). For GMM cells the SE is the
    influence-function one, which the aggregations also use (``moderndid`` 0.2.0 reports
    ``sqrt(1 / (n 1' Omega^-1 1))`` there). Aggregations include the influence function
    of the estimated cohort shares, as R ``did::aggte`` and ``triplediff::agg_ddd`` do
    (``moderndid`` 0.2.0's ``agg_ddd`` leaves it out, so its aggregate SEs are smaller).
    Cohort shares count both partitions (as ``triplediff``). No anticipation. Repeated
    cross-sections are checked against ``moderndid`` 0.2.0's ``ddd(panel=False)``
    (whose staggered version ignores sampling weights; impacteval uses them).

    References
    ----------
    Ortiz-Villavicencio, M. & Sant'Anna, P. H. C. (2025). Better understanding triple
    differences estimators. arXiv:2505.09942. R: ``triplediff::ddd``; Python:
    ``moderndid.ddd``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import impacteval as ie
    >>> rng = np.random.default_rng(0)
    >>> n = 400
    >>> s = np.where(rng.random(n) < 0.5, 2, 0); q = (rng.random(n) < 0.5).astype(int)
    >>> y0 = rng.normal(size=n) + q; y1 = y0 + 0.5 * q + s / 2 + 2.0 * (s == 2) * q
    >>> df = pd.DataFrame({"id": np.repeat(np.arange(n), 2), "t": np.tile([1, 2], n),
    ...     "y": np.column_stack([y0, y1]).ravel(), "s": np.repeat(s, 2),
    ...     "q": np.repeat(q, 2)})
    >>> res = ie.did.ddd(df, outcome="y", unit="id", time="t", cohort="s", partition="q")
    >>> round(res.overall.estimate, 6)
    2.0
    """
    opts = _check_options(**{k: v for k, v in locals().items() if k not in ("data", "rng")})
    gen, seed = check_rng(rng)
    frame = check_dataframe(data)
    used = [opts.outcome, opts.time, opts.cohort, opts.partition, *opts.covariates]
    unit_col = opts.unit if opts.panel else None
    used += [c for c in (unit_col, opts.weights, opts.cluster) if c is not None]
    digest = fingerprint_in_background(frame, list(dict.fromkeys(used)))
    log = WarningLog()
    coded = _prepare(frame, opts, log)
    arrays, clusters = _arrays(coded, opts, log)
    estimate = ddd_group_time_rc if isinstance(arrays, CrossSections) else ddd_group_time
    try:
        fit, counts = estimate(
            arrays, method=opts.method, control_group=opts.control_group,  # type: ignore[arg-type]
            base_period=opts.base_period,
        )  # fmt: skip
    except CellError as exc:
        raise DataValidationError(f"ddd: {exc}") from exc
    if counts["cells_without_comparison"]:
        log.warn(
            f"{counts['cells_without_comparison']} group-time cells have no comparison "
            "cohort (no unit is enabled after the cell's periods) and are not reported"
        )
    _warn_small_subgroups(arrays, fit, opts, log)
    how = Inference(
        level=opts.level,
        clusters=None if clusters is None else clusters[0],
        n_clusters=None if clusters is None else clusters[1],
        bootstrap=opts.bootstrap,
    )
    extra = _extra_details(arrays, opts, counts)
    return _build(fit, arrays, coded, opts, how, log, gen, seed, digest(), extra)


def _warn_small_subgroups(
    arrays: PanelArrays | CrossSections, fit: Any, opts: _Options, log: WarningLog
) -> None:
    """Warn (SmallSampleWarning) when a subgroup a reported cell uses is small.

    The subgroups of a cell ``(g, t)`` with base period ``b`` are the eligible and
    ineligible units of cohort ``g`` and of each comparison cohort (never enabled, or with
    ``control_group="not_yet_treated"`` also enabled after ``max(t, b)``), as in
    :mod:`impacteval.did.ddd_numerics`. Panels count units; repeated cross-sections count
    the subgroup's rows in each of the cell's two periods (its outcome models are fitted
    per period) and keep the smaller. A subgroup is small below ``len(covariates) + 5``,
    the threshold at which ``att_gt`` (as R ``did``) warns about a cohort. Each small
    subgroup is reported once, with its smallest count and its roles.
    """
    need = len(opts.covariates) + 5
    cohort, eligible = arrays.cohort, arrays.eligible
    never = ~np.isfinite(cohort)
    rc = isinstance(arrays, CrossSections)
    small: dict[tuple[float, bool], tuple[int, set[int]]] = {}
    for g, t, b in zip(fit.group, fit.time, fit.base, strict=True):
        if t == b:  # the normalised zero of base_period="universal": no data used
            continue
        if isinstance(arrays, CrossSections):
            idx = np.searchsorted(arrays.periods, (t, b))
            slices = [arrays.period == idx[0], arrays.period == idx[1]]
        else:
            slices = [np.ones(cohort.size, dtype=bool)]
        used = np.logical_or.reduce(slices)
        comps = never.copy()
        if opts.control_group == "not_yet_treated":
            comps |= cohort > max(t, b)
        comps &= cohort != g
        for on_treated_side, members in ((True, cohort == g), (False, comps)):
            for c in np.unique(cohort[members & used]):
                for elig in (True, False):
                    sub = (cohort == c) & (eligible == elig)
                    k = min(int(np.count_nonzero(sub & rows)) for rows in slices)
                    if k >= need:
                        continue
                    code = 1 + int(elig) + 2 * int(on_treated_side)
                    old_k, roles = small.get((float(c), elig), (k, set()))
                    small[(float(c), elig)] = (min(k, old_k), roles | {code})
    if not small:
        return
    parts = []
    for (c, elig), (k, roles) in sorted(small.items()):
        group = "never enabled" if not np.isfinite(c) else f"cohort {format_label(c)}"
        role = " and ".join(SUBGROUP_NAMES[r] for r in sorted(roles, reverse=True))
        parts.append(f"{group} & {'eligible' if elig else 'ineligible'} ({role}): {k}")
    what = "observations" if rc else "units"
    per = "per subgroup in a cell's period" if rc else "per subgroup"
    log.warn(
        f"`cohort` x `partition`: small subgroups ({what} {per}: {'; '.join(parts)}; "
        f"fewer than {need}, where att_gt warns about a cohort, as R did does): "
        f"the ATT(g,t) of the cells that use them rest on so few {what} that the "
        "influence-function standard errors are unreliable (with a single one, far too "
        "small); prefer randomization inference or report them descriptively",
        SmallSampleWarning,
    )


def _prepare(frame: pd.DataFrame, opts: _Options, log: WarningLog) -> Panel:
    panel = prepare_panel(
        frame,
        unit=opts.unit if opts.panel else None,
        time=opts.time,
        outcome=opts.outcome,
        cohort=opts.cohort,
        numeric={
            "partition": opts.partition,
            "covariates": list(opts.covariates),
            "weights": opts.weights,
        },
        labels={"cluster": opts.cluster},
        unit_constant=("partition", "weights", "cluster"),
    )
    if opts.panel and not panel.balanced:
        keep = panel.complete_units
        if not keep.any():
            raise DataValidationError(
                "ddd needs a balanced panel: no unit is observed in every period"
            )
        log.warn(
            f"dropped {int((~keep).sum())} units not observed in every period (ddd needs a "
            "balanced panel)"
        )
        panel = panel.restrict(keep_unit=keep)
    return panel


def _arrays(
    panel: Panel, opts: _Options, log: WarningLog
) -> tuple[PanelArrays | CrossSections, tuple[np.ndarray, int] | None]:
    """The estimation arrays: per unit (panel) or per row (``panel=False``)."""
    assert panel.cohort is not None  # prepare_panel was given the cohort column
    what = "units" if opts.panel else "observations"
    periods = panel.periods
    cohort = panel.cohort.copy()
    late = np.isfinite(cohort) & (cohort > periods[-1])
    if late.any():
        log.warn(
            f"`cohort`: {int(late.sum())} {what} are enabled after the last period; they "
            "count as never enabled"
        )
        cohort[late] = np.inf
    first = np.isfinite(cohort) & (cohort <= periods[0])
    keep = ~first
    if first.any():
        log.warn(
            f"dropped {int(first.sum())} {what} enabled in the first period: they have no "
            "pre-treatment period"
        )
    q, w, cohort = _unit_columns(panel, opts, keep, cohort[keep])
    clusters = _clusters(panel, opts, keep)
    if opts.panel:
        y = np.asarray(panel.wide(opts.outcome))[keep]
        x = np.asarray(panel.wide(list(opts.covariates)))[keep] if opts.covariates else None
        return PanelArrays(y=y, cohort=cohort, eligible=q, x=x, w=w, periods=periods), clusters
    rows = keep[panel.unit_codes]  # one unit per row
    covs = list(opts.covariates)
    arrays = CrossSections(
        y=np.asarray(panel.column(opts.outcome))[rows],
        period=np.asarray(panel.period_codes)[rows],
        cohort=cohort,
        eligible=q,
        x=np.asarray(panel.column(covs))[rows] if covs else None,
        w=w,
        periods=periods,
    )
    return arrays, clusters


def _unit_columns(
    panel: Panel, opts: _Options, keep: np.ndarray, cohort: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked eligibility, weights (mean one) and cohort of the kept units (or rows)."""
    q = panel.unit_values["partition"][keep]
    if not np.all(np.isin(q, (0.0, 1.0))) or np.unique(q).size < 2:
        raise DataValidationError(
            f"`partition`: column {opts.partition!r} must be 0/1 eligibility with both "
            f"values present; received values {sorted(set(np.unique(q).tolist()))[:6]}"
        )
    w_raw = panel.unit_values.get("weights")
    if w_raw is not None and (np.any(w_raw < 0) or not np.any(w_raw > 0)):
        raise DataValidationError(
            f"`weights`: column {opts.weights!r} must be non-negative and not all zero"
        )
    w = np.ones(int(keep.sum())) if w_raw is None else w_raw[keep] / np.mean(w_raw[keep])
    if not np.isfinite(cohort).any():
        raise DataValidationError(
            f"`cohort`: column {opts.cohort!r} has no unit enabled within the data "
            "(after dropping units enabled in the first period)"
        )
    if opts.control_group == "never_treated" and np.isfinite(cohort).all():
        raise DataValidationError(
            f"`cohort`: column {opts.cohort!r} has no never-enabled units (0 or missing); "
            "use control_group='not_yet_treated'"
        )
    return q == 1.0, w, cohort


def _clusters(panel: Panel, opts: _Options, keep: np.ndarray) -> tuple[np.ndarray, int] | None:
    if opts.cluster is None:
        return None
    raw = panel.unit_values.get("cluster")  # absent when cluster is the unit column
    labels = np.asarray(panel.unit_labels) if raw is None else np.asarray(raw)
    codes, n_cl = group_codes(pd.Series(labels[keep]))
    if n_cl < 2:
        raise DataValidationError(
            f"`cluster`: column {opts.cluster!r} must give at least 2 clusters; received {n_cl}"
        )
    return codes, n_cl


def _extra_details(
    arrays: PanelArrays | CrossSections, opts: _Options, counts: dict[str, int]
) -> dict[str, Any]:
    enabled = np.isfinite(arrays.cohort)
    sub = {
        "enabled_eligible": int(np.sum(enabled & arrays.eligible)),
        "enabled_ineligible": int(np.sum(enabled & ~arrays.eligible)),
        "never_enabled_eligible": int(np.sum(~enabled & arrays.eligible)),
        "never_enabled_ineligible": int(np.sum(~enabled & ~arrays.eligible)),
    }
    extra: dict[str, Any] = {"subgroup_counts": sub, "cells_gmm": counts["cells_gmm"]}
    cohorts = np.unique(arrays.cohort[enabled])
    if arrays.periods.size == 2 and cohorts.size == 1 and isinstance(arrays, CrossSections):
        x = np.ones((int(arrays.cohort.size), 1))
        if arrays.x is not None:
            x = np.column_stack([x, arrays.x])
        res = ddd_two_period_rc(
            arrays.y, arrays.period == 1, enabled, arrays.eligible, x, arrays.w, opts.method
        )
        extra["did_components"] = dict(
            zip(("4_vs_3", "4_vs_2", "4_vs_1"), res.did_atts, strict=True)
        )
    elif arrays.periods.size == 2 and cohorts.size == 1:
        x = np.ones((int(arrays.cohort.size), 1))
        if arrays.x is not None:
            x = np.column_stack([x, arrays.x[:, 0, :]])
        res = ddd_two_period(
            arrays.y[:, 1] - arrays.y[:, 0], enabled, arrays.eligible, x, arrays.w,
            opts.method,
        )  # fmt: skip
        extra["did_components"] = dict(
            zip(("4_vs_3", "4_vs_2", "4_vs_1"), res.did_atts, strict=True)
        )
    return extra


def _build(
    fit: Any,
    arrays: PanelArrays | CrossSections,
    panel: Panel,
    opts: _Options,
    how: Inference,
    log: WarningLog,
    rng: np.random.Generator,
    seed: int | None,
    digest: str,
    extra: dict[str, Any],
) -> TripleDifferenceEffects:
    cols, _ = infer(fit.att, fit.influence, how, rng, uniform=True)
    integer = bool(np.all(np.mod(np.r_[arrays.periods, fit.group], 1) == 0))

    def out(values: np.ndarray) -> np.ndarray:
        return values.astype(np.int64) if integer else values

    table = pd.DataFrame(
        {
            "group": out(fit.group),
            "time": out(fit.time),
            "estimate": fit.att,
            "std_error": cols.se,
            "ci_lower": cols.ci_lower,
            "ci_upper": cols.ci_upper,
            "p_value": cols.p_value,
            "event_time": out(fit.time - fit.group),
            "base_period": out(fit.base),
            "n_treated": fit.n_treated,
            "n_control": fit.n_control,
        }
    )
    label = (
        f"triple differences (Ortiz-Villavicencio & Sant'Anna 2025), "
        f"{_METHOD_LABELS[opts.method]}, {opts.control_group.replace('_', '-')} "
        f"comparison cohorts, {opts.base_period} base period; {how.label}"
    )
    options = {k: getattr(opts, k) for k in _Options.__dataclass_fields__}
    provenance = Provenance(options=options, data_fingerprint=digest, seed=seed)
    enabled = np.isfinite(arrays.cohort)
    base: dict[str, Any] = {
        "method": label,
        "n_obs": int(arrays.y.size),
        "n_treated": int(np.sum(enabled & arrays.eligible)),
        "n_control": int(np.sum(~(enabled & arrays.eligible))),
        "n_dropped": int(panel.n_dropped),
        "outcome": opts.outcome,
        "warnings": log.messages,
        "provenance": provenance,
    }
    agg = build_aggregate(fit, "simple", how, rng, min_e=None, max_e=None, balance_e=None,
                          base=base)  # fmt: skip
    details = {
        "influence": fit.influence,
        "fit": fit,
        "outcome": opts.outcome,
        "critical_value": cols.crit,
        "inference": how.label,
        "n_units": int(arrays.cohort.size),
        "periods": arrays.periods.tolist(),
        **extra,
    }
    return TripleDifferenceEffects(
        table=table,
        index_columns=("group", "time"),
        overall=agg.overall,
        level=opts.level,
        estimand="ATT",
        n_clusters=how.n_clusters,
        ci_method=cols.ci_method,
        details=details,
        fit=fit,
        inference_setup=how,
        **{k: base[k] for k in ("method", "n_obs", "n_treated", "n_control", "n_dropped")},
        **{k: base[k] for k in ("warnings", "provenance")},
    )
