"""Old-versus-new timing of two source trees of impacteval, shared by ``did_speed.py`` and
``reshape_speed.py``.

Every source runs in its own child process (the calling script re-run with ``--worker``),
with that source first on ``sys.path`` and an editable install's import hook removed, so
the source given is the one imported. Cases run in alternating order of the sources, so
that load from other processes hits both alike; each time is the median (and minimum) of
``repeats`` runs after one untimed warm-up.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def worker(
    source: str,
    case: str,
    repeats: int,
    frame: Callable[[str], Any],
    call: Callable[[str, Any], float],
    prime: Callable[[], None] | None = None,
) -> None:
    """Child process: import impacteval from ``source``, time ``call(case, frame(case))``."""
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in type(f).__module__]
    sys.path.insert(0, str(Path(source).resolve()))
    import impacteval

    data = frame(case)
    if prime is not None:
        prime()
    call(case, data)  # warm-up
    times, estimate = [], 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        estimate = call(case, data)
        times.append(time.perf_counter() - start)
    print(json.dumps({"file": impacteval.__file__, "times": times, "estimate": estimate}))


def run(script: str, source: str, case: str, repeats: int) -> dict[str, Any]:
    """Run ``script --worker source --case case`` and return its JSON line."""
    cmd = [sys.executable, script, "--worker", source, "--case", case, "--repeats", str(repeats)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def compare(
    script: str,
    sources: Sequence[Sequence[str]],
    cases: Sequence[str],
    labels: dict[str, str],
    repeats: int,
    check: Callable[[str, list[float]], str | None] | None = None,
    agree: Callable[[list[Any]], tuple[str, bool]] | None = None,
) -> int:
    """Print a markdown table of the sources' times per case; 1 if estimates or checks fail.

    The sources' estimates must agree to 1e-9 (relative), unless ``agree`` is given: it
    receives the estimates in the order of ``sources`` and returns a line to print and
    whether they are acceptable."""
    status = 0
    print(f"| case | {' | '.join(f'{lab} median s (min)' for lab, _ in sources)} | last / first |")
    print(f"|---|{'---:|' * len(sources)}---:|")
    for k, case in enumerate(cases):
        order = sources if k % 2 == 0 else sources[::-1]
        got = {lab: run(script, src, case, repeats) for lab, src in order}
        meds = [statistics.median(got[lab]["times"]) for lab, _ in sources]
        cells = [
            f"{m:.4f} ({min(got[lab]['times']):.4f})"
            for m, (lab, _) in zip(meds, sources, strict=True)
        ]
        ratio = f"{meds[-1] / meds[0]:.2f}" if len(meds) > 1 else ""
        print(f"| {labels[case]} | {' | '.join(cells)} | {ratio} |", flush=True)
        estimates = [got[lab]["estimate"] for lab, _ in sources]
        if agree is not None:
            line, ok = agree(estimates)
            print(f"  {line}", flush=True)
            status = status if ok else 1
        elif max(estimates) - min(estimates) > 1e-9 * max(map(abs, estimates)):
            print(f"  estimates differ: {estimates}")
            status = 1
        problem = check(case, meds) if check is not None else None
        if problem:
            print(f"  {problem}")
            status = 1
    for lab, src in sources:
        print(f"{lab}: {run(script, src, cases[0], 1)['file']}")
    return status
