"""A tamper-evident settlement ledger: one JSON line per settlement, hash-chained.

A contract runs for years; each settlement (a cohort, a period) is appended as a record
carrying the SHA-256 of the previous record, so editing, reordering or removing any record
before the last breaks the chain (:func:`verify_ledger`). Removing the *last* record
cannot be seen from the file alone: keep the head hash (:attr:`LedgerRecord.sha256` of the
latest record) outside the file, e.g. in the signed settlement letter, and pass it as
``expected_head``.

Amounts already paid count on the next settlement: the contract's ``caps.total`` is read as
a cap over the life of the contract, so a settlement pays at most what the cap leaves after
the amounts already recorded (the reduction is recorded as ``cumulative_cap_adjustment``).
A negative total (a clawback, where the contract has ``clawback = true`` true-ups) is
recorded as money returned.

Appends are crash-safe: the new file (old records + the new one) is written to a temporary
file in the same folder, flushed and ``fsync``'d, then atomically renamed over the ledger;
an interrupted append (even ``kill -9``) leaves the previous ledger intact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from impacteval._version import __version__
from impacteval.exceptions import DataValidationError
from impacteval.payments.contract import Contract
from impacteval.payments.settle import Settlement

__all__ = [
    "GENESIS",
    "LedgerRecord",
    "LedgerStatus",
    "append_settlement",
    "read_ledger",
    "record_digest",
    "verify_ledger",
]

#: ``prev_sha256`` of the first record.
GENESIS = "0" * 64


def record_digest(body: Mapping[str, Any]) -> str:
    """SHA-256 of a ledger record's body: canonical JSON (sorted keys, no spaces, ASCII).

    This is the record's ``sha256`` in the ledger file; an independent verifier recomputes
    it to check the chain.
    """
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LedgerRecord:
    """One ledger line: the settlement, what it pays after the cumulative cap, the chain."""

    body: Mapping[str, Any]
    sha256: str

    @property
    def payable(self) -> Decimal:
        """Amount paid (negative: returned) by this settlement."""
        return Decimal(str(self.body["payable"]))


@dataclass(frozen=True)
class LedgerStatus:
    """Result of :func:`verify_ledger`: ``ok`` and every problem found, in words."""

    ok: bool
    n_records: int
    head: str
    problems: tuple[str, ...]

    def __str__(self) -> str:
        if self.ok:
            return f"ledger verified: {self.n_records} records, head {self.head[:16]}"
        return "ledger NOT verified:\n" + "\n".join(f"  - {p}" for p in self.problems)


def read_ledger(path: str | Path) -> list[LedgerRecord]:
    """The records of a ledger (an absent file is an empty ledger); no verification."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            body, sha = raw["record"], raw["sha256"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataValidationError(f"{p}: line {i + 1} is not a ledger record ({exc})") from None
        out.append(LedgerRecord(body, str(sha)))
    return out


def verify_ledger(path: str | Path, *, expected_head: str | None = None) -> LedgerStatus:
    """Check every record's hash, sequence number and link to the previous record.

    Detects an edited record (its hash no longer matches), a reordered or removed record
    (the sequence or the chain breaks) and, with ``expected_head``, a removed last record.
    """
    problems: list[str] = []
    try:
        records = read_ledger(path)
    except DataValidationError as exc:
        return LedgerStatus(False, 0, "", (str(exc),))
    prev = GENESIS
    for i, rec in enumerate(records):
        where = f"record {i + 1}"
        if record_digest(rec.body) != rec.sha256:
            problems.append(f"{where}: contents do not match its SHA-256 (edited)")
        if rec.body.get("seq") != i:
            problems.append(
                f"{where}: sequence number {rec.body.get('seq')} where {i} was expected "
                "(records reordered or removed)"
            )
        if rec.body.get("prev_sha256") != prev:
            problems.append(f"{where}: does not link to the previous record (reordered or removed)")
        prev = rec.sha256
    if expected_head is not None and prev != expected_head:
        problems.append(
            f"head is {prev[:16]}..., expected {expected_head[:16]}... (records removed or added)"
        )
    return LedgerStatus(not problems, len(records), prev, tuple(problems))


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def append_settlement(
    path: str | Path,
    contract: Contract,
    settlement: Settlement,
    label: str,
    *,
    note: str = "",
) -> LedgerRecord:
    """Append ``settlement`` (for cohort / period ``label``) to the ledger at ``path``.

    The ledger is verified first (a broken ledger is refused), must hold only this
    contract's records, and may not hold ``label`` already. The payable amount is the
    settlement's total, reduced so that the cumulative total stays within ``caps.total``.

    Raises
    ------
    DataValidationError
        The ledger does not verify, belongs to another contract, or already has ``label``.
    """
    p = Path(path)
    status = verify_ledger(p)
    if not status.ok:
        raise DataValidationError(f"{p}: ledger does not verify; refusing to append:\n{status}")
    records = read_ledger(p)
    for rec in records:
        if rec.body.get("contract_sha256") != contract.sha256:
            raise DataValidationError(
                f"{p}: record {rec.body.get('seq')} belongs to another contract "
                f"({str(rec.body.get('contract_sha256'))[:16]}...)"
            )
        if rec.body.get("label") == label:
            raise DataValidationError(f"{p}: settlement {label!r} is already in the ledger")
    paid = sum((r.payable for r in records), Decimal(0))
    total = settlement.total
    payable = total
    cap = contract.spec.caps.total
    if cap is not None and paid + total > cap:
        payable = max(cap - paid, Decimal(0)) if total > 0 else total
    if total < 0 and not any(c.clawback for c in contract.spec.payments):
        raise DataValidationError(
            f"settlement {label!r} has a negative total {total} but the contract has no clawback"
        )
    body: dict[str, Any] = {
        "seq": len(records),
        "prev_sha256": records[-1].sha256 if records else GENESIS,
        "label": label,
        "contract": contract.name,
        "contract_sha256": contract.sha256,
        "currency": contract.currency,
        "settled_total": str(total),
        "payable": str(payable),
        "cumulative_cap_adjustment": str(payable - total),
        "paid_before": str(paid),
        "paid_after": str(paid + payable),
        "result_sha256": settlement.audit.get("result_sha256"),
        "inputs_sha256": settlement.audit.get("inputs_sha256"),
        "lines": [
            {"component": r["component"], "amount": str(r["amount"]), "bound": r["bound"]}
            for r in settlement.lines.to_dict(orient="records")
        ],
        "package_version": __version__,
        "recorded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "note": note,
    }
    record = LedgerRecord(body, record_digest(body))
    old = p.read_text(encoding="utf-8") if p.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    line = json.dumps({"record": body, "sha256": record.sha256}, sort_keys=True)
    _write_atomic(p, old + line + "\n")
    return record
