"""Paired, interleaved timing of one ``bench_did.py`` case: impacteval against one peer.

Not part of the test suite. ``bench_did.py`` times every call of one library, then every
call of the next; on a shared machine whose load changes over minutes, that compares the
two libraries under different loads. Here both libraries live in their own persistent
child process (each has read the data and made one untimed warm-up call), and the parent
asks them for one timed call in turn, ``--rounds`` times, alternating which goes first.
Each round gives one ratio (peer seconds / impacteval seconds) measured under nearly the
same load; the script reports every round, the median ratio and the ratio of the medians.
Usage, from the repository root (the peer lives in another virtual environment)::

    .venv/bin/python benchmarks/did_paired.py --case att_cov --peer csdid \\
        --peer-python /path/to/peer-venv/bin/python --rounds 9

The data are ``bench_did.py``'s cached panels (written by it when missing); the timed call is
``bench_did.estimate`` itself, so the two scripts time exactly the same code. The child
processes also check, once, that the two libraries' overall ATT agree (``bench_did.compare``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_did  # noqa: E402


def child(lib: str, case: str, data: Path) -> int:
    """Worker: read the data, warm up, then one timed call per line read from stdin."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    frame = bench_did.prepare(lib, bench_did.read_frame(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = bench_did.estimate(lib, case, frame)
        summary = bench_did.summarise(lib, case, obj)
    del obj
    out.write(json.dumps({"ready": True, "result": summary}) + "\n")
    for _ in sys.stdin:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            obj = bench_did.estimate(lib, case, frame)
            secs = time.perf_counter() - t0
        del obj
        out.write(json.dumps({"seconds": secs, "load": bench_did.loadavg()}) + "\n")
    return 0


class Worker:
    """A persistent child process running :func:`child` for one library."""

    def __init__(self, python: str, lib: str, case: str, data: Path) -> None:
        cmd = [python, str(Path(__file__).resolve()), "--child", lib, "--case", case,
               "--data", str(data)]  # fmt: skip
        self.lib = lib
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1,
        )  # fmt: skip
        self.result = self._read()["result"]

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"{self.lib}: the child process ended without an answer")
        return dict(json.loads(line))

    def call(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", default="att_cov", choices=("att", "att_cov", "twfe"))
    p.add_argument("--peer", default="csdid")
    p.add_argument("--peer-python", required=False)
    p.add_argument("--units", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.child, args.case, args.data)
    if not args.peer_python:
        p.error("--peer-python is required")
    data = bench_did.ensure_data(args.units, args.seed)
    start_load = bench_did.loadavg()
    ours = Worker(sys.executable, "impacteval", args.case, data)
    peer = Worker(args.peer_python, args.peer, args.case, data)
    agree = bench_did.compare(ours.result, peer.result, args.case)
    rows = []
    for r in range(args.rounds):
        first, second = (ours, peer) if r % 2 == 0 else (peer, ours)
        a, b = first.call(), second.call()
        t = {first.lib: a["seconds"], second.lib: b["seconds"]}
        rows.append((t["impacteval"], t[args.peer], a["load"][0]))
        print(f"round {r + 1}: impacteval {t['impacteval']:.3f} s, {args.peer} "
              f"{t[args.peer]:.3f} s, ratio {t[args.peer] / t['impacteval']:.2f}x "
              f"(load {a['load'][0]:.2f}; {first.lib} first)", flush=True)  # fmt: skip
    ours.close()
    peer.close()
    ratios = [b / a for a, b, _ in rows]
    med_ours = statistics.median(a for a, _, _ in rows)
    med_peer = statistics.median(b for _, b, _ in rows)
    print(f"case {args.case}, {args.units:,} units, {args.rounds} rounds; load at start "
          f"{start_load}, at end {bench_did.loadavg()}")  # fmt: skip
    print(f"median of the round ratios: {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x)")  # fmt: skip
    print(f"medians: impacteval {med_ours:.3f} s, {args.peer} {med_peer:.3f} s, "
          f"ratio {med_peer / med_ours:.2f}x")  # fmt: skip
    print(f"agreement with {args.peer}: {json.dumps(agree)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
