"""Numerics of the wild cluster bootstrap (arrays in, arrays out; no input checking).

The algorithm is the one of Roodman, MacKinnon, Nielsen & Webb (2019, "Fast and wild",
section 3): everything a bootstrap draw needs is reduced to cluster-level blocks once, so a
draw costs ``O(G^2)`` (a matrix-vector product of size ``G``), never ``O(n)``.

Notation: ``X`` is ``n x k``, ``A = (X'X)^-1``, ``a = A e_j`` for the tested coefficient
``j``, and for cluster ``g`` the blocks ``X_g'X_g`` (``G x k x k``) and ``X_g'y_g``
(``G x k``). For a coefficient vector ``b`` the cluster scores are
``S_g(b) = X_g'y_g - X_g'X_g b``.

Bootstrap DGP ``y* = X b0 + (u0 ∘ v)`` with ``u0 = y - X b0`` and one weight ``v_g`` per
cluster. With ``s_g = a'S_g(b0)`` and ``w_h = A X_h'X_h a``:

* numerator ``b*_j - b0_j = sum_g v_g s_g = s'v``;
* the cluster score of the re-estimated residuals along ``a`` is
  ``a'X_h'u*_h = v_h s_h - sum_g (w_h'S_g(b0)) v_g``, i.e. the vector ``K v`` with
  ``K = diag(s) - W S'`` (``W`` stacks the ``w_h``), so the CR variance of draw ``v`` is
  ``c * ||K v||^2`` (``c`` the small-sample factor).

Restricted fit (WCR). Imposing ``beta_j = theta`` gives
``b0(theta) = beta_hat - a (beta_hat_j - theta) / A_jj``, so with
``lam = (beta_hat_j - theta) / A_jj`` and ``M_g = X_g'X_g a`` the scores are linear in
``lam``: ``S(theta) = S_hat + lam M``. Hence ``s = s0 + lam s1`` and ``K = K0 + lam K1``,
and after one pass over the draws (three quadratic forms and two inner products per draw)
the bootstrap ``t`` of every ``theta`` costs ``O(B)``: this is what makes confidence
intervals by test inversion cheap (Roodman et al. 2019, section 3.5).

Unrestricted fit (WCU). ``b0 = beta_hat`` whatever ``theta``; the bootstrap ``t`` is
centred at ``beta_hat_j`` and does not depend on ``theta``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DRAW_CHUNK",
    "TIE_RTOL",
    "WEIGHT_TYPES",
    "ClusterBlocks",
    "DrawMoments",
    "bootstrap_t",
    "cluster_blocks",
    "draw_moments",
    "draw_weights",
    "enumerate_signs",
    "p_values",
]

WEIGHT_TYPES: tuple[str, ...] = ("rademacher", "webb", "mammen", "normal")
# Number of draws processed at once (memory G x DRAW_CHUNK doubles, twice); the results do
# not depend on it: the draws are made before chunking.
DRAW_CHUNK = 4096
# |t*| and |t| closer than this (relative) count as a tie and never as an exceedance. Under
# WCR the sign vectors v = +1 and v = -1 reproduce the original sample, so |t*| = |t| in
# exact arithmetic; rounding would otherwise decide whether they count.
TIE_RTOL = 1e-9


@dataclass(frozen=True)
class ClusterBlocks:
    """Cluster-level reductions of one regression and one tested coefficient.

    Attributes
    ----------
    beta_hat : ndarray (k,)
        OLS coefficients.
    a : ndarray (k,)
        ``A e_j``, the ``j``-th column of ``(X'X)^-1``.
    a_jj : float
        ``A_jj``.
    s_hat : ndarray (G,)
        ``a' X_g' u_hat_g`` (unrestricted residuals).
    m_a : ndarray (G,)
        ``a' X_g'X_g a``.
    k0 : ndarray (G, G)
        ``diag(s_hat) - W S_hat'``.
    k1 : ndarray (G, G)
        ``diag(m_a) - W M'``.
    """

    beta_hat: np.ndarray
    a: np.ndarray
    a_jj: float
    s_hat: np.ndarray
    m_a: np.ndarray
    k0: np.ndarray
    k1: np.ndarray


def cluster_blocks(
    x: np.ndarray, y: np.ndarray, codes: np.ndarray, g: int, j: int
) -> ClusterBlocks:
    """Reduce ``(X, y)`` to the cluster blocks for coefficient ``j`` (one ``O(n k^2)`` pass).

    ``codes`` are integer cluster codes ``0..g-1``; ``X`` must have full column rank.
    """
    k = x.shape[1]
    # X_g'X_g and X_g'y_g: rows sorted by cluster, one small product per cluster
    order = np.argsort(codes, kind="stable")
    xs, ys = x[order], y[order]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=g))])
    xtx_g = np.empty((g, k, k))
    xty_g = np.empty((g, k))
    for c in range(g):
        xc = xs[bounds[c] : bounds[c + 1]]
        xtx_g[c] = xc.T @ xc
        xty_g[c] = xc.T @ ys[bounds[c] : bounds[c + 1]]
    xtx = xtx_g.sum(axis=0)
    xty = xty_g.sum(axis=0)
    chol = np.linalg.cholesky(xtx)
    beta_hat = _chol_solve(chol, xty)
    a = _chol_solve(chol, np.eye(k)[:, j])
    scores = xty_g - xtx_g @ beta_hat  # (G, k): X_g'u_hat_g
    m = xtx_g @ a  # (G, k): X_g'X_g a
    w = m @ _chol_solve(chol, np.eye(k))  # rows w_h = A X_h'X_h a (A symmetric)
    s_hat = scores @ a
    m_a = m @ a
    k0 = np.diag(s_hat) - w @ scores.T
    k1 = np.diag(m_a) - w @ m.T
    return ClusterBlocks(
        beta_hat=beta_hat, a=a, a_jj=float(a[j]), s_hat=s_hat, m_a=m_a, k0=k0, k1=k1
    )


def _chol_solve(chol: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    z = np.linalg.solve(chol, rhs)
    out: np.ndarray = np.linalg.solve(chol.T, z)
    return out


def enumerate_signs(g: int) -> np.ndarray:
    """All ``2^g`` Rademacher sign vectors, shape ``(2^g, g)``, as ``itertools.product``.

    Row ``i`` has ``+1`` in column ``c`` where bit ``g - 1 - c`` of ``i`` is set, so the
    first cluster varies slowest (the order wildboottest's enumeration uses).
    """
    rows = np.arange(2**g, dtype=np.int64)[:, None]
    bits = (rows >> np.arange(g - 1, -1, -1, dtype=np.int64)) & 1
    out: np.ndarray = (2 * bits - 1).astype(np.float64)
    return out


def draw_weights(kind: str, b: int, g: int, rng: np.random.Generator) -> np.ndarray:
    """``b`` independent draws of ``g`` cluster weights, shape ``(b, g)``, mean 0 variance 1.

    rademacher: +-1 with probability 1/2. webb: +-sqrt(1/2), +-1, +-sqrt(3/2), each 1/6.
    mammen: ``-(sqrt5-1)/2`` with probability ``(sqrt5+1)/(2 sqrt5)``, else ``(sqrt5+1)/2``.
    normal: standard normal.
    """
    if kind == "rademacher":
        out: np.ndarray = 2.0 * rng.integers(0, 2, size=(b, g)).astype(np.float64) - 1.0
        return out
    if kind == "webb":
        points = np.sqrt(np.array([0.5, 1.0, 1.5]))
        support = np.concatenate([-points[::-1], points])
        return support[rng.integers(0, 6, size=(b, g))]
    if kind == "mammen":
        r5 = np.sqrt(5.0)
        low, high = -(r5 - 1.0) / 2.0, (r5 + 1.0) / 2.0
        p_low = (r5 + 1.0) / (2.0 * r5)
        draws: np.ndarray = np.where(rng.random(size=(b, g)) < p_low, low, high)
        return draws
    return rng.standard_normal(size=(b, g))


@dataclass(frozen=True)
class DrawMoments:
    """Per-draw scalars from which the bootstrap ``t`` of any null value follows.

    ``numerator(lam) = n0 + lam n1`` and ``variance(lam) / c = q00 + 2 lam q01 + lam^2 q11``
    (see the module docstring); for WCU only ``n0`` and ``q00`` are used.
    """

    n0: np.ndarray
    n1: np.ndarray
    q00: np.ndarray
    q01: np.ndarray
    q11: np.ndarray


def draw_moments(blocks: ClusterBlocks, v: np.ndarray) -> DrawMoments:
    """One pass over the draws ``v`` (``B x G``) in chunks of :data:`DRAW_CHUNK` rows."""
    b = v.shape[0]
    n0, n1 = v @ blocks.s_hat, v @ blocks.m_a
    q00, q01, q11 = np.empty(b), np.empty(b), np.empty(b)
    for start in range(0, b, DRAW_CHUNK):
        chunk = v[start : start + DRAW_CHUNK]
        p = chunk @ blocks.k0.T  # rows: K0 v_b
        q = chunk @ blocks.k1.T
        stop = start + chunk.shape[0]
        q00[start:stop] = np.einsum("ij,ij->i", p, p)
        q01[start:stop] = np.einsum("ij,ij->i", p, q)
        q11[start:stop] = np.einsum("ij,ij->i", q, q)
    return DrawMoments(n0=n0, n1=n1, q00=q00, q01=q01, q11=q11)


def bootstrap_t(moments: DrawMoments, lam: float, c: float, restricted: bool) -> np.ndarray:
    """Bootstrap ``t`` statistics at ``lam = (beta_hat_j - theta) / A_jj``.

    A draw whose bootstrap variance is zero (possible with very few clusters) gives a
    ``t`` of 0 when its numerator is zero too, else +-inf.
    """
    if restricted:
        num = moments.n0 + lam * moments.n1
        var = moments.q00 + 2.0 * lam * moments.q01 + lam * lam * moments.q11
    else:
        num, var = moments.n0, moments.q00
    var = np.maximum(c * var, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = num / np.sqrt(var)
    t[np.isnan(t)] = 0.0
    out: np.ndarray = t
    return out


def p_values(t_stat: float, t_boot: np.ndarray) -> tuple[float, float]:
    """Symmetric and equal-tailed bootstrap p-values of ``t_stat``.

    Symmetric: share of draws with ``|t*| > |t|``. Equal-tailed: ``2 min(P(t* > t),
    P(t* < t))``, capped at 1. Ties within :data:`TIE_RTOL` (relative) never count.
    """
    b = t_boot.shape[0]
    tol = TIE_RTOL * max(1.0, abs(t_stat))
    sym = np.count_nonzero(np.abs(t_boot) > abs(t_stat) + tol) / b
    upper = np.count_nonzero(t_boot > t_stat + tol) / b
    lower = np.count_nonzero(t_boot < t_stat - tol) / b
    return float(sym), float(min(1.0, 2.0 * min(upper, lower)))
