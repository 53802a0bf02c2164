"""One synthetic-control fit on matrices: the unit of work shared by the main fit, the
placebos, leave-one-out and the backdated fits. Array in, array out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from impacteval._parallel import one_blas_thread, run_tasks
from impacteval.synth._scm_numerics import (
    best_of_ties,
    fit_v,
    scale_predictors,
    simplex_lstsq,
)
from impacteval.synth._scm_penalized import penalized_unit
from impacteval.synth._scm_robust import robust_fit

__all__ = ["FitSpec", "UnitFit", "fit_unit", "run_many"]


@dataclass(frozen=True)
class FitSpec:
    """What every fit in a family shares.

    ``x`` is the (k, N) predictor matrix (None: the fit-period outcomes are the predictors);
    ``pre`` and ``fit`` are boolean masks over the T periods; ``v`` a fixed diagonal or None
    to optimise it; ``n_random`` extra random starts; ``seed`` for those starts.
    ``method`` is "standard", "penalized" (``penalty``: lambda, None = hold-out choice;
    ``x_train``: the predictors from the hold-out's training years) or "robust" (``rank``,
    None = forward-chaining choice; ``ridge``: the regression's ridge penalty).
    """

    y: np.ndarray
    x: np.ndarray | None
    pre: np.ndarray
    fit: np.ndarray
    v: np.ndarray | None
    n_random: int
    seed: int
    method: str = "standard"
    penalty: float | None = None
    rank: int | None = None
    ridge: float = 0.0
    x_train: np.ndarray | None = None


@dataclass(frozen=True)
class UnitFit:
    """Weights and fit statistics for one treated unit."""

    treated: int
    donors: np.ndarray
    w: np.ndarray
    v: np.ndarray
    loss_v: float  # fit-period outcome MSPE
    loss_w: float  # V-weighted squared predictor distance (scaled predictors)
    gaps: np.ndarray  # (T,) treated minus synthetic
    synthetic: np.ndarray
    starts: tuple[tuple[str, float], ...]
    scale: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)  # method-specific (lambda, rank)


def _fit_penalized(spec: FitSpec, treated: int, donors: np.ndarray) -> UnitFit:
    pu = penalized_unit(
        spec.y,
        spec.x,
        spec.x_train,
        spec.fit,
        spec.v,
        spec.penalty,
        treated,
        donors,
        spec.n_random,
        spec.seed,
    )
    y, w = spec.y, pu.w
    synthetic = y[:, donors] @ w
    r = y[spec.fit, treated] - y[np.ix_(spec.fit, donors)] @ w
    dx = pu.x1s - pu.x0s @ w
    info: dict[str, Any] = {"penalty": pu.penalty, "penalty_choice": pu.choice}
    return UnitFit(
        treated=treated,
        donors=donors,
        w=w,
        v=pu.v,
        loss_v=float(r @ r) / r.shape[0],
        loss_w=float(dx @ (pu.v * dx)),
        gaps=y[:, treated] - synthetic,
        synthetic=synthetic,
        starts=pu.starts,
        scale=pu.scale,
        info=info,
    )


def _fit_robust(spec: FitSpec, treated: int, donors: np.ndarray) -> UnitFit:
    y = spec.y
    rf = robust_fit(y[:, treated], y[:, donors], spec.fit, spec.rank, spec.ridge)
    gaps = y[:, treated] - rf.synthetic
    r = gaps[spec.fit]
    r = r[np.isfinite(r)]  # fit periods with the treated outcome missing are not fitted
    k = int(spec.fit.sum())
    info: dict[str, Any] = {
        "rank": rf.rank,
        "singular_values": rf.singular_values,
        "rank_choice": rf.choice,
        "observed_share": rf.p_hat,
        "n_missing_donors": rf.n_missing_donors,
        "n_missing_treated_fit": rf.n_missing_treated_fit,
    }
    mspe = float(r @ r) / r.shape[0]
    return UnitFit(
        treated=treated,
        donors=donors,
        w=rf.beta,
        v=np.full(k, 1.0 / k),
        loss_v=mspe,
        loss_w=float("nan"),
        gaps=gaps,
        synthetic=rf.synthetic,
        starts=((f"robust, rank {rf.rank}", mspe),),
        scale=np.ones(k),
        info=info,
    )


def fit_unit(spec: FitSpec, treated: int, donors: np.ndarray) -> UnitFit:
    """Fit unit ``treated`` from ``donors`` (column indices of ``spec.y``)."""
    if spec.method == "penalized":
        return _fit_penalized(spec, treated, donors)
    if spec.method == "robust":
        return _fit_robust(spec, treated, donors)
    y = spec.y
    z1 = y[spec.fit, treated]
    z0 = y[np.ix_(spec.fit, donors)]
    starts: tuple[tuple[str, float], ...]
    if spec.x is None:
        # no predictors: W minimises the fit-period MSPE directly (V irrelevant)
        w = simplex_lstsq(z0, z1)
        k = z0.shape[0]
        v = np.full(k, 1.0 / k)
        scale = np.ones(k)
        x1s, x0s = z1, z0
        starts = (("outcomes only", 0.0),)
    else:
        x1s, x0s, scale = scale_predictors(spec.x[:, treated], spec.x[:, donors])
        if spec.v is not None:
            v = spec.v
            w = simplex_lstsq(x0s * np.sqrt(v)[:, None], x1s * np.sqrt(v))
            starts = (("given", 0.0),)
        else:
            res = fit_v(x1s, x0s, z1, z0, n_random=spec.n_random, seed=spec.seed)
            v, w, starts = res.v, res.w, res.starts
        # W(V) need not be unique: take the minimiser with the best outcome fit
        tied = best_of_ties(x1s, x0s, z1, z0, v, w)
        if tied is not w:
            r = z1 - z0 @ tied
            starts = (*starts, ("best of tied W", float(r @ r) / r.shape[0]))
            w = tied
    synthetic = y[:, donors] @ w
    gaps = y[:, treated] - synthetic
    r = z1 - z0 @ w
    dx = x1s - x0s @ w
    return UnitFit(
        treated=treated,
        donors=donors,
        w=w,
        v=v,
        loss_v=float(r @ r) / r.shape[0],
        loss_w=float(dx @ (v * dx)),
        gaps=gaps,
        synthetic=synthetic,
        starts=starts,
        scale=scale,
    )


def run_many(
    func: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    *,
    n_jobs: int | None,
    progress: bool,
    desc: str,
) -> list[Any]:
    """``[func(*t) for t in tasks]`` through joblib (so a Dask backend can take over; ``None``
    defers to an active joblib context), with a tqdm bar over completed tasks.

    BLAS runs one thread in this process meanwhile, as in joblib's and Dask's workers: the
    fits' products are small, threads only add overhead (a multi-threaded least-squares
    solve of a 200-donor tie-breaking system took 20 times as long as a single-threaded one
    on a loaded two-core machine), and serial and parallel runs round alike.
    """
    with one_blas_thread():
        return run_tasks(func, tasks, n_jobs=n_jobs, progress=progress, desc=desc)
