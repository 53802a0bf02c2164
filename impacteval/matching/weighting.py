"""Weighting estimators: inverse probability weighting, augmented IPW (doubly robust) and
entropy balancing.

Public entry points are thin: they check input once, then call the array-in/array-out
numerics in ``_weights_logit`` (propensity scores, trimming), ``_weights_mest`` (stacked
M-estimation sandwiches) and ``_weights_ebal`` (the entropy-balancing dual).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from impacteval._validation import check_choice, check_level, check_rng
from impacteval.exceptions import (
    ConvergenceError,
    ConvergenceWarning,
    DataValidationError,
    ImpactEvalWarning,
)
from impacteval.matching._weights_ebal import infeasible_features, solve_dual
from impacteval.matching._weights_input import (
    arrays,
    as_list,
    check_bool,
    check_trim,
    kish,
    logit_scores,
    model_scores,
    standardised_design,
)
from impacteval.matching._weights_logit import check_scores, crump_alpha, fit_logit
from impacteval.matching._weights_mest import ebal_att_mestimation, ipw_mestimation
from impacteval.results import EffectEstimate, Provenance, Summary, SummaryDisplay, fingerprint

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
    covs = as_list(covariates, "covariates")
    arr = arrays(data, outcome, treatment, covs)
    y, z, x = arr.y, arr.z, arr.x
    design = standardised_design(x, covs)
    caught: list[str] = []

    def scores(rows: np.ndarray, first: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        # before trimming only separation is fatal: trimming may drop the extreme scores
        only_sep = first and trim is not None
        if model is None:
            return logit_scores(design[rows], z[rows], x[rows], covs, estimand=estimand,
                                separation_only=only_sep)  # fmt: skip
        e_m = model_scores(model, x[rows], z[rows], x[rows], "model")
        check_scores(e_m, x=x[rows], z=z[rows], names=covs, source="`model`",
                     estimand=estimand, separation_only=only_sep, strict=True)  # fmt: skip
        return e_m, None

    keep = np.ones(z.size, dtype=bool)
    e_all, beta = scores(keep, first=True)
    alpha = 0.0
    if trim is not None:
        alpha = crump_alpha(e_all) if trim == "crump" else float(trim)
        keep = (e_all >= alpha) & (e_all <= 1.0 - alpha)
        if keep.all():
            e_keep, beta = scores(keep)  # nothing trimmed: the full check
        else:
            if z[keep].min() == z[keep].max():
                raise DataValidationError(
                    f"`trim`: trimming at alpha={alpha:.4g} leaves only one arm; use a "
                    "smaller threshold"
                )
            msg = (
                f"trim: {int((~keep).sum())} units with propensity scores outside "
                f"[{alpha:.4g}, {1 - alpha:.4g}] dropped; the estimand is the "
                f"{estimand} on the remaining (overlap) population"
            )
            warnings.warn(msg, ImpactEvalWarning, stacklevel=2)
            caught.append(msg)
            e_keep, beta = scores(keep)
    else:
        e_keep = e_all
    yk, zk = y[keep], z[keep]
    m_est = ipw_mestimation(
        yk,
        zk,
        e_keep,
        estimand=estimand,
        normalize=normalize,
        x=design[keep] if beta is not None else None,
        beta=beta,
    )
    if estimand == "ATE":
        wk = zk / e_keep + (1.0 - zk) / (1.0 - e_keep)
    else:
        wk = zk + (1.0 - zk) * e_keep / (1.0 - e_keep)
    weights = np.zeros(z.size)
    weights[keep] = wk
    ps = np.full(z.size, np.nan)
    ps[keep] = e_keep
    coef_orig: pd.Series | None = None
    if beta is not None:
        # the design was standardised on all complete rows; undo that scaling
        slopes = beta[1:] / x.std(axis=0)
        intercept = beta[0] - float(slopes @ x.mean(axis=0))
        coef_orig = pd.Series(np.concatenate([[intercept], slopes]), index=["Intercept", *covs])
    kind = "Hajek" if normalize else "Horvitz-Thompson"
    ps_name = "logit PS" if model is None else f"{type(model).__name__} PS"
    se_type = (
        "M-estimation sandwich (logit PS estimated)"
        if beta is not None
        else "sandwich with the propensity scores treated as known"
    )
    options = {
        "estimand": estimand,
        "normalize": normalize,
        "trim": trim,
        "trim_alpha": alpha,
        "model": None if model is None else repr(model),
        "covariates": covs,
        "level": level,
    }
    return EffectEstimate.from_wald(
        m_est.estimate,
        m_est.std_error,
        level=level,
        df=None,
        estimand=estimand,
        method=f"IPW ({kind}, {ps_name}; {se_type})",
        n_obs=int(keep.sum()),
        n_treated=int(zk.sum()),
        n_control=int((1.0 - zk).sum()),
        outcome=outcome,
        n_dropped=arr.prepared.n_dropped,
        warnings=tuple(caught),
        provenance=Provenance(
            options=options,
            data_fingerprint=fingerprint(arr.prepared.frame, [outcome, treatment, *covs]),
        ),
        details={
            "weights": pd.Series(weights, index=arr.index, name="weight"),
            "propensity_score": pd.Series(ps, index=arr.index, name="propensity_score"),
            "mu1": m_est.mu1,
            "mu0": m_est.mu0,
            "trim_alpha": alpha,
            "n_trimmed": int((~keep).sum()),
            "ps_coefficients": coef_orig,
            "ess_treated": kish(wk[zk == 1]),
            "ess_control": kish(wk[zk == 0]),
            "se_type": se_type,
        },
    )


# -- AIPW -----------------------------------------------------------------------------------
def _check_cross_fit(value: object) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < 0
        or value == 1
    ):
        raise DataValidationError(
            f"`cross_fit` must be 0 (no cross-fitting) or a number of folds >= 2; "
            f"received {value!r}"
        )
    return int(value)


def _folds(z: np.ndarray, k: int, gen: np.random.Generator) -> np.ndarray:
    """Fold labels 0..k-1, stratified by arm (each arm spread evenly over the folds)."""
    folds = np.empty(z.size, dtype=np.intp)
    for arm in (0.0, 1.0):
        idx = np.flatnonzero(z == arm)
        if idx.size < k:
            raise DataValidationError(
                f"`cross_fit`: {k} folds need at least {k} units per arm; the "
                f"{'treated' if arm else 'control'} arm has {idx.size}"
            )
        folds[gen.permutation(idx)] = np.arange(idx.size) % k
    return folds


def _fit_outcome(model: Any, x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    if model is None:
        design = np.column_stack([np.ones(x.shape[0]), x])
        coef = np.linalg.lstsq(design, y, rcond=None)[0]
        return np.asarray(np.column_stack([np.ones(x_new.shape[0]), x_new]) @ coef)
    from sklearn.base import clone

    est = clone(model).fit(x, y)
    return np.asarray(est.predict(x_new), dtype=float).reshape(-1)


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
    k = _check_cross_fit(cross_fit)
    gen, seed = check_rng(rng)
    if outcome_model is not None and not (
        hasattr(outcome_model, "fit") and hasattr(outcome_model, "predict")
    ):
        raise DataValidationError(
            "`outcome_model` must be a scikit-learn style regressor with fit and predict; "
            f"received {type(outcome_model).__name__}"
        )
    covs = as_list(covariates, "covariates")
    arr = arrays(data, outcome, treatment, covs)
    y, z, x = arr.y, arr.z, arr.x
    design = standardised_design(x, covs)
    n = z.size
    e = np.empty(n)
    m1 = np.empty(n)
    m0 = np.empty(n)
    folds = _folds(z, k, gen) if k else None
    splits = [(np.ones(n, bool), np.ones(n, bool))]
    if folds is not None:
        splits = [(folds != f, folds == f) for f in range(k)]
    for train, test in splits:
        if propensity_model is None:
            fit = fit_logit(design[train], z[train])
            check_scores(
                fit.fitted,
                x=x[train],
                z=z[train],
                names=covs,
                coef=fit.coef[1:],
                failed=not fit.converged,
                estimand=estimand,
            )
            e[test] = 1.0 / (1.0 + np.exp(-(design[test] @ fit.coef)))
        else:
            e[test] = model_scores(
                propensity_model, x[train], z[train], x[test], "propensity_model"
            )
        tr1, tr0 = train & (z == 1), train & (z == 0)
        m1[test] = _fit_outcome(outcome_model, x[tr1], y[tr1], x[test])
        m0[test] = _fit_outcome(outcome_model, x[tr0], y[tr0], x[test])
    check_scores(
        e,
        x=x,
        z=z,
        names=covs,
        source="the propensity model" + (" (cross-fitted)" if k else ""),
        estimand=estimand,
        strict=propensity_model is not None,
    )
    if estimand == "ATE":
        phi = m1 - m0 + z * (y - m1) / e - (1.0 - z) * (y - m0) / (1.0 - e)
        tau = float(phi.mean())
        infl = phi - tau
    else:
        core = z * (y - m0) - (1.0 - z) * e / (1.0 - e) * (y - m0)
        tau = float(core.sum() / z.sum())
        infl = (core - z * tau) / z.mean()
    se = float(np.sqrt(np.mean(infl**2) / n))
    options = {
        "estimand": estimand,
        "outcome_model": None if outcome_model is None else repr(outcome_model),
        "propensity_model": None if propensity_model is None else repr(propensity_model),
        "cross_fit": k,
        "covariates": covs,
        "level": level,
    }
    return EffectEstimate.from_wald(
        tau,
        se,
        level=level,
        df=None,
        estimand=estimand,
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
            seed=seed if k else None,
        ),
        details={
            "propensity_score": pd.Series(e, index=arr.index, name="propensity_score"),
            "mu1_hat": pd.Series(m1, index=arr.index, name="mu1_hat"),
            "mu0_hat": pd.Series(m0, index=arr.index, name="mu0_hat"),
            "influence": infl,
            "folds": folds,
        },
    )


# -- entropy balancing ----------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, repr=False)
class EntropyBalance(SummaryDisplay):
    """Entropy-balancing weights with their diagnostics (and the effect, if an outcome).

    Attributes
    ----------
    weights : pandas.Series
        One weight per complete row of the input (input index). ATT: treated units 1,
        controls positive and summing to the number treated (as R ``ebal``); ATC: the
        mirror image.
    balance_table : pandas.DataFrame
        By balance feature (``x`` and, with ``moments=2``, ``x^2``): ``target`` (mean in
        the reference arm), ``unweighted`` and ``weighted`` (mean in the weighted arm).
    lambdas : pandas.Series
        Dual coefficients, on the scale of the standardised features.
    converged : bool
    n_iter : int
    max_imbalance : float
        Largest absolute remaining imbalance, in pooled standard deviations.
    ess : float
        Kish effective sample size of the weighted arm, ``(sum w)^2 / sum w^2``.
    max_weight : float
        Largest weight on the scale of ``weights``.
    max_weight_share : float
        Largest weight as a share of the weighted arm's total.
    effect : EffectEstimate or None
        Weighted difference in means, when ``outcome`` was given.
    estimand : str
    moments : int
    n_obs, n_treated, n_control, n_dropped : int
    warnings : tuple of str
    provenance : Provenance
    """

    weights: pd.Series
    balance_table: pd.DataFrame
    lambdas: pd.Series
    converged: bool
    n_iter: int
    max_imbalance: float
    ess: float
    max_weight: float
    max_weight_share: float
    effect: EffectEstimate | None
    estimand: str
    moments: int
    n_obs: int
    n_treated: int
    n_control: int
    n_dropped: int = 0
    warnings: tuple[str, ...] = ()
    provenance: Provenance = field(default_factory=Provenance)

    def to_frame(self) -> pd.DataFrame:
        """The balance table (a fresh copy)."""
        return self.balance_table.copy()

    def summary(self) -> Summary:
        """A :class:`~impacteval.results.Summary` of convergence, dispersion and balance."""
        arm = "control" if self.estimand == "ATT" else "treated"
        facts = [
            ("Estimand", self.estimand),
            ("Moments balanced", str(self.moments)),
            ("Observations (treated / control)", f"{self.n_treated:,} / {self.n_control:,}"),
            ("Converged", f"{self.converged} ({self.n_iter} iterations)"),
            ("Max remaining imbalance (SD units)", f"{self.max_imbalance:.3g}"),
            (f"Effective sample size ({arm})", f"{self.ess:,.1f}"),
            (
                "Max weight (share of arm total)",
                f"{self.max_weight:.4g} ({self.max_weight_share:.2%})",
            ),
        ]
        if self.effect is not None:
            e = self.effect
            facts.append(("Effect", f"{e.estimate:.4f} (SE {e.std_error:.4f})"))
        table = self.balance_table.copy()
        table.index.name = "feature"
        return Summary(
            title="Entropy balancing", facts=tuple(facts), table=table, notes=self.warnings
        )

    def __repr__(self) -> str:
        return (
            f"EntropyBalance(estimand={self.estimand!r}, moments={self.moments}, "
            f"converged={self.converged}, ess={self.ess:.1f}, max_weight={self.max_weight:.4g})"
        )


def _check_moments(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value not in (1, 2):
        raise DataValidationError(
            f"`moments` must be 1 (means) or 2 (means and variances); received {value!r}"
        )
    return int(value)


def _features(x: np.ndarray, covs: list[str], moments: int) -> tuple[np.ndarray, list[str]]:
    cols, names = [x[:, j] for j in range(x.shape[1])], list(covs)
    if moments == 2:
        for j, name in enumerate(covs):
            if np.unique(x[:, j]).size > 2:  # the square of a binary covariate adds nothing
                cols.append(x[:, j] ** 2)
                names.append(f"{name}^2")
    return np.column_stack(cols), names


def entropy_balance(
    data: pd.DataFrame,
    *,
    treatment: str,
    covariates: Sequence[str],
    moments: int = 1,
    estimand: str = "ATT",
    outcome: str | None = None,
    max_iter: int = 200,
    tol: float = 1e-8,
    level: float = 0.95,
) -> EntropyBalance:
    """Entropy balancing (Hainmueller 2012): weights that balance chosen moments exactly.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit.
    treatment : str
        Binary (0/1) treatment column.
    covariates : sequence of str
        Numeric covariates to balance.
    moments : {1, 2}
        1: means; 2: means and second moments (squares of the non-binary covariates).
    estimand : {"ATT", "ATC"}
        ATT reweights the controls to the treated moments; ATC the treated to the controls'.
    outcome : str, optional
        With an outcome, ``effect`` holds the weighted difference in means.
    max_iter : int
        Iteration limit of the dual optimiser (``scipy.optimize.minimize``, trust-exact).
    tol : float
        Largest remaining absolute imbalance allowed, in pooled standard deviations.
    level : float
        Confidence level of the effect's (normal) interval.

    Returns
    -------
    EntropyBalance
        Weights, convergence, effective sample size, largest weight, the balance table and
        (with ``outcome``) the effect.

    Raises
    ------
    DataValidationError
        Missing columns, non-binary treatment, ``moments`` outside {1, 2}, constant or
        collinear balance features in the arm being weighted, bad ``estimand``.
    ConvergenceError
        The target moments are outside the convex hull of the weighted arm (no positive
        weights balance them); the message names the offending covariates.

    Notes
    -----
    The weights ``w_j`` of the weighted arm minimise ``sum_j w_j log(w_j / q_j)`` (uniform
    ``q``) subject to ``sum_j w_j c_j = t`` and ``sum_j w_j = 1``; the solution is
    ``w_j = exp(c_j'lam) / sum_l exp(c_l'lam)``, with ``lam`` minimising the convex dual
    ``log sum_j exp((c_j - t)'lam)``. Features are standardised with pooled means and SDs
    first (the solution is unchanged; ``tol`` is then unit-free). A ``ConvergenceWarning``
    is issued (and ``converged`` is False) when a feasible problem stops before ``tol``.

    Standard error of the effect: M-estimation, stacking the treated means of the features
    ``z (c - m)``, the balancing condition ``(1-z) exp(c'lam)(c - m)``, the treated mean
    outcome ``z (y - mu1)`` and the weighted control mean ``(1-z) exp(c'lam)(y - mu0)``;
    the sandwich ``A^{-1} B A^{-T}/n`` then accounts for estimating the weights (Zhao &
    Percival 2017 show the estimator is doubly robust for linear outcome models).
    Identification: unconfoundedness given the covariates and overlap.

    References
    ----------
    Hainmueller, J. (2012). Entropy balancing for causal effects. Political Analysis 20(1),
    25-46. Zhao, Q. and Percival, D. (2017). Entropy balancing is doubly robust. Journal of
    Causal Inference 5(1). R: ``ebal::ebalance``, ``WeightIt::weightit(method = "ebal")``.

    Examples
    --------
    >>> import impacteval as ie
    >>> from impacteval.matching.weighting import entropy_balance
    >>> psid = ie.datasets.load("lalonde_psid")
    >>> eb = entropy_balance(psid, treatment="treat", outcome="re78",
    ...                      covariates=["age", "educ", "black", "re74", "re75"])
    >>> eb.converged, round(float(eb.weights[psid.treat == 0].sum()), 6)
    (True, 185.0)
    """
    level = check_level(level)
    moments = _check_moments(moments)
    estimand = check_choice(estimand, "estimand", ("ATT", "ATC"))
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise DataValidationError(f"`max_iter` must be an integer >= 1; received {max_iter!r}")
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not 0 < float(tol) < 1:
        raise DataValidationError(f"`tol` must be a number in (0, 1); received {tol!r}")
    covs = as_list(covariates, "covariates")
    if not covs:
        raise DataValidationError("`covariates` must name at least one column to balance")
    arr = arrays(data, outcome, treatment, covs)
    z = arr.z if estimand == "ATT" else 1.0 - arr.z  # z == 1: the reference (target) arm
    feats, names = _features(arr.x, covs, moments)
    sd = feats.std(axis=0)
    if (sd == 0).any():
        raise DataValidationError(
            f"`covariates`: {[n for n, s in zip(names, sd, strict=True) if s == 0]} are "
            "constant; drop them"
        )
    c = (feats - feats.mean(axis=0)) / sd
    weighted_arm = "controls" if estimand == "ATT" else "treated units"
    cw, target = c[z == 0], c[z == 1].mean(axis=0)
    centred = np.column_stack([np.ones(cw.shape[0]), cw])
    if np.linalg.matrix_rank(centred) < centred.shape[1]:
        raise DataValidationError(
            f"`covariates`: the balance features are collinear among the {weighted_arm} "
            f"(features {names}); drop redundant covariates"
        )
    bad = infeasible_features(cw, target) if _outside_range(cw, target) else []
    if bad:
        raise _infeasible(bad, names, weighted_arm, estimand)
    fit = solve_dual(cw, target, max_iter=int(max_iter), tol=float(tol))
    caught: list[str] = []
    if not fit.converged:
        bad = infeasible_features(cw, target)
        if bad or not np.isfinite(fit.max_imbalance):
            raise _infeasible(bad, names, weighted_arm, estimand)
        msg = (
            f"entropy balancing stopped after {fit.n_iter} iterations with a remaining "
            f"imbalance of {fit.max_imbalance:.3g} SD (tol={tol}); {fit.message}"
        )
        warnings.warn(msg, ConvergenceWarning, stacklevel=2)
        caught.append(msg)
    n_ref = float(z.sum())
    w_arm = fit.weights * n_ref
    weights = np.ones(z.size)
    weights[z == 0] = w_arm
    unweighted = feats[z == 0].mean(axis=0)
    table = pd.DataFrame(
        {
            "target": feats[z == 1].mean(axis=0),
            "unweighted": unweighted,
            "weighted": fit.weights @ feats[z == 0],
        },
        index=pd.Index(names, name="feature"),
    )
    table["smd_unweighted"] = (table["unweighted"] - table["target"]) / sd
    table["smd_weighted"] = (table["weighted"] - table["target"]) / sd
    n_t = int(arr.z.sum())
    common = {
        "n_obs": int(z.size),
        "n_treated": n_t,
        "n_control": int(z.size - n_t),
        "n_dropped": arr.prepared.n_dropped,
    }
    options = {
        "estimand": estimand,
        "moments": moments,
        "covariates": covs,
        "max_iter": int(max_iter),
        "tol": float(tol),
        "level": level,
    }
    used = [c_ for c_ in (outcome, treatment, *covs) if c_ is not None]
    prov = Provenance(options=options, data_fingerprint=fingerprint(arr.prepared.frame, used))
    weight_series = pd.Series(weights, index=arr.index, name="weight")
    effect = None
    if outcome is not None:
        w_full = np.where(z == 0, weights, 0.0)
        m_est = ebal_att_mestimation(arr.y, z, c, fit.lam, w_full)
        sign = 1.0 if estimand == "ATT" else -1.0
        effect = EffectEstimate.from_wald(
            sign * m_est.estimate,
            m_est.std_error,
            level=level,
            df=None,
            estimand=estimand,
            method=f"entropy balancing (moments={moments}; M-estimation SE)",
            outcome=outcome,
            warnings=tuple(caught),
            provenance=prov,
            details={
                "weights": weight_series,
                "mean_treated": m_est.mu1 if estimand == "ATT" else m_est.mu0,
                "mean_control": m_est.mu0 if estimand == "ATT" else m_est.mu1,
                "se_type": "M-estimation sandwich (weights estimated)",
                "ess": kish(w_arm),
            },
            **common,
        )
    return EntropyBalance(
        weights=weight_series,
        balance_table=table,
        lambdas=pd.Series(fit.lam, index=pd.Index(names, name="feature"), name="lambda"),
        converged=fit.converged,
        n_iter=fit.n_iter,
        max_imbalance=fit.max_imbalance,
        ess=kish(w_arm),
        max_weight=float(w_arm.max()),
        max_weight_share=float(fit.weights.max()),
        effect=effect,
        estimand=estimand,
        moments=moments,
        warnings=tuple(caught),
        provenance=prov,
        **common,
    )


def _outside_range(c: np.ndarray, target: np.ndarray) -> bool:
    return bool(((target <= c.min(axis=0)) | (target >= c.max(axis=0))).any())


def _infeasible(bad: list[int], names: list[str], arm: str, estimand: str) -> ConvergenceError:
    ref = "treated" if estimand == "ATT" else "control"
    which = [names[j] for j in bad]
    named = (
        f"offending covariates: {which}"
        if which
        else "the target lies on the boundary of their convex hull"
    )
    return ConvergenceError(
        f"entropy balancing is infeasible: the {ref} moments are outside the convex hull of "
        f"the {arm} (no positive weights balance them); {named}. Drop or coarsen these "
        "covariates, use moments=1, or restrict the sample to common support."
    )
