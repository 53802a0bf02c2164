"""Least squares with heteroskedasticity- and cluster-robust variances (array in, array out).

Variance estimators (registry :data:`SE_TYPES`), as R estimatr's ``lm_robust`` defines them
(Blair, Cooper, Coppock, Humphreys & Sonnet, estimatr 1.0):

* ``classical``: ``s^2 (X'X)^-1`` with ``s^2 = e'e / (n - k)``; df ``n - k``.
* ``HC0``..``HC3``: White's sandwich with the residual scaled by nothing (HC0),
  ``n/(n-k)`` (HC1), ``1/(1-h_ii)`` (HC2) or ``1/(1-h_ii)^2`` (HC3); df ``n - k``.
* ``CR0``: the clustered sandwich with no correction; df ``G - 1``.
* ``CR1`` (alias ``stata``): CR0 times ``G/(G-1) * (n-1)/(n-k)``, ``k`` counting every
  column of the design (fixed-effect dummies included, as estimatr does); df ``G - 1``.
* ``CR2``: Bell & McCaffrey (2002) bias-reduced linearisation: cluster residuals are
  premultiplied by ``(I - H_gg)^(-1/2)``; df per coefficient from the Bell-McCaffrey /
  Pustejovsky-Tipton (2018) Satterthwaite approximation under a working model of
  independent homoskedastic errors (what estimatr and clubSandwich's "Satterthwaite" test
  report for ``lm``).

With weights the model is fitted by weighted least squares: every quantity above is
computed on ``sqrt(w) X`` and ``sqrt(w) y``.

Why these numerics are written here rather than taken from statsmodels/linearmodels:
neither offers CR2 with the Bell-McCaffrey degrees of freedom, and their HC2 and clustered
paths form ``n x k`` temporaries several times over. Here everything is expressed through
the thin QR factor ``Q`` of the design, so that

* HC2/HC3 leverages are the row sums of ``Q**2`` (one pass);
* the CR2 adjustment needs only ``r x r`` matrices per cluster: with ``C_g = Q_g'Q_g``,
  ``Q_g' (I - H_gg)^(-1/2) e_g = (I - C_g)^(-1/2) Q_g' e_g``;
* the Bell-McCaffrey df needs no ``n x G`` matrix: with ``w = R^-T c``,
  ``G'G = diag(a) - D'D`` where ``a_g = w' C_g (I - C_g)^-1 w`` and the columns of ``D``
  are ``d_g = C_g (I - C_g)^(-1/2) w``, so ``tr(G'G)`` and ``tr((G'G)^2)`` reduce to sums
  over clusters and one ``r x r`` product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import scipy.sparse

__all__ = [
    "SE_TYPES",
    "CR2Sums",
    "OLSFit",
    "cr2_cluster_sums",
    "cr2_from_sums",
    "fit_ols",
    "in_span_of_others",
]

SE_TYPES: tuple[str, ...] = (
    "classical",
    "HC0",
    "HC1",
    "HC2",
    "HC3",
    "CR0",
    "CR1",
    "stata",
    "CR2",
)
CLUSTER_SE_TYPES: frozenset[str] = frozenset({"CR0", "CR1", "stata", "CR2"})

# Relative tolerance for dropping a column as collinear with earlier ones (R's lm uses 1e-7
# on the same quantity: the remaining norm of a column after projecting out earlier ones).
COLLINEARITY_TOL = 1e-7
# Eigenvalues of I - H_gg below this are treated as zero (a cluster with leverage one): the
# generalised inverse square root then zeroes that direction, as estimatr does.
_EIG_TOL = 1e-12


@dataclass(frozen=True)
class OLSFit:
    """Result of :func:`fit_ols`; arrays refer to the columns kept (see ``kept``)."""

    coef: np.ndarray  # (p,) with NaN for dropped columns
    vcov: np.ndarray  # (p, p) with NaN rows/cols for dropped columns
    df: np.ndarray  # (p,) residual / cluster / Satterthwaite df per coefficient
    kept: np.ndarray  # (p,) bool: column kept (not collinear)
    rank: int
    n_obs: int
    n_clusters: int | None
    resid: np.ndarray  # (n,) unweighted residuals y - X b
    se_type: str
    # HC2/HC3: observations with leverage one (within LEVERAGE_ONE_TOL), fitted exactly;
    # their variance contribution is undefined and set to zero, so the SE is too small
    n_leverage_one: int = 0


def _keep_columns(r0: np.ndarray, tol: float) -> np.ndarray:
    """Columns of X kept in order, dropping each one that earlier kept ones span (as R lm).

    Works on the ``k x k`` triangular factor of X (``X = Q0 R0``), so the cost is O(k^3).
    """
    k = r0.shape[1]
    keep = np.zeros(k, dtype=bool)
    basis = np.zeros((r0.shape[0], 0))
    for j in range(k):
        col = r0[:, j]
        norm = float(np.linalg.norm(col))
        if norm == 0.0:
            continue
        resid = col - basis @ (basis.T @ col) if basis.shape[1] else col
        # two passes of Gram-Schmidt for numerical safety
        if basis.shape[1]:
            resid = resid - basis @ (basis.T @ resid)
        rnorm = float(np.linalg.norm(resid))
        if rnorm > tol * norm:
            keep[j] = True
            basis = np.column_stack([basis, resid / rnorm])
    return keep


def _r_factor(a: np.ndarray) -> np.ndarray:
    """The ``k x k`` triangular factor of a thin QR decomposition (LAPACK geqrf)."""
    return cast(np.ndarray, np.linalg.qr(a, mode="r"))


# Largest ratio of the Cholesky pivots (after equilibration) trusted without a QR: the
# Gram route squares the condition number, so 1e-5 keeps ~6 more digits than the 1e-6
# agreement the references ask for, and anything worse falls back to Householder QR.
_GRAM_PIVOT_RATIO = 1e-5


def _r_factor_gram(a: np.ndarray) -> np.ndarray:
    """``R`` with ``R'R = A'A`` from a Cholesky of the equilibrated Gram matrix.

    One pass over the data (a GEMM) instead of the several a Householder QR of a tall
    matrix makes, which is what keeps large regressions fast. Designs that are
    ill-conditioned or rank-deficient fall back to :func:`_r_factor` (QR), so the result is
    as accurate as the QR route whenever it is used.
    """
    norms = np.sqrt(np.einsum("ij,ij->j", a, a))
    if a.shape[0] < 4 * a.shape[1] or np.any(norms == 0):
        return _r_factor(a)
    gram = (a.T @ a) / np.outer(norms, norms)
    try:
        lower = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError:
        return _r_factor(a)
    pivots = np.abs(np.diag(lower))
    if pivots.min() < _GRAM_PIVOT_RATIO * pivots.max():
        return _r_factor(a)
    return np.asarray(lower.T * norms[None, :])


def _triangular_inverse(r: np.ndarray) -> np.ndarray:
    """Inverse of an upper-triangular matrix by LAPACK ``dtrtri``.

    Called directly because ``scipy.linalg.solve_triangular`` costs milliseconds of
    Python overhead per call in SciPy 1.17, which dominates small regressions.
    """
    inv, info = scipy.linalg.lapack.dtrtri(np.asarray(r, dtype=float), lower=0)
    if info != 0:
        raise np.linalg.LinAlgError(f"triangular factor is singular (dtrtri info={info})")
    return np.asarray(inv)


# Rows per block in the heteroskedasticity-robust meat: large enough for BLAS, small enough
# that the temporaries stay in cache and are reused instead of faulting in fresh pages.
_HC_BLOCK = 65_536


# 1 - h_ii at or below this counts as leverage one (an observation the fit reproduces
# exactly): reported through OLSFit.n_leverage_one so that callers can warn.
LEVERAGE_ONE_TOL = 1e-8


def _hc_meat(
    x: np.ndarray, rinv: np.ndarray, resid: np.ndarray, se_type: str
) -> tuple[np.ndarray, int]:
    """``sum_i w_i x_i x_i'`` for HC0-HC3, in blocks of rows (no ``n x k`` temporaries).

    ``w_i`` is ``e_i^2`` (HC0), times ``n/(n-k)`` (HC1), over ``1 - h_ii`` (HC2) or its
    square (HC3), with the leverage ``h_ii = |R^-T x_i|^2``. Building the full ``n x k``
    matrices instead costs more in page faults than in arithmetic on large data. Also
    returns the number of observations with leverage one (HC2/HC3 only; 0 otherwise).
    """
    n, k = x.shape
    n_one = 0
    meat = np.zeros((k, k))
    block = min(n, _HC_BLOCK)
    qbuf = np.empty((block, k))
    wbuf = np.empty((block, k))
    for start in range(0, n, block):
        xs = x[start : start + block]
        m = xs.shape[0]
        e2 = resid[start : start + block] ** 2
        if se_type == "HC0":
            w = e2
        elif se_type == "HC1":
            w = e2 * (n / (n - k))
        else:
            qs = np.matmul(xs, rinv, out=qbuf[:m])
            one_minus = np.clip(1.0 - np.einsum("ij,ij->i", qs, qs), 0.0, None)
            n_one += int(np.count_nonzero(one_minus <= LEVERAGE_ONE_TOL))
            with np.errstate(divide="ignore", invalid="ignore"):
                w = e2 / (one_minus if se_type == "HC2" else one_minus**2)
            # a unit with leverage one has an undefined weight; estimatr sets it to zero
            w = np.where(np.isfinite(w), w, 0.0)
        np.multiply(xs, w[:, None], out=wbuf[:m])
        meat += wbuf[:m].T @ xs
    return meat, n_one


def in_span_of_others(x: np.ndarray, j: int) -> bool:
    """Whether column ``j`` of ``x`` is (numerically) a combination of the other columns."""
    order = [c for c in range(x.shape[1]) if c != j] + [j]
    return not bool(_keep_columns(_r_factor(x[:, order]), COLLINEARITY_TOL)[-1])


def _group_sum(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the rows of ``values`` (n x m) within groups (codes 0..G-1): a G x m array."""
    n = codes.shape[0]
    indicator = scipy.sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_groups, n))
    return np.asarray(indicator @ values)


