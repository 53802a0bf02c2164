"""Checks and design pieces of ``synthetic_control(method="penalized" | "robust")``.

:func:`check_method_options` validates the method's scalar options once, at the entry
point; :func:`missing_outcome_warning` checks and counts the missing outcomes the robust
estimator accepts; :func:`training_predictors` builds the predictor matrix of the penalized
estimator's hold-out (the predictors recomputed from the training years only).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._validation import check_choice, short_repr
from impacteval._warn import WarningLog
from impacteval.exceptions import DataValidationError, ImpactEvalWarning
from impacteval.synth._scm_data import Panel, PredictorSpec, predictor_matrix
from impacteval.synth._scm_penalized import split_fit_period

__all__ = [
    "METHODS",
    "MethodOptions",
    "check_method_options",
    "method_details",
    "missing_outcome_warning",
    "refuse_method",
    "training_predictors",
]

METHODS = ("standard", "penalized", "robust")


@dataclass(frozen=True)
class MethodOptions:
    """The checked estimator options: method, penalty (lambda), rank and the robust
    regression's ridge penalty (0: least squares)."""

    method: str
    penalty: float | None
    rank: int | None
    ridge: float


def _number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_method_options(
    method: object,
    *,
    penalty: object,
    rank: object,
    ridge_lambda: object,
    augment: object,
    has_predictors: bool,
    v: object,
) -> MethodOptions:
    """Check ``method`` and the options that belong to it.

    Raises
    ------
    DataValidationError
        An unknown method; ``penalty`` not a non-negative finite number or given without
        ``method="penalized"``; ``rank`` not a positive int or given without
        ``method="robust"``; ``augment`` with a method other than "standard";
        ``predictors`` or ``v`` with ``method="robust"`` (it uses outcomes only).
    """
    meth = check_choice(method, "method", METHODS)
    if penalty is not None:
        if meth != "penalized":
            raise DataValidationError(
                f"`penalty` is only used with method='penalized'; received method={meth!r}"
            )
        if not _number(penalty) or not (0.0 <= float(penalty) < float("inf")):  # type: ignore[arg-type]
            raise DataValidationError(
                f"`penalty` must be a non-negative finite number or None (chosen by hold-out "
                f"validation); received {short_repr(penalty)}"
            )
    if rank is not None:
        if meth != "robust":
            raise DataValidationError(
                f"`rank` is only used with method='robust'; received method={meth!r}"
            )
        if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or int(rank) < 1:
            raise DataValidationError(
                f"`rank` must be a positive integer or None (chosen by forward-chaining "
                f"validation); received {short_repr(rank)}"
            )
    if meth != "standard" and augment is not None:
        raise DataValidationError(
            f"`augment` is only available with method='standard'; received method={meth!r} "
            f"and augment={augment!r}"
        )
    ridge = 0.0
    if meth == "robust":
        if has_predictors or not (isinstance(v, str) and v == "optimize"):
            raise DataValidationError(
                "method='robust' regresses on the donors' de-noised outcomes only; "
                "`predictors` and `v` cannot be used with it; received "
                f"{'predictors' if has_predictors else 'v=' + short_repr(v)}"
            )
        if ridge_lambda is not None:
            if not _number(ridge_lambda) or not (0.0 <= float(ridge_lambda) < float("inf")):  # type: ignore[arg-type]
                raise DataValidationError(
                    f"`ridge_lambda` must be a non-negative finite number or None (0: least "
                    f"squares) with method='robust'; received {short_repr(ridge_lambda)}"
                )
            ridge = float(ridge_lambda)  # type: ignore[arg-type]
    elif ridge_lambda is not None and meth == "penalized":
        raise DataValidationError(
            "`ridge_lambda` is used with augment='ridge' or method='robust', not with "
            "method='penalized' (its penalty is `penalty`)"
        )
    return MethodOptions(
        method=meth,
        penalty=None if penalty is None else float(penalty),  # type: ignore[arg-type]
        rank=None if rank is None else int(rank),  # type: ignore[call-overload]
        ridge=ridge,
    )


