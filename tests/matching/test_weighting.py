"""IPW, AIPW and entropy balancing (impacteval.matching.weighting): invariants and
independent re-computations.

* The logit propensity score is checked against statsmodels' Logit (independent MLE).
* The M-estimation standard errors are recomputed here from estimating functions written
  out in the test, with the Jacobian taken by central finite differences (no analytic
  derivative shared with the package). Tolerance 1e-5 relative: central differences with
  step ~1e-6 (relative) have truncation error ~1e-10 and rounding error ~1e-9 in the
  Jacobian; the logit MLEs agree to ~1e-9.
* AIPW with the zero outcome model equals Horvitz-Thompson IPW (an identity: exact up to
  rounding, 1e-9 relative).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import impacteval as ie
from impacteval.exceptions import ImpactEvalWarning
from impacteval.matching.weighting import EntropyBalance, aipw, entropy_balance, ipw
from impacteval.results import EffectEstimate, Summary

COVS = ["age", "educ", "black", "hisp", "married", "nodegree", "re74", "re75"]


@pytest.fixture(scope="module")
def nsw() -> pd.DataFrame:
    data: pd.DataFrame = ie.datasets.load("nsw_dw")
    return data


@pytest.fixture(scope="module")
def psid() -> pd.DataFrame:
    data: pd.DataFrame = ie.datasets.load("lalonde_psid")
    return data


def _sim(n: int, seed: int) -> pd.DataFrame:
    gen = np.random.default_rng(seed)
    x1, x2 = gen.normal(size=n), gen.normal(size=n)
    e = 1.0 / (1.0 + np.exp(-(-0.3 + 0.8 * x1 - 0.5 * x2)))
    z = (gen.uniform(size=n) < e).astype(float)
    y = 1.0 + 2.0 * z + x1 + 0.5 * x2 + 0.5 * z * x1 + gen.normal(size=n)
    return pd.DataFrame({"y": y, "z": z, "x1": x1, "x2": x2})


# -- independent M-estimation -------------------------------------------------------------
def _numeric_jacobian(fun, theta: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    jac = np.empty((theta.size, theta.size))
    for j in range(theta.size):
        h = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        jac[:, j] = (fun(up).mean(axis=0) - fun(down).mean(axis=0)) / (2 * h)
    return jac


def _sandwich_se(fun, theta: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    psi = fun(theta)
    n = psi.shape[0]
    a = _numeric_jacobian(fun, theta)
    b = psi.T @ psi / n
    a_inv = np.linalg.inv(a)
    v = a_inv @ b @ a_inv.T / n
    c = np.zeros(theta.size)
    c[-2:] = (1.0, -1.0)
    return float(np.sqrt(c @ v @ c))


def _ipw_by_hand(
    data: pd.DataFrame, y: str, z: str, covs: list[str], estimand: str, normalize: bool
) -> tuple[float, float]:
    x = sm.add_constant(data[covs].to_numpy(float))
    yy, zz = data[y].to_numpy(float), data[z].to_numpy(float)
    beta = sm.Logit(zz, x).fit(disp=0, tol=1e-12, maxiter=200).params
    p = x.shape[1]

    def psi(theta: np.ndarray) -> np.ndarray:
        b, mu1, mu0 = theta[:p], theta[p], theta[p + 1]
        e = 1.0 / (1.0 + np.exp(-(x @ b)))
        if estimand == "ATE" and normalize:
            f1, f0 = zz * (yy - mu1) / e, (1 - zz) * (yy - mu0) / (1 - e)
        elif estimand == "ATE":
            f1, f0 = zz * yy / e - mu1, (1 - zz) * yy / (1 - e) - mu0
        elif normalize:
            f1, f0 = zz * (yy - mu1), (1 - zz) * e / (1 - e) * (yy - mu0)
        else:
            f1, f0 = zz * (yy - mu1), (1 - zz) * e / (1 - e) * yy - zz * mu0
        return np.column_stack([x * (zz - e)[:, None], f1, f0])

    # solve the two mean equations (linear in mu) at beta
    e = 1.0 / (1.0 + np.exp(-(x @ beta)))
    if estimand == "ATE":
        w1, w0 = zz / e, (1 - zz) / (1 - e)
        den1, den0 = (w1.sum(), w0.sum()) if normalize else (len(yy), len(yy))
    else:
        w1, w0 = zz, (1 - zz) * e / (1 - e)
        den1, den0 = zz.sum(), (w0.sum() if normalize else zz.sum())
    mu1, mu0 = w1 @ yy / den1, w0 @ yy / den0
    theta = np.concatenate([beta, [mu1, mu0]])
    assert np.abs(psi(theta).mean(axis=0)).max() < 1e-8 * max(1.0, np.abs(yy).max())
    return float(mu1 - mu0), _sandwich_se(psi, theta)


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
@pytest.mark.parametrize("normalize", [True, False])
def test_ipw_matches_independent_sandwich(
    nsw: pd.DataFrame, estimand: str, normalize: bool
) -> None:
    res = ipw(
        nsw,
        outcome="re78",
        treatment="treat",
        covariates=COVS,
        estimand=estimand,
        normalize=normalize,
    )
    est, se = _ipw_by_hand(nsw, "re78", "treat", COVS, estimand, normalize)
    assert res.estimate == pytest.approx(est, rel=1e-8)
    assert res.std_error == pytest.approx(se, rel=1e-5)
    assert res.ci_method == "normal" and res.df is None
    assert res.estimand == estimand and res.n_obs == len(nsw)


def test_ipw_logit_matches_statsmodels(nsw: pd.DataFrame) -> None:
    res = ipw(nsw, outcome="re78", treatment="treat", covariates=COVS)
    fit = sm.Logit(nsw["treat"].astype(float), sm.add_constant(nsw[COVS].astype(float))).fit(
        disp=0, tol=1e-12
    )
    coef = res.details["ps_coefficients"]
    assert np.allclose(coef.to_numpy(), fit.params.to_numpy(), rtol=1e-6, atol=1e-9)
    assert np.allclose(res.details["propensity_score"].to_numpy(), fit.predict(), atol=1e-9)


def test_ipw_weights_and_details(nsw: pd.DataFrame) -> None:
    res = ipw(nsw, outcome="re78", treatment="treat", covariates=COVS, estimand="ATT")
    w = res.details["weights"]
    e = res.details["propensity_score"]
    z = nsw["treat"]
    assert w.index.equals(nsw.index)
    assert np.allclose(w[z == 1], 1.0)
    assert np.allclose(w[z == 0], e[z == 0] / (1 - e[z == 0]))
    # Hajek ATT = treated mean - normalised weighted control mean
    y = nsw["re78"]
    expect = y[z == 1].mean() - np.average(y[z == 0], weights=w[z == 0])
    assert res.estimate == pytest.approx(expect, rel=1e-10)
    assert res.details["ess_control"] == pytest.approx(
        w[z == 0].sum() ** 2 / (w[z == 0] ** 2).sum()
    )
    assert isinstance(res, EffectEstimate) and isinstance(res.summary(), Summary)
    assert res.provenance.options["estimand"] == "ATT"


def test_ipw_estimated_ps_se_is_smaller_than_known_ps_for_ate() -> None:
    # Estimating the PS by MLE cannot increase the asymptotic variance of Hajek/HT ATE
    # (Lunceford & Davidian 2004); the fixed-PS sandwich is recovered with a custom model.
    data = _sim(2000, 7)
    est = ipw(data, outcome="y", treatment="z", covariates=["x1", "x2"])
    known = ipw(
        data,
        outcome="y",
        treatment="z",
        covariates=["x1", "x2"],
        model=LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000),
    )
    assert known.estimate == pytest.approx(est.estimate, rel=1e-4)
    assert est.std_error < known.std_error
    assert "known" in known.method


def test_crump_trimming_rule(psid: pd.DataFrame) -> None:
    from impacteval.matching._weights_logit import crump_alpha

    with pytest.warns(ImpactEvalWarning, match="trim"):
        res = ipw(psid, outcome="re78", treatment="treat", covariates=COVS, trim="crump")
    alpha = res.details["trim_alpha"]
    full = ipw(psid, outcome="re78", treatment="treat", covariates=COVS)
    e = full.details["propensity_score"].to_numpy()
    # the defining fixed point: gamma = 2 E[g | g <= gamma], g = 1/(e(1-e))
    g = 1.0 / (e * (1.0 - e))
    gamma = 1.0 / (alpha * (1.0 - alpha))
    assert gamma == pytest.approx(2.0 * g[g <= gamma].mean(), rel=1e-10)
    kept = (e >= alpha) & (e <= 1 - alpha)
    assert res.n_obs == kept.sum() and res.details["n_trimmed"] == (~kept).sum()
    assert (res.details["weights"][~kept] == 0).all()
    # no trimming when max g <= 2 mean g
    assert crump_alpha(np.array([0.3, 0.4, 0.5, 0.6])) == 0.0
    # a fixed alpha (the PSID controls include scores below 0.05)
    with pytest.warns(ImpactEvalWarning, match="trim"):
        res_f = ipw(psid, outcome="re78", treatment="treat", covariates=COVS, trim=0.05)
    assert res_f.details["trim_alpha"] == 0.05


def test_ipw_drops_missing_rows_visibly(nsw: pd.DataFrame) -> None:
    data = nsw.copy()
    data.loc[[0, 5, 300], "age"] = np.nan
    with pytest.warns(ie.exceptions.MissingDataWarning):
        res = ipw(data, outcome="re78", treatment="treat", covariates=COVS)
    assert res.n_dropped == 3 and res.n_obs == len(nsw) - 3
    assert not res.details["weights"].index.isin([0, 5, 300]).any()


# -- AIPW -----------------------------------------------------------------------------------
class ZeroRegressor:
    """The zero function as a scikit-learn regressor."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> ZeroRegressor:
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.zeros(len(x))

    def get_params(self, deep: bool = True) -> dict[str, object]:
        return {}

    def set_params(self, **params: object) -> ZeroRegressor:
        return self


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_aipw_with_zero_outcome_model_is_horvitz_thompson(nsw: pd.DataFrame, estimand: str) -> None:
    a = aipw(
        nsw,
        outcome="re78",
        treatment="treat",
        covariates=COVS,
        estimand=estimand,
        outcome_model=ZeroRegressor(),
    )
    b = ipw(
        nsw,
        outcome="re78",
        treatment="treat",
        covariates=COVS,
        estimand=estimand,
        normalize=False,
    )
    assert a.estimate == pytest.approx(b.estimate, rel=1e-9)


