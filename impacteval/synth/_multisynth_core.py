"""The partially pooled synthetic control (Ben-Michael, Feller & Rothstein 2022): the
balance problem, its solver, the choice of ``nu`` and the effects (pure arrays).

For treated unit ``j`` (adoption column ``T_j``) with donors ``D_j`` (never treated, or
first treated after ``T_j + n_leads``, as augsynth), the imbalance at lag ``l = 1..L_j``
(``L_j = min(T_j, L)``) is ``d_jl = y_{j, T_j-l} - sum_i gamma_ij y_{i, T_j-l}``, lags
``L_j < l <= L`` counting as zero. With

    q_pool^2 = (1/L) sum_l ((1/J) sum_j d_jl)^2,   q_sep^2 = (1/J) sum_j (1/L_j) sum_l d_jl^2

the weights minimise ``nu q_pool^2 / q_pool0^2 + (1 - nu) q_sep^2 / q_sep0^2 +
lambda sum_j ||gamma_j||^2`` over one simplex per treated unit, ``q_pool0`` and ``q_sep0``
the imbalances of the separate fit (``nu = 0``). The problem couples the units only
through the pooled term; it is solved by exact block coordinate descent (each block the
active-set simplex QP of :func:`~impacteval.synth._scm_numerics.simplex_quadratic`),
which decreases the convex objective at every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impacteval.exceptions import DataValidationError
from impacteval.synth._scm_numerics import simplex_quadratic

__all__ = [
    "BalanceDesign",
    "MultisynthFit",
    "build_design",
    "default_leads_lags",
    "fit_multisynth",
    "imbalance_norms",
    "solve_dual",
    "solve_weights",
    "summarize_gaps",
]

_MAX_SWEEPS = 5000
_BCD_BUDGET = 2000  # block solves before the dual (solve_dual) takes over, 0 < nu < 1
_TOL = 1e-11


@dataclass(frozen=True)
class BalanceDesign:
    """The lagged outcomes to balance, one block per treated unit.

    Attributes
    ----------
    rows : ndarray of int
        Row of each treated unit in the outcome matrix.
    adoption : ndarray of int
        Adoption column ``T_j`` of each treated unit.
    donors : list of ndarray of int
        Donor rows of each treated unit.
    targets : list of ndarray, shape (L,)
        Treated unit's (demeaned) outcomes at lags ``L..1``, front-padded with zeros.
    donor_mats : list of ndarray, shape (L, n_j)
        The donors' outcomes at the same lags, same padding.
    offsets : ndarray, shape (J, N)
        What is subtracted from each unit's outcomes for treated unit ``j`` (the
        pre-period mean with ``fixedeff``, else zero).
    n_lags_unit : ndarray of int
        ``L_j``, the lags balanced for each treated unit.
    n_lags : int
        ``L``.
    """

    rows: np.ndarray
    adoption: np.ndarray
    donors: list[np.ndarray]
    targets: list[np.ndarray]
    donor_mats: list[np.ndarray]
    offsets: np.ndarray
    n_lags_unit: np.ndarray
    n_lags: int

    @property
    def n_treated(self) -> int:
        """Number of treated units ``J``."""
        return len(self.rows)

    def imbalances(self, weights: list[np.ndarray]) -> np.ndarray:
        """``(J, L)`` imbalance vectors ``d_j`` (lags ``L..1`` left to right)."""
        return np.vstack(
            [x - a @ g for x, a, g in zip(self.targets, self.donor_mats, weights, strict=True)]
        )


@dataclass(frozen=True)
class MultisynthFit:
    """One fit: weights, pooling, imbalance and the gaps by unit and event time.

    ``gaps[j, k]`` is the effect of treated unit ``j`` at event time ``event_times[k]``
    (treated outcome minus its synthetic control, both demeaned with ``fixedeff``); NaN
    where the unit has no such period. Post-treatment event times are ``0..n_leads-1``.
    """

    weights: list[np.ndarray]
    donors: list[np.ndarray]
    nu: float
    imbalance: np.ndarray
    q_pool: float
    q_sep: float
    gaps: np.ndarray
    event_times: np.ndarray
    n_sweeps: int
    converged: bool

    def summaries(self) -> tuple[np.ndarray, np.ndarray, float]:
        """``(event-time averages, unit averages, overall)``: see :func:`summarize_gaps`."""
        return summarize_gaps(self.gaps, self.event_times)


def summarize_gaps(
    gaps: np.ndarray, event_times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Averages of a ``(J, E)`` gap matrix (rows all NaN for units left out).

    Returns the average over the units observed at each event time, each unit's average
    over its post-treatment event times (NaN when it has none), and the overall effect:
    the average over units of their post-treatment averages (augsynth's "Average").
    """
    seen = ~np.isnan(gaps)
    counts = seen.sum(axis=0)
    event_avg = np.where(counts > 0, np.nansum(gaps, axis=0) / np.maximum(counts, 1), np.nan)
    post = gaps[:, event_times >= 0]
    n_post = (~np.isnan(post)).sum(axis=1)
    unit_avg = np.where(n_post > 0, np.nansum(post, axis=1) / np.maximum(n_post, 1), np.nan)
    kept = unit_avg[~np.isnan(unit_avg)]
    overall = float(kept.mean()) if kept.size else float("nan")
    return event_avg, unit_avg, overall


