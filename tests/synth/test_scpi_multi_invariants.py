"""Invariants of synthetic_control_multi and its prediction intervals, and bad input.

- With one treated unit the pooled rules reduce to the single-unit ones, so the weights,
  effects and intervals equal ``synthetic_control(predictors=()).prediction_intervals`` with
  the same seed (the same draws in the same order); the two fit the same simplex problem
  with different exact solvers, hence 1e-6.
- The ``"unit"`` effect is the mean of the unit's ``"unit-time"`` effects and the
  ``"time"`` effect the mean over units at each event time (exact arithmetic: 1e-12).
- The in-sample bounds bracket the synthetic prediction (``d = 0`` is always feasible).
- Same seed, same table; another seed moves only the simulated in-sample bounds.
"""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError, MissingColumnError

matplotlib.use("Agg")

KW = {"outcome": "y", "unit": "u", "time": "t", "treatment": "d"}


def _panel(
    adoption: dict[str, int], seed: int = 3, n_donors: int = 10, t: int = 26
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(t, 2)).cumsum(axis=0)
    lam = rng.uniform(0.5, 2.0, (n_donors, 2))
    y0 = 5 + f @ lam.T + rng.normal(0, 0.3, (t, n_donors))
    rows = [(f"d{j:02d}", s, y0[s, j], 0) for j in range(n_donors) for s in range(t)]
    for name, t0 in adoption.items():
        loading = rng.dirichlet(np.ones(3)) @ lam[rng.choice(n_donors, 3, replace=False)]
        y = 5 + f @ loading + rng.normal(0, 0.3, t) + 1.5 * (np.arange(t) >= t0)
        rows += [(name, s, y[s], int(s >= t0)) for s in range(t)]
    return pd.DataFrame(rows, columns=["u", "t", "y", "d"])


STAGGERED = {"A": 18, "B": 20, "C": 22}


def _fit(effect: str, data: pd.DataFrame | None = None) -> ie.synth.SyntheticControlMulti:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ie.synth.synthetic_control_multi(
            _panel(STAGGERED) if data is None else data, effect=effect, level=0.9, **KW
        )


def test_one_treated_unit_equals_single_unit_method() -> None:
    data = _panel({"A": 19})
    multi = _fit("unit-time", data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = ie.synth.synthetic_control(
            data.drop(columns="d"),
            outcome="y",
            unit="u",
            time="t",
            treated_unit="A",
            treatment_time=19,
            inference="none",
            level=0.9,
        )
    np.testing.assert_allclose(
        multi.weights["A"], single.weights.loc[multi.weights.index], atol=1e-6
    )
    for method in ("gaussian", "ls", "qreg"):
        a = multi.prediction_intervals(out_of_sample=method, n_sims=60, rng=7).to_frame()
        b = single.prediction_intervals(out_of_sample=method, n_sims=60, rng=7).to_frame()
        cols = ["estimate", "insample_lower", "insample_upper", "lower", "upper"]
        np.testing.assert_allclose(a[cols].to_numpy(), b[cols].to_numpy(), atol=1e-6)


def test_unit_and_time_effects_are_means_of_unit_time() -> None:
    ut = _fit("unit-time").to_frame()
    unit = _fit("unit").to_frame().set_index("unit")["estimate"]
    np.testing.assert_allclose(
        unit, ut.groupby("unit")["estimate"].mean().loc[unit.index], atol=1e-12
    )
    time = _fit("time").to_frame()
    k = ut.groupby("unit")["event_time"].max().min() + 1
    assert time["event_time"].tolist() == list(range(k))
    expected = ut[ut["event_time"] < k].groupby("event_time")["estimate"].mean()
    np.testing.assert_allclose(time["estimate"], expected, atol=1e-12)


def test_weights_on_simplex_and_result_fields() -> None:
    fit = _fit("unit-time")
    assert list(fit.weights.columns) == ["A", "B", "C"]
    np.testing.assert_allclose(fit.weights.sum(axis=0), 1.0, atol=1e-12)
    assert (fit.weights.to_numpy() >= 0).all()
    assert fit.adoption.to_dict() == STAGGERED
    assert dict(fit.details["post_periods"]) == {"A": 8, "B": 6, "C": 4}
    assert fit.index_columns == ("unit", "time")
    assert np.isnan(fit.table["ci_lower"]).all()
    assert "each treated unit in each post period" in str(fit)


@pytest.mark.parametrize("effect", ["unit-time", "unit", "time"])
def test_intervals_bracket_and_are_seeded(effect: str) -> None:
    fit = _fit(effect)
    a = fit.prediction_intervals(n_sims=50, rng=1).to_frame()
    b = fit.prediction_intervals(n_sims=50, rng=1).to_frame()
    c = fit.prediction_intervals(n_sims=50, rng=2).to_frame()
    pd.testing.assert_frame_equal(a, b)
    syn = a["synthetic"].to_numpy()
    assert (a["insample_lower"] <= syn + 1e-12).all() and (syn <= a["insample_upper"] + 1e-12).all()
    np.testing.assert_allclose(a["outsample_lower"], c["outsample_lower"])
    assert not np.allclose(a["insample_lower"], c["insample_lower"])
    assert a["ci_upper"].ge(a["ci_lower"]).all()


def test_plots() -> None:
    for effect in ("unit-time", "unit", "time"):
        fit = _fit(effect)
        assert fit.plot() is not None
        assert fit.prediction_intervals(n_sims=50, rng=0).plot() is not None


def test_pre_fit_warning_names_the_unit() -> None:
    data = _panel({"A": 18})
    data.loc[(data["u"] == "A") & (data["t"] < 18), "y"] += 100.0
    with pytest.warns(ie.synth.control_multi.PoorPreFitWarning, match="'A' in 18 of 18"):
        fit = ie.synth.synthetic_control_multi(data, **KW)
    assert any("'A'" in w for w in fit.warnings)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (
            {"effect": "units"},
            DataValidationError,
            r"`effect` must be one of .*received 'units'.*did you mean 'unit'",
        ),
        ({"level": 0}, DataValidationError, r"`level` must be a confidence level"),
        ({"treatment": "dd"}, MissingColumnError, r"treatment"),
    ],
)
def test_bad_arguments(change: dict[str, object], error: type[Exception], match: str) -> None:
    kw: dict[str, object] = {**KW, **change}
    with pytest.raises(error, match=match):
        ie.synth.synthetic_control_multi(_panel(STAGGERED), **kw)  # type: ignore[arg-type]


