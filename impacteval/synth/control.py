"""Abadie-Diamond-Hainmueller synthetic control for one treated unit.

The entry point :func:`synthetic_control` checks the input once, builds the matrices and
fits; :class:`SyntheticControl` carries the weights, paths and gaps and offers the placebo
tests, leave-one-out, conformal inference and the ridge-augmented estimator.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from impacteval._validation import (
    check_choice,
    check_level,
    check_positive_int,
    check_rng,
    short_repr,
)
from impacteval.exceptions import DataValidationError, ImpactEvalWarning
from impacteval.results import EffectEstimate, EffectTable, Provenance, fingerprint
from impacteval.synth._scm_core import FitSpec, UnitFit, fit_unit
from impacteval.synth._scm_data import (
    Panel,
    PredictorSpec,
    build_panel,
    check_periods,
    parse_predictors,
    predictor_matrix,
)

if TYPE_CHECKING:
    from impacteval.synth._scm_inference import LeaveOneOut, PlaceboTest

__all__ = ["ConvexHullWarning", "SyntheticControl", "synthetic_control"]


class ConvexHullWarning(ImpactEvalWarning):
    """The treated unit lies outside the donors' convex hull: the pre-period fit is poor."""


@dataclass(frozen=True)
class _Design:
    """Everything needed to refit (placebos, leave-one-out, backdating); private."""

    panel: Panel
    spec: FitSpec
    treated: int
    donors: np.ndarray
    predictors: tuple[PredictorSpec, ...]
    predictor_labels: tuple[str, ...]
    treatment_time: Any
    n_jobs: int | None
    progress: bool


