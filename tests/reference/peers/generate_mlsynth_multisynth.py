"""Reference values of the partially pooled synthetic control (multisynth) from mlsynth.

    python -m venv /work/side-synth-multi
    /work/side-synth-multi/bin/pip install mlsynth==1.0.0   # pulls cvxpy (OSQP), pydantic
    PYTHONPATH=. /work/side-synth-multi/bin/python \\
        tests/reference/peers/generate_mlsynth_multisynth.py

mlsynth 1.0.0's ``PPSCM`` is a port of R ``augsynth::multisynth`` (Ben-Michael, Feller &
Rothstein 2022): the same normalised objective ``nu q_pool^2 / q_pool0^2 + (1 - nu)
q_sep^2 / q_sep0^2`` over per-unit simplices (solved by OSQP through cvxpy, eps 1e-8), the
triangle-inequality default ``nu``, unit fixed effects from pre-adoption means
(``fixedeff``), donors never treated or treated after ``T_j + n_leads``, and the
leave-one-unit-out jackknife with ``nu`` held fixed. mlsynth is not a dependency of
impacteval; only its output is committed (tests/reference/data/mlsynth_multisynth.json),
read by tests/synth/test_multisynth_reference.py.

Panel:

- ``factor``: a simulated staggered panel (two-factor model, 24 units, 16 periods, six
  treated units adopting in periods 8-12, effect 0 before and 1 + 0.2 e after
  adoption), generated here with numpy seed 20261205 and stored in the JSON.
Cases: the default ``nu`` (triangle-inequality ratio) with and without ``fixedeff``,
``nu = 0.5``, and ``n_leads = 2`` (so units adopting later than ``T_j + 2`` are donors of
unit ``j``); otherwise both packages' defaults for ``n_leads`` (the periods after the
last adoption) and ``n_lags`` (every period before it). A panel where the separate fits
are exact (e.g. mpdta's four pre-periods against hundreds of donors) is left out: its
weights are not unique, so two solvers may return different, equally optimal ones.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "tests" / "reference" / "data" / "mlsynth_multisynth.json"
SEED = 20261205


def factor_panel() -> pd.DataFrame:
    """The simulated panel (see the module docstring)."""
    rng = np.random.default_rng(SEED)
    n, t = 24, 16
    factors = np.cumsum(rng.normal(size=(t, 2)), axis=0)
    loadings = rng.uniform(0.2, 1.2, size=(n, 2))
    y = loadings @ factors.T + rng.normal(size=(n, 1)) + rng.normal(scale=0.3, size=(n, t))
    start = np.full(n, t)
    start[:6] = [8, 8, 9, 10, 11, 12]
    event = np.arange(t)[None, :] - start[:, None]
    d = event >= 0
    y = y + np.where(d, 1.0 + 0.2 * event, 0.0)
    return pd.DataFrame(
        {
            "unit": np.repeat([f"u{i:02d}" for i in range(n)], t),
            "period": np.tile(np.arange(2000, 2000 + t), n),
            "y": y.ravel(),
            "d": d.ravel().astype(int),
        }
    )


CASES: list[dict[str, Any]] = [
    {"name": "factor_auto", "panel": "factor", "nu": "auto", "fixedeff": False},
    {"name": "factor_auto_fe", "panel": "factor", "nu": "auto", "fixedeff": True},
    {"name": "factor_nu_half_fe", "panel": "factor", "nu": 0.5, "fixedeff": True},
    {"name": "factor_leads2_fe", "panel": "factor", "nu": "auto", "fixedeff": True, "n_leads": 2},
]
COLUMNS = {
    "factor": {"outcome": "y", "unitid": "unit", "time": "period", "treat": "d"},
}


def run_case(case: dict[str, Any], panel: pd.DataFrame) -> dict[str, Any]:
    """Fit mlsynth's PPSCM with the jackknife and collect what the test compares."""
    from mlsynth import PPSCM

    cols = COLUMNS[case["panel"]]
    res = PPSCM(
        {
            "df": panel,
            **cols,
            "nu": case["nu"],
            "fixedeff": case["fixedeff"],
            "n_leads": case.get("n_leads"),
            "run_inference": True,
            "inference_method": "jackknife",
            "display_graphs": False,
        }
    ).fit()
    es = res.event_study
    return {
        **case,
        "nu_used": float(res.design.nu_used),
        "att": float(res.inference_detail.att),
        "att_se": float(res.inference_detail.se),
        "event_time": [int(h) for h in es.horizons],
        "event_estimate": [float(v) for v in es.tau],
        "event_se": [float(v) for v in es.se],
        "weights": {
            unit: {donor: float(w) for donor, w in ws.items()}
            for unit, ws in res.donor_weights_by_cohort.items()
        },
    }


def main() -> None:
    import mlsynth

    panels = {"factor": factor_panel()}
    out = {
        "peer": f"mlsynth {getattr(mlsynth, '__version__', '1.0.0')}",
        "python": platform.python_version(),
        "seed": SEED,
        "factor_panel": panels["factor"].to_dict(orient="list"),
        "cases": [run_case(c, panels[c["panel"]]) for c in CASES],
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
