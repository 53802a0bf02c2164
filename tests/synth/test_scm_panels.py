"""Small simulated panels for the synthetic-control tests.

Imported by the other test_control* modules; holds no tests itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def factor_panel(
    *,
    n_donors: int = 10,
    n_periods: int = 20,
    treat_at: int = 15,
    effect: float = 2.0,
    seed: int = 0,
    mix: tuple[float, ...] = (0.5, 0.3, 0.2),
    noise: float = 0.05,
) -> pd.DataFrame:
    """Donors follow a two-factor model; the treated unit ``"T"`` is the convex ``mix`` of
    the first donors plus ``effect`` from ``treat_at`` on. Also a covariate ``x`` (a noisy
    unit-level constant) and ``z`` (time-varying)."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n_periods, 2)).cumsum(axis=0) + 10.0
    load = rng.uniform(0.2, 2.0, size=(n_donors, 2))
    y0 = f @ load.T + rng.normal(scale=noise, size=(n_periods, n_donors))
    x0 = rng.normal(size=n_donors)
    z0 = rng.normal(size=(n_periods, n_donors))
    m = np.zeros(n_donors)
    m[: len(mix)] = mix
    y1 = y0 @ m + effect * (np.arange(n_periods) >= treat_at)
    rows = []
    for t in range(n_periods):
        for j in range(n_donors):
            rows.append((f"D{j:02d}", t, y0[t, j], x0[j], z0[t, j]))
        rows.append(("T", t, y1[t], x0 @ m, z0[t] @ m))
    return pd.DataFrame(rows, columns=["unit", "t", "y", "x", "z"])
