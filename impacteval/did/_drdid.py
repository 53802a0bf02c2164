"""DRDID's 2x2 difference-in-differences estimators (Sant'Anna & Zhao 2020), as numpy.

Panel (long differences) and repeated cross-section versions of the outcome-regression,
normalised IPW, doubly robust and improved doubly robust estimators, each returning the
ATT and its influence function. They follow R ``DRDID`` line by line, including
propensity-score trimming (controls with a score above 0.995 get zero weight; scores capped
at ``1 - 1e-6``) and the weight normalisation. The group-time loop that calls them is in
:mod:`impacteval.did._cs_numerics`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import special

from impacteval._warn import warn_user
from impacteval.exceptions import ConvergenceWarning

__all__ = [
    "EPS",
    "METHODS",
    "METHODS_RC",
    "CellError",
    "drdid_imp_panel",
    "drdid_panel",
    "drdid_rc",
    "logit_fit",
    "rcond1",
    "reg_did_panel",
    "reg_did_rc",
    "simple_did",
    "std_ipw_did_panel",
    "std_ipw_did_rc",
]

Array = np.ndarray
EPS = float(np.finfo(float).eps)
_TRIM_LEVEL = 0.995  # DRDID's default trim.level
_PS_CAP = 1.0 - 1e-6  # DRDID: pmin(ps.fit, 1 - 1e-6)


class CellError(Exception):
    """Raised inside a 2x2 estimator; re-raised with the (g, t) cell named."""


# ---------------------------------------------------------------------------------------
# Nuisance fits
# ---------------------------------------------------------------------------------------
def _wls(x: Array, y: Array, w: Array) -> Array:
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)
    return np.asarray(coef)


def rcond1(a: Array) -> float:
    """Reciprocal 1-norm condition number (R's ``rcond`` up to its estimate)."""
    try:
        inv = np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return 0.0
    return float(1.0 / (np.linalg.norm(a, 1) * np.linalg.norm(inv, 1)))


def logit_fit(x: Array, d: Array, w: Array, *, maxiter: int = 100, tol: float = 1e-10) -> Array:
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
            raise CellError("the propensity-score design is singular") from exc
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
    warn_user("propensity-score logit did not converge in 100 Newton steps", ConvergenceWarning)
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
    warn_user(
        "inverse-probability-tilting propensity score did not converge; used the logit "
        "score instead (as DRDID does)",
        ConvergenceWarning,
    )
    return np.asarray(special.expit(x @ start))


def _normalise(w: Array) -> Array:
    return np.asarray(w / np.mean(w))


def _ols_asy_lin_rep(x: Array, d: Array, w: Array, resid: Array, n: int) -> Array:
    """Asymptotic linear representation of the control-group OLS coefficients."""
    w_ols = w * (1.0 - d)
    xpx = (x * w_ols[:, None]).T @ x / n
    if rcond1(xpx) < EPS:
        raise CellError("the outcome-regression design for the controls is singular")
    return np.asarray(np.linalg.solve(xpx, ((w_ols * resid)[:, None] * x).T).T)


def _ps_asy_lin_rep(x: Array, d: Array, w: Array, ps: Array, n: int) -> Array:
    """Asymptotic linear representation of the logit propensity-score coefficients."""
    hess = (x * (ps * (1.0 - ps) * w)[:, None]).T @ x
    score = (w * (d - ps))[:, None] * x
    try:
        return np.asarray(np.linalg.solve(hess, score.T).T) * n
    except np.linalg.LinAlgError as exc:
        raise CellError("the propensity-score information matrix is singular") from exc


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
    beta = logit_fit(x, d, w)
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
    start = logit_fit(x, d, w)
    ps = np.minimum(_ipt_pscore(x, d, w, start), _PS_CAP)
    trim = np.where(d == 1, ps < 1.01, ps < _TRIM_LEVEL).astype(float)
    ctrl = d == 0
    beta = _wls(x[ctrl], dy[ctrl], (w * ps / (1.0 - ps))[ctrl])
    out = x @ beta
    summand = trim * (1.0 - (1.0 - d) / (1.0 - ps)) * (dy - out)
    att = float(np.mean(w * summand) / np.mean(d * w))
    inf = w * trim * (summand - d * att) / np.mean(d * w)
    return att, inf


def simple_did(dy: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
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
# 2x2 estimators (repeated cross-sections): y, post, d, x, w are one entry per observation
# ---------------------------------------------------------------------------------------
def _ols_rc(x: Array, y: Array, w: Array, mask: Array, n: int, what: str) -> tuple[Array, Array]:
    """WLS of ``y`` on ``x`` in the rows ``mask``: fitted values for every row and the
    asymptotic linear representation of the coefficients (zero outside ``mask``)."""
    w_ols = w * mask
    xpx = (x * w_ols[:, None]).T @ x / n
    if rcond1(xpx) < EPS:
        raise CellError(f"the outcome-regression design of the {what} is singular")
    beta = _wls(x[mask], y[mask], w[mask])
    fitted = x @ beta
    rep = np.linalg.solve(xpx, ((w_ols * (y - fitted))[:, None] * x).T).T
    return np.asarray(fitted), np.asarray(rep)


def _mean_ratio(a: Array, w: Array) -> float:
    return float(np.mean(a) / np.mean(w))


def reg_did_rc(y: Array, post: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """Outcome-regression DiD for repeated cross-sections, as ``DRDID::reg_did_rc``.

    Linear regressions of ``y`` on ``x`` among the controls in each period; the treated
    enter through their raw pre and post means (so the treated levels' variance is in the
    SE: with repeated cross-sections nothing differences it away).
    """
    n = y.shape[0]
    w = _normalise(w)
    ctrl = d == 0
    out_pre, rep_pre = _ols_rc(x, y, w, ctrl & (post == 0), n, "controls before")
    out_post, rep_post = _ols_rc(x, y, w, ctrl & (post == 1), n, "controls after")
    w_treat_pre = w * d * (1.0 - post)
    w_treat_post = w * d * post
    w_cont = w * d
    treat_pre = w_treat_pre * y
    treat_post = w_treat_post * y
    cont = w_cont * (out_post - out_pre)
    eta_treat_pre = _mean_ratio(treat_pre, w_treat_pre)
    eta_treat_post = _mean_ratio(treat_post, w_treat_post)
    eta_cont = _mean_ratio(cont, w_cont)
    att = (eta_treat_post - eta_treat_pre) - eta_cont
    inf_treat = (treat_post - w_treat_post * eta_treat_post) / np.mean(w_treat_post) - (
        treat_pre - w_treat_pre * eta_treat_pre
    ) / np.mean(w_treat_pre)
    m1 = np.mean(w_cont[:, None] * x, axis=0)
    inf_control = (cont - w_cont * eta_cont + rep_post @ m1 - rep_pre @ m1) / np.mean(w_cont)
    return float(att), np.asarray(inf_treat - inf_control)


def _ps_rc(x: Array, d: Array, w: Array) -> tuple[Array, Array, Array]:
    """Trimmed logit score, trimming indicator and the score's linear representation."""
    n = d.shape[0]
    ps, trim = _trimmed_logit(x, d, w)
    return ps, trim, _ps_asy_lin_rep(x, d, w, ps, n)


def std_ipw_did_rc(y: Array, post: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """Normalised IPW DiD for repeated cross-sections (Abadie 2005), ``DRDID::std_ipw_did_rc``."""
    w = _normalise(w)
    ps, trim, rep_ps = _ps_rc(x, d, w)
    odds = ps / (1.0 - ps)
    parts = {
        "tp": trim * w * d * (1.0 - post),
        "t1": trim * w * d * post,
        "cp": trim * w * odds * (1.0 - d) * (1.0 - post),
        "c1": trim * w * odds * (1.0 - d) * post,
    }
    eta = {k: v * y / np.mean(v) for k, v in parts.items()}
    att_k = {k: float(np.mean(v)) for k, v in eta.items()}
    att = (att_k["t1"] - att_k["tp"]) - (att_k["c1"] - att_k["cp"])
    inf = {k: eta[k] - parts[k] * att_k[k] / np.mean(parts[k]) for k in parts}
    m2_pre = np.mean((parts["cp"] * (y - att_k["cp"]))[:, None] * x, axis=0) / np.mean(parts["cp"])
    m2_post = np.mean((parts["c1"] * (y - att_k["c1"]))[:, None] * x, axis=0) / np.mean(parts["c1"])
    inf_treat = inf["t1"] - inf["tp"]
    inf_cont = inf["c1"] - inf["cp"] + rep_ps @ (m2_post - m2_pre)
    return float(att), np.asarray(inf_treat - inf_cont)


def drdid_rc(y: Array, post: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """Locally efficient doubly robust DiD for repeated cross-sections, ``DRDID::drdid_rc``.

    Logit propensity score; linear outcome regressions for the controls *and* the treated in
    each period (the treated ones make the estimator locally efficient, Sant'Anna & Zhao
    2020, eq. 3.4); the estimation effects of all five nuisance fits are in the influence
    function. This is what R ``did::att_gt(est_method = "dr", panel = FALSE)`` calls.
    """
    n = y.shape[0]
    w = _normalise(w)
    ps, trim, rep_ps = _ps_rc(x, d, w)
    ctrl, trt = d == 0, d == 1
    oc_pre, rep_c_pre = _ols_rc(x, y, w, ctrl & (post == 0), n, "controls before")
    oc_post, rep_c_post = _ols_rc(x, y, w, ctrl & (post == 1), n, "controls after")
    ot_pre, rep_t_pre = _ols_rc(x, y, w, trt & (post == 0), n, "treated before")
    ot_post, rep_t_post = _ols_rc(x, y, w, trt & (post == 1), n, "treated after")
    oc = post * oc_post + (1.0 - post) * oc_pre
    odds = ps / (1.0 - ps)
    w_tp = trim * w * d * (1.0 - post)
    w_t1 = trim * w * d * post
    w_cp = trim * w * odds * (1.0 - d) * (1.0 - post)
    w_c1 = trim * w * odds * (1.0 - d) * post
    w_d = trim * w * d
    resid = y - oc
    e_tp, e_t1 = w_tp * resid / np.mean(w_tp), w_t1 * resid / np.mean(w_t1)
    e_cp, e_c1 = w_cp * resid / np.mean(w_cp), w_c1 * resid / np.mean(w_c1)
    gap_post, gap_pre = ot_post - oc_post, ot_pre - oc_pre
    e_d_post, e_dt1_post = w_d * gap_post / np.mean(w_d), w_t1 * gap_post / np.mean(w_t1)
    e_d_pre, e_dt0_pre = w_d * gap_pre / np.mean(w_d), w_tp * gap_pre / np.mean(w_tp)
    a = {
        k: float(np.mean(v))
        for k, v in {
            "tp": e_tp, "t1": e_t1, "cp": e_cp, "c1": e_c1,
            "d_post": e_d_post, "dt1_post": e_dt1_post, "d_pre": e_d_pre, "dt0_pre": e_dt0_pre,
        }.items()
    }  # fmt: skip
    att = (
        (a["t1"] - a["tp"])
        - (a["c1"] - a["cp"])
        + (a["d_post"] - a["dt1_post"])
        - (a["d_pre"] - a["dt0_pre"])
    )

    def colmean(v: Array) -> Array:
        return np.asarray(np.mean(v[:, None] * x, axis=0))

    # treated component, with the estimation effect of the control regressions
    inf_tp = e_tp - w_tp * a["tp"] / np.mean(w_tp)
    inf_t1 = e_t1 - w_t1 * a["t1"] / np.mean(w_t1)
    m1_post = -colmean(w_t1 * post) / np.mean(w_t1)
    m1_pre = -colmean(w_tp * (1.0 - post)) / np.mean(w_tp)
    inf_treat = inf_t1 - inf_tp + rep_c_post @ m1_post + rep_c_pre @ m1_pre
    # control component: propensity score and control regressions
    inf_cp = e_cp - w_cp * a["cp"] / np.mean(w_cp)
    inf_c1 = e_c1 - w_c1 * a["c1"] / np.mean(w_c1)
    m2_pre = colmean(w_cp * (resid - a["cp"])) / np.mean(w_cp)
    m2_post = colmean(w_c1 * (resid - a["c1"])) / np.mean(w_c1)
    m3_post = -colmean(w_c1 * post) / np.mean(w_c1)
    m3_pre = -colmean(w_cp * (1.0 - post)) / np.mean(w_cp)
    inf_cont = (
        inf_c1 - inf_cp + rep_ps @ (m2_post - m2_pre) + rep_c_post @ m3_post + rep_c_pre @ m3_pre
    )
    # local-efficiency adjustment terms and their regression estimation effects
    inf_eff = (
        (e_d_post - w_d * a["d_post"] / np.mean(w_d))
        - (e_dt1_post - w_t1 * a["dt1_post"] / np.mean(w_t1))
        - (e_d_pre - w_d * a["d_pre"] / np.mean(w_d))
        + (e_dt0_pre - w_tp * a["dt0_pre"] / np.mean(w_tp))
    )
    mom_post = colmean(w_d / np.mean(w_d) - w_t1 / np.mean(w_t1))
    mom_pre = colmean(w_d / np.mean(w_d) - w_tp / np.mean(w_tp))
    inf_or = (rep_t_post - rep_c_post) @ mom_post - (rep_t_pre - rep_c_pre) @ mom_pre
    return float(att), np.asarray(inf_treat - inf_cont + inf_eff + inf_or)


_EstimatorRC = Callable[[Array, Array, Array, Array, Array], tuple[float, Array]]
METHODS_RC: dict[str, _EstimatorRC] = {
    "dr": drdid_rc,
    "ipw": std_ipw_did_rc,
    "reg": reg_did_rc,
}
