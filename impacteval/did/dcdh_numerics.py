"""Numerics of the de Chaisemartin & D'Haultfoeuille (2024) event-study estimator.

Array in, array out, on a ``units x periods`` grid (periods coded ``0..T-1``, NaN where a
unit-period is not observed). :func:`switching_sample` finds each unit's status quo
(first-period treatment), first switch and its direction and applies the sample rules;
:func:`horizon_fit` computes one effect or placebo ``DID_l`` with its influence function.
The public entry point is :func:`impacteval.did.dcdh`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "HorizonFit",
    "SwitchingSample",
    "average_total_effect",
    "horizon_fit",
    "switching_sample",
]

Array = np.ndarray


@dataclass(frozen=True)
class SwitchingSample:
    """The estimation sample on the ``units x periods`` grid.

    Attributes
    ----------
    y, d : numpy.ndarray
        Outcome and treatment, ``G x T`` (NaN where missing or removed).
    exists : numpy.ndarray
        Boolean ``G x T``: the unit-period is in the sample.
    weight : numpy.ndarray
        ``G x T`` weight of each unit-period (the sampling weight, 0 where the outcome or
        the treatment is missing).
    keep : numpy.ndarray
        Boolean, per input unit: the unit is in the sample (the rows of ``y`` and ``d``).
    first_switch : numpy.ndarray
        Per unit, the period code of the first treatment change (``inf`` never).
    status_quo : numpy.ndarray
        Per unit, the treatment in its first observed period.
    group : numpy.ndarray
        Per unit, the code of its comparison group (status quo, times the strata).
    direction : numpy.ndarray
        Per unit, +1 (first change up), -1 (down), 0 (never changes).
    treat_at_switch : numpy.ndarray
        Per unit, the treatment in the period of the first change (NaN if none).
    exposure : numpy.ndarray
        Per unit, ``last observed period - first_switch + 1`` (0 for never-switchers).
    n_bidirectional, n_obs_reversed : int
        Units whose treatment is at some time above and at another time below the status
        quo, and their unit-periods removed (from the first period by which both have
        happened on).
    n_other_direction, n_no_variation : int
        Units dropped: switchers of the direction not asked for; units whose status-quo
        group has no variation in the first-switch period.
    n_cells_without_control : int
        Unit-periods removed because no never-switcher with the same status quo is
        observed in that period.
    """

    y: Array
    d: Array
    exists: Array
    weight: Array
    keep: Array
    first_switch: Array
    status_quo: Array
    group: Array
    direction: Array
    treat_at_switch: Array
    exposure: Array
    n_bidirectional: int
    n_obs_reversed: int
    n_other_direction: int
    n_no_variation: int
    n_cells_without_control: int


def _first_change(d: Array, exists: Array) -> tuple[Array, Array]:
    """Per unit: the first period whose treatment differs from the previous observed
    period's (``inf`` if none) and the sign of that change."""
    n_units, n_periods = d.shape
    first = np.full(n_units, np.inf)
    sign = np.zeros(n_units)
    prev = np.full(n_units, np.nan)
    seen = np.zeros(n_units, dtype=bool)
    for t in range(n_periods):
        row = exists[:, t]
        change = row & seen & np.isfinite(prev) & np.isfinite(d[:, t]) & (d[:, t] != prev)
        new = change & ~np.isfinite(first)
        first[new] = t
        sign[new] = np.sign(d[new, t] - prev[new])
        prev = np.where(row, d[:, t], prev)
        seen |= row
    return first, sign


def _status_quo_codes(status_quo: Array, strata: Array | None = None) -> Array:
    """Codes of the comparison groups: the status quo (times the strata, if any)."""
    key = status_quo[:, None] if strata is None else np.c_[status_quo, strata]
    codes = np.unique(np.nan_to_num(key, nan=-1.0), axis=0, return_inverse=True)[1]
    return np.asarray(codes, dtype=np.intp).ravel()


