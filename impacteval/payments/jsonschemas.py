"""JSON Schemas (draft 2020-12) of settlement inputs and of contracts.

Printed by ``impacteval schema inputs`` and ``impacteval schema contract``. They describe
the shape; the loader and :func:`~impacteval.payments.inputs.normalise_inputs` apply the
full checks (domains, reachability, cross-references) with messages naming the key path.
"""

from __future__ import annotations

from typing import Any

from impacteval.payments.inputs import MAPPING_KEYS
from impacteval.payments.schema import (
    COMPARISONS,
    GATES,
    INPUT_KINDS,
    ROUND_POINTS,
    ROUNDING_MODES,
    RULES,
    SCALES,
    STATISTICS,
)

__all__ = ["contract_schema", "inputs_schema"]

_NUMBER: dict[str, Any] = {"type": ["number", "string"], "description": "number or numeric string"}
_MONEY: dict[str, Any] = {**_NUMBER, "description": "money: a decimal string keeps its digits"}


def inputs_schema() -> dict[str, Any]:
    """Schema of the inputs JSON of ``impacteval settle``."""
    estimate = {
        "type": "object",
        "description": "an estimate with its uncertainty, or treated/control rates",
        "properties": {
            "estimate": {"type": "number", "description": "treated minus control"},
            "std_error": {"type": "number", "minimum": 0},
            "df": {"type": "number", "exclusiveMinimum": 0},
            "n_obs": {"type": "integer", "minimum": 0},
            "treated_rate": {"type": "number", "minimum": 0},
            "control_rate": {"type": "number", "exclusiveMinimum": 0},
            "units": {"type": "number", "minimum": 0},
            "value": {"type": "number", "description": "a verified value (instead of estimate)"},
            "unit": {"type": "string", "description": "unit of the effect (e.g. village)"},
            "estimand": {"type": "string", "description": "ATE, ATT, ..."},
        },
        "additionalProperties": False,
    }
    assert set(estimate["properties"]) == set(MAPPING_KEYS)  # type: ignore[call-overload]
    rate_card = {
        "type": "object",
        "description": "rate card: {person_id: {outcome: count}}",
        "additionalProperties": {
            "type": "object",
            "additionalProperties": {"type": "number", "minimum": 0},
        },
    }
    count = {"type": "number", "description": "a verified count or share"}
    safeguards = {
        "type": "object",
        "description": (
            "inputs of the contract's [safeguards] table: subgroups {name: {estimate, n"
            "[, std_error, eligible]}}, eligible, exclusions (a count or {reason: count}), "
            "refusals, indicators {name: value}"
        ),
        "properties": {
            "subgroups": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "estimate": {"type": "number"},
                        "n": {"type": "integer", "minimum": 0},
                        "std_error": {"type": "number", "minimum": 0},
                        "eligible": {"type": "integer", "minimum": 0},
                    },
                    "required": ["estimate", "n"],
                },
            },
            "eligible": {"type": "integer", "minimum": 0},
            "exclusions": {
                "oneOf": [
                    {"type": "integer", "minimum": 0},
                    {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
                ]
            },
            "refusals": {"type": "integer", "minimum": 0},
            "indicators": {"type": "object", "additionalProperties": {"type": "number"}},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "impacteval settlement inputs",
        "description": (
            "{metric_id: number | estimate object | rate card}, plus an optional "
            '"safeguards" object for a contract with a [safeguards] table'
        ),
        "type": "object",
        "properties": {"safeguards": safeguards},
        "additionalProperties": {"oneOf": [count, estimate, rate_card]},
    }


_TEXT: dict[str, Any] = {"type": "string"}
_DOC: dict[str, Any] = {"description": _TEXT, "source": _TEXT}


