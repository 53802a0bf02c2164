"""The settlement ledger: hash chain, cumulative cap, tampering caught, crash-safe append."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from impacteval.exceptions import DataValidationError
from impacteval.payments import Contract
from impacteval.payments.ledger import append_settlement, read_ledger, verify_ledger
from impacteval.reporting.cli import main

TEXT = """
[contract]
name = "Yearly"
currency = "USD"
[metrics.jobs]
input = "count"
[payments.jobs]
rule = "linear"
metric = "jobs"
price = "100"
[caps]
total = "2500"
"""


def _ledger(tmp_path: Path, counts: list[int]) -> tuple[Path, Contract]:
    c = Contract.from_toml(TEXT)
    path = tmp_path / "ledger.jsonl"
    for i, n in enumerate(counts):
        append_settlement(path, c, c.settle({"jobs": n}), f"year{i + 1}")
    return path, c


def test_cumulative_cap_counts_amounts_already_paid(tmp_path: Path) -> None:
    path, _ = _ledger(tmp_path, [10, 10, 10])  # 1,000 each against a 2,500 lifetime cap
    payable = [r.payable for r in read_ledger(path)]
    assert payable == [D("1000"), D("1000"), D("500")]
    assert read_ledger(path)[-1].body["paid_after"] == "2500.00"
    assert verify_ledger(path).ok


def test_duplicate_label_and_other_contract_are_refused(tmp_path: Path) -> None:
    path, c = _ledger(tmp_path, [1])
    with pytest.raises(DataValidationError, match="already in the ledger"):
        append_settlement(path, c, c.settle({"jobs": 1}), "year1")
    other = Contract.from_toml(TEXT.replace('"Yearly"', '"Other"'))
    with pytest.raises(DataValidationError, match="another contract"):
        append_settlement(path, other, other.settle({"jobs": 1}), "year2")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("tamper", ["edit", "reorder", "remove", "edit_and_rehash"])
def test_verify_catches_each_kind_of_tampering(tmp_path: Path, tamper: str) -> None:
    path, _ = _ledger(tmp_path, [3, 4, 5])
    lines = _lines(path)
    if tamper == "edit":
        lines[1] = lines[1].replace('"payable": "400.00"', '"payable": "900.00"')
        assert "900.00" in lines[1]
    elif tamper == "reorder":
        lines[0], lines[1] = lines[1], lines[0]
    elif tamper == "remove":
        del lines[1]
    else:  # a forger who also recomputes the edited record's own hash breaks the link
        from impacteval.payments.ledger import record_digest

        raw = json.loads(lines[0])
        raw["record"]["payable"] = "9999"
        raw["sha256"] = record_digest(raw["record"])
        lines[0] = json.dumps(raw, sort_keys=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    status = verify_ledger(path)
    assert not status.ok and status.problems
    assert main(["ledger", "verify", str(path)]) == 1


def test_removed_last_record_is_caught_with_the_head_hash(tmp_path: Path) -> None:
    path, _ = _ledger(tmp_path, [3, 4])
    head = verify_ledger(path).head
    path.write_text(_lines(path)[0] + "\n", encoding="utf-8")
    assert verify_ledger(path).ok  # the file alone cannot show it ...
    assert not verify_ledger(path, expected_head=head).ok  # ... the kept head hash can


def test_cli_append_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contract = tmp_path / "c.toml"
    contract.write_text(TEXT)
    inputs = tmp_path / "in.json"
    inputs.write_text('{"jobs": 7}')
    ledger = tmp_path / "l.jsonl"
    assert main(["ledger", "append", str(ledger), str(contract), str(inputs), "--label", "y1"]) == 0
    assert "payable 700" in capsys.readouterr().out
    assert main(["ledger", "verify", str(ledger)]) == 0
    assert "verified: 1 records" in capsys.readouterr().out


WRITER = """
import sys
from impacteval.payments import Contract
from impacteval.payments.ledger import append_settlement
c = Contract.from_toml(sys.argv[2])
i = 0
while True:  # large notes make each append slow enough to be killed mid-write
    label = f"{sys.argv[3]}-s{i}"
    append_settlement(sys.argv[1], c, c.settle({"jobs": 1}), label, note="x" * 2_000_000)
    print(i, flush=True)  # one line per completed append
    i += 1
"""


def test_append_survives_kill_minus_nine_mid_write(tmp_path: Path) -> None:
    """SIGKILL a process appending in a loop at several moments; the ledger always verifies.

    Each append rewrites the whole file (MBs) through a temporary file and a rename, so a
    kill almost surely lands mid-write; whatever the moment, the ledger must verify and hold
    a prefix of the appended records. The kill comes a few tenths of a second after the
    writer reports a completed append (not at a fixed time after start), so that a slow or
    loaded machine still kills a live writer in the middle of its next append.
    """
    contract = tmp_path / "c.toml"
    contract.write_text(TEXT.replace('total = "2500"', 'total = "100000000"'))
    ledger = tmp_path / "ledger.jsonl"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    before = 0
    for run, delay in enumerate((0.05, 0.3, 0.6)):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(ledger), str(contract), f"run{run}"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 300.0)
        assert ready, "the writer completed no append within 300 s"
        assert proc.stdout.readline().strip().isdigit()
        time.sleep(delay)
        assert proc.poll() is None  # still writing when killed
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        status = verify_ledger(ledger)
        assert status.ok, str(status)
        assert status.n_records >= before + 1  # the reported append survived the kill
        before = status.n_records
