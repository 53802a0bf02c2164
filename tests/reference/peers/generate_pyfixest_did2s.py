"""Reference values for impacteval.did.two_stage from pyfixest's did2s (separate venv).

    python -m venv /tmp/peervenv && /tmp/peervenv/bin/pip install pyfixest==0.60.0
    /tmp/peervenv/bin/python tests/reference/peers/generate_pyfixest_did2s.py

Data (all committed): mpdta from data/sample (plus ``pop = exp(lpop)`` as a sampling
weight), and the seeded staggered panel tests/reference/data/pyfixest_event_study_sim.csv
written by generate_pyfixest_event_study.py (80 units in 16 states, 8 years, cohorts 3, 5,
7 and never treated, a covariate ``x``, 30 rows dropped; plus the weight
``w = 1 + (unit % 5) / 4``). Writes tests/reference/data/pyfixest_did2s.json with, per
case, the second-stage coefficients and their GMM-corrected clustered standard errors.

What each case calls:

* ``pf.did2s(data, yname, first_stage="~ <covs> | <fixed effects>", second_stage="~ treat"
  or "~ e_m6 + ... + e_5", treatment="treat", cluster=..., weights=...)`` where pyfixest
  runs it. The event-time dummies are built explicitly: one per event time of the treated
  units except the reference -1, never-treated rows all zero (did2s's
  ``i(rel_year, ref = c(-1, Inf))``).
* On mpdta ``pf.did2s`` fails (its first stage drops the 20 cohort-2004 counties as
  singletons, their only untreated year being 2003, and the variance step then has
  mismatched rows). There the two stages are run as pyfixest's did2s runs them, but with
  ``pf.feols(..., fixef_rm="none")`` in the first stage, and the variance is pyfixest's own
  ``pyfixest.did.did2s._did2s_vcov`` on those residuals. The same route is checked against
  ``pf.did2s`` on the simulated panel (asserted below to 1e-5: pf.did2s demeans to pyfixest's
  default tolerance, the by-hand route to ``fixef_tol=1e-14``).
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyfixest as pf
from pyfixest.did.did2s import _did2s_vcov

warnings.simplefilter("ignore")
ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "reference" / "data"


def add_design(d, cohort, time, ref=-1):
    """Treatment indicator and event-time dummies (never-treated rows all zero)."""
    d["treat"] = ((d[cohort] > 0) & (d[time] >= d[cohort])).astype(bool)
    rel = np.where(d[cohort] > 0, d[time] - d[cohort], np.nan)
    names, events = [], []
    for e in sorted(set(rel[~np.isnan(rel)])):
        if e == ref:
            continue
        name = f"e_m{int(-e)}" if e < 0 else f"e_{int(e)}"
        d[name] = (rel == e).astype(float)
        names.append(name)
        events.append(int(e))
    return names, events


def by_hand(d, y, first, second, cluster, weights=None):
    """did2s's two stages with fixef_rm='none', then pyfixest's own GMM variance."""
    d = d.copy()
    f1 = pf.feols(
        f"{y} {first}",
        data=d[~d["treat"]],
        vcov="iid",
        weights=weights,
        fixef_rm="none",
        fixef_tol=1e-14,
    )
    f1.fixef()
    first_u = d[y].to_numpy() - f1.predict(newdata=d)
    d[f"{y}_hat"] = first_u
    f2 = pf.feols(
        f"{y}_hat {second}",
        data=d,
        vcov="iid",
        drop_intercept=True,
        weights=weights,
        fixef_tol=1e-14,
    )
    vcov, _ = _did2s_vcov(
        data=d,
        yname=y,
        first_stage=first.replace(" ", ""),
        second_stage=second.replace(" ", ""),
        treatment="treat",
        first_u=first_u.copy(),
        second_u=f2.resid().copy(),
        cluster=cluster,
        weights=weights,
    )
    return f2.coef().to_numpy(), np.sqrt(np.diag(vcov))


def official(d, y, first, second, cluster, weights=None):
    fit = pf.did2s(
        d.copy(),
        yname=y,
        first_stage=first,
        second_stage=second,
        treatment="treat",
        cluster=cluster,
        weights=weights,
    )
    tidy = fit.tidy()
    return tidy["Estimate"].to_numpy(), tidy["Std. Error"].to_numpy()


def main():
    mpdta = pd.read_csv(ROOT / "data" / "sample" / "mpdta.csv").astype(float)
    mpdta["pop"] = np.exp(mpdta["lpop"])
    sim = pd.read_csv(DATA / "pyfixest_event_study_sim.csv")
    sim["w"] = 1.0 + (sim["unit"] % 5) / 4.0
    cases = []
    specs = [
        # id, data, route, outcome, unit, time, cohort, fixed effects, covs, form, cluster, w
        (
            "sim_static_x",
            sim,
            official,
            "y",
            "unit",
            "year",
            "cohort",
            ["unit", "year"],
            ["x"],
            "static",
            "unit",
            None,
        ),
        (
            "sim_es_x_state",
            sim,
            official,
            "y",
            "unit",
            "year",
            "cohort",
            ["unit", "year"],
            ["x"],
            "event_study",
            "state",
            None,
        ),
        (
            "sim_static_w",
            sim,
            official,
            "y",
            "unit",
            "year",
            "cohort",
            ["unit", "year"],
            [],
            "static",
            "unit",
            "w",
        ),
        (
            "sim_es_w",
            sim,
            official,
            "y",
            "unit",
            "year",
            "cohort",
            ["unit", "year"],
            ["x"],
            "event_study",
            "unit",
            "w",
        ),
        (
            "sim_static_statefe",
            sim,
            official,
            "y",
            "unit",
            "year",
            "cohort",
            ["state", "year"],
            ["x"],
            "static",
            "state",
            None,
        ),
        (
            "sim_es_statefe",
            sim,
            official,
            "y",
            "unit",
            "year",
            "cohort",
            ["state", "year"],
            [],
            "event_study",
            "state",
            None,
        ),
        (
            "mpdta_static",
            mpdta,
            by_hand,
            "lemp",
            "countyreal",
            "year",
            "first_treat",
            ["countyreal", "year"],
            [],
            "static",
            "countyreal",
            None,
        ),
        (
            "mpdta_es",
            mpdta,
            by_hand,
            "lemp",
            "countyreal",
            "year",
            "first_treat",
            ["countyreal", "year"],
            [],
            "event_study",
            "countyreal",
            None,
        ),
        (
            "mpdta_static_pop",
            mpdta,
            by_hand,
            "lemp",
            "countyreal",
            "year",
            "first_treat",
            ["countyreal", "year"],
            [],
            "static",
            "countyreal",
            "pop",
        ),
        (
            "mpdta_es_pop",
            mpdta,
            by_hand,
            "lemp",
            "countyreal",
            "year",
            "first_treat",
            ["countyreal", "year"],
            [],
            "event_study",
            "countyreal",
            "pop",
        ),
    ]
    for cid, data, route, y, unit, time, cohort, fes, covs, form, cluster, w in specs:
        d = data.copy()
        names, events = add_design(d, cohort, time)
        first = f"~ {' + '.join(covs) if covs else '0'} | {' + '.join(fes)}"
        second = "~ treat" if form == "static" else "~ " + " + ".join(names)
        coef, se = route(d, y, first, second, cluster, w)
        if route is official:  # the by-hand route reproduces pf.did2s where both run
            coef2, se2 = by_hand(d, y, first, second, cluster, w)
            assert np.allclose(coef, coef2, rtol=0, atol=1e-5), cid
            assert np.allclose(se, se2, rtol=0, atol=1e-5), cid
        cases.append(
            {
                "id": cid,
                "data": "mpdta" if data is mpdta else "sim",
                "call": (
                    f"{'pf.did2s' if route is official else 'did2s by hand + _did2s_vcov'}"
                    f"(yname={y!r}, first_stage={first!r}, second_stage={second!r}, "
                    f"treatment='treat', cluster={cluster!r}, weights={w!r})"
                ),
                "outcome": y,
                "unit": unit,
                "time": time,
                "cohort": cohort,
                "fixed_effects": fes,
                "covariates": covs,
                "form": form,
                "cluster": cluster,
                "weights": w,
                "event_time": None if form == "static" else events,
                "estimate": [float(c) for c in coef],
                "std_error": [float(s) for s in se],
            }
        )
    out = {
        "generated_by": "tests/reference/peers/generate_pyfixest_did2s.py",
        "pyfixest": pf.__version__,
        "python": sys.version.split()[0],
        "cases": cases,
    }
    path = DATA / "pyfixest_did2s.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
