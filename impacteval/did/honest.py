"""Sensitivity of an event study to violations of parallel trends (Rambachan & Roth 2023).

:func:`honest` takes an event study -- ``att_gt(...)`` (aggregated to event time),
``att_gt(...).aggregate("dynamic")`` or ``event_study(...)`` -- and returns confidence
intervals for a post-treatment effect that stay valid when parallel trends fail by a
bounded amount, for a grid of bounds, with the *breakdown value*: the largest bound at
which the interval still excludes zero (or a payment threshold). For an outcome contract
this is the sentence "the payment decision survives violations of parallel trends up to
M̄ = ...". :func:`honest_from_estimates` does the same from a coefficient vector and its
covariance matrix. The numerics are in ``impacteval.did._honest_numerics``.

Notes
-----
Write the event-study coefficients as ``beta = tau + delta``: ``tau`` the dynamic
treatment effects (zero before treatment) and ``delta`` the difference in trends between
treated and comparison units. Parallel trends is ``delta_post = 0``; the analysis instead
assumes ``delta`` lies in a set ``Delta`` and reports a confidence interval for
``theta = l' tau_post`` valid uniformly over ``Delta``:

* ``method="relative_magnitudes"``, ``Delta^RM(Mbar)``: the post-treatment
  period-to-period changes in the trend difference are at most ``Mbar`` times the largest
  pre-treatment change. ``Mbar = 1``: the post-treatment violation is no worse than the
  worst pre-treatment one. Default interval: the conditional-least-favourable hybrid
  (``"C-LF"``), as HonestDiD.
* ``method="smoothness"``, ``Delta^SD(M)``: the slope of the trend difference changes
  by at most ``M`` per period. ``M = 0`` allows exactly linear trends (extrapolated from
  the pre-period). Default interval: the fixed-length interval (``"FLCI"``,
  Armstrong & Kolesar 2018), as HonestDiD; ``"conditional"`` and ``"C-LF"`` are the
  Andrews-Roth-Pakes tests.

``level`` is the confidence level of every interval; the identified set widens with the
bound, so the intervals widen with it and the breakdown value is found by bisection on
the bound between the grid points where the interval stops excluding the threshold.

References
----------
Rambachan, A. and Roth, J. (2023). A more credible approach to parallel trends. Review of
Economic Studies 90(5), 2555-2591 (R package HonestDiD; Python ports in moderndid and
diff-diff).
Armstrong, T. B. and Kolesar, M. (2018). Optimal inference in a class of regression
models. Econometrica 86(2), 655-683.
Andrews, I., Roth, J. and Pakes, A. (2023). Inference for linear conditional moment
inequalities. Review of Economic Studies 90(6), 2763-2791.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from impacteval._validation import check_choice, check_level, short_repr
from impacteval._warn import WarningLog
from impacteval.did._honest_numerics import (
    MomentTest,
    confidence_set,
    flci,
    rm_polyhedra,
    sd_polyhedron,
    second_differences,
    union_accepts,
)
from impacteval.exceptions import DataValidationError
from impacteval.results import EffectEstimate, EffectTable, Provenance, Summary, SummaryDisplay

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["METHODS", "HonestSensitivity", "honest", "honest_from_estimates"]

Array = np.ndarray
METHODS: tuple[str, ...] = ("relative_magnitudes", "smoothness")
_CI_METHODS = {
    "relative_magnitudes": ("C-LF", "conditional", "hybrid"),
    "smoothness": ("FLCI", "conditional", "C-LF", "hybrid"),
}
_DEFAULT_CI = {"relative_magnitudes": "C-LF", "smoothness": "FLCI"}
_SYMBOL = {"relative_magnitudes": "Mbar", "smoothness": "M"}
# least-favourable critical value: simulated draws and seed (fixed: same numbers everywhere)
N_SIMS = 5_000
SEED = 0


@dataclass(frozen=True, kw_only=True, repr=False)
class HonestSensitivity(SummaryDisplay):
    """Robust confidence intervals across bounds on the violation of parallel trends.

    Attributes
    ----------
    method : str
        The restriction: ``"relative_magnitudes"`` (bound ``Mbar``) or ``"smoothness"``
        (bound ``M``).
    ci_method : str
        ``"C-LF"``, ``"conditional"`` or ``"FLCI"``.
    level : float
        Confidence level of every interval.
    target : str
        The effect the intervals are for (an event time or an average of them).
    weights : pandas.Series
        ``l``: weight of each post-treatment event time in the target.
    table : pandas.DataFrame
        One row per bound: ``m``, ``ci_lower``, ``ci_upper``, ``excludes_threshold``.
    original : EffectEstimate
        The target under exact parallel trends (normal Wald interval at ``level``).
    threshold : float
        The value the breakdown refers to (0: the sign of the effect).
    breakdown : float
        Largest bound at which the robust interval excludes ``threshold`` (NaN if even
        the original interval does not). ``breakdown_note`` says how it was found.
    breakdown_note : str
    event_times : tuple
        Event times of the coefficients used (pre, then post; reference excluded).
    n_pre, n_post : int
        Numbers of pre- and post-treatment coefficients.
    betahat : pandas.Series
        The coefficients used, indexed by event time.
    sigma : pandas.DataFrame
        Their covariance matrix.
    warnings : tuple of str
    provenance : Provenance
    """

    method: str
    ci_method: str
    level: float
    target: str
    weights: pd.Series
    table: pd.DataFrame
    original: EffectEstimate
    threshold: float
    breakdown: float
    breakdown_note: str
    event_times: tuple[Any, ...]
    n_pre: int
    n_post: int
    betahat: pd.Series
    sigma: pd.DataFrame
    warnings: tuple[str, ...] = ()
    provenance: Provenance = field(default_factory=Provenance)
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def bound_name(self) -> str:
        """``"Mbar"`` for relative magnitudes, ``"M"`` for smoothness."""
        return _SYMBOL[self.method]

    def to_frame(self) -> pd.DataFrame:
        """The robust intervals, one row per bound (a fresh copy)."""
        out = self.table.copy()
        out.insert(0, "method", self.method)
        out["ci_method"] = self.ci_method
        out["level"] = self.level
        return out

    def summary(self) -> Summary:
        """Original and robust intervals with the breakdown value."""
        o = self.original
        table = self.table.set_index("m")
        table.index = pd.Index([f"{v:.4g}" for v in table.index], name=self.bound_name)
        name = self.method.replace("_", " ")
        facts = (
            ("Target", self.target),
            ("Restriction", f"{name} ({self.bound_name})"),
            ("Interval", f"{self.level:.0%} ({self.ci_method})"),
            ("Pre / post coefficients", f"{self.n_pre} / {self.n_post}"),
            (
                "Original",
                f"{o.estimate:.4g} (SE {o.std_error:.4g}), CI [{o.ci_lower:.4g}, {o.ci_upper:.4g}]",
            ),
            ("Breakdown", self.breakdown_sentence()),
        )
        return Summary(
            title="Sensitivity to violations of parallel trends (Rambachan-Roth)",
            facts=facts,
            table=table,
            notes=self.warnings,
        )

    def breakdown_sentence(self) -> str:
        """One sentence stating the breakdown value, for reports and contracts."""
        what = "zero" if self.threshold == 0 else f"the threshold {self.threshold:g}"
        if math.isnan(self.breakdown):
            return f"the interval includes {what} even under exact parallel trends"
        return f"the interval excludes {what} for {self.bound_name} up to {self.breakdown:.4g}" + (
            f" ({self.breakdown_note})" if self.breakdown_note else ""
        )

    def __repr__(self) -> str:
        return (
            f"HonestSensitivity({self.method}, {self.ci_method}, {self.target}, "
            f"breakdown {self.bound_name}={self.breakdown:.4g})"
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Original interval and the robust intervals across the bounds (the sensitivity plot)."""
        from impacteval.plotting.honest import SensitivityDisplay

        return SensitivityDisplay.from_result(self).draw(ax)


