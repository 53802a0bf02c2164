"""The canonical 2x2 difference-in-differences (two groups, two periods).

NOTES
-----
Standard errors (``se_type``): by default HC2 (estimatr's default; CR2 with clusters or an
unbalanced panel); ``"HC0"``-``"HC3"`` pick another heteroskedasticity-robust type for the
unclustered forms; ``"drdid"`` is R ``DRDID``'s TWFE standard error (``twfe_did_panel`` /
``twfe_did_rc``): the pooled regression of the outcome on treated, post and their product
(plus covariates) over all ``N`` rows, its influence function ``IF_i`` and
``sd(IF) / sqrt(N)`` = HC0 x ``sqrt(N / (N - 1))``, with a normal interval. For a panel it
treats the two rows of a unit as independent, as DRDID does; it is there to reproduce
DRDID's output, not as a recommendation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from impacteval._validation import (
    as_column_list,
    check_binary,
    check_choice,
    check_level,
    group_codes,
    prepare,
)
from impacteval._warn import WarningLog
from impacteval.did._dask_two_by_two import two_by_two_dask
from impacteval.did.twfe import few_treated_clusters
from impacteval.exceptions import DataValidationError, SmallSampleWarning
from impacteval.inference.variance import fit_ols
from impacteval.rct.regression_dask import is_dask_dataframe
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
    se_type: str | None = None,
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
    data : pandas.DataFrame or dask.dataframe.DataFrame
        Long data: one row per unit (or observation) and period. A Dask DataFrame (no
        ``cluster``; with ``unit``, partitioned by unit and balanced or ``balance=True``) is
        estimated by map-reduce over its partitions without collecting the rows: see
        :mod:`impacteval.did._dask_two_by_two`.
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
    se_type : {None, "HC0", "HC1", "HC2", "HC3", "drdid"}
        None (default): HC2, or CR2 with ``cluster`` / an unbalanced panel. ``"HC0"`` to
        ``"HC3"``: that type instead of HC2 (no ``cluster``; not for an unbalanced panel,
        which is clustered by unit). ``"drdid"``: R DRDID's TWFE SE, HC0 x
        ``sqrt(N / (N - 1))`` on the pooled regression over all ``N`` rows, normal
        interval; with ``unit`` the pooled form is used on the (balanced) panel, whose rows
        DRDID treats as independent (see NOTES of :mod:`impacteval.did.two_by_two`).

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
    se_type = _check_se_type(se_type, cluster)
    if is_dask_dataframe(data):  # map-reduce over the partitions (did/_dask_two_by_two.py)
        return two_by_two_dask(data, outcome=outcome, treated=treated, post=post, unit=unit,
                               cluster=cluster, covariates=covs, balance=balance, level=level,
                               se_type=se_type)  # fmt: skip
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
    if se_type == "drdid":
        form = "pooled"
    elif se_type is not None and form == "unbalanced_panel":
        raise DataValidationError(
            f"`se_type`: {se_type!r} is not available for an unbalanced panel, whose pooled "
            "regression is clustered by unit (CR2); leave se_type=None or pass balance=True"
        )
    clusters_used = cluster if form == "change_score" else (cluster or unit)
    if se_type == "drdid":
        clusters_used = None
    if form == "change_score" and unit is not None:
        est, se, df, n_obs, n_treated, n_groups = _change_score(
            frame, outcome, treated, post, unit, cluster, covs, se_type or "HC2"
        )
    else:
        est, se, df, n_obs, n_treated, n_groups = _pooled(
            frame,
            outcome,
            treated,
            post,
            None if se_type == "drdid" else (cluster if cluster is not None else unit),
            covs,
            se_type or "HC2",
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
        "se_type": se_type,
    }
    used = [outcome, treated, post, *covs] + [c for c in (unit, cluster) if c]
    return EffectEstimate.from_wald(
        est,
        se,
        level=level,
        df=df,
        estimand="ATT",
        method=f"2x2 difference in differences ({form.replace('_', ' ')}, "
        f"{_se_label(se_type, cluster, form)})",
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


def _check_se_type(se_type: str | None, cluster: str | None) -> str | None:
    if se_type is None:
        return None
    se_type = check_choice(se_type, "se_type", ("HC0", "HC1", "HC2", "HC3", "drdid"))
    if cluster is not None:
        raise DataValidationError(
            f"`se_type`: {se_type!r} is an unclustered standard error; received "
            f"cluster={cluster!r} (clustered SEs are CR2: leave se_type=None)"
        )
    return se_type


def _se_label(se_type: str | None, cluster: str | None, form: str) -> str:
    if se_type == "drdid":
        return "DRDID's TWFE SE, HC0 x sqrt(N/(N-1))"
    if se_type is not None:
        return se_type
    return "CR2" if (cluster or form == "unbalanced_panel") else "HC2"


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
    se_type: str = "HC2",
) -> tuple[float, float, float, int, int, int | None]:
    """OLS on treated, post and their interaction (``se_type``, or CR2 by ``clusters``;
    ``"drdid"``: HC0 x sqrt(N / (N - 1)) with a normal reference, DRDID's TWFE SE)."""
    gg = frame[treated].to_numpy(dtype=float)
    pp = frame[post].to_numpy(dtype=float)
    x = np.column_stack([np.ones(len(frame)), gg, pp, gg * pp, frame[covs].to_numpy(dtype=float)])
    codes, n_groups = group_codes(frame[clusters]) if clusters is not None else (None, None)
    fit = fit_ols(
        x,
        frame[outcome].to_numpy(dtype=float),
        se_type="CR2" if codes is not None else ("HC0" if se_type == "drdid" else se_type),
        clusters=codes,
        n_clusters=n_groups,
    )
    est, se, df = float(fit.coef[3]), float(np.sqrt(fit.vcov[3, 3])), float(fit.df[3])
    if se_type == "drdid":
        n_rows = len(frame)
        se, df = se * math.sqrt(n_rows / (n_rows - 1)), math.inf
    return est, se, df, len(frame), int(gg.sum()), n_groups


def _change_score(
    frame: pd.DataFrame,
    outcome: str,
    treated: str,
    post: str,
    unit: str,
    cluster: str | None,
    covs: list[str],
    se_type: str = "HC2",
) -> tuple[float, float, float, int, int, int | None]:
    """OLS of the unit-level change on the group (``se_type``, or CR2 by cluster)."""
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
        se_type="CR2" if codes is not None else se_type,
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
