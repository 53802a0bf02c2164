"""Dated investor waterfall: tranches, payment dates, guarantee, XIRR, multiple, IRR cap."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from pathlib import Path

import pytest

from impacteval.exceptions import DataValidationError
from impacteval.payments import Contract, ContractError, dated_waterfall, irr, waterfall, xnpv
from impacteval.payments.waterfall import irr_cap_amount

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
d = dt.date

BODY = """[contract]
name = "W"
currency = "USD"
[metrics.a]
input = "count"
[metrics.b]
input = "count"
[payments.early]
rule = "linear"
metric = "a"
price = "1"
[payments.final]
rule = "linear"
metric = "b"
price = "1"
[investment]
draws = [{date = 2015-06-01, amount = "600000"}, {date = "2016-06-01", amount = "400000"}]
payments_on = { early = 2017-06-01 }
paid_on = 2019-06-01
"""


def test_two_flows_match_the_closed_form() -> None:
    for days, ratio in ((365, 1.1), (730, 1.3), (500, 0.8), (1461, 2.0)):
        flows = [(d(2020, 1, 1), -1000), (d(2020, 1, 1) + dt.timedelta(days), 1000 * ratio)]
        assert irr(flows) == pytest.approx(ratio ** (365 / days) - 1, abs=1e-10)


def test_multi_date_irr_zeroes_the_npv() -> None:
    flows = [
        (d(2015, 6, 1), D("-270000")),
        (d(2015, 12, 1), D("-130000")),
        (d(2016, 9, 15), D("-100000")),
        (d(2017, 3, 1), D("90000")),
        (d(2018, 7, 1), D("200000")),
        (d(2019, 2, 1), D("310000")),
    ]
    rate = irr(flows)
    assert abs(xnpv(rate, flows)) < 1e-6
    assert xnpv(rate - 0.01, flows) > 0 > xnpv(rate + 0.01, flows)  # a single root here


def test_single_draw_and_payment_reproduce_the_old_waterfall() -> None:
    p, due, start, end = D("1000000"), D("2000000"), d(2015, 6, 1), d(2018, 7, 1)
    w = waterfall(p, due, irr_cap=D("0.15"), drawn_on=start, paid_on=end)
    assert w.paid_to_investors == irr_cap_amount(p, start, end, D("0.15"))
    assert w.retained_by_payer == due - w.paid_to_investors and w.bound == "IRR cap"
    assert w.irr == pytest.approx(0.15, abs=1e-8)
    assert w.flows == ((start, -p), (end, w.paid_to_investors))


def test_tranches_and_dated_payments_give_the_xirr() -> None:
    s = Contract.from_toml(BODY).settle({"a": 300000, "b": 900000})
    inv = s.investor
    assert inv is not None and inv.principal == D("1000000")
    assert inv.flows == (
        (d(2015, 6, 1), D("-600000")),
        (d(2016, 6, 1), D("-400000")),
        (d(2017, 6, 1), D("300000.00")),
        (d(2019, 6, 1), D("900000.00")),
    )
    assert inv.multiple == D("1.2")
    assert inv.irr is not None and abs(xnpv(inv.irr, inv.flows)) < 1e-6
    assert 0.05 < inv.irr < 0.07  # about 6% a year on the money outstanding
    json_flows = s.to_dict()["investor"]["flows"]
    assert json_flows[0] == ["2015-06-01", "-600000"]


def test_irr_cap_binds_and_the_excess_goes_where_the_contract_says() -> None:
    text = BODY.replace("paid_on", 'irr_cap = 0.05\nexcess_to = "charity"\npaid_on')
    s = Contract.from_toml(text).settle({"a": 300000, "b": 900000})
    inv = s.investor
    assert inv is not None and inv.bound == "IRR cap"
    assert inv.irr == pytest.approx(0.05, abs=1e-7)  # exactly the cap, up to cents
    # hand computation of the capped account at 5%, actual/365: 600k grows 366 days (2016
    # is a leap year), 400k is added, the account grows 365 days, 300k is paid, then 730
    a = D(600000) * D("1.05") ** (D(366) / 365) + D(400000)
    a = a * D("1.05") - D(300000)
    room = (a * D("1.05") ** 2).quantize(D("0.01"), rounding="ROUND_DOWN")
    assert inv.paid_to_investors == D(300000) + room
    assert inv.paid_to_charity == D(1200000) - inv.paid_to_investors
    assert inv.retained_by_payer == 0 and inv.excess == inv.paid_to_charity
    assert "Excess over IRR cap (to charity)" in str(s)
    # a cap that does not bind changes nothing
    loose = Contract.from_toml(text.replace("irr_cap = 0.05", "irr_cap = 0.5"))
    assert loose.settle({"a": 300000, "b": 900000}).investor.irr == pytest.approx(inv.irr, rel=0.3)


def test_a_total_cap_cuts_the_latest_payment_first() -> None:
    s = Contract.from_toml(BODY.replace("[investment]", '[caps]\ntotal = "1000000"\n[investment]'))
    inv = s.settle({"a": 300000, "b": 900000}).investor
    assert inv is not None
    assert dict(inv.flows)[d(2017, 6, 1)] == D("300000.00")  # the early payment stands
    assert dict(inv.flows)[d(2019, 6, 1)] == D("700000.00")  # the final one is cut
    assert inv.multiple == 1 and inv.irr == pytest.approx(0.0, abs=1e-9)


def test_guarantee_and_first_loss_on_dated_flows() -> None:
    text = BODY.replace("[investment]", '[investment]\nguarantee = "500000"\nfirst_loss = "100000"')
    inv = Contract.from_toml(text).settle({"a": 100000, "b": 0}).investor
    assert inv is not None
    assert (inv.guarantee_paid, inv.investor_loss) == (D("500000"), D("400000.00"))
    assert (inv.first_loss_absorbed, inv.senior_loss) == (D("100000"), D("300000.00"))
    assert inv.flows[-1] == (d(2019, 6, 1), D("500000"))  # guarantee on the last date
    assert inv.irr is not None and inv.irr < 0


def test_rikers_guarantee_with_dated_draws() -> None:
    text = (
        (CONTRACTS / "rikers.toml")
        .read_text()
        .replace(
            'principal = "7200000"       # R2: USD 7.2M drawn',
            'draws = [{date = 2012-09-01, amount = "4800000"}, {date = 2013-09-01, amount = '
            '"2400000"}]\npaid_on = 2015-08-01',
        )
    )
    s = Contract.from_toml(text).settle({"bed_days_reduction": 0.0})
    inv = s.investor
    assert inv is not None and s.total == 0
    assert (inv.principal, inv.guarantee_paid, inv.investor_loss) == (
        D("7200000"),
        D("6000000"),
        D("1200000"),
    )
    assert inv.irr is not None and abs(xnpv(inv.irr, inv.flows)) < 1e-4


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("payments_on = { early", "payments_on = { erly", "did you mean 'early'"),
        ("paid_on = 2019-06-01\n", "", "no date for ['final']"),
        ('"2016-06-01"', "2014-06-01", "investment.draws[1].date"),
        ('"2016-06-01"', '"June 2016"', "must be a date"),
        ("[investment]", '[investment]\nprincipal = "5"', "must equal the sum"),
        ("[investment]", "[investment]\nexcess_to = 'payer'", "only applies with"),
        ("[investment]", "[investment]\ndrawn_on = 2015-01-01", "exclusive"),
        ("[investment]", "[investment]\nexcess_to = 'charty'\nirr_cap = 0.1", "'charity'"),
        ("paid_on = 2019-06-01", "paid_on = 2015-01-01", "investment.paid_on"),
        ('amount = "400000"', 'amount = "-4"', "investment.draws[1].amount"),
        ("draws = [", "drows = [", "did you mean 'draws'"),
    ],
)
def test_investment_keys_are_validated(old: str, new: str, fragment: str) -> None:
    assert old in BODY
    with pytest.raises(ContractError) as err:
        Contract.from_toml(BODY.replace(old, new))
    assert fragment in str(err.value), str(err.value)


def test_dated_waterfall_refuses_bad_arguments() -> None:
    with pytest.raises(DataValidationError):
        dated_waterfall([], [(d(2020, 1, 1), D(1))])
    with pytest.raises(DataValidationError):
        dated_waterfall([(d(2020, 1, 1), D(1))], [(d(2021, 1, 1), D(1))], excess_to="me")
