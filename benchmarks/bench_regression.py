"""Side-by-side timing of ``impacteval.rct.regression`` against statsmodels and R estimatr.

Not part of the test suite. Run from the repository root::

    .venv/bin/python benchmarks/bench_regression.py

It writes the data once to ``benchmarks/.cache/`` (CSV, read by both languages), times
impacteval and statsmodels in this process, runs ``benchmarks/bench_regression.R`` for
estimatr (JSON on its stdout), checks that the treatment coefficient and standard error
agree across implementations, and writes ``benchmarks/RESULTS_regression.md``. When
impacteval misses a speed target, the case is line-profiled and the slowest lines are
reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import linecache
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
R_SCRIPT = HERE / "bench_regression.R"
RESULTS = HERE / "RESULTS_regression.md"

CASES = ("hc2_additive", "cr2_additive", "hc2_lin")
CASE_LABELS = {
    "hc2_additive": "(a) HC2, additive",
    "cr2_additive": "(b) CR2, clustered, additive",
    "hc2_lin": "(c) Lin (interacted), HC2",
}
# Speed targets of the issue: impacteval at least as fast as estimatr and at least twice as
# fast as statsmodels, for HC2 and CR2.
TARGET_CASES = ("hc2_additive", "cr2_additive")
TARGET_VS_ESTIMATR = 1.0
TARGET_VS_STATSMODELS = 2.0
# Relative tolerance for the agreement checks (coefficient, standard error, df).
AGREE_RTOL = 1e-6
# Source lines of the impacteval modules as imported (the tree may change during a run; the
# line profile must quote the code that actually ran).
SOURCE_SNAPSHOT: dict[str, list[str]] = {}
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------
def data_path(n: int, k: int, n_clusters: int, seed: int) -> Path:
    return CACHE / f"bench_n{n}_k{k}_g{n_clusters}_s{seed}.csv"


def make_data(n: int, k: int, n_clusters: int, seed: int) -> pd.DataFrame:
    """Cluster-randomised trial: half the clusters treated, heteroskedastic errors."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_clusters, size=n)  # equal-ish cluster sizes (multinomial)
    treated_clusters = rng.permutation(np.arange(n_clusters) % 2)
    z = treated_clusters[g]
    # correlated covariates; the last one binary, one skewed
    cov = 0.3 * np.ones((k, k)) + 0.7 * np.eye(k)
    x = rng.multivariate_normal(np.zeros(k), cov, size=n)
    x[:, k - 1] = (x[:, k - 1] > 0.5).astype(float)
    if k >= 2:
        x[:, k - 2] = np.exp(0.5 * x[:, k - 2])
    beta = np.linspace(0.5, -0.5, k)
    cluster_effect = 0.5 * rng.normal(size=n_clusters)[g]
    noise = rng.normal(size=n) * (1.0 + 0.5 * np.abs(x[:, 0]))
    y = 1.0 + 0.25 * z + x @ beta + 0.2 * z * x[:, 0] + cluster_effect + noise
    frame = pd.DataFrame({"y": y, "z": z})
    for j in range(k):
        frame[f"x{j + 1}"] = x[:, j]
    frame["g"] = g
    return frame


def ensure_data(n: int, k: int, n_clusters: int, seed: int) -> Path:
    path = data_path(n, k, n_clusters, seed)
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    log(f"writing {path.relative_to(ROOT)} ({n:,} rows) ...")
    frame = make_data(n, k, n_clusters, seed)
    tmp = path.with_suffix(".tmp")
    frame.to_csv(tmp, index=False, float_format="%.10g")
    tmp.replace(path)
    return path


def read_data(path: Path) -> pd.DataFrame:
    # correctly rounded parsing, as data.table::fread, so both sides see the same doubles
    # (pandas 3 does this by default and deprecates the option)
    if int(pd.__version__.split(".")[0]) >= 3:
        return pd.read_csv(path)
    return pd.read_csv(path, float_precision="round_trip")


# --------------------------------------------------------------------------------------
# the three implementations
# --------------------------------------------------------------------------------------
@dataclass
class Estimate:
    estimate: float
    std_error: float
    df: float | None = None


