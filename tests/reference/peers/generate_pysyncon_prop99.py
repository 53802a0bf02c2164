"""Reference pre-period fits for the Prop 99 placebo test from pysyncon (separate venv).

    python -m venv /tmp/peervenv && /tmp/peervenv/bin/pip install pysyncon==1.7.0
    OPENBLAS_NUM_THREADS=1 IMPACTEVAL_DATA_DIR=../shared/data \\
        /tmp/peervenv/bin/python tests/reference/peers/generate_pysyncon_prop99.py [UNIT ...]

pysyncon is not a dependency of impacteval; only its output is committed
(tests/reference/data/pysyncon_prop99_fits.json). ``pysyncon.PlaceboTest`` did not finish
on Prop 99 in an hour (benchmarks/RESULTS_synth.md), so every unit of the in-space placebo
test is fitted on its own with ``Synth().fit`` at its defaults (Nelder-Mead over V from
equal weights, SLSQP for W): California with the other 38 states as donors, every other
state with the 37 states other than itself and California (the donor pools of
``SyntheticControl.placebo_test``), ADH's predictors and the 1970-88 fit period. Each fit
runs in a child process with a cap of ``CAP`` seconds; a unit past the cap is recorded
as a timeout. The JSON keeps, per unit, pysyncon's V and W and the 1970-88 outcome MSPE
of its W (computed here from the weights, as for impacteval). Run single-threaded BLAS:
pysyncon's path through V depends on rounding, and two threads gave other optima for some
units (Illinois 4.22 instead of 4.31, Indiana 14.00 instead of 14.46) in development
runs. With unit names as arguments only those are refitted and merged into the file.

Needs the smoking data (part B of ../shared/data/SOURCES.md, never committed): it is read
with ``impacteval.datasets.load`` from ``IMPACTEVAL_DATA_DIR``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "tests" / "reference" / "data" / "pysyncon_prop99_fits.json"
CAP = 900.0
FIT_YEARS = list(range(1970, 1989))
PREDICTORS = {  # ADH (2010) Table 1, as in tests/synth/test_control_reference.py
    "predictors": ["lnincome", "age15to24", "retprice"],
    "predictors_op": "mean",
    "time_predictors_prior": range(1980, 1989),
    "special_predictors": [
        ("beer", range(1984, 1989), "mean"),
        ("cigsale", [1975], "mean"),
        ("cigsale", [1980], "mean"),
        ("cigsale", [1988], "mean"),
    ],
}


def fit_one(smoking: pd.DataFrame, unit: str, donors: list[str], queue: Any) -> None:
    from pysyncon import Dataprep, Synth

    warnings.simplefilter("ignore")
    prep = Dataprep(
        foo=smoking.astype({"year": int}),
        dependent="cigsale",
        unit_variable="state",
        time_variable="year",
        treatment_identifier=unit,
        controls_identifier=donors,
        time_optimize_ssr=range(1970, 1989),
        **PREDICTORS,
    )
    t0 = time.perf_counter()
    synth = Synth()
    synth.fit(dataprep=prep)
    seconds = time.perf_counter() - t0
    weights = {k: float(v) for k, v in dict(synth.weights(round=14)).items()}
    v = [float(x) for x in np.asarray(synth.V, dtype=float).ravel()]
    queue.put((v, weights, seconds))


def main(units: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    import pysyncon

    import impacteval as ie

    smoking = ie.datasets.load("smoking")
    wide = smoking.pivot(index="year", columns="state", values="cigsale")
    states = sorted(smoking["state"].unique())
    old = json.loads(OUT.read_text()) if units and OUT.exists() else {"fits": {}}
    fits: dict[str, Any] = old["fits"]
    for unit in units or ["California"] + [s for s in states if s != "California"]:
        donors = [s for s in states if s not in (unit, "California")]
        if unit == "California":
            donors = [s for s in states if s != unit]
        queue: Any = mp.Queue()
        proc = mp.Process(target=fit_one, args=(smoking, unit, donors, queue))
        proc.start()
        proc.join(CAP)
        if proc.is_alive():
            proc.terminate()
            proc.join()
            fits[unit] = {"timeout_seconds": CAP}
        else:
            v, weights, seconds = queue.get()
            w = pd.Series(weights).reindex(donors).fillna(0.0)
            gap = wide.loc[FIT_YEARS, unit] - wide.loc[FIT_YEARS, donors] @ w
            fits[unit] = {
                "pre_mspe": float((gap**2).mean()),
                "seconds": round(seconds, 1),
                "v": v,
                "w": {k: x for k, x in weights.items() if x > 0},
            }
        print(unit, fits[unit].get("pre_mspe", "timeout"), flush=True)
    out = {
        "generated_by": "tests/reference/peers/generate_pysyncon_prop99.py",
        "pysyncon": pysyncon.__version__,
        "numpy": np.__version__,
        "scipy": __import__("scipy").__version__,
        "python": platform.python_version(),
        "fit_years": [FIT_YEARS[0], FIT_YEARS[-1]],
        "cap_seconds": CAP,
        "fits": dict(sorted(fits.items())),
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
