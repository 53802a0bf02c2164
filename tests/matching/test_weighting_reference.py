"""Entropy balancing against R ``ebal::ebalance`` (ebal 0.1-8) on lalonde_psid (ATT), and
the IPW / entropy-balancing M-estimation SEs against a base-R computation (glm + numDeriv).

Reference values: ``tests/reference/data/weighting_reference.json``, written by
``tests/reference/r/generate_weighting.R`` (R 4.2.2; ebal installed from the CRAN source,
see the script header; WeightIt is not packaged in Debian bookworm, and its ``ebal``
method solves the same dual, so ebal is the reference). R was run with
``constraint.tolerance = 1e-9`` on standardised columns and we with ``tol = 1e-10``.

Tolerance 1e-9 relative on weights, ESS, max weight and the effect (observed agreement:
5e-14): both solutions meet the balance constraints to ~1e-10 SD and the dual is strictly
convex, so the weights are unique; what remains is where each Newton iteration stopped,
amplified by the conditioning of the moments-2 problem (squared earnings), which we bound
generously at 1e-9.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.matching.weighting import entropy_balance, ipw

COVS = ["age", "educ", "black", "hisp", "married", "nodegree", "re74", "re75"]
REFERENCE_DATA = Path(__file__).resolve().parents[1] / "reference" / "data"
REF = json.loads((REFERENCE_DATA / "weighting_reference.json").read_text())


@pytest.fixture(scope="module")
def psid() -> pd.DataFrame:
    data: pd.DataFrame = ie.datasets.load("lalonde_psid")
    return data


@pytest.mark.parametrize("case", REF["ebal_att_lalonde_psid"], ids=lambda c: f"m{c['moments']}")
def test_entropy_balance_matches_ebal(psid: pd.DataFrame, case: dict) -> None:  # type: ignore[type-arg]
    eb = entropy_balance(
        psid,
        treatment="treat",
        covariates=COVS,
        moments=case["moments"],
        outcome="re78",
        tol=1e-10,
    )
    assert case["converged"] and eb.converged
    controls = psid["treat"] == 0
    assert psid.loc[controls, "id"].tolist() == case["control_ids"]
    ours = eb.weights[controls].to_numpy()
    ref = np.asarray(case["control_weights"])
    assert ours.sum() == pytest.approx(ref.sum(), rel=1e-12)  # both sum to n treated
    np.testing.assert_allclose(ours, ref, rtol=1e-9)
    # ebal::getsquares appends the squares in column order but names them in reverse order
    # (its names vector is prepended to): compare by position, not by R's names
    assert len(eb.balance_table) == len(case["features"])
    np.testing.assert_allclose(eb.balance_table["weighted"], case["weighted_means"], rtol=1e-9)
    np.testing.assert_allclose(eb.balance_table["target"], case["treated_means"], rtol=1e-12)
    assert eb.ess == pytest.approx(case["ess"], rel=1e-9)
    assert eb.max_weight == pytest.approx(case["max_weight"], rel=1e-9)
    assert eb.effect is not None
    assert eb.effect.estimate == pytest.approx(case["att"], rel=1e-9)


# -- M-estimation standard errors written out in base R -----------------------------------
# generate_weighting.R fits the logit with glm (epsilon 1e-14) and takes the bread with
# numDeriv::jacobian (Richardson extrapolation); the estimating functions are written out
# there independently of the package. Observed agreement: estimates 5e-15, SEs 8e-12,
# logit coefficients 3e-14 (relative). Tolerance: 1e-8 relative for estimates and
# coefficients (two MLEs converged to ~1e-12), 1e-8 for SEs (Richardson-extrapolated
# numerical Jacobian, accurate to ~1e-10).
@pytest.mark.parametrize(
    "case",
    REF["ipw_mestimation_nsw_dw"],
    ids=lambda c: f"{c['estimand']}-{'hajek' if c['normalize'] else 'ht'}",
)
def test_ipw_sandwich_matches_r(case: dict) -> None:  # type: ignore[type-arg]
    nsw = ie.datasets.load("nsw_dw")
    res = ipw(
        nsw,
        outcome="re78",
        treatment="treat",
        covariates=case["covariates"],
        estimand=case["estimand"],
        normalize=case["normalize"],
    )
    assert res.estimate == pytest.approx(case["estimate"], rel=1e-8)
    assert res.std_error == pytest.approx(case["std_error"], rel=1e-8)
    np.testing.assert_allclose(
        res.details["ps_coefficients"].to_numpy(), case["ps_coefficients"], rtol=1e-8
    )


def test_entropy_balance_sandwich_matches_r(psid: pd.DataFrame) -> None:
    case = REF["ebal_mestimation_lalonde_psid"]
    eb = entropy_balance(
        psid, treatment="treat", covariates=case["covariates"], outcome="re78", tol=1e-10
    )
    assert eb.effect is not None
    assert eb.effect.estimate == pytest.approx(case["estimate"], rel=1e-9)
    assert eb.effect.std_error == pytest.approx(case["std_error"], rel=1e-8)
