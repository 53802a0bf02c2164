"""payment_risk: Monte Carlo against the closed forms.

Tolerance: 1 percentage point. With n draws the Monte Carlo standard error of a probability
p is sqrt(p (1 - p) / n); with the draws used below it is at most 0.25 pp (p = 0.5,
n = 40,000), so 1 pp is four standard errors and the seeded result is not fragile.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from impacteval.payments import Contract, payment_risk
from impacteval.results import EffectEstimate

SEED = 20240601
THRESHOLD = """[contract]
name = "Threshold"
currency = "USD"
[metrics.effect]
statistic = "STAT"
[payments.pay]
rule = "tiers"
metric = "effect"
tiers = [{from = 0.1, amount = "1000"}]
"""


def test_point_estimate_threshold_matches_the_closed_form() -> None:
    c = Contract.from_toml(THRESHOLD.replace("STAT", "point"))
    se = 0.08
    r = payment_risk(
        c,
        {"effect": {"estimate": 0.12, "std_error": se}},
        n_draws=40_000,
        rng=SEED,
        curve_points=(0.0, 1.0),
        curve_draws=200,
    )
    exact_null = float(stats.norm.sf(0.1 / se))  # P(est >= 0.1 | true 0) = Phi(-1.25)
    assert r.exact_p_pay_null == pytest.approx(exact_null, abs=1e-9)
    assert r.exact_p_fail_at_target == pytest.approx(0.5, abs=1e-9)  # target = threshold
    assert abs(r.p_pay_null - exact_null) < 0.01
    assert abs(r.p_fail_at_target - 0.5) < 0.01
    assert r.pay_threshold["effect"] == pytest.approx(0.1, abs=1e-9)


def test_null_programme_with_a_lower_bound_rule() -> None:
    # pays when the one-sided 95% lower bound clears 0.001: under a null effect that is
    # P(est > 1.645 se + 0.001), about 5%; exact form checked, Monte Carlo within 1 pp.
    text = THRESHOLD.replace('"STAT"', '"lower_bound"\nlevel = 0.95').replace("0.1,", "0.001,")
    c = Contract.from_toml(text)
    se = 0.05
    r = payment_risk(
        c,
        {"effect": EffectEstimate.from_wald(0.2, se, level=0.95, df=None)},
        n_draws=20_000,
        rng=SEED,
        true_effects={"effect": 0.15},
        curve_points=(0.0,),
        curve_draws=100,
    )
    exact = float(stats.norm.sf((stats.norm.isf(0.05) * se + 0.001) / se))
    assert r.exact_p_pay_null == pytest.approx(exact, abs=1e-6)
    assert abs(r.p_pay_null - exact) < 0.01
    exact_fail = float(stats.norm.cdf((stats.norm.isf(0.05) * se + 0.001 - 0.15) / se))
    assert r.exact_p_fail_at_target == pytest.approx(exact_fail, abs=1e-6)
    assert abs(r.p_fail_at_target - exact_fail) < 0.01


def test_bootstrap_draws_are_used_and_seeded() -> None:
    c = Contract.from_toml(THRESHOLD.replace("STAT", "point"))
    draws = np.random.default_rng(0).normal(0.12, 0.08, size=5000)
    est = EffectEstimate.from_wald(
        0.12, 0.08, level=0.95, df=None, details={"bootstrap_draws": draws}
    )
    a = payment_risk(
        c, {"effect": est}, n_draws=20_000, rng=SEED, curve_points=(0.0,), curve_draws=50
    )
    b = payment_risk(
        c, {"effect": est}, n_draws=20_000, rng=SEED, curve_points=(0.0,), curve_draws=50
    )
    assert a.p_pay_null == b.p_pay_null  # same seed, same numbers
    assert a.exact_p_pay_null is None  # no closed form for resampled draws
    # the draws are normal, so the normal closed form is a fair yardstick (2 pp: the
    # 5,000 draws themselves add sampling noise to the tail)
    assert abs(a.p_pay_null - float(stats.norm.sf(0.1 / 0.08))) < 0.02


def test_deterministic_counts_and_plot() -> None:
    import matplotlib

    matplotlib.use("Agg")
    c = Contract.from_toml(THRESHOLD.replace('statistic = "STAT"', 'input = "count"'))
    r = payment_risk(c, {"effect": 0.2}, n_draws=100, rng=1, curve_draws=10)
    assert r.p_pay_null == 1.0 and r.exact_p_pay_null is None
    assert math.isclose(r.expected_payment, 1000.0)
    assert "deterministic" in r.notes[0]
    d = Contract.from_toml(THRESHOLD.replace("STAT", "point"))
    risk = payment_risk(
        d, {"effect": {"estimate": 0.1, "std_error": 0.05}}, n_draws=200, rng=2, curve_draws=20
    )
    ax = risk.plot()
    assert ax.get_ylabel().startswith("expected payment")
    assert "P(pay | true effect 0)" in risk.summary().as_text()
    assert list(risk.curve.columns) == [
        "fraction_of_target",
        "true_effect",
        "expected_payment",
        "p_pay",
    ]
