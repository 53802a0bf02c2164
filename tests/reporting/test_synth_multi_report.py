"""A synth report with several treated units: ``[columns] treatment`` (a 0/1 absorbing
indicator, staggered adoption) with multisynth as primary and synthetic DiD beside it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.payments import Contract
from impacteval.reporting import build_report
from impacteval.reporting._cells import NotebookPlan
from impacteval.reporting._designs import design_section
from impacteval.reporting.build import check_spec
from impacteval.reporting.errors import ReportSpecError
from impacteval.reporting.notebook import make_notebook
from impacteval.reporting.spec import load_spec
from impacteval.reporting.tables import metric_input

SPEC = """
[report]
title = "staggered synth report"
evaluator = "test"
seed = 7

[data]
path = "panel.csv"

[columns]
outcome = "sales"
unit = "region"
time = "year"
treatment = "treated"

[design]
type = "synth"
estimator = "multisynth"
alternatives = [{ estimator = "synthetic_did", method = "sdid" }]
"""

CONTRACT = """
[contract]
name = "Staggered sales contract"
currency = "GBP"

[metrics.sales_gain]
input = "estimate"
scale = "absolute"
direction = "increase"
statistic = "lower_bound"

[payments.per_unit]
rule = "linear"
metric = "sales_gain"
price = "1000"
"""

CONTRACT_BLOCK = """
[contract]
path = "contract.toml"
risk_draws = 200
[contract.inputs.sales_gain]
estimate = "overall"
"""

#: adoption period (column index) of the treated units r00..r03; r04..r13 never treated
ADOPTION = {0: 7, 1: 7, 2: 9, 3: 9}


def _panel() -> pd.DataFrame:
    """14 regions x 12 years, two factors; r00/r01 adopt in 2007, r02/r03 in 2009, with
    effects 1.0 + 0.5 * unit index (so per-unit effects differ)."""
    rng = np.random.default_rng(3)
    n, t = 14, 12
    y = rng.uniform(size=(n, 2)) @ np.cumsum(rng.normal(size=(t, 2)), axis=0).T
    y += rng.normal(scale=0.2, size=(n, t))
    d = np.zeros((n, t), dtype=int)
    for i, a in ADOPTION.items():
        d[i, a:] = 1
        y[i, a:] += 1.0 + 0.5 * i
    return pd.DataFrame(
        {
            "region": np.repeat([f"r{i:02d}" for i in range(n)], t),
            "year": np.tile(np.arange(2000, 2000 + t), n),
            "sales": y.ravel(),
            "treated": d.ravel(),
        }
    )


def _write(tmp_path: Path, spec: str, panel: pd.DataFrame | None = None) -> Path:
    (tmp_path / "panel.csv").write_text((_panel() if panel is None else panel).to_csv(index=False))
    path = tmp_path / "spec.toml"
    path.write_text(spec)
    return path


def _outputs(notebook: Path, tag: str) -> str:
    """Text and plain-text outputs of the cells tagged ``tag``."""
    nb = nbformat.read(notebook, as_version=4)
    out = []
    for cell in nb.cells:
        if tag in cell.get("metadata", {}).get("tags", []):
            for o in cell.get("outputs", []):
                if "text" in o:
                    out.append(o.text)
                elif "data" in o and "text/plain" in o.data:
                    out.append(o.data["text/plain"])
    return "\n".join(out)


# -- the spec ------------------------------------------------------------------------------


def test_treatment_column_is_read_without_design_keys(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, SPEC))
    assert spec.column("treatment") == "treated"
    assert spec.estimator.name == "multisynth"
    assert "treated_unit" not in spec.design_keys
    assert [a.name for a in spec.alternatives] == ["synthetic_did"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            ('estimator = "multisynth"', 'estimator = "multisynth"\ntreated_unit = "r00"'),
            r"`columns\.treatment` \('treated'\) and `design\.treated_unit` both",
        ),
        (
            ('estimator = "multisynth"', 'estimator = "multisynth"\ntreatment_time = 2007'),
            r"and `design\.treatment_time` both say who is treated",
        ),
        (
            ('estimator = "multisynth"', 'estimator = "synthetic_control"'),
            r"`design\.estimator`: 'synthetic_control' fits one treated unit.*use 'multisynth'",
        ),
        (
            ('estimator = "multisynth"\n', ""),  # the default primary is synthetic_control
            r"`design\.estimator`: 'synthetic_control' fits one treated unit",
        ),
        (
            ('method = "sdid" }]', 'method = "sdid" }, "synthetic_control"]'),
            r"`design\.alternatives\[1\]`: 'synthetic_control' fits one treated unit",
        ),
        (
            ('treatment = "treated"\n', ""),
            r"needs `design\.treated_unit` and `design\.treatment_time`.*or "
            r"`columns\.treatment`",
        ),
        (
            ('estimator = "multisynth"', 'estimator = "multisynth"\nprediction_intervals = true'),
            r"prediction_intervals",
        ),
    ],
)
def test_bad_combinations_are_refused_naming_the_keys(
    tmp_path: Path, change: tuple[str, str], match: str
) -> None:
    assert change[0] in SPEC
    with pytest.raises(ReportSpecError, match=match):
        load_spec(_write(tmp_path, SPEC.replace(*change)))


def test_one_of_the_two_design_keys_alone_is_refused(tmp_path: Path) -> None:
    text = SPEC.replace('treatment = "treated"\n', "").replace(
        'estimator = "multisynth"', 'estimator = "multisynth"\ntreated_unit = "r00"'
    )
    with pytest.raises(ReportSpecError, match=r"missing \['design\.treatment_time'\]"):
        load_spec(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda p: p.assign(treated=p["treated"] * 2), r"must be coded 0/1; values found"),
        (
            lambda p: p.assign(treated=p.treated.where((p.region != "r00") | (p.year != 2010), 0)),
            r"must be absorbing.*unit 'r00' returns to 0 in period 2010",
        ),
        (lambda p: p.assign(treated=0), r"at least one treated unit.*found 0 treated of 14"),
        (lambda p: p.assign(treated=(p.year >= 2008).astype(int)), r"found 14 treated of 14"),
        (
            lambda p: p.assign(treated=np.where(p.region == "r05", 1, p.treated)),
            r"units \['r05'\] are treated in the first period \(2000\)",
        ),
    ],
)
def test_bad_treatment_column_is_refused_before_the_build(
    tmp_path: Path, edit: object, match: str
) -> None:
    panel = edit(_panel())  # type: ignore[operator]
    with pytest.raises(ReportSpecError, match=r"`columns\.treatment` \('treated'\).*" + match):
        check_spec(_write(tmp_path, SPEC, panel))


@pytest.mark.parametrize("estimator", ["multisynth", "synthetic_did"])
def test_notebook_calls_bind_and_the_multi_unit_cells_follow_the_primary(
    tmp_path: Path, estimator: str
) -> None:
    spec = load_spec(_write(tmp_path, SPEC.replace('"multisynth"', repr(estimator))))
    section = design_section(spec)
    assert section.treatment_is_column and section.treatment_code is None
    for est in (spec.estimator, *spec.alternatives):
        call = ast.parse(section.call(spec, est), mode="eval").body
        assert isinstance(call, ast.Call)
        keywords = {k.arg: ast.unparse(k.value) for k in call.keywords if k.arg is not None}
        assert keywords["treatment"] == "TREATMENT"
        inspect.signature(getattr(ie.synth, est.name)).bind(None, **keywords)
    nb = make_notebook(spec, NotebookPlan(("panel.csv",), "spec.toml", None))
    tags = {t for cell in nb.cells for t in cell.get("metadata", {}).get("tags", [])}
    assert "adoption" in tags and "flow" in tags
    assert ("multisynth-event" in tags) == (estimator == "multisynth")
    source = "\n".join(cell.source for cell in nb.cells)
    assert "TREATED_UNIT" not in source and "treated_post" not in source


def test_interval_rule_needs_the_jackknife(tmp_path: Path) -> None:
    (tmp_path / "contract.toml").write_text(CONTRACT)
    no_se = 'method = "sdid" }]\noptions = { inference = "none" }'
    spec = SPEC.replace('method = "sdid" }]', no_se)
    with pytest.raises(
        ReportSpecError,
        match=r"`contract\.inputs\.sales_gain`.*statistic='lower_bound'.*multisynth with "
        r"`design\.options\.inference = 'none'` gives no standard error",
    ):
        check_spec(_write(tmp_path, spec + CONTRACT_BLOCK))
    assert check_spec(_write(tmp_path, SPEC + CONTRACT_BLOCK))[0].estimator.name == "multisynth"


# -- the built report ----------------------------------------------------------------------


@pytest.mark.slow
def test_report_with_several_treated_units(tmp_path: Path) -> None:
    panel = _panel()
    (tmp_path / "contract.toml").write_text(CONTRACT)
    paths = build_report(_write(tmp_path, SPEC + CONTRACT_BLOCK), tmp_path / "out")
    direct = ie.synth.multisynth(
        panel, outcome="sales", unit="region", time="year", treatment="treated", rng=7
    )
    assert direct.unit_averages is not None and direct.n_treated == 4

    adoption = _outputs(paths.notebook, "adoption")
    assert "4 treated units adopting in 2 periods; 10 units never treated" in adoption
    for unit, col in ADOPTION.items():
        line = next(x for x in adoption.splitlines() if x.startswith(f"r{unit:02d}"))
        assert line.split()[1] == str(2000 + col) and line.split()[2] == str(col)

    event = _outputs(paths.notebook, "multisynth-event")
    assert f"{direct.estimate:.4g}, jackknife SE {direct.std_error:.4g}" in event
    assert f"95% CI [{direct.ci_lower:.4g}, {direct.ci_upper:.4g}]" in event
    for row in direct.table.itertuples():
        line = next(x for x in event.splitlines() if x.split()[:1] == [str(row.event_time)])
        shown = line.split()
        assert shown[1:5] == [f"{v:.4g}" for v in (row.estimate, row.std_error, row.ci_lower,
                                                   row.ci_upper)]  # fmt: skip
        assert shown[5] == str(row.n_units)

    units = _outputs(paths.notebook, "multisynth-units")
    for row in direct.unit_averages.table.itertuples():
        line = next(x for x in units.splitlines() if x.startswith(row.unit)).split()
        numbers = (row.estimate, row.std_error, row.ci_lower, row.ci_upper)
        assert line[1:] == [*(f"{v:.4g}" for v in numbers), str(row.adoption)]

    pooling = _outputs(paths.notebook, "multisynth-pooling")
    assert f"pooling nu = {direct.nu:.3g}" in pooling
    assert f"pooled {direct.pooled_imbalance:.4g}, separate {direct.separate_imbalance:.4g}" in (
        pooling
    )
    # the per-unit RMS imbalances shown are those whose root mean square is q_sep
    shown_rms = [float(x.split()[1]) for x in pooling.splitlines() if x.startswith("r0")]
    assert len(shown_rms) == 4
    assert np.sqrt(np.mean(np.square(shown_rms))) == pytest.approx(
        direct.separate_imbalance, rel=1e-3
    )

    html = paths.html.read_text(encoding="utf-8")
    assert "multisynth, partially pooled synthetic control (jackknife SE)" in html
    assert "synthetic difference in differences" in html
    sdid = ie.synth.synthetic_did(
        panel, outcome="sales", unit="region", time="year", treatment="treated",
        method="sdid", rng=7,
    )  # fmt: skip
    assert f"{sdid.estimate:.4g}" in html

    # the contract is settled on the overall effect (its lower bound: the rule's statistic)
    contract = Contract.from_toml(tmp_path / "contract.toml")
    settled = contract.settle({"sales_gain": metric_input(direct)})
    assert metric_input(direct) is direct.overall
    assert settled.total > 0
    total = f"Total due: {ie.reporting.tables.money(settled.total, settled.currency)}"
    assert total in _outputs(paths.notebook, "settlement")
