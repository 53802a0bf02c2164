"""Invariants and bad input of ``ie.did.honest`` (Rambachan-Roth sensitivity analysis).

What theory gives, checked here:

* smoothness with ``M = 0`` allows exactly the linear trends, so the FLCI is the Wald
  interval of the best (least-variance) linear estimator that is unbiased whatever the
  linear trend: ``v' beta_hat`` with ``v_post = l`` and ``v'(t) = 0`` (closed-form GLS);
  with coefficients on an exact linear trend plus effects it is centred on ``l' tau``;
* relative magnitudes with ``Mbar = 0`` force every post-treatment change of the trend
  difference to 0, so ``theta = l' beta_post`` is point identified and the conditional
  test reduces to the two-sided z-test of one linear equality: the interval is the
  original Wald interval;
* the restriction sets are nested in the bound, so the intervals widen with it;
* the breakdown value separates the bounds whose interval excludes the threshold from
  those whose interval does not.
"""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import impacteval as ie
from impacteval.exceptions import DataValidationError, ImpactEvalWarning

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def mpdta_gt() -> ie.did.GroupTimeEffects:
    data = ie.datasets.load("mpdta")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)
        return ie.did.att_gt(
            data,
            outcome="lemp",
            unit="countyreal",
            time="year",
            cohort="first_treat",
            base_period="universal",
        )


@pytest.fixture(scope="module")
def dynamic(mpdta_gt: ie.did.GroupTimeEffects) -> ie.did.AggregatedEffects:
    return mpdta_gt.aggregate("dynamic")


def _gls_trend_interval(beta, sigma, n_pre, l_vec, level):
    """min v'Sigma v s.t. v_post = l and v't = 0 (Lagrange, closed form)."""
    n_post = l_vec.size
    t = np.r_[np.arange(-n_pre, 0), np.arange(1, n_post + 1)].astype(float)
    k = n_pre + n_post
    # constraints C v = c: v_post = l (n_post rows) and t'v = 0
    c_mat = np.vstack([np.eye(k)[n_pre:], t])
    c_vec = np.r_[l_vec, 0.0]
    si = np.linalg.inv(sigma)
    v = si @ c_mat.T @ np.linalg.solve(c_mat @ si @ c_mat.T, c_vec)
    z = stats.norm.isf((1 - level) / 2)
    sd = np.sqrt(v @ sigma @ v)
    return v @ beta - z * sd, v @ beta + z * sd


def _random_problem(seed: int, n_pre: int, n_post: int):
    rng = np.random.default_rng(seed)
    k = n_pre + n_post
    root = rng.normal(size=(k, k)) * 0.01
    sigma = root @ root.T + np.diag(rng.uniform(1e-4, 4e-4, k))
    beta = rng.normal(scale=0.02, size=k)
    return beta, sigma


@pytest.mark.parametrize(("seed", "n_pre", "n_post"), [(1, 3, 2), (2, 4, 3), (3, 2, 1)])
def test_smoothness_m0_flci_is_gls_linear_trend_extrapolation(seed, n_pre, n_post):
    beta, sigma = _random_problem(seed, n_pre, n_post)
    res = ie.did.honest_from_estimates(
        beta, sigma, n_pre=n_pre, method="smoothness", m=[0.0], e="average", level=0.9
    )
    lo, hi = _gls_trend_interval(beta, sigma, n_pre, np.full(n_post, 1 / n_post), 0.9)
    # both are closed forms (solve of a small linear system): agreement to rounding
    assert res.table["ci_lower"].iloc[0] == pytest.approx(lo, abs=1e-12)
    assert res.table["ci_upper"].iloc[0] == pytest.approx(hi, abs=1e-12)


def test_smoothness_m0_centres_on_effect_under_an_exact_linear_trend():
    n_pre, n_post, slope = 4, 3, 0.013
    t = np.r_[np.arange(-n_pre, 0), np.arange(1, n_post + 1)].astype(float)
    tau = np.array([0.05, 0.08, 0.02])
    beta = slope * t + np.r_[np.zeros(n_pre), tau]
    _, sigma = _random_problem(7, n_pre, n_post)
    res = ie.did.honest_from_estimates(
        beta, sigma, n_pre=n_pre, method="smoothness", m=[0.0], e=1, threshold=tau[1]
    )
    assert np.isnan(res.breakdown)  # the M = 0 interval contains tau[1], see below
    centre = (res.table["ci_lower"].iloc[0] + res.table["ci_upper"].iloc[0]) / 2
    # the estimator removes any linear trend exactly, so the centre is tau[1]
    assert centre == pytest.approx(tau[1], abs=1e-12)
    # ...and the trend-ignoring original estimate is off by slope * t
    assert res.original.estimate == pytest.approx(tau[1] + slope * 2, abs=1e-12)


@pytest.mark.parametrize("e", [0, 1, "average"])
def test_relative_magnitudes_mbar0_conditional_is_wald(dynamic, e):
    res = ie.did.honest(
        dynamic, method="relative_magnitudes", ci_method="conditional", m=[0.0], e=e
    )
    o = res.original
    # the grid search is refined to width/400/50**4 (~1e-10 here)
    assert res.table["ci_lower"].iloc[0] == pytest.approx(o.ci_lower, abs=1e-8)
    assert res.table["ci_upper"].iloc[0] == pytest.approx(o.ci_upper, abs=1e-8)


