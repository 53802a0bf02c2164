"""From data to settlement: the two chains issue 6 names, each with its payment risk.

1. `sib_reoffending` -> nearest-neighbour matching per cohort (10 controls each, with
   replacement, Abadie-Imbens SE) -> `contracts/peterborough.toml`.
2. `dib_learning` -> clustered RCT estimate (Lin, CR2 by village) -> aggregate learning
   gain -> `contracts/educate_girls.toml`.
The simulators' seeds are fixed, so every number is deterministic; the assertions check the
chain's logic (triggers against the computed reductions, caps), not hard-coded totals.
"""

from __future__ import annotations

import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.payments import Contract, payment_risk

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def peterborough_inputs() -> dict[str, dict[str, Any]]:
    data = ie.datasets.load("sib_reoffending")
    data = data[data["excluded"] == 0]
    offences = pd.get_dummies(data["offence_type"], prefix="off", dtype=float)
    data = pd.concat([data, offences.iloc[:, 1:]], axis=1)
    covs = ["age", "female", "prior_convictions", "sentence_months", *offences.columns[1:]]
    inputs: dict[str, dict[str, Any]] = {}
    for cohort in (1, 2):
        sub = data[data["cohort"] == cohort].reset_index(drop=True)
        res = ie.matching.nearest_neighbor(
            sub,
            outcome="reconvictions",
            treatment="treated",
            covariates=covs,
            ratio=10,
            replace=True,
        )
        treated_rate = 100 * float(sub.loc[sub["treated"] == 1, "reconvictions"].mean())
        inputs[f"cohort_{cohort}"] = {
            "estimate": 100 * res.estimate,
            "std_error": 100 * res.std_error,
            "treated_rate": treated_rate,
            "control_rate": treated_rate - 100 * res.estimate,
            "units": res.n_treated,
        }
    return inputs


def peterborough_safeguards() -> dict[str, Any]:
    """Exclusions by reason and subgroup cells, from the same simulated releases.

    Eligible = treated releases of cohorts 1 and 2; exclusions = those the measurement
    rules dropped, by the reason the simulator records. Subgroup effects are unadjusted
    differences in reconvictions per 100 (treated - comparison) among included releases:
    an equity report, not a payment input.
    """
    data = ie.datasets.load("sib_reoffending")
    data = data[data["cohort"].isin([1, 2])]
    treated = data[data["treated"] == 1]
    reasons = treated["exclusion_reason"].dropna().value_counts()
    included = data[data["excluded"] == 0]
    cells = {"female": included["female"] == 1, "age_under_25": included["age"] < 25}
    subgroups = {}
    for name, mask in cells.items():
        sub = included[mask]
        by_arm = sub.groupby("treated")["reconvictions"]
        means, sizes = by_arm.mean(), by_arm.size()
        subgroups[name] = {
            "estimate": 100 * float(means[1] - means[0]),
            "n": int(sizes[1]),
        }
    return {
        "subgroups": subgroups,
        "eligible": len(treated),
        "exclusions": {str(k): int(v) for k, v in reasons.items()},
    }


def test_peterborough_chain_settles_consistently() -> None:
    inputs = peterborough_inputs()
    guards = peterborough_safeguards()
    contract = Contract.from_toml(CONTRACTS / "peterborough.toml")
    settlement = contract.settle(inputs, safeguards=guards)
    for cohort in ("cohort_1", "cohort_2"):
        reduction = 1 - inputs[cohort]["treated_rate"] / inputs[cohort]["control_rate"]
        value = settlement.metrics.loc[cohort, "value"]
        assert float(value) == pytest.approx(reduction, abs=5e-4)  # contract rounds to 0.001
        assert settlement.triggers[f"{cohort}_early"] is (value >= Decimal("0.10"))
    assert settlement.total == settlement.lines["amount"].sum()
    assert len(settlement.audit["contract_sha256"]) == 64
    # exclusions from the simulator: deaths exempt, the rest counted against 10%
    counted = sum(v for k, v in guards["exclusions"].items() if k != "died")
    share = settlement.safeguards.set_index("check").loc["exclusion_share"]
    assert share["value"] == Decimal(counted) / Decimal(guards["eligible"])
    assert (share["status"] == "breach") is (counted > 0.1 * guards["eligible"])
    for name, cell in guards["subgroups"].items():
        row = settlement.safeguards.set_index("item").loc[name]
        assert (row["estimate"] is None) is (cell["n"] < 10)
    assert "safeguards" in settlement.audit and "subgroups" not in str(settlement.audit)
    # deterministic: the same chain gives the same settlement and the same input hash
    again = contract.settle(peterborough_inputs(), safeguards=guards)
    assert again.total == settlement.total
    assert again.audit["inputs_sha256"] == settlement.audit["inputs_sha256"]


def test_peterborough_payment_risk_of_a_null_programme() -> None:
    inputs = peterborough_inputs()
    contract = Contract.from_toml(CONTRACTS / "peterborough.toml")
    risk = payment_risk(contract, inputs, n_draws=20_000, rng=20261126)
    # a null programme still pays when noise pushes a cohort past 10% or the pool past 7.5%
    assert 0.0 < risk.p_pay_null < 0.5
    assert risk.expected_payment >= 0


def test_educate_girls_chain_from_the_clustered_trial() -> None:
    data = ie.datasets.load("dib_learning")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ie.exceptions.MissingDataWarning)
        res = ie.rct.regression(
            data,
            outcome="endline_level",
            treatment="treatment",
            covariates=["baseline_level"],
            cluster="village",
            fixed_effects="stratum",
        )
    girls = int((data["treatment"] == 1).sum())
    learning = {"estimate": res.estimate * girls, "std_error": res.std_error * girls}
    enrolled = float(data.loc[data["treatment"] == 1, "enrolled"].mean())
    contract = Contract.from_toml(CONTRACTS / "educate_girls.toml")
    settlement = contract.settle({"learning": learning, "enrolment": enrolled})
    achievement = 0.8 * learning["estimate"] / 5592 + 0.2 * enrolled / 0.79
    expected = min(300_000 * achievement, 422_000)  # amount at target, cap: the contract
    assert float(settlement.total) == pytest.approx(expected, abs=1.0)  # whole-dollar rounding
    risk = payment_risk(
        contract, {"learning": learning, "enrolment": enrolled}, n_draws=10_000, rng=7
    )
    assert np.isfinite(float(risk.expected_payment))
