"""Reference values for ``did.twfe(..., inference="wild")`` with few clusters (wildboottest).

Run in a separate venv (wildboottest is not a dependency of impacteval):

    python -m venv /tmp/peervenv && /tmp/peervenv/bin/pip install wildboottest==0.3.2 pandas
    /tmp/peervenv/bin/python tests/reference/peers/generate_wildboottest_estimators.py

Data (simulated here with numpy, seed 20261206, written to
tests/reference/data/wild_twfe_few_clusters.csv): a county-by-year panel, 2001-2006, of
10 states (the clusters) with 3 to 7 counties each; 3 states treated from 2004 on;
``y = county effect + year effect + 0.6 D + 0.4 x + state-year shock + noise`` with a
time-varying covariate ``x``.

The peer gets the full dummy-variable design (intercept, D, x, county dummies but the
first, year dummies but the first), clustered by state: the regression two-way fixed
effects is, so its CR1 factor counts every fixed effect, as impacteval's wild bootstrap
does. Bootstrap type "11" (CR1, ``adj`` and ``cluster_adj`` True), as pyfixest calls it.
With Rademacher weights and B = 9999 > 2^10 the peer enumerates all sign vectors
(deterministic); Webb weights are random draws (seed 3).

The peer counts ``|t*| > |t|`` in floating point; under WCR the sign vectors +-1 give
``|t*| = |t|`` exactly in exact arithmetic, so ``p_value_no_ties`` recounts from the peer's
own ``t_boot`` with ties (relative 1e-9) excluded, as impacteval counts.
"""

import json
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from wildboottest.wildboottest import WildboottestCL

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "tests" / "reference" / "data"
B = 9999


def simulate() -> pd.DataFrame:
    rng = np.random.default_rng(20261206)
    n_states, years = 10, np.arange(2001, 2007)
    treated_states = rng.choice(n_states, size=3, replace=False)
    shocks = rng.normal(scale=0.3, size=(n_states, years.size))
    year_fx = rng.normal(scale=0.5, size=years.size)
    rows = []
    county = 0
    for s in range(n_states):
        for _ in range(int(rng.integers(3, 8))):
            alpha = rng.normal()
            for j, yr in enumerate(years):
                d = float(s in treated_states and yr >= 2004)
                x = rng.normal() + 0.3 * j
                y = alpha + year_fx[j] + 0.6 * d + 0.4 * x + shocks[s, j] + rng.normal(scale=0.5)
                rows.append((s, county, yr, d, x, y))
            county += 1
    return pd.DataFrame(rows, columns=["state", "county", "year", "treat_post", "x", "y"])


def design(d: pd.DataFrame) -> np.ndarray:
    cols = [np.ones(len(d)), d["treat_post"].to_numpy(), d["x"].to_numpy()]
    for fe in ("county", "year"):
        levels = sorted(d[fe].unique())
        cols += [(d[fe] == lev).to_numpy(dtype=float) for lev in levels[1:]]
    return np.column_stack(cols)


def run_peer(x, y, cluster, impose_null, weights, seed):
    r_vec = np.zeros(x.shape[1])
    r_vec[1] = 1.0
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
    }


def main() -> None:
    d = simulate()
    d.to_csv(OUT / "wild_twfe_few_clusters.csv", index=False, float_format="%.17g")
    x, y, cl = design(d), d["y"].to_numpy(), d["state"].to_numpy()
    cases = []
    for impose_null, weights, seed in (
        (True, "rademacher", 1),
        (False, "rademacher", 1),
        (True, "webb", 3),
    ):
        out = run_peer(x, y, cl, impose_null, weights, seed)
        out["id"] = f"twfe_G10_{'WCR' if impose_null else 'WCU'}_{weights}"
        out["call"] = "y ~ treat_post + x | county + year, cluster state (dummy regression)"
        out["n_obs"], out["n_clusters"] = len(d), int(d["state"].nunique())
        cases.append(out)
    result = {
        "generated_by": "tests/reference/peers/generate_wildboottest_estimators.py",
        "wildboottest": metadata.version("wildboottest"),
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "bootstrap_type": "11",
        "cases": cases,
    }
    path = OUT / "wildboottest_twfe_reference.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", path, len(cases), "cases")


if __name__ == "__main__":
    main()
