"""Bad input to ipw, aipw and entropy_balance: clear errors naming what is wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

import impacteval as ie
from impacteval.exceptions import ConvergenceError, DataValidationError, MissingColumnError
from impacteval.matching.weighting import aipw, entropy_balance, ipw

COVS = ["age", "educ", "black", "re74", "re75"]


@pytest.fixture(scope="module")
def nsw() -> pd.DataFrame:
    data: pd.DataFrame = ie.datasets.load("nsw_dw")
    return data


@pytest.fixture
def separated() -> pd.DataFrame:
    gen = np.random.default_rng(3)
    n = 200
    x = gen.normal(size=n)
    z = (x > 0).astype(float)  # x separates the arms perfectly
    return pd.DataFrame({"y": gen.normal(size=n), "z": z, "x": x, "w": gen.normal(size=n)})


def test_non_binary_treatment(nsw: pd.DataFrame) -> None:
    data = nsw.assign(treat=nsw["treat"] * 2)
    for fn in (ipw, aipw):
        with pytest.raises(DataValidationError, match="binary"):
            fn(data, outcome="re78", treatment="treat", covariates=COVS)
    with pytest.raises(DataValidationError, match="binary"):
        entropy_balance(data, treatment="treat", covariates=COVS)


def test_missing_columns(nsw: pd.DataFrame) -> None:
    with pytest.raises(MissingColumnError, match=r"'agee'.*did you mean 'age'"):
        ipw(nsw, outcome="re78", treatment="treat", covariates=["agee"])
    with pytest.raises(MissingColumnError, match="outcome"):
        aipw(nsw, outcome="re79", treatment="treat", covariates=COVS)
    with pytest.raises(MissingColumnError, match="treatment"):
        entropy_balance(nsw, treatment="treated", covariates=COVS)


def test_perfect_separation_names_the_covariate(separated: pd.DataFrame) -> None:
    for fn in (ipw, aipw):
        with pytest.raises(DataValidationError, match=r"exactly 0 or 1.*\['x'\]"):
            fn(separated, outcome="y", treatment="z", covariates=["w", "x"])


def test_scores_of_zero_or_one_from_a_custom_model(nsw: pd.DataFrame) -> None:
    tree = DecisionTreeClassifier(random_state=0)  # fully grown: fitted probabilities 0/1
    with pytest.raises(DataValidationError, match=r"`model`.*exactly 0 or 1"):
        ipw(nsw, outcome="re78", treatment="treat", covariates=COVS, model=tree)
    with pytest.raises(DataValidationError, match="exactly 0 or 1"):
        aipw(nsw, outcome="re78", treatment="treat", covariates=COVS, propensity_model=tree)


def test_collinear_and_constant_covariates(nsw: pd.DataFrame) -> None:
    data = nsw.assign(age2=2 * nsw["age"], one=1.0)
    with pytest.raises(DataValidationError, match=r"\['age2'\] are collinear"):
        ipw(data, outcome="re78", treatment="treat", covariates=["age", "age2"])
    with pytest.raises(DataValidationError, match=r"\['one'\] are constant"):
        aipw(data, outcome="re78", treatment="treat", covariates=["age", "one"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"estimand": "ate"}, "did you mean 'ATE'"),
        ({"estimand": "ATC"}, "estimand"),
        ({"trim": "crumpp"}, "trim"),
        ({"trim": 0.6}, "trim"),
        ({"normalize": "yes"}, "normalize"),
        ({"level": 95}, "level"),
        ({"model": object()}, "classifier"),
        ({"covariates": "age"}, None),  # a single name is accepted
    ],
)
def test_ipw_arguments(nsw: pd.DataFrame, kwargs: dict, match: str | None) -> None:  # type: ignore[type-arg]
    args = {"outcome": "re78", "treatment": "treat", "covariates": COVS, **kwargs}
    if match is None:
        assert np.isfinite(ipw(nsw, **args).estimate)
        return
    with pytest.raises(DataValidationError, match=match):
        ipw(nsw, **args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cross_fit": 1}, "cross_fit"),
        ({"cross_fit": -2}, "cross_fit"),
        ({"cross_fit": True}, "cross_fit"),
        ({"cross_fit": 500}, "units per arm"),
        ({"rng": "seed"}, "rng"),
        ({"outcome_model": object()}, "regressor"),
        ({"propensity_model": object()}, "classifier"),
    ],
)
def test_aipw_arguments(nsw: pd.DataFrame, kwargs: dict, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(DataValidationError, match=match):
        aipw(nsw, outcome="re78", treatment="treat", covariates=COVS, **kwargs)


@pytest.mark.parametrize("moments", [0, 3, True, 1.5, "1"])
def test_moments_outside_one_two(nsw: pd.DataFrame, moments: object) -> None:
    with pytest.raises(DataValidationError, match="moments"):
        entropy_balance(nsw, treatment="treat", covariates=COVS, moments=moments)  # type: ignore[arg-type]


def test_entropy_balance_arguments(nsw: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="estimand"):
        entropy_balance(nsw, treatment="treat", covariates=COVS, estimand="ATE")
    with pytest.raises(DataValidationError, match="max_iter"):
        entropy_balance(nsw, treatment="treat", covariates=COVS, max_iter=0)
    with pytest.raises(DataValidationError, match="tol"):
        entropy_balance(nsw, treatment="treat", covariates=COVS, tol=0)
    with pytest.raises(DataValidationError, match="at least one"):
        entropy_balance(nsw, treatment="treat", covariates=[])


def test_infeasible_outside_range_names_covariates(nsw: pd.DataFrame) -> None:
    # treated units all have 'bonus' above every control: its mean is out of reach
    data = nsw.assign(bonus=np.where(nsw["treat"] == 1, 10.0, 0.0) + nsw["educ"] / 100)
    with pytest.raises(ConvergenceError, match=r"infeasible.*\['bonus'\]"):
        entropy_balance(data, treatment="treat", covariates=["age", "bonus"])


def test_infeasible_jointly_names_covariates() -> None:
    # each treated mean lies inside the controls' range, but the pair lies outside their
    # convex hull (controls satisfy u + v <= 1; the treated mean has u + v = 1.6)
    gen = np.random.default_rng(5)
    n0 = 300
    u0 = gen.uniform(0, 1, n0)
    v0 = gen.uniform(0, 1, n0) * (1 - u0)
    ctrl = pd.DataFrame({"z": 0.0, "u": u0, "v": v0, "a": gen.normal(size=n0)})
    trt = pd.DataFrame(
        {"z": 1.0, "u": [0.7, 0.9, 0.8], "v": [0.9, 0.7, 0.8], "a": [0.1, -0.2, 0.3]}
    )
    data = pd.concat([ctrl, trt], ignore_index=True)
    with pytest.raises(ConvergenceError, match=r"offending covariates: \['u', 'v'\]"):
        entropy_balance(data, treatment="z", covariates=["a", "u", "v"])


def test_entropy_balance_collinear_features(nsw: pd.DataFrame) -> None:
    data = nsw.assign(age_copy=nsw["age"] * 3 + 1)
    with pytest.raises(DataValidationError, match="collinear"):
        entropy_balance(data, treatment="treat", covariates=["age", "age_copy"])
