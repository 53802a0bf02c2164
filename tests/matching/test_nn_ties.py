"""The Mahalanobis matcher's tie rule does not depend on floating-point rounding.

MatchIt's ``nn_matchC`` takes the first control (data order) at the minimum distance. Two
controls placed symmetrically around a treated unit are at exactly the same Mahalanobis
distance; computed through BLAS, their distances differ in the last bits, and which one is
smaller depends on the BLAS kernel (this made the lalonde_psid MatchIt reference fail under
OpenBLAS's Haswell kernel). These tests pin the documented rule: distances within
``TIE_RTOL`` (1e-10 relative) are tied and go to the control first in data order.
"""

from __future__ import annotations

import numpy as np

from impacteval.matching._nn_match import (
    TIE_RTOL,
    _quadratic_distance,
    mahalanobis_metric,
    match_scan,
)


def _scan(x: np.ndarray, focal: np.ndarray, ratio: int = 1, replace: bool = False) -> np.ndarray:
    coords, metric = mahalanobis_metric(x, focal)
    order = np.arange(int(focal.sum()))
    return match_scan(focal, coords, order, ratio, replace, None, None, metric)


def test_symmetric_controls_are_exactly_tied_and_the_first_wins() -> None:
    rng = np.random.default_rng(12)
    # treated unit at (41, 4); controls at (43, 6) [row 1] and (39, 2) [row 2] are
    # symmetric about it; the rest are far away.
    far = rng.uniform(60, 90, size=(40, 2))
    x = np.vstack([[41.0, 4.0], [43.0, 6.0], [39.0, 2.0], far])
    focal = np.zeros(len(x), dtype=bool)
    focal[0] = True
    coords, metric = mahalanobis_metric(x, focal)
    # bit-identical distances (quadratic forms of d and -d), whatever M was rounded to
    dist = _quadratic_distance(coords[1:3] - coords[0], metric)
    assert dist[0] == dist[1] > 0
    assert _scan(x, focal)[0, 0] == 1
    # swap the rows: the first in data order still wins
    x2 = x[[0, 2, 1, *range(3, len(x))]]
    assert _scan(x2, focal)[0, 0] == 1


def test_near_ties_within_tolerance_go_to_data_order_and_real_gaps_do_not() -> None:
    focal = np.array([True, False, False])
    x_near = np.array([[0.0], [1.0 + 1e-13], [-1.0]])  # relative gap 1e-13 < TIE_RTOL
    assert 1e-13 < TIE_RTOL
    # one covariate: distances 1 + 1e-13 and 1 are tied, so row 1 (first) is taken
    order = np.arange(1)
    assert match_scan(focal, x_near, order, 1, False, None, None, np.eye(1))[0, 0] == 1
    # a real gap (1e-6 relative) is not a tie: the nearer row 2 is taken
    x_far = np.array([[0.0], [1.0 + 1e-6], [-1.0]])
    assert match_scan(focal, x_far, order, 1, False, None, None, np.eye(1))[0, 0] == 2


def test_with_replacement_ranks_near_ties_by_data_order() -> None:
    focal = np.array([True, False, False, False])
    x = np.array([[0.0], [2.0], [-1.0 - 1e-14], [1.0]])
    order = np.arange(1)
    mm = match_scan(focal, x, order, 2, True, None, None, np.eye(1))
    # rows 2 and 3 are tied at distance 1 (within TIE_RTOL): both taken, row 2 first
    assert mm[0].tolist() == [2, 3]
    mm1 = match_scan(focal, x, order, 1, True, None, None, np.eye(1))
    assert mm1[0].tolist() == [2]
