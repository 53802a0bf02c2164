"""Invariants and theory agreements of the wild cluster bootstrap (impacteval.inference.wild).

All exact statements (no Monte Carlo): with Rademacher enumeration or a fixed seed the
same draws enter both sides of each comparison, so they agree to rounding (1e-9 on t
statistics of order 1, exact on p-values up to the 1e-9 tie rule).
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from impacteval.exceptions import SmallSampleWarning
from impacteval.inference import (
    wild_bootstrap_regression,
    wild_cluster_bootstrap,
)
from impacteval.inference._wild_numerics import draw_weights, enumerate_signs
from impacteval.inference.wild_frame import build_wild_design


def _data(g: int = 12, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(g), rng.integers(8, 30, size=g))
    n = cl.size
    treat = (rng.random(g) < 0.5).astype(float)[cl]
    x = np.column_stack([np.ones(n), treat, rng.normal(size=n)])
    y = x @ np.array([1.0, 0.4, 0.5]) + rng.normal(size=g)[cl] + rng.normal(size=n)
    return x, y, cl


X, Y, CL = _data()


def test_wcr_invariant_to_scaling_y() -> None:
    base = wild_cluster_bootstrap(X, Y, CL, coef=1, null=0.2)
    scaled = wild_cluster_bootstrap(X, 3.7 * Y, CL, coef=1, null=3.7 * 0.2)
    assert base.enumerated and scaled.enumerated
    assert scaled.t_stat == pytest.approx(base.t_stat, rel=1e-10)
    np.testing.assert_allclose(scaled.bootstrap_t, base.bootstrap_t, rtol=0, atol=1e-9)
    assert scaled.p_value == base.p_value
    assert scaled.p_value_equal_tailed == base.p_value_equal_tailed
    assert scaled.ci_lower == pytest.approx(3.7 * base.ci_lower, rel=1e-8)
    assert scaled.ci_upper == pytest.approx(3.7 * base.ci_upper, rel=1e-8)


@pytest.mark.parametrize("impose_null", [True, False])
def test_adding_x_gamma_shifts_the_null(impose_null: bool) -> None:
    gamma = np.array([2.0, -0.3, 1.5])
    base = wild_cluster_bootstrap(X, Y, CL, coef=1, null=0.1, impose_null=impose_null)
    moved = wild_cluster_bootstrap(
        X, Y + X @ gamma, CL, coef=1, null=0.1 + gamma[1], impose_null=impose_null
    )
    assert moved.t_stat == pytest.approx(base.t_stat, rel=1e-9)
    np.testing.assert_allclose(moved.bootstrap_t, base.bootstrap_t, rtol=0, atol=1e-9)
    assert moved.p_value == base.p_value
    assert moved.ci_lower - gamma[1] == pytest.approx(base.ci_lower, rel=1e-8)


def test_row_order_and_cluster_labels_do_not_matter() -> None:
    base = wild_cluster_bootstrap(X, Y, CL, coef=1)
    perm = np.random.default_rng(0).permutation(len(Y))
    shuffled = wild_cluster_bootstrap(X[perm], Y[perm], CL[perm], coef=1)
    np.testing.assert_allclose(shuffled.bootstrap_t, base.bootstrap_t, rtol=0, atol=1e-9)
    relabelled = wild_cluster_bootstrap(X, Y, np.array([f"c{99 - c}" for c in CL]), coef=1)
    # other labels reorder the enumerated sign vectors, not the set of bootstrap t's
    np.testing.assert_allclose(
        np.sort(relabelled.bootstrap_t), np.sort(base.bootstrap_t), rtol=0, atol=1e-9
    )
    assert relabelled.p_value == base.p_value


def test_wcr_enumeration_contains_the_sample_itself() -> None:
    """v = +1 reproduces y under WCR, so t* = t; v = -1 gives t* = -t."""
    res = wild_cluster_bootstrap(X, Y, CL, coef=1, null=0.3)
    assert res.bootstrap_t[-1] == pytest.approx(res.t_stat, rel=1e-10)
    assert res.bootstrap_t[0] == pytest.approx(-res.t_stat, rel=1e-10)
    # neither tie is counted as an exceedance
    expected = np.mean(np.abs(res.bootstrap_t) > abs(res.t_stat) * (1 + 1e-9))
    assert res.p_value == pytest.approx(expected, abs=1e-12)


def test_enumeration_order_is_itertools_product() -> None:
    expected = np.array(list(itertools.product([-1.0, 1.0], repeat=5)))
    np.testing.assert_array_equal(enumerate_signs(5), expected)


def test_same_seed_same_numbers_and_generator_equals_int() -> None:
    a = wild_cluster_bootstrap(X, Y, CL, coef=1, weights_type="webb", B=499, rng=42)
    b = wild_cluster_bootstrap(
        X, Y, CL, coef=1, weights_type="webb", B=499, rng=np.random.default_rng(42)
    )
    c = wild_cluster_bootstrap(X, Y, CL, coef=1, weights_type="webb", B=499, rng=43)
    np.testing.assert_array_equal(a.bootstrap_t, b.bootstrap_t)
    assert (a.p_value, a.ci_lower, a.ci_upper) == (b.p_value, b.ci_lower, b.ci_upper)
    assert a.seed == 42 and b.seed is None
    assert not np.array_equal(a.bootstrap_t, c.bootstrap_t)


def test_small_sample_factor_scales_t_only() -> None:
    cr1 = wild_cluster_bootstrap(X, Y, CL, coef=1, small_sample="CR1")
    cr0 = wild_cluster_bootstrap(X, Y, CL, coef=1, small_sample="CR0")
    g, (n, k) = 12, X.shape
    c = g / (g - 1) * (n - 1) / (n - k)
    assert cr1.small_sample_factor == pytest.approx(c) and cr0.small_sample_factor == 1.0
    assert cr1.std_error == pytest.approx(math.sqrt(c) * cr0.std_error, rel=1e-12)
    assert cr1.t_stat == pytest.approx(cr0.t_stat / math.sqrt(c), rel=1e-12)
    assert (cr1.p_value, cr1.ci_lower, cr1.ci_upper) == pytest.approx(
        (cr0.p_value, cr0.ci_lower, cr0.ci_upper), rel=1e-9
    )


@pytest.mark.parametrize(
    ("weights", "impose_null", "p_type"),
    [
        ("rademacher", True, "symmetric"),
        ("webb", True, "equal_tailed"),
        ("rademacher", False, "symmetric"),
    ],
)
def test_interval_is_the_set_of_nulls_not_rejected(
    weights: str, impose_null: bool, p_type: str
) -> None:
    kw = {"coef": 1, "weights_type": weights, "impose_null": impose_null, "B": 999, "rng": 7}
    res = wild_cluster_bootstrap(X, Y, CL, p_value_type=p_type, **kw)
    alpha = 1 - res.level
    assert res.ci_lower < res.estimate < res.ci_upper
    eps = 1e-6 * res.std_error
    for end, inward in ((res.ci_lower, 1.0), (res.ci_upper, -1.0)):
        inside = wild_cluster_bootstrap(
            X, Y, CL, null=end + inward * eps, p_value_type=p_type, **kw
        )
        outside = wild_cluster_bootstrap(
            X, Y, CL, null=end - inward * eps, p_value_type=p_type, **kw
        )
        assert inside.p_value > alpha >= outside.p_value


def test_wcu_interval_is_the_bootstrap_t_interval() -> None:
    """WCU's t* do not depend on the null: the interval is est +- q se, with q the
    (floor(alpha B) + 1)-th largest |t*| (the smallest |t| whose p-value is <= alpha)."""
    res = wild_cluster_bootstrap(X, Y, CL, coef=1, impose_null=False)
    b = res.n_draws
    q = np.sort(np.abs(res.bootstrap_t))[::-1][math.floor((1 - res.level) * b)]
    assert res.ci_lower == pytest.approx(res.estimate - q * res.std_error, rel=1e-8)
    assert res.ci_upper == pytest.approx(res.estimate + q * res.std_error, rel=1e-8)


def _panel(n_units: int = 12, n_periods: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    unit = np.repeat(np.arange(n_units), n_periods)
    time = np.tile(np.arange(2001, 2001 + n_periods), n_units)
    first = rng.choice([2003, 2004, 0], size=n_units)[unit]
    d = (first > 0) & (time >= first)
    x = rng.normal(size=unit.size)
    y = rng.normal(size=n_units)[unit] + 0.1 * (time - 2000) + 0.3 * d + 0.2 * x
    y = y + rng.normal(size=unit.size)
    region = unit % 3
    return pd.DataFrame(
        {"unit": unit, "time": time, "d": d.astype(float), "x": x, "y": y, "region": region}
    )


@pytest.mark.parametrize(("weights", "impose_null"), [("rademacher", True), ("webb", False)])
def test_absorbed_unit_effects_equal_the_dummy_regression(weights: str, impose_null: bool) -> None:
    """FWL: absorbing the unit effect (nested in unit clusters) reproduces every t*."""
    panel = _panel()
    kw = {"weights_type": weights, "impose_null": impose_null, "B": 999, "rng": 3, "null": 0.1}
    fe = wild_bootstrap_regression(
        panel, outcome="y", treatment="d", covariates="x", cluster="unit",
        fixed_effects=["unit", "time"], **kw,
    )  # fmt: skip
    dummies = pd.get_dummies(panel[["unit", "time"]].astype(str), drop_first=True, dtype=float)
    full = pd.concat([pd.Series(1.0, index=panel.index, name="const"), panel[["d", "x"]]], axis=1)
    full = pd.concat([full, dummies], axis=1)
    ref = wild_cluster_bootstrap(full, panel["y"], panel["unit"], coef="d", **kw)
    assert fe.estimate == pytest.approx(ref.estimate, rel=1e-10)
    assert fe.small_sample_factor == pytest.approx(ref.small_sample_factor, rel=1e-12)
    assert fe.t_stat == pytest.approx(ref.t_stat, rel=1e-9)
    np.testing.assert_allclose(fe.bootstrap_t, ref.bootstrap_t, rtol=0, atol=1e-8)
    assert fe.p_value == ref.p_value
    assert (fe.ci_lower, fe.ci_upper) == pytest.approx((ref.ci_lower, ref.ci_upper), rel=1e-7)


def test_fixed_effects_not_nested_in_clusters_enter_as_dummies() -> None:
    panel = _panel()
    by_unit = build_wild_design(
        panel, outcome="y", treatment="d", cluster="unit", fixed_effects=["time", "unit"]
    )
    assert by_unit.absorbed == "unit" and by_unit.absorbed_df == 12
    assert by_unit.names == ("d", "time[2002]", "time[2003]", "time[2004]", "time[2005]")
    by_region = build_wild_design(
        panel, outcome="y", treatment="d", cluster="region", fixed_effects=["time", "unit"]
    )
    assert by_region.absorbed == "unit"  # units are nested in regions
    by_time = build_wild_design(
        panel, outcome="y", treatment="d", cluster="time", fixed_effects=["unit"]
    )
    assert by_time.absorbed is None and by_time.absorbed_df == 0
    assert by_time.names[:2] == ("(Intercept)", "d") and len(by_time.names) == 2 + 11


@pytest.mark.parametrize("kind", ["rademacher", "webb", "mammen", "normal"])
def test_weights_have_mean_zero_and_variance_one(kind: str) -> None:
    """200,000 draws: the mean's SE is 1/sqrt(2e5) = 0.0022, so 0.012 is > 5 SE; the
    variance's SE is at most sqrt(Var(v^2)/2e5) <= 0.0045 (Mammen), tolerance 0.025."""
    v = draw_weights(kind, 20_000, 10, np.random.default_rng(1)).ravel()
    assert abs(v.mean()) < 0.012
    assert abs(v.var() - 1.0) < 0.025
    if kind == "rademacher":
        assert set(np.unique(v)) == {-1.0, 1.0}
    if kind == "webb":
        np.testing.assert_allclose(np.unique(np.abs(v)) ** 2, [0.5, 1.0, 1.5])


def test_few_rademacher_clusters_warn_and_record() -> None:
    x, y, cl = _data(g=6)
    with pytest.warns(SmallSampleWarning, match="webb"):
        res = wild_cluster_bootstrap(x, y, cl, coef=1)
    assert res.n_draws == 64 and any("webb" in w for w in res.warnings)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        wild_cluster_bootstrap(x, y, cl, coef=1, weights_type="webb", B=199, rng=0)
