"""impacteval.matching.propensity.propensity_score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression

import impacteval as ie
from impacteval.exceptions import DataValidationError, MissingColumnError
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
