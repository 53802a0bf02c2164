"""Timing of 1:1 nearest-neighbour propensity-score matching: impacteval vs R MatchIt vs
causalml.

Not part of the test suite. Run from the repository root::

    .venv/bin/python benchmarks/bench_matching.py

Task: 1:1 nearest-neighbour matching on a precomputed propensity score, without
replacement, caliper 0.2 standard deviations of the score, ATT (treated matched in
decreasing score order). Two sizes: 10,000 treated / 100,000 controls and 100,000 treated /
1,000,000 controls. The data are simulated (seeded) and written once per size to
``benchmarks/.cache/`` (gitignored) as CSV with 17 significant digits, so both languages
read the same doubles; reading is excluded from every timing.

* impacteval: ``nearest_neighbor(data, outcome="y", treatment="treat", propensity="ps",
  caliper=0.2)`` -- the whole call, which also forms the matched sample and the
  pair-clustered outcome regression (MatchIt's timing below covers matching only, so this is
  the conservative comparison); the matching kernel alone (``_nn_match.match_sorted``) is
  timed as well.
* MatchIt 4.5.1 with upstream fix #163 (``R_LIBS=/tmp/Rlib`` by default; Debian's binary is
  miscompiled: C's integer ``abs`` on double distances), run by ``bench_matching.R``:
  ``matchit(treat ~ x1, data, distance = <the score vector>, method = "nearest",
  caliper = 0.2, replace = FALSE)``, so no propensity model is fitted and only matching is
  timed.
* causalml ``NearestNeighborMatch(caliper=c, replace=False, ratio=1, shuffle=False)`` in the
  peer venv (``--causalml-python``). causalml's caliper is ``caliper * np.std(score)`` (ddof
  0); ``c = 0.2 * sqrt(n / (n - 1))`` gives MatchIt's 0.2 x sd (ddof 1). causalml matches
  treated units in data order (``shuffle=False``), not by decreasing score, so its matched
  sets differ slightly; the counts are reported. A run that exceeds ``--causalml-budget``
  seconds (default 600) is stopped and reported DNF.

Each time is the median of ``--repeats`` (default 3) runs after one untimed warm-up
(causalml: no warm-up, and only one run when the first exceeds a third of the budget;
MatchIt: when the warm-up exceeds ``--r-budget`` seconds, default 120, it is the only run).
``os.getloadavg()`` is recorded at every timing. Agreement: impacteval and MatchIt must
match the same number of treated units, to the same controls, with the same ATT (relative
1e-9); the script exits with status 1 otherwise. When impacteval misses a target it is
profiled (cProfile) and the top functions are written to the results.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
R_SCRIPT = HERE / "bench_matching.R"
RESULTS = HERE / "RESULTS_matching.md"
SIZES = ((10_000, 100_000), (100_000, 1_000_000))
CALIPER = 0.2
SEED = 20261126
# treated units' covariate means (controls: 0); unit variances in both groups
MU_T = np.array([0.3, -0.2, 0.25, 0.1])
BETA = np.array([1.0, 0.5, -0.5, 0.25])
EFFECT = 1.0
TARGET_VS_MATCHIT = 1.0
TARGET_VS_CAUSALML = 5.0

NOTES = [
    "Reading the numbers: impacteval's matching loop is MatchIt's `nn_matchC_vec` algorithm "
    "(sorted scores, nearest available control left or right of each treated unit) run in "
    "Python over lists; the rest of the full call is input checking, the matched sample and "
    "the weighted regression with CR1 by pair (no balance table: no covariates are given). "
    "MatchIt's time grew much faster than the data between the two sizes (first run of "
    "this file: 3.4 s to 522 s); its profile was not examined here. causalml's "
    "`NearestNeighborMatch(replace=False)` loops over treated units in Python and, for each, "
    "filters the remaining controls with pandas and recomputes the distance to all of them "
    "(O(n_treated x n_controls)), which is why the large case does not finish; its child "
    "process is given the budget plus 60 s for reading the CSV.",
]


CAUSALML_CHILD = r"""
import json, os, sys, time, warnings
import numpy as np, pandas as pd
warnings.simplefilter("ignore")
from causalml.match import NearestNeighborMatch
path, repeats, budget = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
data = pd.read_csv(path)
n = len(data)
cal = 0.2 * np.sqrt(n / (n - 1))  # causalml: caliper * np.std(score) (ddof 0)
for r in range(repeats):
    m = NearestNeighborMatch(caliper=cal, replace=False, ratio=1, shuffle=False, n_jobs=1)
    load = os.getloadavg()
    t0 = time.perf_counter()
    out = m.match(data=data, treatment_col="treat", score_cols=["ps"])
    sec = time.perf_counter() - t0
    t = out["treat"] == 1
    att = float(out.loc[t, "y"].mean() - out.loc[~t, "y"].mean())
    print(json.dumps({"seconds": sec, "load": load, "n_matched": int(t.sum()), "att": att}),
          flush=True)
    if sec > budget / 3:
        break
