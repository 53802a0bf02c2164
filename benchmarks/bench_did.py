"""Side-by-side timing of ``impacteval.did.att_gt`` / ``twfe`` against Python peers.

Not part of the test suite. Run from the repository root::

    .venv/bin/python benchmarks/bench_did.py --peer-python /path/to/peer-venv/bin/python

The peers (moderndid, csdid, differences, pyfixest) live in another virtual environment: the
script runs them in child processes of that interpreter (this same file in ``--worker`` mode,
which never imports impacteval); impacteval is timed the same way in a child of this
interpreter (``--impacteval-in-process`` times it in this process instead). The simulated
staggered panels are written once to ``benchmarks/.cache/`` (``.npz``: exact doubles, read by
both interpreters; reading is excluded from every timing). The script checks that the
ATT(g, t), the simple overall ATT and the TWFE coefficient agree across libraries, measures
peak RSS in fresh child processes, line-profiles impacteval where it misses a target, and
writes ``benchmarks/RESULTS_did.md``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import json
import os
import platform
import pstats
import queue
import resource
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
RESULTS = HERE / "RESULTS_did.md"

PERIODS = 10
COHORTS = (3, 4, 5, 6, 7, 8)  # treated cohorts; 0 = never treated
COVARIATES = ("x1", "x2")  # time-invariant (x1 continuous, x2 binary)
# case -> (libraries, what is timed)
ATT_LIBS = ("impacteval", "moderndid", "csdid", "differences")
COV_LIBS = ("impacteval", "moderndid", "csdid")
TWFE_LIBS = ("impacteval", "pyfixest")
# targets of the issue: ratio peer time / impacteval time at least this
TARGETS = {"moderndid": 1.0, "csdid": 10.0, "differences": 10.0, "pyfixest": 1 / 1.5}
AGREE_RTOL = 1e-6


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------
def data_path(n_units: int, seed: int) -> Path:
    return CACHE / f"did_u{n_units}_t{PERIODS}_s{seed}.npz"


def make_panel(n_units: int, seed: int) -> dict[str, np.ndarray]:
    """Balanced staggered panel: cohorts 3..8 and never treated (about 40%), selection on
    the covariates, covariate-specific trends and dynamic effects ``1 + 0.1 (t - g)``."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n_units)
    x2 = (rng.random(n_units) < 0.4).astype(float)
    p_never = 1.0 / (1.0 + np.exp(-(-0.4 - 0.5 * x1 + 0.4 * x2)))
    never = rng.random(n_units) < p_never
    cohort = np.where(never, 0, rng.choice(np.array(COHORTS), size=n_units))
    alpha = 0.5 * x1 + rng.normal(size=n_units)
    unit = np.repeat(np.arange(1, n_units + 1, dtype=np.int64), PERIODS)
    t = np.tile(np.arange(1, PERIODS + 1, dtype=np.int64), n_units)
    g = np.repeat(cohort, PERIODS).astype(np.int64)
    xr1, xr2 = np.repeat(x1, PERIODS), np.repeat(x2, PERIODS)
    d = ((g > 0) & (t >= g)).astype(float)
    effect = d * (1.0 + 0.1 * (t - g))
    y = (
        np.repeat(alpha, PERIODS)
        + 0.2 * t
        + 0.1 * t * xr1
        - 0.05 * t * xr2
        + effect
        + rng.normal(size=unit.size)
    )
    return {"unit": unit, "time": t, "cohort": g, "y": y, "x1": xr1, "x2": xr2, "d": d}


def ensure_data(n_units: int, seed: int) -> Path:
    path = data_path(n_units, seed)
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    log(f"writing {path.relative_to(ROOT)} ({n_units:,} units x {PERIODS} periods) ...")
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **make_panel(n_units, seed))
    tmp.replace(path)
    return path


def read_frame(path: Path) -> pd.DataFrame:
    with np.load(path) as z:
        return pd.DataFrame({k: z[k] for k in z.files})


# --------------------------------------------------------------------------------------
# the implementations: prepare (untimed), estimate (timed), summarise (untimed)
# --------------------------------------------------------------------------------------
def prepare(lib: str, frame: pd.DataFrame) -> Any:
    """The library's input as its users would hold it (untimed)."""
    if lib == "differences":  # entity/time index, never treated = NaN cohort
        out = frame.copy()
        out["cohort"] = out["cohort"].where(out["cohort"] > 0)
        return out.set_index(["unit", "time"])
    return frame


