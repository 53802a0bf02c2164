"""Shared test configuration.

Repository-sourced datasets are read from ``../shared/data`` (beside the project root) via
``IMPACTEVAL_DATA_DIR``; ``make test`` sets it, and this file sets it too when pytest is run
directly, so tests never touch the network. Without either, the tests that need such a
dataset download it (once, cached) or, offline, are skipped with one reason each.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
if "IMPACTEVAL_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["IMPACTEVAL_DATA_DIR"] = str(SHARED_DATA)

# Without a data folder, tests that need a repository-sourced dataset (smoking, basque,
# card_krueger) download it once into the cache; when that is impossible they are skipped,
# one line each (see pytest_runtest_makereport). With IMPACTEVAL_DATA_DIR set (CI: by the
# Makefile or above) nothing is skipped: a missing file there is a failure.
DATA_DIR_CONFIGURED = bool(os.environ.get("IMPACTEVAL_DATA_DIR"))
_PROBE_HOSTS = ("raw.githubusercontent.com", "github.com")
_DATASET_RE = re.compile(r"Dataset '(\w+)' is (?:not shipped|published as)")


def _online(timeout: float = 3.0) -> bool:
    """One quick connection attempt instead of a 30 s download timeout per test."""
    for host in _PROBE_HOSTS:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                return True
        except OSError:
            continue
    return False


def pytest_configure(config: pytest.Config) -> None:
    if not DATA_DIR_CONFIGURED and "IMPACTEVAL_OFFLINE" not in os.environ and not _online():
        # inherited by notebook kernels too: fail at once instead of waiting for timeouts
        os.environ["IMPACTEVAL_OFFLINE"] = "1"


def _missing_dataset(exc: BaseException) -> str | None:
    """Name of the repository-sourced dataset whose absence raised ``exc`` (also inside an
    executed notebook or report), else None."""
    from impacteval.exceptions import DataUnavailableError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DataUnavailableError) or getattr(seen, "ename", None) == (
            "DataUnavailableError"
        ):
            found = _DATASET_RE.search(str(seen))
            return found.group(1) if found else None
        seen = seen.__cause__ or seen.__context__
    if "DataUnavailableError" in str(exc):  # a report's kernel traceback, as text
        found = _DATASET_RE.search(str(exc))
        return found.group(1) if found else None
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if DATA_DIR_CONFIGURED or call.excinfo is None:
        return
    name = _missing_dataset(call.excinfo.value)
    if name is not None:
        report.outcome = "skipped"
        report.longrepr = (
            str(item.path),
            item.location[1] or 0,
            f"Skipped: needs the repository-sourced dataset {name!r}: not in "
            "IMPACTEVAL_DATA_DIR, not cached, not downloadable (offline); see README, "
            "'Repository-sourced datasets'",
        )


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


@pytest.fixture(scope="session")
def client() -> Iterator[Any]:
    """A real ``distributed.LocalCluster`` of two worker processes (one thread each) and its
    client, started on first use and shared by the Dask tests of this pytest process (each
    xdist worker has its own); nothing is mocked. Skipped without the [dask] extra."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    cl = distributed.Client(cluster)
    try:
        yield cl
    finally:
        cl.close()
        cluster.close()
