"""Propensity scores: P(treatment = 1 | covariates)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from impacteval._validation import as_column_list, as_pandas, check_binary, check_choice, prepare
from impacteval._warn import WarningLog
from impacteval.exceptions import ConvergenceError, DataValidationError
from impacteval.matching._weights_logit import separating_covariates, separation_direction

__all__ = ["fit_propensity", "propensity_score"]


def _newton_step(design: np.ndarray, z: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Newton (= IRLS) step of the logit: ``(X'WX)^{-1} X'(z - p)``, ``W = diag(p(1-p))``.

    Formed from the ``k x k`` cross-products (one pass over the rows each) instead of a
    least-squares solve on the ``n x k`` weighted design; the small system is solved by
    SVD-based least squares, so a (nearly) singular Hessian near separation gives a
    minimum-norm step rather than an error.
    """
    w = np.clip(p * (1.0 - p), 1e-300, None)
    hess = design.T @ (design * w[:, None])
    grad = design.T @ (z - p)
    return np.asarray(np.linalg.lstsq(hess, grad, rcond=None)[0])


def _logit_mle(x: np.ndarray, z: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """Unpenalised logistic regression by Newton-Raphson (IRLS, as R ``glm``); fitted p.

    Covariates are centred and scaled first (the MLE's fitted values do not depend on the
    parametrisation, and the scaling keeps the Hessian well conditioned when covariates such
    as squared earnings are of order 1e9). Each iteration is the Newton step
    ``beta += (X'WX)^{-1} X'(z - p)``, the same iterates as glm's weighted least squares
    ``beta = (X'WX)^{-1} X'W(eta + (z - p)/w)`` in exact arithmetic; in the increment form
    the rounding of the small solve only changes the step, which vanishes at the maximum, so
    the fitted scores satisfy the score equations ``X'(z - p) = 0`` to rounding. Units with
    identical covariates get identical scores (the same row of the design times the same
    coefficients).
    """
    sd = x.std(axis=0)
    varying = sd > 0
    xs = (x[:, varying] - x[:, varying].mean(axis=0)) / sd[varying]
    design = np.column_stack([np.ones(x.shape[0]), xs])
    r_diag = np.abs(np.diag(np.linalg.qr(design, mode="r")))
    if np.min(r_diag) < 1e-9 * np.max(r_diag):
        # drop collinear columns, as glm reports NA for them
        design = design[:, r_diag >= 1e-9 * np.max(r_diag)]
    beta = np.zeros(design.shape[1])
    p = np.full(x.shape[0], 0.5)
    dev_old = np.inf
    for _ in range(max_iter):
        beta = beta + _newton_step(design, z, p)
        eta = design @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        with np.errstate(divide="ignore", invalid="ignore"):
            dev = -2.0 * float(np.sum(np.where(z == 1, np.log(p), np.log1p(-p))))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-12:
            return np.asarray(p, dtype=float)
        dev_old = dev
    raise ConvergenceError(
        f"logistic regression for the propensity score did not converge in {max_iter} "
        "iterations (perfect separation?); pass a penalised `model` instead"
    )


def _check_separation(x: np.ndarray, z: np.ndarray, names: Sequence[str]) -> None:
    """Raise :class:`ConvergenceError` naming the covariates when the arms are (quasi-)
    completely separated, so that the unpenalised logit MLE does not exist."""
    direction = separation_direction(x, z)
    if direction is None:
        return
    labels = list(names) if len(names) == x.shape[1] else [f"x{j}" for j in range(x.shape[1])]
    culprits = separating_covariates(x, z, labels, direction)
    raise ConvergenceError(
        "`covariates`: the propensity logit does not converge because of perfect "
        "separation (a combination of the covariates predicts treatment without error, so "
        f"the fitted scores run to 0 and 1). Covariates responsible: {culprits}. Drop or "
        "coarsen them, restrict the sample to common support, or pass a penalised `model`."
    )


def fit_propensity(
    x: np.ndarray, z: np.ndarray, model: Any | None, names: Sequence[str] = ()
) -> np.ndarray:
    """Fitted propensity scores from arrays (``model=None``: unpenalised logit).

    Raises :class:`DataValidationError` when no covariate varies and, for the default logit,
    :class:`ConvergenceError` naming the covariates under perfect separation.
    """
    if x.shape[0] > 0 and not (np.ptp(x, axis=0) > 0).any():
        raise DataValidationError(
            f"`covariates`: {list(names) if names else 'all columns'} are constant; no "
            "covariate varies, so every unit would get the same propensity score. Pass "
            "covariates that vary."
        )
    if model is None:
        try:
            p = _logit_mle(x, z)
        except ConvergenceError:
            _check_separation(x, z, names)
            raise
        if np.any((p < 1e-8) | (p > 1.0 - 1e-8)):
            # extreme fitted scores: are they a diverging fit (no MLE) or genuine?
            _check_separation(x, z, names)
        return p
    try:
        from sklearn.base import clone

        est = clone(model)
    except (ImportError, TypeError):
        est = model
    if not (hasattr(est, "fit") and hasattr(est, "predict_proba")):
        raise DataValidationError(
            "`model` must be a scikit-learn-compatible classifier with fit and predict_proba; "
            f"received {type(model).__name__}"
        )
    est.fit(x, z.astype(int))
    classes = list(getattr(est, "classes_", [0, 1]))
    proba = np.asarray(est.predict_proba(x), dtype=float)
    return np.asarray(proba[:, classes.index(1)])


def propensity_score(
    data: pd.DataFrame,
    *,
    treatment: str,
    covariates: Sequence[str],
    model: Any | None = None,
    link: str = "probability",
) -> pd.Series:
    """Estimated propensity score ``P(treatment = 1 | covariates)`` for every row.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit.
    treatment : str
        Binary (0/1) treatment column.
    covariates : sequence of str
        Numeric covariates (build squares, interactions and dummies yourself).
    model : scikit-learn classifier, optional
        Any estimator with ``fit`` and ``predict_proba`` (cloned, so yours is left unfitted).
        Default: unpenalised logistic regression with an intercept, as R
        ``glm(family = binomial)`` (and MatchIt's ``distance = "glm"``).
    link : {"probability", "logit"}
        Scale of the returned score: the probability, or its log-odds (MatchIt's
        ``link = "linear.logit"``).

    Returns
    -------
    pandas.Series
        Indexed like ``data``; NaN for rows dropped for missing values (their number is in
        ``.attrs["n_dropped"]``); ``.attrs["link"]`` records ``link`` and
        ``.attrs["warnings"]`` the warnings issued. Pass it as
        ``nearest_neighbor(..., propensity=series)``.

    Raises
    ------
    DataValidationError
        Missing columns, non-numeric covariates, non-binary treatment, an empty arm, no
        covariate that varies, or a ``model`` without ``predict_proba``.
    ConvergenceError
        The default logit does not converge: perfect or quasi-complete separation (detected
        by the linear programme of Konis 2007, as R's ``detectseparation``; the message names
        the covariates), or no convergence in 100 iterations.

    Notes
    -----
    The logit is fitted by iteratively reweighted least squares (Newton-Raphson) until the
    relative change in deviance is below 1e-12, so fitted values agree with R's ``glm`` to
    about 1e-9. Identification of effects by the propensity score needs unconfoundedness
    given the covariates and overlap (0 < p < 1), Rosenbaum & Rubin (1983).

    References
    ----------
    Rosenbaum, P. R. & Rubin, D. B. (1983). The central role of the propensity score in
    observational studies for causal effects. Biometrika 70(1), 41-55.
    R: ``glm(treat ~ ..., family = binomial)``; ``MatchIt::matchit(distance = "glm")``.

    Examples
    --------
    >>> import impacteval as ie
    >>> from impacteval.matching.propensity import propensity_score
    >>> df = ie.datasets.load("lalonde_psid")
    >>> ps = propensity_score(df, treatment="treat", covariates=["age", "educ", "re74"])
    >>> bool(ps.between(0, 1).all())
    True
    """
    link = check_choice(link, "link", ("probability", "logit"))
    covs = as_column_list(covariates, "covariates")
    if not covs:
        raise DataValidationError(
            f"`covariates` must name at least one column; received {covariates!r}"
        )
    data = cast(pd.DataFrame, as_pandas(data))  # polars / pyarrow: Series indexed 0..n-1
    prepared = prepare(data, numeric={"treatment": treatment, "covariates": covs})
    frame = prepared.frame
    z = check_binary(frame[treatment].to_numpy(dtype=float), "treatment", treatment)
    p = fit_propensity(frame[covs].to_numpy(dtype=float), z, model, covs)
    log = WarningLog()
    if np.any((p <= 0) | (p >= 1)):
        log.warn("some propensity scores are exactly 0 or 1: overlap fails for those units")
    values = p if link == "probability" else np.log(p) - np.log1p(-p)
    complete = data[[treatment, *covs]].notna().all(axis=1).to_numpy()
    out = np.full(len(data), np.nan)
    out[complete] = values
    series = pd.Series(out, index=data.index, name="propensity_score")
    series.attrs["n_dropped"] = prepared.n_dropped
    series.attrs["link"] = link  # read by nearest_neighbor(propensity=series)
    series.attrs["warnings"] = log.messages
    return series
