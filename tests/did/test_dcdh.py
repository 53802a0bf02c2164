"""``ie.did.dcdh``: agreement with simpler estimators where theory says they coincide,
the options, the result contract and the sample rules."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError

matplotlib.use("Agg")


def _panel(d: np.ndarray, y: np.ndarray, **extra: np.ndarray) -> pd.DataFrame:
    n_units, n_periods = d.shape
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_units), n_periods),
            "t": np.tile(np.arange(1, n_periods + 1), n_units),
            "d": d.ravel(),
            "y": y.ravel(),
        }
    )
    for name, values in extra.items():
        frame[name] = np.repeat(values, n_periods)
    return frame


def _two_by_two_data(seed: int = 1, n_units: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treated = np.arange(n_units) < n_units // 3
    d = np.c_[np.zeros(n_units), treated.astype(float)]
    y = rng.normal(size=(n_units, 1)) + np.c_[0.0 * d[:, :1], 0.5 + 2.0 * d[:, 1:]]
    y = y + rng.normal(scale=np.where(treated, 2.0, 0.5)[:, None], size=(n_units, 2))
    return _panel(d, y)


def _fit(frame: pd.DataFrame, **kw: object) -> ie.did.SwitchingEffects:
    return ie.did.dcdh(frame, outcome="y", unit="id", time="t", treatment="d", **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# equal to simpler estimators where theory says so
# ---------------------------------------------------------------------------------------
def test_absorbing_two_by_two_is_the_difference_in_mean_changes() -> None:
    """Two periods, binary absorbing treatment: DID_1 is the 2x2 DiD, and its SE is the
    unequal-variance (Welch) SE of the difference in mean outcome changes (ddof 1 from the
    sqrt(n/(n-1)) cell factor; ddof 0 with less_conservative_se)."""
    frame = _two_by_two_data()
    res = _fit(frame)
    wide = frame.pivot(index="id", columns="t", values="y")
    change = (wide[2] - wide[1]).to_numpy()
    sw = frame.groupby("id")["d"].max().to_numpy() > 0
    did = change[sw].mean() - change[~sw].mean()
    row = res.table.set_index("event_time").loc[1]
    assert row["estimate"] == pytest.approx(did, rel=1e-12)
    frame["post"] = (frame["t"] == 2).astype(int)
    frame["treated"] = frame.groupby("id")["d"].transform("max")
    tbt = ie.did.two_by_two(frame, outcome="y", treated="treated", post="post", unit="id")
    assert tbt.estimate == pytest.approx(row["estimate"], rel=1e-12)
    for ddof, kw in ((1, {}), (0, {"less_conservative_se": True})):
        se = np.sqrt(
            change[sw].var(ddof=ddof) / sw.sum() + change[~sw].var(ddof=ddof) / (~sw).sum()
        )
        got = _fit(frame, **kw).table.set_index("event_time").loc[1, "std_error"]
        assert got == pytest.approx(se, rel=1e-12)
    # one effect: the average total effect per unit of a 0 -> 1 switch is DID_1 itself
    assert res.overall.estimate == pytest.approx(did, rel=1e-12)
    assert res.overall.std_error == pytest.approx(row["std_error"], rel=1e-12)


def test_staggered_absorbing_equals_callaway_santanna_not_yet_treated() -> None:
    """Binary staggered adoption with never-treated units: DID_l is the Callaway-Sant'Anna
    event-study aggregation at e = l - 1 with not-yet-treated controls (both compare the
    change since F_g - 1 with units not treated by F_g - 1 + l, cohorts weighted by size)."""
    rng = np.random.default_rng(7)
    n_units, n_periods = 300, 6
    cohort = rng.choice([3, 4, 5, 0], n_units)
    t = np.arange(1, n_periods + 1)
    d = ((cohort[:, None] > 0) & (t[None, :] >= cohort[:, None])).astype(float)
    y = rng.normal(size=(n_units, 1)) + 0.2 * t + d * (1.0 + 0.5 * (t - cohort[:, None]))
    y = y + rng.normal(size=y.shape)
    frame = _panel(d, y, cohort=cohort)
    res = _fit(frame, effects=3)
    cs = ie.did.att_gt(
        frame, outcome="y", unit="id", time="t", cohort="cohort", control_group="not_yet_treated"
    ).aggregate("dynamic")
    cs_rows = cs.table.set_index("event_time")
    ours = res.table.set_index("event_time")
    for ell in (1, 2, 3):
        assert ours.loc[ell, "estimate"] == pytest.approx(
            cs_rows.loc[ell - 1, "estimate"], rel=1e-10
        )


def test_placebo_is_the_pre_period_did() -> None:
    """Three periods, switch at period 3: placebo -1 compares the change from period 2 back
    to period 1 of switchers and never-switchers."""
    rng = np.random.default_rng(3)
    n_units = 50
    sw = np.arange(n_units) < 20
    d = np.zeros((n_units, 3))
    d[sw, 2] = 1.0
    y = rng.normal(size=(n_units, 3)) + d
    res = _fit(_panel(d, y), placebo=1)
    back = y[:, 0] - y[:, 1]
    expected = back[sw].mean() - back[~sw].mean()
    assert res.table.set_index("event_time").loc[-1, "estimate"] == pytest.approx(expected)
    assert res.placebo_test.df == 1
    z = expected / res.table.set_index("event_time").loc[-1, "std_error"]
    assert res.placebo_test.statistic == pytest.approx(z**2, rel=1e-10)


# ---------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------
def _on_off(seed: int, n_units: int = 400, n_periods: int = 7, dose: float = 1.0) -> pd.DataFrame:
    """Treatment switched on at F for two periods then off; effect 1.5 * D_t + 0.5 * D_{t-1}."""
    rng = np.random.default_rng(seed)
    start = rng.choice([3, 4, 5, 99], n_units)
    t = np.arange(1, n_periods + 1)
    d = dose * ((t[None, :] >= start[:, None]) & (t[None, :] < start[:, None] + 2))
    lag = np.c_[np.zeros((n_units, 1)), d[:, :-1]]
    y = rng.normal(size=(n_units, 1)) + 0.1 * t + 1.5 * d + 0.5 * lag
    return _panel(d, y + rng.normal(scale=0.3, size=d.shape))


def test_effects_follow_the_treatment_path() -> None:
    """On for 2 periods then off: DID_1 = 1.5 (current), DID_2 = 2.0 (current + lag),
    DID_3 = 0.5 (lag only) -- the actual-versus-status-quo effects."""
    res = _fit(_on_off(11), effects=3, placebo=2)
    est = res.table.set_index("event_time")["estimate"]
    assert est.loc[[1, 2, 3]].to_numpy() == pytest.approx([1.5, 2.0, 0.5], abs=0.1)
    assert est.loc[[-2, -1]].abs().max() < 0.1
    assert res.placebo_test.df == 2 and res.placebo_test.p_value > 0.001


def test_normalized_divides_by_cumulative_dose() -> None:
    """Dose 2: DID_2 is 2 * (1.5 + 0.5) = 4; normalised by the cumulative change
    (2 + 2 = 4) it is 1 per unit of treatment and period of exposure."""
    frame = _on_off(12, dose=2.0)
    raw, norm = _fit(frame, effects=2), _fit(frame, effects=2, normalized=True)
    r, n = raw.table.set_index("event_time"), norm.table.set_index("event_time")
    assert n.loc[2, "delta_d"] == pytest.approx(4.0)
    assert n.loc[2, "estimate"] == pytest.approx(r.loc[2, "estimate"] / 4.0, rel=1e-12)
    assert n.loc[2, "std_error"] == pytest.approx(r.loc[2, "std_error"] / 4.0, rel=1e-12)
    assert n.loc[2, "estimate"] == pytest.approx(1.0, abs=0.05)


def test_switchers_in_and_out_are_separated() -> None:
    """Status quo 1 switching down (effect -1 per unit) and status quo 0 switching up (+1)."""
    rng = np.random.default_rng(5)
    n_units, n_periods = 400, 5
    sq = (np.arange(n_units) % 2).astype(float)
    start = rng.choice([3, 4, 99], n_units)
    t = np.arange(1, n_periods + 1)
    after = t[None, :] >= start[:, None]
    d = np.where(after, 1.0 - sq[:, None], sq[:, None])
    y = rng.normal(size=(n_units, 1)) + 1.0 * d + rng.normal(scale=0.3, size=d.shape)
    frame = _panel(d, y)
    out = _fit(frame, switchers="out").table.set_index("event_time").loc[1, "estimate"]
    inn = _fit(frame, switchers="in").table.set_index("event_time").loc[1, "estimate"]
    both = _fit(frame).table.set_index("event_time").loc[1]
    assert out == pytest.approx(-1.0, abs=0.1)
    assert inn == pytest.approx(1.0, abs=0.1)
    assert abs(both["estimate"]) < 0.3  # an average of +1 and -1 (unsigned)
    res_out = _fit(frame, switchers="out")
    assert res_out.details["n_units_dropped_other_direction"] > 0


def test_cluster_sums_influence_within_clusters() -> None:
    frame = _on_off(13)
    frame["state"] = frame["id"] % 20
    a, b = _fit(frame, effects=2), _fit(frame, effects=2, cluster="state")
    np.testing.assert_allclose(a.table["estimate"], b.table["estimate"])
    assert b.n_clusters == 20 and a.n_clusters == a.details["n_units"]
    assert not np.allclose(a.table["std_error"].dropna(), b.table["std_error"].dropna())
    # clustering by the unit itself is the default
    c = _fit(frame, effects=2, cluster="id")
    np.testing.assert_allclose(a.table["std_error"], c.table["std_error"])


# ---------------------------------------------------------------------------------------
# result contract, warnings, sample rules
# ---------------------------------------------------------------------------------------
def test_result_contract() -> None:
    res = _fit(_on_off(14), effects=2, placebo=1, level=0.9)
    frame = res.to_frame()
    for col in ("event_time", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"):
        assert col in frame.columns
    assert frame["event_time"].tolist() == [-1, 0, 1, 2]
    assert frame.loc[frame["reference"], "estimate"].tolist() == [0.0]
    se = frame.set_index("event_time")["std_error"]
    np.testing.assert_allclose(np.sqrt(np.diag(res.vcov.to_numpy()))[[0, 2, 3]], se.loc[[-1, 1, 2]])
    width = frame["ci_upper"] - frame["ci_lower"]
    np.testing.assert_allclose(width.dropna(), 2 * 1.6448536 * se.dropna(), rtol=1e-6)
    text = res.summary().as_text()
    assert "Placebo test" in text and "Avg total effect" in text
    assert res.level == 0.9 and res.provenance.options["effects"] == 2
    assert isinstance(res.overall, ie.EffectEstimate)
    # the overall effect counts the same sample as the event study (not the horizons'
    # unit-periods added up, which counts a unit-period once per horizon it enters)
    assert res.overall.n_obs == res.n_obs
    assert res.overall.n_control == res.n_control == res.details["n_never_switchers"]
    ax = res.plot()
    assert ax.get_xlabel()
    with pytest.raises(AttributeError):
        res.table = frame  # type: ignore[misc]
    sens = res.sensitivity(m=[0.0, 1.0])  # Rambachan-Roth on effect 1, placebo as pre-period
    assert sens.table["ci_lower"].iloc[0] <= frame.set_index("event_time").loc[1, "estimate"]


def test_effects_capped_with_a_recorded_warning() -> None:
    """Switches at periods 3-5 of 6: at most 4 effects and 3 placebos exist; placebo -3
    would need a switch at period 5 observed 3 periods later, so its row is NaN."""
    frame = _on_off(15, n_periods=6)
    with pytest.warns(UserWarning) as caught:
        res = _fit(frame, effects=9, placebo=9)
    messages = [str(w.message) for w in caught]
    for text in ("effects=9 asked", "placebo=9 asked", "no switcher is observed at event time -3"):
        assert any(text in m for m in messages)
        assert any(text in m for m in res.warnings)
    assert res.table["event_time"].max() == res.details["effects"] == 4
    rows = res.table.set_index("event_time")
    assert np.isnan(rows.loc[-3, "estimate"]) and rows.loc[-3, "n_switchers"] == 0
    assert np.isfinite(rows.loc[[-2, -1, 1, 2, 3, 4], "estimate"]).all()


def test_bidirectional_units_are_cut_where_they_cross() -> None:
    """A unit going 1 -> 2 -> 0 keeps its periods until it falls below its status quo."""
    rng = np.random.default_rng(2)
    n_units = 60
    d = np.zeros((n_units, 5))
    d[: n_units // 2, :] = 1.0
    d[:10, 2:] = 2.0  # 10 switchers in
    d[:3, 4] = 0.0  # 3 of them then go below the status quo
    d[30:40, 3:] = 1.0  # switchers in from 0
    y = rng.normal(size=d.shape) + d
    with pytest.warns(UserWarning, match="3 units have a treatment both above and below"):
        res = _fit(_panel(d, y), effects=2)
    assert res.details["n_units_bidirectional"] == 3
    assert res.details["n_obs_removed_bidirectional"] == 3
    assert res.details["n_switchers"] == 20


def test_missing_rows_and_outcomes_are_allowed() -> None:
    frame = _on_off(16)
    rng = np.random.default_rng(0)
    frame.loc[rng.random(len(frame)) < 0.05, "y"] = np.nan
    frame = frame[rng.random(len(frame)) > 0.05]
    frame.loc[frame.index[:3], "id"] = np.nan
    res = _fit(frame, effects=2, placebo=1)
    assert res.n_dropped == 3
    # the rows kept with a missing outcome are counted and named in the summary
    n_missing = int(frame["y"].isna().sum() - frame.loc[frame["id"].isna(), "y"].isna().sum())
    assert n_missing > 0 and res.details["n_missing_outcome"] == n_missing
    assert f"{n_missing} outcome (not used)" in res.summary().as_text()
    assert np.isfinite(res.table["estimate"]).all()


def test_not_evenly_spaced_periods_refused_but_shifted_labels_fine() -> None:
    frame = _on_off(17)
    shifted = frame.assign(t=frame["t"] * 2 + 1990)
    a, b = _fit(frame, effects=2), _fit(shifted, effects=2)
    np.testing.assert_allclose(a.table["estimate"], b.table["estimate"])
    gappy = frame.assign(t=frame["t"].replace({7: 9}))
    with pytest.raises(DataValidationError, match="evenly spaced"):
        _fit(gappy)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"effects": 0}, "`effects` must be an integer >= 1"),
        ({"effects": 1.5}, "`effects`"),
        ({"placebo": -1}, "`placebo` must be an integer >= 0"),
        ({"switchers": "both"}, "`switchers` must be one of"),
        ({"normalized": "yes"}, "`normalized` must be True or False"),
        ({"level": 95}, "`level`"),
        ({"cluster": 3}, "`cluster` must be a column name"),
        ({"cluster": "nope"}, "`cluster`: column 'nope'"),
    ],
)
def test_bad_options(kw: dict[str, object], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        _fit(_on_off(18, n_units=40), **kw)


def test_bad_data() -> None:
    frame = _on_off(19, n_units=40)
    with pytest.raises(DataValidationError, match="`treatment`: column 'x'"):
        ie.did.dcdh(frame, outcome="y", unit="id", time="t", treatment="x")
    with pytest.raises(DataValidationError, match="must be numeric"):
        _fit(frame.assign(d=frame["d"].astype(str)))
    with pytest.raises(DataValidationError, match="non-negative"):
        _fit(frame.assign(d=frame["d"] - 1))
    with pytest.raises(DataValidationError, match="duplicate"):
        _fit(pd.concat([frame, frame.iloc[:2]]))
    with pytest.raises(DataValidationError, match="changes within"):
        _fit(frame.assign(c=np.arange(len(frame)) % 3), cluster="c")
    with pytest.raises(DataValidationError, match=r"no unit is left.*40 whose first-period"):
        _fit(frame.assign(d=0.0))  # nobody switches: no variation in switch dates
    with pytest.raises(DataValidationError, match="no unit is left"):
        _fit(frame.assign(d=(frame["t"] >= 3).astype(float)))  # all switch together
    late = frame.assign(d=((frame["t"] >= 3 + frame["id"] % 2) & (frame["id"] < 30)) * 1.0)
    with pytest.raises(DataValidationError, match="no unit keeps its first-period"):
        _fit(late.assign(d=np.where(late["id"] >= 30, (late["t"] >= 5) * 1.0, late["d"])))
    with pytest.raises(DataValidationError, match="`outcome` must be a column name"):
        ie.did.dcdh(frame, outcome=None, unit="id", time="t", treatment="d")  # type: ignore[arg-type]


def test_no_warning_on_clean_data() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = _fit(_on_off(20), effects=2, placebo=1)
    assert res.warnings == ()


def test_weights_equal_duplicated_units() -> None:
    """Weight 2 on a unit gives the estimates of the panel with that unit twice."""
    frame = _on_off(21, n_units=200)
    heavy = frame["id"] % 3 == 0
    weighted = _fit(frame.assign(w=np.where(heavy, 2.0, 1.0)), effects=3, placebo=1, weights="w")
    copy = frame[heavy].assign(id=frame.loc[heavy, "id"] + 10_000)
    doubled = _fit(pd.concat([frame, copy]), effects=3, placebo=1)
    np.testing.assert_allclose(weighted.table["estimate"], doubled.table["estimate"], rtol=1e-10)
    assert weighted.overall.estimate == pytest.approx(doubled.overall.estimate, rel=1e-10)
    assert "weighted by w" in weighted.method
    with pytest.raises(DataValidationError, match="`weights`: column 'w' must be non-negative"):
        _fit(frame.assign(w=-1.0), weights="w")


def test_same_switchers_and_effects_equal_test() -> None:
    res = _fit(_on_off(22), effects=4, placebo=2, same_switchers=True)
    rows = res.table.set_index("event_time")
    assert rows.loc[[-1, 1, 2, 3, 4], "n_switchers"].nunique() == 1
    # placebo -2 also needs two periods before the switch (``same_switchers_pl`` not offered)
    assert rows.loc[-2, "n_switchers"] < rows.loc[-1, "n_switchers"]
    free = _fit(_on_off(22), effects=4, placebo=2).table.set_index("event_time")
    assert free.loc[1, "n_switchers"] > rows.loc[1, "n_switchers"]
    test = res.details["effects_equal_test"]
    assert test.df == 3 and test.p_value < 1e-6  # 1.5, 2.0, 0.5, 0 are not equal


def test_trends_nonparam_compares_within_strata() -> None:
    """Two regions with different trends and different switching dates: comparing across
    regions is biased, comparing within region is not."""
    rng = np.random.default_rng(23)
    n_units, n_periods = 600, 6
    region = np.arange(n_units) % 2
    early = rng.choice([3, 99], n_units)  # region 1: half switch at 3
    late = rng.choice([5, 99], n_units, p=[0.2, 0.8])  # region 0: few switch, at 5
    start = np.where(region == 1, early, late)
    t = np.arange(1, n_periods + 1)
    d = (t[None, :] >= start[:, None]).astype(float)
    y = rng.normal(size=(n_units, 1)) + np.where(region[:, None] == 1, 0.8, 0.0) * t + d
    frame = _panel(d, y + rng.normal(scale=0.3, size=d.shape), region=region)
    pooled = _fit(frame).table.set_index("event_time").loc[1, "estimate"]
    within = _fit(frame, trends_nonparam=["region"])
    assert abs(pooled - 1.0) > 0.2
    assert within.table.set_index("event_time").loc[1, "estimate"] == pytest.approx(1.0, abs=0.1)
    assert "within region" in within.method
    with pytest.raises(DataValidationError, match="must be constant within unit"):
        _fit(frame.assign(region=frame["t"] % 2), trends_nonparam=["region"])
