"""The synthetic-control result: :class:`SyntheticControl` and the functions that build it.

:func:`build_result` turns a :class:`~impacteval.synth._scm_design.Design` and its fit into
the result (used for the main fit and the backdated placebo fit);
:func:`augmented_result` applies the ridge bias correction. The result's methods run the
inference in :mod:`._scm_inference` on the design it carries.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from impacteval._validation import check_choice, check_level, check_positive_int, check_rng
from impacteval.exceptions import DataValidationError
from impacteval.results import EffectEstimate, EffectTable, Provenance, Summary, fingerprint
from impacteval.synth._scm_augmented import ridge_correction
from impacteval.synth._scm_core import UnitFit
from impacteval.synth._scm_design import Design, check_ridge_lambda
from impacteval.synth._scm_inference import (
    LeaveOneOut,
    PlaceboTest,
    backdate,
    conformal_table,
    leave_one_out,
    placebo_space,
    time_placebo,
)
from impacteval.synth._scm_penalized_design import refuse_method
from impacteval.synth._scpi import PredictionIntervals, prediction_intervals
from impacteval.synth._scpi_outsample import OUT_METHODS

__all__ = ["SyntheticControl", "augmented_result", "build_result", "check_rho"]


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
    _design: Design | None = field(default=None, compare=False)

    def _need_design(self) -> Design:
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
            the most extreme this is 1/39. With ``method="robust"`` and missing outcomes, a
            donor observed in fewer than two fit periods or in no post-treatment period is
            not a placebo (it stays a donor of the others): a warning and
            ``details["unfit_placebos"]`` name it.
        """
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
            return placebo_space(design, self.gaps.to_numpy(), mspe_threshold, jobs, prog)
        if mspe_threshold is not None:
            raise DataValidationError("`mspe_threshold` is only used with kind='space'")
        if design.spec.x_train is not None:
            raise DataValidationError(
                "kind='time': the backdated fit cannot re-run the penalty's hold-out on "
                "predictors; refit with a given `penalty` for a placebo in time"
            )
        backdated, ufit = backdate(design, placebo_time)
        options = {**self.provenance.options, "placebo_time": backdated.treatment_time}
        fit = build_result(
            backdated,
            ufit,
            level=self.level,
            warnings=(),
            options=options,
            data=design.panel.frame,
        )
        return time_placebo(backdated, fit.gaps, fit.pre_rmspe, fit.post_rmspe, fit)

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
        design = self._need_design()
        jobs = design.n_jobs if n_jobs is None else n_jobs
        prog = design.progress if progress is None else progress
        return leave_one_out(
            design, self.weights, self.treated_path, self.synthetic_path, jobs, prog
        )

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
        design = self._need_design()
        refuse_method(design.spec.method, "conformal()")
        lev = self.level if level is None else check_level(level)
        grid = check_positive_int(n_grid, "n_grid", 10)
        if not isinstance(statistic_q, numbers.Real) or statistic_q <= 0:
            raise DataValidationError(
                f"`statistic_q` must be a positive number; received {statistic_q!r}"
            )
        return conformal_table(
            design,
            lev,
            grid,
            float(statistic_q),
            n_obs=self.n_obs,
            provenance=self.provenance,
        )

    def prediction_intervals(
        self,
        *,
        level: float | None = None,
        out_of_sample: Literal["gaussian", "ls", "qreg"] = "gaussian",
        n_sims: int = 200,
        rho: float | None = None,
        rho_max: float = 0.2,
        rng: int | np.random.Generator | None = 0,
    ) -> PredictionIntervals:
        """Prediction intervals for the counterfactual ``Y(0)`` of each post period
        (Cattaneo, Feng & Titiunik 2021; R/Stata/Python ``scpi``).

        The error of the synthetic prediction ``p_t'w_hat`` of ``Y_1t(0)`` has two parts:
        the weights' estimation error ``p_t'(w0 - w_hat)`` (in-sample) and the outcome
        shock ``e_t`` (out-of-sample). The in-sample bounds simulate the constrained
        estimator's limiting distribution (``n_sims`` Gaussian draws, each solved exactly
        on the locally relaxed simplex; see :mod:`impacteval.synth._scpi_insample`), the
        out-of-sample bounds model ``e_t`` from the pre-period residuals
        (:mod:`impacteval.synth._scpi_outsample`). ``1 - level`` is split equally between
        the two, so the combined interval (the sum of the bounds) covers ``Y_1t(0)`` with
        probability at least ``level``; ``ci_lower``/``ci_upper`` are the implied effect
        intervals ``Y_1t - upper`` to ``Y_1t - lower``.

        Parameters
        ----------
        level : float, optional
            Coverage of the combined interval (default: the result's level).
        out_of_sample : {"gaussian", "ls", "qreg"}
            Model of the out-of-sample error: sub-Gaussian bound, location-scale with
            empirical quantiles of the standardised residuals, or quantile regression.
        n_sims : int
            Draws for the in-sample bounds (scpi's default 200; at least 50).
        rho : float, optional
            Threshold below which a weight is treated as zero in the local geometry
            (default: scpi's "type-2" rule, capped at ``rho_max``).
        rho_max : float
            Cap on the data-driven ``rho``.
        rng : int, numpy.random.Generator or None
            Seed of the draws; the same seed gives the same intervals.

        Returns
        -------
        PredictionIntervals
            An :class:`~impacteval.results.EffectTable` by post period (``time``), with
            the in-sample, out-of-sample and combined bounds for ``Y(0)``; ``.plot()``.

        Raises
        ------
        DataValidationError
            A malformed argument.
        ValueError
            The result is augmented (the intervals are for the simplex weights) or was not
            built by :func:`synthetic_control`, or has no post-period.
        DataValidationError
            The result was fitted with ``method="penalized"`` or ``"robust"`` (the theory
            is for the standard simplex weights).

        Notes
        -----
        The theory is for weights that minimise the pre-period outcome distance over the
        simplex; with ``predictors=()`` that is this fit, and the bounds are scpi's with
        the outcome as the only feature, no constant and scpi's defaults (``u_order=1``,
        ``e_order=1``, HC1). With predictors and a searched V the same outcome features
        (the donors' outcomes over ``fit_period``) are used, centred at this result's
        weights: an approximation that treats the V-searched weights as if they solved
        the outcome problem. The in-sample bounds are Monte Carlo quantiles (error of
        order ``1/sqrt(n_sims)``); the out-of-sample bounds are deterministic.

        References
        ----------
        Cattaneo, M. D., Feng, Y., & Titiunik, R. (2021). Prediction intervals for
        synthetic control methods. JASA 116(536), 1865-1880. Cattaneo, Feng, Palomba &
        Titiunik (2025), scpi: uncertainty quantification for synthetic control methods,
        Journal of Statistical Software.
        """
        design = self._need_design()
        refuse_method(design.spec.method, "prediction_intervals()")
        if self.bias_correction is not None:
            raise ValueError(
                "prediction intervals are defined for the simplex weights; call "
                "prediction_intervals() on the result before .augment()"
            )
        lev = self.level if level is None else check_level(level)
        method = check_choice(out_of_sample, "out_of_sample", OUT_METHODS)
        sims = check_positive_int(n_sims, "n_sims", 50)
        rho_v = check_rho(rho, "rho", allow_none=True)
        rho_m = check_rho(rho_max, "rho_max", allow_none=False)
        generator, seed = check_rng(rng)
        spec = design.spec
        post = ~spec.pre
        if not post.any():
            raise ValueError("this fit has no post-treatment period to predict")
        options = {
            **self.provenance.options,
            "prediction_intervals": {
                "level": lev,
                "out_of_sample": method,
                "n_sims": sims,
                "rho": rho_v,
                "rho_max": rho_m,
            },
        }
        return prediction_intervals(
            design.panel.y,
            treated=design.treated,
            donors=design.donors,
            w=self.weights.to_numpy(),
            fit=spec.fit,
            post=post,
            times=self.gaps.index,
            level=lev,
            out_of_sample=method,
            n_sims=sims,
            rho=rho_v,
            rho_max=float(rho_m or 0.2),
            rng=generator,
            meta={
                "n_obs": self.n_obs,
                "warnings": self.warnings,
                "treated_unit": self.treated_unit,
                "treatment_time": self.treatment_time,
                "provenance": replace(self.provenance, options=options, seed=seed),
            },
        )

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
        refuse_method(self._need_design().spec.method, "augment()")
        if self.bias_correction is not None:
            raise ValueError("this result is already augmented")
        lam = check_ridge_lambda(ridge_lambda)
        return augmented_result(self, self._need_design(), lam)

    # -- display -----------------------------------------------------------------------
    def plot(self, ax: Any = None) -> Any:
        """Two panels: treated vs synthetic paths, and the gap, with the treatment time
        marked. ``ax`` may be a pair of Axes; returns the pair."""
        from impacteval.plotting.synth import SyntheticControlDisplay

        display = SyntheticControlDisplay(
            treated_path=self.treated_path,
            synthetic_path=self.synthetic_path,
            gaps=self.gaps,
            treatment_time=self.treatment_time,
            treated_label=str(self.treated_unit),
            outcome=self.outcome or "outcome",
        )
        return display.draw(ax)

    def summary(self) -> Any:
        """A :class:`~impacteval.results.Summary`: headline facts and the donor weights."""
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


