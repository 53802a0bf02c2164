"""``impacteval settle --partial/--json`` and ``impacteval schema``; errors name the file."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from impacteval.reporting.cli import main

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_settle_partial_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "in.json"
    inputs.write_text(
        json.dumps({"cohort_1": {"treated_rate": 1.42, "control_rate": 1.55, "units": 100}})
    )
    assert main(["settle", str(CONTRACTS / "peterborough.toml"), str(inputs)]) == 2
    assert "partial" in capsys.readouterr().err
    code = main(
        ["settle", str(CONTRACTS / "peterborough.toml"), str(inputs), "--partial", "--json"]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total"] == "0.00"  # 8.4% < 10% early trigger; pooled pending
    assert out["contract"] == "Peterborough SIB"


def test_malformed_inputs_json_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad_inputs.json"
    bad.write_text('{"kmc": 3,}')
    assert main(["settle", str(CONTRACTS / "cameroon_kmc.toml"), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad_inputs.json" in err and "not valid JSON" in err and "line 1" in err


def test_help_documents_the_inputs_and_safeguards(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["settle", "--help"])
    out = capsys.readouterr().out
    assert "--partial" in out and '"safeguards"' in out and "treated_rate" in out


def _as_json(value: object) -> object:
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[attr-defined]
    if type(value).__name__ == "Decimal":
        return str(value)
    return value


def test_schemas_print_and_accept_the_shipped_contracts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema", "contract"]) == 0
    contract_schema = json.loads(capsys.readouterr().out)
    for path in sorted(CONTRACTS.glob("*.toml")):
        doc = _as_json(tomllib.loads(path.read_text(encoding="utf-8")))
        jsonschema.validate(doc, contract_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"contract": {"name": "x", "currency": "usd"}}, contract_schema)
    assert main(["schema", "inputs"]) == 0
    inputs_schema = json.loads(capsys.readouterr().out)
    good = {
        "cohort_1": {"treated_rate": 1.42, "control_rate": 1.55, "units": 100},
        "enrolment": 0.92,
        "safeguards": {"eligible": 100, "exclusions": {"died": 2}},
    }
    jsonschema.validate(good, inputs_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"x": {"estimat": 1.0}}, inputs_schema)
