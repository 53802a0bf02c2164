"""Reference values for ``ie.did.dcdh`` from moderndid 0.2.0 (``moderndid.did_multiplegt``).

Run in a side environment with moderndid 0.2.0 installed (MIT licence; it also ships the
``favara_imbs`` data of the DIDmultiplegtDYN documentation)::

    /work/side-did-ddd/bin/python tests/reference/peers/generate_moderndid_dcdh.py

Writes ``tests/reference/data/moderndid_dcdh.json`` (peer numbers), the simulated panel
``tests/reference/data/dcdh_sim_panel.csv`` and, from moderndid's wheel,
``tests/reference/data/favara_imbs.csv.gz`` (the columns used; see the JSON's
``provenance``). The tests read these files; they never run the peer.
"""

from __future__ import annotations

import json
import warnings
from importlib import metadata, resources
from pathlib import Path

import moderndid as md
import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "data"
SEED = 20261205


def simulate(seed: int = SEED, n_units: int = 400, n_periods: int = 8) -> pd.DataFrame:
    """A non-absorbing panel: doses 0/1/2, switches up and down, some units switch back,
    some are bidirectional (dropped by the estimator), 30 clusters, ~3% missing outcomes
    and ~2% missing rows. Effect: 1.0 * D_t + 0.5 * D_{t-1}."""
    rng = np.random.default_rng(seed)
    sq = rng.choice([0.0, 1.0], n_units, p=[0.6, 0.4])
    d = np.repeat(sq[:, None], n_periods, axis=1)
    kind = rng.choice(
        ["never", "up", "down", "on_off", "bidir"], n_units, p=[0.3, 0.3, 0.15, 0.2, 0.05]
    )
    start = rng.integers(2, n_periods, n_units)  # 0-based first switch period (>= 2)
    for g in range(n_units):
        f = start[g]
        if kind[g] == "up":
            d[g, f:] = sq[g] + rng.choice([1.0, 2.0]) if sq[g] == 0 else 2.0
        elif kind[g] == "down" and sq[g] > 0:
            d[g, f:] = 0.0
        elif kind[g] == "on_off":
            d[g, f : f + 2] = sq[g] + 1.0
        elif kind[g] == "bidir":
            d[g, f : f + 2] = sq[g] + 1.0
            d[g, f + 2 :] = sq[g] - 1.0 if sq[g] > 0 else sq[g] + 1.0
    lag = np.c_[d[:, :1], d[:, :-1]]
    y = (
        rng.normal(0, 1, n_units)[:, None]
        + 0.3 * np.arange(n_periods)[None, :]
        + 1.0 * d
        + 0.5 * lag
        + rng.normal(0, 1, (n_units, n_periods))
    )
    frame = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_units), n_periods),
            "period": np.tile(np.arange(1, n_periods + 1), n_units),
            "cluster": np.repeat(np.arange(n_units) % 30, n_periods),
            "d": d.ravel(),
            "y": y.ravel(),
        }
    )
    frame.loc[rng.random(len(frame)) < 0.03, "y"] = np.nan
    return frame[rng.random(len(frame)) >= 0.02].reset_index(drop=True)


CASES = {
    "favara_e5_p3_cluster": ("favara", dict(effects=5, placebo=3, cluster="state_n")),
    "favara_e5_p3": ("favara", dict(effects=5, placebo=3)),
    "favara_e8_p3_norm_cluster": (
        "favara",
        dict(effects=8, placebo=3, normalized=True, cluster="state_n"),
    ),
    "favara_in_e3_p2": ("favara", dict(effects=3, placebo=2, switchers="in")),
    "favara_e3_p2_less_conservative": (
        "favara",
        dict(effects=3, placebo=2, less_conservative_se=True),
    ),
    "favara_e5_p3_weighted": ("favara", dict(effects=5, placebo=3, weights="w1")),
    "favara_e8_p3_same_switchers": ("favara", dict(effects=8, placebo=3, same_switchers=True)),
    "favara_e5_p3_trends_region": (
        "favara",
        dict(effects=5, placebo=3, trends_nonparam=["region"]),
    ),
    "sim_e4_p2": ("sim", dict(effects=4, placebo=2)),
    "sim_unidirectional_e3_p2_trends_region": (
        "sim_unidirectional",
        dict(effects=3, placebo=2, trends_nonparam=["region"]),
    ),
    # moderndid measures a switcher's span before cutting bidirectional units, we after
    # (same_switchers; and the peer counts a cut switcher, with weight 0, among a
    # placebo's switchers); on the panel without them the two agree
    "sim_unidirectional_e3_p2_same_switchers": (
        "sim_unidirectional",
        dict(effects=3, placebo=2, same_switchers=True),
    ),
    "sim_e4_p2_cluster_norm": (
        "sim",
        dict(effects=4, placebo=2, cluster="cluster", normalized=True),
    ),
    "sim_out_e3_p2": ("sim", dict(effects=3, placebo=2, switchers="out")),
    "sim_in_e3_p2": ("sim", dict(effects=3, placebo=2, switchers="in")),
}
COLUMNS = {
    "favara": dict(yname="Dl_vloans_b", idname="county", tname="year", dname="inter_bra"),
    "sim": dict(yname="y", idname="unit", tname="period", dname="d"),
}
COLUMNS["sim_unidirectional"] = COLUMNS["sim"]


