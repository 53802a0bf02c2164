"""Nearest-neighbour matching, as R MatchIt's ``method = "nearest"``, with MatchIt-style and
Abadie-Imbens inference.

The entry point reads as three steps, each in its own module: check the options and prepare
the data (:mod:`impacteval.matching._nn_prepare`), match (:mod:`impacteval.matching._nn_numerics`
over the kernels of :mod:`impacteval.matching._nn_match`), build the result
(:mod:`impacteval.matching._nn_result`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from impacteval._warn import WarningLog
from impacteval.matching._nn_numerics import match_units, matching_messages
from impacteval.matching._nn_prepare import check_nearest_options, prepare_nearest
from impacteval.matching._nn_result import MatchingEstimate, build_matching_result

__all__ = ["MatchingEstimate", "nearest_neighbor"]


def nearest_neighbor(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    covariates: Sequence[str] | None = None,
    propensity: str | pd.Series | np.ndarray | Sequence[float] | None = None,
    propensity_link: str | None = None,
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = None,
    exact: Sequence[str] | str = (),
    estimand: str = "ATT",
    se: str | None = None,
    distance: str = "propensity",
    mahalanobis: Sequence[str] | None = None,
    m_order: str | None = None,
    ties: bool = False,
    bias_adjust: bool = False,
    model: Any | None = None,
    rng: int | np.random.Generator | None = None,
    level: float = 0.95,
) -> MatchingEstimate:
    """Nearest-neighbour matching estimate of the ATT (ATC, ATE), as R MatchIt / Matching.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit.
    outcome, treatment : str
        Outcome column and binary (0/1) treatment column.
    covariates : sequence of str, optional
        Covariates of the propensity-score logit (and of Mahalanobis matching and of the
        balance table). Needed unless ``propensity`` is given.
    propensity : str, pandas.Series or array, optional
        A propensity score already estimated; then no model is fitted. Either the name of
        a column of ``data``, or the scores themselves: a Series indexed like ``data`` (such
        as :func:`~impacteval.matching.propensity.propensity_score` returns; aligned by
        label) or an array with one value per row. Missing values drop the row (counted in
        ``n_dropped``).
    propensity_link : {"probability", "logit"}, optional
        Scale of ``propensity``: probabilities (must lie in [0, 1]; anything else is
        refused) or log-odds (any real number; matched on the probability scale unless
        ``distance="logit"``). Default: the ``link`` recorded by ``propensity_score`` on a
        Series it returned, else ``"probability"``.
    ratio : int
        Matches per focal unit, 1 to 10 (``k:1`` matching).
    replace : bool
        Match with replacement.
    caliper : float, optional
        Maximum distance difference in standard deviations of the distance (SD over all
        units, as MatchIt's ``std.caliper = TRUE``). With ``mahalanobis`` it applies to the
        propensity score.
    exact : sequence of str
        Columns on which matches must agree exactly (matching runs within their cells).
    estimand : {"ATT", "ATC", "ATE"}
        ATT and ATC always; ATE only with ``replace=True`` and ``se="abadie_imbens"``
        (matching both ways, as ``Matching::Match``).
    se : {"pair_cluster", "robust", "abadie_imbens"}, optional
        ``"pair_cluster"``: weighted regression of the outcome on treatment in the matched
        sample with CR1 standard errors clustered by matched set (needs
        ``replace=False``); ``"robust"``: the same regression with HC3 standard errors (the
        MatchIt vignette's choice with replacement); ``"abadie_imbens"``: the Abadie-Imbens
        (2006) variance of the matching estimator (needs ``replace=True``). Default:
        ``"pair_cluster"`` without replacement, ``"abadie_imbens"`` with it.
    distance : {"propensity", "logit", "mahalanobis"}
        Match on the propensity score, on its logit, or on the Mahalanobis distance of
        ``covariates``.
    mahalanobis : sequence of str, optional
        Mahalanobis matching on these columns within a propensity-score ``caliper``
        (MatchIt's ``mahvars``).
    m_order : {"largest", "smallest", "random", "data"}, optional
        Order in which focal units are matched (without replacement it matters). Default
        "largest" distance for the ATT, "smallest" for the ATC, "data" for Mahalanobis.
    ties : bool
        Keep every control tied at the ``ratio``-th distance, with fractional weights, as
        ``Matching::Match(ties = TRUE)`` (needs ``replace=True`` and a scalar distance).
    bias_adjust : bool
        Abadie & Imbens (2011) regression bias adjustment on the distance (Match's
        ``BiasAdjust = TRUE`` with ``Z = X``); only with ``se="abadie_imbens"``.
    model : scikit-learn classifier, optional
        Propensity model (default: unpenalised logit); see
        :func:`~impacteval.matching.propensity.propensity_score`.
    rng : int or numpy.random.Generator, optional
        Seed for ``m_order="random"``.
    level : float
        Confidence level.

    Returns
    -------
    MatchingEstimate
        An EffectEstimate with ``.matched``, ``.balance``, ``.match_matrix`` and the counts.
        ``.balance`` (the balance table before and after matching) is computed when it is
        first read and then cached: on large samples it costs more than the matching.

    Raises
    ------
    DataValidationError
        Missing columns, non-binary treatment, fewer than 2 units in an arm, a
        ``propensity`` outside [0, 1] on the probability link, a ``propensity`` Series or
        array not aligned with ``data``, ``ratio`` outside 1..10, ``caliper <= 0``,
        an estimand or SE not available with the replacement choice, ``ties`` without
        replacement, no focal unit with a control within the caliper, or (fitted score)
        no covariate that varies.
    ConvergenceError
        The default propensity logit has no maximum (perfect separation); the message names
        the covariates.

    Warns
    -----
    ImpactEvalWarning
        Focal units left unmatched, fewer than ``ratio`` matches for some focal units
        (without replacement), or, without a caliper, focal units whose score lies outside
        the other group's range (min/max common-support rule).

    Notes
    -----
    Matching (MatchIt 4.5.1 ``matchit2nearest`` with upstream fix #163): units are sorted by
    the distance, equal scores by index label (so the result does not depend on the row
    order; with a RangeIndex in file order this is MatchIt's stable sort, equal scores in
    data order). Focal units are taken in ``m_order`` (ties in the score again by index
    label); each takes the nearest available control
    to its left or right in the sorted order, the **left** one (lower score; among equal
    scores, the one just before it in the sorted order) when both are equally far. With
    ``ratio = k`` this is repeated in k rounds. With a caliper, a focal unit whose nearest
    available control is farther than the caliper stays unmatched. Mahalanobis matching
    scans controls in data order and takes the first one at the minimum distance (MatchIt's
    ``nn_matchC``); the covariates are scaled and the pooled within-group covariance used.

    Weights (``match.data``): matched focal units 1; a control gets the sum of ``1/k_i``
    over the focal units ``i`` it serves, rescaled to sum to the number of matched controls.
    The ``pair_cluster`` estimate is the weighted difference in means, i.e. the coefficient
    of the weighted regression ``outcome ~ treatment``; its CR1 variance is what the MatchIt
    vignette's ``coeftest(fit, vcov. = vcovCL, cluster = ~subclass)`` reports (sandwich's
    ``vcovCL`` default type "HC1": ``G/(G-1) (n-1)/(n-k)``); the interval uses ``G - 1``
    degrees of freedom (coeftest uses ``n - k``).

    ``abadie_imbens``: the matching estimator ``mean_i (Y_i - sum_j w_ij Y_j)`` with the
    Abadie-Imbens (2006) variance under homoskedasticity (Match's ``Var.calc = 0``), the SE
    ``Match`` reports as ``se``. With ``ties=True`` the matched sets are Match's: all
    controls within 1e-5 of the ``ratio``-th smallest squared standardised distance.
    Identification: unconfoundedness given the covariates and overlap. The SEs do not
    account for estimation of the propensity score (Abadie & Imbens 2016).

    References
    ----------
    Abadie, A. & Imbens, G. W. (2006). Large sample properties of matching estimators for
    average treatment effects. Econometrica 74(1), 235-267.
    Abadie, A. & Imbens, G. W. (2011). Bias-corrected matching estimators for average
    treatment effects. JBES 29(1), 1-11.
    Ho, D., Imai, K., King, G. & Stuart, E. (2011). MatchIt. JSS 42(8).
    R: ``MatchIt::matchit(method = "nearest")``, ``Matching::Match``.

    Examples
    --------
    >>> import impacteval as ie
    >>> from impacteval.matching.nearest import nearest_neighbor
    >>> df = ie.datasets.load("lalonde_psid")
    >>> res = nearest_neighbor(df, outcome="re78", treatment="treat",
    ...                        covariates=["age", "educ", "black", "re74", "re75"])
    >>> res.n_matched
    185
    """
    opts = check_nearest_options(
        outcome=outcome,
        treatment=treatment,
        covariates=covariates,
        propensity=propensity,
        propensity_link=propensity_link,
        ratio=ratio,
        replace=replace,
        caliper=caliper,
        exact=exact,
        estimand=estimand,
        se=se,
        distance=distance,
        mahalanobis=mahalanobis,
        m_order=m_order,
        ties=ties,
        bias_adjust=bias_adjust,
        model=model,
        rng=rng,
        level=level,
    )
    prepared = prepare_nearest(data, opts)
    matches = match_units(prepared, opts)
    log = WarningLog()
    for message in matching_messages(matches, prepared, opts):
        log.warn(message)
    return build_matching_result(prepared, opts, matches, log.messages)
