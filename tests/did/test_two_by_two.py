"""2x2 difference in differences: Card & Krueger (1994) Table 3, identities, bad input.

Published values (Card & Krueger 1994, AER 84(4), Table 3):
row 3, all stores with data: 2.76 printed, 2.7536 from unrounded means (tolerance 5e-5,
half the last digit); row 4, balanced sample of 384 stores: 2.75 with SE 1.3423, the Welch SE
of the store-level changes (tolerance 5e-5).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError, ImpactEvalWarning, MissingDataWarning


@pytest.fixture(scope="module")
def ck() -> pd.DataFrame:
    return ie.datasets.load("card_krueger")


def test_card_krueger_row3_all_stores(ck: pd.DataFrame) -> None:
    with pytest.warns(MissingDataWarning):
        res = ie.did.two_by_two(ck, outcome="fte", treated="nj", post="d")
    assert res.estimate == pytest.approx(2.7536, abs=5e-5)
    assert round(res.estimate, 2) == 2.75  # printed 2.76 came from rounded components
    assert res.n_dropped == 26 and res.details["form"] == "pooled"


def test_card_krueger_row4_balanced_panel(ck: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)
        res = ie.did.two_by_two(ck, outcome="fte", treated="nj", post="d", unit="id", balance=True)
    assert res.details["form"] == "change_score"
    assert res.estimate == pytest.approx(2.75, abs=5e-5)
    assert res.std_error == pytest.approx(1.3423, abs=5e-5)
    assert (res.n_obs, res.n_treated, res.n_control) == (384, 309, 75)


def test_change_score_equals_welch_and_pooled_equals_cell_means() -> None:
    rng = np.random.default_rng(12)
    n = 60
    g = (np.arange(n) < 25).astype(float)
    pre = rng.normal(size=n) + g
    post_y = pre + 0.5 + 1.5 * g + rng.normal(size=n) * (1 + g)
    long = pd.DataFrame(
        {
            "id": np.r_[np.arange(n), np.arange(n)],
            "y": np.r_[pre, post_y],
            "g": np.r_[g, g],
            "p": np.r_[np.zeros(n), np.ones(n)],
        }
    )
    panel = ie.did.two_by_two(long, outcome="y", treated="g", post="p", unit="id")
    change = post_y - pre
    a, b = change[g == 1], change[g == 0]
    welch = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert panel.estimate == pytest.approx(a.mean() - b.mean(), rel=1e-12)
    assert panel.std_error == pytest.approx(welch, rel=1e-10)
    pooled = ie.did.two_by_two(long, outcome="y", treated="g", post="p")
    m = long.groupby(["g", "p"])["y"].mean()
    assert pooled.estimate == pytest.approx((m[1, 1] - m[1, 0]) - (m[0, 1] - m[0, 0]), rel=1e-12)
    dim = ie.rct.difference_in_means(
        pd.DataFrame({"c": change, "g": g}), outcome="c", treatment="g"
    )
    assert (panel.estimate, panel.std_error) == pytest.approx(
        (dim.estimate, dim.std_error), rel=1e-10
    )


def test_unbalanced_panel_warns_and_clusters_by_unit(ck: pd.DataFrame) -> None:
    with (
        pytest.warns(ImpactEvalWarning, match="unbalanced"),
        pytest.warns(MissingDataWarning, match="26 of 820"),
    ):
        res = ie.did.two_by_two(ck, outcome="fte", treated="nj", post="d", unit="id")
    assert res.n_dropped == 26
    assert res.details["form"] == "unbalanced_panel" and res.n_clusters == 410
    assert res.estimate == pytest.approx(2.7536, abs=5e-5)


def test_bad_input() -> None:
    base = pd.DataFrame(
        {
            "id": [1, 1, 2, 2, 3, 3, 4, 4],
            "y": np.arange(8.0),
            "g": [1, 1, 1, 1, 0, 0, 0, 0],
            "p": [0, 1] * 4,
        }
    )
    with pytest.raises(DataValidationError, match=r"`treated`.*changes within a unit"):
        ie.did.two_by_two(
            base.assign(g=[1, 0, 1, 1, 0, 0, 0, 0]), outcome="y", treated="g", post="p", unit="id"
        )
    with pytest.raises(DataValidationError, match=r"`unit`.*more than one row"):
        ie.did.two_by_two(
            base.assign(p=[0, 0, 0, 1, 0, 1, 0, 1]), outcome="y", treated="g", post="p", unit="id"
        )
    with pytest.raises(DataValidationError, match=r"`post`.*binary"):
        ie.did.two_by_two(base.assign(p=[0, 2] * 4), outcome="y", treated="g", post="p")
    with pytest.raises(DataValidationError, match=r"empty cells"):
        # the treated group is never observed after: rows 0 and 2 are its pre-period rows
        ie.did.two_by_two(base.iloc[[0, 2, 4, 5, 6, 7]], outcome="y", treated="g", post="p")
    with pytest.raises(ie.exceptions.MissingColumnError, match=r"`outcome`"):
        ie.did.two_by_two(base, outcome="fte", treated="g", post="p")
    with pytest.raises(DataValidationError, match=r"`level`"):
        ie.did.two_by_two(base, outcome="y", treated="g", post="p", level=1.5)
