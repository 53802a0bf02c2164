"""Nearest-neighbour matching, step 1 of 3: check the options and prepare the data.

:func:`check_nearest_options` checks every argument of
:func:`~impacteval.matching.nearest.nearest_neighbor` that does not need the data (and the
combinations of them MatchIt and Matching support) and returns a frozen
:class:`NearestOptions`; :func:`prepare_nearest` checks the data, drops incomplete rows
(counted) and forms the distance the matching runs on (:class:`NearestData`). Matching
itself is in :mod:`impacteval.matching._nn_numerics`, the result in
:mod:`impacteval.matching._nn_result`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from impacteval._validation import (
    as_column_list,
    as_pandas,
    check_aligned,
    check_binary,
    check_bool,
    check_choice,
    check_dataframe,
    check_level,
    check_min_per_arm,
    check_rng,
    prepare,
)
from impacteval.exceptions import DataValidationError
from impacteval.matching.propensity import fit_propensity

__all__ = ["NearestData", "NearestOptions", "check_nearest_options", "prepare_nearest"]

ORDERS = ("largest", "smallest", "random", "data")
RESERVED_COLUMNS = ("weights", "subclass", "distance")


@dataclass(frozen=True)
class NearestOptions:
    """The checked options of one ``nearest_neighbor`` call (defaults resolved)."""

    outcome: str
    treatment: str
    covariates: list[str]
    exact: list[str]
    mahalanobis: list[str]
    propensity: Any  # as given: None, a column name, or the scores themselves
    propensity_link: str
    ratio: int
    replace: bool
    caliper: float | None
    estimand: str
    se: str
    distance: str
    m_order: str | None  # as given (None: the default order for the distance and estimand)
    ties: bool
    bias_adjust: bool
    model: Any
    generator: np.random.Generator
    seed: int | None
    level: float


@dataclass(frozen=True)
class NearestData:
    """Complete rows as arrays, and the distance the matching runs on.

    ``data`` is the input (with a working column holding ``propensity`` scores given as a
    Series or array); ``frame`` its complete rows; ``labels`` their index labels.
    """

    data: pd.DataFrame
    frame: pd.DataFrame
    labels: pd.Index
    used: list[str]
    propensity_column: str | None
    n_dropped: int
    y: np.ndarray
    z: np.ndarray
    ps: np.ndarray | None
    score: np.ndarray | None
    caliper_width: float | None


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


def _check_se(se: object, replace: bool, estimand: str) -> str:
    """The standard-error choice, defaulted by ``replace`` and checked against it."""
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
    return se


def _check_combinations(
    *,
    ties: object,
    replace: bool,
    distance: str,
    mahal: list[str],
    covs: list[str],
    bias_adjust: object,
    se: str,
    caliper: float | None,
    propensity: object,
) -> None:
    """Refuse the combinations of options that MatchIt / Matching do not define."""
    if ties and not replace:
        raise DataValidationError("`ties`: keeping tied matches needs replace=True")
    if ties and (distance == "mahalanobis" or mahal):
        raise DataValidationError(
            "`ties`: tie handling is implemented for a scalar distance (propensity or logit)"
        )
    if bias_adjust and se != "abadie_imbens":
        raise DataValidationError("`bias_adjust` needs se='abadie_imbens'")
    if distance == "mahalanobis" and caliper is not None and propensity is None:
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


def check_nearest_options(
    *,
    outcome: str,
    treatment: str,
    covariates: Sequence[str] | None,
    propensity: object,
    propensity_link: str | None,
    ratio: object,
    replace: object,
    caliper: object,
    exact: Sequence[str] | str,
    estimand: str,
    se: str | None,
    distance: str,
    mahalanobis: Sequence[str] | None,
    m_order: str | None,
    ties: bool,
    bias_adjust: bool,
    model: Any,
    rng: int | np.random.Generator | None,
    level: float,
) -> NearestOptions:
    """Check every option that does not need the data; raise on the first bad one."""
    level = check_level(level)
    estimand = check_choice(estimand, "estimand", ("ATT", "ATC", "ATE"))
    distance = check_choice(distance, "distance", ("propensity", "logit", "mahalanobis"))
    n_ratio = _check_ratio(ratio)
    cal = _check_caliper(caliper)
    repl = check_bool(replace, "replace")
    covs = as_column_list(covariates, "covariates")
    exact_cols = as_column_list(exact, "exact")
    mahal = as_column_list(mahalanobis, "mahalanobis")
    se_used = _check_se(se, repl, estimand)
    _check_combinations(
        ties=ties,
        replace=repl,
        distance=distance,
        mahal=mahal,
        covs=covs,
        bias_adjust=bias_adjust,
        se=se_used,
        caliper=cal,
        propensity=propensity,
    )
    if m_order is not None:
        m_order = check_choice(m_order, "m_order", ORDERS)
    generator, seed = check_rng(rng)
    recorded = propensity.attrs.get("link") if isinstance(propensity, pd.Series) else None
    if propensity_link is None:
        propensity_link = recorded if recorded in ("probability", "logit") else "probability"
    link = check_choice(propensity_link, "propensity_link", ("probability", "logit"))
    return NearestOptions(
        outcome=outcome,
        treatment=treatment,
        covariates=covs,
        exact=exact_cols,
        mahalanobis=mahal,
        propensity=propensity,
        propensity_link=link,
        ratio=n_ratio,
        replace=repl,
        caliper=cal,
        estimand=estimand,
        se=se_used,
        distance=distance,
        m_order=m_order,
        ties=bool(ties),
        bias_adjust=bool(bias_adjust),
        model=model,
        generator=generator,
        seed=seed,
        level=level,
    )


def _with_propensity(data: object, propensity: object) -> tuple[object, str | None]:
    """The data with the propensity scores as a column, and that column's name.

    A column name is used as is; a Series or array is checked for alignment with ``data``
    and added as a working column (on a copy), so that missing values are dropped and
    counted like any other column's.
    """
    if propensity is None or isinstance(propensity, str):
        return data, propensity
    frame = check_dataframe(data)
    values = check_aligned(propensity, frame, "propensity")
    name = "_propensity"
    while name in frame.columns:
        name = "_" + name
    return frame.assign(**{name: values}), name


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


def _distance(
    frame: pd.DataFrame, z: np.ndarray, ps_col: str | None, opts: NearestOptions
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The propensity score (given or fitted; None for pure Mahalanobis matching) and the
    scalar score matched on (the score or its logit; None for Mahalanobis)."""
    ps: np.ndarray | None = None
    log_odds: np.ndarray | None = None
    if ps_col is not None:
        given = frame[ps_col].to_numpy(dtype=float)
        if opts.propensity_link == "logit":
            log_odds = given
            ps = 1.0 / (1.0 + np.exp(-given))
        else:
            _check_probabilities(given, opts.propensity)
            ps = given
    elif opts.distance != "mahalanobis":
        covs = opts.covariates
        ps = fit_propensity(frame[covs].to_numpy(dtype=float), z, opts.model, covs)
    if ps is None or opts.distance == "mahalanobis":
        return ps, None
    if opts.distance != "logit":
        return ps, ps
    if log_odds is not None:
        return ps, log_odds
    if np.any((ps <= 0) | (ps >= 1)):
        raise DataValidationError(
            "`distance`: 'logit' needs propensity scores strictly between 0 and 1"
        )
    return ps, np.log(ps) - np.log1p(-ps)


