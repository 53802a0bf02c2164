"""Post/pre RMSPE ratios when a pre-period fit is exact.

The simulated treated unit of ``factor_panel`` is an exact convex combination of donors
(weights 0.5 / 0.3 / 0.2) before treatment, so its pre-period RMSPE is 0 up to rounding:
1e-16 on one BLAS kernel, exactly 0.0 on another (where ``post / pre`` used to raise
ZeroDivisionError). The documented rule (``_scm_inference.rmspe_ratio``): an RMSPE within
1e-10 of the largest absolute outcome counts as 0; then the ratio is inf when a post gap
opens, NaN when there is none, with a warning either way.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_scm_panels import factor_panel

import impacteval as ie
from impacteval.synth._scm_inference import EXACT_FIT_RTOL, rmspe_ratio

KW = {"outcome": "y", "unit": "unit", "time": "t", "treated_unit": "T", "treatment_time": 15}


def test_rmspe_ratio_rule() -> None:
    scale = 50.0
    tiny = 0.1 * EXACT_FIT_RTOL * scale  # rounding-sized RMSPE
    post = np.array([2.0, tiny, 2.0, 0.0, 3.0])
    pre = np.array([0.0, 0.0, tiny, tiny, 1.5])
    ratio, exact = rmspe_ratio(post, pre, scale)
    assert exact.tolist() == [True, True, True, True, False]
    assert ratio[0] == math.inf and ratio[2] == math.inf  # 0.0 and 1e-10-sized alike
    assert math.isnan(ratio[1]) and math.isnan(ratio[3])
    assert ratio[4] == 2.0
    # a pre RMSPE above the tolerance is a real misfit: an ordinary ratio
    big = 10 * EXACT_FIT_RTOL * scale
    r2, e2 = rmspe_ratio(np.array([1.0]), np.array([big]), scale)
    assert not e2[0] and r2[0] == pytest.approx(1.0 / big)


def test_backdated_exact_fit_gives_nan_ratio_with_a_warning() -> None:
    df = factor_panel(seed=3, noise=0.3, effect=3.0, n_donors=12)
    early = [("x", 0), ("y", 3), ("y", range(6, 9))]
    fit = ie.synth.synthetic_control(df, predictors=early, inference="none", **KW)
    with pytest.warns(ie.exceptions.ImpactEvalWarning, match="placebo in time.*exact"):
        test = fit.placebo_test(kind="time", placebo_time=10)
    # exact before and after the placebo time (no treatment before 15): no gap at all
    assert test.pre_rmspe.iloc[0] <= EXACT_FIT_RTOL * np.abs(df["y"]).max()
    assert math.isnan(test.ratio.iloc[0])
    assert test.details["exact_pre_fit"] == ("T",)


def test_exact_treated_fit_ranks_as_most_extreme() -> None:
    df = factor_panel(seed=3, noise=0.3, effect=3.0, n_donors=12)
    pred = [("x", 0), ("y", 3), ("y", 10), ("y", 14)]
    with pytest.warns(ie.exceptions.ImpactEvalWarning, match="placebo in space.*exact"):
        fit = ie.synth.synthetic_control(df, predictors=pred, **KW)
    test = fit.details["placebo"]
    assert test.ratio["T"] == math.inf
    assert np.isfinite(test.ratio.drop("T")).all()  # the donors' fits are not exact
    assert test.p_value == pytest.approx(1 / 13) and test.rank == 1
    # re-ranking without refitting keeps the rule
    with pytest.warns(ie.exceptions.ImpactEvalWarning, match="exact"):
        again = test.with_threshold(5.0)
    assert again.ratio["T"] == math.inf
    # k times an exact (zero) treated MSPE keeps only exact placebos: none here
    assert again.n_placebos == 0 and again.p_value == 1.0
