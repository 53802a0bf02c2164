"""``ie.did.continuous`` against moderndid 0.2.0's ``cont_did`` (parametric sieve).

Values: ``tests/reference/data/moderndid_continuous.json``, written by
``tests/reference/peers/generate_moderndid_continuous.py`` on moderndid's own simulated data
(``gen_cont_did_data``, n = 500, seed 42), saved as ``moderndid_continuous_2p.csv`` (two
periods) and ``moderndid_continuous_mp.csv`` (four periods, staggered adoption, quadratic
dose response); the files come from the PyPI wheel's simulator, reproducible with the
generator.

What is compared, and why the tolerances hold:

* Point estimates (ATT(d), ACRT(d), ATT^o, ACRT^o, and the slope event study): the same
  least-squares fit in the same spline space, so agreement to rounding (``atol 1e-9``).
* ACRT(d) standard errors in two-period designs: the delta-method influence function of the
  sieve coefficients, identical formula; compared with ``sqrt(sum psi^2)/n`` of the peer's
  own influence functions (no bootstrap noise), ``rtol 1e-8``.
* ACRT(d) standard errors with staggered adoption: the peer evaluates each cell's
  coefficient influence function with the basis built on the whole dose grid's range, while
  the cell's fit uses the cell's range as boundary knots (as impacteval does throughout); the
  two coincide only when every cohort spans the grid. On these data the difference is
  1.6% (cubic) and 0.4% (linear with one knot); ``rtol 0.03``.
* ATT(d) standard errors (two periods): the peer's influence function has the treated
  units' sieve term only; impacteval's adds the comparison units' mean (the ``- E[dY|D=0]``
  in ``ATT(d) = E[dY|D=d] - E[dY|D=0]``). The two terms are on disjoint units, so
  ``se^2 = se_peer^2 + sum_c (dY_c - mean)^2 / n_c^2`` exactly; ``rtol 1e-8``.
* ACRT^o standard error (two periods): the peer scales the cell's influence function by
  ``n / n_cell`` (all units of the 2x2 comparison) instead of ``n / n_treated``, so
  ``se_peer = se * n_treated / n`` exactly; ``rtol 1e-8``.
* The multiplier bootstrap: impacteval's bootstrap SEs of ACRT(d) (20,000 draws) against the
  peer's (20,000 draws, other random numbers), two-period case, where the definitions agree:
  the IQR-based SE from B draws has a relative sd of about 1.2/sqrt(B) ~ 0.9% each, so
  ``rtol 0.06`` is over four sd of the difference.

Not compared: the peer's ATT^o SE (it reuses the ACRT^o influence function), and its
``target_parameter="level"`` event study, whose cells are not the difference in mean
changes that the peer's own dose aggregation reports for the same cells (four-period data,
cohort 4 in period 2, event time -2: 0.302 in the peer's dose path, 0.281 in its event-study
path, the ``estimate`` at -2 of case ``mp_es_level``); impacteval's level event study
aggregates the dose path's ATT^o(g, t), and its slope event study matches the peer's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import impacteval as ie

DATA = Path(__file__).resolve().parents[1] / "reference" / "data"
REF = json.loads((DATA / "moderndid_continuous.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"moderndid_continuous_{name[:2]}.csv")


def _fit(name: str, **extra: object) -> ie.did.DoseResponse:
    case = CASES[name]
    opts = case["options"]
    control = "never_treated" if opts.get("control_group") == "nevertreated" else None
    kw: dict[str, object] = {"degree": opts["degree"], "num_knots": opts.get("num_knots", 0)}
    if control:
        kw["control_group"] = control
    if "base_period" in opts:
        kw["base_period"] = opts["base_period"]
    if case["aggregation"] == "eventstudy":
        kw.update(aggregation="event_study", target=opts["target_parameter"])
    kw.update(extra)
    return ie.did.continuous(
        _data(name), outcome="Y", unit="id", time="time_period", cohort="G", dose="D", **kw
    )


DOSE_CASES = [n for n, c in CASES.items() if c["aggregation"] == "dose"]
# with base_period="universal" the peer returns NaN ATT(d) / ACRT(d) curves and overall SEs
# (moderndid 0.2.0); its overall points and ACRT(d) influence functions are finite and
# are compared
CURVE_CASES = [n for n in DOSE_CASES if n != "mp_cubic_universal"]


@pytest.mark.parametrize("name", DOSE_CASES)
def test_dose_points_match(name: str) -> None:
    case, res = CASES[name], _fit(name)
    np.testing.assert_allclose(res.table["dose"], case["dose"], rtol=0, atol=1e-12)
    if name in CURVE_CASES:
        np.testing.assert_allclose(res.table["estimate"], case["att_d"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(res.acrt.table["estimate"], case["acrt_d"], rtol=0, atol=1e-9)
    assert res.overall.estimate == pytest.approx(case["overall_att"], abs=1e-9)
    assert res.overall_acrt.estimate == pytest.approx(case["overall_acrt"], abs=1e-9)


@pytest.mark.parametrize("name", DOSE_CASES)
def test_acrt_d_standard_errors(name: str) -> None:
    case, res = CASES[name], _fit(name)
    rtol = 1e-8 if name.startswith("2p") else 0.03
    np.testing.assert_allclose(res.acrt.table["std_error"], case["acrt_d_se_if"], rtol=rtol)


def _control_se(name: str) -> float:
    wide = _data(name).pivot(index="id", columns="time_period", values="Y")
    g = _data(name).groupby("id")["G"].first().reindex(wide.index)
    dy = (wide[2] - wide[1])[g == 0].to_numpy()
    return float(np.sqrt(np.sum((dy - dy.mean()) ** 2)) / dy.size)


@pytest.mark.parametrize("name", [n for n in DOSE_CASES if n.startswith("2p")])
def test_att_d_se_is_peer_plus_comparison_mean(name: str) -> None:
    case, res = CASES[name], _fit(name)
    expected = np.sqrt(np.square(case["att_d_se_if"]) + _control_se(name) ** 2)
    np.testing.assert_allclose(res.table["std_error"], expected, rtol=1e-8)


@pytest.mark.parametrize("name", [n for n in DOSE_CASES if n.startswith("2p")])
def test_overall_acrt_se_differs_by_cell_scaling(name: str) -> None:
    case, res = CASES[name], _fit(name)
    n, n_treated = 500, res.n_treated
    assert res.overall_acrt.std_error * n_treated / n == pytest.approx(
        case["overall_acrt_se_if"], rel=1e-8
    )


def test_bootstrap_se_close_to_peer_bootstrap() -> None:
    case = CASES["2p_cubic"]
    res = _fit("2p_cubic", bootstrap=20_000, rng=20241205)
    np.testing.assert_allclose(res.acrt.table["std_error"], case["acrt_d_se_boot"], rtol=0.06)


@pytest.mark.parametrize("name", ["mp_es_slope", "mp_es_slope_never"])
def test_slope_event_study_points_match(name: str) -> None:
    case, res = CASES[name], _fit(name)
    np.testing.assert_array_equal(res.table["event_time"], case["event_time"])
    np.testing.assert_allclose(res.table["estimate"], case["estimate"], rtol=0, atol=1e-9)
    assert res.overall.estimate == pytest.approx(case["overall"], abs=1e-9)
