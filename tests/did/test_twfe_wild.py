"""``did.twfe(..., inference="wild")`` is the wild bootstrap of the two-way dummy regression.

The estimator's result is compared with a direct call of
``wild_bootstrap_regression(..., cluster=cluster or unit, fixed_effects=[unit, time])``
with the same seed: same clusters, same draws, so the same p-value and interval (ends to
1e-9 relative: the estimator sorts the panel, which changes only summation order).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import ImpactEvalWarning
from impacteval.inference import wild_bootstrap_regression


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    d = ie.datasets.load("mpdta")
    d["treat_post"] = ((d["first_treat"] > 0) & (d["year"] >= d["first_treat"])).astype(float)
    return d


def test_unit_clusters_equal_the_helper(mpdta: pd.DataFrame) -> None:
    common = {"outcome": "lemp", "treatment": "treat_post"}
    analytic = ie.did.twfe(mpdta, unit="countyreal", time="year", **common)
    res = ie.did.twfe(
        mpdta, unit="countyreal", time="year", inference="wild",
        wild_bootstrap={"B": 499}, rng=5, **common,
    )  # fmt: skip
    boot = wild_bootstrap_regression(
        mpdta, cluster="countyreal", fixed_effects=["countyreal", "year"], B=499, rng=5,
        **common,
    )  # fmt: skip
    assert (res.estimate, res.std_error) == (analytic.estimate, analytic.std_error)
    assert res.p_value == boot.p_value
    assert (res.ci_lower, res.ci_upper) == pytest.approx((boot.ci_lower, boot.ci_upper), rel=1e-9)
    assert res.details["wild_bootstrap"]["t_stat"] == pytest.approx(boot.t_stat, rel=1e-9)
    assert res.ci_method == "wild bootstrap" and "WCR-rademacher" in res.method
    assert res.provenance.options["inference"] == "wild" and res.provenance.seed == 5
    assert "wild bootstrap" in res.summary().as_text()


def test_coarser_clusters_and_covariate_equal_the_helper() -> None:
    rng = np.random.default_rng(8)
    unit = np.repeat(np.arange(24), 5)
    time = np.tile(np.arange(5), 24)
    state = unit // 4  # 6 clusters of 4 units
    d = pd.DataFrame({"unit": unit, "time": time, "state": state})
    d["D"] = ((state < 2) & (time >= 3)).astype(float)
    d["x"] = rng.normal(size=unit.size)
    d["y"] = (
        rng.normal(size=24)[unit] + 0.1 * time + 0.5 * d["D"] + d["x"] + rng.normal(size=unit.size)
    )
    d = d.sample(frac=1.0, random_state=1)  # the estimator sorts; the helper does not
    kw = {"outcome": "y", "treatment": "D", "covariates": ["x"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few (treated) clusters
        res = ie.did.twfe(
            d, unit="unit", time="time", cluster="state", inference="wild",
            wild_bootstrap={"weights_type": "webb", "B": 999}, rng=2, **kw,
        )  # fmt: skip
        boot = wild_bootstrap_regression(
            d, cluster="state", fixed_effects=["unit", "time"], weights_type="webb", B=999,
            rng=2, **kw,
        )  # fmt: skip
    assert res.n_clusters == boot.n_clusters == 6
    assert res.estimate == pytest.approx(boot.estimate, rel=1e-10)
    assert res.p_value == boot.p_value
    assert (res.ci_lower, res.ci_upper) == pytest.approx((boot.ci_lower, boot.ci_upper), rel=1e-9)


def test_covariate_absorbed_by_unit_effects_is_left_out(mpdta: pd.DataFrame) -> None:
    kw = {"outcome": "lemp", "treatment": "treat_post"}
    with pytest.warns(ImpactEvalWarning, match="collinear with the fixed effects"):
        res = ie.did.twfe(
            mpdta, unit="countyreal", time="year", covariates=["lpop"], inference="wild",
            wild_bootstrap={"B": 199}, rng=3, **kw,
        )  # fmt: skip
    boot = wild_bootstrap_regression(
        mpdta, cluster="countyreal", fixed_effects=["countyreal", "year"], B=199, rng=3, **kw
    )
    assert any("collinear" in w for w in res.warnings)  # lpop is time-invariant
    assert res.p_value == boot.p_value
    assert (res.ci_lower, res.ci_upper) == pytest.approx((boot.ci_lower, boot.ci_upper), rel=1e-9)
