"""impacteval.rct against R estimatr 1.0.0 on two datasets from estimatr's own repository.

The data (Angrist-Lang-Oreopoulos `alo_star_men`, Lin 2013's example, and `mtcars`) come from
a public repository, so they are not committed: they are read from
``$IMPACTEVAL_DATA_DIR/peer_tests`` (``../shared/data`` under ``make test``). The values in
data/estimatr_peer_cases.json come from tests/reference/r/generate_peer_cases.R (R 4.2.2,
estimatr 1.0.0). Tolerance 1e-6 relative, as for the other estimatr references.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import impacteval as ie

HERE = Path(__file__).resolve().parent
REFERENCE = json.loads((HERE / "data" / "estimatr_peer_cases.json").read_text())
CASES = {case["id"]: case for case in REFERENCE["cases"]}
REL = 1e-6

CALLS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "alo_lin_HC2": ("reg", "alo", dict(outcome="GPA_year1", treatment="sfsp", covariates=["gpa0"])),
    "alo_dim": ("dim", "alo", dict(outcome="GPA_year1", treatment="sfsp")),
    "alo_additive_HC3": (
        "reg",
        "alo",
        dict(
            outcome="GPA_year1",
            treatment="sfsp",
            covariates=["gpa0"],
            adjustment="additive",
            se_type="HC3",
        ),
    ),
    "mtcars_HC1": (
        "reg",
        "mtcars",
        dict(
            outcome="mpg",
            treatment="am",
            covariates=["hp", "wt"],
            adjustment="additive",
            se_type="HC1",
        ),
    ),
    "mtcars_cyl_CR2": (
        "reg",
        "mtcars",
        dict(
            outcome="mpg",
            treatment="am",
            covariates=["hp", "wt"],
            adjustment="additive",
            cluster="cyl",
        ),
    ),
    "mtcars_gear_fe_HC2": (
        "reg",
        "mtcars",
        dict(
            outcome="mpg",
            treatment="am",
            covariates=["wt"],
            adjustment="additive",
            fixed_effects="gear",
            se_type="HC2",
        ),
    ),
    "mtcars_lin_carb_CR2": (
        "reg",
        "mtcars",
        dict(outcome="mpg", treatment="am", covariates=["wt", "hp"], cluster="carb"),
    ),
}
FILES = {"alo": "estimatr_alo_star_men.csv", "mtcars": "estimatr_mtcars.csv"}


def _load(name: str) -> pd.DataFrame:
    root = os.environ.get("IMPACTEVAL_DATA_DIR")
    if not root:  # a clone without the shared data folder: nothing to compare against
        pytest.skip(
            f"needs the repository-sourced file peer_tests/{FILES[name]}: IMPACTEVAL_DATA_DIR "
            "is not set and ../shared/data does not exist"
        )
    if not (Path(root) / "peer_tests" / FILES[name]).is_file():
        pytest.fail(
            f"peer_tests/{FILES[name]} not found: set IMPACTEVAL_DATA_DIR to the "
            "shared data folder (make test does)"
        )
    return pd.read_csv(Path(root) / "peer_tests" / FILES[name]).astype(float)


def test_all_cases_covered() -> None:
    assert set(CALLS) == set(CASES)


@pytest.mark.parametrize("case_id", sorted(CALLS))
def test_matches_estimatr(case_id: str) -> None:
    kind, data_name, kwargs = CALLS[case_id]
    data = _load(data_name)
    case = CASES[case_id]
    if kind == "dim":
        res = ie.rct.difference_in_means(data, **kwargs)
        ref = case["coefficients"][0]
        assert (res.estimate, res.std_error, res.df, res.p_value) == pytest.approx(
            (ref["estimate"], ref["std.error"], ref["df"], ref["p.value"]), rel=REL
        )
        return
    res = ie.rct.regression(data, **kwargs)
    table = res.details["coefficients"]
    for ref in case["coefficients"]:
        row = table.loc[{"(Intercept)": "Intercept"}.get(ref["term"], ref["term"])]
        got = (row["estimate"], row["std_error"], row["df"], row["p_value"], row["ci_lower"])
        want = (ref["estimate"], ref["std.error"], ref["df"], ref["p.value"], ref["conf.low"])
        assert got == pytest.approx(want, rel=REL), ref["term"]
    assert res.n_obs == case["nobs"]
