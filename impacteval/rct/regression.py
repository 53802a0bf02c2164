"""Regression estimators of the average treatment effect in randomised trials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._validation import (
    as_column_list,
    check_binary,
    check_choice,
    check_level,
    check_positive_weights,
    group_codes,
    prepare,
)
from impacteval._warn import WarningLog
from impacteval.exceptions import DataValidationError, SmallSampleWarning
from impacteval.inference.variance import (
    CLUSTER_SE_TYPES,
    SE_TYPES,
    OLSFit,
    fit_ols,
    in_span_of_others,
)
from impacteval.inference.wild_frame import apply_wild_bootstrap, check_wild_options
from impacteval.rct.regression_dask import is_dask_dataframe, regression_dask
from impacteval.rct.regression_wild import regression_wild_bootstrap
from impacteval.results import EffectEstimate, Provenance, fingerprint, interval

__all__ = ["check_clusters_per_arm", "regression"]

# Above this many cells the fixed-effect dummies would not fit comfortably in memory.
_MAX_DUMMY_CELLS = 300_000_000


def check_clusters_per_arm(z: np.ndarray, codes: np.ndarray, column: str) -> None:
    """Require at least two clusters in each arm (clusters containing treated / control)."""
    treated_per_cluster = np.bincount(codes, weights=z)
    size_per_cluster = np.bincount(codes)
    n_treated_clusters = int(np.count_nonzero(treated_per_cluster > 0))
    n_control_clusters = int(np.count_nonzero(size_per_cluster - treated_per_cluster > 0))
    if n_treated_clusters < 2 or n_control_clusters < 2:
        raise DataValidationError(
            f"`cluster`: column {column!r} must give at least 2 clusters per arm for a "
            f"clustered variance; received {n_treated_clusters} treated and "
            f"{n_control_clusters} control clusters"
        )


def _label(value: object) -> str:
    """Level label for a dummy's name: 2.0 -> "2" (label columns often load as float)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _dummies(labels: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
    codes, uniques = pd.factorize(labels, sort=True)
    if len(uniques) < 2:
        return np.zeros((len(labels), 0)), []
    mat = np.zeros((len(labels), len(uniques) - 1))
    rows = np.flatnonzero(codes > 0)
    mat[rows, codes[rows] - 1] = 1.0
    return mat, [f"{name}[{_label(u)}]" for u in uniques[1:]]


def _variance_warnings(
    fit: OLSFit, z: np.ndarray, treatment: str, se_type: str, clustered: bool
) -> list[str]:
    """Messages for variances that are not identified or understated (empty if fine)."""
    n1 = int(z.sum())
    n0 = int(z.size - n1)
    if fit.n_obs <= fit.rank:
        return [
            f"no residual degrees of freedom: {fit.n_obs} observations and {fit.rank} "
            "parameters, so the model fits every observation exactly and no standard error "
            "can be estimated (reported as NaN); use fewer covariates or fixed effects"
        ]
    if not clustered and se_type != "classical" and min(n1, n0) < 2:
        return [
            f"`treatment`: column {treatment!r} has {n1} treated and {n0} control units; "
            f"with a single unit in an arm its outcome variance cannot be estimated, so the "
            f"{se_type} robust standard error is not identified (that unit has leverage one "
            "and a zero residual): the standard error, interval and p-value are NaN. Use "
            "rct.randomization_inference for an exact test, or se_type='classical' if the "
            "arms can be assumed to have equal variances"
        ]
    if fit.n_leverage_one:
        return [
            f"{fit.n_leverage_one} observations have leverage one (the model fits them "
            f"exactly, e.g. an arm with no more units than the covariates interacted with "
            f"treatment): {se_type} cannot estimate their variance and leaves them out, so "
            "the standard error is understated; use fewer covariates, "
            "adjustment='additive', or rct.randomization_inference"
        ]
    return []


