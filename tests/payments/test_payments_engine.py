"""Payment functions, statistics, gates, triggers, true-ups, limits and rounding."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from impacteval.exceptions import DataValidationError
from impacteval.payments import Contract
from impacteval.results import EffectEstimate

HEAD = '[contract]\nname = "T"\ncurrency = "USD"\n'


def contract(body: str, head: str = HEAD) -> Contract:
    return Contract.from_toml(head + body)


def linear(mode: str) -> Contract:
    return contract(
        f"""[metrics.x]
[payments.p]
rule = "linear"
metric = "x"
price = "100"
threshold = 0.5
threshold_mode = "{mode}"
"""
    )


def test_hurdle_pays_on_all_deductible_only_above() -> None:
    assert linear("hurdle").settle({"x": 0.4}).total == 0
    assert linear("hurdle").settle({"x": 2}).total == D("200.00")
    assert linear("deductible").settle({"x": 2}).total == D("150.00")


def test_piecewise_and_savings_share() -> None:
    pw = contract(
        """[metrics.x]
[payments.p]
rule = "piecewise"
metric = "x"
points = [{x = 0, y = "0"}, {x = 1, y = "100"}, {x = 2, y = "150"}]
"""
    )
    assert [pw.settle({"x": v}).total for v in (-1, 0.5, 1.5, 9)] == [0, 50, 125, 150]
    ss = contract(
        """[metrics.savings]
input = "count"
[payments.p]
rule = "savings_share"
metric = "savings"
share = 0.95
share_after = 0.4
switch_at = "950"
"""
    )
    assert ss.settle({"savings": 500}).total == D("475.00")
    s = ss.settle({"savings": 2000})  # 950 on the first 1000, then 40% of 1000
    assert s.total == D("1350.00")
    assert "repayment switch" in s.lines.loc[0, "bound"]


def test_lower_bound_and_significance_gate() -> None:
    est = EffectEstimate.from_wald(0.3, 0.1, level=0.95, df=None)
    lb = contract(
        """[metrics.x]
statistic = "lower_bound"
level = 0.95
sided = "one"
[payments.p]
rule = "linear"
metric = "x"
price = "1000"
"""
    )
    s = lb.settle({"x": est})
    value = s.metrics.loc["x", "value"]
    assert abs(float(value) - (0.3 - 1.6448536269514722 * 0.1)) < 1e-12
    assert "lower bound (95%, one-sided)" in s.lines.loc[0, "statistic"]
    gated = contract(
        """[metrics.x]
gate = "significance"
level = 0.95
sided = "two"
[payments.p]
rule = "linear"
metric = "x"
price = "1000"
"""
    )
    assert gated.settle({"x": est}).total == D("300.00")  # z = 3 > 1.96
    weak = gated.settle({"x": {"estimate": 0.15, "std_error": 0.1}})  # z = 1.5
    assert weak.total == 0
    assert "significance gate" in weak.lines.loc[0, "bound"]
    with pytest.raises(DataValidationError, match="standard error"):
        gated.settle({"x": 0.3})


def test_size_dependent_threshold() -> None:
    c = contract(
        """[metrics.x]
gate = "size"
size_thresholds = [{min_n = 1000, threshold = 0.039}, {min_n = 60000, threshold = 0.02}]
[payments.p]
rule = "linear"
metric = "x"
price = "100"
"""
    )
    assert c.settle({"x": {"estimate": 0.03, "n_obs": 5000}}).total == 0
    assert c.settle({"x": {"estimate": 0.03, "n_obs": 70000}}).total == D("3.00")
    assert c.settle({"x": {"estimate": 0.05, "n_obs": 10}}).total == 0


def test_relative_reduction_aggregate_and_fixed_blend() -> None:
    c = contract(
        """[metrics.rct]
scale = "relative_reduction"
baseline = 0.5
[metrics.did]
scale = "relative_reduction"
[metrics.blended]
blend = { rct = 0.8, did = 0.2 }
[metrics.days]
scale = "aggregate"
direction = "decrease"
units = 10
[payments.p]
rule = "linear"
metric = "blended"
price = "1000"
[payments.q]
rule = "linear"
metric = "days"
price = "2"
"""
    )
    s = c.settle({"rct": -0.1, "did": {"treated_rate": 0.3, "control_rate": 0.4}, "days": -3})
    # rct: 0.1 / 0.5 = 0.2; did: 1 - 0.3/0.4 = 0.25; blend 0.8*0.2 + 0.2*0.25 = 0.21
    assert s.metrics.loc["blended", "value"] == D("0.21")
    assert s.amount("p") == D("210.00")
    assert s.amount("q") == D("60.00")  # 3 days x 10 units x 2
    with pytest.raises(DataValidationError, match="control_rate"):
        c.settle({"rct": -0.1, "did": -0.1, "days": -3})


def test_true_up_and_clawback() -> None:
    body = """[metrics.interim]
