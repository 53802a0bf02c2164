"""The resampling loops moved onto joblib tasks still use the random streams of the serial
loops they replaced, so seeded results did not change.

Each test re-implements the former one-by-one loop here (drawing from one Generator in the
same order) and compares it with the estimator. The random draws must agree exactly; where
the statistic is recomputed here by a different formula, the comparison allows 1e-12
relative (rounding of a sum of a few hundred terms, far below any difference a changed draw
would make, which is of the order of the statistic's spread).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import impacteval as ie
from impacteval.did._cs_numerics import bootstrap_draws
from impacteval.rct.romano_wolf import _design, _draw, _fit_all, romano_wolf


def test_randomization_draws_follow_the_serial_stream() -> None:
    gen = np.random.default_rng(8)
    n = 40
    block = np.repeat([0, 1], n // 2)
    z = np.concatenate([gen.permutation(np.arange(n // 2) % 2) for _ in range(2)])
    y = gen.normal(size=n) + z
    data = pd.DataFrame({"y": y, "z": z, "b": block})
    n_perm = 2_500  # two batches of at most 2,000 assignments
    res = ie.rct.randomization_inference(
        data, outcome="y", treatment="z", blocks="b", n_permutations=n_perm, rng=21
    )
    # the former loop: per batch, per block, uniform keys; the permutation is their argsort
    stream = np.random.default_rng(21)
    expected = []
    for k in (2_000, 500):
        assign = np.empty((k, n))
        for b in (0, 1):
            idx = np.flatnonzero(block == b)
            keys = stream.random((k, idx.size))
            assign[:, idx] = z[idx][np.argsort(keys, axis=1)]
        for a in assign:
            diffs = [
                y[(block == b) & (a == 1)].mean() - y[(block == b) & (a == 0)].mean()
                for b in (0, 1)
            ]
            expected.append(0.5 * diffs[0] + 0.5 * diffs[1])  # equal block sizes
    np.testing.assert_allclose(res.details["distribution"], expected, rtol=1e-12, atol=1e-14)


def test_multiplier_bootstrap_follows_the_serial_stream() -> None:
    inf = np.random.default_rng(2).normal(size=(12_500, 2))  # blocks of 400 draws
    got = bootstrap_draws(inf, None, None, 1_000, np.random.default_rng(3))
    stream = np.random.default_rng(3)
    parts = []
    for b in (400, 400, 200):
        u = stream.integers(0, 2, size=(b, inf.shape[0]), dtype=np.int8).astype(float) * 2 - 1
        parts.append(u @ inf)
    np.testing.assert_allclose(got, np.vstack(parts) / np.sqrt(inf.shape[0]), rtol=1e-12)


def test_romano_wolf_draws_follow_the_one_by_one_loop() -> None:
    # six units: about 3% of pairs-bootstrap samples leave an arm empty and are redrawn
    gen = np.random.default_rng(0)
    n = 6
    data = pd.DataFrame(
        {"z": np.repeat([0, 1], n // 2), "y1": gen.normal(size=n), "y2": gen.normal(size=n)}
    )
    n_boot = 300
    res = romano_wolf(data, outcomes=["y1", "y2"], treatment="z", n_bootstrap=n_boot, rng=5)
    assert res.attrs["n_redraws"] > 0
    parallel = romano_wolf(
        data, outcomes=["y1", "y2"], treatment="z", n_bootstrap=n_boot, rng=5, n_jobs=2
    )
    pd.testing.assert_frame_equal(parallel, res, check_exact=True)
    np.testing.assert_array_equal(parallel.attrs["null_statistics"], res.attrs["null_statistics"])
    # the former loop: draw, refit, keep or redraw, one sample at a time
    z, ys = data["z"].to_numpy(float), data[["y1", "y2"]].to_numpy()
    est = res["estimate"].to_numpy()
    stream = np.random.default_rng(5)
    null, redraws = [], 0
    while len(null) < n_boot:
        rows, codes = _draw(stream, n, [])
        eb, sb = _fit_all(_design(z[rows], np.zeros((n, 0)), "lin"), ys[rows], "HC2", codes)
        if np.all(np.isfinite(sb) & (sb > 0)):
            null.append(np.abs(eb - est) / sb)
        else:
            redraws += 1
    assert redraws == res.attrs["n_redraws"]
    np.testing.assert_array_equal(res.attrs["null_statistics"], np.array(null))
