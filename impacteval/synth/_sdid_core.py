"""Synthetic DiD on one treated block (private numerics, arrays in and out).

Conventions: ``y`` is an (N, T) outcome matrix whose first ``n0`` rows are control units and
whose first ``t0`` columns are pre-treatment periods (the treated block is the bottom-right
corner), as in R ``synthdid``'s ``panel.matrices``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from impacteval.synth._sdid_fw import gram_problem, sum_normalize, two_stage_weights

__all__ = [
    "BlockFit",
    "BlockOptions",
    "block_options",
    "estimate_with_weights",
    "fit_block",
    "fit_cohorts",
    "jackknife_block",
    "noise_level",
    "refit_block",
]

MAX_ITER = 10_000
MAX_ITER_PRE_SPARSIFY = 100


@dataclass(frozen=True)
class BlockOptions:
    """Tuning fixed on the full sample and reused by every replication (synthdid's opts)."""

    method: str
    zeta_omega: float
    zeta_lambda: float
    min_decrease: float
    noise_level: float
    max_iter: int = MAX_ITER
    max_iter_pre_sparsify: int = MAX_ITER_PRE_SPARSIFY


@dataclass(frozen=True)
class BlockFit:
    """Weights and effect for one block."""

    estimate: float
    omega: np.ndarray
    lam: np.ndarray
    options: BlockOptions
    n_iter_omega: int
    n_iter_lambda: int


def noise_level(y_control_pre: np.ndarray) -> float:
    """sd (n - 1 denominator) of the first differences over time of the controls' outcomes."""
    diffs = np.diff(y_control_pre, axis=1)
    return float(np.std(diffs, ddof=1)) if diffs.size > 1 else 0.0


def block_options(y: np.ndarray, n0: int, t0: int, method: str) -> BlockOptions:
    """synthdid's defaults: ``zeta_omega = (N1 T1)^(1/4) sigma`` (SDID) or ``1e-6 sigma``
    (SC), ``zeta_lambda = 1e-6 sigma``, ``min_decrease = 1e-5 sigma``."""
    n1, t1 = y.shape[0] - n0, y.shape[1] - t0
    sigma = noise_level(y[:n0, :t0])
    eta_omega = (n1 * t1) ** 0.25 if method == "sdid" else 1e-6
    return BlockOptions(
        method=method,
        zeta_omega=eta_omega * sigma,
        zeta_lambda=1e-6 * sigma,
        min_decrease=1e-5 * sigma,
        noise_level=sigma,
    )


def _collapsed(
    y: np.ndarray, rows: Sequence[np.ndarray], n0s: np.ndarray, t0: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batch of collapsed forms, padded to the largest control count.

    Returns control pre outcomes (B, n0max, t0), control post means (B, n0max), treated pre
    means (B, t0), treated post means (B,) and the control mask (B, n0max).
    """
    n_b = len(rows)
    n0max = int(n0s.max())
    pre = y[:, :t0]
    post_mean = y[:, t0:].mean(axis=1)
    co_pre = np.zeros((n_b, n0max, t0))
    co_post = np.zeros((n_b, n0max))
    tr_pre = np.empty((n_b, t0))
    tr_post = np.empty(n_b)
    mask = np.zeros((n_b, n0max), dtype=bool)
    for k, (r, n0) in enumerate(zip(rows, n0s, strict=True)):
        co, tr = r[:n0], r[n0:]
        co_pre[k, :n0] = pre[co]
        co_post[k, :n0] = post_mean[co]
        mask[k, :n0] = True
        tr_pre[k] = pre[tr].mean(axis=0)
        tr_post[k] = post_mean[tr].mean()
    return co_pre, co_post, tr_pre, tr_post, mask


def _solve_batch(
    y: np.ndarray,
    rows: Sequence[np.ndarray],
    n0s: np.ndarray,
    t0: int,
    opts: BlockOptions,
    omega0: np.ndarray | None,
    lam0: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weights and estimates for a batch of (sub)samples of the rows of ``y``.

    ``omega0`` (B, n0max) and ``lam0`` (B, t0) are starting points (None: uniform).
    Returns estimates (B,), omega (B, n0max), lambda (B, t0) and the step counts.
    """
    co_pre, co_post, tr_pre, tr_post, mask = _collapsed(y, rows, n0s, t0)
    n_b = mask.shape[0]
    uniform_omega = mask / n0s[:, None]
    it_l = np.zeros(n_b, dtype=np.intp)
    it_o = np.zeros(n_b, dtype=np.intp)
    md2 = opts.min_decrease**2
    if opts.method == "sdid":
        # time weights: regress the controls' post mean on their pre-period outcomes
        h, c, m = gram_problem(
            co_pre,
            co_post,
            mask,
            np.ones((n_b, t0), dtype=bool),
            np.full(n_b, opts.zeta_lambda**2),
            intercept=True,
        )
        start = np.full((n_b, t0), 1.0 / t0) if lam0 is None else lam0
        lam, it_l = two_stage_weights(
            h,
            c,
            m,
            start,
            np.ones((n_b, t0), dtype=bool),
            md2,
            opts.max_iter,
            opts.max_iter_pre_sparsify,
        )
    elif opts.method == "sc":
        lam = np.zeros((n_b, t0))
    else:
        lam = np.full((n_b, t0), 1.0 / t0)
    if opts.method in ("sdid", "sc"):
        # unit weights: regress the treated pre-period mean on the controls, over periods
        h, c, m = gram_problem(
            np.transpose(co_pre, (0, 2, 1)),
            tr_pre,
            np.ones((n_b, t0), dtype=bool),
            mask,
            np.full(n_b, opts.zeta_omega**2),
            intercept=opts.method == "sdid",
        )
        start = uniform_omega if omega0 is None else omega0
        omega, it_o = two_stage_weights(
            h, c, m, start, mask, md2, opts.max_iter, opts.max_iter_pre_sparsify
        )
    else:
        omega = uniform_omega
    tau = (tr_post - np.einsum("bt,bt->b", tr_pre, lam)) - np.einsum(
        "bn,bn->b", omega, co_post - np.einsum("bnt,bt->bn", co_pre, lam)
    )
    return tau, omega, lam, it_o, it_l


def fit_block(y: np.ndarray, n0: int, t0: int, method: str) -> BlockFit:
    """Fit SDID / SC / DiD on one block with synthdid's defaults."""
    opts = block_options(y, n0, t0, method)
    rows = [np.arange(y.shape[0])]
    tau, omega, lam, it_o, it_l = _solve_batch(
        y, rows, np.array([n0]), t0, opts, omega0=None, lam0=None
    )
    return BlockFit(
        estimate=float(tau[0]),
        omega=omega[0],
        lam=lam[0],
        options=opts,
        n_iter_omega=int(it_o[0]),
        n_iter_lambda=int(it_l[0]),
    )


def fit_cohorts(
    y: np.ndarray, n0: int, cohorts: np.ndarray, cohort_rows: Sequence[np.ndarray], method: str
) -> list[BlockFit]:
    """One :func:`fit_block` per adoption cohort: the controls (first ``n0`` rows) and the
    cohort's treated rows, with the periods before its adoption column as pre-periods."""
    controls = np.arange(n0)
    return [
        fit_block(y[np.concatenate([controls, rows])], n0, int(a), method)
        for a, rows in zip(cohorts, cohort_rows, strict=True)
    ]


def refit_block(
    y: np.ndarray,
    t0: int,
    fit: BlockFit,
    rows: Sequence[np.ndarray],
    n0s: np.ndarray,
) -> np.ndarray:
    """Re-estimate on many row subsets (placebo or bootstrap replications), as synthdid does:
    same tuning as the full-sample fit, weights re-solved from the full-sample weights
    (restricted to the rows kept and renormalised) as starting points."""
    n0s = np.asarray(n0s, dtype=np.intp)
    n0max = int(n0s.max())
    omega0 = np.zeros((len(rows), n0max))
    for k, (r, n0) in enumerate(zip(rows, n0s, strict=True)):
        omega0[k, :n0] = sum_normalize(fit.omega[r[:n0]])[0]
    lam0 = np.broadcast_to(fit.lam, (len(rows), t0))
    tau = _solve_batch(y, rows, n0s, t0, fit.options, omega0, lam0)[0]
    return tau


def estimate_with_weights(
    y: np.ndarray, n0: int, t0: int, omega: np.ndarray, lam: np.ndarray
) -> float:
    """The weighted double difference for given weights."""
    post = y[:, t0:].mean(axis=1)
    diff = post - y[:, :t0] @ lam
    return float(diff[n0:].mean() - omega @ diff[:n0])


def jackknife_block(y: np.ndarray, n0: int, t0: int, omega: np.ndarray, lam: np.ndarray) -> float:
    """Fixed-weights jackknife SE (Algorithm 3 of Arkhangelsky et al.; synthdid's
    ``jackknife_se``): leave each unit out, keep lambda, renormalise omega over the
    remaining controls, and combine the N estimates as ``sqrt((N-1)/N sum (u - mean u)^2)``.

    NaN when undefined (one treated unit, or one control with positive weight).
    """
    n = y.shape[0]
    n1 = n - n0
    if n1 < 2 or np.count_nonzero(omega > 1e-10) <= 1:
        return float("nan")
    diff = y[:, t0:].mean(axis=1) - y[:, :t0] @ lam
    d_co, d_tr = diff[:n0], diff[n0:]
    control_part = omega @ d_co
    treated_part = d_tr.mean()
    # leave out control j: omega renormalised over the others
    u_co = treated_part - (control_part - omega * d_co) / (1.0 - omega)
    # leave out treated i
    u_tr = (d_tr.sum() - d_tr) / (n1 - 1) - control_part
    u = np.concatenate([u_co, u_tr])
    return float(np.sqrt((n - 1) / n * np.sum((u - u.mean()) ** 2)))
