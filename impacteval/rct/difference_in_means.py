"""Difference in means for simple, blocked, matched-pair and cluster-randomised trials."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from impacteval._validation import (
    check_binary,
    check_level,
    check_positive_weights,
    group_codes,
    prepare,
)
from impacteval._warn import WarningLog
from impacteval.exceptions import DataValidationError, SmallSampleWarning
from impacteval.inference.variance import fit_ols
from impacteval.rct.randomization import assignment_units
from impacteval.rct.regression import check_clusters_per_arm
from impacteval.results import EffectEstimate, Provenance, fingerprint

__all__ = ["difference_in_means"]


def _neyman(y: np.ndarray, z: np.ndarray) -> tuple[float, float, float]:
    """Difference, Neyman SE and Welch-Satterthwaite df for one (sub)sample."""
    y1, y0 = y[z == 1], y[z == 0]
    n1, n0 = y1.size, y0.size
    diff = float(y1.mean() - y0.mean())
    if n1 < 2 or n0 < 2:
        return diff, math.nan, math.nan
    v1, v0 = float(y1.var(ddof=1)) / n1, float(y0.var(ddof=1)) / n0
    se = math.sqrt(v1 + v0)
    denom = v1**2 / (n1 - 1) + v0**2 / (n0 - 1)
    df = (v1 + v0) ** 2 / denom if denom > 0 else math.nan
    return diff, se, df


def _ols_dummy(
    y: np.ndarray, z: np.ndarray, w: np.ndarray | None, cl: np.ndarray | None
) -> tuple[float, float, float]:
    """OLS of y on the dummy: HC2 (weighted, unclustered) or CR2 with Bell-McCaffrey df."""
    x = np.column_stack([np.ones(y.shape[0]), z])
    if cl is None:
        fit = fit_ols(x, y, se_type="HC2", weights=w)
    else:
        _, codes = np.unique(cl, return_inverse=True)
        fit = fit_ols(
            x,
            y,
            se_type="CR2",
            weights=w,
            clusters=codes.astype(np.intp),
            n_clusters=int(codes.max()) + 1,
        )
    return float(fit.coef[1]), float(math.sqrt(fit.vcov[1, 1])), float(fit.df[1])


def _within(
    y: np.ndarray, z: np.ndarray, w: np.ndarray | None, cl: np.ndarray | None
) -> tuple[float, float, float]:
    if w is None and cl is None:
        return _neyman(y, z)
    return _ols_dummy(y, z, w, cl)


def difference_in_means(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    blocks: str | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    level: float = 0.95,
) -> EffectEstimate:
    """Difference in mean outcomes between arms, with the design-based standard error.

    The estimator and its variance follow the design, as R ``estimatr::difference_in_means``:

    * **simple** (no blocks, no clusters): Neyman SE ``sqrt(s1^2/n1 + s0^2/n0)`` with
      Welch-Satterthwaite degrees of freedom.
    * **clustered**: the same difference (of unit means); SE from the CR2 (Bell-McCaffrey)
      cluster-robust variance of OLS on the treatment dummy, df Bell-McCaffrey.
    * **blocked**: block differences averaged with weights ``N_b / N``; variance
      ``sum (N_b/N)^2 SE_b^2`` with each ``SE_b`` the Neyman (or, with clusters, the CR2)
      SE within the block; df ``N - 2B`` (with clusters: number of clusters ``- 2B``).
      Every block needs at least two treated and two control units.
    * **matched pairs** (every block holds two units, or two clusters): without clusters
      ``SE^2 = sum_b (d_b - ATE)^2 / (B (B-1))``; with clusters the Imai, King & Nall
      (2009) variance ``B / ((B-1) N^2) * sum_b (N_b d_b - N ATE / B)^2``; df ``B - 1``.
      When some blocks are pairs and others larger, the matched-pair variance is used for
      every block (a pair has no within-block variance) and a warning says so, as estimatr.

    Parameters
    ----------
    data : pandas.DataFrame
    outcome, treatment : str
        Outcome column and binary (0/1) treatment column.
    blocks : str, optional
        Randomisation blocks (strata or pairs).
    cluster : str, optional
        Clusters, the units of assignment: treatment must be constant within each.
    weights : str, optional
        Positive observation weights: the difference of weighted means with a weighted HC2
        (or CR2) SE and df ``n - 2`` (CR2: Bell-McCaffrey), as estimatr. With blocks, the
        block sizes become sums of weights normalised to mean one.
    level : float
        Confidence level.

    Returns
    -------
    EffectEstimate
        ``estimand`` "ATE"; ``df`` as above; ``details["design"]`` names the design used.

    Raises
    ------
    DataValidationError
        Missing columns, non-numeric outcome, non-binary treatment or an empty arm,
        treatment varying within a cluster, a block with only one arm, blocks mixing pairs
        with larger blocks, fewer than 2 clusters per arm, ``level`` outside (0, 1).

    Warns
    -----
    SmallSampleWarning
        One unit in an arm (unblocked, unclustered): the estimate is returned, its standard
        error, interval and p-value are NaN, and the warning says why.

    Notes
    -----
    Identification: complete random assignment (within blocks; of whole clusters). The
    Neyman variance is conservative for the finite-population ATE. Rows with a missing
    value in any used column are dropped and counted in ``n_dropped``.

    References
    ----------
    Neyman (1923); Imai, King & Nall (2009) Statistical Science 24(1); Gerber & Green (2012)
    ch. 3-4; R: ``estimatr::difference_in_means``.

    Examples
    --------
    >>> import impacteval as ie
    >>> nsw = ie.datasets.load("nsw_dw")
    >>> round(ie.rct.difference_in_means(nsw, outcome="re78", treatment="treat").estimate, 2)
    1794.34
    """
    level = check_level(level)
    prepared = prepare(
        data,
        numeric={"outcome": outcome, "treatment": treatment, "weights": weights},
        labels={"blocks": blocks, "cluster": cluster},
        outcome_param="outcome",
    )
    frame = prepared.frame
    y = frame[outcome].to_numpy(dtype=float)
    z = check_binary(frame[treatment].to_numpy(dtype=float), "treatment", treatment)
    w = None if weights is None else check_positive_weights(frame[weights])
    log = WarningLog()
    if np.ptp(y) == 0:
        log.warn(
            f"`outcome`: column {outcome!r} is constant ({y[0]!r}); the effect is 0 and "
            "its standard error 0"
        )
    cl = group_codes(frame[cluster])[0] if cluster is not None else None
    bl = group_codes(frame[blocks])[0] if blocks is not None else None
    if cl is not None and cluster is not None:
        assignment_units(z, cl, bl, cluster)  # treatment constant within cluster, nesting
        if bl is None:
            check_clusters_per_arm(z, cl, cluster)
    est, se, df, design = _estimate(y, z, w, bl, cl, blocks, treatment, log)
    options = {
        "outcome": outcome,
        "treatment": treatment,
        "blocks": blocks,
        "cluster": cluster,
        "weights": weights,
        "level": level,
        "design": design,
    }
    used = [c for c in (outcome, treatment, blocks, cluster, weights) if c]
    return EffectEstimate.from_wald(
        est,
        se,
        level=level,
        df=df,
        estimand="ATE",
        method=f"difference in means ({_NAMES[design]}{', weighted' if w is not None else ''})",
        n_obs=y.shape[0],
        n_treated=int(z.sum()),
        n_control=int(y.shape[0] - z.sum()),
        n_clusters=int(np.unique(cl).size) if cl is not None else None,
        outcome=outcome,
        n_dropped=prepared.n_dropped,
        warnings=log.messages,
        provenance=Provenance(options=options, data_fingerprint=fingerprint(data, used)),
        details={"design": design},
    )


_NAMES = {
    "simple": "Neyman",
    "clustered": "CR2",
    "blocked": "blocked Neyman",
    "blocked_clustered": "blocked, CR2 within blocks",
    "matched_pairs": "matched pairs (Imai-King-Nall)",
    "matched_cluster_pairs": "matched cluster pairs (Imai-King-Nall)",
}


def _estimate(
    y: np.ndarray,
    z: np.ndarray,
    w: np.ndarray | None,
    bl: np.ndarray | None,
    cl: np.ndarray | None,
    blocks: str | None,
    treatment: str,
    log: WarningLog,
) -> tuple[float, float, float, str]:
    """Estimate, standard error, degrees of freedom and the design's name."""
    n = y.shape[0]
    if bl is None:
        est, se, df = _within(y, z, w, cl)
        design = "simple" if cl is None else "clustered"
        n1 = int(z.sum())
        if cl is None and min(n1, n - n1) < 2:
            se, df = math.nan, math.nan  # (weighted HC2 would keep only the other arm)
            log.warn(
                f"`treatment`: column {treatment!r} has {n1} treated and {n - n1} control "
                "units; with a single unit in an arm its outcome variance cannot be "
                "estimated, so the standard error, interval and p-value are not identified "
                "(reported as NaN). Use rct.randomization_inference for an exact test, or "
                "collect at least 2 units per arm",
                SmallSampleWarning,
            )
    else:
        est, se, df, design, msg = _blocked(y, z, w, bl, cl, blocks)
        if msg:
            log.warn(msg)
    if not df > 0:
        df = math.nan
    return est, se, df, design


