"""From a metric's input to its decision statistic: scale, statistic, gate, rounding.

Every scale is linear in the raw estimate ``e`` (treated minus control): the metric value
is ``k * e`` with

* absolute: ``k = +1`` (direction "increase") or ``-1`` ("decrease");
* relative_reduction: ``k = -1 / C`` (``1 - T / C`` with ``T = C + e``); ``C`` is the
  contract's ``baseline`` or the input's ``control_rate``, treated as known;
* aggregate: ``k = ±N`` (per-unit effect times the number of units);
* achievement: ``k = ±1 / target``.

The standard error scales by ``|k|``; the lower confidence bound is
``k e - z |k| se`` with ``z`` the normal (or t, when the input has ``df``) quantile at
``level`` (one- or two-sided).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal

from scipy import stats

from impacteval.exceptions import DataValidationError
from impacteval.payments.inputs import MetricInput, to_decimal
from impacteval.payments.money import round_to
from impacteval.payments.schema import ContractSpec, Metric

__all__ = ["MetricValue", "critical_value", "evaluate_metrics", "multiplier"]


@dataclass(frozen=True)
class MetricValue:
    """A metric's decision statistic and whether its gate passed.

    ``value`` is None when the input is pending (partial settlement). ``exact`` is the value
    before the metric's declared ``value_rounding``; blends combine exact values.
    """

    id: str
    value: Decimal | None
    statistic: str
    gate_passed: bool = True
    gate_note: str = ""
    source: MetricInput | None = None
    exact: Decimal | None = None


@functools.lru_cache(maxsize=256)
def critical_value(level: float, sided: str, df: float | None) -> Decimal:
    """``z`` (or t) quantile: one-sided ``level``, or two-sided (``(1 + level) / 2``)."""
    tail = (1.0 - level) if sided == "one" else (1.0 - level) / 2.0
    z = float(stats.t.isf(tail, df)) if df is not None else float(stats.norm.isf(tail))
    return to_decimal(z)


def multiplier(metric: Metric, inp: MetricInput) -> Decimal:
    """The factor ``k`` with metric value ``= k * estimate`` (see the module notes)."""
    sign = Decimal(1) if metric.direction == "increase" else Decimal(-1)
    if metric.scale == "absolute":
        return sign
    if metric.scale == "relative_reduction":
        base = metric.baseline if metric.baseline is not None else inp.control_rate
        if base is None or base == 0:
            raise ValueError(f"metric {metric.id!r}: no baseline")
        return Decimal(-1) / base
    if metric.scale == "aggregate":
        units = metric.units if metric.units is not None else inp.units
        if units is None:
            raise ValueError(f"metric {metric.id!r}: no units")
        return sign * units
    if metric.target is None:
        raise ValueError(f"metric {metric.id!r}: no target")
    return sign / metric.target


def _direct(metric: Metric, inp: MetricInput, mode: str) -> MetricValue:
    if metric.input == "rate_card":
        return MetricValue(
            metric.id, inp.estimate, "verified rate-card outcomes", source=inp, exact=inp.estimate
        )
    k = multiplier(metric, inp)
    value = k * inp.estimate
    if metric.input == "count":
        label = "verified count"
    elif metric.statistic == "point":
        label = "point estimate"
    else:
        label = f"lower bound ({metric.level:.0%}, {metric.sided}-sided)"
    if metric.statistic == "lower_bound" and inp.std_error is not None:
        z = critical_value(metric.level, metric.sided, inp.df)
        value -= z * abs(k) * to_decimal(inp.std_error)
    passed, note = True, ""
    if metric.gate == "significance" and inp.std_error is not None:
        z = critical_value(metric.level, metric.sided, inp.df)
        se = abs(k) * to_decimal(inp.std_error)
        passed = k * inp.estimate > z * se
        note = f"significance gate ({metric.level:.0%}, {metric.sided}-sided)"
        label += " [significance-gated]"
    elif metric.gate == "size":
        n = inp.n_obs or 0
        usable = [s for s in metric.size_thresholds if s.min_n <= n]
        if not usable:
            passed, note = False, f"size gate: n={n} below smallest min_n"
        else:
            thr = usable[-1].threshold
            passed = value >= thr
            note = f"size gate: n={n} needs >= {thr}"
        label += " [size-gated]"
    exact = value
    if metric.value_rounding is not None:
        value = round_to(value, metric.value_rounding, mode)
    return MetricValue(metric.id, value, label, passed, note, inp, exact)


def evaluate_metrics(spec: ContractSpec, inputs: dict[str, MetricInput]) -> dict[str, MetricValue]:
    """Decision statistics of every metric (blends after their components)."""
    out: dict[str, MetricValue] = {}
    for m in spec.metrics:
        if m.is_blend:
            continue
        if m.id in inputs:
            out[m.id] = _direct(m, inputs[m.id], spec.info.rounding_mode)
        else:
            out[m.id] = MetricValue(m.id, None, "pending input")
    for m in spec.metrics:
        if not m.is_blend:
            continue
        parts = [out[ref] for ref, _ in m.blend]
        if any(p.exact is None for p in parts):
            out[m.id] = MetricValue(m.id, None, "pending input")
            continue
        if m.weight_by == "units":
            sizes = []
            for ref, _ in m.blend:
                src = inputs[ref]
                metric = spec.metric(ref)
                size = metric.units if metric.units is not None else src.units
                if size is None:
                    raise DataValidationError(
                        f"`inputs.{ref}.units` is needed to weight blend {m.id!r}"
                    )
                sizes.append(size)
            total = sum(sizes, Decimal(0))
            weights = [s / total for s in sizes] if total else [Decimal(0)] * len(sizes)
        else:
            weights = [w for _, w in m.blend]
        value = sum(
            (w * p.exact for w, p in zip(weights, parts, strict=True) if p.exact is not None),
            Decimal(0),
        )
        exact = value
        if m.value_rounding is not None:
            value = round_to(value, m.value_rounding, spec.info.rounding_mode)
        failed = [p.id for p in parts if not p.gate_passed]
        label = "blend " + " + ".join(
            f"{float(w):.4g} x {p.id}" for w, p in zip(weights, parts, strict=True)
        )
        out[m.id] = MetricValue(
            m.id,
            value,
            label,
            not failed,
            f"gate failed on {failed}" if failed else "",
            None,
            exact,
        )
    return out
