"""The sorted-distance matcher (union-find / vectorised) against MatchIt's plain walk.

``_loop_match_sorted`` below is ``match_sorted`` as the package ran it before it was
rewritten: MatchIt's ``nn_matchC_vec`` walk, step by step from each focal unit's place in the
sorted order to the nearest available control on each side, the left one on equal distance.
The rewrite makes the same comparisons on the same doubles, so the match matrices must be
identical (not close). 300 random problems (seed 20261205) cover 1 to 3 matches, with and
without replacement, with and without a caliper, every matching order, tiebreak keys, more
focal units than controls (controls run out), and heavily tied distances (scores drawn from
a few values, so equal distances and equidistant left/right neighbours occur often).
"""

from __future__ import annotations

import numpy as np
import pytest

from impacteval.matching._nn_match import match_sorted, stable_order


def _loop_match_sorted(
    focal: np.ndarray,
    distance: np.ndarray,
    order: np.ndarray,
    ratio: int,
    replace: bool,
    caliper: float | None,
    tiebreak: np.ndarray | None = None,
) -> np.ndarray:
    """The loop as the package ran it before vectorising (MatchIt's walk)."""
    n = focal.size
    n1 = int(focal.sum())
    mm = np.full((n1, ratio), -1, dtype=np.intp)
    if tiebreak is None:
        d_ord = np.argsort(distance, kind="stable")
    else:
        d_ord = np.lexsort((np.arange(n), tiebreak, distance))
    pos = np.empty(n, dtype=np.intp)
    pos[d_ord] = np.arange(n)
    focal_rows = np.flatnonzero(focal)
    is_focal: list[bool] = focal[d_ord].tolist()
    dist: list[float] = distance[d_ord].tolist()
    d_ord_l: list[int] = d_ord.tolist()
    can: list[bool] = [not f for f in is_focal]
    n_avail = n - n1
    if n_avail == 0:
        return mm
    first = can.index(True)
    last = n - 1 - can[::-1].index(True)
    cal = float(caliper) if caliper is not None else None

    for r in range(ratio):
        for i in order.tolist():
            ii = int(pos[focal_rows[i]])
            taken = set(mm[i, :r].tolist()) if r > 0 else set()
            dti = dist[ii]
            k_left = -1
            k = ii - 1
            while k >= first:
                if is_focal[k] or not can[k] or (taken and d_ord_l[k] in taken):
                    k -= 1
                    continue
                if cal is not None and abs(dti - dist[k]) > cal:
                    break
                k_left = k
                break
            k_right = -1
            k = ii + 1
            while k <= last:
                if is_focal[k] or not can[k] or (taken and d_ord_l[k] in taken):
                    k += 1
                    continue
                if cal is not None and abs(dti - dist[k]) > cal:
                    break
                k_right = k
                break
            if k_left >= 0 and k_right >= 0:
                k = k_left if abs(dist[k_left] - dti) <= abs(dist[k_right] - dti) else k_right
            elif k_left >= 0:
                k = k_left
            elif k_right >= 0:
                k = k_right
            else:
                continue
            mm[i, r] = d_ord_l[k]
            if not replace:
                can[k] = False
                n_avail -= 1
                if n_avail == 0:
                    return mm
                if k == first:
                    while not can[first]:
                        first += 1
                if k == last:
                    while not can[last]:
                        last -= 1
    return mm


def _problem(rng: np.random.Generator) -> dict[str, object]:
    n = int(rng.integers(2, 60))
    focal = rng.uniform(size=n) < rng.uniform(0.1, 0.7)
    if not focal.any():
        focal[0] = True
    kind = rng.integers(3)
    if kind == 0:
        distance = rng.uniform(size=n)
    elif kind == 1:  # many exact ties, and equidistant neighbours
        distance = rng.integers(0, 6, size=n) / 8.0
    else:
        distance = np.round(rng.normal(size=n), 1)
    n1 = int(focal.sum())
    orders = [np.arange(n1), rng.permutation(n1), np.argsort(-distance[focal], kind="stable")]
    return {
        "focal": focal,
        "distance": distance,
        "order": orders[int(rng.integers(3))],
        "ratio": int(rng.integers(1, 4)),
        "replace": bool(rng.integers(2)),
        "caliper": None if rng.uniform() < 0.4 else float(rng.uniform(0.01, 0.5)),
        "tiebreak": None if rng.uniform() < 0.5 else rng.permutation(n),
    }


def test_matches_the_walk_on_random_problems() -> None:
    rng = np.random.default_rng(20261205)
    for _ in range(300):
        args = _problem(rng)
        got = match_sorted(**args)  # type: ignore[arg-type]
        want = _loop_match_sorted(**args)  # type: ignore[arg-type]
        np.testing.assert_array_equal(got, want, err_msg=str(args))


@pytest.mark.parametrize("replace", [False, True])
def test_matches_the_walk_at_a_larger_size(replace: bool) -> None:
    rng = np.random.default_rng(7)
    n = 5000
    focal = rng.uniform(size=n) < 0.3
    distance = np.round(rng.beta(2, 5, size=n), 3)  # ties at 3 decimals
    order = np.argsort(-distance[focal], kind="stable")
    for ratio, caliper in ((1, None), (2, 0.01), (3, None)):
        got = match_sorted(focal, distance, order, ratio, replace, caliper)
        want = _loop_match_sorted(focal, distance, order, ratio, replace, caliper)
        np.testing.assert_array_equal(got, want)


def test_stable_order_is_the_three_key_lexsort() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 80))
        primary = rng.integers(0, 5, size=n) / 4.0  # many ties
        secondary = [
            None,
            rng.permutation(n),
            np.arange(n),
            rng.integers(0, 3, size=n),  # ties in the secondary key as well
        ][int(rng.integers(4))]
        key = np.zeros(n, dtype=np.intp) if secondary is None else secondary
        want = np.lexsort((np.arange(n), key, primary))
        np.testing.assert_array_equal(stable_order(primary, secondary), want)
