"""``rct.regression`` on a Dask DataFrame (map-reduce over partitions) equals the in-memory fit.

Tolerance 1e-10 relative (the issue's bar): the in-memory fit solves through a QR factor,
the map-reduce one through the Gram matrix added up over partitions; for these designs
(centred covariates, condition numbers below 1e6) the two differ by about 1e-14 relative,
so 1e-10 leaves four orders of magnitude and still fails on any wrong sum or factor. The
last cases (CR1; CR2 with its Bell-McCaffrey df, which needs each cluster in one partition;
classical, CR0 and "stata", each also checked against a closed form or another type) run on
a real ``distributed.LocalCluster`` of two worker processes.
"""

from __future__ import annotations

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
    for name in ("estimate", "std_error", "df", "ci_lower", "ci_upper", "p_value"):
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


def test_default_se_type_is_hc2_and_cr2_with_cluster() -> None:
    data = nsw()
    b = ie.rct.regression(dd.from_pandas(data, npartitions=2), outcome="re78", treatment="treat")
    assert b.details["se_type"] == "HC2"
    by_cluster = dd.from_pandas(data, npartitions=2).shuffle(on="cl")
    a = ie.rct.regression(data, outcome="re78", treatment="treat", cluster="cl")
    b = ie.rct.regression(by_cluster, outcome="re78", treatment="treat", cluster="cl")
    assert a.details["se_type"] == b.details["se_type"] == "CR2"
    assert_same(a, b)


def test_cr2_refuses_a_cluster_spanning_partitions() -> None:
    data = nsw()  # cluster = row % 37: every cluster is in all three partitions
    with pytest.raises(DataValidationError, match=r"`cluster`: 37 clusters of column 'cl'.*"
                       r"more than one partition.*data.set_index\('cl'\).*shuffle"):  # fmt: skip
        ie.rct.regression(dd.from_pandas(data, npartitions=3), outcome="re78",
                          treatment="treat", cluster="cl")  # fmt: skip
    # one cluster split, the others whole: still refused, naming that cluster
    data = data.sort_values("cl", kind="stable")
    head = data[data["cl"] <= 5]
    moved = head.index[head["cl"] == 5][:3]
    ddf = dd.concat([dd.from_pandas(head.drop(moved), npartitions=1),
                     dd.from_pandas(data.loc[moved], npartitions=1),
                     dd.from_pandas(data[data["cl"] > 5], npartitions=1)])  # fmt: skip
    with pytest.raises(DataValidationError, match=r"`cluster`: 1 clusters .*\(e.g. 5\)"):
        ie.rct.regression(ddf, outcome="re78", treatment="treat", cluster="cl", se_type="CR2")


@pytest.mark.parametrize("se_type", ["CR1", "CR2"])
def test_clusters_per_arm_checked_as_in_memory(se_type: str) -> None:
    data = nsw()
    data["cl"] = np.where(data["treat"] == 1, 0, 1 + np.arange(len(data)) % 5)  # 1 treated
    kw: dict[str, Any] = {"outcome": "re78", "treatment": "treat", "cluster": "cl",
                          "se_type": se_type}  # fmt: skip
    pattern = r"`cluster`: column 'cl' must give at least 2 clusters per arm.*1 treated and 5"
    with pytest.raises(DataValidationError, match=pattern):
        ie.rct.regression(data, **kw)
    with pytest.raises(DataValidationError, match=pattern):
        ie.rct.regression(dd.from_pandas(data, npartitions=2).shuffle(on="cl"), **kw)


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


def test_on_a_local_cluster(client: Any) -> None:
    data = nsw()
    kw: dict[str, Any] = {"outcome": "re78", "treatment": "treat", "covariates": ["age", "educ"],
                          "cluster": "cl", "se_type": "CR1"}  # fmt: skip
    a = ie.rct.regression(data, **kw)
    b = ie.rct.regression(dd.from_pandas(data, npartitions=4), **kw)  # the client computes
    assert_same(a, b)


def cluster_trial(seed: int = 17) -> pd.DataFrame:
    """A cluster-randomised trial with unequal cluster sizes: 8 singletons, the rest 2-40."""
    rng = np.random.default_rng(seed)
    sizes = np.concatenate([np.ones(8, dtype=int), rng.integers(2, 41, size=40)])
    cl = np.repeat(np.arange(sizes.size), sizes)
    treated = rng.permutation(np.arange(sizes.size) % 2)  # half the clusters treated
    n = cl.size
    x1 = rng.normal(size=n) + 0.3 * rng.normal(size=sizes.size)[cl]
    x2 = rng.gamma(2.0, 1.5, size=n)
    noise = rng.normal(size=sizes.size)[cl] + rng.normal(size=n) * (1 + 0.5 * np.abs(x1))
    y = 1.0 + 0.8 * treated[cl] + 0.5 * x1 - 0.2 * x2 + 0.4 * treated[cl] * x1 + noise
    order = rng.permutation(n)  # rows not sorted by cluster
    return pd.DataFrame({"y": y, "z": treated[cl], "x1": x1, "x2": x2, "school": cl}).iloc[order]