def _check_blocks(
    z: np.ndarray,
    w: np.ndarray | None,
    members: list[np.ndarray],
    sizes_m: np.ndarray,
    column: str | None,
) -> bool:
    """Require both arms in every block (two of each unless matched pairs); True for a
    matched-pair design (some blocks of two)."""
    for b, idx in enumerate(members):
        zb = z[idx]
        if zb.min() == zb.max():
            raise DataValidationError(
                f"`blocks`: block {b} of column {column!r} has only "
                f"{'treated' if zb[0] else 'control'} units; every block needs both arms"
            )
    pairs = bool(np.any(sizes_m == 2))
    if pairs and w is not None:
        raise DataValidationError(
            "`weights`: a matched-pair design (blocks of two) cannot be weighted"
        )
    if not pairs:
        for b, idx in enumerate(members):
            n1, n0 = int(z[idx].sum()), int((1 - z[idx]).sum())
            if min(n1, n0) < 2:
                raise DataValidationError(
                    f"`blocks`: block {b} of column {column!r} has {n1} treated and {n0} "
                    "control units; a blocked design needs at least 2 of each per block "
                    "(or use blocks of exactly two for a matched-pair design)"
                )
    return pairs


def _blocked(
    y: np.ndarray,
    z: np.ndarray,
    w: np.ndarray | None,
    bl: np.ndarray,
    cl: np.ndarray | None,
    column: str | None,
) -> tuple[float, float, float, str, str]:
    """Blocked or matched-pair estimate; returns (estimate, se, df, design, warning)."""
    n_blocks = int(bl.max()) + 1
    members = [np.flatnonzero(bl == b) for b in range(n_blocks)]
    # m_b: units, or clusters, in each block
    sizes_m = np.array([np.unique(cl[i]).size if cl is not None else i.size for i in members])
    pairs = _check_blocks(z, w, members, sizes_m, column)
    unit = "cluster" if cl is not None else "unit"
    mixed = pairs and bool(np.any(sizes_m > 2))
    wn = None if w is None else w / w.mean()
    diffs = np.empty(n_blocks)
    ses = np.empty(n_blocks)
    for b, idx in enumerate(members):
        if pairs:
            diffs[b] = float(y[idx][z[idx] == 1].mean() - y[idx][z[idx] == 0].mean())
        else:
            diffs[b], ses[b], _ = _within(
                y[idx], z[idx], None if w is None else w[idx], None if cl is None else cl[idx]
            )
    sizes = (
        np.array([i.size for i in members], dtype=float)
        if wn is None
        else np.array([wn[i].sum() for i in members])
    )
    total = float(sizes.sum())
    share = sizes / total
    est = float(share @ diffs)
    if pairs:
        if n_blocks < 2:
            raise DataValidationError("`blocks`: a matched-pair design needs at least 2 pairs")
        if cl is None:
            var = float(np.sum((diffs - est) ** 2)) / (n_blocks * (n_blocks - 1))
        else:
            var = (
                n_blocks
                / ((n_blocks - 1) * total**2)
                * float(np.sum((sizes * diffs - total * est / n_blocks) ** 2))
            )
        msg = (
            (
                f"`blocks`: some blocks of {column!r} hold two {unit}s and others more; the "
                "matched-pair variance is used for every block (as estimatr)"
            )
            if mixed
            else ""
        )
        return (
            est,
            math.sqrt(var),
            float(n_blocks - 1),
            "matched_cluster_pairs" if cl is not None else "matched_pairs",
            msg,
        )
    se = float(math.sqrt(np.sum(share**2 * ses**2)))
    count = float(sizes_m.sum()) if cl is not None else float(y.shape[0])
    design = "blocked_clustered" if cl is not None else "blocked"
    return est, se, count - 2 * n_blocks, design, ""
