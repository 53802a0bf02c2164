"""The synth report's scpi prediction intervals and the interval the decision used (issue 16).

``[design] prediction_intervals`` is read and refused with messages naming the key; the
synth section writes a call that binds to ``SyntheticControl.prediction_intervals``; the
built report (Prop 99, read via $IMPACTEVAL_DATA_DIR as the example spec does) shows the
same intervals as a direct call with the report's seed, the band figure, and which
interval the contract's decision used.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataUnavailableError
from impacteval.payments import Contract
from impacteval.reporting import ReportSpecError, build_report, check_spec
from impacteval.reporting._cells import Cells, NotebookPlan
from impacteval.reporting._designs import design_section
from impacteval.reporting.decision_basis import decision_basis
from impacteval.reporting.spec import EstimatorSpec, load_spec
from impacteval.results import EffectEstimate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "examples" / "synth_smoking.toml").read_text()
PI = 'prediction_intervals = { level = 0.9, out_of_sample = "gaussian", n_sims = 60 }'


def _with(extra: str, text: str = EXAMPLE) -> str:
    """The example spec with ``extra`` added to its [design] table."""
    return text.replace("treatment_time = 1989\n", f"treatment_time = 1989\n{extra}\n")


def _contract(statistic: str = "point") -> str:
    return f"""
[contract]
name = "Stylised tobacco-control"
currency = "USD"

[metrics.sales_reduction]
input = "estimate"
scale = "absolute"
direction = "decrease"
statistic = "{statistic}"

[triggers.reduced]
metric = "sales_reduction"
threshold = 10

[payments.success]
rule = "fixed"
amount = "500000"
when = ["reduced"]
"""


def _contract_block(path: Path) -> str:
    return f"""
