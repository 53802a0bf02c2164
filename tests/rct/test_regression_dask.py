"""``rct.regression`` on a Dask DataFrame (map-reduce over partitions) equals the in-memory fit.

Tolerance 1e-10 relative (the issue's bar): the in-memory fit solves through a QR factor,
the map-reduce one through the Gram matrix added up over partitions; for these designs
(centred covariates, condition numbers below 1e6) the two differ by about 1e-14 relative,
so 1e-10 leaves four orders of magnitude and still fails on any wrong sum or factor. The
last case runs on a real ``distributed.LocalCluster`` of two worker processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError, MissingDataWarning

dd = pytest.importorskip("dask.dataframe")  # the [dask] extra; `make test` installs it

RTOL = 1e-10


def nsw(clusters: int = 37) -> pd.DataFrame:
    df = ie.datasets.load("nsw_dw")
    df["cl"] = np.arange(len(df)) % clusters  # every cluster spans several partitions
    return df


def assert_same(a: ie.EffectEstimate, b: ie.EffectEstimate) -> None:
    for name in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=RTOL, err_msg=name)
    assert (b.n_obs, b.n_treated, b.n_control, b.n_clusters, b.n_dropped) == (
        a.n_obs,
        a.n_treated,
        a.n_control,
        a.n_clusters,
        a.n_dropped,
    )
    ca, cb = a.details["coefficients"], b.details["coefficients"]
    assert list(cb.index) == list(ca.index)
    np.testing.assert_allclose(cb.to_numpy(), ca.to_numpy(), rtol=RTOL)
    np.testing.assert_allclose(
        b.details["vcov"].to_numpy(), a.details["vcov"].to_numpy(), rtol=RTOL
    )


@pytest.mark.parametrize("se_type", ["HC0", "HC1", "HC2", "HC3"])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"covariates": ["age", "educ", "re75"]},
        {"covariates": ["age"], "adjustment": "additive"},
    ],
)
def test_heteroskedasticity_robust(se_type: str, kw: dict[str, Any]) -> None:
    data = nsw()
    a = ie.rct.regression(data, outcome="re78", treatment="treat", se_type=se_type, **kw)
    b = ie.rct.regression(
        dd.from_pandas(data, npartitions=4), outcome="re78", treatment="treat", se_type=se_type,
        **kw,
    )  # fmt: skip
    assert_same(a, b)
    assert "map-reduce over 4 Dask partitions" in b.method


@pytest.mark.parametrize("covariates", [(), ("age", "educ", "re74")])
def test_cluster_robust_cr1_with_clusters_across_partitions(covariates: tuple[str, ...]) -> None:
    data = nsw()
    kw: dict[str, Any] = {"outcome": "re78", "treatment": "treat", "covariates": covariates,
                          "cluster": "cl", "se_type": "CR1"}  # fmt: skip
    a = ie.rct.regression(data, **kw)
    b = ie.rct.regression(dd.from_pandas(data, npartitions=3), **kw)
    assert b.n_clusters == 37
    assert_same(a, b)


def test_missing_rows_are_dropped_and_counted() -> None:
    data = nsw()
    data.loc[[3, 100, 250], "age"] = np.nan
    data.loc[[7], "re78"] = np.nan
    kw: dict[str, Any] = {"outcome": "re78", "treatment": "treat", "covariates": ["age"],
                          "se_type": "HC1"}  # fmt: skip
    with pytest.warns(MissingDataWarning, match="4 of 445 rows"):
        a = ie.rct.regression(data, **kw)
    with pytest.warns(MissingDataWarning, match="4 of 445 rows"):
        b = ie.rct.regression(dd.from_pandas(data, npartitions=5), **kw)
    assert b.n_dropped == 4
    assert_same(a, b)


def test_default_se_type_is_hc2_and_cr2_is_refused() -> None:
    data = nsw()
    ddf = dd.from_pandas(data, npartitions=2)
    b = ie.rct.regression(ddf, outcome="re78", treatment="treat")
    assert b.details["se_type"] == "HC2"
    with pytest.raises(DataValidationError, match=r"`se_type`.*CR1.*CR2 needs"):
        ie.rct.regression(ddf, outcome="re78", treatment="treat", cluster="cl")


@pytest.mark.parametrize(
    ("kw", "pattern"),
    [
        ({"fixed_effects": "cl"}, "`fixed_effects` is not available on a Dask DataFrame"),
        ({"weights": "age"}, "`weights` is not available on a Dask DataFrame"),
        ({"outcome": "re_78"}, "`outcome`: column 're_78' is not in the data"),
        ({"treatment": "age"}, "`treatment`: column 'age' must be binary"),
        ({"covariates": ["age", "age2"]}, "collinear"),
        ({"inference": "wild", "cluster": "cl"}, "'wild' is not available for a dask DataFrame"),
    ],
)
def test_bad_input(kw: dict[str, Any], pattern: str) -> None:
    data = nsw()
    data["age2"] = 2.0 * data["age"]
    args: dict[str, Any] = {"outcome": "re78", "treatment": "treat", "se_type": "HC1", **kw}
    with pytest.raises(DataValidationError, match=pattern):
        ie.rct.regression(dd.from_pandas(data, npartitions=2), **args)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    cl = distributed.Client(cluster)
    try:
        yield cl
    finally:
        cl.close()
        cluster.close()


def test_on_a_local_cluster(client: Any) -> None:
    data = nsw()
    kw: dict[str, Any] = {"outcome": "re78", "treatment": "treat", "covariates": ["age", "educ"],
                          "cluster": "cl", "se_type": "CR1"}  # fmt: skip
    a = ie.rct.regression(data, **kw)
    b = ie.rct.regression(dd.from_pandas(data, npartitions=4), **kw)  # the client computes
    assert_same(a, b)