def covariate_names(frame: pd.DataFrame) -> list[str]:
    names = [c for c in frame.columns if c.startswith("x") and c[1:].isdigit()]
    return sorted(names, key=lambda c: int(c[1:]))


def snapshot_sources() -> None:
    """Import impacteval and keep the text of its modules as imported."""
    import impacteval
    import impacteval.rct

    for mod in list(sys.modules.values()):
        filename = getattr(mod, "__file__", None) or ""
        if getattr(mod, "__name__", "").startswith("impacteval") and filename.endswith(".py"):
            try:
                SOURCE_SNAPSHOT[str(Path(filename).resolve())] = (
                    Path(filename).read_text().splitlines()
                )
            except OSError:
                pass
    del impacteval


def source_line(filename: str, lineno: int) -> str:
    lines = SOURCE_SNAPSHOT.get(str(Path(filename).resolve()))
    if lines is not None and 0 < lineno <= len(lines):
        return lines[lineno - 1].strip()
    return linecache.getline(filename, lineno).strip()


def impacteval_case(frame: pd.DataFrame, case: str, se_type: str | None = None) -> Estimate:
    from impacteval.rct import regression

    covs = covariate_names(frame)
    if case == "hc2_additive":
        kw: dict[str, Any] = {"adjustment": "additive", "se_type": se_type or "HC2"}
    elif case == "cr2_additive":
        kw = {"adjustment": "additive", "se_type": se_type or "CR2", "cluster": "g"}
    elif case == "hc2_lin":
        kw = {"adjustment": "lin", "se_type": se_type or "HC2"}
    else:
        raise ValueError(case)
    res = regression(frame, outcome="y", treatment="z", covariates=covs, **kw)
    return Estimate(res.estimate, res.std_error, res.df)


def statsmodels_case(frame: pd.DataFrame, case: str) -> Estimate:
    """statsmodels from the same DataFrame: design built by hand (no formula), then OLS."""
    import statsmodels.api as sm

    covs = covariate_names(frame)
    y = frame["y"].to_numpy(dtype=float)
    z = frame["z"].to_numpy(dtype=float)
    xc = frame[covs].to_numpy(dtype=float)
    n = y.shape[0]
    if case == "hc2_lin":
        xc = xc - xc.mean(axis=0)
        design = np.column_stack([np.ones(n), z, xc, z[:, None] * xc])
    else:
        design = np.column_stack([np.ones(n), z, xc])
    model = sm.OLS(y, design)
    if case == "cr2_additive":
        # statsmodels has no CR2: its cluster-robust variance is CR1 (Stata's correction)
        groups = frame["g"].to_numpy()
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
    else:
        fit = model.fit(cov_type="HC2")
    return Estimate(float(fit.params[1]), float(fit.bse[1]))


# --------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------
@dataclass
class Timing:
    times: list[float]
    warmup: float
    reduced: bool = False
    result: Estimate | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return float(statistics.median(self.times))


def run_python(frame: pd.DataFrame, cases: tuple[str, ...], repeats: int) -> dict[str, Any]:
    """Per case: one warm-up of each library, then ``repeats`` rounds that time impacteval
    and statsmodels alternately, so that load from other processes hits both alike."""
    libs: dict[str, Callable[[pd.DataFrame, str], Estimate]] = {
        "impacteval": impacteval_case,
        "statsmodels": statsmodels_case,
    }
    out: dict[str, Any] = {}
    for case in cases:
        log(f"{case}: impacteval and statsmodels (1 warm-up + {repeats} alternating runs)")
        timings: dict[str, Timing] = {}
        for lib, fn in libs.items():
            gc.collect()
            t0 = time.perf_counter()
            result = fn(frame, case)
            timings[lib] = Timing(times=[], warmup=time.perf_counter() - t0, result=result)
        for _ in range(repeats):
            for lib, fn in libs.items():
                gc.collect()
                t0 = time.perf_counter()
                fn(frame, case)
                timings[lib].times.append(time.perf_counter() - t0)
        for lib, t in timings.items():
            log(f"{case}: {lib} median {t.median:.3f} s  runs {fmt_list(t.times)}")
        out[case] = timings
    return out


