"""Theory and behaviour of ``ie.did.ddd`` (triple differences).

Theory checks (Ortiz-Villavicencio & Sant'Anna 2025):

* without covariates the doubly robust, regression and IPW DDDs are the same number (each
  2x2 DiD then reduces to a difference of subgroup means), to rounding (1e-10);
* without covariates and with two periods the DDD equals the difference of the two
  subgroup DiDs (eligible minus ineligible), and its SE the closed form of four
  independent cell means, ``sqrt(sum_k sum_{i in k} (dY_i - mean_k)^2 / n_k^2)``;
* with covariates that shift trends, the naive difference of DiDs is biased while the
  DDD is not (moderndid's two-period DGP, whose true ATT is 0);
* the GMM combination of several comparison cohorts has weights summing to one and a
  variance no larger than any single comparison's;
* a not-yet-treated cell whose only comparison cohort is the never-treated equals the
  never-treated cell.

The data are moderndid's simulated panels stored under tests/reference/data (see
test_ddd_reference.py) and small panels built here.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.did.ddd_numerics import gmm_combine, naive_ddd
from impacteval.results import EffectEstimate

DATA = Path(__file__).resolve().parents[1] / "reference" / "data"
TWO = pd.read_csv(DATA / "moderndid_ddd_2p.csv")
MP = pd.read_csv(DATA / "moderndid_ddd_mp.csv")
X = ["cov1", "cov2", "cov3", "cov4"]
KW2 = {"outcome": "y", "unit": "id", "time": "time", "cohort": "cohort", "partition": "partition"}
KWM = {"outcome": "y", "unit": "id", "time": "time", "cohort": "group", "partition": "partition"}


def _wide_change(df: pd.DataFrame) -> pd.DataFrame:
    wide = df.pivot(index="id", columns="time", values="y")
    units = df.groupby("id")[["cohort", "partition"]].first()
    return units.assign(dy=wide[2] - wide[1])


@pytest.mark.parametrize(("data", "kw"), [(TWO, KW2), (MP, KWM)], ids=["two", "staggered"])
def test_methods_agree_without_covariates(data: pd.DataFrame, kw: dict[str, str]) -> None:
    tables = [
        ie.did.ddd(data, **kw, method=m, control_group="not_yet_treated").table
        for m in ("dr", "reg", "ipw")
    ]
    for other in tables[1:]:
        np.testing.assert_allclose(other["estimate"], tables[0]["estimate"], atol=1e-10)
        np.testing.assert_allclose(other["std_error"], tables[0]["std_error"], rtol=1e-10)


def test_two_period_equals_difference_of_subgroup_dids() -> None:
    u = _wide_change(TWO)
    means = u.groupby(["cohort", "partition"])["dy"].mean()
    did_eligible = means[(2, 1)] - means[(0, 1)]
    did_ineligible = means[(2, 0)] - means[(0, 0)]
    res = ie.did.ddd(TWO, **KW2)
    assert res.overall is not None
    assert res.overall.estimate == pytest.approx(did_eligible - did_ineligible, abs=1e-10)
    var = sum(
        float(((g - g.mean()) ** 2).sum()) / len(g) ** 2
        for _, g in u.groupby(["cohort", "partition"])["dy"]
    )
    assert res.overall.std_error == pytest.approx(np.sqrt(var), rel=1e-10)
    w = np.ones(len(u))
    naive = naive_ddd(
        u["dy"].to_numpy(), u["cohort"].to_numpy() == 2, u["partition"].to_numpy() == 1, w
    )
    assert naive == pytest.approx(res.overall.estimate, abs=1e-10)


def test_naive_ddd_biased_with_covariates() -> None:
    # moderndid's gen_ddd_2periods(dgp_type=1) has true ATT 0 and trends that depend on
    # the covariates differently in each subgroup. One draw of 500 units: the DR DDD is
    # within 3 SE of 0 (a 99.7% event if the estimator is unbiased and SEs are right), the
    # naive difference of DiDs, which ignores the covariates, is off by more than 10 SE.
    res = ie.did.ddd(TWO, **KW2, covariates=X)
    assert res.overall is not None
    se = res.overall.std_error
    assert abs(res.overall.estimate) < 3 * se
    u = _wide_change(TWO)
    naive = naive_ddd(
        u["dy"].to_numpy(), u["cohort"].to_numpy() == 2, u["partition"].to_numpy() == 1,
        np.ones(len(u)),
    )  # fmt: skip
    assert abs(naive) > 10 * se


def test_gmm_weights_and_variance() -> None:
    rng = np.random.default_rng(7)
    common = rng.normal(size=400)
    inf = np.column_stack([common + rng.normal(size=400), 2 * common + rng.normal(size=400)])
    inf -= inf.mean(axis=0)
    att, comb, weights = gmm_combine(np.array([1.0, 2.0]), inf)
    assert weights.sum() == pytest.approx(1.0)
    assert att == pytest.approx(weights @ np.array([1.0, 2.0]))
    assert np.var(comb) <= np.var(inf, axis=0).min() + 1e-12


def test_not_yet_equals_never_when_never_is_the_only_comparison() -> None:
    never = ie.did.ddd(MP, **KWM, covariates=X).table.set_index(["group", "time"])
    nyt = ie.did.ddd(MP, **KWM, covariates=X, control_group="not_yet_treated")
    nyt_t = nyt.table.set_index(["group", "time"])
    # in period 3 no cohort is enabled later, so only the never-enabled units compare
    for cell in [(2, 3), (3, 3)]:
        assert nyt_t.loc[cell, "estimate"] == pytest.approx(never.loc[cell, "estimate"])
        assert nyt_t.loc[cell, "std_error"] == pytest.approx(never.loc[cell, "std_error"])
    # cell (2, 2) compares with cohorts 0 and 3: a GMM combination, not the never value
    assert nyt.details["cells_gmm"] == 1
    assert nyt_t.loc[(2, 2), "estimate"] != pytest.approx(never.loc[(2, 2), "estimate"])


def test_result_contract_and_aggregations() -> None:
    res = ie.did.ddd(MP, **KWM, covariates=X, base_period="universal")
    frame = res.to_frame()
    assert {"group", "time", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"} <= set(
        frame.columns
    )
    assert isinstance(res.overall, EffectEstimate)
    assert res.overall.estimand == "ATT"
    assert "triple differences" in res.method
    assert res.provenance.options["partition"] == "partition"
    dyn = res.aggregate("dynamic")
    assert isinstance(dyn.vcov, pd.DataFrame)
    assert dyn.vcov.shape == (len(dyn.table), len(dyn.table))
    assert res.aggregate("group").overall is not None
    assert res.pretrend_test().df == 1
    assert "ATT" in res.summary().as_text()
    ax = res.plot()
    assert ax is not None
    assert dyn.plot() is not None
    assert dyn.sensitivity().breakdown > 0  # effects ~19 with SEs ~0.4: robust
    matplotlib.pyplot.close("all")


def test_bootstrap_is_seeded() -> None:
    a = ie.did.ddd(MP, **KWM, bootstrap=199, rng=3)
    b = ie.did.ddd(MP, **KWM, bootstrap=199, rng=3)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.provenance.seed == 3
    analytic = ie.did.ddd(MP, **KWM).table["std_error"]
    # bootstrap SEs estimate the same quantity: within 25% with 199 draws (the IQR-based
    # SE has a relative sd of about 1.1/sqrt(199) ~ 8%, so 25% is 3 sd)
    ok = analytic.notna()
    np.testing.assert_allclose(a.table["std_error"][ok], analytic[ok], rtol=0.25)


def test_weights_equal_duplicated_units() -> None:
    u_ids = TWO["id"].unique()
    dup = u_ids[::5]
    extra = TWO[TWO["id"].isin(dup)].assign(id=lambda d: d["id"] + 10_000)
    doubled = pd.concat([TWO, extra], ignore_index=True)
    weighted = TWO.assign(w=np.where(TWO["id"].isin(dup), 2.0, 1.0))
    a = ie.did.ddd(doubled, **KW2, covariates=X)
    b = ie.did.ddd(weighted, **KW2, covariates=X, weights="w")
    assert a.overall is not None and b.overall is not None
    assert b.overall.estimate == pytest.approx(a.overall.estimate, abs=1e-8)


def test_unit_clusters_equal_unclustered() -> None:
    a = ie.did.ddd(MP, **KWM, covariates=X)
    b = ie.did.ddd(MP, **KWM, covariates=X, cluster="id")
    np.testing.assert_allclose(b.table["std_error"], a.table["std_error"], rtol=1e-12)
    assert b.n_clusters == MP["id"].nunique()


def test_docstring_dgp_recovers_effect_exactly() -> None:
    # no noise in the trends: the DDD removes the eligibility trend (0.5 q) and the group
    # trend (s / 2) and returns the effect 2 exactly
    rng = np.random.default_rng(0)
    n = 300
    s = np.where(rng.random(n) < 0.5, 2, 0)
    q = (rng.random(n) < 0.5).astype(int)
    y0 = rng.normal(size=n) + q
    y1 = y0 + 0.5 * q + s / 2 + 2.0 * (s == 2) * q
    df = pd.DataFrame(
        {"id": np.repeat(np.arange(n), 2), "t": np.tile([1, 2], n),
         "y": np.column_stack([y0, y1]).ravel(), "s": np.repeat(s, 2), "q": np.repeat(q, 2)}
    )  # fmt: skip
    res = ie.did.ddd(df, outcome="y", unit="id", time="t", cohort="s", partition="q")
    assert res.overall is not None
    assert res.overall.estimate == pytest.approx(2.0, abs=1e-10)
