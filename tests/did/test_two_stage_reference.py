"""``did.two_stage`` against pyfixest 0.60.0's did2s (Gardner 2021; Butts & Gardner 2022).

Reference values: tests/reference/data/pyfixest_did2s.json, written by
tests/reference/peers/generate_pyfixest_did2s.py (pyfixest 0.60.0 in a separate venv, not
a dependency); every case records its call. Data: mpdta (data/sample; sampling weight
``pop = exp(lpop)``) and the seeded unbalanced staggered panel
tests/reference/data/pyfixest_event_study_sim.csv (weight ``w = 1 + (unit % 5) / 4``).
Cases: static and event-study forms; unit + year and state + year first-stage fixed
effects; with and without a covariate; clusters by unit and by state; weighted and not.

Tolerances. Our first stage is solved exactly (sparse direct factorisation; it agrees with
a dense least-squares solve to 1e-12, see test_two_stage.py); pyfixest demeans by
alternating projections and recovers the fixed effects iteratively, so its numbers carry
that solver's error:

* unweighted cases: estimates absolute 1e-6, SEs relative 1e-6 (observed at most 4e-7
  and 5e-8);
* weighted cases: estimates absolute 5e-5, SEs relative 5e-4 (observed 1e-5 and 7e-5 on
  mpdta, whose population weights span three orders of magnitude; our value there equals
  the dense weighted least-squares solution to 1e-14).
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
from impacteval.did.event_study import EventStudyTable
from impacteval.results import EffectEstimate

DATA = Path(__file__).resolve().parents[1] / "reference" / "data"
REFERENCE = json.loads((DATA / "pyfixest_did2s.json").read_text())
CASES = {c["id"]: c for c in REFERENCE["cases"]}


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    mpdta = ie.datasets.load("mpdta")
    mpdta["pop"] = np.exp(mpdta["lpop"])
    sim = pd.read_csv(DATA / "pyfixest_event_study_sim.csv")
    sim["w"] = 1.0 + (sim["unit"] % 5) / 4.0
    return {"mpdta": mpdta, "sim": sim}


def _fit(case: dict[str, Any], frames: dict[str, pd.DataFrame]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few-cluster and dropped-row notices
        return ie.did.two_stage(
            frames[case["data"]],
            outcome=case["outcome"],
            unit=case["unit"],
            time=case["time"],
            cohort=case["cohort"],
            form=case["form"],
            fixed_effects=case["fixed_effects"],
            covariates=case["covariates"],
            cluster=case["cluster"],
            weights=case["weights"],
        )


def test_generator_records_the_peer_version() -> None:
    assert REFERENCE["pyfixest"] == "0.60.0"
    assert len(CASES) == 10


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_matches_pyfixest_did2s(case_id: str, frames: dict[str, pd.DataFrame]) -> None:
    case = CASES[case_id]
    result = _fit(case, frames)
    if case["form"] == "static":
        assert isinstance(result, EffectEstimate)
        est, se = np.array([result.estimate]), np.array([result.std_error])
    else:
        assert isinstance(result, EventStudyTable)
        rows = result.table[~result.table["reference"]].set_index("event_time")
        assert sorted(rows.index.tolist()) == sorted(case["event_time"])
        rows = rows.loc[case["event_time"]]
        est, se = rows["estimate"].to_numpy(), rows["std_error"].to_numpy()
    weighted = case["weights"] is not None
    np.testing.assert_allclose(est, case["estimate"], rtol=0, atol=5e-5 if weighted else 1e-6)
    np.testing.assert_allclose(se, case["std_error"], rtol=5e-4 if weighted else 1e-6)
