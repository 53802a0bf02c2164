"""Covariate balance (impacteval.diagnostics.balance).

Small-data values are computed by hand in the comments; the joint test is checked against
statsmodels' OLS F test, an independent implementation.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from matplotlib.axes import Axes

from impacteval.diagnostics.balance import BalanceTable, balance
from impacteval.exceptions import DataValidationError, ImpactEvalWarning, MissingColumnError
from impacteval.results import Summary

# hand-computed values are exact fractions: only floating-point rounding can differ
EXACT = 1e-12


@pytest.fixture
def small() -> pd.DataFrame:
    # treated x = 1, 2, 3, 4 ; control x = 2, 4, 6
    return pd.DataFrame(
        {"z": [1, 1, 1, 1, 0, 0, 0], "x": [1.0, 2, 3, 4, 2, 4, 6], "w": [1.0, 1, 1, 1, 1, 1, 2]}
    )


def test_unweighted_by_hand(small: pd.DataFrame) -> None:
    res = balance(small, treatment="z", covariates=["x"])
    row = res.table.loc["x"]
    # means 2.5 and 4; variances (n-1): 5/3 and 8/2 = 4
    assert row["mean_treated"] == pytest.approx(2.5, abs=EXACT)
    assert row["mean_control"] == pytest.approx(4.0, abs=EXACT)
    # smd = -1.5 / sqrt((5/3 + 4) / 2) = -1.5 / sqrt(17/6)
    assert row["smd"] == pytest.approx(-1.5 / np.sqrt(17 / 6), abs=EXACT)
    assert row["variance_ratio"] == pytest.approx((5 / 3) / 4, abs=EXACT)
    # ECDFs at pooled values 1, 2, 3, 4, 6: treated .25 .5 .75 1 1, control 0 1/3 1/3 2/3 1
    # |diff| = 1/4, 1/6, 5/12, 1/3, 0 -> max 5/12, mean (14/12)/5 = 7/30
    assert row["ks"] == pytest.approx(5 / 12, abs=EXACT)
    assert row["ecdf_mean"] == pytest.approx(7 / 30, abs=EXACT)
    assert "smd_adjusted" not in res.table.columns
    assert isinstance(res, BalanceTable)
    assert (res.n_treated, res.n_control) == (4, 3)


def test_weighted_by_hand(small: pd.DataFrame) -> None:
    res = balance(small, treatment="z", covariates=["x"], weights="w")
    row = res.table.loc["x"]
    # control weights 1, 1, 2: mean (2 + 4 + 12) / 4 = 4.5
    assert row["mean_control_adjusted"] == pytest.approx(4.5, abs=EXACT)
    # adjusted smd keeps the unweighted pooled SD: -2 / sqrt(17/6)
    assert row["smd_adjusted"] == pytest.approx(-2.0 / np.sqrt(17 / 6), abs=EXACT)
    # reliability-weight variance: sum w (x - 4.5)^2 = 6.25 + 0.25 + 4.5 = 11;
    # 11 * 4 / (16 - 6) = 4.4
    assert row["variance_ratio_adjusted"] == pytest.approx((5 / 3) / 4.4, abs=EXACT)
    # weighted control ECDF at 1, 2, 3, 4, 6: 0, .25, .25, .5, 1 -> |diff| .25 .25 .5 .5 0
    assert row["ks_adjusted"] == pytest.approx(0.5, abs=EXACT)
    assert row["ecdf_mean_adjusted"] == pytest.approx(0.3, abs=EXACT)
    # unadjusted columns are unchanged by the weights
    assert row["smd"] == pytest.approx(-1.5 / np.sqrt(17 / 6), abs=EXACT)


def test_unit_weights_equal_unweighted() -> None:
    rng = np.random.default_rng(4)
    data = pd.DataFrame(
        {
            "z": rng.integers(0, 2, 200),
            "a": rng.normal(size=200),
            "b": rng.poisson(3, 200).astype(float),
            "one": 1.0,
        }
    )
    res = balance(data, treatment="z", covariates=["a", "b"], weights="one")
    for stat in ("mean_treated", "mean_control", "smd", "variance_ratio", "ks", "ecdf_mean"):
        # same formulas with w = 1: rounding only
        np.testing.assert_allclose(
            res.table[f"{stat}_adjusted"], res.table[stat], rtol=1e-12, atol=1e-12
        )


def test_omnibus_matches_statsmodels() -> None:
    rng = np.random.default_rng(8)
    n = 150
    x = rng.normal(size=(n, 3))
    z = (x[:, 0] * 0.4 + rng.normal(size=n) > 0).astype(int)
    data = pd.DataFrame({"z": z, "a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})
    res = balance(data, treatment="z", covariates=["a", "b", "c"])
    ref = sm.OLS(z.astype(float), sm.add_constant(x)).fit()
    assert res.omnibus is not None
    # the same F statistic by two least-squares routes: rounding only
    assert res.omnibus.statistic == pytest.approx(ref.fvalue, rel=1e-10)
    assert res.omnibus.p_value == pytest.approx(ref.f_pvalue, rel=1e-8)
    assert (res.omnibus.df_num, res.omnibus.df_denom) == (int(ref.df_model), int(ref.df_resid))


def test_display_and_plot(small: pd.DataFrame) -> None:
    res = balance(small, treatment="z", covariates=["x"], weights="w")
    ax = res.plot()
    assert isinstance(ax, Axes)
    # love_plot draws one scatter per version (unadjusted, adjusted)
    assert len(ax.collections) == 2
    summary = res.summary()
    assert isinstance(summary, Summary)
    assert "Covariate balance" in summary.as_text()
    assert "<table>" in res._repr_html_()
    frame = res.to_frame()
    frame.loc["x", "smd"] = 99.0  # a copy: the result stays as it was
    assert res.table.loc["x", "smd"] != 99.0
    import matplotlib.pyplot as plt

    plt.close("all")


def test_constant_covariate_is_flagged_and_left_out_of_joint_test() -> None:
    rng = np.random.default_rng(2)
    data = pd.DataFrame(
        {"z": np.repeat([0, 1], 20), "a": rng.normal(size=40), "b": rng.normal(size=40), "k": 5.0}
    )
    with pytest.warns(ImpactEvalWarning, match="'k' is constant; it is left out of the joint"):
        res = balance(data, treatment="z", covariates=["a", "b", "k"])
    assert np.isnan(res.table.loc["k", "smd"])
    assert np.isnan(res.table.loc["k", "variance_ratio"])
    assert res.table.loc["k", "ks"] == 0.0
    assert res.omnibus is not None and res.omnibus.df_num == 2
    assert len(res.warnings) == 1
    # constant within each arm but different between them: SMD is infinite, still tested
    data["s"] = data["z"] * 2.0
    with pytest.warns(ImpactEvalWarning, match="'s' has zero variance within both arms"):
        sep = balance(data, treatment="z", covariates=["a", "s"])
    assert sep.table.loc["s", "smd"] == np.inf
    assert sep.omnibus is not None and sep.omnibus.p_value == 0.0  # s predicts z exactly


def test_missing_rows_are_counted(small: pd.DataFrame) -> None:
    data = small.copy()
    data.loc[0, "x"] = np.nan
    with pytest.warns(Warning, match="dropped"):
        res = balance(data, treatment="z", covariates=["x"])
    assert res.n_dropped == 1 and res.n_obs == 6


def test_bad_input(small: pd.DataFrame) -> None:
    with pytest.raises(MissingColumnError, match="did you mean 'x'"):
        balance(small, treatment="z", covariates=["xx"])
    with pytest.raises(DataValidationError, match="binary"):
        balance(small.assign(z=[0, 1, 2, 0, 1, 2, 0]), treatment="z", covariates=["x"])
    with pytest.raises(DataValidationError, match="no control"):
        balance(small.assign(z=1), treatment="z", covariates=["x"])
    with pytest.raises(DataValidationError, match="non-empty"):
        balance(small, treatment="z", covariates=[])
    with pytest.raises(DataValidationError, match="numeric"):
        balance(small.assign(s="a"), treatment="z", covariates=["s"])
    with pytest.raises(DataValidationError, match="non-negative"):
        balance(small.assign(w=-1.0), treatment="z", covariates=["x"], weights="w")
    with pytest.raises(DataValidationError, match="sum to zero"):
        balance(
            small.assign(w=[0.0, 0, 0, 0, 1, 1, 1]), treatment="z", covariates=["x"], weights="w"
        )
