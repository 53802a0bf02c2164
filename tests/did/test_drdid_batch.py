"""The batched DR kernel of ``att_gt`` equals DRDID's panel estimator cell by cell.

The reference is :func:`impacteval.did._drdid.drdid_panel` (itself checked against R DRDID in
``test_drdid_family_reference.py``). Both compute the same algebra; only the order of the
floating-point sums differs (the batch sums rows in blocks), so they agree to rounding: the
ATTs here are of order 1 and the influence values of order 10, over a few thousand rows, so
1e-12 (ATT) and 1e-10 (influence function) leave about two orders of magnitude above the
accumulated rounding error of ~1e-14 while failing on any algebraic difference."""

from __future__ import annotations

import numpy as np
import pytest

from impacteval.did._drdid import CellError, PScore, drdid_panel, normalise
from impacteval.did._drdid_batch import dr_cells, drdid_panel_batch


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


def test_dr_cells_reads_periods_and_writes_into_a_larger_matrix() -> None:
    """``att_gt``'s path: outcome changes formed from a units x periods matrix at the batch's
    units, influence functions written at (unit, cell column) of the whole sample's matrix;
    every cell equals DRDID's panel estimator and nothing else is touched."""
    rng = np.random.default_rng(11)
    n_all, n_periods = 5000, 6
    idx = np.sort(rng.choice(n_all, 3100, replace=False))
    x = np.column_stack([np.ones(idx.size), rng.normal(size=idx.size), rng.random(idx.size) < 0.3])
    d = (rng.random(idx.size) < 1 / (1 + np.exp(-x[:, 1]))).astype(float)
    y = rng.normal(size=(n_all, n_periods)) + 0.3 * np.arange(n_periods)
    y[idx] += d[:, None] * np.linspace(0, 1, n_periods) + x[:, 1:2]
    w = np.ones(idx.size)
    tb = np.array([[2, 1], [3, 1], [5, 0], [1, 4]])
    cols = np.array([7, 2, 4, 0])
    out = np.full((n_all, 9), -7.0, order="F")
    att, bad = dr_cells(
        y, idx, tb, x, d, w, pscore=None, scale=2.5, control_qr=None, out=(out, idx, cols)
    )
    assert not bad.any()
    for c, (t, b) in enumerate(tb):
        att_c, inf_c = drdid_panel(y[idx, t] - y[idx, b], d, x, w)
        assert att[c] == pytest.approx(att_c, abs=1e-12)
        np.testing.assert_allclose(out[idx, cols[c]], 2.5 * inf_c, rtol=0, atol=1e-10)
    untouched = np.ones(out.shape, dtype=bool)
    untouched[np.ix_(idx, cols)] = False
    assert np.all(out[untouched] == -7.0)


def test_non_finite_influence_is_flagged() -> None:
    dy, d, x, w = _data(400, 12, False)
    dy[5, 2] = np.inf
    _, inf = drdid_panel_batch(dy, d, x, w)
    rows = np.arange(400)
    y = np.column_stack([dy, np.zeros(400)])
    tb = np.column_stack([np.arange(5), np.full(5, 5)])
    out = np.zeros((400, 5), order="F")
    _, bad = dr_cells(
        y, rows, tb, x, d, w, pscore=None, scale=1.0, control_qr=None, out=(out, rows, np.arange(5))
    )
    assert bad.tolist() == [False, False, True, False, False]
    assert not np.isfinite(inf[:, 2]).all()