def run_r(path: Path, repeats: int, budget: float, cases: tuple[str, ...]) -> dict[str, Any]:
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise SystemExit("Rscript not found: install R and estimatr (see benchmarks/README.md)")
    cmd = [rscript, str(R_SCRIPT), str(path), str(repeats), str(budget), ",".join(cases)]
    log("running " + " ".join(shlex.quote(c) for c in cmd))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True, check=True)
    return dict(json.loads(proc.stdout))


# --------------------------------------------------------------------------------------
# line profile (only for cases that miss a target)
# --------------------------------------------------------------------------------------
def line_profile(fn: Callable[[], object], prefix: str) -> tuple[float, dict[tuple[str, int], Any]]:
    """Wall time per source line of every function whose file starts with ``prefix``.

    A line's time includes the calls it makes (inclusive, as line_profiler). Functions
    outside ``prefix`` (numpy, pandas, ...) are not traced line by line.
    """
    stats: dict[tuple[str, int], list[Any]] = {}
    state: dict[int, tuple[int, float]] = {}

    def local(frame: Any, event: str, arg: Any) -> Any:
        now = time.perf_counter()
        key = id(frame)
        prev = state.get(key)
        if prev is not None:
            line, t_prev = prev
            entry = stats.setdefault(
                (frame.f_code.co_filename, line), [0.0, 0, frame.f_code.co_name]
            )
            entry[0] += now - t_prev
            entry[1] += 1
        if event == "return":
            state.pop(key, None)
        else:
            state[key] = (frame.f_lineno, time.perf_counter())
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


