"""Synthetic DiD on the Prop 99 panel: Arkhangelsky et al. (2021), Table 1.

Published point estimates (Arkhangelsky et al. 2021, AER 111(12), Table 1, California
cigarette sales, 38 control states, treated from 1989): SDID -15.60, SC -19.62, DiD -27.35,
printed to two decimals, so the tolerance is 0.005 (half the last printed digit).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import impacteval as ie


@pytest.fixture(scope="module")
def prop99() -> pd.DataFrame:
    data = ie.datasets.load("smoking")[["state", "year", "cigsale"]].copy()
    data["prop99"] = ((data["state"] == "California") & (data["year"] >= 1989)).astype(int)
    return data


def fit(data: pd.DataFrame, method: str, **kw: object) -> ie.synth.SyntheticDiD:
    return ie.synth.synthetic_did(
        data, outcome="cigsale", unit="state", time="year", treatment="prop99", method=method, **kw
    )


@pytest.mark.parametrize(
    ("method", "published"), [("sdid", -15.60), ("sc", -19.62), ("did", -27.35)]
)
def test_prop99_table1_point_estimates(prop99: pd.DataFrame, method: str, published: float) -> None:
    res = fit(prop99, method, se=None)
    assert res.estimate == pytest.approx(published, abs=0.005)
    assert np.isnan(res.std_error) and np.isnan(res.ci_lower)
    assert (res.n_treated, res.n_control, res.n_obs) == (1, 38, 39 * 31)
    assert res.estimand == "ATT"


@pytest.mark.parametrize("method", ["sdid", "sc", "did"])
def test_prop99_weights_on_the_simplex(prop99: pd.DataFrame, method: str) -> None:
    res = fit(prop99, method, se=None)
    omega, lam = res.unit_weights, res.time_weights
    assert list(omega.index) == sorted(set(prop99["state"]) - {"California"})
    assert list(lam.index) == list(range(1970, 1989))
    assert (omega >= 0).all() and omega.sum() == pytest.approx(1.0, abs=1e-12)
    if method == "sc":
        assert (lam == 0).all()  # synthdid's sc_estimate: no time weights
    else:
        assert (lam >= 0).all() and lam.sum() == pytest.approx(1.0, abs=1e-12)
    if method == "did":
        assert np.allclose(omega, 1 / 38) and np.allclose(lam, 1 / 19)
    if method == "sdid":
        # the regularised SDID weights are spread out (the paper's Figure 1 shows many
        # states with small weights), and the sparsify step zeroes some
        assert (omega > 0).sum() > 10 and (omega == 0).any()


def test_prop99_estimate_is_the_weighted_double_difference(prop99: pd.DataFrame) -> None:
    """Recompute tau from the reported weights and the raw panel (independent of the code)."""
    res = fit(prop99, "sdid", se=None)
    wide = prop99.pivot(index="state", columns="year", values="cigsale")
    pre, post = wide.loc[:, :1988], wide.loc[:, 1989:]
    lam = res.time_weights.to_numpy()
    diff = post.mean(axis=1) - pre.to_numpy() @ lam
    omega = res.unit_weights
    tau = diff["California"] - float((diff[omega.index] * omega).sum())
    assert res.estimate == pytest.approx(tau, abs=1e-10)
    traj = res.trajectories
    assert np.allclose(traj["treated"], wide.loc["California"].to_numpy())
    assert np.allclose(traj["synthetic"], omega.to_numpy() @ wide.loc[omega.index].to_numpy())
