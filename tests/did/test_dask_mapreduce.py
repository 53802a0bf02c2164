"""``att_gt``, ``twfe`` and ``two_by_two`` on a Dask DataFrame (map-reduce over partitions)
equal the in-memory results.

A ``distributed.LocalCluster`` of two worker processes (one thread each), the ``client``
fixture of ``tests/conftest.py`` shared by the Dask tests, does the work; nothing is mocked.
The panel is simulated (seed 11, 1,200 units x 6 periods, cohorts 3, 4, 5, never treated and
a cohort after the last period) and split into 4 partitions by unit. The partitions return
per-cohort moments, the client adds them (a different summation order from the in-memory
sums), so the cell estimates, their analytic SEs, the overall ATT and the pre-test agree to
rounding: the tolerance is 1e-10 on numbers of order one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from impacteval.did import att_gt, twfe, two_by_two
from impacteval.exceptions import DataValidationError

distributed = pytest.importorskip("distributed")  # the [dask] extra; `make test` installs it
dd = pytest.importorskip("dask.dataframe")

pytestmark = pytest.mark.filterwarnings("ignore::impacteval.exceptions.ImpactEvalWarning")


def panel(n: int = 1200, periods: int = 6, seed: int = 11) -> pd.DataFrame:
    """Also two covariates: ``x1`` nearly time-invariant and shifting trends, ``x2`` varying."""
    gen = np.random.default_rng(seed)
    cohort = gen.choice([0, 3, 4, 5, 9], size=n, p=[0.4, 0.2, 0.2, 0.15, 0.05])
    u = np.repeat(np.arange(n), periods)
    t = np.tile(np.arange(1, periods + 1), n)
    g = cohort[u]
    effect = np.where((g > 0) & (t >= g), 1.0 + 0.2 * (t - g), 0.0)
    x1 = gen.normal(size=n)[u] + 0.1 * gen.normal(size=n * periods)
    x2 = gen.normal(size=n * periods)
    y = gen.normal(size=n)[u] + 0.3 * t * (1 + 0.2 * x1) + effect + 0.5 * x2
    y = y + gen.normal(size=n * periods)
    return pd.DataFrame({"unit": u, "year": t, "y": y, "g": g, "x1": x1, "x2": x2})


def by_unit(df: pd.DataFrame, parts: int = 4) -> Any:
    """Partitioned by unit (``set_index``), the unit back as a column."""
    return dd.from_pandas(df.set_index("unit"), npartitions=parts).reset_index()


KW = {"outcome": "y", "unit": "unit", "time": "year", "cohort": "g"}
COLS = ["estimate", "std_error", "ci_lower", "ci_upper", "p_value"]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"control_group": "not_yet_treated", "method": "reg"},
        {"base_period": "universal", "method": "ipw"},
        {"anticipation": 1, "method": "dr_imp"},
        {"covariates": ["x1", "x2"], "method": "reg"},
        {"covariates": ["x1"], "method": "reg", "control_group": "not_yet_treated"},
        {"covariates": ["x1", "x2"], "method": "reg", "base_period": "universal"},
        {"covariates": ["x1", "x2"], "method": "ipw"},
        {"covariates": ["x1"], "method": "ipw", "control_group": "not_yet_treated"},
        {"covariates": ["x1", "x2"], "method": "dr"},
        {"covariates": ["x1", "x2"], "method": "dr", "base_period": "universal"},
    ],
)
def test_equals_in_memory(client: Any, options: dict[str, Any]) -> None:
    df = panel()
    ddf = by_unit(df)
    with distributed.get_task_stream(client) as stream:
        got = att_gt(ddf, **KW, **options)
    assert len(stream.data) >= 8  # two (three with covariates) passes over 4 partitions
    want = att_gt(df, **KW, **options)
    pd.testing.assert_frame_equal(
        got.table.drop(columns=COLS), want.table.drop(columns=COLS), check_dtype=False
    )
    np.testing.assert_allclose(
        got.table[COLS].to_numpy(), want.table[COLS].to_numpy(), rtol=0, atol=1e-10
    )
    assert got.overall is not None and want.overall is not None
    assert abs(got.overall.estimate - want.overall.estimate) < 1e-10
    assert abs(got.overall.std_error - want.overall.std_error) < 1e-10
    assert abs(got.pretrend_test().statistic - want.pretrend_test().statistic) < 1e-8
    for key in ("n_units", "n_units_as_if_never_treated", "groups", "periods"):
        assert got.details[key] == want.details[key]
    assert (got.n_obs, got.n_treated, got.n_control) == (
        want.n_obs,
        want.n_treated,
        want.n_control,
    )


def test_unbalanced_units_dropped_as_in_memory(client: Any) -> None:
    df = panel()
    df = df.drop(index=df.index[(df["unit"] % 97 == 0) & (df["year"] == 2)])  # 13 units
    got = att_gt(by_unit(df), **KW)
    want = att_gt(df, **KW)
    assert got.details["n_units_unbalanced_dropped"] == 13
    assert got.details["n_units"] == want.details["n_units"]
    np.testing.assert_allclose(
        got.table[COLS].to_numpy(), want.table[COLS].to_numpy(), rtol=0, atol=1e-10
    )


def test_unit_split_across_partitions_is_refused(client: Any) -> None:
    df = panel()
    # row-wise partitions of 7 blocks: boundaries fall inside units (7 does not divide 6 n)
    ddf = dd.from_pandas(df, npartitions=7, sort=False)
    with pytest.raises(DataValidationError, match="more than one partition"):
        att_gt(ddf, **KW)


def test_out_of_scope_is_refused_and_aggregate_says_why(client: Any) -> None:
    df = panel()
    df["x"] = np.arange(len(df), dtype=float)
    ddf = by_unit(df)
    with pytest.raises(DataValidationError, match="`method`"):
        att_gt(ddf, **KW, covariates=["x"], method="dr_imp")  # reg, ipw, dr only
    with pytest.raises(DataValidationError, match="`bootstrap`"):
        att_gt(ddf, **KW, bootstrap=99)
    res = att_gt(ddf, **KW)
    with pytest.raises(DataValidationError, match="aggregate"):
        res.aggregate("dynamic")


def twfe_panel(n: int = 800, periods: int = 6, seed: int = 5) -> pd.DataFrame:
    gen = np.random.default_rng(seed)
    cohort = gen.choice([0, 3, 4, 5], size=n)
    u = np.repeat(np.arange(n), periods)
    t = np.tile(np.arange(1, periods + 1), n)
    d = ((cohort[u] > 0) & (t >= cohort[u])).astype(float)
    x = gen.normal(size=n * periods) + 0.1 * t
    y = gen.normal(size=n)[u] + 0.3 * t + 1.5 * d + 0.5 * x + gen.normal(size=n * periods)
    return pd.DataFrame({"unit": u, "year": t, "y": y, "d": d, "x": x})


TWFE = {"outcome": "y", "treatment": "d", "unit": "unit", "time": "year"}


@pytest.mark.parametrize(
    "options",
    [{}, {"covariates": ["x"]}, {"se_type": "stata"}, {"se_type": "CR0", "covariates": ["x"]}],
)
def test_twfe_equals_in_memory(client: Any, options: dict[str, Any]) -> None:
    df = twfe_panel()
    with distributed.get_task_stream(client) as stream:
        got = twfe(by_unit(df), **TWFE, **options)
    assert len(stream.data) >= 16  # four passes over 4 partitions ran on the workers
    want = twfe(df, **TWFE, **options)
    for attr in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value"):
        assert abs(getattr(got, attr) - getattr(want, attr)) < 1e-10, attr
    cols = ["estimate", "std_error", "p_value", "ci_lower", "ci_upper", "df"]
    np.testing.assert_allclose(
        got.details["coefficients"][cols].to_numpy(),
        want.details["coefficients"][cols].to_numpy(),
        rtol=0,
        atol=1e-10,
    )
    assert (got.n_obs, got.n_treated, got.n_clusters, got.df) == (
        want.n_obs,
        want.n_treated,
        want.n_clusters,
        want.df,
    )
    assert got.details["small_sample_factor"] == pytest.approx(
        want.details["small_sample_factor"], rel=1e-14
    )


def test_twfe_out_of_scope_is_refused(client: Any) -> None:
    df = twfe_panel()
    with pytest.raises(DataValidationError, match="`se_type`"):
        twfe(by_unit(df), **TWFE, se_type="CR2")
    unbalanced = df.drop(index=df.index[:1])
    with pytest.raises(DataValidationError, match="balanced panel"):
        twfe(by_unit(unbalanced), **TWFE)


def two_period_panel(n: int = 600, seed: int = 2) -> pd.DataFrame:
    gen = np.random.default_rng(seed)
    g = gen.integers(0, 2, n)
    u = np.repeat(np.arange(n), 2)
    p = np.tile([0, 1], n)
    x = gen.normal(size=2 * n)
    y = gen.normal(size=n)[u] + 0.5 * p + g[u] * p + 0.4 * x + gen.normal(size=2 * n)
    return pd.DataFrame({"unit": u, "post": p, "tr": g[u], "y": y, "x": x})


TBT = {"outcome": "y", "treated": "tr", "post": "post"}


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"covariates": ["x"], "se_type": "HC3"},
        {"se_type": "HC1"},
        {"se_type": "drdid"},
        {"unit": "unit"},
        {"unit": "unit", "covariates": ["x"], "se_type": "HC0"},
        {"unit": "unit", "se_type": "drdid"},
    ],
)
def test_two_by_two_equals_in_memory(client: Any, options: dict[str, Any]) -> None:
    df = two_period_panel()
    with distributed.get_task_stream(client) as stream:
        got = two_by_two(by_unit(df, 3), **TBT, **options)
    assert len(stream.data) >= 6  # two passes over 3 partitions ran on the workers
    want = two_by_two(df, **TBT, **options)
    for attr in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value"):
        assert abs(getattr(got, attr) - getattr(want, attr)) < 1e-10, attr
    assert (got.df, got.n_obs, got.n_treated) == (want.df, want.n_obs, want.n_treated)
    assert got.details["form"] == want.details["form"]
    for cell, mean in want.details["cell_means"].items():
        assert got.details["cell_means"][cell] == pytest.approx(mean, abs=1e-12)


def test_two_by_two_balance_and_refusals(client: Any) -> None:
    df = two_period_panel().drop(index=[0, 5, 8])  # units 0, 2, 4 seen once
    got = two_by_two(by_unit(df, 3), **TBT, unit="unit", balance=True)
    want = two_by_two(df, **TBT, unit="unit", balance=True)
    assert abs(got.estimate - want.estimate) < 1e-10
    assert abs(got.std_error - want.std_error) < 1e-10
    assert (got.n_obs, got.n_dropped) == (want.n_obs, want.n_dropped) == (597, 3)
    with pytest.raises(DataValidationError, match="balance=True"):
        two_by_two(by_unit(df, 3), **TBT, unit="unit")
    with pytest.raises(DataValidationError, match="`cluster`"):
        two_by_two(by_unit(df, 3), **TBT, cluster="unit")
    # row blocks of 171 rows: boundaries fall between a unit's two rows
    split = dd.from_pandas(two_period_panel(), chunksize=171, sort=False)
    with pytest.raises(DataValidationError, match="more than one partition"):
        two_by_two(split, **TBT, unit="unit")