# ---------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------
def honest(
    result: Any,
    *,
    method: str = "relative_magnitudes",
    m: Sequence[float] | None = None,
    e: int | str | Mapping[Any, float] | Sequence[float] = 0,
    level: float = 0.95,
    ci_method: str | None = None,
    threshold: float = 0.0,
) -> HonestSensitivity:
    """Rambachan-Roth sensitivity of an event study to violations of parallel trends.

    Parameters
    ----------
    result : EffectTable
        An event study: ``att_gt(...)`` (aggregated here with
        ``.aggregate("dynamic")``), an ``"dynamic"`` aggregation of it, or
        ``event_study(...)``. Its covariance matrix is read from ``result.vcov`` (or
        ``result.details["vcov"]``). The reference period (``reference`` of the event
        study; ``e = -1 - anticipation`` for ``att_gt``) is left out, as HonestDiD does;
        ``att_gt`` with ``base_period="universal"`` is recommended.
    method : {"relative_magnitudes", "smoothness"}
        The restriction on the violations of parallel trends (see Notes).
    m : sequence of float, optional
        Bounds to report (``Mbar`` for relative magnitudes, ``M`` for smoothness), each
        ``>= 0``. Default: ``0, 0.5, 1, 1.5, 2`` for relative magnitudes; for smoothness ten
        values from 0 to an upper confidence bound on the largest pre-treatment change of
        slope (HonestDiD's choice; the first pre-treatment SE when there is one
        pre-period).
    e : int, "average", mapping or sequence
        The target: a post-treatment event time (default 0, the effect on impact),
        ``"average"`` (the mean over post-treatment event times), or weights ``l`` by
        event time (mapping) or for every post-treatment event time in order (sequence),
        as HonestDiD's ``l_vec``.
    level : float
        Confidence level.
    ci_method : {"C-LF", "conditional", "FLCI", "hybrid"}, optional
        Default ``"C-LF"`` for relative magnitudes and ``"FLCI"`` for smoothness
        (HonestDiD's defaults). ``"hybrid"`` is another name for ``"C-LF"``. ``"FLCI"`` is
        defined for ``method="smoothness"`` only.
    threshold : float
        The breakdown value is the largest bound at which the robust interval lies
        entirely on the same side of ``threshold`` as the estimate. 0 (default) asks when
        the sign is no longer established; a contract's payment threshold asks when the
        payment decision changes.

    Returns
    -------
    HonestSensitivity

    Raises
    ------
    DataValidationError
        For a result that is not an event study, non-consecutive event times, a missing or
        non-finite covariance, or bad parameters (each message names the parameter).

    Notes
    -----
    See the module docstring of ``impacteval.did.honest`` for the decomposition
    ``beta = tau + delta`` and the two restrictions, and that of
    ``impacteval.did._honest_numerics`` for how each interval is computed (the maths of
    the FLCI and of the conditional and hybrid tests). The C-LF and conditional intervals
    invert tests on a grid refined by bisection; the least-favourable critical value of
    the hybrid is simulated with 5,000 draws and seed 0, so results are reproducible.

    References
    ----------
    Rambachan and Roth (2023), Review of Economic Studies 90(5); R ``HonestDiD``
    (``createSensitivityResults_relativeMagnitudes``, ``createSensitivityResults``).

    Examples
    --------
    >>> import impacteval as ie
    >>> mpdta = ie.datasets.load("mpdta")
    >>> es = ie.did.att_gt(mpdta, outcome="lemp", unit="countyreal", time="year",
    ...                    cohort="first_treat", base_period="universal")
    >>> sens = ie.did.honest(es, e=0, m=[0, 0.5, 1])
    >>> sens.table.columns.tolist()
    ['m', 'ci_lower', 'ci_upper', 'excludes_threshold']
    """
    log = WarningLog()
    times, beta, sigma, reference, source = _event_study_inputs(result, log)
    prov = getattr(result, "provenance", None)
    return _run(
        times,
        beta,
        sigma,
        reference,
        method=method,
        m=m,
        e=e,
        level=level,
        ci_method=ci_method,
        threshold=threshold,
        log=log,
        source=source,
        fingerprint=prov.data_fingerprint if isinstance(prov, Provenance) else "",
    )


