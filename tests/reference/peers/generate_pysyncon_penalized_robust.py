"""Reference weights of the penalized and robust synthetic controls from pysyncon.

    python -m venv /tmp/peervenv && /tmp/peervenv/bin/pip install pysyncon==1.7.0
    OPENBLAS_NUM_THREADS=1 IMPACTEVAL_DATA_DIR=../shared/data \\
        /tmp/peervenv/bin/python tests/reference/peers/generate_pysyncon_penalized_robust.py

pysyncon is not a dependency of impacteval; only its output is committed
(tests/reference/data/pysyncon_penalized_robust.json), read by
tests/synth/test_penalized_robust_reference.py. The data (Prop 99 ``smoking`` and
``basque``, part B of ../shared/data/SOURCES.md, never committed) are read with
``impacteval.datasets.load`` from ``IMPACTEVAL_DATA_DIR``, so both packages see the same
numbers.

Cases (the same lambda / rank are given to impacteval in the test):

- ``PenalizedSynth.fit(dataprep, lambda_=...)`` with pysyncon's default V (the identity on
  predictors divided by their SD across treated and donors, n - 1): ADH's Prop 99
  predictors (California, 38 donors) and Abadie & Gardeazabal's Basque predictors (16
  donors, Spain's aggregate left out), several lambdas.
- ``RobustSynth.fit(dataprep, lambda_=..., sv_count=...)``: the outcome matrix of the donors
  over every period, ``sv_count`` singular values kept, ridge ``lambda_``, regression on
  the pre-period (``time_optimize_ssr``).
"""

from __future__ import annotations

import json
import platform
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "tests" / "reference" / "data" / "pysyncon_penalized_robust.json"

PROP99 = {
    "dependent": "cigsale",
    "unit_variable": "state",
    "time_variable": "year",
    "treatment_identifier": "California",
    "predictors": ["lnincome", "age15to24", "retprice"],
    "predictors_op": "mean",
    "time_predictors_prior": range(1980, 1989),
    "special_predictors": [
        ("beer", range(1984, 1989), "mean"),
        ("cigsale", [1975], "mean"),
        ("cigsale", [1980], "mean"),
        ("cigsale", [1988], "mean"),
    ],
    "time_optimize_ssr": range(1970, 1989),
}
SCHOOL = ["school.illit", "school.prim", "school.med", "school.high", "school.post.high"]
SECTORS = [
    "sec.agriculture",
    "sec.energy",
    "sec.industry",
    "sec.construction",
    "sec.services.venta",
    "sec.services.nonventa",
]
BASQUE = {
    "dependent": "gdpcap",
    "unit_variable": "regionname",
    "time_variable": "year",
    "treatment_identifier": "Basque Country (Pais Vasco)",
    "predictors": [*SCHOOL, "invest"],
    "predictors_op": "mean",
    "time_predictors_prior": range(1964, 1970),
    "special_predictors": [
        ("gdpcap", range(1960, 1970), "mean"),
        *[(c, range(1961, 1970, 2), "mean") for c in SECTORS],
        ("popdens", [1969], "mean"),
    ],
    "time_optimize_ssr": range(1955, 1975),
}
PENALTIES = [0.001, 0.01, 0.1, 1.0]
ROBUST = [(2, 0.1), (4, 1.0), (3, 0.01)]  # (sv_count, lambda_)


def _prep(frame: pd.DataFrame, spec: dict[str, Any], controls: list[str]) -> Any:
    from pysyncon import Dataprep

    return Dataprep(foo=frame, controls_identifier=controls, **spec)


def case_data() -> dict[str, tuple[pd.DataFrame, dict[str, Any], list[str]]]:
    import impacteval as ie

    smoking = ie.datasets.load("smoking").astype({"year": int})
    basque = ie.datasets.load("basque")
    basque = basque[basque.regionno != 1].astype({"year": int})
    states = sorted(s for s in smoking["state"].unique() if s != "California")
    regions = sorted(r for r in basque["regionname"].unique() if r != "Basque Country (Pais Vasco)")
    return {"prop99": (smoking, PROP99, states), "basque": (basque, BASQUE, regions)}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import pysyncon
    from pysyncon import PenalizedSynth, RobustSynth

    warnings.simplefilter("ignore")
    cases: dict[str, Any] = {}
    for name, (frame, spec, controls) in case_data().items():
        prep = _prep(frame, spec, controls)
        for lam in PENALTIES:
            pen = PenalizedSynth()
            pen.fit(dataprep=prep, lambda_=lam)
            w = pd.Series(np.asarray(pen.W, dtype=float), index=controls)
            cases[f"{name}_penalized_{lam:g}"] = {
                "method": "penalized",
                "lambda": lam,
                "loss_W": float(pen.loss_W),
                "weights": {k: float(v) for k, v in w.items()},
            }
        for sv_count, lam in ROBUST:
            rob = RobustSynth()
            rob.fit(dataprep=prep, lambda_=lam, sv_count=sv_count)
            w = pd.Series(np.asarray(rob.W, dtype=float), index=controls)
            cases[f"{name}_robust_{sv_count}_{lam:g}"] = {
                "method": "robust",
                "lambda": lam,
                "sv_count": sv_count,
                "weights": {k: float(v) for k, v in w.items()},
            }
        print(name, "done", flush=True)
    out = {
        "generated_by": "tests/reference/peers/generate_pysyncon_penalized_robust.py",
        "pysyncon": pysyncon.__version__,
        "numpy": np.__version__,
        "scipy": __import__("scipy").__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
        "cases": cases,
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