def _broken(kind: str) -> pd.DataFrame:
    data = _panel(STAGGERED)
    if kind == "not binary":
        data.loc[data["u"] == "A", "d"] *= 2
    elif kind == "switch off":
        data.loc[(data["u"] == "A") & (data["t"] == 25), "d"] = 0
    elif kind == "never treated":
        data["d"] = 0
    elif kind == "one donor":
        data = data[~data["u"].isin([f"d{j:02d}" for j in range(1, 10)])]
    elif kind == "early adoption":
        data.loc[(data["u"] == "A") & (data["t"] >= 3), "d"] = 1
    elif kind == "duplicate":
        data = pd.concat([data, data.iloc[[0]]])
    elif kind == "missing outcome":
        data.loc[data.index[5], "y"] = np.nan
    return data


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("not binary", r"`treatment`: column 'd' must hold only 0 and 1; received \d+ other"),
        ("switch off", r"`treatment` must be absorbing .* unit 'A' switches from 1 back to 0"),
        ("never treated", r"`treatment`: no unit is ever treated"),
        ("one donor", r"at least two never-treated units .* received 1"),
        ("early adoption", r"treated unit 'A' has 3 pre-treatment periods; at least 5"),
        ("duplicate", r"`data` has 1 duplicate \(u, t\) rows"),
        ("missing outcome", r"balanced panel with no missing `outcome` .* received 1 missing"),
    ],
)
def test_bad_data(kind: str, match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        ie.synth.synthetic_control_multi(_broken(kind), **KW)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"level": 1.5}, r"`level` must be a confidence level .* received 1\.5"),
        (
            {"out_of_sample": "Gaussian"},
            r"`out_of_sample` must be one of .*did you mean 'gaussian'",
        ),
        ({"n_sims": 10}, r"`n_sims` must be an integer >= 50; received 10"),
        ({"rho": 0}, r"`rho` must be a number in \(0, 1\] or None; received 0"),
        ({"rho_max": None}, r"`rho_max` must be a number in \(0, 1\]; received None"),
        ({"rng": -1}, r"`rng` must be a non-negative int seed"),
    ],
)
def test_bad_interval_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        _fit("unit").prediction_intervals(**kwargs)  # type: ignore[arg-type]
