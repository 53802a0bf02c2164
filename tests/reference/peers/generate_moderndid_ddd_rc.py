"""Reference values for ``impacteval.did.ddd(..., panel=False)`` from moderndid.

Run in a side environment (never by the tests), from the repository root::

    python3 -m venv /tmp/side && /tmp/side/bin/pip install moderndid==0.2.0
    /tmp/side/bin/python tests/reference/peers/generate_moderndid_ddd_rc.py

Peer: moderndid 0.2.0 (``moderndid.ddd`` with ``panel=False``: the two-period and the
staggered repeated cross-section triple differences of Ortiz-Villavicencio & Sant'Anna
2025, a port of the authors' R ``triplediff``). Data: moderndid's own simulators
``gen_ddd_2periods`` / ``gen_ddd_mult_periods`` with ``panel=False`` (dgp_type 1, 500
draws per period, seeds below), written to ``tests/reference/data/moderndid_ddd_rc_2p.csv``
and ``moderndid_ddd_rc_mp.csv`` so the tests read the very rows the peer estimated on. The
two-period data's ``state`` (0/1) becomes ``cohort`` = 2 for enabled rows, 0 otherwise.

Per staggered cell the script stores the peer's SE and ``se_if`` = ``sqrt(sum_i psi_i^2) / n``
from the peer's influence-function matrix (n = rows); they differ only in cells that
combine several comparison cohorts by GMM (the peer then reports
``sqrt(1 / (n sum Omega^-1))``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import moderndid
import numpy as np
import polars as pl
from moderndid import ddd
from moderndid.core.data import gen_ddd_2periods, gen_ddd_mult_periods

OUT = Path(__file__).resolve().parents[1] / "data"
N, SEED_2P, SEED_MP = 500, 20250601, 20250602
XF = "~cov1+cov2+cov3+cov4"


def two_period() -> list[dict[str, object]]:
    df = gen_ddd_2periods(N, 1, panel=False, random_state=SEED_2P)["data"]
    df = df.with_columns((pl.col("state") * 2).alias("cohort"))
    # sampling weights per row, for the weighted cases
    row_w = np.random.default_rng(SEED_2P + 1).uniform(0.5, 2.0, df.height)
    df = df.with_columns(pl.Series("w", row_w))
    df.drop("cluster").write_csv(OUT / "moderndid_ddd_rc_2p.csv", float_precision=17)
    cases = []
    specs = [(m, xf, None) for m in ("dr", "reg", "ipw") for xf in (XF, None)]
    specs += [(m, XF, "w") for m in ("dr", "reg", "ipw")]
    for method, xf, wname in specs:
        r = ddd(df, yname="y", tname="time", idname="id", gname="state", pname="partition",
                xformla=xf, est_method=method, weightsname=wname, panel=False)  # fmt: skip
        case: dict[str, object] = {
            "method": method,
            "covariates": xf is not None,
            "att": float(r.att),
            "se": float(r.se),
            "did_atts": {k: float(v) for k, v in r.did_atts.items()},
            "n": int(df.height),
        }
        if wname is not None:
            case["weights"] = wname
        cases.append(case)
    return cases


def staggered() -> list[dict[str, object]]:
    df = gen_ddd_mult_periods(N, 1, panel=False, random_state=SEED_MP)["data"]
    df.drop("cluster").write_csv(OUT / "moderndid_ddd_rc_mp.csv", float_precision=17)
    cases = []
    specs = [
        ("nevertreated", "universal", "dr", True),
        ("nevertreated", "varying", "dr", True),
        ("notyettreated", "universal", "dr", True),
        ("notyettreated", "varying", "dr", True),
        ("nevertreated", "universal", "reg", True),
        ("nevertreated", "universal", "ipw", True),
        ("notyettreated", "universal", "reg", False),
    ]
    for control, base, method, cov in specs:
        r = ddd(df, yname="y", tname="time", idname="id", gname="group", pname="partition",
                xformla=XF if cov else None, control_group=control, base_period=base,
                est_method=method, panel=False)  # fmt: skip
        psi = np.asarray(r.inf_func_mat)
        se_if = np.sqrt((psi**2).sum(axis=0)) / r.n
        cells = [
            {"group": int(g), "time": int(t), "att": float(a), "se": float(s), "se_if": float(si)}
            for g, t, a, s, si in zip(r.groups, r.times, r.att, r.se, se_if, strict=True)
        ]
        cases.append({"control_group": control, "base_period": base, "method": method,
                      "covariates": cov, "n": int(r.n), "cells": cells})  # fmt: skip
    return cases


def main() -> None:
    warnings.simplefilter("ignore")
    out = {
        "source": f"moderndid {moderndid.__version__} (moderndid.ddd, panel=False)",
        "generator": "tests/reference/peers/generate_moderndid_ddd_rc.py",
        "data": {"two_period": "moderndid_ddd_rc_2p.csv", "staggered": "moderndid_ddd_rc_mp.csv"},
        "seeds": {"two_period": SEED_2P, "staggered": SEED_MP},
        "two_period": two_period(),
        "staggered": staggered(),
    }
    (OUT / "moderndid_ddd_rc.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
