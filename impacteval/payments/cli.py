"""Payment commands of ``impacteval``: ``settle`` and ``schema``.

``impacteval settle CONTRACT INPUTS [--partial] [--json] [--audit-out FILE]`` settles a
contract on inputs given as JSON (see :data:`INPUTS_HELP`); ``impacteval schema
inputs|contract`` prints the JSON Schema of the inputs or of a contract. Inputs are
parsed with :mod:`json` only (never eval or pickle). :func:`register` adds the commands
to the ``impacteval`` parser.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from impacteval.exceptions import ImpactEvalError
from impacteval.payments.contract import Contract

__all__ = [
    "INPUTS_HELP",
    "design_command",
    "ledger_append_command",
    "ledger_verify_command",
    "lock_command",
    "register",
    "schema_command",
    "settle_command",
]

INPUTS_HELP = """\
inputs JSON: an object with one entry per input metric of the contract:
  a number                      a verified count or share, e.g. "enrolment": 0.92
  {"estimate": x, "std_error": s[, "df": d, "n_obs": n, "unit": u, "estimand": e]}
                                an estimated effect (treated minus control)
  {"treated_rate": t, "control_rate": c[, "std_error": s, "units": n]}
                                rates of a relative reduction 1 - t/c
  {person: {outcome: count}}    a rate-card metric
plus, for a contract with a [safeguards] table, a "safeguards" object:
  {"subgroups": {name: {"estimate": x, "n": n}}, "eligible": n,
   "exclusions": n or {reason: n}, "refusals": n, "indicators": {name: value}}
The full format: `impacteval schema inputs` (a JSON Schema)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not allowed in inputs")


def _load_inputs(path: str) -> dict[str, Any]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"inputs file {path!r} does not exist")
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: inputs JSON must be an object {{metric_id: value}}")
    return data


def settle_command(
    contract_path: str,
    inputs_path: str,
    audit_out: str | None,
    *,
    partial: bool = False,
    as_json: bool = False,
) -> int:
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
    partial : bool, default False
        An interim settlement: missing metrics and safeguard inputs are "pending".
    as_json : bool, default False
        Print the settlement as JSON (:meth:`Settlement.to_dict`) instead of a table.

    Returns
    -------
    int
        0 on success; 2 when the contract or inputs are invalid (message on stderr).
    """
    try:
        if not Path(contract_path).is_file():
            raise FileNotFoundError(f"contract file {contract_path!r} does not exist")
        try:
            contract = Contract.from_toml(Path(contract_path))
        except ImpactEvalError as exc:
            raise ValueError(f"{contract_path}: {exc}") from None
        inputs = _load_inputs(inputs_path)
        guards = None
        if "safeguards" not in contract.input_metrics:
            guards = inputs.pop("safeguards", None)
        try:
            settlement = contract.settle(inputs, safeguards=guards, partial=partial)
        except ImpactEvalError as exc:
            raise ValueError(f"{inputs_path}: {exc}") from None
    except (ImpactEvalError, ValueError, OSError) as exc:
        print(f"impacteval settle: error: {exc}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(settlement.to_dict(), indent=2, sort_keys=True, default=_json_default))
    else:
        print(settlement.summary().as_text())
    if audit_out is not None:
        record = settlement.to_dict()
        Path(audit_out).write_text(
            json.dumps(record, indent=2, sort_keys=True, default=_json_default) + "\n",
            encoding="utf-8",
        )
        print(f"\naudit record written to {audit_out}", file=sys.stderr if as_json else sys.stdout)
    return 0


def design_command(args: Any) -> int:
    """``impacteval design``: print the contract's error rates (see :func:`design`)."""
    from impacteval.payments.design import design

    try:
        contract = Contract.from_toml(Path(args.contract))
        targets = {}
        for item in args.target:
            name, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"--target must be METRIC=EFFECT; got {item!r}")
            targets[name.strip()] = float(value)
        inputs = _load_inputs(args.inputs) if args.inputs else None
        result = design(
            contract,
            n=args.n,
            sd=args.sd,
            std_error=args.se,
            icc=args.icc,
            cluster_size=args.cluster_size,
            inputs=inputs,
            targets=targets or None,
            rng=args.seed,
        )
    except (ImpactEvalError, ValueError, OSError) as exc:
        print(f"impacteval design: error: {args.contract}: {exc}", file=sys.stderr)
        return 2
    print(result.summary().as_text())
    print(result.curve.to_string(index=False))
    if args.plot:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 4))
        result.plot(ax=ax)
        fig.savefig(args.plot, dpi=120, bbox_inches="tight")
        plt.close(fig)
        print(f"plot written to {args.plot}")
    return 0


def ledger_verify_command(args: Any) -> int:
    """``impacteval ledger verify LEDGER``: 0 when the chain verifies, 1 when not."""
    from impacteval.payments.ledger import verify_ledger

    if not Path(args.ledger).is_file():
        print(
            f"impacteval ledger: error: ledger file {args.ledger!r} does not exist", file=sys.stderr
        )
        return 2
    status = verify_ledger(args.ledger, expected_head=args.head)
    print(f"{args.ledger}: {status}")
    return 0 if status.ok else 1


