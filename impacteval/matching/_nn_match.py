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

Machine independence (Mahalanobis). Distances are computed as the quadratic form
``sqrt(d' M d)`` on the raw covariate differences ``d = x_j - x_i`` (:func:`mahalanobis_metric`)
with element-wise numpy arithmetic, not through BLAS: controls placed symmetrically around a
focal unit (``d`` and ``-d``) get bit-identical distances whatever the BLAS kernel, and
identical covariate rows get distance exactly 0. Distances that are still within a relative
:data:`TIE_RTOL` (1e-10) of the smallest count as tied, and the tie goes to the control first
in data order -- MatchIt's rule for exact ties. Rounding differences between BLAS kernels
(OpenBLAS Haswell vs SkylakeX, say, ~1e-16 relative in ``M``) are far below that tolerance,
while genuinely different distances in real data are far above it, so the matched sets are
the same on every machine.

Match matrices hold 0-based row indices of controls, ``-1`` where there is no match; their
rows follow the focal units in data order.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "TIE_RTOL",
    "mahalanobis_metric",
    "match_scan",
    "match_sorted",
    "matchit_weights",
    "pair_subclass",
]

TIE_RTOL = 1e-10
"""Mahalanobis distances within this relative tolerance of the smallest are tied."""


def mahalanobis_metric(x: np.ndarray, focal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MatchIt's Mahalanobis metric: scale, pooled within-group covariance, its inverse.

    Columns with (numerically) no variation are dropped; the covariates are scaled by their
    standard deviations; the covariance of the scaled covariates is pooled within the focal
    and the other group (divisor ``n - 2``) and inverted (a pseudo-inverse when it is close
    to singular; negative eigenvalues from rounding are set to zero).

    Parameters
    ----------
    x : ndarray, shape (n, p)
        Covariates.
    focal : ndarray of bool, shape (n,)

    Returns
    -------
    coords : ndarray, shape (n, q)
        The kept covariate columns, unscaled.
    metric : ndarray, shape (q, q)
        Positive semi-definite matrix ``M`` such that the Mahalanobis distance between rows
        ``i`` and ``j`` is ``sqrt(d' M d)`` with ``d = coords[j] - coords[i]`` (the scaling by
        the standard deviations is folded into ``M``).
    """
    keep = np.abs(x.max(axis=0) - x.min(axis=0)) >= np.sqrt(np.finfo(float).eps)
    if not keep.any():
        return x[:, :1], np.ones((1, 1))
    x = x[:, keep]
    sd = x.std(axis=0, ddof=1)
    xs = (x - x.mean(axis=0)) / sd
    centred = xs.copy()
    for g in (True, False):
        centred[focal == g] -= centred[focal == g].mean(axis=0)
    n = xs.shape[0]
    cov = np.atleast_2d(np.cov(centred, rowvar=False)) * (n - 1) / (n - 2)
    if np.linalg.det(cov) > 1e-8:
        inv = np.linalg.inv(cov)
    else:
        u, s, vt = np.linalg.svd(cov)
        pos = s > max(1e-8 * s[0], 0)
        inv = (vt[pos].T / s[pos]) @ u[:, pos].T
    vals, vecs = np.linalg.eigh((inv + inv.T) / 2)
    psd = (vecs * np.clip(vals, 0, None)) @ vecs.T
    psd = (psd + psd.T) / 2
    return x, np.asarray(psd / np.outer(sd, sd))


def _quadratic_distance(delta: np.ndarray, metric: np.ndarray | None) -> np.ndarray:
    """``sqrt(d' M d)`` row by row with a fixed, BLAS-free order of operations."""
    if metric is None:
        return np.asarray(np.sqrt(np.sum(delta * delta, axis=1)))
    # einsum without path optimisation runs its own loops (no BLAS), the same for every
    # row: d and -d give bit-identical forms
    q = np.einsum("ij,jk,ik->i", delta, metric, delta, optimize=False)
    return np.asarray(np.sqrt(np.clip(q, 0.0, None)))


def _nearest_first(dist: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` smallest distances; near-ties (within :data:`TIE_RTOL` of the
    smallest remaining distance) go to the lowest position, round by round."""
    left = np.ones(dist.size, dtype=bool)
    out: list[int] = []
    for _ in range(min(k, dist.size)):
        dmin = float(dist[left].min())
        tied = np.flatnonzero(left & (dist <= dmin + TIE_RTOL * dmin))
        out.append(int(tied[0]))
        left[tied[0]] = False
    return np.asarray(out, dtype=np.intp)


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
    metric: np.ndarray | None = None,
) -> np.ndarray:
    """MatchIt's ``nn_matchC``: Mahalanobis distance on covariates, data-order scan.

    Parameters
    ----------
    focal : ndarray of bool, shape (n,)
    coords : ndarray, shape (n, p)
        Covariates (``coords`` from :func:`mahalanobis_metric`), or covariates already
        transformed so that Euclidean distance is the one wanted (``metric=None``).
    order : ndarray of int, shape (n1,)
    ratio : int
    replace : bool
    caliper_score : ndarray, shape (n,), optional
        Score on which ``caliper`` applies (the propensity score for Mahalanobis matching
        within a propensity caliper).
    caliper : float or None
        Raw caliper width on ``caliper_score``.
    metric : ndarray, shape (p, p), optional
        ``M`` of :func:`mahalanobis_metric`; the identity (Euclidean distance) if omitted.

    Returns
    -------
    ndarray of int, shape (n1, ratio)
        Near-ties within :data:`TIE_RTOL` go to the control first in data order.
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
            dist = _quadratic_distance(delta, metric)
            keep = np.isfinite(dist)
            elig, dist = elig[keep], dist[keep]
            if elig.size == 0:
                continue
            if replace:
                best = _nearest_first(dist, ratio)
                mm[i, : best.size] = controls[elig[best]]
            else:
                j = elig[int(_nearest_first(dist, 1)[0])]
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
    valid = mm >= 0
    counts = valid.sum(axis=1)
    # bincount adds in input order (row by row, left to right): the same sums, in the same
    # order, as adding 1 / count into each matched control row by row
    w = np.bincount(mm[valid], weights=np.repeat(1.0 / np.maximum(counts, 1), counts), minlength=n)
    w[np.flatnonzero(focal)[: mm.shape[0]][counts > 0]] = 1.0
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
    valid = mm >= 0
    counts = valid.sum(axis=1)
    matched = counts > 0
    labels = np.cumsum(matched)  # 1, 2, ... over the matched focal units, in data order
    sub[np.flatnonzero(focal)[: mm.shape[0]][matched]] = labels[matched]
    sub[mm[valid]] = np.repeat(labels, counts)  # each control is in one set (no replacement)
    return sub
