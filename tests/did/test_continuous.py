"""Unit tests of ``ie.did.continuous`` (difference in differences with a continuous dose)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError, ImpactEvalWarning

COLS = {"outcome": "y", "unit": "id", "time": "t", "cohort": "g", "dose": "d"}


def panel(
    n: int = 300,
    periods: int = 2,
    effect=lambda d: 2.0 * d,
    noise: float = 1.0,
    seed: int = 0,
    pre_dose_zero: bool = False,
) -> pd.DataFrame:
    """Units 0..n/3 never treated; the others treated from a cohort in 2..periods with a
    dose U(0.1, 1); effect(d) added from the cohort on; unit and time effects."""
    rng = np.random.default_rng(seed)
    cohorts = np.where(np.arange(n) < n // 3, 0, rng.integers(2, periods + 1, n))
    dose = np.where(cohorts > 0, rng.uniform(0.1, 1.0, n), 0.0)
    alpha = rng.normal(size=n)
    rows = []
    for t in range(1, periods + 1):
        treated = (cohorts > 0) & (t >= cohorts)
        y = alpha + 0.5 * t + noise * rng.normal(size=n) + np.where(treated, effect(dose), 0.0)
        d_col = np.where(treated | ((cohorts > 0) & ~pre_dose_zero), dose, 0.0)
        rows.append(pd.DataFrame({"id": np.arange(n), "t": t, "y": y, "g": cohorts, "d": d_col}))
    return pd.concat(rows, ignore_index=True)


def test_noise_free_linear_response_is_exact() -> None:
    df = panel(noise=0.0)
    res = ie.did.continuous(df, **COLS, degree=1)
    dose = res.table["dose"].to_numpy()
    np.testing.assert_allclose(res.table["estimate"], 2.0 * dose, atol=1e-10)
    np.testing.assert_allclose(res.acrt.table["estimate"], 2.0, atol=1e-10)
    assert res.overall_acrt.estimate == pytest.approx(2.0, abs=1e-10)
    treated = df[(df.g > 0) & (df.t == 2)]
    assert res.overall.estimate == pytest.approx(2.0 * treated.d.mean(), abs=1e-10)


def test_noise_free_quadratic_staggered_with_cubic_sieve() -> None:
    df = panel(periods=4, noise=0.0, effect=lambda d: d + 3.0 * d**2, seed=1)
    res = ie.did.continuous(df, **COLS, degree=3, num_knots=1)
    dose = res.table["dose"].to_numpy()
    np.testing.assert_allclose(res.table["estimate"], dose + 3.0 * dose**2, atol=1e-8)
    np.testing.assert_allclose(res.acrt.table["estimate"], 1.0 + 6.0 * dose, atol=1e-7)


def test_result_contract() -> None:
    res = ie.did.continuous(panel(), **COLS)
    assert isinstance(res, ie.did.DoseResponse)
    assert list(res.table.columns) == [
        "dose", "estimate", "std_error", "ci_lower", "ci_upper", "p_value",
        "band_lower", "band_upper",
    ]  # fmt: skip
    assert len(res) == 50 and res.index_columns == ("dose",)
    assert res.estimand == "ATT(d)" and res.acrt.estimand == "ACRT(d)"
    assert res.overall.estimand == "ATT^o" and res.overall_acrt.estimand == "ACRT^o"
    assert res.estimate == res.overall.estimate
    assert res.n_treated == 200 and res.n_control == 100 and res.n_obs == 600
    assert res.n_dropped == 0 and res.warnings == ()
    assert "ATT(d)" in str(res) and "ATT(d)" in res._repr_html_()
    assert res.provenance.options["degree"] == 3 and res.provenance.data_fingerprint
    # analytic: the band is the pointwise interval
    np.testing.assert_array_equal(res.table["band_lower"], res.table["ci_lower"])
    cells = res.details["cells"]
    assert cells["weight"].sum() == pytest.approx(1.0)


def test_dose_grid_and_level() -> None:
    res = ie.did.continuous(panel(), **COLS, dose_grid=[0.5, 0.2], level=0.9)
    np.testing.assert_array_equal(res.table["dose"], [0.2, 0.5])
    row = res.table.iloc[0]
    half = row.ci_upper - row.estimate
    assert half == pytest.approx(1.6448536 * row.std_error, rel=1e-6)


def test_pre_treatment_dose_coding_is_equivalent() -> None:
    a = ie.did.continuous(panel(periods=3), **COLS)
    b = ie.did.continuous(panel(periods=3, pre_dose_zero=True), **COLS)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())


def test_bootstrap_seeded_and_uniform_band() -> None:
    df = panel()
    a = ie.did.continuous(df, **COLS, bootstrap=499, rng=3)
    b = ie.did.continuous(df, **COLS, bootstrap=499, rng=3)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    t = a.to_frame()
    assert (t.band_upper - t.band_lower >= t.ci_upper - t.ci_lower - 1e-12).all()
    assert (t.band_upper - t.band_lower > t.ci_upper - t.ci_lower).any()
    assert "bootstrap" in a.method


def test_event_study_aggregation() -> None:
    df = panel(periods=4, seed=2)
    es = ie.did.continuous(df, **COLS, aggregation="event_study")
    assert list(es.table["event_time"]) == [-2, -1, 0, 1, 2]
    assert es.estimand == "ATT^o(e)"
    slope = ie.did.continuous(df, **COLS, aggregation="event_study", target="slope")
    assert slope.estimand == "ACRT^o(e)"
    post = slope.table[slope.table.event_time >= 0]
    assert slope.overall.estimate == pytest.approx(post.estimate.mean())


def test_never_treated_controls_and_universal_base() -> None:
    df = panel(periods=3, seed=4)
    nev = ie.did.continuous(df, **COLS, control_group="never_treated")
    assert (nev.details["cells"]["n_control"] == 100).all()
    uni = ie.did.continuous(df, **COLS, base_period="universal", aggregation="event_study")
    assert list(uni.table["event_time"]) == [-2, 0, 1]  # -1 is the reference period
    cells = uni.details["cells"]
    assert (cells["base_period"] == cells["group"] - 1).all()
    # cohort 3 in period 1 against base 2: cohort 2 is treated at the base, so only the
    # never-treated units compare
    early = cells[(cells.group == 3) & (cells.time == 1)]
    assert early["n_control"].tolist() == [100]


def test_plot_draws_both_curves() -> None:
    res = ie.did.continuous(panel(), **COLS)
    ax = res.plot()
    assert len(ax.figure.axes) == 2
    assert len(ax.collections) == 1  # analytic: the pointwise ribbon only
    boot = ie.did.continuous(panel(), **COLS, bootstrap=199, rng=0)
    assert len(boot.plot().collections) == 2  # and the uniform band
    _fig, one = plt.subplots()
    assert res.plot(ax=one) is one
    plt.close("all")


def test_anticipation() -> None:
    rng = np.random.default_rng(8)
    n, periods = 300, 5
    cohort = np.where(np.arange(n) < 100, 0, rng.integers(3, periods + 1, n))
    dose = np.where(cohort > 0, rng.uniform(0.1, 1.0, n), 0.0)
    frames = []
    for t in range(1, periods + 1):
        on = (cohort > 0) & (t >= cohort - 1)  # units react one period early
        y = 0.3 * t + np.where(on, 2.0 * dose, 0.0)
        frames.append(pd.DataFrame({"id": np.arange(n), "t": t, "y": y, "g": cohort, "d": dose}))
    df = pd.concat(frames, ignore_index=True)
    res = ie.did.continuous(df, **COLS, degree=1, anticipation=1)
    np.testing.assert_allclose(res.acrt.table["estimate"], 2.0, atol=1e-9)
    np.testing.assert_allclose(res.table["estimate"], 2.0 * res.table["dose"], atol=1e-9)
    cells = res.details["cells"]
    post = cells[cells.time >= cells.group]
    assert (post.base_period == post.group - 2).all()
    naive = ie.did.continuous(df, **COLS, degree=1)  # the early reaction biases the slope
    assert abs(naive.overall_acrt.estimate - 2.0) > 0.1
    es = ie.did.continuous(df, **COLS, degree=1, anticipation=1, aggregation="event_study")
    assert es.table.set_index("event_time").loc[-1, "estimate"] > 0.5  # the early effect
    with pytest.warns(ImpactEvalWarning, match="first period"):
        ie.did.continuous(df, **COLS, degree=1, anticipation=2)


def test_dropped_rows_are_counted() -> None:
    df = panel(periods=3)
    df.loc[(df.id == 150) & (df.t == 2), "y"] = np.nan  # a treated unit loses a period
    df.loc[df.id == 160, "g"] = 1  # treated from the first period
    df.loc[df.id == 160, "d"] = 0.5
    with pytest.warns(ImpactEvalWarning) as rec:
        res = ie.did.continuous(df, **COLS)
    assert res.n_dropped == 1 + 2 + 3
    assert res.details["n_units_unbalanced"] == 1
    assert res.details["n_units_always_treated"] == 1
    assert len(res.warnings) == 2 and len(rec) >= 2


def test_polars_and_pyarrow_inputs() -> None:
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    df = panel()
    ref = ie.did.continuous(df, **COLS).to_frame()
    for other in (pl.from_pandas(df), pa.Table.from_pandas(df)):
        pd.testing.assert_frame_equal(ie.did.continuous(other, **COLS).to_frame(), ref)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda df: df.assign(d=df.d.where(df.id != 200, -1.0)), "must be finite and >= 0"),
        (lambda df: df.assign(d=df.d.where(df.id != 200, np.nan)), "missing values"),
        (lambda df: df.assign(d=df.d.astype(str)), "must be numeric"),
        (lambda df: df.assign(d=np.where(df.id == 5, 0.3, df.d)), "never-treated units"),
        (lambda df: df.assign(d=np.where(df.id == 200, 0.0, df.d)), "positive dose"),
        (
            lambda df: df.assign(d=np.where((df.id == 200) & (df.t == 1), 9.0, df.d)),
            "before a unit's treatment",
        ),
        (lambda df: df.drop(columns="d"), "dose"),
    ],
)
def test_bad_dose(change, match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        ie.did.continuous(change(panel()), **COLS)


def test_dose_changing_after_treatment() -> None:
    df = panel(periods=3, seed=5)
    unit = int(df[df.g == 2].id.iloc[0])
    df.loc[(df.id == unit) & (df.t == 3), "d"] = 5.0
    with pytest.raises(DataValidationError, match="constant within unit"):
        ie.did.continuous(df, **COLS)


def test_cohort_after_the_last_period_is_untreated() -> None:
    df = panel(periods=3, seed=6)
    base = ie.did.continuous(df, **COLS)
    late = df.copy()
    late.loc[late.id < 10, "g"] = 9  # never-treated units that start after the panel ends
    late.loc[late.id < 10, "d"] = 0.7
    res = ie.did.continuous(late, **COLS)
    pd.testing.assert_frame_equal(res.to_frame(), base.to_frame())
    assert res.n_control == base.n_control == 100


def test_event_study_bootstrap_band() -> None:
    df = panel(periods=4, seed=2)
    es = ie.did.continuous(df, **COLS, aggregation="event_study", bootstrap=999, rng=0)
    again = ie.did.continuous(df, **COLS, aggregation="event_study", bootstrap=999, rng=0)
    pd.testing.assert_frame_equal(es.to_frame(), again.to_frame())
    assert "sup-t" in es.ci_method
    t = es.to_frame()
    assert ((t.ci_upper - t.ci_lower) > 2 * 1.959964 * t.std_error).all()


def test_no_untreated_units() -> None:
    df = panel(periods=3)
    df = df[df.g > 0]
    with pytest.raises(DataValidationError, match="never_treated"):
        ie.did.continuous(df, **COLS, control_group="never_treated")
    two = panel()
    with pytest.raises(DataValidationError, match="no comparison units"):
        ie.did.continuous(two[two.g > 0], **COLS)


def test_too_few_doses_for_the_sieve() -> None:
    df = panel()
    df["d"] = np.where(df.g > 0, np.where(df.id % 2 == 0, 0.3, 0.6), 0.0)
    with pytest.raises(DataValidationError, match="distinct doses"):
        ie.did.continuous(df, **COLS, degree=3)
    res = ie.did.continuous(df, **COLS, degree=1)  # two doses: a line is identified
    assert np.isfinite(res.overall_acrt.estimate)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"aggregation": "group"}, "aggregation"),
        ({"target": "att"}, "target"),
        ({"degree": 0}, "degree"),
        ({"num_knots": -1}, "num_knots"),
        ({"dose_grid": [0.5, -1]}, "dose_grid"),
        ({"dose_grid": "abc"}, "dose_grid"),
        ({"control_group": "nevertreated"}, "control_group"),
        ({"base_period": "fixed"}, "base_period"),
        ({"bootstrap": 1}, "bootstrap"),
        ({"level": 95}, "level"),
        ({"rng": "seed"}, "rng"),
        ({"anticipation": -1}, "anticipation"),
        ({"dose": 3}, "dose"),
    ],
)
def test_bad_options(kw: dict[str, object], match: str) -> None:
    args = {**COLS, **kw}
    with pytest.raises(DataValidationError, match=match):
        ie.did.continuous(panel(), **args)


@pytest.mark.parametrize("degree", [1, 3])
def test_overall_att_equals_binary_did_with_one_cohort_and_two_periods(degree: int) -> None:
    # the sieve regression has an intercept, so the treated units' average fitted ATT(d) is
    # their mean outcome change: ATT^o is the binary DiD against the dose-0 units, i.e.
    # att_gt's single cell (no covariates), estimate and influence function alike
    data = panel(n=400, periods=2, effect=lambda d: 1.0 + np.sin(3 * d), seed=4)
    res = ie.did.continuous(data, **COLS, degree=degree, num_knots=0)
    wide = data.pivot(index="id", columns="t", values="y")
    change = wide[2] - wide[1]
    treated = data.drop_duplicates("id").set_index("id")["g"] > 0
    binary = change[treated].mean() - change[~treated].mean()
    assert res.overall.estimate == pytest.approx(binary, abs=1e-12)
    cell = ie.did.att_gt(data, outcome="y", unit="id", time="t", cohort="g", method="reg")
    assert cell.overall.estimate == pytest.approx(binary, abs=1e-12)
    assert res.overall.std_error == pytest.approx(cell.overall.std_error, rel=1e-10)