def honest_from_estimates(
    betahat: Sequence[float] | Array,
    sigma: Array | pd.DataFrame,
    *,
    n_pre: int,
    method: str = "relative_magnitudes",
    m: Sequence[float] | None = None,
    e: int | str | Mapping[Any, float] | Sequence[float] = 0,
    level: float = 0.95,
    ci_method: str | None = None,
    threshold: float = 0.0,
) -> HonestSensitivity:
    """:func:`honest` from event-study coefficients and their covariance matrix.

    Parameters
    ----------
    betahat : sequence of float
        ``n_pre`` pre-treatment coefficients (event times ``-n_pre - 1, ..., -2``) then the
        post-treatment ones (event times ``0, 1, ...``), the reference period ``-1``
        excluded -- HonestDiD's ``betahat``.
    sigma : array of shape (k, k)
        Their covariance matrix.
    n_pre : int
        Number of pre-treatment coefficients (at least 1).
    method, m, e, level, ci_method, threshold
        As for :func:`honest`; ``e`` counts post-treatment event times from 0.

    Returns
    -------
    HonestSensitivity

    Examples
    --------
    >>> import numpy as np
    >>> import impacteval as ie
    >>> beta = np.array([0.01, -0.005, 0.04, 0.06])
    >>> res = ie.did.honest_from_estimates(beta, np.diag([1e-4] * 4), n_pre=2,
    ...                                    method="smoothness", m=[0.0, 0.01])
    >>> bool(res.table["ci_lower"].iloc[1] <= res.table["ci_lower"].iloc[0])
    True
    """
    b = _as_vector(betahat, "betahat")
    if isinstance(n_pre, bool) or not isinstance(n_pre, numbers.Integral):
        raise DataValidationError(f"`n_pre` must be an integer; received {short_repr(n_pre)}")
    if not 1 <= int(n_pre) < b.size:
        raise DataValidationError(
            f"`n_pre` must be between 1 and len(betahat) - 1 = {b.size - 1} (at least one "
            f"pre- and one post-treatment coefficient); received {n_pre!r}"
        )
    n_pre = int(n_pre)
    times = [*range(-n_pre - 1, -1), *range(b.size - n_pre)]
    s = _as_covariance(sigma, b.size, "sigma")
    return _run(
        times,
        b,
        s,
        -1,
        method=method,
        m=m,
        e=e,
        level=level,
        ci_method=ci_method,
        threshold=threshold,
        log=WarningLog(),
        source="coefficients",
        fingerprint="",
    )


