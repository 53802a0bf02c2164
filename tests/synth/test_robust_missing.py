"""Robust synthetic control with missing outcomes (Amjad, Shah & Shen 2018, matrix
estimation with missing entries): a known low-rank panel with entries removed."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError, ImpactEvalWarning
from impacteval.synth._scm_robust import rescaled_svd, truncated_svd

N_DONORS, N_PERIODS, T0, EFFECT = 200, 40, 30, 3.0


def low_rank(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free rank-2 donors (T, J) and a treated unit in their span (with no effect)."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(N_PERIODS, 2)).cumsum(axis=0) + np.array([10.0, 5.0])
    lam = rng.uniform(0.2, 1.5, size=(N_DONORS, 2))
    y0 = f @ lam.T
    y1 = y0 @ rng.dirichlet(np.ones(N_DONORS))
    return y1, y0


def remove(y0: np.ndarray, share: float, seed: int) -> np.ndarray:
    out = y0.copy()
    out[np.random.default_rng(seed + 1000).random(y0.shape) < share] = np.nan
    return out


def long_frame(y1: np.ndarray, y0: np.ndarray) -> pd.DataFrame:
    y = np.column_stack([y1, y0])
    units = ["T", *[f"d{j:03d}" for j in range(y0.shape[1])]]
    return pd.DataFrame(
        [(units[i], t, y[t, i]) for i in range(y.shape[1]) for t in range(y.shape[0])],
        columns=["unit", "t", "y"],
    )


def fit(df: pd.DataFrame, **kw: object) -> ie.synth.SyntheticControl:
    args: dict[str, object] = {"method": "robust", "rank": 2, "inference": "none", **kw}
    return ie.synth.synthetic_control(
        df, outcome="y", unit="unit", time="t", treated_unit="T", treatment_time=T0, **args
    )


def test_missing_counted_and_warned() -> None:
    y1, y0 = low_rank(0)
    y1 = y1 + np.where(np.arange(N_PERIODS) >= T0, EFFECT, 0.0)
    y0m = remove(y0, 0.1, 0)
    y1m = y1.copy()
    y1m[[3, 11]] = np.nan  # two pre-treatment periods of the treated unit
    n_donor = int(np.isnan(y0m).sum())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit(long_frame(y1m, y0m))
    msgs = [str(w.message) for w in caught if issubclass(w.category, ImpactEvalWarning)]
    assert any(f"{n_donor + 2} outcome values are missing" in m for m in msgs)
    assert any("outcome values are missing" in m for m in res.warnings)
    assert res.details["n_missing_donors"] == n_donor
    assert res.details["n_missing_treated_fit"] == 2
    assert res.details["observed_share"] == pytest.approx(1 - n_donor / y0.size, abs=1e-15)
    # the treated unit's missing periods have no gap; the others do
    assert np.isnan(res.gaps.iloc[[3, 11]]).all()
    assert np.isfinite(res.gaps.drop(index=[3, 11])).all()
    assert np.isfinite(res.pre_rmspe) and np.isfinite(res.estimate)


def test_rescaled_estimate_of_the_complete_matrix() -> None:
    """The rank-2 estimate from 10% missing entries, rescaled by the observed share, is
    closer to the complete matrix than the same truncation of the zero-filled matrix
    without the rescaling, in every one of 10 seeds. (Zero-filling shrinks every entry by
    p on average; the rescaling undoes that. Observed relative errors 0.08-0.19 rescaled
    against 0.12-0.20 without; the bound 0.25 leaves room for other BLAS roundings.)"""
    for seed in range(10):
        _, y0 = low_rank(seed)
        y0m = remove(y0, 0.1, seed)
        u, s, vt, p_hat = rescaled_svd(y0m)
        assert p_hat == pytest.approx(np.isfinite(y0m).mean(), abs=1e-15)
        m_hat = (u[:, :2] * s[:2]) @ vt[:2]
        u0, s0, vt0 = truncated_svd(np.nan_to_num(y0m))
        m_zero = (u0[:, :2] * s0[:2]) @ vt0[:2]
        err = np.linalg.norm(m_hat - y0) / np.linalg.norm(y0)
        err_zero = np.linalg.norm(m_zero - y0) / np.linalg.norm(y0)
        assert err < err_zero
        assert err < 0.25


def test_effect_recovered_with_missing_donor_outcomes() -> None:
    """10 seeds, 10% of the donor outcomes removed, a constant effect of 3 after T0. The
    errors of the estimate have mean about 0.03 and SD about 0.2 in these seeds (the
    treated unit lies in the donors' span, so all error comes from the missing entries);
    the average over seeds is within 0.2 of the truth (three SDs of that average), every
    single estimate within 0.75, and the complete panel gives 3 to rounding."""
    estimates = []
    for seed in range(10):
        y1, y0 = low_rank(seed)
        y1 = y1 + np.where(np.arange(N_PERIODS) >= T0, EFFECT, 0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImpactEvalWarning)
            estimates.append(fit(long_frame(y1, remove(y0, 0.1, seed))).estimate)
        if seed == 0:
            complete = fit(long_frame(y1, y0))
            assert complete.estimate == pytest.approx(EFFECT, abs=1e-8)
            assert complete.details["n_missing_donors"] == 0
            assert complete.details["observed_share"] == 1.0
    err = np.asarray(estimates) - EFFECT
    assert abs(err.mean()) < 0.2
    assert np.abs(err).max() < 0.75


def test_placebo_test_with_missing_outcomes() -> None:
    y1, y0 = low_rank(1)
    y1 = y1 + np.where(np.arange(N_PERIODS) >= T0, EFFECT, 0.0)
    df = long_frame(y1, remove(y0[:, :30], 0.05, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)
        res = fit(df, inference="placebo")
    test = res.details["placebo"]
    assert np.isfinite(test.pre_rmspe).all() and np.isfinite(test.post_rmspe).all()
    assert 0.0 < res.p_value <= 1.0


def test_missing_refused_where_not_estimable() -> None:
    y1, y0 = low_rank(2)
    y0m = remove(y0[:, :20], 0.1, 2)
    with pytest.raises(DataValidationError, match="`outcome`: column 'y' has"):
        ie.synth.synthetic_control(
            long_frame(y1, y0m),
            outcome="y",
            unit="unit",
            time="t",
            treated_unit="T",
            treatment_time=T0,
            inference="none",
        )
    y1m = y1.copy()
    y1m[T0 + 2] = np.nan
    with pytest.raises(DataValidationError, match="missing outcomes after treatment"):
        fit(long_frame(y1m, y0[:, :20]))
    y1m = y1.copy()
    y1m[:T0] = np.nan
    y1m[0] = 1.0
    with pytest.raises(DataValidationError, match="at least two fit periods"):
        fit(long_frame(y1m, y0[:, :20]))


def test_placebo_leaves_out_donors_that_cannot_be_placebo_units() -> None:
    """A donor observed in one fit period (no fit) or in no post period (no ratio) is left
    out of the placebo test, named in the warning and in details; the rest are ranked."""
    y1, y0 = low_rank(3)
    y1 = y1 + np.where(np.arange(N_PERIODS) >= T0, EFFECT, 0.0)
    y0 = y0[:, :12].copy()
    y0[1:T0, 4] = np.nan  # d004: observed in one fit period only
    y0[T0:, 7] = np.nan  # d007: never observed after treatment
    df = long_frame(y1, y0)
    with pytest.warns(ImpactEvalWarning, match=r"2 donor\(s\) \['d004', 'd007'\] left out"):
        res = fit(df, inference="placebo")
    test = res.details["placebo"]
    assert test.details["unfit_placebos"] == ("d004", "d007")
    assert test.n_placebos == 10
    assert "d004" not in test.gaps.columns and "d007" not in test.gaps.columns
    assert any("left out of the placebo test" in w for w in res.warnings)
    # as donors of the treated unit and of the other placebos they still count
    assert "d004" in res.weights.index
    # the same data with those two donors complete: every donor is a placebo
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)  # exact pre-period fits
        complete = fit(long_frame(y1, low_rank(3)[1][:, :12]), inference="placebo")
    assert complete.details["placebo"].details["unfit_placebos"] == ()
    assert complete.details["placebo"].n_placebos == 12
