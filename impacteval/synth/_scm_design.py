"""The synthetic-control design: everything a fit, a placebo or a refit needs, checked once.

:func:`prepare_design` turns the user's arguments (after :func:`~impacteval.synth._scm_data.
build_panel` has checked the panel) into a :class:`Design`: the treated unit and the donor
pool as column indices of the outcome matrix, the pre-period and fit-period masks, the
predictor matrix and a fixed V if one was given. The numerics (:mod:`._scm_core`), the
inference (:mod:`._scm_inference`) and the result (:mod:`._scm_result`) read the design and
never the user's DataFrame again.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from impacteval._validation import check_choice, short_repr
from impacteval.exceptions import DataValidationError
from impacteval.synth._scm_core import FitSpec
from impacteval.synth._scm_data import Panel, PredictorSpec, check_periods, predictor_matrix
from impacteval.synth._scm_penalized_design import MethodOptions, training_predictors

__all__ = ["Design", "check_ridge_lambda", "check_v", "prepare_design", "provenance_options"]


@dataclass(frozen=True)
class Design:
    """Everything needed to fit and refit (placebos, leave-one-out, backdating).

    Attributes
    ----------
    panel : Panel
        The outcome matrix and labels.
    spec : FitSpec
        What every fit in the family shares (outcomes, predictors, masks, V, starts).
    treated : int
        Column of the treated unit in ``panel.y``.
    donors : numpy.ndarray
        Columns of the donor pool, ascending.
    predictors : tuple of PredictorSpec
        As parsed (empty: the fit-period outcomes are the predictors).
    predictor_labels : tuple of str
        One label per row of V.
    treated_unit, treatment_time
        As the user gave them.
    n_jobs : int or None
        joblib workers for refits.
    progress : bool
        Progress bars for refits.
    """

    panel: Panel
    spec: FitSpec
    treated: int
    donors: np.ndarray
    predictors: tuple[PredictorSpec, ...]
    predictor_labels: tuple[str, ...]
    treated_unit: Hashable
    treatment_time: Any
    n_jobs: int | None
    progress: bool


def check_v(v: object, k: int, labels: Sequence[str]) -> np.ndarray | None:
    """``v`` as a normalised diagonal of V (None for ``"optimize"``)."""
    if isinstance(v, str):
        check_choice(v, "v", ("optimize",))
        return None
    if isinstance(v, Mapping):
        missing = [lab for lab in labels if lab not in v]
        if missing or len(v) != k:
            raise DataValidationError(
                f"`v`: a mapping must give one weight per predictor {list(labels)}; received "
                f"keys {short_repr(list(v))}"
            )
        arr = np.array([float(v[lab]) for lab in labels])
    else:
        try:
            arr = np.asarray(v, dtype=float).ravel()
        except (TypeError, ValueError):
            raise DataValidationError(
                f"`v` must be 'optimize' or {k} non-negative predictor weights; received "
                f"{short_repr(v)}"
            ) from None
    if arr.shape != (k,) or not np.isfinite(arr).all() or (arr < 0).any() or arr.sum() <= 0:
        raise DataValidationError(
            f"`v` must be 'optimize' or {k} non-negative finite predictor weights, not all "
            f"zero (one per predictor); received {short_repr(v)}"
        )
    return np.asarray(arr / arr.sum())


def check_ridge_lambda(value: object) -> float | None:
    """``ridge_lambda``: a positive number, or None (chosen by leave-one-donor-out)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
        raise DataValidationError(
            f"`ridge_lambda` must be a positive number or None; received {value!r}"
        )
    return float(value)


def _treated_and_donors(
    units: pd.Index, unit: str, treated_unit: Hashable, donors: Iterable[Hashable] | None
) -> tuple[int, np.ndarray]:
    if treated_unit not in units:
        raise DataValidationError(
            f"`treated_unit`: {treated_unit!r} is not a value of column {unit!r} "
            f"(units: {short_repr(units.tolist())})"
        )
    treated = int(units.get_indexer(pd.Index([treated_unit]))[0])
    if donors is None:
        donor_idx = np.array([i for i in range(len(units)) if i != treated])
    else:
        dlist = list(donors)
        if treated_unit in dlist:
            raise DataValidationError(
                f"`donors`: the treated unit {treated_unit!r} is also in the donor pool; a "
                "unit cannot be its own control"
            )
        unknown = [d for d in dlist if d not in units]
        if unknown:
            raise DataValidationError(
                f"`donors`: {short_repr(unknown)} are not values of column {unit!r}"
            )
        if len(set(dlist)) != len(dlist):
            raise DataValidationError("`donors`: duplicated donor labels")
        donor_idx = np.array(sorted(int(i) for i in units.get_indexer(pd.Index(dlist))))
    if len(donor_idx) < 2:
        raise DataValidationError(
            f"`donors`: at least two donor units are needed; received {len(donor_idx)}"
        )
    return treated, donor_idx


