"""Reference prediction intervals for several treated units from scpi-pkg 4.0.0
(``scdataMulti`` + ``scpi``; Cattaneo, Feng, Palomba & Titiunik, "Uncertainty
quantification in synthetic controls with staggered treatment adoption"), run in a side
venv outside the repository:

    python3 -m venv /work/side-scpi && /work/side-scpi/bin/pip install scpi-pkg==4.0.0
    /work/side-scpi/bin/python tests/reference/peers/generate_scpi_multi.py

scpi-pkg (GPL-3.0) is not a dependency of impacteval; only the numbers it produced are
committed (tests/reference/data/scpi_multi_reference.json), plus the simulated staggered
panel (tests/reference/data/scpi_multi_panel.csv, drawn here from a linear factor model with
numpy's legacy RandomState; no third-party data). scpi's own multi-unit example data
(``scpi_germany``) is not shipped in the PyPI wheel, so it is not used.

Panel: 18 never-treated donors and 3 treated units adopting at periods 20, 23 and 26 of 0-29
(so 20, 23 and 26 pre-periods, 10, 7 and 4 post-periods); the outcome is the only feature,
no constant, ``w_constr={"name": "simplex"}``, ``V="separate"``, scpi defaults otherwise
(``u_missp=True``, ``u_order=1``, ``u_sigma="HC1"``, ``e_order=1``, ``rho="type-2"``,
``rho_max=0.2``), ``u_alpha = e_alpha = 0.05``, ``sims=200``, for each of
``effect="unit-time"``, ``"unit"`` and ``"time"``.

scpi draws the ``sum_i J_i`` x ``sims`` standard normals of the in-sample problem in one
``numpy.random.normal`` call on the global RandomState, seeded here with ``SEED`` right before
``scpi``; the test rebuilds exactly those draws.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scpi_pkg
from scpi_pkg.scdataMulti import scdataMulti
from scpi_pkg.scpi import scpi

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "tests" / "reference" / "data" / "scpi_multi_reference.json"
PANEL = ROOT / "tests" / "reference" / "data" / "scpi_multi_panel.csv"
SEED = 16016
SIMS = 200
ADOPTION = {"T1": 20, "T2": 23, "T3": 26}


def staggered_panel() -> pd.DataFrame:
    """21 units x 30 periods, y_it = 5 + lambda_i' f_t + e_it with two AR(1) factors; each
    treated unit's loadings are a convex combination of four donors' loadings; treated
    units get a treatment effect of 1 + 0.2 * (event time) after adoption."""
    rs = np.random.RandomState(11)
    n_donors, t = 18, 30
    f = np.zeros((t, 2))
    for s in range(1, t):
        f[s] = 0.6 * f[s - 1] + rs.normal(0, 1, 2)
    lam = rs.uniform(0.5, 2.0, (n_donors, 2))
    rows = []
    for j in range(n_donors):
        y = 5 + f @ lam[j] + rs.normal(0, 0.4, t)
        rows += [(f"D{j:02d}", s, float(y[s]), 0) for s in range(t)]
    for name, t0 in ADOPTION.items():
        mix = rs.dirichlet(np.ones(4))
        pick = rs.choice(n_donors, 4, replace=False)
        loading = mix @ lam[pick]
        y = 5 + f @ loading + rs.normal(0, 0.4, t)
        for s in range(t):
            d = int(s >= t0)
            rows.append((name, s, float(y[s] + d * (1.0 + 0.2 * (s - t0))), d))
    return pd.DataFrame(rows, columns=["unit", "time", "y", "treated"])


def _frame(x: Any) -> list[float]:
    return np.asarray(x, dtype=float).ravel().tolist()


def run_effect(panel: pd.DataFrame, effect: str) -> dict[str, Any]:
    data = scdataMulti(
        panel,
        id_var="unit",
        time_var="time",
        outcome_var="y",
        treatment_var="treated",
        effect=effect,
        constant=False,
        cointegrated_data=False,
        verbose=False,
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
    w = res.w
    out: dict[str, Any] = {
        "treated_units": list(data.treated_units),
        "donors": {tr: list(map(str, data.donors_dict[tr])) for tr in data.treated_units},
        "weights": {tr: _frame(w.loc[tr]) for tr in data.treated_units},
        "rho": {tr: float(v) for tr, v in res.rho.items()},
        "post_index": [
            list(map(str, ix)) if isinstance(ix, tuple) else str(ix)
            for ix in res.Y_post_fit.index.tolist()
        ],
        "y_post_fit": y_fit.tolist(),
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
        out[f"{key}_lower"] = (arr[:, 0] - ci0[:, 0]).tolist()
        out[f"{key}_upper"] = (arr[:, 1] - ci0[:, 1]).tolist()
    return out


def main() -> None:
    panel = staggered_panel()
    panel.to_csv(PANEL, index=False, float_format="%.17g")
    cases = {effect: run_effect(panel, effect) for effect in ("unit-time", "unit", "time")}
    meta = {
        "source": "scpi-pkg "
        + scpi_pkg.__dict__.get("__version__", "4.0.0")
        + " (PyPI), scdataMulti(...) + scpi(..., w_constr={'name': 'simplex'}, e_method='all')",
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "seed": SEED,
        "sims": SIMS,
        "u_alpha": 0.05,
        "e_alpha": 0.05,
        "generator": "tests/reference/peers/generate_scpi_multi.py",
    }
    OUT.write_text(json.dumps({"meta": meta, "cases": cases}, indent=1) + "\n")
    print(json.dumps(cases, indent=1)[:4000])


if __name__ == "__main__":
    main()
