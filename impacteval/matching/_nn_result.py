"""Nearest-neighbour matching, step 3 of 3: the outcome analysis and the result.

:func:`build_matching_result` turns the matched sets of
:func:`~impacteval.matching._nn_numerics.match_units` into a :class:`MatchingEstimate`: the
matched sample (MatchIt's ``match.data()``), the effect (Abadie-Imbens, or the weighted
regression of the outcome on treatment in the matched sample) and the match matrix. The
balance table is computed on request: the result keeps a :class:`BalanceRequest` (a
snapshot of the covariates and the matching weights) and computes
:attr:`MatchingEstimate.balance` from it on first access, then caches it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

import numpy as np
import pandas as pd

from impacteval.diagnostics.balance import BalanceTable, balance
from impacteval.exceptions import ImpactEvalWarning
from impacteval.matching._nn_numerics import Matches
from impacteval.matching._nn_prepare import NearestData, NearestOptions
from impacteval.matching.abadie_imbens import ai_estimate
from impacteval.rct.regression import regression
from impacteval.results import EffectEstimate, Provenance, fingerprint

__all__ = ["BalanceRequest", "MatchingEstimate", "build_matching_result"]


@dataclass(frozen=True, eq=False)
class BalanceRequest:
    """What the balance table of a matching result is computed from, on request.

    A snapshot taken when the result is built (copies of the treatment and balance columns
    of the complete rows, and the matching weights), so that the table computed later is
    the one of the data as they were matched, whatever happens to the input afterwards.

    Attributes
    ----------
    columns : mapping of str to pandas.Series
        Treatment and balance covariates of the complete rows, in that order (each its own
        copy; kept column by column, which copies faster than a frame of mixed blocks).
    treatment : str
    covariates : tuple of str
    weights : numpy.ndarray
        MatchIt's ``match.data()`` weights of the same rows (0 for unmatched units).
    """

    columns: Mapping[str, pd.Series]
    treatment: str
    covariates: tuple[str, ...]
    weights: np.ndarray

    def compute(self) -> BalanceTable:
        """The balance table before (unadjusted) and after (``*_adjusted``) matching.

        :func:`~impacteval.diagnostics.balance.balance`'s own warnings (a constant
        covariate, say) are not issued again here: they are kept in the table's
        ``warnings`` and shown in its summary.
        """
        bal_frame = pd.DataFrame(dict(self.columns))
        w_name = "matching weights"  # shown in the balance summary
        while w_name in bal_frame.columns:
            w_name += " "
        bal_frame[w_name] = self.weights
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImpactEvalWarning)
            return balance(
                bal_frame,
                treatment=self.treatment,
                covariates=list(self.covariates),
                weights=w_name,
            )


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
        Covariate balance before (unadjusted) and after (``*_adjusted``) matching; None
        when there are no covariates. Computed on first access and cached (see Notes).
    balance_request : BalanceRequest or None
        What ``balance`` is computed from.
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

    Notes
    -----
    The balance table (empirical-CDF statistics of every covariate before and after
    matching, and the joint F test) costs more than the matching itself on large samples,
    so it is computed when ``balance`` is first read, not when the estimator runs; the
    numbers are the same as computing it at once. No warning of ``nearest_neighbor``
    depends on it (the common-support and unmatched-unit warnings come from the scores and
    the matched sets, and are issued by the call); the table's own notes are in
    ``balance.warnings``. A result made from this one (``with_level``) computes it again
    on its first access, from the same snapshot.
    """

    matched: pd.DataFrame = field(default_factory=pd.DataFrame)
    balance_request: BalanceRequest | None = field(default=None, compare=False)
    match_matrix: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_matched: int = 0
    n_unmatched: int = 0
    n_matched_control: int = 0
    caliper_width: float | None = None

    @cached_property
    def balance(self) -> BalanceTable | None:
        """Covariate balance before and after matching, computed on first access."""
        return None if self.balance_request is None else self.balance_request.compute()


@dataclass(frozen=True)
class _Effect:
    estimate: float
    std_error: float
    df: float | None
    n_clusters: int | None
    method: str


def _matched_sample(d: NearestData, opts: NearestOptions, m: Matches) -> pd.DataFrame:
    """MatchIt's ``match.data()``: the rows with a positive weight plus ``weights``,
    ``distance`` and (without replacement) ``subclass``."""
    keep = m.weights > 0
    matched = d.data.loc[d.labels[keep]].copy()
    if d.propensity_column is not None and not isinstance(opts.propensity, str):
        matched = matched.drop(columns=[d.propensity_column])  # the working column
    matched["weights"] = m.weights[keep]
    n = d.z.size
    matched["distance"] = (d.score if d.score is not None else np.full(n, np.nan))[keep]
    if m.subclass is not None:
        matched["subclass"] = m.subclass[keep]
    return matched


