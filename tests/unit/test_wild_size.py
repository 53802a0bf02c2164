"""Monte Carlo size of the wild cluster bootstrap with few clusters (G = 10).

Design (seed 20261205, N_SIMS = 1,500 data sets): 10 clusters of unequal sizes 20, 25, ...,
65; the regressor has a cluster-level component (intra-cluster correlation 0.8) and so do
the errors (cluster effect variance 1, idiosyncratic variance 1); the tested slope is 0
(the null is true). Each data set is tested at level 0.05 by WCR with Rademacher weights
(all 2^10 = 1024 sign vectors, so the only randomness is the data) and by the CR1 t test
with t(G - 1) critical values.

Why the tolerances hold. The rejection rate of a test of true size 0.05 over 1,500
independent data sets has Monte Carlo SE sqrt(0.05 * 0.95 / 1500) = 0.0056; the band
0.05 +- 0.02 is 3.6 SE wide on each side. In a 3,000-replication pilot of this design CR1
rejected 11.5% (SE 0.006), WCR 5.2%: CR1 >= 0.08 leaves more than 4 SE of room for the
1,500-draw estimate, and a correct CR1 (5%) would fail it by more than 5 SE. This is the
pattern of Cameron, Gelbach & Miller (2008, Table 3) and MacKinnon & Webb (2017).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from impacteval.inference import wild_cluster_bootstrap

N_SIMS = 1_500
G = 10


@pytest.mark.slow
def test_wcr_has_size_near_five_percent_while_cr1_over_rejects() -> None:
    rng = np.random.default_rng(20261205)
    cl = np.repeat(np.arange(G), np.arange(20, 70, 5))
    n = cl.size
    reject_wcr = reject_cr1 = 0
    for _ in range(N_SIMS):
        x = rng.normal(size=G)[cl] + 0.5 * rng.normal(size=n)
        y = 1.0 + rng.normal(size=G)[cl] + rng.normal(size=n)  # slope 0: the null holds
        design = np.column_stack([np.ones(n), x])
        res = wild_cluster_bootstrap(design, y, cl, coef=1, B=9999)
        assert res.enumerated and res.n_draws == 2**G
        reject_wcr += res.p_value <= 0.05
        reject_cr1 += 2.0 * stats.t.sf(abs(res.t_stat), G - 1) <= 0.05
    rate_wcr, rate_cr1 = reject_wcr / N_SIMS, reject_cr1 / N_SIMS
    assert abs(rate_wcr - 0.05) <= 0.02, rate_wcr
    assert rate_cr1 >= 0.08, rate_cr1
    assert rate_cr1 - rate_wcr >= 0.03, (rate_cr1, rate_wcr)
