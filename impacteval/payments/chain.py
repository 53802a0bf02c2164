"""The statistic a contract pays on, with its own uncertainty: the payment chain.

A contract does not pay on the raw effect estimate ``e`` (treated minus control) but on a
metric derived from it: a relative reduction ``1 - T / C``, an achievement ratio
``e / target``, an aggregate ``N e``, a blend of such metrics. This module gives that paid
statistic a standard error and a confidence interval, so a report can show the whole
chain: estimate (CI) -> metric as paid (CI) -> trigger -> rule -> amount -> caps -> total.

Delta method for the relative reduction. With ``C = T - e`` the metric is
``v = 1 - T / C``. When the treated mean ``T`` is treated as known (the convention of
:mod:`impacteval.payments.metrics`, which holds the comparison level fixed when it scales
the standard error) the gradient in ``e`` gives ``se(v) = T se(e) / C**2``. When the
standard error of ``T`` is supplied and ``T`` and the comparison level ``C`` are
estimated from disjoint samples (so ``Var C = Var e - Var T``), the gradient in
``(T, C)`` gives::

    Var v = Var T / C**2 + T**2 (Var e - Var T) / C**4

Linear scales (absolute, aggregate, achievement) scale the standard error by ``|k|``
exactly. A blend ``sum w_i v_i`` with fixed weights has ``Var = sum w_i**2 Var v_i``,
assuming its components come from independent samples (disjoint cohorts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from scipy import stats

from impacteval.exceptions import DataValidationError
from impacteval.payments.contract import Contract
from impacteval.payments.inputs import MetricInput, normalise_inputs
from impacteval.payments.metrics import multiplier

__all__ = ["PaidStatistic", "paid_statistics", "relative_reduction_se"]


@dataclass(frozen=True)
class PaidStatistic:
    """One metric's paid statistic with its standard error and interval.

    ``value`` is the statistic before the contract's ``value_rounding``; ``std_error`` and
    the interval are None for verified counts without sampling error.
    """

    metric: str
    scale: str
    estimate: float | None
    estimate_se: float | None
    value: float
    std_error: float | None
    ci_lower: float | None
    ci_upper: float | None
    method: str


def relative_reduction_se(
    estimate: float, std_error: float, treated_rate: float, treated_se: float | None = None
) -> float:
    """Delta-method standard error of ``1 - T / C`` with ``C = T - estimate``.

    Parameters
    ----------
    estimate : float
        ``e = T - C`` (treated minus comparison).
    std_error : float
        Standard error of ``e``.
    treated_rate : float
        The treated mean ``T``.
    treated_se : float, optional
        Standard error of ``T``. Without it ``T`` is treated as known. With it, ``T`` and
        ``C`` are taken as independent (disjoint samples); ``Var C = Var e - Var T`` is
        floored at 0.

    Examples
    --------
    >>> round(relative_reduction_se(-20.0, 8.0, 100.0), 6)  # T se / C^2 = 100 * 8 / 120^2
    0.055556
    """
    for name, val in (
        ("estimate", estimate),
        ("std_error", std_error),
        ("treated_rate", treated_rate),
    ):
        if not math.isfinite(val):
            raise DataValidationError(f"`{name}` must be finite; received {val!r}")
    if std_error < 0:
        raise DataValidationError(f"`std_error` must be >= 0; received {std_error!r}")
    control = treated_rate - estimate
    if control <= 0:
        raise DataValidationError(
            f"`treated_rate - estimate` (the comparison level) must be > 0; received {control!r}"
        )
    if treated_se is None:
        return abs(treated_rate) * std_error / control**2
    if not math.isfinite(treated_se) or treated_se < 0:
        raise DataValidationError(f"`treated_se` must be finite and >= 0; received {treated_se!r}")
    var_t = treated_se**2
    var_c = max(std_error**2 - var_t, 0.0)
    return math.sqrt(var_t / control**2 + treated_rate**2 * var_c / control**4)


def _direct(
    contract: Contract,
    inp: MetricInput,
    mid: str,
    z: float,
    treated_se: float | None,
    measured_se: float | None = None,
) -> PaidStatistic:
    metric = contract.spec.metric(mid)
    e = float(inp.estimate)
    se = inp.std_error
    if metric.input == "rate_card":
        return PaidStatistic(mid, "rate_card", None, None, e, None, None, None, "verified")
    k = float(multiplier(metric, inp))
    value = k * e
    if se is None and measured_se is not None:
        out_se = abs(k) * measured_se
        return PaidStatistic(
            mid,
            metric.scale,
            e,
            measured_se,
            value,
            out_se,
            value - z * out_se,
            value + z * out_se,
            "verified measurement; interval from its own sampling error",
        )
    if se is None:
        return PaidStatistic(
            mid, metric.scale, e, None, value, None, None, None, "verified (no sampling error)"
        )
    if metric.scale == "relative_reduction" and metric.baseline is None:
        treated = (
            float(inp.treated_rate)
            if inp.treated_rate is not None
            else float(inp.control_rate or 0) + e
        )
        out_se = relative_reduction_se(e, se, treated, treated_se)
        method = (
            "delta method (T and C estimated)"
            if treated_se is not None
            else "delta method (T known, C = T - e estimated)"
        )
    else:
        out_se = abs(k) * se
        method = "exact linear scaling of the estimate's SE"
    return PaidStatistic(
        mid, metric.scale, e, se, value, out_se, value - z * out_se, value + z * out_se, method
    )


def paid_statistics(
    contract: Contract,
    inputs: Mapping[str, object],
    *,
    level: float = 0.95,
    treated_se: Mapping[str, float] | None = None,
    measurement_se: Mapping[str, float] | None = None,
) -> dict[str, PaidStatistic]:
    """Every metric's paid statistic (point form) with its standard error and interval.

    Parameters
    ----------
    contract : Contract
        The contract.
    inputs : mapping
        As for :meth:`Contract.settle`.
    level : float, default 0.95
        Two-sided confidence level of the intervals (normal reference).
    treated_se : mapping, optional
        Standard error of the treated mean per relative-reduction metric (see
        :func:`relative_reduction_se`).
    measurement_se : mapping, optional
        Standard error of verified measurements (inputs without one of their own, such
        as a measured share fed to a ``count`` metric); shown, never used to settle.

    Returns
    -------
    dict
        ``metric id -> PaidStatistic``, blends after their components.

    Notes
    -----
    For ``statistic = "lower_bound"`` metrics the interval is that of the point value;
    the contract pays on the lower bound, which the settlement shows.
    """
    if not 0 < level < 1:
        raise DataValidationError(f"`level` must be strictly between 0 and 1; received {level!r}")
    z = float(stats.norm.isf((1 - level) / 2))
    norm = normalise_inputs(contract.spec, inputs, partial=True)
    known = treated_se or {}
    out: dict[str, PaidStatistic] = {}
    for m in contract.spec.metrics:
        if not m.is_blend and m.id in norm:
            out[m.id] = _direct(
                contract, norm[m.id], m.id, z, known.get(m.id), (measurement_se or {}).get(m.id)
            )
    for m in contract.spec.metrics:
        if not m.is_blend or any(ref not in out for ref, _ in m.blend):
            continue
        if m.weight_by == "units":
            sizes = []
            for ref, _ in m.blend:
                src = contract.spec.metric(ref).units
                size = src if src is not None else norm[ref].units
                sizes.append(float(size or 0))
            total = sum(sizes)
            weights = [s / total if total else 0.0 for s in sizes]
        else:
            weights = [float(w) for _, w in m.blend]
        parts = [out[ref] for ref, _ in m.blend]
        value = sum(w * p.value for w, p in zip(weights, parts, strict=True))
        if any(p.std_error is None for p in parts):
            ses = [p.std_error for p in parts if p.std_error is not None]
            if not ses:
                out[m.id] = PaidStatistic(
                    m.id, "blend", None, None, value, None, None, None, "verified"
                )
                continue
        var = sum(w**2 * (p.std_error or 0.0) ** 2 for w, p in zip(weights, parts, strict=True))
        se = math.sqrt(var)
        out[m.id] = PaidStatistic(
            m.id,
            "blend",
            None,
            None,
            value,
            se,
            value - z * se,
            value + z * se,
            "blend of independent components (fixed weights)",
        )
    return out


def paid_statistics_frame(stats_: Mapping[str, PaidStatistic]) -> pd.DataFrame:
    """The paid statistics as a DataFrame indexed by metric."""
    rows = [
        {
            "metric": s.metric,
            "scale": s.scale,
            "estimate": s.estimate,
            "estimate_se": s.estimate_se,
            "value": s.value,
            "std_error": s.std_error,
            "ci_lower": s.ci_lower,
            "ci_upper": s.ci_upper,
            "method": s.method,
        }
        for s in stats_.values()
    ]
    return pd.DataFrame(rows).set_index("metric")
