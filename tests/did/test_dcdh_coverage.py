"""Monte Carlo bias and coverage of ``dcdh``'s analytic 95% intervals.

The numerics behind ``ie.did.dcdh`` are called on arrays (``switching_sample``,
``horizon_fit``, ``average_total_effect``) so that 1,000 draws take a few seconds; the SE
is ``sqrt(sum_c (sum_{g in c} psi_g)^2) / G`` as ``dcdh`` computes it (the public function
is checked against the peer in test_dcdh_reference.py).

Design (seed 20261205, 1,000 draws): 400 units, 7 periods; 25% never treated, the others
switch on at period 3, 4 or 5 (1-based) for two periods, then off again (non-absorbing).
Outcome ``a_g + 0.2 t + beta_g D_t + 0.5 D_{t-1} + e_gt`` with heterogeneous
``beta_g ~ N(1.5, 0.5^2)`` and heteroskedastic ``e_gt ~ N(0, (0.5 + 0.5 u_g)^2)``. The
actual-versus-status-quo effects are ``DID_1 = 1.5`` (current dose), ``DID_2 = 2.0``
(current + lag), ``DID_3 = 0.5`` (lag only, treatment already off); placebos are 0; the
average total effect per unit of treatment is ``(1.5 + 2.0 + 0.5) / (1 + 1 + 0) = 2.0``
(equal numbers of switchers at each horizon). Parallel trends hold, so the estimators are
unbiased. The variance demeans switchers within cohorts (same switch date) and is
conservative only through cohort-level heterogeneity, absent here (beta_g independent of
the switch date), so coverage should be close to nominal.

Clustered variant (seed 20261206, 500 draws): 40 clusters of 10 units with a cluster x
period shock ``N(0, 0.5^2)`` and switch dates drawn per cluster; intervals clustered.

Tolerances: MC SE of a coverage near 0.95 is 0.0069 (1,000 draws) and 0.0097 (500); the
band 0.925-0.975 is 3.6 and 2.6 MC SEs (the clustered variant is also allowed to be
slightly below nominal with 40 clusters: band 0.91-0.98). Bias: each mean estimate is
within 4 MC SEs of the truth (MC SE = sd of the estimates / sqrt(draws)).
"""

from __future__ import annotations

import numpy as np

from impacteval.did.dcdh_numerics import average_total_effect, horizon_fit, switching_sample

TRUTH = {1: 1.5, 2: 2.0, 3: 0.5, -1: 0.0, -2: 0.0}
HORIZONS = (-2, -1, 1, 2, 3)


def _draw(rng: np.random.Generator, clustered: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_units, n_periods = 400, 7
    cluster = np.repeat(np.arange(40), 10)
    choice = np.array([2, 3, 4, 99])
    start = rng.choice(choice, 40)[cluster] if clustered else rng.choice(choice, n_units)
    t = np.arange(n_periods)
    d = ((t[None, :] >= start[:, None]) & (t[None, :] < start[:, None] + 2)).astype(float)
    lag = np.c_[np.zeros((n_units, 1)), d[:, :-1]]
    beta = rng.normal(1.5, 0.5, n_units)[:, None]
    scale = 0.5 + 0.5 * rng.random(n_units)[:, None]
    y = rng.normal(size=(n_units, 1)) + 0.2 * t + beta * d + 0.5 * lag
    y = y + scale * rng.normal(size=d.shape)
    if clustered:
        y = y + rng.normal(scale=0.5, size=(40, n_periods))[cluster]
    return y, d, cluster


def _simulate(seed: int, draws: int, clustered: bool) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and SEs, one row per draw, columns HORIZONS + the average total effect."""
    rng = np.random.default_rng(seed)
    est = np.empty((draws, len(HORIZONS) + 1))
    se = np.empty_like(est)
    for r in range(draws):
        y, d, cluster = _draw(rng, clustered)
        s = switching_sample(y, d, np.ones(d.shape, dtype=bool), "")
        clusters = cluster[s.keep] if clustered else None
        fits = [
            horizon_fit(s, abs(h), placebo=h < 0, switchers="", clusters=clusters) for h in HORIZONS
        ]
        post = [f for h, f in zip(HORIZONS, fits, strict=True) if h > 0]
        ate, ate_psi = average_total_effect(
            np.array([f.estimate for f in post]),
            np.column_stack([f.influence for f in post]),
            np.array([f.n_switchers for f in post], dtype=float),
            np.array([f.delta_d for f in post]),
        )
        psi = np.column_stack([*(f.influence for f in fits), ate_psi])
        if clustered:
            sums = np.zeros((40, psi.shape[1]))
            np.add.at(sums, clusters, psi)
            psi = sums
        est[r] = [*(f.estimate for f in fits), ate]
        se[r] = np.sqrt((psi**2).sum(axis=0)) / s.y.shape[0]
    return est, se


def _check(est: np.ndarray, se: np.ndarray, band: tuple[float, float]) -> None:
    truth = np.array([*(TRUTH[h] for h in HORIZONS), 2.0])
    covered = np.abs(est - truth) <= 1.959964 * se
    coverage = covered.mean(axis=0)
    assert np.all((coverage >= band[0]) & (coverage <= band[1])), coverage
    mc_se = est.std(axis=0, ddof=1) / np.sqrt(est.shape[0])
    assert np.all(np.abs(est.mean(axis=0) - truth) <= 4 * mc_se), (est.mean(axis=0), mc_se)
    # the analytic SE tracks the sampling spread (within 10%)
    ratio = se.mean(axis=0) / est.std(axis=0, ddof=1)
    assert np.all((ratio > 0.9) & (ratio < 1.1)), ratio


def test_coverage_unclustered() -> None:
    est, se = _simulate(20261205, 1000, clustered=False)
    _check(est, se, (0.925, 0.975))


def test_coverage_clustered() -> None:
    est, se = _simulate(20261206, 500, clustered=True)
    _check(est, se, (0.91, 0.98))
