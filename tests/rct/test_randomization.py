"""Randomisation inference: exact enumeration, design-respecting draws, seeds, inversion."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

import impacteval as ie


def _brute_force_p(y: np.ndarray, z: np.ndarray) -> float:
    """Two-sided p-value over every complete randomisation (independent implementation)."""
    n, n1 = y.size, int(z.sum())
    observed = y[z == 1].mean() - y[z == 0].mean()
    stats = []
    for treated in itertools.combinations(range(n), n1):
        zz = np.zeros(n)
        zz[list(treated)] = 1
        stats.append(y[zz == 1].mean() - y[zz == 0].mean())
    return float(np.mean(np.abs(stats) >= abs(observed) - 1e-12))


def test_exact_enumeration_matches_brute_force() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(size=10) + np.r_[np.ones(5), np.zeros(5)]
    z = np.r_[np.ones(5), np.zeros(5)]
    res = ie.rct.randomization_inference(pd.DataFrame({"y": y, "z": z}), outcome="y", treatment="z")
    assert res.details["exact"] and res.details["n_assignments"] == math.comb(10, 5)
    assert res.p_value == pytest.approx(_brute_force_p(y, z), abs=1e-15)
    assert res.details["distribution"].size == 252


def test_blocked_enumeration_counts_and_respects_blocks() -> None:
    data = pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 9.0, 2.0, 8.0],
            "z": [0, 1, 0, 1, 0, 1, 0, 1, 0, 1],
            "b": [1, 1, 1, 1, 2, 2, 2, 2, 3, 3],
        }
    )
    res = ie.rct.randomization_inference(data, outcome="y", treatment="z", blocks="b")
    assert res.details["n_assignments"] == math.comb(4, 2) * math.comb(4, 2) * 2
    with pytest.warns(ie.exceptions.ImpactEvalWarning, match="matched-pair variance"):
        dim = ie.rct.difference_in_means(data, outcome="y", treatment="z", blocks="b")
    assert res.estimate == pytest.approx(dim.estimate, rel=1e-12)
    # the observed assignment is one of the 72; the smallest attainable p-value is 1/72
    assert res.p_value >= 1 / 72


def test_cluster_randomisation_keeps_clusters_whole() -> None:
    rng = np.random.default_rng(1)
    cl = np.repeat(np.arange(8), 3)
    z = np.repeat(np.r_[np.ones(4), np.zeros(4)], 3)
    data = pd.DataFrame({"y": rng.normal(size=24) + z, "z": z, "g": cl})
    res = ie.rct.randomization_inference(data, outcome="y", treatment="z", cluster="g")
    assert res.details["n_assignments"] == math.comb(8, 4)  # clusters, not 24 units
    # brute force at cluster level: unit-level statistic with whole clusters assigned
    observed = data.loc[z == 1, "y"].mean() - data.loc[z == 0, "y"].mean()
    stats = []
    for treated in itertools.combinations(range(8), 4):
        zz = np.isin(cl, treated)
        stats.append(data["y"][zz].mean() - data["y"][~zz].mean())
    assert res.p_value == pytest.approx(np.mean(np.abs(stats) >= abs(observed) - 1e-12))


def test_monte_carlo_is_seeded_and_close_to_exact() -> None:
    rng = np.random.default_rng(9)
    z = np.r_[np.ones(9), np.zeros(9)]
    data = pd.DataFrame({"y": rng.normal(size=18) + 0.8 * z, "z": z})
    exact = ie.rct.randomization_inference(data, outcome="y", treatment="z", n_permutations=50_000)
    assert exact.details["exact"]  # C(18, 9) = 48,620 assignments
    a = ie.rct.randomization_inference(
        data, outcome="y", treatment="z", n_permutations=4_000, rng=123
    )
    b = ie.rct.randomization_inference(
        data, outcome="y", treatment="z", n_permutations=4_000, rng=123
    )
    c = ie.rct.randomization_inference(
        data, outcome="y", treatment="z", n_permutations=4_000, rng=124
    )
    assert not a.details["exact"] and a.p_value == b.p_value
    assert a.provenance.seed == 123
    assert not np.array_equal(a.details["distribution"], c.details["distribution"])
    # 4,000 draws: Monte Carlo SE of p <= sqrt(0.25/4000) = 0.0079; allow 4 SE
    assert a.p_value == pytest.approx(exact.p_value, abs=4 * 0.0079)


def test_inverted_interval_contains_exactly_the_accepted_effects() -> None:
    rng = np.random.default_rng(2)
    z = np.r_[np.ones(20), np.zeros(20)]
    y = rng.normal(size=40) + 1.0 * z
    data = pd.DataFrame({"y": y, "z": z})
    res = ie.rct.randomization_inference(
        data,
        outcome="y",
        treatment="z",
        n_permutations=2_000,
        rng=5,
        confidence_interval=True,
        level=0.9,
    )
    dist_y = res.details["distribution"]
    inside, outside = res.ci_lower + 1e-3, res.ci_lower - 1e-2
    # re-test shifted nulls directly: H0 tau means y - tau z has no effect
    for tau, accepted in ((inside, True), (outside, False)):
        shifted = ie.rct.randomization_inference(
            data.assign(y=y - tau * z), outcome="y", treatment="z", n_permutations=2_000, rng=5
        )
        assert (shifted.p_value > 0.1) is accepted
    assert dist_y.size == 2_000


def test_progress_bar_runs(capsys: pytest.CaptureFixture[str]) -> None:
    data = pd.DataFrame({"y": np.arange(30.0), "z": np.tile([0.0, 1.0], 15)})
    res = ie.rct.randomization_inference(
        data, outcome="y", treatment="z", n_permutations=5_000, rng=0, progress=True
    )
    assert 0 < res.p_value <= 1
