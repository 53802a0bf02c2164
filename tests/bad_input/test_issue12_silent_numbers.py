"""The table "Numbers returned without a word" (issue 12): one case per row.

Each row of the issue's table was a call that returned a misleading number (or failed deep
inside pandas) without saying why. Each now raises a specific exception, or issues a
specific warning, whose message names the parameter and the reason; where a number is
still returned, the test also checks that it is the honest one (NaN when not identified).
The calls reproduce the table on the bundled samples (nsw_dw, lalonde_psid, mpdta).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import (
    DataValidationError,
    ImpactEvalWarning,
    SmallSampleWarning,
)

LALONDE_COVS = ["age", "educ", "black", "hisp", "married", "nodegree", "re74", "re75"]


def _nsw() -> pd.DataFrame:
    data: pd.DataFrame = ie.datasets.load("nsw_dw")
    return data


def _mpdta() -> pd.DataFrame:
    data: pd.DataFrame = ie.datasets.load("mpdta")
    return data


def _one_treated(data: pd.DataFrame) -> pd.DataFrame:
    """All controls and the first treated unit only."""
    return pd.concat([data[data["treat"] == 0], data[data["treat"] == 1].iloc[:1]])


def _not_identified(res: Any) -> None:
    """The estimate is returned; its SE, interval and p-value are NaN, not a number."""
    assert math.isfinite(res.estimate)
    for name in ("std_error", "ci_lower", "ci_upper", "p_value"):
        assert math.isnan(getattr(res, name)), name


# -- the calls of the table ---------------------------------------------------------------
def twfe_treatment_0_2() -> Any:
    d = _mpdta()
    post = (d["first_treat"] > 0) & (d["year"] >= d["first_treat"])
    d["d"] = post.astype(int) * 2  # coded 0/2: the coefficient would be halved
    return ie.did.twfe(d, outcome="lemp", treatment="d", unit="countyreal", time="year")


def regression_one_treated() -> Any:
    return ie.rct.regression(_one_treated(_nsw()), outcome="re78", treatment="treat")


def dim_one_treated() -> Any:
    return ie.rct.difference_in_means(_one_treated(_nsw()), outcome="re78", treatment="treat")


def twfe_one_treated_cluster() -> Any:
    d = _mpdta()
    unit = d.loc[d["first_treat"] == 2004, "countyreal"].iloc[0]
    d["d"] = ((d["countyreal"] == unit) & (d["year"] >= 2004)).astype(int)
    return ie.did.twfe(d, outcome="lemp", treatment="d", unit="countyreal", time="year")


def att_gt_cohort_after_last_period() -> Any:
    d = _mpdta()
    d.loc[d["first_treat"] == 2007, "first_treat"] = 2009  # the panel ends in 2007
    return ie.did.att_gt(d, outcome="lemp", unit="countyreal", time="year", cohort="first_treat")


def nn_propensity_is_age() -> Any:
    return ie.matching.nearest_neighbor(_nsw(), outcome="re78", treatment="treat", propensity="age")


def nn_one_treated() -> Any:
    lalonde = ie.datasets.load("lalonde_psid")
    return ie.matching.nearest_neighbor(
        _one_treated(lalonde), outcome="re78", treatment="treat", covariates=LALONDE_COVS
    )


def nn_propensity_series() -> Any:
    nsw = _nsw()
    ps = ie.matching.propensity_score(nsw, treatment="treat", covariates=["age", "educ"])
    return ie.matching.nearest_neighbor(nsw, outcome="re78", treatment="treat", propensity=ps)


def dim_outcome_list() -> Any:
    return ie.rct.difference_in_means(_nsw(), outcome=["re78"], treatment="treat")


def att_gt_aggregate_estimate() -> Any:
    res = ie.did.att_gt(
        _mpdta(), outcome="lemp", unit="countyreal", time="year", cohort="first_treat"
    )
    return res.aggregate("simple")


def dim_one_unit_per_arm() -> Any:
    pair = pd.DataFrame({"y": [1.0, 0.0], "z": [1, 0]})
    return ie.rct.difference_in_means(pair, outcome="y", treatment="z")


def dim_outcome_1e160() -> Any:
    nsw = _nsw()
    nsw["re78"] = nsw["re78"] * 1e160
    return ie.rct.difference_in_means(nsw, outcome="re78", treatment="treat")


def dim_duplicate_columns() -> Any:
    values = np.array([[1.0, 2.0, 1.0], [2.0, 3.0, 0.0], [3.0, 1.0, 1.0], [0.0, 1.0, 0.0]])
    frame = pd.DataFrame(values, columns=["y", "y", "z"])
    return ie.rct.difference_in_means(frame, outcome="y", treatment="z")


# -- what each row must now do --------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One row of the table: the call, what it must raise or warn, and message parts."""

    call: Callable[[], Any]
    raises: type[Exception] | None = None
    warns: type[Warning] | None = None
    message: tuple[str, ...] = ()  # regexes, each must match the message (parameter, reason)
    check: Callable[[Any], None] | None = None  # on the returned result


