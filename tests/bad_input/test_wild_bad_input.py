"""Bad input to the wild cluster bootstrap: clear errors that name the parameter."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from impacteval.exceptions import DataValidationError, MissingColumnError
from impacteval.inference import wild_bootstrap_regression, wild_cluster_bootstrap

RNG = np.random.default_rng(0)
CL = np.repeat(np.arange(12), 10)
X = np.column_stack([np.ones(120), RNG.normal(size=120)])
Y = RNG.normal(size=120)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"x": np.ones(120)}, "x"),
        ({"x": np.full((120, 2), np.nan)}, "x"),
        ({"x": np.column_stack([X, 2 * X[:, 1]])}, "x"),  # rank deficient
        ({"y": Y[:-1]}, "y"),
        ({"y": np.where(np.arange(120) == 3, np.nan, Y)}, "y"),
        ({"cluster": CL[:-1]}, "cluster"),
        ({"cluster": np.where(np.arange(120) == 3, None, CL.astype(object))}, "cluster"),
        ({"cluster": np.zeros(120)}, "cluster"),  # one cluster
        ({"coef": "slope"}, "coef"),
        ({"coef": 2}, "coef"),
        ({"coef": True}, "coef"),
        ({"null": float("nan")}, "null"),
        ({"null": "0"}, "null"),
        ({"impose_null": "yes"}, "impose_null"),
        ({"weights_type": "Webb"}, "weights_type"),
        ({"B": 10}, "B"),
        ({"B": 999.0}, "B"),
        ({"enumerate": "always"}, "enumerate"),
        ({"enumerate": True, "weights_type": "mammen"}, "enumerate"),
        ({"rng": -1}, "rng"),
        ({"level": 95}, "level"),
        ({"small_sample": "CR2"}, "small_sample"),
        ({"p_value_type": "two-tailed"}, "p_value_type"),
        ({"coef_names": ["a"]}, "coef_names"),
        ({"absorbed_df": -1}, "absorbed_df"),
        ({"absorbed_df": 118}, "x"),  # no residual degrees of freedom left
    ],
)
def test_array_entry_point_names_the_parameter(kwargs: dict[str, Any], param: str) -> None:
    args: dict[str, Any] = {"x": X, "y": Y, "cluster": CL, "coef": 1, "B": 199, "rng": 0}
    args.update(kwargs)
    x, y, cluster = args.pop("x"), args.pop("y"), args.pop("cluster")
    with pytest.raises(DataValidationError, match=f"`{param}`"):
        wild_cluster_bootstrap(x, y, cluster, **args)


def test_webb_enumeration_is_refused_with_the_reason() -> None:
    with pytest.raises(
        DataValidationError, match=r"`enumerate`: True needs weights_type='rademacher'"
    ):
        wild_cluster_bootstrap(X, Y, CL, coef=1, weights_type="webb", enumerate=True)


def test_enumeration_of_too_many_clusters_is_refused() -> None:
    cl = np.arange(120) % 21
    with pytest.raises(DataValidationError, match=r"2\^21"):
        wild_cluster_bootstrap(X, Y, cl, coef=1, enumerate=True)


def test_weights_typo_suggests_the_choice() -> None:
    with pytest.raises(DataValidationError, match="did you mean 'webb'"):
        wild_cluster_bootstrap(X, Y, CL, coef=1, weights_type="Webb")


FRAME = pd.DataFrame({"y": Y, "d": X[:, 1], "g": CL, "t": np.arange(120) % 10})


@pytest.mark.parametrize(
    ("kwargs", "param", "error"),
    [
        ({"outcome": "yy"}, "outcome", MissingColumnError),
        ({"treatment": "dd"}, "treatment", MissingColumnError),
        ({"treatment": ["d"]}, "treatment", DataValidationError),
        ({"covariates": ["zz"]}, "covariates", MissingColumnError),
        ({"cluster": "gg"}, "cluster", MissingColumnError),
        ({"fixed_effects": ["tt"]}, "fixed_effects", MissingColumnError),
        ({"intercept": "no"}, "intercept", DataValidationError),
        ({"weights_type": "gaussian"}, "weights_type", DataValidationError),
        ({"weights": "ww"}, "weights", MissingColumnError),
        ({"weights": "t"}, "weights", DataValidationError),  # a zero weight
    ],
)
def test_frame_entry_point_names_the_parameter(
    kwargs: dict[str, Any], param: str, error: type[Exception]
) -> None:
    args: dict[str, Any] = {"outcome": "y", "treatment": "d", "cluster": "g", "B": 199, "rng": 0}
    args.update(kwargs)
    with pytest.raises(error, match=f"`{param}`"):
        wild_bootstrap_regression(FRAME, **args)
