"""impacteval.rct against R estimatr 1.0.0 (values in data/estimatr_reference.json).

Generator: tests/reference/r/generate_estimatr.R (R 4.2.2, estimatr 1.0.0, clubSandwich
0.5.8; versions recorded in the JSON). Formulas: tests/reference/r/ESTIMATR_FORMULAS.md.
Tolerance: 1e-6 relative (the issue's bar); both sides compute the same closed forms in
double precision, and the JSON keeps 15 significant digits, so agreement is ~1e-12.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import impacteval as ie

HERE = Path(__file__).resolve().parent
REFERENCE = json.loads((HERE / "data" / "estimatr_reference.json").read_text())
CASES = {case["id"]: case for case in REFERENCE["cases"]}
REL = 1e-6

NSW_FULL = ["age", "age2", "educ", "nodegree", "black", "hisp", "re74", "re75"]
TRIAL_X = ["x1", "x2"]

# case id -> (function, keyword arguments) reproducing the R call recorded in the JSON
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "dim_nsw_plain": ("dim", dict(outcome="re78", treatment="treat")),
    "dim_trial_blocks": ("dim", dict(outcome="y", treatment="z", blocks="block")),
    "dim_trial_clusters": ("dim", dict(outcome="y", treatment="z", cluster="cluster")),
    "dim_trial_blocks_clusters": (
        "dim",
        dict(outcome="y", treatment="z", blocks="block", cluster="cluster"),
    ),
    "dim_trial_weights": ("dim", dict(outcome="y", treatment="z", weights="w")),
    "dim_trial_blocks_weights": (
        "dim",
        dict(outcome="y", treatment="z", blocks="block", weights="w"),
    ),
    "dim_trial_clusters_weights": (
        "dim",
        dict(outcome="y", treatment="z", cluster="cluster", weights="w"),
    ),
    "dim_pairs": ("dim", dict(outcome="y", treatment="z", blocks="pair")),
    "dim_pairs_mixed_blocks": ("dim", dict(outcome="y", treatment="z", blocks="block_mixed")),
    "dim_cluster_pairs": (
        "dim",
        dict(outcome="y", treatment="z", blocks="pair", cluster="cluster"),
    ),
}
for _se in ("classical", "HC0", "HC1", "HC2", "HC3"):
    CALLS[f"lmr_nsw_simple_{_se}"] = ("reg", dict(outcome="re78", treatment="treat", se_type=_se))
    CALLS[f"lmr_nsw_full_{_se}"] = (
        "reg",
        dict(
            outcome="re78",
            treatment="treat",
            covariates=NSW_FULL,
            adjustment="additive",
            se_type=_se,
        ),
    )
for _se in ("CR0", "stata", "CR2"):
    CALLS[f"lmr_trial_cl_{_se}"] = (
        "reg",
        dict(
            outcome="y",
            treatment="z",
            covariates=TRIAL_X,
            adjustment="additive",
            cluster="cluster",
            se_type=_se,
        ),
    )
_ADD = dict(outcome="y", treatment="z", covariates=TRIAL_X, adjustment="additive")
CALLS.update(
    {
        "lmr_trial_w_HC1": ("reg", {**_ADD, "weights": "w", "se_type": "HC1"}),
        "lmr_trial_w_HC2": ("reg", {**_ADD, "weights": "w", "se_type": "HC2"}),
        "lmr_trial_w_cl_CR2": (
            "reg",
            {**_ADD, "weights": "w", "cluster": "cluster", "se_type": "CR2"},
        ),
        "lmr_trial_w_cl_stata": (
            "reg",
            {**_ADD, "weights": "w", "cluster": "cluster", "se_type": "stata"},
        ),
        "lmr_trial_fe_HC1": ("reg", {**_ADD, "fixed_effects": "block", "se_type": "HC1"}),
        "lmr_trial_fe_HC2": ("reg", {**_ADD, "fixed_effects": "block", "se_type": "HC2"}),
        "lmr_trial_fe_cl_CR2": (
            "reg",
            {**_ADD, "fixed_effects": "block", "cluster": "cluster", "se_type": "CR2"},
        ),
        "lmr_trial_fe_cl_stata": (
            "reg",
            {**_ADD, "fixed_effects": "block", "cluster": "cluster", "se_type": "stata"},
        ),
        "lmr_trial_fe_w_HC2": (
            "reg",
            {**_ADD, "fixed_effects": "block", "weights": "w", "se_type": "HC2"},
        ),
        "lin_nsw_HC2": (
            "reg",
            dict(
                outcome="re78",
                treatment="treat",
                covariates=["age", "educ", "re74", "re75"],
                se_type="HC2",
            ),
        ),
        "lin_trial_cl_CR2": (
            "reg",
            dict(outcome="y", treatment="z", covariates=TRIAL_X, cluster="cluster", se_type="CR2"),
        ),
        "lin_trial_w_HC2": (
            "reg",
            dict(outcome="y", treatment="z", covariates=TRIAL_X, weights="w", se_type="HC2"),
        ),
    }
)


def _data(case: dict[str, Any]) -> pd.DataFrame:
    name = case["dataset"]
    if name == "nsw_dw.csv":
        frame = ie.datasets.load("nsw_dw")
        return frame.assign(age2=frame["age"] ** 2)
    return pd.read_csv(HERE / "data" / name).astype(float)


def _term(name: str) -> str:
    return {"(Intercept)": "Intercept", "I(age^2)": "age2"}.get(name, name)


def test_every_reference_case_is_exercised() -> None:
    skipped = {"lmr_trial_collinear_HC2"}  # tested separately below (different drop rule)
    assert set(CASES) - skipped == set(CALLS)


@pytest.mark.parametrize("case_id", sorted(CALLS))
def test_matches_estimatr(case_id: str) -> None:
    case = CASES[case_id]
    kind, kwargs = CALLS[case_id]
    data = _data(case)
    if kind == "dim":
        with pytest.warns(Warning) if case.get("r_warnings") else _no_warning():
            res = ie.rct.difference_in_means(data, **kwargs)
        coef = case["coefficients"][0]
        assert res.estimate == pytest.approx(coef["estimate"], rel=REL)
        assert res.std_error == pytest.approx(coef["std.error"], rel=REL)
        assert res.df == pytest.approx(coef["df"], rel=REL)
        assert res.ci_lower == pytest.approx(coef["conf.low"], rel=REL)
        assert res.p_value == pytest.approx(coef["p.value"], rel=REL)
        assert res.n_obs == case["nobs"]
        return
    res = ie.rct.regression(data, **kwargs)
    table = res.details["coefficients"]
    for coef in case["coefficients"]:
        row = table.loc[_term(coef["term"])]
        assert row["estimate"] == pytest.approx(coef["estimate"], rel=REL, abs=1e-12), coef
        assert row["std_error"] == pytest.approx(coef["std.error"], rel=REL), coef
        assert row["df"] == pytest.approx(coef["df"], rel=REL), coef
        assert row["p_value"] == pytest.approx(coef["p.value"], rel=REL, abs=1e-300), coef
        assert row["ci_upper"] == pytest.approx(coef["conf.high"], rel=REL, abs=1e-12), coef
    assert res.n_obs == case["nobs"]
    if "lin_center" in case:
        centres = case["lin_center"]
        for name, value in centres.items() if isinstance(centres, dict) else []:
            assert res.details["covariate_means"][name] == pytest.approx(value, rel=1e-12)


def test_collinear_design_same_treatment_effect_as_estimatr() -> None:
    """estimatr's pivoted QR drops x1; impacteval drops the later column, as R's lm does.

    The column space is the same either way, so the treatment row is identical.
    """
    case = CASES["lmr_trial_collinear_HC2"]
    data = _data(case).assign(x12=lambda d: d["x1"] + d["x2"])
    with pytest.warns(Warning, match="collinear"):
        res = ie.rct.regression(
            data, outcome="y", treatment="z", covariates=["x1", "x2", "x12"], adjustment="additive"
        )
    ref = next(c for c in case["coefficients"] if c["term"] == "z")
    assert res.estimate == pytest.approx(ref["estimate"], rel=REL)
    assert res.std_error == pytest.approx(ref["std.error"], rel=REL)
    assert res.df == pytest.approx(ref["df"], rel=REL)
    assert math.isnan(res.details["coefficients"].loc["x12", "estimate"])


class _no_warning:
    """Context manager asserting that no impacteval warning is raised."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("error", ie.exceptions.ImpactEvalWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)