# ---------------------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------------------
def _as_vector(value: Any, name: str) -> Array:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise DataValidationError(
            f"`{name}` must be a sequence of numbers; received {short_repr(value)}"
        ) from None
    if arr.ndim != 1 or arr.size < 2 or not np.all(np.isfinite(arr)):
        raise DataValidationError(
            f"`{name}` must be a 1-d sequence of at least 2 finite numbers; received "
            f"{short_repr(value)}"
        )
    return arr


def _as_covariance(value: Any, k: int, name: str) -> Array:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise DataValidationError(
            f"`{name}` must be a {k} x {k} covariance matrix; received {short_repr(value)}"
        ) from None
    if arr.shape != (k, k) or not np.all(np.isfinite(arr)):
        raise DataValidationError(
            f"`{name}` must be a finite {k} x {k} covariance matrix; received shape "
            f"{arr.shape}" + ("" if np.all(np.isfinite(arr)) else " with non-finite entries")
        )
    if not np.allclose(arr, arr.T, rtol=1e-8, atol=1e-14 * max(1.0, float(np.abs(arr).max()))):
        raise DataValidationError(f"`{name}` must be symmetric")
    arr = (arr + arr.T) / 2.0
    if float(np.linalg.eigvalsh(arr).min()) <= 1e-12 * float(np.abs(np.diag(arr)).max()):
        raise DataValidationError(
            f"`{name}` must be positive definite (a coefficient has zero variance or is a "
            "linear combination of others)"
        )
    return np.asarray(arr)


