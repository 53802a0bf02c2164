"""``rct.regression(..., inference="wild")`` is the wild bootstrap of its own design.

Each test fits the estimator and calls the bootstrap helper directly on the same design
with the same seed: the clusters get the same weight draws, so the p-value and interval
agree (up to the summation order of the two designs: 1e-9 on the interval ends, p-values
exactly unless a draw lies within rounding of the observed statistic, which these seeded
cases do not have); the estimate and analytic standard error are untouched.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import ImpactEvalWarning
from impacteval.inference import wild_bootstrap_regression, wild_cluster_bootstrap


@pytest.fixture(scope="module")
def dib() -> pd.DataFrame:
    d = ie.datasets.load("dib_learning")
    d = d.dropna(subset=["endline_level", "treatment", "baseline_level", "village", "stratum"])
    d["w"] = 1.0 + (d["girl_id"] % 3)  # arbitrary positive observation weights
    return d.reset_index(drop=True)


def _same(res: ie.EffectEstimate, boot: ie.inference.WildBootstrapResult) -> None:
    assert res.p_value == boot.p_value
    assert res.ci_lower == pytest.approx(boot.ci_lower, rel=1e-9)
    assert res.ci_upper == pytest.approx(boot.ci_upper, rel=1e-9)
    assert res.ci_method == "wild bootstrap" and boot.method in res.method
    assert res.details["wild_bootstrap"]["n_draws"] == boot.n_draws
    assert res.provenance.options["inference"] == "wild"


@pytest.mark.parametrize("weights", [None, "w"])
def test_additive_equals_the_frame_helper(dib: pd.DataFrame, weights: str | None) -> None:
    common = {
        "outcome": "endline_level", "treatment": "treatment", "covariates": ["baseline_level"],
        "cluster": "village", "fixed_effects": "stratum", "weights": weights,
    }  # fmt: skip
    analytic = ie.rct.regression(dib, adjustment="additive", **common)
    res = ie.rct.regression(
        dib, adjustment="additive", inference="wild",
        wild_bootstrap={"weights_type": "webb", "B": 499}, rng=11, **common,
    )  # fmt: skip
    boot = wild_bootstrap_regression(dib, weights_type="webb", B=499, rng=11, **common)
    _same(res, boot)
    assert (res.estimate, res.std_error) == (analytic.estimate, analytic.std_error)
    assert res.provenance.seed == 11
    coefs = res.details["coefficients"].loc["treatment"]
    assert (coefs["p_value"], coefs["ci_lower"]) == (res.p_value, res.ci_lower)


def test_lin_equals_the_array_helper_on_the_interacted_design(dib: pd.DataFrame) -> None:
    res = ie.rct.regression(
        dib, outcome="endline_level", treatment="treatment", covariates=["baseline_level"],
        cluster="village", inference="wild", wild_bootstrap={"B": 299}, rng=4,
    )  # fmt: skip
    z = dib["treatment"].to_numpy(float)
    xc = dib["baseline_level"].to_numpy(float) - dib["baseline_level"].mean()
    x = np.column_stack([np.ones(len(dib)), z, xc, z * xc])
    boot = wild_cluster_bootstrap(x, dib["endline_level"], dib["village"], coef=1, B=299, rng=4)
    _same(res, boot)
    assert "Lin (2013)" in res.method and "WCR-rademacher" in res.method


def test_few_clusters_enumerate_and_need_no_seed() -> None:
    rng = np.random.default_rng(3)
    cl = np.repeat(np.arange(8), 15)
    z = (cl % 2).astype(float)
    d = pd.DataFrame(
        {"cl": cl, "z": z, "y": 0.2 * z + rng.normal(size=8)[cl] + rng.normal(size=120)}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 8 clusters: coarse-p warning
        res = ie.rct.regression(d, outcome="y", treatment="z", cluster="cl", inference="wild")
        boot = wild_bootstrap_regression(d, outcome="y", treatment="z", cluster="cl")
    _same(res, boot)
    assert (
        res.details["wild_bootstrap"]["enumerated"]
        and res.details["wild_bootstrap"]["n_draws"] == 256
    )
    assert any("Rademacher" in w for w in res.warnings)  # the bootstrap's warning is kept
    text = str(res.summary().as_text())
    assert "all 2^G sign vectors" in text
    # the bootstrap interval uses no t degrees of freedom, so the summary shows none
    assert res.df is not None and "Degrees of freedom" not in text
    analytic = ie.rct.regression(d, outcome="y", treatment="z", cluster="cl")
    assert "Degrees of freedom" in str(analytic.summary().as_text())


def test_collinear_covariate_is_left_out_of_the_bootstrap_as_of_the_fit(dib: pd.DataFrame) -> None:
    d = dib.assign(twice=2.0 * dib["baseline_level"])
    common = {"outcome": "endline_level", "treatment": "treatment", "cluster": "village"}
    with pytest.warns(ImpactEvalWarning, match="collinear terms dropped"):
        res = ie.rct.regression(
            d, covariates=["baseline_level", "twice"], adjustment="additive", inference="wild",
            wild_bootstrap={"B": 199}, rng=6, **common,
        )  # fmt: skip
    boot = wild_bootstrap_regression(d, covariates=["baseline_level"], B=199, rng=6, **common)
    _same(res, boot)
    assert any("collinear" in w for w in res.warnings)
