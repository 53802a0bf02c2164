"""Old-versus-new timings of two source trees for matching, weighting, RCT and synth entry points.

The companion of ``did_speed.py`` (which covers the DiD entry points) for checking that a
refactoring did not make the other designs slower. Not part of the test suite. Usage, with
a commit exported by ``git archive <commit> | tar -x -C /tmp/old``::

    IMPACTEVAL_DATA_DIR=../shared/data .venv/bin/python benchmarks/reshape_speed.py \
        --source old=/tmp/old --source new=.

Each source runs in its own child process (``source_compare.py``: the source is put first on
``sys.path`` and an editable install's import hook is removed). Cases run in
alternating order of the sources, so that load from other processes hits both alike; each
time is the median (and minimum) of ``--repeats`` runs after one untimed warm-up. The
estimates of the two sources must agree to 1e-9 (relative), otherwise exit status 1. The
Prop 99 cases need the part-B ``smoking`` data (``IMPACTEVAL_DATA_DIR``).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

import source_compare

HERE = Path(__file__).resolve().parent
CASES = {
    "nn_10k_100k": "nearest_neighbor 1:1, 10k treated / 100k controls, given score",
    "nn_lalonde": "nearest_neighbor on lalonde_psid (614 rows), glm score (MatchIt default)",
    "ipw_100k": "ipw ATT, 110k rows, 4 covariates",
    "rct_lin_100k": "rct.regression Lin, 110k rows, 4 covariates, CR2 by 500 clusters",
    "scm_prop99": "synthetic_control Prop 99 (ADH predictors, V search), no placebo",
    "sdid_prop99": "synthetic_did Prop 99, placebo SE, 50 reps",
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


def _frame(case: str) -> Any:
    import numpy as np
    import pandas as pd

    import impacteval as ie

    if case.startswith(("nn_10k", "ipw", "rct")):
        sys.path.insert(0, str(HERE))
        from bench_matching import make_data

        frame = make_data(10_000, 100_000, 20240601)
        if case.startswith("rct"):
            rng = np.random.default_rng(7)
            frame["cluster"] = rng.integers(0, 500, len(frame))
        return frame
    if case == "nn_lalonde":
        return ie.datasets.load("lalonde_psid")
    smoking = ie.datasets.load("smoking")
    if case == "sdid_prop99":
        smoking = smoking.assign(
            treated=((smoking["state"] == "California") & (smoking["year"] >= 1989)).astype(int)
        )
    assert isinstance(smoking, pd.DataFrame)
    return smoking


def _call(case: str, frame: Any) -> float:
    import impacteval as ie

    covs = [f"x{j}" for j in range(1, 5)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case == "nn_10k_100k":
            res: Any = ie.matching.nearest_neighbor(
                frame, outcome="y", treatment="treat", propensity="ps"
            )
        elif case == "nn_lalonde":
            res = ie.matching.nearest_neighbor(
                frame,
                outcome="re78",
                treatment="treat",
                covariates=["age", "educ", "black", "hisp", "married", "nodegree", "re74", "re75"],
            )
        elif case == "ipw_100k":
            res = ie.matching.ipw(
                frame, outcome="y", treatment="treat", covariates=covs, estimand="ATT"
            )
        elif case == "rct_lin_100k":
            res = ie.rct.regression(
                frame, outcome="y", treatment="treat", covariates=covs, cluster="cluster"
            )
        elif case == "scm_prop99":
            res = ie.synth.synthetic_control(
                frame,
                outcome="cigsale",
                unit="state",
                time="year",
                treated_unit="California",
                treatment_time=1989,
                predictors=PROP99_PREDICTORS,
                inference="none",
            )
            return float(res.gaps.loc[1989:].mean())
        else:
            res = ie.synth.synthetic_did(
                frame,
                outcome="cigsale",
                unit="state",
                time="year",
                treatment="treated",
                se="placebo",
                n_reps=50,
                rng=1,
            )
    return float(res.estimate)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--source", action="append", default=[], help="LABEL=DIR (repeatable)")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        source_compare.worker(args.worker, args.case, args.repeats, _frame, _call)
        return 0
    sources = [s.split("=", 1) for s in args.source] or [["this", str(HERE.parent)]]
    return source_compare.compare(__file__, sources, args.cases.split(","), CASES, args.repeats)


if __name__ == "__main__":
    raise SystemExit(main())
