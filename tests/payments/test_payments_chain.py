"""The paid statistic's standard error: delta method against simulation and a bootstrap.

Tolerances. With n independent draws the relative Monte Carlo error of a standard
deviation is about 1 / sqrt(2 n): 0.16% for n = 200,000 and 1.6% for B = 2,000 bootstrap
replicates. The delta method is first order; its relative error is of the order of the
squared coefficient of variation of the comparison mean (here under 0.2%). The 2% and 6%
tolerances are therefore more than three Monte Carlo standard errors plus the
approximation error, and the seeded results are not fragile.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from impacteval.exceptions import DataValidationError
from impacteval.payments import Contract, payment_risk
from impacteval.payments.chain import paid_statistics, relative_reduction_se

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
SEED = 20261204


def test_delta_method_matches_simulated_sd_of_one_minus_t_over_c() -> None:
    # T and C independent normal means (disjoint samples), values like the demo's cohort 1
    rng = np.random.default_rng(SEED)
    n = 200_000
    mu_t, sd_t, mu_c, sd_c = 107.96, 5.0, 131.56, 7.5
    t = rng.normal(mu_t, sd_t, n)
    c = rng.normal(mu_c, sd_c, n)
    simulated = float(np.std(1 - t / c, ddof=1))
    se_e = math.hypot(sd_t, sd_c)
    delta = relative_reduction_se(mu_t - mu_c, se_e, mu_t, treated_se=sd_t)
    assert delta == pytest.approx(simulated, rel=0.02)
    # holding T known instead ignores sd_t's own contribution: a different (smaller) number
    assert relative_reduction_se(mu_t - mu_c, sd_c, mu_t) == pytest.approx(
        float(np.std(1 - mu_t / c, ddof=1)), rel=0.02
    )


def test_delta_method_matches_a_bootstrap_of_two_samples_of_counts() -> None:
    rng = np.random.default_rng(SEED + 1)
    treated = rng.poisson(1.1, 600).astype(float)
    control = rng.poisson(1.35, 2400).astype(float)
    e = treated.mean() - control.mean()
    se_e = math.sqrt(treated.var(ddof=1) / treated.size + control.var(ddof=1) / control.size)
    se_t = treated.std(ddof=1) / math.sqrt(treated.size)
    delta = relative_reduction_se(e, se_e, treated.mean(), treated_se=se_t)
    boot = []
    for _ in range(2000):
        bt = rng.choice(treated, treated.size).mean()
        bc = rng.choice(control, control.size).mean()
        boot.append(1 - bt / bc)
    assert delta == pytest.approx(float(np.std(boot, ddof=1)), rel=0.06)


def test_paid_statistics_of_peterborough_blend_and_intervals() -> None:
    contract = Contract.from_toml(CONTRACTS / "peterborough.toml")
    inputs = {
        "cohort_1": {
            "estimate": -20.0,
            "std_error": 8.0,
            "treated_rate": 100.0,
            "control_rate": 120.0,
            "units": 300,
        },
        "cohort_2": {
            "estimate": -10.0,
            "std_error": 6.0,
            "treated_rate": 90.0,
            "control_rate": 100.0,
            "units": 100,
        },
    }
    stats_ = paid_statistics(contract, inputs, level=0.95)
    c1, c2, pooled = stats_["cohort_1"], stats_["cohort_2"], stats_["pooled"]
    assert c1.value == pytest.approx(1 - 100 / 120)
    assert c1.std_error == pytest.approx(100 * 8 / 120**2)  # T se / C^2 (T known)
    assert c1.ci_lower == pytest.approx(c1.value - 1.959964 * c1.std_error, rel=1e-6)
    # size-weighted blend (300 : 100) of independent cohorts
    assert pooled.value == pytest.approx(0.75 * c1.value + 0.25 * c2.value)
    assert pooled.std_error == pytest.approx(
        math.sqrt(0.75**2 * c1.std_error**2 + 0.25**2 * c2.std_error**2)
    )


def test_bad_values_are_refused() -> None:
    with pytest.raises(DataValidationError, match="comparison level"):
        relative_reduction_se(10.0, 1.0, 5.0)
    with pytest.raises(DataValidationError, match="`std_error`"):
        relative_reduction_se(-1.0, -1.0, 5.0)


RISK_INPUTS = {
    "peterborough.toml": {
        "cohort_1": {
            "estimate": -23.6,
            "std_error": 8.8,
            "treated_rate": 108.0,
            "control_rate": 131.6,
            "units": 339,
        },
        "cohort_2": {
            "estimate": -18.0,
            "std_error": 8.9,
            "treated_rate": 104.0,
            "control_rate": 122.0,
            "units": 328,
        },
    },
    "educate_girls.toml": {
        "learning": {"estimate": 8940.0, "std_error": 1500.0},
        "enrolment": 0.92,
    },
    "rikers.toml": {"bed_days_reduction": {"estimate": 0.12, "std_error": 0.05}},
    "denver.toml": {
        "days_housed_a": 258858,
        "days_housed_b": 41070,
        "jail_days": {"estimate": -40.0, "std_error": 9.0, "units": 1276},
    },
    "cameroon_kmc.toml": {"kmc_babies": 3100},
    "dwp_rate_card.toml": {
        "round_1_participants": {"p1": {"improved_attendance": 1}},
        "round_2_participants": {"q1": {"improved_attendance": 1}},
    },
}


@pytest.mark.parametrize("name", sorted(p.name for p in CONTRACTS.glob("*.toml")))
def test_payment_risk_is_defined_for_every_shipped_contract(name: str) -> None:
    contract = Contract.from_toml(CONTRACTS / name)
    risk = payment_risk(contract, RISK_INPUTS[name], n_draws=200, rng=SEED, curve_draws=20)
    assert 0.0 <= risk.p_pay_null <= 1.0
    assert 0.0 <= risk.p_fail_at_target <= 1.0
    assert not risk.curve.isna().any().any(), risk.curve
    assert math.isfinite(risk.expected_payment)
    assert all(math.isfinite(t) for t in risk.targets.values())


def test_risk_refuses_an_estimate_without_standard_error() -> None:
    contract = Contract.from_toml(CONTRACTS / "rikers.toml")
    with pytest.raises(DataValidationError, match="needs the estimate's standard error"):
        payment_risk(contract, {"bed_days_reduction": 0.12}, n_draws=200, rng=SEED)


def test_peterborough_null_risk_uses_trigger_levels_as_targets() -> None:
    contract = Contract.from_toml(CONTRACTS / "peterborough.toml")
    risk = payment_risk(
        contract, RISK_INPUTS["peterborough.toml"], n_draws=400, rng=SEED, curve_draws=50
    )
    # target of a cohort = the raw estimate at which its 10% trigger is met: -0.10 x C
    assert risk.targets["cohort_1"] == pytest.approx(-0.10 * 131.6)
    assert risk.targets["cohort_2"] == pytest.approx(-0.10 * 122.0)
