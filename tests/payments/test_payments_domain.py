"""Domain checks: impossible contracts refused at load, out-of-domain inputs refused.

One test per case listed in issue 14 (the shipped Educate Girls and Peterborough contracts
are used unchanged: their domains are inferred from the metric types).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from impacteval.exceptions import DataValidationError
from impacteval.payments import Contract, ContractError
from impacteval.results import EffectEstimate

ROOT = Path(__file__).resolve().parents[2]
EG = (ROOT / "contracts" / "educate_girls.toml").read_text(encoding="utf-8")
PB = (ROOT / "contracts" / "peterborough.toml").read_text(encoding="utf-8")
LEARNING = {"estimate": 8940, "std_error": 900}


def test_negative_target_is_refused() -> None:
    with pytest.raises(ContractError, match=r"metrics\.learning\.target.*> 0.*-5592"):
        Contract.from_toml(EG.replace("target = 5592", "target = -5592"))


def test_relative_reduction_threshold_of_ten_can_never_be_met() -> None:
    with pytest.raises(ContractError, match=r"triggers\.cohort_1_early\.threshold.*never"):
        Contract.from_toml(PB.replace("threshold = 0.10\ncomparison", "threshold = 10\ncomparison"))


def test_tier_above_a_share_is_refused() -> None:
    text = (
        '[contract]\nname = "T"\ncurrency = "USD"\n[metrics.s]\ninput = "count"\n'
        'domain = "share"\n[payments.p]\nrule = "tiers"\nmetric = "s"\n'
        'tiers = [{from = 0.5, amount = "1"}, {from = 50, amount = "2"}]\n'
    )
    with pytest.raises(ContractError, match=r"payments\.p\.tiers\[1\]\.from.*share"):
        Contract.from_toml(text)


def test_enrolment_given_as_a_percentage_is_diagnosed() -> None:
    c = Contract.from_toml(EG)
    with pytest.raises(DataValidationError, match=r"inputs\.enrolment.*looks like a percentage"):
        c.settle({"learning": LEARNING, "enrolment": 92})


def test_negative_enrolment_is_refused() -> None:
    c = Contract.from_toml(EG)
    with pytest.raises(DataValidationError, match=r"inputs\.enrolment.*-0\.5.*share in \[0, 1\]"):
        c.settle({"learning": LEARNING, "enrolment": -0.5})


def test_enrolment_as_a_share_still_pays_the_published_cap() -> None:
    c = Contract.from_toml(EG)
    assert str(c.settle({"learning": LEARNING, "enrolment": 0.92}).total) == "422000"


def test_negative_rates_on_a_relative_reduction_are_refused() -> None:
    c = Contract.from_toml(PB)
    inputs = {
        "cohort_1": {"treated_rate": -1.0, "control_rate": 1.55, "units": 100},
        "cohort_2": {"treated_rate": 1.4, "control_rate": 1.55, "units": 100},
    }
    with pytest.raises(DataValidationError, match=r"inputs\.cohort_1\.treated_rate.*rate >= 0"):
        c.settle(inputs, partial=True)


VILLAGE = EG.replace(
    'input = "estimate"\nscale = "achievement"',
    'input = "estimate"\nunit = "village"\nestimand = ["ATE", "ATT"]\nscale = "achievement"',
)


def _estimate(unit: str | None, estimand: str = "ATE") -> EffectEstimate:
    details = {} if unit is None else {"unit": unit}
    return dataclasses.replace(
        EffectEstimate.from_wald(0.3, 0.05, level=0.95, df=None), estimand=estimand, details=details
    )


def test_per_girl_estimate_to_per_village_metric_is_refused() -> None:
    c = Contract.from_toml(VILLAGE)
    with pytest.raises(DataValidationError, match=r"inputs\.learning.*unit mismatch.*'girl'"):
        c.settle({"learning": _estimate("girl"), "enrolment": 0.92})


def test_estimate_without_a_unit_is_refused_when_the_contract_declares_one() -> None:
    c = Contract.from_toml(VILLAGE)
    with pytest.raises(DataValidationError, match=r"inputs\.learning.*declares no unit"):
        c.settle({"learning": _estimate(None), "enrolment": 0.92})


def test_estimand_mismatch_is_refused_and_matching_unit_settles() -> None:
    c = Contract.from_toml(VILLAGE)
    with pytest.raises(DataValidationError, match=r"estimand mismatch.*ATC"):
        c.settle({"learning": _estimate("village", "ATC"), "enrolment": 0.92})
    s = c.settle({"learning": _estimate("village"), "enrolment": 0.92})
    assert s.total > 0
