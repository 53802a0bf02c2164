"""``.sensitivity(...)`` on att_gt and event_study results is ``ie.did.honest`` on them.

Each one-liner is compared with the direct call: the same robust intervals (frame equal),
breakdown value, original interval and event times. The relative-magnitudes C-LF interval
simulates its critical value with a fixed seed inside ``honest``, so equal inputs give
equal numbers.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError, ImpactEvalWarning


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return ie.datasets.load("mpdta")


@pytest.fixture(scope="module")
def group_time(mpdta: pd.DataFrame) -> ie.did.GroupTimeEffects:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)  # 3 degenerate pre-period cells
        return ie.did.att_gt(
            mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first_treat",
            base_period="universal",
        )  # fmt: skip


@pytest.fixture(scope="module")
def event_study(mpdta: pd.DataFrame) -> ie.did.EventStudyTable:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)
        return ie.did.event_study(
            mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first_treat",
            method="sun_abraham",
        )  # fmt: skip


def _same(a: ie.did.HonestSensitivity, b: ie.did.HonestSensitivity) -> None:
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    assert a.breakdown == b.breakdown or (a.breakdown != a.breakdown and b.breakdown != b.breakdown)
    assert (a.event_times, a.target, a.method) == (b.event_times, b.target, b.method)
    assert (a.original.estimate, a.original.std_error) == (
        b.original.estimate,
        b.original.std_error,
    )


def test_group_time_sensitivity_is_honest_on_the_dynamic_aggregation(
    group_time: ie.did.GroupTimeEffects,
) -> None:
    via_method = group_time.sensitivity(m=[0, 0.5, 1], e=1)
    _same(via_method, ie.did.honest(group_time, m=[0, 0.5, 1], e=1))
    _same(via_method, ie.did.honest(group_time.aggregate("dynamic"), m=[0, 0.5, 1], e=1))
    assert via_method.n_pre == 3 and via_method.n_post == 4


def test_group_time_sensitivity_window(group_time: ie.did.GroupTimeEffects) -> None:
    via_method = group_time.sensitivity(min_e=-2, max_e=2, method="smoothness", e="average")
    direct = ie.did.honest(
        group_time.aggregate("dynamic", min_e=-2, max_e=2), method="smoothness", e="average"
    )
    _same(via_method, direct)
    assert via_method.event_times == (-2, 0, 1, 2)


def test_event_study_sensitivity_is_honest(event_study: ie.did.EventStudyTable) -> None:
    for kwargs in ({"m": [0, 1]}, {"method": "smoothness", "e": "average", "threshold": 0.01}):
        _same(event_study.sensitivity(**kwargs), ie.did.honest(event_study, **kwargs))


def test_bad_arguments_are_honest_s_errors(
    group_time: ie.did.GroupTimeEffects, event_study: ie.did.EventStudyTable
) -> None:
    with pytest.raises(DataValidationError, match="`method`"):
        event_study.sensitivity(method="relative")
    with pytest.raises(TypeError, match="unexpected keyword"):
        group_time.sensitivity(bound=1)
