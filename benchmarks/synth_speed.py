"""Old-versus-new timings of two source trees for the synthetic-control placebo test.

Not part of the test suite. Usage, with the old commit exported by ``git archive <commit>
impacteval | tar -x -C /tmp/old``::

    IMPACTEVAL_DATA_DIR=../shared/data OPENBLAS_NUM_THREADS=1 .venv/bin/python \\
        benchmarks/synth_speed.py --source old=/tmp/old --source new=. --repeats 1

Cases: the Prop 99 in-space placebo test (39 fits, each with its V search over ADH's
predictors) and the simulated 200-donor x 40-period panel of ``bench_synth.py`` (201 fits,
6 predictors), both serial (``n_jobs=1``), so that the time is the numerics' and not the
scheduling's. Each source runs in its own child process (``source_compare.py``), cases in
alternating order of the sources; each time is the median (and minimum) of ``--repeats``
runs after one untimed warm-up. The estimates compared are the pre-period MSPEs of every
fit (treated unit and placebos), unit by unit: the last source's must be at most the first
source's times (1 + 1e-9) for every unit, otherwise exit status 1 (the V search may change,
but no unit's fit may get worse). The distribution of the ratios last / first is printed.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import source_compare

HERE = Path(__file__).resolve().parent

CASES = {
    "prop99_placebo": "Prop 99 in-space placebo test, 39 fits with V search (ADH predictors)",
    "big_placebo": "simulated 200 donors x 40 periods, placebo test, 201 fits with V search",
}

PROP99_PREDICTORS: list[tuple[str, Any]] = [
    ("lnincome", range(1980, 1989)),
    ("age15to24", range(1980, 1989)),
    ("retprice", range(1980, 1989)),
    ("beer", range(1984, 1989)),
    ("cigsale", 1975),
    ("cigsale", 1980),
    ("cigsale", 1988),
]
BIG_PREDICTORS: list[tuple[str, Any]] = [
    ("c1", 0),
    ("c2", 0),
    ("c3", 0),
    ("y", range(0, 10)),
    ("y", 20),
    ("y", 29),
]


def _frame(case: str) -> Any:
    import impacteval as ie

    if case == "big_placebo":
        sys.path.insert(0, str(HERE))
        from bench_synth import simulated

        return simulated()
    return ie.datasets.load("smoking")


def _call(case: str, frame: Any) -> dict[str, float]:
    import impacteval as ie

    if case == "prop99_placebo":
        args: dict[str, Any] = {
            "outcome": "cigsale",
            "unit": "state",
            "time": "year",
            "treated_unit": "California",
            "treatment_time": 1989,
            "predictors": PROP99_PREDICTORS,
        }
    else:
        args = {
            "outcome": "y",
            "unit": "unit",
            "time": "t",
            "treated_unit": "treated",
            "treatment_time": 30,
            "predictors": BIG_PREDICTORS,
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ie.synth.synthetic_control(frame, inference="placebo", n_jobs=1, **args)
    test = fit.details["placebo"]
    pre = test.gaps.index < args["treatment_time"]
    mspe = (test.gaps[pre] ** 2).mean(axis=0)
    return {str(unit): float(val) for unit, val in mspe.items()}


def _per_unit(estimates: list[Any]) -> tuple[str, bool]:
    """Every unit's pre-period MSPE of the last source at most the first's times 1 + 1e-9."""
    first, last = estimates[0], estimates[-1]
    if set(first) != set(last):
        return f"units differ: {sorted(set(first) ^ set(last))}", False
    units = sorted(first)
    ratio = np.array([last[u] / first[u] if first[u] > 0 else 1.0 + (last[u] > 0) for u in units])
    worse = [u for u, r in zip(units, ratio, strict=True) if r > 1 + 1e-9]
    line = (
        f"per-unit pre-MSPE last / first over {len(units)} units: min {ratio.min():.12g}, "
        f"median {np.median(ratio):.12g}, max {ratio.max():.12g}; "
        f"equal to 1e-12: {int((np.abs(ratio - 1) <= 1e-12).sum())}, "
        f"better by > 1e-9: {int((ratio < 1 - 1e-9).sum())}, worse by > 1e-9: {len(worse)}"
    )
    if worse:
        line += f" ({', '.join(worse[:10])})"
    return line, not worse


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--source", action="append", default=[], help="LABEL=DIR (repeatable)")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        source_compare.worker(args.worker, args.case, args.repeats, _frame, _call)
        return 0
    sources = [s.split("=", 1) for s in args.source] or [["this", str(HERE.parent)]]
    return source_compare.compare(
        __file__, sources, args.cases.split(","), CASES, args.repeats, agree=_per_unit
    )


if __name__ == "__main__":
    sys.exit(main())
