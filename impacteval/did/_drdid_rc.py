"""DRDID's 2x2 difference-in-differences estimators for repeated cross-sections, as numpy.

Each function takes one entry per observation -- outcome ``y``, 0/1 ``post`` period and
``d`` treated-group indicators, covariates ``x`` (with the intercept column) and sampling
weights ``w`` -- and returns the ATT and its influence function on those observations. They
follow R ``DRDID`` (Sant'Anna & Zhao 2020): outcome regression (``reg_did_rc``), normalised
and unnormalised IPW (``std_ipw_did_rc``, ``ipw_did_rc``), the doubly robust estimators with
a logit score and OLS (``drdid_rc`` locally efficient, eq. 3.4; ``drdid_rc1`` not, eq. 3.3)
and the improved ones with an inverse-probability-tilting score and weighted least squares
(``drdid_imp_rc``, ``drdid_imp_rc1``), whose influence functions carry no estimation effect
of the nuisance fits. The method names of :func:`impacteval.did.att_gt` and the standard
error conventions are tabulated in :mod:`impacteval.did._drdid`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from impacteval.did._drdid import (
    EPS,
    CellError,
    PScore,
    normalise,
    ps_asy_lin_rep,
    rcond1,
    trimmed_logit,
    wls,
)

__all__ = [
    "METHODS_RC",
    "drdid_imp_rc",
    "drdid_imp_rc1",
    "drdid_rc",
    "drdid_rc1",
    "ipw_did_rc",
    "ols_rc",
    "reg_did_rc",
    "std_ipw_did_rc",
]

Array = np.ndarray


def ols_rc(x: Array, y: Array, w: Array, mask: Array, n: int, what: str) -> tuple[Array, Array]:
    """WLS of ``y`` on ``x`` in the rows ``mask``: fitted values for every row and the
    asymptotic linear representation of the coefficients (zero outside ``mask``)."""
    w_ols = w * mask
    xpx = (x * w_ols[:, None]).T @ x / n
    if rcond1(xpx) < EPS:
        raise CellError(f"the outcome-regression design of the {what} is singular")
    beta = wls(x[mask], y[mask], w[mask])
    fitted = x @ beta
    rep = np.linalg.solve(xpx, ((w_ols * (y - fitted))[:, None] * x).T).T
    return np.asarray(fitted), np.asarray(rep)


def _wls_fitted(x: Array, y: Array, w: Array, mask: Array, what: str) -> Array:
    """Fitted values of the WLS of ``y`` on ``x`` in the rows ``mask`` (no linear
    representation: the improved estimators need none)."""
    xm, wm = x[mask], w[mask]
    if rcond1((xm * wm[:, None]).T @ xm) < EPS:
        raise CellError(f"the outcome-regression design of the {what} is singular")
    return np.asarray(x @ wls(xm, y[mask], wm))


def _mean_ratio(a: Array, w: Array) -> float:
    return float(np.mean(a) / np.mean(w))


def reg_did_rc(y: Array, post: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """Outcome-regression DiD for repeated cross-sections, as ``DRDID::reg_did_rc``.

    Linear regressions of ``y`` on ``x`` among the controls in each period; the treated
    enter through their raw pre and post means (so the treated levels' variance is in the
    SE: with repeated cross-sections nothing differences it away).
    """
    n = y.shape[0]
    w = normalise(w)
    ctrl = d == 0
    out_pre, rep_pre = ols_rc(x, y, w, ctrl & (post == 0), n, "controls before")
    out_post, rep_post = ols_rc(x, y, w, ctrl & (post == 1), n, "controls after")
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
    ps, trim = trimmed_logit(x, d, w)
    return ps, trim, ps_asy_lin_rep(x, d, w, ps, n)


def std_ipw_did_rc(y: Array, post: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """Normalised IPW DiD for repeated cross-sections (Abadie 2005), ``DRDID::std_ipw_did_rc``."""
    w = normalise(w)
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


def ipw_did_rc(y: Array, post: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """Unnormalised (Horvitz-Thompson) IPW DiD for repeated cross-sections, as
    ``DRDID::ipw_did_rc`` (Abadie 2005, eq. 3.3 with estimated ``P(D=1)`` and ``P(T=1)``).

    Each of the four cell means divides by ``mean(w D) * mean(w 1{T=t})`` instead of the
    sum of its own weights; the influence function has the estimation effects of those two
    shares and of the logit score.
    """
    w = normalise(w)
    ps, trim, rep_ps = _ps_rc(x, d, w)
    odds = ps / (1.0 - ps)
    pi = float(np.mean(w * d))
    lam = {"1": float(np.mean(w * post)), "p": float(np.mean(w * (1.0 - post)))}
    in_t = {"1": post, "p": 1.0 - post}
    weights = {
        "tp": w * d * (1.0 - post),
        "t1": w * d * post,
        "cp": trim * w * odds * (1.0 - d) * (1.0 - post),
        "c1": trim * w * odds * (1.0 - d) * post,
    }
    eta = {k: v * y / (pi * lam[k[1]]) for k, v in weights.items()}
    a = {k: float(np.mean(v)) for k, v in eta.items()}
    att = (a["t1"] - a["tp"]) - (a["c1"] - a["cp"])
    inf = {
        k: (eta[k] - a[k])
        - (w * d - pi) * a[k] / pi
        - (w * in_t[k[1]] - lam[k[1]]) * a[k] / lam[k[1]]
        for k in weights
    }
    mom_pre = -np.mean(eta["cp"][:, None] * x, axis=0)
    mom_post = -np.mean(eta["c1"][:, None] * x, axis=0)
    inf_logit = rep_ps @ (mom_post - mom_pre)
    return float(att), np.asarray((inf["t1"] - inf["tp"]) - (inf["c1"] - inf["cp"]) + inf_logit)


def _colmean(v: Array, x: Array) -> Array:
    return np.asarray(np.mean(v[:, None] * x, axis=0))


def _dr_rc(
    y: Array, post: Array, d: Array, x: Array, w: Array, *, efficient: bool
) -> tuple[float, Array]:
    """``drdid_rc1`` (``efficient=False``) or ``drdid_rc``: the shared traditional DR fit.

    The treated and control components with the estimation effects of the logit score and
    the two control regressions are eq. 3.3 of Sant'Anna & Zhao (2020); the locally
    efficient eq. 3.4 adds the treated-minus-control regression gap in each period and the
    estimation effects of the two treated regressions.
    """
    n = y.shape[0]
    w = normalise(w)
    ps, trim, rep_ps = _ps_rc(x, d, w)
    ctrl, trt = d == 0, d == 1
    oc_pre, rep_c_pre = ols_rc(x, y, w, ctrl & (post == 0), n, "controls before")
    oc_post, rep_c_post = ols_rc(x, y, w, ctrl & (post == 1), n, "controls after")
    oc = post * oc_post + (1.0 - post) * oc_pre
    odds = ps / (1.0 - ps)
    w_tp = trim * w * d * (1.0 - post)
    w_t1 = trim * w * d * post
    w_cp = trim * w * odds * (1.0 - d) * (1.0 - post)
    w_c1 = trim * w * odds * (1.0 - d) * post
    resid = y - oc
    e_tp, e_t1 = w_tp * resid / np.mean(w_tp), w_t1 * resid / np.mean(w_t1)
    e_cp, e_c1 = w_cp * resid / np.mean(w_cp), w_c1 * resid / np.mean(w_c1)
    a = {k: float(np.mean(v)) for k, v in {"tp": e_tp, "t1": e_t1, "cp": e_cp, "c1": e_c1}.items()}
    att = (a["t1"] - a["tp"]) - (a["c1"] - a["cp"])
    # treated component, with the estimation effect of the control regressions
    inf_tp = e_tp - w_tp * a["tp"] / np.mean(w_tp)
    inf_t1 = e_t1 - w_t1 * a["t1"] / np.mean(w_t1)
    m1_post = -_colmean(w_t1 * post, x) / np.mean(w_t1)
    m1_pre = -_colmean(w_tp * (1.0 - post), x) / np.mean(w_tp)
    inf_treat = inf_t1 - inf_tp + rep_c_post @ m1_post + rep_c_pre @ m1_pre
    # control component: propensity score and control regressions
    inf_cp = e_cp - w_cp * a["cp"] / np.mean(w_cp)
    inf_c1 = e_c1 - w_c1 * a["c1"] / np.mean(w_c1)
    m2_pre = _colmean(w_cp * (resid - a["cp"]), x) / np.mean(w_cp)
    m2_post = _colmean(w_c1 * (resid - a["c1"]), x) / np.mean(w_c1)
    m3_post = -_colmean(w_c1 * post, x) / np.mean(w_c1)
    m3_pre = -_colmean(w_cp * (1.0 - post), x) / np.mean(w_cp)
    inf_cont = (
        inf_c1 - inf_cp + rep_ps @ (m2_post - m2_pre) + rep_c_post @ m3_post + rep_c_pre @ m3_pre
    )
    if not efficient:
        return float(att), np.asarray(inf_treat - inf_cont)
    # local efficiency: treated regressions, adjustment terms and their estimation effects
    ot_pre, rep_t_pre = ols_rc(x, y, w, trt & (post == 0), n, "treated before")
    ot_post, rep_t_post = ols_rc(x, y, w, trt & (post == 1), n, "treated after")
    w_d = trim * w * d
    gap_post, gap_pre = ot_post - oc_post, ot_pre - oc_pre
    e_d_post, e_dt1_post = w_d * gap_post / np.mean(w_d), w_t1 * gap_post / np.mean(w_t1)
    e_d_pre, e_dt0_pre = w_d * gap_pre / np.mean(w_d), w_tp * gap_pre / np.mean(w_tp)
    b = {
        k: float(np.mean(v))
        for k, v in {
            "d_post": e_d_post, "dt1_post": e_dt1_post, "d_pre": e_d_pre, "dt0_pre": e_dt0_pre
        }.items()
    }  # fmt: skip
    att = att + (b["d_post"] - b["dt1_post"]) - (b["d_pre"] - b["dt0_pre"])
    inf_eff = (
        (e_d_post - w_d * b["d_post"] / np.mean(w_d))
        - (e_dt1_post - w_t1 * b["dt1_post"] / np.mean(w_t1))
        - (e_d_pre - w_d * b["d_pre"] / np.mean(w_d))
        + (e_dt0_pre - w_tp * b["dt0_pre"] / np.mean(w_tp))
    )
    mom_post = _colmean(w_d / np.mean(w_d) - w_t1 / np.mean(w_t1), x)
    mom_pre = _colmean(w_d / np.mean(w_d) - w_tp / np.mean(w_tp), x)
    inf_or = (rep_t_post - rep_c_post) @ mom_post - (rep_t_pre - rep_c_pre) @ mom_pre
    return float(att), np.asarray(inf_treat - inf_cont + inf_eff + inf_or)


def drdid_rc(y: Array, post: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """Locally efficient doubly robust DiD for repeated cross-sections, ``DRDID::drdid_rc``.

    Logit propensity score; linear outcome regressions for the controls *and* the treated in
    each period (the treated ones make the estimator locally efficient, Sant'Anna & Zhao
    2020, eq. 3.4); the estimation effects of all five nuisance fits are in the influence
    function. This is what R ``did::att_gt(est_method = "dr", panel = FALSE)`` calls.
    """
    return _dr_rc(y, post, d, x, w, efficient=True)


def drdid_rc1(y: Array, post: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """Doubly robust DiD for repeated cross-sections that is not locally efficient
    (Sant'Anna & Zhao 2020, eq. 3.3), as ``DRDID::drdid_rc1``.

    Logit score and control-group regressions in each period only: still doubly robust,
    but with a larger asymptotic variance than :func:`drdid_rc` when both models are right.
    """
    return _dr_rc(y, post, d, x, w, efficient=False)


def _dr_imp_rc(
    y: Array, post: Array, d: Array, x: Array, w: Array, *, efficient: bool
) -> tuple[float, Array]:
    """``drdid_imp_rc1`` (``efficient=False``) or ``drdid_imp_rc``.

    Inverse-probability-tilting score; control regressions by WLS with weights
    ``w ps / (1 - ps)`` in each period (and, when ``efficient``, treated regressions by WLS
    with ``w``). These fits solve the moment conditions that make the nuisance estimation
    effects vanish, so the influence function is the leading term only (as DRDID).
    """
    w = normalise(w)
    ps, trim = PScore(x, d, w).ipt()
    ctrl, trt = d == 0, d == 1
    w_or = w * ps / (1.0 - ps)
    oc_pre = _wls_fitted(x, y, w_or, ctrl & (post == 0), "controls before")
    oc_post = _wls_fitted(x, y, w_or, ctrl & (post == 1), "controls after")
    oc = post * oc_post + (1.0 - post) * oc_pre
    odds = ps / (1.0 - ps)
    parts = {
        "tp": trim * w * d * (1.0 - post),
        "t1": trim * w * d * post,
        "cp": trim * w * odds * (1.0 - d) * (1.0 - post),
        "c1": trim * w * odds * (1.0 - d) * post,
    }
    resid = y - oc
    eta = {k: v * resid / np.mean(v) for k, v in parts.items()}
    if efficient:
        ot_pre = _wls_fitted(x, y, w, trt & (post == 0), "treated before")
        ot_post = _wls_fitted(x, y, w, trt & (post == 1), "treated after")
        parts |= {"d": w * d, "dt1": w * d * post, "dt0": w * d * (1.0 - post)}
        gap = {"post": ot_post - oc_post, "pre": ot_pre - oc_pre}
        for key, (wk, g) in {
            "d_post": ("d", "post"), "dt1_post": ("dt1", "post"),
            "d_pre": ("d", "pre"), "dt0_pre": ("dt0", "pre"),
        }.items():  # fmt: skip
            parts[key] = parts[wk]
            eta[key] = parts[wk] * gap[g] / np.mean(parts[wk])
    a = {k: float(np.mean(v)) for k, v in eta.items()}
    inf = {k: eta[k] - parts[k] * a[k] / np.mean(parts[k]) for k in eta}
    att = (a["t1"] - a["tp"]) - (a["c1"] - a["cp"])
    out = (inf["t1"] - inf["tp"]) - (inf["c1"] - inf["cp"])
    if efficient:
        att = att + (a["d_post"] - a["dt1_post"]) - (a["d_pre"] - a["dt0_pre"])
        out = out + (inf["d_post"] - inf["dt1_post"]) - (inf["d_pre"] - inf["dt0_pre"])
    return float(att), np.asarray(out)


def drdid_imp_rc(y: Array, post: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """Improved, locally efficient doubly robust DiD for repeated cross-sections, as
    ``DRDID::drdid_imp_rc`` (Sant'Anna & Zhao 2020, Section 3.2 with eq. 3.4's form).

    Inverse-probability-tilting propensity score, control regressions by WLS with weights
    ``ps / (1 - ps)`` and treated regressions by WLS in each period; DRDID's default
    repeated-cross-section estimator (``drdid(est_method = "imp", panel = FALSE)``).
    """
    return _dr_imp_rc(y, post, d, x, w, efficient=True)


def drdid_imp_rc1(y: Array, post: Array, d: Array, x: Array, w: Array) -> tuple[float, Array]:
    """Improved doubly robust DiD for repeated cross-sections that is not locally
    efficient, as ``DRDID::drdid_imp_rc1``: :func:`drdid_imp_rc` without the treated
    regressions."""
    return _dr_imp_rc(y, post, d, x, w, efficient=False)


_EstimatorRC = Callable[[Array, Array, Array, Array, Array], tuple[float, Array]]
METHODS_RC: dict[str, _EstimatorRC] = {
    "dr": drdid_rc,
    "dr_imp": drdid_imp_rc,
    "dr_imp_rc1": drdid_imp_rc1,
    "dr_rc1": drdid_rc1,
    "ipw": std_ipw_did_rc,
    "ipw_ht": ipw_did_rc,
    "reg": reg_did_rc,
}
