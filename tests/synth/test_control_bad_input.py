"""Bad input to synthetic_control gets a clear error naming the parameter."""

from __future__ import annotations

import pandas as pd
import pytest
from test_scm_panels import factor_panel

import impacteval as ie
from impacteval.exceptions import DataValidationError, MissingColumnError
from impacteval.synth.control import ConvexHullWarning

KW = {"outcome": "y", "unit": "unit", "time": "t", "treated_unit": "T", "treatment_time": 15}


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return factor_panel(seed=0, noise=0.1)


def _fit(df: pd.DataFrame, **kw: object) -> ie.synth.SyntheticControl:
    return ie.synth.synthetic_control(df, **{**KW, "inference": "none", **kw})  # type: ignore[arg-type]


def test_treated_unit_missing(df: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="`treated_unit`: 'Texas' is not a value"):
        _fit(df, treated_unit="Texas")


def test_treated_unit_among_donors(df: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="`donors`: the treated unit 'T' is also"):
        _fit(df, donors=["D01", "D02", "T"])


def test_unknown_donor_and_tiny_pool(df: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="`donors`: \\['X'\\] are not values"):
        _fit(df, donors=["D01", "X"])
    with pytest.raises(DataValidationError, match="at least two donor units"):
        _fit(df, donors=["D01"])


def test_unbalanced_panel(df: pd.DataFrame) -> None:
    holes = df.drop(index=df.index[(df.unit == "D03") & (df.t == 4)])
    with pytest.raises(DataValidationError, match=r"unbalanced panel.*'D03' has 19 of 20"):
        _fit(holes)


def test_duplicated_rows(df: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="duplicated unit-period"):
        _fit(pd.concat([df, df.iloc[[0]]]))


def test_missing_outcome(df: pd.DataFrame) -> None:
    gap = df.copy()
    gap.loc[5, "y"] = float("nan")
    with pytest.raises(DataValidationError, match="`outcome`: column 'y' has 1 missing"):
        _fit(gap)


def test_predictor_years_outside_data_or_after_treatment(df: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match=r"periods \[1999\] are not in the data"):
        _fit(df, predictors=[("x", 1999)])
    with pytest.raises(DataValidationError, match="not before the treatment time 15"):
        _fit(df, predictors=[("x", range(10, 18))])


def test_bad_predictor_specs(df: pd.DataFrame) -> None:
    with pytest.raises(MissingColumnError, match="`predictors`: column 'nope'"):
        _fit(df, predictors=[("nope", 3)])
    with pytest.raises(DataValidationError, match="wrap a single predictor in a list"):
        _fit(df, predictors=("x", 3))
    with pytest.raises(DataValidationError, match="the only aggregation is 'mean'"):
        _fit(df, predictors=[("x", 3, "median")])


def test_fewer_than_two_pre_periods(df: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="at least two pre-treatment periods"):
        _fit(df, treatment_time=1)
    with pytest.raises(DataValidationError, match="`treatment_time`: periods \\[99\\]"):
        _fit(df, treatment_time=99)
    with pytest.raises(DataValidationError, match="`fit_period`: at least two"):
        _fit(df, fit_period=[3])


def test_constant_predictor(df: pd.DataFrame) -> None:
    flat = df.assign(c=3.0)
    with pytest.raises(DataValidationError, match="constant predictor"):
        _fit(flat, predictors=[("c", range(0, 5)), ("x", 0)])


def test_bad_v(df: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="`v` must be 'optimize' or 2"):
        _fit(df, predictors=[("x", 0), ("z", 3)], v=[1.0, -1.0])
    with pytest.raises(DataValidationError, match="`v` must be one of"):
        _fit(df, predictors=[("x", 0), ("z", 3)], v="optimise")
    with pytest.raises(DataValidationError, match="only be given together with `predictors`"):
        _fit(df, v=[1.0])


def test_outside_convex_hull_fits_with_a_quantified_warning(df: pd.DataFrame) -> None:
    high = df.copy()
    high.loc[high.unit == "T", "y"] += 100.0  # above every donor in every period
    with pytest.warns(ConvexHullWarning, match=r"in 15 of 15 fit-period periods") as rec:
        fit = _fit(high)
    assert "RMSPE" in str(rec[0].message)
    assert fit.pre_rmspe > 50 and fit.warnings  # the warning is kept on the result
