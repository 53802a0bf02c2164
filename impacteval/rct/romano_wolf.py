"""Romano-Wolf adjusted p-values for the treatment effect of a trial on several outcomes.

The trial's regressions come from :func:`impacteval.rct.regression`; the pairs bootstrap
(arrays in, arrays out) refits them on every draw with
:func:`impacteval.inference.variance.fit_ols`, and the step-down adjustment itself is the
shared :func:`impacteval.inference.multiplicity.step_down` (also behind
``adjust_p_values(..., method="romano_wolf")``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from impacteval._parallel import one_blas_thread, run_tasks
from impacteval._validation import (
    as_column_list,
    check_binary,
    check_choice,
    check_n_jobs,
    check_positive_int,
    check_rng,
    group_codes,
    prepare,
)
from impacteval.exceptions import DataValidationError
from impacteval.inference.multiplicity import bootstrap_p, step_down
from impacteval.inference.variance import fit_ols
from impacteval.rct.regression import check_clusters_per_arm, regression
from impacteval.results import fingerprint

__all__ = ["romano_wolf"]

_MAX_REDRAWS = 1000  # bootstrap draws rejected (an empty arm) before giving up
_ROUND_ROWS = 10_000_000  # drawn row indices held at once (a round of samples)
_CHUNK = 50  # bootstrap samples refitted per joblib task (the numbers do not depend on it)


# -- numerics: arrays in, arrays out ------------------------------------------------------
def _design(z: np.ndarray, xc: np.ndarray, adjustment: str) -> np.ndarray:
    """The design of :func:`impacteval.rct.regression` (Lin: covariates centred, interacted)."""
    n = z.shape[0]
    if xc.shape[1] == 0:
        return np.column_stack([np.ones(n), z])
    if adjustment == "lin":
        xc = xc - xc.mean(axis=0)
        return np.column_stack([np.ones(n), z, xc, z[:, None] * xc])
    return np.column_stack([np.ones(n), z, xc])


def _draw(
    generator: np.random.Generator, n: int, members: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows of one pairs-bootstrap draw, and cluster codes (drawn clusters are distinct)."""
    if not members:
        return generator.integers(0, n, n), None
    draw = generator.integers(0, len(members), len(members))
    rows = np.concatenate([members[k] for k in draw])
    return rows, np.repeat(np.arange(len(members)), [members[k].size for k in draw])