@pytest.mark.parametrize(
    ("restriction", "ci_method", "m"),
    [
        ("relative_magnitudes", "C-LF", [0, 0.25, 0.5, 1, 2]),
        ("relative_magnitudes", "conditional", [0, 0.5, 1, 2]),
        ("smoothness", "FLCI", [0, 0.005, 0.02]),
        ("smoothness", "conditional", [0, 0.01, 0.02]),
        ("smoothness", "C-LF", [0, 0.01, 0.02]),
    ],
)
def test_intervals_widen_with_the_bound(dynamic, restriction, ci_method, m):
    res = ie.did.honest(dynamic, method=restriction, ci_method=ci_method, m=m, e=1)
    width = (res.table["ci_upper"] - res.table["ci_lower"]).to_numpy()
    # nested restriction sets; 1e-9 allows for the endpoint search's resolution
    assert np.all(np.diff(width) >= -1e-9)
    assert np.all(np.isfinite(width))
    if ci_method != "FLCI":  # test inversion: nested acceptance regions
        assert np.all(np.diff(res.table["ci_lower"]) <= 1e-9)
        assert np.all(np.diff(res.table["ci_upper"]) >= -1e-9)


@pytest.mark.parametrize("restriction", ["relative_magnitudes", "smoothness"])
def test_breakdown_consistent_with_intervals(dynamic, restriction):
    m = [0, 0.2, 0.4, 0.6] if restriction == "relative_magnitudes" else [0, 0.002, 0.004]
    res = ie.did.honest(dynamic, method=restriction, m=m, e=1)
    bd = res.breakdown
    assert res.original.ci_upper < 0  # e = 1 is significant under parallel trends
    assert 0 < bd < max(m)
    table = res.table
    assert (table["excludes_threshold"] == (table["m"] <= bd)).all()
    # Brent's method stops within 1e-4 of the bracket (<= 1e-4 * max(m)) of the crossing
    below = ie.did.honest(dynamic, method=restriction, m=[bd * 0.995], e=1)
    above = ie.did.honest(dynamic, method=restriction, m=[bd * 1.005], e=1)
    assert below.table["ci_upper"].iloc[0] < 0 <= above.table["ci_upper"].iloc[0]
    assert "up to" in res.breakdown_sentence()


def test_breakdown_with_payment_threshold(dynamic):
    zero = ie.did.honest(dynamic, m=[0, 0.2, 0.4], e=1)
    pay = ie.did.honest(dynamic, m=[0, 0.2, 0.4], e=1, threshold=-0.005)
    # a threshold closer to the interval is crossed at a smaller bound
    assert pay.breakdown < zero.breakdown
    assert pay.threshold == -0.005
    assert "threshold -0.005" in pay.breakdown_sentence()


def test_breakdown_nan_when_original_interval_includes_threshold(dynamic):
    res = ie.did.honest(dynamic, m=[0, 1], e=0)  # e = 0: CI includes 0 already
    assert res.original.ci_lower < 0 < res.original.ci_upper
    assert np.isnan(res.breakdown)
    assert "even under exact parallel trends" in res.breakdown_sentence()


def test_breakdown_searches_beyond_the_grid(dynamic):
    res = ie.did.honest(dynamic, m=[0, 0.05], e=1)
    assert res.breakdown > 0.05  # found by doubling past the grid, not capped at it


def test_inputs_from_att_gt_event_study_and_aggregate_agree(mpdta_gt, dynamic):
    a = ie.did.honest(mpdta_gt, m=[0, 0.5], e=2)
    b = ie.did.honest(dynamic, m=[0, 0.5], e=2)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    assert a.event_times == (-4, -3, -2, 0, 1, 2, 3)
    assert a.n_pre == 3 and a.n_post == 4
    data = ie.datasets.load("mpdta")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)
        es = ie.did.event_study(
            data, outcome="lemp", unit="countyreal", time="year", cohort="first_treat"
        )
    res = ie.did.honest(es, method="smoothness", m=[0, 0.01], e="average")
    assert res.n_post == 4 and res.event_times[0] < -1
    # original interval: l'beta with l = 1/4, covariance of the event-study rows
    assert res.original.estimate == pytest.approx(
        float(es.table.set_index("event_time").loc[[0, 1, 2, 3], "estimate"].mean()), abs=1e-12
    )


def test_dynamic_aggregation_vcov_matches_standard_errors(dynamic):
    se = dynamic.table["std_error"].to_numpy()
    diag = np.diag(dynamic.vcov.to_numpy())
    ok = np.isfinite(se)
    np.testing.assert_allclose(np.sqrt(diag[ok]), se[ok], rtol=1e-12)
    assert list(dynamic.vcov.index) == dynamic.table["event_time"].tolist()


