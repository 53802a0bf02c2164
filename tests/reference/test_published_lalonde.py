"""LaLonde NSW (Dehejia-Wahba subsample): published numbers.

Sources: Dehejia & Wahba (1999) Table 3 (difference 1,794.34; classical SE 632.85); HC1 /
HC2 / Neyman SEs recomputed from the data (estimatr ``lm_robust`` conventions). Tolerance:
half a unit in the last printed digit (the published values are rounded to 2 decimals, or 1
for 1,672.2).
"""

from __future__ import annotations

import pandas as pd
import pytest

import impacteval as ie

CONTROLS = ["age", "age2", "educ", "nodegree", "black", "hisp", "re74", "re75"]


def test_difference_in_means_and_neyman_se(nsw: pd.DataFrame) -> None:
    res = ie.rct.difference_in_means(nsw, outcome="re78", treatment="treat")
    assert res.estimate == pytest.approx(1794.34, abs=0.005)
    assert res.std_error == pytest.approx(671.00, abs=0.005)
    assert (res.n_treated, res.n_control) == (185, 260)


@pytest.mark.parametrize(
    ("se_type", "published"), [("classical", 632.85), ("HC1", 670.82), ("HC2", 671.00)]
)
def test_regression_on_dummy_standard_errors(
    nsw: pd.DataFrame, se_type: str, published: float
) -> None:
    res = ie.rct.regression(nsw, outcome="re78", treatment="treat", se_type=se_type)
    assert res.estimate == pytest.approx(1794.34, abs=0.005)
    assert res.std_error == pytest.approx(published, abs=0.005)


def test_additive_adjustment_with_dw_controls(nsw: pd.DataFrame) -> None:
    data = nsw.assign(age2=nsw["age"] ** 2)  # float64 first: age^2 overflows int8 upstream
    res = ie.rct.regression(
        data,
        outcome="re78",
        treatment="treat",
        covariates=CONTROLS,
        adjustment="additive",
        se_type="classical",
    )
    assert res.estimate == pytest.approx(1672.2, abs=0.05)
    assert res.std_error == pytest.approx(638.4, abs=0.05)


def test_observational_benchmarks_against_cps1(nsw: pd.DataFrame) -> None:
    cps = ie.datasets.load("cps1_controls")
    pooled = pd.concat([nsw[nsw["treat"] == 1], cps], ignore_index=True)
    pooled["age2"] = pooled["age"] ** 2
    raw = ie.rct.regression(pooled, outcome="re78", treatment="treat", se_type="classical")
    assert raw.estimate == pytest.approx(-8498, abs=0.5)
    assert raw.std_error == pytest.approx(712, abs=0.5)
    ols = ie.rct.regression(
        pooled,
        outcome="re78",
        treatment="treat",
        covariates=CONTROLS,
        adjustment="additive",
        se_type="classical",
    )
    assert ols.estimate == pytest.approx(739, abs=0.5)
    assert ols.std_error == pytest.approx(547, abs=0.5)
