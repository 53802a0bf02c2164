"""Callaway-Sant'Anna group-time ATTs: pure array-in / array-out numerics.

Everything here works on the wide (unit x period) panel as numpy arrays; the public entry
point :func:`impacteval.did.att_gt.att_gt` validates the data and calls these functions.

The 2x2 estimators follow R ``DRDID`` (Sant'Anna & Zhao 2020) line by line, including the
influence functions, propensity-score trimming (controls with a score above 0.995 get zero
weight; scores capped at ``1 - 1e-6``) and the weight normalisation, and the group-time
loop follows R ``did`` 2.x (``did:::compute.att_gt2``): base periods, control groups and the
``n / n_cell`` rescaling of each cell's influence function to the whole sample.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from impacteval.exceptions import ConvergenceWarning, DataValidationError

__all__ = [
    "METHODS",
    "GroupTimeFit",
    "bootstrap_draws",
    "bootstrap_se_and_crit",
    "drdid_imp_panel",
    "drdid_panel",
    "estimate_group_time",
    "if_standard_errors",
    "if_vcov",
    "reg_did_panel",
    "std_ipw_did_panel",
]

Array = np.ndarray
_EPS = float(np.finfo(float).eps)
# R did: standard errors at or below this are degenerate (reported as NaN)
_SE_FLOOR = math.sqrt(_EPS) * 10.0
_TRIM_LEVEL = 0.995  # DRDID's default trim.level
_PS_CAP = 1.0 - 1e-6  # DRDID: pmin(ps.fit, 1 - 1e-6)
_OVERLAP_MAX = 0.999  # did:::overlap_check_fail


class _CellError(Exception):
    """Raised inside a 2x2 estimator; re-raised with the (g, t) cell named."""


# ---------------------------------------------------------------------------------------
# Nuisance fits
# ---------------------------------------------------------------------------------------
def _wls(x: Array, y: Array, w: Array) -> Array:
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)
    return np.asarray(coef)


def _rcond1(a: Array) -> float:
    """Reciprocal 1-norm condition number (R's ``rcond`` up to its estimate)."""
    try:
        inv = np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return 0.0
    return float(1.0 / (np.linalg.norm(a, 1) * np.linalg.norm(inv, 1)))


def _logit(x: Array, d: Array, w: Array, *, maxiter: int = 100, tol: float = 1e-10) -> Array:
    """Weighted logistic regression by Newton-Raphson with step halving; returns coefficients."""
    k = x.shape[1]
    beta = np.zeros(k)
    pbar = float(np.sum(w * d) / np.sum(w))
    if 0.0 < pbar < 1.0 and np.allclose(x[:, 0], 1.0):
        beta[0] = math.log(pbar / (1.0 - pbar))

    def loglik(b: Array) -> float:
        eta = x @ b
        return float(np.sum(w * (d * eta - np.logaddexp(0.0, eta))))

    ll = loglik(beta)
    for _ in range(maxiter):
        p = special.expit(x @ beta)
        grad = x.T @ (w * (d - p))
        hess = (x * (w * p * (1.0 - p))[:, None]).T @ x
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError as exc:
            raise _CellError("the propensity-score design is singular") from exc
        t = 1.0
        while True:
            cand = beta + t * step
            ll_new = loglik(cand)
            if ll_new >= ll - 1e-12 * abs(ll) or t < 1e-8:
                break
            t *= 0.5
        beta, ll_old, ll = cand, ll, ll_new
        if np.max(np.abs(t * step)) < tol or abs(ll - ll_old) < tol * (abs(ll) + tol):
            return beta
    warnings.warn(
        "propensity-score logit did not converge in 100 Newton steps",
        ConvergenceWarning,
        stacklevel=4,
    )
    return beta


def _ipt_pscore(x: Array, d: Array, w: Array, start: Array) -> Array:
    """Inverse-probability-tilting (calibrated) propensity score, as ``DRDID:::pscore.cal``.

    Minimises the convex loss ``mean(w * (-D x'g + (1 - D) exp(x'g)))`` (Graham, Pinto &
    Egel 2012; Tan 2019) by Newton's method with backtracking from the logit estimate; the
    first-order conditions balance the weighted covariate means of the treated and the
    tilted controls exactly. Falls back to the logit score (with a warning) if Newton fails.
    """
    n = x.shape[0]

    def loss(g: Array) -> float:
        idx = x @ g
        return float(np.mean(w * np.where(d == 1, -idx, np.exp(np.minimum(idx, 700.0)))))

    gam = start.copy()
    val = loss(gam)
    for _ in range(1000):
        idx = x @ gam
        e = np.exp(np.minimum(idx, 700.0))
        grad = x.T @ (w * np.where(d == 1, -1.0, e)) / n
        hess = (x * (w * (1.0 - d) * e)[:, None]).T @ x / n
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-10:
            cand = gam + t * step
            new = loss(cand)
            if new <= val + 1e-4 * t * float(grad @ step):
                break
            t *= 0.5
        gam, val = cand, new
        if np.max(np.abs(grad)) < 1e-10 or np.max(np.abs(t * step)) < 1e-12:
            return np.asarray(special.expit(x @ gam))
    warnings.warn(
        "inverse-probability-tilting propensity score did not converge; used the logit "
        "score instead (as DRDID does)",
        ConvergenceWarning,
        stacklevel=4,
    )
    return np.asarray(special.expit(x @ start))


def _normalise(w: Array) -> Array:
    return np.asarray(w / np.mean(w))


def _ols_asy_lin_rep(x: Array, d: Array, w: Array, resid: Array, n: int) -> Array:
    """Asymptotic linear representation of the control-group OLS coefficients."""
    w_ols = w * (1.0 - d)
    xpx = (x * w_ols[:, None]).T @ x / n
    if _rcond1(xpx) < _EPS:
        raise _CellError("the outcome-regression design for the controls is singular")
    return np.asarray(np.linalg.solve(xpx, ((w_ols * resid)[:, None] * x).T).T)


def _ps_asy_lin_rep(x: Array, d: Array, w: Array, ps: Array, n: int) -> Array:
    """Asymptotic linear representation of the logit propensity-score coefficients."""
    hess = (x * (ps * (1.0 - ps) * w)[:, None]).T @ x
    score = (w * (d - ps))[:, None] * x
    try:
        return np.asarray(np.linalg.solve(hess, score.T).T) * n
    except np.linalg.LinAlgError as exc:
        raise _CellError("the propensity-score information matrix is singular") from exc


# ---------------------------------------------------------------------------------------
# 2x2 estimators (panel): each returns (ATT, influence function on the cell's units)
# ---------------------------------------------------------------------------------------
def reg_did_panel(dy: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """Outcome-regression DiD (Heckman, Ichimura & Todd 1997), as ``DRDID::reg_did_panel``.

    Parameters
    ----------
    dy : (n,) outcome change ``Y_t - Y_base``; d : (n,) 0/1 treated-cohort indicator;
    x : (n, k) covariates including the intercept column; w : (n,) sampling weights.
    """
    n = dy.shape[0]
    w = _normalise(w)
    ctrl = d == 0
    beta = _wls(x[ctrl], dy[ctrl], w[ctrl])
    out = x @ beta
    w_treat = w * d
    w_cont = w * d  # sic: the control term is averaged over the treated (DRDID)
    eta_treat = np.mean(w_treat * dy) / np.mean(w_treat)
    eta_cont = np.mean(w_cont * out) / np.mean(w_cont)
    att = float(eta_treat - eta_cont)
    asy = _ols_asy_lin_rep(x, d, w, dy - out, n)
    inf_treat = (w_treat * dy - w_treat * eta_treat) / np.mean(w_treat)
    inf_cont = (w_cont * out - w_cont * eta_cont) + asy @ np.mean(w_cont[:, None] * x, axis=0)
    return att, inf_treat - inf_cont / np.mean(w_cont)


def _trimmed_logit(x: Array, d: Array, w: Array) -> tuple[Array, Array]:
    beta = _logit(x, d, w)
    ps = np.minimum(special.expit(x @ beta), _PS_CAP)
    trim = np.where(d == 1, ps < 1.01, ps < _TRIM_LEVEL).astype(float)
    return ps, trim


def std_ipw_did_panel(dy: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """Normalised (Hajek) IPW DiD (Abadie 2005), as ``DRDID::std_ipw_did_panel``."""
    n = dy.shape[0]
    w = _normalise(w)
    ps, trim = _trimmed_logit(x, d, w)
    w_treat = trim * w * d
    w_cont = trim * w * ps * (1.0 - d) / (1.0 - ps)
    eta_treat = np.mean(w_treat * dy) / np.mean(w_treat)
    eta_cont = np.mean(w_cont * dy) / np.mean(w_cont)
    att = float(eta_treat - eta_cont)
    asy_ps = _ps_asy_lin_rep(x, d, w, ps, n)
    inf_treat = (w_treat * dy - w_treat * eta_treat) / np.mean(w_treat)
    m2 = np.mean((w_cont * (dy - eta_cont))[:, None] * x, axis=0)
    inf_cont = (w_cont * dy - w_cont * eta_cont + asy_ps @ m2) / np.mean(w_cont)
    return att, inf_treat - inf_cont


def drdid_panel(dy: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """Locally efficient doubly robust DiD (Sant'Anna & Zhao 2020), ``DRDID::drdid_panel``.

    Logit propensity score by maximum likelihood, linear outcome regression on the
    controls, with the estimation effects of both nuisance fits in the influence function.
    This is the estimator R ``did::att_gt(est_method = "dr")`` calls for panel data.
    """
    n = dy.shape[0]
    w = _normalise(w)
    ps, trim = _trimmed_logit(x, d, w)
    ctrl = d == 0
    beta = _wls(x[ctrl], dy[ctrl], w[ctrl])
    out = x @ beta
    resid = dy - out
    w_treat = trim * w * d
    w_cont = trim * w * ps * (1.0 - d) / (1.0 - ps)
    eta_treat = np.mean(w_treat * resid) / np.mean(w_treat)
    eta_cont = np.mean(w_cont * resid) / np.mean(w_cont)
    att = float(eta_treat - eta_cont)
    asy_ols = _ols_asy_lin_rep(x, d, w, resid, n)
    asy_ps = _ps_asy_lin_rep(x, d, w, ps, n)
    inf_treat_1 = w_treat * resid - w_treat * eta_treat
    inf_treat_2 = asy_ols @ np.mean(w_treat[:, None] * x, axis=0)
    inf_treat = (inf_treat_1 - inf_treat_2) / np.mean(w_treat)
    inf_cont_1 = w_cont * resid - w_cont * eta_cont
    inf_cont_2 = asy_ps @ np.mean((w_cont * (resid - eta_cont))[:, None] * x, axis=0)
    inf_cont_3 = asy_ols @ np.mean(w_cont[:, None] * x, axis=0)
    inf_control = (inf_cont_1 + inf_cont_2 - inf_cont_3) / np.mean(w_cont)
    return att, inf_treat - inf_control


def drdid_imp_panel(dy: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """Improved (bias-reduced) doubly robust DiD, as ``DRDID::drdid_imp_panel``.

    Propensity score by inverse probability tilting, outcome regression by weighted least
    squares on the controls with weights ``ps / (1 - ps)``; the special first-order
    conditions make the nuisance estimation effects vanish from the influence function.
    """
    w = _normalise(w)
    start = _logit(x, d, w)
    ps = np.minimum(_ipt_pscore(x, d, w, start), _PS_CAP)
    trim = np.where(d == 1, ps < 1.01, ps < _TRIM_LEVEL).astype(float)
    ctrl = d == 0
    beta = _wls(x[ctrl], dy[ctrl], (w * ps / (1.0 - ps))[ctrl])
    out = x @ beta
    summand = trim * (1.0 - (1.0 - d) / (1.0 - ps)) * (dy - out)
    att = float(np.mean(w * summand) / np.mean(d * w))
    inf = w * trim * (summand - d * att) / np.mean(d * w)
    return att, inf


def _simple_did(dy: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """No covariates: every method reduces to the (weighted) 2x2 DiD; closed form."""
    w_t = w * d
    w_c = w * (1.0 - d)
    mu_t = np.sum(w_t * dy) / np.sum(w_t)
    mu_c = np.sum(w_c * dy) / np.sum(w_c)
    n = dy.shape[0]
    inf = n * (w_t * (dy - mu_t) / np.sum(w_t) - w_c * (dy - mu_c) / np.sum(w_c))
    return float(mu_t - mu_c), inf


_Estimator = Callable[[Array, Array, Array, Array], tuple[float, Array]]
METHODS: dict[str, _Estimator] = {
    "dr": drdid_panel,
    "dr_imp": drdid_imp_panel,
    "ipw": std_ipw_did_panel,
    "reg": reg_did_panel,
}


# ---------------------------------------------------------------------------------------
# Group-time loop
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupTimeFit:
    """All group-time ATTs of one panel with their influence functions.

    Attributes
    ----------
    group, time, base : (K,) arrays
        Cohort, period and base period of each cell.
    att : (K,) array
        ATT(g, t) (0 for the normalised cell ``t == base`` under a universal base).
    influence : (n, K) array
        Unit-level influence functions, scaled to the whole sample as R ``did`` does (the
        cell's DRDID influence function times ``n / n_cell``; zero off the cell).
    n_treated, n_control : (K,) int arrays
        Units in each 2x2 comparison.
    unit_cohort : (n,) array
        Each unit's cohort (``inf`` for never treated and as-if never treated).
    weights : (n,) array
        Sampling weights normalised to mean one (ones without weights).
    periods : (T,) array
        The periods of the panel.
    """

    group: Array
    time: Array
    base: Array
    att: Array
    influence: Array
    n_treated: Array
    n_control: Array
    unit_cohort: Array
    weights: Array
    periods: Array

    @property
    def n(self) -> int:
        return int(self.influence.shape[0])


def _fmt_period(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def estimate_group_time(
    y: Array,
    unit_cohort: Array,
    periods: Array,
    groups: Array,
    *,
    x: Array | None,
    weights: Array,
    control_group: str,
    base_period: str,
    anticipation: float,
    method: str,
    covariate_names: tuple[str, ...] = (),
) -> GroupTimeFit:
    """Every ATT(g, t) of a balanced panel, as R ``did::att_gt`` (did 2.x).

    Parameters
    ----------
    y : (n, T) outcomes, periods in increasing order.
    unit_cohort : (n,) first treated period; ``inf`` for never treated.
    periods : (T,) the sorted periods.
    groups : the treated cohorts to estimate (each later than ``periods[0] + anticipation``).
    x : (n, T, k) covariates *without* intercept, or None.
    weights : (n,) positive sampling weights, normalised to mean one.
    control_group : "never_treated" or "not_yet_treated".
    base_period : "varying" or "universal".
    anticipation : periods of anticipation (delta).
    method : "dr", "dr_imp", "ipw" or "reg".

    Notes
    -----
    Cells follow ``did:::run_att_gt_estimation``. For period ``t`` (every period but the
    first under "varying"; every period under "universal") and cohort ``g``:

    * post-treatment (``t >= g``): base = last period ``p`` with ``p + anticipation < g``;
    * pre-treatment (``t < g``): base = the period just before ``t`` ("varying") or as
      post-treatment ("universal"; the cell ``t == base`` is normalised to 0).

    Controls: never treated, or in addition (not-yet-treated) units whose cohort exceeds
    ``max(t, base) + anticipation``, the cohort ``g`` itself excluded. Covariates (and
    weights) are taken from the earlier of ``t`` and the base period.
    """
    n, n_periods = y.shape
    universal = base_period == "universal"
    never = ~np.isfinite(unit_cohort)
    estimator = METHODS[method]
    ones = np.ones((n, 1))
    rows: list[tuple[float, float, float, float, Array, int, int]] = []
    for g in groups:
        pre_idx = np.flatnonzero(periods + anticipation < g)
        pret_g = int(pre_idx[-1])
        treated = unit_cohort == g
        for ti in range(0 if universal else 1, n_periods):
            t = float(periods[ti])
            if t >= g or universal:
                bi = pret_g
            else:
                bi = ti - 1
            base = float(periods[bi])
            if universal and bi == ti:
                rows.append((float(g), t, base, 0.0, np.zeros(n), int(treated.sum()), 0))
                continue
            if control_group == "never_treated":
                control = never
            else:
                cutoff = max(t, base) + anticipation
                control = never | ((unit_cohort > cutoff) & ~treated)
            label = f"(g, t) = ({_fmt_period(g)}, {_fmt_period(t)})"
            if not control.any():
                raise DataValidationError(
                    f"no control units are available for cell {label}: no unit is "
                    f"{'never treated' if control_group == 'never_treated' else 'not yet treated'}"
                    f" in period {_fmt_period(max(t, base))}"
                )
            keep = treated | control
            idx = np.flatnonzero(keep)
            d = treated[idx].astype(float)
            dy = y[idx, ti] - y[idx, bi]
            wc = weights[idx]
            if x is None:
                att, inf_cell = _simple_did(dy, d, ones[idx], wc)
            else:
                xc = np.column_stack([np.ones(idx.size), x[idx, min(bi, ti), :]])
                _check_cell(xc, d, method, label, covariate_names)
                try:
                    att, inf_cell = estimator(dy, d, xc, wc)
                except _CellError as exc:
                    raise DataValidationError(
                        f"cell {label} with covariates {list(covariate_names)}: {exc}"
                    ) from exc
            if not np.isfinite(att) or not np.all(np.isfinite(inf_cell)):
                raise DataValidationError(
                    f"cell {label} with covariates {list(covariate_names)}: the 2x2 "
                    f"estimate is not finite (method {method!r})"
                )
            column = np.zeros(n)
            column[idx] = (n / idx.size) * inf_cell
            rows.append((float(g), t, base, att, column, int(d.sum()), int(idx.size - d.sum())))
    return GroupTimeFit(
        group=np.array([r[0] for r in rows]),
        time=np.array([r[1] for r in rows]),
        base=np.array([r[2] for r in rows]),
        att=np.array([r[3] for r in rows]),
        influence=np.column_stack([r[4] for r in rows]) if rows else np.zeros((n, 0)),
        n_treated=np.array([r[5] for r in rows], dtype=int),
        n_control=np.array([r[6] for r in rows], dtype=int),
        unit_cohort=unit_cohort,
        weights=weights,
        periods=periods,
    )


def _check_cell(x: Array, d: Array, method: str, label: str, names: tuple[str, ...]) -> None:
    """R did's per-cell guards, as errors: overlap (logit score >= 0.999), singular design."""
    if method in ("dr", "dr_imp", "ipw"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                beta = _logit(x, d, np.ones_like(d))
            except _CellError:
                beta = None
        if beta is None or float(np.max(special.expit(x @ beta))) >= _OVERLAP_MAX:
            raise DataValidationError(
                f"overlap fails in cell {label}: a fitted propensity score on covariates "
                f"{list(names)} reaches {_OVERLAP_MAX} (treated units without comparable "
                "controls); drop or coarsen covariates, or use method='reg'"
            )
    if method in ("dr", "dr_imp", "reg"):
        xc = x[d == 0]
        if _rcond1(xc.T @ xc) < _EPS:
            raise DataValidationError(
                f"the covariate matrix of the control units is singular in cell {label} "
                f"(covariates {list(names)}); remove collinear or constant covariates"
            )


# ---------------------------------------------------------------------------------------
# Inference from influence functions
# ---------------------------------------------------------------------------------------
def _cluster_sums(inf: Array, clusters: Array | None, n_clusters: int | None) -> Array:
    if clusters is None:
        return inf
    out = np.zeros((int(n_clusters or clusters.max() + 1), inf.shape[1]))
    np.add.at(out, clusters, inf)
    return out


def if_vcov(inf: Array, clusters: Array | None = None, n_clusters: int | None = None) -> Array:
    """Covariance of the estimates: ``S'S / n^2`` with ``S`` the (cluster-summed) IF.

    Without clusters this is R did's ``V / n`` with ``V = t(inffunc) %*% inffunc / n``; with
    clusters the rows are first summed by cluster (``did``'s ``cluster_analytic`` branch).
    """
    n = inf.shape[0]
    s = _cluster_sums(inf, clusters, n_clusters)
    return np.asarray(s.T @ s / n**2)


def if_standard_errors(
    inf: Array, clusters: Array | None = None, n_clusters: int | None = None
) -> Array:
    """``sqrt(sum_c S_c^2) / n`` per column; degenerate ones (<= sqrt(eps) * 10) are NaN."""
    n = inf.shape[0]
    s = _cluster_sums(inf, clusters, n_clusters)
    se = np.sqrt(np.sum(s**2, axis=0)) / n
    return np.where(se <= _SE_FLOOR, np.nan, se)


def bootstrap_draws(
    inf: Array,
    clusters: Array | None,
    n_clusters: int | None,
    draws: int,
    rng: np.random.Generator,
) -> Array:
    """Multiplier-bootstrap draws ``sqrt(C) * mean_c(U_c S_c)`` with Rademacher ``U_c``.

    As ``did::mboot`` (``BMisc::multiplier_bootstrap`` uses Rademacher weights): ``S`` is the
    IF, summed by cluster when clustered, and ``C`` the number of rows of ``S``. Draws are
    generated in blocks so memory stays below about 40 MB.
    """
    s = _cluster_sums(inf, clusters, n_clusters)
    c = s.shape[0]
    out = np.empty((draws, s.shape[1]))
    block = max(1, min(draws, 5_000_000 // max(c, 1)))
    for start in range(0, draws, block):
        b = min(block, draws - start)
        u = rng.integers(0, 2, size=(b, c), dtype=np.int8).astype(float) * 2.0 - 1.0
        out[start : start + b] = u @ s
    return out / math.sqrt(c)


def _type1_quantile(sorted_values: Array, p: float) -> float:
    m = sorted_values.shape[0]
    j = max(math.ceil(p * m - 1e-12), 1)
    return float(sorted_values[j - 1])


def bootstrap_se_and_crit(
    bres: Array, n: int, n_clusters: int, level: float
) -> tuple[Array, float]:
    """Bootstrap SEs (IQR / 1.349 scale) and the sup-t critical value, as ``did::mboot``.

    Returns
    -------
    se : (K,) array, NaN for degenerate columns; crit : float, the ``level`` quantile of
    ``max_k |b_k / sigma_k|`` over draws (R quantile type 1). NaN when every column is
    degenerate.
    """
    ok = np.isfinite(bres).all(axis=0) & (np.sum(bres**2, axis=0) > _SE_FLOOR)
    iqr_norm = float(stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    sigma = np.full(bres.shape[1], np.nan)
    for k in np.flatnonzero(ok):
        col = np.sort(bres[:, k])
        sigma[k] = (_type1_quantile(col, 0.75) - _type1_quantile(col, 0.25)) / iqr_norm
    se = sigma * math.sqrt(n_clusters) / n
    se = np.where(se <= _SE_FLOOR, np.nan, se)
    usable = ok & np.isfinite(sigma) & (sigma > _SE_FLOOR)
    if not usable.any():
        return se, math.nan
    sup_t = np.max(np.abs(bres[:, usable] / sigma[usable]), axis=1)
    return se, _type1_quantile(np.sort(sup_t), level)
