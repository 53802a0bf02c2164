"""Callaway & Sant'Anna group-time ATTs on mpdta against published and R ``did`` values.

Sources
-------
* PUBLISHED: Callaway & Sant'Anna (2021), J. Econometrics 225(2), on R ``did``'s mpdta:
  ``att_gt(outcome=lemp, unit=countyreal, time=year, cohort=first_treat, method="reg")``,
  never-treated controls, varying base period, analytic SEs; printed to 4 decimals, so the
  tolerance is half a unit in the 4th decimal (5e-5) plus float noise -> ``abs=5.1e-5``.
* R_DOCS: R ``did`` 2.5.1 pkgdown reference output (``docs/reference/att_gt.md``,
  ``docs/reference/aggte.md``, ``docs/articles/did-basics.md`` of github bcallaway11/did at
  the 2.5.1 release). Point estimates and Wald pre-test p-values are deterministic there
  (the printed SEs are multiplier-bootstrap and change with the seed: not used). Estimates
  printed to 4 decimals (``abs=5.1e-5``), p-values to 5 decimals (``abs=5.1e-6``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.did.att_gt import GroupTimeEffects, att_gt
from impacteval.exceptions import DataValidationError

TOL4 = 5.1e-5  # printed to 4 decimals
TOL5 = 5.1e-6  # printed to 5 decimals

# PUBLISHED: (g, t) -> (ATT, analytic SE)
PUBLISHED_CELLS = {
    (2004, 2004): (-0.0105, 0.0233),
    (2004, 2005): (-0.0704, 0.0310),
    (2004, 2006): (-0.1373, 0.0364),
    (2004, 2007): (-0.1008, 0.0344),
    (2006, 2004): (0.0065, 0.0233),
    (2006, 2005): (-0.0028, 0.0196),
    (2006, 2006): (-0.0046, 0.0178),
    (2006, 2007): (-0.0412, 0.0202),
    (2007, 2004): (0.0305, 0.0150),
    (2007, 2005): (-0.0027, 0.0164),
    (2007, 2006): (-0.0311, 0.0179),
    (2007, 2007): (-0.0261, 0.0167),
}
# R_DOCS att_gt.md, out2 (xformla = ~lpop, est_method "dr", never treated) and out3 (same,
# control_group = "notyettreated"): ATT(g,t) in the order of PUBLISHED_CELLS
R_DR_LPOP_NEVER = [
    -0.0145, -0.0764, -0.1404, -0.1069, -0.0005, -0.0062,
    0.0010, -0.0413, 0.0267, -0.0046, -0.0284, -0.0288,
]  # fmt: skip
R_DR_LPOP_NOTYET = [
    -0.0212, -0.0816, -0.1382, -0.1069, -0.0075, -0.0046,
    0.0087, -0.0413, 0.0269, -0.0042, -0.0284, -0.0288,
]  # fmt: skip


def run(data: pd.DataFrame, **kwargs: Any) -> GroupTimeEffects:
    """att_gt on mpdta's columns (outcome lemp, county, year, first_treat)."""
    return att_gt(
        data, outcome="lemp", unit="countyreal", time="year", cohort="first_treat", **kwargs
    )


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    data: pd.DataFrame = ie.datasets.load("mpdta")
    return data


@pytest.fixture(scope="module")
def reg(mpdta: pd.DataFrame) -> GroupTimeEffects:
    return run(mpdta, method="reg")


def _cells(res: GroupTimeEffects) -> pd.DataFrame:
    return res.table.set_index(["group", "time"])


# -- PUBLISHED ---------------------------------------------------------------------------
def test_all_twelve_cells_and_analytic_ses(reg: GroupTimeEffects) -> None:
    cells = _cells(reg)
    assert len(cells) == 12
    for (g, t), (att, se) in PUBLISHED_CELLS.items():
        assert cells.loc[(g, t), "estimate"] == pytest.approx(att, abs=TOL4), (g, t)
        assert cells.loc[(g, t), "std_error"] == pytest.approx(se, abs=TOL4), (g, t)