def _period_masks(
    times: np.ndarray, treatment_time: Any, fit_period: Iterable[Any] | None
) -> tuple[np.ndarray, np.ndarray]:
    check_periods([treatment_time], times, "treatment_time")
    pre = times < treatment_time
    if int(pre.sum()) < 2:
        raise DataValidationError(
            f"`treatment_time`: at least two pre-treatment periods are needed; received "
            f"{int(pre.sum())} before {treatment_time!r}"
        )
    if fit_period is None:
        return pre, pre.copy()
    fp = check_periods(list(fit_period), times, "fit_period", before=treatment_time)
    fit = np.isin(times, fp)
    if int(fit.sum()) < 2:
        raise DataValidationError(
            f"`fit_period`: at least two periods are needed; received {int(fit.sum())}"
        )
    return pre, fit


def _predictor_block(
    panel: Panel,
    specs: Sequence[PredictorSpec],
    used: list[int],
    treatment_time: Any,
    fit: np.ndarray,
    v: object,
) -> tuple[np.ndarray | None, tuple[str, ...], np.ndarray | None]:
    """(k, N) predictor matrix (NaN outside the treated unit and donors), labels, fixed V."""
    if not specs:
        if not (isinstance(v, str) and v == "optimize"):
            raise DataValidationError(
                "`v` can only be given together with `predictors`; without predictors the "
                f"weights minimise the fit-period MSPE directly; received v={short_repr(v)}"
            )
        return None, tuple(f"{panel.outcome} ({t})" for t in panel.times[fit]), None
    units = panel.units
    x_used = predictor_matrix(panel, specs, [units[i] for i in used], treatment_time)
    x_full = np.full((len(specs), len(units)), np.nan)
    x_full[:, used] = x_used
    sd = x_used.std(axis=1, ddof=1)
    flat = ~(sd > 1e-12 * (1.0 + np.abs(x_used).max(axis=1)))
    const = [specs[int(i)].label for i in np.flatnonzero(flat)]
    if const:
        raise DataValidationError(
            f"`predictors`: {const} take the same value for the treated unit and every "
            "donor; a constant predictor carries no information and cannot be scaled"
        )
    labels = tuple(s.label for s in specs)
    return x_full, labels, check_v(v, len(specs), labels)


def prepare_design(
    panel: Panel,
    *,
    specs: Sequence[PredictorSpec],
    treated_unit: Hashable,
    treatment_time: Any,
    fit_period: Iterable[Any] | None,
    v: object,
    donors: Iterable[Hashable] | None,
    n_starts: int,
    seed: int,
    n_jobs: int | None,
    progress: bool,
    options: MethodOptions | None = None,
) -> Design:
    """Check the design arguments against the panel and build the :class:`Design`
    (``options``: the estimator, default the standard synthetic control).

    Raises
    ------
    DataValidationError
        Treated unit unknown or among the donors, fewer than two donors, periods not in the
        data or not before treatment, fewer than two pre- or fit-periods, constant
        predictors, a malformed ``v``.
    """
    treated, donor_idx = _treated_and_donors(panel.units, panel.unit_col, treated_unit, donors)
    pre, fit = _period_masks(panel.times, treatment_time, fit_period)
    used = [treated, *donor_idx.tolist()]
    x_full, labels, v_fixed = _predictor_block(panel, specs, used, treatment_time, fit, v)
    opt = options or MethodOptions("standard", None, None, 0.0)
    x_train = None
    if opt.method == "penalized" and opt.penalty is None:
        x_train = training_predictors(panel, specs, used, fit)
    spec = FitSpec(
        y=panel.y,
        x=x_full,
        pre=pre,
        fit=fit,
        v=v_fixed,
        n_random=n_starts - 2,
        seed=seed,
        method=opt.method,
        penalty=opt.penalty,
        rank=opt.rank,
        ridge=opt.ridge,
        x_train=x_train,
    )
    return Design(
        panel=panel,
        spec=spec,
        treated=treated,
        donors=donor_idx,
        predictors=tuple(specs),
        predictor_labels=labels,
        treated_unit=treated_unit,
        treatment_time=treatment_time,
        n_jobs=n_jobs,
        progress=progress,
    )


def provenance_options(
    design: Design, *, inference: str, augment: str | None, level: float
) -> dict[str, Any]:
    """The options actually used, for the result's provenance."""
    panel, spec = design.panel, design.spec
    return {
        "outcome": panel.outcome,
        "unit": panel.unit_col,
        "time": panel.time_col,
        "treated_unit": design.treated_unit,
        "treatment_time": design.treatment_time,
        "predictors": [(s.column, list(s.years), s.op) for s in design.predictors],
        "fit_period": panel.times[spec.fit].tolist(),
        "v": "optimize" if spec.v is None else spec.v.tolist(),
        "donors": [panel.units[i] for i in design.donors],
        "inference": inference,
        "augment": augment,
        "method": spec.method,
        "penalty": spec.penalty,
        "rank": spec.rank,
        "robust_ridge": spec.ridge if spec.method == "robust" else None,
        "n_starts": spec.n_random + 2,
        "level": level,
    }
