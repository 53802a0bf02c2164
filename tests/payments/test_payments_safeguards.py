"""The [safeguards] table: small-cell suppression, breach flags, withholding, validation."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from impacteval.exceptions import DataValidationError
from impacteval.payments import Contract, ContractError
from impacteval.results import EffectEstimate

BODY = """[contract]
name = "S"
currency = "USD"
[metrics.jobs]
input = "count"
[payments.fee]
rule = "fixed"
amount = "100"
outcome = false
[payments.jobs]
rule = "linear"
metric = "jobs"
price = "10"
[safeguards]
subgroups = ["female", "under_25"]
max_exclusion_share = 0.1
"""

GUARDS: dict[str, Any] = {
    "subgroups": {
        "female": {"estimate": 0.2, "std_error": 0.05, "n": 40, "eligible": 80},
        "under_25": {"estimate": -0.1, "n": 9},
    },
    "eligible": 100,
    "exclusions": {"moved": 4, "died": 3},
}


def contract(extra: str = "") -> Contract:
    return Contract.from_toml(BODY + extra)


def test_small_cells_are_masked_and_the_rest_reported() -> None:
    s = contract().settle({"jobs": 50}, safeguards=GUARDS)
    rows = s.safeguards.set_index(["check", "item"])
    female = rows.loc[("subgroup", "female")]
    assert (female["n"], female["estimate"], female["value"]) == (40, D("0.2"), D("0.5"))
    young = rows.loc[("subgroup", "under_25")]
    assert young["status"] == "suppressed (n < 10)"
    assert young[["n", "estimate", "std_error"]].tolist() == [None, None, None]
    assert rows.loc[("exclusion", "moved"), "n"] is None  # 4 people: masked too
    assert rows.loc[("exclusion_share", "all"), "value"] == D("0.07")  # totals are exact
    # the audit keeps the masked table and a hash of the raw inputs, never the raw cells
    audit = s.audit["safeguards"]
    assert len(audit["inputs_sha256"]) == 64
    assert "-0.1" not in str(audit)
    # a lower min_cell shows the cell
    shown = contract().settle({"jobs": 50}, safeguards=GUARDS)
    lower = Contract.from_toml(BODY.replace("[safeguards]\n", "[safeguards]\nmin_cell = 5\n"))
    assert shown.safeguards.loc[1, "n"] is None
    assert lower.settle({"jobs": 50}, safeguards=GUARDS).safeguards.loc[1, "n"] == 9


def test_breach_is_flagged_and_amounts_unchanged() -> None:
    guards = {**GUARDS, "exclusions": 15}
    s = contract().settle({"jobs": 50}, safeguards=guards)
    ok = contract().settle({"jobs": 50}, safeguards=GUARDS)
    assert s.total == ok.total == D("600.00") and s.withheld == 0
    assert s.safeguard_flags == ("exclusion share 0.1500 > max 0.1 (15 of 100)",)
    assert ok.safeguard_flags == ()
    text = str(s)
    assert "exclusion share 0.1500" in text and "flagged only" in text
    assert s.audit["safeguards"]["flags"] == list(s.safeguard_flags)
    assert s.audit["result_sha256"] != ok.audit["result_sha256"]


def test_withhold_keeps_fees_and_withholds_outcome_payments() -> None:
    c = contract('on_breach = "withhold"\n[caps]\ntotal = "400"\n')
    s = c.settle({"jobs": 50}, safeguards={**GUARDS, "exclusions": 15})
    assert s.withheld == D("300.00")  # 500 capped to 400 (fee 100 + 300 outcomes)
    assert s.total == D("100.00") and s.outcome_total == 0 and not s.pays
    line = s.lines.set_index("component").loc["safeguards:withhold"]
    assert line["amount"] == D("-300.00") and "exclusion share" in line["bound"]
    assert "Withheld (safeguards)" in str(s)
    assert c.settle({"jobs": 50}, safeguards=GUARDS).total == D("400.00")
    # an interim settlement without the safeguard inputs withholds until they arrive
    interim = c.settle({"jobs": 50}, partial=True)
    assert interim.withheld == D("300.00")
    assert "pending" in interim.lines.iloc[-1]["bound"]


def test_basket_of_indicators() -> None:
    c = Contract.from_toml(
        BODY.replace('subgroups = ["female", "under_25"]\nmax_exclusion_share = 0.1\n', "")
        + 'on_breach = "withhold"\n'
        + "basket = { min_met = 2, indicators = { jobs = 20, retention = 0.6, "
        + "dropout = { max = 0.3 } } }\n"
    )
    good = c.settle({"jobs": 50}, safeguards={"indicators": {"retention": 0.7, "dropout": 0.5}})
    assert good.withheld == 0  # jobs (a contract metric) and retention met: 2 of 3
    rows = good.safeguards.set_index("item")
    assert rows.loc["dropout", "status"] == "not met"
    assert rows.loc["indicators met", "n"] == 2
    bad = c.settle({"jobs": 5}, safeguards={"indicators": {"retention": 0.7, "dropout": 0.5}})
    assert bad.withheld == D("50.00") and bad.safeguard_flags == (
        "basket: 1 of 3 indicators met (need 2)",
    )
    with pytest.raises(DataValidationError, match="misses basket indicators"):
        c.settle({"jobs": 5}, safeguards={"indicators": {"retention": 0.7}})


def test_subgroup_estimate_may_be_an_effect_estimate() -> None:
    est = EffectEstimate.from_wald(0.3, 0.1, level=0.95, df=None)
    guards = {
        **GUARDS,
        "subgroups": {"female": {"estimate": est, "n": 12}, "under_25": {"estimate": 0.1, "n": 30}},
    }
    row = contract().settle({"jobs": 1}, safeguards=guards).safeguards.loc[0]
    assert row["std_error"] == pytest.approx(0.1) and row["estimate"] == D("0.3")


@pytest.mark.parametrize(
    ("guards", "fragment"),
    [
        (None, "missing ['eligible', 'exclusions', 'subgroups']"),
        ({**GUARDS, "refusal": 1}, "did you mean 'refusals'"),
        ({**GUARDS, "subgroups": {"femail": {"estimate": 1, "n": 20}}}, "did you mean 'female'"),
        ({**GUARDS, "subgroups": {"female": {"estimate": 1, "n": 20}}}, "misses ['under_25']"),
        ({**GUARDS, "subgroups": {**GUARDS["subgroups"], "female": {"n": 20}}}, "`estimate`"),
        ({**GUARDS, "eligible": 5}, "smaller than exclusions"),
        ({**GUARDS, "exclusions": -1}, "safeguards.exclusions` must be a non-negative"),
        ({**GUARDS, "exclusions": 2.5}, "whole number"),
        ({**GUARDS, "eligible": 0}, "safeguards.eligible"),
        (
            {**GUARDS, "subgroups": {**GUARDS["subgroups"], "female": {"estimate": 1, "n": -2}}},
            "safeguards.subgroups.female.n",
        ),
    ],
)
def test_safeguard_inputs_are_checked(guards: Any, fragment: str) -> None:
    with pytest.raises(DataValidationError) as err:
        contract().settle({"jobs": 1}, safeguards=guards)
    assert fragment in str(err.value), str(err.value)


def test_safeguards_without_a_table_are_refused() -> None:
    plain = Contract.from_toml(BODY.split("[safeguards]")[0])
    with pytest.raises(DataValidationError, match="no \\[safeguards\\] table"):
        plain.settle({"jobs": 1}, safeguards=GUARDS)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("min_cel = 5\n", "did you mean 'min_cell'"),
        ('on_breach = "withold"\n', "did you mean 'withhold'"),
        ("max_exclusion_share = 1.5\n", "safeguards.max_exclusion_share"),
        ("min_cell = -1\n", "safeguards.min_cell"),
        ("basket = { indicators = {} }\n", "safeguards.basket.indicators"),
        ("basket = { min_met = 3, indicators = { a = 1 } }\n", "safeguards.basket.min_met"),
        ("basket = { indicators = { a = { mn = 1 } } }\n", "did you mean 'min'"),
        ("basket = { indicators = { a = { min = 2, max = 1 } } }\n", "below `min`"),
    ],
)
def test_safeguard_table_is_validated(extra: str, fragment: str) -> None:
    text = BODY.replace("max_exclusion_share = 0.1\n", "") + extra
    with pytest.raises(ContractError) as err:
        Contract.from_toml(text)
    assert fragment in str(err.value), str(err.value)


def test_withhold_needs_something_that_can_breach() -> None:
    text = BODY.replace("max_exclusion_share = 0.1\n", 'on_breach = "withhold"\n')
    with pytest.raises(ContractError, match="needs a check that can be breached"):
        Contract.from_toml(text)
    with pytest.raises(ContractError, match="nothing to report"):
        Contract.from_toml(BODY.split("subgroups")[0] + 'on_breach = "flag"\n')
    with pytest.raises(ContractError, match="twice"):
        Contract.from_toml(BODY.replace('"under_25"]', '"female"]'))
