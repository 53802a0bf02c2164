"""Resampling on a real Dask cluster gives the serial run's numbers, bit for bit.

A ``distributed.LocalCluster`` of two worker processes (one thread each), the ``client``
fixture of ``tests/conftest.py`` shared by the Dask tests, does the work; nothing is mocked.
Each estimator is run twice with the same seed: serially (no joblib context,
``n_jobs=None``) and inside ``joblib.parallel_config(backend="dask")``. The random numbers
are drawn in the calling process in the serial order and only the computations are shipped
(see ``impacteval/_parallel.py``), so the results must be *identical*
(``assert_array_equal``, no tolerance): the workers run the same numpy code on the same
inputs on this machine. A task stream recorded on the scheduler proves that the work did run
on the cluster's workers (as at least two tasks where the work has several chunks; joblib's
auto-batching may merge later chunks into one task, so the exact count is not asserted).

The data are small (2 cores on this machine): the module takes some seconds once the shared
cluster runs (starting it takes most of the first Dask test's time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.did._cs_numerics import bootstrap_draws
from impacteval.payments import Contract, design, payment_risk

distributed = pytest.importorskip("distributed")  # the [dask] extra; `make test` installs it
joblib = pytest.importorskip("joblib")


def on_cluster(client: Any, func: Callable[[], Any]) -> tuple[Any, int]:
    """``func()`` under the Dask joblib backend, and the number of tasks the workers ran."""
    with distributed.get_task_stream(client) as stream:
        with joblib.parallel_config(backend="dask"):
            out = func()
    return out, len(stream.data)


def rct_data(n: int = 60, seed: int = 3) -> pd.DataFrame:
    gen = np.random.default_rng(seed)
    block = np.repeat(np.arange(3), n // 3)
    z = np.concatenate([gen.permutation(np.arange(n // 3) % 2) for _ in range(3)])
    return pd.DataFrame({"y": gen.normal(size=n) + 0.4 * z + block, "z": z, "b": block})


def test_randomization_inference_drawn(client: Any) -> None:
    # 4,500 draws are three batches of at most 2,000: three tasks for the workers
    def fit() -> ie.EffectEstimate:
        return ie.rct.randomization_inference(
            rct_data(), outcome="y", treatment="z", blocks="b", n_permutations=4_500, rng=11,
            confidence_interval=True,
        )  # fmt: skip

    serial = fit()
    dist, n_tasks = on_cluster(client, fit)
    assert n_tasks >= 2  # on the workers (joblib may batch the later tasks together)
    assert not serial.details["exact"]
    np.testing.assert_array_equal(dist.details["distribution"], serial.details["distribution"])
    assert (dist.estimate, dist.p_value, dist.std_error) == (
        serial.estimate,
        serial.p_value,
        serial.std_error,
    )
    assert (dist.ci_lower, dist.ci_upper) == (serial.ci_lower, serial.ci_upper)
    # n_jobs=2 on the local (loky) backend: the same numbers again
    local = ie.rct.randomization_inference(
        rct_data(), outcome="y", treatment="z", blocks="b", n_permutations=4_500, rng=11,
        confidence_interval=True, n_jobs=2,
    )  # fmt: skip
    np.testing.assert_array_equal(local.details["distribution"], serial.details["distribution"])


def test_randomization_inference_exact(client: Any) -> None:
    data = rct_data(n=12)

    def fit() -> ie.EffectEstimate:
        return ie.rct.randomization_inference(data, outcome="y", treatment="z", rng=0)

    serial = fit()
    dist, n_tasks = on_cluster(client, fit)
    assert serial.details["exact"] and n_tasks >= 1
    np.testing.assert_array_equal(dist.details["distribution"], serial.details["distribution"])
    assert dist.p_value == serial.p_value


def test_multiplier_bootstrap_blocks(client: Any) -> None:
    # 20,000 rows: 5e6 // 20,000 = 250 draws per block, so 600 draws are three tasks
    inf = np.random.default_rng(5).normal(size=(20_000, 3))
    serial = bootstrap_draws(inf, None, None, 600, np.random.default_rng(9))
    dist, n_tasks = on_cluster(
        client, lambda: bootstrap_draws(inf, None, None, 600, np.random.default_rng(9))
    )
    assert n_tasks >= 2  # on the workers (joblib may batch the later tasks together)
    np.testing.assert_array_equal(dist, serial)


def test_att_gt_bootstrap(client: Any) -> None:
    mpdta = ie.datasets.load("mpdta")

    def fit() -> pd.DataFrame:
        res = ie.did.att_gt(
            mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first_treat",
            bootstrap=499, rng=4,
        )  # fmt: skip
        return res.to_frame()

    serial = fit()
    dist, n_tasks = on_cluster(client, fit)
    assert n_tasks >= 1
    pd.testing.assert_frame_equal(dist, serial, check_exact=True)


def test_payment_risk(client: Any) -> None:
    contract = Contract.from_toml(
        '[contract]\nname = "T"\ncurrency = "USD"\n[metrics.effect]\n[payments.pay]\n'
        'rule = "tiers"\nmetric = "effect"\ntiers = [{from = 0.1, amount = "1000"}]\n'
    )
    inputs = {"effect": {"estimate": 0.12, "std_error": 0.05}}

    def risk() -> Any:
        return payment_risk(
            contract, inputs, n_draws=600, rng=2, curve_points=(0.0, 1.0), curve_draws=300
        )

    serial = risk()
    dist, n_tasks = on_cluster(client, risk)
    assert n_tasks >= 2  # chunks of 250 draws (joblib may batch later ones together)
    assert (dist.p_pay_null, dist.p_fail_at_target, dist.expected_payment) == (
        serial.p_pay_null,
        serial.p_fail_at_target,
        serial.expected_payment,
    )
    pd.testing.assert_series_equal(dist.quantiles, serial.quantiles, check_exact=True)
    pd.testing.assert_frame_equal(dist.curve, serial.curve, check_exact=True)


def test_contract_design(client: Any) -> None:
    contract = Contract.from_toml(
        '[contract]\nname = "T"\ncurrency = "USD"\n[metrics.effect]\n[payments.pay]\n'
        'rule = "tiers"\nmetric = "effect"\n'
        'tiers = [{from = 0.1, amount = "1000"}, {from = 0.2, amount = "2500"}]\n'
    )

    def plan() -> Any:
        return design(
            contract, n=400, sd=1.0, targets={"effect": 0.25}, n_draws=600, rng=3,
            curve_points=(0.0, 1.0), curve_draws=300,
        )  # fmt: skip

    serial = plan()
    dist, n_tasks = on_cluster(client, plan)
    assert n_tasks >= 2  # chunks of 250 draws (joblib may batch later ones together)
    pd.testing.assert_frame_equal(dist.lines, serial.lines, check_exact=True)
    pd.testing.assert_frame_equal(dist.curve, serial.curve, check_exact=True)


def sc_panel(n: int = 7, t: int = 16, seed: int = 1) -> pd.DataFrame:
    gen = np.random.default_rng(seed)
    f = gen.normal(size=t).cumsum()
    load = gen.uniform(0.5, 1.5, size=n)
    y = f[None, :] * load[:, None] + gen.normal(scale=0.2, size=(n, t))
    y[0] = 0.5 * (y[1] + y[2]) + gen.normal(scale=0.05, size=t)  # inside the donors' hull
    y[0, 10:] += 1.0
    return pd.DataFrame(
        {
            "unit": np.repeat([f"u{i}" for i in range(n)], t),
            "time": np.tile(np.arange(2000, 2000 + t), n),
            "y": y.ravel(),
        }
    )


def test_synthetic_control_placebos(client: Any) -> None:
    def fit() -> tuple[pd.DataFrame, float]:
        res = ie.synth.synthetic_control(
            sc_panel(), outcome="y", unit="unit", time="time", treated_unit="u0",
            treatment_time=2010, n_starts=2,
        )  # fmt: skip
        test = res.placebo_test()
        return res.gaps.to_frame(), float(test.p_value)

    (gaps, p), n_tasks = on_cluster(client, fit)
    serial_gaps, serial_p = fit()
    assert n_tasks >= 2  # refits per donor (joblib may batch later ones together)
    pd.testing.assert_frame_equal(gaps, serial_gaps, check_exact=True)
    assert p == serial_p


# (the fixed-weights jackknife is closed-form and vectorised: no resampling loop to ship)
@pytest.mark.parametrize("se", ["placebo", "bootstrap"])
def test_synthetic_did_standard_errors(client: Any, se: str) -> None:
    gen = np.random.default_rng(0)
    n, t, n_tr, start = 10, 8, 2, 5
    d = (np.arange(n)[:, None] < n_tr) & (np.arange(t) >= start)
    data = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), t),
            "time": np.tile(np.arange(t), n),
            "y": gen.normal(size=n * t) + d.ravel(),
            "d": d.ravel().astype(int),
        }
    )

    def fit() -> ie.synth.SyntheticDiD:
        return ie.synth.synthetic_did(
            data, outcome="y", unit="unit", time="time", treatment="d", se=se, n_reps=40, rng=7
        )

    serial = fit()
    dist, n_tasks = on_cluster(client, fit)
    assert n_tasks >= 2  # 40 replications: chunks of at most 20
    assert (dist.estimate, dist.std_error, dist.ci_lower, dist.ci_upper) == (
        serial.estimate,
        serial.std_error,
        serial.ci_lower,
        serial.ci_upper,
    )


def test_romano_wolf_bootstrap(client: Any) -> None:
    gen = np.random.default_rng(0)
    data = pd.DataFrame(
        {"z": np.repeat([0, 1], 4), "y1": gen.normal(size=8), "y2": gen.normal(size=8)}
    )

    def fit() -> pd.DataFrame:
        return ie.rct.romano_wolf(
            data, outcomes=["y1", "y2"], treatment="z", n_bootstrap=200, rng=6
        )

    serial = fit()
    dist, n_tasks = on_cluster(client, fit)
    assert n_tasks >= 2  # chunks of 50 samples (joblib may batch later ones together)
    pd.testing.assert_frame_equal(dist, serial, check_exact=True)
    np.testing.assert_array_equal(dist.attrs["null_statistics"], serial.attrs["null_statistics"])
    assert dist.attrs["n_redraws"] == serial.attrs["n_redraws"]
