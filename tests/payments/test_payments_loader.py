"""The contract loader refuses bad contracts with messages that name the key path."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from impacteval.payments import Contract, ContractError

BASE = """
[contract]
name = "T"
currency = "USD"

[metrics.learning]
scale = "achievement"
target = 100

[payments.pay]
rule = "linear"
metric = "learning"
price = "10"
"""


def bad(text: str, *fragments: str) -> None:
    with pytest.raises(ContractError) as err:
        Contract.from_toml(text)
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)


def test_base_loads() -> None:
    c = Contract.from_toml(BASE)
    assert c.settle({"learning": 150}).total == D("15.00")


def test_typo_is_named_and_corrected() -> None:
    bad(
        BASE.replace("target = 100", "targte = 100"),
        "metrics.learning.targte",
        "did you mean 'target'?",
    )
    bad(BASE.replace('price = "10"', 'prize = "10"'), "payments.pay.prize", "did you mean 'price'?")
    bad(BASE + '\n[cpas]\ntotal = "1"\n', "`cpas`", "did you mean 'caps'?")
    bad(
        BASE.replace('rule = "linear"', 'rule = "linaer"'),
        "payments.pay.rule",
        "did you mean 'linear'?",
    )


def test_wrong_types_are_refused() -> None:
    bad(
        BASE.replace("target = 100", 'target = "lots"'),
        "metrics.learning.target",
        "must be a number",
    )
    bad(BASE.replace('price = "10"', "price = true"), "payments.pay.price", "boolean")
    bad(BASE.replace('name = "T"', "name = 3"), "contract.name", "must be a string")
    bad(
        BASE.replace("[metrics.learning]", "[metrics.learning]\nlevel = 1.5"),
        "metrics.learning.level",
    )


def test_missing_or_malformed_currency() -> None:
    bad(BASE.replace('currency = "USD"\n', ""), "contract.currency", "required")
    bad(BASE.replace('"USD"', '"dollars"'), "contract.currency", "ISO 4217")


def test_negative_price_and_cap_below_floor() -> None:
    bad(BASE.replace('price = "10"', 'price = "-10"'), "payments.pay.price", ">= 0")
    bad(
        BASE.replace('price = "10"', 'price = "10"\ncap = "5"\nfloor = "6"'),
        "payments.pay.cap",
        "below",
    )
    bad(BASE + '[caps]\ntotal = "5"\n[floors]\ntotal = "6"\n', "caps.total", "floors.total")


TIERS = BASE.replace(
    'rule = "linear"\nmetric = "learning"\nprice = "10"',
    'rule = "tiers"\nmetric = "learning"\ntiers = TIERS',
)


def test_unordered_and_overlapping_tiers() -> None:
    ok = '[{from = 1, to = 2, amount = "5"}, {from = 2, amount = "9"}]'
    assert Contract.from_toml(TIERS.replace("TIERS", ok)).settle({"learning": 200}).total == 9
    unordered = '[{from = 2, amount = "9"}, {from = 1, amount = "5"}]'
    bad(TIERS.replace("TIERS", unordered), "payments.pay.tiers[1].from", "increasing")
    overlap = '[{from = 1, to = 3, amount = "5"}, {from = 2, amount = "9"}]'
    bad(TIERS.replace("TIERS", overlap), "payments.pay.tiers[1]", "overlaps")
    backwards = '[{from = 3, to = 1, amount = "5"}]'
    bad(TIERS.replace("TIERS", backwards), "payments.pay.tiers[0]")


def test_references_must_resolve() -> None:
    bad(
        BASE.replace('metric = "learning"', 'metric = "lerning"'),
        "payments.pay.metric",
        "did you mean 'learning'?",
    )
    bad(BASE.replace('price = "10"', 'price = "10"\nwhen = ["nope"]'), "payments.pay.when")
    bad(BASE.replace('price = "10"', 'price = "10"\ncohort = "1"'), "payments.pay.cohort")
    bad(BASE.replace("target = 100\n", ""), "metrics.learning.target", "achievement")


def test_rule_specific_keys() -> None:
    bad(
        BASE.replace('price = "10"', 'price = "10"\ntiers = []'),
        "payments.pay.tiers",
        "does not apply",
    )
    bad(
        BASE.replace(
            "[metrics.learning]", '[metrics.learning]\ninput = "count"\nstatistic = "lower_bound"'
        ),
        "metrics.learning.statistic",
    )


def test_nothing_is_evaluated() -> None:
    # an "expression" is just a string where a number is expected: refused, not run
    bad(
        BASE.replace('price = "10"', "price = \"__import__('os').system('true')\""),
        "payments.pay.price",
        "must be a number",
    )
    bad(BASE.replace('price = "10"', 'price = "10 * 2"'), "payments.pay.price")


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    bad("[contract\nname=", "not valid TOML")
    bad(str(tmp_path / "missing.toml"), "does not exist")
    with pytest.raises(ContractError):
        Contract.from_toml(tmp_path / "missing.toml")
    path = tmp_path / "c.toml"
    path.write_text(BASE)
    assert Contract.from_toml(str(path)).sha256 == Contract.from_toml(path).sha256


def test_money_keeps_its_digits_and_the_hash_ignores_layout() -> None:
    c = Contract.from_toml(BASE.replace('price = "10"', "price = 0.1"))
    assert c.spec.payments[0].price == D("0.1")  # not 0.1000000000000000055...
    spaced = "# a comment\n" + BASE.replace("\n", "\n\n")
    assert Contract.from_toml(spaced).sha256 == Contract.from_toml(BASE).sha256
    assert (
        Contract.from_toml(BASE.replace('"10"', '"11"')).sha256 != Contract.from_toml(BASE).sha256
    )


def test_contract_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Contract.from_toml("[contract]\n")


def test_the_documented_schema_example_is_a_valid_contract() -> None:
    from impacteval import payments

    block = (payments.__doc__ or "").split("::", 1)[1].split("Every table")[0]
    c = Contract.from_toml(block)
    s = c.settle(
        {
            "learning": 8000,
            "cohort_1": {"treated_rate": 0.4, "control_rate": 0.5},
            "cohort_2": {"treated_rate": 0.45, "control_rate": 0.5},
        }
    )
    assert s.total >= 0 and s.investor is not None
    bad(
        block.replace("drawn_on = 2015-06-01\n", "").replace("paid_on = 2018-07-01\n", ""),
        "investment.irr_cap",
    )
