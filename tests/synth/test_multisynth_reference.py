"""multisynth against mlsynth 1.0.0's PPSCM (a port of R augsynth::multisynth).

Values from tests/reference/peers/generate_mlsynth_multisynth.py (the simulated staggered
panel is stored in the same JSON). The peer solves the balance QP with OSQP at
eps_abs = eps_rel = 1e-8; impacteval solves it exactly (active set per unit, block
coordinate descent to 1e-11), so weights, effects and jackknife SEs agree to well within
1e-6 (observed: about 1e-8).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie

REF = json.loads(
    (
        Path(__file__).resolve().parents[1] / "reference" / "data" / "mlsynth_multisynth.json"
    ).read_text()
)
PANEL = pd.DataFrame(REF["factor_panel"])
TOL = 1e-6


@pytest.fixture(scope="module", params=REF["cases"], ids=[c["name"] for c in REF["cases"]])
def case(request: pytest.FixtureRequest) -> tuple[dict[str, Any], ie.synth.MultiSynth]:
    c = request.param
    res = ie.synth.multisynth(
        PANEL,
        outcome="y",
        unit="unit",
        time="period",
        treatment="d",
        nu=None if c["nu"] == "auto" else c["nu"],
        fixedeff=c["fixedeff"],
        n_leads=c.get("n_leads"),
    )
    return c, res


def test_nu_and_overall_effect(case: tuple[dict[str, Any], ie.synth.MultiSynth]) -> None:
    c, res = case
    assert res.nu == pytest.approx(c["nu_used"], abs=TOL)
    assert res.estimate == pytest.approx(c["att"], abs=TOL)
    assert res.std_error == pytest.approx(c["att_se"], abs=TOL)


def test_event_time_effects(case: tuple[dict[str, Any], ie.synth.MultiSynth]) -> None:
    c, res = case
    post = res.table[res.table["event_time"] >= 0]
    assert post["event_time"].tolist() == c["event_time"]
    np.testing.assert_allclose(post["estimate"], c["event_estimate"], atol=TOL)
    np.testing.assert_allclose(post["std_error"], c["event_se"], atol=TOL)


def test_weights(case: tuple[dict[str, Any], ie.synth.MultiSynth]) -> None:
    c, res = case
    assert sorted(res.weights.columns) == sorted(c["weights"])
    for unit, theirs in c["weights"].items():
        ref = pd.Series(theirs).reindex(res.weights.index, fill_value=0.0)
        np.testing.assert_allclose(res.weights[unit], ref, atol=TOL)
