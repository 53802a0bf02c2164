"""The canonical 2x2 difference-in-differences (two groups, two periods)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from impacteval._validation import (
    as_column_list,
    check_binary,
    check_level,
    group_codes,
    prepare,
)
from impacteval._warn import WarningLog
from impacteval.did.twfe import few_treated_clusters
from impacteval.exceptions import DataValidationError, SmallSampleWarning
from impacteval.inference.variance import fit_ols
from impacteval.results import EffectEstimate, Provenance, fingerprint

__all__ = ["two_by_two"]


def two_by_two(
    data: pd.DataFrame,
    *,
    outcome: str,
    treated: str,
    post: str,
    unit: str | None = None,
    cluster: str | None = None,
    covariates: Sequence[str] = (),
    balance: bool = False,
    level: float = 0.95,
) -> EffectEstimate:
    """Difference in differences of mean outcomes: (T post - T pre) - (C post - C pre).

    Three forms, chosen by the arguments:

    * **repeated cross-sections / pooled** (no ``unit``): OLS of the outcome on
      ``treated``, ``post`` and ``treated x post`` (plus covariates); the effect is the
      interaction. SE HC2 (estimatr's default), or CR2 with Bell-McCaffrey df when
      ``cluster`` is given.
    * **balanced panel** (``unit`` given and every unit observed in both periods, or
      ``balance=True`` to keep only such units): the change-score form -- OLS of the
      unit-level change ``y_post - y_pre`` on ``treated`` (plus covariates) with HC2, which
      without covariates is exactly the Welch/Neyman SE of the difference of mean changes.
      Clustered (CR2) when ``cluster`` is given.
    * **unbalanced panel** (``unit`` given, some units seen once): the pooled regression with
      CR2 standard errors clustered by unit (or by ``cluster``), with a warning that the
      panel is unbalanced.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data: one row per unit (or observation) and period.
    outcome : str
        Outcome column.
    treated, post : str
        0/1 columns: the treated group, and the post period.
    unit : str, optional
        Unit identifier (panel data).
    cluster : str, optional
        Cluster identifier for CR2 standard errors (e.g. state); must be constant within
        unit for the change-score form.
    covariates : sequence of str
        Additional regressors. In the change-score form they are taken from the pre-period
        row of each unit (baseline covariates).
    balance : bool
        Keep only units observed in both periods (the count dropped is on the result).
    level : float
        Confidence level.

    Returns
    -------
    EffectEstimate
        ``estimand`` "ATT"; ``details["form"]`` is "pooled", "change_score" or
        "unbalanced_panel"; ``details["cell_means"]`` holds the four means.

    Warns
    -----
    SmallSampleWarning
        Without clusters, a group x period cell (change-score form: an arm) with fewer
        than 2 observations: the HC2 standard error is not identified and is NaN. With
        clusters, fewer than 10 clusters containing treated units: cluster-robust tests
        over-reject (badly with one).

    Notes
    -----
    Identification: parallel trends -- absent treatment, the treated group's mean outcome
    would have changed as the control group's did; no anticipation. Without covariates the
    pooled estimate equals the difference of the four cell means (Card & Krueger 1994,
    Table 3), whatever the form.

    References
    ----------
    Card, D. & Krueger, A. (1994). Minimum wages and employment. AER 84(4), 772-793.
    R: ``estimatr::lm_robust(y ~ treated * post)``; Stata: ``diff``.
    """
    level = check_level(level)
    covs = as_column_list(covariates, "covariates")
    prepared = prepare(
        data,
        numeric={"outcome": outcome, "treated": treated, "post": post, "covariates": covs},
        labels={"unit": unit, "cluster": cluster},
        outcome_param="outcome",
    )
    frame = prepared.frame
    g = check_binary(frame[treated].to_numpy(dtype=float), "treated", treated)
    p = check_binary(frame[post].to_numpy(dtype=float), "post", post)
    y = frame[outcome].to_numpy(dtype=float)
    cells = {
        (int(a), int(b)): float(y[(g == a) & (p == b)].mean())
        for a in (0, 1)
        for b in (0, 1)
        if np.any((g == a) & (p == b))
    }
    if len(cells) < 4:
        missing = [c for c in [(0, 0), (0, 1), (1, 0), (1, 1)] if c not in cells]
        raise DataValidationError(
            f"`treated`/`post`: every group x period cell needs observations; empty cells "
            f"(treated, post): {missing}"
        )
    log = WarningLog()
    n_dropped = prepared.n_dropped
    form = "pooled"
    if unit is not None:
        frame, form, n_balanced = _panel_form(frame, unit, treated, post, balance, log)
        n_dropped += n_balanced
    clusters_used = cluster if form == "change_score" else (cluster or unit)
    if form == "change_score" and unit is not None:
        est, se, df, n_obs, n_treated, n_groups = _change_score(
            frame, outcome, treated, post, unit, cluster, covs
        )
    else:
        est, se, df, n_obs, n_treated, n_groups = _pooled(
            frame, outcome, treated, post, cluster if cluster is not None else unit, covs
        )
    if clusters_used is not None:
        _warn_few_clusters(frame, treated, clusters_used, log)
    else:
        counts = (
            [n_treated, n_obs - n_treated]
            if form == "change_score"
            else [int(np.sum((g == a) & (p == b))) for a in (0, 1) for b in (0, 1)]
        )
        se, df = _hc2_identified(se, df, counts, form, log)
    options = {
        "outcome": outcome,
        "treated": treated,
        "post": post,
        "unit": unit,
        "cluster": cluster,
        "covariates": covs,
        "balance": balance,
        "level": level,
        "form": form,
    }
    used = [outcome, treated, post, *covs] + [c for c in (unit, cluster) if c]
    return EffectEstimate.from_wald(
        est,
        se,
        level=level,
        df=df,
        estimand="ATT",
        method=f"2x2 difference in differences ({form.replace('_', ' ')}, "
        f"{'CR2' if (cluster or form == 'unbalanced_panel') else 'HC2'})",
        n_obs=n_obs,
        n_treated=n_treated,
        n_control=n_obs - n_treated,
        n_clusters=n_groups,
        outcome=outcome,
        n_dropped=n_dropped,
        warnings=log.messages,
        provenance=Provenance(options=options, data_fingerprint=fingerprint(data, used)),
        details={"form": form, "cell_means": cells},
    )


def _warn_few_clusters(frame: pd.DataFrame, treated: str, clusters: str, log: WarningLog) -> None:
    codes, n_groups = group_codes(frame[clusters])
    few = few_treated_clusters(
        frame[treated].to_numpy(dtype=float), codes, n_groups, clusters, "CR2"
    )
    if few:
        log.warn(few, SmallSampleWarning)


def _hc2_identified(
    se: float, df: float, counts: list[int], form: str, log: WarningLog
) -> tuple[float, float]:
    """The HC2 SE and df, or NaN (with a warning) when a cell has fewer than 2 observations."""
    if min(counts) >= 2 and np.isfinite(se):
        return se, df
    where = "arm (units)" if form == "change_score" else "group x period cell"
    log.warn(
        f"`treated`/`post`: a {where} has fewer than 2 observations (counts "
        f"{counts}); its outcome variance cannot be estimated, so the HC2 standard "
        "error is not identified: the standard error, interval and p-value are NaN. "
        "Collect more units, or use randomization inference",
        SmallSampleWarning,
    )
    return math.nan, math.nan


def _panel_form(
    frame: pd.DataFrame, unit: str, treated: str, post: str, balance: bool, log: WarningLog
) -> tuple[pd.DataFrame, str, int]:
    """Check the panel (fixed group, one row per unit and period); the form it allows, and
    the rows dropped by ``balance``."""
    if frame[treated].groupby(frame[unit]).nunique().max() > 1:
        raise DataValidationError(
            f"`treated`: column {treated!r} changes within a unit of {unit!r}; the "
            "treated group must be fixed"
        )
    counts = frame.groupby([unit, post]).size()
    if counts.max() > 1:
        raise DataValidationError(
            f"`unit`: some unit of {unit!r} has more than one row in the same period"
        )
    per_unit = frame.groupby(unit)[post].nunique()
    incomplete = per_unit.index[per_unit < 2]
    n_dropped = 0
    if len(incomplete) and balance:
        keep = ~frame[unit].isin(incomplete)
        n_dropped = int((~keep).sum())
        log.warn(
            f"balance=True: {len(incomplete)} units observed in one period only were "
            f"dropped ({n_dropped} rows)"
        )
        frame = frame.loc[keep].reset_index(drop=True)
        incomplete = incomplete[:0]
    if len(incomplete) == 0:
        return frame, "change_score", n_dropped
    log.warn(
        f"the panel is unbalanced: {len(incomplete)} of {len(per_unit)} units are "
        "observed in one period only; using the pooled regression clustered by "
        "unit (pass balance=True for the change-score form on complete units)"
    )
    return frame, "unbalanced_panel", n_dropped


def _pooled(
    frame: pd.DataFrame,
    outcome: str,
    treated: str,
    post: str,
    clusters: str | None,
    covs: list[str],
) -> tuple[float, float, float, int, int, int | None]:
    """OLS on treated, post and their interaction (HC2, or CR2 by ``clusters``)."""
    gg = frame[treated].to_numpy(dtype=float)
    pp = frame[post].to_numpy(dtype=float)
    x = np.column_stack([np.ones(len(frame)), gg, pp, gg * pp, frame[covs].to_numpy(dtype=float)])
    codes, n_groups = group_codes(frame[clusters]) if clusters is not None else (None, None)
    fit = fit_ols(
        x,
        frame[outcome].to_numpy(dtype=float),
        se_type="CR2" if codes is not None else "HC2",
        clusters=codes,
        n_clusters=n_groups,
    )
    est, se, df = float(fit.coef[3]), float(np.sqrt(fit.vcov[3, 3])), float(fit.df[3])
    return est, se, df, len(frame), int(gg.sum()), n_groups


def _change_score(
    frame: pd.DataFrame,
    outcome: str,
    treated: str,
    post: str,
    unit: str,
    cluster: str | None,
    covs: list[str],
) -> tuple[float, float, float, int, int, int | None]:
    """OLS of the unit-level change on the group (HC2, or CR2 by cluster)."""
    pre = frame.loc[frame[post] == 0].set_index(unit)
    after = frame.loc[frame[post] == 1].set_index(unit)
    after = after.loc[pre.index]
    change = after[outcome].to_numpy(dtype=float) - pre[outcome].to_numpy(dtype=float)
    gg = pre[treated].to_numpy(dtype=float)
    x = np.column_stack([np.ones(len(pre)), gg, pre[covs].to_numpy(dtype=float)])
    codes = None
    n_groups = None
    if cluster is not None:
        if frame[cluster].groupby(frame[unit]).nunique().max() > 1:
            raise DataValidationError(
                f"`cluster`: column {cluster!r} changes within a unit of {unit!r}"
            )
        codes, n_groups = group_codes(pre[cluster])
    fit = fit_ols(
        x,
        change,
        se_type="CR2" if codes is not None else "HC2",
        clusters=codes,
        n_clusters=n_groups,
    )
    return (
        float(fit.coef[1]),
        float(np.sqrt(fit.vcov[1, 1])),
        float(fit.df[1]),
        len(pre),
        int(gg.sum()),
        n_groups,
    )
