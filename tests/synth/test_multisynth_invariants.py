"""multisynth against theory: its special cases, the optimality conditions of its
balance problem, invariances, and the jackknife's definition."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

import impacteval as ie
from impacteval.synth._scm_numerics import simplex_quadratic

COLS = {"outcome": "y", "unit": "unit", "time": "period", "treatment": "d"}


def make_panel(y: np.ndarray, start: np.ndarray, *, first_period: int = 1990) -> pd.DataFrame:
    """Long panel from an outcome matrix and adoption columns (``T``: never treated)."""
    n, t = y.shape
    d = np.arange(t)[None, :] >= start[:, None]
    return pd.DataFrame(
        {
            "unit": np.repeat([f"s{i:02d}" for i in range(n)], t),
            "period": np.tile(np.arange(first_period, first_period + t), n),
            "y": y.ravel(),
            "d": d.ravel().astype(int),
        }
    )


def factor_outcomes(seed: int, n: int, t: int, noise: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    factors = np.cumsum(rng.normal(size=(t, 2)), axis=0)
    loadings = rng.uniform(0.2, 1.2, size=(n, 2))
    return loadings @ factors.T + rng.normal(size=(n, 1)) + rng.normal(scale=noise, size=(n, t))


N, T = 16, 14
START = np.array([7, 8, 10, 11] + [T] * (N - 4))
Y = factor_outcomes(3, N, T)
PANEL = make_panel(Y, START)
TREATED = [f"s{i:02d}" for i in range(4)]
DONORS = [f"s{i:02d}" for i in range(4, N)]
# n_leads = 4: donors of s00 (adopting at column 7) must adopt after 7 + 4 = 11, so every
# treated unit's donors are the never-treated units (the default n_leads, 3, would admit
# s03, adopting at 11, as a donor of s00)
LEADS = 4


def lagged(j: int, n_lags: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Treated unit j's lags (front-padded to n_lags) and its never-treated donors'."""
    a = START[j]
    lag = min(a, n_lags)
    x = np.zeros(n_lags)
    x[n_lags - lag :] = Y[j, a - lag : a]
    mat = np.zeros((n_lags, N - 4))
    mat[n_lags - lag :] = Y[4:, a - lag : a].T
    return x, mat


def slsqp_stacked(objective, n_blocks: int, size: int) -> np.ndarray:
    """scipy's SLSQP over one simplex per block (an independent solver)."""
    cons = [
        {"type": "eq", "fun": (lambda w, k=k: w[k * size : (k + 1) * size].sum() - 1.0)}
        for k in range(n_blocks)
    ]
    x0 = np.full(n_blocks * size, 1.0 / size)
    out = minimize(
        objective,
        x0,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * x0.size,
        constraints=cons,
        options={"ftol": 1e-15, "maxiter": 2000},
    )
    return np.asarray(out.x)


def test_nu_zero_is_separate_synthetic_controls() -> None:
    """nu = 0: each unit's weights are its own simplex least squares on its lags, solved
    directly (active set) and by SLSQP; the donors outnumber no lag set's rank issues
    here (12 donors, 7-11 lags), so the weights are unique."""
    res = ie.synth.multisynth(PANEL, **COLS, nu=0.0, n_leads=LEADS, inference="none")
    for j, name in enumerate(TREATED):
        x, mat = lagged(j)
        direct = simplex_quadratic(2 * mat.T @ mat, -2 * mat.T @ x)
        sq = slsqp_stacked(lambda w, x=x, mat=mat: np.sum((x - mat @ w) ** 2), 1, mat.shape[1])
        ours = res.weights.loc[DONORS, name].to_numpy()
        np.testing.assert_allclose(ours, direct, atol=1e-9)
        assert np.sum((x - mat @ ours) ** 2) <= np.sum((x - mat @ sq) ** 2) + 1e-9
        assert res.weights.loc[TREATED, name].eq(0).all()