def regression(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    covariates: Sequence[str] = (),
    adjustment: str = "lin",
    se_type: str | None = None,
    cluster: str | None = None,
    fixed_effects: str | Sequence[str] | None = None,
    weights: str | None = None,
    level: float = 0.95,
    inference: str = "analytic",
    wild_bootstrap: Mapping[str, Any] | None = None,
    rng: int | np.random.Generator | None = None,
) -> EffectEstimate:
    """Average treatment effect by (covariate-adjusted) least squares, as R estimatr.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit (polars and pyarrow tables are accepted; a Dask DataFrame is fitted
        by map-reduce over its partitions, HC0-HC3, CR1 or CR2 -- the default with
        ``cluster``, which needs each cluster's rows in one partition: see
        ``rct.regression_dask``).
    outcome, treatment : str
        Outcome column and binary (0/1) treatment column.
    covariates : sequence of str
        Pre-treatment covariates (numeric). None gives the unadjusted difference in means.
    adjustment : {"lin", "additive"}
        ``"lin"`` (default): Lin (2013) -- covariates centred at their (weighted, if
        ``weights``) sample means and interacted with treatment, so the treatment
        coefficient is the ATE, as ``estimatr::lm_lin``. ``"additive"``: covariates enter
        linearly without interactions, as ``estimatr::lm_robust(y ~ z + x)``.
    se_type : str, optional
        ``"HC0"``, ``"HC1"``, ``"HC2"`` (default without ``cluster``), ``"HC3"``,
        ``"classical"``; with ``cluster``: ``"CR0"``, ``"CR1"`` (alias ``"stata"``) or
        ``"CR2"`` (default). See :mod:`impacteval.inference.variance` for the formulas,
        small-sample factors and degrees of freedom.
    cluster : str, optional
        Column of cluster labels for a clustered variance.
    fixed_effects : str or sequence of str, optional
        Label columns absorbed as dummy variables (block fixed effects). They enter
        additively (not interacted with treatment); they count in ``k`` for HC1/CR1, as in
        estimatr's ``fixed_effects``.
    weights : str, optional
        Column of positive observation weights (weighted least squares).
    level : float
        Confidence level of the interval.
    inference : {"analytic", "wild"}
        ``"analytic"`` (default): t interval and p-value from ``se_type``. ``"wild"``:
        p-value and interval from the wild cluster bootstrap of the treatment coefficient
        (needs ``cluster``; :func:`impacteval.inference.wild_cluster_bootstrap`), the
        remedy for few clusters or few treated clusters. The estimate and ``std_error``
        stay the analytic ones.
    wild_bootstrap : mapping, optional
        Options of the wild bootstrap (only with ``inference="wild"``): ``impose_null``
        (True: WCR, default; False: WCU), ``weights_type`` (``"rademacher"`` default,
        ``"webb"`` -- recommended below about 10 clusters --, ``"mammen"``, ``"normal"``),
        ``B`` (draws, default 9999), ``enumerate`` (``"auto"``: all ``2^G`` Rademacher sign
        vectors when ``2^G <= B``) and ``p_value_type`` (``"symmetric"`` or
        ``"equal_tailed"``).
    rng : int or numpy.random.Generator, optional
        Seed of the wild bootstrap draws (only with ``inference="wild"``); not used when
        the sign vectors are enumerated.

    Returns
    -------
    EffectEstimate
        The treatment coefficient with a t interval at the variance's df. ``details``
        holds ``coefficients`` (every term), ``vcov``, ``covariate_means`` (Lin) and
        ``se_type``. With ``inference="wild"``: ``ci_method`` is ``"wild bootstrap"``,
        ``method`` names the bootstrap, ``details["wild_bootstrap"]`` holds its statistic,
        draws and both p-values, and ``provenance`` records ``inference="wild"``, the
        bootstrap options and the seed.

    Raises
    ------
    DataValidationError
        Missing columns, non-numeric outcome, non-binary treatment or an empty arm,
        invalid ``se_type`` for the clustering, fewer than 2 clusters per arm, non-positive
        weights, ``level`` outside (0, 1), or a treatment collinear with the controls;
        ``inference="wild"`` without ``cluster``, an unknown ``inference`` or bootstrap
        option, ``wild_bootstrap`` or ``rng`` with analytic inference.

    Warns
    -----
    SmallSampleWarning
        A standard error that is not identified -- one unit in an arm without ``cluster``
        (robust SEs; ``"classical"`` pools the arms' variances and is kept) or no residual
        degrees of freedom -- is NaN, with a warning saying why; observations with
        leverage one (fitted exactly) make HC2/HC3 understate the SE, with a warning.

    Notes
    -----
    Identification: random assignment of ``treatment`` (within fixed-effect blocks when
    given) makes the treatment coefficient unbiased (additive) or consistent (Lin) for the
    ATE. Lin's adjustment never hurts asymptotic precision, unlike the additive one
    (Freedman 2008). Rows with a missing value in any used column are dropped and counted
    in ``n_dropped``. Collinear covariates are dropped (reported as NaN), as R's ``lm``.

    The wild cluster bootstrap (Cameron, Gelbach & Miller 2008) runs on the same design:
    the additive (or unadjusted) regression through
    :func:`impacteval.inference.wild_bootstrap_regression` (fixed effects nested in the
    clusters absorbed), Lin's through the estimator's own design matrix; see
    :mod:`impacteval.rct.regression_wild`.

    References
    ----------
    Lin, W. (2013). Agnostic notes on regression adjustments to experimental data.
    Annals of Applied Statistics 7(1), 295-318. R: ``estimatr::lm_lin``,
    ``estimatr::lm_robust``.

    Examples
    --------
    >>> import impacteval as ie
    >>> nsw = ie.datasets.load("nsw_dw")
    >>> res = ie.rct.regression(nsw, outcome="re78", treatment="treat",
    ...                         covariates=["age", "educ", "re74", "re75"])
    >>> round(res.estimate, 1) > 0
    True
    """
    level = check_level(level)
    adjustment = check_choice(adjustment, "adjustment", ("lin", "additive"))
    covs = as_column_list(covariates, "covariates")
    fes = as_column_list(fixed_effects, "fixed_effects")
    wild = check_wild_options(inference, wild_bootstrap, rng)
    if is_dask_dataframe(data):  # map-reduce over the partitions (rct/regression_dask.py)
        if wild is not None:
            raise DataValidationError(
                "`inference`: 'wild' is not available for a dask DataFrame (map-reduce "
                "supports analytic HC0-HC3, CR1 and CR2); compute the frame or use "
                "inference='analytic'"
            )
        return regression_dask(data, outcome=outcome, treatment=treatment, covariates=covs,
                               adjustment=adjustment, se_type=se_type, cluster=cluster,
                               level=level, fixed_effects=fes, weights=weights)  # fmt: skip
    se_type = _check_se_type(se_type, cluster)
    if wild is not None and cluster is None:
        raise DataValidationError(
            "`inference`: 'wild' is the wild *cluster* bootstrap and needs `cluster` (the "
            "column whose clusters are resampled); received cluster=None"
        )
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
    y = frame[outcome].to_numpy(dtype=float)
    z = check_binary(frame[treatment].to_numpy(dtype=float), "treatment", treatment)
    w = None if weights is None else check_positive_weights(frame[weights])
    log = WarningLog()
    if np.ptp(y) == 0:
        log.warn(
            f"`outcome`: column {outcome!r} is constant ({y[0]!r}); the effect is 0 and "
            "its standard error 0"
        )
    design = _design(frame, z, treatment, covs, fes, adjustment, w)
    codes: np.ndarray | None = None
    n_groups: int | None = None
    if cluster is not None:
        codes, n_groups = group_codes(frame[cluster])
        check_clusters_per_arm(z, codes, cluster)
    fit, se = _fit(design, y, z, w, codes, n_groups, se_type, treatment, log)
    options = {
        "outcome": outcome,
        "treatment": treatment,
        "covariates": covs,
        "adjustment": adjustment,
        "se_type": se_type,
        "cluster": cluster,
        "fixed_effects": fes,
        "weights": weights,
        "level": level,
    }
    used_cols = [outcome, treatment, *covs, *fes] + [c for c in (cluster, weights) if c]
    result = _result(
        fit,
        se,
        design,
        z,
        options,
        n_groups=n_groups,
        n_dropped=prepared.n_dropped,
        messages=log.messages,
        digest=fingerprint(data, used_cols),
    )
    if wild is None:
        return result
    boot = regression_wild_bootstrap(
        frame,
        x=design.x,
        names=design.names,
        kept=fit.kept,
        y=y,
        w=w,
        codes=codes,
        options=options,
        wild=wild,
    )
    return apply_wild_bootstrap(result, boot)