def _event_study_inputs(result: Any, log: WarningLog) -> tuple[list[Any], Array, Array, float, str]:
    """Event times, coefficients, covariance and reference period of an event study."""
    if not isinstance(result, EffectTable):
        raise DataValidationError(
            "`result` must be an event study (att_gt(...), its 'dynamic' aggregation or "
            f"event_study(...)); received {type(result).__name__}; for raw coefficients "
            "use ie.did.honest_from_estimates"
        )
    options = result.provenance.options
    if "event_time" not in result.index_columns and hasattr(result, "aggregate"):
        result = result.aggregate("dynamic")  # GroupTimeEffects
    if result.index_columns != ("event_time",):
        raise DataValidationError(
            "`result` must be indexed by event time (an event study or "
            "att_gt(...).aggregate('dynamic')); received a table indexed by "
            f"{list(result.index_columns)}"
        )
    table = result.table
    vcov = result.vcov if result.vcov is not None else result.details.get("vcov")
    if not isinstance(vcov, pd.DataFrame):
        raise DataValidationError(
            "`result` carries no covariance matrix of its rows (`vcov`); rerun the "
            "estimator with this version of impacteval"
        )
    if "reference" in table.columns:  # event_study: the flagged row
        reference = float(table.loc[table["reference"].astype(bool), "event_time"].iloc[0])
        source = "event_study"
    else:  # att_gt: the base period before anticipation
        reference = -1.0 - float(options.get("anticipation", 0) or 0)
        source = "att_gt"
        if options.get("base_period") == "varying":
            log.warn(
                "att_gt used base_period='varying': pre-treatment coefficients are "
                "period-to-period changes, not changes relative to one reference period, "
                f"and the event time {reference:g} row is left out (as HonestDiD does); "
                "rerun att_gt with base_period='universal' for the analysis Rambachan & "
                "Roth describe"
            )
    times = table["event_time"].to_numpy(dtype=float)
    keep = times != reference
    vtimes = [float(t) for t in vcov.index]
    pos = {t: i for i, t in enumerate(vtimes)}
    missing = [t for t in times[keep] if t not in pos]
    if missing:
        raise DataValidationError(f"`result.vcov` lacks the event times {missing}")
    idx = np.array([pos[t] for t in times[keep]], dtype=np.intp)
    beta = table["estimate"].to_numpy(dtype=float)[keep]
    sigma = vcov.to_numpy(dtype=float)[np.ix_(idx, idx)]
    bad = times[keep][~(np.isfinite(beta) & np.isfinite(np.diag(sigma)))]
    if bad.size:
        raise DataValidationError(
            f"event times {[_label(t) for t in bad]} have no finite estimate or variance; "
            "restrict the event window (e.g. aggregate(..., min_e=, max_e=)) first"
        )
    return [_label(t) for t in times[keep]], beta, sigma, reference, source


def _label(t: float) -> Any:
    return int(t) if float(t).is_integer() else float(t)