def estimate(lib: str, case: str, data: Any) -> Any:
    """The timed call: from the in-memory frame to the estimates with analytic SEs."""
    covs = list(COVARIATES) if case == "att_cov" else []
    method = "dr" if case == "att_cov" else "reg"
    if case == "twfe":
        if lib == "impacteval":
            from impacteval.did import twfe

            return twfe(data, outcome="y", treatment="d", unit="unit", time="time")
        import pyfixest as pf

        return pf.feols("y ~ d | unit + time", data=data, vcov={"CRV1": "unit"})
    if lib == "impacteval":
        from impacteval.did import att_gt

        return att_gt(
            data,
            outcome="y",
            unit="unit",
            time="time",
            cohort="cohort",
            covariates=covs,
            method=method,
        )
    if lib == "moderndid":
        import moderndid

        return moderndid.att_gt(
            data,
            yname="y",
            tname="time",
            idname="unit",
            gname="cohort",
            xformla=("~ " + " + ".join(covs)) if covs else None,
            est_method=method,
            boot=False,
            cband=False,
        )
    if lib == "csdid":
        from csdid.att_gt import ATTgt

        model = ATTgt(
            yname="y",
            tname="time",
            idname="unit",
            gname="cohort",
            data=data,
            xformla=("y ~ " + " + ".join(covs)) if covs else None,
        )
        return model.fit(est_method=method, bstrap=False)
    if lib == "differences":
        from differences import ATTgt as DiffATTgt

        model = DiffATTgt(data=data, cohort_column="cohort")
        formula = "y" + (" ~ " + " + ".join(covs) if covs else "")
        res = model.fit(
            formula, est_method=method, control_group="never_treated", progress_bar=False
        )
        return model, res
    raise ValueError(lib)


def summarise(lib: str, case: str, obj: Any) -> dict[str, Any]:
    """Overall simple ATT (SE) and every ATT(g, t) (SE), or the TWFE coefficient (untimed)."""
    if case == "twfe":
        if lib == "impacteval":
            return {"coef": float(obj.estimate), "se": float(obj.std_error)}
        return {"coef": float(obj.coef().iloc[0]), "se": float(obj.se().iloc[0])}
    if lib == "impacteval":
        tab = obj.table
        cells = np.column_stack([tab["group"], tab["time"], tab["estimate"], tab["std_error"]])
        overall = (float(obj.overall.estimate), float(obj.overall.std_error))
    elif lib == "moderndid":
        import moderndid

        cells = np.column_stack([obj.groups, obj.times, obj.att_gt, obj.se_gt])
        agg = moderndid.aggte(obj, type="simple")
        overall = (float(agg.overall_att), float(agg.overall_se))
    elif lib == "csdid":
        r = obj.results
        cells = np.column_stack(
            [np.asarray(r[k], dtype=float) for k in ("group", "year", "att", "se")]
        )
        obj.aggte(typec="simple")
        overall = (float(obj.atte["overall_att"]), float(obj.atte["overall_se"]))
    elif lib == "differences":
        model, res = obj
        frame = res.to_pandas()
        idx = frame.index
        cells = np.column_stack(
            [
                idx.get_level_values("cohort").to_numpy(dtype=float),
                idx.get_level_values("time").to_numpy(dtype=float),
                frame.iloc[:, 0].to_numpy(dtype=float),
                frame.iloc[:, 1].to_numpy(dtype=float),
            ]
        )
        agg = model.aggregate("simple")
        overall = (float(agg.iloc[0, 0]), float(agg.iloc[0, 1]))
    else:
        raise ValueError(lib)
    return {
        "overall": list(overall),
        "cells": np.asarray(cells, dtype=float).tolist(),
    }


# --------------------------------------------------------------------------------------
# timing protocol (shared by the worker and the in-process impacteval runs)
# --------------------------------------------------------------------------------------
def loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else []


