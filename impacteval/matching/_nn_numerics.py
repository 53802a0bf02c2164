"""Nearest-neighbour matching, step 2 of 3: matched sets, matching weights and the warnings
they call for.

:func:`match_units` runs the kernels of :mod:`impacteval.matching._nn_match` (MatchIt's
algorithms) or :func:`~impacteval.matching.abadie_imbens.ties_pairs` (Match's ties) within
the exact cells, in the order the options ask for, and returns the matched pairs and the
``match.data()`` weights as :class:`Matches`. :func:`matching_messages` says which focal
units went unmatched or short of matches and which lie outside common support; the entry
point issues and records those messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from impacteval._validation import group_codes
from impacteval.exceptions import DataValidationError
from impacteval.matching._nn_match import (
    mahalanobis_metric,
    match_scan,
    match_sorted,
    matchit_weights,
    pair_subclass,
    stable_order,
)
from impacteval.matching._nn_prepare import NearestData, NearestOptions
from impacteval.matching.abadie_imbens import ties_pairs

__all__ = ["Matches", "label_rank", "match_order", "match_units", "matching_messages"]


@dataclass(frozen=True)
class Matches:
    """Matched pairs (row positions in the complete rows) and the matching weights.

    ``unit``, ``match``, ``pair_weight``: one entry per pair (the unit matched, its match and
    ``1 / M_i``); ``match_matrix``: one row per focal unit of the first direction, ``-1``
    where there is no match; ``focal``: the focal units (treated for the ATT and ATE,
    controls for the ATC); ``weights``: MatchIt's ``match.data()`` weights; ``subclass``:
    matched-set numbers (without replacement).
    """

    unit: np.ndarray
    match: np.ndarray
    pair_weight: np.ndarray
    match_matrix: np.ndarray
    focal: np.ndarray
    weights: np.ndarray
    subclass: np.ndarray | None
    n_focal: int
    n_matched: int


def match_order(
    kind: str,
    score: np.ndarray | None,
    n1: int,
    rng: np.random.Generator,
    tiebreak: np.ndarray | None = None,
) -> np.ndarray:
    """Order in which the focal units are matched; equal scores by ``tiebreak`` (then data
    order)."""
    if kind == "random":
        return rng.permutation(n1)
    if kind == "data" or score is None:
        return np.arange(n1)
    return stable_order(-score if kind == "largest" else score, tiebreak)


def label_rank(labels: pd.Index) -> np.ndarray:
    """Rank of each index label (ties in the score are broken by it, so that the matching
    does not depend on the row order). A RangeIndex in file order gives data order, as
    MatchIt; labels that cannot be sorted (mixed types) fall back to data order."""
    n = len(labels)
    try:
        ordering = np.asarray(labels.argsort(kind="stable"), dtype=np.intp)
    except TypeError:
        return np.arange(n, dtype=np.intp)
    rank = np.empty(n, dtype=np.intp)
    rank[ordering] = np.arange(n, dtype=np.intp)
    return rank


def _exact_cells(d: NearestData, opts: NearestOptions) -> np.ndarray:
    """Code of each row's exact-matching cell (all zeros without ``exact``)."""
    if not opts.exact:
        return np.zeros(d.z.size, dtype=np.intp)
    cols = opts.exact
    cells, _ = group_codes(
        d.frame[cols].astype(str).agg("\x1f".join, axis=1) if len(cols) > 1 else d.frame[cols[0]]
    )
    return cells


