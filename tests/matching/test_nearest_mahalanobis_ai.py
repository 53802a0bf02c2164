"""Mahalanobis matching with replacement and the Abadie-Imbens SE (once an AttributeError).

With ``distance="mahalanobis"`` there is no propensity score, so the Abadie-Imbens
variance and bias adjustment take the matching covariates as ``Z``, Match's default
(``Z = X``). The checks are internal: the unadjusted estimate is the weighted mean of the
matched-pair differences the result reports, the SE is finite and positive, and the bias
adjustment moves the estimate (it regresses on the covariates) without changing the pairs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import impacteval as ie

COVS = ["age", "educ", "re74", "re75"]


@pytest.mark.parametrize("bias_adjust", [False, True])
def test_mahalanobis_with_replacement_has_an_abadie_imbens_se(bias_adjust: bool) -> None:
    data = ie.datasets.load("nsw_dw")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ie.exceptions.ImpactEvalWarning)
        res = ie.matching.nearest_neighbor(
            data,
            outcome="re78",
            treatment="treat",
            covariates=COVS,
            distance="mahalanobis",
            replace=True,
            bias_adjust=bias_adjust,
        )
    pairs = res.details["pairs"]
    y = data["re78"]
    diff = y.loc[pairs["unit"]].to_numpy() - y.loc[pairs["match"]].to_numpy()
    unadjusted = np.average(diff, weights=pairs["weight"])
    expected = res.details["estimate_unadjusted"] if bias_adjust else res.estimate
    assert expected == pytest.approx(unadjusted, rel=1e-12)  # same arithmetic, rounding only
    assert np.isfinite(res.std_error) and res.std_error > 0
    if bias_adjust:
        assert abs(res.estimate - unadjusted) > 1.0  # the covariates enter the adjustment
