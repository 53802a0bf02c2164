"""Settlement inputs: result objects, verified counts or small mappings, normalised.

Payments consume result objects only (``estimate``, ``std_error``, ``df``, ``n_obs`` and,
when present, ``details["bootstrap_draws"]``); they never reach into estimator internals.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import numpy as np

from impacteval.exceptions import DataValidationError
from impacteval.payments.domain import check_effect, check_input_value
from impacteval.payments.money import MAX_MAGNITUDE, check_magnitude
from impacteval.payments.schema import ContractSpec, Metric
from impacteval.results import EffectEstimate

__all__ = ["MAPPING_KEYS", "MetricInput", "normalise_inputs", "to_decimal"]

MAPPING_KEYS = (
    "estimate",
    "unit",
    "estimand",
    "std_error",
    "df",
    "n_obs",
    "treated_rate",
    "control_rate",
    "units",
    "value",
)


def to_decimal(value: float | int | Decimal, path: str = "value") -> Decimal:
    """Exact decimal of a number: ints exactly, floats via their shortest ``repr``.

    ``repr`` of a float is the shortest string that round-trips, so ``0.92`` becomes
    ``Decimal("0.92")`` (not the binary expansion) on every platform.
    """
    if isinstance(value, Decimal):
        out = value
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataValidationError(f"`inputs.{path}` must be a number; received {value!r}")
    elif isinstance(value, numbers.Integral):
        out = Decimal(int(value))
    else:
        out = Decimal(repr(float(value)))
    if not out.is_finite():
        raise DataValidationError(f"`inputs.{path}` must be finite; received {value!r}")
    return out


def _bounded(value: float | int | Decimal, path: str) -> Decimal:
    """:func:`to_decimal` of a settlement input, refused beyond :data:`MAX_MAGNITUDE`."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        raise DataValidationError(
            f"`inputs.{path}` is out of range ({value.bit_length()}-bit integer): settlement "
            f"inputs must be at most {MAX_MAGNITUDE:.0E} in absolute value"
        )
    return check_magnitude(to_decimal(value, path), f"inputs.{path}", DataValidationError)


@dataclass(frozen=True)
class MetricInput:
    """One metric's input, normalised.

    Attributes
    ----------
    estimate : Decimal
        The raw effect estimate (treated minus control, in the outcome's units), or the
        verified count / value.
    std_error : float or None
        Standard error of ``estimate``; None for verified counts.
    df : float or None
        t degrees of freedom (None = normal reference).
    n_obs : int or None
        Sample size (for size-dependent thresholds).
    treated_rate, control_rate : Decimal or None
        Outcome means by arm, when given (relative reductions use ``1 - T / C``).
    units : Decimal or None
        Number of units (for aggregate scales and ``weight_by = "units"``).
    persons : tuple or None
        Rate-card input: ``((person, ((outcome, count), ...)), ...)``, sorted.
    origin : str
        "EffectEstimate", "number" or "mapping".
    """

    estimate: Decimal
    std_error: float | None = None
    df: float | None = None
    n_obs: int | None = None
    treated_rate: Decimal | None = None
    control_rate: Decimal | None = None
    units: Decimal | None = None
    persons: tuple[tuple[str, tuple[tuple[str, Decimal], ...]], ...] | None = None
    origin: str = "number"
    draws: np.ndarray | None = field(default=None, compare=False, repr=False)

    def with_estimate(self, estimate: Decimal) -> MetricInput:
        """A copy with another estimate (treated rate moved with it, control fixed)."""
        treated = None if self.control_rate is None else self.control_rate + estimate
        if self.treated_rate is None:
            treated = None
        return replace(self, estimate=estimate, treated_rate=treated)

    def canonical(self) -> dict[str, Any]:
        """JSON-ready form with numbers as strings (for the audit hash)."""
        out: dict[str, Any] = {"origin": self.origin, "estimate": str(self.estimate)}
        for name in ("std_error", "df", "n_obs"):
            val = getattr(self, name)
            if val is not None:
                out[name] = repr(val)
        for name in ("treated_rate", "control_rate", "units"):
            val = getattr(self, name)
            if val is not None:
                out[name] = str(val)
        if self.persons is not None:
            out["persons"] = {p: {o: str(c) for o, c in oc} for p, oc in self.persons}
        if self.draws is not None:
            import hashlib

            arr = np.ascontiguousarray(self.draws, dtype="<f8")
            out["bootstrap_draws_sha256"] = hashlib.sha256(arr.tobytes()).hexdigest()
            out["bootstrap_draws_n"] = int(arr.size)
        return out