def training_predictors(
    panel: Panel, specs: Sequence[PredictorSpec], used: list[int], fit: np.ndarray
) -> np.ndarray | None:
    """(k, N) predictors from the hold-out's training years (before the first validation
    period of :func:`~impacteval.synth._scm_penalized.split_fit_period`); a predictor with
    no training year is a row of NaN (left out of the hold-out). None without predictors.

    Raises
    ------
    DataValidationError
        When no predictor has a year in the training period (give ``penalty``).
    """
    if not specs:
        return None
    fit_times = panel.times[fit]
    n_train = split_fit_period(fit_times.shape[0])
    split: Any = fit_times[n_train] if n_train < fit_times.shape[0] else fit_times[-1]
    cut = [PredictorSpec(s.column, tuple(t for t in s.years if t < split), s.op) for s in specs]
    keep = [i for i, s in enumerate(cut) if s.years]
    if not keep:
        raise DataValidationError(
            f"`penalty`: the hold-out choice recomputes the predictors from the training "
            f"years before {split!r}, but no predictor has a year there; give `penalty` "
            "or predictors measured earlier"
        )
    out = np.full((len(specs), panel.y.shape[1]), np.nan)
    units = [panel.units[i] for i in used]
    out[np.ix_(keep, used)] = predictor_matrix(panel, [cut[i] for i in keep], units, split)
    return out


def refuse_method(method: str, what: str) -> None:
    """Raise when ``what`` (a result method) is defined for the standard estimator only."""
    if method != "standard":
        raise DataValidationError(
            f"{what} is implemented for method='standard' only; this result was fitted "
            f"with method={method!r}"
        )


def method_details(method: str, info: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The result's ``method`` label and the details a penalized or robust fit adds."""
    details: dict[str, Any] = {"estimator": method}
    if method == "penalized":
        choice = info.get("penalty_choice")
        details["penalty"] = info["penalty"]
        if choice is not None:
            details["penalty_holdout"] = pd.Series(
                choice.mspe, index=pd.Index(choice.grid, name="penalty"), name="holdout_mspe"
            )
            details["holdout_periods"] = (choice.n_train, choice.n_validation)
        label = "penalized synthetic control (Abadie & L'Hour 2021)"
        return label, details
    details["rank"] = info["rank"]
    details["singular_values"] = np.asarray(info["singular_values"])
    details["observed_share"] = info["observed_share"]
    details["n_missing_donors"] = info["n_missing_donors"]
    details["n_missing_treated_fit"] = info["n_missing_treated_fit"]
    choice = info.get("rank_choice")
    if choice is not None:
        details["rank_validation"] = pd.Series(
            choice.mspe, index=pd.Index(choice.ranks, name="rank"), name="forward_chaining_mspe"
        )
    return "robust synthetic control (Amjad, Shah & Shen 2018)", details


def missing_outcome_warning(
    panel: Panel,
    pre: np.ndarray,
    fit: np.ndarray,
    treated: int,
    donors: np.ndarray,
    log: WarningLog,
) -> None:
    """Robust SC with missing outcomes: refuse a treated unit missing after treatment or
    in all but one fit period; otherwise record (warn) how many outcomes are missing.

    Raises
    ------
    DataValidationError
        The treated unit's outcome missing in a post-treatment period (the effect there
        would be undefined), or observed in fewer than two fit periods.
    """
    y1 = panel.y[:, treated]
    name = panel.units[treated]
    post_missing = ~pre & ~np.isfinite(y1)
    if post_missing.any():
        raise DataValidationError(
            f"`outcome`: the treated unit {name!r} has missing outcomes "
            f"after treatment (periods {short_repr(panel.times[post_missing].tolist())}); "
            "its effect there is undefined. Only donors' outcomes and the treated unit's "
            "pre-treatment outcomes may be missing"
        )
    n_fit = int((fit & np.isfinite(y1)).sum())
    if n_fit < 2:
        raise DataValidationError(
            f"`outcome`: the treated unit {name!r} must be observed in at "
            f"least two fit periods; received {n_fit}"
        )
    y0 = panel.y[:, donors]
    n_donor = int((~np.isfinite(y0)).sum())
    n_treated = int((~np.isfinite(y1)).sum())
    if n_donor + n_treated:
        log.warn(
            f"method='robust': {n_donor + n_treated} outcome values are missing ({n_donor} "
            f"of the donors' {y0.size}, observed share {1 - n_donor / y0.size:.4g}; "
            f"{n_treated} of the treated unit's pre-treatment periods). The donor matrix is "
            "completed by the paper's matrix estimation (missing set to 0, the truncated "
            "SVD divided by the observed share); treated periods with a missing outcome "
            "are left out of the fit. Counts in details['n_missing_donors'] and "
            "details['n_missing_treated_fit']",
            ImpactEvalWarning,
        )
