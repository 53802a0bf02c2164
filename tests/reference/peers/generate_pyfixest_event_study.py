"""Reference values for impacteval.did.event_study from pyfixest (run in a separate venv).

    python -m venv /tmp/peervenv && /tmp/peervenv/bin/pip install pyfixest==0.60.0
    /tmp/peervenv/bin/python tests/reference/peers/generate_pyfixest_event_study.py

Reads mpdta from data/sample and the time-varying covariate from
tests/reference/data/mpdta_x_tv.csv (both committed); simulates a small staggered panel
(seeded) and writes it to tests/reference/data/pyfixest_event_study_sim.csv; writes
tests/reference/data/pyfixest_event_study.json. pyfixest is not a dependency of
impacteval; only its output is committed. pyfixest's own df_het.csv is not used (the tests
may only use committed data).

What each pyfixest call stands for:

* dynamic TWFE: ``pf.feols("y ~ e_m4 + ... + e_3 | unit + year", vcov={"CRV1": ...})`` with
  explicit event-time dummies (never-treated rows all zero; pyfixest's ``i()`` accepts a
  single reference level only, so the never-treated cannot be given their own excluded
  level there).
* Sun-Abraham: pyfixest 0.60 has no ``sunab``; ``pf.event_study(estimator="saturated")``
  fits ``i(rel_time, first_treated_period, ref=-1, ref2=0) | unit + year`` (never-treated
  controls) and ``.aggregate()`` averages the cohort cells by event time with
  observation-share weights and the CRV1 covariance (as fixest's ``aggregate``); its
  p-values are normal, so only estimates and SEs are recorded. Without never-treated units
  pyfixest has no last-cohort control: that case is fitted with ``pf.feols`` on explicit
  cohort x event-time dummies on the periods before the last cohort is treated, and
  aggregated here with the same share weights.
* imputation: Gardner's two-stage did2s gives the BJS point estimates (the second stage on
  the treated observations is a cell mean of the first-stage residuals); its SEs are not
  BJS's, so only point estimates are recorded. ``pf.did2s`` is used where it runs; on
  mpdta its first stage drops the 20 cohort-2004 counties as singletons (their only
  untreated year is 2003) and its variance step then fails, so there the two stages are
  run with ``pf.feols(..., fixef_rm="none")`` + ``predict`` (did2s by hand).
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyfixest as pf

warnings.simplefilter("ignore")
ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "reference" / "data"


def event_dummies(d, cohort, time, ref=-1, bins=None, post_only=False):
    rel = np.where(d[cohort] > 0, d[time] - d[cohort], np.nan)
    if bins is not None:
        rel = np.clip(rel, bins[0], bins[1])
    names, events = [], []
    for e in sorted(set(rel[~np.isnan(rel)])):
        if e == ref or (post_only and e < 0):
            continue
        name = f"e_m{int(-e)}" if e < 0 else f"e_{int(e)}"
        d[name] = (rel == e).astype(float)
        names.append(name)
        events.append(int(e))
    return names, events


def rows_from_tidy(tidy, names, events, with_p=True):
    out = []
    for name, e in zip(names, events, strict=True):
        r = tidy.loc[name]
        row = {
            "event_time": e,
            "estimate": float(r["Estimate"]),
            "std_error": float(r["Std. Error"]),
        }
        if with_p:
            row["p_value"] = float(r["Pr(>|t|)"])
            row["ci_lower"] = float(r["2.5%"])
        out.append(row)
    return out


def did2s_by_hand(d, y, unit, time, cohort, covs=""):
    d = d.copy()
    treat = ((d[cohort] > 0) & (d[time] >= d[cohort])).to_numpy()
    rhs = covs if covs else "1"
    f1 = pf.feols(f"{y} ~ {rhs} | {unit} + {time}", data=d[~treat], fixef_rm="none", vcov="iid")
    f1.fixef()
    d["y0res"] = d[y] - f1.predict(newdata=d)
    d["treat"] = treat.astype(float)
    # treated rows in periods without untreated rows cannot be imputed (NaN prediction)
    sub = d[treat & d["y0res"].notna().to_numpy()].copy()
    names, events = event_dummies(sub, cohort, time, post_only=True)
    f2 = pf.feols("y0res ~ 0 + " + " + ".join(names), data=sub, vcov="iid")
    f3 = pf.feols("y0res ~ 0 + treat", data=sub, vcov="iid")
    coefs = f2.coef()
    return (
        [
            {"event_time": e, "estimate": float(coefs[n])}
            for n, e in zip(names, events, strict=True)
        ],
        float(f3.coef()["treat"]),
        len(sub),
    )


def simulate():
    rng = np.random.default_rng(20261126)
    n_units, periods = 80, np.arange(1, 9)
    cohorts = np.repeat([3, 5, 7, 0], [20, 20, 15, 25])
    state = np.arange(n_units) % 16
    unit_fe = rng.normal(size=n_units)
    time_fe = np.cumsum(rng.normal(0.2, 0.3, size=periods.size))
    rows = []
    for i in range(n_units):
        g = cohorts[i]
        for j, t in enumerate(periods):
            e = t - g if g > 0 else -99
            effect = (1.0 + 0.3 * e) * (1.0 + 0.1 * g) if (g > 0 and e >= 0) else 0.0
            x = rng.normal() + 0.1 * t
            y = unit_fe[i] + time_fe[j] + 0.5 * x + effect + rng.normal(scale=0.5)
            rows.append((i + 1, state[i] + 1, t, g, x, y))
    sim = pd.DataFrame(rows, columns=["unit", "state", "year", "cohort", "x", "y"])
    # unbalanced: drop 30 rows of never-treated units or after a unit's first treated
    # period (pyfixest's saturated event study derives the cohort from the first treated
    # row it sees, and pf.did2s drops units left with one untreated row as singletons)
    droppable = np.flatnonzero(((sim["cohort"] == 0) | (sim["year"] > sim["cohort"])).to_numpy())
    drop = rng.choice(droppable, size=30, replace=False)
    sim = sim.drop(index=drop).reset_index(drop=True)
    sim["x"] = sim["x"].round(6)
    sim["y"] = sim["y"].round(6)
    return sim


def main():
    mpdta = pd.read_csv(ROOT / "data" / "sample" / "mpdta.csv").astype(float)
    x_tv = pd.read_csv(DATA / "mpdta_x_tv.csv")
    mpdta = mpdta.merge(x_tv, on=["countyreal", "year"], how="left")
    sim = simulate()
    sim.to_csv(DATA / "pyfixest_event_study_sim.csv", index=False)
    sim_nonever = sim[sim["cohort"] > 0].reset_index(drop=True)
    cases = []

    # -- dynamic TWFE ---------------------------------------------------------------------
    for case_id, data, unit, time, cohort, y, bins, covs, cluster in [
        ("mpdta_twfe", mpdta, "countyreal", "year", "first_treat", "lemp", None, "", None),
        ("mpdta_twfe_bins", mpdta, "countyreal", "year", "first_treat", "lemp", (-3, 1), "", None),
        ("mpdta_twfe_x", mpdta, "countyreal", "year", "first_treat", "lemp", None, "x_tv", None),
        ("sim_twfe_state", sim, "unit", "year", "cohort", "y", (-4, 3), "x", "state"),
    ]:
        d = data.copy()
        names, events = event_dummies(d, cohort, time, bins=bins)
        rhs = " + ".join(names + ([covs] if covs else []))
        clus = cluster or unit
        fml = f"{y} ~ {rhs} | {unit} + {time}"
        fit = pf.feols(fml, data=d, vcov={"CRV1": clus})
        tidy = fit.tidy()
        case = {
            "id": case_id,
            "method": "twfe",
            "call": f"pf.feols({fml!r}, vcov={{'CRV1': {clus!r}}})",
            "bins": list(bins) if bins else None,
            "covariates": [covs] if covs else [],
            "cluster": cluster,
            "nobs": int(fit._N),
            "rows": rows_from_tidy(tidy, names, events),
        }
        if covs:
            r = tidy.loc[covs]
            case["covariate"] = {
                "estimate": float(r["Estimate"]),
                "std_error": float(r["Std. Error"]),
            }
        cases.append(case)

    # -- Sun-Abraham via the saturated event study ---------------------------------------
    for case_id, data, unit, time, cohort, y, cluster in [
        ("mpdta_sa", mpdta, "countyreal", "year", "first_treat", "lemp", None),
        ("sim_sa_state", sim, "unit", "year", "cohort", "y", "state"),
    ]:
        fit = pf.event_study(
            data[[unit, time, cohort, y] + ([cluster] if cluster else [])].copy(),
            yname=y,
            idname=unit,
            tname=time,
            gname=cohort,
            estimator="saturated",
            cluster=cluster,
        )
        agg = fit.aggregate()
        tidy = fit.tidy()
        cells = []
        for name, r in tidy.iterrows():
            rel, coh = name.split("::")[1].split(":")[0], name.split("::")[-1]
            cells.append(
                {
                    "cohort": int(float(coh)),
                    "event_time": int(float(rel)),
                    "estimate": float(r["Estimate"]),
                    "std_error": float(r["Std. Error"]),
                }
            )
        cases.append(
            {
                "id": case_id,
                "method": "sun_abraham",
                "call": (
                    f"pf.event_study(yname={y!r}, idname={unit!r}, tname={time!r}, "
                    f"gname={cohort!r}, estimator='saturated', cluster={cluster!r})"
                    ".aggregate()"
                ),
                "cluster": cluster,
                "nobs": int(fit._N),
                "rows": [
                    {
                        "event_time": int(float(e)),
                        "estimate": float(r["Estimate"]),
                        "std_error": float(r["Std. Error"]),
                    }
                    for e, r in agg.iterrows()
                    if float(e) != -1
                ],
                "cells": cells,
            }
        )

    # Sun-Abraham without never-treated units: last cohort (7) as control, periods < 7
    last = sim_nonever["cohort"].max()
    d = sim_nonever[sim_nonever["year"] < last].copy()
    rel = d["year"] - d["cohort"]
    names, keys = [], []
    for g in sorted(d["cohort"].unique()):
        if g == last:
            continue
        for e in sorted(rel[d["cohort"] == g].unique()):
            if e == -1:
                continue
            nm = f"c{int(g)}_e{int(e)}".replace("-", "m")
            d[nm] = ((d["cohort"] == g) & (rel == e)).astype(float)
            names.append(nm)
            keys.append((int(g), int(e)))
    fml = "y ~ " + " + ".join(names) + " | unit + year"
    fit = pf.feols(fml, data=d, vcov={"CRV1": "unit"})
    beta = fit.coef()[names].to_numpy()
    vc = pd.DataFrame(fit._vcov, index=fit._coefnames, columns=fit._coefnames)
    vcov = vc.loc[names, names].to_numpy()
    counts = d[names].sum().to_numpy()
    rows = []
    for e in sorted({k[1] for k in keys}):
        w = np.array([c if k[1] == e else 0.0 for k, c in zip(keys, counts, strict=True)])
        w /= w.sum()
        rows.append(
            {
                "event_time": e,
                "estimate": float(w @ beta),
                "std_error": float(np.sqrt(w @ vcov @ w)),
            }
        )
    cases.append(
        {
            "id": "sim_sa_last_cohort",
            "method": "sun_abraham",
            "call": (
                "pf.feols('y ~ <cohort x event-time dummies of cohorts 3, 5> | unit + year', "
                "vcov={'CRV1': 'unit'}) on cohort > 0 and year < 7; shares = cell counts"
            ),
            "cluster": None,
            "nobs": int(fit._N),
            "rows": rows,
        }
    )

    # -- imputation point estimates via did2s --------------------------------------------
    for case_id, data, unit, time, cohort, y, covs in [
        ("mpdta_did2s", mpdta, "countyreal", "year", "first_treat", "lemp", ""),
        ("mpdta_did2s_x", mpdta, "countyreal", "year", "first_treat", "lemp", "x_tv"),
        ("sim_nonever_did2s", sim_nonever, "unit", "year", "cohort", "y", "x"),
    ]:
        rows, overall, n_treated = did2s_by_hand(data, y, unit, time, cohort, covs)
        cases.append(
            {
                "id": case_id,
                "method": "imputation",
                "call": (
                    f"did2s by hand: pf.feols('{y} ~ {covs or 1} | {unit} + {time}', "
                    "fixef_rm='none') on untreated rows, predict, then pf.feols('res ~ 0 + "
                    "e_0 + e_1 + ...') and pf.feols('res ~ 0 + treat') on treated rows"
                ),
                "covariates": [covs] if covs else [],
                "n_treated_obs": n_treated,
                "rows": rows,
                "overall": overall,
            }
        )
    d = sim.copy()
    d["treat"] = ((d["cohort"] > 0) & (d["year"] >= d["cohort"])).astype(bool)
    names, events = event_dummies(d, "cohort", "year", post_only=True)
    fit = pf.did2s(
        d,
        yname="y",
        first_stage="~ x | unit + year",
        second_stage="~ " + " + ".join(names),
        treatment="treat",
        cluster="unit",
    )
    coefs = fit.coef()
    static = pf.did2s(
        d,
        yname="y",
        first_stage="~ x | unit + year",
        second_stage="~ treat",
        treatment="treat",
        cluster="unit",
    )
    cases.append(
        {
            "id": "sim_did2s_x",
            "method": "imputation",
            "call": (
                "pf.did2s(sim, yname='y', first_stage='~ x | unit + year', second_stage="
                "'~ e_0 + ... + e_5' | '~ treat', treatment='treat', cluster='unit')"
            ),
            "covariates": ["x"],
            "rows": [
                {"event_time": e, "estimate": float(coefs[n])}
                for n, e in zip(names, events, strict=True)
            ],
            "overall": float(static.coef().iloc[0]),
        }
    )

    out = {
        "generated_by": "tests/reference/peers/generate_pyfixest_event_study.py",
        "pyfixest": pf.__version__,
        "python": sys.version.split()[0],
        "cases": cases,
    }
    path = DATA / "pyfixest_event_study.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
