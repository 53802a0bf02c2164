"""Inference for the synthetic control: placebo tests in space and time, leave-one-out,
and conformal per-period inference (Chernozhukov, Wuthrich & Zhu 2021)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from impacteval._validation import short_repr
from impacteval._warn import WarningLog, warn_user
from impacteval.exceptions import DataValidationError, ImpactEvalWarning
from impacteval.results import EffectEstimate, EffectTable, Provenance
from impacteval.synth._scm_core import FitSpec, UnitFit, fit_unit, run_many
from impacteval.synth._scm_data import PredictorSpec, predictor_matrix
from impacteval.synth._scm_design import Design
from impacteval.synth._scm_numerics import simplex_lstsq

__all__ = [
    "EXACT_FIT_RTOL",
    "LeaveOneOut",
    "PlaceboTest",
    "backdate",
    "conformal_table",
    "leave_one_out",
    "placebo_space",
    "rank_placebos",
    "rmspe_ratio",
    "time_placebo",
]

_RULE = (
    "p = (1 + #placebos with post/pre RMSPE ratio >= the treated unit's) / (1 + #placebos): "
    "the treated unit counts itself, so the smallest p-value is 1 / (number of units)"
)

EXACT_FIT_RTOL = 1e-10
"""An RMSPE at most this times the largest absolute outcome counts as an exact fit (0)."""


def rmspe_ratio(post: np.ndarray, pre: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Post/pre RMSPE ratios with exact fits made explicit.

    An RMSPE within ``EXACT_FIT_RTOL * scale`` of 0 (``scale``: the largest absolute
    outcome) is rounding, not misfit, and its size depends on the floating-point
    arithmetic of the machine. Such a pre-period RMSPE is taken as exactly 0: the ratio is
    ``inf`` when the post-period RMSPE is not also 0 (a gap opens after a perfect fit, the
    most extreme value the rank test can see; tied infinite placebos count against the
    treated unit) and NaN when both are 0 (no gap at all: nothing to rank). Returns the
    ratios and a mask of the units whose pre-period fit was exact.
    """
    tol = EXACT_FIT_RTOL * max(float(scale), np.finfo(float).tiny)
    post0 = np.where(post <= tol, 0.0, post)
    exact = pre <= tol
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(exact, np.where(post0 > 0, np.inf, np.nan), post0 / pre)
    return np.asarray(ratio, dtype=float), np.asarray(exact)


def _warn_exact(names: list[Any], exact: np.ndarray, what: str, log: WarningLog | None) -> None:
    """Warn (and record on ``log`` when given) that some pre-period fits are exact."""
    if exact.any():
        units = [n for n, e in zip(names, exact, strict=True) if e]
        message = (
            f"{what}: the pre-period fit of {units} is exact (RMSPE 0 up to rounding), so "
            "the post/pre RMSPE ratio is inf where a post-period gap opens and NaN where "
            "there is none; rank on post-period MSPE (`p_value_post_mspe`) or inspect the "
            "gaps instead"
        )
        if log is None:
            warn_user(message, ImpactEvalWarning)
        else:
            log.warn(message, ImpactEvalWarning)


