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
    "stable_order",
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


def stable_order(primary: np.ndarray, secondary: np.ndarray | None = None) -> np.ndarray:
    """Positions sorted by ``primary``, equal values by ``secondary``, then by position.

    The same permutation as ``np.lexsort((np.arange(n), secondary, primary))``, from two
    stable sorts (one when ``secondary`` is absent or already increasing, as the label
    ranks of a RangeIndex in file order are), which is several times faster on large
    arrays than a three-key lexsort.
    """
    if secondary is None or primary.size < 2 or bool(np.all(secondary[1:] > secondary[:-1])):
        return np.argsort(primary, kind="stable")
    pre = np.argsort(secondary, kind="stable")
    return np.asarray(pre[np.argsort(primary[pre], kind="stable")])


def _find(parent: list[int], j: int) -> int:
    """Root of ``j`` in a union-find forest (with path compression): the nearest available
    slot in the direction the forest points to."""
    root = j
    while parent[root] != root:
        root = parent[root]
    while parent[j] != root:
        parent[j], j = root, parent[j]
    return root


def _sorted_without_replacement(
    dist_c: list[float],
    ins: list[int],
    dist_f: list[float],
    order: list[int],
    ratio: int,
    cal: float | None,
) -> list[list[int]]:
    """Rounds of greedy matching without replacement over the controls in sorted order.

    Controls are slots ``1..nc`` (sorted order; 0 and ``nc + 1`` are sentinels). Focal unit
    ``i`` lies between slots ``ins[i]`` and ``ins[i] + 1``. Two union-find forests give the
    nearest *available* slot to the left and to the right in near-constant time; a matched
    control is linked to its neighbours. Returns the matched slot per round and focal unit
    (0 for none).
    """
    nc = len(dist_c) - 2
    left = list(range(nc + 2))
    right = list(range(nc + 2))
    n_avail = nc
    out = [[0] * len(ins) for _ in range(ratio)]
    for r in range(ratio):
        got = out[r]
        for i in order:
            if n_avail == 0:
                return out
            dti = dist_f[i]
            k_left = _find(left, ins[i])
            if k_left > 0 and cal is not None and abs(dti - dist_c[k_left]) > cal:
                k_left = 0
            k_right = _find(right, ins[i] + 1)
            if k_right <= nc and cal is not None and abs(dti - dist_c[k_right]) > cal:
                k_right = nc + 1
            if k_left > 0 and k_right <= nc:
                k = k_left if abs(dist_c[k_left] - dti) <= abs(dist_c[k_right] - dti) else k_right
            elif k_left > 0:
                k = k_left
            elif k_right <= nc:
                k = k_right
            else:
                continue
            got[i] = k
            left[k], right[k] = k - 1, k + 1
            n_avail -= 1
    return out


def _sorted_with_replacement(
    dist_c: np.ndarray, ins: np.ndarray, dist_f: np.ndarray, ratio: int, cal: float | None
) -> np.ndarray:
    """Rounds of matching with replacement, all focal units at once.

    With replacement focal units do not compete, and a focal unit's earlier matches are a
    contiguous run of slots around it (each round takes the nearest untaken control on the
    left or the right), so round ``r`` compares the slots just outside that run. Returns
    the matched slot per round and focal unit (0 for none), shape ``(ratio, n1)``.
    """
    nc = dist_c.size - 2
    lo, hi = ins.copy(), ins + 1
    out = np.zeros((ratio, ins.size), dtype=np.intp)
    with np.errstate(invalid="ignore"):
        for r in range(ratio):
            ok_l, ok_r = lo > 0, hi <= nc
            d_l = np.abs(dist_c[np.clip(lo, 0, nc + 1)] - dist_f)
            d_r = np.abs(dist_c[np.clip(hi, 0, nc + 1)] - dist_f)
            if cal is not None:
                ok_l &= np.abs(dist_f - dist_c[np.clip(lo, 0, nc + 1)]) <= cal
                ok_r &= np.abs(dist_f - dist_c[np.clip(hi, 0, nc + 1)]) <= cal
            take_l = ok_l & (~ok_r | (d_l <= d_r))
            take_r = ok_r & ~take_l
            out[r] = np.where(take_l, lo, np.where(take_r, hi, 0))
            lo = np.where(take_l, lo - 1, lo)
            hi = np.where(take_r, hi + 1, hi)
    return out


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

    Notes
    -----
    MatchIt walks from each focal unit's place in the sorted order to the nearest available
    control on each side, one step at a time. Here the controls alone are kept in sorted
    order and each focal unit's place among them is found once (its number of controls
    before it in the sorted order of all units, so equal distances keep MatchIt's order);
    without replacement the nearest available control on each side is found by union-find
    over the matched controls, with replacement by the run of slots already taken. The
    comparisons are MatchIt's, on the same doubles, so the matches are the same.
    """
    n = focal.size
    n1 = int(focal.sum())
    mm = np.full((n1, ratio), -1, dtype=np.intp)
    if n1 == n:
        return mm
    d_ord = stable_order(distance, tiebreak)
    is_focal_sorted = focal[d_ord]
    # controls before each unit in the sorted order: a focal unit's place among the controls
    ctrl_before = np.cumsum(~is_focal_sorted) - (~is_focal_sorted)
    pos = np.empty(n, dtype=np.intp)
    pos[d_ord] = np.arange(n)
    ins = ctrl_before[pos[np.flatnonzero(focal)]]  # focal units in data order
    ctrl_rows = d_ord[~is_focal_sorted]  # row index of slot 1..nc
    dist_c = np.concatenate([[np.nan], distance[ctrl_rows], [np.nan]])
    dist_f = distance[focal]
    cal = float(caliper) if caliper is not None else None
    if replace:
        slots = _sorted_with_replacement(dist_c, ins, dist_f, ratio, cal).T
    else:
        slots = np.asarray(
            _sorted_without_replacement(
                dist_c.tolist(), ins.tolist(), dist_f.tolist(), order.tolist(), ratio, cal
            ),
            dtype=np.intp,
        ).T
    rows = np.concatenate([[-1], ctrl_rows])
    mm[:] = rows[slots]
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
