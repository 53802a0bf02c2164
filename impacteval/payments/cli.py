"""``impacteval settle CONTRACT INPUTS [--audit-out FILE]``: settle a contract from JSON.

Inputs JSON: ``{metric_id: number | {"estimate": x, "std_error": s, ...} |
{person: {outcome: count}}}``, plus a ``"safeguards"`` object for a contract with a
``[safeguards]`` table (unless a metric is itself named ``safeguards``). Parsed with
:mod:`json` only (never eval or pickle).
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from impacteval.exceptions import ImpactEvalError
from impacteval.payments.contract import Contract

__all__ = ["settle_command"]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not allowed in inputs")


def _load_inputs(path: str) -> dict[str, Any]:
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text, parse_constant=_reject_constant)
    if not isinstance(data, dict):
        raise ValueError("inputs JSON must be an object {metric_id: value}")
    return data


def settle_command(contract_path: str, inputs_path: str, audit_out: str | None) -> int:
    """Settle ``contract_path`` on ``inputs_path``; print the table; write the audit JSON.

    Parameters
    ----------
    contract_path : str
        Path of the contract TOML.
    inputs_path : str
        Path of the inputs JSON.
    audit_out : str or None
        Where to write the audit record (JSON: hashes, canonical inputs, lines, total,
        package version, timestamp). None: not written.

    Returns
    -------
    int
        0 on success; 2 when the contract or inputs are invalid (message on stderr).
    """
    try:
        if not Path(contract_path).is_file():
            raise FileNotFoundError(f"contract file {contract_path!r} does not exist")
        contract = Contract.from_toml(Path(contract_path))
        inputs = _load_inputs(inputs_path)
        guards = None
        if "safeguards" not in contract.input_metrics:
            guards = inputs.pop("safeguards", None)
        settlement = contract.settle(inputs, safeguards=guards)
    except (ImpactEvalError, ValueError, OSError) as exc:
        print(f"impacteval settle: error: {exc}", file=sys.stderr)
        return 2
    print(settlement.summary().as_text())
    if audit_out is not None:
        record = settlement.to_dict()
        Path(audit_out).write_text(
            json.dumps(record, indent=2, sort_keys=True, default=_json_default) + "\n",
            encoding="utf-8",
        )
        print(f"\naudit record written to {audit_out}")
    return 0


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
