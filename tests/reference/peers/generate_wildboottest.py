"""Reference values for impacteval.inference.wild from wildboottest (run in a separate venv).

    python -m venv /tmp/peervenv && /tmp/peervenv/bin/pip install wildboottest==0.3.2
    /tmp/peervenv/bin/python tests/reference/peers/generate_wildboottest.py

wildboottest (Python port of fwildclusterboot / boottest's "fast and wild" algorithm; the
engine behind pyfixest's ``Feols.wildboottest``) is not a dependency of impacteval; only its
output is committed (tests/reference/data/wildboottest_reference.json). The bootstrap is
type "11" (CR1 variance, ``adj`` and ``cluster_adj`` True), as pyfixest calls it.

Data:

* simulated few-cluster data (written here with numpy, seed 20261205, to
  tests/reference/data/wild_sim_clusters.csv): G = 8 and G = 12 clusters of unequal sizes,
  treatment at the cluster level in 3 (G = 8) or 4 (G = 12) clusters, a covariate,
  cluster random effects. With Rademacher weights and B = 9999 > 2^G the peer enumerates
  all 2^G sign vectors, so its numbers are deterministic; the bootstrap t statistics are
  stored (all of them for G = 8, every 16th for G = 12) in the peer's enumeration order.
* data/sample/mpdta.csv: two-way fixed effects (county and year), clustered by county
  (G = 500), random Rademacher draws (seed 1, B = 9999). The peer gets the county-demeaned
  outcome, treatment and year dummies (building 500 dummies makes its G x G loop too
  slow); the county effect is nested in the clusters, so this is exactly the dummy
  regression's bootstrap except for k in the CR1 factor, recorded as ``k_peer``.
* data/sample/dib_learning.csv: endline learning level on treatment, baseline level and
  stratum dummies, clustered by village (G = 280), complete cases, Webb draws (seed 2,
  B = 9999) at a null value 1.8 standard errors from the estimate (a p-value away from 0,
  so the Monte Carlo comparison has power).

Each simulated design is tested at 0 and at a null 2.5 CR1 standard errors below the
estimate (rounded to 4 decimals), where the p-value is moderate.

The peer's test value is fixed at 0, so a null ``theta`` for coefficient ``j`` is tested as
0 on ``y - theta x_j`` (the same restricted and unrestricted residuals, hence the same
bootstrap). The peer's two-tailed p-value counts ``|t*| > |t|`` in floating point; under WCR
the sign vectors +-1 reproduce the sample (``|t*| = |t|`` exactly in exact arithmetic), so
``p_value_no_ties`` recounts from the peer's own ``t_boot`` with ties (relative 1e-9)
excluded, and ``n_ties`` says how many draws were within that tolerance.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import wildboottest
from wildboottest.wildboottest import WildboottestCL

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "tests" / "reference" / "data"
B = 9999


def simulate() -> pd.DataFrame:
    rng = np.random.default_rng(20261205)
    frames = []
    for g_count, n_treated in ((8, 3), (12, 4)):
        sizes = rng.integers(10, 60, size=g_count)  # unequal cluster sizes
        cl = np.repeat(np.arange(g_count), sizes)
        treated = np.zeros(g_count)
        treated[rng.choice(g_count, size=n_treated, replace=False)] = 1.0
        n = cl.size
        x = rng.normal(size=n) + 0.5 * rng.normal(size=g_count)[cl]
        y = 1.0 + 0.3 * treated[cl] + 0.5 * x + rng.normal(size=g_count)[cl] + rng.normal(size=n)
        frames.append(
            pd.DataFrame(
                {"design": f"G{g_count}", "cluster": cl, "treat": treated[cl], "x": x, "y": y}
            )
        )
    return pd.concat(frames, ignore_index=True)


def run_peer(x, y, cluster, j, impose_null, weights, seed):
    r_vec = np.zeros(x.shape[1])
    r_vec[j] = 1.0
    boot = WildboottestCL(X=x, Y=y, cluster=cluster, R=r_vec, B=B, seed=seed, parallel=False)
    boot.get_scores(bootstrap_type="11", impose_null=impose_null, adj=True, cluster_adj=True)
    boot.get_weights(weights_type=weights)
    boot.get_numer()
    boot.get_denom()
    boot.get_tboot()
    boot.get_vcov()
    boot.get_tstat()
    boot.get_pvalue(pval_type="two-tailed")
    p_sym = float(boot.pvalue)
    boot.get_pvalue(pval_type="equal-tailed")
    p_eq = float(boot.pvalue)
    t = float(np.asarray(boot.t_stat).ravel()[0])
    t_boot = np.asarray(boot.t_boot, dtype=float).ravel()
    tol = 1e-9 * max(1.0, abs(t))
    return {
        "t_stat": t,
        "p_value_two_tailed": p_sym,
        "p_value_equal_tailed": p_eq,
        "p_value_no_ties": float(np.mean(np.abs(t_boot) > abs(t) + tol)),
        "n_ties": int(np.sum(np.abs(np.abs(t_boot) - abs(t)) <= tol)),
        "n_draws": int(t_boot.size),
        "enumerated": bool(boot.full_enumeration),
        "ssc": float(boot.ssc),
        "k_peer": int(x.shape[1]),
        "weights": weights,
        "impose_null": impose_null,
        "seed": seed,
        "B": B,
    }, t_boot


def shifted_null(x, y, cl, j, mult) -> float:
    """``beta_j + mult * se_CR1`` rounded to 4 decimals (numpy OLS, not the peer)."""
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ x.T @ y
    scores = pd.DataFrame(x * (y - x @ beta)[:, None]).groupby(cl).sum().to_numpy()
    g, (n, k) = scores.shape[0], x.shape
    vcov = xtx_inv @ scores.T @ scores @ xtx_inv * g / (g - 1) * (n - 1) / (n - k)
    return round(float(beta[j] + mult * np.sqrt(vcov[j, j])), 4)


def sim_cases(sim: pd.DataFrame) -> list[dict]:
    cases = []
    for design, sub in sim.groupby("design", sort=True):
        x = np.column_stack([np.ones(len(sub)), sub["treat"], sub["x"]])
        cl = sub["cluster"].to_numpy()
        # 0 and a null 2.5 CR1 standard errors below the estimate (a moderate p-value)
        for null in (0.0, shifted_null(x, sub["y"].to_numpy(), cl, 1, -2.5)):
            y = sub["y"].to_numpy() - null * sub["treat"].to_numpy()
            for impose_null in (True, False):
                out, t_boot = run_peer(x, y, cl, 1, impose_null, "rademacher", 1)
                step = 1 if design == "G8" else 16
                out.update(
                    id=f"sim_{design}_{'WCR' if impose_null else 'WCU'}_"
                    + ("null0" if null == 0.0 else "shifted"),
                    design=design,
                    columns=["(Intercept)", "treat", "x"],
                    coef="treat",
                    null=null,
                    t_boot_step=step,
                    t_boot=[float(v) for v in t_boot[::step]],
                )
                cases.append(out)
        y = sub["y"].to_numpy()
        out, _ = run_peer(x, y, cl, 1, True, "webb", 7)
        out.update(id=f"sim_{design}_WCR_webb", design=design, coef="treat", null=0.0)
        cases.append(out)
    return cases


def mpdta_case() -> dict:
    d = pd.read_csv(ROOT / "data" / "sample" / "mpdta.csv")
    d["treat_post"] = ((d["first_treat"] > 0) & (d["year"] >= d["first_treat"])).astype(float)
    years = sorted(d["year"].unique())
    cols = {"treat_post": d["treat_post"].to_numpy(dtype=float)}
    for yr in years[1:]:
        cols[f"year[{yr}]"] = (d["year"] == yr).to_numpy(dtype=float)
    frame = pd.DataFrame(cols)
    frame["lemp"] = d["lemp"].to_numpy(dtype=float)
    demeaned = frame - frame.groupby(d["countyreal"].to_numpy()).transform("mean")
    x = demeaned.drop(columns="lemp").to_numpy()
    out, _ = run_peer(
        x, demeaned["lemp"].to_numpy(), d["countyreal"].to_numpy(), 0, True, "rademacher", 1
    )
    out.update(
        id="mpdta_twfe",
        call="lemp ~ treat_post | countyreal + year, cluster countyreal (county-demeaned)",
        coef="treat_post",
        null=0.0,
        n_obs=len(d),
        n_clusters=int(d["countyreal"].nunique()),
        n_absorbed=int(d["countyreal"].nunique()),
    )
    return out


def dib_case() -> dict:
    d = pd.read_csv(ROOT / "data" / "sample" / "dib_learning.csv")
    d = d.dropna(subset=["endline_level", "treatment", "baseline_level", "village", "stratum"])
    strata = sorted(d["stratum"].unique())
    cols = [np.ones(len(d)), d["treatment"], d["baseline_level"]]
    cols += [(d["stratum"] == s).to_numpy(dtype=float) for s in strata[1:]]
    x = np.column_stack(cols)
    y = d["endline_level"].to_numpy(dtype=float)
    cl = d["village"].to_numpy()
    null = shifted_null(x, y, cl, 1, 1.8)
    out, _ = run_peer(x, y - null * x[:, 1], cl, 1, True, "webb", 2)
    out.update(
        id="dib_learning_webb",
        call="endline_level ~ treatment + baseline_level + C(stratum), cluster village",
        coef="treatment",
        null=null,
        n_obs=len(d),
        n_clusters=int(d["village"].nunique()),
    )
    return out


def main() -> None:
    sim = simulate()
    sim.to_csv(OUT / "wild_sim_clusters.csv", index=False, float_format="%.17g")
    cases = [*sim_cases(sim), mpdta_case(), dib_case()]
    out = {
        "generated_by": "tests/reference/peers/generate_wildboottest.py",
        "wildboottest": getattr(wildboottest, "__version__", "0.3.2"),
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "bootstrap_type": "11",
        "cases": cases,
    }
    path = OUT / "wildboottest_reference.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", path, len(cases), "cases")


if __name__ == "__main__":
    main()