def build_design(
    y: np.ndarray,
    adoption: np.ndarray,
    treated: np.ndarray,
    *,
    n_leads: int,
    n_lags: int,
    fixedeff: bool,
    unit_names: list[str] | None = None,
) -> BalanceDesign:
    """Lay out the lags to balance (``adoption``: ``T`` for never-treated units)."""
    n_times = y.shape[1]
    adopt_inf = np.where(adoption >= n_times, np.inf, adoption.astype(float))
    donors, targets, mats, offsets, lags = [], [], [], [], []
    for k, r in enumerate(treated):
        a = int(adoption[r])
        off = y[:, :a].mean(axis=1) if fixedeff else np.zeros(y.shape[0])
        pool = np.flatnonzero(adopt_inf > a + n_leads)
        if pool.size == 0:
            name = unit_names[k] if unit_names is not None else str(r)
            raise DataValidationError(
                f"`n_leads`: treated unit {name} has no donor (a unit never treated, or first "
                f"treated more than n_leads={n_leads} periods after it); received a panel "
                "whose other units are all treated by then. Lower `n_leads` or add "
                "never-treated units"
            )
        lag_j = min(a, n_lags)
        x = np.zeros(n_lags)
        x[n_lags - lag_j :] = y[r, a - lag_j : a] - off[r]
        mat = np.zeros((n_lags, pool.size))
        mat[n_lags - lag_j :] = (y[pool, a - lag_j : a] - off[pool, None]).T
        donors.append(pool)
        targets.append(x)
        mats.append(mat)
        offsets.append(off)
        lags.append(lag_j)
    return BalanceDesign(
        rows=np.asarray(treated, dtype=np.intp),
        adoption=adoption[treated].astype(np.intp),
        donors=donors,
        targets=targets,
        donor_mats=mats,
        offsets=np.vstack(offsets),
        n_lags_unit=np.asarray(lags, dtype=np.intp),
        n_lags=n_lags,
    )


def imbalance_norms(design: BalanceDesign, d: np.ndarray) -> tuple[float, float]:
    """``(q_pool, q_sep)`` of the imbalance matrix ``d`` (see the module docstring)."""
    q_pool = float(np.sqrt(np.sum(d.mean(axis=0) ** 2) / design.n_lags))
    q_sep = float(np.sqrt(np.mean(np.sum(d**2, axis=1) / design.n_lags_unit)))
    return q_pool, q_sep


def _objective(
    d: np.ndarray, pool: float, sep: np.ndarray, lam: float, weights: list[np.ndarray]
) -> float:
    ridge = lam * sum(float(g @ g) for g in weights) if lam else 0.0
    return float(pool * np.sum(d.sum(axis=0) ** 2) + np.sum(sep * np.sum(d**2, axis=1)) + ridge)


