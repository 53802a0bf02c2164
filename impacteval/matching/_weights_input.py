"""Input handling shared by the weighting estimators (checks happen once, at the entry
point, through :mod:`impacteval._validation`)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from impacteval._validation import PreparedData, as_pandas, check_binary, prepare
from impacteval.exceptions import DataValidationError
from impacteval.matching._weights_logit import check_scores, fit_logit

__all__ = [
    "Arrays",
    "arrays",
    "check_trim",
    "kish",
    "logit_scores",
    "model_scores",
    "standardised_design",
]


def check_trim(trim: object) -> str | float | None:
    """Require None, "crump" or a float alpha in (0, 0.5)."""
    if trim is None:
        return None
    if isinstance(trim, str) and trim == "crump":
        return "crump"
    if isinstance(trim, numbers.Real) and not isinstance(trim, bool) and 0.0 < float(trim) < 0.5:
        return float(trim)
    raise DataValidationError(
        '`trim` must be None, "crump" or a threshold alpha strictly between 0 and 0.5; '
        f"received {trim!r}"
    )


@dataclass(frozen=True)
class Arrays:
    """Complete rows as arrays, with the input index of those rows."""

    prepared: PreparedData
    index: pd.Index
    y: np.ndarray
    z: np.ndarray
    x: np.ndarray


def arrays(data: object, outcome: str | None, treatment: str, covs: list[str]) -> Arrays:
    """Check the columns, drop incomplete rows (counted) and return arrays."""
    data = as_pandas(data)  # polars / pyarrow tables: as pandas, rows numbered 0..n-1
    prepared = prepare(
        data,
        numeric={"outcome": outcome, "treatment": treatment, "covariates": covs},
        outcome_param="outcome" if outcome is not None else None,
    )
    frame = prepared.frame
    z = check_binary(frame[treatment].to_numpy(dtype=float), "treatment", treatment)
    used = list(dict.fromkeys(c for c in (outcome, treatment, *covs) if c is not None))
    source = cast(pd.DataFrame, data)  # prepare() has checked that it is a DataFrame
    complete = source[used].notna().all(axis=1).to_numpy()
    y = frame[outcome].to_numpy(dtype=float) if outcome is not None else np.zeros(z.size)
    if outcome is not None and np.ptp(y) == 0:
        raise DataValidationError(
            f"`outcome`: column {outcome!r} is constant ({float(y[0])!r}) in the complete "
            "rows: weighting has no effect to estimate (Hajek estimates are 0 up to "
            "rounding) and its standard error would measure only rounding noise, giving "
            "meaningless p-values; check the outcome column"
        )
    x = frame[covs].to_numpy(dtype=float) if covs else np.zeros((z.size, 0))
    return Arrays(prepared, source.index[complete], y, z, x)


def standardised_design(x: np.ndarray, covs: list[str]) -> np.ndarray:
    """Intercept plus standardised covariates; raises on constant or collinear columns."""
    sd = x.std(axis=0)
    const = [c for c, s in zip(covs, sd, strict=True) if s == 0]
    if const:
        raise DataValidationError(
            f"`covariates`: {const} are constant in the complete rows; drop them"
        )
    design = np.column_stack([np.ones(x.shape[0]), (x - x.mean(axis=0)) / sd])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        kept: list[int] = [0]
        collinear: list[str] = []
        for j in range(1, design.shape[1]):
            if np.linalg.matrix_rank(design[:, [*kept, j]]) > len(kept):
                kept.append(j)
            else:
                collinear.append(covs[j - 1])
        raise DataValidationError(
            f"`covariates`: {collinear} are collinear with the other covariates (and the "
            "intercept); drop them"
        )
    return design


def logit_scores(
    design: np.ndarray,
    z: np.ndarray,
    x: np.ndarray,
    covs: list[str],
    *,
    estimand: str = "ATE",
    separation_only: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Fitted logit scores and coefficients (on ``design``); raises on separation and (unless
    ``separation_only``) on scores giving unbounded weights for ``estimand``."""
    fit = fit_logit(design, z)
    check_scores(
        fit.fitted,
        x=x,
        z=z,
        names=covs,
        coef=fit.coef[1:],
        failed=not fit.converged,
        estimand=estimand,
        separation_only=separation_only,
    )
    return fit.fitted, fit.coef


def model_scores(
    model: Any, x: np.ndarray, z: np.ndarray, x_new: np.ndarray, param: str
) -> np.ndarray:
    """P(z = 1 | x_new) from a clone of a scikit-learn classifier fitted on (x, z)."""
    if not (hasattr(model, "fit") and hasattr(model, "predict_proba")):
        raise DataValidationError(
            f"`{param}` must be a scikit-learn style classifier with fit and predict_proba; "
            f"received {type(model).__name__}"
        )
    from sklearn.base import clone

    est = clone(model).fit(x, z.astype(int))
    classes = [int(c) for c in getattr(est, "classes_", [0, 1])]
    proba = np.asarray(est.predict_proba(x_new), dtype=float)
    return np.asarray(proba[:, classes.index(1)], dtype=float)


def kish(w: np.ndarray) -> float:
    """Kish effective sample size ``(sum w)^2 / sum w^2``."""
    ss = float(w @ w) if w.size else 0.0
    return float(w.sum() ** 2 / ss) if ss > 0 else float("nan")
