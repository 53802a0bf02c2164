"""Bad input to nearest-neighbour matching and the propensity score: clear errors (or
warnings) that name the parameter and say what is wrong.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from impacteval.exceptions import (
    ConvergenceError,
    DataValidationError,
    ImpactEvalWarning,
    MissingDataWarning,
)
from impacteval.matching import ipw, nearest_neighbor, propensity_score


def _frame(n1: int, n0: int, seed: int = 0, shift: float = 0.5) -> pd.DataFrame:
    gen = np.random.default_rng(seed)
    x = np.r_[gen.normal(shift, 1.0, n1), gen.normal(0.0, 1.0, n0)]
    z = np.r_[np.ones(n1), np.zeros(n0)]
    w = gen.normal(size=n1 + n0)
    return pd.DataFrame({"y": x + z + gen.normal(size=n1 + n0), "z": z, "x": x, "w": w})


def _messages(fn: Callable[[], Any]) -> str:
    """Text of the exception raised (if any) and of every warning issued by ``fn()``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn()
            raised = ""
        except Exception as exc:  # any error is fine here; its text is what is checked
            raised = f"{type(exc).__name__}: {exc}"
    return " | ".join([raised, *(str(w.message) for w in caught)])


# -- no overlap ----------------------------------------------------------------------------
@pytest.fixture
def no_overlap() -> pd.DataFrame:
    d = _frame(30, 60)
    gen = np.random.default_rng(1)
    # every treated score above the largest control score
    d["ps"] = np.r_[gen.uniform(0.90, 0.95, 30), gen.uniform(0.10, 0.50, 60)]
    return d


def test_no_overlap_with_caliper_is_refused(no_overlap: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match=r"no focal unit.*caliper.*widen `caliper`"):
        nearest_neighbor(no_overlap, outcome="y", treatment="z", propensity="ps", caliper=0.2)


@pytest.mark.parametrize("replace", [False, True])
def test_no_overlap_without_caliper_is_flagged(no_overlap: pd.DataFrame, replace: bool) -> None:
    with pytest.warns(ImpactEvalWarning, match=r"(?i)overlap|common support|outside"):
        nearest_neighbor(no_overlap, outcome="y", treatment="z", propensity="ps",
                         replace=replace)  # fmt: skip


# -- more matches than controls ------------------------------------------------------------
def test_more_matches_than_controls_names_ratio() -> None:
    d = _frame(10, 5)
    text = _messages(lambda: nearest_neighbor(d, outcome="y", treatment="z", covariates=["x"],
                                              ratio=3))  # fmt: skip
    assert "`ratio`" in text and "5 control" in text, text


def test_partial_k_to_1_matching_is_reported() -> None:
    d = _frame(10, 25)
    res = nearest_neighbor(d, outcome="y", treatment="z", covariates=["x"], ratio=3)
    assert res.match_matrix.notna().sum().sum() == 25  # the pool is exhausted
    text = _messages(lambda: nearest_neighbor(d, outcome="y", treatment="z", covariates=["x"],
                                              ratio=3))  # fmt: skip
    assert "`ratio`" in text, text


def test_ratio_out_of_range_is_refused() -> None:
    d = _frame(10, 50)
    with pytest.raises(DataValidationError, match=r"`ratio` must be an integer from 1 to 10"):
        nearest_neighbor(d, outcome="y", treatment="z", covariates=["x"], ratio=11)


# -- caliper -------------------------------------------------------------------------------
def test_caliper_that_drops_every_unit() -> None:
    d = _frame(30, 60)
    with pytest.raises(DataValidationError, match=r"no focal unit.*widen `caliper`"):
        nearest_neighbor(d, outcome="y", treatment="z", covariates=["x"], caliper=1e-12)


@pytest.mark.parametrize("caliper", [0.0, -0.1, float("nan"), True])
def test_caliper_must_be_positive(caliper: float) -> None:
    d = _frame(30, 60)
    with pytest.raises(DataValidationError, match="`caliper` must be a positive number"):
        nearest_neighbor(d, outcome="y", treatment="z", covariates=["x"], caliper=caliper)


# -- perfect separation --------------------------------------------------------------------
@pytest.fixture
def separated() -> pd.DataFrame:
    d = _frame(30, 60, shift=0.0)
    d.loc[d["z"] == 1, "x"] += 10.0  # x > every control's x for every treated unit
    return d


def test_separation_refused_by_ipw(separated: pd.DataFrame) -> None:
    # the weighting estimators already detect it and name the covariate
    with pytest.raises(DataValidationError, match=r"perfect separation.*\['x'\]"):
        ipw(separated, outcome="y", treatment="z", covariates=["x", "w"])


@pytest.mark.filterwarnings("ignore::impacteval.exceptions.ImpactEvalWarning")
def test_separation_raises_in_propensity_score(separated: pd.DataFrame) -> None:
    with pytest.raises((ConvergenceError, DataValidationError), match=r"separat.*'x'"):
        propensity_score(separated, treatment="z", covariates=["x", "w"])


def test_separation_refused_by_nearest_neighbor(separated: pd.DataFrame) -> None:
    with pytest.raises((ConvergenceError, DataValidationError), match=r"separat.*'x'"):
        nearest_neighbor(separated, outcome="y", treatment="z", covariates=["x", "w"])


