"""MatchIt's matching weights and matched-set numbers, vectorised, against the plain loop.

The loop below is MatchIt's ``weights_matrixC`` and the subclass numbering written row by
row, as the package computed them before they were vectorised. The vectorised versions add
the same terms in the same order (``np.bincount`` accumulates in input order), so the
weights must agree bit for bit, not just to a tolerance. 400 random match matrices (seed 11)
cover rows with no match, gaps (-1) between matches, 1 to 3 matches per row, and controls
used repeatedly (with replacement).
"""

from __future__ import annotations

import numpy as np

from impacteval.matching._nn_match import matchit_weights, pair_subclass


def _loop_weights(mm: np.ndarray, focal: np.ndarray) -> np.ndarray:
    w = np.zeros(focal.size)
    rows = np.flatnonzero(focal)
    for r in range(mm.shape[0]):
        row = mm[r][mm[r] >= 0]
        if row.size:
            np.add.at(w, row, 1.0 / row.size)
            w[rows[r]] = 1.0
    wc = w[~focal]
    if wc.sum() > 0:
        w[~focal] = wc * np.count_nonzero(wc > 0) / wc.sum()
    return w


def _loop_subclass(mm: np.ndarray, focal: np.ndarray) -> np.ndarray:
    sub = np.zeros(focal.size, dtype=np.intp)
    rows = np.flatnonzero(focal)
    label = 0
    for r in range(mm.shape[0]):
        row = mm[r][mm[r] >= 0]
        if row.size:
            label += 1
            sub[rows[r]] = label
            sub[row] = label
    return sub


def _random_matrix(rng: np.random.Generator, replace: bool) -> tuple[np.ndarray, np.ndarray]:
    n1, n0, k = int(rng.integers(1, 30)), int(rng.integers(1, 90)), int(rng.integers(1, 4))
    focal = np.zeros(n1 + n0, dtype=bool)
    focal[rng.choice(n1 + n0, n1, replace=False)] = True
    controls = np.flatnonzero(~focal)
    pool = list(rng.permutation(controls))
    mm = np.full((n1, k), -1, dtype=np.intp)
    for r in range(n1):
        for j in range(k):
            if rng.uniform() < 0.25:
                continue  # leave a gap
            if replace:
                mm[r, j] = rng.choice(controls)
            elif pool:
                mm[r, j] = pool.pop()
    return mm, focal


def test_weights_and_subclass_equal_the_loop() -> None:
    rng = np.random.default_rng(11)
    for _ in range(200):
        for replace in (False, True):
            mm, focal = _random_matrix(rng, replace)
            np.testing.assert_array_equal(matchit_weights(mm, focal), _loop_weights(mm, focal))
            if not replace:  # matched sets are numbered only without replacement
                np.testing.assert_array_equal(pair_subclass(mm, focal), _loop_subclass(mm, focal))