@dataclass(frozen=True, kw_only=True, repr=False)
class SyntheticControl(EffectEstimate):
    """An :class:`~impacteval.results.EffectEstimate` (the average post-period gap) plus the
    synthetic control behind it.

    Attributes
    ----------
    weights : pandas.Series
        Donor weights W (non-negative, summing to one), indexed by donor label.
    v_weights : pandas.Series
        Predictor weights (diagonal of V, summing to one), indexed by predictor label.
    treated_path, synthetic_path, gaps : pandas.Series
        Outcome of the treated unit, of its synthetic control, and their difference, by
        period.
    pre_rmspe, post_rmspe : float
        Root mean squared gap before and from ``treatment_time``.
    fit_rmspe : float
        Root mean squared gap over ``fit_period`` (the criterion V minimises).
    balance : pandas.DataFrame
        Predictors (rows): treated, synthetic and the unweighted donor average.
    treated_unit, treatment_time
        As given.
    bias_correction : pandas.Series or None
        For the augmented estimator, the ridge bias correction added to the synthetic
        path, by period (None for plain synthetic control).
    """

    weights: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    v_weights: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    treated_path: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    synthetic_path: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    gaps: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    pre_rmspe: float = math.nan
    post_rmspe: float = math.nan
    fit_rmspe: float = math.nan
    balance: pd.DataFrame = field(default_factory=pd.DataFrame)
    treated_unit: Hashable = None
    treatment_time: Any = None
    bias_correction: pd.Series | None = None
    _design: _Design | None = field(default=None, compare=False)

    def _need_design(self) -> _Design:
        if self._design is None:
            raise ValueError("this SyntheticControl was not built by synthetic_control()")
        return self._design

    # -- inference ---------------------------------------------------------------------
    def placebo_test(
        self,
        *,
        kind: Literal["space", "time"] = "space",
        mspe_threshold: float | None = None,
        placebo_time: Any = None,
        n_jobs: int | None = None,
        progress: bool | None = None,
    ) -> PlaceboTest:
        """Placebo test in space (every donor treated in turn) or in time (backdated).

        Parameters
        ----------
        kind : {"space", "time"}
            ``"space"``: refit with every donor as the treated unit (the actual treated unit
            is left out of the placebo donor pools) and rank the post/pre RMSPE ratios.
            ``"time"``: refit with the treatment moved back to ``placebo_time`` using only
            periods before the real treatment; a good design shows no gap there.
        mspe_threshold : float, optional
            Space only: drop placebos whose pre-period MSPE exceeds this multiple of the
            treated unit's (ADH 2010 use 20, 5 and 2). The ratio statistic does not need
            it; it matters for the gap plot and for the post-MSPE statistic.
        placebo_time : period, optional
            Time only: the backdated treatment time (default: the midpoint of the
            pre-period). Predictor years and the fit period are cut at it; predictors with
            no year left are dropped with a warning (an error if none remains).
        n_jobs : int, optional
            joblib workers for the refits (default: as given to the fit, else 1).
        progress : bool, optional
            tqdm progress bar (default: as given to the fit).

        Returns
        -------
        PlaceboTest
            ``p_value`` (space) = rank of the treated unit's ratio among all units, counting
            itself, divided by the number of units compared: ``(1 + #{placebos with ratio
            >= treated ratio}) / (1 + #placebos)``. With 38 placebos and the treated unit
            the most extreme this is 1/39.
        """
        from impacteval.synth._scm_inference import placebo_space
        from impacteval.synth._scm_inference import placebo_time as ptime

        design = self._need_design()
        kind = check_choice(kind, "kind", ("space", "time"))  # type: ignore[assignment]
        jobs = design.n_jobs if n_jobs is None else n_jobs
        prog = design.progress if progress is None else progress
        if kind == "space":
            if placebo_time is not None:
                raise DataValidationError("`placebo_time` is only used with kind='time'")
            if mspe_threshold is not None and (
                not isinstance(mspe_threshold, numbers.Real) or mspe_threshold <= 0
            ):
                raise DataValidationError(
                    f"`mspe_threshold` must be a positive number; received {mspe_threshold!r}"
                )
            return placebo_space(self, design, mspe_threshold, jobs, prog)
        if mspe_threshold is not None:
            raise DataValidationError("`mspe_threshold` is only used with kind='space'")
        return ptime(self, design, placebo_time)

    def leave_one_out(
        self, *, n_jobs: int | None = None, progress: bool | None = None
    ) -> LeaveOneOut:
        """Refit dropping each donor with positive weight in turn (Abadie 2021, sec. 7).

        Returns
        -------
        LeaveOneOut
            ``paths`` (synthetic path without each donor), ``estimates`` (average post gap)
            and ``pre_rmspe``, each by the dropped donor; ``.plot()``.
        """
        from impacteval.synth._scm_inference import leave_one_out

        design = self._need_design()
        jobs = design.n_jobs if n_jobs is None else n_jobs
        prog = design.progress if progress is None else progress
        return leave_one_out(self, design, jobs, prog)

    def conformal(
        self,
        *,
        level: float | None = None,
        n_grid: int = 60,
        statistic_q: float = 1.0,
    ) -> EffectTable:
        """Per-period conformal p-values and intervals (Chernozhukov, Wuthrich & Zhu 2021).

        For each post period t and candidate effect theta, the treated outcome at t is
        replaced by ``Y_1t - theta``, the (outcome-only, simplex-constrained) synthetic
        control is refitted on the pre-periods plus t, and the p-value is the share of the
        ``T0 + 1`` cyclic shifts of the residual series whose statistic ``|u|^q`` at t is at
        least the observed one. The interval collects the theta not rejected at ``level``
        (endpoints by bisection; the hull is reported if the set has holes). ``overall`` is
        the same test for a constant effect in every post period (statistic: mean |u|^q
        over the post block), the interval of the average effect under that assumption.

        Parameters
        ----------
        level : float, optional
            Confidence level (default: the result's).
        n_grid : int
            Grid points per period before bisection.
        statistic_q : float
            The q of the ``S_q`` statistic (1 in the paper's applications).

        Returns
        -------
        EffectTable
            Index column ``time``; estimate = gap of the conformal refit under theta = 0;
            ``std_error`` is NaN (no standard error exists for this test inversion).

        Notes
        -----
        Validity needs stationary and weakly dependent residuals and a consistent
        counterfactual model; with ``T0`` pre-periods the smallest attainable p-value is
        ``1 / (T0 + 1)``, so intervals at level 0.95 are finite only when ``T0 >= 19``.

        References
        ----------
        Chernozhukov, V., Wuthrich, K., & Zhu, Y. (2021). An exact and robust conformal
        inference method for counterfactual and synthetic controls. JASA 116(536).
        """
        from impacteval.synth._scm_inference import conformal_table

        design = self._need_design()
        lev = self.level if level is None else check_level(level)
        grid = check_positive_int(n_grid, "n_grid", 10)
        if not isinstance(statistic_q, numbers.Real) or statistic_q <= 0:
            raise DataValidationError(
                f"`statistic_q` must be a positive number; received {statistic_q!r}"
            )
        return conformal_table(self, design, lev, grid, float(statistic_q))

    def augment(self, *, ridge_lambda: float | None = None) -> SyntheticControl:
        """Ridge-augmented synthetic control (Ben-Michael, Feller & Rothstein 2021).

        The synthetic path is corrected by ``(x_1 - X_0 w)' eta_t``: the part of the
        treated unit's pre-period outcomes the weights do not reproduce, times ridge
        coefficients ``eta_t`` of the donors' outcome at t on their (centred) pre-period
        outcomes. ``ridge_lambda`` None chooses the penalty by leave-one-donor-out error of
        the ridge model over the post periods (closed form).

        Returns
        -------
        SyntheticControl
            Same weights; ``bias_correction`` set, paths, gaps and the estimate augmented,
            ``details["ridge_lambda"]`` and ``details["augmented_weights"]`` (may be
            negative: the ridge extrapolates beyond the convex hull).

        References
        ----------
        Ben-Michael, E., Feller, A., & Rothstein, J. (2021). The augmented synthetic
        control method. JASA 116(536). R: ``augsynth(..., progfunc = "Ridge")``.
        """
        from impacteval.synth._scm_augmented import augment

        if self.bias_correction is not None:
            raise ValueError("this result is already augmented")
        if ridge_lambda is not None and (
            isinstance(ridge_lambda, bool)
            or not isinstance(ridge_lambda, numbers.Real)
            or ridge_lambda <= 0
        ):
            raise DataValidationError(
                f"`ridge_lambda` must be a positive number or None; received {ridge_lambda!r}"
            )
        return augment(self, self._need_design(), ridge_lambda)

    # -- display -----------------------------------------------------------------------
    def plot(self, ax: Any = None) -> Any:
        """Two panels: treated vs synthetic paths, and the gap, with the treatment time
        marked. ``ax`` may be a pair of Axes; returns the pair."""
        from impacteval.synth._scm_plot import plot_fit

        return plot_fit(self, ax)

    def summary(self) -> Any:
        """A :class:`~impacteval.results.Summary`: headline facts and the donor weights."""
        from impacteval.results import Summary

        base = super().summary()
        facts = (
            *base.facts,
            ("Treated unit", str(self.treated_unit)),
            ("Treatment time", str(self.treatment_time)),
            ("Pre-period RMSPE", f"{self.pre_rmspe:.4f}"),
            ("Post-period RMSPE", f"{self.post_rmspe:.4f}"),
        )
        w = self.weights[self.weights > 0.0005].sort_values(ascending=False)
        table = pd.DataFrame({"weight": w}).rename_axis("donor")
        return Summary(title=base.title, facts=facts, table=table, notes=base.notes)

    def __repr__(self) -> str:
        top = self.weights.sort_values(ascending=False).head(3)
        ws = ", ".join(f"{k}={v:.3f}" for k, v in top.items())
        return (
            f"SyntheticControl(ATT={self.estimate:.6g}, pre_rmspe={self.pre_rmspe:.4g}, "
            f"post_rmspe={self.post_rmspe:.4g}, p_value={self.p_value:.4g}, top weights: {ws})"
        )


