"""The DiD report's breakdown value in contract terms (issue 15).

The contract-aware breakdown value must be the one ``ie.did.honest`` gives when asked about
the contract's threshold (put in the estimate's units) at the level matching the contract's
rule; the cases without a breakdown value (not established at Mbar = 0, the event study on
the other side of the threshold, a lower-bound rule that does not pay) get their own
sentence. The report writes the cell only with a contract, and shows the sentence next to
the estimate and on page one.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import warnings
from decimal import Decimal
from pathlib import Path

import nbformat
import pytest

import impacteval as ie
from impacteval.payments import Contract
from impacteval.reporting import build_report
from impacteval.reporting._cells import Cells, NotebookPlan
from impacteval.reporting._designs import design_section
from impacteval.reporting.sensitivity import (
    DecisionSensitivity,
    DecisionThreshold,
    decision_sensitivity,
    decision_table,
    decision_thresholds,
    describe_decision,
)
from impacteval.reporting.spec import load_spec
from impacteval.reporting.tables import metric_input

ROOT = Path(__file__).resolve().parents[2]
DATA = (ROOT / "data" / "sample" / "mpdta.csv").as_posix()


def _contract(threshold: str, statistic: str = "point", direction: str = "decrease") -> str:
    """A one-trigger contract on the (sign-flipped) mpdta employment effect."""
    return f"""
[contract]
name = "Stylised employment-loss"
currency = "USD"

[metrics.loss]
input = "estimate"
scale = "absolute"
direction = "{direction}"
statistic = "{statistic}"

[triggers.found]
metric = "loss"
threshold = {threshold}

[payments.pay]
rule = "fixed"
amount = "1000"
when = ["found"]
"""


@pytest.fixture(scope="module")
def fits() -> tuple[object, object]:
    """The universal-base-period event study and the primary (simple) ATT on mpdta."""
    mpdta = ie.datasets.load("mpdta")
    kw = dict(outcome="lemp", unit="countyreal", time="year", cohort="first_treat")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ie.exceptions.ImpactEvalWarning)
        es = ie.did.att_gt(mpdta, **kw, cluster="countyreal", base_period="universal")
        primary = ie.did.att_gt(mpdta, **kw, cluster="countyreal").aggregate("simple").overall
    return es, primary


def _one(
    fits: tuple[object, object], contract: str, multiplier: float = 1.0
) -> DecisionSensitivity:
    """The one decision on ``loss``; the input scaled as the report scales it."""
    es, primary = fits
    loss = metric_input(primary, multiplier=multiplier)
    (d,) = decision_sensitivity(
        es, Contract.from_toml(contract), {"loss": loss}, metric="loss", multiplier=multiplier
    )
    return d


def test_point_rule_breakdown_is_honest_at_the_threshold(fits: tuple[object, object]) -> None:
    es, _ = fits
    d = _one(fits, _contract("0.02"))
    # the primary ATT is about -0.040: its loss 0.040 meets >= 0.02, so the contract pays
    assert d.pays and d.case == "survives" and d.level == 0.95
    assert d.threshold_estimate == pytest.approx(-0.02)
    direct = ie.did.honest(es, e="average", threshold=-0.02, level=0.95)
    assert d.breakdown == direct.breakdown
    against_zero = ie.did.honest(es, e="average").breakdown
    assert 0 < d.breakdown < against_zero  # a threshold nearer the estimate breaks sooner
    assert f"survives violations of parallel trends up to M̄\u00a0=\u00a0{d.breakdown:.2g}" in (
        d.sentence
    )
    assert "(relative magnitudes)" in d.sentence and "trigger found" in d.sentence


def test_lower_bound_rule_uses_the_matching_interval(fits: tuple[object, object]) -> None:
    """One-sided 95% lower bound = end of the two-sided 90% interval."""
    es, _ = fits
    d = _one(fits, _contract("0.02", "lower_bound"))
    assert d.pays and d.level == pytest.approx(0.90)
    assert d.statistic == "lower bound (95%, one-sided)"
    direct = ie.did.honest(es, e="average", threshold=-0.02, level=0.90)
    assert d.breakdown == direct.breakdown
    assert d.breakdown > _one(fits, _contract("0.02")).breakdown  # the narrower interval


def test_scaled_contract_units_give_the_same_breakdown(fits: tuple[object, object]) -> None:
    """A loss per 100 with threshold 2 is the same decision as a loss with threshold 0.02;
    an "increase" metric with threshold -0.02 (effect >= -0.02) pays on the other side."""
    base = _one(fits, _contract("0.02"))
    scaled = _one(fits, _contract("2"), multiplier=100.0)
    assert scaled.threshold_estimate == pytest.approx(base.threshold_estimate)
    assert scaled.breakdown == pytest.approx(base.breakdown, rel=1e-12)
    flipped = _one(fits, _contract("-0.02", direction="increase"))
    assert not flipped.pays and flipped.threshold_estimate == pytest.approx(-0.02)
    assert flipped.breakdown == pytest.approx(base.breakdown, rel=1e-12)


def test_cases_without_a_breakdown_value(fits: tuple[object, object]) -> None:
    # loss 0.040 misses 0.1; the event study's robust interval at Mbar = 0 (loss 0.038 to
    # 0.117) includes 0.1: not established even under exact parallel trends
    fails = _one(fits, _contract("0.1"))
    assert not fails.pays and fails.case == "fails_at_zero" and math.isnan(fails.breakdown)
    assert "not established even under exact parallel trends (M̄ = 0)" in fails.sentence
    # loss 0.040 misses 0.05 but the event study's average loss (0.077) exceeds it
    other = _one(fits, _contract("0.05"))
    assert other.case == "other_side" and "other side of the threshold" in other.sentence
    # a lower-bound rule that does not pay cannot be overturned by wider intervals
    never = _one(fits, _contract("0.04", "lower_bound"))
    assert not never.pays and never.case == "cannot_flip" and never.sensitivity is None
    assert "cannot be overturned" in never.sentence
    table = decision_table([fails, other, never])
    assert list(table["case"]) == ["fails at zero", "other side", "cannot flip"]
    assert list(table["breakdown M̄"]) == ["-", "-", "-"]


def test_beyond_grid_sentence_names_the_largest_bound() -> None:
    th = DecisionThreshold("loss", "trigger found", Decimal("0.02"), ">=")
    d = DecisionSensitivity(th, "point estimate", Decimal("0.5"), True, -0.02, 0.95,
                            "beyond_grid", 8190.0, "")  # fmt: skip
    assert "survives every violation of parallel trends searched" in describe_decision(d)
    assert "8.2e+03" in describe_decision(d)


def test_thresholds_from_triggers_linear_hurdles_and_tiers() -> None:
    rikers = Contract.from_toml(ROOT / "contracts" / "rikers.toml")
    (tier,) = decision_thresholds(rikers, "bed_days_reduction")
    assert tier.threshold == Decimal("0.085") and tier.comparison == ">="
    assert tier.source == "payment city"
    linear = Contract.from_toml(
        _contract("0.02").replace(
            'rule = "fixed"\namount = "1000"\nwhen = ["found"]',
            'rule = "linear"\nmetric = "loss"\nprice = "10"\nthreshold = "0.03"',
        )
    )
    found = decision_thresholds(linear, "loss")
    assert [(d.source, d.threshold) for d in found] == [
        ("trigger found", Decimal("0.02")),
        ("payment pay", Decimal("0.03")),
    ]


def test_unknown_metric_is_refused(fits: tuple[object, object]) -> None:
    es, primary = fits
    with pytest.raises(ie.exceptions.DataValidationError, match=r"`metric` must be a direct"):
        decision_sensitivity(es, Contract.from_toml(_contract("0.02")), {"loss": primary},
                             metric="lost")  # fmt: skip


# -- the report ----------------------------------------------------------------------------


def _spec_text(contract_path: Path) -> str:
    return f"""
