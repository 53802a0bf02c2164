"""multisynth refuses bad input with a message naming the parameter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError

COLS = {"outcome": "y", "unit": "unit", "time": "period", "treatment": "d"}


def panel(start: list[int], n: int = 8, t: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    s = np.array(start + [t] * (n - len(start)))
    d = np.arange(t)[None, :] >= s[:, None]
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), t),
            "period": np.tile(np.arange(t), n),
            "y": rng.normal(size=n * t),
            "d": d.ravel().astype(int),
        }
    )


GOOD = panel([4, 5])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"nu": 1.5}, "`nu` must be None .* in \\[0, 1\\]; received 1.5"),
        ({"nu": -0.1}, "`nu`"),
        ({"nu": "auto"}, "`nu`"),
        ({"n_leads": 0}, "`n_leads` must be None or an int from 1 to 4"),
        ({"n_leads": 5}, "`n_leads`.*received 5"),
        ({"n_lags": 6}, "`n_lags` must be None or an int from 1 to 5"),
        ({"n_lags": 2.5}, "`n_lags`"),
        ({"ridge": -1.0}, "`ridge` must be a finite number >= 0"),
        ({"inference": "bootstrap"}, "`inference`"),
        ({"level": 1.2}, "`level`"),
        ({"fixedeff": "yes"}, "`fixedeff` must be True or False"),
        ({"n_jobs": 0}, "`n_jobs`"),
        ({"rng": -3}, "`rng`"),
    ],
)
def test_bad_options(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        ie.synth.multisynth(GOOD, **COLS, **kwargs)  # type: ignore[arg-type]


def test_treatment_not_binary() -> None:
    bad = GOOD.assign(d=GOOD["d"] * 2)
    with pytest.raises(DataValidationError, match=r"`treatment`.*0/1 indicator"):
        ie.synth.multisynth(bad, **COLS)


def test_treatment_not_absorbing() -> None:
    bad = GOOD.copy()
    bad.loc[(bad["unit"] == 0) & (bad["period"] == 6), "d"] = 0
    with pytest.raises(DataValidationError, match=r"must be absorbing.*unit 0 is treated in 5"):
        ie.synth.multisynth(bad, **COLS)


def test_never_treated_and_treated_from_start() -> None:
    with pytest.raises(DataValidationError, match="is 0 everywhere"):
        ie.synth.multisynth(GOOD.assign(d=0), **COLS)
    with pytest.raises(DataValidationError, match="unit 0 is treated from the first period"):
        ie.synth.multisynth(panel([0, 5]), **COLS)


def test_no_donor() -> None:
    # default n_leads = 1 (periods after the last adoption): unit 3 (adopting at 6) needs a
    # unit first treated after 7, and there is none
    everyone = panel([4, 5, 5, 6, 6, 7, 7, 7])
    with pytest.raises(DataValidationError, match="`n_leads`: treated unit 3 has no donor"):
        ie.synth.multisynth(everyone, **COLS)


def test_unbalanced_and_duplicates() -> None:
    with pytest.raises(DataValidationError, match="balanced panel"):
        ie.synth.multisynth(GOOD.iloc[1:], **COLS)
    with pytest.raises(DataValidationError, match="once"):
        ie.synth.multisynth(pd.concat([GOOD, GOOD.iloc[:1]]), **COLS)


def test_missing_column_and_treatment_type() -> None:
    with pytest.raises(DataValidationError, match="'nope'"):
        ie.synth.multisynth(GOOD, **{**COLS, "outcome": "nope"})
    with pytest.raises(DataValidationError, match="`treatment` must be a column name"):
        ie.synth.multisynth(GOOD, **{**COLS, "treatment": 3})  # type: ignore[dict-item]


def test_missing_outcome_rows_are_counted_then_refused_as_unbalanced() -> None:
    bad = GOOD.copy()
    bad.loc[3, "y"] = np.nan
    with (
        pytest.warns(ie.exceptions.MissingDataWarning, match="1 of 64 rows dropped"),
        pytest.raises(DataValidationError, match="1 rows were dropped for missing values"),
    ):
        ie.synth.multisynth(bad, **COLS)


def test_plot_kind() -> None:
    res = ie.synth.multisynth(GOOD, **COLS, inference="none")
    with pytest.raises(DataValidationError, match="`kind` must be one of"):
        res.plot(kind="bars")
