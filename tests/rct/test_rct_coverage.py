"""Monte Carlo coverage of 95% intervals for the randomised-trial estimators.

Each test draws N_SIMS = 2,000 trials from a super-population with a known average effect
(seeded: the seed is in each test). With 2,000 draws the Monte Carlo standard error of a
coverage near 0.95 is sqrt(0.95 * 0.05 / 2000) = 0.0049, so the accepted band 0.93-0.97 is
about four Monte Carlo standard errors wide on each side: a correct interval fails with
probability below 1e-4, while an interval with 90% or 99% true coverage fails for sure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import impacteval as ie

N_SIMS = 2_000
TRUE_EFFECT = 1.0


def _coverage(hits: list[bool]) -> float:
    return float(np.mean(hits))


def test_neyman_interval_coverage() -> None:
    rng = np.random.default_rng(20261126)
    hits = []
    for _ in range(N_SIMS):
        n1, n0 = 40, 60  # unequal arms and unequal variances: Welch df matter
        y1 = TRUE_EFFECT + rng.normal(0.0, 2.0, n1)
        y0 = rng.normal(0.0, 1.0, n0)
        data = pd.DataFrame({"y": np.r_[y1, y0], "z": np.r_[np.ones(n1), np.zeros(n0)]})
        res = ie.rct.difference_in_means(data, outcome="y", treatment="z")
        hits.append(res.ci_lower <= TRUE_EFFECT <= res.ci_upper)
    assert 0.93 <= _coverage(hits) <= 0.97


def test_lin_hc2_interval_coverage() -> None:
    rng = np.random.default_rng(7)
    hits = []
    n = 200
    for _ in range(N_SIMS):
        x = rng.normal(size=n)
        z = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)])
        # heterogeneous effect 1 + 0.5 x has super-population mean TRUE_EFFECT (E x = 0)
        y = 0.5 + 2.0 * x + z * (TRUE_EFFECT + 0.5 * x) + rng.normal(0, 1 + 0.5 * np.abs(x))
        data = pd.DataFrame({"y": y, "z": z, "x": x})
        res = ie.rct.regression(data, outcome="y", treatment="z", covariates=["x"])
        hits.append(res.ci_lower <= TRUE_EFFECT <= res.ci_upper)
    assert 0.93 <= _coverage(hits) <= 0.97


def test_cr2_interval_coverage_with_20_clusters() -> None:
    rng = np.random.default_rng(99)
    hits = []
    n_clusters = 20
    for _ in range(N_SIMS):
        sizes = rng.integers(5, 30, size=n_clusters)
        treated_clusters = rng.permutation(np.r_[np.ones(10), np.zeros(10)])
        cluster = np.repeat(np.arange(n_clusters), sizes)
        z = treated_clusters[cluster]
        u = rng.normal(0.0, 1.0, n_clusters)[cluster]  # intra-cluster correlation ~0.5
        y = TRUE_EFFECT * z + u + rng.normal(0.0, 1.0, cluster.size)
        data = pd.DataFrame({"y": y, "z": z, "g": cluster})
        res = ie.rct.regression(data, outcome="y", treatment="z", cluster="g")
        hits.append(res.ci_lower <= TRUE_EFFECT <= res.ci_upper)
    assert 0.93 <= _coverage(hits) <= 0.97
