"""Bad input to the randomised-trial estimators: clear errors that name the parameter."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import (
    DataValidationError,
    ImpactEvalWarning,
    MissingColumnError,
    MissingDataWarning,
)

DIM = ie.rct.difference_in_means
REG = ie.rct.regression
RI = ie.rct.randomization_inference
ESTIMATORS: list[Callable[..., Any]] = [DIM, REG, RI]


def _trial(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "z": np.tile([0.0, 1.0], n // 2),
            "x": rng.normal(size=n),
            "block": np.repeat(np.arange(4), n // 4),
            "cl": np.repeat(np.arange(n // 2), 2) % 10,
        }
    )


@pytest.mark.parametrize("fn", ESTIMATORS)
def test_missing_column_names_parameter_and_suggests(fn: Callable[..., Any]) -> None:
    with pytest.raises(MissingColumnError, match=r"`outcome`.*'yy'.*did you mean 'y'"):
        fn(_trial(), outcome="yy", treatment="z")
    with pytest.raises(KeyError):  # also a KeyError for users who catch that
        fn(_trial(), outcome="y", treatment="treat")


@pytest.mark.parametrize("fn", ESTIMATORS)
def test_outcome_not_numeric(fn: Callable[..., Any]) -> None:
    data = _trial().assign(y=lambda d: d["y"].round(1).astype(str))
    with pytest.raises(DataValidationError, match=r"`outcome`.*must be numeric.*received"):
        fn(data, outcome="y", treatment="z")


@pytest.mark.parametrize("fn", ESTIMATORS)
def test_treatment_not_binary(fn: Callable[..., Any]) -> None:
    data = _trial().assign(z=np.arange(40) % 3)
    with pytest.raises(DataValidationError, match=r"`treatment`.*binary.*received"):
        fn(data, outcome="y", treatment="z")


@pytest.mark.parametrize("fn", ESTIMATORS)
def test_one_arm_empty(fn: Callable[..., Any]) -> None:
    with pytest.raises(DataValidationError, match=r"`treatment`.*no treated \(1\) units"):
        fn(_trial().assign(z=0.0), outcome="y", treatment="z")


@pytest.mark.parametrize("fn", ESTIMATORS)
def test_all_outcomes_missing(fn: Callable[..., Any]) -> None:
    with pytest.raises(DataValidationError, match=r"`outcome`.*no non-missing values"):
        fn(_trial().assign(y=np.nan), outcome="y", treatment="z")


@pytest.mark.parametrize("fn", [DIM, REG])
def test_constant_outcome_gives_zero_with_warning(fn: Callable[..., Any]) -> None:
    with pytest.warns(ImpactEvalWarning, match="constant"):
        res = fn(_trial().assign(y=3.0), outcome="y", treatment="z")
    assert res.estimate == 0.0 and res.std_error == 0.0
    assert any("constant" in w for w in res.warnings)


@pytest.mark.parametrize("fn", [DIM, RI])
def test_treatment_varying_within_cluster(fn: Callable[..., Any]) -> None:
    with pytest.raises(DataValidationError, match=r"`cluster`: treatment varies within"):
        fn(_trial(), outcome="y", treatment="z", cluster="cl")


@pytest.mark.parametrize("fn", [DIM, RI])
def test_block_with_single_arm(fn: Callable[..., Any]) -> None:
    data = _trial()
    data.loc[data["block"] == 2, "z"] = 1.0
    with pytest.raises(DataValidationError, match=r"`blocks`: block .* has only treated"):
        fn(data, outcome="y", treatment="z", blocks="block")


@pytest.mark.parametrize("fn", [DIM, REG, RI])
@pytest.mark.parametrize("level", [0.0, 1.0, 95, -0.5, "0.95", True])
def test_level_outside_unit_interval(fn: Callable[..., Any], level: object) -> None:
    with pytest.raises(DataValidationError, match=r"`level`.*between 0 and 1.*received"):
        fn(_trial(), outcome="y", treatment="z", level=level)


@pytest.mark.parametrize("fn", [DIM, REG])
def test_fewer_than_two_clusters_per_arm(fn: Callable[..., Any]) -> None:
    data = _trial().assign(cl=lambda d: np.where(d["z"] == 1, 0, d.index % 5 + 1))
    with pytest.raises(DataValidationError, match=r"`cluster`.*at least 2 clusters per arm"):
        fn(data, outcome="y", treatment="z", cluster="cl")


@pytest.mark.parametrize("fn", [DIM, REG])
def test_missing_outcomes_dropped_with_count(fn: Callable[..., Any]) -> None:
    data = _trial()
    data.loc[[0, 5, 11], "y"] = np.nan
    with pytest.warns(MissingDataWarning, match="3 of 40 rows dropped"):
        res = fn(data, outcome="y", treatment="z")
    assert res.n_dropped == 3 and res.n_obs == 37
    assert res.to_frame()["n_dropped"].iloc[0] == 3


def test_regression_argument_errors() -> None:
    data = _trial()
    with pytest.raises(DataValidationError, match=r"`se_type`.*did you mean 'HC2'"):
        REG(data, outcome="y", treatment="z", se_type="hc2")
    with pytest.raises(DataValidationError, match=r"`se_type`.*needs `cluster`"):
        REG(data, outcome="y", treatment="z", se_type="CR2")
    with pytest.raises(DataValidationError, match=r"`se_type`: with `cluster`"):
        REG(data, outcome="y", treatment="z", cluster="cl", se_type="HC1")
    with pytest.raises(DataValidationError, match=r"`adjustment` must be one of"):
        REG(data, outcome="y", treatment="z", adjustment="linear")
    with pytest.raises(DataValidationError, match=r"`weights`.*strictly positive"):
        REG(data.assign(w=-1.0), outcome="y", treatment="z", weights="w")
    with pytest.raises(DataValidationError, match=r"`covariates` must contain column names"):
        REG(data, outcome="y", treatment="z", covariates=[1])  # type: ignore[list-item]
    with pytest.raises(DataValidationError, match=r"`treatment`.*collinear"):
        REG(
            data.assign(z2=data["z"]),
            outcome="y",
            treatment="z",
            covariates=["z2"],
            adjustment="additive",
        )
    block_level = data.assign(z=(data["block"] >= 2).astype(float))  # z spanned by blocks
    with pytest.raises(DataValidationError, match=r"`treatment`.*collinear"):
        REG(block_level, outcome="y", treatment="z", fixed_effects="block")
    with pytest.raises(DataValidationError, match="must be a pandas DataFrame"):
        REG(data.to_dict(), outcome="y", treatment="z")  # type: ignore[arg-type]


def test_dim_design_errors() -> None:
    data = _trial()
    # one block with a single treated unit next to larger blocks: no design-based variance
    data.loc[data["block"] == 0, "z"] = [1.0] + [0.0] * 9
    with pytest.raises(DataValidationError, match=r"at least 2 of each per block"):
        DIM(data, outcome="y", treatment="z", blocks="block")
    pairs = pd.DataFrame(
        {"y": [1.0, 2.0, 3.0, 5.0], "z": [1, 0, 1, 0], "p": [1, 1, 2, 2], "w": 1.0}
    )
    with pytest.raises(DataValidationError, match=r"`weights`.*matched-pair"):
        DIM(pairs, outcome="y", treatment="z", blocks="p", weights="w")


def test_randomization_arguments() -> None:
    data = _trial()
    with pytest.raises(DataValidationError, match=r"`n_permutations`.*>= 100"):
        RI(data, outcome="y", treatment="z", n_permutations=10)
    with pytest.raises(DataValidationError, match=r"`rng`.*seed"):
        RI(data, outcome="y", treatment="z", rng="abc")  # type: ignore[arg-type]


def test_input_data_never_modified() -> None:
    data = _trial()
    data.loc[3, "y"] = np.nan
    before = data.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingDataWarning)
        DIM(data, outcome="y", treatment="z", blocks="block")
        REG(data, outcome="y", treatment="z", covariates=["x"], fixed_effects="block")
        RI(data, outcome="y", treatment="z", blocks="block", n_permutations=200, rng=1)
    pd.testing.assert_frame_equal(data, before)