[report]
title = "mpdta with a stylised contract"
evaluator = "tests"
seed = 2021

[data]
path = "{DATA}"

[columns]
outcome = "lemp"
unit = "countyreal"
time = "year"
cohort = "first_treat"
cluster = "countyreal"

[design]
type = "did"
estimator = "att_gt"
options = {{ method = "dr", control_group = "never_treated" }}

[contract]
path = "{contract_path.as_posix()}"
risk_draws = 200
[contract.inputs.loss]
estimate = "overall"
"""


def _decision_cells(spec: object, plan: NotebookPlan | None) -> list[str]:
    c = Cells()
    design_section(spec).beside_estimates(c, spec, plan)  # type: ignore[arg-type]
    return [x.source for x in c.cells if "decision-sensitivity" in x.metadata.get("tags", [])]


def test_cell_is_written_only_with_a_contract(tmp_path: Path) -> None:
    path = tmp_path / "contract.toml"
    path.write_text(_contract("0.02"))
    spec = load_spec(_spec_text(path))
    plan = NotebookPlan(data_files=(), spec_file="spec.toml", contract_file="contract.toml")
    (source,) = _decision_cells(spec, plan)
    calls = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)]
    (call,) = [n for n in calls if ast.unparse(n.func) == "rt.decision_sensitivity"]
    keywords = {k.arg: None for k in call.keywords if k.arg is not None}
    inspect.signature(decision_sensitivity).bind(None, None, None, **keywords)
    assert "rt.metric_input(results['overall'])" in source
    assert "DECISION_NOTES +=" in source
    assert _decision_cells(dataclasses.replace(spec, contract=None), plan) == []
    assert _decision_cells(spec, None) == []


@pytest.mark.slow
def test_report_states_the_decision_breakdown_beside_the_estimate_and_on_page_one(
    tmp_path: Path, fits: tuple[object, object]
) -> None:
    path = tmp_path / "contract.toml"
    path.write_text(_contract("0.02"))
    (tmp_path / "spec.toml").write_text(_spec_text(path))
    paths = build_report(tmp_path / "spec.toml", tmp_path / "out")
    expected = _one(fits, _contract("0.02")).sentence
    nb = nbformat.read(paths.notebook, as_version=4)
    (cell,) = [c for c in nb.cells if "decision-sensitivity" in c.metadata.get("tags", [])]
    shown = "".join(o["data"].get("text/markdown", "") for o in cell.outputs if "data" in o)
    assert f"- {expected}" in shown
    assert "For context, against zero: the interval excludes zero for Mbar up to" in shown
    html = paths.html.read_text(encoding="utf-8")
    page_one = html[: html.index("About this report")]
    assert "Basis and robustness of the decision" in page_one
    assert "survives violations of parallel trends up to M̄" in page_one
    assert "pay pays USD 1,000.00 on trigger found met" in page_one  # a fixed payment's why
