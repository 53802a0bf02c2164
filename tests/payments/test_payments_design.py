"""``design()``: closed forms of a one-threshold contract, simulation of a tiered one.

Closed-form references are computed here from the normal distribution (scipy), not by the
code under test: SE = sd * sqrt(1/(n/2) + 1/(n/2)) = 2 sd / sqrt(n); P(pay | 0) =
1 - Phi(thr / se); P(no pay | target) = Phi((thr - target) / se).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from impacteval.exceptions import DataValidationError
from impacteval.payments import Contract
from impacteval.payments.design import design, required_sample_size, solve_threshold
from impacteval.reporting.cli import main

ONE = """
[contract]
name = "One"
currency = "USD"
[metrics.effect]
[payments.pay]
rule = "tiers"
metric = "effect"
tiers = [{from = 0.1, amount = "1000"}]
"""

TIERED = """
[contract]
name = "Tiered"
currency = "USD"
[metrics.effect]
[payments.low]
rule = "tiers"
metric = "effect"
tiers = [{from = 0.1, to = 0.2, amount = "500"}, {from = 0.2, amount = "1000"}]
[payments.fee]
rule = "fixed"
amount = "100"
outcome = false
"""


def test_one_threshold_contract_matches_closed_forms_to_1e6() -> None:
    d = design(Contract.from_toml(ONE), n=400, sd=1.0, targets={"effect": 0.25}, n_draws=200)
    se = 2 * 1.0 / math.sqrt(400)
    row = d.lines.set_index("component").loc["pay"]
    assert row["method"] == "closed form"
    assert d.std_errors["effect"] == pytest.approx(se, rel=1e-12)
    assert row["p_pay_null"] == pytest.approx(stats.norm.sf(0.1 / se), abs=1e-6)
    assert row["p_no_pay_target"] == pytest.approx(stats.norm.cdf((0.1 - 0.25) / se), abs=1e-6)


def test_clustered_design_inflates_the_standard_error_by_the_design_effect() -> None:
    d = design(
        Contract.from_toml(ONE),
        n=400,
        sd=1.0,
        icc=0.05,
        cluster_size=21,
        targets={"effect": 0.25},
        n_draws=200,
    )
    deff = 1 + 20 * 0.05
    assert d.std_errors["effect"] == pytest.approx(0.1 * math.sqrt(deff), rel=1e-12)


def test_tiered_contract_simulation_agrees_with_the_normal_model() -> None:
    """Seed 3, 20,000 draws: the simulated rates' MC SE is <= 0.0036; tolerance 5 MC SE."""
    d = design(
        Contract.from_toml(TIERED),
        std_error=0.08,
        targets={"effect": 0.2},
        n_draws=20_000,
        curve_draws=50,
        rng=3,
    )
    rows = d.lines.set_index("component")
    se = 0.08
    assert rows.loc["low", "p_pay_null"] == pytest.approx(stats.norm.sf(0.1 / se), abs=0.018)
    assert rows.loc["low", "p_no_pay_target"] == pytest.approx(
        stats.norm.cdf((0.1 - 0.2) / se), abs=0.018
    )
    assert rows.loc["fee", "p_pay_null"] == 1.0  # a fee always pays
    # expected payment at the target: 500 P(0.1 <= e < 0.2) + 1000 P(e >= 0.2), by hand
    at_target = d.curve.set_index("fraction_of_target").loc[1.0, "expected:low"]
    exact = 500 * (stats.norm.cdf(0) - stats.norm.cdf(-0.1 / se)) + 1000 * stats.norm.sf(0)
    assert abs(at_target - exact) < 5 * 1000 / math.sqrt(50)  # 50 draws, amounts <= 1000


def test_solve_threshold_and_sample_size_meet_the_error_rates() -> None:
    sol = solve_threshold(0.25, 0.1, alpha=0.05, beta=0.20)
    assert sol.feasible
    assert stats.norm.sf(sol.lowest / 0.1) == pytest.approx(0.05, abs=1e-12)
    assert stats.norm.cdf((sol.highest - 0.25) / 0.1) == pytest.approx(0.20, abs=1e-12)
    n = required_sample_size(0.25, 1.0, alpha=0.05, beta=0.20)
    z = stats.norm.isf(0.05) + stats.norm.isf(0.20)
    assert n == math.ceil((z * 2 / 0.25) ** 2)
    assert solve_threshold(0.25, 2 / math.sqrt(n)).feasible
    assert not solve_threshold(0.25, 2 / math.sqrt(n - 2)).feasible


def test_design_refuses_missing_precision_and_targets() -> None:
    c = Contract.from_toml(ONE)
    with pytest.raises(DataValidationError, match="std_error"):
        design(c, targets={"effect": 0.25})
    with pytest.raises(DataValidationError, match="targets"):
        design(c, std_error=0.1)
    with pytest.raises(DataValidationError, match="icc"):
        design(c, n=100, sd=1.0, icc=1.5, targets={"effect": 0.25})


def test_design_is_reproducible_with_a_seed() -> None:
    c = Contract.from_toml(TIERED)
    a = design(c, std_error=0.08, targets={"effect": 0.2}, n_draws=300, curve_draws=20, rng=5)
    b = design(c, std_error=0.08, targets={"effect": 0.2}, n_draws=300, curve_draws=20, rng=5)
    assert np.array_equal(a.curve.to_numpy(), b.curve.to_numpy())


def test_design_command_prints_error_rates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "one.toml"
    path.write_text(ONE)
    png = tmp_path / "oc.png"
    args = ["design", str(path), "--n", "400", "--sd", "1", "--target", "effect=0.25"]
    assert main([*args, "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "closed form" in out and f"{stats.norm.sf(1.0):.4f}" in out
    assert png.stat().st_size > 0
    assert main(["design", str(path), "--n", "400"]) == 2
    assert "one.toml" in capsys.readouterr().err
