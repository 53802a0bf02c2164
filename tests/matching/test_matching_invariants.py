"""Invariants of the matching and weighting estimators that theory fixes exactly.

1. IPW with a constant propensity score is the difference in means (Hajek and
   Horvitz-Thompson, ATE and ATT), and its sandwich SE with the score treated as known is
   the Neyman SE with divisor n (not n - 1) in the arm variances; AIPW with a constant score
   and constant outcome models reduces to the same.
2. AIPW with both nuisance models correct is unbiased: seeded simulation, stated draws and
   tolerance.
3. Nearest-neighbour matching does not depend on the order of the rows when no two units
   share a score, in every mode (with/without replacement, caliper, k:1, exact cells, ATC);
   with tied scores too: the default rule breaks ties by the index label (MatchIt's rule,
   the tied control earlier in the data wins, when the index is a RangeIndex in file
   order), and Match's rule (``ties=True``) keeps every tied control.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier, DummyRegressor

import impacteval as ie
from impacteval.matching import aipw, ipw, nearest_neighbor

REF = Path(__file__).resolve().parents[1] / "reference" / "data"


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    gen = np.random.default_rng(11)
    n = 240
    x = gen.normal(size=n)
    z = (gen.uniform(size=n) < 0.4).astype(float)
    y = 1.0 + x + z + gen.normal(size=n) * (1.0 + z)  # unequal arm variances
    return pd.DataFrame({"y": y, "z": z, "x": x})


# -- 1. constant score -------------------------------------------------------------------
@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
@pytest.mark.parametrize("normalize", [True, False])
def test_ipw_constant_score_is_difference_in_means(
    small: pd.DataFrame, estimand: str, normalize: bool
) -> None:
    prior = DummyClassifier(strategy="prior")  # e(x) = mean(z) for everyone
    res = ipw(small, outcome="y", treatment="z", covariates=["x"], model=prior,
              estimand=estimand, normalize=normalize)  # fmt: skip
    dim = ie.rct.difference_in_means(small, outcome="y", treatment="z")
    assert res.estimate == pytest.approx(dim.estimate, rel=1e-12)
    if normalize:  # Hajek: the M-estimation sandwich is the Neyman SE with divisor n
        y, z = small["y"].to_numpy(), small["z"].to_numpy() == 1
        neyman_n = np.sqrt(y[z].var() / z.sum() + y[~z].var() / (~z).sum())
        assert res.std_error == pytest.approx(neyman_n, rel=1e-10)


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_aipw_constant_models_is_difference_in_means(small: pd.DataFrame, estimand: str) -> None:
    res = aipw(small, outcome="y", treatment="z", covariates=["x"], estimand=estimand,
               propensity_model=DummyClassifier(strategy="prior"),
               outcome_model=DummyRegressor(strategy="mean"))  # fmt: skip
    dim = ie.rct.difference_in_means(small, outcome="y", treatment="z")
    assert res.estimate == pytest.approx(dim.estimate, rel=1e-12)


# -- 2. AIPW unbiased with correct models ------------------------------------------------
def _gh_att(slope: float) -> float:
    """ATT = 2 + slope * E[x1 | z = 1] by Gauss-Hermite quadrature (exact to ~1e-12)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()
    x1, x2 = np.meshgrid(nodes, nodes, indexing="ij")
    w = np.outer(weights, weights)
    e = 1.0 / (1.0 + np.exp(-(-0.3 + 0.8 * x1 - 0.5 * x2)))
    return float(2.0 + slope * (w * e * x1).sum() / (w * e).sum())


@pytest.mark.slow
def test_aipw_correct_models_unbiased() -> None:
    """Seed 20261129, 300 draws of n = 500. x1, x2 ~ N(0, 1); e = expit(-0.3 + 0.8 x1 -
    0.5 x2); y = 1 + 2 z + x1 + 0.5 x2 + 0.5 z x1 + N(0, 1): the default nuisance models
    (logit; OLS on x within each arm) are both correct. ATE = 2; ATT = 2 + 0.5 E[x1 | z=1]
    (quadrature). Tolerance: 3 Monte Carlo SEs of the mean of the estimates (SD / sqrt(300),
    about 0.007 here), so a true bias of 0.02 or more would be detected."""
    gen = np.random.default_rng(20261129)
    draws, n = 300, 500
    est: dict[str, list[float]] = {"ATE": [], "ATT": []}
    for _ in range(draws):
        x1, x2 = gen.normal(size=n), gen.normal(size=n)
        e = 1.0 / (1.0 + np.exp(-(-0.3 + 0.8 * x1 - 0.5 * x2)))
        z = (gen.uniform(size=n) < e).astype(float)
        y = 1.0 + 2.0 * z + x1 + 0.5 * x2 + 0.5 * z * x1 + gen.normal(size=n)
        d = pd.DataFrame({"y": y, "z": z, "x1": x1, "x2": x2})
        for estimand in est:
            r = aipw(d, outcome="y", treatment="z", covariates=["x1", "x2"], estimand=estimand)
            est[estimand].append(r.estimate)
    truth = {"ATE": 2.0, "ATT": _gh_att(0.5)}
    for estimand, values in est.items():
        arr = np.asarray(values)
        mc_se = arr.std(ddof=1) / np.sqrt(draws)
        assert abs(arr.mean() - truth[estimand]) < 3 * mc_se, (estimand, arr.mean(), mc_se)


