"""Multiple-testing adjustments (impacteval.inference.multiplicity) and Romano-Wolf p-values
for a trial's outcomes (impacteval.rct.romano_wolf).

Holm / Bonferroni / BH values are computed by hand in the comments from the textbook
formulas; Romano-Wolf is checked by a hand-worked step-down on a 4-draw example, by its
defining properties, and by seeded simulations of the family-wise error rate.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from impacteval.exceptions import DataValidationError
from impacteval.inference.multiplicity import adjust_p_values, step_down
from impacteval.rct.regression import regression
from impacteval.rct.romano_wolf import _design, _fit_all, romano_wolf

# hand-computed values below are exact decimals: only floating-point rounding can differ
EXACT = 1e-12
P = [0.01, 0.04, 0.03, 0.005]


def test_holm_by_hand() -> None:
    # sorted: 0.005, 0.01, 0.03, 0.04 -> 4*0.005=0.02, 3*0.01=0.03, 2*0.03=0.06, 1*0.04=0.04
    # running max: 0.02, 0.03, 0.06, 0.06 -> input order [0.03, 0.06, 0.06, 0.02]
    got = adjust_p_values(P, method="holm")
    np.testing.assert_allclose(got, [0.03, 0.06, 0.06, 0.02], atol=EXACT)


def test_bonferroni_by_hand() -> None:
    got = adjust_p_values([*P, 0.5], method="bonferroni")  # m = 5, capped at 1
    np.testing.assert_allclose(got, [0.05, 0.2, 0.15, 0.025, 1.0], atol=EXACT)


def test_bh_by_hand() -> None:
    # m p_(k) / k for sorted p = 0.01, 0.02, 0.025, 0.2: 0.04, 0.04, 0.0333.., 0.2;
    # running min from the top: 0.0333.., 0.0333.., 0.0333.., 0.2
    got = adjust_p_values([0.02, 0.2, 0.01, 0.025], method="bh")
    np.testing.assert_allclose(got, [0.1 / 3, 0.2, 0.1 / 3, 0.1 / 3], atol=EXACT)
    # and the example above: 0.02, 0.02, 0.04, 0.04 -> [0.02, 0.04, 0.04, 0.02]
    np.testing.assert_allclose(
        adjust_p_values(P, method="bh"), [0.02, 0.04, 0.04, 0.02], atol=EXACT
    )


def test_return_types_follow_input() -> None:
    series = pd.Series(P, index=["a", "b", "c", "d"], name="p")
    out = adjust_p_values(series, method="holm")
    assert isinstance(out, pd.Series)
    assert list(out.index) == ["a", "b", "c", "d"] and out.name == "p"
    np.testing.assert_allclose(out.to_numpy(), [0.03, 0.06, 0.06, 0.02], atol=EXACT)
    grid = adjust_p_values(np.array(P).reshape(2, 2), method="bonferroni")
    assert isinstance(grid, np.ndarray) and grid.shape == (2, 2)
    np.testing.assert_allclose(grid.ravel(), [0.04, 0.16, 0.12, 0.02], atol=EXACT)
    assert isinstance(adjust_p_values(tuple(P)), np.ndarray)


def test_romano_wolf_step_down_by_hand() -> None:
    stat = np.array([3.0, 1.0, 2.0])
    null = np.array([[0.5, 2.5, 1.0], [3.5, 0.2, 0.1], [1.0, 1.5, 2.5], [0.1, 0.3, 0.2]])
    # order by |t|: h0 (3.0), h2 (2.0), h1 (1.0); B = 4, p = (count + 1) / 5
    # step 1, max over all: 2.5, 3.5, 2.5, 0.3 -> 1 draw >= 3.0 -> 2/5
    # step 2, max over {h2, h1}: 2.5, 0.2, 2.5, 0.3 -> 2 draws >= 2.0 -> 3/5
    # step 3, h1 alone: 2.5, 0.2, 1.5, 0.3 -> 2 draws >= 1.0 -> 3/5 (monotone: max(3/5, 3/5))
    got = adjust_p_values(
        [0.1, 0.2, 0.3], method="romano_wolf", statistics=stat, null_statistics=null
    )
    np.testing.assert_allclose(got, [0.4, 0.6, 0.6], atol=EXACT)
    # monotonicity is enforced: lowering h1 in draw 3 (1.5 -> 0.5) leaves steps 1-2 as
    # they were (draw 3's step-2 max is h2's 2.5) but makes h1's raw step-3 p 2/5 < 3/5
    low = null.copy()
    low[2, 1] = 0.5
    np.testing.assert_allclose(step_down(stat, low), [0.4, 0.6, 0.6], atol=EXACT)


def test_romano_wolf_properties_random() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        m, b = rng.integers(2, 8), 99
        stat = np.abs(rng.normal(size=m) * 2)
        null = np.abs(rng.standard_normal((b, m)) @ rng.normal(size=(m, m)))
        adj = step_down(stat, null)
        unadj = (np.sum(null >= stat, axis=0) + 1) / (b + 1)
        assert np.all(adj >= unadj - EXACT)  # a max over a superset
        order = np.argsort(-stat)
        assert np.all(np.diff(adj[order]) >= 0)  # monotone in the ordering of |t|
        assert np.all((adj > 0) & (adj <= 1))
    # one hypothesis: Romano-Wolf is the bootstrap p-value
    stat1, null1 = np.array([1.7]), np.abs(rng.normal(size=(199, 1)))
    assert step_down(stat1, null1)[0] == (np.sum(null1 >= 1.7) + 1) / 200


def test_romano_wolf_fwer_with_known_null_distribution() -> None:
    """Family-wise error rate of the step-down algorithm under the complete null.

    R = 2000 families of m = 5 equicorrelated (rho = 0.5) normal |t|, each with B = 199
    null draws from the same law (seed 11). Observed and null statistics are exchangeable,
    so P(min adjusted p <= 0.05) = floor(0.05 * 200) / 200 = 0.05 exactly; the binomial SD
    is 0.0049 and +-0.015 is three SDs. Holm ignores the correlation and must be more
    conservative here (its rate, about 0.04, sits below Romano-Wolf's).
    """
    rng = np.random.default_rng(11)
    reps, b, m, rho = 2000, 199, 5, 0.5
    chol = np.linalg.cholesky(np.full((m, m), rho) + np.eye(m) * (1 - rho))
    # all draws at once: one (reps, B + 1, m) array, observed statistic first in each family
    draws = np.abs(rng.standard_normal((reps, b + 1, m)) @ chol.T)
    rw = holm = unadjusted = 0
    for family in draws:
        rw += step_down(family[0], family[1:]).min() <= 0.05
        p_normal = 2 * stats.norm.sf(family[0])
        # Holm's smallest adjusted p is m * min p, Bonferroni's: same family-wise rejections
        # (Bonferroni is used because statsmodels' Holm path calls gc.collect(), ~20 ms each)
        holm += adjust_p_values(p_normal, method="bonferroni").min() <= 0.05
        unadjusted += p_normal.min() <= 0.05
    assert abs(rw / reps - 0.05) < 0.015
    assert holm < rw
    assert unadjusted / reps > 0.12  # the problem being solved: ~0.18 without adjustment


def _trial(rng: np.random.Generator, n: int, m: int, effects: list[float]) -> pd.DataFrame:
    z = rng.permutation(np.repeat([0, 1], n // 2))
    x = rng.normal(size=n)
    cols = {f"y{j}": 0.5 * x + rng.normal(size=n) + effects[j] * z for j in range(m)}
    return pd.DataFrame({"z": z, "x": x, "g": np.arange(n) // 4, **cols})


def test_bootstrap_refits_the_regression_estimator() -> None:
    # the bootstrap design on the original rows reproduces rct.regression (Lin + HC2):
    # same estimator, same numerics -> rounding only
    data = _trial(np.random.default_rng(3), 60, 2, [0.0, 0.5])
    x = _design(data["z"].to_numpy(float), data[["x"]].to_numpy(float), "lin")
    est, se = _fit_all(x, data[["y0", "y1"]].to_numpy(float), "HC2", None)
    for j, col in enumerate(["y0", "y1"]):
        ref = regression(data, outcome=col, treatment="z", covariates=["x"])
        assert est[j] == pytest.approx(ref.estimate, abs=1e-10)
        assert se[j] == pytest.approx(ref.std_error, abs=1e-10)


def test_romano_wolf_on_data() -> None:
    data = _trial(np.random.default_rng(5), 200, 3, [0.0, 0.0, 0.6])
    out = romano_wolf(
        data, outcomes=["y0", "y1", "y2"], treatment="z", covariates=["x"], n_bootstrap=499, rng=42
    )
    assert list(out.index) == ["y0", "y1", "y2"]
    assert np.all(out["p_value_rw"] >= out["p_value"])
    order = np.argsort(-np.abs(out["statistic"].to_numpy()))
    assert np.all(np.diff(out["p_value_rw"].to_numpy()[order]) >= 0)
    # the effect of 0.6 SD with n = 200 has |t| ~ 4: no bootstrap draw reaches it
    assert out.loc["y2", "p_value_rw"] == pytest.approx(1 / 500, abs=EXACT)
    # the bootstrap-t p-value tracks the analytic HC2 t p-value: Monte Carlo SE with
    # B = 499 is at most 0.022, and the t vs bootstrap-t gap at n = 200 is small; 0.08
    np.testing.assert_allclose(out["p_value"], out["p_value_model"], atol=0.08)
    # the stored null statistics reproduce the adjustment through adjust_p_values
    again = adjust_p_values(
        out["p_value"],
        method="romano_wolf",
        statistics=out["statistic"].abs(),
        null_statistics=out.attrs["null_statistics"],
    )
    pd.testing.assert_series_equal(again, out["p_value_rw"], check_names=False)
    # seeded: same seed, same numbers; another seed, other numbers
    same = romano_wolf(
        data, outcomes=["y0", "y1", "y2"], treatment="z", covariates=["x"], n_bootstrap=499, rng=42
    )
    pd.testing.assert_frame_equal(out, same)
    other = romano_wolf(
        data, outcomes=["y0", "y1", "y2"], treatment="z", covariates=["x"], n_bootstrap=499, rng=43
    )
    assert not np.array_equal(other.attrs["null_statistics"], out.attrs["null_statistics"])


def test_romano_wolf_single_outcome_and_clusters() -> None:
    data = _trial(np.random.default_rng(9), 120, 2, [0.0, 0.3])
    one = romano_wolf(data, outcomes=["y1"], treatment="z", n_bootstrap=199, rng=1)
    assert one.loc["y1", "p_value_rw"] == one.loc["y1", "p_value"]
    # cluster-randomise: 30 clusters of 4, treatment assigned by cluster
    data["z"] = (data["g"] % 2).to_numpy()
    clus = romano_wolf(
        data, outcomes=["y0", "y1"], treatment="z", cluster="g", n_bootstrap=99, rng=1
    )
    assert clus.attrs["se_type"] == "CR2"
    assert np.all((clus["p_value_rw"] > 0) & (clus["p_value_rw"] <= 1))
    assert np.all(clus["p_value_rw"] >= clus["p_value"])


def test_romano_wolf_family_wise_rate_on_trials() -> None:
    """End-to-end family-wise rejection rate with independent null outcomes.

    R = 80 trials (seed 2024), n = 60, m = 4 null outcomes, B = 99 draws each. The
    expected count of families with a rejection at 5% is 4 (SD 1.9); without adjustment it
    would be about 15 (1 - 0.95^4 = 18.5%). Requiring at most 9 rejects the unadjusted
    rate (P(Bin(80, 0.185) <= 9) ~ 0.04) while a correct 5% procedure exceeds 9 with
    probability ~0.01. Kept small for run time; the precise check of the algorithm's level
    is test_romano_wolf_fwer_with_known_null_distribution.
    """
    rng = np.random.default_rng(2024)
    rejections = 0
    for _ in range(80):
        data = _trial(rng, 60, 4, [0.0] * 4)
        out = romano_wolf(
            data, outcomes=[f"y{j}" for j in range(4)], treatment="z", n_bootstrap=99, rng=rng
        )
        rejections += out["p_value_rw"].min() <= 0.05
    assert rejections <= 9


def test_bad_input() -> None:
    with pytest.raises(DataValidationError, match="statistics"):
        adjust_p_values(P, method="romano_wolf")
    with pytest.raises(DataValidationError, match=r"shape \(4,\)"):
        adjust_p_values(
            P, method="romano_wolf", statistics=[1, 2, 3], null_statistics=np.ones((10, 3))
        )
    with pytest.raises(DataValidationError, match="did you mean 'holm'"):
        adjust_p_values(P, method="hlm")
    with pytest.raises(DataValidationError, match=r"\[0, 1\]"):
        adjust_p_values([0.1, 1.2])
    with pytest.raises(DataValidationError, match=r"\[0, 1\]"):
        adjust_p_values([0.1, np.nan])
    with pytest.raises(DataValidationError, match="empty"):
        adjust_p_values([])
    with pytest.raises(DataValidationError, match="p_values"):
        adjust_p_values(["a", "b"])
    data = _trial(np.random.default_rng(1), 40, 1, [0.0])
    with pytest.raises(DataValidationError, match="outcomes"):
        romano_wolf(data, outcomes=[], treatment="z")
    with pytest.raises(DataValidationError, match="n_bootstrap"):
        romano_wolf(data, outcomes=["y0"], treatment="z", n_bootstrap=0)
    with pytest.raises(DataValidationError, match="rng"):
        romano_wolf(data, outcomes=["y0"], treatment="z", rng=-1)
    with pytest.raises(DataValidationError, match="did you mean 'y0'"):
        romano_wolf(data, outcomes=["y00"], treatment="z")
    with pytest.raises(DataValidationError, match="binary"):
        romano_wolf(data.assign(z=data["z"] + 1), outcomes=["y0"], treatment="z")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the constant-outcome warning of regression
        with pytest.raises(DataValidationError, match="standard error"):
            romano_wolf(data.assign(c=1.0), outcomes=["y0", "c"], treatment="z")
