"""Bad ``inference`` / ``wild_bootstrap`` / ``rng`` input to rct.regression and did.twfe."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError

RNG = np.random.default_rng(0)
CL = np.repeat(np.arange(12), 10)
DATA = pd.DataFrame(
    {"cl": CL, "z": (CL % 2).astype(float), "x": RNG.normal(size=120), "y": RNG.normal(size=120)}
)
PANEL = pd.DataFrame(
    {
        "unit": np.repeat(np.arange(12), 4),
        "time": np.tile(np.arange(4), 12),
        "y": RNG.normal(size=48),
    }
)
PANEL["d"] = ((PANEL["unit"] < 6) & (PANEL["time"] >= 2)).astype(float)

CASES: list[tuple[dict[str, Any], str]] = [
    ({"inference": "bootstrap"}, "`inference` must be one of ['analytic', 'wild']"),
    ({"inference": "Wild"}, "did you mean 'wild'"),
    ({"wild_bootstrap": {"B": 99}}, "`wild_bootstrap` is used only with inference='wild'"),
    ({"rng": 1}, "`rng` is used only with inference='wild'"),
    ({"inference": "wild", "wild_bootstrap": 999}, "`wild_bootstrap` must be a mapping"),
    (
        {"inference": "wild", "wild_bootstrap": {"n_boot": 999}},
        "`wild_bootstrap`: unknown option 'n_boot'",
    ),
    (
        {"inference": "wild", "wild_bootstrap": {"weigths_type": "webb"}},
        "did you mean 'weights_type'",
    ),
    (
        {"inference": "wild", "wild_bootstrap": {"weights_type": "gauss"}},
        "`wild_bootstrap['weights_type']` must be one of",
    ),
    (
        {"inference": "wild", "wild_bootstrap": {"B": 5}},
        "`wild_bootstrap['B']` must be an integer >= 19",
    ),
    (
        {"inference": "wild", "wild_bootstrap": {"impose_null": "yes"}},
        "`wild_bootstrap['impose_null']` must be True (WCR) or False (WCU)",
    ),
    (
        {"inference": "wild", "wild_bootstrap": {"p_value_type": "two-tailed"}},
        "`wild_bootstrap['p_value_type']` must be one of",
    ),
    ({"inference": "wild", "rng": -3}, "`rng` must be a non-negative int seed"),
    (
        {"inference": "wild", "wild_bootstrap": {"enumerate": True, "weights_type": "webb"}},
        "`enumerate`: True needs weights_type='rademacher'",
    ),
]


@pytest.mark.parametrize(("kwargs", "message"), CASES)
def test_regression_names_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DataValidationError, match=re.escape(message)):
        ie.rct.regression(DATA, outcome="y", treatment="z", cluster="cl", **kwargs)


@pytest.mark.parametrize(("kwargs", "message"), CASES)
def test_twfe_names_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DataValidationError, match=re.escape(message)):
        ie.did.twfe(PANEL, outcome="y", treatment="d", unit="unit", time="time", **kwargs)


def test_regression_wild_needs_clusters() -> None:
    with pytest.raises(DataValidationError, match=r"`inference`: 'wild' .* needs `cluster`"):
        ie.rct.regression(DATA, outcome="y", treatment="z", inference="wild")
