"""Monte Carlo coverage of the analytic 95% intervals of ``att_gt`` and its aggregations.

Design (seed 20260117, N_SIMS draws): 250 units, periods 1..5, cohorts 3, 4, 5 and never
treated drawn with probabilities 0.2 / 0.2 / 0.2 / 0.4 (so cohort sizes, hence the
aggregation weights, are random); unit effects correlated with the cohort (selection on
levels, which DiD removes), a common period effect, heteroskedastic AR(1) errors, and
heterogeneous effects ``tau_it = theta_g (1 + t - g) + eta_i`` with ``theta_g`` = 0.5, 0.3,
0.1 and ``eta_i ~ N(0, 0.5^2)``. Parallel trends hold, so the true ATT(g, t) is
``theta_g (1 + t - g)`` after treatment and 0 before; the true "simple" aggregate is the
population-share (equal shares) average of the post cells.

N_SIMS = 1,000 (the issue asks for >= 1,000). Tolerance: the Monte Carlo SE of a single
coverage near 0.95 is sqrt(0.95 * 0.05 / 1000) = 0.0069; the accepted band 0.925-0.975 is
about 3.6 MC SEs each side, so a correct interval fails with probability ~3e-4, while a
90% or 99% interval fails. The pooled cell coverage (12 cells per draw) is more precise;
the same band is used for it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from impacteval.did.att_gt import att_gt

N_SIMS = 1_000
N_UNITS = 250
PERIODS = np.arange(1, 6)
THETA = {3: 0.5, 4: 0.3, 5: 0.1}


def _draw(rng: np.random.Generator) -> pd.DataFrame:
    cohort = rng.choice([3, 4, 5, 0], size=N_UNITS, p=[0.2, 0.2, 0.2, 0.4])
    alpha = rng.normal(0.0, 1.0, N_UNITS) + 0.3 * (cohort > 0) + 0.1 * cohort
    eta = rng.normal(0.0, 0.5, N_UNITS)
    scale = 0.5 + 0.5 * rng.random(N_UNITS)
    eps = np.empty((N_UNITS, PERIODS.size))
    eps[:, 0] = rng.normal(size=N_UNITS)
    for j in range(1, PERIODS.size):
        eps[:, j] = 0.5 * eps[:, j - 1] + rng.normal(size=N_UNITS) * np.sqrt(0.75)
    theta = np.array([THETA.get(int(c), 0.0) for c in cohort])
    event = PERIODS[None, :] - cohort[:, None]
    treated = (cohort[:, None] > 0) & (event >= 0)
    tau = np.where(treated, theta[:, None] * (1 + event) + eta[:, None], 0.0)
    y = alpha[:, None] + 0.2 * PERIODS[None, :] + scale[:, None] * eps + tau
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(N_UNITS), PERIODS.size).astype(float),
            "t": np.tile(PERIODS, N_UNITS).astype(float),
            "g": np.repeat(cohort, PERIODS.size).astype(float),
            "y": y.ravel(),
        }
    )


def test_analytic_interval_coverage_staggered_panels() -> None:
    rng = np.random.default_rng(20260117)
    cell_hits: list[np.ndarray] = []
    simple_hits: list[bool] = []
    dynamic_hits: list[bool] = []
    post_cells = [(g, t) for g in THETA for t in PERIODS if t >= g]
    true_simple = float(np.mean([THETA[g] * (1 + t - g) for g, t in post_cells]))
    true_dynamic = float(
        np.mean(
            [
                np.mean([THETA[g] * (1 + e) for g in THETA if g + e <= PERIODS.max()])
                for e in range(0, 3)
            ]
        )
    )
    for _ in range(N_SIMS):
        data = _draw(rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = att_gt(data, outcome="y", unit="id", time="t", cohort="g", method="reg")
        tab = res.table
        truth = np.where(
            tab["time"] >= tab["group"],
            tab["group"].map(THETA) * (1 + tab["time"] - tab["group"]),
            0.0,
        )
        cell_hits.append(((tab["ci_lower"] <= truth) & (truth <= tab["ci_upper"])).to_numpy())
        simple = res.overall
        assert simple is not None
        simple_hits.append(simple.ci_lower <= true_simple <= simple.ci_upper)
        dyn = res.aggregate("dynamic").overall
        assert dyn is not None
        dynamic_hits.append(dyn.ci_lower <= true_dynamic <= dyn.ci_upper)
    cells = float(np.mean(np.concatenate(cell_hits)))
    assert 0.925 <= cells <= 0.975, cells
    assert 0.925 <= float(np.mean(simple_hits)) <= 0.975, np.mean(simple_hits)
    assert 0.925 <= float(np.mean(dynamic_hits)) <= 0.975, np.mean(dynamic_hits)