def _check_v(v: object, k: int, labels: Sequence[str]) -> np.ndarray | None:
    if isinstance(v, str):
        check_choice(v, "v", ("optimize",))
        return None
    if isinstance(v, Mapping):
        missing = [lab for lab in labels if lab not in v]
        if missing or len(v) != k:
            raise DataValidationError(
                f"`v`: a mapping must give one weight per predictor {list(labels)}; received "
                f"keys {short_repr(list(v))}"
            )
        arr = np.array([float(v[lab]) for lab in labels])
    else:
        try:
            arr = np.asarray(v, dtype=float).ravel()
        except (TypeError, ValueError):
            raise DataValidationError(
                f"`v` must be 'optimize' or {k} non-negative predictor weights; received "
                f"{short_repr(v)}"
            ) from None
    if arr.shape != (k,) or not np.isfinite(arr).all() or (arr < 0).any() or arr.sum() <= 0:
        raise DataValidationError(
            f"`v` must be 'optimize' or {k} non-negative finite predictor weights, not all "
            f"zero (one per predictor); received {short_repr(v)}"
        )
    return np.asarray(arr / arr.sum())


def _hull_warning(fit: UnitFit, y: np.ndarray, mask: np.ndarray) -> str | None:
    z1 = y[mask, fit.treated]
    z0 = y[np.ix_(mask, fit.donors)]
    above = z1 - z0.max(axis=1)
    below = z0.min(axis=1) - z1
    dist = np.maximum(np.maximum(above, below), 0.0)
    n_out = int((dist > 0).sum())
    if n_out == 0:
        return None
    rmspe = math.sqrt(fit.loss_v)
    sd = float(np.std(z1, ddof=1)) if z1.size > 1 else math.nan
    return (
        f"the treated unit lies outside the donors' convex hull: its outcome is above every "
        f"donor's or below every donor's in {n_out} of {int(mask.sum())} fit-period periods "
        f"(largest distance {dist.max():.4g}); no weighted average of donors can fit those. "
        f"Fit-period RMSPE {rmspe:.4g} ({rmspe / sd:.1%} of the treated unit's fit-period SD "
        f"{sd:.4g}). Consider the augmented estimator (.augment()) or another design."
    )


