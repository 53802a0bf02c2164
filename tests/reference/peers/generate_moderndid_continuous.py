"""Reference values for ``impacteval.did.continuous`` from moderndid's continuous DiD.

Run in a side environment (never by the tests), from the repository root::

    python3 -m venv /tmp/side && /tmp/side/bin/pip install moderndid==0.2.0 "polars<1.99"
    /tmp/side/bin/python tests/reference/peers/generate_moderndid_continuous.py

(moderndid 0.2.0's ``cont_did`` fails with polars 2.x, hence the pin; generated with
polars 1.44.2, numpy 2.4.6.)

Peer: moderndid 0.2.0, ``moderndid.cont_did`` (parametric B-spline sieve; Callaway,
Goodman-Bacon & Sant'Anna 2024). Data: moderndid's own simulator ``gen_cont_did_data``
(500 units, seed 42; two periods, and four periods with staggered adoption), written to
``tests/reference/data/moderndid_continuous_2p.csv`` and ``moderndid_continuous_mp.csv`` so
the tests read the very rows the peer estimated on.

Per case the script stores the point estimates, the peer's reported (multiplier-bootstrap,
IQR-scaled) SEs and ``se_if`` = ``sqrt(sum_i psi_i^2) / n`` from the influence functions the
peer returns (impacteval's analytic convention), so that SEs can be compared without
bootstrap noise.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import moderndid
import numpy as np
import polars as pl
from moderndid import cont_did
from moderndid.core.data import gen_cont_did_data

OUT = Path(__file__).resolve().parents[1] / "data"
N, SEED, BITERS = 500, 42, 20000


def se_if(psi: np.ndarray) -> list[float]:
    psi = np.asarray(psi, dtype=float).reshape(psi.shape[0], -1)
    return (np.sqrt((psi**2).sum(axis=0)) / psi.shape[0]).tolist()


def dose_case(df: pl.DataFrame, name: str, **kw: object) -> dict[str, object]:
    r = cont_did(
        data=df, yname="Y", tname="time_period", idname="id", gname="G", dname="D",
        aggregation="dose", biters=BITERS, random_state=1, **kw,
    )  # fmt: skip
    return {
        "name": name,
        "aggregation": "dose",
        "options": kw,
        "dose": np.asarray(r.dose).tolist(),
        "att_d": np.asarray(r.att_d).tolist(),
        "acrt_d": np.asarray(r.acrt_d).tolist(),
        "att_d_se_boot": np.asarray(r.att_d_se).tolist(),
        "acrt_d_se_boot": np.asarray(r.acrt_d_se).tolist(),
        "att_d_se_if": se_if(r.att_d_inf_func),
        "acrt_d_se_if": se_if(r.acrt_d_inf_func),
        "overall_att": float(r.overall_att),
        "overall_acrt": float(r.overall_acrt),
        "overall_att_se_boot": float(r.overall_att_se),
        "overall_acrt_se_boot": float(r.overall_acrt_se),
        "overall_att_se_if": se_if(r.overall_att_inf_func)[0],
        "overall_acrt_se_if": se_if(r.overall_acrt_inf_func)[0],
    }


def es_case(df: pl.DataFrame, name: str, **kw: object) -> dict[str, object]:
    r = cont_did(
        data=df, yname="Y", tname="time_period", idname="id", gname="G", dname="D",
        aggregation="eventstudy", biters=BITERS, random_state=1, **kw,
    )  # fmt: skip
    es = r.event_study
    return {
        "name": name,
        "aggregation": "eventstudy",
        "options": kw,
        "event_time": np.asarray(es.event_times).tolist(),
        "estimate": np.asarray(es.att_by_event).tolist(),
        "se_boot": np.asarray(es.se_by_event).tolist(),
        "overall": float(r.overall_att.overall_att),
        "overall_se_boot": float(r.overall_att.overall_se),
    }


def main() -> None:
    warnings.simplefilter("ignore")
    d2 = gen_cont_did_data(n=N, num_time_periods=2, seed=SEED)
    dm = gen_cont_did_data(n=N, num_time_periods=4, seed=SEED, dose_quadratic_effect=0.5)
    d2.write_csv(OUT / "moderndid_continuous_2p.csv", float_precision=17)
    dm.write_csv(OUT / "moderndid_continuous_mp.csv", float_precision=17)
    # the tests read the CSVs back; estimate on the very same (parsed) numbers
    d2 = pl.read_csv(OUT / "moderndid_continuous_2p.csv")
    dm = pl.read_csv(OUT / "moderndid_continuous_mp.csv")
    cases = [
        dose_case(d2, "2p_cubic", degree=3, num_knots=0),
        dose_case(d2, "2p_quadratic_2knots", degree=2, num_knots=2),
        dose_case(dm, "mp_cubic_notyet", degree=3, num_knots=0),
        dose_case(dm, "mp_linear_1knot_never", degree=1, num_knots=1, control_group="nevertreated"),
        dose_case(dm, "mp_cubic_universal", degree=3, num_knots=0, base_period="universal"),
        es_case(dm, "mp_es_level", degree=3, target_parameter="level"),
        es_case(
            dm,
            "mp_es_slope_never",
            degree=2,
            target_parameter="slope",
            control_group="nevertreated",
        ),
        es_case(dm, "mp_es_slope", degree=3, target_parameter="slope"),
    ]
    out = {
        "peer": f"moderndid {moderndid.__version__} cont_did",
        "polars": pl.__version__,
        "numpy": np.__version__,
        "data": "moderndid.core.data.gen_cont_did_data(n=500, seed=42): 2 periods "
        "(moderndid_continuous_2p.csv); 4 periods, dose_quadratic_effect=0.5 "
        "(moderndid_continuous_mp.csv)",
        "biters": BITERS,
        "cases": cases,
    }
    (OUT / "moderndid_continuous.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
