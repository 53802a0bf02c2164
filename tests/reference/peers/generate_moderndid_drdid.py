"""Reference values for DRDID's 2x2 estimator family from moderndid (separate venv).

    python -m venv /tmp/peervenv && /tmp/peervenv/bin/pip install moderndid==0.2.0
    IMPACTEVAL_DATA_DIR=/path/to/data /tmp/peervenv/bin/python \\
        tests/reference/peers/generate_moderndid_drdid.py

moderndid's ``drdid`` module is a Python port of R ``DRDID`` (Sant'Anna & Zhao 2020); R
DRDID itself is not installable here (it is not in Debian). Only the output is committed:
tests/reference/data/moderndid_drdid.json. Mapping of DRDID's names to moderndid 0.2.0's
functions (``moderndid.drdid.estimators``): ``drdid_panel``, ``drdid_imp_panel``,
``std_ipw_did_panel``, ``ipw_did_panel``, ``reg_did_panel``, ``twfe_did_panel``;
repeated cross-sections ``drdid_rc``, ``drdid_rc1`` = ``drdid_trad_rc``, ``drdid_imp_rc``
= ``drdid_imp_local_rc``, ``drdid_imp_rc1`` = ``drdid_imp_rc``, ``std_ipw_did_rc``,
``ipw_did_rc``, ``reg_did_rc``, ``twfe_did_rc``.

Data (none of it is committed):

* ``peer_tests/drdid_nsw_long_cps_sub5000.csv`` under $IMPACTEVAL_DATA_DIR: DRDID's
  ``nsw_long`` restricted as in DRDID's documented examples (experimental treated +
  CPS comparison, 5,000 random units, 1975/1978); treatment ``experimental``, covariates
  age, educ, black, married, nodegree, hisp, re74 (1975 rows), outcome ``re``.
* ``peer_tests/drdid_sim_rc.csv``: DRDID's ``sim_rc`` (1,000 repeated cross-section rows,
  covariates x1-x4).
* ``data/sample/mpdta.csv`` (committed with the project): every ATT(g, t) with
  never-treated controls and varying base period, covariate lpop, computed the way R
  ``did::att_gt`` forms its cells (cohort g and the never treated; base g - 1 after
  treatment, t - 1 before) by calling the moderndid 2x2 estimator on each cell, as
  balanced panel and as repeated cross-sections (rows as independent observations).

Standard errors. For every case the JSON holds the influence function's two summaries,
computed here from moderndid's own influence function: ``se_did`` = sqrt(sum IF^2) / n
(R ``did``'s convention) and ``se_drdid`` = sd(IF) / sqrt(n) with R's ``sd`` (divisor
n - 1; R ``DRDID``'s printed SE, e.g. ``se.dr.att <- stats::sd(dr.att.inf.func) /
sqrt(n)`` in DRDID's sources). moderndid 0.2.0 itself reports
``np.std(IF, ddof=1) * sqrt(n - 1) / n`` = sqrt(sum (IF - mean)^2) / n for the
non-TWFE estimators, i.e. R did's convention, not DRDID's: it is recorded as
``se_moderndid`` but the tests compare with ``se_drdid``, DRDID's documented convention.
Its TWFE estimators do report sd(IF) / sqrt(n) over the 2n stacked rows (panel) or n rows
(repeated cross-sections), as DRDID, which equals HC0 * sqrt(N / (N - 1)).
"""

import importlib
import json
import os
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[3]
DATA = Path(os.environ["IMPACTEVAL_DATA_DIR"]) / "peer_tests"
OUT = ROOT / "tests" / "reference" / "data" / "moderndid_drdid.json"
NSW_COVS = ["age", "educ", "black", "married", "nodegree", "hisp", "re74"]
RC_COVS = ["x1", "x2", "x3", "x4"]


def _fn(name):
    # moderndid's package namespace exports the function ``drdid`` over the subpackage
    return getattr(importlib.import_module(f"moderndid.drdid.estimators.{name}"), name)


class _Estimators:
    def __getattr__(self, name):
        return _fn(name)


est = _Estimators()

PANEL = {
    "dr": est.drdid_panel,
    "dr_imp": est.drdid_imp_panel,
    "ipw": est.std_ipw_did_panel,
    "ipw_ht": est.ipw_did_panel,
    "reg": est.reg_did_panel,
}
RC = {
    "dr": est.drdid_rc,
    "dr_rc1": est.drdid_trad_rc,
    "dr_imp": est.drdid_imp_local_rc,
    "dr_imp_rc1": est.drdid_imp_rc,
    "ipw": est.std_ipw_did_rc,
    "ipw_ht": est.ipw_did_rc,
    "reg": est.reg_did_rc,
}


