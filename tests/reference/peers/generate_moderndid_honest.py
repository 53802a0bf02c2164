"""Reference values for impacteval.did.honest from moderndid's HonestDiD port (separate venv).

    python -m venv /tmp/peervenv
    /tmp/peervenv/bin/pip install 'moderndid[didhonest]==0.2.0'
    /tmp/peervenv/bin/python tests/reference/peers/generate_moderndid_honest.py medicaid
    /tmp/peervenv/bin/python tests/reference/peers/generate_moderndid_honest.py mpdta
    /tmp/peervenv/bin/python tests/reference/peers/generate_moderndid_honest.py medicaid_post1

moderndid.didhonest is a Python port of R ``HonestDiD`` (Rambachan & Roth 2023); it is not
a dependency of impacteval, only its output is committed
(tests/reference/data/moderndid_honest_{medicaid,medicaid_post1,mpdta}.json, one per
example, so they can run side by side). Each takes several minutes: moderndid solves LPs
at every grid point and, for C-LF, 1,000 LPs per least-favourable critical value.

Inputs (committed in the JSON, so the test does not recompute them):

* ``medicaid`` -- the Medicaid-expansion example of the HonestDiD README (Rambachan & Roth
  2023, section 6): the replication data ``ehec`` as bundled with moderndid
  (``moderndid.load_ehec()``), years 2008-2015, states expanding in 2014 against states
  that never expand; coefficients of ``dins ~ i(year, D, ref = 2013) | stfips + year``
  (TWFE event study, 5 pre- and 2 post-treatment years) with the cluster-robust covariance
  by state, CR1 with fixest's small-sample factor ``G/(G-1) (N-1)/(N-K)``, K counting the
  event-time and the year effects (state effects are nested in the clusters). Computed
  here with numpy (two-way within transformation of the balanced panel).
* ``medicaid_post1`` -- the same with the first post-treatment year only (5 pre, 1 post
  coefficient): no nuisance parameter, so the smoothness conditional interval runs
  through HonestDiD's no-nuisance ARP test (``.APR_computeCI_NoNuis``).
* ``mpdta`` -- impacteval's own ``att_gt`` on data/sample/mpdta.csv (outcome lemp,
  never-treated controls, doubly robust, ``base_period="universal"``), aggregated to event
  time; the reference row e = -1 is dropped, leaving 3 pre (e = -4, -3, -2) and 4 post
  (e = 0..3) coefficients, with covariance ``result.vcov`` (influence functions,
  ``IF'IF / n^2``). impacteval is imported from this checkout. For comparison, moderndid's
  own ``att_gt``/``aggte(type="dynamic")`` covariance (``IF'IF/n^2``, as its
  ``honest_did`` forms it) is stored too.

moderndid 0.2.0 deviates from R HonestDiD in one place, handled here as the att_gt
generator handles its deviations: R takes the union of Delta^RM_{s,+/-} over all
``T_pre`` pre-period first differences (``s in -(T_pre - 1):0`` in ``.create_A_RM``'s
1-based indexing), moderndid over ``T_pre - 1`` of them -- its loop ``range(-(T_pre - 1),
0)`` on a 0-based port of the indexing leaves out the earliest pre-period difference
``delta_{-T_pre+1} - delta_{-T_pre}``. For relative magnitudes the JSON keeps moderndid's
own interval under ``moderndid_raw`` and, under ``ci_lower``/``ci_upper``, the union of it
with the acceptance region of the two missing polyhedra, computed by moderndid's own ARP
routine (``compute_arp_nuisance_ci``, same grid, same hybrid settings and seed) with the
constraint matrix built as R's ``.create_A_RM`` builds it. That union is what R HonestDiD
computes.

A second deviation concerns one post-treatment coefficient only (no nuisance parameter,
example ``medicaid_post1``): see ``NO_NUISANCE_DEVIATION`` below; those cases carry it as
``moderndid_deviation`` and keep moderndid's own numbers (the test checks equality at
``M = 0`` and, for ``M > 0``, that impacteval's interval lies inside moderndid's).

Each case records the peer's grid (``grid_lb``, ``grid_ub``, ``grid_points``): moderndid
reports the smallest and largest accepted grid points, so its endpoints are within one
grid step of the exact ones; the tests use that step as the tolerance of the conditional
and C-LF cases.
"""

