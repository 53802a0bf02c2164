"""Rosenbaum bounds and E-values (impacteval.diagnostics.sensitivity).

References
----------
* R ``rbounds::psens`` (rbounds 2.2) and ``EValue::evalues.RR/OR/HR/MD`` (EValue 4.1.4),
  values in ``tests/reference/data/weighting_reference.json`` written by
  ``tests/reference/r/generate_weighting.R`` (neither package is in Debian bookworm; see
  the script for how their CRAN sources were run).
* VanderWeele & Ding (2017, Ann Intern Med 167:268), worked example: RR 3.9 (95% CI 1.8 to
  8.7) gives E-values 7.26 and 3.0 -- by hand, 3.9 + sqrt(3.9 * 2.9) = 7.2630 and
  1.8 + sqrt(1.8 * 0.8) = 3.0.
* The exact bounds are checked against brute-force enumeration of all 2^n sign patterns,
  and at gamma = 1 against scipy's Wilcoxon signed-rank test (independent code).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from impacteval.diagnostics.sensitivity import (
    EValue,
    RosenbaumBounds,
    e_value,
    rosenbaum_bounds,
    rosenbaum_gamma,
)
from impacteval.exceptions import DataValidationError, ImpactEvalWarning, MissingDataWarning

REF = json.loads(
    (
        Path(__file__).resolve().parents[1] / "reference" / "data" / "weighting_reference.json"
    ).read_text()
)
# psens rounds its p-values to 4 decimals: half a unit in the 4th decimal
PSENS_TOL = 5e-5 + 1e-12
# E-values are closed-form: only floating-point rounding can differ
EXACT = 1e-12


@pytest.mark.parametrize("case", REF["psens"], ids=["ties_and_zeros", "no_ties"])
def test_bounds_match_psens(case: dict) -> None:  # type: ignore[type-arg]
    rb = rosenbaum_bounds(case["treated"], case["control"], gammas=case["gamma"])
    np.testing.assert_allclose(rb.table["p_lower"], case["p_lower"], atol=PSENS_TOL, rtol=0)
    np.testing.assert_allclose(rb.table["p_upper"], case["p_upper"], atol=PSENS_TOL, rtol=0)
    # and rounded as psens rounds, they are identical
    assert np.round(rb.table.to_numpy(), 4).tolist() == [
        list(r) for r in zip(case["p_lower"], case["p_upper"], strict=True)
    ]
    assert isinstance(rb, RosenbaumBounds)
    assert rb.table.index.tolist() == pytest.approx(case["gamma"])


def test_ties_zeros_handled_like_psens() -> None:
    case = REF["psens"][0]
    d = np.asarray(case["treated"]) - np.asarray(case["control"])
    rb = rosenbaum_bounds(case["treated"], case["control"], gammas=[1])
    assert rb.n_zero == int((d == 0).sum()) > 0
    assert rb.n_pairs == int((d != 0).sum())
    ranks = stats.rankdata(np.abs(d[d != 0]))
    assert rb.statistic == ranks[d[d != 0] > 0].sum()


def test_gamma_one_is_the_wilcoxon_test() -> None:
    case = REF["psens"][0]  # has ties and zeros: scipy's tie-corrected normal approximation
    t, c = np.asarray(case["treated"]), np.asarray(case["control"])
    ref = stats.wilcoxon(
        t, c, alternative="greater", zero_method="wilcox", correction=False, method="approx"
    )
    rb = rosenbaum_bounds(t, c, gammas=[1.0])
    assert rb.table["p_upper"].iloc[0] == pytest.approx(ref.pvalue, rel=1e-10)
    assert rb.table["p_lower"].iloc[0] == pytest.approx(ref.pvalue, rel=1e-10)
    # exact, no ties: scipy's exact distribution
    t2 = np.array([3.1, 5.2, 1.4, 7.9, 2.2, 6.3, 4.4, 0.8, 9.6, 2.9, 5.7])
    c2 = t2 - np.array([1.5, -0.7, 2.3, 3.9, -0.2, 1.1, 2.8, -1.9, 4.6, 0.4, 3.3])
    ref2 = stats.wilcoxon(t2, c2, alternative="greater", method="exact")
    rb2 = rosenbaum_bounds(t2, c2, gammas=[1.0], method="exact")
    assert rb2.table["p_upper"].iloc[0] == pytest.approx(ref2.pvalue, rel=1e-12)


def _brute_force(d: np.ndarray, gamma: float) -> tuple[float, float]:
    """Enumerate all sign patterns: P(T >= t) with P(+) = 1/(1+g) (lower), g/(1+g) (upper)."""
    ranks = stats.rankdata(np.abs(d))
    t_obs = ranks[d > 0].sum()
    out = []
    for p in (1.0 / (1.0 + gamma), gamma / (1.0 + gamma)):
        total = 0.0
        for signs in itertools.product((0, 1), repeat=d.size):
            s = np.asarray(signs)
            if ranks @ s >= t_obs - 1e-9:
                total += p ** s.sum() * (1 - p) ** (d.size - s.sum())
        out.append(total)
    return out[0], out[1]


def test_exact_bounds_match_enumeration() -> None:
    d = np.array([2.0, -1.0, 3.0, 3.0, 0.5, -2.0, 4.0, 1.0, 5.0, -0.5, 2.0, 6.0])  # ties
    t, c = d + 10.0, np.full(d.size, 10.0)
    gammas = [1.0, 1.7, 3.0]
    rb = rosenbaum_bounds(t, c, gammas=gammas, method="exact")
    for gamma, (lo, hi) in zip(gammas, rb.table.itertuples(index=False), strict=True):
        b_lo, b_hi = _brute_force(d, gamma)
        assert lo == pytest.approx(b_lo, rel=1e-12)
        assert hi == pytest.approx(b_hi, rel=1e-12)


def test_bounds_are_ordered_and_monotone() -> None:
    case = REF["psens"][1]
    g = np.linspace(1, 5, 17)
    for method in ("normal", "exact"):
        tab = rosenbaum_bounds(case["treated"], case["control"], gammas=g, method=method).table
        assert (tab["p_lower"] <= tab["p_upper"] + 1e-15).all()
        assert np.all(np.diff(tab["p_upper"]) >= 0) and np.all(np.diff(tab["p_lower"]) <= 0)


@pytest.mark.parametrize("method", ["normal", "exact"])
def test_rosenbaum_gamma_is_where_significance_is_lost(method: str) -> None:
    case = REF["psens"][0]
    gamma = rosenbaum_gamma(case["treated"], case["control"], alpha=0.05, method=method)
    at = rosenbaum_bounds(case["treated"], case["control"], gammas=[gamma], method=method)
    assert at.table["p_upper"].iloc[0] == pytest.approx(0.05, abs=1e-9)
    if method == "normal":  # psens: p_upper 0.0324 at 1.75 and 0.0619 at 2
        assert 1.75 < gamma < 2.0


def test_rosenbaum_gamma_not_significant_warns() -> None:
    with pytest.warns(ImpactEvalWarning, match="not significant"):
        assert rosenbaum_gamma([1.0, 2.0, 3.0], [1.5, 1.0, 3.5]) == 1.0


def test_alternative_less_mirrors_greater() -> None:
    case = REF["psens"][1]
    a = rosenbaum_bounds(case["treated"], case["control"], gammas=[1, 2])
    b = rosenbaum_bounds(case["control"], case["treated"], gammas=[1, 2], alternative="less")
    np.testing.assert_allclose(a.table, b.table, rtol=EXACT)


def test_missing_pairs_dropped_visibly() -> None:
    case = REF["psens"][1]
    t = np.array(case["treated"] + [np.nan])
    c = np.array(case["control"] + [1.0])
    with pytest.warns(MissingDataWarning):
        rb = rosenbaum_bounds(t, c, gammas=[1.5])
    assert rb.n_dropped == 1
    assert "Rosenbaum" in str(rb)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"treated_outcomes": [1, 2], "control_outcomes": [1, 2, 3]}, "equal lengths"),
        ({"treated_outcomes": [1, 2], "control_outcomes": [1, 2]}, "zero"),
        ({"treated_outcomes": [2, 3], "control_outcomes": [1, 2], "gammas": [0.5]}, "gammas"),
        ({"treated_outcomes": [2, 3], "control_outcomes": [1, 2], "method": "exakt"}, "method"),
        ({"treated_outcomes": [[2, 3]], "control_outcomes": [[1, 2]]}, "one-dimensional"),
        ({"treated_outcomes": ["a"], "control_outcomes": [1]}, "numbers"),
    ],
)
def test_bounds_bad_input(kwargs: dict, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(DataValidationError, match=match):
        rosenbaum_bounds(**kwargs)


def test_gamma_bad_alpha() -> None:
    with pytest.raises(DataValidationError, match="alpha"):
        rosenbaum_gamma([2, 3], [1, 2], alpha=0.95)


# -- E-values -------------------------------------------------------------------------------
def test_published_worked_example() -> None:
    ev = e_value(3.9, 1.8, 8.7)
    assert round(ev.e_value, 2) == 7.26
    assert ev.e_value_ci == pytest.approx(3.0, abs=EXACT)
    assert ev.e_value == pytest.approx(3.9 + math.sqrt(3.9 * 2.9), abs=EXACT)
    assert isinstance(ev, EValue)


@pytest.mark.parametrize("row", REF["evalues"], ids=lambda r: r["call"])
def test_e_values_match_r(row: dict) -> None:  # type: ignore[type-arg]
    scale = row["scale"]
    # R's NULL is written by jsonlite as {} (an empty object)
    rare = row["rare"] if isinstance(row["rare"], bool) else None
    if scale == "SMD":
        # evalues.MD forms the limits as exp(0.91 d -/+ 1.78 SE): the same limits on the
        # d scale are d -/+ (1.78 / 0.91) SE
        half = 1.78 / 0.91 * row["se"]
        lo, hi = row["estimate"] - half, row["estimate"] + half
    else:
        lo, hi = row["lo"], row["hi"]
    ev = e_value(row["estimate"], lo, hi, scale=scale, rare=rare)
    rr_ref, e_ref = row["rr"], row["evalue"]
    assert ev.rr == pytest.approx(rr_ref[0], rel=EXACT)
    assert ev.e_value == pytest.approx(e_ref[0], rel=EXACT)
    if lo is not None:
        assert ev.rr_lower == pytest.approx(rr_ref[1], rel=EXACT)
    if hi is not None:
        assert ev.rr_upper == pytest.approx(rr_ref[2], rel=EXACT)
    ci_ref = e_ref[1] if ev.rr > 1 else e_ref[2]
    if ci_ref is None:
        assert ev.e_value_ci is None
    else:
        assert ev.e_value_ci == pytest.approx(ci_ref, rel=EXACT)


def test_e_value_frame_and_symmetry() -> None:
    a, b = e_value(0.8), e_value(1 / 0.8)
    assert a.e_value == pytest.approx(b.e_value, rel=EXACT)
    frame = e_value(0.8, 0.71, 0.91).to_frame()
    assert frame.loc["e_value", "upper"] == pytest.approx(
        1 / 0.91 + math.sqrt(1 / 0.91 * (1 / 0.91 - 1))
    )
    assert np.isnan(frame.to_numpy()[1, 1])
    assert e_value(1.0, 0.8, 1.2).e_value_ci == 1.0


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((-1.2,), {}, "positive"),
        ((1.2, 1.3, 1.5), {}, "inside"),
        ((1.2, 1.0, 1.1), {}, "inside"),
        ((2.0,), {"scale": "OR"}, "rare"),
        ((2.0,), {"scale": "RR", "rare": True}, "rare"),
        ((2.0,), {"scale": "RD"}, "scale"),
        ((float("nan"),), {}, "finite"),
        (("2",), {}, "number"),
    ],
)
def test_e_value_bad_input(args: tuple, kwargs: dict, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(DataValidationError, match=match):
        e_value(*args, **kwargs)
