"""payments.cli.settle_command: JSON inputs, printed table, audit record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from impacteval.payments.cli import settle_command

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_settle_command_prints_and_writes_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(
        json.dumps({"learning": {"estimate": 8940, "std_error": 1500}, "enrolment": 0.92})
    )
    audit = tmp_path / "audit.json"
    assert settle_command(str(CONTRACTS / "educate_girls.toml"), str(inputs), str(audit)) == 0
    out = capsys.readouterr().out
    assert "Settlement: Educate Girls DIB" in out and "422,000" in out
    record = json.loads(audit.read_text())
    assert record["total"] == "422000"
    assert len(record["audit"]["contract_sha256"]) == 64
    assert record["audit"]["inputs"]["learning"]["std_error"] == "1500.0"


def test_settle_command_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text('{"kmc_babys": 3100}')
    assert settle_command(str(CONTRACTS / "cameroon_kmc.toml"), str(inputs), None) == 2
    assert "did you mean 'kmc_babies'" in capsys.readouterr().err
    inputs.write_text('{"kmc_babies": NaN}')
    assert settle_command(str(CONTRACTS / "cameroon_kmc.toml"), str(inputs), None) == 2
    assert settle_command(str(tmp_path / "none.toml"), str(inputs), None) == 2


def test_settle_command_reads_safeguards_from_the_inputs_json(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(
        json.dumps(
            {
                "cohort_1": {"treated_rate": 142, "control_rate": 155, "units": 1000},
                "cohort_2": {"treated_rate": 131, "control_rate": 145, "units": 1000},
                "safeguards": {
                    "subgroups": {
                        "female": {"estimate": -9, "n": 8},
                        "age_under_25": {"estimate": -14, "n": 400},
                    },
                    "eligible": 1000,
                    "exclusions": {"deported": 150},
                },
            }
        )
    )
    audit = tmp_path / "audit.json"
    assert settle_command(str(CONTRACTS / "peterborough.toml"), str(inputs), str(audit)) == 0
    record = json.loads(audit.read_text())
    assert record["safeguard_flags"][0].startswith("exclusion share 0.1500")
