"""Power and minimum detectable effects for individually and cluster-randomised trials.

Both entry points describe the design by its standard-error factor and degrees of freedom
(Bloom 1995, 2005) and then either use the closed form ``MDE = (t_a + t_b) SE`` or the
exact noncentral-t power. Everything is scalar and closed form; nothing is simulated.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pandas as pd
from scipy import optimize, stats

from impacteval._validation import check_choice, check_positive_int
from impacteval.exceptions import DataValidationError
from impacteval.results import Summary, SummaryDisplay

__all__ = ["PowerResult", "minimum_detectable_effect", "power"]

_ALTERNATIVES = ("two-sided", "one-sided")
_METHODS = ("bloom", "noncentral_t")
# the design inputs shared by both entry points, in the order _design unpacks them
_DESIGN_ARGS = (
    *("n", "n_clusters", "cluster_size", "icc", "treated_share", "r2", "r2_cluster"),
    *("r2_individual", "n_covariates", "sd", "df"),
)
_QUANTITIES = ("mde", "effect_size", "power", "std_error", "multiplier", "design_effect")


@dataclass(frozen=True)
class PowerResult(SummaryDisplay):
    """A solved power calculation: the minimum detectable effect or the power.

    ``float(result)`` gives the solved quantity (``mde`` for
    :func:`minimum_detectable_effect`, ``power`` for :func:`power`).

    Attributes
    ----------
    quantity : {"mde", "power"}
        Which quantity was solved for.
    mde : float
        The effect in outcome units: solved (``quantity == "mde"``) or given.
    effect_size : float
        ``mde / sd``, the effect in standard deviations of the outcome.
    power : float
        The power: solved (``quantity == "power"``) or the target.
    std_error : float
        Standard error of the impact estimate implied by the design, outcome units.
    df : float or None
        Degrees of freedom of the t reference; None means normal quantiles.
    multiplier : float
        ``mde / std_error`` (Bloom's multiplier ``t_a + t_b`` for ``method="bloom"``).
    design, design_effect : str, float
        ``"individual"`` or ``"cluster"``; the Kish design effect ``1 + (m - 1) icc`` (1
        for an individual design): the variance inflation from clustering, before
        covariates.
    alpha, alternative, method
        The test and the calculation, as passed.
    inputs : Mapping
        Every design input after defaults were resolved (read-only).
    """

    quantity: str
    mde: float
    effect_size: float
    power: float
    std_error: float
    df: float | None
    multiplier: float
    design: str
    design_effect: float
    alpha: float
    alternative: str
    method: str
    inputs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", MappingProxyType(dict(self.inputs)))

    def __float__(self) -> float:
        return self.mde if self.quantity == "mde" else self.power

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame of the solved quantities and the test settings."""
        names = (*_QUANTITIES, "df", "alpha", "alternative", "method", "design")
        row = {k: getattr(self, k) for k in names}
        return pd.DataFrame([row], index=pd.Index([self.quantity], name="solved_for"))

    def summary(self) -> Summary:
        """A :class:`~impacteval.results.Summary` of the calculation."""
        values = [getattr(self, k) for k in _QUANTITIES]
        table = pd.DataFrame({"value": values}, index=pd.Index(_QUANTITIES, name="quantity"))
        facts = [
            ("Solved for", self.quantity),
            ("Design", self.design),
            ("Method", self.method),
            ("Test", f"{self.alternative}, alpha = {self.alpha}"),
            ("Degrees of freedom", "normal" if self.df is None else f"{self.df:g}"),
        ]
        facts += [(k, str(v)) for k, v in self.inputs.items() if v is not None]
        title = "Minimum detectable effect" if self.quantity == "mde" else "Power"
        return Summary(title=title, facts=tuple(facts), table=table)


# -- input checks ------------------------------------------------------------------------
def _real(value: object, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise DataValidationError(f"`{param}` must be a real number; received {value!r}")
    return float(value)


def _fraction(value: object, param: str, *, closed: bool = False, what: str = "") -> float:
    """A number in (0, 1), or in [0, 1] with ``closed``; ``[0, 1)`` is ``what='r2'``."""
    x = _real(value, param)
    if what == "r2":
        ok, rng = 0.0 <= x < 1.0, "in [0, 1)"
    elif closed:
        ok, rng = 0.0 <= x <= 1.0, "in [0, 1]"
    else:
        ok, rng = 0.0 < x < 1.0, "strictly between 0 and 1"
    if not ok:
        raise DataValidationError(f"`{param}` must be a number {rng}; received {value!r}")
    return x


def _positive(value: object, param: str) -> float:
    x = _real(value, param)
    if not (x > 0 and math.isfinite(x)):
        raise DataValidationError(f"`{param}` must be a positive finite number; received {value!r}")
    return x


@dataclass(frozen=True)
class _Design:
    std_error: float  # SE of the impact estimate in outcome units
    df: float | None
    design: str
    design_effect: float
    inputs: dict[str, Any]


def _design(spec: Mapping[str, Any]) -> _Design:
    """Check the design inputs once and return its SE factor and degrees of freedom."""
    n, n_clusters, cluster_size, icc, treated_share = (spec[k] for k in _DESIGN_ARGS[:5])
    r2, r2_cluster, r2_individual, n_covariates, sd, df = (spec[k] for k in _DESIGN_ARGS[5:])
    if (n is None) == (n_clusters is None):
        raise DataValidationError(
            "give exactly one of `n` (individually randomised design) and `n_clusters` "
            f"(cluster-randomised design); received n={n!r}, n_clusters={n_clusters!r}"
        )
    p = _fraction(treated_share, "treated_share")
    r2_ = _fraction(r2, "r2", what="r2")
    icc_ = _fraction(icc, "icc", closed=True)
    sd_ = _positive(sd, "sd")
    k = check_positive_int(n_covariates, "n_covariates", minimum=0)
    inputs: dict[str, Any] = {"treated_share": p, "sd": sd_, "n_covariates": k}
    if n is not None:
        for name in ("n_clusters", "cluster_size", "r2_cluster", "r2_individual"):
            if (val := spec[name]) is not None:
                raise DataValidationError(
                    f"`{name}` describes a cluster-randomised design and needs `n_clusters` "
                    f"instead of `n`; received {name}={val!r} with n={n!r}"
                )
        if icc_ != 0.0:
            raise DataValidationError(
                f"`icc` needs a cluster-randomised design (`n_clusters`, `cluster_size`); "
                f"received icc={icc!r} with n={n!r}"
            )
        n_ = check_positive_int(n, "n", minimum=3 + k)
        se = sd_ * math.sqrt((1.0 - r2_) / (p * (1.0 - p) * n_))
        design_df = float(n_ - 2 - k)
        inputs |= {"n": n_, "r2": r2_}
        design, deff = "individual", 1.0
    else:
        j = check_positive_int(n_clusters, "n_clusters", minimum=3 + k)
        if cluster_size is None:
            raise DataValidationError(
                "`cluster_size` (units per cluster) is required with `n_clusters`; received None"
            )
        m = check_positive_int(cluster_size, "cluster_size", minimum=1)
        r2c = r2_ if r2_cluster is None else _fraction(r2_cluster, "r2_cluster", what="r2")
        r2i = r2_ if r2_individual is None else _fraction(r2_individual, "r2_individual", what="r2")
        base = p * (1.0 - p) * j
        se = sd_ * math.sqrt(icc_ * (1.0 - r2c) / base + (1.0 - icc_) * (1.0 - r2i) / (base * m))
        design_df = float(j - 2 - k)
        inputs |= {
            "n_clusters": j,
            "cluster_size": m,
            "icc": icc_,
            "r2_cluster": r2c,
            "r2_individual": r2i,
        }
        design, deff = "cluster", 1.0 + (m - 1) * icc_
    if isinstance(df, str):
        check_choice(df, "df", ("auto",))
        used_df: float | None = design_df
    elif df is None:
        used_df = None
    else:
        used_df = _positive(df, "df")
    inputs["df"] = df
    return _Design(std_error=se, df=used_df, design=design, design_effect=deff, inputs=inputs)


# -- numerics (pure functions of the standardised noncentrality) ---------------------------
def _critical(alpha: float, alternative: str, df: float | None) -> float:
    dist = stats.norm() if df is None else stats.t(df)
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    return float(dist.isf(tail))


def _power_exact(ncp: float, alpha: float, alternative: str, df: float | None) -> float:
    """Power of the t (or z) test when the statistic has noncentrality ``ncp`` >= 0."""
    crit = _critical(alpha, alternative, df)
    if df is None:
        upper = float(stats.norm.sf(crit - ncp))
        lower = float(stats.norm.cdf(-crit - ncp)) if alternative == "two-sided" else 0.0
    else:
        upper = float(stats.nct.sf(crit, df, ncp))
        lower = float(stats.nct.cdf(-crit, df, ncp)) if alternative == "two-sided" else 0.0
    return upper + lower


def _power_bloom(ncp: float, alpha: float, alternative: str, df: float | None) -> float:
    """Bloom's approximation: the far tail ignored, a central t shifted by ``ncp``."""
    crit = _critical(alpha, alternative, df)
    dist = stats.norm() if df is None else stats.t(df)
    return float(dist.cdf(ncp - crit))


def _multiplier(
    target: float, alpha: float, alternative: str, df: float | None, method: str
) -> float:
    """The ``ncp`` at which the power equals ``target`` (MDE = multiplier * SE)."""
    crit = _critical(alpha, alternative, df)
    dist = stats.norm() if df is None else stats.t(df)
    bloom = crit + float(dist.ppf(target))
    if method == "bloom":
        return bloom

    def gap(ncp: float) -> float:
        return _power_exact(ncp, alpha, alternative, df) - target

    lo, hi = 0.0, max(2.0 * abs(bloom), 1.0)
    if gap(lo) >= 0.0:  # only when target <= the size of the test
        return 0.0
    while gap(hi) < 0.0:
        hi *= 2.0
    return float(optimize.brentq(gap, lo, hi, xtol=1e-12, rtol=1e-12))


def _result(
    quantity: str, effect: float, pw: float, mult: float, d: _Design, **kw: Any
) -> PowerResult:
    """Assemble the result; ``kw`` holds alpha, alternative and method."""
    sd = d.inputs["sd"]
    return PowerResult(
        quantity,
        effect,
        effect / sd,
        pw,
        d.std_error,
        d.df,
        mult,
        d.design,
        d.design_effect,
        inputs=d.inputs,
        **kw,
    )


def minimum_detectable_effect(
    *,
    n: int | None = None,
    n_clusters: int | None = None,
    cluster_size: int | None = None,
    icc: float = 0.0,
    treated_share: float = 0.5,
    r2: float = 0.0,
    r2_cluster: float | None = None,
    r2_individual: float | None = None,
    n_covariates: int = 0,
    sd: float = 1.0,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
    method: str = "bloom",
    df: float | str | None = "auto",
) -> PowerResult:
    """Minimum detectable effect (MDE) of an individually or cluster-randomised trial.

    Parameters
    ----------
    n : int, optional
        Units in an individually randomised design (>= 3 + ``n_covariates``).
    n_clusters, cluster_size : int, optional
        Clusters ``J`` (>= 3 + ``n_covariates``) and units per cluster ``m`` in a
        cluster-randomised design. Give exactly one of ``n`` and ``n_clusters``.
    icc : float
        Intraclass correlation in [0, 1] (cluster designs only).
    treated_share : float
        Share ``P`` of units (clusters) assigned to treatment, in (0, 1).
    r2 : float
        Share of outcome variance explained by covariates, in [0, 1). In a cluster design
        it is the default for both ``r2_cluster`` and ``r2_individual``.
    r2_cluster, r2_individual : float, optional
        Covariate ``R^2`` at the cluster and the individual level (Bloom 2005; Optimal
        Design's ``R^2_L2`` and ``R^2_L1``).
    n_covariates : int
        Covariates adjusted for (cluster-level ones in a cluster design); each costs one df.
    sd : float
        Standard deviation of the outcome; the MDE is in outcome units (``sd=1``:
        standardised units, as Cohen's d).
    alpha : float
        Significance level of the test, in (0, 1).
    power : float
        Target power, in (0, 1).
    alternative : {"two-sided", "one-sided"}
    method : {"bloom", "noncentral_t"}
        Bloom's closed form (default) or the exact noncentral-t solution.
    df : "auto", float or None
        ``"auto"``: the design df (see Notes); a number overrides it; None uses normal
        quantiles (the large-sample formula).

    Returns
    -------
    PowerResult
        ``float(result)`` is the MDE; ``result.effect_size`` is the MDE in SDs.

    Raises
    ------
    DataValidationError
        Both or neither of ``n`` and ``n_clusters``; shares or ``icc`` outside their
        ranges; too few units or clusters for positive df; unknown ``method`` or
        ``alternative``.

    Notes
    -----
    With treated share ``P`` and outcome SD ``sd``, the standard error of the impact
    estimate is, for ``N`` individually randomised units and a covariate ``R^2``,

    ``SE = sd * sqrt((1 - R^2) / (P (1 - P) N))``, with ``df = N - 2 - K``;

    for ``J`` clusters of ``m`` units with intraclass correlation ``icc`` (Bloom 2005),

    ``SE = sd * sqrt(icc (1 - R^2_c) / (P (1 - P) J) + (1 - icc)(1 - R^2_i) / (P (1 - P) J m))``,
    with ``df = J - 2 - K``,

    where ``K`` is ``n_covariates`` (cluster-level covariates in a cluster design) and
    ``R^2_c`` / ``R^2_i`` are the shares of the between- / within-cluster variance explained
    by covariates. Without covariates the clustered variance is the individual one at
    ``N = J m`` times the design effect ``1 + (m - 1) icc``.

    ``method="bloom"``: ``MDE = (t_{1-a} + t_{power}) SE`` with ``a = alpha/2`` (two-sided)
    or ``alpha`` (one-sided), quantiles of t with ``df`` (normal with ``df=None``); the far
    rejection tail is ignored. ``method="noncentral_t"``: the t statistic has a noncentral
    t distribution with noncentrality ``effect / SE``; the two-sided power counts both
    rejection tails, and the MDE solves ``power(MDE) = power`` (``scipy.optimize.brentq``).
    With ``df=None`` the normal replaces the t in both methods. Assumptions: equal outcome
    variance in both arms, equal cluster sizes, and (for ``R^2``) covariates whose
    explanatory power is known in advance.

    References
    ----------
    Bloom, H. S. (1995). Minimum detectable effects: a simple way to report the statistical
    power of experimental designs. Evaluation Review 19(5), 547-556.
    Bloom, H. S. (2005). Randomizing groups to evaluate place-based programs. In Learning
    More from Social Experiments, Russell Sage Foundation, ch. 4.
    Duflo, E., Glennerster, R. & Kremer, M. (2007). Using randomization in development
    economics research: a toolkit. Handbook of Development Economics 4, 3895-3962
    (section 4, equations for the MDE with and without clustering).
    Stata: ``power twomeans`` (individual; ``cluster`` option for clustered designs);
    R: ``pwr::pwr.t2n.test``, ``stats::power.t.test``; Optimal Design (Spybrook et al.);
    Python: ``statsmodels.stats.power.TTestIndPower`` (individual design, no covariates).

    Examples
    --------
    >>> from impacteval.rct.power import minimum_detectable_effect
    >>> round(float(minimum_detectable_effect(n=1000, df=None)), 3)  # 2.8 * sqrt(4/1000)
    0.177
    """
    alpha_ = _fraction(alpha, "alpha")
    target = _fraction(power, "power")
    alternative = check_choice(alternative, "alternative", _ALTERNATIVES)
    method = check_choice(method, "method", _METHODS)
    d = _design({k: v for k, v in locals().items() if k in _DESIGN_ARGS})
    mult = _multiplier(target, alpha_, alternative, d.df, method)
    test = {"alpha": alpha_, "alternative": alternative, "method": method}
    return _result("mde", mult * d.std_error, target, mult, d, **test)


def power(
    *,
    effect_size: float | None = None,
    mde: float | None = None,
    n: int | None = None,
    n_clusters: int | None = None,
    cluster_size: int | None = None,
    icc: float = 0.0,
    treated_share: float = 0.5,
    r2: float = 0.0,
    r2_cluster: float | None = None,
    r2_individual: float | None = None,
    n_covariates: int = 0,
    sd: float = 1.0,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    method: str = "noncentral_t",
    df: float | str | None = "auto",
) -> PowerResult:
    """Power of an individually or cluster-randomised trial to detect a given effect.

    Parameters
    ----------
    effect_size : float, optional
        The effect in standard deviations of the outcome (Cohen's d; statsmodels'
        ``effect_size``).
    mde : float, optional
        The effect in outcome units (``effect_size * sd``), e.g. an MDE to check. Give
        exactly one of ``effect_size`` and ``mde``. The sign is irrelevant: a one-sided test
        is taken in the direction of the effect.
    n, n_clusters, cluster_size, icc, treated_share, r2, r2_cluster, r2_individual, \
n_covariates, sd, alpha, alternative, df
        As in :func:`minimum_detectable_effect`.
    method : {"noncentral_t", "bloom"}
        Exact noncentral-t power (default; both tails when two-sided) or the inverse of
        Bloom's closed form, ``F_t(|effect|/SE - t_{1-a})``.

    Returns
    -------
    PowerResult
        ``float(result)`` is the power.

    Raises
    ------
    DataValidationError
        Both or neither of ``effect_size`` and ``mde``, and everything
        :func:`minimum_detectable_effect` checks.

    Notes
    -----
    The design enters through the standard error of the impact estimate and its df,
    exactly as in :func:`minimum_detectable_effect` (see its Notes). With noncentrality
    ``delta = |effect| / SE`` and critical value ``c = t_{1-a, df}`` (``a = alpha/2``
    two-sided, ``alpha`` one-sided), the exact power is
    ``P(T'(df, delta) > c) + P(T'(df, delta) < -c)`` (second term two-sided only), the
    power of the t test as statsmodels ``TTestIndPower`` computes it; Bloom's
    approximation keeps only the first term with a central t shifted by ``delta``.

    References
    ----------
    Bloom, H. S. (1995). Minimum detectable effects. Evaluation Review 19(5), 547-556.
    Bloom, H. S. (2005). Randomizing groups to evaluate place-based programs. In Learning
    More from Social Experiments, Russell Sage Foundation, ch. 4.
    Stata: ``power twomeans`` (``cluster`` option for clustered designs); R:
    ``pwr::pwr.t2n.test``, ``stats::power.t.test``; Python:
    ``statsmodels.stats.power.TTestIndPower``.

    Examples
    --------
    >>> from impacteval.rct.power import power
    >>> round(float(power(effect_size=0.2, n=800)), 3)
    0.806
    """
    if (effect_size is None) == (mde is None):
        raise DataValidationError(
            "give exactly one of `effect_size` (in SDs) and `mde` (in outcome units); "
            f"received effect_size={effect_size!r}, mde={mde!r}"
        )
    alpha_ = _fraction(alpha, "alpha")
    alternative = check_choice(alternative, "alternative", _ALTERNATIVES)
    method = check_choice(method, "method", _METHODS)
    d = _design({k: v for k, v in locals().items() if k in _DESIGN_ARGS})
    sd_ = float(d.inputs["sd"])
    effect = (
        _real(effect_size, "effect_size") * sd_ if effect_size is not None else _real(mde, "mde")
    )
    if not math.isfinite(effect):
        raise DataValidationError(f"the effect must be finite; received {effect!r}")
    ncp = abs(effect) / d.std_error
    fn = _power_exact if method == "noncentral_t" else _power_bloom
    pw = fn(ncp, alpha_, alternative, d.df)
    test = {"alpha": alpha_, "alternative": alternative, "method": method}
    return _result("power", abs(effect), pw, ncp, d, **test)
