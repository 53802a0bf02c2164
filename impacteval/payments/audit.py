"""Audit record: canonical JSON and SHA-256 of the contract, the inputs and the result.

Canonical JSON: sorted keys, no insignificant whitespace, ``Decimal`` as its string (so the
digits written in the contract are hashed, not a binary float), dates as ISO 8601. The
timestamp is stored beside the hashes, never inside them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from impacteval._version import __version__
from impacteval.payments.engine import Outcome
from impacteval.payments.inputs import MetricInput

__all__ = ["audit_record", "canonical_json", "sha256"]


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    raise TypeError(f"not serialisable in a contract: {type(value).__name__}")


def canonical_json(obj: object) -> str:
    """Deterministic JSON text of ``obj`` (sorted keys, compact, Decimals as strings)."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_default
    )


def sha256(obj: object) -> str:
    """SHA-256 hex digest of :func:`canonical_json` of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode("ascii")).hexdigest()


def canonical_inputs(inputs: Mapping[str, MetricInput]) -> dict[str, Any]:
    """The normalised inputs as a JSON-ready dict (sorted by metric id)."""
    return {k: inputs[k].canonical() for k in sorted(inputs)}


def canonical_result(outcome: Outcome) -> dict[str, Any]:
    """Lines and total as a JSON-ready dict (for the result hash)."""
    return {
        "total": str(outcome.total),
        "lines": [
            {
                "component": ln.component,
                "metric": ln.metric,
                "statistic": ln.statistic,
                "value": None if ln.value is None else str(ln.value),
                "rule": ln.rule,
                "amount": str(ln.amount),
                "bound": ln.bound,
                "cohort": ln.cohort,
                "period": ln.period,
                "outcome": ln.outcome,
            }
            for ln in outcome.lines
        ],
        "triggers": {k: outcome.triggers[k] for k in sorted(outcome.triggers)},
    }


def audit_record(
    name: str,
    currency: str,
    document: Mapping[str, Any],
    inputs: Mapping[str, MetricInput],
    outcome: Outcome,
    *,
    safeguards: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The audit record of one settlement (a plain, JSON-serialisable dict).

    Keys: ``contract_name``, ``currency``, ``contract_sha256``, ``inputs_sha256``,
    ``result_sha256``, ``inputs`` (canonical), ``total``, ``bindings`` (component ->
    what bound it), ``triggers``, ``package_version``, ``python_version`` and
    ``created_at`` (UTC; outside every hash). With a ``[safeguards]`` table, also
    ``safeguards``: the masked table, the flags, ``on_breach`` and the SHA-256 of the
    safeguard inputs (the raw subgroup cells are never stored); they enter the result hash.
    """
    canon_inputs = canonical_inputs(inputs)
    result = canonical_result(outcome)
    extra: dict[str, Any] = {}
    if safeguards is not None:
        result["safeguards"] = dict(safeguards)
        extra["safeguards"] = dict(safeguards)
    return {
        "contract_name": name,
        "currency": currency,
        "contract_sha256": sha256(dict(document)),
        "inputs_sha256": sha256(canon_inputs),
        "result_sha256": sha256(result),
        "inputs": canon_inputs,
        "total": str(outcome.total),
        "bindings": {ln.component: ln.bound for ln in outcome.lines if ln.bound},
        "triggers": result["triggers"],
        "package_version": __version__,
        "python_version": platform.python_version(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **extra,
    }
