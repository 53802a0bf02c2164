"""Monte Carlo coverage of the synthetic control prediction intervals on a factor model.

Design (Cattaneo, Feng & Titiunik 2021, sec. 6 in spirit): 9 units, 24 periods (20 pre,
4 post), ``y_it = 10 + lambda_i' f_t + e_it`` with two AR(1) factors (coefficient 0.5) and
``e_it ~ N(0, 0.5^2)`` i.i.d.; the treated unit's loadings are a convex combination of
three donors' (0.5, 0.3, 0.2), so the synthetic control model holds, and there is no
effect: the treated outcome after 20 is ``Y(0)``. Each replication fits
``synthetic_control(predictors=())`` and computes 90% intervals (Gaussian out-of-sample
bound, ``n_sims=50``).

The paper's intervals are conservative: coverage of ``Y_1t(0)`` at least 0.90 for each
post period. With ``REPS = 80`` replications (seed 2026) and 4 post periods, the coverage
estimate pools 320 indicators; if coverage were exactly 0.90 its Monte Carlo standard
deviation would be at most sqrt(0.9 * 0.1 / 80) = 0.034 (even with the four periods of a
replication perfectly correlated), so the test asks for at least 0.90 - 3 * 0.034 = 0.80.
As a check that the test can fail, the out-of-sample part alone must cover less often than
the combined interval (it ignores the weights' estimation error).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import impacteval as ie

REPS = 80
SEED = 2026
N, T, T0 = 9, 24, 20


def _panel(rng: np.random.Generator) -> pd.DataFrame:
    f = np.zeros((T, 2))
    for s in range(1, T):
        f[s] = 0.5 * f[s - 1] + rng.normal(size=2)
    lam = rng.uniform(0.5, 2.0, (N, 2))
    lam[0] = 0.5 * lam[1] + 0.3 * lam[2] + 0.2 * lam[3]
    y = 10 + f @ lam.T + rng.normal(0, 0.5, (T, N))
    return pd.DataFrame(
        {"u": np.repeat(np.arange(N), T), "t": np.tile(np.arange(T), N), "y": y.T.ravel()}
    )


@pytest.mark.slow
def test_coverage_of_counterfactual() -> None:
    rng = np.random.default_rng(SEED)
    combined, outsample = [], []
    for _ in range(REPS):
        panel = _panel(rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convex-hull warnings in some draws
            fit = ie.synth.synthetic_control(
                panel,
                outcome="y",
                unit="u",
                time="t",
                treated_unit=0,
                treatment_time=T0,
                inference="none",
            )
        t = fit.prediction_intervals(level=0.90, n_sims=50, rng=rng).to_frame()
        y0 = t["treated"].to_numpy()
        combined.append((t["lower"] <= y0) & (y0 <= t["upper"]))
        outsample.append((t["outsample_lower"] <= y0) & (y0 <= t["outsample_upper"]))
    cover = float(np.mean(np.concatenate(combined)))
    cover_out = float(np.mean(np.concatenate(outsample)))
    print(f"coverage {cover:.3f}, out-of-sample only {cover_out:.3f}")
    assert cover >= 0.80, cover
    assert cover_out < cover, (cover_out, cover)
