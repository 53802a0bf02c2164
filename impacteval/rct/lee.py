"""Lee (2009) trimming bounds on the treatment effect under differential attrition."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from impacteval._validation import (
    check_binary,
    check_columns,
    check_dataframe,
    check_level,
    prepare,
)
from impacteval.exceptions import DataValidationError
from impacteval.results import (
    RESULT_COLUMNS,
    EffectEstimate,
    Provenance,
    Summary,
    SummaryDisplay,
    fingerprint,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["LeeBounds", "lee_bounds"]

_OBSERVED = "__impacteval_observed__"


@dataclass(frozen=True, kw_only=True)
class LeeBounds(SummaryDisplay):
    """Sharp bounds on the effect for always-observed units, with their uncertainty.

    Attributes
    ----------
    lower, upper : EffectEstimate
        The lower and upper bound, each with its Lee (2009) standard error and a normal
        (Wald) interval at ``level``: the "naive" per-bound intervals.
    trimming_proportion : float
        Share ``p`` of the observed units of ``trimmed_arm`` that is trimmed.
    trimmed_arm : {"treated", "control"}
        The arm with the higher observation rate (trimmed).
    observation_rate_treated, observation_rate_control : float
        Shares of units with an observed outcome, by arm.
    ci_lower, ci_upper : float
        Imbens & Manski (2004) interval: covers the effect (a point in the identified
        set) with probability ``level``.
    im_critical_value : float
        The Imbens-Manski critical value ``C`` (between ``z_{level}`` and
        ``z_{(1+level)/2}``).
    level : float
        Confidence level.
    n_obs : int
        Units used (observed or not), after dropping rows with a missing treatment or
        observation flag (``n_dropped``).
    """

    lower: EffectEstimate
    upper: EffectEstimate
    trimming_proportion: float
    trimmed_arm: str
    observation_rate_treated: float
    observation_rate_control: float
    ci_lower: float
    ci_upper: float
    im_critical_value: float
    level: float = 0.95
    outcome: str | None = None
    n_obs: int = 0
    n_dropped: int = 0
    warnings: tuple[str, ...] = ()
    provenance: Provenance = field(default_factory=Provenance)

    @property
    def ci_lower_naive(self) -> float:
        """Lower end of the union of the two per-bound intervals (covers the whole set)."""
        return self.lower.ci_lower

    @property
    def ci_upper_naive(self) -> float:
        """Upper end of the union of the two per-bound intervals."""
        return self.upper.ci_upper

    def to_frame(self) -> pd.DataFrame:
        """Two rows (``lower``, ``upper``): the five result columns plus trimming facts."""
        frame = pd.concat([self.lower.to_frame(), self.upper.to_frame()])
        frame = frame[list(RESULT_COLUMNS)]
        frame.index = pd.Index(["lower", "upper"], name="bound")
        frame["trimming_proportion"] = self.trimming_proportion
        frame["trimmed_arm"] = self.trimmed_arm
        frame["ci_imbens_manski"] = [self.ci_lower, self.ci_upper]
        return frame

    def summary(self) -> Summary:
        """A :class:`~impacteval.results.Summary` with both bounds and both intervals."""
        facts: tuple[tuple[str, str], ...] = (
            ("Estimand", "ATE for always-observed units (bounds)"),
            ("Method", "Lee (2009) trimming bounds"),
            ("Observations", f"{self.n_obs:,}"),
            (
                "Observation rate T / C",
                f"{self.observation_rate_treated:.4f} / {self.observation_rate_control:.4f}",
            ),
            ("Trimmed", f"{self.trimmed_arm} arm, p = {self.trimming_proportion:.4f}"),
            (f"{self.level:.0%} CI (Imbens-Manski)", f"[{self.ci_lower:.4f}, {self.ci_upper:.4f}]"),
            (
                f"{self.level:.0%} CI (naive union)",
                f"[{self.ci_lower_naive:.4f}, {self.ci_upper_naive:.4f}]",
            ),
        )
        if self.n_dropped:
            facts += (("Rows dropped (missing)", f"{self.n_dropped:,}"),)
        return Summary(
            title=f"Lee bounds: {self.outcome or 'effect'}",
            facts=facts,
            table=self.to_frame()[list(RESULT_COLUMNS)],
            notes=self.warnings,
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Both bounds with their (naive, per-bound) intervals."""
        from impacteval.plotting import plot_estimates

        return plot_estimates(self.to_frame(), ax=ax)