def synthetic_control(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    treated_unit: Hashable,
    treatment_time: Any,
    predictors: Sequence[tuple[Any, ...]] = (),
    fit_period: Iterable[Any] | None = None,
    v: str | Sequence[float] | Mapping[str, float] = "optimize",
    donors: Iterable[Hashable] | None = None,
    inference: Literal["placebo", "none"] = "placebo",
    augment: Literal["ridge"] | None = None,
    ridge_lambda: float | None = None,
    n_starts: int = 5,
    level: float = 0.95,
    rng: int | None = 0,
    n_jobs: int | None = None,
    progress: bool = False,
) -> SyntheticControl:
    """Synthetic control for one treated unit (Abadie, Diamond & Hainmueller 2010).

    Parameters
    ----------
    data : pandas.DataFrame
        A balanced long panel: one row per unit and period.
    outcome, unit, time : str
        Column names. ``time`` must be orderable (years, say).
    treated_unit : label
        The treated unit's value in ``unit``.
    treatment_time : period
        First treated period; earlier periods are the pre-period.
    predictors : sequence of tuples
        ``(column, years)`` or ``(column, years, "mean")``: the column averaged over the
        years (an int or an iterable, e.g. odd years only), missing values skipped (R
        Synth's ``mean(na.rm = TRUE)``). Lagged outcomes are given the same way, e.g.
        ``("cigsale", 1975)``. Empty (default): W minimises the fit-period MSPE directly.
    fit_period : iterable of periods, optional
        Pre-treatment periods whose outcome MSPE chooses V (default: all pre-periods).
    v : "optimize", sequence or mapping
        ``"optimize"`` (nested optimisation) or the diagonal of V (normalised to sum 1),
        in predictor order or keyed by predictor label.
    donors : iterable of labels, optional
        The donor pool (default: every other unit).
    inference : {"placebo", "none"}
        ``"placebo"`` sets ``p_value`` from the in-space placebo test (one refit per donor);
        ``"none"`` leaves the p-value NaN (call :meth:`SyntheticControl.placebo_test`).
    augment : {"ridge"}, optional
        Return the ridge-augmented estimator (see :meth:`SyntheticControl.augment`).
    ridge_lambda : float, optional
        Ridge penalty for ``augment="ridge"`` (default: chosen by leave-one-donor-out).
    n_starts : int
        Starting points of the V search: equal weights, the regression start, then random
        Dirichlet draws (at least 2).
    level : float
        Confidence level for intervals computed later (conformal).
    rng : int, optional
        Seed of the random starts (an int, so placebo refits reproduce it).
    n_jobs : int, optional
        joblib workers for placebo and leave-one-out refits (-1: every core).
    progress : bool
        Show tqdm progress bars for the refits.

    Returns
    -------
    SyntheticControl
        ``estimate`` is the average post-period gap (ATT of the treated unit);
        ``std_error`` and the interval are NaN (see :meth:`SyntheticControl.conformal`).

    Raises
    ------
    DataValidationError
        Treated unit missing or among the donors, an unbalanced panel or missing outcome,
        predictor years outside the data or after treatment, fewer than two pre-periods,
        constant predictors.

    Warns
    -----
    ConvexHullWarning
        When the treated unit's fit-period outcome lies outside the donors' range (the fit
        goes ahead; the message quantifies the misfit).

    Notes
    -----
    Predictors are divided by their standard deviation across the treated unit and the
    donors (as R ``Synth``). For diagonal V (sum 1), the weights solve

    .. math:: W(V) = \\arg\\min_{w \\ge 0, 1'w = 1} (X_1 - X_0 w)' V (X_1 - X_0 w),

    exactly (active-set NNLS; see ``_scm_numerics``). Where this minimiser is not unique
    (the treated unit's predictors inside the donors' convex hull, or zero entries in V),
    the W with the smallest fit-period MSPE among the minimisers is reported
    (``best_of_ties``); otherwise an arbitrary one would be. V minimises the fit-period MSPE
    ``||Z_1 - Z_0 W(V)||^2 / T_fit`` by Nelder-Mead then BFGS from ``n_starts`` starting
    points; the best is kept and every start's loss is in ``details["v_starts"]`` (with a
    last entry ``"best of tied W"`` when the choice among tied W improved the fit). The
    problem in V is not convex and nearly flat near the optimum, so weights from different
    software differ slightly; compare fits by the pre-period RMSPE.

    Identification: the treated unit's untreated outcome is (approximately) the same
    weighted average of donors after treatment as before; no donor is affected by the
    treatment; no anticipation.

    References
    ----------
    Abadie, A., Diamond, A., & Hainmueller, J. (2010). Synthetic control methods for
    comparative case studies. JASA 105(490). Abadie, A., & Gardeazabal, J. (2003). The
    economic costs of conflict. AER 93(1). R: ``Synth::synth``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import impacteval as ie
    >>> rng = np.random.default_rng(1)
    >>> f = rng.normal(size=12).cumsum()
    >>> y = {u: f * b + rng.normal(scale=0.1, size=12) for u, b in zip("ABCD", [1, 2, 0, 1.5])}
    >>> y["T"] = 0.5 * y["A"] + 0.5 * y["B"] + np.r_[np.zeros(8), np.full(4, 3.0)]
    >>> df = pd.DataFrame([(u, t, v[t]) for u, v in y.items() for t in range(12)],
    ...                   columns=["unit", "t", "y"])
    >>> fit = ie.synth.synthetic_control(df, outcome="y", unit="unit", time="t",
    ...                                  treated_unit="T", treatment_time=8)
    >>> round(fit.estimate, 1), fit.weights.round(2).to_dict()
    (3.0, {'A': 0.5, 'B': 0.5, 'C': 0.0, 'D': 0.0})
    """
    specs = parse_predictors(predictors)
    pred_cols = list(dict.fromkeys(s.column for s in specs))
    panel = build_panel(data, outcome=outcome, unit=unit, time=time, predictor_columns=pred_cols)
    inference = check_choice(inference, "inference", ("placebo", "none"))  # type: ignore[assignment]
    if augment is not None:
        check_choice(augment, "augment", ("ridge",))
    lev = check_level(level)
    n_starts = check_positive_int(n_starts, "n_starts", 2)
    _, seed = check_rng(rng)
    seed = 0 if seed is None else seed
    if n_jobs is not None and n_jobs != -1:  # -1: every core, as joblib
        check_positive_int(n_jobs, "n_jobs")

    units, times = panel.units, panel.times
    if treated_unit not in units:
        raise DataValidationError(
            f"`treated_unit`: {treated_unit!r} is not a value of column {unit!r} "
            f"(units: {short_repr(units.tolist())})"
        )
    treated = int(units.get_indexer(pd.Index([treated_unit]))[0])
    if donors is None:
        donor_idx = np.array([i for i in range(len(units)) if i != treated])
    else:
        dlist = list(donors)
        if treated_unit in dlist:
            raise DataValidationError(
                f"`donors`: the treated unit {treated_unit!r} is also in the donor pool; a "
                "unit cannot be its own control"
            )
        unknown = [d for d in dlist if d not in units]
        if unknown:
            raise DataValidationError(
                f"`donors`: {short_repr(unknown)} are not values of column {unit!r}"
            )
        if len(set(dlist)) != len(dlist):
            raise DataValidationError("`donors`: duplicated donor labels")
        donor_idx = np.array(sorted(int(i) for i in units.get_indexer(pd.Index(dlist))))
    if len(donor_idx) < 2:
        raise DataValidationError(
            f"`donors`: at least two donor units are needed; received {len(donor_idx)}"
        )
    check_periods([treatment_time], times, "treatment_time")
    pre = times < treatment_time
    if int(pre.sum()) < 2:
        raise DataValidationError(
            f"`treatment_time`: at least two pre-treatment periods are needed; received "
            f"{int(pre.sum())} before {treatment_time!r}"
        )
    if fit_period is None:
        fit = pre.copy()
    else:
        fp = check_periods(list(fit_period), times, "fit_period", before=treatment_time)
        fit = np.isin(times, fp)
        if int(fit.sum()) < 2:
            raise DataValidationError(
                f"`fit_period`: at least two periods are needed; received {int(fit.sum())}"
            )

    all_units = [treated, *donor_idx.tolist()]
    x_full: np.ndarray | None = None
    labels: tuple[str, ...]
    if specs:
        x_used = predictor_matrix(panel, specs, [units[i] for i in all_units], treatment_time)
        x_full = np.full((len(specs), len(units)), np.nan)
        x_full[:, all_units] = x_used
        sd = x_used.std(axis=1, ddof=1)
        flat = ~(sd > 1e-12 * (1.0 + np.abs(x_used).max(axis=1)))
        const = [specs[i].label for i in np.flatnonzero(flat)]
        if const:
            raise DataValidationError(
                f"`predictors`: {const} take the same value for the treated unit and every "
                "donor; a constant predictor carries no information and cannot be scaled"
            )
        labels = tuple(s.label for s in specs)
        v_fixed = _check_v(v, len(specs), labels)
    else:
        labels = tuple(f"{outcome} ({t})" for t in times[fit])
        if not (isinstance(v, str) and v == "optimize"):
            raise DataValidationError(
                "`v` can only be given together with `predictors`; without predictors the "
                f"weights minimise the fit-period MSPE directly; received v={short_repr(v)}"
            )
        v_fixed = None
    spec = FitSpec(
        y=panel.y, x=x_full, pre=pre, fit=fit, v=v_fixed, n_random=n_starts - 2, seed=seed
    )
    design = _Design(
        panel=panel,
        spec=spec,
        treated=treated,
        donors=donor_idx,
        predictors=tuple(specs),
        predictor_labels=labels,
        treatment_time=treatment_time,
        n_jobs=n_jobs,
        progress=progress,
    )
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ufit = fit_unit(spec, treated, donor_idx)
    caught += [str(r.message) for r in rec]
    msg = _hull_warning(ufit, panel.y, fit)
    if msg is not None:
        warnings.warn(msg, ConvexHullWarning, stacklevel=2)
        caught.append(msg)
    options = {
        "outcome": outcome,
        "unit": unit,
        "time": time,
        "treated_unit": treated_unit,
        "treatment_time": treatment_time,
        "predictors": [(s.column, list(s.years), s.op) for s in specs],
        "fit_period": times[fit].tolist(),
        "v": "optimize" if v_fixed is None else v_fixed.tolist(),
        "donors": [units[i] for i in donor_idx],
        "inference": inference,
        "augment": augment,
        "n_starts": n_starts,
        "level": lev,
    }
    result = _result(design, ufit, lev, tuple(caught), options, data, seed)
    if inference == "placebo":
        test = result.placebo_test()
        result = replace(
            result,
            p_value=test.p_value,
            ci_method="placebo (in space)",
            details={**result.details, "placebo": test},
        )
    if augment == "ridge":
        result = result.augment(ridge_lambda=ridge_lambda)
    elif ridge_lambda is not None:
        raise DataValidationError("`ridge_lambda` is only used with augment='ridge'")
    return result


