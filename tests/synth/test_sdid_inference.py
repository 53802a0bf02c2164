"""Synthetic DiD standard errors: placebo, bootstrap and jackknife.

Placebo SEs on Prop 99 are random (Arkhangelsky et al. 2021, Table 1 prints 8.4 / 9.9 / 17.7
for SDID / SC / DiD from one R-seeded draw of 200 placebos), so the tests check them without
Monte Carlo error where possible: every placebo replicate is recomputed independently (the
control state in question fitted as if treated), and the SE must equal the n-denominator sd
of those replicates (synthdid's ``sqrt((R-1)/R) sd``). The published SEs are then compared
with the exact placebo SE over all 38 control states, within 4 Monte Carlo standard
deviations of an sd estimated from 200 draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import impacteval as ie

PUBLISHED_SE = {"sdid": 8.4, "sc": 9.9, "did": 17.7}


@pytest.fixture(scope="module")
def prop99() -> pd.DataFrame:
    data = ie.datasets.load("smoking")[["state", "year", "cigsale"]].copy()
    data["prop99"] = ((data["state"] == "California") & (data["year"] >= 1989)).astype(int)
    return data


@pytest.fixture(scope="module")
def placebo_fits(prop99: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Each control state fitted as the treated unit, the other 37 as controls (cold fits)."""
    controls = prop99[prop99["state"] != "California"].copy()
    out: dict[str, dict[str, float]] = {}
    for method in ("sdid", "sc", "did"):
        out[method] = {}
        for state in controls["state"].unique():
            controls["prop99"] = ((controls["state"] == state) & (controls["year"] >= 1989)) * 1
            res = ie.synth.synthetic_did(
                controls,
                outcome="cigsale",
                unit="state",
                time="year",
                treatment="prop99",
                method=method,
                se=None,
            )
            out[method][state] = res.estimate
    return out


def simulate(
    n: int = 30, t: int = 12, n_tr: int = 5, start: int = 8, seed: int = 7
) -> pd.DataFrame:
    """Interactive fixed effects panel; the first ``n_tr`` units get +1.0 from ``start``."""
    rng = np.random.default_rng(seed)
    load = rng.normal(size=(n, 2))
    load[:n_tr] += 0.5
    factors = np.cumsum(rng.normal(size=(t, 2)), axis=0)
    y = rng.normal(size=(n, 1)) * 2 + np.arange(t) * 0.3 + load @ factors.T
    y += rng.normal(scale=0.5, size=(n, t))
    d = (np.arange(n)[:, None] < n_tr) & (np.arange(t)[None, :] >= start)
    y = y + 1.0 * d
    return pd.DataFrame(
        {
            "unit": np.repeat([f"u{i:02d}" for i in range(n)], t),
            "period": np.tile(np.arange(2000, 2000 + t), n),
            "y": y.ravel(),
            "d": d.ravel().astype(int),
        }
    )


def sdid(data: pd.DataFrame, **kw: object) -> ie.synth.SyntheticDiD:
    return ie.synth.synthetic_did(
        data, outcome="y", unit="unit", time="period", treatment="d", **kw
    )


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sdid", "sc", "did"])
def test_prop99_placebo_se_is_sd_of_independent_placebo_fits(
    prop99: pd.DataFrame, placebo_fits: dict[str, dict[str, float]], method: str
) -> None:
    res = ie.synth.synthetic_did(
        prop99,
        outcome="cigsale",
        unit="state",
        time="year",
        treatment="prop99",
        method=method,
        se="placebo",
        n_reps=200,
        rng=2021,
    )
    drawn = [units[0] for units in res.details["placebo_units"]]
    assert len(drawn) == 200 and "California" not in drawn
    independent = np.array([placebo_fits[method][s] for s in drawn])
    # replications restart Frank-Wolfe from the full-sample weights with the full-sample
    # tuning (synthdid's vcov); cold fits stop after 10,000 steps from uniform weights with
    # their own noise level, which moves an estimate by up to ~0.3 packs on this panel
    tol = 1e-9 if method == "did" else 0.5
    assert np.abs(res.replicates - independent).max() < tol
    assert res.std_error == pytest.approx(np.std(res.replicates), rel=1e-12)
    assert res.std_error == pytest.approx(np.std(independent), abs=0.05 if tol > 1e-6 else 1e-9)
    z = 1.959963984540054
    assert res.ci_upper - res.estimate == pytest.approx(z * res.std_error, rel=1e-9)

    # the published SE and ours are draws of the same statistic: an sd from 200 placebos
    # sampled from the 38 control states. Its Monte Carlo sd is sqrt((m4 - s^4) / (4 s^2 R)).
    all_states = np.array(list(placebo_fits[method].values()))
    exact = np.std(all_states)
    m4 = np.mean((all_states - all_states.mean()) ** 4)
    mc_sd = np.sqrt((m4 - exact**4) / (4 * exact**2 * 200))
    assert abs(PUBLISHED_SE[method] - exact) < 4 * mc_sd
    assert abs(res.std_error - exact) < 4 * mc_sd