def profile_case(
    frame: pd.DataFrame, case: str, calls: int = 3, min_share: float = 0.02
) -> list[str]:
    """Markdown table of the slowest impacteval lines, summed over ``calls`` calls."""
    import impacteval

    prefix = str(Path(impacteval.__file__).resolve().parent)
    impacteval_case(frame, case)  # warm
    total = 0.0
    agg: dict[tuple[str, int], list[Any]] = {}
    for _ in range(calls):
        gc.collect()
        secs, stats = line_profile(lambda: impacteval_case(frame, case), prefix)
        total += secs
        for key, (line_secs, _hits, func) in stats.items():
            entry = agg.setdefault(key, [0.0, func])
            entry[0] += line_secs
    lines = [
        f"Line profile over {calls} calls ({total / calls:.3f} s per call under the tracer). "
        "A line's time includes the calls it makes, so a caller's line contains its "
        f"callee's lines. Lines taking at least {min_share:.0%} of the call:",
        "",
        "| file:line | function | seconds per call | share | code |",
        "|---|---|---:|---:|---|",
    ]
    for (filename, lineno), (secs, func) in sorted(agg.items(), key=lambda kv: -kv[1][0]):
        if secs < min_share * total:
            continue
        rel = os.path.relpath(filename, ROOT)
        code = source_line(filename, lineno).replace("|", "\\|")
        lines.append(
            f"| {rel}:{lineno} | `{func}` | {secs / calls:.3f} | {secs / total:.0%} "
            f"| `{code[:90]}` |"
        )
    return lines


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[py {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fmt_list(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def rel_diff(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def machine_info() -> dict[str, str]:
    import scipy
    import statsmodels

    info = {
        "date (UTC)": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores (os.cpu_count)": str(os.cpu_count()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "statsmodels": statsmodels.__version__,
    }
    try:
        import impacteval

        info["impacteval"] = str(getattr(impacteval, "__version__", "?"))
    except ImportError:  # pragma: no cover
        pass
    info["numpy BLAS (threadpoolctl)"] = _blas_info()
    if hasattr(os, "getloadavg"):
        info["load average (1, 5, 15 min) at the end"] = ", ".join(
            f"{v:.2f}" for v in os.getloadavg()
        )
    for var in BLAS_ENV:
        info[f"env {var}"] = os.environ.get(var, "(not set)")
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


KEY_SOURCES = ("impacteval/rct/regression.py", "impacteval/inference/variance.py")


def source_state() -> str:
    """HEAD commit, tracked impacteval files modified against it, and a digest of the two
    files this benchmark exercises (read-only git commands)."""
    import hashlib

    digest = hashlib.sha256()
    for rel in KEY_SOURCES:
        try:
            digest.update((ROOT / rel).read_bytes())
        except OSError:
            digest.update(b"missing")
    state = f"sha256 of {', '.join(Path(k).name for k in KEY_SOURCES)}: {digest.hexdigest()[:12]}"
    git = shutil.which("git")
    if git is None:
        return state
    try:
        head = subprocess.run(
            [git, "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        modified = subprocess.run(
            [git, "-C", str(ROOT), "diff", "--name-only", "HEAD", "--", "impacteval"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return state
    changed = ", ".join(modified) if modified else "none"
    return f"commit {head}; tracked files modified against it: {changed}; {state}"


class OtherLoad:
    """Share of the machine's CPU time used by other processes between start() and stop()."""

    def __init__(self) -> None:
        self.start_stat: tuple[int, int] | None = None
        self.start_self = 0.0
        self.result = "unknown"

    @staticmethod
    def _stat() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    @staticmethod
    def _own_cpu() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def start(self) -> None:
        try:
            self.start_stat = self._stat()
        except (OSError, ValueError, IndexError):
            self.start_stat = None
        self.start_self = self._own_cpu()

    def stop(self) -> str:
        if self.start_stat is None:
            return self.result
        try:
            total1, idle1 = self._stat()
        except (OSError, ValueError, IndexError):
            return self.result
        total0, idle0 = self.start_stat
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        total = max(total1 - total0, 1)
        busy = total - (idle1 - idle0)
        own = (self._own_cpu() - self.start_self) * tick
        other = max(busy - own, 0.0) / total
        self.result = f"{other:.0%} of {os.cpu_count()} cores"
        return self.result


def busy_share(seconds: float = 3.0) -> str:
    """Share of all cores busy over ``seconds`` (from /proc/stat), e.g. other processes."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return "unknown"
    busy = 1.0 - (idle1 - idle0) / max(total1 - total0, 1)
    return f"{busy:.0%} of {os.cpu_count()} cores over {seconds:.0f} s"


def _blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    import scipy.linalg  # noqa: F401  (load scipy's BLAS too)

    parts = []
    for lib in threadpool_info():
        if lib.get("user_api") != "blas":
            continue
        where = Path(str(lib.get("filepath", ""))).parent.name
        parts.append(
            f"{lib.get('internal_api')} {lib.get('version')} ({where}, "
            f"{lib.get('architecture')}, {lib.get('num_threads')} threads)"
        )
    return "; ".join(parts) or "none found"


def agreement(
    py: dict[str, Any], r: dict[str, Any] | None, frame: pd.DataFrame
) -> tuple[list[str], bool]:
    """Table of treatment coefficient / SE / df across implementations; all within rtol?"""
    rows = [
        "| case | quantity | impacteval | statsmodels | estimatr | max rel. diff |",
        "|---|---|---:|---:|---:|---:|",
    ]
    ok = True
    for case, libs in py.items():
        ie_res: Estimate = libs["impacteval"].result
        sm_res: Estimate = libs["statsmodels"].result
        rr = (r or {}).get("cases", {}).get(case)
        r_vals = None if rr is None else (rr["estimate"], rr["std_error"], rr["df"])
        sm_se_comparable = case != "cr2_additive"
        for i, qty in enumerate(("coefficient", "std. error", "df")):
            ie_v = (ie_res.estimate, ie_res.std_error, ie_res.df)[i]
            sm_v = (sm_res.estimate, sm_res.std_error, None)[i]
            r_v = None if r_vals is None else r_vals[i]
            others = [r_v]
            if i == 0 or (i == 1 and sm_se_comparable):
                others.append(sm_v)
            diffs = [rel_diff(float(ie_v), float(o)) for o in others if o is not None]
            worst = max(diffs) if diffs else float("nan")
            if diffs and worst > AGREE_RTOL:
                ok = False
            sm_cell = "—" if sm_v is None else f"{sm_v:.10g}"
            if i == 1 and not sm_se_comparable:
                sm_cell += " (CR1)"
            r_cell = "—" if r_v is None else f"{r_v:.10g}"
            worst_cell = f"{worst:.1e}" if diffs else "—"
            rows.append(f"| {case} | {qty} | {ie_v:.10g} | {sm_cell} | {r_cell} | {worst_cell} |")
    # statsmodels' cluster variance is CR1: check it against impacteval's CR1
    if "cr2_additive" in py:
        ie_cr1 = impacteval_case(frame, "cr2_additive", se_type="CR1")
        sm_cr1 = py["cr2_additive"]["statsmodels"].result
        d = rel_diff(ie_cr1.std_error, sm_cr1.std_error)
        ok = ok and d <= AGREE_RTOL
        rows.append(
            f"| cr2_additive (CR1 check, untimed) | std. error | {ie_cr1.std_error:.10g} | "
            f"{sm_cr1.std_error:.10g} | — | {d:.1e} |"
        )
    return rows, ok


def timing_table(py: dict[str, Any], r: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    rows = [
        "| case | impacteval s | statsmodels s | estimatr s | statsmodels / impacteval "
        "| estimatr / impacteval | targets (≥2x statsmodels, ≥1x estimatr) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    missed: list[str] = []
    for case, libs in py.items():
        ie_t = libs["impacteval"].median
        sm_t = libs["statsmodels"].median
        sm_label = f"{sm_t:.3f}" + (" (CR1)" if case == "cr2_additive" else "")
        rr = (r or {}).get("cases", {}).get(case)
        r_t = None if rr is None else float(statistics.median(rr["times"]))
        r_label = "—" if r_t is None else f"{r_t:.3f}" + (" ¹" if rr and rr["reduced"] else "")
        ratio_sm = sm_t / ie_t
        ratio_r = None if r_t is None else r_t / ie_t
        if case in TARGET_CASES:
            verdicts = [
                f"statsmodels {'met' if ratio_sm >= TARGET_VS_STATSMODELS else 'MISSED'}",
            ]
            if ratio_r is not None:
                verdicts.append(f"estimatr {'met' if ratio_r >= TARGET_VS_ESTIMATR else 'MISSED'}")
            target = ", ".join(verdicts)
            if "MISSED" in target:
                missed.append(case)
        else:
            target = "(no target)"
        r_ratio = "—" if ratio_r is None else f"{ratio_r:.2f}"
        rows.append(
            f"| {CASE_LABELS[case]} | {ie_t:.3f} | {sm_label} | {r_label} | {ratio_sm:.2f} "
            f"| {r_ratio} | {target} |"
        )
    return rows, missed


def best_table(py: dict[str, Any], r: dict[str, Any] | None) -> list[str]:
    """Fastest run of each implementation: less sensitive to load from other processes."""
    rows = [
        "Fastest run of each (a second view, less sensitive to other processes' load):",
        "",
        "| case | impacteval s | statsmodels s | estimatr s | statsmodels / impacteval "
        "| estimatr / impacteval |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for case, libs in py.items():
        ie_t = min(libs["impacteval"].times)
        sm_t = min(libs["statsmodels"].times)
        rr = (r or {}).get("cases", {}).get(case)
        r_t = None if rr is None else min(float(v) for v in rr["times"])
        r_cells = "— | —" if r_t is None else f"{r_t:.3f} | {r_t / ie_t:.2f}"
        rows.append(
            f"| {CASE_LABELS[case]} | {ie_t:.3f} | {sm_t:.3f} | "
            f"{r_cells.split(' | ')[0]} | {sm_t / ie_t:.2f} | {r_cells.split(' | ')[1]} |"
        )
    return rows


def runs_table(py: dict[str, Any], r: dict[str, Any] | None) -> list[str]:
    rows = ["| case | library | warm-up s | timed runs s |", "|---|---|---:|---|"]
    for case, libs in py.items():
        for lib, t in libs.items():
            rows.append(f"| {case} | {lib} | {t.warmup:.3f} | {fmt_list(t.times)} |")
        rr = (r or {}).get("cases", {}).get(case)
        if rr is not None:
            note = " (warm-up over budget: reported as the only run)" if rr["reduced"] else ""
            rows.append(
                f"| {case} | estimatr | {rr['warmup_seconds']:.3f} | "
                f"{fmt_list([float(v) for v in rr['times']])}{note} |"
            )
    return rows


def write_results(
    args: argparse.Namespace,
    py: dict[str, Any],
    r: dict[str, Any] | None,
    unset_run: dict[str, Any] | None,
    path: Path,
    frame: pd.DataFrame,
) -> bool:
    agree_rows, ok = agreement(py, r, frame)
    time_rows, missed = timing_table(py, r)
    info = machine_info()
    if args.load_start:
        info["load average (1, 5, 15 min) at the start"] = args.load_start
    info["CPU busy just before the run (other processes)"] = args.busy_start
    info["CPU used by other processes during the Python timings"] = args.busy_python
    if args.busy_r is not None:
        info["CPU used by other processes during the R timings"] = args.busy_r
    info["impacteval source at the start"] = args.source_start
    source_end = source_state()
    source_changed = source_end.rsplit(": ", 1)[-1] != args.source_start.rsplit(": ", 1)[-1]
    if source_changed:
        label = "impacteval source at the end (benchmarked files CHANGED during the run)"
        info[label] = source_end
    elif source_end != args.source_start:
        info["impacteval source at the end (benchmarked files unchanged)"] = source_end
    if r is not None:
        info["R"] = str(r.get("r_version"))
        info["estimatr"] = str(r.get("estimatr_version"))
        info["R data reader"] = f"{r.get('reader')} {r.get('data_table_version') or ''}".strip()
        info["R BLAS / LAPACK"] = f"{r.get('blas')} / {r.get('la_library')}"
    rerun = ".venv/bin/python benchmarks/bench_regression.py" + (
        "" if args.argv_extra == [] else " " + " ".join(shlex.quote(a) for a in args.argv_extra)
    )
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    lines = [
        "# Regression benchmark: impacteval vs statsmodels vs R estimatr",
        "",
        f"Generated by `benchmarks/bench_regression.py` on {info['date (UTC)']} UTC. "
        f"Rerun: `{rerun}` (see README.md).",
        "",
        f"Data: {len(frame):,} rows, {len(covariate_names(frame))} covariates, binary "
        f"treatment (assigned by cluster), {frame['g'].nunique():,} clusters of "
        f"{frame['g'].value_counts().min():,}-{frame['g'].value_counts().max():,} rows, "
        f"seed {args.seed}; one CSV read by both languages (reading excluded from timings).",
        "",
        f"Each time is the median of {args.repeats} runs after one untimed warm-up, in one "
        "process per language; it covers the whole call from the in-memory data frame to "
        "the coefficient and standard error (impacteval: `regression(...)`; statsmodels: "
        "building the design matrix by hand + `OLS(y, X).fit(cov_type=...)`; estimatr: "
        "`lm_robust(formula, data, ...)` / `lm_lin(...)`). The machine is a small shared "
        "VM: single runs vary by up to tens of percent (see All runs), so read ratios near "
        "a target with care.",
        "",
        "## Timings (seconds, median)",
        "",
        *time_rows,
        "",
        'statsmodels has no CR2: in case (b) its column times `cov_type="cluster"` (CR1, '
        "Stata's small-sample factor), a cheaper estimator than CR2, so that ratio flatters "
        "statsmodels.",
    ]
    if r is not None and any(c.get("reduced") for c in r["cases"].values()):
        lines += [
            "",
            f"¹ A single estimatr run: its warm-up took longer than the {args.r_budget:.0f} s "
            "budget, so it is reported as the only run (no repeats) to keep the run time "
            "reasonable.",
        ]
    lines += ["", *best_table(py, r), "", "All runs:", "", *runs_table(py, r), ""]
    lines += [
        "## Agreement of the treatment effect",
        "",
        f"Relative differences against impacteval (tolerance {AGREE_RTOL:.0e}): "
        f"**{'all agree' if ok else 'DISAGREEMENT'}**. Case (b)'s statsmodels SE is CR1 and "
        "is checked against impacteval's CR1 instead; df are the Bell-McCaffrey "
        "(CR2) or n - k (HC2) degrees of freedom.",
        "",
        *agree_rows,
        "",
    ]
    l2_size = os.environ.get("OPENBLAS_L2_SIZE")
    lines += [
        "## OpenBLAS environment",
        "",
        f"`OPENBLAS_CORETYPE` is {f'set to `{coretype}`' if coretype else 'not set'} and "
        f"`OPENBLAS_L2_SIZE` is {f'set to `{l2_size}`' if l2_size else 'not set'} in this "
        "run's environment"
        + (
            "; the headline table above uses the environment as it was."
            if coretype or l2_size
            else ", so the headline table is the only run."
        ),
        "",
    ]
    if unset_run is not None:
        lines += [
            "Python side rerun with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` "
            "(same data, separate process):",
            "",
            "| case | impacteval s | statsmodels s | statsmodels / impacteval |",
            "|---|---:|---:|---:|",
        ]
        for case, libs in unset_run.items():
            ie_t = statistics.median(libs["impacteval"])
            sm_t = statistics.median(libs["statsmodels"])
            lines.append(f"| {case} | {ie_t:.3f} | {sm_t:.3f} | {sm_t / ie_t:.2f} |")
        lines.append("")
    lines += ["## Machine", "", "| item | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines.append("")
    if missed and not args.no_profile:
        lines += [
            "## Where impacteval's time goes (cases that miss a target)",
            "",
        ]
        for case in missed:
            log(f"line-profiling impacteval on {case}")
            lines += [f"### {CASE_LABELS[case]}", "", *profile_case(frame, case), ""]
        if source_changed:
            lines += [
                "The impacteval source changed during the run: the profile times the code "
                "imported at the start, and quotes that code.",
                "",
            ]
    path.write_text("\n".join(lines))
    log(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return ok


# --------------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--covariates", type=int, default=10)
    p.add_argument("--clusters", type=int, default=1_000)
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--repeats", type=int, default=5, help="timed runs after one warm-up")
    p.add_argument(
        "--r-budget",
        type=float,
        default=300.0,
        help="seconds; an estimatr case whose warm-up takes longer is run only once",
    )
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated subset")
    p.add_argument("--skip-r", action="store_true", help="do not run estimatr")
    p.add_argument("--no-profile", action="store_true", help="no line profile on a miss")
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument(
        "--python-json",
        action="store_true",
        help="internal: time the Python side only and print JSON (for the rerun with the "
        "OpenBLAS variables unset)",
    )
    args = p.parse_args(argv)
    args.argv_extra = [a for a in argv if a != "--python-json"]
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    args.load_start = (
        ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else ""
    )
    args.busy_start = busy_share()
    args.source_start = source_state()
    snapshot_sources()
    log(f"CPU busy before the run (other processes): {args.busy_start}")
    cases = tuple(c for c in args.cases.split(",") if c)
    unknown = set(cases) - set(CASES)
    if unknown:
        raise SystemExit(f"unknown cases {sorted(unknown)}; choose from {CASES}")
    path = ensure_data(args.rows, args.covariates, args.clusters, args.seed)
    t0 = time.perf_counter()
    frame = read_data(path)
    log(f"read {len(frame):,} rows in {time.perf_counter() - t0:.1f} s")

    load = OtherLoad()
    load.start()
    py = run_python(frame, cases, args.repeats)
    args.busy_python = load.stop()
    log(f"CPU used by other processes during the Python timings: {args.busy_python}")
    if args.python_json:
        print(json.dumps({c: {lib: t.times for lib, t in libs.items()} for c, libs in py.items()}))
        return 0

    unset_run = None
    if any(v in os.environ for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")):
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
        }
        log("OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE set: rerunning the Python side without them")
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), *argv, "--python-json"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        unset_run = json.loads(proc.stdout)

    r = None
    args.busy_r = None
    if not args.skip_r:
        load.start()
        r = run_r(path, args.repeats, args.r_budget, cases)
        args.busy_r = load.stop()
        log(f"CPU used by other processes during the R timings: {args.busy_r}")
    ok = write_results(args, py, r, unset_run, args.output, frame)
    if not ok:
        log("implementations DISAGREE: see the agreement table")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