def _check_se_type(se_type: str | None, cluster: str | None) -> str:
    """The variance estimator: default HC2 (CR2 with ``cluster``), matched to ``cluster``."""
    if se_type is None:
        se_type = "CR2" if cluster is not None else "HC2"
    se_type = check_choice(se_type, "se_type", SE_TYPES)
    if cluster is not None and se_type not in CLUSTER_SE_TYPES:
        raise DataValidationError(
            f"`se_type`: with `cluster` given, se_type must be one of "
            f"{sorted(CLUSTER_SE_TYPES)}; received {se_type!r}"
        )
    if cluster is None and se_type in CLUSTER_SE_TYPES:
        raise DataValidationError(
            f"`se_type`: {se_type!r} is a clustered variance and needs `cluster`"
        )
    return se_type


@dataclass(frozen=True)
class _Design:
    """The regression design: matrix, term names and (Lin) the covariate means."""

    x: np.ndarray
    names: list[str]
    cov_means: dict[str, float]
    weighted: bool
    label: str


def _design(
    frame: pd.DataFrame,
    z: np.ndarray,
    treatment: str,
    covs: list[str],
    fes: list[str],
    adjustment: str,
    w: np.ndarray | None,
) -> _Design:
    """Intercept, treatment, covariates (Lin: centred and interacted) and FE dummies."""
    n = z.shape[0]
    columns: list[np.ndarray] = [np.ones(n), z]
    names = ["Intercept", treatment]
    cov_means: dict[str, float] = {}
    if covs:
        xc = frame[covs].to_numpy(dtype=float)
        if adjustment == "lin":
            means = np.average(xc, axis=0, weights=w)
            cov_means = dict(zip(covs, means.tolist(), strict=True))
            xc = xc - means
            columns += [xc[:, j] for j in range(len(covs))]
            columns += [z * xc[:, j] for j in range(len(covs))]
            names += [f"{c}_c" for c in covs] + [f"{treatment}:{c}_c" for c in covs]
        else:
            columns += [xc[:, j] for j in range(len(covs))]
            names += covs
    # fill a Fortran-ordered design column by column: cheaper than np.column_stack on large
    # data and the layout the Gram and GEMM kernels prefer
    x = np.empty((n, len(columns)), order="F")
    for j, column in enumerate(columns):
        x[:, j] = column
    for fe in fes:
        n_levels = frame[fe].nunique()
        if n_levels * n > _MAX_DUMMY_CELLS:
            raise DataValidationError(
                f"`fixed_effects`: column {fe!r} has {n_levels:,} levels; with {n:,} rows "
                "the dummy matrix would be too large (limit 3e8 cells)"
            )
        mat, fe_names = _dummies(frame[fe], fe)
        x = np.column_stack([x, mat])
        names += fe_names
    label = (
        "Lin (2013) interacted adjustment"
        if covs and adjustment == "lin"
        else ("additive adjustment" if covs else "no covariates")
    )
    return _Design(x, names, cov_means, w is not None, label)


