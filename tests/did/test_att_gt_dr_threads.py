"""``att_gt(method="dr")`` with covariates runs its cell batches on two threads.

The threads must not change a bit of the result, the error raised when several batches
fail must be the first in plan order (as in a serial loop), and a warning issued while
fitting must still point at the user's line.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
import impacteval.did._cs_numerics as cs_numerics
import impacteval.did._drdid as drdid
from impacteval.did.att_gt import GroupTimeEffects, att_gt
from impacteval.exceptions import ConvergenceWarning, DataValidationError


def run(data: pd.DataFrame, **kwargs: Any) -> GroupTimeEffects:
    return att_gt(
        data, outcome="lemp", unit="countyreal", time="year", cohort="first_treat", **kwargs
    )


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    data: pd.DataFrame = ie.datasets.load("mpdta")
    rng = np.random.default_rng(11)
    units = data["countyreal"].unique()
    w = pd.Series(rng.uniform(0.5, 2.0, units.size), index=units)
    return data.assign(
        w=data["countyreal"].map(w),
        # a covariate that changes over time: one batch per (cohort, period) then
        lpop_t=data["lpop"] + 0.01 * (data["year"] - 2004) * rng.normal(size=len(data)),
    )


@pytest.mark.filterwarnings("ignore:.*degenerate standard error")
@pytest.mark.parametrize(
    "kwargs",
    [
        {"covariates": ["lpop"]},
        {"covariates": ["lpop"], "weights": "w"},
        {"covariates": ["lpop_t"], "control_group": "not_yet_treated"},
        {"covariates": ["lpop"], "base_period": "universal"},
    ],
)
def test_threads_change_no_bit(
    mpdta: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any]
) -> None:
    monkeypatch.setattr(cs_numerics, "KERNEL_THREADS", 1)
    serial = run(mpdta, method="dr", **kwargs).to_frame()
    monkeypatch.setattr(cs_numerics, "KERNEL_THREADS", 2)
    threaded = run(mpdta, method="dr", **kwargs).to_frame()
    for column in ("estimate", "std_error"):
        np.testing.assert_array_equal(threaded[column].to_numpy(), serial[column].to_numpy())


def test_threaded_map_keeps_order_and_uses_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.setattr(cs_numerics, "KERNEL_THREADS", 2)
    seen: set[int] = set()
    barrier = threading.Barrier(2, timeout=10)

    def work(i: int) -> int:
        seen.add(threading.get_ident())
        if i < 2:
            barrier.wait()  # only passes if the first two items run at the same time
        return i * i

    assert cs_numerics.threaded(work, list(range(7))) == [i * i for i in range(7)]
    assert len(seen) == 2


@pytest.mark.parametrize("threads", [1, 2])
def test_first_failing_batch_in_plan_order_is_reported(
    mpdta: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    monkeypatch.setattr(cs_numerics, "KERNEL_THREADS", threads)
    # separates the 2006 and 2007 cohorts from the never treated: both batches fail the
    # overlap check; the error names the earlier cohort's first cell, as a serial loop does
    sep = mpdta["first_treat"].isin([2006, 2007]) * 10.0 + 0.01 * mpdta["lpop"]
    with pytest.raises(DataValidationError, match=r"overlap fails in cell \(g, t\) = \(2006, "):
        run(mpdta.assign(sep=sep), covariates=["sep"], method="dr")


def test_refit_warning_points_at_the_user_line(
    mpdta: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a logit reported as not converged: the estimator refits it and warns, from the
    # calling thread, pointed at this file
    real = drdid.logit_newton

    def not_converged(*args: Any, **kwargs: Any) -> tuple[np.ndarray, bool]:
        beta, _ = real(*args, **kwargs)
        return beta, False

    monkeypatch.setattr(drdid, "logit_newton", not_converged)
    monkeypatch.setattr(cs_numerics, "logit_newton", not_converged)
    monkeypatch.setattr(cs_numerics, "KERNEL_THREADS", 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(mpdta, covariates=["lpop"], method="dr")
    hits = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert hits, "the refit's ConvergenceWarning was not issued"
    assert all(w.filename == __file__ for w in hits), {w.filename for w in hits}
