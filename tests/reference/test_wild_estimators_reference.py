"""``rct.regression`` and ``did.twfe`` with ``inference="wild"`` against wildboottest 0.3.2.

Few clusters, where the wild cluster bootstrap matters:

* ``rct.regression(y ~ treat + x, adjustment="additive", cluster=...)`` on the simulated
  G = 8 and G = 12 designs of tests/reference/data/wild_sim_clusters.csv, against the
  ``sim_*_null0`` and ``sim_*_webb`` cases of wildboottest_reference.json (generator:
  tests/reference/peers/generate_wildboottest.py; same design: intercept, treat, x).
* ``did.twfe(y ~ treat_post + x | county + year, cluster=state)`` on a 10-state panel
  (tests/reference/data/wild_twfe_few_clusters.csv), against
  wildboottest_twfe_reference.json (generator:
  tests/reference/peers/generate_wildboottest_estimators.py; the peer runs the full
  dummy-variable regression, so its CR1 factor counts every fixed effect, as ours does).

Tolerances and why: with Rademacher weights and 2^G <= B both sides enumerate every sign
vector, so there is no randomness: the ``t`` statistic agrees to 1e-8 relative (double
precision, different summation order) and the p-value exactly, counted without ties as
impacteval does (``p_value_no_ties``: the peer's own draws recounted; see the generator).
With Webb weights the two are independent Monte Carlo estimates with B = 9999 each: the
difference has standard deviation ``sqrt(p (1 - p) (2 / B))``; the tolerance is 4 of those
(exceeded by chance with probability 6e-5; the test is seeded, so it passes or fails
deterministically) plus 1/B for the granularity.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import SmallSampleWarning

DATA = Path(__file__).resolve().parent / "data"
SIM_CASES = {
    c["id"]: c for c in json.loads((DATA / "wildboottest_reference.json").read_text())["cases"]
}
TWFE_CASES = {
    c["id"]: c for c in json.loads((DATA / "wildboottest_twfe_reference.json").read_text())["cases"]
}
SIM = pd.read_csv(DATA / "wild_sim_clusters.csv")
PANEL = pd.read_csv(DATA / "wild_twfe_few_clusters.csv")


def _mc_tolerance(p: float, b1: int, b2: int) -> float:
    return 4.0 * math.sqrt(max(p * (1.0 - p), 1.0 / b1) * (1.0 / b1 + 1.0 / b2)) + 1.0 / b1


def _options(case: dict[str, Any]) -> dict[str, Any]:
    return {"impose_null": case["impose_null"], "weights_type": case["weights"], "B": case["B"]}


def _regression(case: dict[str, Any], rng: int) -> ie.EffectEstimate:
    sub = SIM[SIM["design"] == case["design"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)  # few clusters: coarse p-values
        return ie.rct.regression(
            sub, outcome="y", treatment="treat", covariates=["x"], adjustment="additive",
            cluster="cluster", inference="wild", wild_bootstrap=_options(case), rng=rng,
        )  # fmt: skip


def _twfe(case: dict[str, Any], rng: int) -> ie.EffectEstimate:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)  # 3 treated clusters of 10
        return ie.did.twfe(
            PANEL, outcome="y", treatment="treat_post", unit="county", time="year",
            covariates=["x"], cluster="state", inference="wild",
            wild_bootstrap=_options(case), rng=rng,
        )  # fmt: skip


def _check_exact(res: ie.EffectEstimate, case: dict[str, Any]) -> None:
    boot = res.details["wild_bootstrap"]
    assert boot["enumerated"] and boot["n_draws"] == case["n_draws"] == 2**res.n_clusters
    assert boot["t_stat"] == pytest.approx(case["t_stat"], rel=1e-8)
    assert res.p_value == pytest.approx(case["p_value_no_ties"], abs=1e-12)


def _check_monte_carlo(res: ie.EffectEstimate, case: dict[str, Any]) -> None:
    boot = res.details["wild_bootstrap"]
    assert not boot["enumerated"] and boot["n_draws"] == case["n_draws"]
    assert boot["t_stat"] == pytest.approx(case["t_stat"], rel=1e-8)
    tol = _mc_tolerance(case["p_value_two_tailed"], boot["n_draws"], case["n_draws"])
    assert abs(res.p_value - case["p_value_two_tailed"]) <= tol


@pytest.mark.parametrize(
    "case_id",
    ["sim_G8_WCR_null0", "sim_G8_WCU_null0", "sim_G12_WCR_null0", "sim_G12_WCU_null0"],
)
def test_regression_enumerated_matches_peer(case_id: str) -> None:
    case = SIM_CASES[case_id]
    res = _regression(case, rng=0)
    assert res.n_clusters == int(case["design"][1:])
    _check_exact(res, case)


@pytest.mark.parametrize("case_id", ["sim_G8_WCR_webb", "sim_G12_WCR_webb"])
def test_regression_webb_within_monte_carlo_error(case_id: str) -> None:
    _check_monte_carlo(_regression(SIM_CASES[case_id], rng=20261205), SIM_CASES[case_id])


@pytest.mark.parametrize("case_id", ["twfe_G10_WCR_rademacher", "twfe_G10_WCU_rademacher"])
def test_twfe_enumerated_matches_peer(case_id: str) -> None:
    case = TWFE_CASES[case_id]
    res = _twfe(case, rng=0)
    assert (res.n_obs, res.n_clusters) == (case["n_obs"], case["n_clusters"])
    _check_exact(res, case)


def test_twfe_webb_within_monte_carlo_error() -> None:
    case = TWFE_CASES["twfe_G10_WCR_webb"]
    _check_monte_carlo(_twfe(case, rng=7), case)
