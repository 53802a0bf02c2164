"""``ie.did.ddd(panel=False)``: repeated cross-sections -- closed forms and bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError, ImpactEvalWarning

KW: dict[str, Any] = {"outcome": "y", "time": "t", "cohort": "s", "partition": "q", "panel": False}


def _rcs(
    n: int = 600, seed: int = 3, periods: int = 2, cohorts: tuple[int, ...] = (2,)
) -> pd.DataFrame:
    """Fresh draws each period: cohort s (0 = never), eligibility q, a covariate x."""
    rng = np.random.default_rng(seed)
    rows = n * periods
    t = np.repeat(np.arange(1, periods + 1), n)
    s = rng.choice(np.array((0, *cohorts)), size=rows)
    q = (rng.random(rows) < 0.5).astype(int)
    x = rng.normal(size=rows)
    treated = (s > 0) & (t >= s) & (q == 1)
    y = 0.5 * x + q * t + 0.3 * s + 1.5 * treated + rng.normal(size=rows)
    return pd.DataFrame({"t": t, "s": s, "q": q, "x": x, "y": y, "id": np.arange(rows)})


DF = _rcs()


def _delta(df: pd.DataFrame, enabled: bool, eligible: int) -> float:
    cell = df[((df["s"] > 0) == enabled) & (df["q"] == eligible)]
    means = cell.groupby("t")["y"].mean()
    return float(means.loc[2] - means.loc[1])


@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_no_covariates_is_the_difference_of_four_mean_changes(method: str) -> None:
    # DiD(4v3) + DiD(4v2) - DiD(4v1) = D4 - D3 - D2 + D1 with D the subgroup's mean change
    res = ie.did.ddd(DF, method=method, **KW)
    expected = (
        _delta(DF, True, 1) - _delta(DF, True, 0) - _delta(DF, False, 1) + _delta(DF, False, 0)
    )
    assert res.overall is not None
    assert res.overall.estimate == pytest.approx(expected, abs=1e-10)
    assert res.n_obs == len(DF)


def test_unit_column_is_ignored_with_cross_sections() -> None:
    a = ie.did.ddd(DF, covariates=["x"], **KW)
    b = ie.did.ddd(DF, covariates=["x"], unit="id", **KW)
    assert a.overall is not None and b.overall is not None
    assert a.overall.estimate == b.overall.estimate
    assert a.overall.std_error == b.overall.std_error


def test_staggered_aggregations_bootstrap_and_clusters_run_on_rows() -> None:
    df = _rcs(n=900, periods=4, cohorts=(2, 3))
    df["cl"] = df["id"] % 40
    res = ie.did.ddd(df, covariates=["x"], control_group="not_yet_treated", cluster="cl",
                     bootstrap=99, rng=1, **KW)  # fmt: skip
    assert res.fit is not None and res.fit.n == len(df)
    assert res.details["cells_gmm"] >= 1
    dyn = res.aggregate("dynamic")
    assert dyn.overall is not None and np.isfinite(dyn.overall.std_error)
    post = res.table[res.table["time"] >= res.table["group"]]
    # true effect 1.5 in every post cell; 900 draws per period -> SEs about 0.2
    assert np.all(np.abs(post["estimate"] - 1.5) < 5 * post["std_error"])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"panel": "no"}, "`panel` must be True or False"),
        ({"panel": True}, "`unit` is required for panel data"),
        ({"unit": 3}, r"`unit` must be a column name \(str\) or None"),
    ],
)
def test_bad_arguments(change: dict[str, Any], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        ie.did.ddd(DF, **{**KW, **change})


def test_partition_not_binary() -> None:
    df = DF.assign(q=DF["q"] * 2)
    with pytest.raises(DataValidationError, match="`partition`: column 'q' must be 0/1"):
        ie.did.ddd(df, **KW)


def test_subgroup_missing_in_a_period_names_cell_and_period() -> None:
    df = DF[~((DF["t"] == 1) & (DF["s"] == 0) & (DF["q"] == 1))]
    with pytest.raises(
        DataValidationError,
        match=r"cell \(group 2, time 2\).*eligible comparison subgroup in the base period",
    ):
        ie.did.ddd(df, **KW)


def test_first_period_cohort_dropped_with_a_warning_counting_observations() -> None:
    df = pd.concat([DF, DF.head(30).assign(s=1)], ignore_index=True)
    with pytest.warns(ImpactEvalWarning, match="dropped 30 observations enabled in the first"):
        res = ie.did.ddd(df, **KW)
    assert res.n_obs == len(DF)