def check_rho(value: object, param: str, *, allow_none: bool) -> float | None:
    """``rho`` / ``rho_max``: a number in (0, 1] (or None where allowed)."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 < float(value) <= 1.0
    ):
        expected = "a number in (0, 1] or None" if allow_none else "a number in (0, 1]"
        raise DataValidationError(f"`{param}` must be {expected}; received {value!r}")
    return float(value)


def _balance(design: Design, ufit: UnitFit, index: pd.Index) -> pd.DataFrame:
    """Predictors (rows): treated, synthetic, unweighted donor average and V."""
    spec = design.spec
    x = spec.x if spec.x is not None else design.panel.y[spec.fit]
    return pd.DataFrame(
        {
            "treated": x[:, ufit.treated],
            "synthetic": x[:, ufit.donors] @ ufit.w,
            "donor_average": x[:, ufit.donors].mean(axis=1),
            "v_weight": ufit.v,
        },
        index=index,
    )


def build_result(
    design: Design,
    ufit: UnitFit,
    *,
    level: float,
    warnings: tuple[str, ...],
    options: dict[str, Any],
    data: pd.DataFrame,
    placebo: PlaceboTest | None = None,
) -> SyntheticControl:
    """The :class:`SyntheticControl` of ``ufit``; with ``placebo`` (the in-space test of
    this fit) its p-value is the result's."""
    panel, spec = design.panel, design.spec
    units, times = panel.units, pd.Index(panel.times, name=panel.time_col)
    donor_labels = pd.Index([units[i] for i in ufit.donors], name=panel.unit_col)
    v_weights = pd.Series(ufit.v, index=pd.Index(design.predictor_labels, name="predictor"))
    post = ~spec.pre
    pre_gaps = ufit.gaps[spec.pre]
    pre_gaps = pre_gaps[np.isfinite(pre_gaps)]  # a missing pre-period outcome (robust SC)
    pre_rmspe = float(np.sqrt(np.mean(pre_gaps**2)))
    post_rmspe = float(np.sqrt(np.mean(ufit.gaps[post] ** 2))) if post.any() else math.nan
    estimate = float(ufit.gaps[post].mean()) if post.any() else math.nan
    cols = [panel.unit_col, panel.time_col, panel.outcome, *{s.column for s in design.predictors}]
    details: dict[str, Any] = {
        "v_starts": ufit.starts,
        "fit_mspe": ufit.loss_v,
        "predictor_loss": ufit.loss_w,
        "predictor_scale": pd.Series(ufit.scale, index=v_weights.index),
        "n_pre": int(spec.pre.sum()),
        "n_post": int(post.sum()),
    }
    if placebo is not None:
        details["placebo"] = placebo
    return SyntheticControl(
        estimate=estimate,
        std_error=math.nan,
        ci_lower=math.nan,
        ci_upper=math.nan,
        p_value=math.nan if placebo is None else placebo.p_value,
        level=level,
        estimand="ATT",
        method="synthetic control (Abadie, Diamond & Hainmueller 2010)",
        n_obs=int(panel.y.shape[0] * (1 + len(ufit.donors))),
        n_treated=1,
        n_control=len(ufit.donors),
        ci_method="none" if placebo is None else "placebo (in space)",
        outcome=panel.outcome,
        warnings=warnings,
        provenance=Provenance(
            options=options, data_fingerprint=fingerprint(data, cols), seed=spec.seed
        ),
        details=details,
        weights=pd.Series(ufit.w, index=donor_labels, name="weight"),
        v_weights=v_weights,
        treated_path=pd.Series(panel.y[:, ufit.treated], index=times, name="treated"),
        synthetic_path=pd.Series(ufit.synthetic, index=times, name="synthetic"),
        gaps=pd.Series(ufit.gaps, index=times, name="gap"),
        pre_rmspe=pre_rmspe,
        post_rmspe=post_rmspe,
        fit_rmspe=math.sqrt(ufit.loss_v),
        balance=_balance(design, ufit, v_weights.index),
        treated_unit=units[ufit.treated],
        treatment_time=design.treatment_time,
        _design=design,
    )


