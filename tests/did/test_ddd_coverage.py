"""Monte Carlo coverage of the influence-function 95% intervals of the triple difference.

The peers' SEs differ from ours by conventions (see test_ddd_reference.py), notably for
cells that combine several comparison cohorts by GMM, so coverage is checked directly.
The numerics are called on arrays (no pandas round trip) to keep the test fast.

Two-period design (seed 20260501, 1,000 draws of 600 units): covariate ``x ~ N(0, 1)``;
enabled group and eligibility both depend on ``x`` (logits ``0.5 x`` and ``-0.3 + 0.4 x``);
the outcome change has a group effect, an eligibility effect whose slope in ``x`` makes
the trends of eligible and ineligible units differ with ``x``, heteroskedastic noise, and
a heterogeneous effect ``1 + N(0, 0.5^2)`` for enabled eligible units, so the true ATT is 1.
DDD conditional parallel trends hold; the doubly robust DDD with ``x`` is consistent.
Monte Carlo SE of a coverage near 0.95 with 1,000 draws is 0.0069; the band 0.925-0.975
is 3.6 MC SEs each side.

Staggered design (seed 20260502, 300 draws of 600 units, periods 1..4): cohorts 3, 4 and
never enabled (probabilities depend on ``x``), cohort-specific linear trends, an
eligibility trend ``(0.5 + 0.5 x) t``, effect ``1 + 0.5 (t - g)`` on enabled eligible
units. With not-yet-treated comparisons and a varying base, cell (3, 3) combines cohorts 4
and never by GMM (as do the pre-treatment cells (3, 2) and (4, 2)).
Coverage is pooled over the post-treatment cells and reported for the GMM cell alone;
MC SE of one coverage with 300 draws is 0.0126, band 0.91-0.99 (3.2 MC SEs).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from impacteval.did.ddd_numerics import PanelArrays, ddd_group_time, ddd_two_period

Z = 1.959963984540054


@pytest.mark.slow
def test_two_period_dr_coverage() -> None:
    rng = np.random.default_rng(20260501)
    n, hits = 600, 0
    for _ in range(1000):
        x = rng.normal(size=n)
        s = rng.random(n) < special.expit(0.5 * x)
        q = rng.random(n) < special.expit(-0.3 + 0.4 * x)
        noise = rng.normal(size=n) * (0.7 + 0.3 * np.abs(x))
        tau = 1.0 + rng.normal(0.0, 0.5, n)
        dy = 0.4 * s + (0.5 + 0.8 * x) * q + 0.3 * x + noise + tau * (s & q)
        xx = np.column_stack([np.ones(n), x])
        res = ddd_two_period(dy, s, q, xx, np.ones(n), "dr")
        se = np.sqrt(np.sum(res.influence**2)) / n
        hits += abs(res.att - 1.0) <= Z * se
    assert 0.925 <= hits / 1000 <= 0.975


def _staggered(rng: np.random.Generator, n: int) -> PanelArrays:
    periods = np.arange(1.0, 5.0)
    x = rng.normal(size=n)
    u = rng.random(n)
    p3 = special.expit(-0.8 + 0.4 * x)
    cohort = np.where(u < p3, 3.0, np.where(u < p3 + 0.3, 4.0, np.inf))
    q = rng.random(n) < special.expit(0.3 * x)
    trend = np.select([cohort == 3, cohort == 4], [0.5, -0.3], 0.0)
    t = periods[None, :]
    on = (t >= cohort[:, None]) & q[:, None]
    effect = np.where(on, 1.0 + 0.5 * (t - cohort[:, None]), 0.0)
    y = (
        x[:, None]
        + trend[:, None] * t
        + ((0.5 + 0.5 * x) * q)[:, None] * t
        + effect
        + rng.normal(size=(n, periods.size))
    )
    return PanelArrays(y=y, cohort=cohort, eligible=q, x=x[:, None, None].repeat(4, 1),
                       w=np.ones(n), periods=periods)  # fmt: skip


@pytest.mark.slow
def test_staggered_not_yet_treated_gmm_coverage() -> None:
    rng = np.random.default_rng(20260502)
    n, draws = 600, 300
    post_hits = post_cells = gmm_hits = 0
    for _ in range(draws):
        data = _staggered(rng, n)
        fit, counts = ddd_group_time(
            data, method="dr", control_group="not_yet_treated", base_period="varying"
        )
        assert counts["cells_gmm"] == 3  # (3, 2), (4, 2) and (3, 3)
        se = np.sqrt(np.sum(fit.influence**2, axis=0)) / n
        post = fit.time >= fit.group
        truth = np.where(post, 1.0 + 0.5 * (fit.time - fit.group), 0.0)
        hit = np.abs(fit.att - truth) <= Z * se
        post_hits += int(hit[post].sum())
        post_cells += int(post.sum())
        gmm_hits += int(hit[(fit.group == 3) & (fit.time == 3)][0])
    assert 0.91 <= gmm_hits / draws <= 0.99
    assert 0.91 <= post_hits / post_cells <= 0.99