def switching_sample(
    y: Array,
    d: Array,
    exists: Array,
    switchers: str,
    weights: Array | None = None,
    strata: Array | None = None,
) -> SwitchingSample:
    """Status quo, first switch and direction per unit, and the sample rules.

    A unit's periods are removed from the first one by which its treatment has been both
    above and below its status quo (bidirectional). Units are dropped when they switch
    in the direction not asked for (``switchers="in"``/``"out"``), and when no other
    unit with the same status quo switches at a different time (no variation in the
    first-switch period within the status-quo group). Unit-periods are removed when no
    never-switcher with the same status quo is observed in that period. With ``strata``
    (per unit codes), "the same status quo" means the same status quo and stratum.
    """
    n_periods = d.shape[1]
    first_t = np.argmax(exists, axis=1)
    status_quo = d[np.arange(d.shape[0]), first_t]
    above = np.cumsum(exists & (d > status_quo[:, None]), axis=1) > 0
    below = np.cumsum(exists & (d < status_quo[:, None]), axis=1) > 0
    reversed_ = exists & above & below  # from the first period on both sides of D_g1
    n_reversed = int(reversed_.sum())
    bidirectional = np.any(reversed_, axis=1)
    exists = exists & ~reversed_
    y, d = np.where(exists, y, np.nan), np.where(exists, d, np.nan)
    first, sign = _first_change(d, exists)
    other = np.zeros_like(bidirectional)
    if switchers == "in":
        other = sign == -1
    elif switchers == "out":
        other = sign == 1
    keep = ~other
    # status-quo groups need variation in the first-switch period (never = 0)
    fcode = np.where(np.isfinite(first), first + 1.0, 0.0)
    sq_codes = _status_quo_codes(status_quo, strata)
    varies = np.zeros(keep.size, dtype=bool)
    for code in np.unique(sq_codes[keep]):
        members = keep & (sq_codes == code)
        values = fcode[members]
        varies[members] = values.size > 1 and bool(np.std(values, ddof=1).round(3) > 0)
    n_no_variation = int((keep & ~varies).sum())
    keep &= varies
    weights = np.ones(d.shape) if weights is None else np.nan_to_num(weights)
    y, d, exists = y[keep].copy(), d[keep].copy(), exists[keep].copy()
    weights = weights[keep]
    first, sign, status_quo = first[keep], sign[keep], status_quo[keep]
    strata = None if strata is None else strata[keep]
    sw = np.isfinite(first)
    at_switch = np.full(first.size, np.nan)
    at_switch[sw] = d[sw, first[sw].astype(np.intp)]
    # periods where the status-quo group has an observed never-switcher; units left
    # with no period are dropped
    sq_codes = _status_quo_codes(status_quo, strata)
    has_control = np.zeros((int(sq_codes.max(initial=-1)) + 1, n_periods), dtype=bool)
    np.logical_or.at(has_control, sq_codes[~sw], exists[~sw])
    removed = exists & ~has_control[sq_codes]
    n_removed = int(removed.sum())
    alive = np.any(exists & ~removed, axis=1)
    keep[keep] = alive
    y, d, exists, weights = y[alive], d[alive], (exists & ~removed)[alive], weights[alive]
    y[~exists], d[~exists] = np.nan, np.nan
    first, sign, status_quo, at_switch = (
        first[alive],
        sign[alive],
        status_quo[alive],
        at_switch[alive],
    )
    sq_codes, sw = (
        _status_quo_codes(status_quo, None if strata is None else strata[alive]),
        sw[alive],
    )
    last_t = n_periods - 1 - np.argmax(exists[:, ::-1], axis=1)
    exposure = np.where(sw, last_t - first + 1, 0.0)
    return SwitchingSample(
        y=y,
        d=d,
        exists=exists,
        weight=np.where(np.isfinite(y) & np.isfinite(d), weights, 0.0),
        keep=keep,
        first_switch=first,
        status_quo=status_quo,
        group=sq_codes,
        direction=sign,
        treat_at_switch=at_switch,
        exposure=exposure,
        n_bidirectional=int(bidirectional.sum()),
        n_obs_reversed=n_reversed,
        n_other_direction=int(other.sum()),
        n_no_variation=n_no_variation,
        n_cells_without_control=n_removed,
    )


@dataclass(frozen=True)
class HorizonFit:
    """One effect (``l > 0``) or placebo (``l < 0``) ``DID_l``.

    Attributes
    ----------
    estimate : float
        ``DID_l`` (NaN when no switcher is observed ``|l|`` periods after its switch).
    influence : numpy.ndarray
        Per unit, the influence function used for the variance (scaled so that
        ``Var = sum_c (sum_{g in c} influence_g)^2 / G^2``).
    n_switchers : int
        Switchers used (unweighted count).
    n_switchers_weighted : float
        Their summed weights (the count without weights).
    n_obs : int
        Unit-periods entering the estimate.
    delta_d : float
        Average cumulative treatment change of the switchers used, over periods
        ``F_g .. F_g - 1 + |l|``, signed so that it is positive (the normaliser).
    """

    estimate: float
    influence: Array
    n_switchers: int
    n_switchers_weighted: float
    n_obs: int
    delta_d: float


