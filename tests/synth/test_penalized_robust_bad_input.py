"""Bad input for ``synthetic_control(method="penalized" | "robust")``: each error names the
parameter, what was expected and what was received; result methods that exist for the
standard estimator only refuse clearly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    f = rng.normal(size=14).cumsum()
    rows = []
    for u, b in zip("ABCDEF", [1.0, 2.0, 0.0, 1.5, 0.5, 1.2], strict=True):
        y = f * b + rng.normal(scale=0.1, size=14)
        rows += [(u, t, y[t], float(rng.normal())) for t in range(14)]
    df = pd.DataFrame(rows, columns=["unit", "t", "y", "x"])
    treated = 0.5 * df[df.unit == "A"].y.to_numpy() + 0.5 * df[df.unit == "B"].y.to_numpy()
    extra = pd.DataFrame({"unit": "T", "t": range(14), "y": treated, "x": 0.3})
    return pd.concat([df, extra], ignore_index=True)


def _fit(data: pd.DataFrame, **kw: Any) -> ie.synth.SyntheticControl:
    base = {
        "outcome": "y",
        "unit": "unit",
        "time": "t",
        "treated_unit": "T",
        "treatment_time": 10,
        "inference": "none",
    }
    return ie.synth.synthetic_control(data, **{**base, **kw})


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"method": "lasso"}, "method"),
        ({"method": "penalized", "penalty": -1.0}, "`penalty` must be a non-negative"),
        ({"method": "penalized", "penalty": "big"}, "received 'big'"),
        ({"method": "penalized", "penalty": float("inf")}, "`penalty`"),
        ({"method": "penalized", "penalty": True}, "`penalty`"),
        ({"penalty": 0.1}, "`penalty` is only used with method='penalized'"),
        ({"method": "robust", "penalty": 0.1}, "received method='robust'"),
        ({"method": "robust", "rank": 0}, "`rank` must be a positive integer"),
        ({"method": "robust", "rank": 1.5}, "received 1.5"),
        ({"rank": 2}, "`rank` is only used with method='robust'"),
        ({"method": "robust", "predictors": [("x", range(0, 10))]}, "predictors"),
        ({"method": "robust", "ridge_lambda": -0.5}, "`ridge_lambda` must be a non-negative"),
        ({"method": "penalized", "ridge_lambda": 0.5}, "`ridge_lambda`"),
        ({"method": "penalized", "augment": "ridge"}, "`augment` is only available"),
        ({"method": "robust", "augment": "ridge"}, "`augment` is only available"),
    ],
)
def test_bad_method_options(panel: pd.DataFrame, kw: dict[str, Any], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        _fit(panel, **kw)


def test_robust_refuses_v(panel: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="`v` cannot be used"):
        _fit(panel, method="robust", v=[1.0])


def test_holdout_needs_a_training_year(panel: pd.DataFrame) -> None:
    # predictors measured only in the validation half of the fit period (t = 5..9)
    with pytest.raises(DataValidationError, match="no predictor has a year there"):
        _fit(panel, method="penalized", predictors=[("x", range(7, 10))])


def test_standard_only_result_methods_refuse(panel: pd.DataFrame) -> None:
    rob = _fit(panel, method="robust", rank=2)
    with pytest.raises(DataValidationError, match=r"conformal\(\) is implemented for"):
        rob.conformal()
    pen = _fit(panel, method="penalized", penalty=0.1)
    with pytest.raises(DataValidationError, match=r"augment\(\) is implemented for"):
        pen.augment()
    for result in (rob, pen):
        with pytest.raises(DataValidationError, match=r"prediction_intervals\(\) is implemented"):
            result.prediction_intervals(n_sims=50)
    cv = _fit(panel, method="penalized", predictors=[("x", range(0, 10))])
    with pytest.raises(DataValidationError, match="kind='time'"):
        cv.placebo_test(kind="time")


def test_methods_recover_the_planted_weights(panel: pd.DataFrame) -> None:
    # the treated unit is 0.5 A + 0.5 B exactly: tiny penalties keep that, and the robust
    # regression reproduces the pre-period
    pen = _fit(panel, method="penalized", penalty=1e-8)
    assert pen.weights[["A", "B"]].to_numpy() == pytest.approx([0.5, 0.5], abs=1e-3)
    rob = _fit(panel, method="robust", rank=2)
    assert rob.pre_rmspe < 0.2
