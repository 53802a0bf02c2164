"""Reference prediction intervals from scpi-pkg (Cattaneo, Feng, Palomba & Titiunik), run in
a side venv outside the repository:

    python3 -m venv /work/side-scpi && /work/side-scpi/bin/pip install scpi-pkg==4.0.0
    IMPACTEVAL_DATA_DIR=../shared/data /work/side-scpi/bin/python \\
        tests/reference/peers/generate_scpi.py

scpi-pkg (GPL-3.0) is not a dependency of impacteval; only the numbers it produced are
committed (tests/reference/data/scpi_reference.json), plus the simulated panel of case
"factor" (tests/reference/data/scpi_factor_panel.csv, drawn here from a linear factor
model with numpy's legacy RandomState; no third-party data). scpi's own example data
(``scpi_germany``) is not shipped with the PyPI package, so it is not used.

Cases (one treated unit each, the outcome as the only feature, no constant, no covariate
adjustment, ``w_constr={"name": "simplex"}``, scpi defaults otherwise: ``u_missp=True``,
``u_order=1``, ``u_lags=0``, ``u_sigma="HC1"``, ``e_order=1``, ``e_lags=0``,
``rho="type-2"``, ``rho_max=0.2``):

- "prop99": California against the other 38 states of the Prop 99 panel (part B of
  ../shared/data/SOURCES.md: read from IMPACTEVAL_DATA_DIR, never committed), 1970-88 pre,
  1989-2000 post.
- "factor": unit 0 of the simulated panel against 24 donors, 30 pre and 8 post periods.

``sims`` draws of the in-sample problem use numpy's global RandomState seeded with
``SEED`` right before ``scpi``; scpi draws its J x sims standard normals in one
``numpy.random.normal`` call, so the test can rebuild exactly those draws with
``numpy.random.RandomState(SEED).normal(0, 1, J * sims).reshape(J, sims)`` and compare the
in-sample bounds up to the solvers' tolerance rather than up to Monte Carlo error. Both
``e_alpha`` and ``u_alpha`` are 0.05 (scpi's default: the combined interval has coverage of
at least 0.90).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scpi_pkg
from scpi_pkg.scdata import scdata
from scpi_pkg.scpi import scpi

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "tests" / "reference" / "data" / "scpi_reference.json"
PANEL = ROOT / "tests" / "reference" / "data" / "scpi_factor_panel.csv"
SEED = 20260
SIMS = 200


def factor_panel() -> pd.DataFrame:
    """25 units x 38 periods: y_it = 10 + lambda_i' f_t + e_it, two AR(1) factors;
    the treated unit's loadings are a convex combination of five donors' plus noise."""
    rs = np.random.RandomState(7)
    n, t = 25, 38
    f = np.zeros((t, 2))
    for s in range(1, t):
        f[s] = 0.7 * f[s - 1] + rs.normal(0, 1, 2)
    lam = rs.uniform(0.5, 2.0, (n, 2))
    lam[0] = 0.4 * lam[1] + 0.3 * lam[2] + 0.2 * lam[3] + 0.1 * lam[4]
    y = 10 + f @ lam.T + rs.normal(0, 0.5, (t, n))
    rows = [(i, s, float(y[s, i])) for i in range(n) for s in range(t)]
    return pd.DataFrame(rows, columns=["unit", "time", "y"])


def run_case(
    df: pd.DataFrame, unit: str, time: str, outcome: str, treated: Any, pre: list, post: list
) -> dict[str, Any]:
    # scpi orders the donors as strings (unit 10 before unit 2): keep its order
    donors = sorted((u for u in df[unit].unique() if u != treated), key=str)
    data = scdata(
        df=df,
        id_var=unit,
        time_var=time,
        outcome_var=outcome,
        period_pre=np.array(pre),
        period_post=np.array(post),
        unit_tr=treated,
        unit_co=donors,
        features=[outcome],
        constant=False,
        cointegrated_data=False,
    )
    np.random.seed(SEED)  # noqa: NPY002 (scpi draws from the global RandomState)
    res = scpi(
        data,
        w_constr={"name": "simplex"},
        sims=SIMS,
        u_alpha=0.05,
        e_alpha=0.05,
        e_method="all",
        cores=1,
        verbose=False,
    )
    y_fit = np.asarray(res.Y_post_fit, dtype=float).ravel()
    ci0 = np.asarray(res.CI_in_sample, dtype=float)
    out: dict[str, Any] = {
        "treated": treated if isinstance(treated, str) else int(treated),
        "donors": [d if isinstance(d, str) else int(d) for d in donors],
        "pre": [int(p) for p in pre],
        "post": [int(p) for p in post],
        "weights": np.asarray(res.w, dtype=float).ravel().tolist(),
        "y_post_fit": y_fit.tolist(),
        "rho": float(next(iter(res.rho.values()))),
        "insample_lower": (ci0[:, 0] - y_fit).tolist(),
        "insample_upper": (ci0[:, 1] - y_fit).tolist(),
        "failed_sims": np.asarray(res.failed_sims, dtype=float).tolist(),
    }
    for key, ci in (
        ("gaussian", res.CI_all_gaussian),
        ("ls", res.CI_all_ls),
        ("qreg", res.CI_all_qreg),
    ):
        arr = np.asarray(ci, dtype=float)
        # combined bounds minus the in-sample ones: the out-of-sample bounds on e
        out[f"{key}_lower"] = (arr[:, 0] - ci0[:, 0]).tolist()
        out[f"{key}_upper"] = (arr[:, 1] - ci0[:, 1]).tolist()
    return out


def main() -> None:
    data_dir = os.environ.get("IMPACTEVAL_DATA_DIR")
    if not data_dir:
        sys.exit("set IMPACTEVAL_DATA_DIR to the folder holding smoking.csv")
    smoking = pd.read_csv(Path(data_dir) / "smoking.csv")
    smoking = smoking[["state", "year", "cigsale"]].astype({"year": int, "cigsale": float})
    cases = {
        "prop99": run_case(
            smoking,
            "state",
            "year",
            "cigsale",
            "California",
            list(range(1970, 1989)),
            list(range(1989, 2001)),
        ),
    }
    panel = factor_panel()
    panel.to_csv(PANEL, index=False, float_format="%.17g")
    cases["factor"] = run_case(
        panel, "unit", "time", "y", 0, list(range(0, 30)), list(range(30, 38))
    )
    meta = {
        "source": "scpi-pkg "
        + scpi_pkg.__dict__.get("__version__", "4.0.0")
        + " (PyPI), scpi(..., w_constr={'name': 'simplex'}, e_method='all')",
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "seed": SEED,
        "sims": SIMS,
        "u_alpha": 0.05,
        "e_alpha": 0.05,
        "generator": "tests/reference/peers/generate_scpi.py",
    }
    OUT.write_text(json.dumps({"meta": meta, "cases": cases}, indent=1) + "\n")
    print(json.dumps(cases, indent=1)[:3000])


if __name__ == "__main__":
    main()