# -- numerics: arrays in, numbers out -------------------------------------------------------
def _trim(y: np.ndarray, keep: float, *, top: bool) -> tuple[float, float, float]:
    """Mean and variance of the lowest (``top=False``) or highest ``keep`` units of ``y``.

    ``keep`` need not be an integer: the boundary unit gets the fractional weight, so
    exactly ``keep`` units of mass are kept however ties fall. Returns the mean, the
    variance (divisor ``keep - 1``) and the trimming quantile (the boundary value).
    """
    ys = np.sort(y)
    if top:
        ys = ys[::-1]
    w = np.clip(keep - np.arange(ys.size), 0.0, 1.0)
    mean = float(w @ ys / keep)
    var = float(w @ (ys - mean) ** 2 / (keep - 1.0))
    boundary = float(ys[math.ceil(keep - 1e-12) - 1])
    return mean, var, boundary


def _bounds(
    y: np.ndarray, z: np.ndarray, s: np.ndarray
) -> tuple[float, float, float, float, float, str, float, float]:
    """Lee bounds and their standard errors (Lee 2009, Proposition 3).

    Returns ``(lower, upper, se_lower, se_upper, p, trimmed_arm, q_treated, q_control)``.
    """
    n = z.size
    arms = {1: z == 1, 0: z == 0}
    q = {d: float(s[arms[d]].mean()) for d in (1, 0)}
    share = {d: float(arms[d].mean()) for d in (1, 0)}
    t = 1 if q[1] >= q[0] else 0  # trimmed arm: the higher observation rate
    u = 1 - t
    p = (q[t] - q[u]) / q[t]
    yt = y[arms[t] & (s == 1)]
    yu = y[arms[u] & (s == 1)]
    keep = (1.0 - p) * yt.size
    if keep < 2.0 or yu.size < 2:
        raise DataValidationError(
            "too few observed outcomes for Lee bounds: need at least 2 observed units in "
            f"each arm after trimming; the {'treated' if t == 1 else 'control'} arm keeps "
            f"{keep:.1f} and the other arm has {yu.size}"
        )
    mean_u, var_u = float(yu.mean()), float(yu.var(ddof=1))
    # asymptotic variance of sqrt(n) (p_hat - p), by the delta method
    v_p = (1.0 - p) ** 2 * ((1 - q[u]) / (q[u] * share[u]) + (1 - q[t]) / (q[t] * share[t]))
    v_other = var_u / (q[u] * share[u])
    out: dict[bool, tuple[float, float]] = {}
    for top in (False, True):
        mu, var, yq = _trim(yt, keep, top=top)
        v = (var + p * (yq - mu) ** 2) / (q[t] * share[t] * (1.0 - p))
        v += ((yq - mu) / (1.0 - p)) ** 2 * v_p
        out[top] = (mu, math.sqrt((v + v_other) / n))
    # trimming the treated arm from above gives the lower bound; the control arm, the upper
    low_top, high_top = (False, True) if t == 1 else (True, False)
    sign = 1.0 if t == 1 else -1.0
    lower = sign * (out[low_top][0] - mean_u)
    upper = sign * (out[high_top][0] - mean_u)
    return (
        lower,
        upper,
        out[low_top][1],
        out[high_top][1],
        p,
        "treated" if t == 1 else "control",
        q[1],
        q[0],
    )


def imbens_manski_critical_value(
    width: float, se_lower: float, se_upper: float, level: float
) -> float:
    """Solve ``Phi(C + width / max(se)) - Phi(-C) = level`` for ``C`` (Imbens-Manski 2004).

    ``C`` lies between ``z_level`` (a wide identified set: one-sided at each end) and
    ``z_{(1+level)/2}`` (a point-identified effect).
    """
    hi = float(stats.norm.isf((1.0 - level) / 2.0))
    sigma = max(se_lower, se_upper)
    if not (sigma > 0 and math.isfinite(sigma)) or width <= 0:
        return hi
    lo = float(stats.norm.ppf(level))

    def gap(c: float) -> float:
        return float(stats.norm.cdf(c + width / sigma) - stats.norm.cdf(-c)) - level

    if gap(lo) >= 0.0:
        return lo
    return float(optimize.brentq(gap, lo, hi, xtol=1e-12))


