"""Report specs: validation on load, and bad input refused before any notebook is written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from impacteval.reporting import ReportSpecError, build_report, check_spec, load_spec
from impacteval.reporting.tables import mask_small_cells, select, subgroup_effects

ROOT = Path(__file__).resolve().parents[2]
DATA = (ROOT / "data" / "sample").as_posix()
CONTRACTS = (ROOT / "contracts").as_posix()

MATCHING = f"""
[report]
title = "t"
evaluator = "e"
seed = 1

[data]
path = "{DATA}/sib_reoffending.csv"
exclude = "excluded"
exclusion_reason = "exclusion_reason"

[columns]
outcome = "reconvictions"
treatment = "treated"
covariates = ["age", "female", "prior_convictions"]

[design]
type = "matching"
options = {{ ratio = 10, replace = true }}

[[estimates]]
id = "cohort_1"
where = {{ cohort = 1 }}

[[estimates]]
id = "cohort_2"
where = {{ cohort = 2 }}

[equity]
subgroups = {{ female = {{ female = 1 }}, age_under_25 = {{ age = {{ lt = 25 }} }} }}

[contract]
path = "{CONTRACTS}/peterborough.toml"
[contract.inputs.cohort_1]
estimate = "cohort_1"
multiplier = 100
rates = true
[contract.inputs.cohort_2]
estimate = "cohort_2"
multiplier = 100
rates = true
"""


def test_valid_spec_passes_every_check() -> None:
    spec, subgroups = check_spec(MATCHING)
    assert spec.design == "matching" and spec.estimator.name == "nearest_neighbor"
    assert [m.metric for m in spec.contract.inputs] == ["cohort_1", "cohort_2"]  # type: ignore[union-attr]
    assert subgroups == ("female", "age_under_25")
    assert spec.min_cell_size == 10  # the default


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("sib_reoffending.csv", "no_such_file.csv", "`data.path`: no such file"),
        ('outcome = "reconvictions"', 'outcome = "reconvicitons"', "did you mean 'reconvictions'"),
        ('type = "matching"', 'type = "regression_discontinuity"', "unknown design"),
        ("[contract.inputs.cohort_2]", "[contract.inputs.cohort_3]", "no input metric 'cohort_3'"),
        ('estimate = "cohort_2"', 'estimate = "cohort_9"', "no estimate 'cohort_9'"),
        ("where = { cohort = 2 }", "where = { cohort = 7 }", "selects no rows"),
        ("female = { female = 1 }, ", "", "need subgroup 'female'"),
        ("ratio = 10", "ration = 10", "did you mean 'ratio'"),
        ('title = "t"', 'titel = "t"', "`report.title` is required"),
    ],
)
def test_bad_spec_is_refused_before_any_notebook_is_written(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in MATCHING
    out = tmp_path / "out"
    with pytest.raises(ReportSpecError, match=re.escape(message)):
        build_report(MATCHING.replace(old, new, 1), out)
    assert not out.exists()  # nothing written, not even the folder
    assert not list(tmp_path.rglob("*.ipynb"))


def test_contract_missing_a_metric_is_refused(tmp_path: Path) -> None:
    spec = MATCHING.split("[contract.inputs.cohort_2]")[0]
    with pytest.raises(ReportSpecError, match=r"needs metrics \['cohort_2'\]"):
        build_report(spec, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_spec_errors_name_the_key_and_the_value() -> None:
    with pytest.raises(ReportSpecError, match=r"`design.level` must be strictly between 0 and 1"):
        load_spec(MATCHING.replace('type = "matching"', 'type = "matching"\nlevel = 95'))
    with pytest.raises(ReportSpecError, match=r"age\.below`: unknown comparison"):
        load_spec(MATCHING.replace("{ lt = 25 }", "{ below = 25 }"))
    with pytest.raises(ReportSpecError, match=r"not an option of ipw.*allowed"):
        load_spec(
            MATCHING.replace(
                "replace = true }",
                'replace = true }\nalternatives = [{ estimator = "ipw", ratio = 2 }]',
            )
        )
    with pytest.raises(ReportSpecError, match="no report spec file"):
        load_spec(Path("/nonexistent/spec.toml"))


def test_select_filters() -> None:
    df = pd.DataFrame({"age": [20, 30, 40, 50], "g": ["a", "b", "a", "c"]})
    assert df[select(df, {"age": {"ge": 30, "lt": 50}})].index.tolist() == [1, 2]
    assert df[select(df, {"g": ["a", "c"]})].index.tolist() == [0, 2, 3]
    assert select(df, None).all()


def test_subgroup_of_nine_people_is_masked() -> None:
    """9 treated people in a subgroup: counts shown as '<10', effect and interval masked."""
    rng = np.random.default_rng(7)
    n = 400
    df = pd.DataFrame({"d": np.repeat([1, 0], n // 2), "y": rng.normal(size=n)})
    df["rare"] = 0
    df.loc[df.index[:9], "rare"] = 1  # 9 treated
    df.loc[df.index[n // 2 : n // 2 + 30], "rare"] = 1  # 30 controls
    import impacteval as ie

    def est(rows: pd.DataFrame) -> ie.EffectEstimate:
        return ie.rct.difference_in_means(rows, outcome="y", treatment="d")

    effects = subgroup_effects(df, {"rare": {"rare": 1}, "common": {"rare": 0}}, est, treatment="d")
    assert effects.loc["rare", "n_treated"] == 9
    masked = mask_small_cells(effects, 10)
    rare = masked.loc["rare"]
    assert rare["n_treated"] == "<10" and rare["n_control"] == "30"
    assert {rare[c] for c in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")} == {
        "masked"
    }
    assert masked.loc["common", "estimate"] != "masked"
    # a lower threshold shows the cell
    assert mask_small_cells(effects, 9).loc["rare", "estimate"] != "masked"


def test_misspelt_required_key_names_the_misspelling() -> None:
    with pytest.raises(ReportSpecError, match=r"`report.titel`: unknown key; did you mean 'title'"):
        load_spec(MATCHING.replace('title = "t"', 'titel = "t"'))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("ratio = 10", "ratio = 100", "`design.options.ratio` must be an integer from 1 to 10"),
        ("replace = true", 'replace = "yes"', "`design.options.replace` must be true or false"),
        ("ratio = 10", "ratio = 10, caliper = -1", "`design.options.caliper` must be a positive"),
        ("ratio = 10", 'ratio = 10, estimand = "ATX"', "one of 'ATT', 'ATE', 'ATC'"),
    ],
)
def test_bad_option_values_are_refused_on_load(old: str, new: str, message: str) -> None:
    with pytest.raises(ReportSpecError, match=re.escape(message)):
        load_spec(MATCHING.replace(old, new, 1))


@pytest.mark.slow
def test_a_build_that_fails_while_executing_leaves_no_files(tmp_path: Path) -> None:
    from impacteval.reporting import ReportExecutionError

    # a negative scale passes the spec's checks but makes the contract refuse its input
    # (a negative comparison rate) while the notebook runs
    spec = MATCHING.replace("multiplier = 100", "multiplier = -100", 1)
    out = tmp_path / "out"
    with pytest.raises(ReportExecutionError, match="nothing was written") as info:
        build_report(spec, out)
    assert "\x1b[" not in str(info.value)  # no terminal colour codes in the message
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # the temporary build folder is gone too
