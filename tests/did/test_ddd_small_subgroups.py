"""``ie.did.ddd`` warns when a subgroup a cell uses is small (issue #15 follow-up).

``att_gt`` (as R ``did``) warns for a cohort of fewer than ``len(covariates) + 5`` units;
``ddd``'s influence-function SE rests on four subgroups per cell, so it warns, with the
same threshold, when any of them is that small (units for panels, rows in each of the
cell's two periods for repeated cross-sections), naming the subgroup, its role and count.
It only warns: the estimate is unchanged. The data are built here with chosen subgroup
sizes, so each test knows which subgroup should be named.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import SmallSampleWarning

KW: dict[str, Any] = {"outcome": "y", "unit": "id", "time": "t", "cohort": "s", "partition": "q"}
NEVER_INELIGIBLE = "never enabled & ineligible (ineligible comparison)"


def _panel(sizes: dict[tuple[int, int], int], periods: int = 2, seed: int = 0) -> pd.DataFrame:
    """Balanced panel with ``sizes[(cohort, eligible)]`` units per subgroup (0 = never)."""
    rng = np.random.default_rng(seed)
    s = np.concatenate([np.full(k, c) for (c, _), k in sizes.items()])
    q = np.concatenate([np.full(k, e) for (_, e), k in sizes.items()])
    n = s.size
    t = np.arange(1, periods + 1)
    treated = (s[:, None] > 0) & (t[None, :] >= s[:, None]) & (q[:, None] == 1)
    y = q[:, None] * t[None, :] + 1.0 * treated + rng.normal(size=(n, periods))
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), periods),
            "t": np.tile(t, n),
            "s": np.repeat(s, periods),
            "q": np.repeat(q, periods),
            "x": rng.normal(size=n * periods),
            "y": y.ravel(),
        }
    )


def _small_messages(res: ie.did.TripleDifferenceEffects) -> list[str]:
    return [m for m in res.warnings if "small subgroups" in m]


def test_panel_four_unit_subgroup_warns_names_it_and_is_recorded() -> None:
    df = _panel({(2, 1): 12, (2, 0): 10, (0, 1): 11, (0, 0): 4})
    with pytest.warns(SmallSampleWarning, match="small subgroups") as record:
        res = ie.did.ddd(df, **KW)
    message = _small_messages(res)
    assert len(message) == 1
    assert f"{NEVER_INELIGIBLE}: 4" in message[0]
    assert "units per subgroup" in message[0] and "fewer than 5" in message[0]
    for other in ("(treated)", "(enabled ineligible)", "(eligible comparison)"):
        assert other not in message[0]  # the subgroups of 10-12 units are not named
    # attributed to the caller's line (this file), not to impacteval's internals
    small = [w for w in record if issubclass(w.category, SmallSampleWarning)]
    assert small[0].filename == __file__
    # it only warns: the estimate is the one computed with warnings silenced
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        again = ie.did.ddd(df, **KW)
    assert res.overall is not None and again.overall is not None
    assert res.overall.estimate == again.overall.estimate


def test_panel_names_every_small_subgroup_with_its_count() -> None:
    df = _panel({(2, 1): 3, (2, 0): 10, (0, 1): 11, (0, 0): 4})
    with pytest.warns(SmallSampleWarning):
        res = ie.did.ddd(df, **KW)
    (message,) = _small_messages(res)
    assert "cohort 2 & eligible (treated): 3" in message
    assert f"{NEVER_INELIGIBLE}: 4" in message


def test_panel_no_warning_when_every_subgroup_has_five() -> None:
    df = _panel({(2, 1): 5, (2, 0): 5, (0, 1): 5, (0, 0): 5})
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        res = ie.did.ddd(df, **KW)
    assert not [w for w in record if issubclass(w.category, SmallSampleWarning)]
    assert _small_messages(res) == []


def test_threshold_grows_with_covariates_as_att_gt() -> None:
    df = _panel({(2, 1): 12, (2, 0): 10, (0, 1): 11, (0, 0): 5})
    with pytest.warns(SmallSampleWarning, match="fewer than 6"):
        res = ie.did.ddd(df, **KW, covariates=["x"], method="reg")
    assert f"{NEVER_INELIGIBLE}: 5" in _small_messages(res)[0]


@pytest.mark.parametrize(
    ("control_group", "roles"),
    [
        ("never_treated", "(enabled ineligible)"),
        ("not_yet_treated", "(enabled ineligible and ineligible comparison)"),
    ],
)
def test_staggered_roles_follow_the_cells(control_group: str, roles: str) -> None:
    """Cohort 3's ineligible units are the enabled-ineligible subgroup of cohort 3's cells
    and, with not-yet-treated comparisons, also a comparison subgroup of cohort 2's cell
    (2, 2) (cohort 3 is enabled after period 2)."""
    sizes = {(2, 1): 10, (2, 0): 10, (3, 1): 10, (3, 0): 4, (0, 1): 10, (0, 0): 10}
    df = _panel(sizes, periods=3)
    with pytest.warns(SmallSampleWarning):
        res = ie.did.ddd(df, **KW, control_group=control_group)
    (message,) = _small_messages(res)
    assert f"cohort 3 & ineligible {roles}: 4" in message


def _rcs(sizes: dict[tuple[int, int, int], int], seed: int = 1) -> pd.DataFrame:
    """Repeated cross-sections with ``sizes[(period, cohort, eligible)]`` rows."""
    rng = np.random.default_rng(seed)
    keys = list(sizes)
    t, s, q = (np.concatenate([np.full(sizes[k], k[i]) for k in keys]) for i in range(3))
    y = q * t + 1.0 * ((s > 0) & (t >= s) & (q == 1)) + rng.normal(size=t.size)
    return pd.DataFrame({"t": t, "s": s, "q": q, "y": y})


RC_KW = {"outcome": "y", "time": "t", "cohort": "s", "partition": "q", "panel": False}


def test_cross_sections_count_rows_per_period() -> None:
    """The never-enabled ineligible subgroup has 4 rows in period 2 (9 in period 1, 13 in
    all): the outcome models of period 2 rest on 4 rows, so it is named with 4."""
    sizes = {(p, c, e): 9 for p in (1, 2) for c in (0, 2) for e in (0, 1)}
    sizes[(2, 0, 0)] = 4
    with pytest.warns(SmallSampleWarning, match="small subgroups") as record:
        res = ie.did.ddd(_rcs(sizes), **RC_KW)
    (message,) = _small_messages(res)
    assert "observations per subgroup in a cell's period" in message
    assert f"{NEVER_INELIGIBLE}: 4" in message
    assert "treated)" not in message
    small = [w for w in record if issubclass(w.category, SmallSampleWarning)]
    assert small[0].filename == __file__


def test_cross_sections_no_warning_with_five_rows_per_period() -> None:
    sizes = {(p, c, e): 5 for p in (1, 2) for c in (0, 2) for e in (0, 1)}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        res = ie.did.ddd(_rcs(sizes), **RC_KW)
    assert not [w for w in record if issubclass(w.category, SmallSampleWarning)]
    assert _small_messages(res) == []
