"""Lee (2009) trimming bounds (impacteval.rct.lee).

No published reference number is used: Lee's Job Corps data are not available here. The
checks are an exact hand computation on small data (trimmed means formed by sorting in the
test), the no-differential-attrition identity, and a seeded Monte Carlo against bounds
known in closed form.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from impacteval.exceptions import DataValidationError, MissingColumnError, MissingDataWarning
from impacteval.rct.lee import LeeBounds, imbens_manski_critical_value, lee_bounds

# exact arithmetic on a handful of numbers: only floating-point rounding can differ
EXACT = 1e-12


def _frame(y_t: list[float], y_c: list[float]) -> pd.DataFrame:
    y = np.array(y_t + y_c, dtype=float)
    z = np.array([1] * len(y_t) + [0] * len(y_c))
    return pd.DataFrame({"y": y, "z": z})


def test_no_differential_attrition_gives_difference_in_means() -> None:
    # 8 of 10 observed in both arms: p = 0, both bounds are the observed difference in means
    y_t = [3.0, 1.0, 4.0, np.nan, 5.0, 9.0, 2.0, 6.0, np.nan, 5.0]
    y_c = [2.0, np.nan, 7.0, 1.0, 8.0, 2.0, np.nan, 8.0, 1.0, 8.0]
    res = lee_bounds(_frame(y_t, y_c), outcome="y", treatment="z")
    expected = np.nanmean(y_t) - np.nanmean(y_c)
    assert isinstance(res, LeeBounds)
    assert res.trimming_proportion == 0.0
    assert res.lower.estimate == pytest.approx(expected, abs=EXACT)
    assert res.upper.estimate == pytest.approx(expected, abs=EXACT)
    assert res.observation_rate_treated == res.observation_rate_control == 0.8


def test_hand_computed_treated_arm_trimmed() -> None:
    # treated: all 10 observed (q1 = 1); control: 8 of 10 (q0 = 0.8) -> p = 0.2, keep 8
    y_t = [7.0, 2.0, 9.0, 4.0, 1.0, 10.0, 3.0, 6.0, 8.0, 5.0]
    y_c = [2.0, 4.0, np.nan, 3.0, 5.0, 1.0, np.nan, 2.0, 6.0, 3.0]
    res = lee_bounds(_frame(y_t, y_c), outcome="y", treatment="z")
    srt = sorted(y_t)
    mean_c = np.nanmean(y_c)  # 26 / 8 = 3.25
    assert res.trimming_proportion == pytest.approx(0.2, abs=EXACT)
    assert res.trimmed_arm == "treated"
    assert res.lower.estimate == pytest.approx(np.mean(srt[:8]) - mean_c, abs=EXACT)  # 4.5-3.25
    assert res.upper.estimate == pytest.approx(np.mean(srt[2:]) - mean_c, abs=EXACT)  # 6.5-3.25
    assert res.lower.estimate == pytest.approx(1.25, abs=EXACT)
    assert res.upper.estimate == pytest.approx(3.25, abs=EXACT)


def test_hand_computed_fractional_trimming_and_control_arm() -> None:
    # treated: 7 of 10 observed (q1 = 0.7); control: all 8 observed (q0 = 1) -> the control
    # arm is trimmed, p = 0.3, keep 0.7 * 8 = 5.6 units: the sixth gets weight 0.6
    y_t = [4.0, np.nan, 6.0, 5.0, np.nan, 8.0, 2.0, np.nan, 7.0, 3.0]
    y_c = [3.0, 8.0, 1.0, 6.0, 2.0, 7.0, 4.0, 5.0]
    res = lee_bounds(_frame(y_t, y_c), outcome="y", treatment="z")
    srt = sorted(y_c)  # 1..8
    low_part = (sum(srt[:5]) + 0.6 * srt[5]) / 5.6  # bottom 5.6 units: (15 + 3.6) / 5.6
    top_part = (sum(srt[-5:]) + 0.6 * srt[-6]) / 5.6  # top 5.6 units: (30 + 1.8) / 5.6
    mean_t = np.nanmean(y_t)  # 35 / 7 = 5
    assert res.trimmed_arm == "control"
    assert res.trimming_proportion == pytest.approx(0.3, abs=EXACT)
    # a high control mean gives the lower bound of the effect, a low one the upper bound
    assert res.lower.estimate == pytest.approx(mean_t - top_part, abs=EXACT)
    assert res.upper.estimate == pytest.approx(mean_t - low_part, abs=EXACT)
    assert res.lower.estimate <= res.upper.estimate


def test_observed_column_overrides_missingness() -> None:
    # the flag says which outcomes count; values of unflagged units are ignored
    y_t = [7.0, 2.0, 9.0, 4.0, 1.0, 10.0, 3.0, 6.0, 8.0, 5.0]
    y_c = [2.0, 4.0, 99.0, 3.0, 5.0, 1.0, -99.0, 2.0, 6.0, 3.0]
    data = _frame(y_t, y_c)
    data["seen"] = 1
    data.loc[[12, 16], "seen"] = 0  # the two placeholder values in the control arm
    res = lee_bounds(data, outcome="y", treatment="z", observed="seen")
    assert res.lower.estimate == pytest.approx(1.25, abs=EXACT)  # as the hand example above
    assert res.upper.estimate == pytest.approx(3.25, abs=EXACT)


def test_imbens_manski_critical_value_limits() -> None:
    # point identification: the two-sided normal quantile; a very wide set: one-sided
    assert imbens_manski_critical_value(0.0, 1.0, 1.0, 0.95) == pytest.approx(
        stats.norm.isf(0.025), abs=EXACT
    )
    assert imbens_manski_critical_value(100.0, 1.0, 1.0, 0.95) == pytest.approx(
        stats.norm.isf(0.05), abs=1e-9
    )
    # in between it solves Phi(C + width/sigma) - Phi(-C) = level (brentq, xtol 1e-12)
    c = imbens_manski_critical_value(0.5, 0.4, 0.3, 0.9)
    assert stats.norm.cdf(c + 0.5 / 0.4) - stats.norm.cdf(-c) == pytest.approx(0.9, abs=1e-9)


def test_monte_carlo_bounds_and_standard_errors() -> None:
    """Seeded Monte Carlo with bounds known in closed form.

    Design: U ~ U(0, 1), observed if U < 0.8 under treatment and U < 0.6 under control
    (monotone); Y0 ~ N(0, 1) independent of U, Y1 = Y0 + 0.5. So q1 = 0.8, q0 = 0.6,
    p = 0.25, the always-observed effect is 0.5, and the population bounds are
    0.5 -/+ phi(z_0.75) / 0.75 (means of a normal truncated at its 75% quantile).
    R = 400 replications of n = 2000 (seed 20240607).
    """
    rng = np.random.default_rng(20240607)
    n, reps, truth = 2000, 400, 0.5
    half_width = stats.norm.pdf(stats.norm.ppf(0.75)) / 0.75
    lb_pop, ub_pop = truth - half_width, truth + half_width
    lows, ses, cover_lb, cover_ub, cover_im, contains = [], [], 0, 0, 0, 0
    for _ in range(reps):
        z = rng.integers(0, 2, n)
        u = rng.uniform(size=n)
        y0 = rng.normal(size=n)
        y = y0 + truth * z
        seen = u < np.where(z == 1, 0.8, 0.6)
        res = lee_bounds(
            pd.DataFrame({"y": np.where(seen, y, np.nan), "z": z}), outcome="y", treatment="z"
        )
        lows.append(res.lower.estimate)
        ses.append(res.lower.std_error)
        cover_lb += res.lower.ci_lower <= lb_pop <= res.lower.ci_upper
        cover_ub += res.upper.ci_lower <= ub_pop <= res.upper.ci_upper
        cover_im += res.ci_lower <= truth <= res.ci_upper
        contains += res.lower.estimate <= truth <= res.upper.estimate
    # the estimated set (width ~0.85, SE ~0.05) contains the truth in every replication
    assert contains == reps
    # per-bound 95% intervals cover the population bound: binomial SD with R = 400 is
    # 0.011, so +-0.035 is over 3 SDs
    assert abs(cover_lb / reps - 0.95) < 0.035
    assert abs(cover_ub / reps - 0.95) < 0.035
    # Imbens-Manski covers the interior truth at least at the nominal level (3 SDs)
    assert cover_im / reps >= 0.95 - 0.035
    # Proposition 3 SE vs the Monte Carlo SD: the SD estimate has relative error
    # ~1/sqrt(2R) = 3.5%, so a 12% band is ~3.4 of those
    ratio = np.std(lows, ddof=1) / np.mean(ses)
    assert 0.88 < ratio < 1.12
    # bias of the lower bound is O(1/n): within 4 Monte Carlo SEs of the mean
    assert abs(np.mean(lows) - lb_pop) < 4 * np.std(lows, ddof=1) / np.sqrt(reps)


def test_result_display_and_frame() -> None:
    res = lee_bounds(
        _frame(
            [7.0, 2.0, 9.0, 4.0, 1.0, 10.0, 3.0, 6.0, 8.0, 5.0],
            [2.0, 4.0, np.nan, 3.0, 5.0, 1.0, np.nan, 2.0, 6.0, 3.0],
        ),
        outcome="y",
        treatment="z",
    )
    frame = res.to_frame()
    assert list(frame.index) == ["lower", "upper"]
    assert frame.loc["lower", "estimate"] == res.lower.estimate
    assert "Imbens-Manski" in str(res)
    # the IM interval lies within the naive union of the per-bound intervals
    assert res.ci_lower_naive <= res.ci_lower <= res.lower.estimate
    assert res.upper.estimate <= res.ci_upper <= res.ci_upper_naive
    assert "<table>" in res._repr_html_()


def test_missing_treatment_rows_are_counted() -> None:
    data = _frame(
        [7.0, 2.0, 9.0, 4.0, 1.0, 10.0, 3.0, 6.0, 8.0, 5.0],
        [2.0, 4.0, np.nan, 3.0, 5.0, 1.0, np.nan, 2.0, 6.0, 3.0],
    )
    data["z"] = data["z"].astype(float)
    data.loc[0, "z"] = np.nan
    with pytest.warns(MissingDataWarning):
        res = lee_bounds(data, outcome="y", treatment="z")
    assert res.n_dropped == 1
    assert res.n_obs == 19


@pytest.fixture
def small() -> pd.DataFrame:
    return _frame(
        [7.0, 2.0, 9.0, 4.0, 1.0, 10.0, 3.0, 6.0, 8.0, 5.0],
        [2.0, 4.0, np.nan, 3.0, 5.0, 1.0, np.nan, 2.0, 6.0, 3.0],
    )


def test_bad_input(small: pd.DataFrame) -> None:
    with pytest.raises(MissingColumnError, match="did you mean 'y'"):
        lee_bounds(small, outcome="yy", treatment="z")
    with pytest.raises(DataValidationError, match="level"):
        lee_bounds(small, outcome="y", treatment="z", level=95)
    bad = small.assign(z=small["z"] * 2)
    with pytest.raises(DataValidationError, match="binary"):
        lee_bounds(bad, outcome="y", treatment="z")
    with pytest.raises(DataValidationError, match=r"`observed`.*binary"):
        lee_bounds(small.assign(seen=3), outcome="y", treatment="z", observed="seen")
    with pytest.raises(DataValidationError, match="missing"):
        lee_bounds(small.assign(seen=1), outcome="y", treatment="z", observed="seen")
    with pytest.raises(DataValidationError, match="numeric"):
        lee_bounds(small.assign(y="a"), outcome="y", treatment="z")
    none_seen = small.copy()
    none_seen.loc[none_seen["z"] == 0, "y"] = np.nan
    with pytest.raises(DataValidationError, match="too few observed"):
        lee_bounds(none_seen, outcome="y", treatment="z")
    with pytest.raises(DataValidationError, match="DataFrame"):
        lee_bounds(small.to_numpy(), outcome="y", treatment="z")  # type: ignore[arg-type]