def _float(value: object, path: str, *, positive: bool = False, strict: bool = False) -> float:
    """A finite float (``positive``: >= 0; ``strict``: > 0) within :data:`MAX_MAGNITUDE`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataValidationError(f"`inputs.{path}` must be a number; received {value!r}")
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    shown = f"{value:.6g}" if isinstance(value, float) else short_repr(value)
    if not math.isfinite(out) or abs(out) > float(MAX_MAGNITUDE):
        raise DataValidationError(
            f"`inputs.{path}` must be a finite number of at most {float(MAX_MAGNITUDE):.0e} "
            f"in absolute value; received {shown}"
        )
    if (positive and out < 0) or (strict and out <= 0):
        raise DataValidationError(
            f"`inputs.{path}` must be {'> 0' if strict else '>= 0'}; received {shown}"
        )
    return out


def short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _df(value: object, path: str) -> float | None:
    """t degrees of freedom: None (normal) or a finite number > 0."""
    if value is None:
        return None
    if isinstance(value, float) and math.isinf(value):
        return None
    out = _float(value, f"{path}.df")
    if out <= 0:
        raise DataValidationError(
            f"`inputs.{path}.df` (t degrees of freedom of metric {path!r}) must be > 0; "
            f"received {value!r} (give no df for a normal reference)"
        )
    return out


def _from_estimate(res: EffectEstimate, path: str) -> MetricInput:
    draws = res.details.get("bootstrap_draws") if res.details else None
    arr = None
    if draws is not None:
        arr = np.asarray(draws, dtype=float).ravel()
        if arr.size < 2 or not np.all(np.isfinite(arr)):
            raise DataValidationError(
                f"`inputs.{path}`: details['bootstrap_draws'] must hold >= 2 finite draws"
            )
        arr.flags.writeable = False
    se = _float(res.std_error, f"{path}.std_error", positive=True)
    return MetricInput(
        estimate=_bounded(_float(res.estimate, f"{path}.estimate"), f"{path}.estimate"),
        std_error=se,
        df=_df(res.df, path),
        n_obs=int(res.n_obs) if res.n_obs else None,
        origin="EffectEstimate",
        draws=arr,
    )


def _from_mapping(raw: Mapping[str, Any], path: str) -> MetricInput:
    for key in raw:
        if key not in MAPPING_KEYS:
            close = difflib.get_close_matches(str(key), MAPPING_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DataValidationError(
                f"`inputs.{path}.{key}`: unknown field{hint} (allowed: {list(MAPPING_KEYS)})"
            )

    def dec(key: str) -> Decimal | None:
        return None if raw.get(key) is None else _bounded(raw[key], f"{path}.{key}")

    treated, control = dec("treated_rate"), dec("control_rate")
    est = dec("estimate")
    if est is None:
        est = dec("value")
    elif "value" in raw:
        raise DataValidationError(f"`inputs.{path}`: give `estimate` or `value`, not both")
    if est is None:
        if treated is None or control is None:
            raise DataValidationError(
                f"`inputs.{path}` needs `estimate` (or `value`), or both `treated_rate` and "
                "`control_rate`"
            )
        est = treated - control
    elif (
        treated is not None
        and control is not None
        # inputs computed in floating point (T, C and T - C rounded separately) agree only
        # to rounding: allow 1e-9 of the larger rate, refuse anything beyond
        and abs(treated - control - est) > Decimal("1e-9") * max(abs(treated), abs(control))
    ):
        raise DataValidationError(
            f"`inputs.{path}`: `estimate` ({est}) differs from treated_rate - control_rate "
            f"({treated - control})"
        )
    if control is not None and control <= 0:
        raise DataValidationError(f"`inputs.{path}.control_rate` must be > 0; got {control}")
    units = dec("units")
    if units is not None and units < 0:
        raise DataValidationError(f"`inputs.{path}.units` must be >= 0; got {units}")
    se = raw.get("std_error")
    df = raw.get("df")
    n_obs = raw.get("n_obs")
    if n_obs is not None and (isinstance(n_obs, bool) or not isinstance(n_obs, int)):
        raise DataValidationError(f"`inputs.{path}.n_obs` must be an integer; got {n_obs!r}")
    return MetricInput(
        estimate=est,
        std_error=None if se is None else _float(se, f"{path}.std_error", positive=True),
        df=_df(df, path),
        n_obs=n_obs,
        treated_rate=treated,
        control_rate=control,
        units=units,
        origin="mapping",
    )


def _rate_card(raw: object, path: str) -> MetricInput:
    if not isinstance(raw, Mapping) or not raw:
        raise DataValidationError(
            f"`inputs.{path}` must map each person id to {{outcome: count}}; received "
            f"{type(raw).__name__}"
        )
    persons = []
    for person, outcomes in raw.items():
        if not isinstance(outcomes, Mapping):
            raise DataValidationError(f"`inputs.{path}.{person}` must map outcome -> count")
        counts = []
        for outcome, count in outcomes.items():
            c = _bounded(count, f"{path}.{person}.{outcome}")
            if c < 0:
                raise DataValidationError(f"`inputs.{path}.{person}.{outcome}` is negative")
            counts.append((str(outcome), c))
        persons.append((str(person), tuple(sorted(counts))))
    persons.sort()
    return MetricInput(estimate=Decimal(len(persons)), persons=tuple(persons), origin="mapping")


def _one(metric: Metric, raw: object) -> MetricInput:
    path = metric.id
    if metric.input == "rate_card":
        return _rate_card(raw, path)
    if isinstance(raw, EffectEstimate):
        if metric.input == "count":
            raise DataValidationError(
                f"`inputs.{path}`: metric {path!r} is a verified count; pass a number, not "
                "an EffectEstimate"
            )
        out = _from_estimate(raw, path)
    elif isinstance(raw, Mapping):
        out = _from_mapping(raw, path)
    elif isinstance(raw, int | float | Decimal) and not isinstance(raw, bool):
        out = MetricInput(estimate=_bounded(raw, path), origin="number")
    else:
        raise DataValidationError(
            f"`inputs.{path}` must be an EffectEstimate, a number or a mapping; received "
            f"{type(raw).__name__}"
        )
    _check_unit_estimand(metric, raw, path)
    _check_domain(metric, out, path)
    if metric.input == "count" and out.std_error is not None:
        raise DataValidationError(
            f"`inputs.{path}`: metric {path!r} is a verified count; it takes no std_error"
        )
    needs_se = metric.statistic == "lower_bound" or metric.gate == "significance"
    if needs_se and out.std_error is None:
        raise DataValidationError(
            f"`inputs.{path}` needs a standard error: the contract decides on "
            f"statistic={metric.statistic!r}, gate={metric.gate!r}"
        )
    if metric.gate == "size" and out.n_obs is None:
        raise DataValidationError(f"`inputs.{path}` needs `n_obs` for the size-dependent gate")
    if metric.scale == "relative_reduction":
        if metric.baseline is not None and out.control_rate is not None:
            raise DataValidationError(
                f"`inputs.{path}.control_rate`: the contract fixes the baseline "
                f"(metrics.{path}.baseline = {metric.baseline}); do not also supply it"
            )
        if metric.baseline is None and out.control_rate is None:
            raise DataValidationError(
                f"`inputs.{path}` needs `control_rate` (the contract states no baseline) "
                "to form the relative reduction 1 - T/C"
            )
    if metric.scale == "aggregate" and metric.units is None and out.units is None:
        raise DataValidationError(
            f"`inputs.{path}` needs `units` (the contract states none) for the aggregate scale"
        )
    return out


def _declared(raw: object, key: str) -> str | None:
    """The unit / estimand an input declares (EffectEstimate: ``estimand``, ``details``)."""
    if isinstance(raw, EffectEstimate):
        if key == "estimand":
            return raw.estimand
        found = raw.details.get("unit") if raw.details else None
        return None if found is None else str(found)
    if isinstance(raw, Mapping):
        found = raw.get(key)
        return None if found is None else str(found)
    return None


def _check_unit_estimand(metric: Metric, raw: object, path: str) -> None:
    """Refuse an estimate whose unit or estimand differs from the metric's declared one."""
    if metric.input != "estimate":
        return
    if metric.unit is not None:
        unit = _declared(raw, "unit")
        if unit is None:
            raise DataValidationError(
                f"`inputs.{path}`: metric {path!r} is an effect per {metric.unit!r} "
                "(`unit` in the contract) but the input declares no unit; give "
                f'{{"unit": "{metric.unit}", ...}} (an EffectEstimate: details["unit"])'
            )
        if unit != metric.unit:
            raise DataValidationError(
                f"`inputs.{path}`: unit mismatch: the estimate is per {unit!r}, metric "
                f"{path!r} is per {metric.unit!r}; convert the estimate (e.g. per-{unit} "
                f"effect x {unit}s per {metric.unit}) before settling"
            )
    if metric.estimand:
        estimand = _declared(raw, "estimand")
        if estimand is None and isinstance(raw, Mapping):
            raise DataValidationError(
                f"`inputs.{path}`: metric {path!r} accepts estimands {list(metric.estimand)} "
                "but the input declares none; give `estimand`"
            )
        if estimand is not None and estimand not in metric.estimand:
            raise DataValidationError(
                f"`inputs.{path}`: estimand mismatch: the estimate is an {estimand}, metric "
                f"{path!r} accepts {list(metric.estimand)}"
            )


