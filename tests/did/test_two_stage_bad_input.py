"""Bad input to ``did.two_stage``: each error names the parameter, what was expected and
what was received."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.did.two_stage import two_stage
from impacteval.exceptions import DataValidationError, MissingColumnError, SmallSampleWarning

COLS: dict[str, Any] = dict(outcome="lemp", unit="countyreal", time="year", cohort="first_treat")


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    data = ie.datasets.load("mpdta")
    data["state"] = data["countyreal"] % 7
    data["one"] = 1
    # mpdta's minimum-wage changes are set by states (FIPS code // 1000)
    data["state_year"] = (data["countyreal"] // 1000) * 10000 + data["year"]
    return data


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"form": "dynamic"},
            r"`form` must be one of \['static', 'event_study'\]; received 'dynamic'",
        ),
        (
            {"reference": 0},
            r"`reference` must be a pre-treatment event time \(< 0\) or None; received 0",
        ),
        ({"reference": 1.5}, r"`reference` must be an integer; received 1.5"),
        ({"reference": True}, r"`reference` must be an integer; received True"),
        (
            {"form": "event_study", "reference": -7},
            r"`reference`: event time -7 does not occur.*-4, -3",
        ),
        ({"form": "event_study", "bins": (0, 2)}, r"`bins` must satisfy lo <= reference < 0 <= hi"),
        ({"form": "event_study", "bins": (-2,)}, r"`bins` must be None or a pair \(lo, hi\)"),
        ({"form": "event_study", "bins": (-2, 0.5)}, r"`bins\[1\]` must be an integer"),
        ({"bins": (-2, 2)}, r"`bins` applies to form='event_study' only"),
        ({"fixed_effects": []}, r"`fixed_effects` must name at least one column.*empty"),
        ({"fixed_effects": ["year", "year"]}, r"`fixed_effects` lists a column twice"),
        ({"fixed_effects": [3]}, r"`fixed_effects` must contain column names \(str\); received 3"),
        (
            {"weights": "treat"},
            r"`weights`: column 'treat' must be strictly positive; received 1545",
        ),
        ({"cluster": "one"}, r"`cluster`: at least 2 clusters are needed; 'one' has 1"),
        ({"covariates": ["lpop"]}, r"`fixed_effects`/`covariates`: .* singular"),
        ({"fixed_effects": ["countyreal", "state", "year"]}, r"singular.*nested"),
        (
            {"fixed_effects": ["countyreal", "state_year"]},
            r"`fixed_effects`: no treated observation has a predictable Y\(0\).*state_year: 291",
        ),
        ({"level": 95}, r"`level` must be a confidence level strictly between 0 and 1"),
    ],
)
def test_bad_options(mpdta: pd.DataFrame, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        two_stage(mpdta, **COLS, **kwargs)


@pytest.mark.parametrize("param", ["fixed_effects", "weights", "cluster", "covariates"])
def test_missing_columns_are_named(mpdta: pd.DataFrame, param: str) -> None:
    value: Any = ["nope"] if param in ("fixed_effects", "covariates") else "nope"
    with pytest.raises(MissingColumnError, match=rf"`{param}.*'nope' is not in the data"):
        two_stage(mpdta, **COLS, **{param: value})


def test_bad_data(mpdta: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match=r"`cohort`: column 'first_treat' has no treated"):
        two_stage(mpdta.assign(first_treat=0), **COLS)
    with pytest.raises(
        DataValidationError, match=r"`cohort`: column 'first_treat' must be numeric"
    ):
        two_stage(mpdta.assign(first_treat=mpdta["first_treat"].astype(str)), **COLS)
    dup = mpdta.assign(year=mpdta["year"].where(mpdta.index != 3, 2004))
    with pytest.raises(DataValidationError, match=r"duplicate rows.*two-stage DiD needs one row"):
        two_stage(dup, **COLS)
    moving = mpdta.assign(first_treat=np.where(mpdta.index == 7, 2006, mpdta["first_treat"]))
    with pytest.raises(DataValidationError, match=r"`cohort`.*changes within a unit"):
        two_stage(moving, **COLS)


def test_rows_without_a_predictable_counterfactual_are_dropped_visibly(mpdta: pd.DataFrame) -> None:
    # counties of cohort 2004 observed from 2004 only: treated in every observed period
    data = mpdta[~((mpdta["first_treat"] == 2004) & (mpdta["year"] == 2003))]
    with pytest.warns(UserWarning, match=r"80 treated observations.*cannot be predicted"):
        res = two_stage(data, **COLS)
    assert res.details["n_obs_not_imputable"] == 80
    assert res.details["n_units_always_treated"] == 20
    assert res.n_treated == 291 - 80


def test_few_treated_clusters_warn(mpdta: pd.DataFrame) -> None:
    with pytest.warns(SmallSampleWarning, match=r"state"):
        res = two_stage(mpdta, **COLS, cluster="state")
    assert res.n_clusters == 7 and any("state" in w for w in res.warnings)
