"""One contract identity: the file's SHA-256 and the content hash, the same everywhere.

Expected values are computed here with hashlib from the file's bytes, independently of the
package; the content hash is the one ``Contract.sha256`` documents (canonical JSON of the
parsed terms), which must not change when only comments change.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from impacteval.payments import Contract
from impacteval.reporting.cli import main

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_settlement_audit_carries_both_hashes_labelled(tmp_path: Path) -> None:
    path = CONTRACTS / "cameroon_kmc.toml"
    file_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    contract = Contract.from_toml(path)
    settlement = contract.settle({"kmc_babies": 3100})
    assert settlement.audit["contract_file_sha256"] == file_hash
    assert settlement.audit["contract_sha256"] == contract.sha256 != file_hash
    text = str(settlement)
    assert "Contract content hash" in text and "Contract file SHA-256" in text
    # a comment changes the file's hash, not the content hash
    edited = tmp_path / "edited.toml"
    edited.write_text("# a new comment\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    again = Contract.from_toml(edited)
    assert again.sha256 == contract.sha256
    assert again.source_sha256 != file_hash


def test_settle_command_writes_the_same_two_hashes(tmp_path: Path) -> None:
    path = CONTRACTS / "cameroon_kmc.toml"
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"kmc_babies": 3100}), encoding="utf-8")
    audit = tmp_path / "audit.json"
    assert main(["settle", str(path), str(inputs), "--audit-out", str(audit)]) == 0
    record = json.loads(audit.read_text(encoding="utf-8"))
    record = record.get("audit", record)
    assert record["contract_file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record["contract_sha256"] == Contract.from_toml(path).sha256