def _check_domain(metric: Metric, out: MetricInput, path: str) -> None:
    """Levels inside the metric's domain; effects inside the range of a difference."""
    if metric.input == "count":
        check_input_value(metric, out.estimate, path)
        return
    for name in ("treated_rate", "control_rate"):
        level = getattr(out, name)
        if level is not None:
            check_input_value(metric, level, f"{path}.{name}")
    if metric.scale == "relative_reduction" and metric.baseline is not None:
        treated = metric.baseline + out.estimate
        if treated < 0:
            raise DataValidationError(
                f"`inputs.{path}.estimate` = {out.estimate}: with the contract's baseline "
                f"{metric.baseline} the treated rate would be {treated} < 0"
            )
    check_effect(metric, out.estimate, f"{path}.estimate")


def normalise_inputs(
    spec: ContractSpec, inputs: object, *, partial: bool = False
) -> dict[str, MetricInput]:
    """Check and normalise ``{metric_id: EffectEstimate | number | mapping}``.

    Raises
    ------
    DataValidationError
        Unknown metric ids (with a suggestion), missing metrics (unless ``partial``), or
        malformed values; the message names ``inputs.<metric>``.
    """
    if not isinstance(inputs, Mapping):
        raise DataValidationError(
            f"`inputs` must be a mapping metric_id -> value; received {type(inputs).__name__}"
        )
    direct = {m.id: m for m in spec.metrics if not m.is_blend}
    for key in inputs:
        if key not in direct:
            close = difflib.get_close_matches(str(key), list(direct), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            blend = (
                " (blended metrics are computed, not supplied)"
                if key in {m.id for m in spec.metrics}
                else ""
            )
            raise DataValidationError(
                f"`inputs`: {key!r} is not an input metric of this contract{hint}{blend} "
                f"(inputs: {sorted(direct)})"
            )
    missing = sorted(set(direct) - set(inputs))
    if missing and not partial:
        raise DataValidationError(
            f"`inputs`: missing metrics {missing}; pass partial=True for an interim "
            "settlement that leaves them pending"
        )
    return {mid: _one(direct[mid], inputs[mid]) for mid in sorted(inputs)}
