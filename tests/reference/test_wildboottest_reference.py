"""Wild cluster bootstrap against wildboottest 0.3.2 (type "11", the engine of pyfixest).

Reference values: tests/reference/data/wildboottest_reference.json, written by
tests/reference/peers/generate_wildboottest.py in a separate venv (wildboottest is not a
dependency). Simulated data: tests/reference/data/wild_sim_clusters.csv (same generator).

Tolerances and why:

* Full enumeration (Rademacher, 2^G < B): no randomness, the same closed forms in double
  precision, so bootstrap t statistics agree draw by draw to 1e-9 and the p-value exactly,
  once ties are handled alike. The peer counts ``|t*| > |t|`` in floating point; under WCR
  the sign vectors +-1 give ``|t*| = |t|`` exactly in exact arithmetic, and rounding decides
  whether the peer counts them (its p-value can exceed ours by ``n_ties / 2^G``). We count
  no ties; ``p_value_no_ties`` is the peer's own ``t_boot`` recounted the same way.
* Random draws (Webb on simulated data and dib_learning, Rademacher on mpdta): ours and
  the peer's are independent Monte Carlo estimates with B = 9999 each, so their difference
  has standard deviation ``sqrt(p (1 - p) (1/B + 1/B))``; the tolerance is 4 of those
  (a seeded test, so it passes or fails deterministically; 4 SD would be exceeded by chance
  with probability 6e-5) plus 1/B for the granularity. The ``t`` statistic is not random:
  1e-8 relative.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import MissingDataWarning, SmallSampleWarning
from impacteval.inference import wild_bootstrap_regression, wild_cluster_bootstrap

DATA = Path(__file__).resolve().parent / "data"
REF = json.loads((DATA / "wildboottest_reference.json").read_text())
CASES = {c["id"]: c for c in REF["cases"]}
SIM = pd.read_csv(DATA / "wild_sim_clusters.csv")
ENUMERATED = [cid for cid, c in CASES.items() if c["enumerated"]]


def _mc_tolerance(p: float, b1: int, b2: int) -> float:
    return 4.0 * math.sqrt(max(p * (1.0 - p), 1.0 / b1) * (1.0 / b1 + 1.0 / b2)) + 1.0 / b1


def _sim_call(case: dict, **kwargs: object) -> ie.inference.WildBootstrapResult:
    sub = SIM[SIM["design"] == case["design"]]
    x = pd.DataFrame({"(Intercept)": 1.0, "treat": sub["treat"], "x": sub["x"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)  # G = 8: coarse-p warning
        return wild_cluster_bootstrap(
            x, sub["y"], sub["cluster"], coef="treat", null=case["null"], **kwargs
        )


@pytest.mark.parametrize("case_id", ENUMERATED)
def test_enumeration_matches_peer_draw_by_draw(case_id: str) -> None:
    case = CASES[case_id]
    res = _sim_call(case, impose_null=case["impose_null"], weights_type="rademacher", B=case["B"])
    assert res.enumerated
    assert res.n_draws == case["n_draws"] == 2**res.n_clusters
    assert res.t_stat == pytest.approx(case["t_stat"], rel=1e-10)
    np.testing.assert_allclose(
        res.bootstrap_t[:: case["t_boot_step"]], case["t_boot"], rtol=0, atol=1e-9
    )
    assert res.p_value_symmetric == pytest.approx(case["p_value_no_ties"], abs=1e-12)
    tie_share = case["n_ties"] / case["n_draws"]
    assert 0.0 <= case["p_value_two_tailed"] - res.p_value_symmetric <= tie_share + 1e-12
    assert abs(res.p_value_equal_tailed - case["p_value_equal_tailed"]) <= 2 * tie_share + 1e-12
    if not case["impose_null"]:  # WCU has no built-in ties: exact agreement
        assert case["n_ties"] == 0
        assert res.p_value_symmetric == pytest.approx(case["p_value_two_tailed"], abs=1e-12)


@pytest.mark.parametrize("case_id", ["sim_G8_WCR_webb", "sim_G12_WCR_webb"])
def test_webb_random_draws_within_monte_carlo_error(case_id: str) -> None:
    case = CASES[case_id]
    res = _sim_call(case, weights_type="webb", B=case["B"], rng=20261205)
    assert not res.enumerated and res.n_draws == case["n_draws"]
    assert res.t_stat == pytest.approx(case["t_stat"], rel=1e-10)
    tol = _mc_tolerance(case["p_value_two_tailed"], res.n_draws, case["n_draws"])
    assert abs(res.p_value_symmetric - case["p_value_two_tailed"]) <= tol
    tol_eq = _mc_tolerance(case["p_value_equal_tailed"], res.n_draws, case["n_draws"])
    assert abs(res.p_value_equal_tailed - case["p_value_equal_tailed"]) <= tol_eq


def test_mpdta_twfe_fixed_effects_path() -> None:
    """County effects absorbed (nested in the county clusters), year effects as dummies."""
    case = CASES["mpdta_twfe"]
    d = ie.datasets.load("mpdta")
    d["treat_post"] = ((d["first_treat"] > 0) & (d["year"] >= d["first_treat"])).astype(float)
    res = wild_bootstrap_regression(
        d,
        outcome="lemp",
        treatment="treat_post",
        cluster="countyreal",
        fixed_effects=["countyreal", "year"],
        B=case["B"],
        rng=11,
    )
    assert (res.n_obs, res.n_clusters) == (case["n_obs"], case["n_clusters"])
    # the peer's CR1 factor counts its k_peer columns; ours also counts the 500 absorbed
    # county effects (as the dummy regression does): t differs by sqrt(ssc_peer / ssc_ours)
    g, n = case["n_clusters"], case["n_obs"]
    ssc_ours = g / (g - 1) * (n - 1) / (n - case["k_peer"] - case["n_absorbed"])
    assert res.small_sample_factor == pytest.approx(ssc_ours, rel=1e-12)
    expected_t = case["t_stat"] * math.sqrt(case["ssc"] / ssc_ours)
    assert res.t_stat == pytest.approx(expected_t, rel=1e-8)
    tol = _mc_tolerance(case["p_value_two_tailed"], res.n_draws, case["n_draws"])
    assert abs(res.p_value_symmetric - case["p_value_two_tailed"]) <= tol


def test_dib_learning_stratum_dummies_webb() -> None:
    case = CASES["dib_learning_webb"]
    d = ie.datasets.load("dib_learning")
    with pytest.warns(MissingDataWarning):
        res = wild_bootstrap_regression(
            d,
            outcome="endline_level",
            treatment="treatment",
            covariates=["baseline_level"],
            cluster="village",
            fixed_effects="stratum",  # not nested in villages: enters as dummies
            null=case["null"],
            weights_type="webb",
            B=case["B"],
            rng=5,
        )
    assert (res.n_obs, res.n_clusters) == (case["n_obs"], case["n_clusters"])
    assert res.small_sample_factor == pytest.approx(case["ssc"], rel=1e-12)
    assert res.t_stat == pytest.approx(case["t_stat"], rel=1e-8)
    tol = _mc_tolerance(case["p_value_two_tailed"], res.n_draws, case["n_draws"])
    assert abs(res.p_value_symmetric - case["p_value_two_tailed"]) <= tol