import json
import sys
import warnings
from pathlib import Path

import moderndid
import numpy as np
import pandas as pd
from moderndid.didhonest.arp_nuisance import compute_arp_nuisance_ci
from moderndid.didhonest.sensitivity import (
    create_sensitivity_results_rm,
    create_sensitivity_results_sm,
)

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
import impacteval as ie  # noqa: E402

GRID_POINTS = 500
NO_NUISANCE_DEVIATION = (
    "moderndid 0.2.0's no-nuisance ARP test (arp_no_nuisance.test_in_identified_set) "
    "compares the normalised moment A~y - d~ at the binding row with the truncated-normal "
    "quantile centred at d~ (R HonestDiD's .testInIdentifiedSet compares A~y, i.e. adds "
    "d~ back); d~ = M / sd > 0 for smoothness with M > 0, so its test is more lenient and "
    "its intervals wider; at M = 0 (d = 0) the two coincide"
)


def medicaid() -> tuple[np.ndarray, np.ndarray]:
    d = moderndid.load_ehec().to_pandas()
    d = d[(d["year"] < 2016) & (d["yexp2"].isna() | (d["yexp2"] == 2014))].copy()
    d["D"] = (d["yexp2"] == 2014).astype(float)
    years = [y for y in range(2008, 2016) if y != 2013]
    x = np.column_stack([((d["year"] == y) * d["D"]).to_numpy(float) for y in years])

    def within(v: np.ndarray) -> np.ndarray:
        s = pd.Series(v, index=d.index)
        return (
            s
            - s.groupby(d["stfips"]).transform("mean")
            - s.groupby(d["year"]).transform("mean")
            + s.mean()
        ).to_numpy()

    xw = np.column_stack([within(x[:, j]) for j in range(x.shape[1])])
    yw = within(d["dins"].to_numpy(float))
    b = np.linalg.lstsq(xw, yw, rcond=None)[0]
    u = yw - xw @ b
    bread = np.linalg.inv(xw.T @ xw)
    cl = d["stfips"].to_numpy()
    scores = [xw[cl == c].T @ u[cl == c] for c in np.unique(cl)]
    meat = sum(np.outer(s, s) for s in scores)
    g, n = len(scores), len(d)
    k = x.shape[1] + d["year"].nunique() - 1
    v = bread @ meat @ bread * g / (g - 1) * (n - 1) / (n - k)
    return b, v


def mpdta_ours() -> tuple[np.ndarray, np.ndarray, list[int]]:
    data = pd.read_csv(ROOT / "data" / "sample" / "mpdta.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ie.did.att_gt(
            data,
            outcome="lemp",
            unit="countyreal",
            time="year",
            cohort="first_treat",
            base_period="universal",
        ).aggregate("dynamic")
    tab = res.table
    keep = tab["event_time"].to_numpy() != -1
    times = tab["event_time"].to_numpy()[keep].tolist()
    vc = res.vcov.loc[times, times].to_numpy()
    return tab["estimate"].to_numpy()[keep], vc, [int(t) for t in times]


def mpdta_moderndid_vcov() -> dict:
    data = moderndid.load_mpdta()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = moderndid.att_gt(
            data=data,
            yname="lemp",
            tname="year",
            idname="countyreal",
            gname="first.treat",
            base_period="universal",
        )
        agg = moderndid.aggte(out, type="dynamic")
    et = np.asarray(agg.event_times)
    keep = et != -1
    inf = np.asarray(agg.influence_func)[:, keep]
    n = inf.shape[0]
    return {
        "event_times": et[keep].astype(int).tolist(),
        "estimate": np.asarray(agg.att_by_event)[keep].tolist(),
        "vcov": (inf.T @ inf / n**2).tolist(),
    }


