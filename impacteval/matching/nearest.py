"""Nearest-neighbour matching, as R MatchIt's ``method = "nearest"``, with MatchIt-style and
Abadie-Imbens inference."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from impacteval._validation import (
    check_aligned,
    check_binary,
    check_choice,
    check_dataframe,
    check_level,
    check_min_per_arm,
    check_rng,
    group_codes,
    prepare,
)
from impacteval.diagnostics.balance import BalanceTable, balance
from impacteval.exceptions import DataValidationError, ImpactEvalWarning
from impacteval.matching._nn_match import (
    mahalanobis_metric,
    match_scan,
    match_sorted,
    matchit_weights,
    pair_subclass,
)
from impacteval.matching.abadie_imbens import ai_estimate, ties_pairs
from impacteval.matching.propensity import _columns, fit_propensity
from impacteval.rct.regression import regression
from impacteval.results import EffectEstimate, Provenance, fingerprint

__all__ = ["MatchingEstimate", "nearest_neighbor"]

_ORDERS = ("largest", "smallest", "random", "data")
_RESERVED = ("weights", "subclass", "distance")


@dataclass(frozen=True, kw_only=True, repr=False)
class MatchingEstimate(EffectEstimate):
    """An :class:`~impacteval.results.EffectEstimate` plus the matched sample.

    Attributes
    ----------
    matched : pandas.DataFrame
        The rows with a positive matching weight (original index labels), with the added
        columns ``weights``, ``distance`` and, without replacement, ``subclass`` (1, 2, ...
        by matched set), as MatchIt's ``match.data()``.
    balance : BalanceTable or None
        Covariate balance before (unadjusted) and after (``*_adjusted``) matching.
    match_matrix : pandas.DataFrame
        One row per focal unit (index label), one column per match; index labels of the
        matched controls (NaN where none). With ``ties=True``, the matched sets are in
        ``details["pairs"]`` instead.
    n_matched, n_unmatched : int
        Focal units with and without at least one match.
    n_matched_control : int
        Distinct units of the other group with a positive weight.
    caliper_width : float or None
        The caliper in raw distance units (``caliper`` x SD of the distance).
    """

    matched: pd.DataFrame = field(default_factory=pd.DataFrame)
    balance: BalanceTable | None = None
    match_matrix: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_matched: int = 0
    n_unmatched: int = 0
    n_matched_control: int = 0
    caliper_width: float | None = None


def _order(
    kind: str,
    score: np.ndarray | None,
    n1: int,
    rng: np.random.Generator,
    tiebreak: np.ndarray | None = None,
) -> np.ndarray:
    """Order in which the focal units are matched; equal scores by ``tiebreak`` (then data
    order)."""
    if kind == "random":
        return rng.permutation(n1)
    if kind == "data" or score is None:
        return np.arange(n1)
    key = np.zeros(n1, dtype=np.intp) if tiebreak is None else tiebreak
    if kind == "largest":
        return np.lexsort((np.arange(n1), key, -score))
    return np.lexsort((np.arange(n1), key, score))


def _label_rank(labels: pd.Index) -> np.ndarray:
    """Rank of each index label (ties in the score are broken by it, so that the matching
    does not depend on the row order). A RangeIndex in file order gives data order, as
    MatchIt; labels that cannot be sorted (mixed types) fall back to data order."""
    n = len(labels)
    try:
        ordering = np.asarray(labels.argsort(kind="stable"), dtype=np.intp)
    except TypeError:
        return np.arange(n, dtype=np.intp)
    rank = np.empty(n, dtype=np.intp)
    rank[ordering] = np.arange(n, dtype=np.intp)
    return rank


def _check_ratio(ratio: object) -> int:
    if (
        isinstance(ratio, bool)
        or not isinstance(ratio, numbers.Integral)
        or not 1 <= int(ratio) <= 10
    ):
        raise DataValidationError(f"`ratio` must be an integer from 1 to 10; received {ratio!r}")
    return int(ratio)


def _check_caliper(caliper: object) -> float | None:
    if caliper is None:
        return None
    if (
        isinstance(caliper, bool)
        or not isinstance(caliper, numbers.Real)
        or not np.isfinite(float(caliper))
        or float(caliper) <= 0
    ):
        raise DataValidationError(
            "`caliper` must be a positive number (in standard deviations of the distance); "
            f"received {caliper!r}"
        )
    return float(caliper)


def _propensity_input(
    data: pd.DataFrame, propensity: object, link: str | None
) -> tuple[pd.DataFrame, str | None, str]:
    """The data with the propensity scores as a column, that column's name, and the link.

    A column name is used as is; a Series or array is checked for alignment with ``data``
    and added as a working column (on a copy), so that missing values are dropped and
    counted like any other column's.
    """
    recorded = propensity.attrs.get("link") if isinstance(propensity, pd.Series) else None
    if link is None:
        link = recorded if recorded in ("probability", "logit") else "probability"
    link = check_choice(link, "propensity_link", ("probability", "logit"))
    if propensity is None or isinstance(propensity, str):
        return data, propensity, link
    frame = check_dataframe(data)
    values = check_aligned(propensity, frame, "propensity")
    name = "_propensity"
    while name in frame.columns:
        name = "_" + name
    return frame.assign(**{name: values}), name, link


def _check_probabilities(values: np.ndarray, propensity: object) -> None:
    """Refuse propensity scores outside [0, 1] (a covariate passed by mistake, or log-odds)."""
    low, high = float(values.min()), float(values.max())
    if low < 0.0 or high > 1.0:
        what = f"column {propensity!r}" if isinstance(propensity, str) else "the scores given"
        raise DataValidationError(
            f"`propensity`: {what} must hold probabilities in [0, 1]; received values from "
            f"{low:.4g} to {high:.4g}. Pass a propensity score (e.g. from "
            "ie.matching.propensity_score), or propensity_link='logit' if these are log-odds"
        )


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
    level = check_level(level)
    estimand = check_choice(estimand, "estimand", ("ATT", "ATC", "ATE"))
    distance = check_choice(distance, "distance", ("propensity", "logit", "mahalanobis"))
    ratio = _check_ratio(ratio)
    cal = _check_caliper(caliper)
    if not isinstance(replace, bool):
        raise DataValidationError(f"`replace` must be True or False; received {replace!r}")
    covs = _columns(covariates, "covariates")
    exact_cols = _columns(exact, "exact")
    mahal = _columns(mahalanobis, "mahalanobis")
    if se is None:
        se = "abadie_imbens" if replace else "pair_cluster"
    se = check_choice(se, "se", ("pair_cluster", "robust", "abadie_imbens"))
    if se == "pair_cluster" and replace:
        raise DataValidationError(
            "`se`: 'pair_cluster' needs unique matched pairs (replace=False); with "
            "replacement use se='abadie_imbens' (Matching::Match) or se='robust' (HC3)"
        )
    if se == "abadie_imbens" and not replace:
        raise DataValidationError(
            "`se`: 'abadie_imbens' is the variance of matching with replacement; pass "
            "replace=True, or use se='pair_cluster' without replacement"
        )
    if estimand == "ATE" and not (replace and se == "abadie_imbens"):
        raise DataValidationError(
            "`estimand`: 'ATE' is supported only with replace=True and se='abadie_imbens' "
            "(MatchIt's nearest-neighbour matching offers ATT and ATC)"
        )
    if ties and not replace:
        raise DataValidationError("`ties`: keeping tied matches needs replace=True")
    if ties and (distance == "mahalanobis" or mahal):
        raise DataValidationError(
            "`ties`: tie handling is implemented for a scalar distance (propensity or logit)"
        )
    if bias_adjust and se != "abadie_imbens":
        raise DataValidationError("`bias_adjust` needs se='abadie_imbens'")
    if distance == "mahalanobis" and cal is not None and propensity is None:
        raise DataValidationError(
            "`caliper`: with distance='mahalanobis' the caliper applies to a propensity "
            "score; use `mahalanobis=` columns with the default distance instead"
        )
    if distance == "mahalanobis" and not covs:
        raise DataValidationError("`covariates` are needed for distance='mahalanobis'")
    if propensity is None and distance != "mahalanobis" and not covs:
        raise DataValidationError(
            "`covariates` or `propensity` must be given to form a propensity score"
        )
    if m_order is not None:
        m_order = check_choice(m_order, "m_order", _ORDERS)
    gen, seed = check_rng(rng)
    data, ps_col, ps_link = _propensity_input(data, propensity, propensity_link)
    for col in _RESERVED:
        if col in data.columns if isinstance(data, pd.DataFrame) else False:
            raise DataValidationError(
                f"`data` already has a column {col!r}; the matched sample adds one with that "
                "name (rename yours)"
            )

    prepared = prepare(
        data,
        numeric={
            "outcome": outcome,
            "treatment": treatment,
            "covariates": covs,
            "propensity": ps_col,
            "mahalanobis": mahal,
        },
        labels={"exact": exact_cols},
        outcome_param="outcome",
    )
    frame = prepared.frame
    used = list(dict.fromkeys([outcome, treatment, *covs, *mahal, *exact_cols]))
    if ps_col is not None:
        used.append(ps_col)
    complete = data[used].notna().all(axis=1).to_numpy()
    labels = data.index[complete]
    y = frame[outcome].to_numpy(dtype=float)
    z = check_binary(frame[treatment].to_numpy(dtype=float), "treatment", treatment)
    check_min_per_arm(
        z,
        "treatment",
        treatment,
        minimum=2,
        reason=(
            "with a single unit in an arm, a propensity model cannot be fitted (any covariate "
            "separates that unit from the others) and the variance of the matched "
            "comparison cannot be estimated"
        ),
        suggestion="Compare that unit with its nearest units descriptively, or add units.",
    )
    n = y.size

    # -- distance -------------------------------------------------------------------------
    ps: np.ndarray | None = None
    log_odds: np.ndarray | None = None
    if ps_col is not None:
        given = frame[ps_col].to_numpy(dtype=float)
        if ps_link == "logit":
            log_odds = given
            ps = 1.0 / (1.0 + np.exp(-given))
        else:
            _check_probabilities(given, propensity)
            ps = given
    elif distance != "mahalanobis":
        ps = fit_propensity(frame[covs].to_numpy(dtype=float), z, model, covs)
    score: np.ndarray | None = None
    if ps is not None and distance != "mahalanobis":
        if distance == "logit" and log_odds is not None:
            score = log_odds
        elif distance == "logit":
            if np.any((ps <= 0) | (ps >= 1)):
                raise DataValidationError(
                    "`distance`: 'logit' needs propensity scores strictly between 0 and 1"
                )
            score = np.log(ps) - np.log1p(-ps)
        else:
            score = ps
    caliper_width: float | None = None
    if cal is not None:
        base = score if score is not None else ps
        caliper_width = cal * float(np.std(cast(np.ndarray, base), ddof=1))

    # -- matching ---------------------------------------------------------------------------
    tie_rank = _label_rank(labels)

    def run(focal: np.ndarray) -> np.ndarray:
        """Match matrix for the focal units (rows in data order)."""
        kind = m_order
        if kind is None:
            use_data = distance == "mahalanobis" or score is None
            kind = "data" if use_data else ("smallest" if estimand == "ATC" else "largest")
        mm = np.full((int(focal.sum()), ratio), -1, dtype=np.intp)
        if exact_cols:
            cells, _ = group_codes(
                frame[exact_cols].astype(str).agg("\x1f".join, axis=1)
                if len(exact_cols) > 1
                else frame[exact_cols[0]]
            )
        else:
            cells = np.zeros(n, dtype=np.intp)
        focal_pos = np.cumsum(focal) - 1
        coords = metric = None
        if distance == "mahalanobis" or mahal:
            coords, metric = mahalanobis_metric(
                frame[mahal or covs].to_numpy(dtype=float), focal.astype(bool)
            )
        for cell in np.unique(cells[focal]):
            idx = np.flatnonzero(cells == cell)
            f = focal[idx]
            d_cell = None if score is None else score[idx]
            key = tie_rank[idx]
            order = _order(kind, None if d_cell is None else d_cell[f], int(f.sum()), gen, key[f])
            if coords is not None:
                sub = match_scan(
                    f,
                    coords[idx],
                    order,
                    ratio,
                    replace,
                    None if ps is None else ps[idx],
                    caliper_width,
                    metric,
                )
            else:
                sub = match_sorted(
                    f, cast(np.ndarray, d_cell), order, ratio, replace, caliper_width, key
                )
            mm[focal_pos[idx[f]]] = np.where(sub >= 0, idx[np.clip(sub, 0, None)], -1)
        return mm

    caught: list[str] = []
    focal_att = z == 1 if estimand != "ATC" else z == 0
    pairs_unit: list[np.ndarray] = []
    pairs_match: list[np.ndarray] = []
    pairs_w: list[np.ndarray] = []
    directions = [focal_att, ~focal_att] if estimand == "ATE" else [focal_att]
    mm_main = np.full((0, ratio), -1, dtype=np.intp)
    for k, focal in enumerate(directions):
        if ties:
            u, m, w = ties_pairs(focal, cast(np.ndarray, score), ratio)
            if cal is not None:
                ok = np.abs(cast(np.ndarray, score)[u] - cast(np.ndarray, score)[m]) <= cast(
                    float, caliper_width
                )
                u, m = u[ok], m[ok]
                cnt = np.bincount(u, minlength=n)
                w = 1.0 / cnt[u]
        else:
            mm = run(focal)
            if k == 0:
                mm_main = mm
            rows = np.flatnonzero(focal)
            cnt = (mm >= 0).sum(axis=1)
            u = np.repeat(rows, cnt)
            m = np.concatenate([mm[r][mm[r] >= 0] for r in range(mm.shape[0])])
            w = np.repeat(1.0 / np.where(cnt > 0, cnt, 1), cnt)
        pairs_unit.append(u)
        pairs_match.append(m)
        pairs_w.append(w)
    unit = np.concatenate(pairs_unit)
    match = np.concatenate(pairs_match)
    pw = np.concatenate(pairs_w)
    n_focal = int(focal_att.sum()) if estimand != "ATE" else n
    n_matched = int(np.unique(unit).size)
    if n_matched == 0:
        raise DataValidationError(
            "no focal unit has a control within the caliper (or within its exact cell); "
            "widen `caliper` or relax `exact`"
        )
    other = "treated" if estimand == "ATC" else "control"
    n_other = int((~focal_att).sum())
    exhausted = (
        not replace and not ties and estimand != "ATE" and int(np.unique(match).size) >= n_other
    )
    if n_matched < n_focal:
        cause = (
            f"without replacement the {n_other} {other} units ran out"
            if exhausted and cal is None and not exact_cols
            else "caliper or exact cells"
        )
        msg = (
            f"{n_focal - n_matched} of {n_focal} focal units have no match ({cause}); the "
            "estimand is the effect in the matched units"
        )
        warnings.warn(msg, ImpactEvalWarning, stacklevel=2)
        caught.append(msg)
    if not replace and not ties and ratio > 1 and estimand != "ATE":
        n_short = int(((mm_main >= 0).sum(axis=1) < ratio).sum())
        if n_short:
            why = (
                f"without replacement {n_other} {other} units cannot give {n_focal} focal "
                f"units {ratio} matches each ({ratio * n_focal} needed)"
                if n_other < ratio * n_focal
                else f"the {n_other} {other} units ran out within the caliper or exact cells"
            )
            msg = (
                f"`ratio`={ratio}: {n_short} of {n_focal} focal units got fewer than {ratio} "
                f"matches ({why}); their matched sets are smaller, as MatchIt's"
            )
            warnings.warn(msg, ImpactEvalWarning, stacklevel=2)
            caught.append(msg)
    if cal is None and estimand != "ATE" and (score is not None or ps is not None):
        s_all = cast(np.ndarray, score if score is not None else ps)
        s_f, s_o = s_all[focal_att], s_all[~focal_att]
        if s_f.size and s_o.size:
            outside = int(((s_f < s_o.min()) | (s_f > s_o.max())).sum())
            if outside:
                kind_s = "logit score" if distance == "logit" else "propensity score"
                msg = (
                    f"common support: {outside} of {n_focal} focal units have a {kind_s}"
                    f" outside the {other} units' range [{s_o.min():.4g}, {s_o.max():.4g}] "
                    "(no overlap there), and are matched anyway; consider a `caliper` or "
                    "restricting the sample to common support"
                )
                warnings.warn(msg, ImpactEvalWarning, stacklevel=2)
                caught.append(msg)

    # -- weights and matched sample ---------------------------------------------------------
    k_count = np.bincount(match, weights=pw, minlength=n)
    weights: np.ndarray
    if estimand == "ATE":
        weights = np.where(np.isin(np.arange(n), unit), 1.0, 0.0) + k_count
    elif ties:
        weights = np.zeros(n)
        weights[np.unique(unit)] = 1.0
        other = ~focal_att
        tot = k_count[other].sum()
        weights[other] = k_count[other] * np.count_nonzero(k_count[other] > 0) / tot
    else:
        weights = matchit_weights(mm_main, focal_att)
    subclass = pair_subclass(mm_main, focal_att) if not replace else None
    keep = weights > 0
    matched = data.loc[labels[keep]].copy()
    if ps_col is not None and not isinstance(propensity, str):
        matched = matched.drop(columns=[ps_col])  # the working column of given scores
    matched["weights"] = weights[keep]
    matched["distance"] = (score if score is not None else np.full(n, np.nan))[keep]
    if subclass is not None:
        matched["subclass"] = subclass[keep]

    # -- outcome analysis -------------------------------------------------------------------
    options = {
        "outcome": outcome,
        "treatment": treatment,
        "covariates": covs,
        "propensity": propensity
        if propensity is None or isinstance(propensity, str)
        else f"{type(propensity).__name__} of {len(data)} scores",
        "propensity_link": ps_link,
        "ratio": ratio,
        "replace": replace,
        "caliper": cal,
        "exact": exact_cols,
        "estimand": estimand,
        "se": se,
        "distance": distance,
        "mahalanobis": mahal,
        "m_order": m_order,
        "ties": ties,
        "bias_adjust": bias_adjust,
        "level": level,
    }
    details: dict[str, Any] = {
        "pairs": pd.DataFrame({"unit": labels[unit], "match": labels[match], "weight": pw})
    }
    if se == "abadie_imbens":
        if score is not None or ps is not None:
            zz = (score if score is not None else cast(np.ndarray, ps)).reshape(-1, 1)
        else:  # Mahalanobis matching: Match's default Z is the matching covariates
            zz = frame[mahal or covs].to_numpy(dtype=float)
        sign = -1.0 if estimand == "ATC" else 1.0
        treat_ai = z if estimand != "ATC" else 1.0 - z
        ai = ai_estimate(
            y, treat_ai, zz, unit, match, pw, ate=estimand == "ATE", bias_adjust=bias_adjust
        )
        est, std = sign * ai.estimate, ai.std_error
        details["estimate_unadjusted"] = sign * ai.estimate_unadjusted
        details["std_error_standard"] = ai.std_error_standard
        method = "nearest-neighbour matching" + (
            ", bias-adjusted (Abadie-Imbens 2011)" if bias_adjust else ""
        )
        method += ", Abadie-Imbens SE"
        df: float | None = None
        n_clusters = None
    else:
        fit = regression(
            matched,
            outcome=outcome,
            treatment=treatment,
            weights="weights",
            cluster="subclass" if se == "pair_cluster" else None,
            se_type="CR1" if se == "pair_cluster" else "HC3",
        )
        est, std, df = fit.estimate, fit.std_error, fit.df
        n_clusters = fit.n_clusters
        details["coefficients"] = fit.details["coefficients"]
        method = "nearest-neighbour matching, weighted regression, " + (
            "CR1 by matched set" if se == "pair_cluster" else "HC3"
        )

    bal = None
    bal_covs = covs or mahal
    if bal_covs:
        bal_frame = frame[[treatment, *bal_covs]].copy()
        w_name = "matching weights"  # shown in the balance summary
        while w_name in bal_frame.columns:
            w_name += " "
        bal_frame[w_name] = weights
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImpactEvalWarning)
            bal = balance(bal_frame, treatment=treatment, covariates=bal_covs, weights=w_name)

    mm_frame = pd.DataFrame(
        np.where(mm_main >= 0, np.asarray(labels)[np.clip(mm_main, 0, None)], np.nan)
        if mm_main.size
        else np.zeros((0, ratio)),
        index=labels[np.flatnonzero(focal_att)][: mm_main.shape[0]],
        columns=[f"match_{j + 1}" for j in range(ratio)],
    )
    result = MatchingEstimate.from_wald(
        est,
        std,
        level=level,
        df=df,
        estimand=estimand,
        method=method,
        n_obs=int(keep.sum()),
        n_treated=int((keep & (z == 1)).sum()),
        n_control=int((keep & (z == 0)).sum()),
        n_clusters=n_clusters,
        outcome=outcome,
        n_dropped=prepared.n_dropped,
        warnings=tuple(caught),
        provenance=Provenance(options=options, data_fingerprint=fingerprint(data, used), seed=seed),
        details=details,
        matched=matched,
        balance=bal,
        match_matrix=mm_frame,
        n_matched=n_matched,
        n_unmatched=n_focal - n_matched,
        n_matched_control=int(np.unique(match).size),
        caliper_width=caliper_width,
    )
    return cast(MatchingEstimate, result)
