"""BJS imputation variance (Theorem 3), plain and leave-out, against a dense hand computation.

The test rebuilds every piece of Borusyak, Jaravel & Spiess (2024) Theorem 3 on a small
panel with dense numpy least squares and explicit loops, independently of the sparse
numerics: the first-stage residuals on untreated observations, the imputation weights
``v_0 = -Z_0 (Z_0'Z_0)^-1 Z_1' w``, the ``v^2``-weighted cohort x period averages of the
imputed effects (plain, or leaving out the observation's own cluster as Stata
``did_imputation, leaveout``) and the clustered score sums. Both computations are exact
linear algebra on 120 observations, so they agree to rounding error (``rtol=1e-9``).
"""

from __future__ import annotations

import numpy as np
import pytest

from impacteval.did._es_numerics import imputation


def small_panel(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_units, n_periods = 20, 6
    cohort = rng.choice([3.0, 4.0, 5.0, np.inf], size=n_units, p=[0.25, 0.25, 0.2, 0.3])
    cohort[:4] = [3.0, 3.0, 4.0, np.inf]  # every cohort present (and cohort 5 maybe)
    unit = np.repeat(np.arange(n_units), n_periods)
    time = np.tile(np.arange(n_periods), n_units)
    g = cohort[unit]
    treated = time + 1 >= g  # periods are 1..6 on the cohort scale
    y = rng.normal(size=n_units)[unit] + 0.4 * time + rng.normal(size=unit.size)
    y = y + np.where(treated, 1.0 + 0.3 * (time + 1 - g), 0.0)
    cluster = unit // 2  # pairs of units
    return {"y": y, "unit": unit, "time": time, "treated": treated, "g": g, "cluster": cluster}


def by_hand(p: dict[str, np.ndarray], weights: np.ndarray, cells: np.ndarray, leave_out: bool):
    unit, time, treated, cl = p["unit"], p["time"], p["treated"], p["cluster"]
    z = np.column_stack(
        [(unit[:, None] == np.arange(unit.max() + 1)).astype(float)]
        + [(time == t).astype(float) for t in range(1, time.max() + 1)]
    )
    z0, z1, y0 = z[~treated], z[treated], p["y"][~treated]
    gamma = np.linalg.lstsq(z0, y0, rcond=None)[0]
    resid0 = y0 - z0 @ gamma
    tau = p["y"][treated] - z1 @ gamma
    v0 = -z0 @ np.linalg.solve(z0.T @ z0, z1.T @ weights)
    cl0, cl1 = cl[~treated], cl[treated]
    m = weights.shape[1]
    vcov = np.zeros((m, m))
    for j in range(m):
        w = weights[:, j]
        eps = np.empty(tau.size)
        for i in range(tau.size):
            same = cells == cells[i]
            if leave_out:
                same &= cl1 != cl1[i]
                if np.sum(w[same] ** 2) == 0:  # single-cluster cell: plain average
                    same = cells == cells[i]
            den = np.sum(w[same] ** 2)
            eps[i] = tau[i] - (np.sum(w[same] ** 2 * tau[same]) / den if den > 0 else 0.0)
        scores = np.array(
            [
                np.sum(v0[cl0 == c, j] * resid0[cl0 == c]) + np.sum(w[cl1 == c] * eps[cl1 == c])
                for c in np.unique(cl)
            ]
        )
        vcov[j, j] = scores @ scores
    return weights.T @ tau, vcov


@pytest.mark.parametrize("leave_out", [False, True])
def test_bjs_variance_matches_dense_hand_computation(leave_out: bool) -> None:
    p = small_panel(7)
    treated = p["treated"]
    event = (p["time"] + 1 - p["g"])[treated]
    post = np.unique(event)
    weights = (event[:, None] == post[None, :]).astype(float)
    weights /= weights.sum(axis=0)
    cohort_idx = np.searchsorted(np.unique(p["g"][treated]), p["g"][treated])
    cells = cohort_idx * 100 + p["time"][treated]
    fit = imputation(
        p["y"],
        np.zeros((p["y"].size, 0)),
        p["unit"],
        p["time"],
        treated,
        weights,
        cells,
        p["cluster"],
        leave_out=leave_out,
    )
    est, var = by_hand(p, weights, cells, leave_out)
    np.testing.assert_allclose(fit.estimates, est, rtol=1e-9)
    np.testing.assert_allclose(np.diag(fit.vcov), np.diag(var), rtol=1e-9)


def test_leave_out_changes_the_variance_and_counts_single_cluster_cells() -> None:
    p = small_panel(7)
    treated = p["treated"]
    w = np.full((int(treated.sum()), 1), 1.0 / treated.sum())
    cells = np.searchsorted(np.unique(p["g"][treated]), p["g"][treated]) * 100 + p["time"][treated]
    args = (p["y"], np.zeros((p["y"].size, 0)), p["unit"], p["time"], treated, w, cells)
    plain = imputation(*args, p["cluster"], leave_out=False)
    lo = imputation(*args, p["cluster"], leave_out=True)
    assert lo.vcov[0, 0] != pytest.approx(plain.vcov[0, 0], rel=1e-6)
    # one cluster for everything: every leave-out average is undefined -> all fall back
    one = imputation(*args, np.zeros_like(p["cluster"]), leave_out=True)
    assert one.n_leave_out_fallback == int(treated.sum())
