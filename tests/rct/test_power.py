"""Power and minimum detectable effects (impacteval.rct.power).

Reference values come from statsmodels' TTestIndPower (an independent implementation of the
noncentral-t power of the two-sample t test) and from Bloom's closed-form formula evaluated
in the test itself with scipy's t quantiles.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import TTestIndPower

from impacteval.exceptions import DataValidationError
from impacteval.rct.power import PowerResult, minimum_detectable_effect, power

# The two implementations evaluate the same noncentral-t expression; 1e-6 is the tolerance
# the brief asks for and leaves room for statsmodels' root finder when solving.
TOL_SM = 1e-6


@pytest.mark.parametrize("share", [0.5, 0.3])
@pytest.mark.parametrize("n", [60, 401])
@pytest.mark.parametrize("alternative", ["two-sided", "one-sided"])
def test_power_matches_statsmodels(share: float, n: int, alternative: str) -> None:
    # statsmodels: nobs1 = treated units, ratio = n_control / n_treated, df = n1 + n0 - 2
    sm_alt = "two-sided" if alternative == "two-sided" else "larger"
    expected = TTestIndPower().power(
        effect_size=0.35,
        nobs1=share * n,
        alpha=0.05,
        ratio=(1 - share) / share,
        alternative=sm_alt,
    )
    got = power(effect_size=0.35, n=n, treated_share=share, alternative=alternative)
    assert isinstance(got, PowerResult)
    assert float(got) == pytest.approx(expected, abs=TOL_SM)
    assert got.df == n - 2


@pytest.mark.parametrize("share", [0.5, 0.25])
@pytest.mark.parametrize("target", [0.8, 0.9])
def test_mde_noncentral_matches_statsmodels_solve_power(share: float, target: float) -> None:
    n = 120
    expected = TTestIndPower().solve_power(
        effect_size=None,
        nobs1=share * n,
        alpha=0.05,
        power=target,
        ratio=(1 - share) / share,
        alternative="two-sided",
    )
    got = minimum_detectable_effect(n=n, treated_share=share, power=target, method="noncentral_t")
    # statsmodels' own power at our MDE is the target: the two evaluate the same noncentral
    # t, and brentq solves to 1e-12, so only rounding is left (1e-9 is generous)
    sm_power = TTestIndPower().power(
        effect_size=got.effect_size, nobs1=share * n, alpha=0.05, ratio=(1 - share) / share
    )
    assert sm_power == pytest.approx(target, abs=1e-9)
    # solve_power stops its root finder early (at share 0.25, power 0.9 its answer is 1.0e-6
    # off and gives power 0.9000008), hence 1e-5 against its solution
    assert got.effect_size == pytest.approx(expected, abs=1e-5)
    # sd scales the MDE in outcome units only
    scaled = minimum_detectable_effect(
        n=n, treated_share=share, power=target, method="noncentral_t", sd=3.0
    )
    assert float(scaled) == pytest.approx(3.0 * float(got), rel=1e-12)


def test_bloom_normal_multiplier_is_2_8() -> None:
    # Hand computation: z_.975 = 1.959963985, z_.80 = 0.841621234 (standard normal table),
    # SE = sqrt(1 / (0.5 * 0.5 * 1000)) = 0.0632455532, MDE = 2.801585219 * SE = 0.1771878.
    # Tolerance 1e-6: the literal is rounded to 6 decimals.
    res = minimum_detectable_effect(n=1000, df=None)
    assert float(res) == pytest.approx(0.177188, abs=1e-6)
    assert res.multiplier == pytest.approx(2.801585, abs=1e-6)
    assert res.df is None


def test_bloom_individual_with_covariates_from_formula() -> None:
    # MDE = (t_{.975, N-2-K} + t_{.80, N-2-K}) * sd * sqrt((1 - R2) / (P (1-P) N))
    n, p, r2, k, sd = 200, 0.4, 0.3, 2, 5.0
    df = n - 2 - k
    se = sd * math.sqrt((1 - r2) / (p * (1 - p) * n))
    expected = (stats.t.ppf(0.975, df) + stats.t.ppf(0.8, df)) * se
    res = minimum_detectable_effect(n=n, treated_share=p, r2=r2, n_covariates=k, sd=sd)
    # same closed form evaluated twice: only floating-point rounding can differ
    assert float(res) == pytest.approx(expected, rel=1e-12)
    assert res.std_error == pytest.approx(se, rel=1e-12)
    assert res.effect_size == pytest.approx(expected / sd, rel=1e-12)
    # one-sided uses t_{1-alpha}
    one = minimum_detectable_effect(
        n=n,
        treated_share=p,
        r2=r2,
        n_covariates=k,
        sd=sd,
        alternative="one-sided",
        alpha=0.1,
        power=0.9,
    )
    expected_one = (stats.t.ppf(0.9, df) + stats.t.ppf(0.9, df)) * se
    assert float(one) == pytest.approx(expected_one, rel=1e-12)


def test_bloom_cluster_from_formula() -> None:
    # Bloom (2005): SE = sqrt(icc (1-R2c)/(P(1-P)J) + (1-icc)(1-R2i)/(P(1-P)Jm)), df J-2-K.
    # By hand: 0.1*0.5/(0.25*40) + 0.9*0.8/(0.25*40*20) = 0.005 + 0.0036 = 0.0086.
    res = minimum_detectable_effect(
        n_clusters=40, cluster_size=20, icc=0.1, r2_cluster=0.5, r2_individual=0.2, n_covariates=1
    )
    se = math.sqrt(0.0086)
    expected = (stats.t.ppf(0.975, 37) + stats.t.ppf(0.8, 37)) * se
    assert res.df == 37
    assert res.std_error == pytest.approx(se, rel=1e-12)  # rounding only
    assert float(res) == pytest.approx(expected, rel=1e-12)
    assert res.design == "cluster"


@pytest.mark.parametrize("method", ["bloom", "noncentral_t"])
def test_cluster_of_size_one_without_icc_is_individual(method: str) -> None:
    ind = minimum_detectable_effect(n=80, treated_share=0.3, r2=0.2, method=method)
    clu = minimum_detectable_effect(
        n_clusters=80, cluster_size=1, icc=0.0, treated_share=0.3, r2=0.2, method=method
    )
    # identical formulas once J = N and m = 1; brentq's tolerance is 1e-12
    assert float(clu) == pytest.approx(float(ind), rel=1e-9)
    assert clu.df == ind.df
    p_ind = power(effect_size=0.4, n=80, treated_share=0.3, method=method)
    p_clu = power(effect_size=0.4, n_clusters=80, cluster_size=1, treated_share=0.3, method=method)
    assert float(p_clu) == pytest.approx(float(p_ind), rel=1e-12)


@pytest.mark.parametrize(("m", "icc"), [(10, 0.05), (25, 0.2), (4, 1.0)])
def test_design_effect_recovered(m: int, icc: float) -> None:
    j = 30
    clu = minimum_detectable_effect(n_clusters=j, cluster_size=m, icc=icc, df=None)
    ind = minimum_detectable_effect(n=j * m, df=None)
    deff = 1 + (m - 1) * icc  # Kish design effect
    assert clu.design_effect == pytest.approx(deff, rel=1e-12)
    # variance ratio at the same total N equals the design effect (normal quantiles make
    # the multipliers equal, so the MDE ratio is sqrt(deff)); algebraic identity: rounding
    assert (clu.std_error / ind.std_error) ** 2 == pytest.approx(deff, rel=1e-12)
    assert float(clu) / float(ind) == pytest.approx(math.sqrt(deff), rel=1e-12)


@pytest.mark.parametrize("method", ["bloom", "noncentral_t"])
def test_power_and_mde_are_inverse(method: str) -> None:
    kw = {"n_clusters": 24, "cluster_size": 15, "icc": 0.08, "r2": 0.3, "treated_share": 0.5}
    mde = minimum_detectable_effect(power=0.85, method=method, **kw)
    back = power(mde=float(mde), method=method, **kw)
    # brentq solves to xtol 1e-12 in the noncentrality; the power is smooth in it
    assert float(back) == pytest.approx(0.85, abs=1e-9)


def test_noncentral_two_sided_counts_far_tail() -> None:
    # at a zero effect the power of a two-sided level-alpha test is alpha (both tails)
    assert float(power(effect_size=0.0, n=50)) == pytest.approx(0.05, abs=1e-12)
    assert float(power(effect_size=0.0, n=50, alternative="one-sided")) == pytest.approx(
        0.05, abs=1e-12
    )
    # Bloom's approximation ignores the far tail, so it gives alpha/2 at zero
    assert float(power(effect_size=0.0, n=50, method="bloom")) == pytest.approx(0.025, abs=1e-12)


def test_monotonicity() -> None:
    ns = [10, 20, 50, 100, 400, 2000]
    pw_n = [float(power(effect_size=0.3, n=n)) for n in ns]
    assert np.all(np.diff(pw_n) > 0)
    effects = [0.05, 0.1, 0.2, 0.4, 0.8]
    pw_e = [float(power(effect_size=e, n=100)) for e in effects]
    assert np.all(np.diff(pw_e) > 0)
    mdes = [float(minimum_detectable_effect(n=n, method="noncentral_t")) for n in ns]
    assert np.all(np.diff(mdes) < 0)
    # more clusters beat bigger clusters once icc > 0
    iccs = [0.0, 0.05, 0.2, 0.5]
    mde_icc = [
        float(minimum_detectable_effect(n_clusters=20, cluster_size=30, icc=i)) for i in iccs
    ]
    assert np.all(np.diff(mde_icc) > 0)


def test_result_display() -> None:
    res = minimum_detectable_effect(n=500)
    assert "Minimum detectable effect" in str(res)
    assert "<table>" in res._repr_html_()
    frame = res.to_frame()
    assert frame.loc["mde", "mde"] == pytest.approx(float(res))
    with pytest.raises(AttributeError):
        res.mde = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 100, "treated_share": 0.0}, "treated_share"),
        ({"n": 100, "treated_share": 1.0}, "treated_share"),
        ({"n": 100, "treated_share": 1.2}, "treated_share"),
        ({"n_clusters": 10, "cluster_size": 5, "icc": -0.1}, "icc"),
        ({"n_clusters": 10, "cluster_size": 5, "icc": 1.5}, "icc"),
        ({"n": 2}, "`n`"),
        ({"n": 3, "n_covariates": 1}, "`n`"),
        ({"n_clusters": 2, "cluster_size": 5}, "n_clusters"),
        ({"n": 100, "n_clusters": 10, "cluster_size": 5}, "exactly one"),
        ({}, "exactly one"),
        ({"n": 100, "power": 0.0}, "power"),
        ({"n": 100, "power": 1.0}, "power"),
        ({"n": 100, "alpha": 1.5}, "alpha"),
        ({"n": 100, "r2": 1.0}, "r2"),
        ({"n_clusters": 10}, "cluster_size"),
        ({"n": 100, "icc": 0.1}, "icc"),
        ({"n": 100, "cluster_size": 4}, "cluster_size"),
        ({"n": 100, "method": "blom"}, "did you mean 'bloom'"),
        ({"n": 100, "alternative": "larger"}, "alternative"),
        ({"n": 100, "sd": 0.0}, "sd"),
        ({"n": 100.5}, "`n`"),
        ({"n": 100, "df": "design"}, "df"),
    ],
)
def test_bad_input_mde(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        minimum_detectable_effect(**kwargs)  # type: ignore[arg-type]


def test_bad_input_power() -> None:
    with pytest.raises(DataValidationError, match="exactly one of `effect_size`"):
        power(n=100)
    with pytest.raises(DataValidationError, match="exactly one of `effect_size`"):
        power(n=100, effect_size=0.2, mde=0.2)
    with pytest.raises(DataValidationError, match="effect_size"):
        power(n=100, effect_size=float("nan"))
    with pytest.raises(DataValidationError, match="treated_share"):
        power(n=100, effect_size=0.2, treated_share=-0.5)
