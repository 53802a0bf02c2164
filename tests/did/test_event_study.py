"""Event studies (dynamic TWFE, Sun-Abraham, BJS imputation) against pyfixest 0.60.0,
against Callaway-Sant'Anna, the identities that must hold between them, and bad input.

Reference values: tests/reference/data/pyfixest_event_study.json, written by
tests/reference/peers/generate_pyfixest_event_study.py (pyfixest 0.60.0 in a separate venv,
not a dependency); every case records its pyfixest call. Data: mpdta (data/sample), its
covariate x_tv (tests/reference/data/mpdta_x_tv.csv) and a seeded simulated unbalanced
staggered panel (tests/reference/data/pyfixest_event_study_sim.csv, written by the same
generator). Tolerances (relative):

* balanced panels (mpdta), twfe and sun_abraham: 1e-8 -- the same closed forms in double
  precision (both demean to convergence; observed ~1e-14).
* unbalanced simulated panel: 1e-6 -- pyfixest's alternating-projection tolerance is 1e-8
  per sweep (ours 1e-12); observed 2e-8 on SEs.
* imputation point estimates vs did2s: 1e-7 (mpdta, did2s by hand with pf.feols) and 1e-5
  (pf.did2s on the unbalanced panel) -- pyfixest recovers the first-stage fixed effects
  iteratively (observed 2e-9 and 9e-7); no SEs (did2s's GMM SEs are not BJS's).
* p-values: absolute 1e-8 (they are tiny where the relative error is largest).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.did.att_gt import att_gt
from impacteval.did.event_study import EventStudyTable, event_study
from impacteval.exceptions import DataValidationError, ImpactEvalWarning, MissingColumnError

DATA = Path(__file__).resolve().parents[1] / "reference" / "data"
REFERENCE = {
    c["id"]: c for c in json.loads((DATA / "pyfixest_event_study.json").read_text())["cases"]
}
MPDTA: dict[str, Any] = {
    "outcome": "lemp",
    "unit": "countyreal",
    "time": "year",
    "cohort": "first_treat",
}
SIM: dict[str, Any] = {"outcome": "y", "unit": "unit", "time": "year", "cohort": "cohort"}


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    d = ie.datasets.load("mpdta")
    x = pd.read_csv(DATA / "mpdta_x_tv.csv")
    merged: pd.DataFrame = d.merge(x, on=["countyreal", "year"], how="left")
    return merged


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return pd.read_csv(DATA / "pyfixest_event_study_sim.csv")


def _check(res: EventStudyTable, case_id: str, rel: float) -> None:
    case = REFERENCE[case_id]
    table = res.table.set_index("event_time")
    ours = [int(e) for e in table.index if not table.loc[e, "reference"]]
    if case["method"] == "imputation":  # did2s: post-period point estimates only
        ours = [e for e in ours if e >= 0]
    assert sorted(ours) == sorted(r["event_time"] for r in case["rows"])
    for row in case["rows"]:
        got = table.loc[row["event_time"]]
        assert got["estimate"] == pytest.approx(row["estimate"], rel=rel, abs=1e-12)
        if "std_error" in row:
            assert got["std_error"] == pytest.approx(row["std_error"], rel=rel)
        if "p_value" in row:
            assert got["p_value"] == pytest.approx(row["p_value"], abs=1e-8)
            assert got["ci_lower"] == pytest.approx(row["ci_lower"], rel=rel)
    if "overall" in case:
        assert res.overall is not None
        assert res.overall.estimate == pytest.approx(case["overall"], rel=rel)
    if "nobs" in case:
        assert res.n_obs == case["nobs"]


# -- references ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("case_id", "kwargs"),
    [
        ("mpdta_twfe", {}),
        ("mpdta_twfe_bins", {"bins": (-3, 1)}),
        ("mpdta_twfe_x", {"covariates": ["x_tv"]}),
        ("mpdta_sa", {"method": "sun_abraham"}),
        ("mpdta_did2s", {"method": "imputation"}),
        ("mpdta_did2s_x", {"method": "imputation", "covariates": ["x_tv"]}),
    ],
)
def test_mpdta_against_pyfixest(mpdta: pd.DataFrame, case_id: str, kwargs: Any) -> None:
    res = event_study(mpdta, **MPDTA, **kwargs)
    rel = 1e-7 if kwargs.get("method") == "imputation" else 1e-8
    _check(res, case_id, rel)


def test_mpdta_twfe_covariate_slope(mpdta: pd.DataFrame) -> None:
    res = event_study(mpdta, **MPDTA, covariates=["x_tv"])
    ref = REFERENCE["mpdta_twfe_x"]["covariate"]
    row = res.details["coefficients"].loc["x_tv"]
    assert row["estimate"] == pytest.approx(ref["estimate"], rel=1e-8)
    assert row["std_error"] == pytest.approx(ref["std_error"], rel=1e-8)


def test_mpdta_sun_abraham_cells(mpdta: pd.DataFrame) -> None:
    res = event_study(mpdta, **MPDTA, method="sun_abraham")
    cells = res.details["cohort_effects"].set_index(["cohort", "event_time"])
    ref = REFERENCE["mpdta_sa"]["cells"]
    assert len(cells) == len(ref)
    for row in ref:
        got = cells.loc[(row["cohort"], row["event_time"])]
        assert got["estimate"] == pytest.approx(row["estimate"], rel=1e-8, abs=1e-12)
        assert got["std_error"] == pytest.approx(row["std_error"], rel=1e-8)
    assert res.details["control_group"] == "never treated"


def test_simulated_unbalanced_against_pyfixest(sim: pd.DataFrame) -> None:
    _check(
        event_study(sim, **SIM, bins=(-4, 3), covariates=["x"], cluster="state"),
        "sim_twfe_state",
        1e-6,
    )
    assert REFERENCE["sim_twfe_state"]["rows"]  # state clusters: G = 16, df 15
    res = event_study(sim, **SIM, method="sun_abraham", cluster="state")
    _check(res, "sim_sa_state", 1e-6)
    assert res.df == 15
    _check(event_study(sim, **SIM, method="imputation", covariates=["x"]), "sim_did2s_x", 1e-5)


def test_no_never_treated_units(sim: pd.DataFrame) -> None:
    treated_only = sim[sim["cohort"] > 0]
    with pytest.warns(ImpactEvalWarning, match="last-treated cohort"):
        res = event_study(treated_only, **SIM, method="sun_abraham")
    _check(res, "sim_sa_last_cohort", 1e-6)
    assert res.details["control_group"] == "last-treated cohort 7"
    with pytest.warns(ImpactEvalWarning, match="cannot be imputed"):
        imp = event_study(treated_only, **SIM, method="imputation", covariates=["x"])
    _check(imp, "sim_nonever_did2s", 1e-7)
    assert imp.details["n_obs_not_imputable"] > 0


# -- identities ---------------------------------------------------------------------------
def test_sun_abraham_equals_callaway_santanna_universal_base(mpdta: pd.DataFrame) -> None:
    """Balanced, never-treated controls, no covariates: SA cells = ATT(g,t) with universal
    base period, and the event-time averages = aggte(type = "dynamic"), exactly."""
    sa = event_study(mpdta, **MPDTA, method="sun_abraham")
    cs = att_gt(mpdta, **MPDTA, method="reg", base_period="universal")
    dyn = cs.aggregate("dynamic").table.set_index("event_time")["estimate"]
    ours = sa.table.set_index("event_time")["estimate"]
    assert list(ours.index) == list(dyn.index)
    np.testing.assert_allclose(ours.to_numpy(), dyn.to_numpy(), rtol=0, atol=1e-12)
    cells = sa.details["cohort_effects"]
    gt = cs.table.set_index(["group", "event_time"])["estimate"]
    for row in cells.itertuples():
        assert row.estimate == pytest.approx(gt.loc[(row.cohort, row.event_time)], abs=1e-12)


def _single_cohort(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, periods = 40, np.arange(1, 8)
    g = np.where(np.arange(n) < 15, 4, 0)
    rows = []
    for i in range(n):
        a = rng.normal()
        for t in periods:
            effect = (1.0 + 0.5 * (t - g[i]) + rng.normal()) if g[i] and t >= g[i] else 0.0
            rows.append((i, t, g[i], a + 0.3 * t + effect + rng.normal()))
    return pd.DataFrame(rows, columns=["unit", "year", "cohort", "y"])


def test_single_cohort_identities() -> None:
    """One treated cohort + never-treated controls (balanced): Sun-Abraham = dynamic TWFE
    for every event time and SE (the same regression: one cohort makes the interactions the
    event-time dummies); imputation post-period estimates = dynamic TWFE with every
    pre-period in the reference (``bins=(-1, hi)``), BJS's equivalence with the regression
    that has no lead dummies; their SEs differ (BJS variance vs CR1)."""
    d = _single_cohort()
    twfe = event_study(d, **SIM).table
    sa = event_study(d, **SIM, method="sun_abraham").table
    np.testing.assert_allclose(sa["estimate"], twfe["estimate"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(sa["std_error"], twfe["std_error"], rtol=1e-12)
    imp = event_study(d, **SIM, method="imputation").table.set_index("event_time")
    static_pre = event_study(d, **SIM, bins=(-1, 3)).table.set_index("event_time")
    for e in range(4):
        assert imp.loc[e, "estimate"] == pytest.approx(static_pre.loc[e, "estimate"], abs=1e-10)
    # pre-period rows of the imputation method: BJS's test regression on untreated rows,
    # which with one cohort is the dynamic TWFE lead coefficients on the pre-period sample
    pre_sample = d[(d["cohort"] == 0) | (d["year"] < d["cohort"])]
    leads = event_study(pre_sample, **SIM).table.set_index("event_time")
    for e in (-3, -2):
        assert imp.loc[e, "estimate"] == pytest.approx(leads.loc[e, "estimate"], abs=1e-10)


def test_overall_is_observation_weighted_post_average(mpdta: pd.DataFrame) -> None:
    for method in ("twfe", "sun_abraham", "imputation"):
        res = event_study(mpdta, **MPDTA, method=method)
        post = res.table[res.table["event_time"] >= 0]
        w = post["n_obs"] / post["n_obs"].sum()
        assert res.overall is not None
        assert res.overall.estimate == pytest.approx(float(np.dot(w, post["estimate"])), rel=1e-10)
        assert res.overall.std_error > 0


# -- result object --------------------------------------------------------------------------
def test_result_shape_and_plot(mpdta: pd.DataFrame) -> None:
    import matplotlib.pyplot as plt

    res = event_study(mpdta, **MPDTA, method="imputation", bins=(-3, 2), level=0.9)
    frame = res.to_frame()
    assert list(frame.columns[:6]) == [
        "event_time",
        "estimate",
        "std_error",
        "ci_lower",
        "ci_upper",
        "p_value",
    ]
    assert frame["event_time"].tolist() == [-3, -2, -1, 0, 1, 2]
    ref = frame[frame["reference"]]
    assert ref["event_time"].tolist() == [-1] and ref["estimate"].tolist() == [0.0]
    assert np.isnan(ref["std_error"]).all()
    assert res.level == 0.9 and res.ci_method == "normal"
    assert res.provenance.options["bins"] == [-3, 2]
    assert "event_time" in res.summary().as_text()
    ax = res.plot()
    assert ax.get_xlabel().startswith("event time")
    plt.close("all")


# -- bad input ----------------------------------------------------------------------------
def test_bad_input(mpdta: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match=r"duplicate|share a"):
        event_study(pd.concat([mpdta, mpdta.iloc[:1]]), **MPDTA)
    changed = mpdta.copy()
    changed.loc[changed.index[0], "first_treat"] = 2006.0
    with pytest.raises(DataValidationError, match="changes within a unit"):
        event_study(changed, **MPDTA)
    with pytest.raises(DataValidationError, match="does not occur"):
        event_study(mpdta, **MPDTA, reference=-7)
    with pytest.raises(DataValidationError, match="< 0"):
        event_study(mpdta, **MPDTA, reference=0)
    as_text = mpdta.assign(year=mpdta["year"].astype(str))
    with pytest.raises(DataValidationError, match="must be numeric"):
        event_study(as_text, **MPDTA)
    with pytest.raises(DataValidationError, match="bins"):
        event_study(mpdta, **MPDTA, bins=(0, 3))
    with pytest.raises(DataValidationError, match="method"):
        event_study(mpdta, **MPDTA, method="sunab")
    with pytest.raises(MissingColumnError, match="first_treated"):
        event_study(mpdta, **{**MPDTA, "cohort": "first_treated"})
    with pytest.raises(DataValidationError, match="no treated unit"):
        event_study(mpdta.assign(first_treat=0.0), **MPDTA)


def test_missing_outcome_rows_are_counted(mpdta: pd.DataFrame) -> None:
    d = mpdta.copy()
    d.loc[d.index[:3], "lemp"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = event_study(d, **MPDTA)
    assert res.n_dropped == 3 and res.n_obs == 2497