def augmented_result(
    result: SyntheticControl, design: Design, lam: float | None
) -> SyntheticControl:
    """``result`` with the ridge bias correction applied (see
    :meth:`SyntheticControl.augment`)."""
    spec, panel = design.spec, design.panel
    y = panel.y
    pre, post = spec.pre, ~spec.pre
    w = result.weights.to_numpy()
    y0 = y[:, design.donors]
    corr, w_aug, lam_used = ridge_correction(y[pre, design.treated], y0[pre], y0, w, post, lam)
    bias = pd.Series(corr, index=result.gaps.index, name="bias_correction")
    synthetic = result.synthetic_path + bias
    gaps = (result.treated_path - synthetic).rename("gap")
    g = gaps.to_numpy()
    return replace(
        result,
        estimate=float(g[post].mean()) if post.any() else math.nan,
        method="augmented synthetic control, ridge outcome model (Ben-Michael et al. 2021)",
        synthetic_path=synthetic.rename("synthetic"),
        gaps=gaps,
        pre_rmspe=float(np.sqrt(np.mean(g[pre] ** 2))),
        post_rmspe=float(np.sqrt(np.mean(g[post] ** 2))) if post.any() else math.nan,
        fit_rmspe=float(np.sqrt(np.mean(g[spec.fit] ** 2))),
        bias_correction=bias,
        p_value=math.nan,
        ci_method="none",
        details={
            **result.details,
            "ridge_lambda": lam_used,
            "augmented_weights": pd.Series(w_aug, index=result.weights.index),
            "average_bias_correction": float(corr[post].mean()) if post.any() else math.nan,
            "estimate_unaugmented": result.estimate,
        },
    )
