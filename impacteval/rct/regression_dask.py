"""``rct.regression`` on a Dask DataFrame by map-reduce over its partitions.

The rows are never collected. Each partition returns sufficient statistics of a few
kilobytes, and the client adds them up:

1. (Lin adjustment only) the number of complete rows and the covariates' sums, giving the
   means the covariates are centred at;
2. ``X'X``, ``X'y``, the treated count and the distinct treatment values, giving
   ``beta = (X'X)^-1 X'y``;
3. with ``beta`` known, the residual sum of squares ``sum_i e_i^2`` (classical), the meat
   of the sandwich ``sum_i w_i x_i x_i' e_i^2`` for HC0-HC3 (``w_i = 1``,
   ``1 / (1 - h_ii)`` or ``1 / (1 - h_ii)^2`` with the leverage
   ``h_ii = x_i' (X'X)^-1 x_i``), or, for CR0, CR1 and ``"stata"``, the score sums
   ``S_g = sum_{i in g} x_i e_i`` of each cluster within the partition, added across
   partitions by cluster (a cluster may span partitions) into ``meat = sum_g S_g S_g'``;
   for CR2, with the upper-triangular ``R`` (``R'R = X'X``, Cholesky) and ``Q = X R^-1``,
   each cluster's bias-reduced score ``Q_g' (I - H_gg)^(-1/2) e_g`` and its terms of the
   Bell-McCaffrey df, summed within the partition by
   :func:`impacteval.inference.variance.cr2_cluster_sums` (the function the in-memory CR2
   runs on all clusters at once) and added across partitions.

``V = (X'X)^-1 meat (X'X)^-1`` with the small-sample factors of
:func:`impacteval.inference.variance.fit_ols`: none for HC0 and CR0, ``n / (n - k)`` for
HC1 and ``G / (G - 1) (n - 1) / (n - k)`` for CR1 and its alias ``"stata"`` (the same
estimator, as in memory); classical is ``s^2 (X'X)^-1`` with ``s^2 = e'e / (n - k)``. t
reference with ``n - k`` (classical, HC), ``G - 1`` (CR0, CR1, ``"stata"``) or, for CR2,
the Bell-McCaffrey / Pustejovsky-Tipton Satterthwaite df of each coefficient, as in
memory. The numbers equal the in-memory estimator's up to rounding (the in-memory fit goes
through a QR factor, this one through the Gram matrix; for a design whose Gram matrix is
well conditioned the two agree to about 1e-12 relative).

CR2 (the default with ``cluster``) needs each cluster's rows in one partition, since the
adjustment ``(I - H_gg)^(-1/2)`` is formed from all of a cluster's rows: repartition by
cluster first (``data.set_index(cluster)``, the cluster then being the index, or
``data.shuffle(on=cluster)``). Pass 1 returns each partition's cluster labels and a label
seen in two partitions is refused with an error (never a silently wrong variance). CR0,
CR1 and ``"stata"`` work with clusters spread over partitions. With ``cluster``, at least
two clusters per arm are required, as in memory.

Not available here (a clear error says so): weights, fixed effects and collinear designs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg

from impacteval._panel import format_label
from impacteval._validation import check_level, short_repr
from impacteval._warn import warn_user
from impacteval.exceptions import DataValidationError, MissingColumnError, MissingDataWarning
from impacteval.inference.variance import CR2Sums, cr2_cluster_sums, cr2_from_sums
from impacteval.results import EffectEstimate, Provenance, fingerprint, interval

__all__ = ["is_dask_dataframe", "regression_dask"]

SUPPORTED_SE = ("classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "stata", "CR2")
CLUSTERED_SE = ("CR0", "CR1", "stata", "CR2")
# the clustered variances whose meat is the sum of the cluster score outer products
_SCORE_SUM_SE = ("CR0", "CR1", "stata")


def is_dask_dataframe(data: object) -> bool:
    """Whether ``data`` is a ``dask.dataframe.DataFrame`` (without importing dask)."""
    root = type(data).__module__.partition(".")[0]
    return root in ("dask", "dask_expr") and hasattr(data, "to_delayed")


# -- per-partition statistics (run on the workers) --------------------------------------------
def _complete(part: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    return part.loc[part[cols].notna().all(axis=1).to_numpy()]


def _design(part: pd.DataFrame, spec: dict[str, Any], means: np.ndarray | None) -> np.ndarray:
    """Intercept, treatment and covariates (Lin: centred and interacted), as in memory."""
    z = part[spec["treatment"]].to_numpy(dtype=float)
    cols = [np.ones(z.size), z]
    if spec["covariates"]:
        xc = part[spec["covariates"]].to_numpy(dtype=float)
        if means is not None:
            xc = xc - means
            cols += [xc[:, j] for j in range(xc.shape[1])]
            cols += [z * xc[:, j] for j in range(xc.shape[1])]
        else:
            cols += [xc[:, j] for j in range(xc.shape[1])]
    return np.column_stack(cols)


def partition_sums(part: pd.DataFrame, spec: dict[str, Any]) -> dict[str, Any]:
    """Pass 1: complete-row count, covariate sums, rows dropped, a digest of the columns.

    With ``cluster``, also a table indexed by this partition's cluster labels: the number
    of treated rows and of rows in each (for the clusters-per-arm check, and for CR2 the
    check that no cluster spans partitions).
    """
    full = _complete(part, spec["used"])
    covs = spec["covariates"]
    out = {
        "n": int(full.shape[0]),
        "n_rows": int(part.shape[0]),
        "sum_x": full[covs].to_numpy(dtype=float).sum(axis=0) if covs else np.zeros(0),
        "digest": fingerprint(part, spec["used"]),
    }
    if spec["cluster"] is not None:
        z = full[spec["treatment"]].to_numpy(dtype=float)
        counts = pd.DataFrame({"treated": z, "rows": np.ones(z.size)})
        out["clusters"] = counts.groupby(full[spec["cluster"]].to_numpy(), sort=False).sum()
    return out


def partition_gram(
    part: pd.DataFrame, spec: dict[str, Any], means: np.ndarray | None
) -> dict[str, Any]:
    """Pass 2: ``X'X``, ``X'y``, treated count and the distinct treatment values."""
    full = _complete(part, spec["used"])
    x = _design(full, spec, means)
    y = full[spec["outcome"]].to_numpy(dtype=float)
    z = full[spec["treatment"]].to_numpy(dtype=float)
    return {"xtx": x.T @ x, "xty": x.T @ y, "n1": float(z.sum()), "values": np.unique(z)}


def partition_meat(
    part: pd.DataFrame,
    spec: dict[str, Any],
    means: np.ndarray | None,
    beta: np.ndarray,
    xtx_inv: np.ndarray,
    rinv: np.ndarray | None = None,
) -> Any:
    """Pass 3: the HC meat (k x k), the residual sum of squares (classical), the cluster
    score sums (CR0, CR1, stata) or the CR2 pieces.

    For CR2, ``rinv`` is ``R^-1`` with ``R'R = X'X`` and the partition must hold every row
    of each of its clusters (checked on the client after pass 1); ``None`` for a partition
    without complete rows.
    """
    full = _complete(part, spec["used"])
    x = _design(full, spec, means)
    e = full[spec["outcome"]].to_numpy(dtype=float) - x @ beta
    se_type = spec["se_type"]
    if se_type == "CR2":
        if x.shape[0] == 0 or rinv is None:
            return None
        codes, labels = pd.factorize(full[spec["cluster"]].to_numpy(), sort=False)
        return cr2_cluster_sums(x @ rinv, e, rinv.T, codes, len(labels))
    if se_type in _SCORE_SUM_SE:
        scores = pd.DataFrame(x * e[:, None])
        return scores.groupby(full[spec["cluster"]].to_numpy(), sort=False).sum()
    if se_type == "classical":
        return float(e @ e)
    weight = e**2
    if se_type in ("HC2", "HC3"):
        h = np.einsum("ij,jk,ik->i", x, xtx_inv, x)
        weight = weight / (1.0 - h) ** (1 if se_type == "HC2" else 2)
    return (x * weight[:, None]).T @ x


# -- the entry (called by rct.regression for a Dask DataFrame) --------------------------------
def _check(
    data: Any,
    outcome: str,
    treatment: str,
    covs: list[str],
    cluster: str | None,
    se_type: str | None,
) -> str:
    cols = [str(c) for c in data.columns]
    named = {"outcome": [outcome], "treatment": [treatment], "covariates": covs,
             "cluster": [cluster] if cluster else []}  # fmt: skip
    for param, names in named.items():
        for col in names:
            if col not in cols:
                raise MissingColumnError(
                    f"`{param}`: column {col!r} is not in the data "
                    f"(available: {short_repr(cols, 200)})"
                )
    for param, col in [("outcome", outcome), ("treatment", treatment)] + [
        ("covariates", c) for c in covs
    ]:
        dtype = data.dtypes[col]
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise DataValidationError(
                f"`{param}`: column {col!r} must be numeric; received dtype {dtype}"
            )
    # the in-memory defaults (HC2; CR2 with clusters), so a default call means the same thing
    chosen = se_type if se_type is not None else ("CR2" if cluster is not None else "HC2")
    if chosen not in SUPPORTED_SE or (chosen in CLUSTERED_SE) != (cluster is not None):
        raise DataValidationError(
            "`se_type`: on a Dask DataFrame, regression computes classical, HC0, HC1, HC2 or "
            "HC3 (no `cluster`) or CR0, CR1, stata or CR2 (with `cluster`); received "
            f"{se_type!r}"
            + (" with `cluster`" if cluster is not None else " without `cluster`")
            + ". Other variances: pass data.compute() if it fits in memory"
        )
    return chosen


def _cluster_table(first: list[dict[str, Any]], cluster: str, se_type: str) -> pd.DataFrame:
    """Treated and total rows per cluster; for CR2, refuse a cluster in two partitions."""
    tables = [s["clusters"] for s in first]
    if se_type == "CR2":
        labels = pd.concat([t.index.to_series() for t in tables], ignore_index=True)
        split = labels[labels.duplicated()].unique()
        if split.size:
            raise DataValidationError(
                f"`cluster`: {split.size} clusters of column {cluster!r} have rows in more "
                f"than one partition of the Dask DataFrame (e.g. {format_label(split[0])}); "
                "CR2 adjusts each cluster's residuals with all of that cluster's rows, so "
                "each cluster must lie in one partition. Repartition by cluster first, e.g. "
                f"data.set_index({cluster!r}) or data.shuffle(on={cluster!r}); or use "
                "se_type='CR1' (or 'CR0', 'stata'), which allow clusters across partitions"
            )
    table: pd.DataFrame = pd.concat(tables).groupby(level=0, sort=False).sum()
    return table


def _check_clusters_per_arm(table: pd.DataFrame, cluster: str) -> None:
    """At least two clusters containing treated and two containing control rows."""
    n_treated = int(np.count_nonzero(table["treated"].to_numpy() > 0))
    n_control = int(np.count_nonzero((table["rows"] - table["treated"]).to_numpy() > 0))
    if n_treated < 2 or n_control < 2:
        raise DataValidationError(
            f"`cluster`: column {cluster!r} must give at least 2 clusters per arm for a "
            f"clustered variance; received {n_treated} treated and {n_control} control "
            "clusters"
        )


def _compute(tasks: list[Any]) -> list[Any]:
    from dask.base import compute

    return list(compute(*tasks))  # type: ignore[no-untyped-call]


def regression_dask(
    data: Any,
    *,
    outcome: str,
    treatment: str,
    covariates: Sequence[str],
    adjustment: str,
    se_type: str | None,
    cluster: str | None,
    level: float,
    fixed_effects: object = None,
    weights: object = None,
) -> EffectEstimate:
    """:func:`impacteval.rct.regression` by map-reduce (see the module docstring)."""
    from dask.delayed import delayed

    for param, value in (("fixed_effects", fixed_effects), ("weights", weights)):
        if value:
            raise DataValidationError(
                f"`{param}` is not available on a Dask DataFrame (map-reduce regression); "
                f"received {short_repr(value)}. Pass data.compute() if it fits in memory"
            )
    level = check_level(level)
    covs = list(covariates)
    if cluster is not None and cluster not in [str(c) for c in data.columns]:
        if data.index.name == cluster:
            data = data.reset_index()  # partitioned by ``set_index(cluster)``
    se_type = _check(data, outcome, treatment, covs, cluster, se_type)
    used = list(dict.fromkeys([outcome, treatment, *covs] + ([cluster] if cluster else [])))
    spec = {"outcome": outcome, "treatment": treatment, "covariates": covs, "used": used,
            "se_type": se_type, "cluster": cluster}  # fmt: skip
    parts = data[used].to_delayed()
    first = _compute([delayed(partition_sums)(p, spec) for p in parts])
    n = sum(s["n"] for s in first)
    n_input = sum(s["n_rows"] for s in first)
    if n == 0:
        raise DataValidationError("no complete rows remain after dropping missing values")
    if n_input > n:
        warn_user(
            f"{n_input - n} of {n_input} rows dropped for missing values in {used}; the "
            "count is on the result as `n_dropped`",
            MissingDataWarning,
        )
    clusters = None if cluster is None else _cluster_table(first, cluster, se_type)
    means = sum(s["sum_x"] for s in first) / n if covs and adjustment == "lin" else None
    second = _compute([delayed(partition_gram)(p, spec, means) for p in parts])
    values = np.unique(np.concatenate([s["values"] for s in second]))
    if not np.all(np.isin(values, (0.0, 1.0))) or values.size != 2:
        raise DataValidationError(
            f"`treatment`: column {treatment!r} must be binary (0/1) with both arms present; "
            f"received values {short_repr(values.tolist())}"
        )
    xtx = sum(s["xtx"] for s in second)
    xty = sum(s["xty"] for s in second)
    k = xtx.shape[0]
    if np.linalg.matrix_rank(xtx) < k:
        raise DataValidationError(
            "the design is collinear (a covariate is constant or a combination of others); "
            "map-reduce regression needs a full-rank design: drop the redundant covariates"
        )
    if clusters is not None and cluster is not None:
        _check_clusters_per_arm(clusters, cluster)
    xtx_inv = np.linalg.inv(xtx)
    beta = xtx_inv @ xty
    rinv = _r_inverse(xtx) if se_type == "CR2" else None
    third = _compute([delayed(partition_meat)(p, spec, means, beta, xtx_inv, rinv) for p in parts])
    vcov, df_vec = _sandwich(third, xtx_inv, rinv, se_type, n, k)
    n_clusters = None if clusters is None else int(clusters.shape[0])
    df = float(df_vec[1])
    names = _names(treatment, covs, adjustment)
    se = np.sqrt(np.diag(vcov))
    options = {"outcome": outcome, "treatment": treatment, "covariates": covs,
               "adjustment": adjustment, "se_type": se_type, "cluster": cluster,
               "fixed_effects": [], "weights": None, "level": level, "engine": "dask"}  # fmt: skip
    digest = hashlib.sha256("".join(s["digest"] for s in first).encode()).hexdigest()
    n1 = int(sum(s["n1"] for s in second))
    label = ("Lin (2013) interacted adjustment" if covs and adjustment == "lin"
             else ("additive adjustment" if covs else "no covariates"))  # fmt: skip
    return EffectEstimate.from_wald(
        float(beta[1]), float(se[1]), level=level, df=df, estimand="ATE",
        method=f"OLS ({label}), {se_type}, map-reduce over {len(parts)} Dask partitions",
        n_obs=n, n_treated=n1, n_control=n - n1, n_clusters=n_clusters, outcome=outcome,
        n_dropped=n_input - n, provenance=Provenance(options=options, data_fingerprint=digest),
        details={
            "coefficients": _table(beta, se, names, level, df_vec),
            "vcov": pd.DataFrame(vcov, index=names, columns=names),
            "covariate_means": (
                {} if means is None else dict(zip(covs, means.tolist(), strict=True))
            ),
            "se_type": se_type,
        },
    )  # fmt: skip


def _r_inverse(xtx: np.ndarray) -> np.ndarray:
    """``R^-1`` for the upper-triangular ``R`` with positive diagonal and ``R'R = X'X``."""
    try:
        r = np.linalg.cholesky(xtx).T
    except np.linalg.LinAlgError as err:
        raise DataValidationError(
            "the design's Gram matrix X'X is not numerically positive definite (nearly "
            "collinear covariates), so CR2 cannot be formed by map-reduce: drop or rescale "
            "the covariates, or pass data.compute() if it fits in memory"
        ) from err
    return np.asarray(scipy.linalg.solve_triangular(r, np.eye(r.shape[0]), lower=False))


def _sandwich(
    pieces: list[Any],
    xtx_inv: np.ndarray,
    rinv: np.ndarray | None,
    se_type: str,
    n: int,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The variance and the df of each coefficient from the partitions' meat pieces."""
    if se_type == "CR2" and rinv is not None:
        parts: list[CR2Sums] = [p for p in pieces if p is not None]
        total = parts[0]
        for piece in parts[1:]:
            total = total + piece
        meat, df = cr2_from_sums(total, np.arange(k))
        return rinv @ meat @ rinv.T, df
    if se_type in _SCORE_SUM_SE:
        scores = pd.concat(pieces).groupby(level=0, sort=False).sum().to_numpy()
        g = scores.shape[0]
        meat = scores.T @ scores
        if se_type != "CR0":  # CR1 and its alias "stata": Stata's small-sample factor
            meat = meat * (g / (g - 1) * (n - 1) / (n - k))
        return xtx_inv @ meat @ xtx_inv, np.full(k, float(g - 1))
    if se_type == "classical":
        sigma2 = float(sum(pieces)) / (n - k)
        return sigma2 * xtx_inv, np.full(k, float(n - k))
    meat = sum(pieces)
    if se_type == "HC1":
        meat = meat * (n / (n - k))
    return xtx_inv @ meat @ xtx_inv, np.full(k, float(n - k))


def _names(treatment: str, covs: list[str], adjustment: str) -> list[str]:
    if not covs:
        return ["Intercept", treatment]
    if adjustment == "lin":
        return ["Intercept", treatment, *(f"{c}_c" for c in covs),
                *(f"{treatment}:{c}_c" for c in covs)]  # fmt: skip
    return ["Intercept", treatment, *covs]


def _table(
    beta: np.ndarray, se: np.ndarray, names: list[str], level: float, df: np.ndarray
) -> pd.DataFrame:
    rows = []
    for j, name in enumerate(names):
        lo, hi, p = interval(float(beta[j]), float(se[j]), level, float(df[j]))
        rows.append({"term": name, "estimate": beta[j], "std_error": se[j],
                     "statistic": beta[j] / se[j] if se[j] > 0 else np.nan, "p_value": p,
                     "ci_lower": lo, "ci_upper": hi, "df": df[j]})  # fmt: skip
    return pd.DataFrame(rows).set_index("term")
