"""The no-covariate fast path of ``att_gt`` (cells from cohort sums) equals the cell loop.

``att_gt`` without covariates on a balanced panel computes every ATT(g, t) from per-cohort
sums and keeps the influence functions factored (``GroupedInfluence``); the general path
(``estimate_group_time``) fits each 2x2 cell on its own rows and stores the dense ``n x K``
influence matrix. The two must agree on every estimate and every influence-function entry.
Both are sums of the same numbers in a different order, so they agree to rounding error:
``rtol=1e-10`` (observed about 1e-14) with ``atol=1e-10`` for entries that are zero in one
path and rounding noise in the other. The published mpdta tests in ``test_att_gt.py`` check
the fast path against R ``did`` as well.
"""

from __future__ import annotations

import numpy as np
import pytest

from impacteval.did._cs_fast import GroupedInfluence, estimate_group_time_simple
from impacteval.did._cs_numerics import estimate_group_time
from impacteval.exceptions import DataValidationError

RTOL, ATOL = 1e-10, 1e-10


def panel(seed: int, n: int = 400, periods: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A wide panel with cohorts 3, 4, 5 (and 7 = treated after the data), never treated."""
    rng = np.random.default_rng(seed)
    cohort = rng.choice([3.0, 4.0, 5.0, 7.0, np.inf], size=n, p=[0.2, 0.2, 0.2, 0.1, 0.3])
    t = np.arange(1, periods + 1, dtype=float)
    y = rng.normal(size=(n, 1)) + 0.3 * t[None, :] + rng.normal(size=(n, periods))
    y += np.where(t[None, :] >= cohort[:, None], 1.0 + 0.2 * (t[None, :] - cohort[:, None]), 0)
    return y, cohort


@pytest.mark.parametrize(
    ("control_group", "base_period", "anticipation", "weighted"),
    [
        ("never_treated", "varying", 0.0, False),
        ("not_yet_treated", "varying", 0.0, True),
        ("never_treated", "universal", 0.0, True),
        ("not_yet_treated", "universal", 1.0, False),
    ],
)
def test_fast_path_equals_cell_loop(
    control_group: str, base_period: str, anticipation: float, weighted: bool
) -> None:
    y, cohort = panel(11)
    periods = np.arange(1.0, 7.0)
    groups = np.array([3.0, 4.0, 5.0])
    rng = np.random.default_rng(5)
    w = rng.uniform(0.5, 2.0, size=y.shape[0]) if weighted else np.ones(y.shape[0])
    w = w / w.mean()
    common = {
        "weights": w,
        "control_group": control_group,
        "base_period": base_period,
        "anticipation": anticipation,
    }
    slow = estimate_group_time(y, cohort, periods, groups, x=None, method="reg", **common)
    fast = estimate_group_time_simple(y, cohort, periods, groups, **common)
    for name in ("group", "time", "base", "n_treated", "n_control"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name), err_msg=name)
    np.testing.assert_allclose(fast.att, slow.att, rtol=RTOL, atol=ATOL)
    inf = fast.influence
    assert isinstance(inf, GroupedInfluence)
    dense = np.asarray(inf)
    assert dense.shape == slow.influence.shape == inf.shape
    np.testing.assert_allclose(dense, slow.influence, rtol=RTOL, atol=ATOL)
    # second moments and products without the dense matrix (column sums of squares first:
    # before gram() is cached they take their own route)
    np.testing.assert_allclose(inf.column_sq_sums(), (dense**2).sum(axis=0), rtol=RTOL, atol=1e-8)
    some = np.array([1, 2, 5])
    np.testing.assert_allclose(
        inf[:, some].column_sq_sums(), (dense[:, some] ** 2).sum(axis=0), rtol=RTOL, atol=1e-8
    )
    np.testing.assert_allclose(inf.gram(), dense.T @ dense, rtol=RTOL, atol=1e-8)
    np.testing.assert_allclose(inf.column_sq_sums(), np.diag(inf.gram()), rtol=1e-12)
    v = rng.normal(size=dense.shape[1])
    m = rng.normal(size=(dense.shape[1], 3))
    np.testing.assert_allclose(inf @ v, dense @ v, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(inf @ m, dense @ m, rtol=RTOL, atol=ATOL)
    cols = np.array([0, 4, 7])
    sub = inf[:, cols]
    np.testing.assert_allclose(np.asarray(sub), dense[:, cols], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(sub.gram(), dense[:, cols].T @ dense[:, cols], atol=1e-8)


def test_fast_path_names_the_cell_without_controls() -> None:
    y, cohort = panel(3)
    cohort = np.where(np.isinf(cohort), 7.0, cohort)  # no never-treated unit
    with pytest.raises(DataValidationError, match=r"cell \(g, t\) = \(3, 2\).*never treated"):
        estimate_group_time_simple(
            y,
            cohort,
            np.arange(1.0, 7.0),
            np.array([3.0, 4.0]),
            weights=np.ones(y.shape[0]),
            control_group="never_treated",
            base_period="varying",
            anticipation=0.0,
        )