def test_placebo_is_seeded_and_independent_of_n_jobs() -> None:
    data = simulate()
    a = sdid(data, se="placebo", n_reps=40, rng=5)
    b = sdid(data, se="placebo", n_reps=40, rng=5, n_jobs=2)
    c = sdid(data, se="placebo", n_reps=40, rng=6)
    assert a.std_error == b.std_error
    assert np.array_equal(a.replicates, b.replicates)
    assert a.std_error != c.std_error
    assert a.provenance.seed == 5 and a.provenance.options["se"] == "placebo"


def test_placebo_and_bootstrap_did_replicates_match_explicit_did() -> None:
    """With uniform weights every replicate is a plain DiD on the drawn units: recompute it."""
    data = simulate()
    wide = data.pivot(index="unit", columns="period", values="y")
    pre, post = wide.loc[:, :2007].mean(axis=1), wide.loc[:, 2008:].mean(axis=1)
    change = post - pre
    treated = [f"u{i:02d}" for i in range(5)]
    res = sdid(data, method="did", se="placebo", n_reps=30, rng=1)
    for fake, rep in zip(res.details["placebo_units"], res.replicates, strict=True):
        rest = [u for u in wide.index if u not in treated and u not in fake]
        assert rep == pytest.approx(change[list(fake)].mean() - change[rest].mean(), abs=1e-10)
    boot = sdid(data, method="did", se="bootstrap", n_reps=30, rng=1)
    for units, rep in zip(boot.details["bootstrap_units"], boot.replicates, strict=True):
        drawn = pd.Series(units)
        is_tr = drawn.isin(treated)
        expected = change[drawn[is_tr]].mean() - change[drawn[~is_tr]].mean()
        assert rep == pytest.approx(expected, abs=1e-10)
    assert boot.std_error == pytest.approx(np.std(boot.replicates), rel=1e-12)


@pytest.mark.parametrize("method", ["sdid", "did"])
def test_jackknife_matches_explicit_leave_one_out(method: str) -> None:
    """Algorithm 3 of Arkhangelsky et al.: fixed lambda, omega renormalised when a control
    is dropped, SE = sqrt((N-1)/N sum (tau_(-i) - mean)^2). Recomputed here by brute force."""
    data = simulate()
    res = sdid(data, method=method, se="jackknife")
    wide = data.pivot(index="unit", columns="period", values="y")
    lam = res.time_weights.to_numpy()
    diff = wide.loc[:, 2008:].mean(axis=1) - wide.loc[:, :2007].to_numpy() @ lam
    omega = res.unit_weights
    treated = [f"u{i:02d}" for i in range(5)]
    taus = []
    for drop in wide.index:
        om = omega.drop(drop, errors="ignore")
        om = om / om.sum()
        tr = [u for u in treated if u != drop]
        taus.append(diff[tr].mean() - float((diff[om.index] * om).sum()))
    taus_arr = np.array(taus)
    n = len(taus_arr)
    expected = np.sqrt((n - 1) / n * np.sum((taus_arr - taus_arr.mean()) ** 2))
    assert res.std_error == pytest.approx(expected, rel=1e-10)
    assert res.cohorts["std_error"].iloc[0] == pytest.approx(expected, rel=1e-10)
    assert res.ci_method == "normal" and res.replicates.size == 0


def test_bootstrap_se_in_the_range_of_the_sampling_sd() -> None:
    """A loose sanity check, not coverage: on 30 units the SDID bootstrap SE should be
    within a factor 2.5 of the sd of the estimator over 40 fresh panels (seeds 100-139).
    Both are noisy (40 draws: the sd is known to about +-11%; bootstrap SEs vary by about
    +-20% across panels), so a factor 2.5 fails only if the SE is badly wrong."""
    estimates = [sdid(simulate(seed=s), se=None).estimate for s in range(100, 140)]
    spread = float(np.std(estimates, ddof=1))
    res = sdid(simulate(seed=100), se="bootstrap", n_reps=100, rng=3)
    assert spread / 2.5 < res.std_error < spread * 2.5
    assert res.replicates.size == 100 and len(res.details["bootstrap_units"]) == 100
    assert res.std_error == pytest.approx(np.std(res.replicates), rel=1e-12)
