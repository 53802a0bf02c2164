"""``ddd`` against moderndid's triple differences (port of the authors' R ``triplediff``).

Source: tests/reference/data/moderndid_ddd.json, written by
tests/reference/peers/generate_moderndid_ddd.py with moderndid 0.2.0 in a side venv, on
data from moderndid's own simulators (``gen_ddd_2periods`` / ``gen_ddd_mult_periods``,
dgp_type 1, 500 units, seeded; the rows are stored next to the JSON). Cases:

* two periods: ``dr``, ``reg``, ``ipw``, each with the four covariates and without, and
  with the covariates and unit sampling weights (column ``w``);
  compared: the DDD, its SE and the three DiDs (4 vs 3, 4 vs 2, 4 vs 1);
* staggered (cohorts 2 and 3, three periods): never-treated and not-yet-treated
  comparisons (the latter combines cohorts 0 and 3 by GMM in cell (2, 2)), universal and
  varying base periods, ``dr`` / ``reg`` / ``ipw``; compared: every ATT(g, t) and SE, and
  the simple and event-study aggregations.

Tolerances: both sides compute the same closed forms; the logit is solved by different
optimisers (statsmodels IRLS vs our Newton) to ~1e-10, which moves DR/IPW estimates by
up to ~3e-8 at ATTs of ~20. Hence ``abs=1e-6`` for estimates and ``rel=1e-5`` for SEs.

Conventions that differ, each converted exactly rather than loosened:

* two-period SE: the peer reports ``sd(IF) / sqrt(n)``; impacteval ``sqrt(sum IF^2) / n``
  (R ``did``'s, used by every impacteval DiD), smaller by ``sqrt((n - 1) / n)``.
* staggered SEs: compared with ``se_if`` = ``sqrt(sum psi^2) / n`` from the peer's own
  influence-function matrix; for non-GMM cells this is also the peer's reported SE. For
  the GMM cell the peer reports ``sqrt(1 / (n sum Omega^-1))`` (Omega with ddof 1), which
  is within 0.2% here; impacteval reports the influence-function SE, which its
  aggregations use as well.
* aggregation SEs: impacteval adds the influence function of the estimated cohort shares
  (R ``did::aggte``'s ``wif``, which the authors' R ``triplediff::agg_ddd`` also adds);
  moderndid 0.2.0's ``agg_ddd`` omits it. The test checks the estimates, and checks the
  SEs without the weight term (built from our influence functions) against moderndid's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.did.aggregate import cohort_shares

DATA = Path(__file__).resolve().parents[1] / "reference" / "data"
REF = json.loads((DATA / "moderndid_ddd.json").read_text())
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
        TWO, outcome="y", unit="id", time="time", cohort="cohort", partition="partition",
        covariates=X if case["covariates"] else (), method=case["method"],
        weights=case.get("weights"),
    )  # fmt: skip
    n = case["n"]
    assert len(res.table) == 1
    assert res.overall is not None
    assert res.overall.estimate == pytest.approx(case["att"], abs=1e-6)
    assert float(res.table["estimate"].iloc[0]) == pytest.approx(case["att"], abs=1e-6)
    # sd(IF)/sqrt(n) = sqrt(sum IF^2 / (n - 1)) / sqrt(n) for a mean-zero IF
    assert res.overall.std_error * np.sqrt(n / (n - 1)) == pytest.approx(case["se"], rel=1e-5)
    parts = res.details["did_components"]
    for ours, theirs in (("4_vs_3", "att_4v3"), ("4_vs_2", "att_4v2"), ("4_vs_1", "att_4v1")):
        assert parts[ours] == pytest.approx(case["did_atts"][theirs], abs=1e-6)


def _staggered(case: dict[str, Any]) -> ie.did.TripleDifferenceEffects:
    return ie.did.ddd(
        MP, outcome="y", unit="id", time="time", cohort="group", partition="partition",
        covariates=X if case["covariates"] else (), method=case["method"],
        control_group=CONTROL[case["control_group"]], base_period=case["base_period"],
    )  # fmt: skip


def _id(c: dict[str, Any]) -> str:
    return f"{c['control_group']}-{c['base_period']}-{c['method']}-cov{int(c['covariates'])}"


@pytest.mark.parametrize("case", REF["staggered"], ids=_id)
def test_staggered_cells(case: dict[str, Any]) -> None:
    res = _staggered(case)
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


@pytest.mark.parametrize("case", REF["staggered"], ids=_id)
def test_staggered_aggregations(case: dict[str, Any]) -> None:
    res = _staggered(case)
    fit = res.fit
    assert fit is not None
    pg = cohort_shares(fit)
    simple = res.aggregate("simple")
    assert simple.overall is not None
    assert simple.overall.estimate == pytest.approx(case["simple"]["overall_att"], abs=1e-6)
    post = fit.group <= fit.time
    w = pg[post] / pg[post].sum()
    se_no_wif = np.sqrt(np.sum((fit.influence[:, post] @ w) ** 2)) / fit.n
    assert se_no_wif == pytest.approx(case["simple"]["overall_se"], rel=1e-5)
    # the weight term only adds variance here (two cohorts with different ATTs)
    assert simple.overall.std_error > se_no_wif
    dyn = res.aggregate("dynamic")
    assert dyn.overall is not None
    assert dyn.overall.estimate == pytest.approx(case["eventstudy"]["overall_att"], abs=1e-6)
    rows = pd.DataFrame(case["eventstudy"]["rows"])
    assert dyn.table["event_time"].tolist() == rows["label"].tolist()
    np.testing.assert_allclose(dyn.table["estimate"], rows["att"], rtol=0, atol=1e-6)
    e = fit.time - fit.group
    for label, se_ref in zip(rows["label"], rows["se"], strict=True):
        keep = e == label
        wk = pg[keep] / pg[keep].sum()
        se = np.sqrt(np.sum((fit.influence[:, keep] @ wk) ** 2)) / fit.n
        if np.isnan(se_ref):
            assert se == 0.0
        else:
            assert se == pytest.approx(se_ref, rel=1e-5)
    assert dyn.vcov is not None
    assert list(dyn.vcov.index) == dyn.table["event_time"].tolist()