def test_nu_one_is_fully_pooled() -> None:
    """nu = 1: the weights minimise the imbalance of the average treated unit only; the
    minimum is compared with SLSQP's on the stacked problem (weights need not be unique,
    the minimum is)."""
    res = ie.synth.multisynth(PANEL, **COLS, nu=1.0, n_leads=LEADS, inference="none")
    blocks = [lagged(j) for j in range(4)]
    size = N - 4

    def pooled(w: np.ndarray) -> float:
        total = sum(x - mat @ w[k * size : (k + 1) * size] for k, (x, mat) in enumerate(blocks))
        return float(np.sum(total**2))

    ours = np.concatenate([res.weights.loc[DONORS, u].to_numpy() for u in TREATED])
    ref = slsqp_stacked(pooled, 4, size)
    assert pooled(ours) <= pooled(ref) + 1e-8
    assert res.pooled_imbalance == pytest.approx(np.sqrt(pooled(ours) / 16 / 11), rel=1e-9)
    separate = ie.synth.multisynth(PANEL, **COLS, nu=0.0, n_leads=LEADS, inference="none")
    assert res.pooled_imbalance < separate.pooled_imbalance
    assert res.separate_imbalance > separate.separate_imbalance


@pytest.mark.parametrize("nu", [0.2, 0.7])
def test_intermediate_nu_meets_the_optimality_conditions(nu: float) -> None:
    """KKT of the normalised objective on each simplex: the gradient is equal (to mu_j)
    on the support and no smaller off it."""
    sep_fit = ie.synth.multisynth(PANEL, **COLS, nu=0.0, n_leads=LEADS, inference="none")
    res = ie.synth.multisynth(PANEL, **COLS, nu=nu, n_leads=LEADS, inference="none")
    blocks = [lagged(j) for j in range(4)]
    lags = np.array([min(START[j], 11) for j in range(4)], dtype=float)
    q_pool0, q_sep0 = sep_fit.pooled_imbalance, sep_fit.separate_imbalance
    weights = [res.weights.loc[DONORS, u].to_numpy() for u in TREATED]
    d = [x - mat @ w for (x, mat), w in zip(blocks, weights, strict=True)]
    total = sum(d)
    scale = 0.0
    for j, ((_, mat), w) in enumerate(zip(blocks, weights, strict=True)):
        # d/dw of nu/(L J^2 q0p^2) ||sum d||^2 + (1-nu)/(J L_j q0s^2) ||d_j||^2
        grad = -2 * mat.T @ (nu / (11 * 16 * q_pool0**2) * total)
        grad += -2 * mat.T @ ((1 - nu) / (4 * lags[j] * q_sep0**2) * d[j])
        scale = max(scale, np.abs(grad).max())
        support = w > 1e-10
        mu = grad[support].mean()
        np.testing.assert_allclose(grad[support], mu, atol=1e-7 * max(1.0, abs(mu)))
        assert (grad[~support] >= mu - 1e-7 * max(1.0, abs(mu))).all()


def test_default_nu_is_the_triangle_ratio() -> None:
    sep_fit = ie.synth.multisynth(PANEL, **COLS, nu=0.0, inference="none")
    d = sep_fit.imbalance[TREATED].to_numpy()
    expected = np.linalg.norm(d.sum(axis=1)) / np.linalg.norm(d, axis=0).sum()
    res = ie.synth.multisynth(PANEL, **COLS, inference="none")
    assert res.nu == pytest.approx(expected, rel=1e-12)
    assert 0.0 < res.nu < 1.0


def test_single_treated_unit_is_a_standard_synthetic_control() -> None:
    """One treated unit: the weights of synthetic_control with the outcome MSPE over every
    pre-period (no predictors), and the gaps are its post-period gaps."""
    start = np.array([9] + [T] * (N - 1))
    panel = make_panel(Y, start)
    res = ie.synth.multisynth(panel, **COLS, nu=0.5, inference="none")
    sc = ie.synth.synthetic_control(
        panel,
        outcome="y",
        unit="unit",
        time="period",
        treated_unit="s00",
        treatment_time=1999,
        inference="none",
    )
    np.testing.assert_allclose(
        res.weights["s00"].drop("s00").to_numpy(),
        sc.weights.reindex(res.weights.index.drop("s00")).to_numpy(),
        atol=1e-7,
    )
    gaps = res.unit_effects.table.set_index("event_time")["estimate"]
    np.testing.assert_allclose(gaps.loc[0:].to_numpy(), sc.gaps.loc[1999:].to_numpy(), atol=1e-7)
    assert res.estimate == pytest.approx(sc.estimate, abs=1e-7)


