"""The wild bootstrap's data-frame front end against the estimators it will serve.

Theory agreements (exact, 1e-10 relative): the front end's design reproduces the point
estimate and the CR1 standard error of ``rct.regression`` (additive adjustment, with and
without observation weights) and ``did.twfe`` (estimatr's "stata" CR1, every fixed effect
counted in k); absorbing a nested fixed effect under weights equals the weighted dummy
regression draw by draw; ``apply_wild_bootstrap`` swaps in the bootstrap p-value and
interval and nothing else.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError
from impacteval.inference import wild_bootstrap_regression, wild_cluster_bootstrap
from impacteval.inference.wild_frame import apply_wild_bootstrap


@pytest.fixture(scope="module")
def dib() -> pd.DataFrame:
    d = ie.datasets.load("dib_learning")
    d["w"] = 1.0 + (d["girl_id"] % 3)  # arbitrary positive observation weights
    return d


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    d = ie.datasets.load("mpdta")
    d["treat_post"] = ((d["first_treat"] > 0) & (d["year"] >= d["first_treat"])).astype(float)
    return d


def _quiet(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rows dropped for missing endline values
        return fn(*args, **kwargs)


@pytest.mark.parametrize("weights", [None, "w"])
def test_design_reproduces_rct_regression_cr1(dib: pd.DataFrame, weights: str | None) -> None:
    common = {"outcome": "endline_level", "treatment": "treatment", "cluster": "village"}
    fit = _quiet(
        ie.rct.regression, dib, covariates=["baseline_level"], adjustment="additive",
        se_type="CR1", weights=weights, **common,
    )  # fmt: skip
    wild = _quiet(
        wild_bootstrap_regression, dib, covariates=["baseline_level"], weights=weights,
        B=199, rng=0, **common,
    )  # fmt: skip
    assert wild.estimate == pytest.approx(fit.estimate, rel=1e-10)
    assert wild.std_error == pytest.approx(fit.std_error, rel=1e-10)
    assert (wild.n_obs, wild.n_clusters, wild.n_dropped) == (fit.n_obs, 280, fit.n_dropped)


def test_design_reproduces_twfe(mpdta: pd.DataFrame) -> None:
    fit = ie.did.twfe(
        mpdta, outcome="lemp", treatment="treat_post", unit="countyreal", time="year",
        se_type="stata",
    )  # fmt: skip
    wild = wild_bootstrap_regression(
        mpdta, outcome="lemp", treatment="treat_post", cluster="countyreal",
        fixed_effects=["countyreal", "year"], B=199, rng=0,
    )  # fmt: skip
    assert wild.estimate == pytest.approx(fit.estimate, rel=1e-10)
    assert wild.std_error == pytest.approx(fit.std_error, rel=1e-10)


def test_weighted_absorption_equals_weighted_dummy_regression() -> None:
    rng = np.random.default_rng(4)
    unit = np.repeat(np.arange(10), 6)
    time = np.tile(np.arange(6), 10)
    d = ((unit < 4) & (time >= 3)).astype(float)
    w = rng.uniform(0.5, 3.0, size=unit.size)
    y = rng.normal(size=10)[unit] + 0.2 * time + 0.5 * d + rng.normal(size=unit.size)
    panel = pd.DataFrame({"unit": unit, "time": time, "d": d, "w": w, "y": y})
    kw = {"weights_type": "webb", "B": 499, "rng": 9, "null": 0.2}
    fe = wild_bootstrap_regression(
        panel, outcome="y", treatment="d", cluster="unit", fixed_effects=["unit", "time"],
        weights="w", **kw,
    )  # fmt: skip
    full = pd.get_dummies(panel[["unit", "time"]].astype(str), drop_first=True, dtype=float)
    full.insert(0, "d", d)
    full.insert(0, "const", 1.0)
    root = np.sqrt(w)
    ref = wild_cluster_bootstrap(full.mul(root, axis=0), y * root, unit, coef="d", **kw)
    assert fe.estimate == pytest.approx(ref.estimate, rel=1e-10)
    assert fe.t_stat == pytest.approx(ref.t_stat, rel=1e-9)
    np.testing.assert_allclose(fe.bootstrap_t, ref.bootstrap_t, rtol=0, atol=1e-8)
    assert fe.p_value == ref.p_value


def test_apply_replaces_p_value_and_interval_only(dib: pd.DataFrame) -> None:
    common = {"outcome": "endline_level", "treatment": "treatment", "cluster": "village"}
    fit = _quiet(ie.rct.regression, dib, **common)
    wild = _quiet(wild_bootstrap_regression, dib, B=999, rng=21, **common)
    out = apply_wild_bootstrap(fit, wild)
    assert (out.estimate, out.std_error, out.n_obs) == (fit.estimate, fit.std_error, fit.n_obs)
    assert (out.p_value, out.ci_lower, out.ci_upper) == (
        wild.p_value,
        wild.ci_lower,
        wild.ci_upper,
    )
    assert out.ci_method == "wild bootstrap" and "WCR-rademacher" in out.method
    assert out.details["wild_bootstrap"]["n_draws"] == 999
    assert out.provenance.options["inference"] == "wild" and out.provenance.seed == 21
    assert fit.ci_method == "t"  # the input is frozen and untouched
    with pytest.raises(ValueError, match="wild bootstrap"):
        out.with_level(0.9)


def test_apply_refuses_a_bootstrap_of_another_fit(dib: pd.DataFrame) -> None:
    common = {"outcome": "endline_level", "treatment": "treatment", "cluster": "village"}
    fit = _quiet(ie.rct.regression, dib, **common)
    other = _quiet(
        wild_bootstrap_regression, dib, covariates=["baseline_level"], B=199, rng=0, **common
    )
    with pytest.raises(DataValidationError, match="`wild`"):
        apply_wild_bootstrap(fit, other)
    shifted = _quiet(wild_bootstrap_regression, dib, B=199, rng=0, null=0.1, **common)
    with pytest.raises(DataValidationError, match="`wild`"):
        apply_wild_bootstrap(fit, shifted)


def test_summary_names_the_bootstrap_and_its_draws() -> None:
    rng = np.random.default_rng(1)
    cl = np.repeat(np.arange(12), 20)
    x = np.column_stack([np.ones(240), rng.normal(size=240)])
    y = 1.0 + rng.normal(size=12)[cl] + rng.normal(size=240)
    res = wild_cluster_bootstrap(x, y, cl, coef=1, rng=0)
    text = str(res)
    assert "WCR-rademacher" in text and "4096 (all 2^G sign vectors)" in text
    assert "interval by test inversion" in res.summary().as_markdown()
    frame = res.to_frame()
    assert list(frame.columns[:5]) == ["estimate", "std_error", "ci_lower", "ci_upper", "p_value"]
