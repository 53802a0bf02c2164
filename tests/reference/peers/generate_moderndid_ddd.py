"""Reference values for ``impacteval.did.ddd`` from moderndid's triple differences.

Run in a side environment (never by the tests), from the repository root::

    python3 -m venv /tmp/side && /tmp/side/bin/pip install moderndid==0.2.0
    /tmp/side/bin/python tests/reference/peers/generate_moderndid_ddd.py

Peer: moderndid 0.2.0 (``moderndid.ddd`` / ``moderndid.agg_ddd``, a Python port of the
authors' R package ``triplediff``; Ortiz-Villavicencio & Sant'Anna 2025). Data: moderndid's
own simulators ``gen_ddd_2periods`` and ``gen_ddd_mult_periods`` (dgp_type 1, 500 units,
seeds below), written to ``tests/reference/data/moderndid_ddd_2p.csv`` and
``moderndid_ddd_mp.csv`` so the tests read the very rows the peer estimated on. The
two-period data's ``state`` (0/1) becomes ``cohort`` = 2 for enabled units, 0 otherwise.

Per staggered cell the script stores the peer's reported SE and ``se_if`` =
``sqrt(sum_i psi_i^2) / n`` from the peer's own influence-function matrix (the convention
impacteval uses; for cells that combine several comparison cohorts by GMM the peer reports
``sqrt(1 / (n * sum(Omega^-1)))`` instead, see the test module).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import moderndid
import numpy as np
import polars as pl
from moderndid import agg_ddd, ddd
from moderndid.core.data import gen_ddd_2periods, gen_ddd_mult_periods

OUT = Path(__file__).resolve().parents[1] / "data"
N, SEED_2P, SEED_MP = 500, 20250501, 20250502
XF = "~cov1+cov2+cov3+cov4"


def two_period() -> list[dict[str, object]]:
    df = gen_ddd_2periods(N, 1, random_state=SEED_2P)["data"]
    df = df.with_columns((pl.col("state") * 2).alias("cohort"))
    # sampling weights, constant within unit, for the weighted cases
    unit_w = np.random.default_rng(SEED_2P + 1).uniform(0.5, 2.0, N)
    df = df.with_columns(pl.Series("w", unit_w[df["id"].to_numpy() - 1]))
    df.drop("cluster").write_csv(OUT / "moderndid_ddd_2p.csv", float_precision=17)
    cases = []
    for method in ("dr", "reg", "ipw"):
        for xf in (XF, None):
            r = ddd(
                df,
                yname="y",
                tname="time",
                idname="id",
                gname="state",
                pname="partition",
                xformla=xf,
                est_method=method,
            )
            cases.append(
                {
                    "method": method,
                    "covariates": xf is not None,
                    "att": float(r.att),
                    "se": float(r.se),
                    "did_atts": {k: float(v) for k, v in r.did_atts.items()},
                    "n": N,
                }
            )
    for method in ("dr", "reg", "ipw"):
        r = ddd(df, yname="y", tname="time", idname="id", gname="state", pname="partition",
                xformla=XF, est_method=method, weightsname="w")  # fmt: skip
        cases.append({
            "method": method, "covariates": True, "weights": "w", "att": float(r.att),
            "se": float(r.se), "did_atts": {k: float(v) for k, v in r.did_atts.items()},
            "n": N,
        })  # fmt: skip
    return cases


def staggered() -> list[dict[str, object]]:
    df = gen_ddd_mult_periods(N, 1, random_state=SEED_MP)["data"]
    df.drop("cluster").write_csv(OUT / "moderndid_ddd_mp.csv", float_precision=17)
    cases = []
    specs = [
        ("nevertreated", "universal", "dr", True),
        ("nevertreated", "varying", "dr", True),
        ("notyettreated", "universal", "dr", True),
        ("notyettreated", "varying", "dr", True),
        ("nevertreated", "universal", "reg", True),
        ("nevertreated", "universal", "ipw", True),
        ("notyettreated", "universal", "dr", False),
    ]
    for control, base, method, cov in specs:
        r = ddd(
            df,
            yname="y",
            tname="time",
            idname="id",
            gname="group",
            pname="partition",
            xformla=XF if cov else None,
            control_group=control,
            base_period=base,
            est_method=method,
        )
        psi = np.asarray(r.inf_func_mat)
        se_if = np.sqrt((psi**2).sum(axis=0)) / r.n
        case: dict[str, object] = {
            "control_group": control,
            "base_period": base,
            "method": method,
            "covariates": cov,
            "n": int(r.n),
            "cells": [
                {
                    "group": int(g),
                    "time": int(t),
                    "att": float(a),
                    "se": float(s),
                    "se_if": float(si),
                }
                for g, t, a, s, si in zip(r.groups, r.times, r.att, r.se, se_if, strict=True)
            ],
        }
        for kind in ("simple", "eventstudy"):
            a = agg_ddd(r, type=kind, boot=False, cband=False)
            agg: dict[str, object] = {
                "overall_att": float(a.overall_att),
                "overall_se": float(a.overall_se),
            }
            if a.egt is not None:
                agg["rows"] = [
                    {"label": int(e), "att": float(v), "se": float(s)}
                    for e, v, s in zip(a.egt, a.att_egt, a.se_egt, strict=True)
                ]
            case[kind] = agg
        cases.append(case)
    return cases


def main() -> None:
    warnings.simplefilter("ignore")
    out = {
        "source": f"moderndid {moderndid.__version__} (moderndid.ddd, moderndid.agg_ddd)",
        "generator": "tests/reference/peers/generate_moderndid_ddd.py",
        "data": {"two_period": "moderndid_ddd_2p.csv", "staggered": "moderndid_ddd_mp.csv"},
        "seeds": {"two_period": SEED_2P, "staggered": SEED_MP},
        "two_period": two_period(),
        "staggered": staggered(),
    }
    (OUT / "moderndid_ddd.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