def test_aipw_default_models_match_sklearn(nsw: pd.DataFrame) -> None:
    a = aipw(nsw, outcome="re78", treatment="treat", covariates=COVS)
    b = aipw(
        nsw,
        outcome="re78",
        treatment="treat",
        covariates=COVS,
        outcome_model=LinearRegression(),
        propensity_model=make_pipeline(
            StandardScaler(), LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000)
        ),
    )
    # sklearn's lbfgs stops at its own gradient tolerance: 1e-6 relative is ample
    assert a.estimate == pytest.approx(b.estimate, rel=1e-6)
    assert a.std_error == pytest.approx(b.std_error, rel=1e-6)


def test_aipw_se_is_the_influence_function_se(nsw: pd.DataFrame) -> None:
    res = aipw(nsw, outcome="re78", treatment="treat", covariates=COVS)
    infl = res.details["influence"]
    assert abs(infl.mean()) < 1e-6 * np.abs(infl).max()
    assert res.std_error == pytest.approx(np.sqrt(np.mean(infl**2) / len(nsw)), rel=1e-12)
    # by hand from the stored nuisances
    e, m1, m0 = (res.details[k].to_numpy() for k in ("propensity_score", "mu1_hat", "mu0_hat"))
    y, z = nsw["re78"].to_numpy(), nsw["treat"].to_numpy()
    phi = m1 - m0 + z * (y - m1) / e - (1 - z) * (y - m0) / (1 - e)
    assert res.estimate == pytest.approx(phi.mean(), rel=1e-12)


