"""Bad input to ``ie.did.ddd``: a clear error naming the parameter, or a warning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError, ImpactEvalWarning

KW = {"outcome": "y", "unit": "id", "time": "t", "cohort": "s", "partition": "q"}


def _panel(n: int = 80, seed: int = 1, periods: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.arange(n)
    s = np.where(ids % 2 == 0, 2, 0)
    q = (ids // 2) % 2
    rows = []
    for i in ids:
        for t in range(1, periods + 1):
            y = rng.normal() + q[i] * t + (t >= s[i] > 0) * q[i]
            rows.append({"id": i, "t": t, "y": y, "s": s[i], "q": q[i], "x": rng.normal()})
    return pd.DataFrame(rows)


DF = _panel()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"method": "dr_imp"}, r"`method` must be one of \['dr', 'ipw', 'reg'\]"),
        ({"control_group": "notyet"}, "`control_group` must be one of"),
        ({"base_period": "Varying"}, "did you mean 'varying'"),
        ({"level": 95}, "`level` must be a confidence level"),
        ({"bootstrap": 1}, "`bootstrap` must be an integer >= 2"),
        ({"partition": 3}, r"`partition` must be a column name \(str\)"),
        ({"weights": ["w"]}, r"`weights` must be a column name \(str\) or None"),
        ({"rng": -1}, "`rng` must be a non-negative int seed"),
        ({"partition": "missing_col"}, "missing_col"),
        ({"covariates": "x y"}, "x y"),
    ],
)
def test_bad_arguments(change: dict[str, Any], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        ie.did.ddd(DF, **{**KW, **change})


def test_partition_not_binary() -> None:
    df = DF.assign(q=DF["q"] * 2)
    with pytest.raises(DataValidationError, match="`partition`: column 'q' must be 0/1"):
        ie.did.ddd(df, **KW)


def test_partition_single_value() -> None:
    with pytest.raises(DataValidationError, match="both values present"):
        ie.did.ddd(DF.assign(q=1), **KW)


def test_partition_changes_within_unit() -> None:
    df = DF.copy()
    df.loc[(df["id"] == 3) & (df["t"] == 2), "q"] = 1 - df.loc[(df["id"] == 3), "q"].iloc[0]
    with pytest.raises(DataValidationError, match="partition"):
        ie.did.ddd(df, **KW)


def test_no_never_enabled_units() -> None:
    three = _panel(periods=3)
    three["s"] = np.where(three["s"] == 0, 3, three["s"])
    with pytest.raises(DataValidationError, match=r"no never-enabled units.*not_yet_treated"):
        ie.did.ddd(three, **KW)


def test_no_enabled_cohort() -> None:
    with pytest.raises(DataValidationError, match="no unit enabled within the data"):
        ie.did.ddd(DF.assign(s=0), **KW)


def test_empty_subgroup_names_it_and_the_cell() -> None:
    df = DF[~((DF["s"] == 2) & (DF["q"] == 0))]
    with pytest.raises(DataValidationError, match=r"cell \(group 2, time 2\).*enabled ineligible"):
        ie.did.ddd(df, **KW)


def test_duplicate_rows() -> None:
    with pytest.raises(DataValidationError, match="duplicate"):
        ie.did.ddd(pd.concat([DF, DF.iloc[:1]]), **KW)


def test_negative_weights() -> None:
    with pytest.raises(DataValidationError, match="`weights`"):
        ie.did.ddd(DF.assign(w=-1.0), **KW, weights="w")


def test_unbalanced_panel_drops_units_with_warning() -> None:
    df = DF.drop(index=DF.index[(DF["id"] == 5) & (DF["t"] == 2)])
    with pytest.warns(ImpactEvalWarning, match="dropped 1 units not observed in every period"):
        res = ie.did.ddd(df, **KW)
    assert res.details["n_units"] == DF["id"].nunique() - 1
    assert any("dropped 1 units" in m for m in res.warnings)


def test_cohort_after_last_period_counts_as_never_enabled() -> None:
    df = DF.assign(s=np.where(DF["s"] == 0, 9, DF["s"]))
    with pytest.warns(ImpactEvalWarning, match="enabled after the last period"):
        res = ie.did.ddd(df, **KW)
    ref = ie.did.ddd(DF, **KW)
    assert res.overall is not None and ref.overall is not None
    assert res.overall.estimate == pytest.approx(ref.overall.estimate)


def test_units_enabled_in_first_period_dropped() -> None:
    df = DF.assign(s=np.where(DF["id"] < 4, 1, DF["s"]))
    with pytest.warns(ImpactEvalWarning, match="dropped 4 units enabled in the first period"):
        ie.did.ddd(df, **KW)


def test_gmm_comparison_cohort_failure_names_it() -> None:
    mp = pd.read_csv(Path(__file__).resolve().parents[1] / "reference/data/moderndid_ddd_mp.csv")
    mp = mp[~((mp["group"] == 3) & (mp["partition"] == 0))]
    kw = {"outcome": "y", "unit": "id", "time": "time", "cohort": "group", "partition": "partition"}
    with pytest.raises(
        DataValidationError,
        match=r"cell \(group 2, time 2\): comparison cohort enabled in 3: no units in the "
        "ineligible comparison subgroup",
    ):
        ie.did.ddd(mp, **kw, control_group="not_yet_treated")
