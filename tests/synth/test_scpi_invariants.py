"""Invariants of the synthetic control prediction intervals and checks of their solvers.

The exact solvers (:func:`simplex_qp`, :func:`extreme_deviation`) are compared with scipy's
SLSQP on small random problems; SLSQP stops at ``ftol=1e-12`` on well-scaled problems, so
agreement to 1e-6 is a check of the exact solution, not of SLSQP's tolerance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

import impacteval as ie
from impacteval.synth._scpi_insample import extreme_deviation, simplex_qp


def _panel() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    f = rng.normal(size=(24, 2)).cumsum(axis=0)
    lam = rng.uniform(0.5, 2.0, (12, 2))
    lam[0] = 0.5 * lam[1] + 0.3 * lam[2] + 0.2 * lam[3]
    y = 5 + f @ lam.T + rng.normal(0, 0.3, (24, 12))
    return pd.DataFrame(
        [(i, t, y[t, i]) for i in range(12) for t in range(24)], columns=["u", "t", "y"]
    )


KW = {"outcome": "y", "unit": "u", "time": "t", "treated_unit": 0, "treatment_time": 18}


@pytest.fixture(scope="module")
def fit() -> ie.synth.SyntheticControl:
    return ie.synth.synthetic_control(_panel(), inference="none", **KW)


def test_seeded_and_consistent(fit: ie.synth.SyntheticControl) -> None:
    a = fit.prediction_intervals(n_sims=60, rng=4)
    b = fit.prediction_intervals(n_sims=60, rng=4)
    c = fit.prediction_intervals(n_sims=60, rng=5)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    assert not np.allclose(a.to_frame()["insample_lower"], c.to_frame()["insample_lower"])
    t = a.to_frame()
    assert list(t["time"]) == list(range(18, 24))
    np.testing.assert_allclose(t["estimate"], fit.gaps.loc[18:].to_numpy())
    np.testing.assert_allclose(t["ci_lower"], t["treated"] - t["upper"])
    np.testing.assert_allclose(t["ci_upper"], t["treated"] - t["lower"])
    np.testing.assert_allclose(
        t["upper"], t["insample_upper"] + t["outsample_upper"] - t["synthetic"]
    )
    assert (t["insample_lower"] <= t["synthetic"] + 1e-9).all()
    assert (t["insample_upper"] >= t["synthetic"] - 1e-9).all()
    assert (t["lower"] < t["upper"]).all()
    assert a.provenance.seed == 4
    assert a.details["n_sims"] == 60 and a.details["failed_sims"] == 0
    assert a.provenance.options["prediction_intervals"]["out_of_sample"] == "gaussian"


def test_wider_at_higher_level(fit: ie.synth.SyntheticControl) -> None:
    narrow = fit.prediction_intervals(level=0.8, n_sims=60, rng=1).to_frame()
    wide = fit.prediction_intervals(level=0.95, n_sims=60, rng=1).to_frame()
    for lo, hi in (("insample_lower", "insample_upper"), ("lower", "upper")):
        assert (wide[hi] - wide[lo] >= narrow[hi] - narrow[lo] - 1e-9).all()


def test_with_predictors_and_plot(fit: ie.synth.SyntheticControl) -> None:
    withx = ie.synth.synthetic_control(
        _panel(),
        predictors=[("y", range(0, 9), "mean"), ("y", range(9, 18), "mean")],
        inference="none",
        **KW,
    )
    table = withx.prediction_intervals(out_of_sample="ls", n_sims=50).to_frame()
    assert np.isfinite(table[["lower", "upper"]].to_numpy()).all()
    ax = fit.prediction_intervals(out_of_sample="qreg", n_sims=50).plot()
    assert len(ax.collections) >= 1 and ax.get_legend() is not None


def _random_problem(seed: int, j: int = 8, t0: int = 5) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    b = rng.normal(size=(t0, j))
    q = b.T @ b / t0 + 1e-10 * np.eye(j)
    g = b.T @ rng.normal(size=t0) / t0 * 0.5
    w = rng.dirichlet(np.ones(j) * 0.5)
    lower = np.where(w < 0.1, w, 0.0)
    return q, g, w, lower, rng.normal(size=j)


@pytest.mark.parametrize("seed", range(6))
def test_simplex_qp_matches_slsqp(seed: int) -> None:
    rng = np.random.default_rng(seed)
    b = rng.normal(size=(12, 7))
    h_mat = b.T @ b / 12
    h = rng.normal(size=7)
    w = simplex_qp(h_mat, h)
    res = optimize.minimize(
        lambda x: x @ h_mat @ x - h @ x,
        np.full(7, 1 / 7),
        jac=lambda x: 2 * h_mat @ x - h,
        bounds=[(0, 1)] * 7,
        constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0, abs=1e-12)
    assert w @ h_mat @ w - h @ w <= res.fun + 1e-10
    np.testing.assert_allclose(w, res.x, atol=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_extreme_deviation_matches_slsqp(seed: int) -> None:
    q, g, w, lower, p = _random_problem(seed)
    p = p / np.linalg.norm(p)
    d0, scale = lower - w, 1.0 - lower.sum()
    ours = extreme_deviation(q, g, p, d0, scale)
    cons = [
        {"type": "eq", "fun": lambda d: d.sum()},
        {
            "type": "ineq",
            "fun": lambda d: -(d @ q @ d - 2 * g @ d),
            "jac": lambda d: -(2 * q @ d - 2 * g),
        },
    ]
    best = -np.inf
    for start in range(5):  # a few feasible starts inside the set
        d_start = np.zeros_like(w) if start == 0 else None
        if d_start is None:
            d_start = 1e-3 * np.random.default_rng(start).normal(size=w.size)
            d_start -= d_start.mean()
            d_start = np.maximum(d_start, d0)
        res = optimize.minimize(
            lambda d: -(p @ d),
            d_start,
            jac=lambda d: -p,
            constraints=cons,
            bounds=[(lo, None) for lo in d0],
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 1000},
        )
        d = res.x
        if abs(d.sum()) < 1e-8 and d @ q @ d - 2 * g @ d <= 1e-8 and (d >= d0 - 1e-8).all():
            best = max(best, float(p @ d))
    assert np.isfinite(best)
    assert ours >= best - 1e-6
    assert ours == pytest.approx(best, abs=1e-5)
