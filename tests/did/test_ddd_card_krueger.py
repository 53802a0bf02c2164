"""Two-period triple differences on Card & Krueger (1994), as in notebook 09.

Design: group = state (New Jersey enables the treatment in wave 1, Pennsylvania never),
partition = the store's February starting wage below the new minimum of $5.05, outcome
FTE employment. Stores without a February wage are dropped before the call; ``ddd`` drops
the stores whose FTE is missing in a wave (balanced panel).

With two periods, one enabled cohort and no covariates the DDD is the difference of the
eight state x partition x wave means of the stores kept, and the coefficient on the
triple interaction in the saturated OLS and in OLS with store fixed effects; its
influence-function SE has a closed form (below), and without covariates the DDD is the
within-NJ DiD minus the within-PA DiD, two DiDs on disjoint stores, which ``att_gt``
computes independently. These are algebraic identities, so the tolerance is 1e-10:
rounding error on sums of ~730 values of size ~20 is ~1e-13.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import ImpactEvalWarning

NEW_MINIMUM = 5.05
TOL = 1e-10  # algebraic identities; observed differences ~1e-13


@pytest.fixture(scope="module")
def ck() -> pd.DataFrame:
    return ie.datasets.load("card_krueger")


@pytest.fixture(scope="module")
def classified(ck: pd.DataFrame) -> pd.DataFrame:
    """Stores with a February starting wage, with ``cohort`` and ``bound`` (0/1) columns."""
    wage_feb = ck.loc[ck["d"] == 0].set_index("id")["wage"]
    out = ck.assign(wage_feb=ck["id"].map(wage_feb))
    out = out.loc[out["wage_feb"].notna()]
    return out.assign(
        cohort=np.where(out["nj"] == 1, 1, 0),
        bound=(out["wage_feb"] < NEW_MINIMUM).astype(int),
    )


@pytest.fixture(scope="module")
def balanced(classified: pd.DataFrame) -> pd.DataFrame:
    """The stores with FTE in both waves (computed here, not by ddd)."""
    return classified.dropna(subset=["fte"]).groupby("id").filter(lambda s: len(s) == 2)


def _ddd(frame: pd.DataFrame, method: str = "reg") -> ie.did.TripleDifferenceEffects:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)  # drops: checked on the result
        return ie.did.ddd(
            frame, outcome="fte", unit="id", time="d", cohort="cohort", partition="bound",
            method=method,
        )  # fmt: skip


def _store_changes(balanced: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    wide = balanced.pivot(index="id", columns="d", values="fte")
    cells = balanced.drop_duplicates("id").set_index("id")[["nj", "bound"]]
    return (wide[1] - wide[0]).loc[cells.index], cells


def test_sample_and_drops_are_reported(classified: pd.DataFrame, balanced: pd.DataFrame) -> None:
    res = _ddd(classified)
    missing_rows = int(classified["fte"].isna().sum())
    dropped_stores = classified["id"].nunique() - balanced["id"].nunique()
    assert missing_rows > 0 and dropped_stores > 0  # the data do have gaps to report
    assert res.n_dropped == missing_rows
    assert any(f"dropped {dropped_stores} units" in m for m in res.warnings)
    assert res.details["n_units"] == balanced["id"].nunique()
    stores = balanced.drop_duplicates("id")
    counts = stores.groupby(["nj", "bound"]).size()
    assert res.details["subgroup_counts"] == {
        "enabled_eligible": counts[1, 1],
        "enabled_ineligible": counts[1, 0],
        "never_enabled_eligible": counts[0, 1],
        "never_enabled_ineligible": counts[0, 0],
    }


def test_four_unbound_pennsylvania_stores_are_flagged(
    classified: pd.DataFrame, balanced: pd.DataFrame
) -> None:
    """The unbound PA subgroup (counted here from the balanced stores) is below att_gt's
    5-unit threshold, so ddd records a small-subgroup warning naming it and its count;
    the other three subgroups are large and not named."""
    stores = balanced.drop_duplicates("id").groupby(["nj", "bound"]).size()
    assert stores[0, 0] < 5 and min(stores[1, 1], stores[1, 0], stores[0, 1]) >= 5
    res = _ddd(classified)
    (message,) = [m for m in res.warnings if "small subgroups" in m]
    assert f"never enabled & ineligible (ineligible comparison): {stores[0, 0]}" in message
    assert "(treated)" not in message and "(eligible comparison)" not in message


def test_estimate_equals_cell_means_and_triple_interaction_ols(
    classified: pd.DataFrame, balanced: pd.DataFrame
) -> None:
    res = _ddd(classified)
    assert len(res.table) == 1
    est = res.overall.estimate
    assert res.table["estimate"].iloc[0] == pytest.approx(est, abs=TOL)

    means = balanced.groupby(["nj", "bound", "d"])["fte"].mean()
    change = {(s, q): means[s, q, 1] - means[s, q, 0] for s in (0, 1) for q in (0, 1)}
    by_hand = (change[1, 1] - change[1, 0]) - (change[0, 1] - change[0, 0])

    y = balanced["fte"].to_numpy()
    s, q, p = (balanced[c].to_numpy(dtype=float) for c in ("nj", "bound", "d"))
    saturated = np.column_stack([np.ones_like(y), s, q, p, s * q, s * p, q * p, s * q * p])
    ols_saturated = np.linalg.lstsq(saturated, y, rcond=None)[0][-1]
    dummies = pd.get_dummies(balanced["id"]).to_numpy(dtype=float)
    with_fe = np.column_stack([dummies, p, s * p, q * p, s * q * p])
    ols_store_fe = np.linalg.lstsq(with_fe, y, rcond=None)[0][-1]

    for other in (by_hand, ols_saturated, ols_store_fe):
        assert abs(other - est) < TOL


def test_se_is_the_influence_function_se(classified: pd.DataFrame, balanced: pd.DataFrame) -> None:
    """sqrt(sum_i psi_i^2) / n with psi_i = +-(n / n_k)(dY_i - mean_k dY) in cell k: the SE
    is sqrt(sum_k sum_{i in k} (dY_i - mean_k)^2 / n_k^2)."""
    res = _ddd(classified)
    delta, cells = _store_changes(balanced)
    variance = sum(
        float(((c - c.mean()) ** 2).sum()) / len(c) ** 2
        for _, c in delta.groupby([cells["nj"], cells["bound"]])
    )
    assert abs(np.sqrt(variance) - res.overall.std_error) < TOL
    assert abs(res.table["std_error"].iloc[0] - res.overall.std_error) < TOL


def test_equals_difference_of_two_att_gt_dids(
    classified: pd.DataFrame, balanced: pd.DataFrame
) -> None:
    """No covariates: DDD = DiD(NJ bound vs unbound) - DiD(PA bound vs unbound), on disjoint
    stores, so the variances add. att_gt refuses fewer than 5 never-treated controls (as R
    did) and PA has 4 unbound stores, so the PA DiD is run with them as the treated side:
    the same reg DiD with the sign flipped and the same SE."""
    res = _ddd(classified)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImpactEvalWarning)  # the 4-store cohort warning
        nj = ie.did.att_gt(
            balanced[balanced["nj"] == 1], outcome="fte", unit="id", time="d",
            cohort="bound", method="reg",
        ).overall  # fmt: skip
        pa_flipped = ie.did.att_gt(
            balanced[balanced["nj"] == 0].assign(unbound=lambda x: 1 - x["bound"]),
            outcome="fte", unit="id", time="d", cohort="unbound", method="reg",
        ).overall  # fmt: skip
    assert abs(nj.estimate + pa_flipped.estimate - res.overall.estimate) < TOL
    assert abs(np.hypot(nj.std_error, pa_flipped.std_error) - res.overall.std_error) < TOL
    components = res.details["did_components"]
    assert abs(components["4_vs_3"] - nj.estimate) < TOL


@pytest.mark.parametrize("method", ["dr", "ipw"])
def test_methods_agree_without_covariates(classified: pd.DataFrame, method: str) -> None:
    """Without covariates the propensity score is a constant and the outcome model an
    intercept, so DR and normalised IPW reduce to the regression DDD."""
    reg, other = _ddd(classified), _ddd(classified, method)
    assert abs(other.overall.estimate - reg.overall.estimate) < TOL
    assert abs(other.overall.std_error - reg.overall.std_error) < TOL