def _split(times: Sequence[Any], reference: float) -> tuple[int, int]:
    """Numbers of pre/post coefficients, checking they are consecutive around ``reference``."""
    t = np.asarray(times, dtype=float)
    pre, post = t[t < reference], t[t > reference]
    if pre.size == 0 or post.size == 0:
        raise DataValidationError(
            "the event study needs at least one pre-treatment and one post-treatment "
            f"coefficient besides the reference period {_label(reference)}; received event "
            f"times {[_label(x) for x in t]}"
        )
    want_pre = reference - np.arange(pre.size, 0, -1)
    want_post = reference + np.arange(1, post.size + 1)
    if not (np.array_equal(np.sort(pre), want_pre) and np.array_equal(np.sort(post), want_post)):
        raise DataValidationError(
            "the event times must be consecutive integers around the reference period "
            f"{_label(reference)} (the restrictions compare adjacent periods); received "
            f"{[_label(x) for x in t]}; bin or restrict the event window"
        )
    if not np.all(np.diff(t) > 0):
        raise DataValidationError("the event times must be sorted")
    return int(pre.size), int(post.size)


def _weights(e: Any, post_times: Sequence[Any]) -> tuple[Array, str]:
    """``l`` and a description of the target."""
    offset = 0.0
    n_post = len(post_times)
    if isinstance(e, str):
        if e != "average":
            raise DataValidationError(
                f"`e` must be a post-treatment event time, 'average', or weights; received {e!r}"
            )
        return np.full(n_post, 1.0 / n_post), (
            f"average over event times {_label(post_times[0])}..{_label(post_times[-1])}"
        )
    if isinstance(e, numbers.Real) and not isinstance(e, bool):
        ft = [float(t) for t in post_times]
        target = float(e) + offset
        if target not in ft:
            raise DataValidationError(
                f"`e` must be one of the post-treatment event times "
                f"{[_label(t - offset) for t in ft]}; received {e!r}"
            )
        out = np.zeros(n_post)
        out[ft.index(target)] = 1.0
        return out, f"event time {_label(float(e))}"
    if isinstance(e, Mapping):
        ft = [float(t) - offset for t in post_times]
        out = np.zeros(n_post)
        for key, w in e.items():
            if float(key) not in ft:
                raise DataValidationError(
                    f"`e`: event time {key!r} is not a post-treatment event time "
                    f"{[_label(t) for t in ft]}"
                )
            out[ft.index(float(key))] = float(w)
    else:
        try:
            out = np.asarray(e, dtype=float)
        except (TypeError, ValueError):
            raise DataValidationError(
                f"`e` must be an event time, 'average', a mapping or a sequence of weights; "
                f"received {short_repr(e)}"
            ) from None
        if out.shape != (n_post,):
            raise DataValidationError(
                f"`e` as weights must have one entry per post-treatment event time "
                f"({n_post}); received {short_repr(e)}"
            )
    if not np.all(np.isfinite(out)) or not np.any(out != 0):
        raise DataValidationError(f"`e` weights must be finite and not all zero; received {e!r}")
    desc = " + ".join(
        f"{w:g}*theta[{_label(float(t) - offset)}]"
        for w, t in zip(out, post_times, strict=True)
        if w != 0
    )
    return out, desc


def _bounds(m: Any, restriction: str) -> Array:
    if m is None:
        return np.array([0.0, 0.5, 1.0, 1.5, 2.0])  # replaced for smoothness by the caller
    try:
        arr = np.atleast_1d(np.asarray(m, dtype=float))
    except (TypeError, ValueError):
        raise DataValidationError(
            f"`m` must be a sequence of non-negative numbers; received {short_repr(m)}"
        ) from None
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise DataValidationError(
            f"`m` ({_SYMBOL[restriction]} for {restriction}) must be a non-empty sequence of "
            f"finite numbers >= 0; received {short_repr(m)}"
        )
    return np.unique(arr)


def _default_sd_bounds(beta: Array, sigma: Array, n_pre: int, n_post: int, level: float) -> Array:
    """Ten values from 0 to an upper confidence bound on the largest pre-period curvature."""
    if n_pre == 1:
        return np.linspace(0.0, float(np.sqrt(sigma[0, 0])), 10)
    d2 = second_differences(n_pre, n_post)[: n_pre - 1, :n_pre]
    curv = d2 @ beta[:n_pre]
    se = np.sqrt(np.einsum("ij,jk,ik->i", d2, sigma[:n_pre, :n_pre], d2))
    z = float(-special.ndtri(1.0 - level))
    return np.linspace(0.0, float(np.max(np.abs(curv) + z * se)), 10)


