"""Placebo, bootstrap and jackknife variance for synthetic DiD (private numerics).

Replications follow R ``synthdid``'s ``vcov`` (Algorithms 2-4 of Arkhangelsky et al. 2021):
the tuning (``zeta``, the stopping tolerance) is fixed at its full-sample value and the
weights are re-solved from the full-sample weights as starting points. With staggered
adoption every cohort is re-estimated on the same draw and the cohort effects are
re-aggregated, as Clarke, Pailañir, Athey & Imbens (2023) do for Stata ``sdid``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from impacteval._parallel import run_tasks
from impacteval._warn import WarningLog
from impacteval.synth._sdid_core import BlockFit, jackknife_block, refit_block

__all__ = [
    "TINY_WEIGHT",
    "Draw",
    "Variance",
    "aggregate",
    "bootstrap_draws",
    "jackknife_cohorts",
    "placebo_draws",
    "replication_se",
    "run_replications",
    "sdid_variance",
]

#: Unit weights at or below this count as zero for the jackknife's one-donor check
#: (Frank-Wolfe leaves weights of order 1e-13 where the optimum has exact zeros).
TINY_WEIGHT = 1e-10

#: One replication: for each cohort, (row indices with controls first, number of controls),
#: or None when the cohort has no treated unit in the draw.
Draw = list[tuple[np.ndarray, int] | None]

#: Upper bound on (draws in a chunk) x (controls^2 + controls x periods), about 160 MB.
_CHUNK_FLOATS = 20_000_000


def placebo_draws(
    n0: int, cohort_rows: Sequence[np.ndarray], n_reps: int, gen: np.random.Generator
) -> tuple[list[Draw], list[np.ndarray]]:
    """Placebo assignments: a random permutation of the controls; the last N1 take the
    treated units' adoption periods (cohort by cohort), the first N0 - N1 stay controls.

    Returns the draws and, for each draw, the row indices of the placebo-treated controls.
    """
    sizes = [len(r) for r in cohort_rows]
    n1 = sum(sizes)
    bounds = np.cumsum([0, *sizes])
    draws: list[Draw] = []
    placebo: list[np.ndarray] = []
    for _ in range(n_reps):
        perm = gen.permutation(n0)
        keep, fake = perm[: n0 - n1], perm[n0 - n1 :]
        draws.append(
            [
                (np.concatenate([keep, fake[bounds[c] : bounds[c + 1]]]), n0 - n1)
                for c in range(len(sizes))
            ]
        )
        placebo.append(fake)
    return draws, placebo


def bootstrap_draws(
    n0: int, cohort_rows: Sequence[np.ndarray], n_reps: int, gen: np.random.Generator
) -> tuple[list[Draw], list[np.ndarray]]:
    """Unit bootstrap: resample all units with replacement, redrawing samples with no control
    or no treated unit (synthdid's rule). A cohort absent from a sample drops out of it."""
    n = n0 + sum(len(r) for r in cohort_rows)
    draws: list[Draw] = []
    samples: list[np.ndarray] = []
    while len(draws) < n_reps:
        idx = np.sort(gen.integers(0, n, size=n))
        n_co = int(np.searchsorted(idx, n0))
        if n_co == 0 or n_co == n:
            continue
        controls = idx[:n_co]
        draw: Draw = []
        for rows in cohort_rows:
            tr = idx[np.isin(idx, rows)]
            draw.append((np.concatenate([controls, tr]), n_co) if tr.size else None)
        draws.append(draw)
        samples.append(idx)
    return draws, samples


def _chunk_run(y: np.ndarray, fits: Sequence[BlockFit], draws: Sequence[Draw]) -> np.ndarray:
    """Cohort estimates (draws x cohorts; NaN where a cohort is absent) for a chunk."""
    out = np.full((len(draws), len(fits)), np.nan)
    for c, fit in enumerate(fits):
        present: list[int] = []
        rows: list[np.ndarray] = []
        n0s: list[int] = []
        for k, draw in enumerate(draws):
            part = draw[c]
            if part is not None:
                present.append(k)
                rows.append(part[0])
                n0s.append(part[1])
        if not present:
            continue
        out[present, c] = refit_block(y, len(fit.lam), fit, rows, np.array(n0s))
    return out


def run_replications(
    y: np.ndarray,
    fits: Sequence[BlockFit],
    draws: Sequence[Draw],
    *,
    n_jobs: int | None,
    progress: bool,
    desc: str,
) -> np.ndarray:
    """Cohort estimates for every draw, in chunks through joblib with a tqdm bar.

    Each chunk is solved as one batch (see ``_sdid_fw``); chunks are sized so that a batch
    fits in memory and every worker gets at least two.
    """
    n_reps = len(draws)
    jobs = 1 if n_jobs is None else int(n_jobs)
    workers = max(1, jobs if jobs > 0 else (os_cpus() + 1 + jobs))
    n_co, n_t = y.shape[0], y.shape[1]
    cap = max(1, _CHUNK_FLOATS // max(1, n_co * n_co + n_co * n_t))
    size = max(1, min(cap, math.ceil(n_reps / (2 * workers)), 100))
    chunks = [draws[i : i + size] for i in range(0, n_reps, size)]
    # the chunks depend on ``n_jobs`` only (not on an active joblib context), so a run under
    # ``joblib.parallel_config(backend="dask")`` solves the same batches as a serial run
    tasks = [(y, fits, ch) for ch in chunks]
    results = run_tasks(_chunk_run, tasks, n_jobs=n_jobs, progress=progress, desc=desc)
    return np.vstack(results)


def os_cpus() -> int:
    """Number of CPUs joblib sees (for negative ``n_jobs``)."""
    from joblib import cpu_count

    return int(cpu_count())


def aggregate(
    cohort_estimates: np.ndarray, n_treated: np.ndarray, n_post: np.ndarray
) -> np.ndarray:
    """Cohort effects combined with weights N_treated x T_post (absent cohorts weigh 0).

    ``cohort_estimates`` and ``n_treated`` are (draws, cohorts); ``n_post`` is (cohorts,).
    """
    weight = n_treated * n_post[None, :]
    est = np.where(weight > 0, cohort_estimates, 0.0)
    return np.asarray((est * weight).sum(axis=1) / weight.sum(axis=1))


def jackknife_cohorts(
    y: np.ndarray,
    n0: int,
    cohort_rows: Sequence[np.ndarray],
    fits: Sequence[BlockFit],
) -> tuple[float, np.ndarray]:
    """Fixed-weights leave-one-unit-out jackknife of the aggregated effect and of each cohort.

    Leaving out a control renormalises every cohort's unit weights over the remaining
    controls; leaving out a treated unit changes its cohort's effect and aggregation weight.
    Returns the aggregate SE and the per-cohort SEs (synthdid's ``jackknife_se`` for one
    cohort).
    """
    n_t = y.shape[1]
    n1s = np.array([len(r) for r in cohort_rows], dtype=float)
    n_post = np.array([n_t - len(f.lam) for f in fits], dtype=float)
    n = n0 + int(n1s.sum())
    est = np.empty((n, len(fits)))
    cnt = np.tile(n1s, (n, 1))
    per_cohort = np.empty(len(fits))
    for c, (rows, fit) in enumerate(zip(cohort_rows, fits, strict=True)):
        t0 = len(fit.lam)
        sub = y[np.concatenate([np.arange(n0), rows])]
        per_cohort[c] = jackknife_block(sub, n0, t0, fit.omega, fit.lam)
        diff = sub[:, t0:].mean(axis=1) - sub[:, :t0] @ fit.lam
        d_co, d_tr = diff[:n0], diff[n0:]
        control = fit.omega @ d_co
        treated = d_tr.mean()
        est[:, c] = treated - control
        est[:n0, c] = treated - (control - fit.omega * d_co) / (1.0 - fit.omega)
        if len(rows) > 1:
            est[rows, c] = (d_tr.sum() - d_tr) / (len(rows) - 1) - control
        else:
            est[rows, c] = 0.0
        cnt[rows, c] -= 1
    u = aggregate(est, cnt, n_post)
    se = float(np.sqrt((n - 1) / n * np.sum((u - u.mean()) ** 2)))
    return se, per_cohort


def replication_se(values: np.ndarray) -> float:
    """synthdid's replication SE: sqrt((R - 1) / R) x sd, i.e. the n-denominator sd."""
    return float(np.std(values, ddof=0)) if values.size > 1 else float("nan")


@dataclass(frozen=True)
class Variance:
    """Outcome of :func:`sdid_variance`.

    Attributes
    ----------
    std_error : float
        SE of the aggregated effect (NaN without inference or when undefined).
    cohort_se : numpy.ndarray
        SE of each cohort's effect.
    replicates : numpy.ndarray
        Placebo or bootstrap replicate estimates of the aggregate (empty otherwise).
    draw_units : list of numpy.ndarray
        Rows drawn in each replication (placebo: the fake treated controls; bootstrap: the
        resampled units).
    """

    std_error: float = float("nan")
    cohort_se: np.ndarray = field(default_factory=lambda: np.empty(0))
    replicates: np.ndarray = field(default_factory=lambda: np.empty(0))
    draw_units: list[np.ndarray] = field(default_factory=list)


def sdid_variance(
    se: str | None,
    method: str,
    y: np.ndarray,
    n0: int,
    cohort_rows: Sequence[np.ndarray],
    fits: Sequence[BlockFit],
    *,
    n_reps: int,
    gen: np.random.Generator,
    n_jobs: int | None,
    progress: bool,
    log: WarningLog,
) -> Variance:
    """The variance of the aggregated effect by ``se`` ("placebo", "bootstrap",
    "jackknife" or None); warnings (jackknife for SC, jackknife undefined) go to ``log``."""
    nan_cohorts = np.full(len(fits), np.nan)
    n_post = np.array([y.shape[1] - len(f.lam) for f in fits], dtype=float)
    if se in ("placebo", "bootstrap"):
        make = placebo_draws if se == "placebo" else bootstrap_draws
        draws, draw_units = make(n0, cohort_rows, n_reps, gen)
        cohort_reps = run_replications(
            y, fits, draws, n_jobs=n_jobs, progress=progress, desc=f"{se} replications"
        )
        counts = np.array(
            [[len(d[0]) - d[1] if d is not None else 0 for d in draw] for draw in draws],
            dtype=float,
        )
        replicates = aggregate(cohort_reps, counts, n_post)
        cohort_se = np.array(
            [replication_se(cohort_reps[~np.isnan(cohort_reps[:, c]), c]) for c in range(len(fits))]
        )
        return Variance(replication_se(replicates), cohort_se, replicates, draw_units)
    if se != "jackknife":
        return Variance(cohort_se=nan_cohorts)
    if method == "sc":
        log.warn(
            "the jackknife is not recommended for synthetic control (Arkhangelsky et al. "
            "2021, section 5): it can be badly biased; prefer se='placebo' or 'bootstrap'"
        )
    if any(np.count_nonzero(f.omega > TINY_WEIGHT) <= 1 for f in fits):
        log.warn(
            "jackknife SE undefined: a single control carries all the unit weight "
            "(synthdid returns NA); std_error is NaN"
        )
        return Variance(cohort_se=nan_cohorts)
    std_error, cohort_se = jackknife_cohorts(y, n0, cohort_rows, fits)
    return Variance(std_error=std_error, cohort_se=cohort_se)