@pytest.mark.parametrize(
    ("kind", "att", "se"),
    [
        ("simple", -0.0400, 0.0120),
        ("dynamic", -0.0772, 0.0200),
        ("group", -0.0310, 0.0124),
        ("calendar", -0.0417, 0.0160),
    ],
)
def test_aggregations_published(reg: GroupTimeEffects, kind: str, att: float, se: float) -> None:
    agg = reg.aggregate(kind)
    assert agg.overall is not None
    assert agg.overall.estimate == pytest.approx(att, abs=TOL4)
    assert agg.overall.std_error == pytest.approx(se, abs=TOL4)


def test_event_time_estimates_published(reg: GroupTimeEffects) -> None:
    dyn = reg.aggregate("dynamic").table
    assert dyn["event_time"].tolist() == [-3, -2, -1, 0, 1, 2, 3]
    expected = [0.0305, -0.0006, -0.0245, -0.0199, -0.0510, -0.1373, -0.1008]
    np.testing.assert_allclose(dyn["estimate"], expected, atol=TOL4)


def test_pretest_published(reg: GroupTimeEffects) -> None:
    wald = reg.pretrend_test()
    assert wald.df == 5
    assert round(wald.p_value, 3) == 0.168  # PUBLISHED
    assert wald.p_value == pytest.approx(0.16812, abs=TOL5)  # R_DOCS att_gt.md out1


def test_overall_is_simple(reg: GroupTimeEffects) -> None:
    assert reg.overall is not None
    assert reg.overall.estimate == pytest.approx(-0.0400, abs=TOL4)


# -- R did 2.5.1 documentation ----------------------------------------------------------
def test_group_and_calendar_rows_r_docs(reg: GroupTimeEffects) -> None:
    # R_DOCS aggte.md: group effects and time effects (point estimates)
    grp = reg.aggregate("group").table
    np.testing.assert_allclose(grp["estimate"], [-0.0797, -0.0229, -0.0261], atol=TOL4)
    cal = reg.aggregate("calendar").table
    np.testing.assert_allclose(cal["estimate"], [-0.0105, -0.0704, -0.0488, -0.0371], atol=TOL4)


def test_balance_e_r_docs(reg: GroupTimeEffects) -> None:
    # R_DOCS did-basics.md: aggte(mw.attgt, type = "dynamic", balance_e = 1)
    agg = reg.aggregate("dynamic", balance_e=1)
    assert agg.table["event_time"].tolist() == [-2, -1, 0, 1]
    np.testing.assert_allclose(
        agg.table["estimate"], [0.0065, -0.0028, -0.0066, -0.0510], atol=TOL4
    )
    assert agg.overall is not None
    assert agg.overall.estimate == pytest.approx(-0.0288, abs=TOL4)


@pytest.mark.parametrize(
    ("control_group", "expected", "p_value"),
    [("never_treated", R_DR_LPOP_NEVER, 0.23267), ("not_yet_treated", R_DR_LPOP_NOTYET, 0.23326)],
)
def test_dr_with_lpop_r_docs(
    mpdta: pd.DataFrame, control_group: str, expected: list[float], p_value: float
) -> None:
    res = run(mpdta, covariates=["lpop"], method="dr", control_group=control_group)
    np.testing.assert_allclose(res.table["estimate"], expected, atol=TOL4)
    assert np.all(np.isfinite(res.table["std_error"]))
    assert res.pretrend_test().p_value == pytest.approx(p_value, abs=TOL5)


# -- invariants --------------------------------------------------------------------------
def test_methods_coincide_without_covariates(mpdta: pd.DataFrame, reg: GroupTimeEffects) -> None:
    # theory: with an intercept only, OR, IPW and DR DiD are all the 2x2 DiD (and their
    # influence functions coincide), so estimates and SEs agree to rounding error
    for method in ("ipw", "dr", "dr_imp"):
        other = run(mpdta, method=method)
        np.testing.assert_allclose(other.table["estimate"], reg.table["estimate"], atol=1e-12)
        np.testing.assert_allclose(other.table["std_error"], reg.table["std_error"], atol=1e-12)