def _cell_sum(cells: Array, n_cells: int, values: Array) -> Array:
    return np.bincount(cells, weights=values, minlength=n_cells)


def _cell_dof(cells: Array, n_cells: int, mask: Array, cluster_rows: Array | None) -> Array:
    """Per cell, the number of rows in ``mask`` (or of distinct clusters among them)."""
    if cluster_rows is None:
        counts: Array = np.bincount(cells[mask], minlength=n_cells)
        return counts.astype(float)
    if not mask.any():
        return np.zeros(n_cells)
    pairs = np.unique(np.c_[cells[mask], cluster_rows[mask]], axis=0)
    distinct: Array = np.bincount(pairs[:, 0], minlength=n_cells)
    return distinct.astype(float)


def _cell_mean(cells: Array, n_cells: int, mask: Array, w: Array, diff: Array) -> Array:
    wsum = _cell_sum(cells[mask], n_cells, w[mask])
    dsum = _cell_sum(cells[mask], n_cells, (w * diff)[mask])
    mean: Array = np.divide(dsum, wsum, out=np.zeros(n_cells), where=wsum > 0)
    return mean


def _outcome_change(y: Array, h: int, placebo: bool) -> Array:
    """``Y_t - Y_{t-h}`` (effects) or ``Y_{t-2h} - Y_{t-h}`` (placebos), NaN if undefined."""
    out = np.full(y.shape, np.nan)
    if placebo:
        if 2 * h < y.shape[1]:
            out[:, 2 * h :] = y[:, : -2 * h] - y[:, h:-h]
    elif h < y.shape[1]:
        out[:, h:] = y[:, h:] - y[:, :-h]
    return out


def _residual_means(
    s: SwitchingSample,
    diff: Array,
    w: Array,
    at_target: Array,
    control: Array,
    clusters: Array | None,
) -> tuple[Array, Array]:
    """Per unit-period, the cell mean subtracted in the variance and the small-sample
    factor ``sqrt(n / (n - 1))`` of that cell (cells of switchers: status quo x first
    switch x treatment at switch; of controls: period x status quo; a cell with a single
    member falls back on the union of switchers and controls of its period and status
    quo, and on 0 without a factor when that has a single member too)."""
    n_units, n_periods = diff.shape
    sq = s.group
    cohort = np.unique(
        np.c_[sq, np.nan_to_num(s.first_switch, posinf=-1.0), np.nan_to_num(s.treat_at_switch)],
        axis=0,
        return_inverse=True,
    )[1].ravel()
    crow = None if clusters is None else np.repeat(clusters, n_periods)
    w_r, d_r = w.ravel(), np.nan_to_num(diff).ravel()
    sw_cells = np.repeat(cohort, n_periods)
    n_sw = int(sw_cells.max()) + 1
    tq_cells = (sq[:, None] * n_periods + np.arange(n_periods)[None, :]).ravel()
    n_tq = int(tq_cells.max()) + 1
    sw_mask, ctl_mask = at_target.ravel(), control.ravel()
    un_mask = sw_mask | ctl_mask
    stats = []
    for cells, n, mask in (
        (sw_cells, n_sw, sw_mask),
        (tq_cells, n_tq, ctl_mask),
        (tq_cells, n_tq, un_mask),
    ):
        dof = _cell_dof(cells, n, mask, crow)[cells]
        stats.append((dof, _cell_mean(cells, n, mask, w_r, d_r)[cells]))
    (dof_s, m_s), (dof_c, m_c), (dof_u, m_u) = stats
    own_dof = np.where(sw_mask, dof_s, np.where(ctl_mask, dof_c, 0.0))
    own_mean = np.where(sw_mask, m_s, m_c)
    use_own = un_mask & (own_dof >= 2)
    use_union = un_mask & (own_dof == 1) & (dof_u >= 2)
    e_hat = np.where(use_own, own_mean, np.where(use_union, m_u, 0.0))
    dof = np.where(use_own, own_dof, np.where(use_union, dof_u, np.nan))
    scale = np.where(np.isfinite(dof), np.sqrt(dof / np.where(dof > 1, dof - 1, 1.0)), 1.0)
    return e_hat.reshape(n_units, n_periods), scale.reshape(n_units, n_periods)


