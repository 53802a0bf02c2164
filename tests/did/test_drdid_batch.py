"""The batched DR kernel of ``att_gt`` equals DRDID's panel estimator cell by cell."""

from __future__ import annotations

import numpy as np
import pytest

from impacteval.did._drdid import CellError, PScore, drdid_panel, normalise
from impacteval.did._drdid_batch import drdid_panel_batch


def _data(n: int, seed: int, weighted: bool) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.random(n) < 0.4])
    d = (rng.random(n) < 1 / (1 + np.exp(-(x[:, 1] - 0.5 * x[:, 2])))).astype(float)
    dy = x[:, 1:2] * rng.normal(size=(1, 5)) + d[:, None] * 0.7 + rng.normal(size=(n, 5))
    w = rng.uniform(0.5, 2.0, n) if weighted else np.ones(n)
    return dy, d, x, w


@pytest.mark.parametrize("weighted", [False, True])
def test_batch_equals_drdid_panel_per_column(weighted: bool) -> None:
    dy, d, x, w = _data(3000, 7, weighted)
    att, inf = drdid_panel_batch(dy, d, x, w)
    assert att.shape == (5,) and inf.shape == (3000, 5)
    for j in range(dy.shape[1]):
        att_j, inf_j = drdid_panel(dy[:, j], d, x, w)
        assert att[j] == pytest.approx(att_j, abs=1e-12)
        np.testing.assert_allclose(inf[:, j], inf_j, rtol=0, atol=1e-10)


def test_batch_reuses_a_given_propensity_score() -> None:
    dy, d, x, w = _data(2000, 8, True)
    fits = PScore(x, d, normalise(w))
    att, inf = drdid_panel_batch(dy, d, x, w, pscore=fits)
    att0, inf0 = drdid_panel_batch(dy, d, x, w)
    np.testing.assert_array_equal(att, att0)
    np.testing.assert_array_equal(inf, inf0)


def test_singular_design_raises_as_drdid_panel() -> None:
    dy, d, x, w = _data(500, 9, False)
    x = np.column_stack([x, x[:, 1]])  # a duplicated covariate
    with pytest.raises(CellError, match="singular") as single:
        drdid_panel(dy[:, 0], d, x, w)
    with pytest.raises(CellError, match="singular") as batch:
        drdid_panel_batch(dy, d, x, w)
    assert str(batch.value) == str(single.value)
