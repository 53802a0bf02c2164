"""Monte Carlo coverage of the prediction intervals for several treated units (staggered
adoption) on a factor model.

Design: 8 never-treated donors and 3 treated units, 20 periods, ``y_it = 10 + lambda_i' f_t
+ e_it`` with two AR(1) factors (coefficient 0.5) and ``e_it ~ N(0, 0.5^2)`` i.i.d.; each
treated unit's loadings are a Dirichlet mix of three random donors' loadings, so each
synthetic control model holds, and there is no effect: the treated outcomes after adoption
are ``Y(0)``. The treated units adopt at periods 18, 18 and 19 (2, 2 and 1 post periods: 5
unit-time rows per replication). Each replication fits ``synthetic_control_multi(...,
effect="unit-time")`` and computes 90% intervals (Gaussian out-of-sample bound,
``n_sims=50``). Run time about 30 s on a loaded two-core machine, hence the small design.

The intervals are conservative by construction: coverage of each ``Y_it(0)`` at least 0.90.
With ``REPS = 24`` replications (seed 2027) the coverage estimate pools 120 indicators; if
coverage were exactly 0.90 its Monte Carlo standard deviation would be at most
sqrt(0.9 * 0.1 / 24) = 0.061 (even with the five rows of a replication perfectly
correlated), so the test asks for at least 0.90 - 3 * 0.061 = 0.72. As a check that the test
can fail, the out-of-sample part alone (which ignores the weights' estimation error) must
cover less often than the combined interval (observed while writing the test on 30
replications: 0.89 combined, 0.66 out-of-sample alone).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import impacteval as ie

REPS = 24
SEED = 2027
N_DONORS, T = 8, 20
ADOPTION = (18, 18, 19)


def _panel(rng: np.random.Generator) -> pd.DataFrame:
    f = np.zeros((T, 2))
    for s in range(1, T):
        f[s] = 0.5 * f[s - 1] + rng.normal(size=2)
    lam = rng.uniform(0.5, 2.0, (N_DONORS, 2))
    y0 = 10 + f @ lam.T + rng.normal(0, 0.5, (T, N_DONORS))
    rows = [(f"d{j}", t, y0[t, j], 0) for j in range(N_DONORS) for t in range(T)]
    for k, t0 in enumerate(ADOPTION):
        mix = rng.dirichlet(np.ones(3))
        pick = rng.choice(N_DONORS, 3, replace=False)
        y = 10 + f @ (mix @ lam[pick]) + rng.normal(0, 0.5, T)
        rows += [(f"t{k}", t, y[t], int(t >= t0)) for t in range(T)]
    return pd.DataFrame(rows, columns=["u", "t", "y", "d"])


@pytest.mark.slow
def test_coverage_of_counterfactuals() -> None:
    rng = np.random.default_rng(SEED)
    combined, outsample = [], []
    for _ in range(REPS):
        panel = _panel(rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pre-fit warnings in some draws
            fit = ie.synth.synthetic_control_multi(
                panel, outcome="y", unit="u", time="t", treatment="d", effect="unit-time"
            )
        t = fit.prediction_intervals(level=0.90, n_sims=50, rng=rng).to_frame()
        y0 = t["treated"].to_numpy()
        combined.append((t["lower"] <= y0) & (y0 <= t["upper"]))
        outsample.append((t["outsample_lower"] <= y0) & (y0 <= t["outsample_upper"]))
    cover = float(np.mean(np.concatenate(combined)))
    cover_out = float(np.mean(np.concatenate(outsample)))
    print(f"coverage {cover:.3f}, out-of-sample only {cover_out:.3f}")
    assert cover >= 0.72, cover
    assert cover_out < cover, (cover_out, cover)
