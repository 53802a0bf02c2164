"""The shared panel layer (impacteval._panel.prepare_panel): coding, checks, balancing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from impacteval._panel import format_label, prepare_panel
from impacteval.exceptions import DataValidationError


def _panel(n_units: int = 4, n_periods: int = 3) -> pd.DataFrame:
    rows = [
        {"id": i, "t": 2000 + t, "y": float(10 * i + t), "g": 2001 if i % 2 else 0, "w": 1.0 + i}
        for i in range(n_units)
        for t in range(n_periods)
    ]
    return pd.DataFrame(rows)


def test_sorted_panel_takes_the_block_path_and_codes_agree_with_the_general_path():
    df = _panel()
    fast = prepare_panel(df, unit="id", time="t", outcome="y", cohort="g")
    shuffled = df.sample(frac=1.0, random_state=3)
    slow = prepare_panel(shuffled, unit="id", time="t", outcome="y", cohort="g")
    assert fast.in_order and not slow.in_order
    np.testing.assert_array_equal(fast.wide("y"), slow.wide("y"))
    np.testing.assert_array_equal(fast.cohort, [np.inf, 2001, np.inf, 2001])
    np.testing.assert_array_equal(fast.cohort, slow.cohort)
    assert fast.unit_labels.tolist() == slow.unit_labels.tolist() == [0, 1, 2, 3]
    assert fast.periods.tolist() == slow.periods.tolist() == [2000.0, 2001.0, 2002.0]
    # the row codes of the fast path, built on demand, index the same cells
    assert fast.wide("y")[fast.unit_codes, fast.period_codes].tolist() == df["y"].tolist()
    assert fast.balanced and slow.balanced


def test_missing_and_infinite_cohorts_mean_never_treated():
    df = _panel().astype({"g": float})
    df.loc[df["id"] == 0, "g"] = np.nan
    df.loc[df["id"] == 2, "g"] = np.inf
    p = prepare_panel(df, unit="id", time="t", outcome="y", cohort="g")
    np.testing.assert_array_equal(p.cohort, [np.inf, 2001, np.inf, 2001])
    assert p.n_dropped == 0  # a missing cohort is a code, not a missing value
    assert p.treated()[1].tolist() == [False, True, True]


def test_duplicate_rows_are_refused_naming_a_unit_and_period():
    df = pd.concat([_panel(), _panel().iloc[[4]]])
    with pytest.raises(
        DataValidationError, match=r"2 rows share a \(unit, period\).*unit 1 in period 2001"
    ):
        prepare_panel(df, unit="id", time="t", outcome="y")


def test_cohort_changing_within_a_unit_names_the_unit():
    df = _panel()
    df.loc[(df["id"] == 2) & (df["t"] == 2002), "g"] = 2002
    with pytest.raises(
        DataValidationError, match=r"`cohort`: column 'g' changes within a unit \(e.g. unit 2\)"
    ):
        prepare_panel(df, unit="id", time="t", outcome="y", cohort="g")
    # the general path (unsorted rows) finds the same unit
    with pytest.raises(DataValidationError, match=r"unit 2\)"):
        prepare_panel(df.iloc[::-1], unit="id", time="t", outcome="y", cohort="g")


def test_other_unit_constant_columns_are_checked_and_kept_per_unit():
    df = _panel()
    p = prepare_panel(
        df, unit="id", time="t", outcome="y", numeric={"weights": "w"}, unit_constant=("weights",)
    )
    assert p.unit_values["weights"].tolist() == [1.0, 2.0, 3.0, 4.0]
    df.loc[5, "w"] = 99.0
    with pytest.raises(DataValidationError, match=r"`weights`: column 'w' changes within a unit"):
        prepare_panel(
            df,
            unit="id",
            time="t",
            outcome="y",
            numeric={"weights": "w"},
            unit_constant=("weights",),
        )


def test_unbalanced_panel_is_reported_and_restrict_balances_it():
    df = _panel().drop(index=[4])  # unit 1 misses period 2001
    p = prepare_panel(df, unit="id", time="t", outcome="y", cohort="g")
    assert not p.balanced and not p.in_order
    assert p.counts.tolist() == [3, 2, 3, 3]
    assert np.isnan(p.wide("y")[1, 1])
    b = p.restrict(p.complete_units)
    assert b.balanced and b.n_units == 3 and b.n_rows == 9
    assert b.unit_labels.tolist() == [0, 2, 3]
    np.testing.assert_array_equal(b.cohort, [np.inf, np.inf, 2001])
    np.testing.assert_array_equal(b.column("y"), df.loc[df["id"] != 1, "y"])
    # dropping a period re-codes the periods
    late = p.restrict(keep_period=np.array([False, True, True]))
    assert late.periods.tolist() == [2001.0, 2002.0] and late.n_rows == 7
    assert p.restrict() is p


def test_label_periods_and_first_appearance_order():
    df = pd.DataFrame(
        {"u": ["b", "b", "a", "a"], "t": ["q2", "q1", "q1", "q2"], "y": [1.0, 2, 3, 4]}
    )
    p = prepare_panel(
        df, unit="u", time="t", outcome="y", numeric_time=False, unit_order="appearance"
    )
    assert p.unit_labels.tolist() == ["b", "a"] and p.periods.tolist() == ["q1", "q2"]
    assert p.wide("y").tolist() == [[2.0, 1.0], [3.0, 4.0]]


def test_repeated_cross_sections_make_every_row_a_unit():
    df = _panel()
    p = prepare_panel(
        df,
        unit=None,
        time="t",
        outcome="y",
        cohort="g",
        numeric={"weights": "w"},
        unit_constant=("weights",),
    )
    assert not p.is_panel and not p.balanced and p.n_units == len(df)
    assert p.unit_values["weights"].tolist() == df["w"].tolist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"unit": ["id"]}, r"`unit` must be a column name \(str\); received \['id'\]"),
        ({"time": 3}, r"`time` must be a column name \(str\); received 3"),
        ({"outcome": "nope"}, r"nope"),
        ({"cohort": "label"}, r"`cohort`: column 'label' must be numeric"),
        ({"unit_order": "random"}, r"`unit_order`"),
    ],
)
def test_bad_inputs_name_the_parameter(kwargs, message):
    df = _panel().assign(label="x")
    args = {"unit": "id", "time": "t", "outcome": "y", **kwargs}
    with pytest.raises(DataValidationError, match=message):
        prepare_panel(df, **args)


def test_negative_cohort_and_single_period_are_refused():
    df = _panel()
    df.loc[0, "g"] = -1
    with pytest.raises(DataValidationError, match=r"`cohort`.*>= 0"):
        prepare_panel(df, unit="id", time="t", outcome="y", cohort="g")
    one = _panel(n_periods=1)
    with pytest.raises(DataValidationError, match=r"`time`: column 't' has 1 distinct period"):
        prepare_panel(one, unit="id", time="t", outcome="y")


def test_non_numeric_time_is_refused_when_numeric_time():
    df = _panel().astype({"t": str})
    with pytest.raises(DataValidationError, match=r"`time`: column 't' must be numeric"):
        prepare_panel(df, unit="id", time="t", outcome="y")


def test_format_label():
    assert [format_label(v) for v in (np.float64(8001.0), 2.5, np.int64(3), "TX", True)] == [
        "8001",
        "2.5",
        "3",
        "'TX'",
        "True",
    ]
