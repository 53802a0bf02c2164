"""Timing checks of the DiD entry points, and old-versus-new timings of two source trees.

Not part of the test suite (timings depend on the machine and its load). Two uses:

1. The speed check that used to live in ``tests/did/test_att_gt.py``: ``att_gt`` on mpdta
   (2,500 rows, no covariates, ``method="reg"``) must take well under one second. Exit
   status 1 when it does not::

       .venv/bin/python benchmarks/did_speed.py --check

2. A before/after comparison of two checkouts of impacteval on the simulated staggered
   panels of ``bench_did.py`` (same seed and layout), e.g. a commit exported with
   ``git archive <commit> | tar -x -C /tmp/old``::

       .venv/bin/python benchmarks/did_speed.py --source old=/tmp/old --source new=.

   Every source runs in its own child process of this interpreter, with that source first
   on ``sys.path`` (an editable install's import hook is removed in the child, so the
   source given is the one imported; the child prints which file it imported). Cases run
   in alternating order of the sources, so that load from other processes hits both alike;
   each time is the median (and the minimum) of ``--repeats`` runs after one untimed
   warm-up. The simulated panels are read from ``benchmarks/.cache`` (written by
   ``bench_did.py``'s generator when missing); reading is excluded from the timings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import source_compare

HERE = Path(__file__).resolve().parent
MPDTA_LIMIT_S = 1.0  # brief: att_gt on mpdta without covariates well under 1 s
CASES = {
    "mpdta": "att_gt on mpdta, reg, no covariates",
    "att_10k": "att_gt, 10,000 units, reg",
    "att_100k": "att_gt, 100,000 units, reg",
    "att_1m": "att_gt, 1,000,000 units, reg",
    "att_cov_100k": "att_gt, 100,000 units, dr with covariates x1, x2",
    "att_unbal_100k": "att_gt, 100,000 units, unsorted rows, 1% of rows dropped",
    "es_sa_10k": "event_study, 10,000 units, sun_abraham",
    "twfe_100k": "twfe, 100,000 units, CR1",
}


def _frame(case: str) -> Any:
    import pandas as pd

    if case == "mpdta":
        import impacteval as ie

        return ie.datasets.load("mpdta")
    sys.path.insert(0, str(HERE))
    from bench_did import ensure_data, read_frame

    size = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}[case.rsplit("_", 1)[1]]
    frame = read_frame(ensure_data(size, 20240601))
    if case.startswith("att_unbal"):
        keep = frame.sample(frac=0.99, random_state=1).index
        frame = frame.loc[keep].reset_index(drop=True)
    assert isinstance(frame, pd.DataFrame)
    return frame


def _call(case: str, frame: Any) -> float:
    import warnings

    from impacteval.did import att_gt, event_study, twfe

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case == "mpdta":
            res: Any = att_gt(
                frame,
                outcome="lemp",
                unit="countyreal",
                time="year",
                cohort="first_treat",
                method="reg",
            )
        elif case.startswith("twfe"):
            res = twfe(frame, outcome="y", treatment="d", unit="unit", time="time")
        elif case.startswith("es_sa"):
            res = event_study(
                frame,
                outcome="y",
                unit="unit",
                time="time",
                cohort="cohort",
                method="sun_abraham",
            )
        else:
            covs = ["x1", "x2"] if case.startswith("att_cov") else []
            res = att_gt(
                frame,
                outcome="y",
                unit="unit",
                time="time",
                cohort="cohort",
                covariates=covs,
                method="dr" if covs else "reg",
            )
    return float(res.estimate)


def _mpdta_check(case: str, medians: list[float]) -> str | None:
    if case == "mpdta" and max(medians) >= MPDTA_LIMIT_S:
        return f"att_gt on mpdta took {max(medians):.3f} s >= {MPDTA_LIMIT_S} s"
    return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--check", action="store_true", help="only the mpdta speed check")
    p.add_argument("--source", action="append", default=[], help="LABEL=DIR (repeatable)")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        prime = lambda: _call("mpdta", _frame("mpdta"))  # noqa: E731 - imports and caches
        source_compare.worker(args.worker, args.case, args.repeats, _frame, _call, prime)
        return 0
    sources = [s.split("=", 1) for s in args.source] or [["this", str(HERE.parent)]]
    cases = ["mpdta"] if args.check else args.cases.split(",")
    return source_compare.compare(__file__, sources, cases, CASES, args.repeats, _mpdta_check)


if __name__ == "__main__":
    raise SystemExit(main())