def lee_bounds(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    observed: str | None = None,
    level: float = 0.95,
) -> LeeBounds:
    """Lee (2009) bounds on the average effect for units observed whatever their arm.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per randomised unit, including units whose outcome is missing.
    outcome : str
        Outcome column (numeric); it may be missing where the outcome was not observed.
    treatment : str
        Binary (0/1) treatment column.
    observed : str, optional
        Binary column flagging units whose outcome was observed. Default: the outcome is
        not missing. Flagged units must have a non-missing outcome.
    level : float
        Confidence level of the intervals.

    Returns
    -------
    LeeBounds
        ``.lower`` / ``.upper`` (EffectEstimate, normal interval each), the trimming
        proportion and arm, and the Imbens-Manski interval ``.ci_lower`` / ``.ci_upper``.

    Raises
    ------
    DataValidationError
        Missing columns, non-numeric outcome, non-binary treatment or observation flag,
        an arm without units, an observed unit with a missing outcome, fewer than two
        observed outcomes per arm after trimming, ``level`` outside (0, 1).

    Notes
    -----
    Let ``S`` flag an observed outcome and ``q_d = P(S = 1 | D = d)``. Assumptions:
    random assignment of ``D`` (independent of potential outcomes and potential
    observation) and monotonicity: treatment can only make observation more (or only
    less) likely for every unit. If ``q_1 >= q_0`` the observed treated units mix the
    always-observed (share ``1 - p``) with units observed only when treated, where
    ``p = (q_1 - q_0) / q_1``. The effect on the always-observed is then bounded by

    ``[E(Y | D=1, S=1, Y <= y_{1-p}) - E(Y | D=0, S=1),``
    `` E(Y | D=1, S=1, Y >= y_p) - E(Y | D=0, S=1)]``

    with ``y_r`` the ``r`` quantile of observed treated outcomes (drop the top ``p`` share
    for the lower bound, the bottom ``p`` share for the upper). If ``q_0 > q_1`` the control
    arm is trimmed with ``p = (q_0 - q_1) / q_0``: dropping its bottom share gives the
    lower bound of the effect, its top share the upper. Trimming keeps exactly ``(1 - p)``
    of the observed mass (the boundary unit gets a fractional weight), so ties at the
    quantile are handled without bias.

    Standard errors: Lee (2009, Proposition 3). For a bound formed from a trimmed mean
    ``mu`` with trimming quantile ``y_q`` in arm ``t`` (assignment share ``pi_t``), and
    the other arm ``u``, the asymptotic variance of ``sqrt(N)`` (bound - truth) is

    ``[sigma^2_trim + p (y_q - mu)^2] / (q_t pi_t (1 - p)) + ((y_q - mu)/(1 - p))^2 V_p
    + sigma^2_u / (q_u pi_u)``,

    with ``V_p = (1 - p)^2 [(1 - q_u)/(q_u pi_u) + (1 - q_t)/(q_t pi_t)]`` the delta-method
    variance of the estimated ``p``. Sample analogues are plugged in (variances with divisor
    ``n - 1``). With no differential attrition (``p = 0``) the bounds equal the difference in
    observed means; the asymptotics are non-standard at ``p = 0`` and the formula (which
    keeps the ``V_p`` term) is then conservative.

    Intervals: each bound carries its own normal interval (``lower.ci_lower``,
    ``upper.ci_upper`` together are the naive interval for the identified set). The
    Imbens & Manski (2004) interval ``[L - C se_L, U + C se_U]`` covers the effect itself,
    where ``C`` solves ``Phi(C + (U - L) / max(se_L, se_U)) - Phi(-C) = level``.

    References
    ----------
    Lee, D. S. (2009). Training, wages, and sample selection: estimating sharp bounds on
    treatment effects. Review of Economic Studies 76(3), 1071-1102.
    Imbens, G. W. & Manski, C. F. (2004). Confidence intervals for partially identified
    parameters. Econometrica 72(6), 1845-1857.
    Stata: ``leebounds`` (Tauchmann 2014, Stata Journal 14(4)); R: ``leebounds`` (Semenova).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from impacteval.rct.lee import lee_bounds
    >>> rng = np.random.default_rng(0)
    >>> z = rng.integers(0, 2, 2000)
    >>> y = rng.normal(size=2000) + 0.5 * z
    >>> seen = rng.uniform(size=2000) < np.where(z == 1, 0.9, 0.7)
    >>> res = lee_bounds(pd.DataFrame({"y": np.where(seen, y, np.nan), "z": z}),
    ...                  outcome="y", treatment="z")
    >>> res.lower.estimate < 0.5 < res.upper.estimate
    True
    """
    level = check_level(level)
    frame = check_dataframe(data)
    y, z, s, n_dropped = _prepare(frame, outcome, treatment, observed)
    lower, upper, se_l, se_u, p, arm, q1, q0 = _bounds(y, z, s)
    crit = imbens_manski_critical_value(upper - lower, se_l, se_u, level)
    used = [outcome, treatment] + ([observed] if observed is not None else [])
    provenance = Provenance(
        options={"outcome": outcome, "treatment": treatment, "observed": observed, "level": level},
        data_fingerprint=fingerprint(frame, used),
    )
    common: dict[str, Any] = {
        "level": level,
        "df": None,
        "n_obs": int(z.size),
        "n_treated": int(z.sum()),
        "n_control": int(z.size - z.sum()),
        "outcome": outcome,
        "n_dropped": n_dropped,
        "provenance": provenance,
        "details": {"trimming_proportion": p, "trimmed_arm": arm},
    }
    method = f"Lee (2009) trimming bounds ({arm} arm trimmed, p = {p:.4f})"
    return LeeBounds(
        lower=EffectEstimate.from_wald(
            lower, se_l, estimand="ATE always-observed (lower)", method=method, **common
        ),
        upper=EffectEstimate.from_wald(
            upper, se_u, estimand="ATE always-observed (upper)", method=method, **common
        ),
        trimming_proportion=p,
        trimmed_arm=arm,
        observation_rate_treated=q1,
        observation_rate_control=q0,
        ci_lower=lower - crit * se_l,
        ci_upper=upper + crit * se_u,
        im_critical_value=crit,
        level=level,
        outcome=outcome,
        n_obs=int(z.size),
        n_dropped=n_dropped,
        provenance=provenance,
    )


