"""Sensitivity to unmeasured confounding: Rosenbaum bounds for matched pairs and E-values.

* :func:`rosenbaum_bounds` -- bounds on the one-sided p-value of Wilcoxon's signed-rank test
  when hidden bias may change the odds of treatment within a pair by up to ``gamma``
  (Rosenbaum 2002, ch. 4), as R ``rbounds::psens``; :func:`rosenbaum_gamma` finds the
  ``gamma`` at which significance is lost.
* :func:`e_value` -- the minimum strength of association (risk-ratio scale) an unmeasured
  confounder needs with both treatment and outcome to explain away an estimate
  (VanderWeele & Ding 2017), as R ``EValue::evalues.RR`` / ``evalues.OR`` /
  ``evalues.HR`` / ``evalues.MD``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
from scipy import optimize, stats

from impacteval._validation import check_choice
from impacteval._warn import warn_user
from impacteval.exceptions import DataValidationError, ImpactEvalWarning, MissingDataWarning
from impacteval.results import Summary, SummaryDisplay

__all__ = ["EValue", "RosenbaumBounds", "e_value", "rosenbaum_bounds", "rosenbaum_gamma"]

_MAX_EXACT_PAIRS = 500


# -- Rosenbaum bounds -----------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class RosenbaumBounds(SummaryDisplay):
    """Bounds on the Wilcoxon signed-rank p-value under hidden bias of at most ``gamma``.

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by ``gamma``: ``p_lower`` and ``p_upper``, the smallest and largest one-sided
        p-values compatible with hidden bias of that size.
    statistic : float
        Wilcoxon's signed-rank statistic: the sum of the ranks of ``|d|`` over pairs with
        ``d > 0`` (``d`` = treated - control; sign reversed when ``alternative="less"``).
    n_pairs : int
        Pairs used (non-zero differences).
    n_zero : int
        Pairs with a zero difference, dropped as in Wilcoxon's test and ``psens``.
    n_dropped : int
        Pairs dropped for missing values.
    method : str
        ``"normal"`` (as ``psens``) or ``"exact"``.
    alternative : str
    """

    table: pd.DataFrame
    statistic: float
    n_pairs: int
    n_zero: int
    n_dropped: int
    method: str
    alternative: str

    def to_frame(self) -> pd.DataFrame:
        """The bounds table (a fresh copy)."""
        return self.table.copy()

    def summary(self) -> Summary:
        """A :class:`~impacteval.results.Summary` of the bounds."""
        facts = (
            ("Test", f"Wilcoxon signed rank, one-sided ({self.alternative})"),
            ("Pairs (zero differences dropped)", f"{self.n_pairs:,} ({self.n_zero:,})"),
            ("Statistic", f"{self.statistic:g}"),
            ("p-values", "normal approximation" if self.method == "normal" else "exact"),
        )
        return Summary(title="Rosenbaum sensitivity bounds", facts=facts, table=self.to_frame())


def _pairs(
    treated_outcomes: object, control_outcomes: object, alternative: str
) -> tuple[np.ndarray, int, int]:
    """Non-zero paired differences (signed for the alternative), zeros and missing dropped."""
    arrays = []
    for name, values in (
        ("treated_outcomes", treated_outcomes),
        ("control_outcomes", control_outcomes),
    ):
        try:
            arr = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise DataValidationError(
                f"`{name}` must be a one-dimensional sequence of numbers; received "
                f"{type(values).__name__}"
            ) from None
        if arr.ndim != 1:
            raise DataValidationError(
                f"`{name}` must be one-dimensional; received shape {arr.shape}"
            )
        if np.isinf(arr).any():
            raise DataValidationError(f"`{name}` contains infinite values")
        arrays.append(arr)
    t, c = arrays
    if t.size != c.size:
        raise DataValidationError(
            "`treated_outcomes` and `control_outcomes` must have one value per pair (equal "
            f"lengths); received {t.size} and {c.size}"
        )
    ok = ~(np.isnan(t) | np.isnan(c))
    n_dropped = int((~ok).sum())
    if n_dropped:
        warn_user(
            f"{n_dropped} of {t.size} pairs dropped for missing values; the count is on the "
            "result as `n_dropped`",
            MissingDataWarning,
        )
    d = t[ok] - c[ok]
    if alternative == "less":
        d = -d
    n_zero = int((d == 0).sum())
    d = d[d != 0]
    if d.size == 0:
        raise DataValidationError(
            "every pair has a zero (or missing) difference; the signed-rank test needs at "
            "least one non-zero difference"
        )
    return d, n_zero, n_dropped


def _check_gammas(gammas: object) -> np.ndarray:
    try:
        g = np.atleast_1d(np.asarray(gammas, dtype=float))
    except (TypeError, ValueError):
        raise DataValidationError(
            f"`gammas` must be numbers >= 1; received {type(gammas).__name__}"
        ) from None
    if g.ndim != 1 or g.size == 0 or not np.all(np.isfinite(g)) or (g < 1).any():
        raise DataValidationError(f"`gammas` must be finite numbers >= 1; received {gammas!r}")
    return g


def _exact_sf(ranks2: np.ndarray, stat2: int, p: float) -> float:
    """P(sum_s ranks2_s * B_s >= stat2) for independent B_s ~ Bernoulli(p) (integer ranks)."""
    total = int(ranks2.sum())
    pmf = np.zeros(total + 1)
    pmf[0] = 1.0
    top = 0
    for r in ranks2.astype(np.int64):
        new = pmf[: top + r + 1] * 0.0
        new[: top + 1] += (1.0 - p) * pmf[: top + 1]
        new[r : r + top + 1] += p * pmf[: top + 1]
        top += int(r)
        pmf[: top + 1] = new
    return float(min(1.0, pmf[stat2:].sum()))


def _p_values(d: np.ndarray, gamma: float, method: str) -> tuple[float, float]:
    ranks = stats.rankdata(np.abs(d), method="average")
    stat = float(ranks[d > 0].sum())
    p_plus = gamma / (1.0 + gamma)
    p_minus = 1.0 / (1.0 + gamma)
    if method == "exact":
        ranks2 = np.rint(2.0 * ranks).astype(np.int64)
        stat2 = round(2.0 * stat)
        return _exact_sf(ranks2, stat2, p_minus), _exact_sf(ranks2, stat2, p_plus)
    var = float(np.sum(ranks**2) * p_plus * (1.0 - p_plus))
    sd = math.sqrt(var)
    lower = float(stats.norm.sf((stat - p_minus * ranks.sum()) / sd))
    upper = float(stats.norm.sf((stat - p_plus * ranks.sum()) / sd))
    return lower, upper


def _check_method(method: object, n_pairs: int) -> str:
    method = check_choice(method, "method", ("normal", "exact"))
    if method == "exact" and n_pairs > _MAX_EXACT_PAIRS:
        raise DataValidationError(
            f'`method`: "exact" is limited to {_MAX_EXACT_PAIRS} pairs (the normal '
            f"approximation is accurate well before that); received {n_pairs} pairs"
        )
    return method


def rosenbaum_bounds(
    treated_outcomes: Sequence[float] | np.ndarray | pd.Series,
    control_outcomes: Sequence[float] | np.ndarray | pd.Series,
    *,
    gammas: Sequence[float] | np.ndarray = (1.0, 1.5, 2.0, 2.5, 3.0),
    method: str = "normal",
    alternative: str = "greater",
) -> RosenbaumBounds:
    """Rosenbaum bounds for Wilcoxon's signed-rank test in matched pairs.

    Parameters
    ----------
    treated_outcomes, control_outcomes : array-like
        Outcomes of the treated and the control unit of each pair (same order).
    gammas : sequence of float
        Values of the sensitivity parameter (>= 1): within a pair, hidden bias may change
        the odds of being the treated unit by at most a factor ``gamma``.
    method : {"normal", "exact"}
        ``"normal"``: large-sample normal approximation without continuity correction, as
        ``rbounds::psens``. ``"exact"``: the exact distribution of the bounding statistic
        (up to 500 pairs).
    alternative : {"greater", "less"}
        One-sided alternative: treatment increases (``"greater"``) or decreases the outcome.

    Returns
    -------
    RosenbaumBounds

    Raises
    ------
    DataValidationError
        Unequal lengths, non-numeric or infinite values, ``gammas`` below 1, all
        differences zero, or too many pairs for ``"exact"``.

    Notes
    -----
    With ``d_s`` the non-zero paired differences and ``r_s`` the ranks of ``|d_s|``
    (average ranks for ties), ``T = sum_s r_s 1{d_s > 0}``. Under hidden bias of at most
    ``gamma``, ``T`` is bounded (stochastically) by ``T+ = sum_s r_s B_s`` with
    ``B_s ~ Bernoulli(gamma / (1 + gamma))`` and ``T- `` with ``1 / (1 + gamma)``. The normal
    approximation uses ``E T+ = p+ sum r_s``, ``Var T+ = p+ (1 - p+) sum r_s^2`` and the same
    for ``T-`` (equal variance). At ``gamma = 1`` both bounds equal the randomisation
    p-value of the signed-rank test. Zero differences are dropped (as ``psens``).

    References
    ----------
    Rosenbaum, P. R. (2002). Observational Studies, 2nd ed., ch. 4. Springer.
    R: ``rbounds::psens`` (Keele 2010).

    Examples
    --------
    >>> from impacteval.diagnostics.sensitivity import rosenbaum_bounds
    >>> rb = rosenbaum_bounds([12, 15, 9, 14, 11, 13], [10, 11, 9, 12, 12, 10],
    ...                       gammas=[1, 2])
    >>> rb.to_frame().round(4).to_dict("index")
    {1.0: {'p_lower': 0.0391, 'p_upper': 0.0391}, 2.0: {'p_lower': 0.0049, 'p_upper': 0.1252}}
    """
    alternative = check_choice(alternative, "alternative", ("greater", "less"))
    g = _check_gammas(gammas)
    d, n_zero, n_dropped = _pairs(treated_outcomes, control_outcomes, alternative)
    method = _check_method(method, d.size)
    rows = [_p_values(d, float(gamma), method) for gamma in g]
    table = pd.DataFrame(rows, columns=["p_lower", "p_upper"], index=pd.Index(g, name="gamma"))
    ranks = stats.rankdata(np.abs(d), method="average")
    return RosenbaumBounds(
        table=table,
        statistic=float(ranks[d > 0].sum()),
        n_pairs=int(d.size),
        n_zero=n_zero,
        n_dropped=n_dropped,
        method=method,
        alternative=alternative,
    )


def rosenbaum_gamma(
    treated_outcomes: Sequence[float] | np.ndarray | pd.Series,
    control_outcomes: Sequence[float] | np.ndarray | pd.Series,
    *,
    alpha: float = 0.05,
    method: str = "normal",
    alternative: str = "greater",
) -> float:
    """The sensitivity value: the ``gamma`` at which significance at ``alpha`` is lost.

    Returns the ``gamma >= 1`` solving ``p_upper(gamma) = alpha`` (Brent's method on the
    continuous normal-approximation bound; for ``"exact"``, the bound is a step function
    in the statistic but continuous in ``gamma``). Returns 1.0, with a warning, when the
    test is not significant at ``alpha`` even without hidden bias.

    Parameters
    ----------
    treated_outcomes, control_outcomes, method, alternative
        As :func:`rosenbaum_bounds`.
    alpha : float
        Significance level of the one-sided test, in (0, 0.5).

    Examples
    --------
    >>> from impacteval.diagnostics.sensitivity import rosenbaum_gamma
    >>> round(rosenbaum_gamma([12, 15, 9, 14, 11, 13], [10, 11, 9, 12, 12, 10]), 3)
    1.124
    """
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, numbers.Real)
        or not 0.0 < float(alpha) < 0.5
    ):
        raise DataValidationError(
            f"`alpha` must be a significance level strictly between 0 and 0.5; received {alpha!r}"
        )
    alternative = check_choice(alternative, "alternative", ("greater", "less"))
    d, _, _ = _pairs(treated_outcomes, control_outcomes, alternative)
    method = _check_method(method, d.size)
    a = float(alpha)

    def excess(gamma: float) -> float:
        return _p_values(d, gamma, method)[1] - a

    if excess(1.0) >= 0:
        warn_user(
            f"the signed-rank test is not significant at alpha={a:g} even without hidden "
            "bias (gamma = 1); returning 1.0",
            ImpactEvalWarning,
        )
        return 1.0
    hi = 2.0
    while excess(hi) < 0:
        hi *= 2.0
        if hi > 1e8:  # pragma: no cover - unreachable for alpha < 0.5
            return math.inf
    return float(optimize.brentq(excess, 1.0, hi, xtol=1e-10, rtol=1e-12))


# -- E-values -------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class EValue:
    """E-values of an estimate and of its confidence limit closer to the null.

    Attributes
    ----------
    e_value : float
        For the point estimate.
    e_value_ci : float or None
        For the confidence limit closer to the null (1 when the interval includes the
        null); None when that limit was not given.
    rr, rr_lower, rr_upper : float or None
        The estimate and limits on the (approximate) risk-ratio scale used.
    scale : str
        Scale of the input: "RR", "OR", "HR" or "SMD".
    rare : bool or None
        The rare-outcome assumption used for "OR"/"HR".
    """

    e_value: float
    e_value_ci: float | None
    rr: float
    rr_lower: float | None
    rr_upper: float | None
    scale: str
    rare: bool | None

    def to_frame(self) -> pd.DataFrame:
        """Two rows (``risk_ratio``, ``e_value``) by ``point``, ``lower``, ``upper``."""
        closer_lower = self.rr >= 1
        ev_lo = self.e_value_ci if closer_lower else None
        ev_hi = None if closer_lower else self.e_value_ci
        return pd.DataFrame(
            {
                "point": [self.rr, self.e_value],
                "lower": [self.rr_lower, ev_lo],
                "upper": [self.rr_upper, ev_hi],
            },
            index=pd.Index(["risk_ratio", "e_value"], name=""),
            dtype=float,
        )

    def __repr__(self) -> str:
        ci = "None" if self.e_value_ci is None else f"{self.e_value_ci:.4g}"
        return f"EValue(e_value={self.e_value:.4g}, e_value_ci={ci}, scale={self.scale!r})"


# Largest log risk ratio whose exponential is a finite double (exp(709.78) ~ 1.8e308).
_MAX_LOG_RR = 709.0


def _threshold(rr: float) -> float:
    """E-value of a risk ratio for a null true value: ``RR + sqrt(RR (RR - 1))``, RR >= 1."""
    x = 1.0 / rr if rr < 1 else rr
    # sqrt(x) sqrt(x - 1) rather than sqrt(x (x - 1)): the product overflows for x > 1e154
    return float(x + math.sqrt(x) * math.sqrt(x - 1.0))


def _to_rr(value: float, scale: str, rare: bool | None) -> float:
    if scale == "SMD":
        return math.exp(0.91 * value)
    if scale == "RR" or rare:
        return value
    if scale == "OR":
        return math.sqrt(value)
    hr_rr: float = (1.0 - 0.5 ** math.sqrt(value)) / (1.0 - 0.5 ** math.sqrt(1.0 / value))
    return hr_rr


def e_value(
    estimate: float,
    ci_lower: float | None = None,
    ci_upper: float | None = None,
    *,
    scale: str = "RR",
    rare: bool | None = None,
) -> EValue:
    """E-value (VanderWeele & Ding 2017) of an estimate and its confidence interval.

    Parameters
    ----------
    estimate : float
        Risk ratio, odds ratio or hazard ratio (> 0), or standardised mean difference.
    ci_lower, ci_upper : float, optional
        Confidence limits on the same scale.
    scale : {"RR", "OR", "HR", "SMD"}
        Scale of the inputs.
    rare : bool, optional
        Required for "OR" and "HR": whether the outcome is rare (under about 15% at the end
        of follow-up). Not used for "RR" and "SMD" (must then be None).

    Returns
    -------
    EValue

    Raises
    ------
    DataValidationError
        Non-positive ratios, limits on the wrong side of the estimate, ``rare`` missing for
        "OR"/"HR" or given for "RR"/"SMD".

    Notes
    -----
    For a risk ratio ``RR >= 1`` the E-value is ``RR + sqrt(RR (RR - 1))`` (for ``RR < 1``
    use ``1/RR``): the minimum risk ratio an unmeasured confounder must have with both
    treatment and outcome, conditional on the measured covariates, to move the estimate to
    the null. The interval's E-value uses the limit closer to the null (1 if the interval
    contains the null). Conversions to the RR scale (VanderWeele & Ding 2017;
    VanderWeele 2017, 2020): rare outcome, OR or HR ~ RR; common outcome,
    ``RR ~ sqrt(OR)`` and ``RR ~ (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))``; a
    standardised mean difference ``d`` gives ``RR ~ exp(0.91 d)`` (Chinn 2000), applied
    here to the limits as given (EValue's ``evalues.MD`` forms them as
    ``exp(0.91 d -/+ 1.78 SE)``).

    References
    ----------
    VanderWeele, T. J. and Ding, P. (2017). Sensitivity analysis in observational research:
    introducing the E-value. Annals of Internal Medicine 167(4), 268-274.
    R: ``EValue::evalues.RR``, ``evalues.OR``, ``evalues.HR``, ``evalues.MD``.

    Examples
    --------
    >>> from impacteval.diagnostics.sensitivity import e_value
    >>> ev = e_value(3.9, 1.8, 8.7)   # VanderWeele & Ding (2017): 7.26 and 3.00
    >>> round(ev.e_value, 2), round(ev.e_value_ci, 2)
    (7.26, 3.0)
    """
    scale = check_choice(scale, "scale", ("RR", "OR", "HR", "SMD"))
    if scale in ("OR", "HR"):
        if not isinstance(rare, (bool, np.bool_)):
            raise DataValidationError(
                f'`rare` must be True or False for scale="{scale}" (is the outcome rare, '
                f"below about 15%?); received {rare!r}"
            )
        rare = bool(rare)
    elif rare is not None:
        raise DataValidationError(
            f'`rare` applies only to scale="OR" or "HR"; received rare={rare!r} with '
            f'scale="{scale}"'
        )
    values: dict[str, float | None] = {}
    for name, value in (("estimate", estimate), ("ci_lower", ci_lower), ("ci_upper", ci_upper)):
        if value is None and name != "estimate":
            values[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise DataValidationError(f"`{name}` must be a number; received {value!r}")
        v = float(value)
        if not math.isfinite(v) or (scale != "SMD" and v <= 0):
            kind = "a finite number" if scale == "SMD" else f"a positive finite {scale}"
            raise DataValidationError(f"`{name}` must be {kind}; received {value!r}")
        if scale == "SMD" and abs(0.91 * v) > _MAX_LOG_RR:
            raise DataValidationError(
                f"`{name}`: a standardised mean difference of {v!r} converts to a risk ratio "
                f"exp(0.91 x {v:g}) beyond double precision; an SMD is in standard "
                "deviations (|d| of a few at most): was the raw difference passed?"
            )
        values[name] = v
    est = cast(float, values["estimate"])  # validated above: never None
    lo, hi = values["ci_lower"], values["ci_upper"]
    if (lo is not None and lo > est) or (hi is not None and hi < est):
        raise DataValidationError(
            f"the estimate must lie inside its confidence interval; received estimate={est}, "
            f"ci_lower={lo}, ci_upper={hi}"
        )
    rr = _to_rr(est, scale, rare)
    rr_lo = None if lo is None else _to_rr(lo, scale, rare)
    rr_hi = None if hi is None else _to_rr(hi, scale, rare)
    point = _threshold(rr)
    ci: float | None
    if rr > 1:
        ci = None if rr_lo is None else (1.0 if rr_lo <= 1 else _threshold(rr_lo))
    elif rr < 1:
        ci = None if rr_hi is None else (1.0 if rr_hi >= 1 else _threshold(rr_hi))
    else:
        ci = 1.0 if (rr_lo is not None or rr_hi is not None) else None
    return EValue(
        e_value=point,
        e_value_ci=ci,
        rr=rr,
        rr_lower=rr_lo,
        rr_upper=rr_hi,
        scale=scale,
        rare=rare,
    )