def ledger_append_command(args: Any) -> int:
    """``impacteval ledger append LEDGER CONTRACT INPUTS --label L``."""
    from impacteval.payments.ledger import append_settlement

    try:
        contract = Contract.from_toml(Path(args.contract))
        inputs = _load_inputs(args.inputs)
        guards = None if "safeguards" in contract.input_metrics else inputs.pop("safeguards", None)
        settlement = contract.settle(inputs, safeguards=guards, partial=args.partial)
        record = append_settlement(args.ledger, contract, settlement, args.label)
    except (ImpactEvalError, ValueError, OSError) as exc:
        print(f"impacteval ledger: error: {exc}", file=sys.stderr)
        return 2
    body = record.body
    print(
        f"appended {args.label!r} to {args.ledger}: settled {body['settled_total']}, payable "
        f"{body['payable']} (paid so far {body['paid_after']}); head {record.sha256}"
    )
    return 0


def lock_command(args: Any) -> int:
    """``impacteval lock SPEC CONTRACT``: write the lock file (see reporting.lock)."""
    from impacteval.reporting.lock import write_lock

    try:
        out = write_lock(args.spec, args.contract, args.output)
    except (ImpactEvalError, ValueError, OSError) as exc:
        print(f"impacteval lock: error: {exc}", file=sys.stderr)
        return 2
    print(f"analysis plan locked: {out}")
    return 0


def schema_command(which: str) -> int:
    """Print the JSON Schema of ``"inputs"`` or ``"contract"``."""
    from impacteval.payments.jsonschemas import contract_schema, inputs_schema

    schema = inputs_schema() if which == "inputs" else contract_schema()
    print(json.dumps(schema, indent=2))
    return 0


def register(sub: Any) -> None:
    """Add ``settle`` and ``schema`` (and the other payment commands) to ``sub``.

    ``sub`` is the ``add_subparsers()`` object of the ``impacteval`` parser; each command
    sets ``handler`` (``args -> exit code``) on the parsed namespace.
    """
    import argparse

    p = sub.add_parser(
        "settle",
        help="settle an outcome contract on estimates (JSON)",
        description="Settle CONTRACT (TOML) on INPUTS (JSON) and print the settlement.",
        epilog=INPUTS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("contract", help="contract TOML file")
    p.add_argument("inputs", help="inputs JSON file (format below)")
    p.add_argument(
        "--partial", action="store_true", help="interim settlement: missing inputs are pending"
    )
    p.add_argument("--json", action="store_true", help="print the settlement as JSON")
    p.add_argument("--audit-out", default=None, help="write the audit record (JSON)")
    p.set_defaults(
        handler=lambda a: settle_command(
            a.contract, a.inputs, a.audit_out, partial=a.partial, as_json=a.json
        )
    )
    p = sub.add_parser(
        "design",
        help="error rates of a contract under a planned evaluation (n, sd or se)",
        description="P(pay | no effect), P(no pay | target met) per payment line, and the "
        "expected payment as a function of the true effect.",
    )
    p.add_argument("contract", help="contract TOML file")
    p.add_argument("--n", type=float, default=None, help="total sample size")
    p.add_argument("--sd", type=float, default=None, help="outcome standard deviation")
    p.add_argument("--se", type=float, default=None, help="standard error (instead of n, sd)")
    p.add_argument("--icc", type=float, default=0.0, help="intra-cluster correlation")
    p.add_argument("--cluster-size", type=float, default=1.0, help="units per cluster")
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="METRIC=EFFECT",
        help="true effect (raw units) meeting a metric's target; repeatable",
    )
    p.add_argument("--inputs", default=None, help="inputs JSON for counts, control rates, units")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default=None, help="write the operating-characteristic plot (PNG)")
    p.set_defaults(handler=design_command)
    p = sub.add_parser("ledger", help="the tamper-evident settlement ledger (JSON lines)")
    ledger_sub = p.add_subparsers(dest="ledger_command", required=True)
    q = ledger_sub.add_parser("verify", help="check every record's hash and chain")
    q.add_argument("ledger", help="ledger file (JSON lines)")
    q.add_argument("--head", default=None, help="expected SHA-256 of the last record")
    q.set_defaults(handler=ledger_verify_command)
    q = ledger_sub.add_parser(
        "append",
        help="settle and append the settlement to the ledger",
        epilog=INPUTS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("ledger", help="ledger file (created when absent)")
    q.add_argument("contract", help="contract TOML file")
    q.add_argument("inputs", help="inputs JSON file")
    q.add_argument("--label", required=True, help="cohort / period of this settlement")
    q.add_argument("--partial", action="store_true", help="interim settlement")
    q.set_defaults(handler=ledger_append_command)
    p = sub.add_parser(
        "lock",
        help="lock the analysis plan (spec, contract, pre-outcome data) before outcomes",
    )
    p.add_argument("spec", help="report spec (TOML)")
    p.add_argument("contract", help="contract TOML file")
    p.add_argument("-o", "--output", default=None, help="lock file (default SPEC.lock.json)")
    p.set_defaults(handler=lock_command)
    p = sub.add_parser("schema", help="print the JSON Schema of settlement inputs or contracts")
    p.add_argument("which", choices=["inputs", "contract"])
    p.set_defaults(handler=lambda a: schema_command(a.which))


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