[metrics.final]
[payments.interim]
rule = "linear"
metric = "interim"
price = "100"
[payments.true_up]
rule = "linear"
metric = "final"
price = "100"
true_up_of = "interim"
clawback = CLAW
"""
    claw = contract(body.replace("CLAW", "true"))
    s = claw.settle({"interim": 5, "final": 3})
    assert s.amount("interim") == D("500.00")
    assert s.amount("true_up") == D("-200.00")
    assert s.total == D("300.00")  # paid on the final result overall
    no_claw = contract(body.replace("CLAW", "false")).settle({"interim": 5, "final": 3})
    assert no_claw.total == D("500.00")
    assert "no clawback" in no_claw.lines.loc[1, "bound"]
    assert claw.settle({"interim": 2, "final": 3}).amount("true_up") == D("100.00")


def test_stop_trigger_voids_later_periods() -> None:
    c = contract(
        """[metrics.y1]
[metrics.y2]
[triggers.failing]
metric = "y1"
threshold = 0.01
comparison = "<"
action = "stop"
period = "2014"
[payments.p1]
rule = "linear"
metric = "y1"
price = "100"
period = "2014"
[payments.p2]
rule = "linear"
metric = "y2"
price = "100"
period = "2015"
""",
        head=HEAD + 'periods = ["2014", "2015"]\n',
    )
    assert c.settle({"y1": 0.5, "y2": 1}).total == D("150.00")
    stopped = c.settle({"y1": 0.0, "y2": 1})
    assert stopped.total == 0
    assert stopped.lines.loc[1, "bound"] == "stopped by trigger failing"


def test_group_caps_floors_fees_and_outcomes_cap() -> None:
    c = contract(
        """[metrics.a]
input = "count"
[metrics.b]
input = "count"
[payments.fee]
rule = "fixed"
amount = "1000"
outcome = false
[payments.pa]
rule = "linear"
metric = "a"
price = "1"
cohort = "1"
[payments.pb]
rule = "linear"
metric = "b"
price = "1"
cohort = "2"
[caps]
cohort = { "1" = "500" }
outcomes = "800"
[floors]
cohort = { "2" = "100" }
""",
        head=HEAD + 'cohorts = ["1", "2"]\n',
    )
    s = c.settle({"a": 700, "b": 50})
    assert s.lines.set_index("component")["amount"].to_dict() == {
        "fee": D("1000.00"),
        "pa": D("700.00"),
        "pb": D("50.00"),
        "cap:cohort:1": D("-200.00"),
        "floor:cohort:2": D("50.00"),
    }
    assert s.total == D("1600.00") and s.outcome_total == D("600.00")
    big = c.settle({"a": 400, "b": 900})
    assert big.outcome_total == D("800")  # outcomes cap; fee kept apart
    assert big.total == D("1800.00")


def test_rounding_only_at_declared_points() -> None:
    body = """[metrics.x]
[payments.a]
rule = "linear"
metric = "x"
price = "0.333"
[payments.b]
rule = "linear"
metric = "x"
price = "0.333"
"""
    lines = contract(body, head=HEAD + 'round_at = ["line"]\n').settle({"x": 1})
    assert lines.total == D("0.66")  # 0.33 + 0.33
    total_only = contract(body, head=HEAD + 'round_at = ["total"]\n').settle({"x": 1})
    assert total_only.total == D("0.67")  # 0.666 -> 0.67
    assert total_only.amount("a") == D("0.333")
    assert total_only.lines["amount"].sum() == total_only.total  # rounding line added
    down = contract(body, head=HEAD + 'rounding_mode = "ROUND_DOWN"\n').settle({"x": 1})
    assert down.total == D("0.66")


def test_inputs_are_checked() -> None:
    c = linear("hurdle")
    with pytest.raises(DataValidationError, match="did you mean 'x'"):
        c.settle({"x": 1, "xx": 2})
    with pytest.raises(DataValidationError, match="missing metrics"):
        c.settle({})
    with pytest.raises(DataValidationError, match="std_eror"):
        c.settle({"x": {"estimate": 1, "std_eror": 1}})
    with pytest.raises(DataValidationError):
        c.settle({"x": float("nan")})
    with pytest.raises(DataValidationError):
        c.settle({"x": "1"})


def test_settlement_displays_and_audit() -> None:
    s = linear("hurdle").settle({"x": EffectEstimate.from_wald(2.0, 0.5, level=0.95, df=30)})
    text = s.summary().as_text()
    assert "Settlement: T" in text and "hurdle 0.5 passed" in text
    assert "<table>" in s._repr_html_()
    audit = s.audit
    assert set(audit) >= {
        "contract_sha256",
        "inputs_sha256",
        "result_sha256",
        "package_version",
        "created_at",
        "inputs",
    }
    json.dumps(s.to_dict())  # JSON-serialisable
    assert audit["inputs"]["x"]["origin"] == "EffectEstimate"


def test_bootstrap_draws_are_hashed_into_the_audit() -> None:
    est = EffectEstimate.from_wald(
        2.0, 0.5, level=0.95, df=None, details={"bootstrap_draws": [1.5, 2.0, 2.5]}
    )
    s = linear("hurdle").settle({"x": est})
    assert s.audit["inputs"]["x"]["bootstrap_draws_n"] == 3