def test_exact_factor_model_recovers_the_effects() -> None:
    """No noise and treated units inside the donors' convex hull: every gap is the effect."""
    rng = np.random.default_rng(11)
    f = np.cumsum(rng.normal(size=(T, 2)), axis=0)
    donors = rng.uniform(0, 1, size=(12, 2))
    mix = rng.dirichlet(np.ones(12), size=4)
    y = np.vstack([mix @ donors, donors]) @ f.T
    eff = np.arange(T)[None, :] - START[:, None]
    y = y + np.where(eff >= 0, 2.0 + 0.5 * eff, 0.0)
    res = ie.synth.multisynth(make_panel(y, START), **COLS, inference="none")
    post = res.unit_effects.table.query("event_time >= 0")
    np.testing.assert_allclose(post["estimate"], 2.0 + 0.5 * post["event_time"], atol=1e-6)
    pre = res.unit_effects.table.query("event_time < 0")
    np.testing.assert_allclose(pre["estimate"], 0.0, atol=1e-6)


def test_fixedeff_removes_unit_levels_and_time_shocks_cancel() -> None:
    rng = np.random.default_rng(5)
    shifted = Y + rng.normal(scale=5.0, size=(N, 1))
    a = ie.synth.multisynth(PANEL, **COLS, fixedeff=True, inference="none")
    b = ie.synth.multisynth(make_panel(shifted, START), **COLS, fixedeff=True, inference="none")
    np.testing.assert_allclose(a.table["estimate"], b.table["estimate"], atol=1e-8)
    np.testing.assert_allclose(a.weights.to_numpy(), b.weights.to_numpy(), atol=1e-8)
    shocked = Y + rng.normal(scale=5.0, size=(1, T))
    c = ie.synth.multisynth(PANEL, **COLS, inference="none")
    e = ie.synth.multisynth(make_panel(shocked, START), **COLS, inference="none")
    np.testing.assert_allclose(c.table["estimate"], e.table["estimate"], atol=1e-8)


def test_row_order_and_labels_do_not_matter() -> None:
    res = ie.synth.multisynth(PANEL, **COLS, inference="none")
    shuffled = PANEL.sample(frac=1.0, random_state=1)
    again = ie.synth.multisynth(shuffled, **COLS, inference="none")
    assert again.estimate == pytest.approx(res.estimate, abs=1e-12)
    pd.testing.assert_frame_equal(again.weights, res.weights)


def test_jackknife_is_leave_one_unit_out_with_nu_fixed() -> None:
    """The overall SE equals the jackknife formula over refits without each unit, run
    here through the public function on the reduced panels."""
    small = PANEL[PANEL["unit"].isin(TREATED + DONORS[:7])]
    res = ie.synth.multisynth(small, **COLS)
    units = sorted(small["unit"].unique())
    reps = []
    for u in units:
        sub = small[small["unit"] != u]
        # n_lags held at 11 except without s03 (the last adopter, column 11), where only 10
        # lags exist: the extra lag is zero padding for every unit and the 1/L factors
        # cancel in the normalised objective, so the fit is the one with L = 11
        fit = ie.synth.multisynth(
            sub,
            **COLS,
            nu=res.nu,
            n_leads=res.details["n_leads"],
            n_lags=None if u == "s03" else res.details["n_lags"],
            inference="none",
        )
        reps.append(fit.estimate)
    reps_arr = np.array(reps)
    m = reps_arr.size
    expected = np.sqrt((m - 1) / m * np.sum((reps_arr - reps_arr.mean()) ** 2))
    assert res.std_error == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(np.sort(res.replicates), np.sort(reps_arr), atol=1e-10)


