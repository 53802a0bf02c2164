"""Covariate balance between treatment arms: standardised differences, variance ratios,
empirical-CDF distances and a joint test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from impacteval._validation import check_binary, prepare
from impacteval._warn import WarningLog
from impacteval.exceptions import DataValidationError
from impacteval.results import Provenance, Summary, SummaryDisplay, fingerprint

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["BalanceTable", "OmnibusTest", "balance"]

_STATS = ("mean_treated", "mean_control", "smd", "variance_ratio", "ks", "ecdf_mean")


@dataclass(frozen=True)
class OmnibusTest:
    """A joint test that the covariates do not predict treatment.

    Attributes
    ----------
    statistic : float
        The F statistic.
    df_num, df_denom : int
        Numerator (slopes tested) and denominator (residual) degrees of freedom.
    p_value : float
        ``F.sf(statistic, df_num, df_denom)``.
    method : str
        What was tested.
    """

    statistic: float
    df_num: int
    df_denom: int
    p_value: float
    method: str = "F test that all slopes are zero in OLS of treatment on the covariates"


@dataclass(frozen=True, kw_only=True)
class BalanceTable(SummaryDisplay):
    """Balance statistics by covariate, with a joint test and a Love plot.

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by covariate: ``mean_treated``, ``mean_control``, ``smd``,
        ``variance_ratio``, ``ks``, ``ecdf_mean`` and, when weights were given, the same
        with suffix ``_adjusted``.
    omnibus : OmnibusTest or None
        Joint F test (unweighted sample); None when no covariate varies.
    treatment : str
    covariates : tuple of str
    weights : str or None
    n_obs, n_treated, n_control, n_dropped : int
    warnings : tuple of str
    provenance : Provenance
    """

    table: pd.DataFrame
    omnibus: OmnibusTest | None
    treatment: str
    covariates: tuple[str, ...]
    weights: str | None = None
    n_obs: int = 0
    n_treated: int = 0
    n_control: int = 0
    n_dropped: int = 0
    warnings: tuple[str, ...] = ()
    provenance: Provenance = field(default_factory=Provenance)

    def to_frame(self) -> pd.DataFrame:
        """The balance table (a fresh copy)."""
        return self.table.copy()

    def summary(self) -> Summary:
        """A :class:`~impacteval.results.Summary`: the table plus the joint test."""
        facts = [
            ("Treatment", self.treatment),
            (
                "Observations (treated / control)",
                f"{self.n_obs:,} ({self.n_treated:,} / {self.n_control:,})",
            ),
            ("SMD", "difference in means / sqrt((var_t + var_c) / 2), unweighted SDs"),
        ]
        if self.weights is not None:
            facts.append(("Weights", self.weights))
        if self.omnibus is not None:
            o = self.omnibus
            facts.append(
                (
                    "Joint F test",
                    f"F({o.df_num}, {o.df_denom}) = {o.statistic:.4f}, p = {o.p_value:.4g}",
                )
            )
        if self.n_dropped:
            facts.append(("Rows dropped (missing)", f"{self.n_dropped:,}"))
        table = self.table.copy()
        table.index.name = "covariate"
        return Summary(
            title="Covariate balance", facts=tuple(facts), table=table, notes=self.warnings
        )

    def __repr__(self) -> str:
        return (
            f"BalanceTable(treatment={self.treatment!r}, covariates={len(self.covariates)}, "
            f"max |smd|={np.nanmax(np.abs(self.table['smd'].to_numpy())):.3f})"
        )

    def plot(self, ax: Axes | None = None, threshold: float = 0.1) -> Axes:
        """Love plot of absolute SMDs (unadjusted and, with weights, adjusted)."""
        from impacteval.plotting.diagnostics import LoveDisplay

        return LoveDisplay(self.table, threshold).draw(ax)


# -- numerics: arrays in, arrays out ------------------------------------------------------
def _weighted_var(x: np.ndarray, w: np.ndarray) -> float:
    """Unbiased variance with reliability weights (``ddof=1`` when all weights are 1)."""
    sw = w.sum()
    mean = float(w @ x / sw)
    denom = sw**2 - float(w @ w)
    return float(w @ (x - mean) ** 2 * sw / denom) if denom > 0 else np.nan


@dataclass(frozen=True)
class _Split:
    """One covariate split by arm, with the sorting the ECDF distances need (the same for
    every set of weights, so the unadjusted and adjusted statistics share it)."""

    t: np.ndarray
    c: np.ndarray
    xt: np.ndarray
    xc: np.ndarray
    order_t: np.ndarray
    order_c: np.ndarray
    pos_t: np.ndarray
    pos_c: np.ndarray


def _split(x: np.ndarray, z: np.ndarray) -> _Split:
    """Arms of ``x``; each arm's stable sort order and, for every pooled distinct value,
    the number of the arm's values at or below it."""
    t, c = z == 1, z == 0
    xt, xc = x[t], x[c]
    grid = np.unique(np.concatenate([xt, xc]))
    order_t = np.argsort(xt, kind="stable")
    order_c = np.argsort(xc, kind="stable")
    pos_t = np.searchsorted(xt[order_t], grid, side="right")
    pos_c = np.searchsorted(xc[order_c], grid, side="right")
    return _Split(t, c, xt, xc, order_t, order_c, pos_t, pos_c)


