"""Reference values for impacteval.did.twfe from pyfixest (run in a separate venv).

    python -m venv /tmp/peervenv && /tmp/peervenv/bin/pip install pyfixest
    /tmp/peervenv/bin/python tests/reference/peers/generate_pyfixest_twfe.py

Reads mpdta from data/sample (committed); writes tests/reference/data/pyfixest_twfe.json.
pyfixest is not a dependency of impacteval; only its output is committed.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyfixest as pf

ROOT = Path(__file__).resolve().parents[3]
mpdta = pd.read_csv(ROOT / "data" / "sample" / "mpdta.csv").astype(float)
mpdta["treat_post"] = (mpdta["first_treat"] > 0) & (mpdta["year"] >= mpdta["first_treat"])
mpdta["treat_post"] = mpdta["treat_post"].astype(float)
rng = np.random.default_rng(20261126)
mpdta["x_tv"] = rng.normal(size=len(mpdta))  # a time-varying covariate
unbalanced = mpdta.drop(index=rng.choice(len(mpdta), size=250, replace=False))
unbalanced = unbalanced.sort_index()
unbalanced.to_csv(ROOT / "tests" / "reference" / "data" / "mpdta_unbalanced.csv", index=False)
mpdta[["countyreal", "year", "x_tv"]].to_csv(
    ROOT / "tests" / "reference" / "data" / "mpdta_x_tv.csv", index=False
)

cases = []
for name, data, fml in [
    ("mpdta_balanced", mpdta, "lemp ~ treat_post | countyreal + year"),
    ("mpdta_balanced_x", mpdta, "lemp ~ treat_post + x_tv | countyreal + year"),
    ("mpdta_unbalanced_x", unbalanced, "lemp ~ treat_post + x_tv | countyreal + year"),
]:
    fit = pf.feols(fml, data=data, vcov={"CRV1": "countyreal"})
    tidy = fit.tidy()
    cases.append(
        {
            "id": name,
            "call": f"pf.feols({fml!r}, vcov={{'CRV1': 'countyreal'}})",
            "nobs": int(fit._N),
            "coefficients": [
                {
                    "term": str(t),
                    "estimate": float(r["Estimate"]),
                    "std_error": float(r["Std. Error"]),
                    "p_value": float(r["Pr(>|t|)"]),
                    "ci_lower": float(r["2.5%"]),
                    "ci_upper": float(r["97.5%"]),
                }
                for t, r in tidy.iterrows()
            ],
        }
    )
out = {
    "generated_by": "tests/reference/peers/generate_pyfixest_twfe.py",
    "pyfixest": pf.__version__,
    "python": sys.version.split()[0],
    "cases": cases,
}
path = ROOT / "tests" / "reference" / "data" / "pyfixest_twfe.json"
path.write_text(json.dumps(out, indent=1) + "\n")
print("wrote", path)