def _effect(
    d: NearestData,
    opts: NearestOptions,
    m: Matches,
    matched: pd.DataFrame,
    details: dict[str, Any],
) -> _Effect:
    """The effect: the Abadie-Imbens matching estimator, or the weighted regression of the
    outcome on treatment in the matched sample (CR1 by matched set, or HC3)."""
    if opts.se != "abadie_imbens":
        pair = opts.se == "pair_cluster"
        fit = regression(
            matched,
            outcome=opts.outcome,
            treatment=opts.treatment,
            weights="weights",
            cluster="subclass" if pair else None,
            se_type="CR1" if pair else "HC3",
        )
        details["coefficients"] = fit.details["coefficients"]
        method = "nearest-neighbour matching, weighted regression, " + (
            "CR1 by matched set" if pair else "HC3"
        )
        return _Effect(fit.estimate, fit.std_error, fit.df, fit.n_clusters, method)
    if d.score is not None or d.ps is not None:
        zz = (d.score if d.score is not None else cast(np.ndarray, d.ps)).reshape(-1, 1)
    else:  # Mahalanobis matching: Match's default Z is the matching covariates
        zz = d.frame[opts.mahalanobis or opts.covariates].to_numpy(dtype=float)
    sign = -1.0 if opts.estimand == "ATC" else 1.0
    treat_ai = d.z if opts.estimand != "ATC" else 1.0 - d.z
    ai = ai_estimate(
        d.y,
        treat_ai,
        zz,
        m.unit,
        m.match,
        m.pair_weight,
        ate=opts.estimand == "ATE",
        bias_adjust=opts.bias_adjust,
    )
    details["estimate_unadjusted"] = sign * ai.estimate_unadjusted
    details["std_error_standard"] = ai.std_error_standard
    method = "nearest-neighbour matching" + (
        ", bias-adjusted (Abadie-Imbens 2011)" if opts.bias_adjust else ""
    )
    return _Effect(sign * ai.estimate, ai.std_error, None, None, method + ", Abadie-Imbens SE")


def _balance_request(
    d: NearestData, opts: NearestOptions, weights: np.ndarray
) -> BalanceRequest | None:
    """The snapshot the balance table is computed from (None without covariates)."""
    bal_covs = opts.covariates or opts.mahalanobis
    if not bal_covs:
        return None
    return BalanceRequest(
        columns={c: d.frame[c].copy() for c in dict.fromkeys([opts.treatment, *bal_covs])},
        treatment=opts.treatment,
        covariates=tuple(bal_covs),
        weights=weights.copy(),
    )


def _match_matrix_frame(d: NearestData, opts: NearestOptions, m: Matches) -> pd.DataFrame:
    """The match matrix with index labels instead of row positions."""
    mm = m.match_matrix
    return pd.DataFrame(
        np.where(mm >= 0, np.asarray(d.labels)[np.clip(mm, 0, None)], np.nan)
        if mm.size
        else np.zeros((0, opts.ratio)),
        index=d.labels[np.flatnonzero(m.focal)][: mm.shape[0]],
        columns=[f"match_{j + 1}" for j in range(opts.ratio)],
    )


def _options(d: NearestData, opts: NearestOptions) -> dict[str, Any]:
    """The options actually used, for the provenance."""
    given = opts.propensity
    return {
        "outcome": opts.outcome,
        "treatment": opts.treatment,
        "covariates": opts.covariates,
        "propensity": given
        if given is None or isinstance(given, str)
        else f"{type(given).__name__} of {len(d.data)} scores",
        "propensity_link": opts.propensity_link,
        "ratio": opts.ratio,
        "replace": opts.replace,
        "caliper": opts.caliper,
        "exact": opts.exact,
        "estimand": opts.estimand,
        "se": opts.se,
        "distance": opts.distance,
        "mahalanobis": opts.mahalanobis,
        "m_order": opts.m_order,
        "ties": opts.ties,
        "bias_adjust": opts.bias_adjust,
        "level": opts.level,
    }


def build_matching_result(
    d: NearestData, opts: NearestOptions, m: Matches, messages: tuple[str, ...]
) -> MatchingEstimate:
    """The :class:`MatchingEstimate` of one ``nearest_neighbor`` call."""
    labels = d.labels
    details: dict[str, Any] = {
        "pairs": pd.DataFrame(
            {"unit": labels[m.unit], "match": labels[m.match], "weight": m.pair_weight}
        )
    }
    matched = _matched_sample(d, opts, m)
    eff = _effect(d, opts, m, matched, details)
    keep = m.weights > 0
    result = MatchingEstimate.from_wald(
        eff.estimate,
        eff.std_error,
        level=opts.level,
        df=eff.df,
        estimand=opts.estimand,
        method=eff.method,
        n_obs=int(keep.sum()),
        n_treated=int((keep & (d.z == 1)).sum()),
        n_control=int((keep & (d.z == 0)).sum()),
        n_clusters=eff.n_clusters,
        outcome=opts.outcome,
        n_dropped=d.n_dropped,
        warnings=messages,
        provenance=Provenance(
            options=_options(d, opts),
            data_fingerprint=fingerprint(d.data, d.used),
            seed=opts.seed,
        ),
        details=details,
        matched=matched,
        balance_request=_balance_request(d, opts, m.weights),
        match_matrix=_match_matrix_frame(d, opts, m),
        n_matched=m.n_matched,
        n_unmatched=m.n_focal - m.n_matched,
        n_matched_control=int(np.unique(m.match).size),
        caliper_width=d.caliper_width,
    )
    return cast(MatchingEstimate, result)