def horizon_fit(
    s: SwitchingSample,
    h: int,
    *,
    placebo: bool,
    switchers: str,
    clusters: Array | None,
    less_conservative: bool = False,
    min_exposure: int = 0,
) -> HorizonFit:
    """``DID_l`` for ``l = h`` (or the placebo ``l = -h``) and its influence function.

    Switchers ``g`` enter at period ``F_g - 1 + h`` (when observed that far after their
    first switch); controls are the units of the same status quo that have not switched
    by that period. ``DID_l = (1/N_l) sum_g [dY_g - mean of dY over its controls]`` with
    ``dY`` the outcome change from ``F_g - 1`` to ``F_g - 1 + h`` (placebos: from
    ``F_g - 1`` back to ``F_g - 1 - h``). ``min_exposure``: only switchers observed at
    least that many periods after their switch (the same switchers at every horizon).
    """
    y, n_units = s.y, s.y.shape[0]
    n_periods = y.shape[1]
    diff = _outcome_change(y, h, placebo)
    ok = np.isfinite(diff)
    w = s.weight
    t_idx = np.arange(n_periods)[None, :]
    f = s.first_switch[:, None]
    control = ok & (f > t_idx)
    sq = s.group
    n_sq = int(sq.max()) + 1
    n_control = np.zeros((n_sq, n_periods))
    np.add.at(n_control, sq, control * w)
    n_control_g = n_control[sq]
    wanted = s.direction != 0
    if switchers in ("in", "out"):
        wanted = s.direction == (1 if switchers == "in" else -1)
    wanted &= s.exposure >= min_exposure
    target = ok & (t_idx == f - 1 + h) & (s.exposure[:, None] >= h)
    target &= (n_control_g > 0) & wanted[:, None]
    n_treated = np.zeros((n_sq, n_periods))
    np.add.at(n_treated, sq, target * w)
    n_switch_w = float((target * w).sum())
    n_switchers = int(np.any(target, axis=1).sum())
    if n_switchers == 0 or n_switch_w <= 0:
        return HorizonFit(np.nan, np.zeros(n_units), 0, 0.0, 0, np.nan)
    ratio = np.divide(
        n_treated[sq], n_control_g, out=np.zeros_like(n_control_g), where=n_control_g > 0
    )
    coef = (n_units / n_switch_w) * w * (target - ratio * control)
    d0 = np.where(ok, diff, 0.0)
    estimate = float((coef * d0).sum()) / n_units
    e_hat, scale = _residual_means(s, diff, w, target, control, clusters)
    if less_conservative:
        scale = np.ones_like(scale)
    influence = (coef * scale * np.where(ok, d0 - e_hat, 0.0)).sum(axis=1)
    n_obs = int((ok & ((coef * d0 != 0) | (d0 == 0))).sum())
    delta_d = _delta_d(s, h, target, w)
    return HorizonFit(estimate, influence, n_switchers, n_switch_w, n_obs, delta_d)


def _delta_d(s: SwitchingSample, h: int, target: Array, w: Array) -> float:
    """Weighted mean over the switchers used of ``S_g * sum_{k=F_g}^{F_g-1+h} (D_k - D_g1)``
    (weight: the unit's weight in its ``DID_l`` row, 0 when that period's outcome or
    treatment is missing)."""
    weight = (target * w).sum(axis=1)
    if not np.any(weight > 0):
        return float("nan")
    t_idx = np.arange(s.d.shape[1])[None, :]
    f = s.first_switch[:, None]
    window = (t_idx >= f) & (t_idx <= f - 1 + h)
    change = np.where(window, s.d - s.status_quo[:, None], 0.0)
    total = np.nansum(change, axis=1)
    sign = np.where(s.direction == 1, 1.0, -1.0)
    return float(np.sum(weight * sign * total) / weight.sum())


def average_total_effect(
    estimates: Array, influence: Array, n_switch: Array, delta_d: Array
) -> tuple[float, Array]:
    """The average total effect per unit of treatment and its influence function.

    ``delta = sum_l w_l DID_l / sum_l w_l (dD_l - dD_{l-1})`` with ``w_l`` the share of
    switchers used at horizon ``l``, ``DID_l`` the non-normalised effects and ``dD_l`` the
    switchers' average cumulative treatment change (``dD_0 = 0``); ``influence`` is
    ``G x L``.
    """
    valid = np.isfinite(estimates) & (n_switch > 0)
    weights = np.where(valid, n_switch, 0.0) / n_switch[valid].sum()
    per_period = np.diff(np.nan_to_num(delta_d), prepend=0.0)
    denom = float(weights @ per_period)
    if denom == 0:
        first = float(np.nan_to_num(delta_d[0]))
        denom = first if first != 0 else 1.0
    est = float(weights[valid] @ estimates[valid]) / denom
    return est, (influence[:, valid] @ weights[valid]) / denom
