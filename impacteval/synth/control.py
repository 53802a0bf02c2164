"""Abadie-Diamond-Hainmueller synthetic control for one treated unit: the entry point.

:func:`synthetic_control` reads as the pipeline it runs: check the scalar options, build the
panel (:mod:`._scm_data`), check the design against it (:mod:`._scm_design`), fit
(:mod:`._scm_core`, numerics in :mod:`._scm_numerics`), run the placebo test
(:mod:`._scm_inference`) and build the :class:`SyntheticControl` (:mod:`._scm_result`), which
carries the weights, paths and gaps and offers the placebo tests, leave-one-out, conformal
inference and the ridge-augmented estimator.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from impacteval._parallel import one_blas_thread
from impacteval._validation import check_choice, check_level, check_positive_int, check_rng
from impacteval._warn import WarningLog
from impacteval.exceptions import DataValidationError, ImpactEvalWarning
from impacteval.synth._scm_core import UnitFit, fit_unit
from impacteval.synth._scm_data import build_panel, parse_predictors
from impacteval.synth._scm_design import (
    check_ridge_lambda,
    prepare_design,
    provenance_options,
)
from impacteval.synth._scm_inference import placebo_space
from impacteval.synth._scm_penalized_design import (
    check_method_options,
    method_details,
    missing_outcome_warning,
)
from impacteval.synth._scm_result import SyntheticControl, build_result

__all__ = ["ConvexHullWarning", "SyntheticControl", "synthetic_control"]


class ConvexHullWarning(ImpactEvalWarning):
    """The treated unit lies outside the donors' convex hull: the pre-period fit is poor."""


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
    method: Literal["standard", "penalized", "robust"] = "standard",
    penalty: float | None = None,
    rank: int | None = None,
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
        Ridge penalty for ``augment="ridge"`` (default: chosen by leave-one-donor-out);
        with ``method="robust"`` the ridge penalty of its regression (default 0: least
        squares, the minimum-norm solution).
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
    method : {"standard", "penalized", "robust"}
        ``"standard"``: ADH synthetic control. ``"penalized"``: Abadie & L'Hour (2021),
        weights penalised by their donors' distances to the treated unit (unique, sparse;
        see Notes). ``"robust"``: Amjad, Shah & Shen (2018), regression on the donors'
        outcomes de-noised by singular value thresholding (outcomes only: no
        ``predictors`` or ``v``; the weights are unconstrained).
    penalty : float, optional
        ``method="penalized"``: the penalty lambda >= 0 (default: chosen by the paper's
        pre-intervention hold-out, see Notes).
    rank : int, optional
        ``method="robust"``: singular values kept (default: chosen by forward-chaining
        validation, see Notes).

    Returns
    -------
    SyntheticControl
        ``estimate`` is the average post-period gap (ATT of the treated unit);
        ``std_error`` and the interval are NaN (see :meth:`SyntheticControl.conformal`).

    Raises
    ------
    DataValidationError
        Treated unit missing or among the donors, an unbalanced panel or missing outcome
        (``method="robust"``: only a treated unit's outcome missing after treatment, or
        observed in fewer than two fit periods),
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
    ``||Z_1 - Z_0 W(V)||^2 / T_fit`` by Nelder-Mead (stopped once its best value has not
    improved by more than 1e-12, relatively, over 25 iterations per predictor) then BFGS
    from ``n_starts`` starting points; the best is kept and every start's loss is in
    ``details["v_starts"]`` (with a last entry ``"best of tied W"`` when the choice among
    tied W improved the fit). The problem in V is not convex and nearly flat near the
    optimum, so weights from different software differ slightly; compare fits by the
    pre-period RMSPE.

    ``method="penalized"`` minimises ``||X_1 - X_0 W||_V^2 + lambda sum_j W_j ||X_1 -
    X_0j||_V^2`` on the simplex (exactly, by an active-set method), with the predictors
    scaled as above and V given or chosen by the standard nested search at lambda = 0 and
    then held fixed (pass ``v=[1] * k`` for the paper's equal weights on standardised
    predictors); without predictors X are the fit-period outcomes. ``lambda -> 0`` gives
    the synthetic control, large lambda the nearest donor. With ``penalty=None`` lambda
    minimises the hold-out MSPE: weights from the first ``ceil(T_fit / 2)`` fit periods
    (predictors recomputed from those years) predict the treated unit's outcomes in the
    remaining fit periods, over 41 penalties log-spaced over eight decades up to the
    smallest lambda giving the nearest neighbour (that end clipped to [0.01, 1e4]);
    near-ties go to the larger lambda. Predictors with no year in the training half are
    left out of the hold-out (with ADH's Prop 99 predictors, mostly 1980-88 averages, only
    one would remain: use outcomes, or give ``penalty``).
    ``details["penalty"]``, ``details["penalty_holdout"]``.

    ``method="robust"`` keeps the ``rank`` largest singular values of the donors' outcome
    matrix (all periods), regresses the treated unit's fit-period outcomes on the
    de-noised donors (ridge ``ridge_lambda``, default least squares, minimum norm) and
    predicts every period from the de-noised donors. With ``rank=None`` the rank minimises
    the one-step-ahead error of forward chaining over the second half of the fit period
    (near-ties to the smaller rank). ``details["rank"]``, ``details["singular_values"]``,
    ``details["rank_validation"]``. Missing outcomes (NaN; the row must be present) are
    accepted by this method only, as the paper's matrix estimation: missing donor
    entries are set to 0 and the truncated SVD divided by the observed share ``p_hat``
    (``details["observed_share"]``); treated fit periods with a missing outcome are
    left out of the regression. The counts are ``details["n_missing_donors"]`` and
    ``details["n_missing_treated_fit"]``, and a warning states them. The weights may be
    negative and need not sum to one, so there is no convex-hull warning. Placebo tests
    and leave-one-out refit with the same method and the same rules for lambda and the
    rank; conformal inference and
    ``augment`` are for the standard method only.

    Identification: the treated unit's untreated outcome is (approximately) the same
    weighted average of donors after treatment as before; no donor is affected by the
    treatment; no anticipation.

    References
    ----------
    Abadie, A., Diamond, A., & Hainmueller, J. (2010). Synthetic control methods for
    comparative case studies. JASA 105(490). Abadie, A., & Gardeazabal, J. (2003). The
    economic costs of conflict. AER 93(1). R: ``Synth::synth``. Abadie, A., & L'Hour, J.
    (2021). A penalized synthetic control estimator for disaggregated data. JASA
    116(536); R ``pensynth``. Amjad, M., Shah, D., & Shen, D. (2018). Robust synthetic
    control. JMLR 19(22). Python ``pysyncon`` (``PenalizedSynth``, ``RobustSynth``).

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
    >>> near = ie.synth.synthetic_control(df, outcome="y", unit="unit", time="t",
    ...                                   treated_unit="T", treatment_time=8,
    ...                                   method="penalized", penalty=100.0)
    >>> near.weights.round(2).to_dict()  # a large penalty: the nearest donor alone
    {'A': 0.0, 'B': 0.0, 'C': 0.0, 'D': 1.0}
    """
    specs = parse_predictors(predictors)
    pred_cols = list(dict.fromkeys(s.column for s in specs))
    opts = check_method_options(
        method,
        penalty=penalty,
        rank=rank,
        ridge_lambda=ridge_lambda,
        augment=augment,
        has_predictors=bool(specs),
        v=v,
    )
    panel = build_panel(
        data,
        outcome=outcome,
        unit=unit,
        time=time,
        predictor_columns=pred_cols,
        allow_missing_outcome=opts.method == "robust",
    )
    inference = check_choice(inference, "inference", ("placebo", "none"))  # type: ignore[assignment]
    if augment is not None:
        check_choice(augment, "augment", ("ridge",))
        check_ridge_lambda(ridge_lambda)
    elif ridge_lambda is not None and opts.method == "standard":
        raise DataValidationError("`ridge_lambda` is only used with augment='ridge'")
    lev = check_level(level)
    n_starts = check_positive_int(n_starts, "n_starts", 2)
    _, seed = check_rng(rng)
    if n_jobs is not None and n_jobs != -1:  # -1: every core, as joblib
        check_positive_int(n_jobs, "n_jobs")
    design = prepare_design(
        panel,
        specs=specs,
        treated_unit=treated_unit,
        treatment_time=treatment_time,
        fit_period=fit_period,
        v=v,
        donors=donors,
        n_starts=n_starts,
        seed=0 if seed is None else seed,
        n_jobs=n_jobs,
        progress=progress,
        options=opts,
    )

    log = WarningLog()
    if opts.method == "robust":
        spec = design.spec
        missing_outcome_warning(panel, spec.pre, spec.fit, design.treated, design.donors, log)
    with warnings.catch_warnings(record=True) as caught:  # the optimiser's, kept on the result
        warnings.simplefilter("always")
        with one_blas_thread():  # as the placebo refits (see run_many)
            ufit = fit_unit(design.spec, design.treated, design.donors)
    log.extend([str(w.message) for w in caught])
    hull = None if opts.method == "robust" else _hull_warning(ufit, panel.y, design.spec.fit)
    if hull is not None:
        log.warn(hull, ConvexHullWarning)
    placebo = None
    if inference == "placebo":
        placebo = placebo_space(design, ufit.gaps, None, design.n_jobs, design.progress, log=log)

    result = build_result(
        design,
        ufit,
        level=lev,
        warnings=log.messages,
        options=provenance_options(design, inference=inference, augment=augment, level=lev),
        data=data,
        placebo=placebo,
    )
    if opts.method != "standard":
        label, extra = method_details(opts.method, ufit.info)
        result = replace(result, method=label, details={**result.details, **extra})
    if augment == "ridge":
        result = result.augment(ridge_lambda=ridge_lambda)
    return result