def _aggregate_estimate(res: Any) -> None:
    assert res.overall is not None
    assert res.estimate == res.overall.estimate
    assert res.std_error == res.overall.std_error
    assert (res.ci_lower, res.ci_upper, res.p_value) == (
        res.overall.ci_lower,
        res.overall.ci_upper,
        res.overall.p_value,
    )


def _late_cohort(res: Any) -> None:
    # the 131 counties of the 2007 cohort (mpdta: 131 units first treated in 2007)
    assert res.details["n_units_as_if_never_treated"] == 131
    assert 2009 not in set(res.to_frame()["group"])


def _series_as_column(res: Any) -> None:
    nsw = _nsw()
    ps = ie.matching.propensity_score(nsw, treatment="treat", covariates=["age", "educ"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)
        by_name = ie.matching.nearest_neighbor(
            nsw.assign(ps=ps), outcome="re78", treatment="treat", propensity="ps"
        )
    assert res.estimate == by_name.estimate and res.std_error == by_name.std_error
    assert list(res.matched.columns) == [*nsw.columns, "weights", "distance", "subclass"]


ROWS: dict[str, Row] = {
    "twfe treatment coded 0/2": Row(
        twfe_treatment_0_2,
        raises=DataValidationError,
        message=(r"`treatment`", r"column 'd'", r"binary", r"\[0(\.0)?, 2(\.0)?\]"),
    ),
    "rct.regression with one treated unit": Row(
        regression_one_treated,
        warns=SmallSampleWarning,
        message=(r"`treatment`", r"1 treated", r"single unit in an arm", r"not identified"),
        check=_not_identified,
    ),
    "difference_in_means with one treated unit": Row(
        dim_one_treated,
        warns=SmallSampleWarning,
        message=(r"`treatment`", r"1 treated", r"variance cannot be estimated", r"NaN"),
        check=_not_identified,
    ),
    "twfe with one treated cluster": Row(
        twfe_one_treated_cluster,
        warns=SmallSampleWarning,
        message=(
            r"`cluster`",
            r"only 1 of 500 clusters",
            r"CR1",
            r"over-reject",
            r"randomization inference",
            r"wild cluster",
        ),
    ),
    "att_gt with a cohort after the last period": Row(
        att_gt_cohort_after_last_period,
        warns=ImpactEvalWarning,
        message=(r"`cohort`", r"2009", r"after the last period 2007", r"never-treated"),
        check=_late_cohort,
    ),
    "nearest_neighbor(propensity='age')": Row(
        nn_propensity_is_age,
        raises=DataValidationError,
        message=(r"`propensity`", r"column 'age'", r"\[0, 1\]", r"17 to 55", r"logit"),
    ),
    "nearest_neighbor with one treated unit": Row(
        nn_one_treated,
        raises=DataValidationError,
        message=(r"`treatment`", r"1 treated", r"at least 2 in each arm"),
    ),
    "nearest_neighbor(propensity=<Series from propensity_score>)": Row(
        nn_propensity_series, check=_series_as_column
    ),
    "difference_in_means(outcome=['re78'])": Row(
        dim_outcome_list,
        raises=DataValidationError,
        message=(r"`outcome`", r"single column name", r"list", r"pass 're78'"),
    ),
    "att_gt(...).aggregate('simple').estimate": Row(
        att_gt_aggregate_estimate, check=_aggregate_estimate
    ),
    "difference_in_means with one unit per arm": Row(
        dim_one_unit_per_arm,
        warns=SmallSampleWarning,
        message=(r"`treatment`", r"1 treated and 1 control", r"not identified"),
        check=_not_identified,
    ),
    "difference_in_means on an outcome of order 1e160": Row(
        dim_outcome_1e160,
        raises=DataValidationError,
        message=(r"`outcome`", r"column 're78'", r"overflow", r"[Rr]escale"),
    ),
    "difference_in_means with two columns named y": Row(
        dim_duplicate_columns,
        raises=DataValidationError,
        message=(r"`outcome`", r"2 columns named 'y'", r"unique"),
    ),
}


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_table_row(row: Row) -> None:
    if row.raises is not None:
        with pytest.raises(row.raises) as info:
            row.call()
        text = str(info.value)
        for part in row.message:
            assert re.search(part, text), f"{part!r} not in: {text}"
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = row.call()
    if row.warns is not None:
        hits = [str(w.message) for w in caught if issubclass(w.category, row.warns)]
        matching = [m for m in hits if all(re.search(p, m) for p in row.message)]
        assert matching, f"no {row.warns.__name__} with {row.message}; got {hits}"
        # the warning is also recorded on the result, so a report shows it
        assert any(all(re.search(p, m) for p in row.message) for m in res.warnings)
    if row.check is not None:
        row.check(res)