"""


def log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def data_path(n1: int, n0: int, seed: int) -> Path:
    return CACHE / f"match_t{n1}_c{n0}_s{seed}.csv"


def make_data(n1: int, n0: int, seed: int) -> pd.DataFrame:
    """Fixed group sizes; x ~ N(MU_T, I) if treated, N(0, I) if control. The propensity
    score is the exact posterior P(treat | x) = expit(log(n1/n0) + x'MU_T - |MU_T|^2/2), so
    it is a true balancing score with no model fitted."""
    rng = np.random.default_rng(seed)
    treat = np.r_[np.ones(n1), np.zeros(n0)]
    x = rng.standard_normal((n1 + n0, MU_T.size)) + np.outer(treat, MU_T)
    lin = np.log(n1 / n0) + x @ MU_T - 0.5 * float(MU_T @ MU_T)
    ps = 1.0 / (1.0 + np.exp(-lin))
    y = 1.0 + x @ BETA + EFFECT * treat + rng.standard_normal(n1 + n0)
    frame = pd.DataFrame({"treat": treat, "ps": ps, "y": y})
    for j in range(MU_T.size):
        frame[f"x{j + 1}"] = x[:, j]
    return frame


def ensure_data(n1: int, n0: int, seed: int) -> Path:
    path = data_path(n1, n0, seed)
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        log(f"writing {path.name}")
        tmp = path.with_suffix(".tmp")
        make_data(n1, n0, seed).to_csv(tmp, index=False, float_format="%.17g")
        tmp.replace(path)
    return path


def impacteval_full(frame: pd.DataFrame) -> dict[str, Any]:
    from impacteval.matching import nearest_neighbor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = nearest_neighbor(
            frame, outcome="y", treatment="treat", propensity="ps", caliper=CALIPER
        )
    # 1-based row numbers of the matched controls, by treated unit in data order (0: none)
    mm = res.match_matrix.iloc[:, 0].fillna(-1).to_numpy(dtype=np.int64) + 1
    return {"n_matched": res.n_matched, "att": res.estimate, "mm": mm}


def impacteval_kernel(frame: pd.DataFrame) -> dict[str, Any]:
    from impacteval.matching._nn_match import match_sorted

    focal = frame["treat"].to_numpy() == 1
    ps = frame["ps"].to_numpy(dtype=float)
    order = np.argsort(-ps[focal], kind="stable")
    width = CALIPER * float(np.std(ps, ddof=1))
    mm = match_sorted(focal, ps, order, 1, False, width)
    return {"n_matched": int((mm[:, 0] >= 0).sum())}


def time_py(fn: Any, frame: pd.DataFrame, repeats: int) -> dict[str, Any]:
    fn(frame)  # warm-up
    runs: list[float] = []
    loads: list[list[float]] = []
    out: dict[str, Any] = {}
    for _ in range(repeats):
        loads.append([round(v, 2) for v in os.getloadavg()])
        t0 = time.perf_counter()
        out = fn(frame)
        runs.append(time.perf_counter() - t0)
    return {"runs": runs, "loads": loads, "median": statistics.median(runs), **out}


def run_r(path: Path, repeats: int, r_libs: str, budget: float) -> dict[str, Any]:
    env = {**os.environ, "R_LIBS": r_libs}
    mm_path = path.with_name(path.stem + "_matchit_mm.txt")
    proc = subprocess.run(
        [
            "Rscript",
            str(R_SCRIPT),
            str(path),
            str(repeats),
            str(CALIPER),
            str(mm_path),
            str(budget),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"bench_matching.R failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["median"] = statistics.median(result["runs"])
    result["mm"] = np.loadtxt(mm_path, dtype=np.int64, ndmin=1)
    return result


def run_causalml(python: str, path: Path, repeats: int, budget: float) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    proc = subprocess.Popen(
        [python, "-c", CAUSALML_CHILD, str(path), str(repeats), str(budget)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    t0 = time.monotonic()
    try:
        stdout, stderr = proc.communicate(timeout=budget + 60)  # + reading the CSV
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        runs = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        if not runs:
            return {"dnf": True, "elapsed": time.monotonic() - t0, "load": os.getloadavg()}
    else:
        if proc.returncode != 0:
            return {"error": stderr.strip().splitlines()[-1] if stderr.strip() else "failed"}
        runs = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    secs = [r["seconds"] for r in runs]
    over = all(s > budget for s in secs)
    return {
        "dnf": over,
        "runs": secs,
        "loads": [[round(v, 2) for v in r["load"]] for r in runs],
        "median": statistics.median(secs),
        "n_matched": runs[-1]["n_matched"],
        "att": runs[-1]["att"],
    }


def profile_impacteval(frame: pd.DataFrame) -> str:
    prof = cProfile.Profile()
    prof.enable()
    impacteval_full(frame)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(18)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    return "\n".join(lines[start:])


def versions(causalml_python: str, r_libs: str) -> dict[str, str]:
    import impacteval

    out = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "impacteval": impacteval.__version__,
        "cpus": str(os.cpu_count()),
        "platform": platform.platform(),
    }
    try:  # with --skip-r / --skip-causalml the peers may not be installed at all
        r = subprocess.run(
            ["Rscript", "-e", 'cat(R.version.string, "| MatchIt", '
             'format(packageVersion("MatchIt")), "from", find.package("MatchIt"))'],
            capture_output=True, text=True, env={**os.environ, "R_LIBS": r_libs}, check=False,
        )  # fmt: skip
        out["R"] = r.stdout.strip() or r.stderr.strip()[-200:]
    except FileNotFoundError:
        out["R"] = "unavailable (no Rscript)"
    try:
        c = subprocess.run(
            [causalml_python, "-c", "from importlib.metadata import version as v; "
             "print('causalml', v('causalml'), '| scikit-learn', v('scikit-learn'))"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        out["causalml"] = c.stdout.strip() or "unavailable"
    except FileNotFoundError:
        out["causalml"] = f"unavailable (no {causalml_python})"
    return out


def fmt_runs(runs: list[float], loads: list[list[float]]) -> str:
    return ", ".join(f"{s:.3f} (load {ld[0]:.2f})" for s, ld in zip(runs, loads, strict=True))


def write_results(results: list[dict[str, Any]], info: dict[str, str], args: Any) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Matching benchmark: impacteval vs R MatchIt vs causalml",
        "",
        f"Generated by `benchmarks/bench_matching.py` on {now}. Rerun: "
        "`.venv/bin/python benchmarks/bench_matching.py` (R needs the patched MatchIt: "
        "`--r-libs /tmp/Rlib`, the default).",
        "",
        "Task: 1:1 nearest-neighbour matching on a precomputed propensity score, without "
        "replacement, caliper 0.2 SD of the score, ATT, treated matched from the largest score "
        "down (MatchIt's default). Data: simulated (seed "
        f"{args.seed}), 4 normal covariates, exact posterior propensity score; one CSV per "
        "size in `benchmarks/.cache/`, read by both languages (reading excluded).",
        "",
        f"Times are medians of {args.repeats} runs after one untimed warm-up (causalml: no "
        "warm-up; a single run when it exceeds a third of the budget; DNF beyond "
        f"{args.causalml_budget:.0f} s). `impacteval (full)` is the whole `nearest_neighbor` "
        "call, including the matched sample and the pair-clustered regression; `impacteval "
        "(kernel)` is the matching loop alone; MatchIt times `matchit()` only (the outcome "
        "model is not part of it). The load average (1 min) is shown with every run.",
        "",
        "## Timings (seconds)",
        "",
        "| treated / controls | impacteval (full) | impacteval (kernel) | MatchIt | causalml | "
        "MatchIt / impacteval | causalml / impacteval | targets (>=1x MatchIt, >=5x causalml) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for res in results:
        ie_t = res["impacteval"]["median"]
        mi = res.get("matchit")
        cm = res.get("causalml", {})
        mi_t = mi["median"] if mi else float("nan")
        mi_s = f"{mi_t:.3f}" + (" ¹" if mi and mi.get("reduced") else "")
        if cm.get("dnf"):
            cm_s, cm_ratio, cm_ok = (
                f"DNF (> {args.causalml_budget:.0f})",
                "> " + (f"{args.causalml_budget / ie_t:.0f}"),
                True,
            )
        elif "median" in cm:
            cm_s, cm_ratio = f"{cm['median']:.2f}", f"{cm['median'] / ie_t:.1f}"
            cm_ok = cm["median"] / ie_t >= TARGET_VS_CAUSALML
        else:
            cm_s, cm_ratio, cm_ok = "not run", "-", None
        mi_ok = mi_t / ie_t >= TARGET_VS_MATCHIT if mi else None
        verdict = ", ".join(
            f"{name} {'met' if ok else 'MISSED'}"
            for name, ok in (("MatchIt", mi_ok), ("causalml", cm_ok))
            if ok is not None
        )
        lines.append(
            f"| {res['n1']:,} / {res['n0']:,} | {ie_t:.3f} | {res['kernel']['median']:.3f} | "
            f"{mi_s} | {cm_s} | {mi_t / ie_t:.2f} | {cm_ratio} | {verdict} |"
        )
    if any(res.get("matchit", {}).get("reduced") for res in results):
        lines += [
            "",
            f"¹ A single MatchIt run: its warm-up took longer than the {args.r_budget:.0f} s "
            "budget (`--r-budget`), so it is reported as the only run.",
        ]
    lines += ["", *NOTES]
    lines += ["", "## All runs (seconds, with the 1-minute load average at each timing)", ""]
    lines += ["| size | library | runs |", "|---|---|---|"]
    for res in results:
        size = f"{res['n1']:,} / {res['n0']:,}"
        for key, label in (
            ("impacteval", "impacteval (full)"),
            ("kernel", "impacteval (kernel)"),
            ("matchit", "MatchIt"),
            ("causalml", "causalml"),
        ):
            r = res.get(key)
            if not r:
                continue
            if "runs" in r:
                lines.append(f"| {size} | {label} | {fmt_runs(r['runs'], r['loads'])} |")
            elif r.get("dnf"):
                lines.append(
                    f"| {size} | {label} | DNF: stopped after {r['elapsed']:.0f} s "
                    f"(load {r['load'][0]:.2f}) |"
                )
            else:
                lines.append(f"| {size} | {label} | error: {r.get('error')} |")
    lines += [
        "",
        "## Agreement",
        "",
        "| size | library | treated matched | ATT (matched difference in means) | same controls "
        "as impacteval |",
        "|---|---|---:|---:|---|",
    ]
    for res in results:
        size = f"{res['n1']:,} / {res['n0']:,}"
        ie_r = res["impacteval"]
        lines.append(f"| {size} | impacteval | {ie_r['n_matched']:,} | {ie_r['att']:.10f} | - |")
        mi = res.get("matchit")
        if mi:
            same = bool(np.array_equal(mi["mm"], ie_r["mm"]))
            lines.append(
                f"| {size} | MatchIt | {mi['n_matched']:,} | {mi['att']:.10f} | "
                f"{'yes, every pair' if same else 'NO'} |"
            )
        cm = res.get("causalml", {})
        if "n_matched" in cm:
            lines.append(
                f"| {size} | causalml | {cm['n_matched']:,} | {cm['att']:.10f} | not compared "
                "(data-order matching) |"
            )
    if any(res.get("profile") for res in results):
        lines += ["", "## Where impacteval's time goes (cProfile, cumulative)", ""]
        for res in results:
            if res.get("profile"):
                lines += [f"{res['n1']:,} / {res['n0']:,}:", "", "```", res["profile"], "```", ""]
    lines += ["", "## Machine and versions", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines.append("")
    Path(args.output).write_text("\n".join(lines))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--sizes", default="small,large", help="subset of small,large")
    p.add_argument("--r-libs", default="/tmp/Rlib")
    p.add_argument("--r-budget", type=float, default=120.0)
    p.add_argument("--causalml-python", default="/tmp/peervenv/bin/python")
    p.add_argument("--causalml-budget", type=float, default=600.0)
    p.add_argument("--skip-r", action="store_true")
    p.add_argument("--skip-causalml", action="store_true")
    p.add_argument("--output", default=str(RESULTS))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = {"small": SIZES[0], "large": SIZES[1]}
    sizes = [wanted[s.strip()] for s in args.sizes.split(",")]
    results: list[dict[str, Any]] = []
    ok = True
    for n1, n0 in sizes:
        path = ensure_data(n1, n0, args.seed)
        frame = pd.read_csv(path)
        res: dict[str, Any] = {"n1": n1, "n0": n0}
        log(f"{n1}/{n0}: impacteval")
        res["impacteval"] = time_py(impacteval_full, frame, args.repeats)
        res["kernel"] = time_py(impacteval_kernel, frame, args.repeats)
        if not args.skip_r:
            log(f"{n1}/{n0}: MatchIt")
            mi = run_r(path, args.repeats, args.r_libs, args.r_budget)
            res["matchit"] = mi
            ie_r = res["impacteval"]
            agree = (
                mi["n_matched"] == ie_r["n_matched"]
                and np.array_equal(mi["mm"], ie_r["mm"])
                and abs(mi["att"] - ie_r["att"]) <= 1e-9 * max(1.0, abs(ie_r["att"]))
            )
            if not agree:
                log("DISAGREEMENT between impacteval and MatchIt")
                ok = False
            if mi["median"] < res["impacteval"]["median"] * TARGET_VS_MATCHIT:
                res["profile"] = profile_impacteval(frame)
        if not args.skip_causalml:
            log(f"{n1}/{n0}: causalml (budget {args.causalml_budget:.0f} s)")
            res["causalml"] = run_causalml(
                args.causalml_python, path, args.repeats, args.causalml_budget
            )
            cm = res["causalml"]
            if "median" in cm and not cm.get("dnf"):
                if cm["median"] < TARGET_VS_CAUSALML * res["impacteval"]["median"]:
                    res.setdefault("profile", profile_impacteval(frame))
        results.append(res)
        timed = [(k, v) for k, v in res.items() if isinstance(v, dict) and "median" in v]
        log(f"{n1}/{n0}: " + ", ".join(f"{k} {v['median']:.3f}" for k, v in timed))
    write_results(results, versions(args.causalml_python, args.r_libs), args)
    log(f"wrote {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