@dataclass(frozen=True)
class PlaceboTest:
    """Result of a placebo test.

    Attributes
    ----------
    kind : str
        "space" or "time".
    gaps : pandas.DataFrame
        Gap paths by period (rows) and unit (columns); the treated unit first.
    pre_rmspe, post_rmspe, ratio : pandas.Series
        By unit (space); for "time" one entry, the backdated fit. A pre-period fit exact up
        to rounding (RMSPE at most ``EXACT_FIT_RTOL`` times the largest absolute outcome)
        gives ``ratio`` inf when a post-period gap opens and NaN when there is none (ranked
        as 0), with an :class:`~impacteval.exceptions.ImpactEvalWarning`; those units are
        listed in ``details["exact_pre_fit"]``.
    p_value : float
        Space: the rank p-value of the treated unit's ratio (``rule``); NaN for time.
    rank : int
        Position of the treated unit's ratio among the compared units (1 = largest).
    n_placebos : int
        Placebos compared (after ``mspe_threshold``).
    excluded : tuple
        Placebos dropped by ``mspe_threshold``.
    p_value_post_mspe : float
        The same rank rule on the post-period MSPE alone (ADH 2010, Figures 5-7 with
        exclusion); sensitive to poorly fitted placebos.
    placebo_fit : SyntheticControl or None
        Time: the backdated fit (its ``estimate`` is the average placebo gap).
    """

    kind: str
    gaps: pd.DataFrame
    pre_rmspe: pd.Series
    post_rmspe: pd.Series
    ratio: pd.Series
    p_value: float
    rank: int
    n_placebos: int
    treated_unit: Any
    treatment_time: Any
    excluded: tuple[Any, ...] = ()
    p_value_post_mspe: float = math.nan
    mspe_threshold: float | None = None
    rule: str = _RULE
    placebo_fit: Any = None
    details: dict[str, Any] = field(default_factory=dict)

    def with_threshold(self, mspe_threshold: float | None) -> PlaceboTest:
        """The same placebo fits ranked again, dropping placebos whose pre-period MSPE
        exceeds ``mspe_threshold`` times the treated unit's (no refitting)."""
        if self.kind != "space":
            raise ValueError("with_threshold applies to the in-space placebo test")
        if mspe_threshold is not None and not mspe_threshold > 0:
            raise DataValidationError(
                f"`mspe_threshold` must be a positive number; received {mspe_threshold!r}"
            )
        return rank_placebos(
            self.gaps,
            self.details["pre"],
            mspe_threshold,
            self.treatment_time,
            scale=self.details.get("scale", 1.0),
        )

    def plot(self, ax: Any = None, *, kind: str = "gaps") -> Any:
        """``kind="gaps"``: every placebo gap in grey, the treated unit in black;
        ``kind="ratios"``: post/pre RMSPE ratios, sorted."""
        from impacteval.plotting.synth import PlaceboGapsDisplay, PlaceboRatiosDisplay

        excluded = list(self.excluded)
        if kind == "ratios":
            ratios = self.ratio.drop(excluded).sort_values()
            return PlaceboRatiosDisplay(ratios=ratios, treated=self.treated_unit).draw(ax)
        title = None
        if np.isfinite(self.p_value):
            title = f"placebo p-value {self.p_value:.3f} ({self.rank}/{self.n_placebos + 1})"
        return PlaceboGapsDisplay(
            gaps=self.gaps.drop(columns=excluded),
            treated=self.treated_unit,
            treatment_time=self.treatment_time,
            title=title,
        ).draw(ax)

    def __repr__(self) -> str:
        return (
            f"PlaceboTest(kind={self.kind!r}, p_value={self.p_value:.4g}, rank={self.rank}, "
            f"n_placebos={self.n_placebos}, excluded={len(self.excluded)})"
        )


def _placebo_one(spec: FitSpec, j: int, pool: np.ndarray) -> tuple[int, np.ndarray, float]:
    donors = pool[pool != j]
    f = fit_unit(spec, j, donors)
    return j, f.gaps, f.loss_v


def placebo_space(
    design: Design,
    treated_gaps: np.ndarray,
    mspe_threshold: float | None,
    n_jobs: int | None,
    progress: bool,
    log: WarningLog | None = None,
) -> PlaceboTest:
    """Every donor as treated, the others as its pool; ``treated_gaps`` are the gaps of
    the actual fit (the first column of the ranking)."""
    spec, panel = design.spec, design.panel
    pool = design.donors
    unfit = _unfittable_placebos(spec, panel.y, pool)
    units = panel.units
    if unfit.size:
        message = (
            f"placebo in space (method='robust'): {unfit.size} donor(s) "
            f"{short_repr([units[j] for j in unfit])} left out of the placebo test: as a "
            "placebo treated unit each needs an observed outcome in at least two fit "
            "periods and one post-treatment period. Listed in details['unfit_placebos']"
        )
        if log is None:
            warn_user(message, ImpactEvalWarning)
        else:
            log.warn(message, ImpactEvalWarning)
    tasks = [(spec, int(j), pool) for j in pool if j not in set(unfit.tolist())]
    out = run_many(_placebo_one, tasks, n_jobs=n_jobs, progress=progress, desc="placebos")
    names = [units[design.treated], *[units[j] for j, _, _ in out]]
    gaps = np.column_stack([treated_gaps, *[g for _, g, _ in out]])
    times = pd.Index(panel.times, name=panel.time_col)
    frame = pd.DataFrame(gaps, index=times, columns=pd.Index(names, name=panel.unit_col))
    scale = float(np.nanmax(np.abs(panel.y))) if panel.y.size else 1.0
    test = rank_placebos(
        frame, spec.pre, mspe_threshold, design.treatment_time, scale=scale, log=log
    )
    test.details["unfit_placebos"] = tuple(units[j] for j in unfit)
    return test


