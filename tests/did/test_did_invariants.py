"""Identities between the DiD estimators, and TWFE's bias under staggered adoption.

1. One cohort, two periods (balanced panel, no covariates). All three estimators are the
   difference of mean changes ``mean(dY | treated) - mean(dY | control)``, so the point
   estimates agree to rounding error (``rel=1e-10``). Their SEs are different, exactly
   known, finite-sample versions of the same variance. With ``s2_t``, ``s2_c`` the ``ddof=1``
   variances of the changes and ``n_t``, ``n_c`` the group sizes:

   * ``two_by_two`` (change-score OLS, HC2) = Welch:  ``s2_t / n_t + s2_c / n_c``;
   * ``att_gt`` (influence function, ``sum IF^2 / n^2``) = HC0 of the change regression:
     ``s2_t (n_t - 1) / n_t^2 + s2_c (n_c - 1) / n_c^2`` -- each group's term is Welch's
     times ``(n_g - 1) / n_g``;
   * ``twfe`` with unit clusters: with two periods the within transformation is the first
     difference (residuals and regressors are +-1/2 of the differenced ones), so its CR0
     equals HC0 of the change regression, i.e. *exactly* ``att_gt``'s SE, and its default
     CR1 is that times ``sqrt(G / (G - 1) * (2N - 1) / (2N - K))`` with ``K = 3`` (slope and
     the two period effects; unit effects nested in the clusters, fixest's rule).

   These are algebraic identities, checked to ``rel=1e-10``.

2. Monte Carlo (seed 20261126, N_SIMS = 1,000 staggered panels of 200 units x 4 periods):
   cohorts 2 and 3 (probability 0.3 each) and never treated (0.4), unit effects correlated
   with the cohort, period effects, N(0, 1) errors, and dynamic heterogeneous effects
   ``tau = theta_g (1 + t - g)`` with ``theta_2 = 1``, ``theta_3 = 0.3``. Parallel trends hold,
   so ``att_gt``'s "simple" aggregate is unbiased for the population-share weighted mean of
   the post-treatment ATT(g, t), 1.38. TWFE instead uses the early cohort, whose effect is
   still growing, as a control for the late one (Goodman-Bacon 2021) and is biased down.
   Assertions: (a) the CS 95% intervals cover 1.38 in 93-97% of draws (MC SE of a coverage
   near 0.95 is sqrt(0.95 * 0.05 / 1000) = 0.0069, so the band is +-2.9 MC SEs; the
   realised coverage with this seed is printed on failure); (b) TWFE's mean bias is below
   -0.2 (about 15% of the target) and more than 10 Monte Carlo SEs from zero, while the CS
   mean error is within 4 MC SEs of zero. TWFE is computed by the closed-form two-way
   demeaning of the balanced panel for speed and checked against ``ie.did.twfe`` on the
   first draws (``rel=1e-10``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval._panel import prepare_panel
from impacteval.did.att_gt import att_gt


def _two_period_panel(seed: int, n_t: int, n_c: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_t + n_c
    g = (np.arange(n) < n_t).astype(float)
    y0 = rng.normal(size=n) + 0.5 * g
    y1 = y0 + 0.2 + 0.7 * g + rng.normal(size=n) * (1.0 + g)  # heteroskedastic changes
    return pd.DataFrame(
        {
            "id": np.r_[np.arange(n), np.arange(n)],
            "t": np.r_[np.full(n, 2010.0), np.full(n, 2011.0)],
            "y": np.r_[y0, y1],
            "g": np.r_[g, g],
            "cohort": np.r_[g, g] * 2011.0,
            "post": np.r_[np.zeros(n), np.ones(n)],
        }
    ).assign(d=lambda f: f["g"] * f["post"])


@pytest.mark.parametrize(("seed", "n_t", "n_c"), [(1, 12, 30), (2, 40, 25), (3, 7, 9)])
def test_two_by_two_twfe_att_gt_agree_on_two_periods(seed: int, n_t: int, n_c: int) -> None:
    data = _two_period_panel(seed, n_t, n_c)
    did = ie.did.two_by_two(data, outcome="y", treated="g", post="post", unit="id")
    fe = ie.did.twfe(data, outcome="y", treatment="d", unit="id", time="t")
    fe0 = ie.did.twfe(data, outcome="y", treatment="d", unit="id", time="t", se_type="CR0")
    cs = att_gt(data, outcome="y", unit="id", time="t", cohort="cohort")
    assert len(cs.table) == 1
    cell = cs.table.iloc[0]

    wide = data.pivot(index="id", columns="t", values="y")
    change = (wide[2011.0] - wide[2010.0]).to_numpy()
    treated = data.groupby("id")["g"].first().to_numpy() == 1
    a, b = change[treated], change[~treated]
    diff = a.mean() - b.mean()
    assert did.estimate == pytest.approx(diff, rel=1e-10)
    assert fe.estimate == pytest.approx(diff, rel=1e-10)
    assert cell["estimate"] == pytest.approx(diff, rel=1e-10)

    s2_t, s2_c = a.var(ddof=1), b.var(ddof=1)
    welch = s2_t / n_t + s2_c / n_c
    hc0 = s2_t * (n_t - 1) / n_t**2 + s2_c * (n_c - 1) / n_c**2
    assert did.std_error**2 == pytest.approx(welch, rel=1e-10)
    assert cell["std_error"] ** 2 == pytest.approx(hc0, rel=1e-10)
    assert fe0.std_error == pytest.approx(cell["std_error"], rel=1e-10)
    n_units, n_rows = n_t + n_c, 2 * (n_t + n_c)
    cr1 = n_units / (n_units - 1) * (n_rows - 1) / (n_rows - 3)
    assert fe.details["small_sample_factor"] == pytest.approx(cr1, rel=1e-12)
    assert fe.std_error**2 == pytest.approx(hc0 * cr1, rel=1e-10)
    # and the simple aggregation of the single cell is the cell itself
    assert cs.overall is not None
    assert cs.overall.estimate == pytest.approx(diff, rel=1e-10)
    assert cs.overall.std_error == pytest.approx(cell["std_error"], rel=1e-10)


# -- Monte Carlo: CS coverage and TWFE bias under staggered adoption ------------------------
N_SIMS = 1_000
N_UNITS = 200
PERIODS = np.arange(1.0, 5.0)
THETA = {2: 1.0, 3: 0.3}
P_COHORT = {2: 0.3, 3: 0.3, 0: 0.4}
POST_CELLS = [(g, t) for g in THETA for t in PERIODS if t >= g]
TRUE_SIMPLE = float(
    sum(P_COHORT[g] * THETA[g] * (1 + t - g) for g, t in POST_CELLS)
    / sum(P_COHORT[g] for g, _ in POST_CELLS)
)


def _staggered(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    cohort = rng.choice([2, 3, 0], size=N_UNITS, p=[0.3, 0.3, 0.4])
    alpha = rng.normal(size=N_UNITS) + 0.5 * (cohort == 2) - 0.3 * (cohort == 3)
    event = PERIODS[None, :] - cohort[:, None]
    treated = (cohort[:, None] > 0) & (event >= 0)
    theta = np.array([THETA.get(int(c), 0.0) for c in cohort])
    tau = np.where(treated, theta[:, None] * (1.0 + event), 0.0)
    y = alpha[:, None] + 0.4 * PERIODS[None, :] + tau + rng.normal(size=(N_UNITS, PERIODS.size))
    return y, cohort


def _long(y: np.ndarray, cohort: np.ndarray) -> pd.DataFrame:
    n, t = y.shape
    d = (cohort[:, None] > 0) & (PERIODS[None, :] >= cohort[:, None])
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), t).astype(float),
            "t": np.tile(PERIODS, n),
            "g": np.repeat(cohort, t).astype(float),
            "d": d.ravel().astype(float),
            "y": y.ravel(),
        }
    )


def _twfe_closed_form(y: np.ndarray, cohort: np.ndarray) -> float:
    d = ((cohort[:, None] > 0) & (PERIODS[None, :] >= cohort[:, None])).astype(float)

    def within(a: np.ndarray) -> np.ndarray:
        out: np.ndarray = a - a.mean(axis=1, keepdims=True) - a.mean(axis=0, keepdims=True)
        out += float(a.mean())
        return out

    dd = within(d)
    return float(np.sum(dd * within(y)) / np.sum(dd * dd))


@pytest.mark.slow
def test_cs_covers_while_twfe_is_biased_under_staggered_heterogeneous_effects() -> None:
    rng = np.random.default_rng(20261126)
    cs_est, cs_hit, fe_est = [], [], []
    for draw in range(N_SIMS):
        y, cohort = _staggered(rng)
        data = _long(y, cohort)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = att_gt(data, outcome="y", unit="id", time="t", cohort="g", method="reg")
        overall = res.overall
        assert overall is not None
        cs_est.append(overall.estimate)
        cs_hit.append(overall.ci_lower <= TRUE_SIMPLE <= overall.ci_upper)
        fe_est.append(_twfe_closed_form(y, cohort))
        if draw < 3:
            fe = ie.did.twfe(data, outcome="y", treatment="d", unit="id", time="t")
            assert fe.estimate == pytest.approx(fe_est[-1], rel=1e-10)
    coverage = float(np.mean(cs_hit))
    assert 0.93 <= coverage <= 0.97, coverage
    cs_err, fe_err = np.array(cs_est) - TRUE_SIMPLE, np.array(fe_est) - TRUE_SIMPLE
    cs_mc_se = cs_err.std(ddof=1) / np.sqrt(N_SIMS)
    fe_mc_se = fe_err.std(ddof=1) / np.sqrt(N_SIMS)
    assert abs(cs_err.mean()) < 4 * cs_mc_se, (cs_err.mean(), cs_mc_se)
    assert fe_err.mean() < -0.2, fe_err.mean()
    assert fe_err.mean() < -10 * fe_mc_se, (fe_err.mean(), fe_mc_se)


# -- row layout ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"control_group": "not_yet_treated", "base_period": "universal"},
        {"weights": "w", "cluster": "state"},
        {"treatment": "d", "anticipation": 1},
        {"covariates": ["lpop"], "method": "dr"},
        {"first_period_cohort": True},
    ],
    ids=["default", "nyt-universal", "weights-cluster", "treatment-anticipation", "dr", "dropped"],
)
def test_att_gt_same_for_sorted_blocks_and_shuffled_rows(options: dict[str, object]) -> None:
    """A panel sorted by unit then period (read as consecutive unit blocks, no coding) and
    the same rows shuffled with string unit labels (coded and scattered) give the same
    estimates, SEs and aggregation: only the bookkeeping differs, so to 1e-12."""
    opts = dict(options)
    mpdta = ie.datasets.load("mpdta").sort_values(["countyreal", "year"])
    data = mpdta.assign(
        countyreal=mpdta["countyreal"].astype("int64"),
        w=1.0 + (mpdta["countyreal"] % 7) / 10.0,
        state=(mpdta["countyreal"] // 1000).astype("int64"),
        d=((mpdta["year"] >= mpdta["first_treat"]) & (mpdta["first_treat"] > 0)).astype(float),
    ).reset_index(drop=True)
    if opts.pop("first_period_cohort", False):  # units treated in 2003: dropped, keep_all False
        first = data["countyreal"].isin(data["countyreal"].unique()[:25])
        data.loc[first, "first_treat"] = 2003.0
    shuffled = data.sample(frac=1.0, random_state=3).assign(
        countyreal=lambda d: "c" + d["countyreal"].astype(str)
    )
    # the two layouts take the two paths
    years = data["year"].to_numpy(dtype=float)
    key = dict(unit="countyreal", time="year", outcome="lemp")
    assert prepare_panel(data, **key).in_order
    assert not prepare_panel(data.assign(year=years[::-1].copy()), **key).in_order
    kw = dict(outcome="lemp", unit="countyreal", time="year", cohort="first_treat", **opts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        blocks = ie.did.att_gt(data, **kw)  # type: ignore[arg-type]
        coded = ie.did.att_gt(shuffled, **kw)  # type: ignore[arg-type]
    cols = ["estimate", "std_error", "n_treated", "n_control"]
    np.testing.assert_allclose(blocks.table[cols], coded.table[cols], rtol=1e-12, atol=1e-14)
    assert (
        blocks.details["n_units_treated_first_period"]
        == coded.details["n_units_treated_first_period"]
    )
    dyn_b, dyn_c = blocks.aggregate("dynamic"), coded.aggregate("dynamic")
    np.testing.assert_allclose(
        dyn_b.table[["estimate", "std_error"]],
        dyn_c.table[["estimate", "std_error"]],
        rtol=1e-12,
        atol=1e-14,
    )
