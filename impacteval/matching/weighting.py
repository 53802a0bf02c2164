"""Weighting estimators: inverse probability weighting, augmented IPW (doubly robust) and
entropy balancing.

Public entry points are thin: they check input once, then call the array-in/array-out
numerics in ``_weights_ipw`` (scores, trimming, nuisance fits, built on ``_weights_logit``
and the M-estimation sandwiches of ``_weights_mest``) and build the result.
Entropy balancing lives in :mod:`impacteval.matching.entropy` (numerics in
``_weights_ebal``) and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from impacteval._validation import as_column_list, check_bool, check_choice, check_level, check_rng
from impacteval._warn import WarningLog
from impacteval.exceptions import DataValidationError
from impacteval.matching._weights_input import Arrays, arrays, check_trim, kish, standardised_design
from impacteval.matching._weights_ipw import AIPWFit, IPWFit, check_cross_fit, fit_aipw, fit_ipw
from impacteval.matching.entropy import EntropyBalance, entropy_balance
from impacteval.results import EffectEstimate, Provenance, fingerprint

__all__ = ["EntropyBalance", "aipw", "entropy_balance", "ipw"]


# -- IPW ------------------------------------------------------------------------------------
def ipw(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    covariates: Sequence[str],
    estimand: str = "ATE",
    model: Any = None,
    trim: str | float | None = None,
    normalize: bool = True,
    level: float = 0.95,
) -> EffectEstimate:
    """Inverse probability weighting with a sandwich variance for the estimated score.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit.
    outcome, treatment : str
        Outcome column and binary (0/1) treatment column.
    covariates : sequence of str
        Pre-treatment covariates of the propensity model (numeric; enter linearly -- add
        squares or interactions as columns).
    estimand : {"ATE", "ATT"}
        ATE weights ``z/e + (1-z)/(1-e)``; ATT weights ``z + (1-z) e/(1-e)``.
    model : scikit-learn classifier, optional
        Propensity model with ``fit``/``predict_proba`` (cloned, fitted on the covariates).
        Default: unpenalised logit by maximum likelihood.
    trim : None, "crump" or float
        ``"crump"``: drop units whose score lies outside ``[alpha, 1 - alpha]`` with the
        optimal alpha of Crump et al. (2009); a float is used as alpha directly. The
        propensity model is refitted on the units kept.
    normalize : bool
        True (default): Hajek -- weights normalised to sum to one within each arm.
        False: Horvitz-Thompson.
    level : float
        Confidence level of the (normal) interval.

    Returns
    -------
    EffectEstimate
        ``details``: ``weights`` (Series on the input index, 0 for trimmed units),
        ``propensity_score`` (Series; NaN for trimmed units), ``mu1``, ``mu0``,
        ``trim_alpha``, ``n_trimmed``, ``ps_coefficients`` (logit, original covariate
        scale; None with ``model``), ``ess_treated``, ``ess_control`` (Kish), ``se_type``.

    Raises
    ------
    DataValidationError
        Missing columns, non-binary treatment, constant or collinear covariates, perfect
        separation (the message names the covariates), scores within 1e-10 of 0 or 1 that
        make weights unbounded for the ``estimand`` (treated near 0 or controls near 1 for
        the ATE, controls near 1 for the ATT; checked after trimming; any 0/1 score from a
        custom ``model``), bad ``estimand``/``trim``/``level``, or an empty arm after
        trimming.

    Notes
    -----
    The estimate is ``mu1 - mu0``, arm means weighted as above. With the default logit the
    variance stacks the logit score ``x (z - e(x'beta))`` with the weighted-mean equations
    (Hajek ATE: ``z (y - mu1)/e`` and ``(1-z)(y - mu0)/(1-e)``; Hajek ATT: ``z (y - mu1)``
    and ``(1-z) e/(1-e) (y - mu0)``; Horvitz-Thompson analogues without the centring) and
    reports ``A^{-1} B A^{-T}/n`` for ``theta = (beta, mu1, mu0)``, with ``A`` the mean
    Jacobian (analytic) and ``B`` the mean outer product of the scores (Lunceford &
    Davidian 2004; Stefanski & Boos 2002). This is what ``PSweight`` and ``WeightIt``
    (M-estimation, ``vcov = "asympt"``) compute, without finite-sample correction. With a
    custom ``model`` the scores are treated as known (the ``beta`` block is dropped); for
    the ATE this is usually conservative. With trimming the trimmed set is treated as
    fixed and the estimand becomes the effect on the overlap population.

    Identification: unconfoundedness given the covariates, overlap (0 < e < 1) and a
    correctly specified propensity model.

    References
    ----------
    Lunceford, J. K. and Davidian, M. (2004). Stratification and weighting via the
    propensity score in estimation of causal treatment effects. Statistics in Medicine
    23, 2937-2960. Crump, R. K., Hotz, V. J., Imbens, G. W. and Mitnik, O. A. (2009).
    Dealing with limited overlap in estimation of average treatment effects. Biometrika
    96(1), 187-199. R: ``PSweight::PSweight``, ``WeightIt::weightit`` + ``glm_weightit``.

    Examples
    --------
    >>> import impacteval as ie
    >>> from impacteval.matching.weighting import ipw
    >>> nsw = ie.datasets.load("nsw_dw")
    >>> res = ipw(nsw, outcome="re78", treatment="treat",
    ...           covariates=["age", "educ", "black", "re74", "re75"])
    >>> res.estimand, res.std_error > 0
    ('ATE', True)
    """
    level = check_level(level)
    estimand = check_choice(estimand, "estimand", ("ATE", "ATT"))
    normalize = check_bool(normalize, "normalize")
    trim = check_trim(trim)
    covs = as_column_list(covariates, "covariates")
    arr = arrays(data, outcome, treatment, covs)
    design = standardised_design(arr.x, covs)
    fit = fit_ipw(arr, design, covs, estimand=estimand, model=model, trim=trim,
                  normalize=normalize)  # fmt: skip
    log = WarningLog()
    for message in fit.messages:
        log.warn(message)
    options = {
        "estimand": estimand,
        "normalize": normalize,
        "trim": trim,
        "trim_alpha": fit.alpha,
        "model": None if model is None else repr(model),
        "covariates": covs,
        "level": level,
    }
    ps_name = "logit PS" if model is None else f"{type(model).__name__} PS"
    return _ipw_result(arr, fit, outcome, treatment, covs, options, ps_name, log.messages)


def _ipw_result(
    arr: Arrays,
    fit: IPWFit,
    outcome: str,
    treatment: str,
    covs: list[str],
    options: dict[str, Any],
    ps_name: str,
    messages: tuple[str, ...],
) -> EffectEstimate:
    """The EffectEstimate of one ``ipw`` call."""
    keep, zk = fit.keep, arr.z[fit.keep]
    wk = fit.weights[keep]
    coef_orig: pd.Series | None = None
    if fit.beta is not None:
        # the design was standardised on all complete rows; undo that scaling
        x = arr.x
        slopes = fit.beta[1:] / x.std(axis=0)
        intercept = fit.beta[0] - float(slopes @ x.mean(axis=0))
        coef_orig = pd.Series(np.concatenate([[intercept], slopes]), index=["Intercept", *covs])
    kind = "Hajek" if options["normalize"] else "Horvitz-Thompson"
    se_type = (
        "M-estimation sandwich (logit PS estimated)"
        if fit.beta is not None
        else "sandwich with the propensity scores treated as known"
    )
    return EffectEstimate.from_wald(
        fit.m_est.estimate,
        fit.m_est.std_error,
        level=options["level"],
        df=None,
        estimand=options["estimand"],
        method=f"IPW ({kind}, {ps_name}; {se_type})",
        n_obs=int(keep.sum()),
        n_treated=int(zk.sum()),
        n_control=int((1.0 - zk).sum()),
        outcome=outcome,
        n_dropped=arr.prepared.n_dropped,
        warnings=messages,
        provenance=Provenance(
            options=options,
            data_fingerprint=fingerprint(arr.prepared.frame, [outcome, treatment, *covs]),
        ),
        details={
            "weights": pd.Series(fit.weights, index=arr.index, name="weight"),
            "propensity_score": pd.Series(fit.propensity, index=arr.index, name="propensity_score"),
            "mu1": fit.m_est.mu1,
            "mu0": fit.m_est.mu0,
            "trim_alpha": fit.alpha,
            "n_trimmed": int((~keep).sum()),
            "ps_coefficients": coef_orig,
            "ess_treated": kish(wk[zk == 1]),
            "ess_control": kish(wk[zk == 0]),
            "se_type": se_type,
        },
    )


# -- AIPW -----------------------------------------------------------------------------------
def aipw(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    covariates: Sequence[str],
    outcome_model: Any = None,
    propensity_model: Any = None,
    cross_fit: int = 0,
    estimand: str = "ATE",
    rng: int | np.random.Generator | None = None,
    level: float = 0.95,
) -> EffectEstimate:
    """Augmented inverse probability weighting (doubly robust), optionally cross-fitted.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit.
    outcome, treatment : str
        Outcome column and binary (0/1) treatment column.
    covariates : sequence of str
        Covariates of both nuisance models (numeric).
    outcome_model : scikit-learn regressor, optional
        Fitted separately in each arm (cloned). Default: linear regression (OLS with an
        intercept) in each arm.
    propensity_model : scikit-learn classifier, optional
        With ``fit``/``predict_proba``. Default: unpenalised logit.
    cross_fit : int
        Number of folds (stratified by arm) for cross-fitting; 0 (default) fits the nuisance
        models once on all units.
    estimand : {"ATE", "ATT"}
    rng : int, numpy Generator or None
        Seed of the fold assignment (only used with ``cross_fit``).
    level : float
        Confidence level of the (normal) interval.

    Returns
    -------
    EffectEstimate
        ``details``: ``propensity_score``, ``mu1_hat``, ``mu0_hat`` (Series on the input
        index), ``influence`` (the estimated influence function, array), ``folds`` (array
        or None).

    Raises
    ------
    DataValidationError
        As :func:`ipw`; also an invalid ``cross_fit`` or too few units per arm for it.

    Notes
    -----
    ATE: ``tau = mean(phi)``, ``phi = m1 - m0 + z (y - m1)/e - (1-z)(y - m0)/(1-e)``;
    ATT: ``tau = sum[z (y - m0) - (1-z) e/(1-e) (y - m0)] / sum z``. The standard error is
    ``sqrt(mean(IF^2)/n)`` with ``IF = phi - tau`` (ATE) or
    ``IF = [z (y - m0) - (1-z) e/(1-e)(y - m0) - z tau] / mean(z)`` (ATT), which treats the
    nuisance fits as known -- valid when both are consistent, or with cross-fitting under
    the usual rate conditions (Chernozhukov et al. 2018). The estimator is consistent when
    either the outcome model or the propensity model is correct. With the outcome model
    set to the zero function it reduces to Horvitz-Thompson IPW.

    References
    ----------
    Robins, J. M., Rotnitzky, A. and Zhao, L. P. (1994). JASA 89, 846-866. Chernozhukov, V.
    et al. (2018). Double/debiased machine learning. Econometrics Journal 21, C1-C68.
    R: ``AIPW::AIPW``, ``DoubleML``; Stata ``teffects aipw``.

    Examples
    --------
    >>> import impacteval as ie
    >>> from impacteval.matching.weighting import aipw
    >>> nsw = ie.datasets.load("nsw_dw")
    >>> res = aipw(nsw, outcome="re78", treatment="treat",
    ...            covariates=["age", "educ", "black", "re74", "re75"])
    >>> res.method
    'AIPW (doubly robust; influence-function SE)'
    """
    level = check_level(level)
    estimand = check_choice(estimand, "estimand", ("ATE", "ATT"))
    k = check_cross_fit(cross_fit)
    gen, seed = check_rng(rng)
    if outcome_model is not None and not (
        hasattr(outcome_model, "fit") and hasattr(outcome_model, "predict")
    ):
        raise DataValidationError(
            "`outcome_model` must be a scikit-learn style regressor with fit and predict; "
            f"received {type(outcome_model).__name__}"
        )
    covs = as_column_list(covariates, "covariates")
    arr = arrays(data, outcome, treatment, covs)
    design = standardised_design(arr.x, covs)
    fit = fit_aipw(arr, design, covs, k=k, gen=gen, outcome_model=outcome_model,
                   propensity_model=propensity_model, estimand=estimand)  # fmt: skip
    options = {
        "estimand": estimand,
        "outcome_model": None if outcome_model is None else repr(outcome_model),
        "propensity_model": None if propensity_model is None else repr(propensity_model),
        "cross_fit": k,
        "covariates": covs,
        "level": level,
    }
    return _aipw_result(arr, fit, outcome, treatment, covs, options, seed if k else None)


def _aipw_result(
    arr: Arrays,
    fit: AIPWFit,
    outcome: str,
    treatment: str,
    covs: list[str],
    options: dict[str, Any],
    seed: int | None,
) -> EffectEstimate:
    """The EffectEstimate of one ``aipw`` call."""
    z, k = arr.z, options["cross_fit"]
    n = z.size
    return EffectEstimate.from_wald(
        fit.estimate,
        fit.std_error,
        level=options["level"],
        df=None,
        estimand=options["estimand"],
        method="AIPW (doubly robust; influence-function SE"
        + (f", {k}-fold cross-fitting)" if k else ")"),
        n_obs=n,
        n_treated=int(z.sum()),
        n_control=int(n - z.sum()),
        outcome=outcome,
        n_dropped=arr.prepared.n_dropped,
        provenance=Provenance(
            options=options,
            data_fingerprint=fingerprint(arr.prepared.frame, [outcome, treatment, *covs]),
            seed=seed,
        ),
        details={
            "propensity_score": pd.Series(fit.propensity, index=arr.index, name="propensity_score"),
            "mu1_hat": pd.Series(fit.mu1, index=arr.index, name="mu1_hat"),
            "mu0_hat": pd.Series(fit.mu0, index=arr.index, name="mu0_hat"),
            "influence": fit.influence,
            "folds": fit.folds,
        },
    )