def _unfittable_placebos(spec: FitSpec, y: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Donors that cannot serve as a placebo treated unit (robust SC with missing outcomes):
    observed in fewer than two fit periods (no fit) or in no post-treatment period (no
    post/pre ratio; ranking it as 0 would make the test anti-conservative)."""
    if spec.method != "robust":
        return np.empty(0, dtype=int)
    seen = np.isfinite(y[:, pool])
    ok = (seen[spec.fit].sum(axis=0) >= 2) & seen[~spec.pre].any(axis=0)
    return np.asarray(pool[~ok], dtype=int)


def rank_placebos(
    frame: pd.DataFrame,
    pre: np.ndarray,
    mspe_threshold: float | None,
    treatment_time: Any,
    *,
    scale: float = 1.0,
    log: WarningLog | None = None,
) -> PlaceboTest:
    """Rank statistics of a gap table whose first column is the treated unit.

    ``scale`` (the largest absolute outcome) sets what counts as an exact fit; see
    :func:`rmspe_ratio`. Warnings are recorded on ``log`` when given.
    """
    gaps = frame.to_numpy()
    names = list(frame.columns)
    post = ~pre
    # a missing outcome (robust SC only) leaves its gap NaN: average the observed periods
    mean = np.nanmean if np.isnan(gaps).any() else np.mean
    pre_rmspe = pd.Series(np.sqrt(mean(gaps[pre] ** 2, axis=0)), index=frame.columns)
    post_rmspe = pd.Series(np.sqrt(mean(gaps[post] ** 2, axis=0)), index=frame.columns)
    r_all, exact = rmspe_ratio(post_rmspe.to_numpy(), pre_rmspe.to_numpy(), scale)
    ratio = pd.Series(r_all, index=frame.columns)
    _warn_exact(names, exact, "placebo in space", log)
    excluded: tuple[Any, ...] = ()
    keep = np.ones(len(names), dtype=bool)
    if mspe_threshold is not None:
        pre_sq = np.where(exact, 0.0, pre_rmspe.to_numpy() ** 2)
        keep = pre_sq <= mspe_threshold * pre_sq[0]
        keep[0] = True
        excluded = tuple(n for n, k in zip(names, keep, strict=True) if not k)
    # a NaN ratio (exact fit before and after: no gap at all) ranks as 0, the least extreme
    r = np.nan_to_num(ratio.to_numpy()[keep], nan=0.0, posinf=np.inf)
    # exact ties count against the treated unit (conservative); the tolerance absorbs
    # rounding when a placebo reproduces the treated ratio
    tol = 1e-10 * max(1.0, abs(r[0])) if np.isfinite(r[0]) else 0.0
    n_ge = int((r[1:] >= r[0] - tol).sum())
    p = (1 + n_ge) / len(r)
    pm = post_rmspe.to_numpy()[keep]
    p_post = (1 + int((pm[1:] >= pm[0] - 1e-10 * max(1.0, pm[0])).sum())) / len(pm)
    return PlaceboTest(
        kind="space",
        gaps=frame,
        pre_rmspe=pre_rmspe,
        post_rmspe=post_rmspe,
        ratio=ratio,
        p_value=float(p),
        rank=1 + n_ge,
        n_placebos=len(r) - 1,
        treated_unit=names[0],
        treatment_time=treatment_time,
        excluded=excluded,
        p_value_post_mspe=float(p_post),
        mspe_threshold=mspe_threshold,
        details={"pre": pre, "scale": scale, "exact_pre_fit": tuple(np.asarray(names)[exact])},
    )


def _check_placebo_time(design: Design, placebo_time: Any) -> tuple[Any, np.ndarray]:
    pre_times = design.panel.times[design.spec.pre]
    if placebo_time is None:
        placebo_time = pre_times[len(pre_times) // 2]
    if placebo_time not in set(pre_times.tolist()):
        raise DataValidationError(
            f"`placebo_time`: must be a pre-treatment period in the data (before "
            f"{design.treatment_time!r}); received {placebo_time!r}"
        )
    new_pre = design.panel.times < placebo_time
    if int(new_pre.sum()) < 2:
        raise DataValidationError(
            f"`placebo_time`: at least two periods are needed before it; received "
            f"{int(new_pre.sum())} before {placebo_time!r}"
        )
    return placebo_time, new_pre


def _usable_predictors(design: Design, placebo_time: Any) -> list[int]:
    """Predictors with a year before ``placebo_time`` (warns about the others)."""
    preds = design.predictors
    usable = [i for i, p in enumerate(preds) if any(y < placebo_time for y in p.years)]
    dropped = [preds[i].label for i in range(len(preds)) if i not in usable]
    if preds and not usable:
        raise DataValidationError(
            f"`placebo_time`: no predictor has a year before {placebo_time!r}; refit with "
            "predictors measured before the placebo time"
        )
    if dropped:
        warn_user(
            f"placebo in time: predictors {dropped} have no year before {placebo_time!r} and "
            "are left out of the backdated fit",
            ImpactEvalWarning,
        )
    return usable


def backdate(design: Design, placebo_time: Any) -> tuple[Design, UnitFit]:
    """The design with the treatment moved back to ``placebo_time`` (default: the middle
    of the pre-period), using only the real pre-period, and its fit.

    Predictor years and the fit period are cut at ``placebo_time``; predictors left with no
    year are dropped with a warning, and a fixed V is renormalised over those kept.
    """
    placebo_time, new_pre = _check_placebo_time(design, placebo_time)
    usable = _usable_predictors(design, placebo_time)
    spec, panel = design.spec, design.panel
    keep_t = spec.pre  # only the real pre-period enters the backdated analysis
    sub_panel = replace(panel, y=panel.y[keep_t], times=panel.times[keep_t])
    x = spec.x
    cut: list[PredictorSpec] = []
    if x is not None:
        cut = [
            PredictorSpec(p.column, tuple(y for y in p.years if y < placebo_time), p.op)
            for p in (design.predictors[i] for i in usable)
        ]
        all_units = [design.treated, *design.donors.tolist()]
        x = np.full((len(cut), len(panel.units)), np.nan)
        x[:, all_units] = predictor_matrix(
            panel, cut, [panel.units[i] for i in all_units], placebo_time
        )
    fit_mask = spec.fit[keep_t] & new_pre[keep_t]
    if int(fit_mask.sum()) < 2:
        fit_mask = new_pre[keep_t]
    v = spec.v
    if v is not None and x is not None:
        v = (
            v[usable] / v[usable].sum()
            if v[usable].sum() > 0
            else np.full(len(usable), 1.0 / len(usable))
        )
    new_spec = replace(spec, y=sub_panel.y, x=x, pre=new_pre[keep_t], fit=fit_mask, v=v)
    if x is not None:
        labels = tuple(c.label for c in cut)
        preds = tuple(cut)
    else:
        labels = tuple(f"{panel.outcome} ({t})" for t in sub_panel.times[fit_mask])
        preds = design.predictors
    new_design = replace(
        design,
        panel=sub_panel,
        spec=new_spec,
        treatment_time=placebo_time,
        predictors=preds,
        predictor_labels=labels,
    )
    return new_design, fit_unit(new_spec, design.treated, design.donors)


def time_placebo(
    design: Design, gaps: pd.Series, pre_rmspe: float, post_rmspe: float, placebo_fit: object
) -> PlaceboTest:
    """The placebo-in-time record of a backdated fit (``design`` from :func:`backdate`)."""
    name = design.panel.units[design.treated]
    y = design.panel.y
    scale = float(np.nanmax(np.abs(y))) if y.size else 1.0
    r_time, exact = rmspe_ratio(np.array([post_rmspe]), np.array([pre_rmspe]), scale)
    _warn_exact([name], exact, "placebo in time", None)
    return PlaceboTest(
        kind="time",
        gaps=pd.DataFrame({name: gaps}),
        pre_rmspe=pd.Series({name: pre_rmspe}),
        post_rmspe=pd.Series({name: post_rmspe}),
        ratio=pd.Series({name: float(r_time[0])}),
        p_value=math.nan,
        rank=0,
        n_placebos=0,
        treated_unit=name,
        treatment_time=design.treatment_time,
        rule="backdated treatment: look for a gap between placebo_time and the real "
        "treatment time; no p-value",
        placebo_fit=placebo_fit,
        details={"scale": scale, "exact_pre_fit": (name,) if exact[0] else ()},
    )


@dataclass(frozen=True)
class LeaveOneOut:
    """Synthetic paths refitted without each positively weighted donor.

    Attributes
    ----------
    paths : pandas.DataFrame
        Synthetic path by period (rows) and dropped donor (columns).
    estimates, pre_rmspe : pandas.Series
        Average post-period gap and pre-period RMSPE by dropped donor.
    weights : pandas.DataFrame
        Donor weights (rows) of each refit (columns).
    treated_path, synthetic_path : pandas.Series
        Of the full fit, for reference.
    """

    paths: pd.DataFrame
    estimates: pd.Series
    pre_rmspe: pd.Series
    weights: pd.DataFrame
    treated_path: pd.Series
    synthetic_path: pd.Series
    treatment_time: Any

    def plot(self, ax: Any = None) -> Any:
        """Treated path (black), full synthetic (dashed) and each leave-one-out path."""
        from impacteval.plotting.synth import LeaveOneOutDisplay

        return LeaveOneOutDisplay(
            paths=self.paths,
            treated_path=self.treated_path,
            synthetic_path=self.synthetic_path,
            treatment_time=self.treatment_time,
        ).draw(ax)


def _loo_one(spec: FitSpec, treated: int, donors: np.ndarray, drop: int) -> tuple[Any, ...]:
    f = fit_unit(spec, treated, donors[donors != drop])
    return drop, f.synthetic, f.gaps, f.w, f.donors


def leave_one_out(
    design: Design,
    weights: pd.Series,
    treated_path: pd.Series,
    synthetic_path: pd.Series,
    n_jobs: int | None,
    progress: bool,
) -> LeaveOneOut:
    """Drop each donor with weight above 0.001 in turn and refit (``weights``, the paths:
    of the full fit)."""
    spec, panel = design.spec, design.panel
    w = weights.to_numpy()
    drops = design.donors[w > 1e-3]
    if design.donors.shape[0] - 1 < 2:
        raise DataValidationError("leave_one_out needs at least three donors")
    tasks = [(spec, design.treated, design.donors, int(d)) for d in drops]
    out = run_many(_loo_one, tasks, n_jobs=n_jobs, progress=progress, desc="leave-one-out")
    units = panel.units
    times = pd.Index(panel.times, name=panel.time_col)
    names = pd.Index([units[d] for d, *_ in out], name="dropped")
    paths = pd.DataFrame(np.column_stack([s for _, s, *_ in out]), index=times, columns=names)
    pre, post = spec.pre, ~spec.pre
    gaps = np.column_stack([g for _, _, g, *_ in out])
    wt = pd.DataFrame(0.0, index=weights.index, columns=names)
    for (d, _, _, wv, dn), name in zip(out, names, strict=True):
        wt.loc[[units[i] for i in dn], name] = wv
        del d
    mean = np.nanmean if np.isnan(gaps[pre]).any() else np.mean  # robust SC: missing pre
    return LeaveOneOut(
        paths=paths,
        estimates=pd.Series(gaps[post].mean(axis=0), index=names, name="estimate"),
        pre_rmspe=pd.Series(np.sqrt(mean(gaps[pre] ** 2, axis=0)), index=names),
        weights=wt,
        treated_path=treated_path,
        synthetic_path=synthetic_path,
        treatment_time=design.treatment_time,
    )


# -- conformal inference -------------------------------------------------------------------
def _conformal_p(
    y1: np.ndarray, y0: np.ndarray, post: np.ndarray, theta: float, q: float
) -> tuple[float, np.ndarray]:
    """p-value of H0: effect = theta in the periods flagged ``post`` (rows of y1/y0 are
    the pre-periods followed by the tested periods). Residuals of the outcome-only simplex
    fit on the null-adjusted data; moving-block (cyclic shift) permutations."""
    yy = y1 - theta * post
    w = simplex_lstsq(y0, yy)
    u = np.abs(yy - y0 @ w) ** q
    n = u.shape[0]
    m = int(post.sum())
    # S for each cyclic shift: the mean of |u|^q over the m positions the block lands on
    # (the post block is the last m rows, so shift j takes rows n-m-j .. n-1-j mod n)
    csum = np.concatenate([[0.0], np.cumsum(np.concatenate([u, u]))])
    starts = (np.arange(n) + n - m) % n
    s = (csum[starts + m] - csum[starts]) / m
    s_obs = s[0]
    p = float(np.mean(s >= s_obs - 1e-12 * max(1.0, abs(s_obs))))
    return p, yy - y0 @ w


def _invert(
    y1: np.ndarray,
    y0: np.ndarray,
    post: np.ndarray,
    centre: float,
    scale: float,
    alpha: float,
    n_grid: int,
    q: float,
) -> tuple[float, float]:
    def accepted(theta: float) -> bool:
        return _conformal_p(y1, y0, post, theta, q)[0] > alpha

    half = 4.0 * scale
    for _ in range(6):
        grid = np.linspace(centre - half, centre + half, n_grid)
        acc = np.array([accepted(t) for t in grid])
        if not acc.any():
            half /= 4.0
            continue
        if acc[0] or acc[-1]:
            half *= 3.0
            continue
        break
    else:
        if not acc.any():
            return math.nan, math.nan
        if acc[0] or acc[-1]:
            lo = -math.inf if acc[0] else grid[np.flatnonzero(acc)[0]]
            hi = math.inf if acc[-1] else grid[np.flatnonzero(acc)[-1]]
            return float(lo), float(hi)
    idx = np.flatnonzero(acc)

    def bisect(inside: float, outside: float) -> float:
        for _ in range(30):
            mid = 0.5 * (inside + outside)
            if accepted(mid):
                inside = mid
            else:
                outside = mid
        return inside

    lo = bisect(grid[idx[0]], grid[idx[0] - 1])
    hi = bisect(grid[idx[-1]], grid[idx[-1] + 1])
    return float(lo), float(hi)


def conformal_table(
    design: Design,
    level: float,
    n_grid: int,
    q: float,
    *,
    n_obs: int,
    provenance: Provenance,
) -> EffectTable:
    """Per-period conformal intervals and p-values, plus a constant-effect overall test
    (``n_obs`` and ``provenance``: of the fit, carried over)."""
    spec, panel = design.spec, design.panel
    y = panel.y
    pre, post = spec.pre, ~spec.pre
    if not post.any():
        raise DataValidationError("conformal inference needs at least one post period")
    alpha = 1.0 - level
    y1, y0 = y[:, design.treated], y[:, design.donors]
    y1p, y0p = y1[pre], y0[pre]
    w_pre = simplex_lstsq(y0p, y1p)
    scale = float(np.sqrt(np.mean((y1p - y0p @ w_pre) ** 2))) or 1.0
    rows = []
    for t in np.flatnonzero(post):
        yy1 = np.append(y1p, y1[t])
        yy0 = np.vstack([y0p, y0[t]])
        flag = np.zeros(yy1.shape[0])
        flag[-1] = 1.0
        p0, _ = _conformal_p(yy1, yy0, flag, 0.0, q)
        # centre the grid at the gap of the fit that excludes period t (theta-free)
        centre = float(y1[t] - y0[t] @ w_pre)
        lo, hi = _invert(yy1, yy0, flag, centre, scale, alpha, n_grid, q)
        rows.append((panel.times[t], centre, math.nan, lo, hi, p0))
    table = pd.DataFrame(
        rows, columns=["time", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"]
    )
    flag = post.astype(float)
    order = np.r_[np.flatnonzero(pre), np.flatnonzero(post)]
    yy1, yy0, fl = y1[order], y0[order], flag[order]
    p_all, _ = _conformal_p(yy1, yy0, fl, 0.0, q)
    avg = float(np.mean(y1[post] - y0[post] @ w_pre))
    lo, hi = _invert(yy1, yy0, fl, avg, scale, alpha, n_grid, q)
    n_pre = int(pre.sum())
    overall = EffectEstimate(
        estimate=avg,
        std_error=math.nan,
        ci_lower=lo,
        ci_upper=hi,
        p_value=p_all,
        level=level,
        estimand="ATT",
        method="conformal inference, constant effect (Chernozhukov, Wuthrich & Zhu 2021)",
        n_obs=n_obs,
        n_treated=1,
        n_control=len(design.donors),
        ci_method="conformal",
        outcome=panel.outcome,
        provenance=provenance,
        details={"statistic_q": q, "n_permutations": int(y.shape[0])},
    )
    return EffectTable(
        table=table,
        index_columns=("time",),
        overall=overall,
        level=level,
        estimand="ATT",
        method="synthetic control, per-period conformal inference (CWZ 2021)",
        n_obs=n_obs,
        n_treated=1,
        n_control=len(design.donors),
        ci_method="conformal",
        provenance=provenance,
        details={
            "statistic_q": q,
            "n_permutations_per_period": n_pre + 1,
            "min_p_value": 1.0 / (n_pre + 1),
            "note": "interval = hull of the non-rejected effects; outcome-only SC refits",
        },
    )