# ---------------------------------------------------------------------------------------
# Computation
# ---------------------------------------------------------------------------------------
def _interval_fn(
    beta: Array,
    sigma: Array,
    n_pre: int,
    n_post: int,
    l_vec: Array,
    restriction: str,
    ci_method: str,
    alpha: float,
) -> Callable[[float], tuple[float, float]]:
    """``bound -> (ci_lower, ci_upper)`` for the chosen restriction and method."""
    theta = float(l_vec @ beta[n_pre:])
    sd = float(np.sqrt(l_vec @ sigma[n_pre:, n_pre:] @ l_vec))

    def interval(bound: float) -> tuple[float, float]:
        if ci_method == "FLCI":
            r = flci(beta, sigma, n_pre, n_post, l_vec, bound, alpha)
            return (r.center - r.half_length, r.center + r.half_length)
        if restriction == "smoothness":
            polys = [sd_polyhedron(n_pre, n_post, bound)]
            slope = float(np.max(np.abs(np.diff(np.r_[beta[:n_pre], 0.0])))) if n_pre else 0.0
            width = 10 * sd + abs(slope) * n_post + bound * (n_post + 1) ** 2
        else:
            polys = rm_polyhedra(n_pre, n_post, bound)
            jumps = np.abs(np.diff(np.r_[beta[:n_pre], 0.0]))
            scale = float(np.abs(l_vec) @ np.arange(1, n_post + 1))
            width = 10 * sd + (1 + bound) * float(jumps.max()) * scale
        tests = [
            MomentTest(
                beta,
                sigma,
                n_pre,
                l_vec,
                p,
                alpha,
                hybrid=ci_method == "C-LF",
                n_sims=N_SIMS,
                seed=SEED,
            )
            for p in polys
        ]
        return confidence_set(union_accepts(tests), theta, width)

    return interval


def _excludes(lo: float, hi: float, threshold: float, above: bool) -> bool:
    if not (np.isfinite(lo) or np.isfinite(hi)) or math.isnan(lo) or math.isnan(hi):
        return False
    return lo > threshold if above else hi < threshold


def _breakdown(
    interval: Callable[[float], tuple[float, float]],
    grid: Array,
    cis: list[tuple[float, float]],
    threshold: float,
    above: bool,
    scale: float,
) -> tuple[float, str]:
    """Largest bound with an interval excluding ``threshold``.

    The first grid bound whose interval no longer excludes the threshold brackets the
    breakdown with the last one that does (the grid is doubled beyond its end, at most 12
    times, when every interval excludes it); Brent's method then finds where the interval's
    end nearest the threshold crosses it, to 1e-4 of the bracket. Assumes the intervals
    widen with the bound, as the nested restriction sets imply.
    """
    at0 = cis[0] if grid[0] == 0 else interval(0.0)
    if not _excludes(*at0, threshold, above):
        return math.nan, ""
    flags = [_excludes(lo, hi, threshold, above) for lo, hi in cis]
    good, bad = 0.0, math.nan
    for b, ok in zip(grid, flags, strict=True):
        if ok:
            good = float(b)
        else:
            bad = float(b)
            break
    if math.isnan(bad):  # still excluded at the largest bound: search beyond the grid
        step = float(grid[-1]) if grid[-1] > 0 else scale
        for _ in range(12):
            cand = good + step
            if not _excludes(*interval(cand), threshold, above):
                bad = cand
                break
            good, step = cand, 2 * step
        else:
            return good, "a lower bound: still excluded at the largest bound searched"

    def margin(bound: float) -> float:  # > 0 while the interval excludes the threshold
        lo, hi = interval(bound)
        value = lo - threshold if above else threshold - hi
        return value if math.isfinite(value) else -1.0

    root = optimize.brentq(margin, good, bad, xtol=1e-4 * bad, rtol=1e-6)
    return float(root), ""