[contract]
path = "{path.as_posix()}"
risk_draws = 200
[contract.inputs.sales_reduction]
estimate = "overall"
"""


# -- the spec ------------------------------------------------------------------------------


def test_prediction_intervals_key_is_read() -> None:
    spec = load_spec(_with(PI))
    assert spec.design_keys["prediction_intervals"] == {
        "level": 0.9,
        "out_of_sample": "gaussian",
        "n_sims": 60,
    }
    defaults = load_spec(_with("prediction_intervals = true")).design_keys
    assert defaults["prediction_intervals"] == {
        "level": None,
        "out_of_sample": "gaussian",
        "n_sims": 200,
    }
    assert "prediction_intervals" not in load_spec(EXAMPLE).design_keys


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("prediction_intervals = { level = 1.5 }", "`design.prediction_intervals.level` must be"),
        (
            'prediction_intervals = { out_of_sample = "gausian" }',
            "`design.prediction_intervals.out_of_sample` must be one of "
            "['gaussian', 'ls', 'qreg']; received 'gausian'; did you mean 'gaussian'?",
        ),
        ("prediction_intervals = { n_sims = 10 }", "must be an integer >= 50; received 10"),
        ("prediction_intervals = { sims = 100 }", "did you mean 'n_sims'?"),
        ("prediction_intervals = false", "leave the key out for no intervals"),
        ('prediction_intervals = "yes"', "must be true or a table"),
    ],
)
def test_bad_prediction_intervals_are_refused(extra: str, message: str) -> None:
    with pytest.raises(ReportSpecError, match=re.escape(message)):
        load_spec(_with(extra))


def test_prediction_intervals_need_a_plain_synthetic_control() -> None:
    sdid = EXAMPLE.replace('estimator = "synthetic_control"', 'estimator = "synthetic_did"', 1)
    sdid = sdid[: sdid.index("alternatives = [")]
    with pytest.raises(ReportSpecError, match="estimator 'synthetic_did'"):
        load_spec(_with(PI, sdid))
    augmented = _with(PI).replace('inference = "none"\npredictors', 'augment = "ridge"\npredictors')
    with pytest.raises(ReportSpecError, match=r"augmented \(augment = 'ridge'\)"):
        load_spec(augmented)
    did = (ROOT / "examples" / "did_mpdta.toml").read_text()
    did = did.replace('type = "did"\n', f'type = "did"\n{PI}\n')
    with pytest.raises(ReportSpecError, match="received design 'did'"):
        load_spec(did)


# -- the cells -----------------------------------------------------------------------------


def _sources(spec: object, tag: str, plan: NotebookPlan | None = None) -> list[str]:
    c = Cells()
    section = design_section(spec)  # type: ignore[arg-type]
    section.after_fit(c, spec)  # type: ignore[arg-type]
    section.beside_estimates(c, spec, plan)  # type: ignore[arg-type]
    return [x.source for x in c.cells if tag in x.metadata.get("tags", [])]


def test_interval_cell_binds_to_prediction_intervals() -> None:
    (source,) = _sources(load_spec(_with(PI)), "prediction-intervals")
    (call,) = [
        n
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "sc.prediction_intervals"
    ]
    keywords = {k.arg: ast.unparse(k.value) for k in call.keywords if k.arg is not None}
    assert keywords == {
        "level": "0.9",
        "out_of_sample": "'gaussian'",
        "n_sims": "60",
        "rng": "SEED",
    }
    inspect.signature(ie.synth.SyntheticControl.prediction_intervals).bind(None, **keywords)
    (default,) = _sources(load_spec(_with("prediction_intervals = true")), "prediction-intervals")
    assert "level=LEVEL" in default
    assert _sources(load_spec(EXAMPLE), "prediction-intervals") == []


def test_decision_basis_cell_only_with_a_contract(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(_contract())
    spec = load_spec(_with(PI) + _contract_block(path))
    plan = NotebookPlan(data_files=(), spec_file="s.toml", contract_file="c.toml")
    (source,) = _sources(spec, "decision-basis", plan)
    assert "rt.decision_basis(CONTRACT, 'sales_reduction', primary, intervals=intervals)" in source
    assert _sources(dataclasses.replace(spec, contract=None), "decision-basis", plan) == []
    plain = dataclasses.replace(spec, design_keys={"treated_unit": "California"})
    (no_pi,) = _sources(plain, "decision-basis", plan)
    assert "intervals=None" in no_pi


def test_synthetic_control_cannot_feed_an_interval_rule(tmp_path: Path) -> None:
    """No standard error, so a lower-bound rule is refused before anything is written."""
    _smoking()  # check_spec reads the data
    path = tmp_path / "c.toml"
    path.write_text(_contract("lower_bound"))
    with pytest.raises(ReportSpecError, match=r"contract\.inputs\.sales_reduction.*no standard"):
        check_spec(_with(PI) + _contract_block(path))


# -- the sentence --------------------------------------------------------------------------


def _estimate(se: float) -> EffectEstimate:
    method = "synthetic difference in differences (placebo SE)"
    return EffectEstimate.from_wald(-18.98, se, level=0.95, df=None, estimand="ATT", method=method)


def test_decision_basis_names_the_interval_used() -> None:
    point = Contract.from_toml(_contract("point"))
    text = decision_basis(point, "sales_reduction", _estimate(float("nan")))
    assert text.startswith("The contract decides sales_reduction on the point estimate (-18.98)")
    assert "no interval enters the payment decision" in text
    bound = Contract.from_toml(_contract("lower_bound"))
    text = decision_basis(bound, "sales_reduction", _estimate(10.67))
    assert "uses an interval: the lower bound of a 95% one-sided confidence interval" in text
    assert "formed from its standard error (10.67, normal reference)" in text
    assert "synthetic difference in differences (placebo SE)" in text
    refused = decision_basis(bound, "sales_reduction", _estimate(float("nan")))
    assert "has no standard error, so that interval cannot be formed" in refused


# -- the report ----------------------------------------------------------------------------


def _smoking() -> pd.DataFrame:
    try:
        return ie.datasets.load("smoking")
    except DataUnavailableError:
        pytest.skip("the smoking panel is neither in $IMPACTEVAL_DATA_DIR nor downloadable")


def _outputs(nb_path: Path, tag: str, kind: str = "text/plain") -> str:
    nb = nbformat.read(nb_path, as_version=4)
    out = []
    for cell in nb.cells:
        if cell.cell_type == "code" and tag in cell.metadata.get("tags", []):
            for o in cell.outputs:
                if o.output_type == "stream":
                    out.append(o.text)
                elif "data" in o and kind in o.data:
                    out.append(o.data[kind])
    return "\n".join(out)


@pytest.mark.slow
def test_report_shows_prediction_intervals_and_the_decision_basis(tmp_path: Path) -> None:
    smoking = _smoking()
    path = tmp_path / "c.toml"
    path.write_text(_contract())
    spec = _with(PI)
    spec = spec[: spec.index("alternatives = [")] + spec[spec.index("[design.options]") :]
    (tmp_path / "s.toml").write_text(spec + _contract_block(path))
    paths = build_report(tmp_path / "s.toml", tmp_path / "out")
    parsed = load_spec(tmp_path / "s.toml")
    options = dict(parsed.estimator.options)
    predictors = [(p["column"], p["years"], p["stat"]) if p.get("stat") else
                  (p["column"], p["years"]) for p in options["predictors"]]  # fmt: skip
    sc = ie.synth.synthetic_control(
        smoking, outcome="cigsale", unit="state", time="year", treated_unit="California",
        treatment_time=1989, inference="none", predictors=predictors, rng=parsed.seed,
        level=0.95,
    )  # fmt: skip
    direct = sc.prediction_intervals(level=0.9, out_of_sample="gaussian", n_sims=60,
                                     rng=parsed.seed)  # fmt: skip
    shown = _outputs(paths.notebook, "prediction-intervals")
    assert "90% prediction intervals: gaussian out-of-sample bounds, 60 simulated draws" in shown
    for year in (1989, 2000):
        row = direct.table.set_index("time").loc[year]
        line = next(x for x in shown.splitlines() if x.startswith(str(year)))
        assert f"{row['lower']:.4f}" in line and f"{row['upper']:.4f}" in line
    html = paths.html.read_text(encoding="utf-8")
    assert "Prediction intervals" in html and "Y(0) 90% PI lower" in html
    basis = _outputs(paths.notebook, "decision-basis", "text/markdown")
    expected = decision_basis(Contract.from_toml(path), "sales_reduction",
                              ie.reporting.tables.as_estimate(sc), intervals=direct)  # fmt: skip
    assert f"- {expected}" in basis
    assert "the contract does not use them" in expected
    page_one = html[: html.index("About this report")]
    assert "Basis and robustness of the decision" in page_one
    assert "an estimate without a standard error" in page_one
    assert "is due under the Stylised tobacco-control contract" in page_one


@pytest.mark.slow
def test_interval_rule_report_says_the_estimates_own_interval_was_used(tmp_path: Path) -> None:
    _smoking()
    path = tmp_path / "c.toml"
    path.write_text(_contract("lower_bound"))
    spec = EXAMPLE.replace('estimator = "synthetic_control"', 'estimator = "synthetic_did"', 1)
    spec = spec[: spec.index("alternatives = [")] + 'options = { se = "placebo" }\n'
    (tmp_path / "s.toml").write_text(spec + _contract_block(path))
    paths = build_report(tmp_path / "s.toml", tmp_path / "out")
    basis = _outputs(paths.notebook, "decision-basis", "text/markdown")
    assert "uses an interval: the lower bound of a 95% one-sided confidence interval" in basis
    assert "The decision used the estimate's own interval, formed from its standard error" in (
        basis
    )
    assert "prediction intervals" not in basis
    assert (
        EstimatorSpec("synthetic_did", (("se", "placebo"),))
        == load_spec(tmp_path / "s.toml").estimator
    )