def a_rm_earliest(n_pre: int, n_post: int, mbar: float, sign: float) -> np.ndarray:
    """R HonestDiD's ``.create_A_RM(s = -(n_pre - 1))``: the polyhedron whose largest
    pre-period first difference is the earliest one, ``delta_{-n_pre+1} - delta_{-n_pre}``."""
    n = n_pre + n_post
    f = np.zeros((n, n + 1))
    for r in range(n):
        f[r, r], f[r, r + 1] = -1.0, 1.0
    u = sign * f[0]
    bound = np.vstack([np.tile(u, (n_pre, 1)), np.tile(mbar * u, (n_post, 1))])
    a = np.vstack([f - bound, -f - bound])
    a = a[np.einsum("ij,ij->i", a, a) > 1e-10]
    return np.delete(a, n_pre, axis=1)


def run(beta, sigma, n_pre, l_vec, restriction, method, bounds) -> dict:
    n_post = beta.size - n_pre
    theta = float(l_vec @ beta[n_pre:])
    se = float(np.sqrt(l_vec @ sigma[n_pre:, n_pre:] @ l_vec))
    jumps = float(np.max(np.abs(np.diff(np.r_[beta[:n_pre], 0.0]))))
    if restriction == "relative_magnitudes":
        half = 2.5 * 1.96 * se + 1.5 * max(bounds) * jumps * float(
            np.abs(l_vec) @ np.arange(1, n_post + 1)
        )
    else:
        half = 2.5 * 1.96 * se + max(bounds) * (n_post + 1) ** 2
    lb, ub = theta - half, theta + half
    kw = dict(l_vec=l_vec, alpha=0.05, grid_points=GRID_POINTS, grid_lb=lb, grid_ub=ub)
    if restriction == "relative_magnitudes":
        out = create_sensitivity_results_rm(
            beta, sigma, n_pre, n_post, method=method, m_bar_vec=list(bounds), **kw
        )
    else:
        out = create_sensitivity_results_sm(
            beta, sigma, n_pre, n_post, method=method, m_vec=list(bounds), **kw
        )
    frame = out.to_pandas() if hasattr(out, "to_pandas") else pd.DataFrame(out)
    lo, hi = frame["lb"].to_numpy(float), frame["ub"].to_numpy(float)
    raw = {"ci_lower": lo.tolist(), "ci_upper": hi.tolist()}
    if restriction == "relative_magnitudes":
        lo, hi = lo.copy(), hi.copy()
        for i, mbar in enumerate(bounds):
            for sign in (1.0, -1.0):
                a_mat = a_rm_earliest(n_pre, n_post, mbar, sign)
                rows = None
                if n_post > 1:
                    rows = np.flatnonzero(np.any(a_mat[:, n_pre:] != 0, axis=1))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    extra = compute_arp_nuisance_ci(
                        beta,
                        sigma,
                        l_vec,
                        a_mat,
                        np.zeros(a_mat.shape[0]),
                        n_pre,
                        n_post,
                        alpha=0.05,
                        hybrid_flag="LF" if method == "C-LF" else "ARP",
                        hybrid_list={"hybrid_kappa": 0.005},
                        grid_lb=lb,
                        grid_ub=ub,
                        grid_points=GRID_POINTS,
                        rows_for_arp=rows,
                    )
                if np.isfinite(extra.ci_lb):
                    lo[i] = min(lo[i], extra.ci_lb)
                    hi[i] = max(hi[i], extra.ci_ub)
    if method != "FLCI" and (np.any(lo <= lb + 1e-12) or np.any(hi >= ub - 1e-12)):
        raise RuntimeError(f"grid too narrow for {restriction} {method}: {frame}")
    return {
        "restriction": restriction,
        "method": method,
        "l_vec": l_vec.tolist(),
        "bounds": list(bounds),
        "ci_lower": lo.tolist(),
        "ci_upper": hi.tolist(),
        "moderndid_raw": raw,
        "grid_lb": lb,
        "grid_ub": ub,
        "grid_points": GRID_POINTS,
        "grid_step": (ub - lb) / (GRID_POINTS - 1),
    }


