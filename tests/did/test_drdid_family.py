"""The DRDID estimator family and the SE conventions of ``att_gt`` / ``two_by_two``:
identities that theory implies, and bad input.

Reference values against the peer are in test_drdid_family_reference.py.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.did import att_gt, two_by_two
from impacteval.did._drdid import (
    METHODS,
    PScore,
    ipw_did_panel,
    simple_did,
    std_ipw_did_panel,
)
from impacteval.exceptions import DataValidationError

MPDTA = {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first_treat"}
UNBALANCED = Path(__file__).resolve().parents[1] / "reference" / "data" / "mpdta_unbalanced.csv"


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    data: pd.DataFrame = ie.datasets.load("mpdta")
    return data


def test_ht_ipw_panel_is_the_2x2_did_without_covariates() -> None:
    # intercept-only logit: ps = the weighted treated share p, and the control weights
    # p / (1 - p) sum exactly to the treated weight, so Horvitz-Thompson = Hajek = 2x2 DiD,
    # estimate and influence function (seeded draw, n = 400; rounding error only)
    rng = np.random.default_rng(20260)
    n = 400
    d = (rng.random(n) < 0.3).astype(float)
    dy = rng.normal(size=n) + d
    w = rng.random(n) + 0.5
    x = np.ones((n, 1))
    att0, if0 = simple_did(dy, d, x, w / w.mean())
    for estimator in (ipw_did_panel, std_ipw_did_panel):
        att, inf = estimator(dy, d, x, w)
        assert att == pytest.approx(att0, abs=1e-12)
        np.testing.assert_allclose(inf, if0, atol=1e-10)


def test_rc_estimators_without_covariates_are_the_2x2_did(mpdta: pd.DataFrame) -> None:
    # every normalised estimator reduces to the four-means DiD with an intercept only
    kw: dict[str, Any] = {**MPDTA, "panel": False}
    reg = att_gt(mpdta, **kw, method="reg").table
    for method in ("dr", "dr_imp", "dr_rc1", "dr_imp_rc1", "ipw"):
        other = att_gt(mpdta, **kw, method=method).table
        np.testing.assert_allclose(other["estimate"], reg["estimate"], atol=1e-12)
        np.testing.assert_allclose(other["std_error"], reg["std_error"], rtol=1e-9)


def test_ht_ipw_rc_without_covariates_by_hand() -> None:
    # Horvitz-Thompson: each group-period sum over n P(D=1) P(T=t), not over its own size;
    # on rows where group and period are not independent (mpdta minus 250 random rows) it
    # differs from the four-means DiD, which the normalised estimators give
    data = pd.read_csv(UNBALANCED)
    res = att_gt(data, **MPDTA, panel=False, method="ipw_ht").table
    row = res[(res["group"] == 2004) & (res["time"] == 2004)].iloc[0]
    cell = data[data["first_treat"].isin([0, 2004]) & data["year"].isin([2003, 2004])]
    y = cell["lemp"].to_numpy()
    d = (cell["first_treat"] == 2004).to_numpy(float)
    t = (cell["year"] == 2004).to_numpy(float)
    n, pi, lam = len(y), d.mean(), t.mean()
    odds = pi / (1 - pi)
    att = (
        np.sum(d * t * y) / (n * pi * lam)
        - np.sum(d * (1 - t) * y) / (n * pi * (1 - lam))
        - np.sum(odds * (1 - d) * t * y) / (n * pi * lam)
        + np.sum(odds * (1 - d) * (1 - t) * y) / (n * pi * (1 - lam))
    )
    assert row["estimate"] == pytest.approx(att, abs=1e-12)
    reg = att_gt(data, **MPDTA, panel=False, method="reg").table
    assert abs(row["estimate"] - reg["estimate"].iloc[0]) > 1e-4


def test_drdid_convention_scales_cells_aggregations_and_pretest(mpdta: pd.DataFrame) -> None:
    # sd(IF)/sqrt(n) = sqrt(sum IF^2)/n * sqrt(n/(n-1)) when the IF columns have mean zero;
    # DRDID's influence functions do up to the logit's convergence (~1e-10 of the SE), so
    # the ratio is sqrt(500/499) to 1e-8 for cells, aggregations, and the Wald statistic
    # scales by (n-1)/n
    kw: dict[str, Any] = {**MPDTA, "covariates": ["lpop"], "method": "dr"}
    did = att_gt(mpdta, **kw)
    drdid = att_gt(mpdta, **kw, se_convention="drdid")
    factor = math.sqrt(500 / 499)
    np.testing.assert_array_equal(drdid.table["estimate"], did.table["estimate"])
    np.testing.assert_allclose(drdid.table["std_error"], did.table["std_error"] * factor, rtol=1e-8)
    for kind in ("simple", "dynamic"):
        a, b = did.aggregate(kind), drdid.aggregate(kind)
        np.testing.assert_allclose(b.table["std_error"], a.table["std_error"] * factor, rtol=1e-8)
        assert a.overall is not None and b.overall is not None
        assert b.overall.std_error == pytest.approx(a.overall.std_error * factor, rel=1e-8)
    w_did, w_drdid = did.pretrend_test(), drdid.pretrend_test()
    assert w_drdid.statistic == pytest.approx(w_did.statistic / factor**2, rel=1e-7)
    assert drdid.provenance.options["se_convention"] == "drdid"
    assert "sd(IF)/sqrt(n)" in drdid.method


def test_default_convention_unchanged(mpdta: pd.DataFrame) -> None:
    kw: dict[str, Any] = {**MPDTA, "covariates": ["lpop"]}
    a, b = att_gt(mpdta, **kw), att_gt(mpdta, **kw, se_convention="did")
    np.testing.assert_array_equal(a.table["std_error"], b.table["std_error"])


@pytest.mark.parametrize("method", ["dr_imp", "dr_rc1", "dr_imp_rc1", "ipw_ht"])
def test_unbalanced_panel_route(method: str) -> None:
    # allow_unbalanced_panel runs the repeated-cross-section estimators on the observed rows
    data = pd.read_csv(UNBALANCED)
    kw: dict[str, Any] = {**MPDTA, "allow_unbalanced_panel": True}
    res = att_gt(data, **kw, covariates=["lpop"], method=method)
    assert res.details["layout"] == "unbalanced_panel"
    assert np.all(np.isfinite(res.table["estimate"]))
    assert np.all(np.isfinite(res.table["std_error"]))
    if method != "ipw_ht":  # intercept only: the 2x2 DiD, as reg
        plain = att_gt(data, **kw, method=method).table
        reg = att_gt(data, **kw, method="reg").table
        np.testing.assert_allclose(plain["estimate"], reg["estimate"], atol=1e-12)


def test_two_by_two_se_types(mpdta: pd.DataFrame) -> None:
    two = mpdta[mpdta["year"].isin([2003, 2004])].copy()
    two["treated"] = (two["first_treat"] == 2004).astype(int)
    two = two[two["first_treat"].isin([0, 2004])]
    two["post"] = (two["year"] == 2004).astype(int)
    kw: dict[str, Any] = {"outcome": "lemp", "treated": "treated", "post": "post"}
    default = two_by_two(two, **kw)
    hc2 = two_by_two(two, **kw, se_type="HC2")
    assert hc2.std_error == default.std_error
    hc0 = two_by_two(two, **kw, se_type="HC0")
    drdid = two_by_two(two, **kw, se_type="drdid")
    n = len(two)
    # DRDID's TWFE SE is HC0 times sqrt(N / (N - 1)), with a normal interval
    assert drdid.std_error == pytest.approx(hc0.std_error * math.sqrt(n / (n - 1)), rel=1e-12)
    assert drdid.ci_upper - drdid.estimate == pytest.approx(1.959963985 * drdid.std_error)
    # with the unit, the default is the change-score form; "drdid" stays pooled (as DRDID)
    paneled = two_by_two(two, **kw, unit="countyreal", se_type="drdid")
    assert paneled.details["form"] == "pooled"
    assert paneled.std_error == pytest.approx(drdid.std_error, rel=1e-12)
    assert "HC0" in drdid.method


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"se_convention": "stata"}, r"`se_convention`.*'did'.*'drdid'"),
        ({"se_convention": "drdid", "cluster": "countyreal"}, r"`se_convention`: 'drdid'.*cluster"),
        ({"se_convention": "drdid", "bootstrap": 99}, r"`se_convention`: 'drdid'.*bootstrap=99"),
        ({"method": "ipw-ht"}, r"`method`.*'ipw_ht'"),
        ({"method": "dr_imp_rc1"}, r"'dr_imp_rc1' \(DRDID's drdid_imp_rc1\) is defined"),
        (
            {"method": "dr_rc1", "allow_unbalanced_panel": True},
            r"'dr_rc1' is a repeated-cross-section estimator.*panel is balanced",
        ),
    ],
)
def test_att_gt_bad_new_options(mpdta: pd.DataFrame, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        att_gt(mpdta, **MPDTA, covariates=["lpop"], **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"se_type": "CR2"}, r"`se_type`.*'HC0'.*'drdid'"),
        ({"se_type": "HC1", "cluster": "countyreal"}, r"`se_type`: 'HC1'.*cluster='countyreal'"),
        ({"se_type": "HC1", "unit": "countyreal"}, r"`se_type`: 'HC1'.*unbalanced panel"),
    ],
)
def test_two_by_two_bad_se_type(mpdta: pd.DataFrame, kwargs: dict[str, Any], match: str) -> None:
    data = mpdta[mpdta["year"].isin([2003, 2004])].copy()
    data["treated"] = (data["first_treat"] > 0).astype(int)
    data["post"] = (data["year"] == 2004).astype(int)
    if "unit" in kwargs:  # unbalance: drop one unit's second row
        data = data.drop(index=data.index[1])
    with pytest.raises(DataValidationError, match=match), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unbalanced-panel note comes first
        two_by_two(data, outcome="lemp", treated="treated", post="post", **kwargs)


def test_shared_pscore_gives_the_same_numbers() -> None:
    # att_gt hands one PScore to cells with equal (x, d, w); an estimator given it must
    # return exactly what it computes on its own (seeded draw, n = 300, bitwise equality)
    rng = np.random.default_rng(77)
    n = 300
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.random(n) < 0.4])
    d = (rng.random(n) < 0.35).astype(float)
    w = np.ones(n)
    shared = PScore(x, d, w)
    assert shared.matches(x.copy(), d.copy(), w.copy())
    assert not shared.matches(x + 1e-12, d, w)
    for method, estimator in METHODS.items():
        dy = rng.normal(size=n) + d
        alone = estimator(dy, d, x, w)
        with_shared = estimator(dy, d, x, w, pscore=shared)
        assert alone[0] == with_shared[0], method
        np.testing.assert_array_equal(alone[1], with_shared[1])
