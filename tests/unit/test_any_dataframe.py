"""Any dataframe in: polars and pyarrow tables give the numbers pandas gives.

Every estimator checks ``data`` through ``impacteval._validation`` (``check_dataframe`` /
``prepare``), which converts a polars or pyarrow table to the pandas frame the same data
would be in pandas (``as_pandas``). One estimator per design is run on the pandas frame and
on its polars and pyarrow copies; estimates, standard errors, p-values and the provenance's
data fingerprint must be *identical* (the same arrays reach the same numerics).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval._validation import as_pandas
from impacteval.exceptions import DataValidationError

pl = pytest.importorskip("polars")  # the [test] extra installs polars and pyarrow
pa = pytest.importorskip("pyarrow")

CONVERT: dict[str, Callable[[pd.DataFrame], Any]] = {
    "polars": pl.from_pandas,
    "polars_lazy": lambda df: pl.from_pandas(df).lazy(),
    "pyarrow": lambda df: pa.Table.from_pandas(df, preserve_index=False),
}


def _smoking_sdid() -> pd.DataFrame:
    df = ie.datasets.load("smoking")
    df["d"] = ((df["state"] == "California") & (df["year"] >= 1989)).astype(int)
    return df


CASES: dict[str, tuple[Callable[..., Any], Callable[[], pd.DataFrame], dict[str, Any]]] = {
    "rct.regression": (
        ie.rct.regression,
        lambda: ie.datasets.load("nsw_dw"),
        {"outcome": "re78", "treatment": "treat", "covariates": ["age", "educ"]},
    ),
    "rct.randomization_inference": (
        ie.rct.randomization_inference,
        lambda: ie.datasets.load("nsw_dw"),
        {"outcome": "re78", "treatment": "treat", "n_permutations": 500, "rng": 3},
    ),
    "did.att_gt": (
        ie.did.att_gt,
        lambda: ie.datasets.load("mpdta"),
        {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first_treat"},
    ),
    "matching.nearest_neighbor": (
        ie.matching.nearest_neighbor,
        lambda: ie.datasets.load("nsw_dw"),
        {"outcome": "re78", "treatment": "treat", "covariates": ["age", "educ", "re75"]},
    ),
    "matching.ipw": (
        ie.matching.ipw,
        lambda: ie.datasets.load("nsw_dw"),
        {"outcome": "re78", "treatment": "treat", "covariates": ["age", "educ", "re75"]},
    ),
    "synth.synthetic_did": (
        ie.synth.synthetic_did,
        _smoking_sdid,
        {"outcome": "cigsale", "unit": "state", "time": "year", "treatment": "d", "se": None},
    ),
}


def numbers(result: Any) -> tuple[Any, ...]:
    """What must not change with the input's library: the effect table and the fingerprint."""
    frame = result.to_frame()
    fp = result.provenance.data_fingerprint if hasattr(result, "provenance") else None
    return frame.select_dtypes("number").to_numpy(dtype=float), fp


@pytest.mark.filterwarnings("ignore:common support:UserWarning")
@pytest.mark.parametrize("kind", sorted(CONVERT))
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_numbers_as_pandas(case: str, kind: str) -> None:
    func, load, kw = CASES[case]
    data = load()
    expected = numbers(func(data, **kw))
    got = numbers(func(CONVERT[kind](data), **kw))
    np.testing.assert_array_equal(got[0], expected[0])  # exact (NaN where NaN)
    assert got[1] == expected[1]


def test_synthetic_control_from_polars() -> None:
    data = ie.datasets.load("basque")
    kw: dict[str, Any] = {
        "outcome": "gdpcap",
        "unit": "regionname",
        "time": "year",
        "treated_unit": "Basque Country (Pais Vasco)",
        "treatment_time": 1970,
        "n_starts": 2,
        "inference": "none",
    }
    base = ie.synth.synthetic_control(data, **kw)
    other = ie.synth.synthetic_control(pl.from_pandas(data), **kw)
    pd.testing.assert_series_equal(other.weights, base.weights, check_exact=True)
    pd.testing.assert_series_equal(other.gaps, base.gaps, check_exact=True)


def test_propensity_score_series_is_indexed_by_row_number() -> None:
    data = ie.datasets.load("nsw_dw")
    kw = {"treatment": "treat", "covariates": ["age", "educ"]}
    base = ie.matching.propensity_score(data, **kw)
    other = ie.matching.propensity_score(pl.from_pandas(data), **kw)
    np.testing.assert_array_equal(other.to_numpy(), base.to_numpy())
    assert other.index.equals(pd.RangeIndex(len(data)))


def test_nulls_are_dropped_and_counted_as_for_pandas() -> None:
    data = ie.datasets.load("nsw_dw").astype({"age": float})
    data.loc[[0, 5, 9], "age"] = np.nan
    kw = {"outcome": "re78", "treatment": "treat", "covariates": ["age"]}
    with pytest.warns(ie.exceptions.MissingDataWarning):
        base = ie.rct.regression(data, **kw)
    with pytest.warns(ie.exceptions.MissingDataWarning):
        other = ie.rct.regression(pl.from_pandas(data, nan_to_null=True), **kw)
    assert other.n_dropped == base.n_dropped == 3
    assert (other.estimate, other.std_error) == (base.estimate, base.std_error)


def test_pandas_passes_through_without_a_copy() -> None:
    data = ie.datasets.load("nsw_dw")
    assert as_pandas(data) is data


def test_dask_dataframe_is_refused_with_advice() -> None:
    dd = pytest.importorskip("dask.dataframe")
    data = dd.from_pandas(ie.datasets.load("nsw_dw"), npartitions=2)
    with pytest.raises(DataValidationError, match=r"`data`: a Dask DataFrame.*compute\(\)"):
        ie.rct.difference_in_means(data, outcome="re78", treatment="treat")


def test_other_objects_still_get_the_clear_error() -> None:
    with pytest.raises(DataValidationError, match=r"must be a pandas DataFrame .*received dict"):
        ie.rct.difference_in_means({"y": [1.0]}, outcome="y", treatment="z")  # type: ignore[arg-type]


def test_the_check_does_not_import_polars() -> None:
    script = (
        "import sys, json, pandas as pd\n"
        "from impacteval._validation import check_dataframe\n"
        "check_dataframe(pd.DataFrame({'a': [1]}))\n"
        "print(json.dumps('polars' in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) is False
