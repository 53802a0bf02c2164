"""``att_gt`` at scale: a partitioned Parquet panel through Dask, against pandas in memory.

Not part of the test suite. Writes a simulated balanced panel (``--units`` units x
``--periods`` periods; cohorts never / 4 / 6 / 8; one Parquet file per block of
``--units-per-file`` units, each file one row group, so every unit's rows sit in one
partition) to ``--path`` (a scratch folder outside the repository; default
``/tmp/impacteval_scale``), then:

1. for each ``--workers`` count: starts a ``distributed.LocalCluster`` (worker processes,
   one thread each, ``--worker-memory`` each), reads the folder with
   ``dask.dataframe.read_parquet`` and runs ``att_gt`` by map-reduce; records the wall
   time and the peak resident memory of the client and of its worker processes (the sum
   over the process tree, sampled every 0.2 s with psutil);
2. for each ``--in-memory-units`` size (smallest first, stopping at the first that fails):
   a child process reads that many units' files with pandas and runs ``att_gt`` in memory
   under an address-space cap (``--cap-gb``, ``RLIMIT_AS``), so a size that does not fit
   fails there instead of exhausting the machine; records read and estimate times and the
   child's peak RSS. The child also reports the overall ATT, compared with a Dask run on
   the same files.

Writes a Markdown table to ``--out`` (default ``benchmarks/RESULTS_scale.md``)::

    .venv/bin/python benchmarks/bench_scale.py                       # 10M units x 10
    .venv/bin/python benchmarks/bench_scale.py --units 50000000 --workers 1 2 4 8 \\
        --worker-memory 16GB --in-memory-units 10000000 30000000 --cap-gb 64
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
KW = {"outcome": "y", "unit": "unit", "time": "year", "cohort": "first_treat", "method": "reg"}


# -- data ------------------------------------------------------------------------------------
def write_panel(path: Path, units: int, periods: int, per_file: int, seed: int) -> float:
    """Write the panel (one file per block of units); returns the seconds it took."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("part-*.parquet"):
        old.unlink()
    start = time.perf_counter()
    years = np.arange(1, periods + 1, dtype=np.int16)
    cohorts = np.array([0, 4, 6, 8], dtype=np.int16)
    for k, lo in enumerate(range(0, units, per_file)):
        gen = np.random.default_rng([seed, k])
        n = min(per_file, units - lo)
        g = gen.choice(cohorts, size=n, p=[0.4, 0.2, 0.2, 0.2])
        unit = np.repeat(np.arange(lo, lo + n, dtype=np.int64), periods)
        year = np.tile(years, n)
        gg = np.repeat(g, periods)
        effect = np.where((gg > 0) & (year >= gg), 1.0 + 0.1 * (year - gg), 0.0)
        y = np.repeat(gen.normal(size=n), periods) + 0.2 * year + effect
        y += gen.normal(size=n * periods)
        table = pa.table({"unit": unit, "year": year, "y": y, "first_treat": gg})
        pq.write_table(table, path / f"part-{k:05d}.parquet", row_group_size=n * periods)
    return time.perf_counter() - start


