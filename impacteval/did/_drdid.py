"""DRDID's 2x2 difference-in-differences estimators (Sant'Anna & Zhao 2020), as numpy: panel.

Panel (long differences) versions of the outcome-regression, normalised (Hajek) and
unnormalised (Horvitz-Thompson) IPW, doubly robust and improved doubly robust estimators,
each returning the ATT and its influence function, plus the nuisance fits that the
repeated-cross-section versions in :mod:`impacteval.did._drdid_rc` share. They follow R
``DRDID`` line by line, including propensity-score trimming (controls with a score above
0.995 get zero weight; scores capped at ``1 - 1e-6``) and the weight normalisation. The
group-time loop that calls them is in :mod:`impacteval.did._cs_numerics`.

NOTES
-----
Estimator names (``att_gt(method=...)``) and their R ``DRDID`` counterparts, panel /
repeated cross-sections (equation numbers of Sant'Anna & Zhao 2020):

- ``reg``: ``reg_did_panel`` / ``reg_did_rc`` -- outcome regression.
- ``ipw``: ``std_ipw_did_panel`` / ``std_ipw_did_rc`` -- IPW with the weights normalised
  to sum to one (Hajek; DRDID's ``ipwdid(normalized = TRUE)``).
- ``ipw_ht``: ``ipw_did_panel`` / ``ipw_did_rc`` -- unnormalised IPW (Horvitz-Thompson;
  Abadie 2005; ``ipwdid(normalized = FALSE)``).
- ``dr``: ``drdid_panel`` / ``drdid_rc`` -- doubly robust, locally efficient (eq. 3.1 /
  eq. 3.4).
- ``dr_imp``: ``drdid_imp_panel`` / ``drdid_imp_rc`` -- improved doubly robust
  (inverse-probability-tilting score, weighted least squares), locally efficient.
- ``dr_rc1``: -- / ``drdid_rc1`` -- doubly robust, not locally efficient (eq. 3.3).
- ``dr_imp_rc1``: -- / ``drdid_imp_rc1`` -- improved doubly robust, not locally efficient.

With panel data the treated units' outcome change is observed, so no treated-group
outcome regression enters and the panel estimators (eq. 3.1) are already locally
efficient; DRDID defines the ``rc1`` variants for repeated cross-sections only, and so does
impacteval.

Each function returns the influence function ``IF_i`` on the ``n`` rows it was given. The
standard error conventions built on it (chosen by ``att_gt(se_convention=...)``):
R ``did`` reports ``sqrt(sum_i IF_i^2) / n``; R ``DRDID`` reports ``sd(IF) / sqrt(n)`` with
R's ``sd`` (divisor ``n - 1``), larger by ``sqrt(n / (n - 1))`` when the IF has mean zero.
With one cell holding every unit (two periods) ``"drdid"`` is exactly DRDID's printed SE.
With several cells ``att_gt`` applies the same formula to each cell's influence function
rescaled to the whole sample (zero off the cell), so the factor is ``sqrt(n / (n - 1))``
with ``n`` the units of the sample, not of the cell; the aggregations and the pre-test use
the same sample covariance. DRDID has no clustered SE, so ``"drdid"`` is unclustered only.
The Python port moderndid 0.2.0 prints R did's convention for these estimators, not
DRDID's (tests/reference/peers/generate_moderndid_drdid.py); impacteval follows DRDID.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
from scipy import special

from impacteval._warn import warn_user
from impacteval.exceptions import ConvergenceWarning

__all__ = [
    "EPS",
    "METHODS",
    "PS_CAP",
    "TRIM_LEVEL",
    "CellError",
    "PScore",
    "PanelEstimator",
    "drdid_imp_panel",
    "drdid_panel",
    "ipt_pscore",
    "ipw_did_panel",
    "logit_fit",
    "logit_newton",
    "normalise",
    "ps_asy_lin_rep",
    "ps_score_hessian",
    "rcond1",
    "reg_did_panel",
    "simple_did",
    "std_ipw_did_panel",
    "trimmed_logit",
    "wls",
]

Array = np.ndarray
EPS = float(np.finfo(float).eps)
TRIM_LEVEL = 0.995  # DRDID's default trim.level
PS_CAP = 1.0 - 1e-6  # DRDID: pmin(ps.fit, 1 - 1e-6)


class CellError(Exception):
    """Raised inside a 2x2 estimator; re-raised with the (g, t) cell named."""


# ---------------------------------------------------------------------------------------
# Nuisance fits
# ---------------------------------------------------------------------------------------
def wls(x: Array, y: Array, w: Array) -> Array:
    """Weighted least-squares coefficients of ``y`` on ``x`` with weights ``w``."""
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
    """Weighted logistic regression by Newton-Raphson with step halving; returns coefficients.

    Warns (``ConvergenceWarning``) when Newton has not converged after ``maxiter`` steps.
    """
    beta, converged = logit_newton(x, d, w, maxiter=maxiter, tol=tol)
    if not converged:
        warn_user(
            f"propensity-score logit did not converge in {maxiter} Newton steps",
            ConvergenceWarning,
        )
    return beta


def logit_newton(
    x: Array, d: Array, w: Array, *, maxiter: int = 100, tol: float = 1e-10
) -> tuple[Array, bool]:
    """:func:`logit_fit` without the warning: the coefficients and whether Newton converged.

    Issues no warning, so it may run on a worker thread (``warnings.catch_warnings`` is
    not thread-safe).
    """
    from impacteval.did._drdid_fused import LogitPass  # compiled: imported on first use

    k = x.shape[1]
    beta = np.zeros(k)
    x = np.ascontiguousarray(x, dtype=float)
    d = np.ascontiguousarray(d, dtype=float)
    w = np.ascontiguousarray(w, dtype=float)
    logit_pass = LogitPass(x, d, w)
    pbar = float(np.sum(w * d) / np.sum(w))
    # np.allclose(x[:, 0], 1.0) without its temporaries: |x - 1| <= atol + rtol * 1
    if 0.0 < pbar < 1.0 and float(np.max(np.abs(x[:, 0] - 1.0))) <= 1e-8 + 1e-5:
        beta[0] = math.log(pbar / (1.0 - pbar))
    # one compiled pass per candidate gives its log-likelihood, score and information; an
    # accepted candidate's score and information are the next Newton step's
    ll, grad, hess = logit_pass(beta)
    for _ in range(maxiter):
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError as exc:
            raise CellError("the propensity-score design is singular") from exc
        t = 1.0
        while True:
            cand = beta + t * step
            ll_new, grad_new, hess_new = logit_pass(cand)
            if ll_new >= ll - 1e-12 * abs(ll) or t < 1e-8:
                break
            t *= 0.5
        beta, ll_old, ll, grad, hess = cand, ll, ll_new, grad_new, hess_new
        if np.max(np.abs(t * step)) < tol or abs(ll - ll_old) < tol * (abs(ll) + tol):
            return beta, True
    return beta, False


def ipt_pscore(x: Array, d: Array, w: Array, start: Array) -> Array:
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


def normalise(w: Array) -> Array:
    """Weights rescaled to mean one (DRDID's ``i.weights / mean(i.weights)``)."""
    return np.asarray(w / np.mean(w))


def _ols_asy_lin_rep(x: Array, d: Array, w: Array, resid: Array, n: int) -> Array:
    """Asymptotic linear representation of the control-group OLS coefficients."""
    w_ols = w * (1.0 - d)
    xpx = (x * w_ols[:, None]).T @ x / n
    if rcond1(xpx) < EPS:
        raise CellError("the outcome-regression design for the controls is singular")
    return np.asarray(np.linalg.solve(xpx, ((w_ols * resid)[:, None] * x).T).T)


def ps_asy_lin_rep(x: Array, d: Array, w: Array, ps: Array, n: int) -> Array:
    """Asymptotic linear representation of the logit propensity-score coefficients."""
    hess, score = ps_score_hessian(x, d, w, ps)
    try:
        return np.asarray(np.linalg.solve(hess, score.T).T) * n
    except np.linalg.LinAlgError as exc:
        raise CellError("the propensity-score information matrix is singular") from exc


def ps_score_hessian(x: Array, d: Array, w: Array, ps: Array) -> tuple[Array, Array]:
    """The logit's information matrix ``(k, k)`` and score contributions ``(n, k)``: the
    asymptotic linear representation is ``n * score @ inv(hess)`` (``hess`` symmetric).
    A caller that only needs its products with a few vectors ``m`` solves ``hess z = m``
    instead of forming the ``n x k`` representation (:func:`drdid_panel_batch`)."""
    hess = (x * (ps * (1.0 - ps) * w)[:, None]).T @ x
    score = (w * (d - ps))[:, None] * x
    return hess, score


class PScore:
    """The propensity-score fits of one ``(x, d, w)`` (``w`` normalised), each computed on
    first use and kept: the logit coefficients, the trimmed logit score, its asymptotic
    linear representation and the inverse-probability-tilting score.

    ``att_gt`` passes one object to every cell whose ``(x, d, w)`` are equal (e.g. all
    post-treatment cells of a cohort with never-treated controls), so those fits run once;
    each is the same function of the same numbers as a fresh fit.
    """

    def __init__(self, x: Array, d: Array, w: Array, beta: Array | None = None) -> None:
        self.x, self.d, self.w = x, d, w
        self._beta = beta
        self._logit: tuple[Array, Array] | None = None
        self._asy: Array | None = None
        self._ipt: tuple[Array, Array] | None = None

    def matches(self, x: Array, d: Array, w: Array) -> bool:
        """Whether ``(x, d, w)`` equal this object's inputs exactly."""
        return (
            x.shape == self.x.shape
            and np.array_equal(d, self.d)
            and np.array_equal(w, self.w)
            and np.array_equal(x, self.x)
        )

    @property
    def fitted(self) -> bool:
        """Whether the logit coefficients are known (given, or fitted already)."""
        return self._beta is not None

    def beta(self) -> Array:
        """Logit coefficients (maximum likelihood)."""
        if self._beta is None:
            self._beta = logit_fit(self.x, self.d, self.w)
        return self._beta

    def logit(self) -> tuple[Array, Array]:
        """The logit score capped at ``1 - 1e-6`` and DRDID's trimming indicator."""
        if self._logit is None:
            self._logit = trimmed_logit(self.x, self.d, self.w, self.beta())
        return self._logit

    def asy(self) -> Array:
        """Asymptotic linear representation of the logit coefficients."""
        if self._asy is None:
            ps = self.logit()[0]
            self._asy = ps_asy_lin_rep(self.x, self.d, self.w, ps, self.d.shape[0])
        return self._asy

    def ipt(self) -> tuple[Array, Array]:
        """The inverse-probability-tilting score (from the logit start), capped, and the
        trimming indicator, as DRDID's improved estimators use them."""
        if self._ipt is None:
            ps = np.minimum(ipt_pscore(self.x, self.d, self.w, self.beta()), PS_CAP)
            self._ipt = (ps, np.where(self.d == 1, ps < 1.01, ps < TRIM_LEVEL).astype(float))
        return self._ipt


# ---------------------------------------------------------------------------------------
# 2x2 estimators (panel): each returns (ATT, influence function on the cell's units)
# ---------------------------------------------------------------------------------------
def reg_did_panel(
    dy: Array, d: Array, x: Array, w: Array, *, pscore: PScore | None = None
) -> tuple[float, Array]:
    """Outcome-regression DiD (Heckman, Ichimura & Todd 1997), as ``DRDID::reg_did_panel``.

    Parameters
    ----------
    dy : (n,) outcome change ``Y_t - Y_base``; d : (n,) 0/1 treated-cohort indicator;
    x : (n, k) covariates including the intercept column; w : (n,) sampling weights.
    """
    n = dy.shape[0]
    w = normalise(w)
    ctrl = d == 0
    beta = wls(x[ctrl], dy[ctrl], w[ctrl])
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


def trimmed_logit(x: Array, d: Array, w: Array, beta: Array | None = None) -> tuple[Array, Array]:
    """Logit propensity score capped at ``1 - 1e-6`` and DRDID's trimming indicator.

    ``beta``: the logit coefficients of exactly this fit, when already computed.
    """
    if beta is None:
        beta = logit_fit(x, d, w)
    ps = np.minimum(special.expit(x @ beta), PS_CAP)
    trim = np.where(d == 1, ps < 1.01, ps < TRIM_LEVEL).astype(float)
    return ps, trim


def std_ipw_did_panel(
    dy: Array, d: Array, x: Array, w: Array, *, pscore: PScore | None = None
) -> tuple[float, Array]:
    """Normalised (Hajek) IPW DiD (Abadie 2005), as ``DRDID::std_ipw_did_panel``."""
    w = normalise(w)
    fits = PScore(x, d, w) if pscore is None else pscore
    ps, trim = fits.logit()
    w_treat = trim * w * d
    w_cont = trim * w * ps * (1.0 - d) / (1.0 - ps)
    eta_treat = np.mean(w_treat * dy) / np.mean(w_treat)
    eta_cont = np.mean(w_cont * dy) / np.mean(w_cont)
    att = float(eta_treat - eta_cont)
    asy_ps = fits.asy()
    inf_treat = (w_treat * dy - w_treat * eta_treat) / np.mean(w_treat)
    m2 = np.mean((w_cont * (dy - eta_cont))[:, None] * x, axis=0)
    inf_cont = (w_cont * dy - w_cont * eta_cont + asy_ps @ m2) / np.mean(w_cont)
    return att, inf_treat - inf_cont


def ipw_did_panel(
    dy: Array, d: Array, x: Array, w: Array, *, pscore: PScore | None = None
) -> tuple[float, Array]:
    """Unnormalised (Horvitz-Thompson) IPW DiD (Abadie 2005), as ``DRDID::ipw_did_panel``.

    ``mean(w (D - ps (1 - D) / (1 - ps)) dy) / mean(w D)``: the control weights are not
    rescaled to sum to one (unlike :func:`std_ipw_did_panel`); the influence function has
    the logit score's estimation effect and that of ``mean(w D)``.
    """
    w = normalise(w)
    fits = PScore(x, d, w) if pscore is None else pscore
    ps, trim = fits.logit()
    w_treat = trim * w * d
    w_cont = trim * w * ps * (1.0 - d) / (1.0 - ps)
    att_treat = w_treat * dy
    att_cont = w_cont * dy
    p_d = np.mean(w * d)
    att = float(np.mean(att_treat) / p_d - np.mean(att_cont) / p_d)
    asy_ps = fits.asy()
    lin2 = asy_ps @ np.mean(att_cont[:, None] * x, axis=0)
    return att, np.asarray((att_treat - att_cont - lin2 - w * d * att) / p_d)


def drdid_panel(
    dy: Array, d: Array, x: Array, w: Array, *, pscore: PScore | None = None
) -> tuple[float, Array]:
    """Locally efficient doubly robust DiD (Sant'Anna & Zhao 2020), ``DRDID::drdid_panel``.

    Logit propensity score by maximum likelihood, linear outcome regression on the
    controls, with the estimation effects of both nuisance fits in the influence function.
    This is the estimator R ``did::att_gt(est_method = "dr")`` calls for panel data.
    """
    n = dy.shape[0]
    w = normalise(w)
    fits = PScore(x, d, w) if pscore is None else pscore
    ps, trim = fits.logit()
    ctrl = d == 0
    beta = wls(x[ctrl], dy[ctrl], w[ctrl])
    out = x @ beta
    resid = dy - out
    w_treat = trim * w * d
    w_cont = trim * w * ps * (1.0 - d) / (1.0 - ps)
    eta_treat = np.mean(w_treat * resid) / np.mean(w_treat)
    eta_cont = np.mean(w_cont * resid) / np.mean(w_cont)
    att = float(eta_treat - eta_cont)
    asy_ols = _ols_asy_lin_rep(x, d, w, resid, n)
    asy_ps = fits.asy()
    inf_treat_1 = w_treat * resid - w_treat * eta_treat
    inf_treat_2 = asy_ols @ np.mean(w_treat[:, None] * x, axis=0)
    inf_treat = (inf_treat_1 - inf_treat_2) / np.mean(w_treat)
    inf_cont_1 = w_cont * resid - w_cont * eta_cont
    inf_cont_2 = asy_ps @ np.mean((w_cont * (resid - eta_cont))[:, None] * x, axis=0)
    inf_cont_3 = asy_ols @ np.mean(w_cont[:, None] * x, axis=0)
    inf_control = (inf_cont_1 + inf_cont_2 - inf_cont_3) / np.mean(w_cont)
    return att, inf_treat - inf_control


def drdid_imp_panel(
    dy: Array, d: Array, x: Array, w: Array, *, pscore: PScore | None = None
) -> tuple[float, Array]:
    """Improved (bias-reduced) doubly robust DiD, as ``DRDID::drdid_imp_panel``.

    Propensity score by inverse probability tilting, outcome regression by weighted least
    squares on the controls with weights ``ps / (1 - ps)``; the special first-order
    conditions make the nuisance estimation effects vanish from the influence function.
    """
    w = normalise(w)
    ps, trim = (PScore(x, d, w) if pscore is None else pscore).ipt()
    ctrl = d == 0
    beta = wls(x[ctrl], dy[ctrl], (w * ps / (1.0 - ps))[ctrl])
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


class PanelEstimator(Protocol):
    """A panel 2x2 estimator: ``(dy, d, x, w, *, pscore=None) -> (ATT, IF)``.

    ``pscore``: the :class:`PScore` of ``(x, d, normalise(w))`` when the caller has one
    (estimators without a propensity score ignore it).
    """

    def __call__(
        self, dy: Array, d: Array, x: Array, w: Array, *, pscore: PScore | None = None
    ) -> tuple[float, Array]: ...


METHODS: dict[str, PanelEstimator] = {
    "dr": drdid_panel,
    "dr_imp": drdid_imp_panel,
    "ipw": std_ipw_did_panel,
    "ipw_ht": ipw_did_panel,
    "reg": reg_did_panel,
}