def _match_matrix(
    focal: np.ndarray, d: NearestData, opts: NearestOptions, cells: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """Match matrix of the focal units (rows in data order), cell by exact cell."""
    kind = opts.m_order
    if kind is None:
        use_data = opts.distance == "mahalanobis" or d.score is None
        kind = "data" if use_data else ("smallest" if opts.estimand == "ATC" else "largest")
    mm = np.full((int(focal.sum()), opts.ratio), -1, dtype=np.intp)
    focal_pos = np.cumsum(focal) - 1
    coords = metric = None
    if opts.distance == "mahalanobis" or opts.mahalanobis:
        columns = opts.mahalanobis or opts.covariates
        coords, metric = mahalanobis_metric(
            d.frame[columns].to_numpy(dtype=float), focal.astype(bool)
        )
    for cell in np.unique(cells[focal]):
        idx = np.flatnonzero(cells == cell)
        f = focal[idx]
        d_cell = None if d.score is None else d.score[idx]
        key = rank[idx]
        order = match_order(
            kind, None if d_cell is None else d_cell[f], int(f.sum()), opts.generator, key[f]
        )
        if coords is not None:
            ps_cell = None if d.ps is None else d.ps[idx]
            sub = match_scan(
                f, coords[idx], order, opts.ratio, opts.replace, ps_cell, d.caliper_width, metric
            )
        else:
            sub = match_sorted(
                f, cast(np.ndarray, d_cell), order, opts.ratio, opts.replace, d.caliper_width, key
            )
        mm[focal_pos[idx[f]]] = np.where(sub >= 0, idx[np.clip(sub, 0, None)], -1)
    return mm


def _tied_pairs(
    focal: np.ndarray, d: NearestData, opts: NearestOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match's matched sets with ties kept, restricted to the caliper."""
    score = cast(np.ndarray, d.score)
    u, m, w = ties_pairs(focal, score, opts.ratio)
    if opts.caliper is not None:
        ok = np.abs(score[u] - score[m]) <= cast(float, d.caliper_width)
        u, m = u[ok], m[ok]
        cnt = np.bincount(u, minlength=d.z.size)
        w = 1.0 / cnt[u]
    return u, m, w


def _weights(
    unit: np.ndarray,
    match: np.ndarray,
    pw: np.ndarray,
    mm: np.ndarray,
    focal: np.ndarray,
    opts: NearestOptions,
) -> np.ndarray:
    """MatchIt's ``match.data()`` weights (matched focal units 1; controls by use)."""
    n = focal.size
    k_count = np.bincount(match, weights=pw, minlength=n)
    if opts.estimand == "ATE":
        return np.where(np.isin(np.arange(n), unit), 1.0, 0.0) + k_count
    if opts.ties:
        weights = np.zeros(n)
        weights[np.unique(unit)] = 1.0
        other = ~focal
        tot = k_count[other].sum()
        weights[other] = k_count[other] * np.count_nonzero(k_count[other] > 0) / tot
        return weights
    return matchit_weights(mm, focal)


def match_units(d: NearestData, opts: NearestOptions) -> Matches:
    """Match every focal unit (both ways for the ATE) and form the matching weights.

    Raises
    ------
    DataValidationError
        No focal unit has a control within the caliper or its exact cell.
    """
    n = d.z.size
    focal_att = d.z == 1 if opts.estimand != "ATC" else d.z == 0
    directions = [focal_att, ~focal_att] if opts.estimand == "ATE" else [focal_att]
    cells = _exact_cells(d, opts) if not opts.ties else np.zeros(n, dtype=np.intp)
    rank = label_rank(d.labels)
    units, matches, pair_w = [], [], []
    mm_main = np.full((0, opts.ratio), -1, dtype=np.intp)
    for k, focal in enumerate(directions):
        if opts.ties:
            u, m, w = _tied_pairs(focal, d, opts)
        else:
            mm = _match_matrix(focal, d, opts, cells, rank)
            if k == 0:
                mm_main = mm
            rows = np.flatnonzero(focal)
            cnt = (mm >= 0).sum(axis=1)
            u = np.repeat(rows, cnt)
            m = mm[mm >= 0]  # row by row, left to right
            w = np.repeat(1.0 / np.where(cnt > 0, cnt, 1), cnt)
        units.append(u)
        matches.append(m)
        pair_w.append(w)
    unit, match, pw = np.concatenate(units), np.concatenate(matches), np.concatenate(pair_w)
    n_matched = int(np.unique(unit).size)
    if n_matched == 0:
        raise DataValidationError(
            "no focal unit has a control within the caliper (or within its exact cell); "
            "widen `caliper` or relax `exact`"
        )
    return Matches(
        unit=unit,
        match=match,
        pair_weight=pw,
        match_matrix=mm_main,
        focal=focal_att,
        weights=_weights(unit, match, pw, mm_main, focal_att, opts),
        subclass=pair_subclass(mm_main, focal_att) if not opts.replace else None,
        n_focal=int(focal_att.sum()) if opts.estimand != "ATE" else n,
        n_matched=n_matched,
    )


def matching_messages(m: Matches, d: NearestData, opts: NearestOptions) -> list[str]:
    """Warnings about the matched sets: unmatched focal units, matched sets smaller than
    ``ratio`` (without replacement) and, without a caliper, focal units outside the other
    group's range of the score (min/max common-support rule)."""
    out: list[str] = []
    n_focal, n_matched, ratio = m.n_focal, m.n_matched, opts.ratio
    other = "treated" if opts.estimand == "ATC" else "control"
    n_other = int((~m.focal).sum())
    single = not opts.replace and not opts.ties and opts.estimand != "ATE"
    if n_matched < n_focal:
        exhausted = single and int(np.unique(m.match).size) >= n_other
        cause = (
            f"without replacement the {n_other} {other} units ran out"
            if exhausted and opts.caliper is None and not opts.exact
            else "caliper or exact cells"
        )
        out.append(
            f"{n_focal - n_matched} of {n_focal} focal units have no match ({cause}); the "
            "estimand is the effect in the matched units"
        )
    if single and ratio > 1:
        n_short = int(((m.match_matrix >= 0).sum(axis=1) < ratio).sum())
        if n_short:
            why = (
                f"without replacement {n_other} {other} units cannot give {n_focal} focal "
                f"units {ratio} matches each ({ratio * n_focal} needed)"
                if n_other < ratio * n_focal
                else f"the {n_other} {other} units ran out within the caliper or exact cells"
            )
            out.append(
                f"`ratio`={ratio}: {n_short} of {n_focal} focal units got fewer than {ratio} "
                f"matches ({why}); their matched sets are smaller, as MatchIt's"
            )
    s_all = d.score if d.score is not None else d.ps
    if opts.caliper is None and opts.estimand != "ATE" and s_all is not None:
        s_f, s_o = s_all[m.focal], s_all[~m.focal]
        outside = 0
        if s_f.size and s_o.size:
            outside = int(((s_f < s_o.min()) | (s_f > s_o.max())).sum())
        if outside:
            kind_s = "logit score" if opts.distance == "logit" else "propensity score"
            out.append(
                f"common support: {outside} of {n_focal} focal units have a {kind_s}"
                f" outside the {other} units' range [{s_o.min():.4g}, {s_o.max():.4g}] "
                "(no overlap there), and are matched anyway; consider a `caliper` or "
                "restricting the sample to common support"
            )
    return out
