"""Published synthetic-control results reproduced.

Prop 99: Abadie, Diamond & Hainmueller (2010), Table 2 weights, Figure 2 gap, Figure 7
placebo p-value. Basque: Abadie & Gardeazabal (2003) weights as computed by R Synth.
The nested V/W problem is non-convex and nearly flat near its optimum: published weights are
matched to 0.02 (Prop 99, where tidysynth lands within 0.015) and 0.01 (Basque), and the
fit must be at least as good as ADH's (pre-period RMSPE 1.76).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.synth._scm_inference import PlaceboTest

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "data"
PROP99_WEIGHTS = {  # ADH (2010), Table 2
    "Utah": 0.334,
    "Nevada": 0.234,
    "Montana": 0.199,
    "Colorado": 0.164,
    "Connecticut": 0.069,
}
PROP99_PREDICTORS = [
    ("lnincome", range(1980, 1989)),
    ("age15to24", range(1980, 1989)),
    ("retprice", range(1980, 1989)),
    ("beer", range(1984, 1989)),
    ("cigsale", 1975),
    ("cigsale", 1980),
    ("cigsale", 1988),
]


@pytest.fixture(scope="module")
def smoking() -> pd.DataFrame:
    return ie.datasets.load("smoking")


@pytest.fixture(scope="module")
def prop99(smoking: pd.DataFrame) -> ie.synth.SyntheticControl:
    return ie.synth.synthetic_control(
        smoking,
        outcome="cigsale",
        unit="state",
        time="year",
        treated_unit="California",
        treatment_time=1989,
        predictors=PROP99_PREDICTORS,
        inference="none",
    )


def test_prop99_weights(prop99: ie.synth.SyntheticControl) -> None:
    w = prop99.weights
    assert len(w) == 38 and w.sum() == pytest.approx(1.0) and (w >= 0).all()
    for state, published in PROP99_WEIGHTS.items():
        assert w[state] == pytest.approx(published, abs=0.02), state
    assert w.drop(list(PROP99_WEIGHTS)).max() < 0.02


def test_prop99_fit_at_least_as_good_as_adh(prop99: ie.synth.SyntheticControl) -> None:
    # ADH's weights give a 1970-88 RMSPE of about 1.76; slack 0.005 for their rounding
    assert prop99.pre_rmspe <= 1.76 + 0.005
    assert prop99.fit_rmspe == pytest.approx(prop99.pre_rmspe)  # fit period = pre-period


def test_prop99_gap_2000(prop99: ie.synth.SyntheticControl) -> None:
    # ADH Figure 2: "about -26 packs"; read off a figure, hence +-2
    assert prop99.gaps.loc[2000] == pytest.approx(-26.0, abs=2.0)
    assert prop99.estimate == pytest.approx(prop99.gaps.loc[1989:].mean())
    assert prop99.estimate < -15


def test_prop99_balance_and_nan_rule(
    prop99: ie.synth.SyntheticControl, smoking: pd.DataFrame
) -> None:
    bal = prop99.balance
    assert list(bal.columns) == ["treated", "synthetic", "donor_average", "v_weight"]
    ca = smoking[(smoking.state == "California") & smoking.year.between(1984, 1988)]
    assert bal.loc["beer (1984-1988 mean)", "treated"] == pytest.approx(ca.beer.mean())
    syn = smoking[smoking.year.between(1980, 1988)].groupby(
        "state"
    ).retprice.mean() @ prop99.weights.reindex(smoking.state.unique()).fillna(0.0)
    assert bal.loc["retprice (1980-1988 mean)", "synthetic"] == pytest.approx(syn)
    # ADH Table 1: real and synthetic California, retail price 89.42 / 89.41
    assert bal.loc["retprice (1980-1988 mean)", "synthetic"] == pytest.approx(89.41, abs=0.1)


def test_predictor_mean_skips_missing_years(smoking: pd.DataFrame) -> None:
    # lnincome is missing in 1970-71: the 1970-74 mean is the mean of 1972-74 (Synth's
    # mean(na.rm = TRUE))
    fit = ie.synth.synthetic_control(
        smoking,
        outcome="cigsale",
        unit="state",
        time="year",
        treated_unit="California",
        treatment_time=1989,
        predictors=[("lnincome", range(1970, 1975)), ("cigsale", 1980)],
        v=[0.5, 0.5],
        inference="none",
    )
    ca = smoking[(smoking.state == "California") & smoking.year.between(1972, 1974)]
    assert fit.balance.iloc[0]["treated"] == pytest.approx(ca.lnincome.mean())


@pytest.fixture(scope="module")
def prop99_placebo(prop99: ie.synth.SyntheticControl) -> PlaceboTest:
    return prop99.placebo_test(n_jobs=2)


@pytest.mark.slow
def test_prop99_placebo_p_value(
    prop99: ie.synth.SyntheticControl, prop99_placebo: PlaceboTest
) -> None:
    test = prop99_placebo
    # ADH (2010) Figure 7: California has the largest post/pre RMSPE ratio of 39 units
    assert test.n_placebos == 38 and test.rank == 1
    assert test.p_value == pytest.approx(1 / 39)
    assert test.ratio.idxmax() == "California"
    # ADH's Figure 4-7 exclusion (pre-MSPE above 2x California's) keeps the rank
    strict = prop99.placebo_test(mspe_threshold=2.0, n_jobs=2)
    assert strict.rank == 1 and strict.n_placebos < 38
    assert strict.p_value == pytest.approx(1 / (strict.n_placebos + 1))


@pytest.fixture(scope="module")
def basque() -> ie.synth.SyntheticControl:
    data = ie.datasets.load("basque")
    data = data[data.regionno != 1]  # drop the Spain aggregate
    school = ["school.illit", "school.prim", "school.med", "school.high", "school.post.high"]
    sectors = [
        "sec.agriculture",
        "sec.energy",
        "sec.industry",
        "sec.construction",
        "sec.services.venta",
        "sec.services.nonventa",
    ]
    predictors = [(c, range(1964, 1970), "mean") for c in [*school, "invest"]]
    predictors += [("gdpcap", range(1960, 1970))]
    predictors += [(c, range(1961, 1970, 2)) for c in sectors]
    predictors += [("popdens", 1969)]
    return ie.synth.synthetic_control(
        data,
        outcome="gdpcap",
        unit="regionname",
        time="year",
        treated_unit="Basque Country (Pais Vasco)",
        treatment_time=1975,
        predictors=predictors,
        fit_period=range(1960, 1970),
        inference="none",
    )


def test_basque_weights(basque: ie.synth.SyntheticControl) -> None:
    w = basque.weights
    assert len(w) == 16
    assert w["Cataluna"] == pytest.approx(0.8508, abs=0.01)
    assert w["Madrid (Comunidad De)"] == pytest.approx(0.1492, abs=0.01)
    assert w.drop(["Cataluna", "Madrid (Comunidad De)"]).max() < 0.01
    # Abadie & Gardeazabal (2003): mean gap 1975-97 of -0.70 (R Synth); weights within 0.01 move it
    # little
    assert basque.estimate == pytest.approx(-0.70, abs=0.03)


def test_basque_balance_table(basque: ie.synth.SyntheticControl) -> None:
    bal = basque.balance
    assert bal.shape == (14, 4)
    data = ie.datasets.load("basque")
    pv = data[data.regionno == 17]
    assert bal.loc["gdpcap (1960-1969 mean)", "treated"] == pytest.approx(
        pv[pv.year.between(1960, 1969)].gdpcap.mean()
    )
    odd = pv[pv.year.isin([1961, 1963, 1965, 1967, 1969])]
    label = "sec.industry (1961, 1963, 1965, 1967, 1969 mean)"
    assert bal.loc[label, "treated"] == pytest.approx(odd["sec.industry"].mean())
    # Abadie & Gardeazabal (2003) Table 3: real vs synthetic GDP per capita 5.29 / 5.27
    assert bal.loc["gdpcap (1960-1969 mean)", "synthetic"] == pytest.approx(5.27, abs=0.02)
    assert np.isclose(basque.v_weights.sum(), 1.0)


@pytest.mark.slow
def test_prop99_placebo_fits_at_least_as_good_as_pysyncon(
    prop99_placebo: PlaceboTest,
) -> None:
    """Issue #5: every placebo fit at least as good as pysyncon 1.7.0's (its 1970-88 MSPE,
    tests/reference/data/pysyncon_prop99_fits.json, written by
    tests/reference/peers/generate_pysyncon_prop99.py: one ``Synth().fit`` per unit, same
    donors and predictors). The tolerance is rounding only (1e-9 relative): the claim is
    "no worse", and the closest units are within 1% of pysyncon."""
    ref = json.loads((REFERENCE / "pysyncon_prop99_fits.json").read_text())
    assert ref["pysyncon"] == "1.7.0"
    ours = (prop99_placebo.gaps.loc[1970:1988] ** 2).mean(axis=0)
    compared = {u: f["pre_mspe"] for u, f in ref["fits"].items() if "pre_mspe" in f}
    assert set(ref["fits"]) == set(ours.index)  # every one of the 39 units was attempted
    assert len(compared) >= 35  # units where pysyncon hit its cap are not comparable
    worse = {u: (float(ours[u]), m) for u, m in compared.items() if ours[u] > m * (1 + 1e-9)}
    assert not worse, f"pre-period MSPE worse than pysyncon's for {worse}"
