"""The Prop 99 placebo test against pysyncon's 39 single fits, timed in one run.

Not part of the test suite. pysyncon lives in its own venv (it is not a dependency)::

    IMPACTEVAL_DATA_DIR=../shared/data OPENBLAS_NUM_THREADS=1 .venv/bin/python \\
        benchmarks/synth_vs_pysyncon.py --peer-python /work/side-peers/bin/python \\
        [--repeats 3] [--units California,Alabama]

Order: impacteval's placebo test (``--repeats`` timed runs after one untimed warm-up, in a
child process of this venv), then pysyncon's fits of the same 39 units (a child process
of the peer venv, one ``Synth().fit`` per unit as in
``tests/reference/peers/generate_pysyncon_prop99.py``: ADH's predictors, fit period
1970-88, default Nelder-Mead over V from equal weights; the donor pools of the placebo
test), then impacteval's again. The load average is printed before each stage. The ratio
reported is pysyncon's summed fit time (``Synth().fit`` only, wall clock; CPU time also
given) over the median of impacteval's whole placebo tests (wall clock, both stages).
Per unit, the pre-period MSPE of both is printed (each computed from its own W). The
smoking data is read with ``impacteval.datasets.load`` in this venv and handed to the
peer as a CSV file (the peer venv has no impacteval).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PREDICTORS = {  # pysyncon's form of ADH (2010) Table 1 (as the reference generator)
    "predictors": ["lnincome", "age15to24", "retprice"],
    "predictors_op": "mean",
    "time_predictors_prior": list(range(1980, 1989)),
    "special_predictors": [
        ("beer", list(range(1984, 1989)), "mean"),
        ("cigsale", [1975], "mean"),
        ("cigsale", [1980], "mean"),
        ("cigsale", [1988], "mean"),
    ],
}
FIT_YEARS = list(range(1970, 1989))


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def _ours(repeats: int) -> None:
    """Child (this venv): time impacteval's Prop 99 placebo test; JSON line on stdout."""
    sys.path.insert(0, str(HERE))
    from synth_speed import PROP99_PREDICTORS

    import impacteval as ie

    frame = ie.datasets.load("smoking")

    def run() -> dict[str, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ie.synth.synthetic_control(
                frame,
                outcome="cigsale",
                unit="state",
                time="year",
                treated_unit="California",
                treatment_time=1989,
                predictors=PROP99_PREDICTORS,
                inference="placebo",
                n_jobs=1,
            )
        gaps = fit.details["placebo"].gaps
        pre = gaps.index < 1989
        return {str(u): float(v) for u, v in (gaps[pre] ** 2).mean(axis=0).items()}

    start = time.perf_counter()
    mspe = run()  # warm-up (loads the compiled kernels)
    first = time.perf_counter() - start
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        mspe = run()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    print(json.dumps({"first": first, "wall": walls, "cpu": cpus, "mspe": mspe}))


def _peer(csv: str, units: list[str]) -> None:
    """Child (peer venv): pysyncon's single fits of the placebo test's units."""
    import numpy as np
    import pandas as pd
    from pysyncon import Dataprep, Synth

    warnings.simplefilter("ignore")
    smoking = pd.read_csv(csv).astype({"year": int})
    wide = smoking.pivot(index="year", columns="state", values="cigsale")
    states = sorted(smoking["state"].unique())
    out: dict[str, Any] = {}
    for unit in units:
        if unit == "California":
            donors = [s for s in states if s != unit]
        else:
            donors = [s for s in states if s not in (unit, "California")]
        prep = Dataprep(
            foo=smoking,
            dependent="cigsale",
            unit_variable="state",
            time_variable="year",
            treatment_identifier=unit,
            controls_identifier=donors,
            time_optimize_ssr=range(1970, 1989),
            **PREDICTORS,
        )
        w0, c0 = time.perf_counter(), time.process_time()
        synth = Synth()
        synth.fit(dataprep=prep)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        weights = pd.Series(dict(synth.weights(round=14))).reindex(donors).fillna(0.0)
        gap = wide.loc[FIT_YEARS, unit] - wide.loc[FIT_YEARS, donors] @ weights
        out[unit] = {"wall": wall, "cpu": cpu, "mspe": float(np.mean(gap**2))}
        print(json.dumps({unit: out[unit]}), file=sys.stderr, flush=True)
    print(json.dumps(out))


def _child(cmd: list[str]) -> dict[str, Any]:
    res = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--peer-python", default="/work/side-peers/bin/python")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--units", default="", help="comma-separated subset (default: all 39)")
    p.add_argument("--ours", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--peer", help=argparse.SUPPRESS)
    args = p.parse_args()
    units = [u for u in args.units.split(",") if u]
    if args.ours:
        _ours(args.repeats)
        return 0
    if args.peer:
        _peer(args.peer, units)
        return 0
    import impacteval as ie

    smoking = ie.datasets.load("smoking")
    states = sorted(smoking["state"].unique())
    units = units or ["California"] + [s for s in states if s != "California"]
    ours_cmd = [sys.executable, __file__, "--ours", "--repeats", str(args.repeats)]
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}", flush=True)
    print(f"[ours 1] {time.strftime('%H:%M:%S')} {_load()}", flush=True)
    ours1 = _child(ours_cmd)
    print(f"  first run {ours1['first']:.2f} s, wall {ours1['wall']}, cpu {ours1['cpu']}")
    with tempfile.TemporaryDirectory() as tmp:
        csv = str(Path(tmp) / "smoking.csv")
        smoking.to_csv(csv, index=False)
        print(f"[pysyncon] {time.strftime('%H:%M:%S')} {_load()}", flush=True)
        peer = _child([args.peer_python, __file__, "--peer", csv, "--units", ",".join(units)])
    print(f"[ours 2] {time.strftime('%H:%M:%S')} {_load()}", flush=True)
    ours2 = _child(ours_cmd)
    print(f"  first run {ours2['first']:.2f} s, wall {ours2['wall']}, cpu {ours2['cpu']}")
    print(f"[end] {time.strftime('%H:%M:%S')} {_load()}")
    peer_wall = sum(u["wall"] for u in peer.values())
    peer_cpu = sum(u["cpu"] for u in peer.values())
    walls = ours1["wall"] + ours2["wall"]
    cpus = ours1["cpu"] + ours2["cpu"]
    print("\n| unit | pysyncon s | pysyncon pre-MSPE | impacteval pre-MSPE | ours / peer |")
    print("|---|---:|---:|---:|---:|")
    for unit in units:
        ours_m, peer_m = ours2["mspe"][unit], peer[unit]["mspe"]
        print(
            f"| {unit} | {peer[unit]['wall']:.1f} | {peer_m:.6g} | {ours_m:.6g} "
            f"| {ours_m / peer_m:.4f} |"
        )
    med_w, med_c = statistics.median(walls), statistics.median(cpus)
    print(
        f"\npysyncon, {len(units)} fits: wall {peer_wall:.1f} s, CPU {peer_cpu:.1f} s\n"
        f"impacteval placebo test ({len(walls)} timed runs): wall median {med_w:.3f} s "
        f"(min {min(walls):.3f}), CPU median {med_c:.3f} s; first run of each child "
        f"{ours1['first']:.2f} / {ours2['first']:.2f} s\n"
        f"ratio pysyncon / impacteval: wall {peer_wall / med_w:.0f}x, "
        f"CPU {peer_cpu / med_c:.0f}x, against the first runs "
        f"{peer_wall / max(ours1['first'], ours2['first']):.0f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