def test_aipw_cross_fitting_is_seeded(nsw: pd.DataFrame) -> None:
    kw = {"outcome": "re78", "treatment": "treat", "covariates": COVS, "cross_fit": 3}
    a = aipw(nsw, rng=11, **kw)  # type: ignore[arg-type]
    b = aipw(nsw, rng=11, **kw)  # type: ignore[arg-type]
    c = aipw(nsw, rng=12, **kw)  # type: ignore[arg-type]
    assert a.estimate == b.estimate and a.std_error == b.std_error
    assert a.estimate != c.estimate
    assert a.provenance.seed == 11
    folds = a.details["folds"]
    z = nsw["treat"].to_numpy()
    for f in range(3):  # stratified: each arm spread evenly
        assert abs((folds[z == 1] == f).sum() - z.sum() / 3) <= 1


# -- entropy balancing ----------------------------------------------------------------------
def test_entropy_balance_balances_exactly(psid: pd.DataFrame) -> None:
    eb = entropy_balance(psid, treatment="treat", covariates=COVS, moments=2)
    assert isinstance(eb, EntropyBalance) and eb.converged
    z = psid["treat"] == 1
    w = eb.weights[~z]
    for col in COVS:
        assert np.average(psid.loc[~z, col], weights=w) == pytest.approx(
            psid.loc[z, col].mean(), rel=1e-7, abs=1e-9
        )
    for col in ["age", "educ", "re74"]:  # second moments (non-binary only)
        assert np.average(psid.loc[~z, col] ** 2, weights=w) == pytest.approx(
            (psid.loc[z, col] ** 2).mean(), rel=1e-7
        )
    assert "black^2" not in eb.balance_table.index
    assert eb.ess == pytest.approx(w.sum() ** 2 / (w**2).sum())
    assert eb.max_weight == pytest.approx(w.max())
    assert eb.effect is None
    assert "Entropy balancing" in str(eb)


