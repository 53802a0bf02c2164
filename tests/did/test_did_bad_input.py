"""Bad input to ``att_gt``: each problem gets a clear error (or a counted warning).

Decisions recorded here (and in ``att_gt``'s docstring):

* duplicate (unit, period) rows, a cohort that changes within a unit: errors naming an
  example unit (for repeated cross-sections pass ``panel=False``);
* treatment that switches off: ``att_gt`` takes ``cohort``; the optional ``treatment=``
  column is cross-checked -- switching off (non-absorbing) and disagreement with
  ``cohort`` are errors naming a unit and a period;
* no usable controls: ``control_group="never_treated"`` without never-treated units is an
  error that suggests ``"not_yet_treated"``; without never-treated units the not-yet-treated
  design keeps the periods before the last cohort's treatment (R did) and is an error when
  there is only one cohort; with repeated cross-sections or an unbalanced panel a cell
  whose controls (or treated) are unobserved in one of its periods is an error naming it;
* cohorts treated in the first period are dropped with a warning and a count;
* ``time`` must be numeric (error); unevenly spaced periods are allowed -- as R did, the
  periods are used by position (the "varying" base period is the previous observed
  period), so relabelling the periods 1..T leaves every ATT(g, t) unchanged;
* time-varying covariates in a balanced panel enter at their base-period values (the
  earlier of the cell's two periods; R did's rule), never at later values; with
  ``panel=False`` or ``allow_unbalanced_panel=True`` each row's own values (R did);
* a singular outcome-regression design or failed overlap in a (g, t) cell: errors that
  name the cell and the covariates.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.did.att_gt import GroupTimeEffects, att_gt
from impacteval.exceptions import DataValidationError, ImpactEvalWarning


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    data: pd.DataFrame = ie.datasets.load("mpdta")
    return data


def run(data: pd.DataFrame, **kwargs: Any) -> GroupTimeEffects:
    return att_gt(
        data, outcome="lemp", unit="countyreal", time="year", cohort="first_treat", **kwargs
    )


def quiet(data: pd.DataFrame, **kwargs: Any) -> GroupTimeEffects:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)
        return run(data, **kwargs)


# -- panel structure ---------------------------------------------------------------------
def test_duplicate_unit_period_rows(mpdta: pd.DataFrame) -> None:
    data = pd.concat([mpdta, mpdta.iloc[[7]]], ignore_index=True)
    unit = int(mpdta["countyreal"].iloc[7])
    with pytest.raises(DataValidationError, match=rf"2 rows share a \(unit, period\).*{unit} "):
        run(data)
    # the same rows are fine as repeated cross-sections
    assert len(quiet(data, panel=False).table) == 12


def test_cohort_changing_within_unit(mpdta: pd.DataFrame) -> None:
    data = mpdta.copy()
    data.loc[data["countyreal"] == 8001, "first_treat"] = [2007, 2007, 2006, 2006, 2006]
    with pytest.raises(DataValidationError, match=r"`cohort`.*changes within a unit"):
        run(data)


def test_treatment_switching_off_is_an_error(mpdta: pd.DataFrame) -> None:
    data = mpdta.assign(
        d=((mpdta["first_treat"] > 0) & (mpdta["year"] >= mpdta["first_treat"])).astype(float)
    )
    assert len(run(data, treatment="d").table) == 12  # consistent column: accepted
    switch = data.copy()
    unit = int(switch.loc[switch["first_treat"] == 2004, "countyreal"].iloc[0])
    switch.loc[(switch["countyreal"] == unit) & (switch["year"] == 2006), "d"] = 0.0
    with pytest.raises(DataValidationError, match=rf"switches off.*{unit}.*2006.*absorbing"):
        run(switch, treatment="d")


def test_treatment_inconsistent_with_cohort(mpdta: pd.DataFrame) -> None:
    data = mpdta.assign(d=((mpdta["first_treat"] > 0) & (mpdta["year"] >= 2005)).astype(float))
    with pytest.raises(DataValidationError, match=r"`treatment` and `cohort` disagree"):
        run(data, treatment="d")
    with pytest.raises(DataValidationError, match=r"`treatment`.*must be 0/1"):
        run(mpdta.assign(d=2.0), treatment="d")
    with pytest.raises(DataValidationError, match=r"disagree.*row"):
        run(data, treatment="d", panel=False)


# -- controls ----------------------------------------------------------------------------
def test_no_never_treated_units(mpdta: pd.DataFrame) -> None:
    treated_only = mpdta[mpdta["first_treat"] > 0]
    with pytest.raises(DataValidationError, match=r"no never-treated.*not_yet_treated"):
        run(treated_only)
    with pytest.warns(ImpactEvalWarning, match=r"periods from 2007 on are dropped"):
        res = run(treated_only, control_group="not_yet_treated")
    assert res.details["periods_dropped"] == [2007.0]
    single = mpdta[mpdta["first_treat"] == 2006]
    with pytest.raises(DataValidationError, match=r"no never-treated units and a single"):
        run(single, control_group="not_yet_treated")


def test_cell_without_control_observations_is_named(mpdta: pd.DataFrame) -> None:
    # never-treated counties unobserved in 2007: the 2007 cells have no controls
    data = mpdta[~((mpdta["first_treat"] == 0) & (mpdta["year"] == 2007))]
    with pytest.raises(
        DataValidationError, match=r"cell \(g, t\) = \(2004, 2007\): no control observations"
    ):
        quiet(data, allow_unbalanced_panel=True)
    with pytest.raises(DataValidationError, match=r"\(2004, 2007\): no control"):
        quiet(data, panel=False)


def test_too_few_never_treated(mpdta: pd.DataFrame) -> None:
    never = mpdta.loc[mpdta["first_treat"] == 0, "countyreal"].unique()
    data = mpdta[(mpdta["first_treat"] > 0) | mpdta["countyreal"].isin(never[:5])]
    with pytest.raises(DataValidationError, match=r"only 5 never-treated units.*1 covariates"):
        run(data, covariates=["lpop"])


# -- first-period cohorts ----------------------------------------------------------------
def test_first_period_cohort_dropped_with_count(mpdta: pd.DataFrame) -> None:
    data = mpdta.copy()
    ids = data["countyreal"].unique()[:3]
    data.loc[data["countyreal"].isin(ids), "first_treat"] = 2003
    with pytest.warns(ImpactEvalWarning, match=r"dropped 3 units already treated in the first"):
        res = run(data)
    assert res.details["n_units_treated_first_period"] == 3
    assert res.details["n_units"] == 497
    with pytest.warns(ImpactEvalWarning, match=r"dropped 15 observations already treated"):
        rcs = run(data, panel=False)
    assert rcs.details["n_units_treated_first_period"] == 15


# -- time ----------------------------------------------------------------------------------
@pytest.mark.parametrize("as_type", ["str", "datetime"])
def test_non_numeric_time_is_an_error(mpdta: pd.DataFrame, as_type: str) -> None:
    year = mpdta["year"].astype(int).astype(str)
    data = mpdta.assign(year=year if as_type == "str" else pd.to_datetime(year, format="%Y"))
    with pytest.raises(DataValidationError, match=r"`time`: column 'year' must be numeric"):
        run(data)


def test_uneven_periods_are_used_by_position(mpdta: pd.DataFrame) -> None:
    uneven = mpdta[mpdta["year"] != 2005]  # 2003, 2004, 2006, 2007
    rank = {2003: 1, 2004: 2, 2006: 3, 2007: 4}
    relabelled = uneven.assign(
        year=uneven["year"].map(rank), first_treat=uneven["first_treat"].map({0: 0, **rank})
    )
    a, b = run(uneven, method="reg"), run(relabelled, method="reg")
    np.testing.assert_allclose(a.table["estimate"], b.table["estimate"], atol=1e-13)
    np.testing.assert_allclose(a.table["std_error"], b.table["std_error"], rtol=1e-12)
    # the pre-period cell of cohort 2007 in 2006 is compared with 2004, the previous period
    cells = a.table.set_index(["group", "time"])
    assert cells.loc[(2007, 2006), "base_period"] == 2004
    for kind in ("simple", "group", "calendar"):
        oa, ob = a.aggregate(kind).overall, b.aggregate(kind).overall
        assert oa is not None and ob is not None
        assert oa.estimate == pytest.approx(ob.estimate, abs=1e-13)
    # event times stay calendar differences (R aggte: originalt - originalgroup)
    assert a.aggregate("dynamic").table["event_time"].tolist() == [-3, -2, -1, 0, 1, 2, 3]


# -- covariates ----------------------------------------------------------------------------
def test_time_varying_covariates_enter_at_base_period_values(mpdta: pd.DataFrame) -> None:
    rng = np.random.default_rng(5)
    data = mpdta.assign(x=mpdta["lpop"] + rng.normal(0, 0.1, len(mpdta)))
    base = run(data, covariates=["x"], method="dr")
    # 2007 is never the earlier period of a cell: its covariate values are never used
    later = data.assign(x=np.where(data["year"] == 2007, 99.0, data["x"]))
    np.testing.assert_array_equal(
        run(later, covariates=["x"], method="dr").table["estimate"], base.table["estimate"]
    )
    # base-period values are used: changing 2003's moves the cells based there
    noise = rng.normal(0, 0.1, len(data))  # (a common shift would be absorbed by the intercept)
    earlier = data.assign(x=np.where(data["year"] == 2003, data["x"] + noise, data["x"]))
    moved = run(earlier, covariates=["x"], method="dr").table
    changed = ~np.isclose(moved["estimate"], base.table["estimate"], rtol=0, atol=1e-12)
    assert set(moved.loc[changed, "base_period"]) == {2003}


# -- singular designs and overlap ----------------------------------------------------------
@pytest.mark.parametrize("panel", [True, False])
def test_singular_design_names_cell_and_covariates(mpdta: pd.DataFrame, panel: bool) -> None:
    data = mpdta.assign(twice=2.0 * mpdta["lpop"])
    with pytest.raises(
        DataValidationError, match=r"singular.*\(g, t\) = \(2004, 2004\).*\['lpop', 'twice'\]"
    ):
        run(data, covariates=["lpop", "twice"], method="reg", panel=panel)


@pytest.mark.parametrize("panel", [True, False])
def test_overlap_failure_names_cell_and_covariates(mpdta: pd.DataFrame, panel: bool) -> None:
    data = mpdta.assign(sep=(mpdta["first_treat"] == 2004) * 10.0 + 0.01 * mpdta["lpop"])
    with pytest.raises(
        DataValidationError, match=r"overlap fails in cell \(g, t\) = \(2004, 2004\).*'sep'"
    ):
        run(data, covariates=["sep"], method="ipw", panel=panel)


def test_singular_period_regression_in_repeated_cross_sections(mpdta: pd.DataFrame) -> None:
    # a covariate that is constant among the 2004 cohort's rows in 2003 only: drdid_rc's
    # treated pre-period regression is singular; the message names the cell and the part
    data = mpdta.copy()
    mask = (data["first_treat"] == 2004) & (data["year"] == 2003)
    data["z"] = np.where(mask, 1.0, data["lpop"])
    with pytest.raises(
        DataValidationError, match=r"cell \(g, t\) = \(2004, 2004\).*\['z'\].*treated before"
    ):
        run(data, covariates=["z"], method="dr", panel=False)


# -- arguments -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"panel": "no"}, r"`panel` must be True or False"),
        ({"allow_unbalanced_panel": 1}, r"`allow_unbalanced_panel` must be True or False"),
        ({"method": "dr_rc1"}, r"'dr_rc1' \(DRDID's drdid_rc1\) is defined for repeated"),
    ],
)
def test_argument_errors(mpdta: pd.DataFrame, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        run(mpdta, **kwargs)


def test_unit_required_for_panels(mpdta: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match=r"`unit` is required for panel data"):
        att_gt(mpdta, outcome="lemp", time="year", cohort="first_treat")
    res = att_gt(mpdta, outcome="lemp", time="year", cohort="first_treat", panel=False)
    assert res.details["layout"] == "repeated_cross_sections"


def test_unbalanced_panel_default_drops_and_flag_keeps(mpdta: pd.DataFrame) -> None:
    data = mpdta.drop(index=[3, 10])
    with pytest.warns(ImpactEvalWarning, match=r"2 units are not observed.*allow_unbalanced"):
        dropped = run(data)
    assert dropped.details["n_units"] == 498 and dropped.n_obs == 498 * 5
    kept = run(data, allow_unbalanced_panel=True)
    assert kept.details["layout"] == "unbalanced_panel"
    assert kept.details["n_units"] == 500 and kept.n_obs == 2498
    # a balanced panel uses the panel estimators whatever the flag
    both = run(mpdta, allow_unbalanced_panel=True)
    assert both.details["layout"] == "balanced_panel"
