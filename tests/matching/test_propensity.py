"""impacteval.matching.propensity.propensity_score."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression

import impacteval as ie
from impacteval.exceptions import DataValidationError, ImpactEvalWarning, MissingColumnError
from impacteval.matching.propensity import propensity_score

COVS = ["age", "educ", "black", "re74"]


@pytest.fixture(scope="module")
def psid() -> pd.DataFrame:
    return ie.datasets.load("lalonde_psid")


def test_logit_equals_statsmodels(psid: pd.DataFrame) -> None:
    ps = propensity_score(psid, treatment="treat", covariates=COVS)
    x = sm.add_constant(psid[COVS].to_numpy())
    ref = sm.Logit(psid["treat"].to_numpy(), x).fit(disp=0, tol=1e-12).predict(x)
    np.testing.assert_allclose(ps.to_numpy(), ref, atol=1e-8)
    assert ps.index.equals(psid.index)


def test_logit_link_and_sklearn_model(psid: pd.DataFrame) -> None:
    p = propensity_score(psid, treatment="treat", covariates=COVS)
    lg = propensity_score(psid, treatment="treat", covariates=COVS, link="logit")
    np.testing.assert_allclose(lg, np.log(p / (1 - p)), rtol=1e-10)
    model = LogisticRegression(C=1e6, max_iter=5000)
    sk = propensity_score(psid, treatment="treat", covariates=["age", "educ", "black"],
                          model=model)  # fmt: skip
    assert not hasattr(model, "coef_")  # the user's model is cloned, not fitted
    assert sk.between(0, 1).all()


def test_missing_rows_are_nan(psid: pd.DataFrame) -> None:
    d = psid.copy()
    d.loc[d.index[:3], "age"] = np.nan
    with pytest.warns(UserWarning):
        ps = propensity_score(d, treatment="treat", covariates=COVS)
    assert ps.isna().sum() == 3 and ps.attrs["n_dropped"] == 3


def test_bad_input(psid: pd.DataFrame) -> None:
    with pytest.raises(MissingColumnError):
        propensity_score(psid, treatment="treat", covariates=["nope"])
    with pytest.raises(DataValidationError, match="binary"):
        propensity_score(psid.assign(treat=2.0 * psid.treat + 1), treatment="treat",
                         covariates=COVS)  # fmt: skip
    with pytest.raises(DataValidationError, match="covariates"):
        propensity_score(psid, treatment="treat", covariates=[])
    with pytest.raises(DataValidationError, match="model"):
        propensity_score(psid, treatment="treat", covariates=COVS, model=object())


class _Extreme:
    """A classifier whose scores are exactly 0 (x <= 0) or 1 (x > 0)."""

    classes_ = np.array([0, 1])

    def fit(self, x: object, z: object) -> _Extreme:
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = (np.asarray(x)[:, 0] > 0).astype(float)
        return np.column_stack([1 - p, p])


def test_overlap_warning_is_issued_at_the_callers_line_and_recorded() -> None:
    """A score of exactly 0 or 1 warns, pointing at this file, and the message is kept in
    ``attrs["warnings"]``."""
    df = pd.DataFrame({"z": [0, 1, 0, 1, 0, 1, 1], "x": [-1.0, 1, -2, 2, 0.5, 3, -0.5]})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        ps = propensity_score(df, treatment="z", covariates=["x"], model=_Extreme())
    ours = [w for w in seen if issubclass(w.category, ImpactEvalWarning)]
    assert len(ours) == 1 and ours[0].filename == __file__
    assert ps.attrs["warnings"] == (str(ours[0].message),)
    assert "exactly 0 or 1" in ps.attrs["warnings"][0]