def unidirectional(frame: pd.DataFrame) -> pd.DataFrame:
    """The panel without units whose treatment is at some time above and at another time
    below its first-period value (``dcdh`` and moderndid cut those units differently)."""
    first = frame["unit"].map(frame.sort_values("period").groupby("unit")["d"].first())
    up = (frame["d"] > first).groupby(frame["unit"]).transform("any")
    down = (frame["d"] < first).groupby(frame["unit"]).transform("any")
    return frame[~(up & down)].reset_index(drop=True)


def _arr(x: object) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(x, dtype=float)]


def run(data: pd.DataFrame, cols: dict[str, str], opts: dict[str, object]) -> dict[str, object]:
    peer_opts = {("weightsname" if k == "weights" else k): v for k, v in opts.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = md.did_multiplegt(data=data, **cols, **peer_opts, effects_equal=True)
    out: dict[str, object] = {
        "options": opts,
        "effects": {
            "estimate": _arr(r.effects.estimates),
            "std_error": _arr(r.effects.std_errors),
            "n_switchers": _arr(r.effects.n_switchers),
            "n_obs": _arr(r.effects.n_observations),
        },
        "n_units": int(r.n_units),
        "n_switchers": int(r.n_switchers),
        "n_never_switchers": int(r.n_never_switchers),
    }
    if r.placebos is not None:
        out["placebos"] = {
            "estimate": _arr(r.placebos.estimates),
            "std_error": _arr(r.placebos.std_errors),
            "n_switchers": _arr(r.placebos.n_switchers),
            "n_obs": _arr(r.placebos.n_observations),
        }
    if r.ate is not None:
        out["ate"] = {"estimate": float(r.ate.estimate), "std_error": float(r.ate.std_error)}
    if r.effects_equal_test is not None:
        out["effects_equal_test"] = {
            "statistic": float(r.effects_equal_test["chi2_stat"]),
            "df": int(r.effects_equal_test["df"]),
        }
    if r.placebo_joint_test is not None:
        out["placebo_joint_test"] = {
            "statistic": float(r.placebo_joint_test["chi2_stat"]),
            "df": int(r.placebo_joint_test["df"]),
        }
    return out


def main() -> None:
    src = resources.files("moderndid.core.datasets") / "favara_imbs.csv.gz"
    favara = pd.read_csv(src)[["county", "year", "state_n", "Dl_vloans_b", "inter_bra", "w1"]]
    gz = {"method": "gzip", "mtime": 0}  # byte-stable output
    favara.to_csv(OUT / "favara_imbs.csv.gz", index=False, float_format="%.10g", compression=gz)
    favara = pd.read_csv(OUT / "favara_imbs.csv.gz")  # the values the tests will read
    sim = simulate()
    sim.to_csv(OUT / "dcdh_sim_panel.csv", index=False, float_format="%.10g")
    sim = pd.read_csv(OUT / "dcdh_sim_panel.csv")
    # strata for trends_nonparam, derived (not stored): region = state_n % 5, cluster % 3
    favara["region"] = favara["state_n"] % 5
    sim["region"] = sim["cluster"] % 3
    data = {"favara": favara, "sim": sim, "sim_unidirectional": unidirectional(sim)}
    values = {name: run(data[d], COLUMNS[d], opts) for name, (d, opts) in CASES.items()}
    values["provenance"] = {
        "peer": f"moderndid {metadata.version('moderndid')} (MIT), moderndid.did_multiplegt",
        "favara_imbs": (
            "moderndid 0.2.0 wheel, moderndid/core/datasets/favara_imbs.csv.gz (columns "
            "county, year, state_n, Dl_vloans_b, inter_bra, w1); data of Favara & Imbs (2015), "
            "'Credit Supply and the Price of Housing', AER 105(3), as distributed with "
            "DIDmultiplegtDYN"
        ),
        "sim": f"simulate(seed={SEED}) in this script",
    }
    (OUT / "moderndid_dcdh.json").write_text(json.dumps(values, indent=1) + "\n")


if __name__ == "__main__":
    main()