@dataclass(frozen=True)
class _Pieces:
    """The pieces of one least-squares fit that the clustered variances need."""

    x: np.ndarray  # (n, p) unweighted design
    y: np.ndarray  # (n,) unweighted outcome
    xk: np.ndarray  # (n, r) weighted design, kept columns
    resid_w: np.ndarray  # (n,) weighted residuals
    rinv: np.ndarray  # (r, r) inverse of the R factor of xk
    r1: np.ndarray  # (r, r) R factor of xk
    keep: np.ndarray  # (p,) columns kept
    beta: np.ndarray  # (r,) coefficients of the kept columns


def _unclustered_meat(
    xk: np.ndarray, rinv: np.ndarray, resid_w: np.ndarray, se_type: str
) -> tuple[np.ndarray, int]:
    """Meat of the classical or HC variance in Q coordinates, and the leverage-one count."""
    n, rank = xk.shape
    if se_type == "classical":
        sigma2 = float(resid_w @ resid_w) / (n - rank)
        return sigma2 * np.eye(rank), 0
    hc_meat, n_leverage_one = _hc_meat(xk, rinv, resid_w, se_type)
    return rinv.T @ (hc_meat @ rinv), n_leverage_one


def _cluster_meat(
    f: _Pieces,
    se_type: str,
    weights: np.ndarray | None,
    clusters: np.ndarray,
    g_count: int,
    df_for: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Meat of a clustered variance in Q coordinates (``V = R^-1 meat R^-T``) and the df."""
    n, rank = f.xk.shape
    df_vec = np.full(rank, float(g_count - 1))
    if se_type == "CR2" and weights is not None:
        keep = f.keep
        vk_w, df_vec = _cr2_weighted(
            f.x[:, keep], f.y - f.x[:, keep] @ f.beta, weights, f.rinv, clusters, g_count
        )
        return f.r1 @ vk_w @ f.r1.T, df_vec  # back to Q coordinates
    if se_type == "CR2":
        sel = None
        if df_for is not None:
            position = np.cumsum(f.keep) - 1
            sel = np.array([position[j] for j in df_for if f.keep[j]], dtype=int)
        return _cr2(f.xk @ f.rinv, f.resid_w, f.rinv, clusters, g_count, sel)
    scores = _group_sum(f.xk * f.resid_w[:, None], clusters, g_count) @ f.rinv
    meat = scores.T @ scores
    if se_type in ("CR1", "stata"):
        meat *= g_count / (g_count - 1) * (n - 1) / (n - rank)
    return meat, df_vec


def fit_ols(
    x: np.ndarray,
    y: np.ndarray,
    *,
    se_type: str = "HC2",
    weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    n_clusters: int | None = None,
    df_for: np.ndarray | None = None,
) -> OLSFit:
    """Fit OLS/WLS and a robust variance.

    Parameters
    ----------
    x : ndarray, shape (n, p)
        Design matrix (include the intercept column yourself).
    y : ndarray, shape (n,)
        Outcome.
    se_type : str
        One of :data:`SE_TYPES` (see module docstring).
    weights : ndarray, optional
        Positive observation weights (WLS).
    clusters : ndarray of int, optional
        Cluster codes ``0..G-1``; required by the ``CR*`` types.
    n_clusters : int, optional
        ``G``; computed from ``clusters`` when omitted.
    df_for : array of int, optional
        Columns whose CR2 (Bell-McCaffrey) df are needed (all by default; the others are
        NaN). With many dummy columns, asking only for the slopes saves most of the work.

    Returns
    -------
    OLSFit
        Coefficients and variance for the full ``p`` columns (NaN where a column was
        dropped for collinearity, as R's ``lm`` reports ``NA``). With no residual degrees
        of freedom (``n <= rank``: an exact fit) the variance and df are NaN, since every
        residual is zero and nothing can be estimated; ``n_leverage_one`` counts the
        observations fitted exactly (HC2/HC3 give them zero weight, as estimatr).
    """
    n, p = x.shape
    if weights is not None:
        sw = np.sqrt(weights)
        xw = x * sw[:, None]
        yw = y * sw
    else:
        xw, yw = x, y
    r0 = _r_factor_gram(xw)
    keep = _keep_columns(r0, COLLINEARITY_TOL)
    xk = xw[:, keep] if not keep.all() else xw
    rank = int(keep.sum())
    # R of the kept columns: X_k = Q0 R0[:, keep] = (Q0 Q1) R1
    r1 = _r_factor(r0[:, keep])
    # fix signs so the diagonal is positive (Q = X R^-1 is then well defined and unique)
    signs = np.sign(np.diag(r1))
    signs[signs == 0] = 1.0
    r1 = r1 * signs[:, None]
    # R^-1 is only r x r, so Q = X_k R^-1 is one matrix product (a triangular solve with n
    # right-hand sides is far slower in LAPACK than this GEMM)
    rinv = _triangular_inverse(r1)
    beta = rinv @ (rinv.T @ (xk.T @ yw))
    resid_w = yw - xk @ beta

    g_count: int | None = None
    if n <= rank:
        # as many parameters as observations: the fit is exact, every residual is zero and
        # no variance can be estimated (HC0 would say 0, classical/HC1/CR1 divide by zero)
        vk = np.full((rank, rank), np.nan)
        df_vec = np.full(rank, np.nan)
        n_leverage_one = n
        if se_type in CLUSTER_SE_TYPES and clusters is not None:
            g_count = int(n_clusters if n_clusters is not None else clusters.max() + 1)
    elif se_type in CLUSTER_SE_TYPES:
        if clusters is None:
            raise ValueError(f"se_type={se_type!r} needs clusters")
        g_count = int(n_clusters if n_clusters is not None else clusters.max() + 1)
        meat, df_vec = _cluster_meat(
            _Pieces(x, y, xk, resid_w, rinv, r1, keep, beta), se_type, weights, clusters,
            g_count, df_for,
        )  # fmt: skip
        vk = rinv @ meat @ rinv.T
        n_leverage_one = 0
    else:
        df_vec = np.full(rank, float(n - rank))
        meat, n_leverage_one = _unclustered_meat(xk, rinv, resid_w, se_type)
        vk = rinv @ meat @ rinv.T

    coef = np.full(p, np.nan)
    coef[keep] = beta
    vcov = np.full((p, p), np.nan)
    vcov[np.ix_(keep, keep)] = vk
    df = np.full(p, np.nan)
    df[keep] = df_vec
    if weights is None:
        resid = resid_w
    else:
        resid = y - (x @ np.where(keep, coef, 0.0))
    return OLSFit(
        coef=coef,
        vcov=vcov,
        df=df,
        kept=keep,
        rank=rank,
        n_obs=n,
        n_clusters=g_count,
        resid=resid,
        se_type=se_type,
        n_leverage_one=n_leverage_one,
    )


def _cluster_batches(
    q: np.ndarray, resid: np.ndarray, clusters: np.ndarray, g: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Spectral pieces of ``C_g = Q_g'Q_g`` for every cluster, batched by cluster size.

    Returns ``(V, lam, b)`` per batch: ``C_g = V diag(lam) V'`` with ``V`` (batch, r, m)
    orthonormal, ``m = min(n_g, r)``, and ``b = Q_g' e_g`` (batch, r). Small clusters
    (``n_g < r``, e.g. one unit's periods when the design holds many dummies) are
    diagonalised through the ``n_g x n_g`` matrix ``Q_g Q_g'``, large ones through the
    ``r x r`` matrix ``Q_g'Q_g``: both cost O(n_g r min(n_g, r)).
    """
    # numpy radix-sorts 16-bit keys: much faster than a comparison sort on 1M rows
    keys = clusters.astype(np.int16) if g <= np.iinfo(np.int16).max else clusters
    order = np.argsort(keys, kind="stable")
    sizes = np.bincount(clusters, minlength=g)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    r = q.shape[1]
    out = []
    for size in np.unique(sizes):
        members = np.flatnonzero(sizes == size)
        rows = order[starts[members][:, None] + np.arange(size)[None, :]]  # (cnt, size)
        qs = q[rows]  # (cnt, size, r)
        b = np.einsum("csr,cs->cr", qs, resid[rows])
        if size >= r:
            lam, vec = np.linalg.eigh(np.matmul(qs.transpose(0, 2, 1), qs))
        else:
            lam, u = np.linalg.eigh(np.matmul(qs, qs.transpose(0, 2, 1)))
            lam = np.clip(lam, 0.0, None)
            pos = lam > _EIG_TOL
            inv_root = np.where(pos, 1.0 / np.sqrt(np.where(pos, lam, 1.0)), 0.0)
            vec = np.matmul(qs.transpose(0, 2, 1), u) * inv_root[:, None, :]
            lam = np.where(pos, lam, 0.0)
        out.append((vec, np.clip(lam, 0.0, 1.0), b))
    return out


@dataclass(frozen=True)
class CR2Sums:
    """The cluster-additive pieces of the CR2 meat and of its Bell-McCaffrey df.

    Every field is a sum over clusters, so pieces computed on disjoint sets of clusters
    (e.g. the partitions of a Dask DataFrame, each holding whole clusters) add up with
    ``+`` to the pieces of all clusters; :func:`cr2_from_sums` turns them into the meat
    and the df. Coordinates are those of ``Q = X R^-1`` (``R'R = X'X``); ``p`` is the
    number of coefficients whose df are wanted.
    """

    meat: np.ndarray  # (r, r) sum of adj_g adj_g', adj_g = Q_g' (I - H_gg)^(-1/2) e_g
    sum_a: np.ndarray  # (p,) sum of a_g = w' C_g (I - C_g)^-1 w
    sum_d2: np.ndarray  # (p,) sum of |d_g|^2, d_g = C_g (I - C_g)^(-1/2) w
    sum_a2: np.ndarray  # (p,) sum of a_g^2
    sum_ad2: np.ndarray  # (p,) sum of a_g |d_g|^2
    ddt: np.ndarray  # (p, r, r) sum of d_g d_g'

    def __add__(self, other: CR2Sums) -> CR2Sums:
        return CR2Sums(
            self.meat + other.meat,
            self.sum_a + other.sum_a,
            self.sum_d2 + other.sum_d2,
            self.sum_a2 + other.sum_a2,
            self.sum_ad2 + other.sum_ad2,
            self.ddt + other.ddt,
        )


def cr2_cluster_sums(
    q: np.ndarray, resid: np.ndarray, w: np.ndarray, clusters: np.ndarray, g: int
) -> CR2Sums:
    """CR2 pieces of the clusters ``0..g-1`` (each needs only its own rows).

    Parameters
    ----------
    q : ndarray, shape (n, r)
        Rows of ``Q = X R^-1`` of the whole fit (``R`` upper triangular, ``R'R = X'X``).
    resid : ndarray, shape (n,)
        Residuals of the whole fit on these rows.
    w : ndarray, shape (r, p)
        ``R^-T c`` for each contrast ``c`` whose df is wanted (column ``j`` of ``R^-T`` for
        coefficient ``j``).
    clusters : ndarray of int, shape (n,)
        Cluster codes ``0..g-1``, every code present; the rows must hold *all* the rows of
        each of these clusters (the adjustment ``(I - H_gg)^(-1/2)`` is per cluster).
    g : int
        Number of clusters among the rows.

    Returns
    -------
    CR2Sums
        This set of clusters' pieces; add the pieces of the other clusters with ``+``.
    """
    r = q.shape[1]
    p = w.shape[1]
    meat = np.zeros((r, r))
    sum_a = np.zeros(p)
    sum_d2 = np.zeros(p)
    sum_a2 = np.zeros(p)
    sum_ad2 = np.zeros(p)
    ddt = np.zeros((p, r, r))
    for vec, lam, b in _cluster_batches(q, resid, clusters, g):
        one_minus = 1.0 - lam
        ok = one_minus > _EIG_TOL
        f = np.where(ok, 1.0 / np.sqrt(np.where(ok, one_minus, 1.0)), 0.0)
        # zero eigenvalues of C_g leave the residual untouched: (I - C)^-1/2 = I there
        f = np.where(lam > 0, f, 1.0)
        proj = np.einsum("crm,cr->cm", vec, b)
        adj = b + np.einsum("crm,cm->cr", vec, (f - 1.0) * proj)
        meat += adj.T @ adj
        vw = np.matmul(vec.transpose(0, 2, 1), w)  # (cnt, m, p)
        a = np.einsum("cm,cmp->cp", lam * f**2, vw**2)
        d = np.matmul(vec, (lam * f)[:, :, None] * vw)  # (cnt, r, p)
        d2 = np.einsum("crp,crp->cp", d, d)
        sum_a += a.sum(axis=0)
        sum_d2 += d2.sum(axis=0)
        sum_a2 += (a**2).sum(axis=0)
        sum_ad2 += (a * d2).sum(axis=0)
        for j in range(p):
            dj = d[:, :, j]
            ddt[j] += dj.T @ dj
    return CR2Sums(meat, sum_a, sum_d2, sum_a2, sum_ad2, ddt)


def cr2_from_sums(sums: CR2Sums, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CR2 meat (Q coordinates) and Bell-McCaffrey df of the coefficients ``cols``.

    ``tr(G'G) = sum a - sum |d|^2`` and ``tr((G'G)^2) = sum a^2 - 2 sum a |d|^2 +
    |sum d d'|_F^2``; the df is ``tr(G'G)^2 / tr((G'G)^2)`` (NaN where the latter is 0).
    The df of the other coefficients are NaN.

    Parameters
    ----------
    sums : CR2Sums
        The pieces of *all* clusters (added over disjoint sets of clusters).
    cols : ndarray of int, shape (p,)
        The coefficients the pieces' df terms belong to (the columns of ``w`` given to
        :func:`cr2_cluster_sums`).

    Returns
    -------
    meat : ndarray, shape (r, r)
        The CR2 meat in Q coordinates (``V = R^-1 meat R^-T``).
    df : ndarray, shape (r,)
        Bell-McCaffrey df at ``cols``, NaN elsewhere.
    """
    r = sums.meat.shape[0]
    tr1 = sums.sum_a - sums.sum_d2
    tr2 = sums.sum_a2 - 2.0 * sums.sum_ad2 + np.einsum("pij,pij->p", sums.ddt, sums.ddt)
    df = np.full(r, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        df[cols] = np.where(tr2 > 0, tr1**2 / tr2, np.nan)
    return sums.meat, df


def _cr2(
    q: np.ndarray,
    resid: np.ndarray,
    rinv: np.ndarray,
    clusters: np.ndarray,
    g: int,
    df_for: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """CR2 meat (in Q coordinates) and Bell-McCaffrey df (for the columns ``df_for``)."""
    r = q.shape[1]
    cols = np.arange(r) if df_for is None else np.asarray(df_for)
    w = rinv.T[:, cols]  # column p is w_p = R^-T e_p
    return cr2_from_sums(cr2_cluster_sums(q, resid, w, clusters, g), cols)


def _cr2_weighted(
    x: np.ndarray,
    resid: np.ndarray,
    w: np.ndarray,
    rinv: np.ndarray,
    clusters: np.ndarray,
    g: int,
) -> tuple[np.ndarray, np.ndarray]:
    """CR2 variance and Bell-McCaffrey df for weighted least squares, as estimatr/clubSandwich.

    With weights the working model is still ``Theta = I`` (not inverse-variance), so the
    adjustment is ``A_g = B_g^(-1/2)`` with ``B_g = [(I - H)(I - H)']_gg`` and
    ``H = X M X'W``: ``B_g = I + U_g C U_g'`` with ``U_g = [X_g, W_g X_g]`` and
    ``C = [[M S M, -M], [-M, 0]]`` (``S = X'W^2 X``), so each ``B_g^(-1/2)`` needs only an
    SVD of the ``n_g x 2k`` matrix ``U_g``. The df use ``G = diag(a) + L N L'`` with
    ``L = [X_g'u_g, X_g'W_g u_g]`` and ``N = C``, so no ``J x J`` matrix is formed.
    Returns the variance in the coefficient coordinates and the df per coefficient.
    """
    k = x.shape[1]
    m = rinv @ rinv.T
    s_mat = (x * (w**2)[:, None]).T @ x
    msm = m @ s_mat @ m
    c_mat = np.block([[msm, -m], [-m, np.zeros((k, k))]])
    order = np.argsort(clusters, kind="stable")
    bounds = np.searchsorted(clusters[order], np.arange(g + 1), side="left")
    meat = np.zeros((k, k))
    a = np.zeros((g, k))
    lmat = np.zeros((g, 2 * k, k))
    for gi in range(g):
        idx = order[bounds[gi] : bounds[gi + 1]]
        xg, wg, eg = x[idx], w[idx], resid[idx]
        ug = np.hstack([xg, xg * wg[:, None]])
        us, ss, vst = np.linalg.svd(ug, full_matrices=False)
        keep = ss > ss.max() * 1e-12 if ss.size else ss > 0
        us, ss, vst = us[:, keep], ss[keep], vst[keep]
        t = (ss[:, None] * vst) @ c_mat @ (vst.T * ss[None, :])
        lam, vec = np.linalg.eigh(t)
        one_plus = 1.0 + lam
        ok = one_plus > _EIG_TOL
        f = np.where(ok, 1.0 / np.sqrt(np.where(ok, one_plus, 1.0)), 0.0) - 1.0
        basis = us @ vec  # B_g^(-1/2) = I + basis diag(f) basis'

        def apply(v: np.ndarray, basis: np.ndarray = basis, f: np.ndarray = f) -> np.ndarray:
            scaled = f[:, None] * (basis.T @ v) if v.ndim == 2 else f * (basis.T @ v)
            return np.asarray(v + basis @ scaled)

        score = xg.T @ (wg * apply(eg))
        meat += np.outer(score, score)
        zg = apply((xg * wg[:, None]) @ m)  # u_g for every coefficient (n_g x k)
        a[gi] = np.einsum("ij,ij->j", zg, zg)
        lmat[gi, :k] = xg.T @ zg
        lmat[gi, k:] = (xg * wg[:, None]).T @ zg
    vcov = m @ meat @ m
    df = np.empty(k)
    for j in range(k):
        lj = lmat[:, :, j]  # (G, 2k)
        nl = c_mat @ (lj.T @ lj)
        quad = np.einsum("gi,ij,gj->g", lj, c_mat, lj)
        tr1 = a[:, j].sum() + np.trace(nl)
        tr2 = (a[:, j] ** 2).sum() + 2.0 * (a[:, j] * quad).sum() + np.trace(nl @ nl)
        df[j] = tr1**2 / tr2 if tr2 > 0 else np.nan
    return vcov, df
