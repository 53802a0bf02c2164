"""Nearest-neighbour matching numerics (arrays in, arrays out), as R MatchIt 4.5.1 does it.

Two algorithms, mirroring MatchIt's two C++ routines:

* :func:`match_sorted` -- ``nn_matchC_vec`` (a scalar distance such as a propensity score,
  no Mahalanobis variables). Every unit is sorted by the score (stable sort, so equal
  scores keep data order, unless a ``tiebreak`` key such as the rank of the index label is
  given); each focal unit looks for the nearest *available* control to its
  left and to its right in that order and takes the left one when the two are equally far
  (``|d_left - d_i| <= |d_right - d_i|``). With ``ratio > 1`` matching runs in rounds:
  every focal unit gets its first match, then its second, and so on. A caliper stops the
  search as soon as the nearest available control is outside it. Compared with MatchIt
  4.5.1 this includes upstream fix #163 (``std::abs`` on doubles).
* :func:`match_scan` -- ``nn_matchC`` (Mahalanobis distance on covariates, optionally within
  a propensity-score caliper). For each focal unit the eligible controls are scanned in data
  order and the first one at the minimum distance is taken; with replacement the ``ratio``
  nearest are taken at once (ties at the ``ratio``-th distance go to the lower data index;
  MatchIt uses ``std::partial_sort``, whose tie order is unspecified).

Match matrices hold 0-based row indices of controls, ``-1`` where there is no match; their
rows follow the focal units in data order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["match_scan", "match_sorted", "matchit_weights", "pair_subclass"]


def match_sorted(
    focal: np.ndarray,
    distance: np.ndarray,
    order: np.ndarray,
    ratio: int,
    replace: bool,
    caliper: float | None,
    tiebreak: np.ndarray | None = None,
) -> np.ndarray:
    """MatchIt's ``nn_matchC_vec``: nearest neighbours along the sorted scalar distance.

    Parameters
    ----------
    focal : ndarray of bool, shape (n,)
        True for the units to be matched (treated for the ATT), False for potential matches.
    distance : ndarray of float, shape (n,)
        The scalar distance (propensity score or its logit).
    order : ndarray of int, shape (n1,)
        Positions ``0..n1-1`` of the focal units (in data order) in the order they are matched.
    ratio : int
        Matches per focal unit.
    replace : bool
        Whether a control may be matched to several focal units.
    caliper : float or None
        Maximum ``|distance_i - distance_j|`` (raw units).
    tiebreak : ndarray of int, shape (n,), optional
        Secondary sort key for units with equal distance (e.g. the rank of the index
        label), so that ties do not depend on the row order. Default: data order (a stable
        sort, as MatchIt).

    Returns
    -------
    ndarray of int, shape (n1, ratio)
        Row indices of the matched controls, ``-1`` where none.
    """
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


def match_scan(
    focal: np.ndarray,
    coords: np.ndarray,
    order: np.ndarray,
    ratio: int,
    replace: bool,
    caliper_score: np.ndarray | None,
    caliper: float | None,
) -> np.ndarray:
    """MatchIt's ``nn_matchC``: Euclidean distance on transformed covariates, data-order scan.

    Parameters
    ----------
    focal : ndarray of bool, shape (n,)
    coords : ndarray, shape (n, p)
        Covariates already transformed so that Euclidean distance is the Mahalanobis one.
    order : ndarray of int, shape (n1,)
    ratio : int
    replace : bool
    caliper_score : ndarray, shape (n,), optional
        Score on which ``caliper`` applies (the propensity score for Mahalanobis matching
        within a propensity caliper).
    caliper : float or None
        Raw caliper width on ``caliper_score``.

    Returns
    -------
    ndarray of int, shape (n1, ratio)
    """
    n1 = int(focal.sum())
    mm = np.full((n1, ratio), -1, dtype=np.intp)
    focal_rows = np.flatnonzero(focal)
    controls = np.flatnonzero(~focal)
    available = np.ones(controls.size, dtype=bool)
    for r in range(1 if replace else ratio):
        for i in order.tolist():
            if not replace and not available.any():
                break
            t = focal_rows[i]
            elig = np.flatnonzero(available)
            if r > 0:
                elig = elig[~np.isin(controls[elig], mm[i, :r])]
            if caliper is not None and caliper_score is not None:
                diff = np.abs(caliper_score[controls[elig]] - caliper_score[t])
                elig = elig[diff <= caliper]
            if elig.size == 0:
                continue
            if replace and elig.size <= ratio:
                mm[i, : elig.size] = controls[elig]
                continue
            delta = coords[controls[elig]] - coords[t]
            dist = np.sqrt(np.sum(delta * delta, axis=1))
            keep = np.isfinite(dist)
            elig, dist = elig[keep], dist[keep]
            if elig.size == 0:
                continue
            if replace:
                best = np.argsort(dist, kind="stable")[:ratio]
                mm[i, : best.size] = controls[elig[best]]
            else:
                j = elig[int(np.argmin(dist))]
                mm[i, r] = controls[j]
                available[j] = False
    return mm


def matchit_weights(mm: np.ndarray, focal: np.ndarray) -> np.ndarray:
    """MatchIt's matching weights (``weights_matrixC``).

    A matched focal unit gets 1; a control gets the sum over the focal units it is matched to
    of ``1 / (number of matches of that focal unit)``; control weights are then rescaled to
    sum to the number of controls with a positive weight.
    """
    n = focal.size
    w = np.zeros(n)
    focal_rows = np.flatnonzero(focal)
    for r in range(mm.shape[0]):
        row = mm[r][mm[r] >= 0]
        if row.size == 0:
            continue
        np.add.at(w, row, 1.0 / row.size)
        w[focal_rows[r]] = 1.0
    wc = w[~focal]
    total = wc.sum()
    if total > 0:
        w[~focal] = wc * np.count_nonzero(wc > 0) / total
    return w


def pair_subclass(mm: np.ndarray, focal: np.ndarray) -> np.ndarray:
    """Subclass (matched set) of each unit without replacement: 1, 2, ... by focal data order;
    0 for unmatched units. (MatchIt numbers the same sets in the lexical order of the focal
    units' row names; the partition is identical.)"""
    sub = np.zeros(focal.size, dtype=np.intp)
    focal_rows = np.flatnonzero(focal)
    label = 0
    for r in range(mm.shape[0]):
        row = mm[r][mm[r] >= 0]
        if row.size == 0:
            continue
        label += 1
        sub[focal_rows[r]] = label
        sub[row] = label
    return sub
