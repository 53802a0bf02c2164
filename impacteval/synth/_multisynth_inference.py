"""Leave-one-unit-out jackknife for multisynth (Ben-Michael, Feller & Rothstein 2022,
section 5; augsynth's ``jackknife_se_multi``).

Every unit (treated or donor) is dropped in turn and the estimator refitted on the rest
with ``nu``, ``n_leads`` and ``n_lags`` held at their full-sample values (the separate
fit, hence the scales of the two imbalance terms, is recomputed). For each reported
number ``theta`` with replicates ``theta_(i)`` defined in ``m`` of them,

    se = sqrt((m - 1) / m * sum_i (theta_(i) - mean theta)^2).

A replicate in which a treated unit is left without donors is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impacteval._parallel import run_tasks
from impacteval.exceptions import DataValidationError
from impacteval.synth._multisynth_core import fit_multisynth, summarize_gaps

__all__ = ["JackknifeResult", "jackknife"]


@dataclass(frozen=True)
class JackknifeResult:
    """Jackknife standard errors of every reported effect.

    Attributes
    ----------
    unit_se : ndarray, shape (J, E)
        Of each unit x event-time gap.
    event_se : ndarray, shape (E,)
        Of each event-time average.
    unit_avg_se : ndarray, shape (J,)
        Of each unit's post-treatment average.
    overall_se : float
        Of the overall effect.
    replicates : ndarray, shape (N,)
        The overall effect with each unit left out (NaN where skipped).
    n_skipped : int
        Replicates skipped (a treated unit without donors, or no treated unit left).
    n_unconverged : int
        Replicates whose solver hit its sweep limit.
    """

    unit_se: np.ndarray
    event_se: np.ndarray
    unit_avg_se: np.ndarray
    overall_se: float
    replicates: np.ndarray
    n_skipped: int
    n_unconverged: int


def _jackknife_se(reps: np.ndarray) -> np.ndarray:
    """Column-wise jackknife SE over the non-NaN replicates (axis 0)."""
    ok = ~np.isnan(reps)
    m = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(m > 0, np.nansum(reps, axis=0) / np.maximum(m, 1), np.nan)
        ss = np.nansum((reps - mean) ** 2, axis=0)
        se = np.sqrt((m - 1) / np.maximum(m, 1) * ss)
    return np.where(m >= 2, se, np.nan)


def _drop_one(
    y: np.ndarray,
    adoption: np.ndarray,
    treated: np.ndarray,
    i: int,
    nu: float,
    n_leads: int,
    n_lags: int,
    fixedeff: bool,
    ridge: float,
) -> tuple[np.ndarray, bool] | None:
    """Gaps ``(J, E)`` of the fit without unit ``i`` (NaN row for ``i`` if treated)."""
    keep = np.arange(y.shape[0]) != i
    left = treated[treated != i]
    if left.size == 0:
        return None
    try:
        fit = fit_multisynth(
            y[keep],
            adoption[keep],
            left - (left > i),
            nu=nu,
            n_leads=n_leads,
            n_lags=n_lags,
            fixedeff=fixedeff,
            lam=ridge,
        )
    except DataValidationError:
        return None
    gaps = np.full((len(treated), fit.gaps.shape[1]), np.nan)
    gaps[treated != i] = fit.gaps
    return gaps, fit.converged


def jackknife(
    y: np.ndarray,
    adoption: np.ndarray,
    treated: np.ndarray,
    *,
    nu: float,
    n_leads: int,
    n_lags: int,
    fixedeff: bool,
    ridge: float,
    n_jobs: int | None,
    progress: bool = False,
) -> JackknifeResult:
    """Leave each unit out in turn and collect the jackknife SEs (module docstring)."""
    n = y.shape[0]
    tasks = ((y, adoption, treated, i, nu, n_leads, n_lags, fixedeff, ridge) for i in range(n))
    out = run_tasks(_drop_one, tasks, n_jobs=n_jobs, progress=progress, desc="jackknife", total=n)
    n_e = n_lags + n_leads
    unit_reps = np.full((n, len(treated), n_e), np.nan)
    event_reps = np.full((n, n_e), np.nan)
    avg_reps = np.full((n, len(treated)), np.nan)
    overall = np.full(n, np.nan)
    event_times = np.arange(-n_lags, n_leads)
    skipped = unconverged = 0
    for i, rep in enumerate(out):
        if rep is None:
            skipped += 1
            continue
        gaps, converged = rep
        unconverged += not converged
        unit_reps[i] = gaps
        event_reps[i], avg_reps[i], overall[i] = summarize_gaps(gaps, event_times)
    return JackknifeResult(
        unit_se=_jackknife_se(unit_reps),
        event_se=_jackknife_se(event_reps),
        unit_avg_se=_jackknife_se(avg_reps),
        overall_se=float(_jackknife_se(overall[:, None])[0]),
        replicates=overall,
        n_skipped=skipped,
        n_unconverged=unconverged,
    )