def summarise(res):
    inf = np.asarray(res.att_inf_func, dtype=float)
    n = inf.size
    return {
        "att": float(res.att),
        "se_did": float(np.sqrt(np.sum(inf**2)) / n),
        "se_drdid": float(np.std(inf, ddof=1) / np.sqrt(n)),
        "se_moderndid": float(res.se),
        "if_mean": float(inf.mean()),
        "n": int(n),
    }


def with_intercept(x):
    return np.column_stack([np.ones(len(x)), np.asarray(x, dtype=float)])


def nsw_cases():
    nsw = pd.read_csv(DATA / "drdid_nsw_long_cps_sub5000.csv")
    pre = nsw[nsw["year"] == 1975].sort_values("id")
    post = nsw[nsw["year"] == 1978].sort_values("id")
    assert (pre["id"].to_numpy() == post["id"].to_numpy()).all()
    y1, y0 = post["re"].to_numpy(float), pre["re"].to_numpy(float)
    d = pre["experimental"].to_numpy(float)
    x = with_intercept(pre[NSW_COVS])
    out = {}
    for name, fn in PANEL.items():
        out[name] = summarise(fn(y1, y0, d, x, influence_func=True))
    out["twfe"] = summarise(est.twfe_did_panel(y1, y0, d, x, influence_func=True))
    out["twfe_no_covariates"] = summarise(est.twfe_did_panel(y1, y0, d, None, influence_func=True))
    return out


def sim_rc_cases():
    rc = pd.read_csv(DATA / "drdid_sim_rc.csv")
    y, post, d = (rc[c].to_numpy(float) for c in ("y", "post", "d"))
    x = with_intercept(rc[RC_COVS])
    out = {}
    for name, fn in RC.items():
        out[name] = summarise(fn(y, post, d, x, influence_func=True))
    out["twfe"] = summarise(est.twfe_did_rc(y, post, d, x, influence_func=True))
    out["twfe_no_covariates"] = summarise(est.twfe_did_rc(y, post, d, None, influence_func=True))
    return out


def mpdta_cells(methods, panel):
    mp = pd.read_csv(ROOT / "data" / "sample" / "mpdta.csv").astype(float)
    years = sorted(mp["year"].unique())
    wide_y = mp.pivot(index="countyreal", columns="year", values="lemp")
    wide_x = mp.pivot(index="countyreal", columns="year", values="lpop")
    cohort = mp.groupby("countyreal")["first_treat"].first().loc[wide_y.index].to_numpy()
    rows = {m: [] for m in methods}
    for g in (2004.0, 2006.0, 2007.0):
        for ti in range(1, len(years)):
            t = years[ti]
            base = years[max(i for i, p in enumerate(years) if p < g)] if t >= g else years[ti - 1]
            keep = (cohort == g) | (cohort == 0)
            d = (cohort[keep] == g).astype(float)
            xb = wide_x[min(base, t)].to_numpy()[keep]
            y1, y0 = wide_y[t].to_numpy()[keep], wide_y[base].to_numpy()[keep]
            for m in methods:
                if panel:
                    res = PANEL[m](y1, y0, d, with_intercept(xb), influence_func=True)
                else:  # rows of the two periods as independent observations
                    yy, pp = np.r_[y0, y1], np.r_[np.zeros(d.size), np.ones(d.size)]
                    xx = with_intercept(
                        np.r_[wide_x[base].to_numpy()[keep], wide_x[t].to_numpy()[keep]]
                    )
                    res = RC[m](yy, pp, np.r_[d, d], xx, influence_func=True)
                s = summarise(res)
                rows[m].append({"group": g, "time": t, "att": s["att"], "se_did": s["se_did"]})
    return rows


def main():
    warnings.simplefilter("ignore")
    out = {
        "generator": "tests/reference/peers/generate_moderndid_drdid.py",
        "peer": {"moderndid": version("moderndid"), "numpy": version("numpy"),
                 "pandas": version("pandas"), "statsmodels": version("statsmodels"),
                 "python": sys.version.split()[0]},
        "nsw_panel": nsw_cases(),
        "sim_rc": sim_rc_cases(),
        "mpdta_panel_cells": mpdta_cells(["ipw_ht", "dr_imp"], panel=True),
        "mpdta_rc_cells": mpdta_cells(["ipw_ht", "dr_imp", "dr_rc1", "dr_imp_rc1"], panel=False),
    }  # fmt: skip
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("nsw_panel", "sim_rc")}, indent=1))


if __name__ == "__main__":
    main()