# -- 3. row order ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def continuous() -> pd.DataFrame:
    """Continuous scores, no ties; labels are not 0..n-1 so they must survive the shuffle."""
    gen = np.random.default_rng(12)
    n = 500
    x = gen.normal(size=n)
    ps = 1.0 / (1.0 + np.exp(-(-0.7 + x)))
    z = (gen.uniform(size=n) < ps).astype(float)
    frame = pd.DataFrame(
        {"y": x + z + gen.normal(size=n), "z": z, "x": x, "ps": ps,
         "w": gen.normal(size=n), "cell": gen.integers(0, 2, size=n).astype(float)},
        index=pd.Index(1000 + 3 * np.arange(n), name="id"),
    )  # fmt: skip
    assert frame["ps"].is_unique
    return frame


def _pairs(res: Any) -> set[tuple[Any, Any]]:
    p = res.details["pairs"]
    return set(zip(p["unit"], p["match"], strict=True))


def _same(a: Any, b: Any) -> None:
    assert a.estimate == pytest.approx(b.estimate, rel=1e-10, abs=1e-12)
    assert a.std_error == pytest.approx(b.std_error, rel=1e-8)
    assert (a.n_matched, a.n_matched_control, a.n_obs) == (b.n_matched, b.n_matched_control,
                                                          b.n_obs)  # fmt: skip
    assert _pairs(a) == _pairs(b)
    wa = a.matched["weights"].sort_index()
    wb = b.matched["weights"].sort_index()
    pd.testing.assert_series_equal(wa, wb, rtol=1e-12)


MODES: dict[str, dict[str, Any]] = {
    "1to1": {},
    "replace": {"replace": True},
    "caliper_0.1": {"caliper": 0.1},
    "3to1": {"ratio": 3},
    "2to1_replace_caliper": {"ratio": 2, "replace": True, "caliper": 0.25},
    "exact_cell": {"exact": ["cell"]},
    "atc_replace": {"estimand": "ATC", "replace": True},
    "logit_distance": {"distance": "logit"},
}


@pytest.mark.parametrize("mode", MODES, ids=list(MODES))
def test_matching_does_not_depend_on_row_order(continuous: pd.DataFrame, mode: str) -> None:
    shuffled = continuous.sample(frac=1.0, random_state=7)
    kwargs = {"outcome": "y", "treatment": "z", "propensity": "ps", **MODES[mode]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same(nearest_neighbor(continuous, **kwargs), nearest_neighbor(shuffled, **kwargs))


def test_matching_on_fitted_score_does_not_depend_on_row_order(continuous: pd.DataFrame) -> None:
    # the logit is refitted on the shuffled rows: its scores move by ~1e-16, no near-ties
    shuffled = continuous.sample(frac=1.0, random_state=8)
    kwargs: dict[str, Any] = {"outcome": "y", "treatment": "z", "covariates": ["x", "w"]}
    _same(nearest_neighbor(continuous, **kwargs), nearest_neighbor(shuffled, **kwargs))


@pytest.fixture(scope="module")
def lalonde_ties() -> pd.DataFrame:
    """NSW treated + CPS-1 with R's DW propensity scores: 2,378 controls share a score with
    an earlier control (identical covariates; MatchIt 4.5 takes the lower neighbour on equal
    distance, ``Matching::Match(ties=TRUE)`` keeps every tied control)."""
    ps = json.loads((REF / "matchit_pscores.json").read_text())["pscores"]["nsw_cps1"]
    nsw, cps = ie.datasets.load("nsw_dw"), ie.datasets.load("cps1_controls")
    d = pd.concat([nsw[nsw.treat == 1], cps], ignore_index=True)
    d["ps"] = ps["pscore"]
    assert d.loc[d.treat == 0, "ps"].duplicated().sum() > 1000
    return d


def test_match_tie_rule_is_row_order_free(lalonde_ties: pd.DataFrame) -> None:
    # Match's rule keeps every tied control with fractional weight: no order enters
    kwargs: dict[str, Any] = {"outcome": "re78", "treatment": "treat", "propensity": "ps",
                              "replace": True, "ties": True}  # fmt: skip
    shuffled = lalonde_ties.sample(frac=1.0, random_state=7)
    a, b = nearest_neighbor(lalonde_ties, **kwargs), nearest_neighbor(shuffled, **kwargs)
    assert a.estimate == pytest.approx(b.estimate, rel=1e-10)
    assert a.std_error == pytest.approx(b.std_error, rel=1e-10)


@pytest.mark.parametrize("replace", [False, True], ids=["no_replace", "replace"])
def test_default_tie_rule_is_row_order_free(lalonde_ties: pd.DataFrame, replace: bool) -> None:
    kwargs: dict[str, Any] = {"outcome": "re78", "treatment": "treat", "propensity": "ps",
                              "replace": replace}  # fmt: skip
    shuffled = lalonde_ties.sample(frac=1.0, random_state=7)
    a, b = nearest_neighbor(lalonde_ties, **kwargs), nearest_neighbor(shuffled, **kwargs)
    assert a.estimate == pytest.approx(b.estimate, rel=1e-10)