def prepare_nearest(data: object, opts: NearestOptions) -> NearestData:
    """Check the data against the options, drop incomplete rows and form the distance.

    Raises
    ------
    DataValidationError
        See :func:`~impacteval.matching.nearest.nearest_neighbor`.
    """
    data, ps_col = _with_propensity(as_pandas(data), opts.propensity)
    for col in RESERVED_COLUMNS:
        if col in data.columns if isinstance(data, pd.DataFrame) else False:
            raise DataValidationError(
                f"`data` already has a column {col!r}; the matched sample adds one with that "
                "name (rename yours)"
            )
    outcome, treatment, covs, mahal = (
        opts.outcome,
        opts.treatment,
        opts.covariates,
        opts.mahalanobis,
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
        labels={"exact": opts.exact},
        outcome_param="outcome",
    )
    source = cast(pd.DataFrame, data)  # prepare() has checked that it is a DataFrame
    _check_unique_index(source)
    frame = prepared.frame
    used = list(dict.fromkeys([outcome, treatment, *covs, *mahal, *opts.exact]))
    if ps_col is not None:
        used.append(ps_col)
    complete = source[used].notna().all(axis=1).to_numpy()
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
    ps, score = _distance(frame, z, ps_col, opts)
    caliper_width: float | None = None
    if opts.caliper is not None:
        base = score if score is not None else ps
        caliper_width = opts.caliper * float(np.std(cast(np.ndarray, base), ddof=1))
    return NearestData(
        data=source,
        frame=frame,
        labels=source.index[complete],
        used=used,
        propensity_column=ps_col,
        n_dropped=prepared.n_dropped,
        y=frame[outcome].to_numpy(dtype=float),
        z=z,
        ps=ps,
        score=score,
        caliper_width=caliper_width,
    )


def _check_unique_index(source: pd.DataFrame) -> None:
    """Refuse duplicate index labels: the matched sample, the match matrix and the pairs name
    rows by label, and MatchIt's tie rule orders units by their row names."""
    if source.index.is_unique:
        return
    dup = source.index[source.index.duplicated()]
    raise DataValidationError(
        "`data` must have a unique index: the matched sample, `match_matrix` and the pairs "
        f"identify rows by their index label, but {dup.size} label(s) repeat (e.g. "
        f"{dup[0]!r}). Call `data.reset_index(drop=True)` (or set a unique id as the index) "
        "and match again."
    )
