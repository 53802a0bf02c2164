"""The DiD report's breakdown-value cell and the specs' wild-bootstrap options (no kernel).

For every DiD estimator the cell written next to the estimates must call ``.sensitivity``
on an event study whose ``att_gt`` call binds to the real signature with a universal base
period; other designs write no such cell. Specs may ask regression and TWFE for the wild
cluster bootstrap: the call then carries the report's seed, and a bad option is refused
when the spec is read.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest

import impacteval as ie
from impacteval.reporting._cells import Cells
from impacteval.reporting._designs import design_section
from impacteval.reporting.errors import ReportSpecError
from impacteval.reporting.spec import EstimatorSpec, load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _cells(spec: object) -> list[str]:
    c = Cells()
    design_section(spec).beside_estimates(c, spec)  # type: ignore[arg-type]
    return [cell.source for cell in c.cells if cell.cell_type == "code"]


@pytest.mark.parametrize("estimator", ["att_gt", "twfe", "event_study"])
def test_did_writes_the_breakdown_cell(estimator: str) -> None:
    spec = load_spec(EXAMPLES / "did_mpdta.toml")
    options = spec.estimator.options if estimator == "att_gt" else ()
    spec = dataclasses.replace(spec, estimator=EstimatorSpec(estimator, options))
    (source,) = _cells(spec)
    tree = ast.parse(source)
    assert 'sensitivity(e="average", level=LEVEL)' in source
    assert "breakdown_sentence()" in source
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    att_gt = [n for n in calls if ast.unparse(n.func) == "ie.did.att_gt"]
    if estimator == "event_study":  # the primary's own event study
        assert not att_gt and "event_study_fit = results[" in source
        return
    (call,) = att_gt
    keywords = {k.arg: ast.unparse(k.value) for k in call.keywords if k.arg is not None}
    assert keywords["base_period"] == "'universal'"
    inspect.signature(ie.did.att_gt).bind(None, **keywords)
    if estimator == "att_gt":  # the primary's options carried over
        assert keywords["control_group"] == "'never_treated'" and keywords["method"] == "'dr'"


@pytest.mark.parametrize("stem", ["rct_dib_learning", "matching_lalonde_psid"])
def test_other_designs_write_no_breakdown_cell(stem: str) -> None:
    assert _cells(load_spec(EXAMPLES / f"{stem}.toml")) == []


def _wild_spec(options: str) -> str:
    text = (EXAMPLES / "did_mpdta.toml").read_text()
    text = text.replace(
        'path = "../data/sample/mpdta.csv"', f'path = "{EXAMPLES.parent}/data/sample/mpdta.csv"'
    )
    start = text.index('estimator = "att_gt"')
    end = text.index("[equity]")
    return text[:start] + f'estimator = "twfe"\noptions = {options}\n\n' + text[end:]


def test_twfe_with_wild_bootstrap_gets_the_seed() -> None:
    spec = load_spec(_wild_spec('{ inference = "wild", wild_bootstrap = { B = 999 } }'))
    source = design_section(spec).call(spec, spec.estimator)
    assert "inference='wild'" in source and "rng=SEED" in source
    assert "wild_bootstrap={'B': 999}" in source
    analytic = load_spec(_wild_spec('{ se_type = "CR1" }'))
    assert "rng=" not in design_section(analytic).call(analytic, analytic.estimator)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('{ inference = "bootstrap" }', "`inference` must be one of"),
        ('{ inference = "wild", wild_bootstrap = { draws = 99 } }', "unknown option 'draws'"),
        ("{ wild_bootstrap = { B = 99 } }", "only with inference='wild'"),
    ],
)
def test_bad_wild_options_are_refused_when_the_spec_is_read(options: str, message: str) -> None:
    with pytest.raises(
        ReportSpecError, match=r"`design\.options`: .*" + message.replace("(", r"\(")
    ):
        load_spec(_wild_spec(options))
