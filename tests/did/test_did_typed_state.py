"""Typed state on DiD results: EventStudyTable.vcov and GroupTimeEffects.fit / inference_setup."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import impacteval as ie
from impacteval.did._cs_numerics import GroupTimeFit

MPDTA = {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first_treat"}


@pytest.mark.parametrize("method", ["twfe", "sun_abraham", "imputation"])
def test_event_study_vcov_is_in_table_order_with_the_reference_row_zero(method: str) -> None:
    mpdta = ie.datasets.load("mpdta")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        es = ie.did.event_study(mpdta, **MPDTA, method=method)
    assert es.vcov is not None
    events = es.table["event_time"].tolist()
    assert es.vcov.index.tolist() == events and es.vcov.columns.tolist() == events
    ref = es.table["reference"].to_numpy(dtype=bool)
    # the reference row is a normalisation (estimate fixed at 0): zero variance and covariance
    assert np.all(es.vcov.to_numpy()[ref] == 0.0) and np.all(es.vcov.to_numpy()[:, ref] == 0.0)
    # the other rows are details["vcov"] (kept for readers), reordered to the table
    rest = [e for e, r in zip(events, ref, strict=True) if not r]
    legacy = es.details["vcov"].loc[rest, rest].to_numpy()
    np.testing.assert_array_equal(es.vcov.loc[rest, rest].to_numpy(), legacy)
    # the diagonal gives the table's standard errors
    se = np.sqrt(np.diag(es.vcov.to_numpy()))[~ref]
    np.testing.assert_allclose(se, es.table.loc[~ref, "std_error"].to_numpy(), rtol=1e-12)


def test_group_time_effects_carry_fit_and_inference_setup_as_fields() -> None:
    mpdta = ie.datasets.load("mpdta")
    res = ie.did.att_gt(mpdta, **MPDTA, method="reg", level=0.9)
    assert isinstance(res.fit, GroupTimeFit)
    np.testing.assert_array_equal(res.fit.att, res.table["estimate"].to_numpy())
    assert res.inference_setup.level == 0.9 and res.inference_setup.bootstrap is None
    assert res.details["fit"] is res.fit  # kept readable in details
    # aggregations start from the typed fields: same level unless asked otherwise
    assert res.aggregate("simple").level == 0.9
    assert res.aggregate("simple", level=0.95).level == 0.95