@pytest.mark.parametrize("method", ["dr", "ipw", "dr_imp", "reg"])
def test_covariate_methods_finite(mpdta: pd.DataFrame, method: str) -> None:
    res = run(mpdta, covariates=["lpop"], method=method)
    frame = res.table
    assert len(frame) == 12
    assert np.all(np.isfinite(frame[["estimate", "std_error", "p_value"]].to_numpy()))
    for kind in ("simple", "dynamic", "group", "calendar"):
        agg = res.aggregate(kind)
        assert agg.overall is not None and np.isfinite(agg.overall.std_error)


def test_influence_kept_and_se_formula(reg: GroupTimeEffects) -> None:
    inf = np.asarray(reg.details["influence"])  # may be held factored; asarray is dense
    assert inf.shape == (500, 12)
    # R did: se = sqrt(colMeans(IF^2) / n)
    np.testing.assert_allclose(
        reg.table["std_error"], np.sqrt(np.mean(inf**2, axis=0) / 500), rtol=1e-12
    )
    assert len(reg.details["units"]) == 500


def test_unit_cluster_equals_default_and_coarser_cluster_runs(mpdta: pd.DataFrame) -> None:
    base = run(mpdta, method="reg")
    same = run(mpdta, method="reg", cluster="countyreal")
    np.testing.assert_allclose(same.table["std_error"], base.table["std_error"], rtol=1e-12)
    data = mpdta.assign(state=(mpdta["countyreal"] // 1000).astype(float))
    clustered = run(data, method="reg", cluster="state")
    assert clustered.n_clusters is not None and clustered.n_clusters > 2
    assert not np.allclose(clustered.table["std_error"], base.table["std_error"])


def test_equal_weights_change_nothing(mpdta: pd.DataFrame, reg: GroupTimeEffects) -> None:
    res = run(mpdta.assign(w=3.0), method="reg", weights="w")
    np.testing.assert_allclose(res.table["estimate"], reg.table["estimate"], atol=1e-12)
    np.testing.assert_allclose(res.table["std_error"], reg.table["std_error"], atol=1e-12)


def test_universal_base_period(mpdta: pd.DataFrame, reg: GroupTimeEffects) -> None:
    res = run(mpdta, method="reg", base_period="universal")
    cells = _cells(res)
    # post-treatment cells are identical to the varying base; g-1 is normalised to 0
    post = reg.table[reg.table["time"] >= reg.table["group"]].set_index(["group", "time"])
    np.testing.assert_allclose(cells.loc[post.index, "estimate"], post["estimate"], atol=1e-12)
    assert cells.loc[(2006, 2005), "estimate"] == 0.0
    assert np.isnan(cells["std_error"].loc[(2006, 2005)])
    assert len(cells) == 15  # every period, three cohorts
    assert np.isfinite(res.pretrend_test().p_value)


def test_bootstrap_reproducible_and_band(mpdta: pd.DataFrame, reg: GroupTimeEffects) -> None:
    a = run(mpdta, method="reg", bootstrap=999, rng=20240915)
    b = run(mpdta, method="reg", bootstrap=999, rng=20240915)
    pd.testing.assert_frame_equal(a.table, b.table)
    crit = a.details["critical_value"]
    assert 1.96 < crit < 4.0  # sup-t over 12 cells exceeds the pointwise value
    # bootstrap SEs estimate the analytic ones: within 20% with 999 draws
    np.testing.assert_allclose(a.table["std_error"], reg.table["std_error"], rtol=0.2)
    width = (a.table["ci_upper"] - a.table["ci_lower"]) / (2 * a.table["std_error"])
    np.testing.assert_allclose(width, crit)
    agg1 = a.aggregate("dynamic", rng=5)
    agg2 = a.aggregate("dynamic", rng=5)
    pd.testing.assert_frame_equal(agg1.table, agg2.table)
    assert agg1.ci_method.startswith("uniform band")


def test_aggregate_window(reg: GroupTimeEffects) -> None:
    # the 2004 cohort alone: an unweighted mean of its post cells (one cohort's share)
    win = reg.aggregate_window(cohorts=[2004])
    assert win.estimate == pytest.approx(reg.aggregate("group").table["estimate"].iloc[0])
    assert win.std_error == pytest.approx(reg.aggregate("group").table["std_error"].iloc[0])
    # every post-treatment cell reproduces "simple" (estimate and SE with the weight term)
    everything = reg.aggregate_window()
    simple = reg.aggregate("simple").overall
    assert simple is not None
    assert everything.estimate == pytest.approx(simple.estimate, abs=1e-12)
    assert everything.std_error == pytest.approx(simple.std_error, abs=1e-12)
    with pytest.raises(DataValidationError, match="cohorts"):
        reg.aggregate_window(cohorts=[1999])


def test_plots(reg: GroupTimeEffects) -> None:
    import matplotlib.pyplot as plt

    reg.plot()
    reg.aggregate("dynamic").plot()
    plt.close("all")


def test_summary_and_frame(reg: GroupTimeEffects) -> None:
    frame = reg.to_frame()
    for col in ("group", "time", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"):
        assert col in frame.columns
    assert "ATT(g,t)" in reg.summary().as_text()
    assert reg.provenance.options["method"] == "reg"


# -- bad input ---------------------------------------------------------------------------
def test_first_period_cohort_dropped_with_warning(mpdta: pd.DataFrame) -> None:
    data = mpdta.copy()
    data.loc[data["countyreal"] == data["countyreal"].iloc[0], "first_treat"] = 2003.0
    with pytest.warns(UserWarning, match="dropped 1 units already treated in the first period"):
        res = run(data, method="reg")
    assert res.details["n_units_treated_first_period"] == 1
    assert res.details["n_units"] == 499


def test_duplicate_rows(mpdta: pd.DataFrame) -> None:
    data = pd.concat([mpdta, mpdta.iloc[[0]]], ignore_index=True)
    with pytest.raises(DataValidationError, match="share a \\(unit, period\\)"):
        run(data)


def test_cohort_changes_within_unit(mpdta: pd.DataFrame) -> None:
    data = mpdta.copy()
    data.loc[0, "first_treat"] = 2006.0
    with pytest.raises(DataValidationError, match="changes within a unit"):
        run(data)


def test_no_never_treated(mpdta: pd.DataFrame) -> None:
    data = mpdta[mpdta["first_treat"] > 0]
    with pytest.raises(DataValidationError, match="no never-treated units"):
        run(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(data, control_group="not_yet_treated", method="reg")
    assert set(res.table["group"]) == {2004, 2006}
    assert res.table["time"].max() == 2006  # periods from 2007 on dropped, as R did


def test_unbalanced_units_dropped(mpdta: pd.DataFrame) -> None:
    data = mpdta.drop(index=[3])
    with pytest.warns(UserWarning, match="1 units are not observed"):
        res = run(data, method="reg")
    assert res.details["n_units_unbalanced"] == 1


def test_singular_covariate_names_cell(mpdta: pd.DataFrame) -> None:
    data = mpdta.assign(const=1.0)
    with pytest.raises(DataValidationError, match=r"cell \(g, t\) = \(2004, 2004\).*const"):
        run(data, covariates=["const"], method="reg")


def test_overlap_failure_names_cell(mpdta: pd.DataFrame) -> None:
    # a covariate that perfectly separates the 2004 cohort from the controls
    data = mpdta.assign(sep=(mpdta["first_treat"] == 2004).astype(float) * 10.0)
    with pytest.raises(DataValidationError, match=r"overlap fails in cell \(g, t\) = \(2004"):
        run(data, covariates=["sep"], method="dr")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "DR"}, "did you mean 'dr'"),
        ({"control_group": "nevertreated"}, "control_group"),
        ({"base_period": "fixed"}, "base_period"),
        ({"anticipation": -1}, "anticipation"),
        ({"level": 95}, "level"),
        ({"bootstrap": 1}, "bootstrap"),
        ({"covariates": ["lpopp"]}, "did you mean 'lpop'"),
    ],
)
def test_argument_errors(mpdta: pd.DataFrame, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        run(mpdta, **kwargs)


def test_aggregate_errors(reg: GroupTimeEffects) -> None:
    with pytest.raises(DataValidationError, match="kind"):
        reg.aggregate("event")
    with pytest.raises(DataValidationError, match="no event times"):
        reg.aggregate("dynamic", min_e=10)


# -- repeated cross-sections and unbalanced panels ---------------------------------------
def test_rcs_methods_coincide_without_covariates(mpdta: pd.DataFrame) -> None:
    # theory: with an intercept only, reg_did_rc, std_ipw_did_rc and drdid_rc are all the
    # difference of the four cell means, with the same influence function
    reg = run(mpdta, method="reg", panel=False)
    g, t = 2006, 2007  # post cell (2006, 2007) compares 2007 with the base 2005
    sub = mpdta[mpdta["year"].isin([2005, 2007]) & mpdta["first_treat"].isin([0, g])]
    m = sub.groupby([sub["first_treat"] == g, sub["year"] == t])["lemp"].mean()
    did = (m[True, True] - m[True, False]) - (m[False, True] - m[False, False])
    assert reg.table.set_index(["group", "time"]).loc[(g, t), "estimate"] == pytest.approx(did)
    for method in ("ipw", "dr"):
        other = run(mpdta, method=method, panel=False)
        np.testing.assert_allclose(other.table["estimate"], reg.table["estimate"], atol=1e-12)
        np.testing.assert_allclose(other.table["std_error"], reg.table["std_error"], rtol=1e-9)


def test_rcs_weights_cluster_and_bootstrap_run(mpdta: pd.DataFrame) -> None:
    base = run(mpdta, method="dr", covariates=["lpop"], panel=False)
    same = run(mpdta.assign(w=2.0), method="dr", covariates=["lpop"], panel=False, weights="w")
    np.testing.assert_allclose(same.table["estimate"], base.table["estimate"], atol=1e-12)
    np.testing.assert_allclose(same.table["std_error"], base.table["std_error"], rtol=1e-10)
    # clustering the rows by county recovers the within-county correlation of the levels
    by_county = run(mpdta, method="reg", panel=False, cluster="countyreal")
    assert by_county.n_clusters == 500
    assert not np.allclose(by_county.table["std_error"], run(mpdta, panel=False).table["std_error"])
    boot = run(mpdta, method="reg", panel=False, bootstrap=199, rng=3)
    assert np.all(np.isfinite(boot.table["std_error"]))
    assert boot.details["layout"] == "repeated_cross_sections"
    assert boot.n_obs == 2500


def test_unbalanced_panel_keeps_rows(mpdta: pd.DataFrame) -> None:
    data = mpdta.drop(index=[3, 11, 12])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # keeping every row: nothing to warn about
        res = run(data, method="reg", allow_unbalanced_panel=True)
    assert res.details["layout"] == "unbalanced_panel"
    assert res.n_obs == 2497 and res.details["influence"].shape[0] == 500
    assert "unbalanced panel" in res.method and "reg_did_rc" in res.method


@pytest.mark.parametrize("cluster", [None, "state"])
def test_headline_is_the_simple_aggregation(cluster: str | None) -> None:
    # att_gt's headline (computed without the aggregation's table) equals aggregate("simple")
    mpdta = ie.datasets.load("mpdta")
    data = mpdta.assign(state=(mpdta["countyreal"] // 1000).astype(int))
    res = att_gt(
        data, outcome="lemp", unit="countyreal", time="year", cohort="first_treat",
        cluster=cluster,
    )  # fmt: skip
    simple = res.aggregate("simple").overall
    assert res.overall is not None and simple is not None
    for name in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value"):
        assert getattr(res.overall, name) == getattr(simple, name), name
    assert res.overall.method == simple.method