def _result(
    design: _Design,
    ufit: UnitFit,
    level: float,
    caught: tuple[str, ...],
    options: dict[str, Any],
    data: pd.DataFrame,
    seed: int,
) -> SyntheticControl:
    panel, spec = design.panel, design.spec
    units, times = panel.units, pd.Index(panel.times, name=panel.time_col)
    donor_labels = pd.Index([units[i] for i in ufit.donors], name=panel.unit_col)
    weights = pd.Series(ufit.w, index=donor_labels, name="weight")
    v_weights = pd.Series(ufit.v, index=pd.Index(design.predictor_labels, name="predictor"))
    treated_path = pd.Series(panel.y[:, ufit.treated], index=times, name="treated")
    synthetic = pd.Series(ufit.synthetic, index=times, name="synthetic")
    gaps = pd.Series(ufit.gaps, index=times, name="gap")
    post = ~spec.pre
    pre_rmspe = float(np.sqrt(np.mean(ufit.gaps[spec.pre] ** 2)))
    post_rmspe = float(np.sqrt(np.mean(ufit.gaps[post] ** 2))) if post.any() else math.nan
    if spec.x is not None:
        x = spec.x
        bal = pd.DataFrame(
            {
                "treated": x[:, ufit.treated],
                "synthetic": x[:, ufit.donors] @ ufit.w,
                "donor_average": x[:, ufit.donors].mean(axis=1),
                "v_weight": ufit.v,
            },
            index=v_weights.index,
        )
    else:
        ym = panel.y[spec.fit]
        bal = pd.DataFrame(
            {
                "treated": ym[:, ufit.treated],
                "synthetic": ym[:, ufit.donors] @ ufit.w,
                "donor_average": ym[:, ufit.donors].mean(axis=1),
                "v_weight": ufit.v,
            },
            index=v_weights.index,
        )
    estimate = float(ufit.gaps[post].mean()) if post.any() else math.nan
    cols = [panel.unit_col, panel.time_col, panel.outcome, *{s.column for s in design.predictors}]
    return SyntheticControl(
        estimate=estimate,
        std_error=math.nan,
        ci_lower=math.nan,
        ci_upper=math.nan,
        p_value=math.nan,
        level=level,
        estimand="ATT",
        method="synthetic control (Abadie, Diamond & Hainmueller 2010)",
        n_obs=int(panel.y.shape[0] * (1 + len(ufit.donors))),
        n_treated=1,
        n_control=len(ufit.donors),
        ci_method="none",
        outcome=panel.outcome,
        warnings=caught,
        provenance=Provenance(options=options, data_fingerprint=fingerprint(data, cols), seed=seed),
        details={
            "v_starts": ufit.starts,
            "fit_mspe": ufit.loss_v,
            "predictor_loss": ufit.loss_w,
            "predictor_scale": pd.Series(ufit.scale, index=v_weights.index),
            "n_pre": int(spec.pre.sum()),
            "n_post": int(post.sum()),
        },
        weights=weights,
        v_weights=v_weights,
        treated_path=treated_path,
        synthetic_path=synthetic,
        gaps=gaps,
        pre_rmspe=pre_rmspe,
        post_rmspe=post_rmspe,
        fit_rmspe=math.sqrt(ufit.loss_v),
        balance=bal,
        treated_unit=units[ufit.treated],
        treatment_time=design.treatment_time,
        _design=design,
    )
