"""Bad input to SyntheticControl.prediction_intervals: each error names the parameter,
what was expected and what was received."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError


def _panel() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    f = rng.normal(size=(20, 2)).cumsum(axis=0)
    lam = rng.uniform(0.5, 2.0, (10, 2))
    lam[0] = lam[1:4].mean(axis=0)
    y = 5 + f @ lam.T + rng.normal(0, 0.3, (20, 10))
    return pd.DataFrame(
        [(i, t, y[t, i]) for i in range(10) for t in range(20)], columns=["u", "t", "y"]
    )


@pytest.fixture(scope="module")
def fit() -> ie.synth.SyntheticControl:
    return ie.synth.synthetic_control(
        _panel(),
        outcome="y",
        unit="u",
        time="t",
        treated_unit=0,
        treatment_time=16,
        inference="none",
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"level": 1.5}, r"`level` must be a confidence level .* received 1\.5"),
        ({"level": "0.9"}, r"`level`.* received '0\.9'"),
        ({"out_of_sample": "normal"}, r"`out_of_sample` must be one of .*gaussian.* received"),
        ({"out_of_sample": "Gaussian"}, r"did you mean 'gaussian'"),
        ({"n_sims": 10}, r"`n_sims` must be an integer >= 50; received 10"),
        ({"n_sims": 100.0}, r"`n_sims` must be an integer"),
        ({"n_sims": True}, r"`n_sims` must be an integer"),
        ({"rho": 0}, r"`rho` must be a number in \(0, 1\] or None; received 0"),
        ({"rho": 2.0}, r"`rho` must be .* received 2\.0"),
        ({"rho_max": None}, r"`rho_max` must be a number in \(0, 1\]; received None"),
        ({"rng": -1}, r"`rng` must be a non-negative int seed"),
        ({"rng": "seed"}, r"`rng` must be"),
    ],
)
def test_bad_arguments(
    fit: ie.synth.SyntheticControl, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(DataValidationError, match=match):
        fit.prediction_intervals(**kwargs)  # type: ignore[arg-type]


def test_positional_arguments_refused(fit: ie.synth.SyntheticControl) -> None:
    with pytest.raises(TypeError):
        fit.prediction_intervals(0.9)  # type: ignore[misc]


def test_augmented_result_refused(fit: ie.synth.SyntheticControl) -> None:
    with pytest.raises(ValueError, match=r"before \.augment"):
        fit.augment(ridge_lambda=1.0).prediction_intervals()