def _run(
    times: Sequence[Any],
    beta: Array,
    sigma: Array,
    reference: float,
    *,
    method: str,
    m: Any,
    e: Any,
    level: float,
    ci_method: str | None,
    threshold: float,
    log: WarningLog,
    source: str,
    fingerprint: str,
) -> HonestSensitivity:
    restriction = check_choice(method, "method", METHODS)
    level = check_level(level)
    if ci_method is None:
        ci_method = _DEFAULT_CI[restriction]
    if ci_method == "FLCI" and restriction == "relative_magnitudes":
        raise DataValidationError(
            "`ci_method`='FLCI' is defined for method='smoothness' only (the "
            "relative-magnitudes set is not convex); use 'C-LF' or 'conditional'"
        )
    ci_method = check_choice(ci_method, "ci_method", _CI_METHODS[restriction])
    ci_method = "C-LF" if ci_method == "hybrid" else ci_method
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise DataValidationError(f"`threshold` must be a number; received {short_repr(threshold)}")
    threshold = float(threshold)
    if not math.isfinite(threshold):
        raise DataValidationError(f"`threshold` must be finite; received {threshold!r}")
    n_pre, n_post = _split(times, reference)
    sigma = _as_covariance(sigma, len(times), "the covariance matrix")
    post_times = list(times[n_pre:])
    l_vec, target = _weights(e, post_times)
    grid = (
        _default_sd_bounds(beta, sigma, n_pre, n_post, level)
        if m is None and restriction == "smoothness"
        else _bounds(m, restriction)
    )
    alpha = 1.0 - level
    theta = float(l_vec @ beta[n_pre:])
    se = float(np.sqrt(l_vec @ sigma[n_pre:, n_pre:] @ l_vec))
    original = EffectEstimate.from_wald(
        theta,
        se,
        level=level,
        df=None,
        estimand="ATT",
        method="event-study target under parallel trends",
    )
    interval = _interval_fn(beta, sigma, n_pre, n_post, l_vec, restriction, ci_method, alpha)
    cis = [interval(float(b)) for b in grid]
    above = theta > threshold
    table = pd.DataFrame(
        {
            "m": grid,
            "ci_lower": [c[0] for c in cis],
            "ci_upper": [c[1] for c in cis],
            "excludes_threshold": [_excludes(lo, hi, threshold, above) for lo, hi in cis],
        }
    )
    empty = table["ci_lower"].isna()
    if empty.any():
        log.warn(
            f"the robust confidence set is empty for {_SYMBOL[restriction]} = "
            f"{table.loc[empty, 'm'].tolist()}: the pre-treatment coefficients reject that "
            "restriction"
        )
    scale = 0.5 if restriction == "relative_magnitudes" else max(se, 1e-12)
    breakdown, note = _breakdown(interval, grid, cis, threshold, above, scale)
    options = {
        "method": restriction,
        "ci_method": ci_method,
        "m": grid.tolist(),
        "e": e if isinstance(e, (int, float, str)) else l_vec.tolist(),
        "level": level,
        "threshold": threshold,
        "source": source,
        "n_sims_least_favourable": N_SIMS if ci_method == "C-LF" else None,
        "seed": SEED if ci_method == "C-LF" else None,
    }
    return HonestSensitivity(
        method=restriction,
        ci_method=ci_method,
        level=level,
        target=target,
        weights=pd.Series(l_vec, index=pd.Index(post_times, name="event_time"), name="weight"),
        table=table,
        original=original,
        threshold=threshold,
        breakdown=breakdown,
        breakdown_note=note,
        event_times=tuple(times),
        n_pre=n_pre,
        n_post=n_post,
        betahat=pd.Series(beta, index=pd.Index(list(times), name="event_time"), name="estimate"),
        sigma=pd.DataFrame(sigma, index=list(times), columns=list(times)),
        warnings=log.messages,
        provenance=Provenance(options=options, data_fingerprint=fingerprint, seed=SEED),
    )