def _fit_all(
    x: np.ndarray, ys: np.ndarray, se_type: str, codes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Treatment coefficient and SE for each outcome column of ``ys``.

    A draw that leaves an arm empty (or, clustered, fewer than two clusters per arm) gets
    NaN standard errors, so the caller redraws it.
    """
    z = x[:, 1]
    est = np.full(ys.shape[1], np.nan)
    se = np.full(ys.shape[1], np.nan)
    if not 0 < z.sum() < z.size:
        return est, se
    g = None
    if codes is not None:
        g = int(codes.max()) + 1
        if min(np.unique(codes[z == 1]).size, np.unique(codes[z == 0]).size) < 2:
            return est, se
    for j in range(ys.shape[1]):
        fit = fit_ols(x, ys[:, j], se_type=se_type, clusters=codes, n_clusters=g)
        if fit.kept[1]:
            est[j] = fit.coef[1]
            se[j] = np.sqrt(fit.vcov[1, 1])
    return est, se


@dataclass(frozen=True)
class _Family:
    """The family of trial regressions on the common complete rows."""

    outcomes: list[str]
    estimate: np.ndarray
    std_error: np.ndarray
    p_value_model: list[float]
    se_type: str
    z: np.ndarray
    ys: np.ndarray
    xc: np.ndarray
    members: list[np.ndarray]  # rows of each cluster (empty: resample rows)
    n_dropped: int


def _null_statistics(
    fam: _Family,
    adjustment: str,
    n_boot: int,
    generator: np.random.Generator,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, int]:
    """``B x m`` centred bootstrap |t| (pairs bootstrap) and the number of redraws.

    The draws are made here in rounds, in the serial order: a round draws at most as many
    samples as draws are still missing (never more than a serial loop would draw), the
    refits run as joblib tasks, and the samples are accepted or rejected in draw order. So the
    statistics, and the generator's final state, are those of a one-by-one loop, whatever
    ``n_jobs`` or the joblib backend.
    """
    null = np.empty((n_boot, len(fam.outcomes)))
    b = redraws = 0
    while b < n_boot:
        size = min(n_boot - b, max(1, _ROUND_ROWS // fam.z.size))  # rows held: ~80 MB
        samples = [_draw(generator, fam.z.size, fam.members) for _ in range(size)]
        tasks = [(fam, adjustment, samples[i : i + _CHUNK]) for i in range(0, len(samples), _CHUNK)]
        for eb, sb in itertools.chain.from_iterable(run_tasks(refit_draws, tasks, n_jobs=n_jobs)):
            if np.all(np.isfinite(sb) & (sb > 0)):
                null[b] = np.abs(eb - fam.estimate) / sb
                b += 1
                continue
            redraws += 1
            if redraws > _MAX_REDRAWS:
                raise DataValidationError(
                    f"the bootstrap failed {_MAX_REDRAWS} times to draw a sample with both arms "
                    "(two clusters per arm when clustered); the data are too small to bootstrap"
                )
    return null, redraws


def refit_draws(
    fam: _Family, adjustment: str, samples: list[tuple[np.ndarray, np.ndarray | None]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Estimates and SEs of every outcome on each drawn sample (one joblib task)."""
    z, xc, ys = fam.z, fam.xc, fam.ys
    with one_blas_thread():
        return [
            _fit_all(_design(z[rows], xc[rows], adjustment), ys[rows], fam.se_type, bcodes)
            for rows, bcodes in samples
        ]


def _family(
    data: object,
    outs: list[str],
    treatment: str,
    covs: list[str],
    cluster: str | None,
    adjustment: str,
    se_type: str | None,
) -> _Family:
    """Fit every outcome's regression on the rows complete in all of them."""
    prepared = prepare(
        data,
        numeric={"outcomes": outs, "treatment": treatment, "covariates": covs},
        labels={"cluster": cluster},
    )
    frame = prepared.frame
    fits = [
        regression(
            frame,
            outcome=o,
            treatment=treatment,
            covariates=covs,
            adjustment=adjustment,
            se_type=se_type,
            cluster=cluster,
        )
        for o in outs
    ]
    est = np.array([f.estimate for f in fits])
    se = np.array([f.std_error for f in fits])
    bad = np.flatnonzero(~(se > 0)).tolist()
    if bad:
        raise DataValidationError(
            f"`outcomes`: no positive standard error for {[outs[i] for i in bad]}; "
            "Romano-Wolf needs a finite, positive t statistic for every outcome"
        )
    z = check_binary(frame[treatment].to_numpy(dtype=float), "treatment", treatment)
    members: list[np.ndarray] = []
    if cluster is not None:
        codes, g = group_codes(frame[cluster])
        check_clusters_per_arm(z, codes, cluster)
        order = np.argsort(codes, kind="stable")
        members = np.split(order, np.cumsum(np.bincount(codes, minlength=g))[:-1])
    return _Family(
        outcomes=outs,
        estimate=est,
        std_error=se,
        p_value_model=[f.p_value for f in fits],
        se_type=str(fits[0].provenance.options["se_type"]),  # the resolved default
        z=z,
        ys=frame[outs].to_numpy(dtype=float),
        xc=frame[covs].to_numpy(dtype=float) if covs else np.zeros((z.size, 0)),
        members=members,
        n_dropped=prepared.n_dropped,
    )


# -- entry point ----------------------------------------------------------------------------
def romano_wolf(
    data: pd.DataFrame,
    *,
    outcomes: Sequence[str],
    treatment: str,
    covariates: Sequence[str] = (),
    cluster: str | None = None,
    adjustment: str = "lin",
    se_type: str | None = None,
    n_bootstrap: int = 1000,
    rng: int | np.random.Generator | None = None,
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """Romano-Wolf adjusted p-values for the treatment effect on several outcomes.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit.
    outcomes : sequence of str
        The family of outcome columns; one regression each.
    treatment, covariates, cluster, adjustment, se_type
        As in :func:`impacteval.rct.regression` (defaults: Lin adjustment, HC2, or CR2
        with ``cluster``).
    n_bootstrap : int
        Bootstrap draws ``B``.
    rng : int or numpy.random.Generator, optional
        Seed or generator; the same seed gives the same p-values.
    n_jobs : int, optional
        joblib workers for the refits (``None``: serial, or the active joblib context's
        backend, e.g. Dask; -1: all cores). The samples are drawn in this process in the
        serial order, so the p-values do not depend on ``n_jobs`` or the backend.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``outcome``: ``estimate``, ``std_error``, ``statistic`` (t),
        ``p_value_model`` (the regression's analytic p-value), ``p_value`` (unadjusted
        bootstrap p-value, from the same draws) and ``p_value_rw`` (Romano-Wolf).
        ``attrs`` holds ``null_statistics`` (B x m), the options, the seed, the data
        fingerprint and ``n_dropped``.

    Raises
    ------
    DataValidationError
        As :func:`impacteval.rct.regression`, plus an empty ``outcomes``, a bad
        ``n_bootstrap`` or ``rng``.

    Notes
    -----
    Each outcome's ATE is estimated by :func:`impacteval.rct.regression` on the rows
    complete in every outcome, treatment, covariate and cluster (so every hypothesis uses
    the same units; dropped rows are counted in ``attrs["n_dropped"]``). The pairs
    bootstrap resamples rows (whole clusters, relabelled as distinct, when ``cluster`` is
    given) and refits every regression with the same variance estimator; draws leaving an
    arm without units (or, clustered, with fewer than two clusters) are redrawn. The null
    statistics are studentised and centred at the original estimates,
    ``t*_bj = |b*_bj - b_j| / se*_bj``, which mimics the null distribution of
    ``|t_j|`` (Romano & Wolf 2005, 2016). The step-down algorithm is described in
    :func:`impacteval.inference.adjust_p_values`.

    References
    ----------
    Romano, J. P. & Wolf, M. (2005). Exact and approximate stepdown methods for multiple
    hypothesis testing. JASA 100(469), 94-108.
    Romano, J. P. & Wolf, M. (2016). Efficient computation of adjusted p-values for
    resampling-based stepdown multiple testing. Statistics & Probability Letters 113,
    38-40.
    Clarke, D., Romano, J. P. & Wolf, M. (2020). The Romano-Wolf multiple-hypothesis
    correction in Stata. Stata Journal 20(4), 812-843 (Stata: ``rwolf``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from impacteval.rct.romano_wolf import romano_wolf
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"z": np.repeat([0, 1], 50), "y1": rng.normal(size=100),
    ...                    "y2": rng.normal(size=100)})
    >>> out = romano_wolf(df, outcomes=["y1", "y2"], treatment="z", n_bootstrap=99, rng=2)
    >>> bool((out["p_value_rw"] >= out["p_value"]).all())
    True
    """
    outs = as_column_list(outcomes, "outcomes")
    if not outs:
        raise DataValidationError("`outcomes` must name at least one outcome column")
    covs = as_column_list(covariates, "covariates")
    adjustment = check_choice(adjustment, "adjustment", ("lin", "additive"))
    n_boot = check_positive_int(n_bootstrap, "n_bootstrap", minimum=1)
    generator, seed = check_rng(rng)
    n_jobs = check_n_jobs(n_jobs)
    fam = _family(data, outs, treatment, covs, cluster, adjustment, se_type)
    null, redraws = _null_statistics(fam, adjustment, n_boot, generator, n_jobs)
    used = [*outs, treatment, *covs] + ([cluster] if cluster else [])
    return _table(fam, null, redraws, seed, adjustment, fingerprint(data, used))


def _table(
    fam: _Family, null: np.ndarray, redraws: int, seed: int | None, adjustment: str, digest: str
) -> pd.DataFrame:
    """The result table, with the bootstrap facts in ``attrs``."""
    est, se = fam.estimate, fam.std_error
    stat = np.abs(est / se)
    table = pd.DataFrame(
        {
            "estimate": est,
            "std_error": se,
            "statistic": est / se,
            "p_value_model": fam.p_value_model,
            "p_value": bootstrap_p(stat, null),
            "p_value_rw": step_down(stat, null),
        },
        index=pd.Index(fam.outcomes, name="outcome"),
    )
    table.attrs.update(
        {
            "null_statistics": null,
            "n_bootstrap": null.shape[0],
            "seed": seed,
            "se_type": fam.se_type,
            "adjustment": adjustment,
            "n_dropped": fam.n_dropped,
            "n_redraws": redraws,
            "n_obs": int(fam.z.size),
            "data_fingerprint": digest,
        }
    )
    return table
