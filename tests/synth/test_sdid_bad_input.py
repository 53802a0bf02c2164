"""Synthetic DiD: bad input gets a clear error naming the parameter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import (
    DataValidationError,
    ImpactEvalWarning,
    MissingColumnError,
    MissingDataWarning,
)


def panel(n: int = 8, t: int = 6, n_tr: int = 2, start: int = 4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = (np.arange(n)[:, None] < n_tr) & (np.arange(t) >= start)
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), t),
            "time": np.tile(np.arange(t), n),
            "y": rng.normal(size=n * t) + d.ravel(),
            "d": d.ravel().astype(int),
        }
    )


def run(data: pd.DataFrame, **kw: object) -> ie.synth.SyntheticDiD:
    kw.setdefault("se", None)
    return ie.synth.synthetic_did(data, outcome="y", unit="unit", time="time", treatment="d", **kw)


def test_unbalanced_panel() -> None:
    data = panel().drop(index=7)
    with pytest.raises(DataValidationError, match=r"balanced panel.*unit 1 in period 1"):
        run(data)


def test_missing_outcome_makes_the_panel_unbalanced_and_says_so() -> None:
    data = panel()
    data.loc[3, "y"] = np.nan
    with pytest.warns(MissingDataWarning), pytest.raises(DataValidationError, match="dropped"):
        run(data)


def test_duplicate_unit_period() -> None:
    data = panel()
    with pytest.raises(DataValidationError, match="appears 2 times"):
        run(pd.concat([data, data.iloc[[5]]]))


def test_treatment_not_absorbing() -> None:
    data = panel()
    data.loc[(data["unit"] == 0) & (data["time"] == 5), "d"] = 0
    with pytest.raises(
        DataValidationError, match=r"absorbing.*unit 0 is treated in 4 but not in 5"
    ):
        run(data)


def test_no_treated_unit() -> None:
    with pytest.raises(DataValidationError, match=r"`treatment`.*0 everywhere"):
        run(panel().assign(d=0))


def test_every_unit_treated() -> None:
    data = panel()
    data["d"] = (data["time"] >= 4).astype(int)
    with pytest.raises(DataValidationError, match="never-treated"):
        run(data)


@pytest.mark.parametrize("start", [0, 1])
def test_fewer_than_two_pre_periods(start: int) -> None:
    with pytest.raises(DataValidationError, match=f"leaving {start} pre-treatment"):
        run(panel(start=start))


def test_non_binary_treatment() -> None:
    data = panel()
    data["d"] = data["d"] * 2.0
    with pytest.raises(DataValidationError, match=r"`treatment`.*0/1.*\[0\.0, 2\.0\]"):
        run(data)


@pytest.mark.parametrize("se", ["bootstrap", "jackknife"])
def test_bootstrap_and_jackknife_need_two_treated_units(se: str) -> None:
    with pytest.raises(DataValidationError, match=f"`se`: '{se}' is undefined with a single"):
        run(panel(n_tr=1), se=se)
    run(panel(n_tr=1), se="placebo", n_reps=5, rng=0)  # placebo is defined


def test_jackknife_needs_two_treated_units_per_cohort() -> None:
    data = panel(n=10, t=8, n_tr=3, start=5)
    data.loc[(data["unit"] == 0) & (data["time"] == 5), "d"] = 0  # unit 0 adopts at 6 alone
    with pytest.raises(DataValidationError, match="cohort 6 has one"):
        run(data, se="jackknife")


def test_placebo_needs_more_controls_than_treated() -> None:
    with pytest.raises(DataValidationError, match="more control units than treated"):
        run(panel(n=6, n_tr=3), se="placebo")


def test_jackknife_with_one_donor_is_nan_with_a_warning() -> None:
    data = panel(n=6, n_tr=2)
    # both treated units copy control 5 exactly before treatment: SC puts all weight on it
    wide = data.pivot(index="unit", columns="time", values="y")
    rng = np.random.default_rng(1)
    wide.loc[5] = np.cumsum(rng.normal(size=6)) * 10
    wide.loc[0] = wide.loc[5] + data["d"].to_numpy().reshape(6, 6)[0]
    wide.loc[1] = wide.loc[5] + data["d"].to_numpy().reshape(6, 6)[1]
    data["y"] = wide.to_numpy().ravel()
    with pytest.warns(ImpactEvalWarning) as record:
        res = run(data, method="sc", se="jackknife")
    messages = " | ".join(str(w.message) for w in record)
    assert "single control carries all" in messages and "not recommended" in messages
    assert res.unit_weights.max() == pytest.approx(1.0)
    assert np.isnan(res.std_error) and any("NaN" in w for w in res.warnings)


@pytest.mark.parametrize(
    ("kw", "pattern"),
    [
        ({"method": "synth"}, "`method` must be one of"),
        ({"se": "Placebo"}, "did you mean 'placebo'"),
        ({"n_reps": 1}, "`n_reps` must be an integer >= 2"),
        ({"rng": -1}, "`rng` must be"),
        ({"level": 95}, "`level` must be a confidence level"),
        ({"n_jobs": 0}, "`n_jobs` must be None or a non-zero int"),
    ],
)
def test_bad_arguments(kw: dict[str, object], pattern: str) -> None:
    with pytest.raises(DataValidationError, match=pattern):
        run(panel(), **kw)


def test_missing_column_and_wrong_types() -> None:
    with pytest.raises(MissingColumnError, match=r"`outcome`: column 'yy'.*did you mean 'y'"):
        ie.synth.synthetic_did(panel(), outcome="yy", unit="unit", time="time", treatment="d")
    with pytest.raises(DataValidationError, match="`unit` must be a column name"):
        ie.synth.synthetic_did(panel(), outcome="y", unit=["unit"], time="time", treatment="d")  # type: ignore[arg-type]
    with pytest.raises(DataValidationError, match="`data` must be a pandas DataFrame"):
        ie.synth.synthetic_did({"y": [1]}, outcome="y", unit="u", time="t", treatment="d")  # type: ignore[arg-type]