def test_varying_base_period_warns(mpdta_gt):
    data = ie.datasets.load("mpdta")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)
        varying = ie.did.att_gt(
            data, outcome="lemp", unit="countyreal", time="year", cohort="first_treat"
        )
    with pytest.warns(ImpactEvalWarning, match="base_period='universal'"):
        res = ie.did.honest(varying, m=[0], e=0)
    assert res.warnings and -1 not in res.event_times


def test_display_and_plot(dynamic):
    res = ie.did.honest(dynamic, m=[0, 0.5, 1], e=1)
    text = str(res)
    assert "Breakdown" in text and "Mbar" in text
    assert "<table>" in res._repr_html_()
    frame = res.to_frame()
    assert frame.columns.tolist() == [
        "method",
        "m",
        "ci_lower",
        "ci_upper",
        "excludes_threshold",
        "ci_method",
        "level",
    ]
    ax = res.plot()
    assert ax.get_xlabel() == "Mbar"
    assert len(ax.collections) >= 2  # original and robust intervals
    import matplotlib.pyplot as plt

    plt.close("all")


def test_result_is_frozen(dynamic):
    res = ie.did.honest(dynamic, m=[0], e=0)
    with pytest.raises(AttributeError):
        res.breakdown = 3.0  # type: ignore[misc]


# ---------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------
BETA = np.array([0.01, -0.01, 0.05, 0.07])
SIGMA = np.diag([1e-4, 1e-4, 2e-4, 2e-4])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "relative"}, "`method`"),
        ({"ci_method": "FLCI"}, "FLCI.*smoothness"),
        ({"method": "smoothness", "ci_method": "ARP"}, "`ci_method`"),
        ({"m": [-1.0]}, "`m`"),
        ({"m": []}, "`m`"),
        ({"e": 5}, "`e`.*post-treatment event times"),
        ({"e": "mean"}, "`e`"),
        ({"e": [1.0]}, "`e` as weights"),
        ({"e": [0.0, 0.0]}, "not all zero"),
        ({"level": 95}, "level"),
        ({"threshold": float("nan")}, "`threshold`"),
        ({"threshold": "0"}, "`threshold`"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(DataValidationError, match=match):
        ie.did.honest_from_estimates(BETA, SIGMA, n_pre=2, **kwargs)


def test_bad_coefficients():
    with pytest.raises(DataValidationError, match="`n_pre`"):
        ie.did.honest_from_estimates(BETA, SIGMA, n_pre=4)
    with pytest.raises(DataValidationError, match="`betahat`"):
        ie.did.honest_from_estimates([0.1, np.nan, 0.2], np.eye(3), n_pre=1)
    with pytest.raises(DataValidationError, match="4 x 4"):
        ie.did.honest_from_estimates(BETA, np.eye(3), n_pre=2)
    with pytest.raises(DataValidationError, match="positive definite"):
        ie.did.honest_from_estimates(BETA, np.ones((4, 4)), n_pre=2)
    asym = SIGMA.copy()
    asym[0, 1] = 1e-5
    with pytest.raises(DataValidationError, match="symmetric"):
        ie.did.honest_from_estimates(BETA, asym, n_pre=2)


def test_bad_result(mpdta_gt):
    with pytest.raises(DataValidationError, match="`result` must be an event study"):
        ie.did.honest(pd.DataFrame({"a": [1]}))
    with pytest.raises(DataValidationError, match="indexed by event time"):
        ie.did.honest(mpdta_gt.aggregate("group"))
    with pytest.raises(DataValidationError, match="consecutive"):
        ie.did.honest(
            mpdta_gt.aggregate("dynamic", min_e=-4, max_e=3).__class__(
                table=mpdta_gt.aggregate("dynamic").table.iloc[[0, 2, 3, 4, 5]],
                index_columns=("event_time",),
                vcov=mpdta_gt.aggregate("dynamic").vcov.iloc[[0, 2, 3, 4, 5], [0, 2, 3, 4, 5]],
            )
        )


def test_too_many_moments_is_refused_with_advice():
    # smoothness with 14 post periods: the dual polytope's candidate bases (28 choose 14,
    # ~40 million) are not enumerated; FLCI, which needs no enumeration, still works
    n_pre, n_post = 2, 14
    beta = np.zeros(n_pre + n_post)
    sigma = np.eye(n_pre + n_post) * 1e-4
    with pytest.raises(ie.exceptions.NumericalError, match=r"candidate bases.*FLCI"):
        ie.did.honest_from_estimates(
            beta,
            sigma,
            n_pre=n_pre,
            method="smoothness",
            ci_method="conditional",
            m=[0.01],
            e="average",
        )
    res = ie.did.honest_from_estimates(
        beta, sigma, n_pre=n_pre, method="smoothness", m=[0.0], e="average"
    )
    assert np.isfinite(res.table["ci_lower"].iloc[0])


def test_dynamic_aggregation_sensitivity_method(dynamic, mpdta_gt):
    via_method = dynamic.sensitivity(m=[0, 0.5], e=2)
    pd.testing.assert_frame_equal(
        via_method.to_frame(), ie.did.honest(dynamic, m=[0, 0.5], e=2).to_frame()
    )
    with pytest.raises(DataValidationError, match="indexed by event time"):
        mpdta_gt.aggregate("calendar").sensitivity()