def files(path: Path, units: int | None = None, per_file: int | None = None) -> list[str]:
    out = sorted(str(p) for p in path.glob("part-*.parquet"))
    if units is not None and per_file is not None:
        out = out[: -(-units // per_file)]
    return out


# -- memory sampling ---------------------------------------------------------------------------
class PeakRSS:
    """Peak of the summed RSS of this process and its descendants (psutil, every 0.2 s)."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = 0
        self.peak_client = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            try:
                own = self._proc.memory_info().rss
                total = own
                for child in self._proc.children(recursive=True):
                    try:
                        total += child.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                continue
            self.peak, self.peak_client = max(self.peak, total), max(self.peak_client, own)
            self._stop.wait(0.2)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def tree_rss() -> int:
    """The summed RSS of this process and its descendants now."""
    import psutil

    proc = psutil.Process()
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return int(total)


# -- the Dask run -------------------------------------------------------------------------------
def run_dask(paths: list[str], workers: int, worker_memory: str) -> dict[str, Any]:
    import dask.dataframe as dd
    import distributed

    from impacteval.did import att_gt

    with (
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=worker_memory,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster),
    ):
        idle = tree_rss()  # the started cluster, before any work
        with PeakRSS() as mem:
            start = time.perf_counter()
            ddf = dd.read_parquet(paths, split_row_groups=False)
            res = att_gt(ddf, **KW)
            seconds = time.perf_counter() - start
        assert res.overall is not None
        return {
            "workers": workers,
            "partitions": int(ddf.npartitions),
            "seconds": seconds,
            "peak_total_gb": mem.peak / 1e9,
            "peak_client_gb": mem.peak_client / 1e9,
            "idle_gb": idle / 1e9,
            "overall": res.overall.estimate,
            "overall_se": res.overall.std_error,
            "n_units": res.details["n_units"],
        }


# -- the in-memory run (a child process under an address-space cap) ----------------------------
def in_memory_child(paths: list[str]) -> None:
    import pandas as pd

    from impacteval.did import att_gt

    start = time.perf_counter()
    df = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    res = att_gt(df, **KW)
    fit_s = time.perf_counter() - start
    assert res.overall is not None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {"read_s": read_s, "seconds": fit_s, "peak_gb": peak / 1e9,
           "overall": res.overall.estimate, "overall_se": res.overall.std_error,
           "n_units": res.details["n_units"]}  # fmt: skip
    print("RESULT " + json.dumps(out))


def run_in_memory(paths: list[str], cap_gb: float) -> dict[str, Any]:
    cap = int(cap_gb * 1e9)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    proc = subprocess.run(
        [sys.executable, __file__, "--child", *paths],
        capture_output=True,
        text=True,
        preexec_fn=limit,  # no threads are started in this process before it
        env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return {"ok": True, **json.loads(line[7:])}
    return {"ok": False, "error": (proc.stderr.strip().splitlines() or ["?"])[-1][:200]}


# -- report ---------------------------------------------------------------------------------------
def report(args: argparse.Namespace, notes: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = [
        "# att_gt at scale: Dask map-reduce vs pandas in memory",
        "",
        f"Written by `benchmarks/bench_scale.py` on {notes['date']}. Machine: "
        f"{os.cpu_count()} cores, {notes['ram_gb']:.0f} GB RAM, shared with other sessions; "
        f"load average (`uptime`) at the start: {notes['load_start']}, at the end: "
        f"{notes['load_end']}. Panel: {args.units:,} units x {args.periods} periods = "
        f"{args.units * args.periods:,} rows, {notes['n_files']} Parquet files "
        f"({notes['parquet_gb']:.2f} GB on disk, written in {notes['write_s']:.0f} s) in "
        f"`{args.path}`. `att_gt(method='reg')` without covariates (balanced panel, "
        "never-treated controls, varying base period).",
        "",
        "| engine | units | rows | workers | time (s) | peak RSS (GB) | overall ATT | SE |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(r["line"])
    lines += ["", *notes["remarks"], ""]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        in_memory_child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--path", type=Path, default=Path("/tmp/impacteval_scale"))
    ap.add_argument("--units", type=int, default=10_000_000)
    ap.add_argument("--periods", type=int, default=10)
    ap.add_argument("--units-per-file", type=int, default=250_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--worker-memory", default="3GB")
    ap.add_argument(
        "--in-memory-units", type=int, nargs="*", default=[1_000_000, 3_000_000, 10_000_000]
    )
    ap.add_argument("--cap-gb", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--reuse", action="store_true", help="keep an existing panel in --path")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS_scale.md")
    args = ap.parse_args()
    notes = run_all(args)
    save(args, notes)
    print(args.out.read_text())


def save(args: argparse.Namespace, notes: dict[str, Any]) -> None:
    """Write the report so far (after every run, so an interrupted run leaves its rows)."""
    notes["load_end"] = _load()
    args.out.write_text(report(args, notes, notes["rows"]))


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    notes: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                             "ram_gb": psutil.virtual_memory().total / 1e9,
                             "load_start": _load(), "remarks": [], "rows": []}  # fmt: skip
    write_s = 0.0
    if not (args.reuse and files(args.path)):
        write_s = write_panel(args.path, args.units, args.periods, args.units_per_file, args.seed)
    paths = files(args.path)
    notes.update(write_s=write_s, n_files=len(paths),
                 parquet_gb=sum(Path(p).stat().st_size for p in paths) / 1e9)  # fmt: skip
    rows_of = args.periods
    full: dict[str, Any] = {}
    for w in args.workers:
        r = full = run_dask(paths, w, args.worker_memory)
        print("dask", r, flush=True)
        notes["rows"].append({"line": (
            f"| Dask ({r['partitions']} partitions) | {r['n_units']:,} | "
            f"{r['n_units'] * rows_of:,} | {w} | {r['seconds']:.1f} | "
            f"{r['peak_total_gb']:.2f} (client {r['peak_client_gb']:.2f}, idle cluster "
            f"{r['idle_gb']:.2f}) | "
            f"{r['overall']:.6f} | {r['overall_se']:.6f} |")})  # fmt: skip
        save(args, notes)
    for units in sorted(args.in_memory_units):
        sub = files(args.path, units, args.units_per_file)
        r = run_in_memory(sub, args.cap_gb)
        print("pandas", units, r, flush=True)
        if not r["ok"]:
            notes["remarks"].append(
                f"- pandas in memory at {units:,} units failed under the {args.cap_gb:g} GB "
                f"address-space cap: `{r['error']}`; larger sizes were not tried."
            )
            save(args, notes)
            break
        d = run_dask(sub, max(args.workers), args.worker_memory) if len(sub) < len(paths) else full
        notes["rows"].append({"line": (
            f"| pandas in memory (read {r['read_s']:.1f} s not included) | {r['n_units']:,} "
            f"| {r['n_units'] * rows_of:,} | - | {r['seconds']:.1f} | {r['peak_gb']:.2f} | "
            f"{r['overall']:.6f} | {r['overall_se']:.6f} |")})  # fmt: skip
        notes["rows"].append({"line": (
            f"| Dask, same files | {d['n_units']:,} | {d['n_units'] * rows_of:,} | "
            f"{d['workers']} | {d['seconds']:.1f} | {d['peak_total_gb']:.2f} (client "
            f"{d['peak_client_gb']:.2f}) | {d['overall']:.6f} | "
            f"{d['overall_se']:.6f} |")})  # fmt: skip
        notes["remarks"].append(
            f"- {units:,} units: |overall ATT, Dask - pandas| = "
            f"{abs(d['overall'] - r['overall']):.1e}, |SE difference| = "
            f"{abs(d['overall_se'] - r['overall_se']):.1e}."
        )
        save(args, notes)
    notes["load_end"] = _load()
    return notes


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