def cases_for(name, beta, sigma, n_pre, save) -> list[dict]:
    n_post = beta.size - n_pre
    e0 = np.eye(n_post)[0]
    avg = np.full(n_post, 1.0 / n_post)
    rm_grid = [0.0, 1.0, 2.0] if name == "medicaid" else [0.0, 1.0]
    sd_grid = [0.0, 0.01, 0.02] if name == "mpdta" else [0.0, 0.01, 0.02, 0.03]
    if n_post == 1:  # no nuisance parameter: the conditional test of ARP section 3
        specs = [
            ("smoothness", "FLCI", sd_grid, e0, "e0"),
            ("smoothness", "Conditional", sd_grid, e0, "e0"),
        ]
    else:
        specs = [
            ("relative_magnitudes", "C-LF", rm_grid, e0, "e0"),
            ("relative_magnitudes", "Conditional", [0.0, 1.0], e0, "e0"),
            ("smoothness", "FLCI", sd_grid, e0, "e0"),
            ("smoothness", "FLCI", sd_grid, avg, "average"),
            ("smoothness", "Conditional", sd_grid[:2], e0, "e0"),
            ("smoothness", "C-LF", sd_grid[:2], e0, "e0"),
        ]
    out = []
    for restriction, method, bounds, l_vec, target in specs:
        print(name, restriction, method, target, flush=True)
        case = run(beta, sigma, n_pre, l_vec, restriction, method, bounds)
        case["id"] = f"{name}_{restriction}_{method}_{target}"
        case["example"] = name
        if n_post == 1 and method == "Conditional":
            case["moderndid_deviation"] = NO_NUISANCE_DEVIATION
        out.append(case)
        save(out)
    return out


def main(which: str) -> None:
    if which == "medicaid":
        b, v = medicaid()
        example = {
            "event_times": [-6, -5, -4, -3, -2, 0, 1],
            "calendar_years": [2008, 2009, 2010, 2011, 2012, 2014, 2015],
            "n_pre": 5,
            "betahat": b.tolist(),
            "sigma": v.tolist(),
        }
    elif which == "mpdta":
        b, v, times = mpdta_ours()
        example = {
            "event_times": times,
            "n_pre": 3,
            "betahat": b.tolist(),
            "sigma": v.tolist(),
            "moderndid_aggte": mpdta_moderndid_vcov(),
        }
    elif which == "medicaid_post1":
        b, v = medicaid()
        b, v = b[:6], v[:6, :6]
        example = {
            "event_times": [-6, -5, -4, -3, -2, 0],
            "calendar_years": [2008, 2009, 2010, 2011, 2012, 2014],
            "n_pre": 5,
            "betahat": b.tolist(),
            "sigma": v.tolist(),
        }
    else:
        raise SystemExit("usage: generate_moderndid_honest.py medicaid|medicaid_post1|mpdta")
    path = ROOT / "tests" / "reference" / "data" / f"moderndid_honest_{which}.json"

    def save(cases: list[dict]) -> None:  # written after every case (the run is slow)
        payload = {
            "generated_by": "tests/reference/peers/generate_moderndid_honest.py",
            "moderndid": moderndid.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "python": sys.version.split()[0],
            "alpha": 0.05,
            "example": which,
            "inputs": example,
            "cases": cases,
        }
        path.write_text(json.dumps(payload, indent=1) + "\n")

    cases_for(which, b, v, example["n_pre"], save)
    print("wrote", path)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