def _ebal_by_hand(data: pd.DataFrame, covs: list[str]) -> tuple[float, float]:
    """ATT and its sandwich SE with numerical derivatives (independent of the package)."""
    x = data[covs].to_numpy(float)
    c = (x - x.mean(axis=0)) / x.std(axis=0)
    z = data["treat"].to_numpy(float)
    y = data["re78"].to_numpy(float)
    k = len(covs)
    from scipy import optimize

    ctrl = c[z == 0]
    target = c[z == 1].mean(axis=0)

    def dual(lam: np.ndarray) -> float:
        return float(np.log(np.exp((ctrl - target) @ lam).sum()))

    lam = optimize.minimize(dual, np.zeros(k), method="BFGS", options={"gtol": 1e-12}).x
    s0 = np.exp(ctrl @ lam).mean()

    def psi(theta: np.ndarray) -> np.ndarray:
        m, la, mu1, mu0 = theta[:k], theta[k : 2 * k], theta[2 * k], theta[2 * k + 1]
        s = (1 - z) * np.exp(c @ la) / s0
        return np.column_stack(
            [z[:, None] * (c - m), s[:, None] * (c - m), z * (y - mu1), s * (y - mu0)]
        )

    w = np.exp(ctrl @ lam)
    mu1, mu0 = y[z == 1].mean(), w @ y[z == 0] / w.sum()
    theta = np.concatenate([target, lam, [mu1, mu0]])
    return float(mu1 - mu0), _sandwich_se(psi, theta)


def test_entropy_balance_effect_and_sandwich(psid: pd.DataFrame) -> None:
    covs = ["age", "educ", "black", "married", "re74", "re75"]
    eb = entropy_balance(psid, treatment="treat", covariates=covs, outcome="re78")
    est, se = _ebal_by_hand(psid, covs)
    assert eb.effect is not None
    # BFGS in the test stops at ~1e-7 relative in lambda
    assert eb.effect.estimate == pytest.approx(est, rel=1e-6)
    assert eb.effect.std_error == pytest.approx(se, rel=1e-4)
    assert eb.effect.estimand == "ATT" and eb.effect.n_obs == len(psid)


def test_entropy_balance_atc_mirrors_att(psid: pd.DataFrame) -> None:
    covs = ["age", "educ", "re75"]
    flipped = psid.assign(treat=1 - psid["treat"])
    atc = entropy_balance(psid, treatment="treat", covariates=covs, estimand="ATC", outcome="re78")
    att = entropy_balance(flipped, treatment="treat", covariates=covs, outcome="re78")
    assert np.allclose(atc.weights, att.weights, rtol=1e-8)
    assert atc.effect is not None and att.effect is not None
    assert atc.effect.estimate == pytest.approx(-att.effect.estimate, rel=1e-8)
    assert atc.effect.std_error == pytest.approx(att.effect.std_error, rel=1e-8)
