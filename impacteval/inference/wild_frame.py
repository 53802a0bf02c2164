"""Wild cluster bootstrap from a data frame, with fixed effects absorbed where that is exact.

This is the front end the regression estimators call for ``inference="wild"``: it builds
the design (outcome, regressors, optional intercept and fixed effects, cluster) and hands
the arrays to :func:`impacteval.inference.wild.wild_cluster_bootstrap`.

Fixed effects and the Frisch-Waugh-Lovell argument
--------------------------------------------------
Let ``D`` be the dummies of a fixed effect whose every level lies inside one cluster
(unit effects with clustering by unit or coarser: "nested" in the clusters). Its
projection ``P_D`` averages within levels, so for any residual vector ``e`` orthogonal to
``D`` and any cluster weights ``v``, the level means of ``e ∘ v`` are ``v_g`` times the
level means of ``e``, which are zero: ``M_D (e ∘ v) = e ∘ v``. The restricted and
unrestricted residuals of a regression that includes ``D`` are orthogonal to ``D``, so a
bootstrap sample ``y* = X b0 + D a0 + e ∘ v`` after the within transformation is
``M_D X b0 + e ∘ v`` — the bootstrap sample of the transformed regression. By FWL the
re-estimated ``beta*`` and residuals, hence the cluster scores and every ``t*``, are the
same draw by draw as with the dummies in the model. So absorbing a nested fixed effect is
exact for WCR and WCU alike; only ``k`` in the CR1 factor must count its levels
(``absorbed_df``), as the dummy regression would.

A fixed effect that is *not* nested in the clusters (period effects when clustering by
unit) breaks ``M_D (e ∘ v) = e ∘ v``: bootstrapping the within-transformed data would be a
different procedure from the dummy regression that fwildclusterboot, boottest and
pyfixest run. Such effects therefore enter as dummy columns (one level dropped). With
two-way effects (unit and period, clustering by unit) the unit effect is absorbed and the
period effect is in ``X``: the result equals the full two-way dummy regression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from impacteval._validation import as_column_list, check_column_name, group_codes, prepare
from impacteval.exceptions import DataValidationError
from impacteval.inference.wild import WildBootstrapResult, wild_cluster_bootstrap

__all__ = ["WildDesign", "build_wild_design", "wild_bootstrap_regression"]

# Refuse designs whose per-cluster blocks (G x k x k doubles) would exceed ~400 MB.
_MAX_BLOCK_ENTRIES = 50_000_000


@dataclass(frozen=True)
class WildDesign:
    """Arrays for :func:`wild_cluster_bootstrap` built from a data frame.

    Attributes
    ----------
    x : ndarray (n, k)
        Regressors (within-transformed when a fixed effect is absorbed), then dummies.
    y : ndarray (n,)
        Outcome (within-transformed likewise).
    cluster : ndarray (n,)
        Integer cluster codes.
    names : tuple of str
        Column names of ``x``.
    absorbed : str or None
        The fixed effect partialled out (nested in the clusters), if any.
    absorbed_df : int
        Its number of levels (parameters absorbed).
    n_dropped : int
        Rows dropped for missing values.
    """

    x: np.ndarray
    y: np.ndarray
    cluster: np.ndarray
    names: tuple[str, ...]
    absorbed: str | None
    absorbed_df: int
    n_dropped: int


def build_wild_design(
    data: Any,
    *,
    outcome: str,
    treatment: str,
    covariates: str | Sequence[str] = (),
    cluster: str,
    fixed_effects: str | Sequence[str] | None = None,
    intercept: bool = True,
) -> WildDesign:
    """Design matrix for the wild bootstrap; see the module docstring for fixed effects.

    The first fixed effect nested in ``cluster`` is absorbed by the within
    transformation; every other fixed effect enters as dummies with its first (sorted)
    level dropped. ``intercept`` is ignored when a fixed effect is present (the effects
    span it). Rows with a missing value in a used column are dropped with a
    :class:`~impacteval.exceptions.MissingDataWarning`.
    """
    check_column_name(outcome, "outcome")
    check_column_name(treatment, "treatment")
    check_column_name(cluster, "cluster")
    covs = as_column_list(covariates, "covariates")
    regs = [treatment, *covs]
    fes = as_column_list(fixed_effects, "fixed_effects")
    if not isinstance(intercept, bool):
        raise DataValidationError(f"`intercept` must be True or False; received {intercept!r}")
    prepared = prepare(
        data,
        numeric={"outcome": outcome, "treatment": treatment, "covariates": covs},
        labels={"cluster": cluster, "fixed_effects": fes},
        outcome_param="outcome",
    )
    frame = prepared.frame
    codes, _ = group_codes(frame[cluster])
    y = frame[outcome].to_numpy(dtype=np.float64)
    x = frame[regs].to_numpy(dtype=np.float64)
    names = list(regs)
    absorbed = next((fe for fe in fes if _nested(frame[fe], codes)), None)
    absorbed_df = 0
    if absorbed is not None:
        fe_codes, absorbed_df = group_codes(frame[absorbed])
        y = _within(y[:, None], fe_codes, absorbed_df)[:, 0]
        x = _within(x, fe_codes, absorbed_df)
    elif intercept or fes:
        x = np.column_stack([np.ones(len(y)), x])
        names = ["(Intercept)", *names]
    blocks = [x]
    for fe in fes:
        if fe == absorbed:
            continue
        fe_codes, n_levels = group_codes(frame[fe])
        levels = pd.Index(pd.unique(frame[fe].sort_values()))
        dummies = np.zeros((len(y), n_levels - 1))
        rows = np.flatnonzero(fe_codes > 0)
        dummies[rows, fe_codes[rows] - 1] = 1.0
        if absorbed is not None:
            dummies = _within(dummies, group_codes(frame[absorbed])[0], absorbed_df)
        blocks.append(dummies)
        names.extend(f"{fe}[{lev}]" for lev in levels[1:])
    x = np.column_stack(blocks) if len(blocks) > 1 else x
    g = int(codes.max()) + 1
    if g * x.shape[1] ** 2 > _MAX_BLOCK_ENTRIES:
        raise DataValidationError(
            f"`fixed_effects`: {x.shape[1]} columns remain after absorbing "
            f"{absorbed or 'nothing'} (no other fixed effect is nested in `cluster`), too "
            f"many for {g} clusters; cluster at a level that nests the largest fixed effect"
        )
    return WildDesign(
        x=x,
        y=y,
        cluster=codes,
        names=tuple(names),
        absorbed=absorbed,
        absorbed_df=absorbed_df,
        n_dropped=prepared.n_dropped,
    )


def wild_bootstrap_regression(
    data: Any,
    *,
    outcome: str,
    treatment: str,
    covariates: str | Sequence[str] = (),
    cluster: str,
    fixed_effects: str | Sequence[str] | None = None,
    intercept: bool = True,
    null: float = 0.0,
    impose_null: bool = True,
    weights: str = "rademacher",
    B: int = 9999,
    enumerate: bool | Literal["auto"] = "auto",
    rng: int | np.random.Generator | None = None,
    level: float = 0.95,
    small_sample: str = "CR1",
    p_value_type: str = "symmetric",
) -> WildBootstrapResult:
    """Wild cluster bootstrap for the treatment coefficient of ``outcome ~ treatment +
    covariates (+ fixed effects)``.

    Parameters
    ----------
    data : pandas.DataFrame
        The data.
    outcome : str
        Outcome column.
    treatment : str
        Numeric column whose coefficient is tested (a 0/1 dummy, a dose, or the
        treated-and-post indicator of a two-way fixed-effects regression).
    covariates : str or sequence of str, default ()
        Further numeric regressors.
    cluster : str
        Cluster column.
    fixed_effects : str or sequence of str, optional
        Fixed-effect columns (e.g. ``[unit, time]`` for two-way fixed effects).
    intercept : bool, default True
        Add an intercept when there are no fixed effects.
    null, impose_null, weights, B, enumerate, rng, level, small_sample, p_value_type
        As in :func:`~impacteval.inference.wild.wild_cluster_bootstrap`.

    Returns
    -------
    WildBootstrapResult
        With ``n_dropped`` the rows dropped for missing values.

    Notes
    -----
    Fixed effects nested in the clusters are absorbed (exact by the Frisch-Waugh-Lovell
    argument in the module docstring); the others are dummies. The CR1 factor counts every
    fixed-effect parameter in ``k`` (``G/(G-1) * (n-1)/(n-k)``), as a dummy regression
    does (pyfixest's and wildboottest's convention); p-values and intervals do not depend
    on it.

    References
    ----------
    Roodman, D., MacKinnon, J. G., Nielsen, M. Ø. and Webb, M. D. (2019). Fast and wild:
    bootstrap inference in Stata using boottest. *Stata Journal* 19(1), 4-60.

    Examples
    --------
    >>> import impacteval as ie
    >>> from impacteval.inference import wild_bootstrap_regression
    >>> d = ie.datasets.load("mpdta")
    >>> d["treat_post"] = ((d.first_treat > 0) & (d.year >= d.first_treat)).astype(float)
    >>> res = wild_bootstrap_regression(d, outcome="lemp", treatment="treat_post",
    ...     cluster="countyreal", fixed_effects=["countyreal", "year"], B=999, rng=1)
    >>> res.coef, res.n_clusters, res.enumerated
    ('treat_post', 500, False)
    >>> bool(res.p_value < 0.05)
    True
    """
    design = build_wild_design(
        data,
        outcome=outcome,
        treatment=treatment,
        covariates=covariates,
        cluster=cluster,
        fixed_effects=fixed_effects,
        intercept=intercept,
    )
    result = wild_cluster_bootstrap(
        design.x,
        design.y,
        design.cluster,
        coef=treatment,
        coef_names=design.names,
        absorbed_df=design.absorbed_df,
        null=null,
        impose_null=impose_null,
        weights=weights,
        B=B,
        enumerate=enumerate,
        rng=rng,
        level=level,
        small_sample=small_sample,
        p_value_type=p_value_type,
    )
    return replace(result, n_dropped=design.n_dropped)


def _nested(fe: pd.Series, cluster_codes: np.ndarray) -> bool:
    """True when every level of ``fe`` lies inside a single cluster."""
    per_level = pd.Series(cluster_codes).groupby(np.asarray(fe.array)).nunique()
    return bool((per_level == 1).all())


def _within(values: np.ndarray, codes: np.ndarray, n_levels: int) -> np.ndarray:
    """Subtract level means column by column (the one-way within transformation)."""
    counts = np.bincount(codes, minlength=n_levels).astype(np.float64)
    out = np.empty_like(values)
    for col in range(values.shape[1]):
        means = np.bincount(codes, weights=values[:, col], minlength=n_levels) / counts
        out[:, col] = values[:, col] - means[codes]
    return out