def _fit(
    design: _Design,
    y: np.ndarray,
    z: np.ndarray,
    w: np.ndarray | None,
    codes: np.ndarray | None,
    n_groups: int | None,
    se_type: str,
    treatment: str,
    log: WarningLog,
) -> tuple[OLSFit, np.ndarray]:
    """Least squares with the chosen variance; the fit and the standard errors."""
    x, names = design.x, design.names
    # a constant outcome is fitted as exact zeros (no rounding noise), the level restored
    offset = float(y[0]) if np.ptp(y) == 0 else 0.0
    fit = fit_ols(x, y - offset, se_type=se_type, weights=w, clusters=codes, n_clusters=n_groups)
    fit.coef[0] += offset
    if not fit.kept.all() and in_span_of_others(x, 1):
        raise DataValidationError(
            f"`treatment`: column {treatment!r} is collinear with the covariates or fixed "
            "effects; its effect is not identified"
        )
    dropped = [nm for nm, k in zip(names, fit.kept, strict=True) if not k]
    if dropped:
        log.warn(f"collinear terms dropped (reported as NaN): {dropped}")
    se = np.sqrt(np.diag(fit.vcov))
    for msg in _variance_warnings(fit, z, treatment, se_type, codes is not None):
        log.warn(msg, SmallSampleWarning)
    n = z.size
    if codes is None and se_type != "classical" and min(z.sum(), n - z.sum()) < 2:
        se[1] = np.nan  # a robust SE is not identified with one unit in an arm
    return fit, se


def _coefficient_table(fit: OLSFit, se: np.ndarray, names: list[str], level: float) -> pd.DataFrame:
    rows = []
    for j, name in enumerate(names):
        lo, hi, p = interval(float(fit.coef[j]), float(se[j]), level, float(fit.df[j]))
        rows.append(
            {
                "term": name,
                "estimate": fit.coef[j],
                "std_error": se[j],
                "statistic": fit.coef[j] / se[j] if se[j] > 0 else np.nan,
                "p_value": p,
                "ci_lower": lo,
                "ci_upper": hi,
                "df": fit.df[j],
            }
        )
    return pd.DataFrame(rows).set_index("term")


def _result(
    fit: OLSFit,
    se: np.ndarray,
    design: _Design,
    z: np.ndarray,
    options: dict[str, Any],
    *,
    n_groups: int | None,
    n_dropped: int,
    messages: tuple[str, ...],
    digest: str,
) -> EffectEstimate:
    """The EffectEstimate of one ``regression`` call."""
    level, names, n = options["level"], design.names, z.size
    se_type = options["se_type"]
    method = f"OLS ({design.label}{', weighted' if design.weighted else ''}), {se_type}"
    return EffectEstimate.from_wald(
        float(fit.coef[1]),
        float(se[1]),
        level=level,
        df=float(fit.df[1]),
        estimand="ATE",
        method=method,
        n_obs=n,
        n_treated=int(z.sum()),
        n_control=int(n - z.sum()),
        n_clusters=n_groups,
        outcome=options["outcome"],
        n_dropped=n_dropped,
        warnings=messages,
        provenance=Provenance(options=options, data_fingerprint=digest),
        details={
            "coefficients": _coefficient_table(fit, se, names, level),
            "vcov": pd.DataFrame(fit.vcov, index=names, columns=names),
            "covariate_means": design.cov_means,
            "se_type": se_type,
        },
    )
