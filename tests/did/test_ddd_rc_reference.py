"""``ddd(panel=False)`` against moderndid's repeated cross-section triple differences.

Source: tests/reference/data/moderndid_ddd_rc.json, written by
tests/reference/peers/generate_moderndid_ddd_rc.py with moderndid 0.2.0 in a side venv, on
data from moderndid's own simulators with ``panel=False`` (``gen_ddd_2periods`` /
``gen_ddd_mult_periods``, dgp_type 1, 500 draws per period, seeded; the rows are stored
next to the JSON). Cases:

* two periods (1000 rows): ``dr``, ``reg``, ``ipw``, each with the four covariates and
  without, and with the covariates and row sampling weights (column ``w``); compared: the
  DDD, its SE and the three DiDs (4 vs 3, 4 vs 2, 4 vs 1);
* staggered (cohorts 2 and 3, three periods, 1500 rows): never-treated and not-yet-treated
  comparisons (the latter combines cohorts 0 and 3 by GMM in cell (2, 2)), universal and
  varying base periods, ``dr`` / ``reg`` / ``ipw``; compared: every ATT(g, t) and SE.

Tolerances: both sides compute the same closed forms (DRDID's ``drdid_rc``,
``std_ipw_did_rc``, ``reg_did_rc`` per pair of subgroups); the logit is solved by
different optimisers (statsmodels IRLS vs our Newton) to ~1e-10, which moved the IPW
estimates by up to ~7e-9 and SEs by ~2e-8 (relative) when the values were generated.
Hence ``abs=1e-6`` for estimates and ``rel=1e-5`` for SEs, as in the panel reference test.

Conventions that differ, converted exactly rather than loosened: the two-period SE (the
peer's ``sd(IF) / sqrt(n)`` against our ``sqrt(sum IF^2) / n``, n = rows) and the GMM
cell's SE (compared with ``se_if`` from the peer's influence functions), as in
tests/did/test_ddd_reference.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie

DATA = Path(__file__).resolve().parents[1] / "reference" / "data"
REF = json.loads((DATA / "moderndid_ddd_rc.json").read_text())
TWO = pd.read_csv(DATA / REF["data"]["two_period"])
MP = pd.read_csv(DATA / REF["data"]["staggered"])
X = ["cov1", "cov2", "cov3", "cov4"]
CONTROL = {"nevertreated": "never_treated", "notyettreated": "not_yet_treated"}


def test_source_is_pinned() -> None:
    assert REF["source"].startswith("moderndid 0.2.0")


@pytest.mark.parametrize(
    "case",
    REF["two_period"],
    ids=lambda c: f"{c['method']}-cov{int(c['covariates'])}{'-weighted' if 'weights' in c else ''}",
)
def test_two_period(case: dict[str, Any]) -> None:
    res = ie.did.ddd(
        TWO, outcome="y", time="time", cohort="cohort", partition="partition",
        covariates=X if case["covariates"] else (), method=case["method"],
        weights=case.get("weights"), panel=False,
    )  # fmt: skip
    n = case["n"]
    assert res.n_obs == n == len(TWO)
    assert len(res.table) == 1
    assert res.overall is not None
    assert res.overall.estimate == pytest.approx(case["att"], abs=1e-6)
    # sd(IF)/sqrt(n) = sqrt(sum IF^2 / (n - 1)) / sqrt(n) for a mean-zero IF
    assert res.overall.std_error * np.sqrt(n / (n - 1)) == pytest.approx(case["se"], rel=1e-5)
    parts = res.details["did_components"]
    for ours, theirs in (("4_vs_3", "att_4v3"), ("4_vs_2", "att_4v2"), ("4_vs_1", "att_4v1")):
        assert parts[ours] == pytest.approx(case["did_atts"][theirs], abs=1e-6)


def _id(c: dict[str, Any]) -> str:
    return f"{c['control_group']}-{c['base_period']}-{c['method']}-cov{int(c['covariates'])}"


@pytest.mark.parametrize("case", REF["staggered"], ids=_id)
def test_staggered_cells(case: dict[str, Any]) -> None:
    res = ie.did.ddd(
        MP, outcome="y", time="time", cohort="group", partition="partition",
        covariates=X if case["covariates"] else (), method=case["method"],
        control_group=CONTROL[case["control_group"]], base_period=case["base_period"],
        panel=False,
    )  # fmt: skip
    assert res.fit is not None and res.fit.n == case["n"]
    ref = pd.DataFrame(case["cells"])
    got = res.table.merge(ref, on=["group", "time"], how="outer", validate="1:1")
    assert len(got) == len(ref) == len(res.table)
    np.testing.assert_allclose(got["estimate"], got["att"], rtol=0, atol=1e-6)
    normalised = got["se_if"] == 0.0  # the universal base cell: ATT 0, no SE on both sides
    assert np.isnan(got.loc[normalised, "std_error"]).all()
    np.testing.assert_allclose(
        got.loc[~normalised, "std_error"], got.loc[~normalised, "se_if"], rtol=1e-5
    )
    if case["control_group"] == "notyettreated":
        assert res.details["cells_gmm"] >= 1