def _metric_schema() -> dict[str, Any]:
    """One ``[metrics.<id>]`` table."""
    return {
        "type": "object",
        "properties": {
            "input": {"enum": list(INPUT_KINDS)},
            "scale": {"enum": list(SCALES)},
            "direction": {"enum": ["increase", "decrease"]},
            "baseline": _NUMBER,
            "units": _NUMBER,
            "target": _NUMBER,
            "statistic": {"enum": list(STATISTICS)},
            "level": _NUMBER,
            "sided": {"enum": ["one", "two"]},
            "gate": {"enum": list(GATES)},
            "size_thresholds": {"type": "array"},
            "value_rounding": _NUMBER,
            "blend": {"type": ["object", "array"]},
            "weight_by": {"enum": ["units"]},
            "domain": {"enum": ["share", "rate", "count", "real"]},
            "per": _NUMBER,
            "unit": _TEXT,
            "estimand": {"type": ["string", "array"]},
            **_DOC,
        },
        "additionalProperties": False,
    }


def _payment_schema() -> dict[str, Any]:
    """One ``[payments.<id>]`` table (a payment component)."""
    return {
        "type": "object",
        "required": ["rule"],
        "properties": {
            "rule": {"enum": list(RULES)},
            "metric": _TEXT,
            "price": _MONEY,
            "threshold": _NUMBER,
            "threshold_mode": {"enum": ["hurdle", "deductible"]},
            "tiers": {"type": "array"},
            "points": {"type": "array"},
            "weights": {"type": "object"},
            "amount_at_target": _MONEY,
            "ratio_cap": _NUMBER,
            "prices": {"type": "object"},
            "unit_cap": _MONEY,
            "share": _NUMBER,
            "share_after": _NUMBER,
            "switch_at": _MONEY,
            "amount": _MONEY,
            "cap": _MONEY,
            "floor": _MONEY,
            "cohort": _TEXT,
            "period": _TEXT,
            "when": {"type": ["string", "array"]},
            "unless": {"type": ["string", "array"]},
            "outcome": {"type": "boolean"},
            "true_up_of": _TEXT,
            "clawback": {"type": "boolean"},
            **_DOC,
        },
        "additionalProperties": False,
    }


def _trigger_schema() -> dict[str, Any]:
    """One ``[triggers.<id>]`` table."""
    return {
        "type": "object",
        "required": ["metric", "threshold"],
        "properties": {
            "metric": _TEXT,
            "threshold": _NUMBER,
            "comparison": {"enum": list(COMPARISONS)},
            "action": {"enum": ["pay", "stop"]},
            "period": _TEXT,
            **_DOC,
        },
        "additionalProperties": False,
    }


def _limits_schema() -> dict[str, Any]:
    """The ``[caps]`` or ``[floors]`` table."""
    return {
        "type": "object",
        "properties": {
            "total": _MONEY,
            "outcomes": _MONEY,
            "cohort": {"type": "object", "additionalProperties": _MONEY},
            "period": {"type": "object", "additionalProperties": _MONEY},
        },
        "additionalProperties": False,
    }


def contract_schema() -> dict[str, Any]:
    """Schema of a contract (its TOML parsed to JSON)."""
    limits = _limits_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "impacteval outcome contract (TOML, shown as JSON)",
        "type": "object",
        "required": ["contract", "payments"],
        "properties": {
            "contract": {
                "type": "object",
                "required": ["name", "currency"],
                "properties": {
                    "name": _TEXT,
                    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                    "rounding": _NUMBER,
                    "rounding_mode": {"enum": list(ROUNDING_MODES)},
                    "round_at": {"type": "array", "items": {"enum": list(ROUND_POINTS)}},
                    "periods": {"type": "array", "items": _TEXT},
                    "cohorts": {"type": "array", "items": _TEXT},
                    **_DOC,
                },
                "additionalProperties": False,
            },
            "metrics": {"type": "object", "additionalProperties": _metric_schema()},
            "payments": {
                "type": "object",
                "additionalProperties": _payment_schema(),
                "minProperties": 1,
            },
            "triggers": {"type": "object", "additionalProperties": _trigger_schema()},
            "caps": limits,
            "floors": limits,
            "investment": {"type": "object"},
            "safeguards": {"type": "object"},
        },
        "additionalProperties": False,
    }
