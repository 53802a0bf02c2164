"""Shared test configuration.

Repository-sourced datasets are read from ``../shared/data`` (beside the project root) via
``IMPACTEVAL_DATA_DIR``; ``make test`` sets it, and this file sets it too when pytest is run
directly, so tests never touch the network.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
if "IMPACTEVAL_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["IMPACTEVAL_DATA_DIR"] = str(SHARED_DATA)

REFERENCE_DATA = ROOT / "tests" / "reference" / "data"

# generators of reference values run in their own environments (peer packages that are not
# dependencies); they are scripts, not tests, and must not be imported by --doctest-modules
collect_ignore_glob = ["reference/peers/*.py"]


@pytest.fixture(scope="session")
def nsw() -> pd.DataFrame:
    """LaLonde's NSW experiment, Dehejia-Wahba subsample (185 treated, 260 control)."""
    import impacteval as ie

    return ie.datasets.load("nsw_dw")


@pytest.fixture(scope="session")
def sim_trial() -> pd.DataFrame:
    """Seeded synthetic blocked / clustered trial written by tests/reference/r (R RNG)."""
    return pd.read_csv(REFERENCE_DATA / "sim_trial.csv").astype(float)
