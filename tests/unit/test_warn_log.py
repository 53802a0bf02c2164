"""The warn-and-record helper points warnings at the user's line and keeps them."""

from __future__ import annotations

import warnings

import pytest

from impacteval._warn import WarningLog
from impacteval.exceptions import ImpactEvalWarning, SmallSampleWarning


def test_warning_is_recorded_and_attributed_to_the_callers_file() -> None:
    log = WarningLog()
    with pytest.warns(SmallSampleWarning, match="few clusters") as record:
        log.warn("few clusters", SmallSampleWarning)
    assert log.messages == ("few clusters",)
    # this test module is outside the impacteval package, so the warning points here
    assert record[0].filename == __file__


def test_default_category_and_record_without_issuing() -> None:
    log = WarningLog()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        log.warn("a")
        log.record("b")
    assert [w.category for w in seen] == [ImpactEvalWarning]
    assert log.messages == ("a", "b")
    assert len(log) == 2 and bool(log)
    assert not WarningLog()


def test_warning_from_inside_the_package_points_at_the_user_line() -> None:
    import numpy as np
    import pandas as pd

    import impacteval as ie

    df = pd.DataFrame({"y": np.arange(6.0), "d": [0, 1] * 3, "c": [0, 0, 1, 1, 2, 2]})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        ie.rct.regression(df, outcome="y", treatment="d", cluster="c")
    ours = [w for w in seen if issubclass(w.category, ImpactEvalWarning)]
    assert ours, "three clusters must warn"
    assert all(w.filename == __file__ for w in ours)