def test_n_leads_opens_the_donor_pool_to_later_adopters() -> None:
    """Donors of a unit adopting at T_j: never treated or adopting after T_j + n_leads."""
    res = ie.synth.multisynth(PANEL, **COLS, n_leads=2, inference="none")
    w = res.weights
    eligible = {"s00": {"s02", "s03"}, "s01": {"s03"}, "s02": set(), "s03": set()}
    for u in TREATED:
        nonzero = set(w.index[w[u] > 0])
        assert nonzero <= set(DONORS) | eligible[u]
    assert w.loc[["s02", "s03"], "s00"].sum() > 0  # this panel's s00 does use them
    wide = ie.synth.multisynth(PANEL, **COLS, n_leads=LEADS, inference="none")
    assert set(wide.weights.index[(wide.weights > 0).any(axis=1)]) <= set(DONORS)
    assert wide.table["event_time"].max() == LEADS - 1
    default = ie.synth.multisynth(PANEL, **COLS, inference="none")
    assert default.table["event_time"].max() == T - 11 - 1


def test_result_tables_summary_and_plot() -> None:
    import matplotlib.pyplot as plt

    res = ie.synth.multisynth(PANEL, **COLS)
    np.testing.assert_allclose(res.weights.sum(axis=0), 1.0, atol=1e-12)
    assert (res.weights.to_numpy() >= 0).all()
    unit = res.unit_effects.table
    post = unit[unit["event_time"] >= 0]
    by_event = post.groupby("event_time")["estimate"].mean()
    ev = res.table.set_index("event_time")["estimate"]
    np.testing.assert_allclose(ev.loc[by_event.index], by_event, atol=1e-12)
    np.testing.assert_allclose(
        res.unit_averages.table["estimate"],
        post.groupby("unit", sort=False)["estimate"].mean(),
        atol=1e-12,
    )
    assert res.estimate == pytest.approx(res.unit_averages.table["estimate"].mean(), abs=1e-12)
    assert res.ci_lower < res.estimate < res.ci_upper
    text = str(res)
    assert "Pooling nu" in text and "jackknife" in text
    assert res.provenance.options["nu_used"] == res.nu
    for kind in ("event", "units"):
        ax = res.plot(kind=kind)
        assert ax.get_xlabel() == "periods since adoption"
        plt.close(ax.figure)


def test_no_inference_leaves_nan_and_warns_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = ie.synth.multisynth(PANEL, **COLS, inference="none", rng=3)
    assert np.isnan(res.std_error)
    assert res.table["std_error"].isna().all()
    assert res.provenance.seed == 3


def test_dual_solver_reaches_the_coordinate_descent_minimum() -> None:
    """The two solvers of the pooled problem (coordinate descent, used first, and the dual
    of the pooled term, which takes over when it is slow) reach the same minimum, and the
    dual's duality gap certifies it."""
    from impacteval.synth import _multisynth_core as core

    adoption = np.where(START < T, START, T)
    design = core.build_design(Y, adoption, np.arange(4), n_leads=LEADS, n_lags=11, fixedeff=True)
    sep_raw = 1.0 / (4 * design.n_lags_unit.astype(float))
    start, _, _ = core.solve_weights(design, pool=0.0, sep=sep_raw)
    q_pool0, q_sep0 = core.imbalance_norms(design, design.imbalances(start))
    for nu in (0.1, 0.6, 0.95):
        pool = nu / (11 * 16 * q_pool0**2)
        sep = (1 - nu) * sep_raw / q_sep0**2
        bcd, _, ok_bcd = core.solve_weights(design, pool=pool, sep=sep, start=start)
        dual, _, ok_dual = core.solve_dual(design, pool=pool, sep=sep, lam=0.0, start=start)
        assert ok_bcd and ok_dual

        def objective(w: list[np.ndarray], pool: float = pool, sep: np.ndarray = sep) -> float:
            d = design.imbalances(w)
            return float(pool * np.sum(d.sum(axis=0) ** 2) + np.sum(sep * np.sum(d**2, axis=1)))

        assert objective(dual) == pytest.approx(objective(bcd), rel=1e-9)
        np.testing.assert_allclose(np.concatenate(dual), np.concatenate(bcd), atol=1e-6)
