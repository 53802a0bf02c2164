"""Fisher randomisation inference for (blocked, clustered) randomised trials."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np
import pandas as pd

from impacteval._parallel import one_blas_thread, run_tasks
from impacteval._validation import (
    check_binary,
    check_level,
    check_n_jobs,
    check_positive_int,
    check_rng,
    group_codes,
    prepare,
)
from impacteval.exceptions import DataValidationError
from impacteval.results import EffectEstimate, Provenance, fingerprint

__all__ = ["randomization_inference"]

_BATCH = 2_000  # assignments evaluated per vectorised batch (memory: batch x units floats)


def assignment_units(
    z: np.ndarray, clusters: np.ndarray | None, blocks: np.ndarray | None, column: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map rows to the units that are randomised (clusters, or rows), with their blocks.

    Returns (unit index per row, treatment per unit, block code per unit).
    """
    n = z.shape[0]
    if clusters is None:
        unit = np.arange(n)
    else:
        unit = clusters
        zmin = np.full(unit.max() + 1, np.inf)
        zmax = np.full(unit.max() + 1, -np.inf)
        np.minimum.at(zmin, unit, z)
        np.maximum.at(zmax, unit, z)
        if np.any(zmin != zmax):
            raise DataValidationError(
                f"`cluster`: treatment varies within {int((zmin != zmax).sum())} cluster(s) "
                f"of column {column!r}; in a cluster-randomised design every unit of a cluster "
                "has the same assignment"
            )
    n_units = int(unit.max()) + 1
    z_unit = np.zeros(n_units)
    z_unit[unit] = z
    b_unit = np.zeros(n_units, dtype=np.intp)
    if blocks is not None:
        b_unit[unit] = blocks
        if clusters is not None:
            bmin = np.full(n_units, np.iinfo(np.intp).max)
            bmax = np.full(n_units, -1)
            np.minimum.at(bmin, unit, blocks)
            np.maximum.at(bmax, unit, blocks)
            if np.any(bmin != bmax):
                raise DataValidationError(
                    "`blocks`: clusters must be nested in blocks; some cluster spans blocks"
                )
    return unit, z_unit, b_unit


class _Statistic:
    """Block-size-weighted difference in means as a function of a unit-level assignment."""

    def __init__(self, y: np.ndarray, unit: np.ndarray, b_unit: np.ndarray) -> None:
        n_units = b_unit.shape[0]
        self.y_sum = np.bincount(unit, weights=y, minlength=n_units)
        self.n = np.bincount(unit, minlength=n_units).astype(float)
        self.b_unit = b_unit
        self.n_blocks = int(b_unit.max()) + 1
        self.block_onehot = np.zeros((n_units, self.n_blocks))
        self.block_onehot[np.arange(n_units), b_unit] = 1.0
        self.block_n = self.n @ self.block_onehot
        self.block_y = self.y_sum @ self.block_onehot
        self.share = self.block_n / self.block_n.sum()

    def __call__(self, assign: np.ndarray, y_sum: np.ndarray | None = None) -> np.ndarray:
        """Statistic for each row of ``assign`` (k x units); ``y_sum`` overrides outcomes."""
        ys = self.y_sum if y_sum is None else y_sum
        yb = ys @ self.block_onehot
        s1 = (assign * ys) @ self.block_onehot
        n1 = (assign * self.n) @ self.block_onehot
        n0 = self.block_n - n1
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = s1 / n1 - (yb - s1) / n0
        return np.asarray(diff @ self.share)


def _n_assignments(z_unit: np.ndarray, b_unit: np.ndarray) -> int:
    total = 1
    for b in np.unique(b_unit):
        members = z_unit[b_unit == b]
        total *= math.comb(members.size, int(members.sum()))
    return total


def _enumerate(z_unit: np.ndarray, b_unit: np.ndarray) -> Iterator[np.ndarray]:
    """Every assignment with the observed number treated in each block (batches)."""
    per_block = []
    for b in np.unique(b_unit):
        idx = np.flatnonzero(b_unit == b)
        per_block.append(
            [(idx, combo) for combo in itertools.combinations(idx, int(z_unit[idx].sum()))]
        )
    batch: list[np.ndarray] = []
    for choice in itertools.product(*per_block):
        a = np.zeros(z_unit.shape[0])
        for _idx, combo in choice:
            a[list(combo)] = 1.0
        batch.append(a)
        if len(batch) == _BATCH:
            yield np.array(batch)
            batch = []
    if batch:
        yield np.array(batch)


def _draw_keys(b_unit: np.ndarray, k: int, gen: np.random.Generator) -> list[np.ndarray]:
    """Uniform sort keys of ``k`` within-block permutations, drawn block by block (the
    random numbers of one batch; see :func:`_assign_from_keys`)."""
    return [gen.random((k, int(np.count_nonzero(b_unit == b)))) for b in np.unique(b_unit)]


