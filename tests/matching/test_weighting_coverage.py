"""Monte Carlo checks of the weighting estimators (seeded; fast enough for every run).

Design (all draws from ``numpy.random.default_rng(SEED)``): x1, x2 ~ N(0, 1);
P(z = 1 | x) = expit(-0.3 + 0.8 x1 - 0.5 x2); y = 1 + 2 z + x1 + 0.5 x2 + 0.5 z x1 + N(0, 1).
ATE = 2; ATT = 2 + 0.5 E[x1 | z = 1], computed once from 2,000,000 draws (Monte Carlo error
~1e-3, negligible against the SEs of ~0.1 used below).

Coverage of nominal 95% intervals over R draws has Monte Carlo SE sqrt(.95 * .05 / R);
the acceptance bands are about +/- 3.5 Monte Carlo SEs, so a correct variance fails with
probability < 1e-3 (and the seed is fixed, so the test is deterministic).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier, DummyRegressor

from impacteval.matching.weighting import aipw, entropy_balance, ipw

SEED = 20261126


def _draw(gen: np.random.Generator, n: int) -> pd.DataFrame:
    x1, x2 = gen.normal(size=n), gen.normal(size=n)
    e = 1.0 / (1.0 + np.exp(-(-0.3 + 0.8 * x1 - 0.5 * x2)))
    z = (gen.uniform(size=n) < e).astype(float)
    y = 1.0 + 2.0 * z + x1 + 0.5 * x2 + 0.5 * z * x1 + gen.normal(size=n)
    return pd.DataFrame({"y": y, "z": z, "x1": x1, "x2": x2})


@pytest.fixture(scope="module")
def att_true() -> float:
    big = _draw(np.random.default_rng(1), 2_000_000)
    return float(2.0 + 0.5 * big.loc[big["z"] == 1, "x1"].mean())


def _coverage(hits: list[bool]) -> float:
    return float(np.mean(hits))


@pytest.mark.slow
def test_ipw_and_entropy_balance_coverage(att_true: float) -> None:
    gen = np.random.default_rng(SEED)
    draws, n = 300, 400  # MC SE of coverage 0.0126: band [0.905, 0.99]
    covs = ["x1", "x2"]
    hits: dict[str, list[bool]] = {"ipw_ate": [], "ipw_att": [], "ebal_att": []}
    ses: dict[str, list[float]] = {k: [] for k in hits}
    ests: dict[str, list[float]] = {k: [] for k in hits}
    for _ in range(draws):
        d = _draw(gen, n)
        results = {
            "ipw_ate": (ipw(d, outcome="y", treatment="z", covariates=covs), 2.0),
            "ipw_att": (
                ipw(d, outcome="y", treatment="z", covariates=covs, estimand="ATT"),
                att_true,
            ),
            "ebal_att": (
                entropy_balance(d, treatment="z", covariates=covs, outcome="y").effect,
                att_true,
            ),
        }
        for key, (res, truth) in results.items():
            assert res is not None
            hits[key].append(res.ci_lower <= truth <= res.ci_upper)
            ses[key].append(res.std_error)
            ests[key].append(res.estimate)
    for key in hits:
        cov = _coverage(hits[key])
        assert 0.905 <= cov <= 0.99, (key, cov)
        # mean SE within 15% of the Monte Carlo SD of the estimates (SD's own MC error ~4%)
        ratio = np.mean(ses[key]) / np.std(ests[key], ddof=1)
        assert 0.85 <= ratio <= 1.15, (key, ratio)


@pytest.mark.slow
def test_aipw_is_doubly_robust() -> None:
    """Correct outcome model + wrong PS, and wrong outcome model + correct PS, both centre
    on the ATE; IPW with the wrong PS does not."""
    gen = np.random.default_rng(SEED + 1)
    reps, n = 40, 2000
    covs = ["x1", "x2"]
    wrong_ps = DummyClassifier(strategy="prior")  # ignores x: P(z=1) for everyone
    wrong_y = DummyRegressor(strategy="mean")  # ignores x within each arm
    out: dict[str, list[float]] = {"good_y_bad_ps": [], "bad_y_good_ps": [], "ipw_bad_ps": []}
    ses: list[float] = []
    for _ in range(reps):
        d = _draw(gen, n)
        a = aipw(d, outcome="y", treatment="z", covariates=covs, propensity_model=wrong_ps)
        b = aipw(d, outcome="y", treatment="z", covariates=covs, outcome_model=wrong_y)
        c = ipw(d, outcome="y", treatment="z", covariates=covs, model=wrong_ps)
        out["good_y_bad_ps"].append(a.estimate)
        out["bad_y_good_ps"].append(b.estimate)
        out["ipw_bad_ps"].append(c.estimate)
        ses.append(b.std_error)
    # per-draw SEs are ~0.06-0.1; the mean over 40 draws has MC SE < 0.02: allow 0.06
    assert np.mean(out["good_y_bad_ps"]) == pytest.approx(2.0, abs=0.06)
    assert np.mean(out["bad_y_good_ps"]) == pytest.approx(2.0, abs=0.06)
    # the naive contrast is confounded (bias about +0.8 in this design)
    assert np.mean(out["ipw_bad_ps"]) - 2.0 > 0.4


@pytest.mark.slow
def test_aipw_cross_fit_coverage() -> None:
    gen = np.random.default_rng(SEED + 2)
    draws, n = 200, 500  # MC SE 0.0154: band [0.89, 0.995]
    hits = []
    for i in range(draws):
        d = _draw(gen, n)
        res = aipw(d, outcome="y", treatment="z", covariates=["x1", "x2"], cross_fit=2, rng=i)
        hits.append(res.ci_lower <= 2.0 <= res.ci_upper)
    assert 0.89 <= _coverage(hits) <= 0.995
