"""Invariants and bad input for impacteval.matching.nearest.nearest_neighbor."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError, MissingColumnError
from impacteval.matching.nearest import nearest_neighbor

COVS = ["age", "educ", "black", "hisp", "married", "re74", "re75"]


@pytest.fixture(scope="module")
def psid() -> pd.DataFrame:
    return ie.datasets.load("lalonde_psid")


def _fit(d: pd.DataFrame, **kw: object) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nearest_neighbor(d, outcome="re78", treatment="treat", covariates=COVS, **kw)


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 400
    x = rng.normal(size=(n, 2))
    p = 1 / (1 + np.exp(-(x[:, 0] - 1.0)))
    z = (rng.uniform(size=n) < p).astype(float)
    y = x @ np.array([1.0, 0.5]) + 2.0 * z + rng.normal(size=n)
    return pd.DataFrame({"y": y, "z": z, "x1": x[:, 0], "x2": x[:, 1], "p": p})


@pytest.mark.parametrize("kw", [{}, {"ratio": 2}, {"replace": True}, {"caliper": 0.2}])
def test_row_order_and_labels_do_not_matter(sim: pd.DataFrame, kw: dict[str, object]) -> None:
    # Deterministic order ("largest") and distinct scores: shuffling rows and relabelling the
    # index changes nothing but the labels. (With tied scores the order of the labels
    # breaks the ties; see the Notes of nearest_neighbor.)
    def fit(d: pd.DataFrame) -> object:
        return nearest_neighbor(d, outcome="y", treatment="z", propensity="p",
                                covariates=["x1", "x2"], **kw)  # type: ignore[arg-type]  # fmt: skip

    base = fit(sim)
    perm = np.random.default_rng(3).permutation(len(sim))
    shuffled = sim.iloc[perm].copy()
    shuffled.index = pd.Index([f"u{i}" for i in perm])
    other = fit(shuffled)
    assert other.estimate == pytest.approx(base.estimate, rel=1e-12)  # type: ignore[attr-defined]
    assert other.std_error == pytest.approx(base.std_error, rel=1e-9)  # type: ignore[attr-defined]
    got = sorted(int(str(i)[1:]) for i in other.matched.index)  # type: ignore[attr-defined]
    assert got == sorted(base.matched.index)  # type: ignore[attr-defined]


def test_labels_do_not_matter(psid: pd.DataFrame) -> None:
    # PSID has tied scores, which are broken by the order of the index labels: labels of
    # another type in the same order change nothing
    base = _fit(psid)
    relabelled = psid.set_axis([f"r{i:05d}" for i in range(len(psid))])
    other = _fit(relabelled)
    assert other.estimate == base.estimate  # type: ignore[attr-defined]
    assert other.std_error == base.std_error  # type: ignore[attr-defined]


def test_exact_duplicates_give_zero_distance(psid: pd.DataFrame) -> None:
    treated = psid[psid.treat == 1].copy()
    twins = treated.assign(treat=0.0, re78=treated.re78 - 1000.0)
    d = pd.concat([psid, twins], ignore_index=True)
    res = _fit(d)
    mm = res.match_matrix  # type: ignore[attr-defined]
    pairs = mm["match_1"].astype(int).to_numpy()
    # every treated unit is matched at distance zero: to a control with its covariates
    np.testing.assert_array_equal(d.loc[mm.index, COVS].to_numpy(), d.loc[pairs, COVS].to_numpy())
    assert (d.loc[pairs, "treat"] == 0).all()


def test_result_contract(psid: pd.DataFrame) -> None:
    res = _fit(psid, caliper=0.05)
    assert res.estimand == "ATT" and res.n_unmatched > 0  # type: ignore[attr-defined]
    assert res.n_matched + res.n_unmatched == 185  # type: ignore[attr-defined]
    assert {"weights", "subclass", "distance"} <= set(res.matched.columns)  # type: ignore[attr-defined]
    table = res.balance.table  # type: ignore[attr-defined]
    assert "smd_adjusted" in table.columns
    assert res.to_frame().shape[0] == 1  # type: ignore[attr-defined]
    assert res.warnings  # type: ignore[attr-defined]


def test_atc_is_att_with_labels_flipped(psid: pd.DataFrame) -> None:
    atc = _fit(psid, estimand="ATC", m_order="smallest")
    flipped = psid.assign(treat=1.0 - psid.treat, re78=-psid.re78)
    att = _fit(flipped, m_order="smallest")
    # the propensity of the flipped treatment is 1 - p: "smallest" becomes "largest" ...
    att2 = _fit(flipped, m_order="largest")
    assert atc.estimate == pytest.approx(att2.estimate, rel=1e-8)  # type: ignore[attr-defined]
    assert np.isfinite(att.estimate)  # type: ignore[attr-defined]


def test_random_order_is_seeded(psid: pd.DataFrame) -> None:
    a = _fit(psid, m_order="random", rng=7)
    b = _fit(psid, m_order="random", rng=7)
    assert a.estimate == b.estimate  # type: ignore[attr-defined]
    assert a.provenance.seed == 7  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"ratio": 0}, "ratio"),
        ({"ratio": 11}, "ratio"),
        ({"ratio": 1.5}, "ratio"),
        ({"caliper": 0}, "caliper"),
        ({"caliper": -0.1}, "caliper"),
        ({"estimand": "ATE"}, "estimand"),
        ({"estimand": "ATX"}, "estimand"),
        ({"replace": True, "se": "pair_cluster"}, "se"),
        ({"se": "abadie_imbens"}, "se"),
        ({"ties": True}, "ties"),
        ({"bias_adjust": True}, "bias_adjust"),
        ({"m_order": "biggest"}, "m_order"),
        ({"distance": "euclid"}, "distance"),
    ],
)
def test_bad_options(psid: pd.DataFrame, kw: dict[str, object], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        _fit(psid, **kw)


def test_bad_data(psid: pd.DataFrame) -> None:
    with pytest.raises(MissingColumnError, match="covariates"):
        nearest_neighbor(psid, outcome="re78", treatment="treat", covariates=["agee"])
    with pytest.raises(MissingColumnError, match="outcome"):
        nearest_neighbor(psid, outcome="re79", treatment="treat", covariates=COVS)
    with pytest.raises(DataValidationError, match="binary"):
        nearest_neighbor(psid.assign(treat=psid.treat * 2 + 1), outcome="re78",
                         treatment="treat", covariates=COVS)  # fmt: skip
    with pytest.raises(DataValidationError, match=r"covariates. or .propensity"):
        nearest_neighbor(psid, outcome="re78", treatment="treat")
    with pytest.raises(DataValidationError, match="weights"):
        nearest_neighbor(psid.assign(weights=1.0), outcome="re78", treatment="treat",
                         covariates=COVS)  # fmt: skip


def test_no_controls_within_caliper() -> None:
    d = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 6], "z": [1.0, 1, 1, 0, 0, 0],
                      "p": [0.9, 0.91, 0.92, 0.1, 0.11, 0.12]})  # fmt: skip
    with pytest.raises(DataValidationError, match="caliper"):
        nearest_neighbor(d, outcome="y", treatment="z", propensity="p", caliper=0.01)


def test_balance_summary_names_the_weights_in_words(psid: pd.DataFrame) -> None:
    """The matched balance table says what weighted it (was the working column `_w`)."""
    res = _fit(psid)
    text = res.balance.summary().as_text()  # type: ignore[attr-defined]
    assert "matching weights" in text and "_w" not in text


def test_rows_dropped_warning_points_at_the_callers_line() -> None:
    """The MissingDataWarning raised while preparing the data (three helper levels down)
    names this file, and the count is on the result."""
    from impacteval.exceptions import MissingDataWarning

    df = ie.datasets.load("lalonde_psid").copy()
    df.loc[df.index[:3], "re75"] = np.nan
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        res = ie.matching.nearest_neighbor(
            df, outcome="re78", treatment="treat", covariates=["age", "educ", "re74", "re75"]
        )
    dropped = [w for w in seen if issubclass(w.category, MissingDataWarning)]
    assert len(dropped) == 1 and dropped[0].filename == __file__
    assert res.n_dropped == 3