def _assign_from_keys(z_unit: np.ndarray, b_unit: np.ndarray, keys: list[np.ndarray]) -> np.ndarray:
    """Assignments permuting the observed one within each block by the order of ``keys``."""
    out = np.empty((keys[0].shape[0], z_unit.shape[0]))
    for b, block_keys in zip(np.unique(b_unit), keys, strict=True):
        idx = np.flatnonzero(b_unit == b)
        out[:, idx] = z_unit[idx][np.argsort(block_keys, axis=1)]
    return out


def _batch_statistics(
    stat: _Statistic,
    z_unit: np.ndarray,
    b_unit: np.ndarray,
    assign: np.ndarray | None,
    keys: list[np.ndarray] | None,
    z_sum: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One batch (a joblib task): the statistic of ``Y`` (and of ``Z`` when ``z_sum``) at
    the given assignments, or at the permutations encoded by pre-drawn ``keys``."""
    if assign is None:
        assign = _assign_from_keys(z_unit, b_unit, keys or [])
    with one_blas_thread():  # the same bits in this process and on any worker
        return stat(assign), (stat(assign, y_sum=z_sum) if z_sum is not None else None)


def randomization_inference(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    blocks: str | None = None,
    cluster: str | None = None,
    n_permutations: int = 10_000,
    rng: int | np.random.Generator | None = None,
    level: float = 0.95,
    confidence_interval: bool = False,
    progress: bool = False,
    n_jobs: int | None = None,
) -> EffectEstimate:
    """Fisher randomisation test of the sharp null of no effect for any unit.

    The statistic is the difference in means (block-size weighted with ``blocks``, as
    :func:`difference_in_means`). Its distribution under the sharp null is obtained by
    re-randomising the assignment as the design did: complete randomisation within each
    block, of whole clusters when ``cluster`` is given. When the number of possible
    assignments is at most ``n_permutations`` they are enumerated exactly; otherwise
    ``n_permutations`` are drawn at random.

    Parameters
    ----------
    data : pandas.DataFrame
    outcome, treatment : str
        Outcome and binary treatment columns.
    blocks, cluster : str, optional
        Randomisation blocks and clusters (treatment constant within each cluster; clusters
        nested in blocks).
    n_permutations : int
        Monte Carlo draws, and the threshold for exact enumeration.
    rng : int or numpy.random.Generator, optional
        Seed; the same seed gives the same p-value.
    level : float
        Level of the optional confidence interval.
    confidence_interval : bool
        Invert the test over constant additive effects (Hodges-Lehmann style) to get a
        ``level`` interval; otherwise ``ci_lower``/``ci_upper`` are NaN.
    progress : bool
        Show a tqdm progress bar over batches.
    n_jobs : int, optional
        joblib workers for the batches of assignments (``None``: serial, or the active
        joblib context's backend, e.g. ``joblib.parallel_config(backend="dask")``; -1: all
        cores). Random numbers are drawn in this process in a fixed order, so the result
        does not depend on ``n_jobs`` or the backend.

    Returns
    -------
    EffectEstimate
        ``estimate`` is the observed statistic; ``p_value`` the two-sided randomisation
        p-value, ``#{|T*| >= |T|} / M`` when exact and ``(1 + #{|T*| >= |T|}) / (1 + M)``
        when drawn (Phipson & Smyth 2010, never zero); ``std_error`` the standard deviation
        of the randomisation distribution; ``ci_method`` "permutation". ``details`` holds
        ``distribution``, ``exact`` and ``n_assignments``.

    Notes
    -----
    The test is exact in finite samples under the sharp null whatever the outcome
    distribution; the interval assumes a constant additive effect.

    References
    ----------
    Fisher (1935); Imbens & Rubin (2015), ch. 5; Phipson & Smyth (2010) Stat. Appl. Genet.
    Mol. Biol. 9(1). R: ``ri2::conduct_ri``.
    """
    level = check_level(level)
    n_permutations = check_positive_int(n_permutations, "n_permutations", minimum=100)
    gen, seed = check_rng(rng)
    n_jobs = check_n_jobs(n_jobs)
    prepared = prepare(
        data,
        numeric={"outcome": outcome, "treatment": treatment},
        labels={"blocks": blocks, "cluster": cluster},
        outcome_param="outcome",
    )
    frame = prepared.frame
    y = frame[outcome].to_numpy(dtype=float)
    z = check_binary(frame[treatment].to_numpy(dtype=float), "treatment", treatment)
    cl = group_codes(frame[cluster])[0] if cluster is not None else None
    bl = group_codes(frame[blocks])[0] if blocks is not None else None
    unit, z_unit, b_unit = assignment_units(z, cl, bl, cluster)
    _check_both_arms(z_unit, b_unit, blocks)
    dist, dist_z, observed, total, exact = _distribution(
        y, z, unit, z_unit, b_unit, n_permutations, gen,
        with_z=confidence_interval, progress=progress, n_jobs=n_jobs,
    )  # fmt: skip
    n_draws = total if exact else n_permutations
    tol = 1e-12 * max(1.0, abs(observed))
    count = int(np.sum(np.abs(dist) >= abs(observed) - tol))
    p_value = count / n_draws if exact else (count + 1) / (n_draws + 1)
    lo = hi = math.nan
    if dist_z is not None:
        lo, hi = _invert(observed, dist, dist_z, 1.0 - level, exact, float(np.std(dist)))

    options = {
        "outcome": outcome,
        "treatment": treatment,
        "blocks": blocks,
        "cluster": cluster,
        "n_permutations": n_permutations,
        "exact": exact,
        "level": level,
        "confidence_interval": confidence_interval,
    }
    n = y.shape[0]
    digest = fingerprint(data, [c for c in (outcome, treatment, blocks, cluster) if c])
    return EffectEstimate(
        estimate=observed,
        std_error=float(np.std(dist)),
        ci_lower=lo,
        ci_upper=hi,
        p_value=p_value,
        level=level,
        estimand="ATE",
        method=f"randomisation inference, {_how(exact, total, n_draws)}",
        n_obs=n,
        n_treated=int(z.sum()),
        n_control=int(n - z.sum()),
        n_clusters=int(z_unit.shape[0]) if cluster is not None else None,
        df=None,
        ci_method="permutation",
        outcome=outcome,
        n_dropped=prepared.n_dropped,
        provenance=Provenance(options=options, seed=seed, data_fingerprint=digest),
        details={"distribution": dist, "exact": exact, "n_assignments": total},
    )


def _how(exact: bool, total: int, n_draws: int) -> str:
    return f"exact ({total:,} assignments)" if exact else f"{n_draws:,} draws"


def _check_both_arms(z_unit: np.ndarray, b_unit: np.ndarray, blocks: str | None) -> None:
    """Require both arms in every block (units of assignment)."""
    for b in np.unique(b_unit):
        zb = z_unit[b_unit == b]
        if zb.min() == zb.max():
            raise DataValidationError(
                f"`blocks`: block {b} of column {blocks!r} has only "
                f"{'treated' if zb[0] else 'control'} units; every block needs both arms"
            )


def _distribution(
    y: np.ndarray,
    z: np.ndarray,
    unit: np.ndarray,
    z_unit: np.ndarray,
    b_unit: np.ndarray,
    n_permutations: int,
    gen: np.random.Generator,
    *,
    with_z: bool,
    progress: bool,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray | None, float, int, bool]:
    """Randomisation distribution of the statistic (of ``Y`` and, for the interval, of
    ``Z``), the observed statistic, the number of assignments and whether it is exact."""
    stat = _Statistic(y, unit, b_unit)
    observed = float(stat(z_unit[None, :])[0])
    total = _n_assignments(z_unit, b_unit)
    exact = total <= n_permutations
    n_draws = total if exact else n_permutations
    z_sum = np.bincount(unit, weights=z, minlength=z_unit.shape[0]) if with_z else None
    # random numbers are drawn here, batch after batch in the serial order, and only the
    # permutations and statistics are computed in the tasks: the same seed gives the same
    # distribution whatever ``n_jobs`` or joblib backend runs them
    tasks: Iterator[tuple[object, ...]]
    if exact:
        tasks = ((stat, z_unit, b_unit, a, None, z_sum) for a in _enumerate(z_unit, b_unit))
    else:
        sizes = [min(_BATCH, n_permutations - i) for i in range(0, n_permutations, _BATCH)]
        tasks = ((stat, z_unit, b_unit, None, _draw_keys(b_unit, k, gen), z_sum) for k in sizes)
    out = run_tasks(
        _batch_statistics,
        tasks,
        n_jobs=n_jobs,
        progress=progress,
        desc="assignments",
        total=math.ceil(n_draws / _BATCH),
    )
    dist_y = [o[0] for o in out]
    dist_z = [o[1] for o in out if o[1] is not None]
    return (
        np.concatenate(dist_y),
        np.concatenate(dist_z) if with_z else None,
        observed,
        total,
        exact,
    )


def _invert(
    observed: float, a: np.ndarray, b: np.ndarray, alpha: float, exact: bool, scale: float
) -> tuple[float, float]:
    """Interval {tau : p(tau) > alpha} for H0: Y_i(1) - Y_i(0) = tau for every unit.

    Under H0 the statistic of adjusted outcomes ``Y - tau Z`` at assignment ``z*`` is
    ``a* - tau b*`` with ``a*``/``b*`` the statistic of ``Y``/``Z`` at ``z*``; the observed
    adjusted statistic is ``observed - tau``.
    """
    m = a.shape[0]

    def pval(tau: float) -> float:
        ref = abs(observed - tau)
        count = int(np.sum(np.abs(a - tau * b) >= ref - 1e-12 * max(1.0, ref)))
        return float(count / m if exact else (count + 1) / (m + 1))

    step = scale if scale > 0 else 1.0

    def bound(direction: float) -> float:
        inside = observed
        outside = observed + direction * step
        k = 0
        while pval(outside) > alpha:
            inside = outside
            outside = observed + direction * step * 2.0 ** (k + 1)
            k += 1
            if k > 60:
                return math.inf * direction
        for _ in range(100):
            mid = 0.5 * (inside + outside)
            if pval(mid) > alpha:
                inside = mid
            else:
                outside = mid
            if abs(outside - inside) <= 1e-9 * max(1.0, abs(observed), step):
                break
        return inside

    return bound(-1.0), bound(1.0)
