"""Invariants of the penalized (Abadie & L'Hour 2021) and robust (Amjad, Shah & Shen 2018)
synthetic controls: the limits the papers state, the exactness of the solver, and the
data-driven choices of lambda and the rank."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.synth._scm_numerics import simplex_lstsq
from impacteval.synth._scm_penalized import (
    nearest_neighbour_lambda,
    penalized_simplex,
    split_fit_period,
)

PREDICTORS = [
    ("lnincome", range(1980, 1989)),
    ("age15to24", range(1980, 1989)),
    ("retprice", range(1980, 1989)),
    ("beer", range(1984, 1989)),
    ("cigsale", 1975),
    ("cigsale", 1980),
    ("cigsale", 1988),
]
KW = {
    "outcome": "cigsale",
    "unit": "state",
    "time": "year",
    "treated_unit": "California",
    "treatment_time": 1989,
    "inference": "none",
}


@pytest.fixture(scope="module")
def smoking() -> pd.DataFrame:
    return ie.datasets.load("smoking")


def _kkt_violation(a: np.ndarray, b: np.ndarray, lam: float, w: np.ndarray) -> float:
    d = a - b[:, None]
    g = 2.0 * d.T @ (d @ w) + lam * np.einsum("ij,ij->j", d, d)
    on = w > 0
    mu = g[on].mean()
    scale = max(float(np.abs(2.0 * d.T @ d).max()), float(np.abs(g).max()), 1e-300)
    return (
        max(float(np.abs(g[on] - mu).max()), float(max(0.0, -(g[~on] - mu).min(initial=0.0))))
        / scale
    )


def test_penalized_solver_satisfies_kkt_on_random_problems() -> None:
    # seed 7, 300 problems of 1-9 predictors and 2-59 donors, lambda 0 or 1e-6..1e2: the
    # KKT conditions of the convex programme (equal gradient on the support, no descent
    # direction off it) hold to 1e-9 of the gradient's scale, i.e. rounding
    rng = np.random.default_rng(7)
    for i in range(300):
        k, n = int(rng.integers(1, 10)), int(rng.integers(2, 60))
        a = rng.normal(size=(k, n))
        b = rng.normal(size=k) * rng.choice([0.2, 1.0, 3.0])
        lam = 0.0 if i % 5 == 0 else float(10 ** rng.uniform(-6, 2))
        w = penalized_simplex(a, b, lam)
        assert w.min() >= 0.0 and w.sum() == pytest.approx(1.0, abs=1e-12)
        assert _kkt_violation(a, b, lam, w) < 1e-9


def test_penalized_is_sparse() -> None:
    # Abadie & L'Hour (2021), Theorem 1: for lambda > 0 at most k + 1 donors get weight
    rng = np.random.default_rng(3)
    for _ in range(50):
        k, n = int(rng.integers(1, 6)), 40
        a, b = rng.normal(size=(k, n)), 0.3 * rng.normal(size=k)
        w = penalized_simplex(a, b, 0.05)
        assert int((w > 0).sum()) <= k + 1


def test_lambda_zero_limit_is_the_synthetic_control(smoking: pd.DataFrame) -> None:
    # same (fixed) V: lambda -> 0 gives the standard weights, unique here (California lies
    # outside the donors' hull); the gap is O(lambda)
    v = [1.0] * len(PREDICTORS)
    std = ie.synth.synthetic_control(smoking, **KW, predictors=PREDICTORS, v=v)
    pen = ie.synth.synthetic_control(
        smoking, **KW, predictors=PREDICTORS, v=v, method="penalized", penalty=1e-9
    )
    assert np.abs(std.weights - pen.weights).max() < 1e-6
    exact0 = ie.synth.synthetic_control(
        smoking, **KW, predictors=PREDICTORS, v=v, method="penalized", penalty=0.0
    )
    assert np.abs(std.weights - exact0.weights).max() < 1e-9


def test_large_lambda_is_nearest_neighbour_matching(smoking: pd.DataFrame) -> None:
    v = [1.0] * len(PREDICTORS)
    base = ie.synth.synthetic_control(
        smoking, **KW, predictors=PREDICTORS, v=v, method="penalized", penalty=0.0
    )
    design = base._design
    assert design is not None and design.spec.x is not None
    scale = base.details["predictor_scale"].to_numpy()
    x1 = design.spec.x[:, design.treated] / scale
    x0 = design.spec.x[:, design.donors] / scale[:, None]
    nearest = base.weights.index[int(np.argmin(((x0 - x1[:, None]) ** 2).sum(axis=0)))]
    top = nearest_neighbour_lambda(x0, x1)
    assert 0.0 < top < np.inf
    big = ie.synth.synthetic_control(
        smoking, **KW, predictors=PREDICTORS, v=v, method="penalized", penalty=top * 1.001
    )
    assert big.weights[nearest] == 1.0 and (big.weights.drop(nearest) == 0.0).all()
    below = ie.synth.synthetic_control(
        smoking, **KW, predictors=PREDICTORS, v=v, method="penalized", penalty=top * 0.5
    )
    assert below.weights[nearest] < 1.0  # the threshold is the smallest such lambda


def test_penalized_lambda_zero_matches_simplex_lstsq() -> None:
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(8, 5)), rng.normal(size=8)  # J <= k + 1: unique minimiser
    assert np.abs(penalized_simplex(a, b, 0.0) - simplex_lstsq(a, b)).max() < 1e-10


def test_holdout_choice_minimises_the_holdout_error(smoking: pd.DataFrame) -> None:
    fit = ie.synth.synthetic_control(smoking, **KW, method="penalized")
    path = fit.details["penalty_holdout"]
    chosen = fit.details["penalty"]
    assert path[chosen] <= path.min() * (1 + 1e-9)
    # near-ties go to the largest penalty: none larger is within the tie tolerance
    assert (path[path.index > chosen] > path.min() * (1 + 1e-9)).all()
    n_train, n_val = fit.details["holdout_periods"]
    assert (n_train, n_val) == (split_fit_period(19), 19 - split_fit_period(19)) == (10, 9)
    # recompute the chosen penalty's hold-out error by hand: weights from 1970-79
    # outcomes, scored on 1980-88
    wide = smoking.pivot(index="year", columns="state", values="cigsale")
    donors = fit.weights.index
    train, val = wide.loc[1970:1979], wide.loc[1980:1988]
    w = penalized_simplex(
        train[donors].to_numpy(), train["California"].to_numpy(), fit.details["penalty"]
    )
    err = val["California"].to_numpy() - val[donors].to_numpy() @ w
    assert float(np.mean(err**2)) == pytest.approx(path.min(), rel=1e-9)
    # unique, sparse: at most T_fit + 1 donors
    assert int((fit.weights > 0).sum()) <= 20


def test_robust_full_rank_no_ridge_is_least_squares(smoking: pd.DataFrame) -> None:
    # every singular value kept (no de-noising) and no ridge: the minimum-norm least
    # squares regression of the treated pre-period on the donors (38 donors > 19 periods)
    fit = ie.synth.synthetic_control(smoking, **KW, method="robust", rank=31)
    wide = smoking.pivot(index="year", columns="state", values="cigsale")
    pre = wide.loc[1970:1988]
    donors = fit.weights.index
    beta = np.linalg.pinv(pre[donors].to_numpy()) @ pre["California"].to_numpy()
    assert np.abs(fit.weights.to_numpy() - beta).max() < 1e-8
    assert fit.pre_rmspe < 1e-8  # more donors than periods: an exact fit


def test_robust_full_rank_no_ridge_is_ols_basque() -> None:
    data = ie.datasets.load("basque")
    data = data[data.regionno != 1]
    treated = "Basque Country (Pais Vasco)"
    fit = ie.synth.synthetic_control(
        data,
        outcome="gdpcap",
        unit="regionname",
        time="year",
        treated_unit=treated,
        treatment_time=1975,
        method="robust",
        rank=16,
        inference="none",
    )
    wide = data.pivot(index="year", columns="regionname", values="gdpcap")
    pre = wide.loc[1955:1974]  # 20 periods, 16 donors: a unique OLS fit
    beta, *_ = np.linalg.lstsq(pre[fit.weights.index].to_numpy(), pre[treated].to_numpy())
    assert np.abs(fit.weights.to_numpy() - beta).max() < 1e-8 * np.abs(beta).max()


def test_robust_rank_choice_and_ridge_limit(smoking: pd.DataFrame) -> None:
    fit = ie.synth.synthetic_control(smoking, **KW, method="robust")
    val = fit.details["rank_validation"]
    assert fit.details["rank"] == int(val.idxmin())
    assert val.index.max() <= split_fit_period(19) - 1  # never an interpolating regression
    # ridge -> 0 approaches the least-squares weights of the same rank
    r = fit.details["rank"]
    tiny = ie.synth.synthetic_control(smoking, **KW, method="robust", rank=r, ridge_lambda=1e-10)
    assert np.abs(tiny.weights - fit.weights).max() < 1e-6


def test_placebo_and_leave_one_out_refit_with_the_method(smoking: pd.DataFrame) -> None:
    rob = ie.synth.synthetic_control(
        smoking, **{**KW, "inference": "placebo"}, method="robust", rank=2
    )
    assert 1 / 39 <= rob.p_value <= 1.0
    placebo = rob.details["placebo"]
    # a placebo's gaps are its own robust fit: refit Alabama by hand
    pool = [s for s in rob.weights.index if s != "Alabama"]
    alone = ie.synth.synthetic_control(
        smoking[smoking.state != "California"],
        **{**KW, "treated_unit": "Alabama"},
        method="robust",
        rank=2,
        donors=pool,
    )
    assert np.allclose(placebo.gaps["Alabama"].to_numpy(), alone.gaps.to_numpy())
    pen = ie.synth.synthetic_control(smoking, **KW, method="penalized", penalty=0.01)
    loo = pen.leave_one_out()
    assert set(loo.estimates.index) == set(pen.weights[pen.weights > 0].index)
    time_pl = pen.placebo_test(kind="time")
    assert np.isfinite(time_pl.placebo_fit.estimate)