# -- constant covariates -------------------------------------------------------------------
def test_constant_covariate_is_dropped_from_the_logit_like_glm() -> None:
    # R's glm gives the aliased column an NA coefficient and carries on; so does
    # impacteval's logit, and the matching is the same as without the column. (ipw, aipw and
    # entropy_balance refuse instead, naming the column -- an inconsistency worth knowing.)
    d = _frame(30, 60).assign(c=1.0)
    with_c = nearest_neighbor(d, outcome="y", treatment="z", covariates=["x", "c"])
    without = nearest_neighbor(d, outcome="y", treatment="z", covariates=["x"])
    assert with_c.estimate == pytest.approx(without.estimate, rel=1e-10)
    assert with_c.balance is not None
    assert np.isnan(with_c.balance.table.loc["c", "smd"])
    with pytest.raises(DataValidationError, match=r"`covariates`: \['c'\] are constant"):
        ipw(d, outcome="y", treatment="z", covariates=["x", "c"])


def test_only_constant_covariates_are_refused() -> None:
    d = _frame(30, 60).assign(c=1.0)
    with pytest.raises(DataValidationError, match=r"`covariates`.*constant"):
        nearest_neighbor(d, outcome="y", treatment="z", covariates=["c"])


# -- missing covariates --------------------------------------------------------------------
def test_missing_covariates_are_dropped_and_counted() -> None:
    d = _frame(30, 60)
    d.loc[[0, 5, 40], "x"] = np.nan
    with pytest.warns(MissingDataWarning, match=r"3 of 90 rows dropped .*\['x'\]"):
        res = nearest_neighbor(d, outcome="y", treatment="z", covariates=["x"])
    assert res.n_dropped == 3
    assert res.n_matched == 28  # rows 0 and 5 were treated
    assert not res.matched.index.isin([0, 5, 40]).any()
    with pytest.warns(MissingDataWarning):
        ps = propensity_score(d, treatment="z", covariates=["x"])
    assert ps.attrs["n_dropped"] == 3 and ps.isna().sum() == 3


def test_missing_propensity_column_values_are_dropped_and_counted() -> None:
    d = _frame(30, 60)
    d["ps"] = 1.0 / (1.0 + np.exp(-d["x"]))
    d.loc[[1, 50], "ps"] = np.nan
    with pytest.warns(MissingDataWarning, match="2 of 90 rows dropped"):
        res = nearest_neighbor(d, outcome="y", treatment="z", propensity="ps")
    assert res.n_dropped == 2


# -- tiny scores without separation (NSW + CPS-1, Dehejia-Wahba logit) ---------------------
@pytest.fixture(scope="module")
def nsw_cps1() -> pd.DataFrame:
    import impacteval as ie

    nsw, cps = ie.datasets.load("nsw_dw"), ie.datasets.load("cps1_controls")
    d = pd.concat([nsw[nsw.treat == 1], cps], ignore_index=True)
    d["age2"], d["educ2"] = d.age**2, d.educ**2
    d["re742"], d["re752"] = d.re74**2, d.re75**2
    d["u74"], d["u75"] = (d.re74 == 0).astype(float), (d.re75 == 0).astype(float)
    d["educ_re74"] = d.educ * d.re74
    return d


DW_COVS = ["age", "age2", "educ", "educ2", "married", "nodegree", "black", "hisp", "re74",
           "re75", "re742", "re752", "u74", "u75", "educ_re74"]  # fmt: skip


def test_tiny_control_scores_are_not_separation(nsw_cps1: pd.DataFrame) -> None:
    # two controls have e ~ 4e-11 although the logit converges without separation: harmless
    # for the ATT (weight e / (1 - e) ~ 0) and for the ATE (weight 1 / (1 - e) ~ 1)
    from impacteval.matching._weights_logit import check_scores

    z = nsw_cps1["treat"].to_numpy()
    x = nsw_cps1[DW_COVS].to_numpy(dtype=float)
    ps = propensity_score(nsw_cps1, treatment="treat", covariates=DW_COVS).to_numpy()
    assert (ps[z == 0] < 1e-10).sum() >= 1
    for estimand in ("ATT", "ATE"):
        check_scores(ps, x=x, z=z, names=DW_COVS, estimand=estimand)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)
        for estimand in ("ATT", "ATE"):
            for trim in (None, "crump"):
                res = ipw(nsw_cps1, outcome="re78", treatment="treat", covariates=DW_COVS,
                          estimand=estimand, trim=trim)  # fmt: skip
                assert np.isfinite(res.estimate) and res.std_error > 0


def test_unbounded_weights_without_separation_are_not_called_separation() -> None:
    from impacteval.matching._weights_logit import check_scores

    gen = np.random.default_rng(5)
    x = gen.normal(size=(200, 1))
    z = (np.arange(200) % 2).astype(float)
    e = np.full(200, 0.5)
    e[0] = 1.0 - 1e-12  # a control at e ~ 1: its ATT weight e / (1 - e) is unbounded
    with pytest.raises(DataValidationError, match=r"1 control units.*1 - 1e-12|overlap") as err:
        check_scores(e, x=x, z=z, names=["x"], estimand="ATT")
    assert "separation" not in str(err.value).replace("without separation", "")
    assert "0.5" in str(err.value)  # the actual range of the scores is reported
    check_scores(np.where(np.arange(200) == 0, 1e-12, 0.5), x=x, z=z, names=["x"],
                 estimand="ATT")  # fmt: skip


def test_duplicate_index_labels_are_refused_by_name() -> None:
    """The matched sample, match matrix and pairs name rows by label (and MatchIt's tie rule
    orders by row name), so repeated labels would make them ambiguous: refused, with the fix."""
    df = _frame(30, 60)
    df.index = np.r_[np.arange(89), [0]]
    with pytest.raises(
        DataValidationError, match=r"unique index.*1 label\(s\) repeat.*reset_index"
    ):
        nearest_neighbor(df, outcome="y", treatment="z", covariates=["x"])
    fine = nearest_neighbor(df.reset_index(drop=True), outcome="y", treatment="z", covariates=["x"])
    assert np.isfinite(fine.estimate)
