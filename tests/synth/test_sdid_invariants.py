"""Synthetic DiD invariants and staggered adoption.

Identities that hold exactly (to floating point): DiD through synthdid's uniform weights is
the 2x2 DiD and TWFE on a block design; unit order and labels change nothing; unit fixed
effects added to the outcome change nothing (both weight problems carry an intercept and the
weights sum to one); an extra constant effect in the treated cells shifts
the estimate by exactly that constant (the weights use no treated post-period data).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import ImpactEvalWarning


def block_panel(
    n: int = 25, t: int = 10, n_tr: int = 4, start: int = 7, seed: int = 3
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    load = rng.normal(size=(n, 1))
    load[:n_tr] += 1.0
    factor = np.cumsum(rng.normal(size=t))
    y = rng.normal(size=(n, 1)) + load * factor + rng.normal(scale=0.3, size=(n, t))
    d = (np.arange(n)[:, None] < n_tr) & (np.arange(t) >= start)
    return pd.DataFrame(
        {
            "unit": np.repeat([f"s{i:02d}" for i in range(n)], t),
            "period": np.tile(np.arange(1990, 1990 + t), n),
            "y": (y + 2.0 * d).ravel(),
            "d": d.ravel().astype(int),
        }
    )


def fit(data: pd.DataFrame, **kw: object) -> ie.synth.SyntheticDiD:
    kw.setdefault("se", None)
    return ie.synth.synthetic_did(
        data, outcome="y", unit="unit", time="period", treatment="d", **kw
    )


def test_uniform_weights_did_equals_two_by_two_and_twfe() -> None:
    data = block_panel()
    res = fit(data, method="did")
    data["ever"] = data.groupby("unit")["d"].transform("max")
    data["post"] = (data["period"] >= 1997).astype(int)
    two = ie.did.two_by_two(data, outcome="y", treated="ever", post="post")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)
        fe = ie.did.twfe(data, outcome="y", treatment="d", unit="unit", time="period")
    assert res.estimate == pytest.approx(two.estimate, abs=1e-10)
    assert res.estimate == pytest.approx(fe.estimate, abs=1e-9)
    # the SDID formula with uniform weights plugged in is the same number
    wide = data.pivot(index="unit", columns="period", values="y")
    diff = wide.loc[:, 1997:].mean(axis=1) - wide.loc[:, :1996].mean(axis=1)
    assert res.estimate == pytest.approx(diff.iloc[:4].mean() - diff.iloc[4:].mean(), abs=1e-10)


@pytest.mark.parametrize("method", ["sdid", "sc", "did"])
def test_unit_order_and_labels_change_nothing(method: str) -> None:
    data = block_panel()
    res = fit(data, method=method)
    # relabel so that the sorted order of units is reversed, and shuffle the rows
    relabel = {u: f"z{99 - int(u[1:]):03d}" for u in data["unit"].unique()}
    other = data.assign(unit=data["unit"].map(relabel)).sample(frac=1.0, random_state=4)
    res2 = fit(other, method=method)
    assert res2.estimate == pytest.approx(res.estimate, abs=1e-8)
    back = res2.unit_weights.rename(index={v: k for k, v in relabel.items()})
    assert np.allclose(back.reindex(res.unit_weights.index), res.unit_weights, atol=1e-8)
    assert np.allclose(res2.time_weights, res.time_weights, atol=1e-8)


def test_unit_fixed_effects_change_nothing_for_sdid() -> None:
    """Unit effects leave the first differences (hence the noise level and zeta) alone and
    are absorbed by the intercepts. (Period effects would too for fixed zeta, but they change
    the sd of first differences, so the default zeta - and the weights - move.)"""
    data = block_panel()
    res = fit(data)
    rng = np.random.default_rng(9)
    alpha = dict(zip(data["unit"].unique(), rng.normal(scale=50, size=25), strict=True))
    shifted = data.assign(y=data["y"] + data["unit"].map(alpha) + 1000.0)
    res2 = fit(shifted)
    assert res2.estimate == pytest.approx(res.estimate, abs=1e-6)
    assert np.allclose(res2.unit_weights, res.unit_weights, atol=1e-6)


@pytest.mark.parametrize("method", ["sdid", "sc", "did"])
def test_constant_extra_effect_shifts_the_estimate(method: str) -> None:
    data = block_panel()
    res = fit(data, method=method)
    res2 = fit(data.assign(y=data["y"] + 3.5 * data["d"]), method=method)
    assert res2.estimate - res.estimate == pytest.approx(3.5, abs=1e-9)


def staggered_panel(noise: float, seed: int = 11) -> pd.DataFrame:
    """30 never-treated units; 5 units adopt in 2008 (effect 2.0), 4 in 2011 (effect 1.0);
    additive unit and period effects plus N(0, noise^2) errors; periods 2000-2014."""
    rng = np.random.default_rng(seed)
    n, t = 39, 15
    adopt = np.r_[np.full(5, 8), np.full(4, 11), np.full(30, 99)]
    effect = np.r_[np.full(5, 2.0), np.full(4, 1.0), np.zeros(30)]
    d = np.arange(t)[None, :] >= adopt[:, None]
    y = rng.normal(size=(n, 1)) * 3 + np.cumsum(rng.normal(size=t)) + effect[:, None] * d
    y = y + rng.normal(scale=noise, size=(n, t))
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), t),
            "period": np.tile(np.arange(2000, 2000 + t), n),
            "y": y.ravel(),
            "d": d.ravel().astype(int),
        }
    )


def test_staggered_adoption_recovers_known_effects() -> None:
    exact = fit(staggered_panel(noise=0.0))
    truth = (5 * 7 * 2.0 + 4 * 4 * 1.0) / (5 * 7 + 4 * 4)  # weights N_a x T_post,a
    assert exact.estimate == pytest.approx(truth, abs=1e-8)  # additive model: exact
    assert np.allclose(exact.cohorts["estimate"], [2.0, 1.0], atol=1e-8)

    # with N(0, 0.1^2) errors each cohort effect has sd below 0.05 (averages over >= 16
    # treated cells and weighted controls); 0.2 is four such sds
    noisy = fit(staggered_panel(noise=0.1), se="placebo", n_reps=50, rng=1)
    assert noisy.estimate == pytest.approx(truth, abs=0.2)
    table = noisy.cohorts
    assert table["cohort"].tolist() == [2008, 2011]
    assert table["n_treated"].tolist() == [5, 4] and table["n_post"].tolist() == [7, 4]
    assert table["weight"].to_numpy() == pytest.approx([35 / 51, 16 / 51])
    assert np.allclose(table["estimate"], [2.0, 1.0], atol=0.2)
    assert noisy.estimate == pytest.approx(float(table["weight"] @ table["estimate"]), abs=1e-12)
    assert np.isfinite(noisy.std_error) and (table["std_error"] > 0).all()


def test_staggered_cohorts_are_block_fits_on_never_treated_controls() -> None:
    data = staggered_panel(noise=1.0)
    res = fit(data)
    ever = data.groupby("unit")["d"].transform("max")
    first = data[data["d"] == 1].groupby("unit")["period"].min()
    for cohort, row in res.cohorts.set_index("cohort").iterrows():
        members = first.index[first == cohort]
        sub = data[(ever == 0) | data["unit"].isin(members)]
        block = fit(sub)
        assert row["estimate"] == pytest.approx(block.estimate, abs=1e-10)
        w = res.unit_weights.loc[cohort]
        assert np.allclose(w.to_numpy(), block.unit_weights.to_numpy())
        assert res.time_weights.loc[cohort].index.max() == cohort - 1
    assert res.unit_weights.groupby(level="cohort").sum().to_numpy() == pytest.approx([1, 1])


@pytest.mark.parametrize("se", ["bootstrap", "jackknife"])
def test_staggered_bootstrap_and_jackknife_run(se: str) -> None:
    res = fit(staggered_panel(noise=0.5), se=se, n_reps=30, rng=2)
    assert np.isfinite(res.std_error) and res.std_error > 0
    assert np.isfinite(res.cohorts["std_error"]).all()


def test_plot_draws_trajectories_and_time_weights() -> None:
    import matplotlib.pyplot as plt

    res = fit(block_panel())
    ax = res.plot()
    labels = [line.get_label() for line in ax.get_lines()]
    assert "treated" in labels and "synthetic control" in labels
    assert len(ax.patches) == 10  # one time-weight bar per period (zero-height after onset)
    plt.close("all")
    stag = fit(staggered_panel(noise=0.5))
    ax = stag.plot(cohort=2011)
    assert "2011" in ax.get_title()
    with pytest.raises(ValueError, match="cohort"):
        stag.plot(cohort=2005)
    plt.close("all")