def solve_weights(
    design: BalanceDesign,
    *,
    pool: float,
    sep: np.ndarray,
    lam: float = 0.0,
    start: list[np.ndarray] | None = None,
    max_sweeps: int | None = None,
) -> tuple[list[np.ndarray], int, bool]:
    """Minimise ``pool ||sum_j d_j||^2 + sum_j sep_j ||d_j||^2 + lam sum_j ||gamma_j||^2``.

    Block coordinate descent over the treated units, each block solved exactly on its
    simplex (warm-started on the previous support). Stops when no weight moves by more
    than ``1e-11`` in a sweep or the objective stops decreasing (relative ``1e-15``).
    Returns the weights, the number of sweeps and whether it converged.
    """
    xs, mats = design.targets, design.donor_mats
    grams = [a.T @ a for a in mats]
    if start is None:
        weights = [np.full(a.shape[1], 1.0 / a.shape[1]) for a in mats]
    else:
        weights = [g.copy() for g in start]
    d = design.imbalances(weights)
    total = d.sum(axis=0)
    obj = _objective(d, pool, sep, lam, weights)
    limit = max_sweeps or _MAX_SWEEPS
    for sweep in range(1, limit + 1):
        change = 0.0
        for j, (x, a, gram) in enumerate(zip(xs, mats, grams, strict=True)):
            rest = total - d[j]
            c = pool + float(sep[j])
            g2 = 2.0 * (c * gram + lam * np.eye(gram.shape[0]))
            h = -2.0 * (a.T @ (pool * (rest + x) + sep[j] * x))
            # warm start on the previous support, not on the uniform first guess (a full
            # support makes the solver shrink a singular system one coordinate at a time)
            warm = weights[j] > 0 if (start is not None or sweep > 1) else None
            new = simplex_quadratic(g2, h, start=warm)
            change = max(change, float(np.abs(new - weights[j]).max()))
            weights[j] = new
            d[j] = x - a @ new
            total = rest + d[j]
        new_obj = _objective(d, pool, sep, lam, weights)
        stalled = obj - new_obj <= 1e-15 * max(abs(obj), 1e-300)
        obj = new_obj
        if change <= _TOL or (pool == 0.0 and sweep >= 1) or (stalled and sweep > 1):
            return weights, sweep, True
    return weights, limit, False