def rss_mb() -> float:
    """Current resident set size (VmRSS) in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def maxrss_mb() -> float:
    """Peak resident set size of this process's address space so far (VmHWM), in MB.

    Not ``ru_maxrss``: Linux carries that across fork and exec, so a child started by a
    process that already peaked high would report its parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_protocol(
    lib: str,
    case: str,
    path: Path,
    prime_path: Path,
    repeats: int,
    slow: float,
    emit: Callable[[dict[str, Any]], None],
) -> None:
    """Load, prime on a tiny panel (imports, caches), then one warm-up and ``repeats`` timed
    calls; a warm-up slower than ``slow`` seconds is reported as the only run."""
    t0 = time.perf_counter()
    data = prepare(lib, read_frame(path))
    emit({"event": "loaded", "seconds": time.perf_counter() - t0, "rss_mb": rss_mb()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimate(lib, case, prepare(lib, read_frame(prime_path)))
    gc.collect()
    emit({"event": "primed", "rss_mb": rss_mb()})
    kinds = ["warmup"] + ["run"] * repeats
    for i, kind in enumerate(kinds):
        gc.collect()
        load = loadavg()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            obj = estimate(lib, case, data)
            secs = time.perf_counter() - t0
        emit(
            {"event": "call", "kind": kind, "seconds": secs, "loadavg": load,
             "maxrss_mb": maxrss_mb()}
        )  # fmt: skip
        if i == 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                emit({"event": "result", **summarise(lib, case, obj)})
            if secs > slow:
                break
        del obj
    emit({"event": "done", "maxrss_mb": maxrss_mb()})


def worker_main(args: argparse.Namespace) -> int:
    """``--worker``: run one library on one data file; JSON lines on the original stdout
    (whatever the libraries print goes to stderr)."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def emit(msg: dict[str, Any]) -> None:
        out.write(json.dumps(msg) + "\n")
        out.flush()

    try:
        run_protocol(args.worker, args.case, args.data, args.prime, args.repeats, args.slow, emit)
    except Exception as exc:  # reported to the parent, which records the failure
        emit({"event": "error", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


@dataclass
class Run:
    lib: str
    case: str
    n_units: int
    status: str = "ok"  # ok, DNF, error, skipped
    note: str = ""
    warmup: float | None = None
    times: list[float] = field(default_factory=list)
    loads: list[list[float]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    baseline_rss_mb: float | None = None
    peak_rss_mb: float | None = None
    in_process: bool = False

    @property
    def median(self) -> float | None:
        if self.status != "ok":
            return None
        return float(statistics.median(self.times)) if self.times else self.warmup

    @property
    def reduced(self) -> bool:
        return self.status == "ok" and not self.times


def run_worker(
    python: str, lib: str, case: str, n_units: int, args: argparse.Namespace, repeats: int
) -> Run:
    """Run ``lib`` in a child process of ``python``; kill it when a step exceeds the budget."""
    run = Run(lib, case, n_units)
    cmd = [
        python, str(Path(__file__).resolve()), "--worker", lib, "--case", case,
        "--data", str(data_path(n_units, args.seed)), "--prime", str(args.prime_path),
        "--repeats", str(repeats), "--slow", str(args.slow),
    ]  # fmt: skip
    log(f"{case} n={n_units:,}: {lib} in {python} (budget {args.budget:.0f} s per call)")
    err_path = CACHE / f"worker_{lib}_{case}_{n_units}.stderr"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        lines: queue.Queue[str | None] = queue.Queue()

        def reader() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=reader, daemon=True).start()
        try:
            while True:
                try:
                    line = lines.get(timeout=args.budget)
                except queue.Empty:
                    proc.kill()
                    proc.wait()
                    run.status = "DNF"
                    run.note = f"a step took longer than the {args.budget:.0f} s budget"
                    log(f"{case} n={n_units:,}: {lib} DNF (killed after {args.budget:.0f} s)")
                    break
                if line is None:
                    proc.wait()
                    if run.status == "ok" and run.warmup is None:
                        run.status = "error"
                        tail = err_path.read_text().strip().splitlines()[-3:]
                        run.note = run.note or " / ".join(tail)[:300]
                    break
                msg = json.loads(line)
                ev = msg["event"]
                if ev == "primed":
                    run.baseline_rss_mb = msg["rss_mb"]
                elif ev == "call":
                    if msg["kind"] == "warmup":
                        run.warmup = msg["seconds"]
                        run.peak_rss_mb = msg["maxrss_mb"]
                    else:
                        run.times.append(msg["seconds"])
                    run.loads.append(msg["loadavg"])
                    log(f"{case} n={n_units:,}: {lib} {msg['kind']} {msg['seconds']:.3f} s")
                elif ev == "result":
                    run.result = {k: v for k, v in msg.items() if k != "event"}
                elif ev == "error":
                    run.status = "error"
                    run.note = msg["error"][:300]
                    log(f"{case} n={n_units:,}: {lib} error {run.note}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return run


def run_in_process(lib: str, case: str, n_units: int, args: argparse.Namespace) -> Run:
    run = Run(lib, case, n_units, in_process=True)
    repeats = repeats_for(n_units, args)

    def emit(msg: dict[str, Any]) -> None:
        ev = msg["event"]
        if ev == "call":
            if msg["kind"] == "warmup":
                run.warmup = msg["seconds"]
            else:
                run.times.append(msg["seconds"])
            run.loads.append(msg["loadavg"])
            log(f"{case} n={n_units:,}: {lib} {msg['kind']} {msg['seconds']:.3f} s")
        elif ev == "result":
            run.result = {k: v for k, v in msg.items() if k != "event"}

    log(f"{case} n={n_units:,}: {lib} in this process")
    run_protocol(
        lib, case, data_path(n_units, args.seed), args.prime_path, repeats, args.slow, emit
    )
    return run


def repeats_for(n_units: int, args: argparse.Namespace) -> int:
    return args.repeats if n_units < args.large else args.repeats_large


def wait_quiet(args: argparse.Namespace, n_units: int) -> None:
    """Before a heavy run, wait (up to ``--quiet-wait`` s) for the 1-minute load average to
    drop below ``--quiet-load``."""
    if n_units < args.heavy or not hasattr(os, "getloadavg"):
        return
    t0 = time.monotonic()
    while os.getloadavg()[0] >= args.quiet_load and time.monotonic() - t0 < args.quiet_wait:
        time.sleep(10)
    waited = time.monotonic() - t0
    if waited >= 10:
        log(f"waited {waited:.0f} s for the load average (now {loadavg()})")


# --------------------------------------------------------------------------------------
# profile (cases where impacteval misses a target)
# --------------------------------------------------------------------------------------
def line_profile(fn: Callable[[], object], prefix: str) -> tuple[float, dict[tuple[str, int], Any]]:
    """Inclusive wall time per source line of the functions whose file starts with
    ``prefix`` (numpy, pandas, ... are not traced line by line)."""
    stats: dict[tuple[str, int], list[Any]] = {}
    state: dict[int, tuple[int, float]] = {}

    def local(frame: Any, event: str, arg: Any) -> Any:
        now = time.perf_counter()
        prev = state.get(id(frame))
        if prev is not None:
            entry = stats.setdefault(
                (frame.f_code.co_filename, prev[0]), [0.0, frame.f_code.co_name]
            )
            entry[0] += now - prev[1]
        if event == "return":
            state.pop(id(frame), None)
        else:
            state[id(frame)] = (frame.f_lineno, time.perf_counter())
        return local

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if event == "call" and frame.f_code.co_filename.startswith(prefix):
            return local
        return None

    sys.settrace(tracer)
    t0 = time.perf_counter()
    try:
        fn()
    finally:
        total = time.perf_counter() - t0
        sys.settrace(None)
    return total, {k: tuple(v) for k, v in stats.items()}


def profile_impacteval(case: str, n_units: int, args: argparse.Namespace) -> list[str]:
    """cProfile (self time by function) and a line profile of one impacteval call."""
    import impacteval

    prefix = str(Path(impacteval.__file__).resolve().parent)
    data = prepare("impacteval", read_frame(data_path(n_units, args.seed)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimate("impacteval", case, data)  # warm
        gc.collect()
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.runcall(estimate, "impacteval", case, data)
        total = time.perf_counter() - t0
        gc.collect()
        line_total, lines_stats = line_profile(lambda: estimate("impacteval", case, data), prefix)
    st = pstats.Stats(prof)
    rows = []
    for (filename, lineno, func), (_cc, _nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        rows.append((filename, lineno, func, tt, ct))

    def where(filename: str, lineno: int) -> str:
        if filename.startswith(prefix):
            return f"{os.path.relpath(filename, ROOT)}:{lineno}"
        if filename == "~":
            return "(builtin)"
        parts = Path(filename).parts
        for root in ("numpy", "pandas", "scipy"):
            if root in parts:
                return "/".join(parts[parts.index(root) :]) + f":{lineno}"
        return f"{Path(filename).name}:{lineno}"

    out = [
        f"One call of {n_units:,} units: {total:.3f} s under cProfile, {line_total:.3f} s "
        "under the line tracer.",
        "",
        "Self time by function (cProfile `tottime`, at least 2% of the call):",
        "",
        "| function | where | self s | share | cumulative s |",
        "|---|---|---:|---:|---:|",
    ]
    for filename, lineno, func, tt, ct in sorted(rows, key=lambda r: -r[3]):
        if tt < 0.02 * total:
            continue
        out.append(
            f"| `{func}` | {where(filename, lineno)} | {tt:.3f} | {tt / total:.0%} | {ct:.3f} |"
        )
    out += [
        "",
        "impacteval lines (inclusive wall time, at least 3% of the call):",
        "",
        "| file:line | function | seconds | share | code |",
        "|---|---|---:|---:|---|",
    ]
    import linecache

    for (filename, lineno), (secs, func) in sorted(lines_stats.items(), key=lambda kv: -kv[1][0]):
        if secs < 0.03 * line_total:
            continue
        code = linecache.getline(filename, lineno).strip().replace("|", "\\|")
        out.append(
            f"| {os.path.relpath(filename, ROOT)}:{lineno} | `{func}` | {secs:.3f} | "
            f"{secs / line_total:.0%} | `{code[:90]}` |"
        )
    return out


# --------------------------------------------------------------------------------------
# agreement and report
# --------------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[did {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rel_diff(a: float, b: float) -> float:
    if a == b or (np.isnan(a) and np.isnan(b)):
        return 0.0
    return float(abs(a - b) / max(abs(a), abs(b)))


def compare(ie: dict[str, Any], peer: dict[str, Any], case: str) -> dict[str, Any]:
    if case == "twfe":
        return {
            "coef": rel_diff(ie["coef"], peer["coef"]),
            "se": rel_diff(ie["se"], peer["se"]),
            "values": (ie["coef"], peer["coef"], ie["se"], peer["se"]),
        }
    mine = {(c[0], c[1]): (c[2], c[3]) for c in ie["cells"]}
    theirs = {(c[0], c[1]): (c[2], c[3]) for c in peer["cells"]}
    common = sorted(set(mine) & set(theirs))
    return {
        "cells": len(common),
        "unmatched": len(set(mine) ^ set(theirs)),
        "att": max((rel_diff(mine[k][0], theirs[k][0]) for k in common), default=np.nan),
        "att_abs": max((abs(mine[k][0] - theirs[k][0]) for k in common), default=np.nan),
        "se": max((rel_diff(mine[k][1], theirs[k][1]) for k in common), default=np.nan),
        "overall_att": rel_diff(ie["overall"][0], peer["overall"][0]),
        "overall_se": rel_diff(ie["overall"][1], peer["overall"][1]),
        "values": (ie["overall"][0], peer["overall"][0], ie["overall"][1], peer["overall"][1]),
    }


CASE_LABELS = {
    "att": "att_gt, no covariates (`reg`)",
    "att_cov": "att_gt, DR with covariates x1, x2",
    "twfe": "TWFE `y ~ d | unit + time`, CR1 by unit",
}


def fmt_s(run: Run | None) -> str:
    if run is None:
        return "—"
    if run.status != "ok":
        return f"{run.status}"
    med = run.median
    return f"{med:.3f}" + (" ¹" if run.reduced else "")


def peer_versions(python: str) -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        "for p in ('moderndid', 'csdid', 'differences', 'pyfixest', 'numpy', 'pandas', "
        "'polars', 'scipy'):\n"
        "    try:\n        out[p] = m.version(p)\n"
        "    except Exception:\n        out[p] = 'not installed'\n"
        "print(json.dumps(out))\n"
    )
    try:
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
        return dict(json.loads(proc.stdout))
    except (OSError, subprocess.CalledProcessError, ValueError):
        return {}


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(
        f"{d.get('internal_api')} {d.get('version')} ({d.get('num_threads')} threads)"
        for d in threadpool_info()
        if d.get("user_api") == "blas"
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def write_results(
    args: argparse.Namespace,
    runs: dict[tuple[str, int], dict[str, Run]],
    mem: dict[tuple[str, int], Run],
    profiles: dict[tuple[str, int], list[str]],
    info: dict[str, str],
) -> tuple[list[str], bool]:
    missed: list[str] = []
    lines = [
        "# Difference-in-differences benchmark: impacteval vs moderndid, csdid, differences, "
        "pyfixest",
        "",
        f"Generated by `benchmarks/bench_did.py` on {info['date (UTC)']} UTC. Rerun: "
        f"`{args.rerun}` (see README.md).",
        "",
        f"Data: simulated balanced staggered panels, {PERIODS} periods, treated cohorts "
        f"{', '.join(map(str, COHORTS))} and never treated (about 40% of units), selection on "
        "two time-invariant covariates (x1 normal, x2 binary) with covariate-specific trends, "
        f"dynamic effects `1 + 0.1 (t - g)`; seed {args.seed}; one `.npz` file per size in "
        "`benchmarks/.cache/`, read by every process (reading excluded from the timings). "
        f"{len(COHORTS)} cohorts x {PERIODS - 1} periods = {len(COHORTS) * (PERIODS - 1)} "
        "ATT(g, t) cells (varying base period, never-treated controls, analytic SEs).",
        "",
        "What is timed (the whole call from the in-memory data frame to the estimates with "
        "analytic standard errors): impacteval `att_gt(df, ..., method=...)` (which also "
        "computes the simple aggregation) and `twfe(df, outcome='y', treatment='d', "
        "unit='unit', time='time')`; moderndid `att_gt(df, ..., est_method=..., boot=False, "
        "cband=False)`; csdid `ATTgt(...).fit(est_method=..., bstrap=False)`; differences "
        "`ATTgt(df.set_index([unit, time]), 'cohort').fit('y', est_method='reg', "
        "control_group='never_treated')`; pyfixest `feols('y ~ d | unit + time', "
        "vcov={'CRV1': 'unit'})`. "
        + (
            "impacteval runs in the benchmark's own process; every peer runs in a child "
            f"process of `{args.peer_python}`. "
            if args.impacteval_in_process
            else "Every library runs in its own fresh child process with the same protocol "
            f"(impacteval with `{sys.executable}`, the peers with `{args.peer_python}`). "
        )
        + "Every library is first primed "
        "on a 2,000-unit panel (imports, JIT, caches), then each time is the median of "
        f"{args.repeats} runs after one untimed warm-up ({args.repeats_large} for panels of "
        f"{args.large:,} units or more); a warm-up slower than {args.slow:.0f} s is reported "
        f"as the only run (¹). Budget: a call still running after {args.budget:.0f} s is "
        "killed and reported as DNF; a library that did not finish a size is not run on "
        "larger ones.",
        "",
        "The machine is a 2-core VM shared with other engineers' test runs: the 1-minute "
        "load average (`os.getloadavg()`) was recorded before every timed call (All runs "
        f"table); runs on {args.heavy:,}+ units waited up to {args.quiet_wait:.0f} s for it to "
        f"fall below {args.quiet_load}. Single runs vary by tens of percent; read ratios "
        "close to a target with care.",
        "",
        "## Timings (seconds, median) and ratios (peer time / impacteval time)",
        "",
        "| case | units | rows | impacteval | moderndid | csdid | differences | pyfixest "
        "| ratios (target) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for (case, n), libs in runs.items():
        ie = libs.get("impacteval")
        ratios = []
        for peer in ("moderndid", "csdid", "differences", "pyfixest"):
            run = libs.get(peer)
            if run is None or ie is None or ie.median is None:
                continue
            target = TARGETS[peer]
            t_label = f"≥{target:g}x" if target >= 1 else f"≥{target:.2f}x (within 1.5x)"
            if run.status == "ok":
                ratio = run.median / ie.median  # type: ignore[operator]
                ok = ratio >= target
                ratios.append(f"{peer} {ratio:.2f}x ({t_label}: {'met' if ok else 'MISSED'})")
                if not ok:
                    missed.append(f"{case} n={n:,} vs {peer}")
            elif run.status == "DNF":
                ratios.append(f"{peer} DNF > {args.budget / ie.median:.0f}x")
            else:
                ratios.append(f"{peer} {run.status}")
        lines.append(
            f"| {CASE_LABELS[case]} | {n:,} | {n * PERIODS:,} | {fmt_s(ie)} | "
            + " | ".join(fmt_s(libs.get(p)) for p in ("moderndid", "csdid", "differences"))
            + f" | {fmt_s(libs.get('pyfixest'))} | {'; '.join(ratios)} |"
        )
    lines += [
        "",
        "¹ a single run: the warm-up took longer than the `--slow` threshold. DNF: killed "
        f"after {args.budget:.0f} s; skipped: not run because it did not finish a smaller "
        "size. A ratio above 1 means impacteval is faster.",
        "",
        "All runs (seconds; 1-minute load average before each timed call in brackets):",
        "",
        "| case | units | library | where | warm-up s | timed runs s | note |",
        "|---|---:|---|---|---:|---|---|",
    ]
    for (case, n), libs in runs.items():
        for lib, run in libs.items():
            loads = [ld[0] if ld else float("nan") for ld in run.loads]
            warm = "—" if run.warmup is None else f"{run.warmup:.3f} [{loads[0]:.2f}]"
            timed = ", ".join(
                f"{t:.3f} [{ld:.2f}]" for t, ld in zip(run.times, loads[1:], strict=False)
            )
            where = "this process" if run.in_process else "child process"
            lines.append(
                f"| {case} | {n:,} | {lib} | {where} | {warm} | {timed or '—'} | "
                f"{run.status if run.status != 'ok' else ''} {run.note} |"
            )
    lines += [
        "",
        "## Memory (peak RSS)",
        "",
        "Each library in a fresh child process: RSS after loading the data and priming "
        "(baseline), and the peak RSS of the address space (`VmHWM` in /proc/self/status) "
        "after the first full-size call (peak, including the data frame and the priming "
        "call)"
        + (
            "; impacteval's row comes from a separate child running one call (its timings "
            "above are from this process)"
            if args.impacteval_in_process
            else ""
        )
        + ". The machine has "
        f"{info.get('memory', '?')}; the target is that the 1,000,000-unit panel completes "
        "within 24 GB.",
        "",
        "| case | units | library | baseline MB | peak MB | peak - baseline MB |",
        "|---|---:|---|---:|---:|---:|",
    ]
    mem_rows: list[tuple[str, int, str, Run]] = []
    if args.impacteval_in_process:  # the separate memory runs; otherwise impacteval's
        for (case, n), run in mem.items():  # timed child is listed with the peers below
            mem_rows.append((case, n, "impacteval", run))
    for (case, n), libs in runs.items():
        for lib, run in libs.items():
            if not run.in_process:
                mem_rows.append((case, n, lib, run))
    for case, n, lib, run in mem_rows:
        if run.peak_rss_mb is None or run.baseline_rss_mb is None:
            lines.append(f"| {case} | {n:,} | {lib} | — | — | {run.status} |")
            continue
        lines.append(
            f"| {case} | {n:,} | {lib} | {run.baseline_rss_mb:,.0f} | {run.peak_rss_mb:,.0f} | "
            f"{run.peak_rss_mb - run.baseline_rss_mb:,.0f} |"
        )
    lines += [
        "",
        "## Agreement",
        "",
        "Against impacteval, per case and size: the largest relative difference over the "
        "ATT(g, t) cells matched by (group, time) (and the largest absolute difference of "
        "the ATTs, since pre-period ATTs are close to zero), over their SEs, and of the "
        "overall simple ATT and its SE (peers: `aggte(type='simple')` / "
        "`aggregate('simple')`, untimed). TWFE: coefficient and CR1 SE vs pyfixest.",
        "",
        "| case | units | peer | cells | max rel. diff ATT(g,t) | max abs. diff ATT(g,t) "
        "| max rel. diff SE(g,t) | overall ATT (ie / peer) | rel. diff | overall SE (ie / peer) "
        "| rel. diff |",
        "|---|---:|---|---:|---:|---:|---:|---|---:|---|---:|",
    ]
    all_ok = True
    for (case, n), libs in runs.items():
        ie = libs.get("impacteval")
        if ie is None or ie.result is None:
            continue
        for lib, run in libs.items():
            if lib == "impacteval" or run.result is None:
                continue
            c = compare(ie.result, run.result, case)
            v = c["values"]
            if case == "twfe":
                all_ok &= max(c["coef"], c["se"]) <= AGREE_RTOL
                lines.append(
                    f"| {case} | {n:,} | {lib} | — | — | — | — | {v[0]:.10g} / {v[1]:.10g} | "
                    f"{c['coef']:.1e} | {v[2]:.10g} / {v[3]:.10g} | {c['se']:.1e} |"
                )
                continue
            all_ok &= c["unmatched"] == 0 and max(c["att_abs"], c["se"]) <= AGREE_RTOL
            cells = f"{c['cells']}" + (f" ({c['unmatched']} unmatched)" if c["unmatched"] else "")
            lines.append(
                f"| {case} | {n:,} | {lib} | {cells} | {c['att']:.1e} | {c['att_abs']:.1e} | "
                f"{c['se']:.1e} | {v[0]:.8g} / {v[1]:.8g} | {c['overall_att']:.1e} | "
                f"{v[2]:.8g} / {v[3]:.8g} | {c['overall_se']:.1e} |"
            )
    lines += [
        "",
        f"Verdict (absolute ATT(g,t) and relative SE / TWFE differences within "
        f"{AGREE_RTOL:.0e}): **{'all agree' if all_ok else 'see the table: some differ'}**.",
        "",
        "## Targets",
        "",
        ("Missed: " + "; ".join(missed) + ".") if missed else "All speed targets met.",
        "",
    ]
    if profiles:
        lines += ["## Where impacteval's time goes (cases that miss a target)", ""]
        for (case, n), prof in profiles.items():
            lines += [f"### {CASE_LABELS[case]}, {n:,} units", "", *prof, ""]
    lines += ["## Machine", "", "| item | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines.append("")
    args.output.write_text("\n".join(lines))
    log(f"wrote {args.output}")
    return missed, all_ok


# --------------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer-python", default="/tmp/peervenv/bin/python")
    p.add_argument("--sizes", default="10000,100000,1000000", help="units, att_gt case")
    p.add_argument("--cov-size", type=int, default=100_000)
    p.add_argument("--twfe-size", type=int, default=100_000)
    p.add_argument("--cases", default="att,att_cov,twfe")
    p.add_argument("--libs", default=",".join((*ATT_LIBS[1:], "pyfixest")), help="peers")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--repeats-large", type=int, default=1)
    p.add_argument("--large", type=int, default=1_000_000, help="units from which to use "
                   "--repeats-large")  # fmt: skip
    p.add_argument("--slow", type=float, default=60.0)
    p.add_argument("--budget", type=float, default=600.0)
    p.add_argument("--heavy", type=int, default=1_000_000)
    p.add_argument("--quiet-load", type=float, default=1.5)
    p.add_argument("--quiet-wait", type=float, default=180.0)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--impacteval-in-process", action="store_true", help="time impacteval in "
                   "this process (default: a fresh child process, as every peer)")  # fmt: skip
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--output", type=Path, default=RESULTS)
    # worker mode (internal)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--prime", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.rerun = "python benchmarks/bench_did.py " + " ".join(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        return worker_main(args)
    start_load = loadavg()
    start = dt.datetime.now(dt.UTC)
    peers = [p for p in args.libs.split(",") if p]
    cases = [c for c in args.cases.split(",") if c]
    args.prime_path = ensure_data(2_000, args.seed)
    jobs: list[tuple[str, int, tuple[str, ...]]] = []
    for case in cases:
        if case == "att":
            sizes = [int(s) for s in args.sizes.split(",") if s]
            jobs += [(case, n, tuple(p for p in ATT_LIBS[1:] if p in peers)) for n in sizes]
        elif case == "att_cov":
            jobs.append((case, args.cov_size, tuple(p for p in COV_LIBS[1:] if p in peers)))
        elif case == "twfe":
            jobs.append((case, args.twfe_size, tuple(p for p in TWFE_LIBS[1:] if p in peers)))
        else:
            raise SystemExit(f"unknown case {case!r}")
    runs: dict[tuple[str, int], dict[str, Run]] = {}
    mem: dict[tuple[str, int], Run] = {}
    failed: dict[tuple[str, str], int] = {}
    for case, n, case_peers in jobs:
        ensure_data(n, args.seed)
        libs: dict[str, Run] = {}
        wait_quiet(args, n)
        if args.impacteval_in_process:
            libs["impacteval"] = run_in_process("impacteval", case, n, args)
            gc.collect()
            if not args.no_memory:
                wait_quiet(args, n)
                mem[(case, n)] = run_worker(sys.executable, "impacteval", case, n, args, 0)
        else:  # a fresh child process, exactly like the peers (its RSS serves as memory run)
            libs["impacteval"] = run_worker(
                sys.executable, "impacteval", case, n, args, repeats_for(n, args)
            )
            if not args.no_memory:
                mem[(case, n)] = libs["impacteval"]
        for peer in case_peers:
            if (case, peer) in failed:
                libs[peer] = Run(peer, case, n, status="skipped",
                                 note=f"did not finish {failed[(case, peer)]:,} units")  # fmt: skip
                continue
            wait_quiet(args, n)
            run = run_worker(args.peer_python, peer, case, n, args, repeats_for(n, args))
            if run.status in ("DNF", "error"):
                failed[(case, peer)] = n
            libs[peer] = run
        runs[(case, n)] = libs
    import impacteval

    versions = peer_versions(args.peer_python)
    info = {
        "date (UTC)": start.strftime("%Y-%m-%d %H:%M"),
        "duration": f"{(dt.datetime.now(dt.UTC) - start).total_seconds() / 60:.0f} min",
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores (os.cpu_count)": str(os.cpu_count()),
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GB",
        "python (impacteval)": platform.python_version(),
        "impacteval": str(getattr(impacteval, "__version__", "?")),
        "numpy / pandas (impacteval process)": f"{np.__version__} / {pd.__version__}",
        "numpy BLAS (impacteval process)": blas_info(),
        "peer interpreter": args.peer_python,
        "peer packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "load average (1, 5, 15 min) at the start": ", ".join(map(str, start_load)),
        "load average (1, 5, 15 min) at the end": ", ".join(map(str, loadavg())),
    }
    profiles: dict[tuple[str, int], list[str]] = {}
    missed, _ = write_results(args, runs, mem, profiles, info)
    if missed and not args.no_profile:
        for case, n, _peers in jobs:
            if any(m.startswith(f"{case} n={n:,} ") for m in missed):
                log(f"profiling impacteval: {case} n={n:,}")
                profiles[(case, n)] = profile_impacteval(case, n, args)
        missed, _ = write_results(args, runs, mem, profiles, info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