def _ecdf_distances(s: _Split, wt: np.ndarray, wc: np.ndarray) -> tuple[float, float]:
    """Max and mean absolute difference of the (weighted) ECDFs over pooled unique values."""

    def ecdf(w: np.ndarray, order: np.ndarray, pos: np.ndarray) -> np.ndarray:
        cum = np.concatenate([[0.0], np.cumsum(w[order])]) / w.sum()
        return np.asarray(cum[pos])

    diff = np.abs(ecdf(wt, s.order_t, s.pos_t) - ecdf(wc, s.order_c, s.pos_c))
    return float(diff.max()), float(diff.mean())


def _column_stats(s: _Split, w: np.ndarray, sd_pooled: float) -> list[float]:
    wt, wc = w[s.t], w[s.c]
    mt = float(wt @ s.xt / wt.sum())
    mc = float(wc @ s.xc / wc.sum())
    vt, vc = _weighted_var(s.xt, wt), _weighted_var(s.xc, wc)
    with np.errstate(divide="ignore", invalid="ignore"):
        smd = float(np.float64(mt - mc) / sd_pooled)
        ratio = float(np.float64(vt) / vc)
    ks, ecdf_mean = _ecdf_distances(s, wt, wc)
    return [mt, mc, smd, ratio, ks, ecdf_mean]


def _omnibus(z: np.ndarray, x: np.ndarray) -> OmnibusTest | None:
    """Classical F test of all slopes in OLS of ``z`` on ``[1, x]``."""
    n = z.size
    design = np.column_stack([np.ones(n), x])
    rank = int(np.linalg.matrix_rank(design))
    q, df2 = rank - 1, n - rank
    if q < 1 or df2 < 1:
        return None
    beta = np.linalg.lstsq(design, z, rcond=None)[0]
    ssr = float(np.sum((z - design @ beta) ** 2))
    tss = float(np.sum((z - z.mean()) ** 2))
    if ssr <= 1e-12 * tss:
        return OmnibusTest(statistic=np.inf, df_num=q, df_denom=df2, p_value=0.0)
    f = ((tss - ssr) / q) / (ssr / df2)
    return OmnibusTest(statistic=f, df_num=q, df_denom=df2, p_value=float(stats.f.sf(f, q, df2)))


