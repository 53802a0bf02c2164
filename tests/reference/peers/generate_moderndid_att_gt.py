"""Reference values for impacteval.did.att_gt from moderndid (run in a separate venv).

    python -m venv /tmp/peervenv && /tmp/peervenv/bin/pip install moderndid==0.2.0
    /tmp/peervenv/bin/python tests/reference/peers/generate_moderndid_att_gt.py

moderndid is a Python port of R ``did`` / ``DRDID`` (Callaway & Sant'Anna); it is not a
dependency of impacteval, only its output is committed (tests/reference/data/
moderndid_att_gt.json). Inputs: data/sample/mpdta.csv and, for the unbalanced panel, the
committed tests/reference/data/mpdta_unbalanced.csv (mpdta with 250 random rows removed,
written by generate_pyfixest_twfe.py). All SEs are analytic (``boot=False``).

Two calls are arranged to follow R ``did`` where moderndid 0.2.0 deviates from it:

* repeated cross-sections: R ``did`` with ``panel = FALSE`` treats every row as its own
  observation (``true_repeated_cross_sections``, ``.rowid = 1..nrow``) even when ``idname``
  is given; moderndid does so only when ``idname`` is None (given an id it counts units in
  ``n`` while the influence function has one entry per row, inflating SEs by
  sqrt(rows/units)). So the RCS cases pass ``idname=None``.
* unbalanced panel: R ``did`` with ``allow_unbalanced_panel = TRUE`` runs the
  repeated-cross-section code with ``.rowid = idname`` and sums each unit's row influence
  functions. moderndid 0.2.0's ``panel=True, allow_unbalanced_panel=True`` fails on an
  unbalanced panel (it looks for the balanced outcome tensor), so the case calls that code
  path directly with ``panel=False, allow_unbalanced_panel=True, idname="countyreal"``.
  On that path moderndid 0.2.0 also misaligns the unit-level cohorts used by ``aggte``'s
  weight influence function (``did:::wif``): ``MPResult.G`` is ordered by cohort while the
  influence-function rows are ordered by unit id, so aggregations that estimate cohort
  shares get SEs off by up to 2% (cell SEs and point estimates are unaffected). The JSON
  keeps moderndid's own numbers under ``aggregations_moderndid_raw`` and, under
  ``aggregations``, the numbers from the same ``aggte`` code after ``G`` is re-ordered by
  unit id (``MPResult._replace(G=...)``), which is what R ``did`` computes.
"""

import json
import sys
import warnings
from pathlib import Path

import moderndid as md
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[3]
mpdta = pd.read_csv(ROOT / "data" / "sample" / "mpdta.csv").astype(float)
unbalanced = pd.read_csv(ROOT / "tests" / "reference" / "data" / "mpdta_unbalanced.csv")
unbalanced = unbalanced[["countyreal", "year", "lpop", "lemp", "first_treat"]].astype(float)
uneven = mpdta[mpdta["year"] != 2005].reset_index(drop=True)

CASES = [
    # id, data name, data, att_gt kwargs
    ("panel_dr_notyet_universal", "mpdta", mpdta,
     dict(est_method="dr", control_group="notyettreated", base_period="universal")),
    ("panel_ipw_notyet_universal", "mpdta", mpdta,
     dict(est_method="ipw", control_group="notyettreated", base_period="universal")),
    ("rcs_dr_never_varying", "mpdta", mpdta,
     dict(est_method="dr", control_group="nevertreated", base_period="varying", panel=False)),
    ("rcs_ipw_notyet_universal", "mpdta", mpdta,
     dict(est_method="ipw", control_group="notyettreated", base_period="universal", panel=False)),
    ("rcs_reg_never_varying", "mpdta", mpdta,
     dict(est_method="reg", control_group="nevertreated", base_period="varying", panel=False)),
    ("unbalanced_dr_never_varying", "mpdta_unbalanced", unbalanced,
     dict(est_method="dr", control_group="nevertreated", base_period="varying", panel=False,
          allow_unbalanced_panel=True)),
    ("unbalanced_reg_notyet_varying", "mpdta_unbalanced", unbalanced,
     dict(est_method="reg", control_group="notyettreated", base_period="varying", panel=False,
          allow_unbalanced_panel=True)),
    ("uneven_periods_dr_never_varying", "mpdta without 2005", uneven,
     dict(est_method="dr", control_group="nevertreated", base_period="varying")),
]  # fmt: skip


def _f(x):
    x = float(x)
    return None if not np.isfinite(x) else x


def aggregations(res):
    aggs = {}
    for kind in ("simple", "dynamic", "group", "calendar"):
        agg = md.aggte(res, type=kind, boot=False)
        rows = []
        if kind != "simple":
            for label, est, se in zip(agg.event_times, agg.att_by_event, agg.se_by_event,
                                      strict=True):  # fmt: skip
                rows.append({"label": float(label), "estimate": _f(est), "std_error": _f(se)})
        aggs[kind] = {"overall": _f(agg.overall_att), "overall_se": _f(agg.overall_se),
                      "rows": rows}  # fmt: skip
    return aggs


cases = []
for case_id, data_name, data, kwargs in CASES:
    idname = (
        None
        if kwargs.get("panel") is False and not kwargs.get("allow_unbalanced_panel")
        else "countyreal"
    )
    call = dict(yname="lemp", tname="year", idname=idname, gname="first_treat",
                xformla="~lpop", boot=False, **kwargs)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = md.att_gt(data, **call)
        raw = aggregations(res)
        if kwargs.get("allow_unbalanced_panel"):
            ids = np.unique(data["countyreal"])
            g_by_id = data.groupby("countyreal")["first_treat"].first().reindex(ids)
            res = res._replace(G=pd.Series(g_by_id.replace(0.0, np.inf).to_numpy()))
        aggs = aggregations(res)
    cases.append(
        {
            "id": case_id,
            "data": data_name,
            "call": "moderndid.att_gt(" + ", ".join(f"{k}={v!r}" for k, v in call.items()) + ")",
            "n_units": int(res.n_units),
            "cells": [
                {"group": float(g), "time": float(t), "estimate": _f(a), "std_error": _f(s)}
                for g, t, a, s in zip(res.groups, res.times, res.att_gt, res.se_gt, strict=True)
            ],
            "wald_p_value": None if res.wald_pvalue is None else float(res.wald_pvalue),
            "aggregations": aggs,
            "aggregations_moderndid_raw": raw,
        }
    )
    print(case_id, "done")

out = {
    "generated_by": "tests/reference/peers/generate_moderndid_att_gt.py",
    "moderndid": md.__version__,
    "numpy": np.__version__,
    "pandas": pd.__version__,
    "python": sys.version.split()[0],
    "cases": cases,
}
path = ROOT / "tests" / "reference" / "data" / "moderndid_att_gt.json"
path.write_text(json.dumps(out, indent=1) + "\n")
print("wrote", path)