def _dual_blocks(
    design: BalanceDesign,
    p: np.ndarray,
    sep: np.ndarray,
    lam: float,
    grams: list[np.ndarray],
    warm: list[np.ndarray],
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each unit's minimiser of ``sep_j ||d_j||^2 + p'd_j + lam ||gamma_j||^2``."""
    weights = []
    for x, a, gram, sj, w0 in zip(design.targets, design.donor_mats, grams, sep, warm, strict=True):
        g2 = 2.0 * (sj * gram + lam * np.eye(gram.shape[0]))
        weights.append(simplex_quadratic(g2, -(a.T @ (2.0 * sj * x + p)), start=w0 > 0))
    return weights, design.imbalances(weights)


def solve_dual(
    design: BalanceDesign,
    *,
    pool: float,
    sep: np.ndarray,
    lam: float,
    start: list[np.ndarray],
) -> tuple[list[np.ndarray], int, bool]:
    """The same minimum as :func:`solve_weights` through the dual of the pooled term.

    With ``s = sum_j d_j`` priced by ``p`` (``L`` numbers), the Lagrangian separates:
    ``g(p) = sum_j min_gamma_j (sep_j ||d_j||^2 + p'd_j + lam ||gamma_j||^2) -
    ||p||^2 / (4 pool)``, each inner problem an exact simplex QP. ``g`` is concave and
    differentiable when every ``sep_j > 0`` (each ``d_j(p)`` is unique), with gradient
    ``sum_j d_j(p) - p / (2 pool)``; it is maximised by L-BFGS from the separate fit's
    price, and the weights at the maximiser are optimal (strong duality of a convex QP).
    Needs ``sep > 0`` (``nu < 1``). Returns the weights, the number of evaluations of
    ``g`` and whether the duality gap (primal objective at the returned weights minus
    ``g``) is within ``1e-8`` of the objective (a certificate of optimality).
    """
    from scipy.optimize import minimize

    grams = [a.T @ a for a in design.donor_mats]
    warm = [[g.copy() for g in start]]  # the last block solution, to warm-start the next
    calls = [0]
    p0 = 2.0 * pool * design.imbalances(start).sum(axis=0)
    scale = max(float(np.abs(p0).max()) / (2.0 * pool), 1e-300)

    def negative_dual(p: np.ndarray) -> tuple[float, np.ndarray]:
        w, d = _dual_blocks(design, p, sep, lam, grams, warm[0])
        warm[0] = w
        calls[0] += 1
        ridge = lam * sum(float(g @ g) for g in w) if lam else 0.0
        value = float(np.sum(sep * np.sum(d**2, axis=1)) + p @ d.sum(axis=0) + ridge)
        value -= float(p @ p) / (4.0 * pool)
        return -value, -(d.sum(axis=0) - p / (2.0 * pool))

    out = minimize(
        negative_dual,
        p0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 2000, "maxfun": 4000, "ftol": 0.0, "gtol": 1e-12 * scale},
    )
    dual = -negative_dual(out.x)[0]
    weights, d = warm[0], design.imbalances(warm[0])
    primal = _objective(d, pool, sep, lam, weights)
    return weights, calls[0], primal - dual <= 1e-8 * max(abs(primal), 1e-300)


def _gaps(
    y: np.ndarray, design: BalanceDesign, weights: list[np.ndarray], n_leads: int
) -> tuple[np.ndarray, np.ndarray]:
    """Gaps by treated unit and event time ``-L..n_leads-1`` (NaN where undefined)."""
    n_times = y.shape[1]
    event_times = np.arange(-design.n_lags, n_leads)
    gaps = np.full((design.n_treated, event_times.size), np.nan)
    for j, (r, a, pool, g) in enumerate(
        zip(design.rows, design.adoption, design.donors, weights, strict=True)
    ):
        off = design.offsets[j]
        path = (y[r] - off[r]) - g @ (y[pool] - off[pool, None])
        lo = int(a) - int(design.n_lags_unit[j])
        hi = min(int(a) + n_leads, n_times)
        cols = np.arange(lo, hi)
        gaps[j, cols - int(a) + design.n_lags] = path[cols]
    return event_times, gaps


def fit_multisynth(
    y: np.ndarray,
    adoption: np.ndarray,
    treated: np.ndarray,
    *,
    nu: float | None,
    n_leads: int,
    n_lags: int,
    fixedeff: bool,
    lam: float = 0.0,
    unit_names: list[str] | None = None,
) -> MultisynthFit:
    """Fit multisynth: separate fit first (it sets ``nu`` when None and the scales)."""
    design = build_design(
        y,
        adoption,
        treated,
        n_leads=n_leads,
        n_lags=n_lags,
        fixedeff=fixedeff,
        unit_names=unit_names,
    )
    n_tr = design.n_treated
    sep_raw = 1.0 / (n_tr * design.n_lags_unit.astype(float))
    sep_w, sweeps, ok = solve_weights(design, pool=0.0, sep=sep_raw, lam=lam)
    d_sep = design.imbalances(sep_w)
    q_pool0, q_sep0 = imbalance_norms(design, d_sep)
    if nu is None:
        total = float(np.sum(np.sqrt(np.sum(d_sep**2, axis=1))))
        nu = float(np.sqrt(np.sum(d_sep.sum(axis=0) ** 2)) / total) if total > 0 else 0.0
    weights = sep_w
    scale = max(float(np.abs(np.concatenate(design.targets)).max(initial=0.0)), 1.0)
    if nu > 0.0 and q_pool0 > 1e-12 * scale:
        pool = nu / (design.n_lags * n_tr**2 * q_pool0**2)
        sep = (1.0 - nu) * sep_raw / (q_sep0**2)
        weights, extra, ok = solve_weights(
            design,
            pool=pool,
            sep=sep,
            lam=lam,
            start=sep_w,
            max_sweeps=max(10, _BCD_BUDGET // n_tr) if nu < 1 else None,
        )
        if not ok:  # slow coordinate descent (many strongly pooled units): the dual
            weights, more, ok = solve_dual(design, pool=pool, sep=sep, lam=lam, start=weights)
            extra += more
        sweeps += extra
    d = design.imbalances(weights)
    q_pool, q_sep = imbalance_norms(design, d)
    event_times, gaps = _gaps(y, design, weights, n_leads)
    return MultisynthFit(
        weights=weights,
        donors=design.donors,
        nu=float(nu),
        imbalance=d,
        q_pool=q_pool,
        q_sep=q_sep,
        gaps=gaps,
        event_times=event_times,
        n_sweeps=sweeps,
        converged=ok,
    )


def default_leads_lags(
    adoption: np.ndarray, treated: np.ndarray, n_times: int
) -> tuple[int, int, int]:
    """augsynth's defaults and the largest ``n_leads``: ``(n_leads, n_lags, max_leads)``.

    ``n_leads`` defaults to the periods after the last adoption (every treated unit then
    has every event time ``0..n_leads-1``), ``n_lags`` to the periods before the last
    adoption; ``n_leads`` may go up to the periods after the first adoption.
    """
    a = adoption[treated]
    return int(n_times - a.max()), int(a.max()), int(n_times - a.min())
