"""Every ratio guarded (issue 12, item 2): no ZeroDivisionError, no silent inf or NaN.

Each test builds the smallest input that reaches one denominator that can be zero (an exact
fit, an arm or cell of one unit, a single cluster, a constant outcome) and checks that the
result, or the error, says what happened. Before these guards the same calls raised
ZeroDivisionError, returned a standard error that left one arm's variance out, or returned
p-values computed from rounding noise.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import (
    DataValidationError,
    ImpactEvalWarning,
    NumericalError,
    SmallSampleWarning,
)
from impacteval.inference.variance import fit_ols
from impacteval.results import EffectEstimate, EffectTable


def _messages(caught: list[warnings.WarningMessage], category: type[Warning]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, category)]


# -- least squares: exact fits and leverage one ---------------------------------------------
@pytest.mark.parametrize("se_type", ["classical", "HC0", "HC1", "HC2", "HC3"])
def test_exact_fit_has_no_standard_error(se_type: str) -> None:
    # two observations, two parameters: classical and HC1 divided by n - k = 0, HC0 said 0
    two = pd.DataFrame({"y": [1.0, 3.0], "z": [1, 0]})
    with pytest.warns(SmallSampleWarning, match=r"no residual degrees of freedom.*NaN"):
        res = ie.rct.regression(two, outcome="y", treatment="z", se_type=se_type)
    assert res.estimate == pytest.approx(-2.0, abs=1e-12)
    assert math.isnan(res.std_error) and math.isnan(res.p_value)


def test_fit_ols_exact_fit_returns_nan_variance() -> None:
    x = np.column_stack([np.ones(3), [0.0, 1.0, 2.0], [0.0, 1.0, 5.0]])
    fit = fit_ols(x, np.array([1.0, 2.0, 4.0]), se_type="classical")
    assert fit.rank == 3 and fit.n_leverage_one == 3
    assert np.isnan(fit.vcov).all() and np.isnan(fit.df).all()


def test_leverage_one_is_reported() -> None:
    # Lin adjustment with one covariate: the treated arm (2 units) is fitted by its own
    # intercept and slope, so both treated units have leverage one and HC2 drops them
    rng = np.random.default_rng(3)
    data = pd.DataFrame(
        {"y": rng.normal(size=22), "z": [1, 1] + [0] * 20, "x": rng.normal(size=22)}
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = ie.rct.regression(data, outcome="y", treatment="z", covariates=["x"])
    msgs = _messages(caught, SmallSampleWarning)
    assert any("2 observations have leverage one" in m and "understated" in m for m in msgs)
    assert any("leverage one" in m for m in res.warnings)


def test_one_treated_unit_classical_se_is_kept() -> None:
    # the pooled (equal-variance) SE is identified with one treated unit: no NaN, no warning
    data = pd.DataFrame({"y": [5.0, 1.0, 2.0, 4.0, 3.0], "z": [1, 0, 0, 0, 0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        res = ie.rct.regression(data, outcome="y", treatment="z", se_type="classical")
    # s^2 = sum of squared control deviations from 2.5 (= 5) / (5 - 2); var = s^2 (1 + 1/4)
    assert res.std_error == pytest.approx(math.sqrt(5.0 / 3.0 * 1.25), rel=1e-12)


def test_weighted_difference_in_means_with_one_treated_unit() -> None:
    # the weighted HC2 route kept only the control arm's variance
    data = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "z": [1, 0, 0, 0], "w": [1.0, 2.0, 1.0, 1.0]})
    with pytest.warns(SmallSampleWarning, match=r"`treatment`.*1 treated and 3 control"):
        res = ie.rct.difference_in_means(data, outcome="y", treatment="z", weights="w")
    assert res.estimate == pytest.approx(1.0 - (2.0 * 2 + 3.0 + 4.0) / 4.0, abs=1e-12)
    assert math.isnan(res.std_error)


# -- results: an overflow or a zero denominator is never returned ----------------------------
@pytest.mark.parametrize(
    ("estimate", "std_error"),
    [(1.0, math.inf), (math.inf, 1.0), (math.nan, 1.0), (-math.inf, math.nan)],
)
def test_from_wald_refuses_infinite_or_undefined_numbers(estimate: float, std_error: float) -> None:
    with pytest.raises(NumericalError, match=r"overflowed or divided by zero"):
        EffectEstimate.from_wald(estimate, std_error, level=0.95, df=None, method="m")


def test_from_wald_accepts_a_nan_standard_error() -> None:
    res = EffectEstimate.from_wald(1.0, math.nan, level=0.95, df=None)
    assert math.isnan(res.p_value) and math.isnan(res.ci_lower)


def test_effect_table_without_overall_says_why() -> None:
    table = pd.DataFrame(
        {
            "event_time": [0],
            "estimate": [1.0],
            "std_error": [0.5],
            "ci_lower": [0.0],
            "ci_upper": [2.0],
            "p_value": [0.05],
        }
    )
    tab = EffectTable(table=table, index_columns=("event_time",), method="toy")
    with pytest.raises(AttributeError, match=r"`estimate`.*no single overall effect"):
        _ = tab.estimate


# -- difference in differences ----------------------------------------------------------------
def _panel(n_units: int, n_periods: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    p = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_units), n_periods),
            "t": np.tile(np.arange(n_periods), n_units),
        }
    )
    p["d"] = ((p["id"] < n_units // 2) & (p["t"] >= n_periods // 2)).astype(int)
    p["y"] = rng.normal(size=len(p))
    return p


def test_twfe_with_a_single_cluster_is_refused() -> None:
    # CR1's G / (G - 1) divided by zero
    p = _panel(6, 4).assign(state=1)
    with pytest.raises(DataValidationError, match=r"`cluster`.*'state' has a single cluster"):
        ie.did.twfe(p, outcome="y", treatment="d", unit="id", time="t", cluster="state")


def test_twfe_stata_without_residual_df_is_refused() -> None:
    # 2 units x 2 periods: n = 4 and the stata K = 1 slope + 2 + 2 - 1 effects = 4
    p = _panel(2, 2)
    with pytest.raises(DataValidationError, match=r"`se_type`.*n - K = 4 - 4 <= 0"):
        ie.did.twfe(p, outcome="y", treatment="d", unit="id", time="t", se_type="stata")


def test_twfe_few_treated_clusters_warns() -> None:
    # 3 of 6 clusters treated: fewer than 10, so the over-rejection warning (milder form)
    with pytest.warns(SmallSampleWarning, match=r"only 3 of 6 clusters.*over-reject"):
        ie.did.twfe(_panel(6, 4), outcome="y", treatment="d", unit="id", time="t")


def test_two_by_two_with_one_observation_per_cell() -> None:
    data = pd.DataFrame({"y": [1.0, 2.0, 3.0, 5.0], "g": [1, 1, 0, 0], "post": [0, 1, 0, 1]})
    with pytest.warns(SmallSampleWarning, match=r"cell has fewer than 2.*\[1, 1, 1, 1\]"):
        res = ie.did.two_by_two(data, outcome="y", treated="g", post="post")
    assert res.estimate == pytest.approx(-1.0, abs=1e-12)
    assert math.isnan(res.std_error)


def test_two_by_two_change_score_with_one_treated_unit() -> None:
    p = _panel(6, 2)
    p["g"] = (p["id"] == 0).astype(int)
    with pytest.warns(SmallSampleWarning, match=r"arm \(units\) has fewer than 2.*\[1, 5\]"):
        res = ie.did.two_by_two(p, outcome="y", treated="g", post="t", unit="id")
    assert math.isfinite(res.estimate) and math.isnan(res.std_error)


def test_att_gt_degenerate_standard_errors_are_explained() -> None:
    mpdta = ie.datasets.load("mpdta").assign(lemp=1.0)  # no variation: every SE degenerate
    with pytest.warns(ImpactEvalWarning, match=r"12 of 12 group-time cells.*degenerate"):
        res = ie.did.att_gt(
            mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first_treat"
        )
    assert res.to_frame()["std_error"].isna().all()
    assert any("degenerate" in m for m in res.aggregate("simple").warnings)


# -- weighting and matching ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ipw", "aipw", "entropy_balance"])
def test_weighting_refuses_a_constant_outcome(name: str) -> None:
    # ipw used to report estimate 2e-16, SE 5e-17, p = 1e-5: a ratio of rounding errors
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"y": 1.0, "z": [1] * 10 + [0] * 10, "x": rng.normal(size=20)})
    fn = getattr(ie.matching, name)
    with pytest.raises(DataValidationError, match=r"`outcome`: column 'y' is constant"):
        fn(data, outcome="y", treatment="z", covariates=["x"])


def _scores() -> tuple[pd.DataFrame, pd.Series]:
    nsw = ie.datasets.load("nsw_dw")
    ps = ie.matching.propensity_score(nsw, treatment="treat", covariates=["age", "educ"])
    return nsw, ps


def test_propensity_array_must_have_one_value_per_row() -> None:
    nsw, ps = _scores()
    with pytest.raises(DataValidationError, match=r"`propensity`.*one value per row.*\(444,\)"):
        ie.matching.nearest_neighbor(
            nsw, outcome="re78", treatment="treat", propensity=ps.to_numpy()[:-1]
        )


def test_propensity_series_with_other_labels_is_refused() -> None:
    nsw, ps = _scores()
    shifted = ps.set_axis(ps.index + 1000)
    with pytest.raises(DataValidationError, match=r"`propensity`.*indexed like `data`"):
        ie.matching.nearest_neighbor(nsw, outcome="re78", treatment="treat", propensity=shifted)


def test_propensity_given_three_ways_gives_one_answer() -> None:
    nsw, ps = _scores()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)
        base = ie.matching.nearest_neighbor(nsw, outcome="re78", treatment="treat", propensity=ps)
        shuffled = ie.matching.nearest_neighbor(
            nsw, outcome="re78", treatment="treat", propensity=ps.sample(frac=1, random_state=1)
        )
        as_array = ie.matching.nearest_neighbor(
            nsw, outcome="re78", treatment="treat", propensity=ps.to_numpy()
        )
        log_odds = np.log(ps) - np.log1p(-ps)
        by_logit = ie.matching.nearest_neighbor(
            nsw.assign(lo=log_odds),
            outcome="re78",
            treatment="treat",
            propensity="lo",
            propensity_link="logit",
        )
    for other in (shuffled, as_array):
        assert (other.estimate, other.std_error) == (base.estimate, base.std_error)
    # expit(logit(p)) differs from p by rounding only; the matches are the same
    assert by_logit.estimate == pytest.approx(base.estimate, rel=1e-12)
    assert by_logit.std_error == pytest.approx(base.std_error, rel=1e-12)


# -- diagnostics ------------------------------------------------------------------------------
def test_e_value_of_a_huge_risk_ratio_is_finite() -> None:
    # RR + sqrt(RR (RR - 1)) overflowed to inf for RR > 1e154; the E-value is ~ 2 RR
    ev = ie.diagnostics.e_value(1e300)
    assert ev.e_value == pytest.approx(2e300, rel=1e-12)


def test_e_value_of_an_impossible_smd_is_refused() -> None:
    # exp(0.91 x 1000) raised OverflowError: math range error
    with pytest.raises(DataValidationError, match=r"`estimate`.*standardised mean difference"):
        ie.diagnostics.e_value(1000.0, scale="SMD")


# -- degenerate variance estimates and few treated units ----------------------------------------
def test_zero_standard_error_with_an_effect_is_not_precision() -> None:
    # two matched pairs with the same difference: the pair variance is 0 and p was 0.0
    pairs = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "z": [1, 0, 1, 0], "b": [1, 1, 2, 2]})
    with pytest.warns(SmallSampleWarning, match=r"standard error \(0\) is zero relative"):
        res = ie.rct.difference_in_means(pairs, outcome="y", treatment="z", blocks="b")
    assert res.estimate == -1.0
    assert math.isnan(res.std_error) and math.isnan(res.p_value)
    assert any("degenerate" in m for m in res.warnings)


def test_zero_estimate_with_zero_standard_error_is_kept() -> None:
    # a constant outcome: effect 0 with SE 0 is exact (and already explained by its warning)
    res = EffectEstimate.from_wald(0.0, 0.0, level=0.95, df=None)
    assert res.std_error == 0.0 and res.p_value == 1.0


def test_att_gt_single_unit_cohort_warns_as_r_did() -> None:
    mpdta = ie.datasets.load("mpdta")
    one = mpdta.loc[mpdta["first_treat"] == 2004, "countyreal"].iloc[0]
    data = mpdta[(mpdta["first_treat"] == 0) | (mpdta["countyreal"] == one)]
    with pytest.warns(SmallSampleWarning, match=r"`cohort`: small cohorts.*2004: 1.*unreliable"):
        ie.did.att_gt(data, outcome="lemp", unit="countyreal", time="year", cohort="first_treat")


def test_event_study_single_treated_cluster_warns() -> None:
    mpdta = ie.datasets.load("mpdta")
    one = mpdta.loc[mpdta["first_treat"] == 2004, "countyreal"].iloc[0]
    data = mpdta[(mpdta["first_treat"] == 0) | (mpdta["countyreal"] == one)]
    with pytest.warns(SmallSampleWarning, match=r"`cluster`: only 1 of 310 clusters.*wild"):
        ie.did.event_study(
            data, outcome="lemp", unit="countyreal", time="year", cohort="first_treat"
        )


def test_two_by_two_one_treated_cluster_warns() -> None:
    rng = np.random.default_rng(11)
    data = pd.DataFrame(
        {
            "y": rng.normal(size=24),
            "g": [1, 1, 0, 0, 0, 0] * 4,
            "post": [0] * 12 + [1] * 12,
            "c": [1, 1, 2, 2, 3, 3] * 4,
        }
    )
    with pytest.warns(SmallSampleWarning, match=r"`cluster`: only 1 of 3 clusters of 'c'"):
        ie.did.two_by_two(data, outcome="y", treated="g", post="post", cluster="c")


def test_every_table_result_exposes_its_overall_effect() -> None:
    # the README lists .estimate etc. on every result: tables read them from .overall
    mpdta = ie.datasets.load("mpdta")
    es = ie.did.event_study(
        mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first_treat"
    )
    gt = ie.did.att_gt(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first_treat")
    for res in (es, gt, gt.aggregate("dynamic")):
        assert res.overall is not None
        assert (res.estimate, res.std_error, res.p_value) == (
            res.overall.estimate,
            res.overall.std_error,
            res.overall.p_value,
        )