@pytest.mark.parametrize(
    ("kw", "partition"),
    [
        ({}, "shuffle"),  # (a) plain design
        ({"covariates": ["x1", "x2"]}, "set_index"),  # (b) Lin adjustment, cluster as index
        ({"covariates": ["x1", "x2"], "adjustment": "additive"}, "shuffle"),
    ],
)
def test_cr2_on_a_local_cluster(client: Any, kw: dict[str, Any], partition: str) -> None:
    # (c) unequal cluster sizes with singletons, (d) 5 partitions, each cluster in one
    data = cluster_trial()
    args: dict[str, Any] = {"outcome": "y", "treatment": "z", "cluster": "school", **kw}
    a = ie.rct.regression(data, **args)
    frame = dd.from_pandas(data, npartitions=5)
    ddf = frame.set_index("school") if partition == "set_index" else frame.shuffle(on="school")
    assert ddf.npartitions == 5
    b = ie.rct.regression(ddf, **args)
    assert b.details["se_type"] == "CR2"
    assert b.n_clusters == 48
    assert "CR2, map-reduce over 5 Dask partitions" in b.method
    assert_same(a, b)
    # the Bell-McCaffrey df, not G - 1 (48 clusters would give 47 for every term)
    assert np.all(b.details["coefficients"]["df"].to_numpy() < 47.0)


def test_cr2_with_an_empty_partition_a_singleton_partition_and_missing_rows(
    client: Any,
) -> None:
    data = cluster_trial(seed=3).sort_values("school", kind="stable")
    # singleton cluster 0 loses its only row; two rows of a larger cluster are dropped too
    data.loc[data.index[data["school"] == 0], "x1"] = np.nan
    data.loc[data.index[data["school"] == 20][:2], "y"] = np.nan
    pieces = [data[data["school"] < 8], data.iloc[:0], data[data["school"] == 8],
              data[data["school"] > 8]]  # fmt: skip
    ddf = dd.concat([dd.from_pandas(p, npartitions=1) for p in pieces])
    assert ddf.npartitions == 4
    args: dict[str, Any] = {"outcome": "y", "treatment": "z", "covariates": ["x1"],
                            "cluster": "school"}  # fmt: skip
    with pytest.warns(MissingDataWarning, match="3 of"):
        a = ie.rct.regression(data, **args)
    with pytest.warns(MissingDataWarning, match="3 of"):
        b = ie.rct.regression(ddf, **args)
    assert b.n_clusters == 47
    assert_same(a, b)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"covariates": ["age", "educ", "re75"]},
        {"covariates": ["age"], "adjustment": "additive"},
    ],
)
def test_classical_on_a_local_cluster(client: Any, kw: dict[str, Any]) -> None:
    data = nsw()
    args: dict[str, Any] = {"outcome": "re78", "treatment": "treat", "se_type": "classical", **kw}
    a = ie.rct.regression(data, **args)
    b = ie.rct.regression(dd.from_pandas(data, npartitions=4), **args)
    assert b.details["se_type"] == "classical"
    assert_same(a, b)
    k = len(b.details["coefficients"])
    assert b.df == len(data) - k
    if not kw:  # the pooled-variance two-sample t: s_p^2 (1/n1 + 1/n0), computed directly
        y, z = data["re78"].to_numpy(), data["treat"].to_numpy() == 1
        rss = ((y[z] - y[z].mean()) ** 2).sum() + ((y[~z] - y[~z].mean()) ** 2).sum()
        pooled = rss / (len(y) - 2) * (1 / z.sum() + 1 / (~z).sum())
        np.testing.assert_allclose(b.std_error, np.sqrt(pooled), rtol=RTOL)


@pytest.mark.parametrize("covariates", [(), ("age", "educ", "re74")])
def test_cr0_and_stata_on_a_local_cluster(client: Any, covariates: tuple[str, ...]) -> None:
    """Clusters span the partitions (CR0 and "stata" are score sums, like CR1). "stata" is
    CR1 under another name in memory, so it must equal CR1 here; CR0 is CR1 without
    Stata's factor G/(G-1) (n-1)/(n-k)."""
    data = nsw()
    kw: dict[str, Any] = {"outcome": "re78", "treatment": "treat", "covariates": covariates,
                          "cluster": "cl"}  # fmt: skip
    ddf = dd.from_pandas(data, npartitions=3)
    out = {}
    for se_type in ("CR0", "stata", "CR1"):
        a = ie.rct.regression(data, **kw, se_type=se_type)
        b = ie.rct.regression(ddf, **kw, se_type=se_type)
        assert b.details["se_type"] == se_type and b.n_clusters == 37 and b.df == 36
        assert_same(a, b)
        out[se_type] = b
    np.testing.assert_allclose(out["stata"].std_error, out["CR1"].std_error, rtol=RTOL)
    n, k, g = len(data), len(out["CR0"].details["coefficients"]), 37
    factor = g / (g - 1) * (n - 1) / (n - k)
    np.testing.assert_allclose(
        out["CR1"].std_error, out["CR0"].std_error * np.sqrt(factor), rtol=RTOL
    )


def test_unclustered_and_clustered_types_match_cluster() -> None:
    data = nsw()
    ddf = dd.from_pandas(data, npartitions=2)
    with pytest.raises(DataValidationError, match=r"`se_type`.*received 'CR0' without"):
        ie.rct.regression(ddf, outcome="re78", treatment="treat", se_type="CR0")
    with pytest.raises(DataValidationError, match=r"`se_type`.*received 'classical' with"):
        ie.rct.regression(ddf, outcome="re78", treatment="treat", se_type="classical",
                          cluster="cl")  # fmt: skip
