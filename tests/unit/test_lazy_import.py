"""``import impacteval`` stays light: no numpy, pandas, scipy, statsmodels or matplotlib
until a subpackage or result class is used (PEP 562 ``__getattr__``). A module-set check is
deterministic where a time limit would be flaky; the time itself (``python -X importtime
-c "import impacteval"``) was ~0.01 s against 1.0-1.6 s before."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["numpy", "pandas", "scipy", "statsmodels", "matplotlib", "sklearn", "linearmodels"]

SCRIPT = f"""
import json, sys
import impacteval as ie
before = [m for m in {HEAVY!r} if m in sys.modules]
from impacteval import EffectEstimate
ok = [
    callable(ie.rct.difference_in_means),
    ie.datasets.load("nsw_dw").shape == (445, 11),
    ie.EffectEstimate is EffectEstimate,
    callable(ie.synth.synthetic_control) and callable(ie.did.att_gt),
    "rct" in dir(ie),
]
print(json.dumps({{"before": before, "ok": ok, "plt": "matplotlib.pyplot" in sys.modules}}))
"""


def test_import_impacteval_imports_no_heavy_module() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["before"] == []
    assert all(res["ok"]), res["ok"]
    assert res["plt"] is False  # estimators do not pull in pyplot either
