"""Wild cluster bootstrap tests and confidence intervals for one regression coefficient.

With few clusters (say fewer than 30-50, or few treated clusters) cluster-robust ``t``
tests over-reject even with the CR1 factor and ``t(G-1)`` critical values (Cameron,
Gelbach & Miller 2008; MacKinnon & Webb 2017). The wild cluster bootstrap with the null
imposed (WCR) is the usual remedy; this module implements it, the unrestricted variant
(WCU), and confidence intervals by test inversion, with the fast algorithm of Roodman,
MacKinnon, Nielsen & Webb (2019) in :mod:`impacteval.inference._wild_numerics`.

:func:`wild_cluster_bootstrap` takes arrays (a design matrix); the data-frame front end with
fixed effects is :func:`impacteval.inference.wild_frame.wild_bootstrap_regression`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from impacteval._validation import (
    check_choice,
    check_level,
    check_positive_int,
    check_rng,
    group_codes,
    short_repr,
)
from impacteval._warn import WarningLog
from impacteval.exceptions import DataValidationError, SmallSampleWarning
from impacteval.inference._wild_numerics import (
    WEIGHT_TYPES,
    bootstrap_t,
    cluster_blocks,
    draw_moments,
    draw_weights,
    enumerate_signs,
    p_values,
)
from impacteval.results import Summary, SummaryDisplay

__all__ = ["P_VALUE_TYPES", "SMALL_SAMPLE", "WildBootstrapResult", "wild_cluster_bootstrap"]

P_VALUE_TYPES: tuple[str, ...] = ("symmetric", "equal_tailed")
SMALL_SAMPLE: tuple[str, ...] = ("CR1", "CR0")
# Largest G for which full enumeration is allowed (2^20 draws of G weights).
MAX_ENUMERATE_G = 20
# Below this many clusters Rademacher weights take too few distinct values (MacKinnon &
# Webb 2017 recommend Webb's six-point weights there): a warning says so.
FEW_CLUSTERS_RADEMACHER = 10
_MAX_DOUBLINGS = 40
_BISECTIONS = 80


@dataclass(frozen=True, repr=False)
class WildBootstrapResult(SummaryDisplay):
    """Wild cluster bootstrap test of ``beta_j = null`` and the interval from inverting it.

    Attributes
    ----------
    coef : str
        Name of the tested coefficient.
    estimate, std_error : float
        OLS estimate and its cluster-robust standard error (with ``small_sample``).
    t_stat : float
        ``(estimate - null) / std_error``.
    p_value : float
        The bootstrap p-value of the type ``p_value_type``; both types are stored as
        ``p_value_symmetric`` and ``p_value_equal_tailed``.
    ci_lower, ci_upper : float
        Confidence interval at ``level`` by test inversion (may be infinite: see Notes of
        :func:`wild_cluster_bootstrap`).
    bootstrap_t : numpy.ndarray
        The ``n_draws`` bootstrap ``t`` statistics at ``null`` (read-only).
    n_draws : int
        Number of bootstrap draws actually used (``2^G`` when ``enumerated``).
    seed : int or None
        The integer seed when ``rng`` was one, else None (unused when ``enumerated``).
    """

    coef: str
    estimate: float
    std_error: float
    t_stat: float
    p_value: float
    p_value_symmetric: float
    p_value_equal_tailed: float
    p_value_type: str
    ci_lower: float
    ci_upper: float
    level: float
    null: float
    impose_null: bool
    weights_type: str
    n_draws: int
    enumerated: bool
    seed: int | None
    small_sample: str
    small_sample_factor: float
    n_obs: int
    n_clusters: int
    bootstrap_t: np.ndarray = field(repr=False)
    warnings: tuple[str, ...] = ()
    n_dropped: int = 0

    @property
    def method(self) -> str:
        """``"WCR"`` (null imposed) or ``"WCU"``, with the weights, e.g. ``"WCR-webb"``."""
        return ("WCR" if self.impose_null else "WCU") + "-" + self.weights_type

    def __repr__(self) -> str:
        return (
            f"WildBootstrapResult(coef={self.coef!r}, estimate={self.estimate:.6g}, "
            f"t_stat={self.t_stat:.4g}, p_value={self.p_value:.4g}, "
            f"ci=[{self.ci_lower:.6g}, {self.ci_upper:.6g}], method={self.method!r}, "
            f"n_draws={self.n_draws}, enumerated={self.enumerated})"
        )

    def summary(self) -> Summary:
        """A :class:`~impacteval.results.Summary`: the test, its settings and the interval."""
        facts = (
            (
                "Bootstrap",
                f"{self.method} ({'null imposed' if self.impose_null else 'unrestricted'})",
            ),
            ("Draws", f"{self.n_draws}" + (" (all 2^G sign vectors)" if self.enumerated else "")),
            ("Seed", "n/a" if self.enumerated or self.seed is None else str(self.seed)),
            ("Null", f"{self.coef} = {self.null:g}"),
            ("Clusters", str(self.n_clusters)),
            ("Observations", str(self.n_obs)),
            ("Variance", f"{self.small_sample} (factor {self.small_sample_factor:.4g})"),
            ("p-value type", self.p_value_type),
            ("Level", f"{self.level:g}; interval by test inversion"),
        )
        return Summary(
            title=f"Wild cluster bootstrap: {self.coef}",
            facts=facts,
            table=self.to_frame().drop(columns=["method"]),
            notes=self.warnings,
        )

    def to_frame(self) -> pd.DataFrame:
        """One row: the five result columns plus ``t_stat``, ``n_draws`` and ``method``."""
        return pd.DataFrame(
            {
                "estimate": [self.estimate],
                "std_error": [self.std_error],
                "ci_lower": [self.ci_lower],
                "ci_upper": [self.ci_upper],
                "p_value": [self.p_value],
                "t_stat": [self.t_stat],
                "n_draws": [self.n_draws],
                "method": [self.method],
            },
            index=pd.Index([self.coef], name="term"),
        )


def wild_cluster_bootstrap(
    x: Any,
    y: Any,
    cluster: Any,
    *,
    coef: int | str = 0,
    null: float = 0.0,
    impose_null: bool = True,
    weights_type: str = "rademacher",
    B: int = 9999,
    enumerate: bool | Literal["auto"] = "auto",
    rng: int | np.random.Generator | None = None,
    level: float = 0.95,
    small_sample: str = "CR1",
    p_value_type: str = "symmetric",
    coef_names: Any = None,
    absorbed_df: int = 0,
) -> WildBootstrapResult:
    """Wild cluster bootstrap (WCR or WCU) for one coefficient of a linear regression.

    Parameters
    ----------
    x : array-like (n, k) or pandas.DataFrame
        Design matrix of full column rank (include the intercept column yourself). A
        DataFrame's column names become the coefficient names.
    y : array-like (n,)
        Outcome.
    cluster : array-like (n,)
        Cluster labels (any hashable values, no missing); at least 2 clusters.
    coef : int or str, default 0
        The tested coefficient: a column position or a name.
    null : float, default 0.0
        Hypothesised value ``beta_j = null``.
    impose_null : bool, default True
        True: restricted residuals (WCR, recommended); False: unrestricted (WCU).
    weights_type : {"rademacher", "webb", "mammen", "normal"}, default "rademacher"
        Distribution of the cluster weights ``v_g`` (named as in pyfixest; ``weights``
        in impacteval's estimators means observation weights).
    B : int, default 9999
        Number of random draws (ignored when enumerating).
    enumerate : {"auto", True, False}, default "auto"
        Use all ``2^G`` Rademacher sign vectors instead of random draws. ``"auto"`` does so
        when ``weights_type="rademacher"`` and ``2^G <= B``; the p-value is then exact (no
        Monte Carlo error) and ``rng`` is not used. Only Rademacher weights can be
        enumerated (Webb's ``6^G`` vectors are not offered: ``True`` with other weights is
        an error).
    rng : int, numpy.random.Generator or None
        Source of the random draws; the same seed gives the same numbers.
    level : float, default 0.95
        Confidence level of the interval.
    small_sample : {"CR1", "CR0"}, default "CR1"
        Variance scaling ``c``: CR1 uses ``G/(G-1) * (n-1)/(n-k)``, CR0 uses 1. It scales
        the original and every bootstrap ``t`` alike, so p-values and intervals do not
        depend on it; it changes ``std_error`` and ``t_stat``.
    p_value_type : {"symmetric", "equal_tailed"}, default "symmetric"
        Which p-value is reported as ``p_value`` and inverted for the interval.
    coef_names : sequence of str, optional
        Names of the columns of ``x`` (default: a DataFrame's columns or ``x0, x1, ...``).
    absorbed_df : int, default 0
        Number of fixed-effect parameters partialled out of ``x`` and ``y`` beforehand;
        counted in ``k`` of the CR1 factor (as when the dummies are in the model).

    Returns
    -------
    WildBootstrapResult

    Raises
    ------
    DataValidationError
        For a bad argument (the message names it), a rank-deficient ``x`` or fewer than
        2 clusters.

    Notes
    -----
    Model ``y = X beta + u`` with ``u`` independent across ``G`` clusters; test
    ``H0: beta_j = theta`` (``theta = null``). Let ``A = (X'X)^-1``. The statistic is
    ``t = (beta_hat_j - theta) / se`` with ``se^2 = c * sum_g (a'X_g'u_hat_g)^2``,
    ``a = A e_j`` and ``c = G/(G-1) * (n-1)/(n-k)`` (CR1).

    *Restricted (WCR).* Fit under the null, ``beta_tilde = beta_hat - a (beta_hat_j -
    theta) / A_jj`` (so ``beta_tilde_j = theta``), with residuals ``u_tilde = y - X
    beta_tilde``. Each draw multiplies the residuals of cluster ``g`` by one weight,
    ``y*_g = X_g beta_tilde + v_g u_tilde_g``, re-estimates ``beta*`` and its CR
    variance, and forms ``t* = (beta*_j - theta) / se*``.

    *Unrestricted (WCU).* Same with ``beta_hat`` and ``u_hat``, and ``t* = (beta*_j -
    beta_hat_j) / se*``.

    The symmetric p-value is the share of draws with ``|t*| > |t|``; the equal-tailed
    p-value is ``2 min(P*(t* > t), P*(t* < t))``. Ties (within a relative ``1e-9``) do not
    count: under WCR the sign vectors ``v = +-1`` reproduce the sample, so ``|t*| = |t|``
    exactly and counting them would depend on rounding. The test rejects at level
    ``alpha = 1 - level`` when ``p <= alpha``.

    The interval is ``{theta : p(theta) > alpha}`` with the same draws for every
    ``theta``: the restricted scores are linear in ``theta``, so after one pass each
    ``p(theta)`` costs ``O(B)`` (Roodman et al. 2019, section 3.5). Its ends are found
    by bracketing outward from ``beta_hat`` (starting at the CR1 ``t(G-1)`` half-width,
    doubling) and bisecting; when ``p(theta)`` stays above ``alpha`` however far out (WCR
    can do this with very few clusters) the end is infinite and a warning says so. The
    set is assumed to be an interval (it need not be in pathological cases).

    Each draw costs ``O(G^2)`` after an ``O(n k^2)`` pass that reduces the data to the
    cluster blocks ``X_g'X_g`` and ``X_g'u_g`` (the "fast and wild" algorithm).

    References
    ----------
    Cameron, A. C., Gelbach, J. B. and Miller, D. L. (2008). Bootstrap-based improvements
    for inference with clustered errors. *Review of Economics and Statistics* 90(3),
    414-427.

    MacKinnon, J. G. and Webb, M. D. (2017). Wild bootstrap inference for wildly different
    cluster sizes. *Journal of Applied Econometrics* 32(2), 233-254.

    Roodman, D., MacKinnon, J. G., Nielsen, M. Ø. and Webb, M. D. (2019). Fast and wild:
    bootstrap inference in Stata using boottest. *Stata Journal* 19(1), 4-60.

    Equivalents: Stata ``boottest``; R ``fwildclusterboot::boottest``; Python
    ``wildboottest`` (and ``pyfixest``'s ``Feols.wildboottest``), whose type "11" with
    Rademacher enumeration this reproduces.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> cl = np.repeat(np.arange(12), 20)
    >>> x = np.column_stack([np.ones(240), rng.normal(size=240)])
    >>> y = 1.0 + rng.normal(size=12)[cl] + rng.normal(size=240)
    >>> res = wild_cluster_bootstrap(x, y, cl, coef=1, weights_type="rademacher", rng=0)
    >>> res.enumerated, res.n_draws
    (True, 4096)
    >>> bool(res.ci_lower < res.estimate < res.ci_upper)
    True
    """
    log = WarningLog()
    xa, names = _check_x(x, coef_names)
    n, k = xa.shape
    ya = _check_vector(y, "y", n)
    codes, g = _check_cluster(cluster, n)
    j = _check_coef(coef, names)
    theta = _check_finite(null, "null")
    if not isinstance(impose_null, bool | np.bool_):
        raise DataValidationError(
            f"`impose_null` must be True (WCR) or False (WCU); received {short_repr(impose_null)}"
        )
    kind = check_choice(weights_type, "weights_type", WEIGHT_TYPES)
    n_boot = check_positive_int(B, "B", minimum=19)
    level = check_level(level)
    small_sample = check_choice(small_sample, "small_sample", SMALL_SAMPLE)
    p_value_type = check_choice(p_value_type, "p_value_type", P_VALUE_TYPES)
    absorbed = check_positive_int(absorbed_df, "absorbed_df", minimum=0)
    use_enum = _check_enumerate(enumerate, kind, g, n_boot)
    generator, seed = check_rng(rng)
    if n - k - absorbed < 1:
        raise DataValidationError(
            f"`x`: {k} columns (+{absorbed} absorbed) leave no residual degrees of freedom "
            f"with {n} observations"
        )
    if np.linalg.matrix_rank(xa) < k:
        raise DataValidationError(
            f"`x` must have full column rank; its {k} columns have rank "
            f"{np.linalg.matrix_rank(xa)} (drop collinear columns)"
        )
    if kind == "rademacher" and g < FEW_CLUSTERS_RADEMACHER:
        log.warn(
            f"only {g} clusters: Rademacher weights give at most 2^{g - 1} = {2 ** (g - 1)} "
            "distinct |t*|, so p-values are coarse; MacKinnon & Webb (2017) recommend "
            "weights_type='webb' with so few clusters",
            SmallSampleWarning,
        )

    blocks = cluster_blocks(xa, ya, codes, g, j)
    v = enumerate_signs(g) if use_enum else draw_weights(kind, n_boot, g, generator)
    moments = draw_moments(blocks, v)
    c = g / (g - 1) * (n - 1) / (n - k - absorbed) if small_sample == "CR1" else 1.0
    se = math.sqrt(c * float(blocks.s_hat @ blocks.s_hat))
    if not se > 0.0:
        raise DataValidationError(
            f"`x`: the cluster-robust standard error of {names[j]!r} is zero "
            "(the coefficient is determined within clusters without residual variation)"
        )
    est = float(blocks.beta_hat[j])
    t_stat = (est - theta) / se
    t_boot = bootstrap_t(moments, (est - theta) / blocks.a_jj, c, impose_null)
    p_sym, p_eq = p_values(t_stat, t_boot)
    which = 0 if p_value_type == "symmetric" else 1

    def p_at(value: float) -> float:
        tb = bootstrap_t(moments, (est - value) / blocks.a_jj, c, impose_null)
        return p_values((est - value) / se, tb)[which]

    crit = float(stats.t.ppf(0.5 + level / 2.0, g - 1)) * se
    lower = _interval_end(p_at, est, -crit, 1.0 - level, log)
    upper = _interval_end(p_at, est, crit, 1.0 - level, log)
    t_boot.setflags(write=False)
    return WildBootstrapResult(
        coef=names[j],
        estimate=est,
        std_error=se,
        t_stat=t_stat,
        p_value=p_sym if which == 0 else p_eq,
        p_value_symmetric=p_sym,
        p_value_equal_tailed=p_eq,
        p_value_type=p_value_type,
        ci_lower=lower,
        ci_upper=upper,
        level=level,
        null=theta,
        impose_null=bool(impose_null),
        weights_type=kind,
        n_draws=int(v.shape[0]),
        enumerated=use_enum,
        seed=seed,
        small_sample=small_sample,
        small_sample_factor=c,
        n_obs=n,
        n_clusters=g,
        bootstrap_t=t_boot,
        warnings=log.messages,
    )


def _interval_end(p_at: Any, est: float, step: float, alpha: float, log: WarningLog) -> float:
    """The end of ``{theta: p(theta) > alpha}`` on the side of ``sign(step)``."""
    side = "upper" if step > 0 else "lower"
    if not p_at(est) > alpha:
        log.warn(
            f"the bootstrap p-value at the estimate itself is <= {alpha:g}: the {side} "
            "confidence limit by test inversion is undefined (NaN)",
            SmallSampleWarning,
        )
        return math.nan
    inside, outside = est, est + step
    for _ in range(_MAX_DOUBLINGS):
        if not p_at(outside) > alpha:
            break
        inside, step = outside, 2.0 * step
        outside = est + step
    else:
        log.warn(
            f"the {side} confidence limit is unbounded: the bootstrap p-value stays above "
            f"{alpha:g} however far the null is moved (common with very few clusters)",
            SmallSampleWarning,
        )
        return math.inf if step > 0 else -math.inf
    for _ in range(_BISECTIONS):
        mid = 0.5 * (inside + outside)
        if mid in (inside, outside):
            break
        if p_at(mid) > alpha:
            inside = mid
        else:
            outside = mid
    return 0.5 * (inside + outside)


def _check_x(x: Any, coef_names: Any) -> tuple[np.ndarray, list[str]]:
    names: list[str] | None = None
    if isinstance(x, pd.DataFrame):
        names = [str(c) for c in x.columns]
    try:
        xa = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataValidationError(
            f"`x` must be a numeric 2-D array; received {short_repr(x)}"
        ) from err
    if xa.ndim != 2 or xa.shape[0] == 0 or xa.shape[1] == 0:
        raise DataValidationError(
            f"`x` must be a non-empty 2-D array (n, k); received shape {xa.shape}"
        )
    if not np.isfinite(xa).all():
        raise DataValidationError("`x` must be finite; received NaN or infinite values")
    if coef_names is not None:
        names = [str(c) for c in coef_names]
        if len(names) != xa.shape[1]:
            raise DataValidationError(
                f"`coef_names` must have one name per column of `x` ({xa.shape[1]}); "
                f"received {len(names)}"
            )
    return xa, names or [f"x{i}" for i in range(xa.shape[1])]


def _check_vector(values: Any, param: str, n: int) -> np.ndarray:
    try:
        out = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataValidationError(
            f"`{param}` must be a numeric 1-D array; received {short_repr(values)}"
        ) from err
    if out.ndim != 1 or out.shape[0] != n:
        raise DataValidationError(
            f"`{param}` must be 1-D with one value per row of `x` ({n}); received shape {out.shape}"
        )
    if not np.isfinite(out).all():
        raise DataValidationError(f"`{param}` must be finite; received NaN or infinite values")
    return out


def _check_cluster(cluster: Any, n: int) -> tuple[np.ndarray, int]:
    labels = pd.Series(
        np.asarray(cluster, dtype=object) if not hasattr(cluster, "shape") else cluster
    )
    if np.ndim(cluster) != 1 or labels.shape[0] != n:
        raise DataValidationError(
            f"`cluster` must be 1-D with one label per row of `x` ({n}); received shape "
            f"{np.shape(cluster)}"
        )
    if labels.isna().any():
        raise DataValidationError(
            f"`cluster` must have no missing labels; received {int(labels.isna().sum())}"
        )
    codes, g = group_codes(labels.reset_index(drop=True))
    if g < 2:
        raise DataValidationError(f"`cluster` must have at least 2 clusters; received {g}")
    return codes, g


def _check_coef(coef: Any, names: list[str]) -> int:
    if isinstance(coef, str):
        if coef not in names:
            raise DataValidationError(f"`coef` must be one of {names}; received {coef!r}")
        return names.index(coef)
    if isinstance(coef, numbers.Integral) and not isinstance(coef, bool):
        if 0 <= int(coef) < len(names):
            return int(coef)
    raise DataValidationError(
        f"`coef` must be a column position 0..{len(names) - 1} or a name in {names}; "
        f"received {short_repr(coef)}"
    )


def _check_finite(value: Any, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise DataValidationError(
            f"`{param}` must be a finite number; received {short_repr(value)}"
        )
    return float(value)


def _check_enumerate(enumerate: Any, kind: str, g: int, n_boot: int) -> bool:
    if isinstance(enumerate, str) and enumerate == "auto":
        return kind == "rademacher" and g <= MAX_ENUMERATE_G and 2**g <= n_boot
    if not isinstance(enumerate, bool | np.bool_):
        raise DataValidationError(
            f"`enumerate` must be 'auto', True or False; received {short_repr(enumerate)}"
        )
    if enumerate and kind != "rademacher":
        raise DataValidationError(
            "`enumerate`: True needs weights_type='rademacher' (full enumeration visits the "
            f"2^G equally likely sign vectors); received weights_type={kind!r}, which is not "
            "enumerated (Webb's 6^G vectors are far too many, Mammen's points are not "
            "equally likely, normal draws are continuous): use enumerate=False or 'auto'"
        )
    if enumerate and g > MAX_ENUMERATE_G:
        raise DataValidationError(
            f"`enumerate`: True with {g} clusters would need 2^{g} draws (at most "
            f"2^{MAX_ENUMERATE_G}); use enumerate=False or 'auto'"
        )
    return bool(enumerate)
