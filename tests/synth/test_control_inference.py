"""Placebo tests, leave-one-out, conformal inference and the augmented estimator on
simulated panels (seeds fixed; tolerances explained where they are not exact)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from test_scm_panels import factor_panel

import impacteval as ie
from impacteval.synth._scm_numerics import simplex_lstsq

KW = {"outcome": "y", "unit": "unit", "time": "t", "treated_unit": "T", "treatment_time": 15}
PRED = [("x", 0), ("y", 3), ("y", 10), ("y", 14)]


@pytest.fixture(scope="module")
def fit() -> ie.synth.SyntheticControl:
    df = factor_panel(seed=3, noise=0.3, effect=3.0, n_donors=12)
    return ie.synth.synthetic_control(df, predictors=PRED, **KW)


def test_placebo_rank_rule(fit: ie.synth.SyntheticControl) -> None:
    test = fit.details["placebo"]
    assert fit.p_value == test.p_value and fit.ci_method == "placebo (in space)"
    r = test.ratio
    assert r.index[0] == "T" and test.n_placebos == 12
    # the rule by hand: the treated unit counts itself
    expected = (1 + int((r.iloc[1:] >= r.iloc[0]).sum())) / 13
    assert test.p_value == pytest.approx(expected)
    assert test.p_value == pytest.approx(1 / 13)  # an effect of 3 against noise 0.3
    # each placebo gap is that donor's fit from the other donors (treated unit left out)
    j = "D04"
    alone = ie.synth.synthetic_control(
        factor_panel(seed=3, noise=0.3, effect=3.0, n_donors=12).query("unit != 'T'"),
        predictors=PRED,
        inference="none",
        **{**KW, "treated_unit": j},
    )
    np.testing.assert_allclose(test.gaps[j].to_numpy(), alone.gaps.to_numpy(), atol=1e-9)


def test_placebo_threshold_and_parallel_agree(fit: ie.synth.SyntheticControl) -> None:
    serial = fit.details["placebo"]
    par = fit.placebo_test(n_jobs=2)
    pd.testing.assert_frame_equal(serial.gaps, par.gaps)
    k = 3.0
    cut = fit.placebo_test(mspe_threshold=k)
    again = serial.with_threshold(k)  # re-ranked without refitting
    assert again.excluded == cut.excluded and again.p_value == cut.p_value
    pre2 = serial.pre_rmspe**2
    dropped = set(pre2.index[pre2 > k * pre2.iloc[0]])
    assert set(cut.excluded) == dropped and cut.n_placebos == 12 - len(dropped)
    assert cut.p_value == pytest.approx(1 / (cut.n_placebos + 1))


def test_placebo_in_time_shows_no_effect(fit: ie.synth.SyntheticControl) -> None:
    with pytest.warns(ie.exceptions.ImpactEvalWarning, match=r"\['y \(14\)'\] have no year"):
        cut = fit.placebo_test(kind="time", placebo_time=12)
    assert list(cut.placebo_fit.v_weights.index) == ["x (0)", "y (3)", "y (10)"]
    df = factor_panel(seed=3, noise=0.3, effect=3.0, n_donors=12)
    early = [("x", 0), ("y", 3), ("y", range(6, 9))]
    fit = ie.synth.synthetic_control(df, predictors=early, inference="none", **KW)
    test = fit.placebo_test(kind="time", placebo_time=10)
    back = test.placebo_fit
    assert back.treatment_time == 10 and list(back.gaps.index) == list(range(15))
    # no treatment before 15: the backdated gap is noise (sd 0.3 per unit, so an average
    # over five periods of a difference of weighted averages stays well below 1)
    assert abs(back.estimate) < 1.0 and abs(back.estimate) < abs(fit.estimate) / 3
    # predictor years are cut at the placebo time
    assert list(back.v_weights.index) == ["x (0)", "y (3)", "y (6-8 mean)"]


def test_leave_one_out(fit: ie.synth.SyntheticControl) -> None:
    loo = fit.leave_one_out()
    used = fit.weights[fit.weights > 1e-3].index
    assert list(loo.estimates.index) == list(used)
    for d in used:
        w = loo.weights[d]
        assert w[d] == 0.0 and w.sum() == pytest.approx(1.0)
    # the effect of 3 survives dropping any single donor
    assert (loo.estimates > 2.0).all()


def test_conformal_matches_the_permutation_rule_by_hand() -> None:
    df = factor_panel(seed=11, noise=0.3, effect=1.5, n_periods=30, n_donors=8)
    res = ie.synth.synthetic_control(df, inference="none", **{**KW, "treatment_time": 24})
    table = res.conformal(level=0.9)
    y = df.pivot(index="t", columns="unit", values="y")
    y1, y0 = y["T"].to_numpy(), y.drop(columns="T").to_numpy()

    def p_by_hand(t: int, theta: float) -> float:
        rows = [*range(24), t]
        yy = y1[rows].copy()
        yy[-1] -= theta
        w = simplex_lstsq(y0[rows], yy)
        u = np.abs(yy - y0[rows] @ w)
        # cyclic shifts of the T0 + 1 residuals; statistic at the last position
        return float(np.mean([np.roll(u, s)[-1] >= u[-1] - 1e-12 for s in range(25)]))

    rows = table.to_frame().set_index("time")
    for t in (24, 27, 29):
        assert rows.loc[t, "p_value"] == pytest.approx(p_by_hand(t, 0.0))
        lo, hi = rows.loc[t, ["ci_lower", "ci_upper"]]
        assert lo < hi
        # the interval's ends are where the test switches from rejecting to not (at 0.1)
        assert p_by_hand(t, lo + 1e-6) > 0.1 and p_by_hand(t, lo - 1e-3) <= 0.1
        assert p_by_hand(t, hi - 1e-6) > 0.1 and p_by_hand(t, hi + 1e-3) <= 0.1
    assert table.details["min_p_value"] == pytest.approx(1 / 25)
    assert table.overall is not None and table.overall.ci_method == "conformal"


def test_conformal_interval_unbounded_when_too_few_pre_periods(
    fit: ie.synth.SyntheticControl,
) -> None:
    # 15 pre-periods: the smallest p-value is 1/16 > 0.05, nothing can be rejected
    table = fit.conformal(level=0.95)
    assert np.isinf(table.to_frame()[["ci_lower", "ci_upper"]].to_numpy()).all()


def _extrapolating_panel(seed: int) -> pd.DataFrame:
    df = factor_panel(seed=seed, noise=0.1, effect=0.0, n_donors=15, mix=(0.6, 0.4))
    d0 = df.loc[df.unit == "D00", "y"].to_numpy()
    d1 = df.loc[df.unit == "D01", "y"].to_numpy()
    # 1.5 x D00 - 0.5 x D01 is outside the donors' hull; true effect 2 from period 15
    df.loc[df.unit == "T", "y"] = 1.5 * d0 - 0.5 * d1 + 2.0 * (np.arange(20) >= 15)
    return df


def test_augmented_reduces_extrapolation_bias() -> None:
    err_sc, err_aug = [], []
    for seed in range(5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc = ie.synth.synthetic_control(_extrapolating_panel(seed), inference="none", **KW)
        aug = sc.augment()
        assert aug.pre_rmspe <= sc.pre_rmspe + 1e-12
        assert aug.details["estimate_unaugmented"] == sc.estimate
        w_aug = aug.details["augmented_weights"]
        assert w_aug.sum() == pytest.approx(1.0)
        y0 = _extrapolating_panel(seed).pivot(index="t", columns="unit", values="y")
        corr = y0[w_aug.index].to_numpy() @ (w_aug - sc.weights).to_numpy()
        np.testing.assert_allclose(aug.bias_correction.to_numpy(), corr, atol=1e-9)
        err_sc.append(abs(sc.estimate - 2.0))
        err_aug.append(abs(aug.estimate - 2.0))
    # seeds 0-4 fixed: the ridge correction shrinks the total error (0.75 -> 0.28)
    assert sum(err_aug) < 0.5 * sum(err_sc)


def test_augment_is_a_no_op_for_a_perfect_pre_fit() -> None:
    df = factor_panel(seed=2, noise=0.0, effect=2.0)
    sc = ie.synth.synthetic_control(df, inference="none", augment="ridge", **KW)
    assert np.abs(sc.bias_correction.to_numpy()).max() < 1e-8
    assert sc.estimate == pytest.approx(2.0, abs=1e-6)
    with pytest.raises(ValueError, match="`ridge_lambda` must be a positive"):
        ie.synth.synthetic_control(df, inference="none", augment="ridge", ridge_lambda=-1, **KW)


def test_plots_draw(fit: ie.synth.SyntheticControl) -> None:
    import matplotlib.pyplot as plt

    axes = fit.plot()
    assert len(axes) == 2 and len(axes[0].lines) >= 2
    ax = fit.details["placebo"].plot()
    assert len(ax.lines) >= 13
    fit.details["placebo"].plot(kind="ratios")
    fit.leave_one_out().plot()
    plt.close("all")


def test_progress_bar_and_joblib_workers(
    fit: ie.synth.SyntheticControl, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = fit.placebo_test()
    assert "placebos" not in capsys.readouterr().err
    loud = fit.placebo_test(progress=True, n_jobs=2)
    assert "placebos" in capsys.readouterr().err  # tqdm writes to stderr
    assert loud.p_value == quiet.p_value
