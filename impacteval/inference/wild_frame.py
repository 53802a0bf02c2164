"""Wild cluster bootstrap from a data frame, with fixed effects absorbed where that is exact.

This is the front end the regression estimators call for ``inference="wild"``: it builds
the design (outcome, regressors, optional intercept and fixed effects, cluster) and hands
the arrays to :func:`impacteval.inference.wild.wild_cluster_bootstrap`.

Fixed effects and the Frisch-Waugh-Lovell argument. Let ``D`` be the dummies of a fixed
effect whose every level lies inside one cluster (unit effects with clustering by unit or
coarser: "nested" in the clusters). Its projection ``P_D`` averages within levels, and
``v`` is constant (``v_g``) on each level, so for any residual vector ``e`` orthogonal to
``D`` the level means of ``e ∘ v`` are ``v_g`` times the level means of ``e``, which are
zero: ``M_D (e ∘ v) = e ∘ v``. The restricted and
unrestricted residuals of a regression that includes ``D`` are orthogonal to ``D``, so a
bootstrap sample ``y* = X b0 + D a0 + e ∘ v`` after the within transformation is
``M_D X b0 + e ∘ v`` — the bootstrap sample of the transformed regression. By FWL the
re-estimated ``beta*`` and residuals, hence the cluster scores and every ``t*``, are the
same draw by draw as with the dummies in the model (the row of ``(Z'Z)^-1 Z'`` for a
coefficient of ``X`` in the full design ``Z = [X, D]`` equals the row of
``(X~'X~)^-1 X~'`` with ``X~ = M_D X``, so the cluster-robust variances agree as well).
So absorbing a nested fixed effect is
exact for WCR and WCU alike; only ``k`` in the CR1 factor must count its levels
(``absorbed_df``), as the dummy regression would.

A fixed effect that is *not* nested in the clusters (period effects when clustering by
unit) breaks ``M_D (e ∘ v) = e ∘ v``: bootstrapping the within-transformed data would be a
different procedure from the dummy regression that fwildclusterboot, boottest and
pyfixest run. Such effects therefore enter as dummy columns (one level dropped). With
two-way effects (unit and period, clustering by unit) the unit effect is absorbed and the
period effect is in ``X``: the result equals the full two-way dummy regression.

With observation weights the same holds in the metric of ``W``: weighted level means are
removed and every column is multiplied by ``sqrt(w)``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from impacteval._validation import (
    as_column_list,
    check_choice,
    check_column_name,
    check_positive_int,
    check_positive_weights,
    check_rng,
    group_codes,
    prepare,
    short_repr,
)
from impacteval.exceptions import DataValidationError
from impacteval.inference._wild_numerics import WEIGHT_TYPES
from impacteval.inference.wild import P_VALUE_TYPES, WildBootstrapResult, wild_cluster_bootstrap
from impacteval.results import EffectEstimate

__all__ = [
    "INFERENCE_CHOICES",
    "WILD_OPTIONS",
    "WildDesign",
    "apply_wild_bootstrap",
    "build_wild_design",
    "check_wild_options",
    "wild_bootstrap_regression",
]

#: values of the estimators' ``inference`` argument
INFERENCE_CHOICES: tuple[str, ...] = ("analytic", "wild")
#: keys an estimator's ``wild_bootstrap`` mapping may hold (keywords of
#: :func:`~impacteval.inference.wild.wild_cluster_bootstrap`)
WILD_OPTIONS: tuple[str, ...] = ("impose_null", "weights_type", "B", "enumerate", "p_value_type")

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
    weights: str | None = None,
    intercept: bool = True,
) -> WildDesign:
    """Design matrix for the wild bootstrap; see the module docstring for fixed effects.

    The first fixed effect nested in ``cluster`` is absorbed by the within
    transformation; every other fixed effect enters as dummies with its first (sorted)
    level dropped. ``intercept`` is ignored when a fixed effect is present (the effects
    span it). With observation ``weights`` (weighted least squares) the within
    transformation uses weighted level means and every column and the outcome are then
    multiplied by ``sqrt(w)``, so the bootstrap runs on the transformed regression (the
    WLS residuals ``sqrt(w) u`` are what the cluster weights multiply). Rows with a missing
    value in a used column are dropped with a
    :class:`~impacteval.exceptions.MissingDataWarning`.
    """
    check_column_name(outcome, "outcome")
    check_column_name(treatment, "treatment")
    check_column_name(cluster, "cluster")
    if weights is not None:
        check_column_name(weights, "weights")
    covs = as_column_list(covariates, "covariates")
    fes = as_column_list(fixed_effects, "fixed_effects")
    if not isinstance(intercept, bool):
        raise DataValidationError(f"`intercept` must be True or False; received {intercept!r}")
    prepared = prepare(
        data,
        numeric={
            "outcome": outcome,
            "treatment": treatment,
            "covariates": covs,
            "weights": weights,
        },
        labels={"cluster": cluster, "fixed_effects": fes},
        outcome_param="outcome",
    )
    frame = prepared.frame
    codes, g = group_codes(frame[cluster])
    w = None if weights is None else check_positive_weights(frame[weights], "weights")
    absorbed = next((fe for fe in fes if _nested(frame[fe], codes)), None)
    names = [treatment, *covs]
    columns = [frame[names].to_numpy(dtype=np.float64)]
    if absorbed is None and (intercept or fes):
        columns.insert(0, np.ones((len(frame), 1)))
        names.insert(0, "(Intercept)")
    for fe in fes:
        if fe != absorbed:
            dummies, labels = _dummies(frame[fe])
            columns.append(dummies)
            names.extend(f"{fe}[{lev}]" for lev in labels)
    x = np.column_stack(columns)
    y = frame[outcome].to_numpy(dtype=np.float64)
    absorbed_df = 0
    if absorbed is not None:
        fe_codes, absorbed_df = group_codes(frame[absorbed])
        y = _within(y[:, None], fe_codes, absorbed_df, w)[:, 0]
        x = _within(x, fe_codes, absorbed_df, w)
        col = x[:, names.index(treatment)]
        if np.max(np.abs(col)) <= 1e-10 * max(1.0, float(np.max(np.abs(frame[treatment])))):
            raise DataValidationError(
                f"`treatment`: column {treatment!r} does not vary within the levels of the "
                f"fixed effect {absorbed!r}, so its coefficient is not identified"
            )
    if w is not None:
        root = np.sqrt(w)
        x, y = x * root[:, None], y * root
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
    weights: str | None = None,
    intercept: bool = True,
    null: float = 0.0,
    impose_null: bool = True,
    weights_type: str = "rademacher",
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
    weights : str, optional
        Column of positive observation weights (weighted least squares), as in
        :func:`impacteval.rct.regression`.
    intercept : bool, default True
        Add an intercept when there are no fixed effects.
    null, impose_null, weights_type, B, enumerate, rng, level, small_sample, p_value_type
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
        weights=weights,
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
        weights_type=weights_type,
        B=B,
        enumerate=enumerate,
        rng=rng,
        level=level,
        small_sample=small_sample,
        p_value_type=p_value_type,
    )
    return replace(result, n_dropped=design.n_dropped)


def check_wild_options(
    inference: object, wild_bootstrap: object, rng: object
) -> dict[str, Any] | None:
    """Check an estimator's ``inference``, ``wild_bootstrap`` and ``rng`` arguments.

    Parameters
    ----------
    inference : {"analytic", "wild"}
        The estimator's ``inference`` argument.
    wild_bootstrap : mapping or None
        Options of the bootstrap, keys among :data:`WILD_OPTIONS` (``impose_null``,
        ``weights_type``, ``B``, ``enumerate``, ``p_value_type``, as in
        :func:`~impacteval.inference.wild.wild_cluster_bootstrap`).
    rng : int, numpy.random.Generator or None
        Source of the bootstrap draws.

    Returns
    -------
    dict or None
        None for ``inference="analytic"``; else the keyword arguments for
        :func:`wild_bootstrap_regression` / :func:`wild_cluster_bootstrap` (the options
        and ``rng``).

    Raises
    ------
    DataValidationError
        An unknown ``inference``; ``wild_bootstrap`` or ``rng`` with analytic inference
        (they would be silently ignored); ``wild_bootstrap`` not a mapping, with an unknown
        key, or with a value of the wrong kind.
    """
    kind = check_choice(inference, "inference", INFERENCE_CHOICES)
    if kind == "analytic":
        for name, value in (("wild_bootstrap", wild_bootstrap), ("rng", rng)):
            if value is not None:
                raise DataValidationError(
                    f"`{name}` is used only with inference='wild' (the wild cluster "
                    f"bootstrap); received {short_repr(value)} with inference='analytic'"
                )
        return None
    options = {} if wild_bootstrap is None else wild_bootstrap
    if not isinstance(options, Mapping):
        raise DataValidationError(
            f"`wild_bootstrap` must be a mapping of options (keys {list(WILD_OPTIONS)}) or "
            f"None; received {short_repr(wild_bootstrap)}"
        )
    for key in options:
        if key not in WILD_OPTIONS:
            close = difflib.get_close_matches(str(key), WILD_OPTIONS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DataValidationError(
                f"`wild_bootstrap`: unknown option {short_repr(key)}; expected keys among "
                f"{list(WILD_OPTIONS)}{hint}"
            )
    if "weights_type" in options:
        check_choice(options["weights_type"], "wild_bootstrap['weights_type']", WEIGHT_TYPES)
    if "p_value_type" in options:
        check_choice(options["p_value_type"], "wild_bootstrap['p_value_type']", P_VALUE_TYPES)
    if "B" in options:
        check_positive_int(options["B"], "wild_bootstrap['B']", minimum=19)
    if "impose_null" in options and not isinstance(options["impose_null"], bool):
        raise DataValidationError(
            "`wild_bootstrap['impose_null']` must be True (WCR) or False (WCU); received "
            f"{short_repr(options['impose_null'])}"
        )
    check_rng(rng)
    return {**options, "rng": rng}


def apply_wild_bootstrap(estimate: EffectEstimate, wild: WildBootstrapResult) -> EffectEstimate:
    """Return ``estimate`` with its p-value and interval from the wild cluster bootstrap.

    The hook for ``inference="wild"`` in the regression estimators: they fit as usual,
    run :func:`wild_bootstrap_regression` (or :func:`wild_cluster_bootstrap`) on the same
    design, and return ``apply_wild_bootstrap(result, wild)``.

    Parameters
    ----------
    estimate : EffectEstimate
        The estimator's analytic result.
    wild : WildBootstrapResult
        The bootstrap of the same coefficient, at the same ``level``, testing 0.

    Returns
    -------
    EffectEstimate
        ``p_value``, ``ci_lower`` and ``ci_upper`` from the bootstrap; ``estimate`` and
        ``std_error`` unchanged (the estimator's own variance); ``ci_method`` becomes
        ``"wild bootstrap"`` (so ``with_level`` refuses, as for any non-Wald interval);
        ``details["wild_bootstrap"]`` holds the bootstrap's statistic, both p-values, the
        draws and the method; the tested coefficient's row of ``details["coefficients"]``
        (when there is one) gets the bootstrap p-value and interval, so the summary's
        table agrees with the headline; its warnings are appended; ``provenance`` records
        ``inference="wild"``, the bootstrap options and the seed.

    Raises
    ------
    DataValidationError
        When ``wild`` is not the bootstrap of this estimate: another point estimate
        (beyond 1e-8 of the standard error), another level or a null other than 0.
    """
    scale = max(abs(estimate.std_error), 1e-300)
    if not abs(wild.estimate - estimate.estimate) <= 1e-8 * scale + 1e-12 * abs(estimate.estimate):
        raise DataValidationError(
            f"`wild`: its estimate {wild.estimate!r} is not the estimate {estimate.estimate!r} "
            "of the result (bootstrap a design that reproduces the estimator's fit)"
        )
    if wild.level != estimate.level or wild.null != 0.0:
        raise DataValidationError(
            f"`wild`: level {wild.level} and null {wild.null} must be the result's level "
            f"{estimate.level} and 0"
        )
    options = {
        **dict(estimate.provenance.options),
        "inference": "wild",
        "wild_bootstrap": {
            "impose_null": wild.impose_null,
            "weights_type": wild.weights_type,
            "n_draws": wild.n_draws,
            "enumerated": wild.enumerated,
            "small_sample": wild.small_sample,
            "p_value_type": wild.p_value_type,
        },
    }
    details = {
        **dict(estimate.details),
        "wild_bootstrap": {
            "method": wild.method,
            "t_stat": wild.t_stat,
            "std_error_cr": wild.std_error,
            "p_value_symmetric": wild.p_value_symmetric,
            "p_value_equal_tailed": wild.p_value_equal_tailed,
            "n_draws": wild.n_draws,
            "enumerated": wild.enumerated,
            "n_clusters": wild.n_clusters,
        },
    }
    coefficients = details.get("coefficients")
    if isinstance(coefficients, pd.DataFrame) and wild.coef in coefficients.index:
        coefficients = coefficients.copy()  # the summary shows this row: keep it consistent
        coefficients.loc[wild.coef, ["p_value", "ci_lower", "ci_upper"]] = (
            wild.p_value,
            wild.ci_lower,
            wild.ci_upper,
        )
        details["coefficients"] = coefficients
    draws = f"{wild.n_draws} draws" + (", all 2^G sign vectors" if wild.enumerated else "")
    return replace(
        estimate,
        p_value=wild.p_value,
        ci_lower=wild.ci_lower,
        ci_upper=wild.ci_upper,
        ci_method="wild bootstrap",
        method=(
            f"{estimate.method}; p-value and interval by {wild.method} wild cluster "
            f"bootstrap ({draws})"
        ),
        n_clusters=wild.n_clusters,
        warnings=(*estimate.warnings, *wild.warnings),
        details=details,
        provenance=replace(estimate.provenance, options=options, seed=wild.seed),
    )


def _nested(fe: pd.Series, cluster_codes: np.ndarray) -> bool:
    """True when every level of ``fe`` lies inside a single cluster."""
    per_level = pd.Series(cluster_codes).groupby(np.asarray(fe.array)).nunique()
    return bool((per_level == 1).all())


def _within(
    values: np.ndarray, codes: np.ndarray, n_levels: int, w: np.ndarray | None
) -> np.ndarray:
    """Subtract (weighted) level means column by column: the one-way within transformation."""
    wt = np.ones(codes.shape[0]) if w is None else w
    totals = np.bincount(codes, weights=wt, minlength=n_levels)
    out = np.empty_like(values)
    for col in range(values.shape[1]):
        means = np.bincount(codes, weights=wt * values[:, col], minlength=n_levels) / totals
        out[:, col] = values[:, col] - means[codes]
    return out


def _dummies(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """0/1 columns for every level but the first (sorted) and the labels of those levels."""
    codes, n_levels = group_codes(values)
    out = np.zeros((codes.shape[0], n_levels - 1))
    rows = np.flatnonzero(codes > 0)
    out[rows, codes[rows] - 1] = 1.0
    levels = pd.unique(values.sort_values())
    return out, list(levels[1:])