def balance(
    data: pd.DataFrame,
    *,
    treatment: str,
    covariates: Sequence[str],
    weights: str | None = None,
) -> BalanceTable:
    """Covariate balance between the treated and control arms.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit.
    treatment : str
        Binary (0/1) treatment column.
    covariates : sequence of str
        Numeric covariates (make dummies of categorical ones first).
    weights : str, optional
        Column of non-negative weights (matching, IPW or entropy-balancing weights); adds
        the ``*_adjusted`` columns computed with them.

    Returns
    -------
    BalanceTable
        ``.table`` by covariate, ``.omnibus`` joint test, ``.plot()``, ``.summary()``.

    Raises
    ------
    DataValidationError
        Missing or non-numeric columns, non-binary treatment or an empty arm, no
        covariates, negative weights or an arm whose weights sum to zero.

    Notes
    -----
    For covariate ``x`` with arm means ``m_t``, ``m_c`` and variances ``s_t^2``, ``s_c^2``
    (divisor ``n - 1``):

    * ``smd = (m_t - m_c) / sqrt((s_t^2 + s_c^2) / 2)``: the pooled-SD standardised mean
      difference used for the ATE by MatchIt and cobalt (Austin 2009). The adjusted SMD
      uses weighted means over the same *unweighted* pooled SD, as cobalt does by default,
      so a change in SMD reflects a change in means only.
    * ``variance_ratio = s_t^2 / s_c^2`` (weighted: reliability-weight variances
      ``sum w (x - m)^2 * sum w / ((sum w)^2 - sum w^2)``, which equal the unweighted ones
      when all weights are 1).
    * ``ks`` and ``ecdf_mean``: the maximum and the mean absolute difference between the
      arms' (weighted) empirical CDFs, evaluated at the pooled distinct values.

    A covariate with zero variance in both arms has an undefined SMD (NaN, or +-inf if the
    arms differ) and is left out of the joint test; a warning says so.

    Joint test: the classical F test that all slopes are zero in the OLS regression of the
    treatment indicator on an intercept and the covariates (the linear probability model).
    Under random assignment treatment is independent of the covariates, so the errors are
    homoskedastic given them and the F test is valid in large samples. It uses the
    unweighted sample (weights are not sampling weights here). Hansen & Bowers (2008) is
    the randomisation-based alternative (R: ``RItools::xBalance``).

    References
    ----------
    Austin, P. C. (2009). Balance diagnostics for comparing the distribution of baseline
    covariates between treatment groups in propensity-score matched samples. Statistics in
    Medicine 28(25), 3083-3107.
    Ho, D., Imai, K., King, G. & Stuart, E. (2011). MatchIt. Journal of Statistical
    Software 42(8). R: ``cobalt::bal.tab``, ``MatchIt::summary.matchit``; Stata:
    ``tebalance summarize``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from impacteval.diagnostics.balance import balance
    >>> df = pd.DataFrame({"z": [1, 1, 1, 1, 0, 0, 0], "x": [1, 2, 3, 4, 2, 4, 6]})
    >>> round(float(balance(df, treatment="z", covariates=["x"]).table.loc["x", "smd"]), 4)
    -0.8911
    """
    if isinstance(covariates, str):
        covariates = [covariates]
    covs = list(covariates) if covariates is not None else []
    if not covs or not all(isinstance(c, str) for c in covs):
        raise DataValidationError(
            f"`covariates` must be a non-empty sequence of column names; received {covariates!r}"
        )
    prepared = prepare(
        data, numeric={"treatment": treatment, "covariates": covs, "weights": weights}
    )
    frame = prepared.frame
    z = check_binary(frame[treatment].to_numpy(dtype=float), "treatment", treatment)
    ones = np.ones(z.size)
    w = ones
    if weights is not None:
        w = frame[weights].to_numpy(dtype=float)
        if (w < 0).any():
            raise DataValidationError(
                f"`weights`: column {weights!r} must be non-negative; received "
                f"{int((w < 0).sum())} negative values"
            )
        for arm, name in ((1, "treated"), (0, "control")):
            if w[z == arm].sum() <= 0:
                raise DataValidationError(
                    f"`weights`: the {name} arm's weights sum to zero; nothing to compare"
                )
    rows: list[list[float]] = []
    log = WarningLog()
    varying: list[str] = []
    for col in covs:
        x = frame[col].to_numpy(dtype=float)
        split = _split(x, z)
        vt, vc = np.var(split.xt, ddof=1), np.var(split.xc, ddof=1)
        sd_pooled = float(np.sqrt((vt + vc) / 2.0))
        constant = not np.ptp(x) > 0
        if not constant:
            varying.append(col)
        if not sd_pooled > 0:
            why = (
                "is constant; it is left out of the joint test and"
                if constant
                else "has zero variance within both arms;"
            )
            log.warn(
                f"`covariates`: {col!r} {why} its SMD and variance ratio are "
                "undefined (NaN, or +-inf when the arms differ)"
            )
        row = _column_stats(split, ones, sd_pooled)
        if weights is not None:
            row += _column_stats(split, w, sd_pooled)
        rows.append(row)
    columns = list(_STATS) + ([f"{s}_adjusted" for s in _STATS] if weights is not None else [])
    table = pd.DataFrame(rows, index=pd.Index(covs, name="covariate"), columns=columns)
    omnibus = _omnibus(z, frame[varying].to_numpy(dtype=float)) if varying else None
    used = [treatment, *covs] + ([weights] if weights is not None else [])
    return BalanceTable(
        table=table,
        omnibus=omnibus,
        treatment=treatment,
        covariates=tuple(covs),
        weights=weights,
        n_obs=int(z.size),
        n_treated=int(z.sum()),
        n_control=int(z.size - z.sum()),
        n_dropped=prepared.n_dropped,
        warnings=log.messages,
        provenance=Provenance(
            options={"treatment": treatment, "covariates": covs, "weights": weights},
            data_fingerprint=fingerprint(data, used),
        ),
    )
