"""``att_gt`` against moderndid (Python port of R ``did`` / ``DRDID``), pinned peer values.

Source: tests/reference/data/moderndid_att_gt.json, written by
tests/reference/peers/generate_moderndid_att_gt.py with moderndid 0.2.0 in a separate
venv (package versions are recorded in the JSON; moderndid is not a dependency). Cases:
mpdta with covariate ``lpop``:

* balanced panel, ``dr`` and ``ipw``, not-yet-treated controls, universal base period;
* repeated cross-sections (R did's ``panel = FALSE``: mpdta's rows treated as independent
  observations), ``dr`` / ``reg`` never-treated varying base and ``ipw`` not-yet-treated
  universal base;
* the unbalanced panel tests/reference/data/mpdta_unbalanced.csv (mpdta minus 250 random
  rows) with R did's ``allow_unbalanced_panel = TRUE``, ``dr`` and ``reg``;
* unevenly spaced periods (mpdta without 2005), ``dr``.

Compared: every ATT(g, t) and analytic SE, the Wald pre-test p-value, and each of the four
aggregations (overall estimate and SE, and every row).

Tolerances: the peer and impacteval compute the same closed forms (logit MLE, WLS, the
DRDID influence functions); observed agreement is 1e-11 or better, the logit being solved
to ~1e-10 by each side's own Newton/IRLS. So ``abs=1e-8`` for estimates and ``rel=1e-7``
for SEs (room for optimiser tolerance, far below anything substantive). moderndid rounds
the Wald p-value to 5 decimals, hence ``abs=5.1e-6`` there.

Known peer deviations, handled in the generator and documented there (Python ports of R
``did`` are known to differ in SEs): moderndid 0.2.0 counts units instead of rows in
``n`` for ``panel=False`` when an id is given (so the RCS cases call it without an id, as
R did does internally), crashes on ``panel=True, allow_unbalanced_panel=True`` (so the
unbalanced cases call R did's internal route ``panel=False`` with the id), and on that
route misaligns the unit cohorts of ``aggte``'s weight influence function, which moves
aggregation SEs by up to 2%. The JSON's ``aggregations`` are moderndid's ``aggte`` with the
cohorts re-aligned by unit id; ``aggregations_moderndid_raw`` are its unpatched output.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.did.att_gt import GroupTimeEffects, att_gt

DATA = Path(__file__).resolve().parents[1] / "reference" / "data"
REFERENCE = json.loads((DATA / "moderndid_att_gt.json").read_text())
CASES = {c["id"]: c for c in REFERENCE["cases"]}
EST_TOL = 1e-8
SE_REL = 1e-7
P_TOL = 5.1e-6

OPTIONS: dict[str, dict[str, Any]] = {
    "panel_dr_notyet_universal": {
        "method": "dr",
        "control_group": "not_yet_treated",
        "base_period": "universal",
    },
    "panel_ipw_notyet_universal": {
        "method": "ipw",
        "control_group": "not_yet_treated",
        "base_period": "universal",
    },
    "rcs_dr_never_varying": {"method": "dr", "panel": False},
    "rcs_ipw_notyet_universal": {
        "method": "ipw",
        "control_group": "not_yet_treated",
        "base_period": "universal",
        "panel": False,
    },
    "rcs_reg_never_varying": {"method": "reg", "panel": False},
    "unbalanced_dr_never_varying": {"method": "dr", "allow_unbalanced_panel": True},
    "unbalanced_reg_notyet_varying": {
        "method": "reg",
        "control_group": "not_yet_treated",
        "allow_unbalanced_panel": True,
    },
    "uneven_periods_dr_never_varying": {"method": "dr"},
}
LAYOUT = {
    "panel": "balanced_panel",
    "rcs": "repeated_cross_sections",
    "unbalanced": "unbalanced_panel",
    "uneven": "balanced_panel",
}


@pytest.fixture(scope="module")
def datasets() -> dict[str, pd.DataFrame]:
    mpdta: pd.DataFrame = ie.datasets.load("mpdta")
    return {
        "mpdta": mpdta,
        "mpdta_unbalanced": pd.read_csv(DATA / "mpdta_unbalanced.csv"),
        "mpdta without 2005": mpdta[mpdta["year"] != 2005],
    }


@pytest.fixture(scope="module")
def fits(datasets: dict[str, pd.DataFrame]) -> dict[str, GroupTimeEffects]:
    out = {}
    for case_id, case in CASES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the unbalanced panel warns that it is unbalanced
            out[case_id] = att_gt(
                datasets[case["data"]],
                outcome="lemp",
                unit="countyreal",
                time="year",
                cohort="first_treat",
                covariates=["lpop"],
                **OPTIONS[case_id],
            )
    return out


def _se(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def test_reference_file_records_versions() -> None:
    assert REFERENCE["moderndid"] == "0.2.0"
    assert set(CASES) == set(OPTIONS)


@pytest.mark.parametrize("case_id", sorted(OPTIONS))
def test_group_time_cells(fits: dict[str, GroupTimeEffects], case_id: str) -> None:
    case, res = CASES[case_id], fits[case_id]
    assert res.details["layout"] == LAYOUT[case_id.split("_")[0]]
    assert res.details["fit"].n == case["n_units"]  # influence-function rows (units or rows)
    table = res.table
    cells = case["cells"]
    assert table["group"].tolist() == [c["group"] for c in cells]
    assert table["time"].tolist() == [c["time"] for c in cells]
    np.testing.assert_allclose(table["estimate"], [c["estimate"] for c in cells], atol=EST_TOL)
    se_ref = _se([c["std_error"] for c in cells])
    # the universal base period's normalised cells have no SE on both sides
    np.testing.assert_array_equal(np.isnan(table["std_error"]), np.isnan(se_ref))
    np.testing.assert_allclose(table["std_error"], se_ref, rtol=SE_REL)
    assert res.pretrend_test().p_value == pytest.approx(case["wald_p_value"], abs=P_TOL)


@pytest.mark.parametrize("kind", ["simple", "dynamic", "group", "calendar"])
@pytest.mark.parametrize("case_id", sorted(OPTIONS))
def test_aggregations(fits: dict[str, GroupTimeEffects], case_id: str, kind: str) -> None:
    ref = CASES[case_id]["aggregations"][kind]
    agg = fits[case_id].aggregate(kind)
    assert agg.overall is not None
    assert agg.overall.estimate == pytest.approx(ref["overall"], abs=EST_TOL)
    assert agg.overall.std_error == pytest.approx(ref["overall_se"], rel=SE_REL)
    if kind == "simple":
        return
    rows = ref["rows"]
    assert agg.table[agg.index_columns[0]].tolist() == [r["label"] for r in rows]
    np.testing.assert_allclose(agg.table["estimate"], [r["estimate"] for r in rows], atol=EST_TOL)
    np.testing.assert_allclose(
        agg.table["std_error"], _se([r["std_error"] for r in rows]), rtol=SE_REL
    )


def test_unpatched_peer_differs_only_in_weight_term() -> None:
    # documents the moderndid 0.2.0 misalignment: cohort-share aggregations move, the
    # group rows (no estimated weights) do not
    case = CASES["unbalanced_dr_never_varying"]
    raw, fixed = case["aggregations_moderndid_raw"], case["aggregations"]
    assert raw["simple"]["overall_se"] != pytest.approx(fixed["simple"]["overall_se"], rel=1e-6)
    assert [r["std_error"] for r in raw["group"]["rows"]] == pytest.approx(
        [r["std_error"] for r in fixed["group"]["rows"]], rel=1e-12
    )


def test_rcs_point_estimates_close_to_panel_but_ses_larger(
    fits: dict[str, GroupTimeEffects], datasets: dict[str, pd.DataFrame]
) -> None:
    # sanity: on the same mpdta rows the RCS DR estimator targets the same ATT(g, t); its
    # SEs are larger because levels, not changes, carry the county effects
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        panel = att_gt(
            datasets["mpdta"],
            outcome="lemp",
            unit="countyreal",
            time="year",
            cohort="first_treat",
            covariates=["lpop"],
            method="dr",
        )
    rcs = fits["rcs_dr_never_varying"]
    np.testing.assert_allclose(rcs.table["estimate"], panel.table["estimate"], atol=0.01)
    assert np.all(rcs.table["std_error"] > panel.table["std_error"])
