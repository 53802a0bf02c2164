"""The local searches of the V choice: the hand-written Nelder-Mead and the BFGS whose
forward differences are computed outside scipy.

Both are meant to be scipy's algorithms with less overhead, so they are checked against
scipy itself: the same points evaluated, in the same order, and the same result, bit for
bit (the comparison is exact; no tolerance). The stall stop is the Nelder-Mead's only
change, checked for what it may and may not do.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import optimize

import impacteval.synth._scm_numerics as num
from impacteval.synth._scm_vsearch import STALL_RTOL, bfgs_forward_difference, nelder_mead


def _rosen(x: np.ndarray) -> float:
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def _kinked(x: np.ndarray) -> float:
    """Piecewise smooth, with ties: a V-search-like objective (flat in a region)."""
    return float(np.maximum(np.sum((x - 0.3) ** 2), 0.05) + 0.1 * np.abs(x[0] - x[-1]))


def _recorder(f: Callable[[np.ndarray], float]) -> tuple[Callable[[np.ndarray], float], list]:
    points: list[np.ndarray] = []

    def g(x: np.ndarray) -> float:
        points.append(np.array(x, copy=True))
        return f(x)

    return g, points


CASES = [
    (_rosen, np.array([-1.2, 1.0, 0.5, -0.3, 0.8]), True),
    (_rosen, np.array([-1.2, 1.0, 0.0]), False),
    (_kinked, np.array([0.9, 0.0, 0.2, 0.7, 0.1, 0.4, 0.6]), True),
    (_kinked, np.array([1.0, 2.0]), False),
]


@pytest.mark.parametrize(("f", "x0", "adaptive"), CASES)
def test_nelder_mead_without_stall_is_scipys(
    f: Callable[[np.ndarray], float], x0: np.ndarray, adaptive: bool
) -> None:
    g1, p1 = _recorder(f)
    g2, p2 = _recorder(f)
    opts = {"maxiter": 300 * x0.shape[0], "xatol": 1e-4, "fatol": 1e-6, "adaptive": adaptive}
    ref = optimize.minimize(g1, x0, method="Nelder-Mead", options=opts)
    ours = nelder_mead(g2, x0, stall=None, **opts)  # type: ignore[arg-type]
    assert len(p1) == len(p2)
    assert all(np.array_equal(a, b) for a, b in zip(p1, p2, strict=True))
    assert np.array_equal(ours.x, ref.x)
    assert ours.fun == ref.fun
    assert ours.nit == ref.nit
    assert ours.status == ("converged" if ref.status == 0 else "maxiter")


def _gaps(f: Callable[[np.ndarray], float], x0: np.ndarray, adaptive: bool) -> int:
    """Longest run of scipy's iterations without a relative gain above STALL_RTOL of the
    best value (starting from the best vertex of scipy's initial simplex)."""
    best: list[float] = []

    def callback(intermediate_result: optimize.OptimizeResult) -> None:
        best.append(float(intermediate_result.fun))

    opts = {"maxiter": 300 * x0.shape[0], "xatol": 1e-4, "fatol": 1e-6, "adaptive": adaptive}
    optimize.minimize(f, x0, method="Nelder-Mead", options=opts, callback=callback)
    vertices = [x0] + [
        np.where(np.arange(x0.shape[0]) == i, 1.05 * x0 if x0[i] != 0 else 0.00025, x0)
        for i in range(x0.shape[0])
    ]
    ref = min(f(v) for v in vertices)
    longest, quiet = 0, 0
    for b in best:
        if b < ref - STALL_RTOL * abs(ref):
            ref, quiet = b, 0
        else:
            quiet += 1
            longest = max(longest, quiet)
    return longest


@pytest.mark.parametrize(("f", "x0", "adaptive"), CASES)
def test_stall_stop_cannot_stop_a_run_that_keeps_improving(
    f: Callable[[np.ndarray], float], x0: np.ndarray, adaptive: bool
) -> None:
    # a window longer than the run's longest pause leaves the run exactly as it was
    opts = {"maxiter": 300 * x0.shape[0], "xatol": 1e-4, "fatol": 1e-6, "adaptive": adaptive}
    full = nelder_mead(f, x0, stall=None, **opts)  # type: ignore[arg-type]
    window = _gaps(f, x0, adaptive) + 1
    held = nelder_mead(f, x0, stall=window, **opts)  # type: ignore[arg-type]
    assert held.status != "stalled"
    assert np.array_equal(held.x, full.x)
    assert held.fun == full.fun
    assert held.nit == full.nit
    # and the window is tight: one iteration shorter, the run's longest pause stops it
    assert window > 2
    assert nelder_mead(f, x0, stall=window - 1, **opts).status == "stalled"  # type: ignore[arg-type]


def test_stall_stop_ends_a_run_on_a_plateau_with_its_best_point() -> None:
    def plateau(x: np.ndarray) -> float:
        return float(max(np.sum(x * x), 1.0))

    x0 = np.array([0.1, 0.2, 0.3])
    opts = {"maxiter": 900, "xatol": 1e-12, "fatol": 0.0, "adaptive": False}
    full = nelder_mead(plateau, x0, stall=None, **opts)  # type: ignore[arg-type]
    held = nelder_mead(plateau, x0, stall=10, **opts)  # type: ignore[arg-type]
    assert full.nit > 11  # without the rule, the run spends iterations on the plateau
    assert held.status == "stalled"
    assert held.nit == 11  # iteration 1 is the initial simplex; 10 without gain follow
    assert held.fun == 1.0


@pytest.mark.parametrize(
    ("f", "x0"), [(_rosen, np.array([-1.2, 1.0, 0.5])), (_kinked, np.array([0.9, 0.0, 0.2]))]
)
def test_bfgs_forward_difference_is_scipys(
    f: Callable[[np.ndarray], float], x0: np.ndarray
) -> None:
    g1, p1 = _recorder(f)
    g2, p2 = _recorder(f)
    ref = optimize.minimize(g1, x0, method="BFGS", options={"maxiter": 50, "gtol": 1e-9})
    x, val = bfgs_forward_difference(g2, x0, maxiter=50, gtol=1e-9)
    assert len(p1) == len(p2)
    assert all(np.array_equal(a, b) for a, b in zip(p1, p2, strict=True))
    assert np.array_equal(x, ref.x)
    assert val == ref.fun


PROP99_PREDICTORS = [
    ("lnincome", range(1980, 1989)),
    ("age15to24", range(1980, 1989)),
    ("retprice", range(1980, 1989)),
    ("beer", range(1984, 1989)),
    ("cigsale", 1975),
    ("cigsale", 1980),
    ("cigsale", 1988),
]


@pytest.mark.parametrize("state", ["Kansas", "Maine"])
def test_stall_stop_keeps_the_v_search_result(state: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prop 99's Kansas and Maine placebo fits (ADH's predictors), where the stall stop
    saves more than half of the W solves: V, W and the loss are those of the search without
    the rule, bit for bit (so on all 240 benchmark fits; see benchmarks/RESULTS_synth.md)."""
    import impacteval as ie
    import impacteval.synth._scm_core as core

    smoking = ie.datasets.load("smoking")
    smoking = smoking[smoking.state != "California"]
    inputs: list[tuple[np.ndarray, ...]] = []
    real_fit_v = core.fit_v

    def spy(x1: np.ndarray, x0: np.ndarray, z1: np.ndarray, z0: np.ndarray, **kw: int) -> object:
        inputs.append((x1, x0, z1, z0))
        return real_fit_v(x1, x0, z1, z0, **kw)

    monkeypatch.setattr(core, "fit_v", spy)
    ie.synth.synthetic_control(
        smoking,
        outcome="cigsale",
        unit="state",
        time="year",
        treated_unit=state,
        treatment_time=1989,
        predictors=PROP99_PREDICTORS,
        inference="none",
    )
    ((x1, x0, z1, z0),) = inputs
    held = num.fit_v(x1, x0, z1, z0)
    monkeypatch.setattr(num, "STALL_PER_K", 10**9)
    full = num.fit_v(x1, x0, z1, z0)
    assert held.n_solves < 0.6 * full.n_solves
    assert held.loss == full.loss
    assert np.array_equal(held.v, full.v)
    assert np.array_equal(held.w, full.w)
