"""The balance table of nearest_neighbor is computed on request (lazily) and cached, with the
numbers an eager call of ie.diagnostics.balance on the matched data gives."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
import impacteval.matching._nn_result as nn_result
from impacteval.diagnostics.balance import BalanceTable
from impacteval.matching.nearest import MatchingEstimate, nearest_neighbor

COVS = ["x1", "x2", "c"]


@pytest.fixture()
def sim() -> pd.DataFrame:
    rng = np.random.default_rng(20261205)
    n = 600
    x = rng.normal(size=(n, 2))
    p = 1 / (1 + np.exp(-(x[:, 0] - 1.0)))
    z = (rng.uniform(size=n) < p).astype(float)
    y = x @ np.array([1.0, 0.5]) + 2.0 * z + rng.normal(size=n)
    frame = pd.DataFrame({"y": y, "z": z, "x1": x[:, 0], "x2": x[:, 1], "c": 1.0})
    frame.index = pd.Index([f"u{i}" for i in range(n)])
    frame.loc["u5", "x2"] = np.nan  # one incomplete row: dropped before matching
    return frame


class _Counter:
    def __init__(self, fn: Any) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, *args: Any, **kwargs: Any) -> BalanceTable:
        self.calls += 1
        return self.fn(*args, **kwargs)  # type: ignore[no-any-return]


def _fit(d: pd.DataFrame, **kw: Any) -> MatchingEstimate:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nearest_neighbor(d, outcome="y", treatment="z", covariates=COVS, **kw)


def _eager(d: pd.DataFrame, res: MatchingEstimate) -> BalanceTable:
    """The balance table computed at once from the complete rows and the matching weights
    (0 for units outside the matched sample), independently of the lazy path."""
    complete = d.dropna(subset=["y", "z", *COVS])
    w = pd.Series(0.0, index=complete.index)
    w.loc[res.matched.index] = res.matched["weights"]
    frame = complete[["z", *COVS]].assign(**{"matching weights": w})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ie.diagnostics.balance(
            frame, treatment="z", covariates=COVS, weights="matching weights"
        )


@pytest.mark.parametrize("kw", [{}, {"ratio": 2}, {"replace": True}, {"caliper": 0.2}])
def test_balance_is_computed_on_first_access_only(
    sim: pd.DataFrame, kw: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = _Counter(nn_result.balance)
    monkeypatch.setattr(nn_result, "balance", counter)
    res = _fit(sim, **kw)
    assert counter.calls == 0  # the call itself computes no balance statistic
    assert "balance" not in vars(res)  # nothing cached yet
    first = res.balance
    assert counter.calls == 1
    assert res.balance is first  # cached: the second access computes nothing
    assert counter.calls == 1


@pytest.mark.parametrize("kw", [{}, {"ratio": 3}, {"replace": True}, {"caliper": 0.1}])
def test_lazy_balance_equals_eager_balance(sim: pd.DataFrame, kw: dict[str, Any]) -> None:
    res = _fit(sim, **kw)
    lazy, eager = res.balance, _eager(sim, res)
    assert lazy is not None
    pd.testing.assert_frame_equal(lazy.table, eager.table, check_exact=True)
    assert lazy.omnibus == eager.omnibus
    assert (lazy.n_obs, lazy.n_treated, lazy.n_control) == (
        eager.n_obs,
        eager.n_treated,
        eager.n_control,
    )
    assert lazy.warnings == eager.warnings
    assert lazy.provenance.data_fingerprint == eager.provenance.data_fingerprint
    # the constant covariate's note is kept on the table, and reading it warns nothing new
    assert any("'c'" in m for m in lazy.warnings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh = _fit(sim, **kw)
        assert fresh.balance is not None
        fresh.balance.summary().as_text()


def test_balance_is_a_snapshot_of_the_data_as_matched(sim: pd.DataFrame) -> None:
    original = sim.copy()
    res = _fit(sim)
    sim["x1"] = sim["x1"] * 100.0 + 7.0  # the user edits the frame after matching
    assert res.balance is not None
    expected = _eager(original, _fit(original))
    pd.testing.assert_frame_equal(res.balance.table, expected.table, check_exact=True)


def test_derived_results_compute_the_same_balance(sim: pd.DataFrame) -> None:
    res = _fit(sim)
    other = res.with_level(0.9)
    assert isinstance(other, MatchingEstimate)
    assert res.balance is not None and other.balance is not None
    pd.testing.assert_frame_equal(other.balance.table, res.balance.table, check_exact=True)
    assert other == res.with_level(0.9)  # equality ignores the (lazy) balance


def test_no_covariates_means_no_balance(sim: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = _Counter(nn_result.balance)
    monkeypatch.setattr(nn_result, "balance", counter)
    p = 1 / (1 + np.exp(-(sim["x1"] - 1.0)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = nearest_neighbor(sim.assign(p=p), outcome="y", treatment="z", propensity="p")
    assert res.balance_request is None
    assert res.balance is None
    assert counter.calls == 0
