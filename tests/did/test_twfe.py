"""Two-way fixed effects against pyfixest 0.60.0 and the small-sample conventions of peers.

Reference values: tests/reference/data/pyfixest_twfe.json, written by
tests/reference/peers/generate_pyfixest_twfe.py (pyfixest 0.60.0 in a separate venv; not a
dependency). Tolerance 1e-8 relative: the same closed forms in double precision, the
demeaning converged to 1e-12. Clustered SEs on mpdta by county: CR0 0.01324,
CR2 0.01327, estimatr ``se_type="stata"`` (every FE dummy in K) 0.01483, fixest / pyfixest
(FEs nested in the cluster not counted) 0.01326, to the printed 4 significant digits.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.did.twfe import demean_two_way
from impacteval.exceptions import DataValidationError, ImpactEvalWarning

DATA = Path(__file__).resolve().parents[1] / "reference" / "data"
REFERENCE = {c["id"]: c for c in json.loads((DATA / "pyfixest_twfe.json").read_text())["cases"]}


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    d = ie.datasets.load("mpdta")
    d["treat_post"] = ((d["first_treat"] > 0) & (d["year"] >= d["first_treat"])).astype(float)
    x = pd.read_csv(DATA / "mpdta_x_tv.csv")
    return d.merge(x, on=["countyreal", "year"], how="left")


def _check(res: ie.EffectEstimate, case_id: str) -> None:
    case = REFERENCE[case_id]
    table = res.details["coefficients"]
    for ref in case["coefficients"]:
        row = table.loc[ref["term"]]
        assert row["estimate"] == pytest.approx(ref["estimate"], rel=1e-8)
        assert row["std_error"] == pytest.approx(ref["std_error"], rel=1e-8)
        assert row["p_value"] == pytest.approx(ref["p_value"], rel=1e-6)
        assert row["ci_lower"] == pytest.approx(ref["ci_lower"], rel=1e-8)
    assert res.n_obs == case["nobs"]


def test_mpdta_against_pyfixest(mpdta: pd.DataFrame) -> None:
    res = ie.did.twfe(mpdta, outcome="lemp", treatment="treat_post", unit="countyreal", time="year")
    _check(res, "mpdta_balanced")
    assert res.df == 499  # G - 1


def test_covariate_and_unbalanced_panel_against_pyfixest(mpdta: pd.DataFrame) -> None:
    res = ie.did.twfe(
        mpdta,
        outcome="lemp",
        treatment="treat_post",
        unit="countyreal",
        time="year",
        covariates=["x_tv"],
    )
    _check(res, "mpdta_balanced_x")
    unbalanced = pd.read_csv(DATA / "mpdta_unbalanced.csv").astype(float)
    res_u = ie.did.twfe(
        unbalanced,
        outcome="lemp",
        treatment="treat_post",
        unit="countyreal",
        time="year",
        covariates=["x_tv"],
    )
    _check(res_u, "mpdta_unbalanced_x")


@pytest.mark.parametrize(
    ("se_type", "printed"), [("CR0", 0.01324), ("CR2", 0.01327), ("stata", 0.01483)]
)
def test_small_sample_conventions_in_notes(
    mpdta: pd.DataFrame, se_type: str, printed: float
) -> None:
    res = ie.did.twfe(
        mpdta,
        outcome="lemp",
        treatment="treat_post",
        unit="countyreal",
        time="year",
        se_type=se_type,
    )
    assert res.std_error == pytest.approx(printed, abs=5e-6)


def test_time_invariant_covariate_is_dropped_with_warning(mpdta: pd.DataFrame) -> None:
    with pytest.warns(ImpactEvalWarning, match="lpop"):
        res = ie.did.twfe(
            mpdta,
            outcome="lemp",
            treatment="treat_post",
            unit="countyreal",
            time="year",
            covariates=["lpop"],
        )
    assert np.isnan(res.details["coefficients"].loc["lpop", "estimate"])


def test_two_by_two_equals_twfe_on_two_periods() -> None:
    rng = np.random.default_rng(8)
    n = 80
    g = (np.arange(n) < 30).astype(float)
    y0 = rng.normal(size=n) + g
    y1 = y0 + 0.3 + 1.2 * g + rng.normal(size=n)
    long = pd.DataFrame(
        {
            "id": np.r_[np.arange(n), np.arange(n)],
            "y": np.r_[y0, y1],
            "g": np.r_[g, g],
            "post": np.r_[np.zeros(n), np.ones(n)],
        }
    )
    long["d"] = long["g"] * long["post"]
    did = ie.did.two_by_two(long, outcome="y", treated="g", post="post", unit="id")
    fe = ie.did.twfe(long, outcome="y", treatment="d", unit="id", time="post", se_type="CR2")
    assert fe.estimate == pytest.approx(did.estimate, rel=1e-10)
    # with two periods the unit-clustered CR2 of TWFE equals HC2 on the changes
    assert fe.std_error == pytest.approx(did.std_error, rel=1e-8)


def test_demeaning_converges_on_unbalanced_panels() -> None:
    rng = np.random.default_rng(3)
    unit = rng.integers(0, 40, 600)
    time = rng.integers(0, 12, 600)
    values = rng.normal(size=(600, 2))
    out = demean_two_way(values, unit, time)
    for codes in (unit, time):
        means = np.array([out[codes == c].mean(axis=0) for c in np.unique(codes)])
        assert np.abs(means).max() < 1e-9


def test_bad_input(mpdta: pd.DataFrame) -> None:
    dup = pd.concat([mpdta, mpdta.iloc[:3]])
    with pytest.raises(DataValidationError, match=r"duplicate"):
        ie.did.twfe(dup, outcome="lemp", treatment="treat_post", unit="countyreal", time="year")
    with pytest.raises(DataValidationError, match=r"`se_type`"):
        ie.did.twfe(
            mpdta,
            outcome="lemp",
            treatment="treat_post",
            unit="countyreal",
            time="year",
            se_type="HC1",
        )
    everyone = mpdta.assign(d=(mpdta["year"] >= 2005).astype(float))
    with pytest.raises(DataValidationError, match=r"`treatment`.*collinear"):
        ie.did.twfe(everyone, outcome="lemp", treatment="d", unit="countyreal", time="year")