def _prepare(
    frame: pd.DataFrame, outcome: str, treatment: str, observed: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Outcome (0 where unobserved), treatment, observation flag and rows dropped."""
    check_columns(frame, outcome=outcome, treatment=treatment, observed=observed)
    y_col = frame[outcome]
    if not (pd.api.types.is_numeric_dtype(y_col.dtype) or pd.api.types.is_bool_dtype(y_col)):
        raise DataValidationError(
            f"`outcome`: column {outcome!r} must be numeric; received dtype {y_col.dtype}"
        )
    flag_name = observed if observed is not None else _OBSERVED
    flag = frame[observed] if observed is not None else y_col.notna().astype(float)
    # the outcome may be missing where unobserved: fill it there so `prepare` counts only
    # rows whose treatment or observation flag is missing
    work = pd.DataFrame(
        {treatment: frame[treatment], flag_name: flag, outcome: y_col.astype(float).fillna(0.0)},
        index=frame.index,
    )
    prepared = prepare(
        work, numeric={"treatment": treatment, "observed": flag_name, "outcome": outcome}
    )
    kept = prepared.frame
    z = check_binary(kept[treatment].to_numpy(dtype=float), "treatment", treatment)
    s = kept[flag_name].to_numpy(dtype=float)
    if not np.all(np.isin(s, (0.0, 1.0))):
        raise DataValidationError(
            f"`observed`: column {observed!r} must be binary (0/1 or False/True); received "
            f"values {np.unique(s).tolist()[:10]}"
        )
    if observed is not None:
        mask = frame[[treatment, observed]].notna().all(axis=1).to_numpy()
        y_seen = y_col.to_numpy(dtype=float, na_value=np.nan)[mask]
        bad = int(np.sum((s == 1) & np.isnan(y_seen)))
        if bad:
            raise DataValidationError(
                f"`observed`: column {observed!r} flags {bad} units as observed whose "
                f"outcome {outcome!r} is missing"
            )
    return kept[outcome].to_numpy(dtype=float), z, s, prepared.n_dropped
